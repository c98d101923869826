//! `floe.Session`: the configuration (memory limit, threads, spill directory), the
//! one memory pool, and the entry points: `scan_csv`, `scan_parquet`, `scan_ndjson`,
//! `sql`, `from_arrow` and the table catalog SQL reads.

use std::sync::Arc;

use floe::io::{BadRowPolicy, CsvOptions, JsonOptions, ParquetOptions};
use floe::DataFrame;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::arrow_io;
use crate::errors::{IntoPy, InvalidInputError};
use crate::expr::data_type;
use crate::frame::PyLazyFrame;

/// A floe session: one memory limit and one thread pool for the queries it runs.
///
/// >>> s = floe.Session(memory_limit="2GiB", threads=4)
/// >>> s.sql("SELECT 1 AS x").collect()
#[pyclass(name = "Session", module = "floe", frozen, skip_from_py_object)]
#[derive(Clone)]
pub struct PySession {
    pub inner: floe::Session,
}

#[pymethods]
impl PySession {
    /// `memory_limit`: the pool every growing buffer reserves from ("2GiB", "512MB", or
    /// bytes); by default 60% of the cgroup's memory cap, or 80% of RAM.
    /// `threads`: worker threads (default: the CPUs). `spill_dir`: where spill files go
    /// (default: the system temporary directory). `chunk_rows`: rows per batch.
    /// `resident_guard`: operators also spill early when the process's resident memory
    /// (freed pages the allocator keeps) nears the limit; for one session per process,
    /// as the CLI runs (off by default).
    #[new]
    #[pyo3(signature = (memory_limit=None, threads=None, spill_dir=None, chunk_rows=None, force_spill=false, resident_guard=false))]
    fn new(
        memory_limit: Option<&Bound<'_, PyAny>>,
        threads: Option<usize>,
        spill_dir: Option<String>,
        chunk_rows: Option<usize>,
        force_spill: bool,
        resident_guard: bool,
    ) -> PyResult<Self> {
        let mut b = floe::Session::builder();
        if let Some(limit) = memory_limit {
            if let Ok(bytes) = limit.extract::<usize>() {
                b = b.memory_limit_bytes(bytes);
            } else {
                let text: String = limit.extract().map_err(|_| {
                    InvalidInputError::new_err("memory_limit: expected bytes or text like \"2GiB\"")
                })?;
                b = b.memory_limit(&text);
            }
        }
        if let Some(n) = threads {
            b = b.threads(n);
        }
        if let Some(d) = spill_dir {
            b = b.spill_dir(d);
        }
        if let Some(n) = chunk_rows {
            b = b.chunk_rows(n);
        }
        if force_spill {
            b = b.force_spill(true);
        }
        b = b.resident_guard(resident_guard);
        Ok(PySession {
            inner: b.build().py_err()?,
        })
    }

    /// The memory limit in bytes.
    #[getter]
    fn memory_limit(&self) -> usize {
        self.inner.config().memory_limit
    }

    /// The number of worker threads.
    #[getter]
    fn threads(&self) -> usize {
        self.inner.config().threads
    }

    /// Whether the pool's resident guard is on.
    #[getter]
    fn resident_guard(&self) -> bool {
        self.inner.config().resident_guard
    }

    /// Bytes and files spilled by this session so far.
    fn spilled(&self) -> (u64, u64) {
        self.inner.spilled()
    }

    /// A lazy scan of CSV files (a path, a glob, or a directory; `.gz` is read
    /// decompressed). `types` maps column names to types (pyarrow types or names such
    /// as "Int64"); `ignore_errors` skips malformed rows instead of failing.
    #[pyo3(signature = (path, has_header=true, delimiter=None, null_values=None, types=None, schema=None, ignore_errors=false, infer_rows=None, skip_lines=0))]
    #[allow(clippy::too_many_arguments)]
    fn scan_csv(
        &self,
        path: &str,
        has_header: bool,
        delimiter: Option<String>,
        null_values: Option<Vec<String>>,
        types: Option<&Bound<'_, PyDict>>,
        schema: Option<&Bound<'_, PyAny>>,
        ignore_errors: bool,
        infer_rows: Option<usize>,
        skip_lines: usize,
    ) -> PyResult<PyLazyFrame> {
        let mut o = CsvOptions {
            has_header,
            skip_lines,
            ..CsvOptions::default()
        };
        if let Some(d) = delimiter {
            match d.as_bytes() {
                [b] => {
                    o.delimiter = *b;
                    o.sniff_delimiter = false;
                }
                _ => {
                    return Err(InvalidInputError::new_err(format!(
                        "delimiter must be one byte, got {d:?}"
                    )))
                }
            }
        }
        if let Some(n) = null_values {
            o.null_values = n;
        }
        if let Some(t) = types {
            for (k, v) in t.iter() {
                o.column_types.push((k.extract()?, data_type(&v)?));
            }
        }
        if let Some(s) = schema {
            o.schema = Some(Arc::new(arrow_schema(s)?));
        }
        if ignore_errors {
            o.on_bad_row = BadRowPolicy::Skip;
        }
        if let Some(n) = infer_rows {
            o.infer_rows = n;
        }
        Ok(self.frame(self.inner.scan_csv(path, o).py_err()?))
    }

