//! The morsel-driven pipeline driver (Leis et al., SIGMOD 2014; DuckDB; Polars streaming).
//!
//! ```text
//!   Source ──tasks──▶ worker 0: task ▶ batch ▶ op ▶ op ▶ LocalSink 0 ─┐
//!     (file ranges,   worker 1: task ▶ batch ▶ op ▶ op ▶ LocalSink 1 ─┼─▶ combine ▶ finalize ▶ next Source
//!      row groups,    worker N: ...                                   ─┘
//!      partitions)
//! ```
//!
//! A pipeline is one [`Source`], a chain of streaming [`Operator`]s and one [`Sink`]
//! (the traits are in [`crate::stream`]).
//! `threads` workers run on the session's rayon pool. Each pulls a [`Task`] (a file
//! range, a row group, a spilled partition) from the source, decodes its morsels one at
//! a time, pushes each through the operators and into its own [`LocalSink`]; nothing is
//! locked per morsel. Work stealing is the task queue itself: a worker that finishes
//! early takes the next task, so uneven files balance out. When the source is dry each
//! worker combines its local state into the shared sink, and `finalize` (single
//! threaded) turns the sink into the source of the next pipeline.
//!
//! Memory: a worker holds one morsel at a time in flight, so the driver itself holds
//! `threads × morsel` bytes, which no reservation covers; it records the largest
//! morsel each source produced in the source's metrics (`in_flight_peak`), so that
//! bound is visible. Everything that grows lives in sinks, behind reservations (the
//! contract is written on the traits, in [`crate::stream`]).
//!
//! Order: every morsel carries a [`Seq`] (task index, batch index), which lets order-
//! sensitive sinks (collect, limit, first/last) restore source order.
//!
//! Errors and early exit: the first error, a sink reporting [`SinkStatus::Finished`]
//! (a satisfied limit), or a cancel sets a shared stop flag; workers stop between
//! morsels, and the first error is returned.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use arrow::array::RecordBatch;

use crate::error::{Error, Result};
use crate::memory::batch_memory_size;
use crate::metrics::OperatorMetrics;
use crate::stream::{Morsel, Operator, Seq, Sink, SinkStatus, Source};

/// Everything a running pipeline needs besides its parts.
#[derive(Clone)]
pub struct ExecContext {
    pub pool: Arc<rayon::ThreadPool>,
    pub threads: usize,
    pub cancel: Arc<AtomicBool>,
    /// Rows produced by sources so far, session-wide (for progress bars).
    pub rows_scanned: Arc<std::sync::atomic::AtomicU64>,
}

/// A streaming operator with its metrics.
pub struct MeteredOperator {
    pub op: Arc<dyn Operator>,
    pub metrics: Arc<OperatorMetrics>,
}

/// What one pipeline run did.
#[derive(Debug, Clone, Copy, Default)]
pub struct PipelineRun {
    /// Tasks taken from the source.
    pub tasks: u64,
    /// The sink reported `Finished` (the pipeline stopped early).
    pub finished: bool,
}

/// Pushes `batch` through `operators` into `sink`, timing each operator without the
/// time spent downstream of it.
fn push(
    operators: &[MeteredOperator],
    batch: RecordBatch,
    sink: &mut dyn FnMut(RecordBatch) -> Result<SinkStatus>,
) -> Result<SinkStatus> {
    let Some((op, rest)) = operators.split_first() else {
        return sink(batch);
    };
    let started = Instant::now();
    let mut downstream = std::time::Duration::ZERO;
    let status = op.op.execute(batch, &mut |b: RecordBatch| {
        if b.num_rows() == 0 {
            return Ok(SinkStatus::NeedMore);
        }
        op.metrics.add_rows(b.num_rows());
        let t = Instant::now();
        let status = push(rest, b, sink);
        downstream += t.elapsed();
        status
    })?;
    op.metrics
        .add_time(started.elapsed().saturating_sub(downstream));
    Ok(status)
}

