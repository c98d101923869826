#!/usr/bin/env python3
"""The README table of a run_capped.py run: per query floe's time, its peak RSS (from
memcap's line in the results folder), DuckDB's time and the ratio, then the summary.

Usage: python benches/tpcds/table_capped.py RUN_LOG RESULTS_DIR
  RUN_LOG      run_capped.py's output (lines `qNN: CLASS  floe Xs  duckdb Ys ...`)
  RESULTS_DIR  its --results folder (qNN.err holds memcap's `peak_rss=..MiB` line)
"""
import math
import os
import re
import sys


def main():
    log, results = sys.argv[1], sys.argv[2]
    rows = []
    for line in open(log):
        m = re.match(r"(q\d+): (\w+)\s+floe\s+([\d.]+)s\s+duckdb\s+([\d.]+)s", line)
        if not m:
            continue
        q, cls, f, d = m.group(1), m.group(2), float(m.group(3)), float(m.group(4))
        peak, killed = None, False
        err = os.path.join(results, q + ".err")
        if os.path.exists(err):
            for e in open(err):
                p = re.search(r"peak_rss=(\d+)MiB", e)
                if p:
                    peak = int(p.group(1))
                if "oom_killed=yes" in e:
                    killed = True
        rows.append((q, cls, f, d, peak, killed))
    print("| query | result | floe s | floe peak RSS | DuckDB s | floe / DuckDB |")
    print("|---|---|---|---|---|---|")
    for q, cls, f, d, peak, _ in rows:
        ratio = f / d if d > 0 else float("nan")
        print(f"| {q} | {cls} | {f:.2f} | {peak if peak is not None else '?'} MiB | {d:.3f} | {ratio:.2f} |")
    ok = [r for r in rows if r[1] == "OK" and r[3] > 0]
    geo = math.exp(sum(math.log(r[2] / r[3]) for r in ok) / len(ok)) if ok else float("nan")
    over = sorted((r for r in ok if r[2] / r[3] > 3), key=lambda r: -r[2] / r[3])
    print()
    print(f"{len(ok)} of {len(rows)} OK; killed {sum(r[5] for r in rows)}; "
          f"floe total {sum(r[2] for r in rows):.1f} s, DuckDB total {sum(r[3] for r in rows):.1f} s; "
          f"geometric mean floe/DuckDB {geo:.2f}; max floe peak RSS "
          f"{max((r[4] or 0) for r in rows)} MiB")
    print(f"above 3x ({len(over)}): " + ", ".join(f"{r[0]} {r[2] / r[3]:.1f}x" for r in over))


if __name__ == "__main__":
    main()
