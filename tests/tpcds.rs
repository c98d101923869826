//! TPC-DS at scale factor 0.01: the 99 queries (DuckDB's dialect, `tests/tpcds/queries`)
//! from Parquet and from CSV against DuckDB's answers (`tests/tpcds/answers-sf0.01`,
//! made by `tests/tpcds/make_answers.py` from the Parquet files this test writes). In
//! the second half of the test command (`FLOE_FORCE_SPILL=1`) every operator spills,
//! under a 64 MiB pool.
//!
//! The data is made here with the `tpcdsgen` / `tpcdsgen-arrow` crates (the rows of
//! `tpcgen-cli` and dsdgen), once per target dir, one CSV and one Parquet file per
//! table. Cells compare as in `common/mod.rs`. Rows compare as the shared kit's
//! harness does, from what the answer script recorded in `_meta.csv` per query:
//! - `unordered`: as multisets;
//! - `ordered`: tie group by tie group of the ORDER BY keys (`groups`, the end row of
//!   each), each as a multiset; when `cut`, the last group was cut by LIMIT and may hold
//!   any of the tied rows in `qNN.ties.csv`;
//! - `subset` (LIMIT without ORDER BY): any rows of the full result (`qNN.ties.csv`).

mod common;

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};

use common::{cells, read_answer, row_eq, unmatched, write_table};
use floe::prelude::*;

const SF: f64 = 0.01;

fn data_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        // Cargo's scratch dir for integration tests; kept between runs.
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("tpcds-sf0.01");
        if !dir.join("done").exists() {
            let _ = std::fs::remove_dir_all(&dir);
            generate(&dir);
            std::fs::write(dir.join("done"), b"").unwrap();
        }
        dir
    })
}

fn generate(dir: &Path) {
    use tpcdsgen::config::SessionBuilder;
    use tpcdsgen_arrow::*;
    const B: usize = 8192;
    let s = SessionBuilder::new().with_scale_factor(SF).build().unwrap();
    macro_rules! tables {
        ($($name:literal => $gen:ident),* $(,)?) => {
            $(write_table(dir, $name, $gen::new(s.clone()).with_batch_size(B));)*
        };
    }
    tables!(
        "call_center" => CallCenterArrow,
        "catalog_page" => CatalogPageArrow,
        "catalog_returns" => CatalogReturnsArrow,
        "catalog_sales" => CatalogSalesArrow,
        "customer" => CustomerArrow,
        "customer_address" => CustomerAddressArrow,
        "customer_demographics" => CustomerDemographicsArrow,
        "date_dim" => DateDimArrow,
        "household_demographics" => HouseholdDemographicsArrow,
        "income_band" => IncomeBandArrow,
        "inventory" => InventoryArrow,
        "item" => ItemArrow,
        "promotion" => PromotionArrow,
        "reason" => ReasonArrow,
        "ship_mode" => ShipModeArrow,
        "store" => StoreArrow,
        "store_returns" => StoreReturnsArrow,
        "store_sales" => StoreSalesArrow,
        "time_dim" => TimeDimArrow,
        "warehouse" => WarehouseArrow,
        "web_page" => WebPageArrow,
        "web_returns" => WebReturnsArrow,
        "web_sales" => WebSalesArrow,
        "web_site" => WebSiteArrow,
    );
}

fn session(format: &str) -> Session {
    let mut b = Session::builder().threads(2);
    if floe::config::SessionConfig::default().force_spill {
        b = b.memory_limit_bytes(64 << 20).chunk_rows(4096);
    }
    let s = b.build().unwrap();
    let dir = data_dir().join(format);
    let mut tables: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    tables.sort();
    for t in &tables {
        let path = dir.join(t);
        let path = path.to_str().unwrap();
        match format {
            // The column types of the Parquet files (as a DDL would give them): with
            // inference, all-digit text such as zip codes would read as integers.
            "csv" => {
                let options = CsvOptions {
                    schema: Some(parquet_schema(t)),
                    ..CsvOptions::default()
                };
                s.register_csv(t, path, options).unwrap()
            }
            _ => s
                .register_parquet(t, path, ParquetOptions::default())
                .unwrap(),
        }
    }
    s
}

