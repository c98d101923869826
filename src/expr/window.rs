//! Window functions: what a `f(..) OVER (PARTITION BY .. ORDER BY .. frame)` computes,
//! its frame, and its result type. The operator that evaluates them is
//! `exec/window/`; the plan node is `LogicalPlan::Window`; the API's builders are in
//! `window_expr.rs`.

use std::fmt;

use arrow::datatypes::DataType;
use serde::{Deserialize, Serialize};

use super::types::is_numeric;
use super::{AggFunc, Expr};
use crate::error::{Error, Result};

/// A window function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum WindowFunc {
    RowNumber,
    Rank,
    DenseRank,
    PercentRank,
    CumeDist,
    /// `ntile(k)`: bucket 1..=k, the first `n % k` buckets one row larger.
    Ntile,
    /// `lag(x[, offset[, default]])`.
    Lag,
    Lead,
    FirstValue,
    LastValue,
    /// `nth_value(x, k)`, 1-based, within the frame.
    NthValue,
    /// An aggregate over the frame: any of floe's aggregates.
    Aggregate(AggFunc),
}

impl WindowFunc {
    /// Looks up a function by its SQL name (`count` with no argument is `count(*)`).
    pub fn from_name(name: &str, args: usize) -> Option<Self> {
        use WindowFunc::*;
        Some(match name.to_ascii_lowercase().as_str() {
            "row_number" => RowNumber,
            "rank" => Rank,
            "dense_rank" => DenseRank,
            "percent_rank" => PercentRank,
            "cume_dist" => CumeDist,
            "ntile" => Ntile,
            "lag" => Lag,
            "lead" => Lead,
            "first_value" | "first" => FirstValue,
            "last_value" | "last" => LastValue,
            "nth_value" => NthValue,
            "count" if args == 0 => Aggregate(AggFunc::CountStar),
            "count" => Aggregate(AggFunc::Count),
            "sum" => Aggregate(AggFunc::Sum),
            "avg" | "mean" => Aggregate(AggFunc::Mean),
            "min" => Aggregate(AggFunc::Min),
            "max" => Aggregate(AggFunc::Max),
            "stddev" | "stddev_samp" | "std" => Aggregate(AggFunc::Std),
            "variance" | "var_samp" | "var" => Aggregate(AggFunc::Var),
            "stddev_pop" => Aggregate(AggFunc::StdPop),
            "var_pop" => Aggregate(AggFunc::VarPop),
            other => Aggregate(AggFunc::from_name(other)?),
        })
    }

    pub fn name(self) -> &'static str {
        use WindowFunc::*;
        match self {
            RowNumber => "row_number",
            Rank => "rank",
            DenseRank => "dense_rank",
            PercentRank => "percent_rank",
            CumeDist => "cume_dist",
            Ntile => "ntile",
            Lag => "lag",
            Lead => "lead",
            FirstValue => "first_value",
            LastValue => "last_value",
            NthValue => "nth_value",
            Aggregate(a) => a.name(),
        }
    }

    /// Whether the frame matters (value functions and aggregates; not the rankings).
    pub fn uses_frame(self) -> bool {
        matches!(
            self,
            WindowFunc::FirstValue
                | WindowFunc::LastValue
                | WindowFunc::NthValue
                | WindowFunc::Aggregate(_)
        )
    }

    /// Checks the argument types; the result type.
    pub fn return_type(self, args: &[DataType]) -> Result<DataType> {
        use WindowFunc::*;
        let arity = |lo: usize, hi: usize| -> Result<()> {
            if args.len() < lo || args.len() > hi {
                return Err(Error::Plan(format!(
                    "window function {}() takes {lo}..={hi} arguments, got {}",
                    self.name(),
                    args.len()
                )));
            }
            Ok(())
        };
        let integer = |i: usize| -> Result<()> {
            if args[i].is_integer() || args[i] == DataType::Null {
                Ok(())
            } else {
                Err(Error::Schema(format!(
                    "argument {} of {}() must be an integer, got {}",
                    i + 1,
                    self.name(),
                    crate::expr::types::sql_name(&args[i])
                )))
            }
        };
        Ok(match self {
            RowNumber | Rank | DenseRank => {
                arity(0, 0)?;
                DataType::Int64
            }
            PercentRank | CumeDist => {
                arity(0, 0)?;
                DataType::Float64
            }
            Ntile => {
                arity(1, 1)?;
                integer(0)?;
                DataType::Int64
            }
            Lag | Lead => {
                arity(1, 3)?;
                if args.len() > 1 {
                    integer(1)?;
                }
                args[0].clone()
            }
            FirstValue | LastValue => {
                arity(1, 1)?;
                args[0].clone()
            }
            NthValue => {
                arity(2, 2)?;
                integer(1)?;
                args[0].clone()
            }
            Aggregate(AggFunc::CountStar) => {
                arity(0, 0)?;
                DataType::Int64
            }
            Aggregate(AggFunc::Count) => {
                arity(1, 1)?;
                DataType::Int64
            }
            Aggregate(
                f @ (AggFunc::Sum
                | AggFunc::Mean
                | AggFunc::Std
                | AggFunc::Var
                | AggFunc::StdPop
                | AggFunc::VarPop),
            ) => {
                arity(1, 1)?;
                if !is_numeric(&args[0]) && args[0] != DataType::Null {
                    return Err(Error::Schema(format!(
                        "{}() over a window needs a numeric argument, got {}",
                        f.name(),
                        crate::expr::types::sql_name(&args[0])
                    )));
                }
                if f == AggFunc::Sum && args[0].is_integer() {
                    DataType::Int64
                } else {
                    DataType::Float64
                }
            }
            Aggregate(AggFunc::Min | AggFunc::Max) => {
                arity(1, 1)?;
                args[0].clone()
            }
            // The holistic aggregates type-check as they do in GROUP BY.
            Aggregate(other) => other.return_type(args)?,
        })
    }
}

