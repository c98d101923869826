"""floe: an out-of-core dataframe engine.

Lazy query plans over CSV and Parquet datasets, streamed through parallel operators in
fixed-size Arrow batches, spilled to disk when memory runs short; results come back as
``pyarrow.Table`` without copying. ``floe.dask`` runs the same LazyFrame on a Dask
cluster.

>>> import floe
>>> s = floe.Session(memory_limit="2GiB")
>>> lf = s.scan_csv("data/sensors/*.csv")
>>> lf.group_by("sensor_id").agg(floe.col("temperature").mean().alias("t")).collect()
"""

from ._floe import (  # noqa: F401
    DiskFullError,
    Expr,
    FloeError,
    GroupBy,
    InvalidInputError,
    LazyFrame,
    NotSupportedError,
    ResourcesExhaustedError,
    Session,
    Then,
    When,
    __version__,
    col,
    concat_str,
    dense_rank,
    len,
    lit,
    rank,
    row_number,
    when,
)

__all__ = [
    "DiskFullError",
    "Expr",
    "FloeError",
    "GroupBy",
    "InvalidInputError",
    "LazyFrame",
    "NotSupportedError",
    "ResourcesExhaustedError",
    "Session",
    "Then",
    "When",
    "__version__",
    "col",
    "concat_str",
    "dense_rank",
    "from_arrow",
    "len",
    "lit",
    "rank",
    "row_number",
    "sql",
    "when",
]

_default = None


def _default_session() -> Session:
    global _default
    if _default is None:
        _default = Session()
    return _default


def from_arrow(data) -> LazyFrame:
    """A LazyFrame over Arrow data (pyarrow, Polars, pandas), in the default session."""
    return _default_session().from_arrow(data)


def sql(query: str) -> LazyFrame:
    """A SQL query in the default session (default memory limit and threads)."""
    return _default_session().sql(query)
