//! The session: configuration, the one memory pool, the worker thread pool and the
//! registered tables. Every query of a session draws on the same pool, so concurrent
//! queries share one budget.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex, RwLock};

use crate::config::{parse_byte_size, SessionConfig};
use crate::error::{Error, Result};
use crate::exec::executor::{execute, Executed, QueryContext, Runtime};
use crate::exec::physical::PhysicalPlan;
use crate::frame::{DataFrame, LazyFrame};
use crate::io::{CsvOptions, Dataset, FileFormat, JsonOptions, ParquetOptions};
use crate::memory::MemoryPool;
use crate::metrics::QueryMetrics;
use crate::plan::LogicalPlan;
use crate::sql::Catalog;
use crate::stream::Sink;

struct SessionInner {
    runtime: Runtime,
    tables: RwLock<HashMap<String, Arc<LogicalPlan>>>,
    spilled_bytes: AtomicU64,
    spill_files: AtomicU64,
    /// Where `CREATE TABLE ... AS` keeps its files, made on first use under the spill
    /// dir and removed with the session.
    table_dir: Mutex<Option<crate::spill_dir::QueryDir>>,
    tables_made: AtomicU64,
}

/// A floe session. Cheap to clone; clones share everything.
#[derive(Clone)]
pub struct Session {
    inner: Arc<SessionInner>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("config", &self.inner.runtime.config)
            .finish()
    }
}

/// Builds a [`Session`].
#[derive(Debug, Default)]
pub struct SessionBuilder {
    config: SessionConfig,
    error: Option<Error>,
}

impl SessionBuilder {
    /// Budget of the memory pool, e.g. `"2GiB"`, `"512MB"`.
    pub fn memory_limit(mut self, limit: &str) -> Self {
        match parse_byte_size(limit) {
            Ok(v) => self.config.memory_limit = v,
            Err(e) => self.error = Some(e),
        }
        self
    }
    /// Budget of the memory pool in bytes.
    pub fn memory_limit_bytes(mut self, bytes: usize) -> Self {
        self.config.memory_limit = bytes;
        self
    }
    pub fn threads(mut self, n: usize) -> Self {
        self.config.threads = n;
        self
    }
    pub fn chunk_rows(mut self, n: usize) -> Self {
        self.config.chunk_rows = n;
        self
    }
    pub fn spill_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.config.spill_dir = dir.into();
        self
    }
    pub fn max_spill_bytes(mut self, bytes: u64) -> Self {
        self.config.max_spill_bytes = bytes;
        self
    }
    /// Compression of spill files (none by default; see [`crate::config::SpillCompression`]).
    pub fn spill_compression(mut self, c: crate::config::SpillCompression) -> Self {
        self.config.spill_compression = c;
        self
    }
    /// Operators spill whenever they can (testing; DuckDB's `force_external`).
    pub fn force_spill(mut self, on: bool) -> Self {
        self.config.force_spill = on;
        self
    }
    /// Turns the pool's resident guard on or off ([`SessionConfig::resident_guard`]).
    pub fn resident_guard(mut self, on: bool) -> Self {
        self.config.resident_guard = on;
        self
    }
    /// Groups a worker's partial aggregation table holds before it flushes (tuning
    /// and testing; see [`SessionConfig::partial_aggregate_groups`]).
    pub fn partial_aggregate_groups(mut self, groups: usize) -> Self {
        self.config.partial_aggregate_groups = groups;
        self
    }
    /// Replaces the whole configuration.
    pub fn config(mut self, config: SessionConfig) -> Self {
        self.config = config;
        self
    }
    pub fn build(self) -> Result<Session> {
        if let Some(e) = self.error {
            return Err(e);
        }
        Session::try_new(self.config)
    }
}

impl Session {
    pub fn builder() -> SessionBuilder {
        SessionBuilder::default()
    }

