-- A headerless '|' file: `names` over inferred types, then `columns` (names and
-- types), `nullstr` as a list, joined on id.
SELECT a.kind, a.id, a.score, b.ts, b.score * 2 AS doubled
FROM read_csv('tests/golden/data/events.txt', header = false,
              names = ['id', 'kind', 'ts', 'score'], nullstr = ['', '-']) AS a
JOIN read_csv('tests/golden/data/events.txt', header = false, delim = '|',
              columns = {'id': 'INTEGER', 'kind': 'VARCHAR', 'ts': 'TIMESTAMP',
                         'score': 'DOUBLE'}, nullstr = ['', '-']) AS b
  ON a.id = b.id
