-- ignore_errors skips the rows whose amount is not a number; all_varchar and
-- positional types; a tab-separated .csv read by the replacement scan (sniffed).
SELECT 'dirty' AS src, count(*) AS n, sum(amount) AS s, NULL AS t
FROM read_csv('tests/golden/data/dirty.csv', types = {'amount': 'BIGINT'}, ignore_errors = true)
UNION ALL
SELECT 'varchar', count(*), sum(length(zip)), max(id || '-' || zip)
FROM read_csv('tests/golden/data/customers_semicolon.csv', all_varchar = true)
UNION ALL
SELECT 'positional', count(*), sum(id), max(zip)
FROM read_csv('tests/golden/data/customers_semicolon.csv', types = ['BIGINT', 'VARCHAR'])
UNION ALL
SELECT city, pop, NULL, CAST(area AS VARCHAR) FROM 'tests/golden/data/tabbed.csv'
