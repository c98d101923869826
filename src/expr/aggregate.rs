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
    /// Pearson correlation of two columns.
    Corr,
    /// Exact median, interpolated like `quantile_cont(x, 0.5)` (DuckDB's `median`).
    Median,
    /// Exact continuous quantile: linear interpolation between the values at ranks
    /// ⌊q·(n−1)⌋ and ⌈q·(n−1)⌉. The fraction q is stored in millionths.
    QuantileCont(u32),
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
            Last => "last",
            Corr => "corr",
            Median => "median",
            QuantileCont(_) => "quantile_cont",
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
            "first" | "any_value" | "arbitrary" => First,
            "last" => Last,
            "corr" => Corr,
            "count_distinct" => CountDistinct,
            "median" => Median,
            _ => return None,
        })
    }

    /// Number of arguments taken.
    pub fn arity(self) -> usize {
        match self {
            AggFunc::CountStar => 0,
            AggFunc::Corr => 2,
            _ => 1,
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
            CountStar | Count | CountDistinct => DataType::Int64,
            Sum => {
                numeric(&args[0])?;
                if args[0].is_integer() || args[0] == DataType::Null {
                    DataType::Int64
                } else {
                    DataType::Float64
                }
            }
            Mean | Std | Var => {
                numeric(&args[0])?;
                DataType::Float64
            }
            Corr => {
                numeric(&args[0])?;
                numeric(&args[1])?;
                DataType::Float64
            }
            Min | Max | First | Last => match &args[0] {
                DataType::Dictionary(_, v) => v.as_ref().clone(),
                DataType::LargeUtf8 | DataType::Utf8View => DataType::Utf8,
                t => t.clone(),
            },
        })
    }

    /// Whether the result can be null (counts cannot).
    pub fn nullable(self) -> bool {
        !matches!(
            self,
            AggFunc::CountStar | AggFunc::Count | AggFunc::CountDistinct
        )
    }
}
