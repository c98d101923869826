"""TPC-H SF0.01 (22 queries, Parquet and CSV) and the golden queries over data/,
through the Python API (SQL → collect() → pyarrow), against DuckDB's stored answers."""

from __future__ import annotations

import os

import pytest

import floe
from conftest import ROOT, assert_rows, read_answer, register_tpch, rows_of, tpch_answer, tpch_query


@pytest.fixture(scope="module")
def sessions(tpch_dir):
    out = {}
    for fmt in ("parquet", "csv"):
        s = floe.Session(threads=2)
        register_tpch(s, tpch_dir, fmt)
        out[fmt] = s
    return out


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
@pytest.mark.parametrize("q", range(1, 23))
def test_tpch(sessions, fmt, q):
    got = sessions[fmt].sql(tpch_query(q)).collect()
    assert_rows(tpch_answer(q), rows_of(got), ordered=True, what=f"q{q:02} {fmt}")


GOLDEN = sorted((ROOT / "tests" / "golden" / "queries").glob("*.sql"))


@pytest.mark.parametrize("path", GOLDEN, ids=[p.stem for p in GOLDEN])
def test_golden(path, monkeypatch):
    # The golden queries name data/ relative to the repository root.
    monkeypatch.chdir(ROOT)
    got = floe.Session(threads=2).sql(path.read_text()).collect()
    want = read_answer(ROOT / "tests" / "golden" / "answers" / f"{path.stem}.csv")
    assert_rows(want, rows_of(got), ordered=False, what=path.stem)
