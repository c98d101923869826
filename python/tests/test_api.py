"""The Python API: sessions, inputs from pyarrow/pandas/Polars, LazyFrame methods and
expressions (checked against answers computed here in plain Python), outputs, and the
exception classes."""

from __future__ import annotations

import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import floe
from floe import col, lit, len as count_rows, when

ROWS = {
    "g": ["a", "b", "a", "c", None, "b", "a"],
    "x": [1, 2, 3, 4, 5, None, 7],
    "y": [0.5, 1.5, -2.0, 4.0, 0.0, 6.5, 1.0],
}


@pytest.fixture()
def s():
    return floe.Session(memory_limit="512MiB", threads=2)


@pytest.fixture()
def lf(s):
    return s.from_arrow(pa.table(ROWS))


def as_rows(table):
    return [tuple(r.values()) for r in table.to_pylist()]


def test_session_config():
    s = floe.Session(memory_limit="256MiB", threads=3)
    assert s.memory_limit == 256 << 20
    assert s.threads == 3
    assert floe.Session(memory_limit=100 << 20).memory_limit == 100 << 20
    with pytest.raises(floe.InvalidInputError):
        floe.Session(memory_limit="lots")
    assert not s.resident_guard
    guarded = floe.Session(memory_limit="64MiB", threads=2, resident_guard=True)
    assert guarded.resident_guard
    # The guard changes when operators spill, never the answer.
    guarded.register("t", pa.table({"i": pa.array(range(200000), pa.int64())}))
    sql = "SELECT i % 7 AS k, count(*) AS n FROM t GROUP BY k ORDER BY k"
    got = guarded.sql(sql).collect().to_pylist()
    assert got == [{"k": k, "n": len(range(k, 200000, 7))} for k in range(7)]


def test_round_trip_pyarrow_pandas_polars(s):
    import pandas as pd
    import polars as pl

    t = pa.table(ROWS)
    assert s.from_arrow(t).collect().equals(t)
    reader = pa.RecordBatchReader.from_batches(t.schema, t.to_batches(max_chunksize=2))
    assert s.from_arrow(reader).collect().equals(t)
    pdf = pd.DataFrame({"k": [1, 2, 3], "v": ["x", None, "z"]})
    back = s.from_arrow(pdf).to_pandas()
    assert back["k"].tolist() == [1, 2, 3]
    assert back["v"].tolist()[0] == "x" and back["v"].tolist()[2] == "z"
    assert pd.isna(back["v"].tolist()[1])
    plf = pl.DataFrame({"k": [3, 1, 2], "f": [1.5, None, -0.25]})
    out = s.from_arrow(plf).sort("k").to_polars()
    assert out["k"].to_list() == [1, 2, 3]
    assert out["f"].to_list() == [None, -0.25, 1.5]


def test_filter_select_with_columns(lf):
    out = lf.filter((col("x") > 2) & col("g").is_not_null()).select(
        "g", (col("x") * 10 + 1).alias("x10"), col("y").abs().alias("ay")
    )
    want = [
        (g, x * 10 + 1, abs(y))
        for g, x, y in zip(ROWS["g"], ROWS["x"], ROWS["y"])
        if x is not None and x > 2 and g is not None
    ]
    assert sorted(as_rows(out.collect())) == sorted(want)
    w = lf.with_columns((col("y") * 2).alias("y"), lit("k").alias("k")).collect()
    assert w.column_names == ["g", "x", "y", "k"]
    assert w.column("y").to_pylist() == [v * 2 for v in ROWS["y"]]


def test_group_by_agg(lf):
    out = lf.group_by("g").agg(
        col("x").sum().alias("sx"),
        col("y").mean().alias("my"),
        count_rows().alias("n"),
        col("x").count().alias("nx"),
        col("y").max().alias("mx"),
    )
    got = {r[0]: r[1:] for r in as_rows(out.collect())}
    for g in set(ROWS["g"]):
        xs = [x for k, x in zip(ROWS["g"], ROWS["x"]) if k == g]
        ys = [y for k, y in zip(ROWS["g"], ROWS["y"]) if k == g]
        nn = [x for x in xs if x is not None]
        assert got[g][0] == (sum(nn) if nn else None)
        assert got[g][1] == pytest.approx(sum(ys) / len(ys))
        assert got[g][2] == len(xs)
        assert got[g][3] == len(nn)
        assert got[g][4] == max(ys)


def test_join_sort_top_k_unique_union(s, lf):
    dim = s.from_arrow(pa.table({"g": ["a", "b", "z"], "label": ["A", "B", "Z"]}))
    j = lf.join(dim, on="g", how="inner").select("g", "x", "label").sort(["g", "x"])
    want = sorted(
        [(g, x, g.upper()) for g, x in zip(ROWS["g"], ROWS["x"]) if g in ("a", "b")],
        key=lambda r: (r[0], r[1] is None, r[1] if r[1] is not None else 0),
    )
    assert as_rows(j.collect()) == want
    left = lf.join(dim, on="g", how="left").collect()
    assert left.num_rows == len(ROWS["g"])
    anti = lf.join(dim, on="g", how="anti").select("g").collect()
    assert sorted(anti.column("g").to_pylist(), key=str) == sorted(["c", None], key=str)
    top = lf.top_k(3, by="y", descending=True).select("y").collect()
    assert top.column("y").to_pylist() == sorted(ROWS["y"], reverse=True)[:3]
    desc = lf.sort("x", descending=True).select("x").collect().column("x").to_pylist()
    assert desc == [7, 5, 4, 3, 2, 1, None]  # nulls last
    u = lf.select("g").unique().collect().column("g").to_pylist()
    assert sorted(u, key=str) == sorted(set(ROWS["g"]), key=str)
    assert lf.union(lf).collect().num_rows == 2 * len(ROWS["g"])
    assert lf.head(2).collect().num_rows == 2