/// Runs `source → operators → sink` to completion on `ctx.threads` workers. Task
/// indices (and so [`Seq`]s) start at `task_base`, after the tasks of the pipelines
/// that fed the same sink before. The sink's time goes to `sink_metrics`.
pub fn run_pipeline<S: Sink + ?Sized>(
    ctx: &ExecContext,
    source: &dyn Source,
    operators: &[MeteredOperator],
    sink: &S,
    source_metrics: &OperatorMetrics,
    sink_metrics: &OperatorMetrics,
    task_base: u64,
) -> Result<PipelineRun> {
    let stop = AtomicBool::new(false);
    let finished = AtomicBool::new(false);
    let tasks = std::sync::atomic::AtomicU64::new(0);
    let first_error: Mutex<Option<Error>> = Mutex::new(None);
    let fail = |e: Error| {
        stop.store(true, Ordering::Relaxed);
        if let Ok(mut slot) = first_error.lock() {
            if slot.is_none() {
                *slot = Some(e);
            }
        }
    };
    let worker = || {
        let result = (|| -> Result<()> {
            let mut local = sink.local_state()?;
            'tasks: while !stop.load(Ordering::Relaxed) {
                if ctx.cancel.load(Ordering::Relaxed) {
                    return Err(Error::Cancelled);
                }
                let started = Instant::now();
                let Some(task) = source.next_task()? else {
                    break;
                };
                source_metrics.add_time(started.elapsed());
                tasks.fetch_add(1, Ordering::Relaxed);
                let task_index = task_base + task.index;
                let mut batches = task.batches;
                let mut batch_index = 0u64;
                loop {
                    if stop.load(Ordering::Relaxed) {
                        break 'tasks;
                    }
                    if ctx.cancel.load(Ordering::Relaxed) {
                        return Err(Error::Cancelled);
                    }
                    let started = Instant::now();
                    let next = batches.next();
                    source_metrics.add_time(started.elapsed());
                    let Some(batch) = next else {
                        if local.task_done(task_index)? == SinkStatus::Finished {
                            finished.store(true, Ordering::Relaxed);
                            stop.store(true, Ordering::Relaxed);
                            break 'tasks;
                        }
                        break;
                    };
                    let batch = batch?;
                    let rows = batch.num_rows();
                    source_metrics.add_rows(rows);
                    source_metrics.record_in_flight(batch_memory_size(&batch));
                    ctx.rows_scanned.fetch_add(rows as u64, Ordering::Relaxed);
                    // Every batch reaching the sink gets its own position: an operator
                    // may emit several per input morsel, in order.
                    let status = push(operators, batch, &mut |batch: RecordBatch| {
                        if batch.num_rows() == 0 {
                            return Ok(SinkStatus::NeedMore);
                        }
                        let seq = Seq {
                            task: task_index,
                            batch: batch_index,
                        };
                        batch_index += 1;
                        let started = Instant::now();
                        let status = local.sink(Morsel { batch, seq });
                        sink_metrics.add_time(started.elapsed());
                        status
                    })?;
                    if status == SinkStatus::Finished {
                        finished.store(true, Ordering::Relaxed);
                        stop.store(true, Ordering::Relaxed);
                        break 'tasks;
                    }
                }
            }
            let started = Instant::now();
            let combined = local.combine();
            sink_metrics.add_time(started.elapsed());
            combined
        })();
        if let Err(e) = result {
            fail(e);
        }
    };
    ctx.pool.scope(|s| {
        for _ in 0..ctx.threads.max(1) {
            s.spawn(|_| worker());
        }
    });
    let error = first_error
        .lock()
        .map_err(|_| Error::Internal("pipeline error slot poisoned".into()))?
        .take();
    match error {
        Some(e) => Err(e),
        None => Ok(PipelineRun {
            tasks: tasks.load(Ordering::Relaxed),
            finished: finished.load(Ordering::Relaxed),
        }),
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};

    use super::*;
    use crate::io::sink::parquet_sink;
    use crate::io::ParquetSinkOptions;
    use crate::memory::MemoryPool;
    use crate::stream::MemorySource;

    /// Two workers writing 40 morsels into a Parquet sink: every row arrives, in
    /// source order.
    #[test]
    fn pipeline_run_writes_every_row_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out.parquet");
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, true),
        ]));
        let batches: Vec<RecordBatch> = (0..40i64)
            .map(|i| {
                let ids: Vec<i64> = (i * 25..i * 25 + 25).collect();
                let names: Vec<String> = ids.iter().map(|v| format!("n{v}")).collect();
                RecordBatch::try_new(
                    Arc::clone(&schema),
                    vec![
                        Arc::new(Int64Array::from(ids)),
                        Arc::new(StringArray::from(names)),
                    ],
                )
                .unwrap()
            })
            .collect();
        let expected = arrow::compute::concat_batches(&schema, &batches).unwrap();
        let pool = MemoryPool::new(64 << 20);
        let sink = parquet_sink(
            &out,
            Arc::clone(&schema),
            ParquetSinkOptions::default(),
            pool,
            OperatorMetrics::new("sink"),
        )
        .unwrap();
        let source = MemorySource::new(Arc::clone(&schema), batches);
        let ctx = ExecContext {
            pool: Arc::new(
                rayon::ThreadPoolBuilder::new()
                    .num_threads(2)
                    .build()
                    .unwrap(),
            ),
            threads: 2,
            cancel: Default::default(),
            rows_scanned: Default::default(),
        };
        let metrics = OperatorMetrics::new("src");
        let run = run_pipeline(&ctx, &source, &[], sink.as_ref(), &metrics, &metrics, 0).unwrap();
        assert_eq!(run.tasks, 40);
        sink.finalize().unwrap();
        assert!(metrics.in_flight_peak() > 0);
        let file = std::fs::File::open(&out).unwrap();
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
            .unwrap()
            .build()
            .unwrap();
        let read: Vec<RecordBatch> = reader.map(|b| b.unwrap()).collect();
        assert_eq!(
            arrow::compute::concat_batches(&schema, &read).unwrap(),
            expected
        );
    }
}
