"""Computes the golden answers of tests/golden/queries/*.sql with DuckDB, an
independent engine, and stores them as CSV in tests/golden/answers/.

Run from the repository root, once, whenever a query or the shipped data changes:

    python3 -m venv /tmp/duck && /tmp/duck/bin/pip install duckdb
    /tmp/duck/bin/python tests/golden/make_golden.py

The same SQL text runs in floe (tests/golden.rs). Paths in the queries are relative
to the repository root. Answers are written with full float precision; the Rust test
sorts rows and compares floats with a relative tolerance.
"""
import csv
import glob
import os

import duckdb

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.chdir(ROOT)


def render(v):
    if v is None:
        return ""
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


con = duckdb.connect()
con.execute("SET threads=2")
# The Parquet copy of the sensor data, hive-partitioned by sensor_id, is made by DuckDB
# from the shipped CSV files (which examples/sensor_stats.rs --generate writes).
if not os.path.isdir("data/sensors_parquet"):
    con.execute(
        "COPY (SELECT * FROM 'data/sensors/*.csv') TO 'data/sensors_parquet' "
        "(FORMAT parquet, PARTITION_BY (sensor_id))"
    )
for path in sorted(glob.glob("tests/golden/queries/*.sql")):
    sql = open(path).read()
    cur = con.execute(sql)
    names = [d[0] for d in cur.description]
    rows = cur.fetchall()
    out = os.path.join("tests/golden/answers", os.path.basename(path)[:-4] + ".csv")
    with open(out, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(names)
        for r in rows:
            w.writerow([render(v) for v in r])
    print(f"{out}: {len(rows)} rows")

# The ETL example script (examples/etl.sql), run by DuckDB into a scratch folder; the
# answer is what it wrote, read back (tests/cli.rs compares floe's files with it).
import tempfile

with tempfile.TemporaryDirectory() as scratch:
    script = open("examples/etl.sql").read().replace("'target/etl/daily'", f"'{scratch}/daily'")
    etl = duckdb.connect()
    etl.execute(script)
    cur = etl.execute(
        "SELECT region, site, day, readings, avg_temperature, max_temperature, avg_pressure "
        f"FROM read_parquet('{scratch}/daily/*/*.parquet', hive_partitioning = true) "
        "ORDER BY site, day"
    )
    names = [d[0] for d in cur.description]
    rows = cur.fetchall()
    with open("tests/golden/answers/etl_daily.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(names)
        for r in rows:
            w.writerow([render(v) for v in r])
    print(f"tests/golden/answers/etl_daily.csv: {len(rows)} rows")