def test_case_and_windows(lf):
    out = lf.select(
        "x",
        when(col("x") > 3).then(lit("big")).when(col("x") > 1).then("mid").otherwise("small").alias("size"),
        col("y").sum().over("g").alias("gy"),
        floe.row_number().over("g", order_by="x").alias("rn"),
    ).collect()
    for x, size, gy, rn in as_rows(out):
        if x is not None:
            assert size == ("big" if x > 3 else "mid" if x > 1 else "small")
    sums = {}
    for g, y in zip(ROWS["g"], ROWS["y"]):
        sums[g] = sums.get(g, 0.0) + y
    gys = out.column("gy").to_pylist()
    assert sorted(gys) == sorted(sums[g] for g in ROWS["g"])
    assert sorted(out.column("rn").to_pylist()) == [1, 1, 1, 1, 2, 2, 3]


def test_sql_over_registered_frames(s):
    import pandas as pd

    s.register("t", pd.DataFrame({"k": ["a", "b", "a"], "v": [1, 2, 3]}))
    out = s.sql("SELECT k, sum(v) AS s FROM t GROUP BY k ORDER BY k").collect()
    assert as_rows(out) == [("a", 4), ("b", 2)]
    assert "t" in s.tables()
    assert floe.sql("SELECT 40 + 2 AS answer").collect().column("answer").to_pylist() == [42]


def test_arrow_stream_protocol(lf):
    """A frame is read by pyarrow, DuckDB and Polars through __arrow_c_stream__."""
    import duckdb
    import polars as pl

    t = pa.table(lf.filter(col("x") > 3))
    assert sorted(t.column("x").to_pylist()) == [4, 5, 7]
    frame = lf.filter(col("x") > 3)
    n = duckdb.sql("SELECT count(*) FROM frame").fetchall()[0][0]
    assert n == 3
    assert pl.DataFrame(frame).height == 3


def test_scans_and_sinks(s, tmp_path):
    t = pa.table({"k": [1, 2, 3, 4], "p": ["x", "y", "x", "y"]})
    pq.write_table(t, tmp_path / "in.parquet")
    (tmp_path / "in.csv").write_text("k,p\n1,x\n2,y\n3,x\n4,y\n")
    a = s.scan_parquet(str(tmp_path / "in.parquet")).collect()
    b = s.scan_csv(str(tmp_path / "in.csv")).collect()
    assert as_rows(a) == as_rows(b) == as_rows(t)
    typed = s.scan_csv(str(tmp_path / "in.csv"), types={"k": pa.float64()}).collect()
    assert typed.schema.field("k").type == pa.float64()
    rows = s.scan_parquet(str(tmp_path / "in.parquet")).sink_parquet(str(tmp_path / "out.parquet"))
    assert rows == 4
    assert pq.read_table(tmp_path / "out.parquet").equals(t)
    s.scan_csv(str(tmp_path / "in.csv")).sink_parquet(str(tmp_path / "parts"), partition_by="p")
    assert sorted(os.listdir(tmp_path / "parts")) == ["p=x", "p=y"]
    back = s.scan_parquet(str(tmp_path / "parts")).sort("k").collect()
    assert back.column("k").to_pylist() == [1, 2, 3, 4]
    s.scan_parquet(str(tmp_path / "in.parquet")).sink_csv(str(tmp_path / "out.csv"))
    assert (tmp_path / "out.csv").read_text().splitlines()[0] == "k,p"


def test_explain(lf):
    text = lf.group_by("g").agg(col("x").sum()).explain()
    assert "Aggregate" in text
    svg = lf.group_by("g").agg(col("x").sum()).explain(format="svg")
    assert "<svg" in svg
    html = lf.group_by("g").agg(col("x").sum())._repr_html_()
    assert html.startswith("<pre>") and "Aggregate" in html
    analyzed = lf.filter(col("x") > 1).explain(analyze=True)
    assert "rows" in analyzed


def test_errors(s, lf, tmp_path):
    with pytest.raises(floe.InvalidInputError, match="nope"):
        lf.select(col("nope"))
    with pytest.raises(floe.InvalidInputError, match="missing.csv"):
        s.scan_csv(str(tmp_path / "missing.csv"))
    bad = tmp_path / "bad.csv"
    bad.write_text('a,b\n1,"open\n2,3\n')
    with pytest.raises(floe.InvalidInputError, match="bad.csv"):
        s.scan_csv(str(bad)).collect()
    with pytest.raises(floe.FloeError):
        s.sql("SELEC 1")
    with pytest.raises(floe.InvalidInputError, match="truth value"):
        bool(col("x") > 1)
    assert issubclass(floe.ResourcesExhaustedError, floe.FloeError)
    assert issubclass(floe.NotSupportedError, floe.FloeError)


def test_resources_exhausted_names_the_fix():
    s = floe.Session(memory_limit="8MiB", threads=1)
    big = s.from_arrow(pa.table({"v": pa.array(range(3_000_000), pa.int64())}))
    with pytest.raises(floe.ResourcesExhaustedError) as e:
        big.select((col("v") * 2).alias("w")).collect()
    assert "sink" in str(e.value) or "limit" in str(e.value)
