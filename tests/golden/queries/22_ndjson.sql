-- Newline-delimited JSON: missing keys and nulls read as NULL; also gzip-compressed.
SELECT e.kind, count(*) AS n, count(e.amount) AS priced, sum(e.amount) AS total,
       count(e.flag) AS flagged, sum(CASE WHEN e.flag THEN 1 ELSE 0 END) AS flag_true,
       max(e.user) AS last_user, (SELECT count(*) FROM read_json('tests/golden/data/compressed/events.ndjson.gz')) AS gz_rows
FROM read_json('tests/golden/data/events.ndjson') e
GROUP BY e.kind
ORDER BY e.kind NULLS LAST
