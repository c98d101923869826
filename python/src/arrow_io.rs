//! Arrow between Python and floe through the Arrow C stream interface: no copy of the
//! column buffers either way. Inputs are anything with `__arrow_c_stream__` (pyarrow
//! tables and readers, Polars frames, pandas ≥ 2.2 frames); outputs are
//! `pyarrow.Table`s.

use arrow::array::{RecordBatch, RecordBatchIterator, RecordBatchReader};
use arrow::datatypes::SchemaRef;
use arrow::ffi_stream::RecordBatchStreamReader;
use arrow::pyarrow::{FromPyArrow, IntoPyArrow, ToPyArrow};
use pyo3::prelude::*;

use crate::errors::InvalidInputError;

/// The batches of an Arrow stream-capable object.
pub fn batches_from(obj: &Bound<'_, PyAny>) -> PyResult<(SchemaRef, Vec<RecordBatch>)> {
    let reader = RecordBatchStreamReader::from_pyarrow_bound(obj).map_err(|e| {
        InvalidInputError::new_err(format!(
            "expected Arrow data (an object with __arrow_c_stream__, e.g. a pyarrow.Table, \
             a Polars or pandas DataFrame): {e}"
        ))
    })?;
    let schema = reader.schema();
    let batches = reader
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| InvalidInputError::new_err(format!("reading Arrow data: {e}")))?;
    Ok((schema, batches))
}

/// A `pyarrow.Table` holding `batches`.
pub fn table<'py>(
    py: Python<'py>,
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
) -> PyResult<Bound<'py, PyAny>> {
    let reader: Box<dyn RecordBatchReader + Send> = Box::new(RecordBatchIterator::new(
        batches.into_iter().map(Ok),
        schema,
    ));
    reader.into_pyarrow(py)?.call_method0("read_all")
}

/// A `pyarrow.Schema`.
pub fn schema<'py>(py: Python<'py>, schema: &SchemaRef) -> PyResult<Bound<'py, PyAny>> {
    schema.as_ref().to_pyarrow(py)
}

/// `obj` as something with `__arrow_c_stream__`: a pandas DataFrame of a pandas
/// without it goes through `pyarrow.Table.from_pandas` (which copies).
pub fn arrow_stream_source<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    if obj.hasattr("__arrow_c_stream__")? {
        return Ok(obj.clone());
    }
    let module: String = obj
        .get_type()
        .getattr("__module__")
        .and_then(|m| m.extract())
        .unwrap_or_default();
    if module.starts_with("pandas") {
        let pa = obj.py().import("pyarrow")?;
        return pa.getattr("Table")?.call_method1("from_pandas", (obj,));
    }
    Err(InvalidInputError::new_err(format!(
        "expected Arrow data (an object with __arrow_c_stream__: a pyarrow.Table, a Polars \
         or pandas DataFrame), got {}",
        obj.get_type().name()?
    )))
}
