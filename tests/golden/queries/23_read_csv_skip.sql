-- read_csv's skip: two lines of preamble before the header; the delimiter is
-- sniffed after them.
SELECT id, name, score, length(name) AS len
FROM read_csv('tests/golden/data/preamble.csv', skip = 2)
ORDER BY id
