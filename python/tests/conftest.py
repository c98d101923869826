"""Shared fixtures: TPC-H SF0.01 data (made with tpchgen-cli, the generator of the
shared kit), the stored DuckDB answers, and the cell comparison of the Rust tests
(tests/common/mod.rs): NULL as an empty cell, integers exactly, floats within a
relative 1e-9 or one unit of the answer's last printed decimal."""

from __future__ import annotations

import csv
import datetime
import decimal
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TPCH = ROOT / "tests" / "tpch"
TABLES = ["region", "nation", "supplier", "customer", "part", "partsupp", "orders", "lineitem"]


def tpchgen() -> str:
    exe = shutil.which("tpchgen-cli") or str(Path(sys.executable).parent / "tpchgen-cli")
    if not os.path.exists(exe):
        pytest.fail("tpchgen-cli is needed (pip install tpchgen-cli)")
    return exe


@pytest.fixture(scope="session")
def tpch_dir(tmp_path_factory) -> Path:
    """SF0.01 as tpch/{parquet,csv}/<table>.{parquet,csv}."""
    d = tmp_path_factory.mktemp("tpch-sf0.01")
    for fmt in ("parquet", "csv"):
        subprocess.run(
            [tpchgen(), fmt, "-s", "0.01", "-o", str(d / fmt), "-q"],
            check=True,
        )
    return d


def register_tpch(session, tpch_dir: Path, fmt: str) -> None:
    for t in TABLES:
        path = str(tpch_dir / fmt / f"{t}.{fmt}")
        lf = session.scan_parquet(path) if fmt == "parquet" else session.scan_csv(path)
        session.register(t, lf)


def tpch_query(q: int) -> str:
    return (TPCH / "queries" / f"q{q:02}.sql").read_text()


def read_answer(path: Path) -> list[list[str]]:
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return rows[1:]


def tpch_answer(q: int) -> list[list[str]]:
    return read_answer(TPCH / "answers-sf0.01" / f"q{q:02}.csv")


def cell(v) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, datetime.datetime):
        return v.isoformat(sep=" ")
    if isinstance(v, (datetime.date, decimal.Decimal)):
        return str(v)
    return str(v)


def rows_of(table) -> list[list[str]]:
    cols = [c.to_pylist() for c in table.columns]
    return [[cell(c[i]) for c in cols] for i in range(table.num_rows)]


def _is_int(s: str) -> bool:
    t = s[1:] if s[:1] in "+-" else s
    return t.isdigit()


def _ulp(s: str) -> float:
    if "." in s:
        frac = s.split(".", 1)[1]
        if len(frac) >= 2 and frac.isdigit():
            return 10.0 ** -len(frac)
    return 0.0


def cell_eq(want: str, got: str) -> bool:
    w, g = want.strip(), got.strip()
    if w == "" or w.lower() == "null":
        return g == "" or g.lower() == "null"
    if _is_int(w) and _is_int(g):
        return w.lstrip("+") == g.lstrip("+")
    try:
        a, b = float(w), float(g)
    except ValueError:
        return w == g.replace("T", " ") or w == g
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if math.isinf(a) or math.isinf(b):
        return a == b
    tol = max(1e-9 * max(abs(a), abs(b)), _ulp(w), _ulp(g), 1e-12)
    return abs(a - b) <= tol


def _sort_key(row):
    out = []
    for c in row:
        if c == "":
            out.append((0, 0.0, ""))
        else:
            try:
                out.append((1, float(c), ""))
            except ValueError:
                out.append((2, 0.0, c))
    return out


def assert_rows(want: list[list[str]], got: list[list[str]], ordered: bool, what: str) -> None:
    assert len(want) == len(got), f"{what}: {len(got)} rows, expected {len(want)}"
    if not ordered:
        want, got = sorted(want, key=_sort_key), sorted(got, key=_sort_key)
    for i, (w, g) in enumerate(zip(want, got)):
        ok = len(w) == len(g) and all(cell_eq(a, b) for a, b in zip(w, g))
        assert ok, f"{what}: row {i} is {g}, expected {w}"


def assert_tables_equal(want, got, ordered: bool, what: str) -> None:
    """Two pyarrow tables hold the same rows (cells compared as above)."""
    assert want.column_names == got.column_names, f"{what}: columns {got.column_names}"
    assert_rows(rows_of(want), rows_of(got), ordered, what)


@pytest.fixture(scope="session")
def tpch_split_dir(tmp_path_factory) -> Path:
    """SF0.01 Parquet with small row groups (about 256 KB), so scans cut into many
    fragments."""
    d = tmp_path_factory.mktemp("tpch-sf0.01-rg")
    subprocess.run(
        [tpchgen(), "parquet", "-s", "0.01", "--row-group-bytes", "256KB", "-o", str(d / "parquet"), "-q"],
        check=True,
    )
    return d


def dask_cli() -> str:
    exe = Path(sys.executable).parent / "dask"
    return str(exe) if exe.exists() else (shutil.which("dask") or "dask")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_workers(client, n: int, timeout: float = 60) -> None:
    client.wait_for_workers(n, timeout=timeout)


def h2o_table(n: int, k: int = 100, seed: int = 1):
    """An h2o.ai group-by benchmark table (the shape of peers/h2o_gen.py): id1..id3
    text keys, id4..id6 integer keys, v1, v2 integers, v3 a float."""
    import numpy as np
    import pyarrow as pa

    rng = np.random.default_rng(seed)
    def ids(prefix, m):
        return pa.array([f"{prefix}{i:03}" for i in rng.integers(1, m + 1, n)])
    return pa.table(
        {
            "id1": ids("id", k),
            "id2": ids("id", k),
            "id3": ids("id", max(1, n // k)),
            "id4": rng.integers(1, k + 1, n),
            "id5": rng.integers(1, k + 1, n),
            "id6": rng.integers(1, max(2, n // k) + 1, n),
            "v1": rng.integers(1, 6, n),
            "v2": rng.integers(1, 16, n),
            "v3": np.round(rng.random(n) * 100, 6),
        }
    )


H2O_QUERIES = {
    "q1": "SELECT id1, sum(v1) AS v1 FROM x GROUP BY id1",
    "q2": "SELECT id1, id2, sum(v1) AS v1 FROM x GROUP BY id1, id2",
    "q3": "SELECT id3, sum(v1) AS v1, avg(v3) AS v3 FROM x GROUP BY id3",
    "q4": "SELECT id4, avg(v1) AS v1, avg(v2) AS v2, avg(v3) AS v3 FROM x GROUP BY id4",
    "q5": "SELECT id6, sum(v1) AS v1, sum(v2) AS v2, sum(v3) AS v3 FROM x GROUP BY id6",
    "q6": "SELECT id4, id5, median(v3) AS median_v3, stddev(v3) AS sd_v3 FROM x GROUP BY id4, id5",
    "q7": "SELECT id3, max(v1) - min(v2) AS range_v1_v2 FROM x GROUP BY id3",
    "q8": "SELECT id6, v3 AS largest2_v3 FROM (SELECT id6, v3, row_number() OVER (PARTITION BY id6 ORDER BY v3 DESC) AS r FROM x WHERE v3 IS NOT NULL) WHERE r <= 2",
    "q9": "SELECT id2, id4, corr(v1, v2) AS r2 FROM x GROUP BY id2, id4",
    "q10": "SELECT id1, id2, id3, id4, id5, id6, sum(v3) AS v3, count(*) AS count FROM x GROUP BY id1, id2, id3, id4, id5, id6",
}
