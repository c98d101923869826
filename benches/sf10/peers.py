"""Runs one peer engine on one SF10 workload of queries.py and prints one JSON line.

    python peers.py ENGINE WORKLOAD FORMAT DATA_DIR OUT_DIR
    ENGINE: duckdb | polars | datafusion;  FORMAT: parquet | csv

DuckDB runs with memory_limit='1GB' and a temp directory (it spills); Polars with its
streaming engine; DataFusion with its defaults (it cannot spill hash joins). Run it
under ../../../shared/tools/memcap 2G, as run.sh does. The `sort` workload writes
Parquet to OUT_DIR; the others write their result as CSV there (for answer checks).
"""
import json
import os
import sys
import time

from queries import TABLES, WORKLOADS

engine, workload, fmt, data, out = sys.argv[1:6]
sql = WORKLOADS[workload]
os.makedirs(out, exist_ok=True)


def path(t):
    return f"{data}/{fmt}/{t}/*.{fmt}"


t0 = time.time()
rows = None
if engine == "duckdb":
    import duckdb
    con = duckdb.connect()
    con.execute("set memory_limit='1GB'")
    con.execute(f"set temp_directory='{out}/duck_tmp'")
    con.execute("set preserve_insertion_order=false")
    for t in TABLES:
        reader = "read_parquet" if fmt == "parquet" else "read_csv"
        con.execute(f"create view {t} as select * from {reader}('{path(t)}')")
    if workload == "sort":
        con.execute(f"copy ({sql}) to '{out}/sort_duckdb.parquet' (format parquet)")
        rows = con.execute(f"select count(*) from '{out}/sort_duckdb.parquet'").fetchone()[0]
    else:
        con.execute(f"copy ({sql}) to '{out}/{workload}_duckdb.csv' (header)")
elif engine == "polars":
    import polars as pl
    ctx = pl.SQLContext()
    for t in TABLES:
        scan = pl.scan_parquet if fmt == "parquet" else pl.scan_csv
        ctx.register(t, scan(path(t)))
    lf = ctx.execute(sql)
    if workload == "sort":
        lf.sink_parquet(f"{out}/sort_polars.parquet", engine="streaming")
        rows = pl.scan_parquet(f"{out}/sort_polars.parquet").select(pl.len()).collect().item()
    else:
        lf.collect(engine="streaming").write_csv(f"{out}/{workload}_polars.csv")
elif engine == "datafusion":
    import datafusion
    ctx = datafusion.SessionContext()
    for t in TABLES:
        if fmt == "parquet":
            ctx.register_parquet(t, f"{data}/{fmt}/{t}/")
        else:
            ctx.register_csv(t, f"{data}/{fmt}/{t}/", has_header=True)
    df = ctx.sql(sql)
    if workload == "sort":
        df.write_parquet(f"{out}/sort_datafusion.parquet")
        import pyarrow.dataset as ds
        rows = ds.dataset(f"{out}/sort_datafusion.parquet").count_rows()
    else:
        df.write_csv(f"{out}/{workload}_datafusion.csv", with_header=True)
else:
    sys.exit(f"unknown engine {engine}")
print(json.dumps({"engine": engine, "workload": workload, "format": fmt,
                  "seconds": round(time.time() - t0, 2), "rows": rows}))
