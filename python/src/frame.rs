//! `floe.LazyFrame` and `floe.GroupBy`: the Rust LazyFrame's methods with Python
//! arguments. Nothing runs until `collect()` (a `pyarrow.Table`), `to_pandas()`,
//! `to_polars()`, a `sink_*` or `explain(analyze=True)`; each of those runs with the
//! GIL released and stops on Ctrl-C ([`crate::run`]).

use floe::exec::render::ExplainFormat;
use floe::io::{CsvSinkOptions, ParquetSinkOptions};
use floe::plan::JoinType;
use pyo3::prelude::*;
use pyo3::types::{PyList, PyTuple};

use crate::arrow_io;
use crate::errors::{IntoPy, InvalidInputError};
use crate::expr::{column_or_expr, sort_keys, to_expr, to_exprs};
use crate::run::cancellable;
use crate::session::PySession;

/// A query being built over a session's data; nothing runs until it is collected.
#[pyclass(name = "LazyFrame", module = "floe", frozen, skip_from_py_object)]
#[derive(Clone)]
pub struct PyLazyFrame {
    pub inner: floe::LazyFrame,
    pub session: PySession,
}

/// A grouping waiting for its aggregates: `lf.group_by("g").agg(col("x").sum())`.
#[pyclass(name = "GroupBy", module = "floe", frozen, skip_from_py_object)]
pub struct PyGroupBy {
    frame: PyLazyFrame,
    keys: Vec<floe::expr::Expr>,
}

/// Expressions from `*args`, where each argument is a name, an expression, or a list
/// of them.
fn flat_exprs(args: &Bound<'_, PyTuple>) -> PyResult<Vec<floe::expr::Expr>> {
    let mut out = vec![];
    for a in args.iter() {
        if a.is_instance_of::<PyList>() || a.is_instance_of::<PyTuple>() {
            out.extend(to_exprs(&a)?);
        } else {
            out.push(column_or_expr(&a)?);
        }
    }
    Ok(out)
}

fn join_type(how: &str) -> PyResult<JoinType> {
    Ok(match how {
        "inner" => JoinType::Inner,
        "left" => JoinType::Left,
        "right" => JoinType::Right,
        "full" | "outer" => JoinType::Full,
        "semi" => JoinType::Semi,
        "anti" => JoinType::Anti,
        other => {
            return Err(InvalidInputError::new_err(format!(
                "join how={other:?}: expected inner, left, right, full, semi, anti or cross"
            )))
        }
    })
}

