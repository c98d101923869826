//! TPC-H at scale factor 0.01: the 22 queries from CSV and from Parquet, in the default
//! configuration and with forced spilling, against DuckDB's answers
//! (`tests/tpch/answers-sf0.01`, copied from the shared TPC-H kit).
//!
//! The data is made here, with the `tpchgen` / `tpchgen-arrow` crates (the same rows as
//! `tpchgen-cli` and dbgen), and written once per test run as one CSV and one Parquet
//! file per table. Cells are compared as the kit's `check.py` does (`common/mod.rs`);
//! rows in order.

mod common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use common::{cell_eq, cells, write_table};
use floe::exec::PhysicalPlan;
use floe::plan::{plan_physical, LogicalPlan};
use floe::prelude::*;

const SF: f64 = 0.01;

/// The queries every configuration must answer correctly. The others must either
/// answer correctly too or fail with `Error::NotSupported` (never a wrong answer).
/// Q4, Q15 and Q20 also need `date + INTERVAL` (they pass with it folded by hand).
const REQUIRED: &[usize] = &[
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22,
];

fn data_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        // Cargo's scratch dir for integration tests; kept between runs.
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("tpch-sf0.01");
        if !dir.join("done").exists() {
            let _ = std::fs::remove_dir_all(&dir);
            generate(&dir);
            std::fs::write(dir.join("done"), b"").unwrap();
        }
        dir
    })
}

fn generate(dir: &Path) {
    use tpchgen::generators::*;
    use tpchgen_arrow::*;
    const B: usize = 8192;
    write_table(
        dir,
        "region",
        RegionArrow::new(RegionGenerator::new(SF, 1, 1)).with_batch_size(B),
    );
    write_table(
        dir,
        "nation",
        NationArrow::new(NationGenerator::new(SF, 1, 1)).with_batch_size(B),
    );
    write_table(
        dir,
        "supplier",
        SupplierArrow::new(SupplierGenerator::new(SF, 1, 1)).with_batch_size(B),
    );
    write_table(
        dir,
        "customer",
        CustomerArrow::new(CustomerGenerator::new(SF, 1, 1)).with_batch_size(B),
    );
    write_table(
        dir,
        "part",
        PartArrow::new(PartGenerator::new(SF, 1, 1)).with_batch_size(B),
    );
    write_table(
        dir,
        "partsupp",
        PartSuppArrow::new(PartSuppGenerator::new(SF, 1, 1)).with_batch_size(B),
    );
    write_table(
        dir,
        "orders",
        OrderArrow::new(OrderGenerator::new(SF, 1, 1)).with_batch_size(B),
    );
    write_table(
        dir,
        "lineitem",
        LineItemArrow::new(LineItemGenerator::new(SF, 1, 1)).with_batch_size(B),
    );
}

const TABLES: [&str; 8] = [
    "region", "nation", "supplier", "customer", "part", "partsupp", "orders", "lineitem",
];

fn session(format: &str, force_spill: bool) -> Session {
    let mut b = Session::builder().threads(2).force_spill(force_spill);
    if force_spill {
        b = b.memory_limit_bytes(64 << 20).chunk_rows(4096);
    }
    let s = b.build().unwrap();
    let dir = data_dir();
    for t in TABLES {
        let path = dir.join(format).join(t);
        let path = path.to_str().unwrap();
        match format {
            "csv" => s.register_csv(t, path, CsvOptions::default()).unwrap(),
            _ => s
                .register_parquet(t, path, ParquetOptions::default())
                .unwrap(),
        }
    }
    s
}

fn answer(q: usize) -> Vec<Vec<String>> {
    let path = format!(
        "{}/tests/tpch/answers-sf0.01/q{q:02}.csv",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(path).unwrap();
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(text.as_bytes());
    rdr.records()
        .map(|r| r.unwrap().iter().map(|s| s.to_string()).collect())
        .collect()
}

/// How a query's plan reaches the executor.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Route {
    /// `collect()` of the SQL frame.
    Direct,
    /// The optimized logical plan, written to bytes (MessagePack or JSON) and read
    /// back, then planned and run.
    Logical { json: bool },
    /// The physical plan, written to bytes and read back, then run.
    Physical { json: bool },
}

