"""One TPC-H query on DuckDB, for timing beside floe (benches/tpch/run_duckdb.sh).
    python duckdb_query.py DATA_DIR FORMAT QUERY.sql OUT.csv
Views over the tpchgen-cli folders; memory_limit 1GB with a temp directory, as floe's
--memory-limit 1GiB; CSV decimals are read as DOUBLE (the kit's README types)."""
import sys
import time

import duckdb

data, fmt, query, out = sys.argv[1:5]
con = duckdb.connect()
con.execute("set memory_limit='1GB'")
con.execute(f"set temp_directory='{out}.tmp'")
for t in ["region", "nation", "supplier", "customer", "part", "partsupp", "orders", "lineitem"]:
    if fmt == "parquet":
        con.execute(f"create view {t} as select * from read_parquet('{data}/parquet/{t}/*.parquet')")
    else:
        con.execute(f"create view {t} as select * from read_csv('{data}/csv/{t}/*.csv', header=true)")
sql = open(query).read()
t0 = time.time()
con.execute(f"copy ({sql.strip().rstrip(';')}) to '{out}' (header)")
print(f"{time.time() - t0:.2f}")