    /// A session with `config`.
    pub fn try_new(config: SessionConfig) -> Result<Session> {
        config.validate()?;
        let threads = rayon::ThreadPoolBuilder::new()
            .num_threads(config.threads)
            .thread_name(|i| format!("floe-worker-{i}"))
            .build()
            .map_err(|e| Error::Config(format!("cannot start {} threads: {e}", config.threads)))?;
        Ok(Session {
            inner: Arc::new(SessionInner {
                runtime: Runtime {
                    pool: if config.resident_guard {
                        MemoryPool::with_resident_guard(
                            config.memory_limit,
                            crate::memory::anonymous_resident_bytes,
                        )
                    } else {
                        MemoryPool::new(config.memory_limit)
                    },
                    config,
                    threads: Arc::new(threads),
                    cancel: Arc::new(AtomicBool::new(false)),
                    rows_scanned: Arc::new(AtomicU64::new(0)),
                },
                tables: RwLock::new(HashMap::new()),
                spilled_bytes: AtomicU64::new(0),
                spill_files: AtomicU64::new(0),
                table_dir: Mutex::new(None),
                tables_made: AtomicU64::new(0),
            }),
        })
    }

    pub fn config(&self) -> &SessionConfig {
        &self.inner.runtime.config
    }

    /// What the session lends its queries (threads, pool, settings); the optimizer's
    /// sampling statistics run their samples on it.
    pub fn runtime(&self) -> &Runtime {
        &self.inner.runtime
    }

    /// The session's memory pool.
    pub fn memory_pool(&self) -> &Arc<MemoryPool> {
        &self.inner.runtime.pool
    }