fn names(obj: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<String>> {
    match obj {
        None => Ok(vec![]),
        Some(o) => match o.extract::<String>() {
            Ok(one) => Ok(vec![one]),
            Err(_) => o.extract(),
        },
    }
}

impl PyLazyFrame {
    fn wrap(&self, lf: floe::LazyFrame) -> PyLazyFrame {
        self.session.frame(lf)
    }

    /// Runs a sink of the query (GIL released, Ctrl-C cancels); the rows written.
    fn sink<F>(&self, py: Python<'_>, write: F) -> PyResult<u64>
    where
        F: FnOnce(floe::LazyFrame) -> floe::Result<floe::SinkReport> + Send,
    {
        let lf = self.inner.clone();
        Ok(cancellable(py, &self.session.inner, move || write(lf))?.rows)
    }

    /// Runs the query in this process: a `pyarrow.Table`.
    fn collect_here<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let lf = self.inner.clone();
        let df = cancellable(py, &self.session.inner, move || lf.collect())?;
        arrow_io::table(py, df.schema().clone(), df.batches().to_vec())
    }
}

#[pymethods]
impl PyLazyFrame {
    /// The result's schema (a `pyarrow.Schema`), known without running anything.
    #[getter]
    fn schema<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        arrow_io::schema(py, &self.inner.schema())
    }

    /// The result's column names.
    #[getter]
    fn columns(&self) -> Vec<String> {
        self.inner
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect()
    }

    /// The session this frame runs in.
    #[getter]
    fn session(&self) -> PySession {
        self.session.clone()
    }

    /// Rows where `predicate` is true.
    fn filter(&self, predicate: &Bound<'_, PyAny>) -> PyResult<PyLazyFrame> {
        Ok(self.wrap(self.inner.filter(to_expr(predicate)?).py_err()?))
    }

    /// These columns or expressions (names, expressions, or lists of them).
    #[pyo3(signature = (*exprs))]
    fn select(&self, exprs: &Bound<'_, PyTuple>) -> PyResult<PyLazyFrame> {
        Ok(self.wrap(self.inner.select(flat_exprs(exprs)?).py_err()?))
    }

    /// All columns plus (or replaced by) these expressions.
    #[pyo3(signature = (*exprs))]
    fn with_columns(&self, exprs: &Bound<'_, PyTuple>) -> PyResult<PyLazyFrame> {
        Ok(self.wrap(self.inner.with_columns(flat_exprs(exprs)?).py_err()?))
    }

    /// Groups by these keys; finish with `.agg(...)`.
    #[pyo3(signature = (*keys))]
    fn group_by(&self, keys: &Bound<'_, PyTuple>) -> PyResult<PyGroupBy> {
        Ok(PyGroupBy {
            frame: self.clone(),
            keys: flat_exprs(keys)?,
        })
    }

    /// Joins `other`: on the same column names (`on`), or `left_on`/`right_on`; `how`
    /// is inner, left, right, full, semi, anti or cross.
    #[pyo3(signature = (other, on=None, left_on=None, right_on=None, how="inner"))]
    fn join(
        &self,
        other: &PyLazyFrame,
        on: Option<&Bound<'_, PyAny>>,
        left_on: Option<&Bound<'_, PyAny>>,
        right_on: Option<&Bound<'_, PyAny>>,
        how: &str,
    ) -> PyResult<PyLazyFrame> {
        if how == "cross" {
            return Ok(self.wrap(self.inner.cross_join(&other.inner).py_err()?));
        }
        let how = join_type(how)?;
        let (l, r) = match on {
            Some(on) => {
                let n = names(Some(on))?;
                (n.clone(), n)
            }
            None => (names(left_on)?, names(right_on)?),
        };
        if l.is_empty() || l.len() != r.len() {
            return Err(InvalidInputError::new_err(
                "join needs `on`, or `left_on` and `right_on` of the same length",
            ));
        }
        let le = l.iter().map(|c| floe::expr::col(c.as_str()));
        let re = r.iter().map(|c| floe::expr::col(c.as_str()));
        Ok(self.wrap(self.inner.join(&other.inner, le, re, how).py_err()?))
    }

    /// Rows ordered by `by` (names or expressions); `descending` is one flag or one
    /// per key; nulls last unless `nulls_last=False`.
    #[pyo3(signature = (by, descending=None, nulls_last=None))]
    fn sort(
        &self,
        by: &Bound<'_, PyAny>,
        descending: Option<&Bound<'_, PyAny>>,
        nulls_last: Option<bool>,
    ) -> PyResult<PyLazyFrame> {
        Ok(self.wrap(
            self.inner
                .sort(sort_keys(by, descending, nulls_last)?)
                .py_err()?,
        ))
    }

    /// The first `k` rows in the order of `by`, without sorting everything.
    #[pyo3(signature = (k, by, descending=None, nulls_last=None))]
    fn top_k(
        &self,
        k: usize,
        by: &Bound<'_, PyAny>,
        descending: Option<&Bound<'_, PyAny>>,
        nulls_last: Option<bool>,
    ) -> PyResult<PyLazyFrame> {
        Ok(self.wrap(
            self.inner
                .top_k(k, sort_keys(by, descending, nulls_last)?)
                .py_err()?,
        ))
    }

    /// The first `n` rows.
    #[pyo3(signature = (n=5))]
    fn head(&self, n: usize) -> PyLazyFrame {
        self.wrap(self.inner.head(n))
    }

    /// The first `n` rows.
    fn limit(&self, n: usize) -> PyLazyFrame {
        self.wrap(self.inner.limit(n))
    }

    /// `n` rows from `offset`.
    fn slice(&self, offset: usize, n: usize) -> PyLazyFrame {
        self.wrap(self.inner.slice(offset, n))
    }

    /// Distinct rows.
    fn unique(&self) -> PyResult<PyLazyFrame> {
        Ok(self.wrap(self.inner.unique().py_err()?))
    }

    /// The rows of this frame, then those of `other` (columns matched by name).
    fn union(&self, other: &PyLazyFrame) -> PyResult<PyLazyFrame> {
        Ok(self.wrap(self.inner.union(&other.inner).py_err()?))
    }

    /// The optimized plan and its pipelines with estimates; `format` is "text", "dot"
    /// or "svg"; `analyze=True` runs the query and adds what each operator did.
    #[pyo3(signature = (format="text", analyze=false))]
    fn explain(&self, py: Python<'_>, format: &str, analyze: bool) -> PyResult<String> {
        let f: ExplainFormat = format.parse().py_err()?;
        let lf = self.inner.clone();
        cancellable(py, &self.session.inner, move || lf.explain_as(f, analyze))
    }

    /// The plan as a picture: an `IPython.display.SVG` in a notebook, else SVG text.
    fn show_graph<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let svg = self.explain(py, "svg", false)?;
        match py.import("IPython.display") {
            Ok(display) => display.getattr("SVG")?.call1((svg,)),
            Err(_) => Ok(pyo3::types::PyString::new(py, &svg).into_any()),
        }
    }

    /// Runs the query: the result as a `pyarrow.Table` (its buffers are floe's, not
    /// copied). With `client` (a `distributed.Client`), runs it on that Dask cluster
    /// (`floe.dask.collect`, which takes the other keyword arguments).
    #[pyo3(signature = (client=None, **kwargs))]
    fn collect<'py>(
        slf: &Bound<'py, Self>,
        client: Option<&Bound<'py, PyAny>>,
        kwargs: Option<&Bound<'py, pyo3::types::PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        if let Some(client) = client {
            let dask = py.import("floe.dask")?;
            return dask.getattr("collect")?.call((slf, client), kwargs);
        }
        slf.get().collect_here(py)
    }

    /// `collect()` as a pandas DataFrame.
    fn to_pandas<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.collect_here(py)?.call_method0("to_pandas")
    }

    /// `collect()` as a Polars DataFrame.
    fn to_polars<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let table = self.collect_here(py)?;
        py.import("polars")?.call_method1("from_arrow", (table,))
    }

    /// The Arrow PyCapsule stream protocol: DuckDB, Polars and pyarrow read a frame
    /// directly (it runs the query).
    #[pyo3(signature = (requested_schema=None))]
    fn __arrow_c_stream__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.collect_here(py)?
            .call_method1("__arrow_c_stream__", (requested_schema,))
    }

    /// Streams the result into Parquet (zstd), written atomically; with
    /// `partition_by`, a hive-partitioned folder. Returns the rows written.
    #[pyo3(signature = (path, partition_by=None))]
    fn sink_parquet(
        &self,
        py: Python<'_>,
        path: String,
        partition_by: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<u64> {
        let o = ParquetSinkOptions {
            partition_by: names(partition_by)?,
            ..ParquetSinkOptions::default()
        };
        self.sink(py, move |lf| lf.sink_parquet(path, o))
    }

    /// Streams the result into CSV, written atomically; with `partition_by`, a
    /// hive-partitioned folder. Returns the rows written.
    #[pyo3(signature = (path, partition_by=None))]
    fn sink_csv(
        &self,
        py: Python<'_>,
        path: String,
        partition_by: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<u64> {
        let o = CsvSinkOptions {
            partition_by: names(partition_by)?,
            ..CsvSinkOptions::default()
        };
        self.sink(py, move |lf| lf.sink_csv(path, o))
    }

    /// The optimized logical plan, serialized (what `floe.dask` distributes).
    fn _plan_bytes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, pyo3::types::PyBytes>> {
        let lf = self.inner.clone();
        let plan = cancellable(py, &self.session.inner, move || lf.optimized_plan())?;
        let bytes = floe::serialize::to_bytes(&plan).py_err()?;
        Ok(pyo3::types::PyBytes::new(py, &bytes))
    }

    /// Jupyter shows a frame as its plan (optimized, with pipelines and estimates).
    fn _repr_html_(&self) -> PyResult<String> {
        let text = self.inner.explain().py_err()?;
        let escaped = text
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;");
        Ok(format!("<pre>{escaped}</pre>"))
    }

    fn __repr__(&self) -> PyResult<String> {
        Ok(format!("<floe.LazyFrame {:?}>", self.columns()))
    }
}

#[pymethods]
impl PyGroupBy {
    /// One row per group: the keys, then these aggregates (or expressions over
    /// aggregates, e.g. `col("x").sum() / len()`).
    #[pyo3(signature = (*aggs))]
    fn agg(&self, aggs: &Bound<'_, PyTuple>) -> PyResult<PyLazyFrame> {
        let g = self.frame.inner.group_by(self.keys.clone());
        Ok(self.frame.wrap(g.agg(flat_exprs(aggs)?).py_err()?))
    }
}
