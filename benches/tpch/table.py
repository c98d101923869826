"""Markdown table of the 22 TPC-H times, floe beside DuckDB, from the outputs of
run.sh and run_duckdb.sh (one line per query: name, seconds, "s", peak RSS, verdict).
    python table.py FLOE_PARQUET DUCKDB_PARQUET FLOE_CSV DUCKDB_CSV
Each argument may list several runs separated by commas: a cell is then the median
time (peak RSS and verdict from the first run; any non-OK verdict is shown).
Prints the table, then per format the geometric mean of floe/DuckDB and the worst three."""
import math
import statistics
import sys


def load(path):
    out = {}
    for line in open(path):
        parts = line.split()
        if len(parts) >= 2 and parts[0].lower().startswith("q"):
            q = parts[0].lower()
            try:
                out[q] = (float(parts[1]), parts[3] if len(parts) > 3 else "", " ".join(parts[4:]))
            except ValueError:
                out[q] = (None, "", " ".join(parts[1:]))
    return out


def load_runs(paths):
    runs = [load(p) for p in paths.split(",")]
    out = {}
    for q, (t, rss, ver) in runs[0].items():
        times = [r[q][0] for r in runs if q in r and r[q][0] is not None]
        bad = [r[q][2] for r in runs if q in r and r[q][2] not in ("OK", "") and "exit=0" not in r[q][2]]
        if t is None or len(times) < len(runs):
            out[q] = (None, rss, ver)
        else:
            out[q] = (statistics.median(times), rss, bad[0] if bad else ver)
    return out


fp, dp, fc, dc = (load_runs(p) for p in sys.argv[1:5])
print("| query | floe Parquet | DuckDB Parquet | ratio | floe CSV | DuckDB CSV | ratio |")
print("|---|---|---|---|---|---|---|")
ratios = {"parquet": {}, "csv": {}}
for n in range(1, 23):
    q = f"q{n:02d}"
    cells = []
    for fmt, f, d in (("parquet", fp, dp), ("csv", fc, dc)):
        ft, frss, fver = f.get(q, (None, "", "missing"))
        dt, _, _ = d.get(q, (None, "", "missing"))
        if ft is None or dt is None:
            cells += [f"failed: {fver}" if ft is None else f"{ft:.1f} s", "-" if dt is None else f"{dt:.1f} s", "-"]
            continue
        r = ft / dt
        ratios[fmt][q] = r
        cells += [f"{ft:.1f} s ({frss})" + ("" if fver == "OK" else f" **{fver}**"), f"{dt:.1f} s", f"{r:.2f}"]
    print(f"| Q{n} | " + " | ".join(cells) + " |")
for fmt, rs in ratios.items():
    if not rs:
        continue
    geo = math.exp(sum(math.log(r) for r in rs.values()) / len(rs))
    worst = sorted(rs.items(), key=lambda kv: -kv[1])[:3]
    print(f"\n{fmt}: {len(rs)} queries, geometric mean floe/DuckDB {geo:.2f}; worst: "
          + ", ".join(f"{q.upper()} {r:.1f}x" for q, r in worst))
