//! The stage functions `floe.dask` runs: finding the next distributable stage of a
//! serialized plan (`floe::plan::distribute`), running a fragment or any plan,
//! merging partial results, finishing a stage and putting its result back into the
//! plan. Plans and stages travel as bytes (MessagePack), results as Arrow IPC
//! streams (LZ4): Dask ships bytes between processes as they are, and the IPC reader
//! realigns buffers that a transfer left unaligned (a `pyarrow.Table` imported through
//! the C interface must be aligned).

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use arrow::ipc::reader::StreamReader;
use arrow::ipc::writer::{IpcWriteOptions, StreamWriter};
use arrow::ipc::CompressionType;
use floe::plan::distribute::{next_stage as find_stage, Split, Stage};
use floe::plan::LogicalPlan;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::arrow_io;
use crate::errors::{to_py, IntoPy};
use crate::run::cancellable;
use crate::session::PySession;

fn stage(bytes: &[u8]) -> PyResult<Stage> {
    floe::serialize::from_bytes(bytes).py_err()
}

fn plan(bytes: &[u8]) -> PyResult<LogicalPlan> {
    floe::serialize::from_bytes(bytes).py_err()
}

fn to_bytes<'py, T: serde::Serialize>(py: Python<'py>, v: &T) -> PyResult<Bound<'py, PyBytes>> {
    Ok(PyBytes::new(py, &floe::serialize::to_bytes(v).py_err()?))
}

fn batches(streams: &[Vec<u8>]) -> PyResult<Vec<RecordBatch>> {
    let mut out = vec![];
    for bytes in streams {
        let reader = StreamReader::try_new(std::io::Cursor::new(bytes.as_slice()), None)
            .map_err(|e| to_py(e.into()))?;
        for b in reader {
            out.push(b.map_err(|e| to_py(e.into()))?);
        }
    }
    Ok(out)
}

/// `batches` as an Arrow IPC stream (LZ4-compressed buffers).
fn ipc<'py>(
    py: Python<'py>,
    schema: &SchemaRef,
    batches: &[RecordBatch],
) -> PyResult<Bound<'py, PyBytes>> {
    let write = || -> Result<Vec<u8>, arrow::error::ArrowError> {
        let options =
            IpcWriteOptions::default().try_with_compression(Some(CompressionType::LZ4_FRAME))?;
        let mut w = StreamWriter::try_new_with_options(Vec::new(), schema, options)?;
        for b in batches {
            w.write(b)?;
        }
        w.into_inner()
    };
    let bytes = write().map_err(|e| to_py(e.into()))?;
    Ok(PyBytes::new(py, &bytes))
}

/// Runs `plan` in `session` and returns its result as IPC bytes. The plan was
/// optimized where it was made: it is lowered as it is, without sampling its inputs
/// again.
fn run<'py>(
    py: Python<'py>,
    session: &PySession,
    plan: LogicalPlan,
) -> PyResult<Bound<'py, PyBytes>> {
    let df = collect_plan(py, session, plan)?;
    ipc(py, df.schema(), df.batches())
}

fn collect_plan(
    py: Python<'_>,
    session: &PySession,
    plan: LogicalPlan,
) -> PyResult<floe::DataFrame> {
    let s = session.inner.clone();
    cancellable(py, &session.inner, move || {
        let physical = floe::plan::plan_physical(&plan, s.config())?;
        s.collect(&physical)
    })
}

/// The next stage of a serialized plan (bytes), cutting scans into slices of about
/// `target_bytes`, or into about `pieces` slices when given; None when the rest of the
/// plan runs as one task.
#[pyfunction]
#[pyo3(signature = (plan_bytes, target_bytes, pieces=None))]
fn next_stage<'py>(
    py: Python<'py>,
    plan_bytes: &[u8],
    target_bytes: u64,
    pieces: Option<u64>,
) -> PyResult<Option<Bound<'py, PyBytes>>> {
    let p = plan(plan_bytes)?;
    let split = match pieces {
        Some(n) => Split::Pieces(n),
        None => Split::Bytes(target_bytes),
    };
    match find_stage(&p, split).py_err()? {
        Some(s) => Ok(Some(to_bytes(py, &s)?)),
        None => Ok(None),
    }
}

