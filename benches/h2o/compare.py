"""Compares a floe h2o group-by result (CSV) with DuckDB's answer (CSV), as sets of
rows keyed by the leading key columns; floats within a relative tolerance of 1e-9.

usage: compare.py FLOE.csv ANSWER.csv NKEYS
"""
import csv
import math
import sys

got_path, ans_path, nkeys = sys.argv[1], sys.argv[2], int(sys.argv[3])


def load(path):
    with open(path) as f:
        r = csv.reader(f)
        next(r)
        return {tuple(row[:nkeys]): row[nkeys:] for row in r}


got, ans = load(got_path), load(ans_path)
if got.keys() != ans.keys():
    sys.exit(f"different groups: {len(got)} vs {len(ans)}")
bad = 0
for k, vals in ans.items():
    for a, b in zip(got[k], vals):
        fa, fb = float(a), float(b)
        if not math.isclose(fa, fb, rel_tol=1e-9, abs_tol=1e-9):
            bad += 1
            if bad < 5:
                print("mismatch", k, got[k], vals)
print(f"{len(ans)} groups compared, {bad} mismatches")
sys.exit(1 if bad else 0)