    /// Setting this flag cancels running queries with [`Error::Cancelled`] (their spill
    /// files and partial outputs are removed); clear it to run further queries.
    pub fn cancel_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.inner.runtime.cancel)
    }

    /// Rows read by scans of this session so far (for progress display).
    pub fn rows_scanned(&self) -> u64 {
        self.inner
            .runtime
            .rows_scanned
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Bytes and files spilled by all queries of this session so far.
    pub fn spilled(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        (
            self.inner.spilled_bytes.load(Relaxed),
            self.inner.spill_files.load(Relaxed),
        )
    }

    /// Adds a finished (or failed) query's spill totals to the session's.
    pub(crate) fn record_query(&self, ctx: &QueryContext) {
        use std::sync::atomic::Ordering::Relaxed;
        self.inner
            .spilled_bytes
            .fetch_add(ctx.spill.bytes_written(), Relaxed);
        self.inner
            .spill_files
            .fetch_add(ctx.spill.files_written() as u64, Relaxed);
    }

    /// A lazy scan of CSV files: a file, a glob, or a directory.
    pub fn scan_csv(&self, location: &str, options: CsvOptions) -> Result<LazyFrame> {
        let ds =
            crate::error::catch_panic(|| Dataset::try_new(location, FileFormat::Csv(options)))?;
        Ok(LazyFrame::new(
            self.clone(),
            LogicalPlan::scan(Arc::new(ds)),
        ))
    }

    /// A lazy scan of Parquet files: a file, a glob, or a directory.
    pub fn scan_parquet(&self, location: &str, options: ParquetOptions) -> Result<LazyFrame> {
        let ds =
            crate::error::catch_panic(|| Dataset::try_new(location, FileFormat::Parquet(options)))?;
        Ok(LazyFrame::new(
            self.clone(),
            LogicalPlan::scan(Arc::new(ds)),
        ))
    }

    /// A lazy scan of newline-delimited JSON files (`.ndjson`, `.jsonl`, `.json`,
    /// optionally `.gz` / `.zst`): a path, directory or glob.
    pub fn scan_ndjson(&self, location: &str, options: JsonOptions) -> Result<LazyFrame> {
        let ds =
            crate::error::catch_panic(|| Dataset::try_new(location, FileFormat::Json(options)))?;
        Ok(LazyFrame::new(
            self.clone(),
            LogicalPlan::scan(Arc::new(ds)),
        ))
    }

    /// Names a frame so SQL can use it in FROM.
    pub fn register(&self, name: &str, frame: &LazyFrame) -> Result<()> {
        let mut t = self
            .inner
            .tables
            .write()
            .map_err(|_| Error::Internal("table registry poisoned".into()))?;
        t.insert(name.to_ascii_lowercase(), Arc::clone(frame.plan()));
        Ok(())
    }

    /// Registers CSV files as table `name`.
    pub fn register_csv(&self, name: &str, location: &str, options: CsvOptions) -> Result<()> {
        let f = self.scan_csv(location, options)?;
        self.register(name, &f)
    }

    /// Registers Parquet files as table `name`.
    pub fn register_parquet(
        &self,
        name: &str,
        location: &str,
        options: ParquetOptions,
    ) -> Result<()> {
        let f = self.scan_parquet(location, options)?;
        self.register(name, &f)
    }

    /// Forgets table `name`; false if it was not registered.
    pub fn deregister(&self, name: &str) -> bool {
        self.inner
            .tables
            .write()
            .map(|mut t| t.remove(&name.to_ascii_lowercase()).is_some())
            .unwrap_or(false)
    }

    /// The directory of the tables `CREATE TABLE ... AS` made in this session.
    pub(crate) fn tables_dir(&self) -> Result<PathBuf> {
        let mut dir = self
            .inner
            .table_dir
            .lock()
            .map_err(|_| Error::Internal("table directory poisoned".into()))?;
        if let Some(d) = dir.as_ref() {
            return Ok(d.path().to_path_buf());
        }
        let made = crate::spill_dir::QueryDir::create(&self.config().spill_dir, "floe-tables-")?;
        let path = made.path().to_path_buf();
        *dir = Some(made);
        Ok(path)
    }

    /// A number for the next table file, unique in the session.
    pub(crate) fn next_table_number(&self) -> u64 {
        self.inner
            .tables_made
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }

    /// The plan of registered table `name`.
    pub fn table(&self, name: &str) -> Option<Arc<LogicalPlan>> {
        self.inner
            .tables
            .read()
            .ok()
            .and_then(|t| t.get(&name.to_ascii_lowercase()).cloned())
    }

    /// Plans a SQL query.
    pub fn sql(&self, query: &str) -> Result<LazyFrame> {
        let plan = crate::error::catch_panic(|| crate::sql::plan_sql(self, query))?;
        Ok(LazyFrame::new(self.clone(), plan))
    }

    /// A lazy frame over a logical plan (one read back with
    /// [`LogicalPlan::from_bytes`], say).
    pub fn frame(&self, plan: LogicalPlan) -> LazyFrame {
        LazyFrame::new(self.clone(), plan)
    }

    /// The names of the registered tables, sorted.
    pub fn table_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .inner
            .tables
            .read()
            .map(|t| t.keys().cloned().collect())
            .unwrap_or_default();
        names.sort();
        names
    }

    /// A fresh context for one query: its own spill directory.
    pub(crate) fn query_context(&self) -> QueryContext {
        self.inner.runtime.query_context()
    }

    /// Runs a physical plan (made by [`LazyFrame::physical_plan`], or read back with
    /// [`PhysicalPlan::from_bytes`]) whose output is collected, and returns its rows.
    pub fn collect(&self, plan: &PhysicalPlan) -> Result<DataFrame> {
        Ok(self.collect_physical(plan)?.0)
    }

    /// Runs a collecting physical plan; also returns its operators' metrics.
    pub(crate) fn collect_physical(
        &self,
        plan: &PhysicalPlan,
    ) -> Result<(DataFrame, QueryMetrics)> {
        let (executed, metrics) = self.execute_physical(plan, None)?;
        Ok((
            DataFrame::new(plan.output_schema()?, executed.batches),
            metrics,
        ))
    }

    /// Runs `plan` in a fresh query context (writing to `external` if its output is
    /// external), adding its spill totals to the session's, also when it fails.
    pub(crate) fn execute_physical(
        &self,
        plan: &PhysicalPlan,
        external: Option<&dyn Sink<Output = ()>>,
    ) -> Result<(Executed, QueryMetrics)> {
        let ctx = self.query_context();
        let metrics = plan.new_metrics();
        let result = crate::error::catch_panic(|| execute(plan, &ctx, &metrics, external));
        self.record_query(&ctx);
        Ok((result?, metrics))
    }
}

impl Catalog for Session {
    fn table(&self, name: &str) -> Option<Arc<LogicalPlan>> {
        Session::table(self, name)
    }
    fn table_names(&self) -> Vec<String> {
        Session::table_names(self)
    }
}
