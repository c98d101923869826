#!/usr/bin/env python3
"""TPC-DS under a hard memory cap: ../shared/tpcds/run.py with each floe process run as
`memcap CAP -- floe sql --memory-limit LIMIT ...` and DuckDB given `memory_limit`.

Usage: python benches/tpcds/run_capped.py --answers DIR [--cap 2G] [--duckdb-memory 1GB]
                                          [run.py options: --data --floe --memory-limit
                                           --threads --timeout ...] [QUERY ...]
  --answers  a folder of answers made for the same data, e.g. by
             `python ../shared/tpcds/make_answers.py --data DIR --out DIR` (the kit's own
             answers are for SF1)
  --cap      the kernel cap for each floe process (default 2G; ../shared/tools/memcap)
  --duckdb-memory  DuckDB's memory_limit (default 1GB); DuckDB runs in this process, so
             it is not under the kernel cap, only under its own limit. A query DuckDB
             fails with OutOfMemory there is timed again without the limit and listed.

A floe process killed by the cap shows as CRASH. Exit status 0 whatever the results.
"""
import os
import shutil
import stat
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KIT = os.environ.get("TPCDS_KIT", os.path.join(ROOT, "..", "shared", "tpcds"))
MEMCAP = os.environ.get("MEMCAP", os.path.join(ROOT, "..", "shared", "tools", "memcap"))


def take(argv, flag, default):
    if flag not in argv:
        return default
    i = argv.index(flag)
    value = argv[i + 1]
    del argv[i:i + 2]
    return value


def main():
    argv = sys.argv[1:]
    answers = take(argv, "--answers", None)
    if answers is None:
        raise SystemExit(__doc__)
    cap = take(argv, "--cap", "2G")
    duck_memory = take(argv, "--duckdb-memory", "1GB")
    floe = os.path.abspath(take(argv, "--floe", os.environ.get("FLOE_BIN", "target/dist/floe")))
    work = tempfile.mkdtemp(prefix="tpcds-capped-")
    try:
        # A kit whose answers are the given ones: the harness reads <kit>/answers.
        kit = os.path.join(work, "kit")
        os.mkdir(kit)
        for name in ("queries", "harness.py", "run.py"):
            src = os.path.join(KIT, name)
            os.symlink(os.path.abspath(src), os.path.join(kit, name))
        os.symlink(os.path.abspath(answers), os.path.join(kit, "answers"))
        wrapper = os.path.join(work, "floe-capped")
        with open(wrapper, "w") as f:
            f.write(f'#!/bin/sh\nexec "{MEMCAP}" {cap} -- "{floe}" "$@"\n')
        os.chmod(wrapper, os.stat(wrapper).st_mode | stat.S_IEXEC)
        sys.path.insert(0, kit)
        import harness  # noqa: E402
        import run as kit_run  # noqa: E402

        plain_connect = harness.duckdb_connect
        over_limit = []

        class Capped:
            """DuckDB under its memory_limit; a query it cannot finish there is timed
            again without the limit, and named at the end."""

            def __init__(self, con):
                self.con = con

            def execute(self, sql, *args):
                import duckdb

                try:
                    return self.con.execute(sql, *args)
                except duckdb.OutOfMemoryException:
                    over_limit.append(sql.split("\n", 1)[0][:60])
                    self.con.execute("SET memory_limit = '64GB'")
                    try:
                        return self.con.execute(sql, *args)
                    finally:
                        self.con.execute(f"SET memory_limit = '{duck_memory}'")

            def __getattr__(self, name):
                return getattr(self.con, name)

        def duckdb_connect(threads, views):
            con = plain_connect(threads, views)
            con.execute(f"SET memory_limit = '{duck_memory}'")
            return Capped(con)

        harness.duckdb_connect = duckdb_connect
        bench = os.environ.get("BENCH_DATA", os.path.expanduser("~/bench-data"))
        data = os.path.join(bench, "tpcds-sf1", "parquet")
        status = harness.run_suite("tpcds", kit, ["--floe", wrapper] + argv, data,
                                   kit_run.tables_for, kit_run.views_for)
        print(f"DuckDB over memory_limit={duck_memory} (timed without it): {len(over_limit)}")
        for q in over_limit:
            print(f"  {q}")
        return status
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