/// Table `t`'s schema in the Parquet files, strings as plain `Utf8`.
fn parquet_schema(t: &str) -> SchemaRef {
    let file = data_dir()
        .join("parquet")
        .join(t)
        .join(format!("{t}.parquet"));
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        std::fs::File::open(file).unwrap(),
    )
    .unwrap();
    let fields: Vec<Field> = reader
        .schema()
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            DataType::Utf8View => f.as_ref().clone().with_data_type(DataType::Utf8),
            _ => f.as_ref().clone(),
        })
        .collect();
    Arc::new(Schema::new(fields))
}

fn kit(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/tpcds")
        .join(file)
}

/// How one query's rows are compared (a line of `_meta.csv`).
struct Meta {
    query: String,
    mode: String,
    groups: Vec<usize>,
    cut: bool,
}

fn metas() -> Vec<Meta> {
    let (_, rows) = read_answer(&kit("answers-sf0.01/_meta.csv"));
    rows.into_iter()
        .map(|r| Meta {
            query: r[0].clone(),
            mode: r[1].clone(),
            groups: r[2]
                .split_whitespace()
                .map(|g| g.parse().unwrap())
                .collect(),
            cut: r[3] == "1",
        })
        .collect()
}

/// `None` when `got` matches the answer, else why not.
fn check(m: &Meta, got: &[Vec<String>]) -> Option<String> {
    let (_, want) = read_answer(&kit(&format!("answers-sf0.01/{}.csv", m.query)));
    if got.len() != want.len() {
        return Some(format!("{} rows, expected {}", got.len(), want.len()));
    }
    let ties = || read_answer(&kit(&format!("answers-sf0.01/{}.ties.csv", m.query))).1;
    let differ = |pool: &[Vec<String>], rows: &[Vec<String>], what: &str| {
        let extra = unmatched(pool, rows);
        (!extra.is_empty()).then(|| {
            format!(
                "{what}: {} rows unexpected, e.g. {:?}",
                extra.len(),
                extra[0]
            )
        })
    };
    match m.mode.as_str() {
        "unordered" => differ(&want, got, "as a multiset"),
        "subset" => differ(&ties(), got, "not in the full result"),
        _ => {
            if want.iter().zip(got).all(|(w, g)| row_eq(w, g)) {
                return None;
            }
            let mut start = 0;
            for (i, &end) in m.groups.iter().enumerate() {
                let last = i + 1 == m.groups.len();
                let why = if last && m.cut {
                    differ(&ties(), &got[start..end], "in the tie group cut by LIMIT")
                } else {
                    let (w, g) = (&want[start..end], &got[start..end]);
                    differ(w, g, &format!("rows {}..{end} (a tie group)", start + 1))
                };
                if why.is_some() {
                    return why;
                }
                start = end;
            }
            None
        }
    }
}

fn suite(format: &str) {
    let session = session(format);
    let mut wrong = vec![];
    for m in metas() {
        let sql = std::fs::read_to_string(kit(&format!("queries/{}.sql", m.query))).unwrap();
        match session.sql(&sql).and_then(|f| f.collect()) {
            Ok(df) => {
                if let Some(why) = check(&m, &cells(&df)) {
                    wrong.push(format!("{}: {why}", m.query));
                }
            }
            Err(e) => wrong.push(format!("{}: error {e}", m.query)),
        }
        assert_eq!(
            session.memory_pool().used(),
            0,
            "{} left reservations",
            m.query
        );
    }
    assert!(wrong.is_empty(), "{format}: {wrong:#?}");
}

#[test]
fn tpcds_sf001_parquet() {
    suite("parquet");
}

#[test]
fn tpcds_sf001_csv() {
    suite("csv");
}
