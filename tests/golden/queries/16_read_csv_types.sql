-- read_csv with a sniffed ';' delimiter, `types` by name (zip codes stay text,
-- balances exact decimals) and a NULL string.
SELECT id, zip, balance, joined, note, length(zip) AS zip_len
FROM read_csv('tests/golden/data/customers_semicolon.csv',
              types = {'zip': 'VARCHAR', 'balance': 'DECIMAL(10,2)'}, nullstr = 'NA')
