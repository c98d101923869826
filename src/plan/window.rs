//! Planning window function calls, for SQL and the LazyFrame API alike.
//!
//! Each call (a [`WindowUse`]: function, arguments, PARTITION BY, ORDER BY, frame and
//! the column it fills) reads expressions of the rows below it. Every distinct
//! non-literal one (partition key, order key, argument) is computed once beside the
//! input's columns as `#wi<k>`, so a column used by many calls is sorted and spilled
//! once; one Window node per distinct PARTITION BY / ORDER BY then appends its calls'
//! columns, all sharing that node's sort:
//!
//! ```text
//! Project: k, #agg0 AS s, #win1_0 AS r                      (the caller's items)
//!   Window: partition_by=[] order_by=[#wi0 DESC] [rank() AS #win1_0]
//!     Project: k, #agg0, #agg0 AS #wi0
//!       ...
//! ```
//!
//! SQL (`sql/window.rs`) collects its calls while planning a select list; the API
//! lifts [`Expr::Window`] nodes out of `select`/`with_columns`/`filter` expressions
//! ([`lift`]). Memory and spill are the Window operator's (`exec/window/`).

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::expr::window::{WindowCall, WindowFrame, WindowFunc};
use crate::expr::{col, BinaryOp, Expr, ScalarFunc, ScalarValue, SortExpr, WindowExpr};
use crate::plan::LogicalPlan;

/// One window function call to plan, and the column it fills.
#[derive(Debug, Clone)]
pub struct WindowUse {
    pub func: WindowFunc,
    pub args: Vec<Expr>,
    pub partition_by: Vec<Expr>,
    pub order_by: Vec<SortExpr>,
    pub frame: WindowFrame,
    pub name: String,
    /// A RANGE value offset at the frame's start / end.
    pub start_offset: Option<ValueOffset>,
    pub end_offset: Option<ValueOffset>,
    /// `IGNORE NULLS`.
    pub ignore_nulls: bool,
}

/// A RANGE frame's value offset from the (single) order key.
#[derive(Debug, Clone)]
pub enum ValueOffset {
    /// The bound is `key - offset` when `subtract`, else `key + offset`.
    Number { offset: Expr, subtract: bool },
    /// The bound is `key + INTERVAL (months, days, micros)` (already signed).
    Interval { months: i64, days: i64, micros: i64 },
}

impl ValueOffset {
    /// The bound's value per row, from the order key's column: evaluated by the
    /// operator over its buffer, not computed and sorted beside the input.
    fn bound(&self, key: Expr) -> Expr {
        match self {
            ValueOffset::Number { offset, subtract } => Expr::Binary {
                left: Box::new(key),
                op: if *subtract {
                    BinaryOp::Minus
                } else {
                    BinaryOp::Plus
                },
                right: Box::new(offset.clone()),
            },
            ValueOffset::Interval {
                months,
                days,
                micros,
            } => Expr::Function {
                func: ScalarFunc::AddInterval,
                args: [*months, *days, *micros]
                    .into_iter()
                    .fold(vec![key], |mut a, v| {
                        a.push(Expr::Literal(ScalarValue::Int64(v)));
                        a
                    }),
            },
        }
    }
}

/// The column of a call's first order key (a RANGE offset's base).
fn order_key(w: &WindowUse, input: &dyn Fn(&Expr) -> Expr) -> Expr {
    w.order_by
        .first()
        .map_or_else(|| Expr::Literal(ScalarValue::Null), |o| input(&o.expr))
}

/// Calls sharing a PARTITION BY / ORDER BY: the first call's index, its keys, the calls.
type WindowGroup = (usize, Vec<Expr>, Vec<SortExpr>, Vec<WindowCall>);

/// The distinct non-literal expressions the calls read, in order of first use.
fn distinct_inputs(windows: &[WindowUse]) -> Vec<&Expr> {
    let mut out: Vec<&Expr> = vec![];
    let used = windows.iter().flat_map(|w| {
        (w.partition_by.iter())
            .chain(w.order_by.iter().map(|o| &o.expr))
            .chain(w.args.iter())
    });
    for e in used {
        if !matches!(e, Expr::Literal(_)) && !out.contains(&e) {
            out.push(e);
        }
    }
    out
}

/// The expressions the calls need computed below them, named `#wi<k>` (literal
/// arguments stay in the calls: the operator reads constant offsets from the plan).
pub fn inputs(windows: &[WindowUse]) -> Vec<Expr> {
    (distinct_inputs(windows).into_iter().enumerate())
        .map(|(k, e)| e.clone().alias(format!("#wi{k}")))
        .collect()
}

