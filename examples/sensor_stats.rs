//! The seed workshop's job: per-file statistics of sensor readings.
//!
//! ```text
//! cargo run --release --bin sensor_stats                      # the shipped data/sensors/*.csv
//! cargo run --release --bin sensor_stats -- --generate DIR --files 12 --rows 100000
//! cargo run --release --bin sensor_stats -- DIR               # run on another set
//! ```
//!
//! Each CSV file has a reading per minute from 2024-01-01: `timestamp, sensor_id (A–D),
//! temperature = 25 + 5·sin(2π·hour/24) + N(0,2), humidity = 60 + N(0,5),
//! pressure = 1013 + N(0,10)`. For each file the job reports the row count, the
//! mean/std/min/max of temperature, the mean/std of humidity and pressure,
//! corr(temperature, humidity), the hourly mean temperature with its peak hour
//! (about 6) and its lowest hour (about 18), and, through window expressions,
//! `temp_trend` (last − first of the 1440-row rolling mean of time-sorted
//! temperature), corr(temperature, pressure) and the share of readings from sensors
//! A and B. `tests/golden.rs` checks the same calls against DuckDB
//! (`api_07_temp_trend`, `api_08_sensor_pct`).

/// glibc's malloc keeps freed large buffers in its arenas (its mmap threshold grows
/// with use), which on a long sort or join left the process's RSS near twice the
/// pool's limit; mimalloc returns them to the system.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::io::Write;
use std::path::{Path, PathBuf};

use arrow::array::{AsArray, Float64Array};
use arrow::datatypes::{Float64Type, Int64Type};
use floe::prelude::*;

