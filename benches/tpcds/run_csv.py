#!/usr/bin/env python3
"""TPC-DS from CSV through floe's CLI: ../shared/tpcds/run.py's suite with each table read
by `read_csv` with its declared column types, as a DuckDB user would write it.

Usage: python benches/tpcds/run_csv.py --csv DIR --parquet DIR [run.py options] [QUERY ...]
  --csv      CSV root, one folder per table of `<table>.<part>.csv` files with a header
             (`tpcgen-cli tpcds csv -s 1 --parts 4`)
  --parquet  the same data as Parquet (`../shared/tpcds/gen.sh`): only its footers are
             read, for the column types (the TPC-DS DDL as the generator writes it)
  the rest:  as ../shared/tpcds/run.py (--floe, --threads, --memory-limit, --timeout, ...)

Each query runs as
  floe sql --format csv --table 'store_sales=read_csv(''DIR/store_sales/*.csv'',
           types={''ss_sold_date_sk'': ''BIGINT'', ...})' ... "<SQL>"
and DuckDB, timed beside it, reads the same CSV files with the same types.
"""
import os
import sys

import pyarrow as pa
import pyarrow.parquet as pq

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KIT = os.environ.get("TPCDS_KIT", os.path.join(ROOT, "..", "shared", "tpcds"))
sys.path.insert(0, KIT)
import harness  # noqa: E402
import run as kit_run  # noqa: E402


def sql_type(t):
    if pa.types.is_decimal(t):
        return f"DECIMAL({t.precision},{t.scale})"
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return "VARCHAR"
    if pa.types.is_int32(t):
        return "INTEGER"
    if pa.types.is_int64(t):
        return "BIGINT"
    if pa.types.is_date32(t):
        return "DATE"
    if pa.types.is_floating(t):
        return "DOUBLE"
    raise SystemExit(f"no SQL type for {t}")


def types_of(parquet_root, table):
    folder = os.path.join(parquet_root, table)
    first = sorted(f for f in os.listdir(folder) if f.endswith(".parquet"))[0]
    schema = pq.read_schema(os.path.join(folder, first))
    return "{" + ", ".join(f"'{f.name}': '{sql_type(f.type)}'" for f in schema) + "}"


def main():
    argv = sys.argv[1:]
    opts = {}
    for flag in ("--csv", "--parquet"):
        if flag not in argv:
            raise SystemExit(__doc__)
        i = argv.index(flag)
        opts[flag] = argv[i + 1]
        del argv[i:i + 2]
    csv_root, parquet_root = opts["--csv"], opts["--parquet"]
    types = {t: types_of(parquet_root, t) for t in kit_run.tables(csv_root)}

    def read_csv(t):
        return f"read_csv('{os.path.join(csv_root, t)}/*.csv', types={types[t]})"

    def tables_for(data, sql):
        return [(t, read_csv(t)) for t, _ in kit_run.tables_for(data, sql)]

    def duckdb_connect(threads, views):
        import duckdb

        con = duckdb.connect()
        con.execute(f"SET threads = {int(threads)}")
        for name, _ in views:
            con.execute(f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM {read_csv(name)}")
        return con

    harness.duckdb_connect = duckdb_connect
    argv = ["--data", csv_root] + argv
    return harness.run_suite("tpcds", KIT, argv, csv_root, tables_for, kit_run.views_for)


if __name__ == "__main__":
    sys.exit(main())
