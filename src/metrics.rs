//! Per-operator counters, shown by `explain_analyze()` and asserted in tests.
//!
//! Every operator and sink of a running query owns an [`OperatorMetrics`]; the
//! counters are atomics, updated once per morsel by whichever worker ran it.

use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Counters of one operator.
#[derive(Debug, Default)]
pub struct OperatorMetrics {
    pub name: String,
    rows_out: AtomicU64,
    time_ns: AtomicU64,
    peak_reserved: AtomicUsize,
    /// The largest morsel this operator produced, which a worker holds in flight
    /// without a reservation (sources only).
    in_flight_peak: AtomicUsize,
    spilled_bytes: AtomicU64,
    spill_files: AtomicUsize,
    /// Free-form note for explain_analyze ("in memory", "spilled", partitions, ...).
    note: Mutex<String>,
}

impl OperatorMetrics {
    pub fn new(name: impl Into<String>) -> Arc<Self> {
        Arc::new(OperatorMetrics {
            name: name.into(),
            ..Default::default()
        })
    }
    pub fn add_rows(&self, n: usize) {
        self.rows_out.fetch_add(n as u64, Ordering::Relaxed);
    }
    pub fn add_time(&self, d: Duration) {
        self.time_ns
            .fetch_add(d.as_nanos() as u64, Ordering::Relaxed);
    }
    pub fn record_reserved(&self, bytes: usize) {
        self.peak_reserved.fetch_max(bytes, Ordering::Relaxed);
    }
    pub fn record_in_flight(&self, bytes: usize) {
        self.in_flight_peak.fetch_max(bytes, Ordering::Relaxed);
    }
    pub fn add_spill(&self, bytes: u64, files: usize) {
        self.spilled_bytes.fetch_add(bytes, Ordering::Relaxed);
        self.spill_files.fetch_add(files, Ordering::Relaxed);
    }
    pub fn set_note(&self, note: impl Into<String>) {
        if let Ok(mut n) = self.note.lock() {
            *n = note.into();
        }
    }
    pub fn rows_out(&self) -> u64 {
        self.rows_out.load(Ordering::Relaxed)
    }
    pub fn time(&self) -> Duration {
        Duration::from_nanos(self.time_ns.load(Ordering::Relaxed))
    }
    pub fn peak_reserved(&self) -> usize {
        self.peak_reserved.load(Ordering::Relaxed)
    }
    pub fn in_flight_peak(&self) -> usize {
        self.in_flight_peak.load(Ordering::Relaxed)
    }
    pub fn spilled_bytes(&self) -> u64 {
        self.spilled_bytes.load(Ordering::Relaxed)
    }
    pub fn spill_files(&self) -> usize {
        self.spill_files.load(Ordering::Relaxed)
    }
    pub fn note(&self) -> String {
        self.note.lock().map(|n| n.clone()).unwrap_or_default()
    }
}

/// All operator metrics of one query, by operator id (the physical plan's order).
#[derive(Debug, Default, Clone)]
pub struct QueryMetrics {
    operators: Arc<Mutex<Vec<Arc<OperatorMetrics>>>>,
}

impl QueryMetrics {
    /// Metrics for operators named `names`, in id order.
    pub fn with_operators(names: impl IntoIterator<Item = String>) -> Self {
        let m = QueryMetrics::default();
        for n in names {
            m.register(n);
        }
        m
    }
    /// The counters of operator `id`.
    pub fn get(&self, id: usize) -> crate::error::Result<Arc<OperatorMetrics>> {
        self.operators
            .lock()
            .ok()
            .and_then(|o| o.get(id).cloned())
            .ok_or_else(|| crate::error::Error::Internal(format!("no metrics for operator {id}")))
    }
    /// Registers and returns a new operator's counters.
    pub fn register(&self, name: impl Into<String>) -> Arc<OperatorMetrics> {
        let m = OperatorMetrics::new(name);
        if let Ok(mut ops) = self.operators.lock() {
            ops.push(Arc::clone(&m));
        }
        m
    }
    /// A snapshot of the registered operators.
    pub fn operators(&self) -> Vec<Arc<OperatorMetrics>> {
        self.operators.lock().map(|o| o.clone()).unwrap_or_default()
    }
    /// Total bytes spilled by all operators.
    pub fn spilled_bytes(&self) -> u64 {
        self.operators().iter().map(|o| o.spilled_bytes()).sum()
    }
    /// Total spill files written by all operators.
    pub fn spill_files(&self) -> usize {
        self.operators().iter().map(|o| o.spill_files()).sum()
    }
}

impl fmt::Display for QueryMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:<44} {:>12} {:>10} {:>12} {:>12} {:>6}  note",
            "operator", "rows_out", "time_ms", "peak_mem", "spilled", "files"
        )?;
        for op in self.operators() {
            writeln!(
                f,
                "{:<44} {:>12} {:>10.1} {:>12} {:>12} {:>6}  {}",
                op.name,
                op.rows_out(),
                op.time().as_secs_f64() * 1000.0,
                human_bytes(op.peak_reserved() as u64),
                human_bytes(op.spilled_bytes()),
                op.spill_files(),
                op.note()
            )?;
        }
        Ok(())
    }
}

/// `1536` → `1.5 KiB`.
pub fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut i = 0;
    while v >= 1024.0 && i < UNITS.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", UNITS[i])
    }
}
