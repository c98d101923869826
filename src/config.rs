//! Session configuration, passed explicitly to everything that needs it.
//!
//! Nothing in floe reads configuration from globals or environment variables deep in
//! the code: a [`SessionConfig`] is built once (defaults come from the machine: 60% of
//! the cgroup memory limit or 80% of physical RAM, and the number of cores) and handed
//! down.

use std::path::PathBuf;

use crate::error::{Error, Result};

/// Default morsel size in rows; chosen by the micro-benchmarks (see README).
pub const DEFAULT_CHUNK_ROWS: usize = 64 * 1024;

/// How spill files are compressed.
///
/// Measured on the h2o q10 benchmark (README; 100M groups, 1 GiB limit): LZ4 halves the
/// bytes written (3.8 vs 8.0 GiB) but makes the query about 20% slower (30.4 vs 25.5 s),
/// because compressing costs more CPU than writing to the page cache. So spill files
/// are uncompressed by default; choose LZ4 when spill disk space or bandwidth is short.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SpillCompression {
    Lz4,
    #[default]
    None,
}

impl std::str::FromStr for SpillCompression {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "lz4" => Ok(SpillCompression::Lz4),
            "none" | "off" => Ok(SpillCompression::None),
            other => Err(Error::Config(format!(
                "unknown spill compression '{other}' (lz4 or none)"
            ))),
        }
    }
}

/// Settings of one [`crate::Session`].
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// Bytes the memory pool may hand out in total.
    pub memory_limit: usize,
    /// Worker threads of the session's rayon pool.
    pub threads: usize,
    /// Rows per morsel (Arrow record batch) flowing through pipelines.
    pub chunk_rows: usize,
    /// Directory under which each query makes its spill directory.
    pub spill_dir: PathBuf,
    /// Cap on bytes written to spill files by one query.
    pub max_spill_bytes: u64,
    /// Compression of spill files.
    pub spill_compression: SpillCompression,
    /// Testing knob (DuckDB's `force_external`): operators spill whenever they can.
    pub force_spill: bool,
    /// Groups a worker's partial aggregation table holds before it is flushed to
    /// partitioned state (kept small so the table stays in cache; it grows when
    /// flushing does not reduce the rows). See `exec::aggregate`.
    pub partial_aggregate_groups: usize,
    /// Makes operators spill early by what the process holds outside the pool (the
    /// allocator's freed pages): the pool's resident guard, see [`crate::memory`].
    /// RSS is per process, so this suits one session per process (the CLI turns it
    /// on); off by default.
    pub resident_guard: bool,
}

/// Default of [`SessionConfig::partial_aggregate_groups`]: 114,688 groups, which the
/// group table holds in 2^18 slots (8 MiB, under half full) plus their keys, a share of
/// the L3 cache. On h2o q3, 0.86× and 1.7× of it measured the same
/// (within noise).
pub const DEFAULT_PARTIAL_AGGREGATE_GROUPS: usize = (1 << 17) / 8 * 7;

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            memory_limit: default_memory_limit(),
            threads: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            chunk_rows: DEFAULT_CHUNK_ROWS,
            spill_dir: std::env::temp_dir(),
            max_spill_bytes: u64::MAX,
            spill_compression: SpillCompression::None,
            force_spill: force_spill_from_env(),
            partial_aggregate_groups: DEFAULT_PARTIAL_AGGREGATE_GROUPS,
            resident_guard: false,
        }
    }
}

/// `FLOE_FORCE_SPILL=1` turns on `force_spill` by default: the test suite runs once
/// normally and once this way (DuckDB's `force_external`), so every spill path is
/// exercised by every test. A session that sets `force_spill` itself is unaffected.
fn force_spill_from_env() -> bool {
    std::env::var("FLOE_FORCE_SPILL").is_ok_and(|v| v == "1")
}

impl SessionConfig {
    /// Checks that the settings make sense.
    pub fn validate(&self) -> Result<()> {
        if self.threads == 0 {
            return Err(Error::Config("threads must be at least 1".into()));
        }
        if self.chunk_rows == 0 {
            return Err(Error::Config("chunk_rows must be at least 1".into()));
        }
        if self.partial_aggregate_groups == 0 {
            return Err(Error::Config(
                "partial_aggregate_groups must be at least 1".into(),
            ));
        }
        if self.memory_limit == 0 {
            return Err(Error::Config("memory_limit must be positive".into()));
        }
        Ok(())
    }
}

/// 60% of the cgroup memory limit, or 80% of physical RAM when no cgroup limit applies.
///
/// A cgroup limit is a hard cap: going over it is a kill. The pool bounds what
/// operators hold, but the process's peak RSS runs above the pool on spilling queries
/// (the allocator keeps freed pages for reuse, and scans and writers hold buffers
/// around the pool): 1.40× on the h2o 1e7 10M-group group-by at a 700 MiB pool, 1.52×
/// on the SF10 `lineitem` sort at 1 GiB (2026-12-07), 1.14× and 1.25× with the
/// resident guard ([`SessionConfig::resident_guard`]), which is off in the library.
/// 60% of the cap keeps 1.52× of the pool under it; at 80% that sort was killed under
/// a 1280 MiB cap without the guard.
pub fn default_memory_limit() -> usize {
    let physical = physical_memory().unwrap_or(4 << 30);
    match cgroup_memory_limit().filter(|&l| l < physical) {
        Some(cap) => (cap as f64 * CGROUP_SHARE) as usize,
        None => (physical as f64 * RAM_SHARE) as usize,
    }
}

/// The default pool's share of a cgroup's hard memory limit.
pub const CGROUP_SHARE: f64 = 0.6;

/// The default pool's share of physical RAM (no cgroup limit).
pub const RAM_SHARE: f64 = 0.8;

/// The limit of this process's own cgroup (and its ancestors), v1 or v2.
fn cgroup_memory_limit() -> Option<usize> {
    crate::cgroup::memory_limit().and_then(|v| usize::try_from(v).ok())
}

fn physical_memory() -> Option<usize> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: usize = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Parses a byte size such as `2GiB`, `512MB`, `1.5G` or `1048576`.
/// Binary units are used for both `G` and `GiB`, as DuckDB and the `memcap` tool do.
pub fn parse_byte_size(text: &str) -> Result<usize> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let value: f64 = num
        .parse()
        .map_err(|_| Error::Config(format!("cannot parse byte size '{text}'")))?;
    let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" | "kib" => 1024.0,
        "m" | "mb" | "mib" => 1024.0 * 1024.0,
        "g" | "gb" | "gib" => 1024.0 * 1024.0 * 1024.0,
        "t" | "tb" | "tib" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        other => {
            return Err(Error::Config(format!(
                "unknown byte-size unit '{other}' in '{text}'"
            )))
        }
    };
    if value <= 0.0 {
        return Err(Error::Config(format!(
            "byte size '{text}' must be positive"
        )));
    }
    Ok((value * mult) as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sizes() {
        assert_eq!(parse_byte_size("2GiB").unwrap(), 2 << 30);
        assert_eq!(parse_byte_size("512MB").unwrap(), 512 << 20);
        assert_eq!(parse_byte_size("1.5k").unwrap(), 1536);
        assert_eq!(parse_byte_size("100").unwrap(), 100);
        assert!(parse_byte_size("lots").is_err());
        assert!(parse_byte_size("5 parsecs").is_err());
    }

    #[test]
    fn default_limit_is_positive_and_below_ram() {
        let l = default_memory_limit();
        assert!(l > 0);
        assert!(l <= physical_memory().unwrap());
    }
}
