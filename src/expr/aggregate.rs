//! Aggregate functions: names, argument checks and result types.
//!
//! The accumulators that compute them live with the hash aggregate operator
//! (`exec/aggregate/accumulator.rs`); their partial states are Arrow arrays, so the
//! partial and final phases can run in different processes (DESIGN §6).

use arrow::datatypes::DataType;

use super::types::is_numeric;
use crate::error::{Error, Result};

/// An aggregate function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum AggFunc {
    /// `count(*)` / `len()`: rows, nulls included.
    CountStar,
    /// `count(x)`: non-null values.
    Count,
    Sum,
    Mean,
    Min,
    Max,
    /// Sample standard deviation (n - 1), as `stddev` in DuckDB and `std` in Polars.
    Std,
    /// Sample variance (n - 1).
    Var,
    CountDistinct,
    /// First value in input order.
    First,
    /// Last value in input order.
    Last,
    /// `any_value(x)`: the first non-null value in input order (DuckDB's).
    AnyValue,
    /// Pearson correlation of two columns.
    Corr,
    /// Exact median, interpolated like `quantile_cont(x, 0.5)` (DuckDB's `median`).
    Median,
    /// Exact continuous quantile: linear interpolation between the values at ranks
    /// ⌊q·(n−1)⌋ and ⌈q·(n−1)⌉. The fraction q is stored in millionths.
    QuantileCont(u32),
    /// Population standard deviation (n).
    StdPop,
    /// Population variance (n).
    VarPop,
    /// `sum(DISTINCT x)`: the sum of the distinct non-null values.
    SumDistinct,
    /// `avg(DISTINCT x)`.
    MeanDistinct,
    /// `arg_min(arg, val)`: `arg` of the row with the smallest `val` (rows where either
    /// is null are skipped; on a tie, any of the tied rows).
    ArgMin,
    /// `arg_max(arg, val)`.
    ArgMax,
    /// `string_agg(x, sep)`: the non-null values as text joined by `sep` (a constant, `,`
    /// by default), in input order, or ordered by a third argument (`string_agg(x, sep
    /// ORDER BY key)`) when `Some`.
    StringAgg(Option<AggOrder>),
    /// `approx_count_distinct(x)`: a HyperLogLog estimate of the distinct non-null
    /// values (4096 registers: standard error 1.6%, about 1.1% below 10 000 values).
    ApproxCountDistinct,
}

/// The direction of an aggregate's own ORDER BY (`string_agg(x, ',' ORDER BY k DESC)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct AggOrder {
    pub descending: bool,
    pub nulls_first: bool,
}

