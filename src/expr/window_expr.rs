//! Window expressions of the LazyFrame API, Polars style:
//! `col("x").sum().over([col("g")])`, `rank().over_ordered([col("g")], [col("v").sort_desc()])`,
//! `col("t").rolling_mean(1440)`, `col("x").shift(1)`, `col("x").cum_sum()`, `col("x").diff(1)`.
//!
//! A [`WindowExpr`] is plain data inside an [`Expr`]; it is not evaluated row by
//! row. `select`, `with_columns` and `filter` lift every window expression out of
//! their expressions and plan it as a `LogicalPlan::Window` below them
//! (`plan/window.rs`), so the API and SQL share one operator, its sort and its spill.
//!
//! Semantics follow SQL (and DuckDB) where Polars and SQL differ only in defaults
//! nobody relies on, and Polars where its users do rely on them:
//! - an aggregate `.over(keys)` without an order is the aggregate of the whole
//!   partition on each row; with an order (`over_ordered`) it is the running
//!   aggregate up to the row and its peers (SQL's default frame);
//! - `cum_*` count rows, not peers (ROWS UNBOUNDED PRECEDING .. CURRENT ROW);
//! - `rolling_*(n)` is NULL until the frame of the last `n` rows holds `n` non-NULL
//!   values (Polars' `min_samples` default, pandas' `min_periods`);
//! - order-dependent calls (`shift`, `diff`, `cum_*`, `rolling_*`, `row_number`,
//!   `ntile`, first/last values) take their order from `over_ordered`, or from a
//!   `sort` that the frame ends with; without either they are a plan-time error.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::window::{FrameBound, FrameUnits, WindowFrame, WindowFunc};
use super::{lit, AggFunc, Expr, SortExpr};

/// A window function call with its partitioning, order and frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowExpr {
    pub func: WindowFunc,
    pub args: Vec<Expr>,
    pub partition_by: Vec<Expr>,
    pub order_by: Vec<SortExpr>,
    /// `None`: the SQL default for the order ([`WindowFrame::default_for`]).
    pub frame: Option<WindowFrame>,
}

impl WindowExpr {
    fn call(func: WindowFunc, args: Vec<Expr>, frame: Option<WindowFrame>) -> Expr {
        Expr::Window(Box::new(WindowExpr {
            func,
            args,
            partition_by: vec![],
            order_by: vec![],
            frame,
        }))
    }

    /// The frame the call is evaluated over.
    pub fn resolved_frame(&self) -> WindowFrame {
        self.frame
            .unwrap_or_else(|| WindowFrame::default_for(!self.order_by.is_empty()))
    }

    /// Whether the answer depends on the order of rows within a partition (beyond
    /// the peers that the default frame already groups).
    pub fn needs_order(&self) -> bool {
        use WindowFunc::*;
        matches!(
            self.func,
            Lag | Lead | RowNumber | Ntile | FirstValue | LastValue | NthValue
        ) || self.frame.is_some_and(|f| f.units == FrameUnits::Rows)
    }
}

fn rows(start: FrameBound) -> Option<WindowFrame> {
    Some(WindowFrame {
        units: FrameUnits::Rows,
        start,
        end: FrameBound::CurrentRow,
    })
}

/// `row_number()`: 1, 2, 3, ... within each partition, in the window's order.
pub fn row_number() -> Expr {
    WindowExpr::call(WindowFunc::RowNumber, vec![], None)
}

/// `rank()`: 1 + the number of rows ordered strictly before (ties share a rank,
/// gaps follow; Polars' `rank("min")`).
pub fn rank() -> Expr {
    WindowExpr::call(WindowFunc::Rank, vec![], None)
}

/// `dense_rank()`: ties share a rank, no gaps (Polars' `rank("dense")`).
pub fn dense_rank() -> Expr {
    WindowExpr::call(WindowFunc::DenseRank, vec![], None)
}

/// `percent_rank()`: `(rank - 1) / (rows in partition - 1)`.
pub fn percent_rank() -> Expr {
    WindowExpr::call(WindowFunc::PercentRank, vec![], None)
}

/// `cume_dist()`: the fraction of the partition ordered at or before the row.
pub fn cume_dist() -> Expr {
    WindowExpr::call(WindowFunc::CumeDist, vec![], None)
}

/// `ntile(k)`: buckets 1..=k of (nearly) equal size, in the window's order.
pub fn ntile(k: i64) -> Expr {
    WindowExpr::call(WindowFunc::Ntile, vec![lit(k)], None)
}

/// Applies a partitioning and an order to every window call and aggregate in `e`.
fn windowed(e: Expr, partition_by: &[Expr], order_by: Option<&[SortExpr]>) -> Expr {
    e.transform(&mut |node| {
        let mut w = match node {
            Expr::Window(w) => *w,
            Expr::Aggregate { func, args } => {
                let func = match func {
                    AggFunc::First => WindowFunc::FirstValue,
                    AggFunc::Last => WindowFunc::LastValue,
                    other => WindowFunc::Aggregate(other),
                };
                WindowExpr {
                    func,
                    args,
                    partition_by: vec![],
                    order_by: vec![],
                    frame: None,
                }
            }
            other => return other,
        };
        w.partition_by = partition_by.to_vec();
        if let Some(order) = order_by {
            w.order_by = order.to_vec();
        }
        Expr::Window(Box::new(w))
    })
}