/// ROWS counts rows; RANGE counts peers (rows equal on the ORDER BY keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FrameUnits {
    Rows,
    Range,
    /// Offsets count peer groups (rows with equal ORDER BY keys).
    Groups,
}

/// One end of a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FrameBound {
    UnboundedPreceding,
    Preceding(u64),
    CurrentRow,
    Following(u64),
    UnboundedFollowing,
    /// RANGE `offset PRECEDING` / `offset FOLLOWING`: the frame reaches the rows whose
    /// (single) order key lies up to the bound value that the call's `start_key` or
    /// `end_key` computes per row (`key - offset`, `key + INTERVAL ..`, mirrored for
    /// a descending key).
    ValuePreceding,
    ValueFollowing,
}

impl FrameBound {
    /// Whether the bound is a value offset (RANGE `offset PRECEDING/FOLLOWING`).
    pub fn is_value(self) -> bool {
        matches!(
            self,
            FrameBound::ValuePreceding | FrameBound::ValueFollowing
        )
    }
}

/// The rows a frame-using function sees for each row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct WindowFrame {
    pub units: FrameUnits,
    pub start: FrameBound,
    pub end: FrameBound,
}

impl WindowFrame {
    /// The SQL default: with ORDER BY, RANGE UNBOUNDED PRECEDING to CURRENT ROW (the
    /// row and its peers); without, the whole partition.
    pub fn default_for(ordered: bool) -> Self {
        WindowFrame {
            units: FrameUnits::Range,
            start: FrameBound::UnboundedPreceding,
            end: if ordered {
                FrameBound::CurrentRow
            } else {
                FrameBound::UnboundedFollowing
            },
        }
    }
}

impl fmt::Display for FrameBound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameBound::UnboundedPreceding => write!(f, "UNBOUNDED PRECEDING"),
            FrameBound::Preceding(n) => write!(f, "{n} PRECEDING"),
            FrameBound::CurrentRow => write!(f, "CURRENT ROW"),
            FrameBound::Following(n) => write!(f, "{n} FOLLOWING"),
            FrameBound::UnboundedFollowing => write!(f, "UNBOUNDED FOLLOWING"),
            FrameBound::ValuePreceding => write!(f, "offset PRECEDING"),
            FrameBound::ValueFollowing => write!(f, "offset FOLLOWING"),
        }
    }
}

impl fmt::Display for WindowFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let units = match self.units {
            FrameUnits::Rows => "ROWS",
            FrameUnits::Range => "RANGE",
            FrameUnits::Groups => "GROUPS",
        };
        write!(f, "{units} BETWEEN {} AND {}", self.start, self.end)
    }
}

/// One window function call of a Window node: its output column `name`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowCall {
    pub func: WindowFunc,
    pub args: Vec<Expr>,
    pub frame: WindowFrame,
    pub name: String,
    /// For a value bound at the frame's start ([`FrameBound::ValuePreceding`] /
    /// `ValueFollowing`): the order key's value where the frame starts, per row.
    #[serde(default)]
    pub start_key: Option<Expr>,
    /// The same at the frame's end.
    #[serde(default)]
    pub end_key: Option<Expr>,
    /// `IGNORE NULLS` (lag, lead, first_value, last_value, nth_value): NULL values are
    /// skipped.
    #[serde(default)]
    pub ignore_nulls: bool,
}

impl WindowCall {
    /// Every expression the call reads: its arguments and value-bound keys.
    pub fn inputs(&self) -> impl Iterator<Item = &Expr> {
        (self.args.iter())
            .chain(self.start_key.iter())
            .chain(self.end_key.iter())
    }
}

impl fmt::Display for WindowCall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let args: Vec<String> = self.args.iter().map(|a| a.to_string()).collect();
        write!(f, "{}({})", self.func.name(), args.join(", "))?;
        if self.ignore_nulls {
            write!(f, " IGNORE NULLS")?;
        }
        if self.func.uses_frame() {
            write!(f, " {}", self.frame)?;
            for (end, key) in [("start", &self.start_key), ("end", &self.end_key)] {
                if let Some(k) = key {
                    write!(f, " ({end} at {k})")?;
                }
            }
        }
        write!(f, " AS {}", self.name)
    }
}
