#!/usr/bin/env python3
"""DuckDB's answers to the 99 TPC-DS queries at SF 0.01, for `cargo test --test tpcds`.

Usage (from the repository root):
  cargo test --test tpcds          # writes the data to target/tmp/tpcds-sf0.01 first
  python tests/tpcds/make_answers.py [--data DIR] [--kit DIR] [QUERY ...]

--data  the Parquet tables the test wrote (default target/tmp/tpcds-sf0.01/parquet),
        so DuckDB answers over exactly the rows floe reads.
--kit   the shared TPC-DS kit (default ../shared/tpcds): its harness.py parses each
        query's outermost ORDER BY / LIMIT and maps the ORDER BY items to output columns.
Needs: pip install duckdb.

Writes tests/tpcds/answers-sf0.01/qNN.csv (a header row, DuckDB's rows in its order,
decimals exact, doubles in shortest round-trip form, NULL empty) and _meta.csv, one line
per query: mode (`ordered`: ORDER BY ... LIMIT; `subset`: LIMIT without ORDER BY;
`unordered`), groups (the end row of each tie group of the ORDER BY keys), cut (1 when
the last tie group is cut by the LIMIT: then qNN.ties.csv holds every row tied with it,
from the query with a larger LIMIT; for `subset`, qNN.ties.csv is the full result).
"""
import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=os.path.join(ROOT, "target", "tmp", "tpcds-sf0.01", "parquet"))
    ap.add_argument("--kit", default=os.path.join(ROOT, "..", "shared", "tpcds"))
    ap.add_argument("--out", default=os.path.join(HERE, "answers-sf0.01"))
    ap.add_argument("queries", nargs="*")
    a = ap.parse_args()
    sys.path.insert(0, a.kit)
    import harness  # noqa: E402

    tables = sorted(d for d in os.listdir(a.data) if os.path.isdir(os.path.join(a.data, d)))
    con = harness.duckdb_connect(2, [(t, os.path.join(a.data, t, "*.parquet")) for t in tables])
    qdir = os.path.join(HERE, "queries")
    names = a.queries or sorted(f[:-4] for f in os.listdir(qdir) if f.endswith(".sql"))
    os.makedirs(a.out, exist_ok=True)
    meta_path = os.path.join(a.out, "_meta.csv")
    meta = {}
    if os.path.exists(meta_path):
        for r in harness.read_csv_file(meta_path)[1]:
            meta[r[0]] = r
    for q in names:
        sql = open(os.path.join(qdir, q + ".sql")).read()
        header, rows = harness.duckdb_rows(con, sql)
        harness.write_csv(os.path.join(a.out, q + ".csv"), header, rows)
        ties_path = os.path.join(a.out, q + ".ties.csv")
        if os.path.exists(ties_path):
            os.remove(ties_path)
        info = harness.order_info(sql)
        mode, groups, cut = "unordered", [], False
        if info.limit is not None and not info.items:
            mode = "subset"
            _, full = harness.duckdb_rows(con, harness.with_bigger_limit(sql, info))
            harness.write_csv(ties_path, header, full)
        elif info.ordered:
            mode = "ordered"
            keys = harness.key_columns(info, header, sql)
            cells = [[harness.Cell(v) for v in r] for r in rows]

            def key(r):
                return harness.key_of(r, keys)

            def same(r1, r2):
                return all(harness.cells_equal(x, y) for x, y in zip(key(r1), key(r2)))

            for i in range(1, len(cells) + 1):
                if i == len(cells) or not same(cells[i], cells[i - 1]):
                    groups.append(i)
            full_keys = len(keys) == len(info.items)
            if full_keys and rows and len(rows) == info.limit and info.offset == 0:
                _, more = harness.duckdb_rows(con, harness.with_bigger_limit(sql, info))
                last = cells[-1]
                tied = [r for r in more if same([harness.Cell(v) for v in r], last)]
                if len(tied) > len(rows) - (groups[-2] if len(groups) > 1 else 0):
                    cut = True
                    harness.write_csv(ties_path, header, tied)
        meta[q] = [q, mode, " ".join(map(str, groups)), "1" if cut else "0"]
        print(f"{q}: {len(rows)} rows, {mode}{', cut tie group' if cut else ''}", flush=True)
    harness.write_csv(meta_path, ["query", "mode", "groups", "cut"], [meta[k] for k in sorted(meta)])
    return 0


if __name__ == "__main__":
    sys.exit(main())
