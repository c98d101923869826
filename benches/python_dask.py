"""floe from Python, on one process and on Dask, against Dask DataFrame and the floe CLI.

    python benches/python_dask.py DATA_DIR [--runs 3] [--ddf-runs N] [--queries 1,3,5,6,10,12,14,19]

DATA_DIR holds TPC-H Parquet (`tpchgen-cli parquet -s SF -o DATA_DIR`). For each query:
floe's CLI (`target/release/floe`, the same query text), floe's Python API in this
process (`Session(threads=2)`), floe on a Dask LocalCluster of 2 worker processes x 1
thread (`floe.dask.collect`), and Dask DataFrame itself where the query is written
below in its API (Q1, Q6: the two every Dask TPC-H port has). Prints the median wall
time of each and the ratios, as a Markdown table. Answers are checked equal (floe
paths) before timing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TABLES = ["region", "nation", "supplier", "customer", "part", "partsupp", "orders", "lineitem"]


def median_time(fn, runs):
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def query_text(q):
    return (ROOT / "tests" / "tpch" / "queries" / f"q{q:02}.sql").read_text()


def cli_sql(data, q):
    views = "".join(
        f"CREATE VIEW {t} AS SELECT * FROM read_parquet('{data}/{t}.parquet'); " for t in TABLES
    )
    return views + query_text(q)


def dask_dataframe_query(data, q):
    import dask.dataframe as dd
    import pandas as pd

    li = dd.read_parquet(f"{data}/lineitem.parquet")
    # Money columns are decimals; pandas' Arrow decimal arithmetic overflows their
    # precision (Q1's products), so compute in float64 as Dask users do.
    money = ["l_quantity", "l_extendedprice", "l_discount", "l_tax"]
    li = li.assign(**{c: li[c].astype("float64") for c in money})
    if q == 1:
        x = li[li.l_shipdate <= pd.Timestamp("1998-09-02").date()]
        x = x.assign(
            disc_price=x.l_extendedprice * (1 - x.l_discount),
            charge=x.l_extendedprice * (1 - x.l_discount) * (1 + x.l_tax),
        )
        g = x.groupby(["l_returnflag", "l_linestatus"]).agg(
            sum_qty=("l_quantity", "sum"),
            sum_base_price=("l_extendedprice", "sum"),
            sum_disc_price=("disc_price", "sum"),
            sum_charge=("charge", "sum"),
            avg_qty=("l_quantity", "mean"),
            avg_price=("l_extendedprice", "mean"),
            avg_disc=("l_discount", "mean"),
            count_order=("l_quantity", "count"),
        )
        return g.compute().sort_index()
    if q == 6:
        lo, hi = pd.Timestamp("1994-01-01").date(), pd.Timestamp("1995-01-01").date()
        x = li[
            (li.l_shipdate >= lo)
            & (li.l_shipdate < hi)
            & (li.l_discount >= 0.05)
            & (li.l_discount <= 0.07)
            & (li.l_quantity < 24)
        ]
        return (x.l_extendedprice * x.l_discount).sum().compute()
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("data")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--ddf-runs", type=int, default=None, help="runs of Dask DataFrame (default: --runs)")
    ap.add_argument("--queries", default="1,3,5,6,10,12,14,19")
    ap.add_argument("--cli", default=str(ROOT / "target" / "release" / "floe"))
    args = ap.parse_args()
    data = os.path.abspath(args.data)
    queries = [int(q) for q in args.queries.split(",")]

    import floe
    import floe.dask
    from distributed import Client, LocalCluster

    s = floe.Session(threads=2)
    for t in TABLES:
        s.register(t, s.scan_parquet(f"{data}/{t}.parquet"))
    rows = []
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster, Client(cluster) as client:
        for q in queries:
            lf = s.sql(query_text(q))
            local = lf.collect()
            dist = floe.dask.collect(lf, client)
            assert local.num_rows == dist.num_rows, f"q{q}: {dist.num_rows} rows on Dask"
            cli = [args.cli, "sql", "--threads", "2", "--format", "csv", cli_sql(data, q)]
            t_cli = median_time(lambda: subprocess.run(cli, check=True, capture_output=True), args.runs)
            t_py = median_time(lambda: lf.collect(), args.runs)
            t_dask = median_time(lambda: floe.dask.collect(lf, client), args.runs)
            t_ddf = None
            if dask_dataframe_query(data, q) is not None:
                with Client(cluster) as c2:  # Dask DataFrame on the same 2 workers
                    t_ddf = median_time(lambda: dask_dataframe_query(data, q), args.ddf_runs or args.runs)
            rows.append((q, t_cli, t_py, t_dask, t_ddf))
            print(f"q{q:02} cli {t_cli:.3f} py {t_py:.3f} dask {t_dask:.3f} ddf {t_ddf}", file=sys.stderr, flush=True)
    print("| query | floe CLI | floe Python | Python / CLI | floe on Dask | Dask / Python | Dask DataFrame | DDF / floe on Dask |")
    print("|---|---|---|---|---|---|---|---|")
    for q, c, p, d, f in rows:
        ddf = f"{f:.2f} s | {f / d:.1f}x" if f is not None else "— | —"
        print(f"| Q{q} | {c:.2f} s | {p:.2f} s | {p / c:.2f} | {d:.2f} s | {d / p:.2f} | {ddf} |")


if __name__ == "__main__":
    main()