/// `below` (whose columns include the [`inputs`] at its end, or which gets them
/// computed here when `add_inputs`) with one Window node per distinct PARTITION BY /
/// ORDER BY stacked on it.
pub fn stack(
    below: Arc<LogicalPlan>,
    windows: &[WindowUse],
    add_inputs: bool,
) -> Result<Arc<LogicalPlan>> {
    let mut plan = below;
    if add_inputs {
        let mut exprs: Vec<Expr> = (plan.schema().fields().iter())
            .map(|f| col(f.name().clone()))
            .collect();
        exprs.extend(inputs(windows));
        plan = Arc::new(LogicalPlan::try_project(plan, exprs)?);
    }
    let distinct = distinct_inputs(windows);
    let input = |e: &Expr| match distinct.iter().position(|d| *d == e) {
        Some(k) => col(format!("#wi{k}")),
        None => e.clone(),
    };
    let mut groups: Vec<WindowGroup> = vec![];
    for (i, w) in windows.iter().enumerate() {
        let call = WindowCall {
            func: w.func,
            args: w.args.iter().map(input).collect(),
            frame: w.frame,
            name: w.name.clone(),
            start_key: (w.start_offset.as_ref()).map(|o| o.bound(order_key(w, &input))),
            end_key: (w.end_offset.as_ref()).map(|o| o.bound(order_key(w, &input))),
            ignore_nulls: w.ignore_nulls,
        };
        let same = groups.iter_mut().find(|(first, ..)| {
            windows[*first].partition_by == w.partition_by && windows[*first].order_by == w.order_by
        });
        match same {
            Some((.., calls)) => calls.push(call),
            None => {
                let partition_by = w.partition_by.iter().map(input).collect();
                let order_by = (w.order_by.iter())
                    .map(|o| SortExpr {
                        expr: input(&o.expr),
                        ..o.clone()
                    })
                    .collect();
                groups.push((i, partition_by, order_by, vec![call]));
            }
        }
    }
    for (_, partition_by, order_by, calls) in groups {
        plan = Arc::new(LogicalPlan::try_window(
            plan,
            partition_by,
            order_by,
            calls,
        )?);
    }
    Ok(plan)
}

/// Lifts the window expressions out of `exprs` (API expressions over `input`): the
/// input with every distinct call evaluated as a column, and `exprs` reading those
/// columns instead. A call that depends on row order and has none takes the order
/// of a `sort` that `input` ends with, or is an error.
pub fn lift(input: &Arc<LogicalPlan>, exprs: Vec<Expr>) -> Result<(Arc<LogicalPlan>, Vec<Expr>)> {
    let mut found: Vec<WindowExpr> = vec![];
    let mut failure: Option<Error> = None;
    let sorted_by = match input.as_ref() {
        LogicalPlan::Sort { keys, .. } => Some(keys.clone()),
        _ => None,
    };
    // A call's own inputs hold no window call and no aggregate (checked before the
    // bottom-up rewrite below replaces inner calls by columns).
    let mut misuse: Option<Error> = None;
    for e in &exprs {
        e.visit(&mut |node| {
            let Expr::Window(w) = node else { return };
            let inner = node.children();
            if inner.iter().any(|c| c.contains_window()) {
                misuse.get_or_insert(Error::NotSupported(format!("a window call inside {w}")));
            } else if inner.iter().any(|c| c.contains_aggregate()) {
                misuse.get_or_insert(Error::Plan(format!(
                    "an aggregate inside {w}; aggregate with group_by(..).agg(..) first"
                )));
            }
        });
    }
    if let Some(err) = misuse {
        return Err(err);
    }
    let mut lift_one = |w: WindowExpr| -> Result<String> {
        let mut w = w;
        if w.order_by.is_empty() && w.needs_order() {
            w.order_by = sorted_by.clone().ok_or_else(|| {
                Error::Plan(format!(
                    "{w} depends on the order of rows: give it one with \
                     .over_ordered(partition, order), or sort the frame first"
                ))
            })?;
        }
        let k = match found.iter().position(|f| *f == w) {
            Some(k) => k,
            None => {
                found.push(w);
                found.len() - 1
            }
        };
        Ok(format!("#w{k}"))
    };
    let rewritten: Vec<Expr> = (exprs.into_iter())
        .map(|e| {
            e.transform(&mut |node| match node {
                Expr::Window(w) => match lift_one(*w) {
                    Ok(name) => col(name),
                    Err(err) => {
                        failure.get_or_insert(err);
                        col("#failed")
                    }
                },
                other => other,
            })
        })
        .collect();
    if let Some(err) = failure {
        return Err(err);
    }
    let uses: Vec<WindowUse> = (found.into_iter().enumerate())
        .map(|(k, w)| WindowUse {
            frame: w.resolved_frame(),
            func: w.func,
            args: w.args,
            partition_by: w.partition_by,
            order_by: w.order_by,
            name: format!("#w{k}"),
            start_offset: None,
            end_offset: None,
            ignore_nulls: false,
        })
        .collect();
    Ok((stack(Arc::clone(input), &uses, true)?, rewritten))
}