/// The fragments of a stage, each a serialized plan.
#[pyfunction]
fn stage_fragments<'py>(py: Python<'py>, stage_bytes: &[u8]) -> PyResult<Vec<Bound<'py, PyBytes>>> {
    stage(stage_bytes)?
        .fragments
        .iter()
        .map(|f| to_bytes(py, f))
        .collect()
}

/// The stage without its fragments (for merge, finish and substitute).
#[pyfunction]
fn stage_combiner<'py>(py: Python<'py>, stage_bytes: &[u8]) -> PyResult<Bound<'py, PyBytes>> {
    to_bytes(py, &stage(stage_bytes)?.combiner())
}

/// Whether a stage's fragment results merge as partial aggregates (else they are
/// rows, concatenated).
#[pyfunction]
fn stage_merges(stage_bytes: &[u8]) -> PyResult<bool> {
    Ok(matches!(
        stage(stage_bytes)?.combine,
        floe::plan::distribute::Combine::Aggregate { .. }
    ))
}

/// An IPC stream (a task's result) as a `pyarrow.Table`.
#[pyfunction]
fn ipc_to_table<'py>(py: Python<'py>, result: Vec<u8>) -> PyResult<Bound<'py, PyAny>> {
    let reader =
        StreamReader::try_new(std::io::Cursor::new(result), None).map_err(|e| to_py(e.into()))?;
    let schema = reader.schema();
    let rows = reader
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| to_py(e.into()))?;
    arrow_io::table(py, schema, rows)
}

/// Runs a serialized plan (a fragment, or the plan's last task).
#[pyfunction]
fn run_plan<'py>(
    py: Python<'py>,
    session: &PySession,
    plan_bytes: &[u8],
) -> PyResult<Bound<'py, PyBytes>> {
    run(py, session, plan(plan_bytes)?)
}

/// Merges partial results of a stage (fragment or merge results) into one.
#[pyfunction]
fn merge_partials<'py>(
    py: Python<'py>,
    session: &PySession,
    stage_bytes: &[u8],
    partials: Vec<Vec<u8>>,
) -> PyResult<Bound<'py, PyBytes>> {
    let s = stage(stage_bytes)?;
    let rows = batches(&partials)?;
    match s.merge_plan(rows.clone()).py_err()? {
        Some(p) => run(py, session, p),
        None => ipc(py, &s.partial_schema, &rows),
    }
}

/// The stage's result from its merged partial result.
#[pyfunction]
fn finish_stage<'py>(
    py: Python<'py>,
    session: &PySession,
    stage_bytes: &[u8],
    merged: Vec<u8>,
) -> PyResult<Bound<'py, PyBytes>> {
    let s = stage(stage_bytes)?;
    let p = s.finish_plan(batches(&[merged])?).py_err()?;
    let df = collect_plan(py, session, p)?;
    let out = s.output_batches(df.batches().to_vec()).py_err()?;
    ipc(py, &s.output_schema, &out)
}

/// The plan with the stage's subtree replaced by its result.
#[pyfunction]
fn substitute<'py>(
    py: Python<'py>,
    plan_bytes: &[u8],
    stage_bytes: &[u8],
    result: Vec<u8>,
) -> PyResult<Bound<'py, PyBytes>> {
    let s = stage(stage_bytes)?;
    let p = s
        .substitute(&plan(plan_bytes)?, batches(&[result])?)
        .py_err()?;
    to_bytes(py, &p)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(next_stage, m)?)?;
    m.add_function(wrap_pyfunction!(stage_fragments, m)?)?;
    m.add_function(wrap_pyfunction!(stage_merges, m)?)?;
    m.add_function(wrap_pyfunction!(stage_combiner, m)?)?;
    m.add_function(wrap_pyfunction!(run_plan, m)?)?;
    m.add_function(wrap_pyfunction!(merge_partials, m)?)?;
    m.add_function(wrap_pyfunction!(finish_stage, m)?)?;
    m.add_function(wrap_pyfunction!(substitute, m)?)?;
    m.add_function(wrap_pyfunction!(ipc_to_table, m)?)?;
    Ok(())
}