/// A tiny deterministic generator (splitmix64 + Box–Muller), so the data never
/// depends on a random-number crate's version.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }
    fn normal(&mut self, sd: f64) -> f64 {
        let (u1, u2) = (self.uniform(), self.uniform());
        sd * (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
}

/// Writes `files` CSV files of `rows` readings each into `dir`.
fn generate(dir: &Path, files: usize, rows: usize) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let start = chrono::NaiveDate::from_ymd_opt(2024, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .ok_or_else(|| std::io::Error::other("bad start date"))?;
    for f in 0..files {
        let mut rng = Rng(1000 + f as u64);
        let path = dir.join(format!("sensors_{f:02}.csv"));
        let mut w = std::io::BufWriter::new(std::fs::File::create(&path)?);
        writeln!(w, "timestamp,sensor_id,temperature,humidity,pressure")?;
        for i in 0..rows {
            let ts = start + chrono::Duration::minutes(i as i64);
            let hour = ts.format("%H").to_string().parse::<f64>().unwrap_or(0.0);
            let sensor = ["A", "B", "C", "D"][(rng.next_u64() % 4) as usize];
            let temp =
                25.0 + 5.0 * (2.0 * std::f64::consts::PI * hour / 24.0).sin() + rng.normal(2.0);
            let hum = 60.0 + rng.normal(5.0);
            let pres = 1013.0 + rng.normal(10.0);
            writeln!(
                w,
                "{},{sensor},{temp:.3},{hum:.3},{pres:.3}",
                ts.format("%Y-%m-%d %H:%M:%S")
            )?;
        }
        w.flush()?;
    }
    Ok(())
}

fn f64_at(df: &DataFrame, name: &str) -> Result<f64> {
    let a = df.column(name)?;
    let a = arrow::compute::cast(&a, &arrow::datatypes::DataType::Float64)?;
    Ok(a.as_primitive::<Float64Type>().value(0))
}

/// The per-file report.
fn report(session: &Session, file: &Path) -> Result<()> {
    let frame = session.scan_csv(&file.to_string_lossy(), CsvOptions::default())?;
    let stats = frame
        .select([
            len().alias("rows"),
            col("temperature").mean().alias("t_mean"),
            col("temperature").std().alias("t_std"),
            col("temperature").min().alias("t_min"),
            col("temperature").max().alias("t_max"),
            col("humidity").mean().alias("h_mean"),
            col("humidity").std().alias("h_std"),
            col("pressure").mean().alias("p_mean"),
            col("pressure").std().alias("p_std"),
            corr(col("temperature"), col("humidity")).alias("corr_t_h"),
            corr(col("temperature"), col("pressure")).alias("corr_t_p"),
        ])?
        .collect()?;
    let trend = temp_trend(&frame)?;
    let shares = sensor_shares(&frame)?;
    let share = |sensor: &str| {
        shares
            .iter()
            .find(|(s, _)| s == sensor)
            .map_or(0.0, |s| s.1)
    };
    let hourly = frame
        .group_by([col("timestamp").hour().alias("hour")])
        .agg([col("temperature").mean().alias("mean_temp")])?
        .collect()?
        .to_batch()?;
    let hours = hourly.column(0).as_primitive::<Int64Type>();
    let temps: &Float64Array = hourly.column(1).as_primitive::<Float64Type>();
    let mut by_hour: Vec<(i64, f64)> = hours
        .values()
        .iter()
        .copied()
        .zip(temps.values().iter().copied())
        .collect();
    by_hour.sort_by_key(|(h, _)| *h);
    let peak = by_hour
        .iter()
        .copied()
        .fold((0, f64::MIN), |a, b| if b.1 > a.1 { b } else { a });
    let low = by_hour
        .iter()
        .copied()
        .fold((0, f64::MAX), |a, b| if b.1 < a.1 { b } else { a });
    println!("== {}", file.display());
    println!(
        "rows {:>8}   temperature mean {:.3} std {:.3} min {:.3} max {:.3}",
        f64_at(&stats, "rows")? as u64,
        f64_at(&stats, "t_mean")?,
        f64_at(&stats, "t_std")?,
        f64_at(&stats, "t_min")?,
        f64_at(&stats, "t_max")?
    );
    println!(
        "humidity mean {:.3} std {:.3}   pressure mean {:.3} std {:.3}   corr(temperature, humidity) {:.4}",
        f64_at(&stats, "h_mean")?,
        f64_at(&stats, "h_std")?,
        f64_at(&stats, "p_mean")?,
        f64_at(&stats, "p_std")?,
        f64_at(&stats, "corr_t_h")?
    );
    let trend = trend.map_or("n/a (fewer than 1440 readings)".into(), |t| {
        format!("{t:+.4}")
    });
    println!(
        "temp_trend {trend}   corr(temperature, pressure) {:.4}   sensor A {:.2}%   sensor B {:.2}%",
        f64_at(&stats, "corr_t_p")?,
        share("A"),
        share("B")
    );
    let line: Vec<String> = by_hour
        .iter()
        .map(|(h, t)| format!("{h:02}:{t:.1}"))
        .collect();
    println!("hourly mean temperature: {}", line.join(" "));
    println!(
        "peak hour {:02} ({:.2})   lowest hour {:02} ({:.2})",
        peak.0, peak.1, low.0, low.1
    );
    Ok(())
}

/// The rolling window of `temp_trend`: a day of minute readings.
const TREND_WINDOW: u64 = 1440;

/// `temp_trend`: the last minus the first value of the 1440-row rolling mean of
/// the time-ordered temperature (the rolling mean is NULL until the window is full,
/// as in Polars and pandas); `None` for a file with fewer readings.
fn temp_trend(frame: &LazyFrame) -> Result<Option<f64>> {
    let ts = || col("timestamp");
    let ends = frame
        .with_columns([col("temperature")
            .rolling_mean(TREND_WINDOW)
            .over_ordered([], [ts().sort_asc()])
            .alias("rm")])?
        .filter(col("rm").is_not_null())?
        // The first and the last full window.
        .filter(
            ts().eq(ts().min().over([]))
                .or(ts().eq(ts().max().over([]))),
        )?
        .sort([ts().sort_asc()])?
        .select([col("rm")])?
        .collect()?
        .to_batch()?;
    let rm = ends.column(0).as_primitive::<Float64Type>();
    Ok(match rm.len() {
        0 => None,
        n => Some(rm.value(n - 1) - rm.value(0)),
    })
}

/// Each sensor's share of the readings, in percent: its count over the sum of all
/// counts, a window over the grouped rows.
fn sensor_shares(frame: &LazyFrame) -> Result<Vec<(String, f64)>> {
    let shares = frame
        .group_by([col("sensor_id")])
        .agg([len().alias("n")])?
        .select([
            col("sensor_id"),
            (lit(100.0) * col("n") / col("n").sum().over([])).alias("pct"),
        ])?
        .collect()?
        .to_batch()?;
    let ids = arrow::compute::cast(shares.column(0), &arrow::datatypes::DataType::Utf8)?;
    let ids = ids.as_string::<i32>();
    let pct = shares.column(1).as_primitive::<Float64Type>();
    Ok((0..shares.num_rows())
        .map(|i| (ids.value(i).to_string(), pct.value(i)))
        .collect())
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--generate") {
        let dir = PathBuf::from(args.get(1).map(String::as_str).unwrap_or("data/sensors"));
        let value = |flag: &str, default: usize| {
            args.iter()
                .position(|a| a == flag)
                .and_then(|i| args.get(i + 1))
                .and_then(|v| v.parse().ok())
                .unwrap_or(default)
        };
        let (files, rows) = (value("--files", 12), value("--rows", 2880));
        generate(&dir, files, rows).map_err(|e| Error::io(&dir, e))?;
        println!("wrote {files} files of {rows} rows to {}", dir.display());
        return Ok(());
    }
    let dir = PathBuf::from(args.first().map(String::as_str).unwrap_or("data/sensors"));
    let session = Session::builder().build()?;
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(|e| Error::io(&dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "csv"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(Error::NoFiles(dir.display().to_string()));
    }
    for f in &files {
        report(&session, f)?;
    }
    Ok(())
}