    /// A lazy scan of Parquet files (a path, a glob, or a directory; hive partitions
    /// `key=value/` become columns).
    #[pyo3(signature = (path, schema=None))]
    fn scan_parquet(&self, path: &str, schema: Option<&Bound<'_, PyAny>>) -> PyResult<PyLazyFrame> {
        let mut o = ParquetOptions::default();
        if let Some(s) = schema {
            o.schema = Some(Arc::new(arrow_schema(s)?));
        }
        Ok(self.frame(self.inner.scan_parquet(path, o).py_err()?))
    }

    /// A lazy scan of newline-delimited JSON files.
    #[pyo3(signature = (path, schema=None))]
    fn scan_ndjson(&self, path: &str, schema: Option<&Bound<'_, PyAny>>) -> PyResult<PyLazyFrame> {
        let mut o = JsonOptions::default();
        if let Some(s) = schema {
            o.schema = Some(Arc::new(arrow_schema(s)?));
        }
        Ok(self.frame(self.inner.scan_ndjson(path, o).py_err()?))
    }

    /// A SQL query (DuckDB's dialect) over the registered tables and table functions
    /// (`read_csv`, `read_parquet`); nothing runs until the result is collected.
    fn sql(&self, query: &str) -> PyResult<PyLazyFrame> {
        Ok(self.frame(self.inner.sql(query).py_err()?))
    }

    /// A frame over Arrow data already in Python: a `pyarrow.Table` or
    /// `RecordBatchReader`, a Polars or pandas DataFrame (anything with
    /// `__arrow_c_stream__`). The buffers are shared, not copied.
    #[allow(clippy::wrong_self_convention)] // the Python name, as in Polars and DuckDB
    fn from_arrow(&self, data: &Bound<'_, PyAny>) -> PyResult<PyLazyFrame> {
        let data = crate::arrow_io::arrow_stream_source(data)?;
        let (schema, batches) = arrow_io::batches_from(&data)?;
        Ok(self.frame(DataFrame::new(schema, batches).lazy(&self.inner)))
    }

    /// Makes `frame` (a LazyFrame, or Arrow data as for `from_arrow`) a table that SQL
    /// can name.
    fn register(&self, name: &str, frame: &Bound<'_, PyAny>) -> PyResult<()> {
        let lf = match frame.extract::<PyRef<'_, PyLazyFrame>>() {
            Ok(lf) => lf.inner.clone(),
            Err(_) => self.from_arrow(frame)?.inner,
        };
        self.inner.register(name, &lf).py_err()
    }

    /// Removes a registered table; whether it existed.
    fn deregister(&self, name: &str) -> bool {
        self.inner.deregister(name)
    }

    /// The registered table names.
    fn tables(&self) -> Vec<String> {
        self.inner.table_names()
    }

    /// The frame of a registered table.
    fn table(&self, name: &str) -> PyResult<PyLazyFrame> {
        let plan = self
            .inner
            .table(name)
            .ok_or_else(|| InvalidInputError::new_err(format!("no table named '{name}'")))?;
        Ok(self.frame(self.inner.frame(floe::plan::LogicalPlan::clone(&plan))))
    }

    fn __repr__(&self) -> String {
        format!(
            "floe.Session(memory_limit={}, threads={})",
            self.inner.config().memory_limit,
            self.inner.config().threads
        )
    }
}

impl PySession {
    pub fn frame(&self, lf: floe::LazyFrame) -> PyLazyFrame {
        PyLazyFrame {
            inner: lf,
            session: self.clone(),
        }
    }
}

fn arrow_schema(obj: &Bound<'_, PyAny>) -> PyResult<arrow::datatypes::Schema> {
    use arrow::pyarrow::FromPyArrow;
    arrow::datatypes::Schema::from_pyarrow_bound(obj)
}