fn query_text(q: usize) -> String {
    let path = format!(
        "{}/tests/tpch/queries/q{q:02}.sql",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(path).unwrap()
}

/// Runs query `q`: `Ok(None)` when it matches, `Ok(Some(why))` on a wrong answer,
/// `Err` when floe declined it.
fn run(session: &Session, q: usize) -> Result<Option<String>> {
    run_by(session, q, Route::Direct)
}

fn run_by(session: &Session, q: usize, route: Route) -> Result<Option<String>> {
    let frame = session.sql(&query_text(q))?;
    let df = match route {
        Route::Direct => frame.collect()?,
        Route::Logical { json } => {
            let plan = frame.optimized_plan()?;
            let back = if json {
                LogicalPlan::from_json(&plan.to_json()?)?
            } else {
                LogicalPlan::from_bytes(&plan.to_bytes()?)?
            };
            // The same plan, structurally: it serializes to the same bytes.
            assert!(
                back.to_bytes()? == plan.to_bytes()?,
                "q{q:02} {route:?}: the plan read back differs"
            );
            session.collect(&plan_physical(&back, session.config())?)?
        }
        Route::Physical { json } => {
            let physical = frame.physical_plan()?;
            let back = if json {
                PhysicalPlan::from_json(&physical.to_json()?)?
            } else {
                PhysicalPlan::from_bytes(&physical.to_bytes()?)?
            };
            assert!(
                back.to_bytes()? == physical.to_bytes()?,
                "q{q:02} {route:?}: the plan read back differs"
            );
            session.collect(&back)?
        }
    };
    let got = cells(&df);
    let want = answer(q);
    if got.len() != want.len() {
        return Ok(Some(format!("{} rows, expected {}", got.len(), want.len())));
    }
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        if g.len() != w.len() || !w.iter().zip(g).all(|(a, b)| cell_eq(a, b)) {
            return Ok(Some(format!("row {i}: got {g:?}, expected {w:?}")));
        }
    }
    Ok(None)
}

fn suite(format: &str, force_spill: bool) {
    let session = session(format, force_spill);
    let mut wrong = vec![];
    let mut declined = vec![];
    for q in 1..=22 {
        match run(&session, q) {
            Ok(None) => {}
            Ok(Some(why)) => wrong.push(format!("q{q:02}: {why}")),
            Err(Error::NotSupported(what)) => declined.push((q, what)),
            Err(e) => wrong.push(format!("q{q:02}: error {e}")),
        }
        assert_eq!(session.memory_pool().used(), 0, "q{q:02} left reservations");
    }
    if !declined.is_empty() {
        eprintln!("{format} force_spill={force_spill}: declined (NotSupported): {declined:?}");
    }
    let missing: Vec<_> = declined
        .iter()
        .filter(|(q, _)| REQUIRED.contains(q))
        .collect();
    assert!(
        wrong.is_empty() && missing.is_empty(),
        "{format} force_spill={force_spill}: wrong answers {wrong:#?}; required but declined {missing:?}"
    );
}

/// Every TPC-H plan, logical and physical, through bytes and back (MessagePack, and
/// JSON for the odd queries), then run: the answers stay DuckDB's.
fn round_trip(format: &str) {
    let session = session(format, false);
    let mut wrong = vec![];
    for q in 1..=22 {
        let json = q % 2 == 1;
        for route in [Route::Logical { json }, Route::Physical { json }] {
            match run_by(&session, q, route) {
                Ok(None) => {}
                Ok(Some(why)) => wrong.push(format!("q{q:02} {route:?}: {why}")),
                Err(e) => wrong.push(format!("q{q:02} {route:?}: error {e}")),
            }
        }
    }
    assert!(wrong.is_empty(), "{format}: {wrong:#?}");
}

#[test]
fn tpch_plans_round_trip_through_bytes_parquet() {
    round_trip("parquet");
}

#[test]
fn tpch_plans_round_trip_through_bytes_csv() {
    round_trip("csv");
}

#[test]
fn tpch_sf001_csv() {
    suite("csv", false);
}

#[test]
fn tpch_sf001_parquet() {
    suite("parquet", false);
}

#[test]
fn tpch_sf001_csv_forced_spill() {
    suite("csv", true);
}

#[test]
fn tpch_sf001_parquet_forced_spill() {
    suite("parquet", true);
}
