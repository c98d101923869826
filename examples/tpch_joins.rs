//! The larger-than-memory sort and join workloads of `benches/sf10/` through the
//! `LazyFrame` API, on TPC-H data made by `tpchgen-cli` (one folder per table):
//!
//! ```text
//! cargo run --release --example tpch_joins -- DATA_DIR csv|parquet WORKLOAD [MEMORY_LIMIT] [OUT]
//!   WORKLOAD: sort (lineitem by price desc → OUT.parquet), topk (its first 10 rows),
//!             q18 (TPC-H Q18 as joins + aggregates), bigjoin (lineitem ⋈ all of orders,
//!             by o_orderpriority)
//! ```
//! Prints the result as CSV (for `sort`, the row count written), then the metrics.

/// glibc's malloc keeps freed large buffers in its arenas (its mmap threshold grows
/// with use), which on a long sort or join left the process's RSS near twice the
/// pool's limit; mimalloc returns them to the system.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::time::Instant;

use floe::prelude::*;

fn table(s: &Session, dir: &str, format: &str, name: &str) -> Result<LazyFrame> {
    let location = format!("{dir}/{format}/{name}/*.{format}");
    match format {
        "csv" => s.scan_csv(&location, CsvOptions::default()),
        _ => s.scan_parquet(&location, ParquetOptions::default()),
    }
}

fn price_order() -> Vec<SortExpr> {
    vec![
        col("l_extendedprice").sort_desc(),
        col("l_orderkey").sort_asc(),
        col("l_linenumber").sort_asc(),
    ]
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 3 {
        return Err(Error::Config(
            "usage: tpch_joins DATA_DIR csv|parquet sort|topk|q18|bigjoin [LIMIT] [OUT]".into(),
        ));
    }
    let (dir, format, workload) = (&args[0], args[1].as_str(), args[2].as_str());
    let limit = args.get(3).cloned().unwrap_or_else(|| "1GiB".into());
    let s = Session::builder().memory_limit(&limit).build()?;
    let lineitem = table(&s, dir, format, "lineitem")?;
    let started = Instant::now();
    let query = match workload {
        "sort" => {
            let out = args
                .get(4)
                .cloned()
                .unwrap_or_else(|| "sorted.parquet".into());
            // Snappy, the codec DuckDB writes by default, so that both engines do the
            // same work on the output.
            let options =
                ParquetSinkOptions::default().with_compression(ParquetCompression::Snappy);
            let report = lineitem.sort(price_order())?.sink_parquet(&out, options)?;
            println!("rows\n{}", report.rows);
            None
        }
        "topk" => Some(lineitem.top_k(10, price_order())?),
        "bigjoin" => {
            let orders = table(&s, dir, format, "orders")?;
            Some(
                lineitem
                    .join(
                        &orders,
                        [col("l_orderkey")],
                        [col("o_orderkey")],
                        JoinType::Inner,
                    )?
                    .group_by([col("o_orderpriority")])
                    .agg([
                        len().alias("n"),
                        col("l_extendedprice").sum().alias("revenue"),
                        col("o_comment").str_len().sum().alias("comment_chars"),
                    ])?
                    .sort([col("o_orderpriority").sort_asc()])?,
            )
        }
        "q18" => {
            let orders = table(&s, dir, format, "orders")?;
            let customer = table(&s, dir, format, "customer")?;
            let big = lineitem
                .group_by([col("l_orderkey")])
                .agg([col("l_quantity").sum().alias("q")])?
                .filter(col("q").gt(lit(300i64)))?
                .select([col("l_orderkey").alias("big_key")])?;
            Some(
                customer
                    .join(
                        &orders,
                        [col("c_custkey")],
                        [col("o_custkey")],
                        JoinType::Inner,
                    )?
                    .join(
                        &lineitem,
                        [col("o_orderkey")],
                        [col("l_orderkey")],
                        JoinType::Inner,
                    )?
                    .join(&big, [col("o_orderkey")], [col("big_key")], JoinType::Semi)?
                    .group_by([
                        col("c_name"),
                        col("c_custkey"),
                        col("o_orderkey"),
                        col("o_orderdate"),
                        col("o_totalprice"),
                    ])
                    .agg([col("l_quantity").sum().alias("sum_qty")])?
                    .top_k(
                        100,
                        [
                            col("o_totalprice").sort_desc(),
                            col("o_orderdate").sort_asc(),
                            col("o_orderkey").sort_asc(),
                        ],
                    )?,
            )
        }
        other => return Err(Error::Config(format!("unknown workload '{other}'"))),
    };
    if let Some(q) = query {
        let (df, metrics) = q.collect_with_metrics()?;
        let mut out = vec![];
        {
            let mut w = arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(&mut out);
            for b in df.batches() {
                w.write(b)?;
            }
        }
        print!("{}", String::from_utf8_lossy(&out));
        eprintln!("{metrics}");
    }
    let (spilled, files) = s.spilled();
    eprintln!(
        "{workload} ({format}): {:.2} s, spilled {} bytes in {} files, pool peak {} bytes",
        started.elapsed().as_secs_f64(),
        spilled,
        files,
        s.memory_pool().peak()
    );
    Ok(())
}