impl AggFunc {
    /// The SQL name.
    pub fn name(self) -> &'static str {
        use AggFunc::*;
        match self {
            CountStar => "count",
            Count => "count",
            Sum => "sum",
            Mean => "avg",
            Min => "min",
            Max => "max",
            Std => "stddev",
            Var => "variance",
            CountDistinct => "count_distinct",
            First => "first",
            AnyValue => "any_value",
            Last => "last",
            Corr => "corr",
            Median => "median",
            QuantileCont(_) => "quantile_cont",
            StdPop => "stddev_pop",
            VarPop => "var_pop",
            SumDistinct => "sum_distinct",
            MeanDistinct => "avg_distinct",
            ArgMin => "arg_min",
            ArgMax => "arg_max",
            StringAgg(_) => "string_agg",
            ApproxCountDistinct => "approx_count_distinct",
        }
    }

    /// `quantile_cont` at fraction `q` (0 ≤ q ≤ 1).
    pub fn quantile(q: f64) -> Result<Self> {
        if !(0.0..=1.0).contains(&q) {
            return Err(Error::Plan(format!(
                "quantile_cont fraction {q} is outside [0, 1]"
            )));
        }
        Ok(AggFunc::QuantileCont((q * 1e6).round() as u32))
    }

    /// The fraction of a quantile aggregate.
    pub fn fraction(self) -> Option<f64> {
        match self {
            AggFunc::Median => Some(0.5),
            AggFunc::QuantileCont(m) => Some(m as f64 / 1e6),
            _ => None,
        }
    }

    /// Looks an aggregate up by its SQL name.
    pub fn from_name(name: &str) -> Option<Self> {
        use AggFunc::*;
        Some(match name.to_ascii_lowercase().as_str() {
            "count" => Count,
            "sum" => Sum,
            "avg" | "mean" => Mean,
            "min" => Min,
            "max" => Max,
            "stddev" | "stddev_samp" | "std" => Std,
            "variance" | "var_samp" | "var" => Var,
            "first" | "arbitrary" => First,
            "any_value" => AnyValue,
            "last" => Last,
            "corr" => Corr,
            "count_distinct" => CountDistinct,
            "median" => Median,
            "stddev_pop" => StdPop,
            "var_pop" => VarPop,
            "arg_min" | "argmin" | "min_by" => ArgMin,
            "arg_max" | "argmax" | "max_by" => ArgMax,
            "string_agg" | "group_concat" | "listagg" => StringAgg(None),
            "approx_count_distinct" | "approx_n_unique" => ApproxCountDistinct,
            _ => return None,
        })
    }

    /// Number of arguments taken (`string_agg`'s separator is always the second, its
    /// ordering key the third).
    pub fn arity(self) -> usize {
        match self {
            AggFunc::CountStar => 0,
            AggFunc::Corr | AggFunc::ArgMin | AggFunc::ArgMax | AggFunc::StringAgg(None) => 2,
            AggFunc::StringAgg(Some(_)) => 3,
            _ => 1,
        }
    }

    /// The same aggregate over the distinct values of its argument, if floe has it.
    pub fn distinct(self) -> Option<Self> {
        match self {
            AggFunc::Count | AggFunc::CountDistinct => Some(AggFunc::CountDistinct),
            AggFunc::Sum => Some(AggFunc::SumDistinct),
            AggFunc::Mean => Some(AggFunc::MeanDistinct),
            // The extremes and the distinct-count estimate ignore duplicates anyway.
            AggFunc::Min | AggFunc::Max | AggFunc::ApproxCountDistinct => Some(self),
            _ => None,
        }
    }

    /// Checks argument types; returns the result type.
    pub fn return_type(self, args: &[DataType]) -> Result<DataType> {
        use AggFunc::*;
        if args.len() != self.arity() {
            return Err(Error::Plan(format!(
                "{}() takes {} argument(s), got {}",
                self.name(),
                self.arity(),
                args.len()
            )));
        }
        let numeric = |t: &DataType| -> Result<()> {
            if is_numeric(t) || *t == DataType::Null {
                Ok(())
            } else {
                Err(Error::Schema(format!(
                    "{}() needs a numeric argument, got {t}",
                    self.name()
                )))
            }
        };
        Ok(match self {
            Median | QuantileCont(_) => {
                numeric(&args[0])?;
                DataType::Float64
            }
            CountStar | Count | CountDistinct | ApproxCountDistinct => DataType::Int64,
            Sum | SumDistinct => {
                numeric(&args[0])?;
                if args[0].is_integer() || args[0] == DataType::Null {
                    DataType::Int64
                } else {
                    DataType::Float64
                }
            }
            Mean | Std | Var | StdPop | VarPop | MeanDistinct => {
                numeric(&args[0])?;
                DataType::Float64
            }
            StringAgg(_) => DataType::Utf8,
            ArgMin | ArgMax => value_type(&args[0]),
            Corr => {
                numeric(&args[0])?;
                numeric(&args[1])?;
                DataType::Float64
            }
            Min | Max | First | Last | AnyValue => value_type(&args[0]),
        })
    }

    /// Whether the result can be null (counts cannot).
    pub fn nullable(self) -> bool {
        !matches!(
            self,
            AggFunc::CountStar
                | AggFunc::Count
                | AggFunc::CountDistinct
                | AggFunc::ApproxCountDistinct
        )
    }
}

/// The type a value-keeping aggregate (min, max, first, arg_max, …) returns for an
/// argument of type `t`: dictionaries decoded, every string type as `Utf8`.
pub fn value_type(t: &DataType) -> DataType {
    match t {
        DataType::Dictionary(_, v) => value_type(v),
        DataType::LargeUtf8 | DataType::Utf8View => DataType::Utf8,
        t => t.clone(),
    }
}