impl Expr {
    /// Evaluates the aggregates and window calls in this expression per partition
    /// of `partition_by`, keeping every row: `col("x").sum().over([col("g")])` is
    /// the group's sum on each of its rows, `(col("x") - col("x").mean()).over(..)`
    /// the deviation from the group's mean.
    pub fn over(self, partition_by: impl IntoIterator<Item = Expr>) -> Expr {
        let p: Vec<Expr> = partition_by.into_iter().collect();
        windowed(self, &p, None)
    }

    /// As [`Expr::over`], with the rows of each partition in `order_by`: running
    /// aggregates, rankings, shifts and rolling frames follow it.
    pub fn over_ordered(
        self,
        partition_by: impl IntoIterator<Item = Expr>,
        order_by: impl IntoIterator<Item = SortExpr>,
    ) -> Expr {
        let p: Vec<Expr> = partition_by.into_iter().collect();
        let o: Vec<SortExpr> = order_by.into_iter().collect();
        windowed(self, &p, Some(&o))
    }

    /// The value `n` rows earlier (`n < 0`: later), NULL past the partition's edge
    /// (SQL `lag`/`lead`).
    pub fn shift(self, n: i64) -> Expr {
        let (func, k) = if n >= 0 {
            (WindowFunc::Lag, n)
        } else {
            (WindowFunc::Lead, n.saturating_neg())
        };
        WindowExpr::call(func, vec![self, lit(k)], None)
    }

    /// `self - self.shift(n)`.
    pub fn diff(self, n: i64) -> Expr {
        self.clone().sub(self.shift(n))
    }

    fn cumulative(self, func: AggFunc) -> Expr {
        WindowExpr::call(
            WindowFunc::Aggregate(func),
            vec![self],
            rows(FrameBound::UnboundedPreceding),
        )
    }

    /// The running sum from the partition's first row to this one.
    pub fn cum_sum(self) -> Expr {
        self.cumulative(AggFunc::Sum)
    }
    /// The running count of non-NULL values.
    pub fn cum_count(self) -> Expr {
        self.cumulative(AggFunc::Count)
    }
    /// The running minimum.
    pub fn cum_min(self) -> Expr {
        self.cumulative(AggFunc::Min)
    }
    /// The running maximum.
    pub fn cum_max(self) -> Expr {
        self.cumulative(AggFunc::Max)
    }

    /// `func` over the last `n` rows (this one included); NULL until they hold `n`
    /// non-NULL values. `n` below 1 is taken as 1.
    fn rolling(self, func: AggFunc, n: u64) -> Expr {
        let n = n.max(1);
        let frame = rows(FrameBound::Preceding(n - 1));
        let count = WindowExpr::call(
            WindowFunc::Aggregate(AggFunc::Count),
            vec![self.clone()],
            frame,
        );
        let value = WindowExpr::call(WindowFunc::Aggregate(func), vec![self], frame);
        // The count is an i64; `n` fits one for any frame that could be filled.
        let n = i64::try_from(n).unwrap_or(i64::MAX);
        super::when(count.gt_eq(lit(n))).then(value).end()
    }

    /// The sum of the last `n` values (Polars' `rolling_sum`).
    pub fn rolling_sum(self, n: u64) -> Expr {
        self.rolling(AggFunc::Sum, n)
    }
    /// The mean of the last `n` values.
    pub fn rolling_mean(self, n: u64) -> Expr {
        self.rolling(AggFunc::Mean, n)
    }
    /// The minimum of the last `n` values.
    pub fn rolling_min(self, n: u64) -> Expr {
        self.rolling(AggFunc::Min, n)
    }
    /// The maximum of the last `n` values.
    pub fn rolling_max(self, n: u64) -> Expr {
        self.rolling(AggFunc::Max, n)
    }
    /// The sample standard deviation of the last `n` values.
    pub fn rolling_std(self, n: u64) -> Expr {
        self.rolling(AggFunc::Std, n)
    }
    /// The sample variance of the last `n` values.
    pub fn rolling_var(self, n: u64) -> Expr {
        self.rolling(AggFunc::Var, n)
    }

    /// True if a window call appears anywhere inside.
    pub fn contains_window(&self) -> bool {
        let mut found = false;
        self.visit(&mut |e| found |= matches!(e, Expr::Window(_)));
        found
    }
}

impl fmt::Display for WindowExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let args: Vec<String> = self.args.iter().map(|a| a.to_string()).collect();
        write!(f, "{}({}) OVER (", self.func.name(), args.join(", "))?;
        let mut sep = "";
        if !self.partition_by.is_empty() {
            let p: Vec<String> = self.partition_by.iter().map(|e| e.to_string()).collect();
            write!(f, "PARTITION BY {}", p.join(", "))?;
            sep = " ";
        }
        if !self.order_by.is_empty() {
            let o: Vec<String> = self.order_by.iter().map(|e| e.to_string()).collect();
            write!(f, "{sep}ORDER BY {}", o.join(", "))?;
            sep = " ";
        }
        if let (Some(frame), true) = (self.frame, self.func.uses_frame()) {
            write!(f, "{sep}{frame}")?;
        }
        write!(f, ")")
    }
}
