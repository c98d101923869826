//! Turning a select list with aggregates into Aggregate + Filter + Project nodes.
//!
//! `SELECT k, sum(x) / count(*) AS r ... GROUP BY k HAVING max(y) > 3` becomes
//!
//! ```text
//! Project: k, (#1 / #2) AS r
//!   Filter: #3 > 3
//!     Aggregate: keys=[k] aggs=[sum(x) AS #1, count(*) AS #2, max(y) AS #3]
//! ```
//!
//! Every distinct aggregate call is computed once; grouping expressions are matched
//! structurally, and any other column reference outside an aggregate is an error,
//! as in SQL. The same code serves `group_by(..).agg(..)` in the API.

use std::sync::Arc;

use arrow::datatypes::{Field, Schema, SchemaRef};

use super::LogicalPlan;
use crate::error::{Error, Result};
use crate::expr::{col, types, Expr};

/// The output schema of an aggregation of `input` by `keys` computing `aggs`
/// (aggregate calls, optionally aliased): the keys, then one column per call.
pub fn output_schema(input: &Schema, keys: &[Expr], aggs: &[Expr]) -> Result<SchemaRef> {
    let mut fields = keys
        .iter()
        .map(|k| types::field(k, input))
        .collect::<Result<Vec<Field>>>()?;
    for a in aggs {
        let Expr::Aggregate { func, args } = a.unalias() else {
            return Err(Error::Plan(format!("{a} is not an aggregate")));
        };
        let arg_types = args
            .iter()
            .map(|e| types::data_type(e, input))
            .collect::<Result<Vec<_>>>()?;
        fields.push(Field::new(
            a.output_name(),
            func.return_type(&arg_types)?,
            func.nullable(),
        ));
    }
    Ok(Arc::new(Schema::new(fields)))
}

/// Builds the aggregation of `input` grouped by `keys` that outputs `select`
/// (expressions over keys and aggregates), keeping rows where `having` holds.
pub fn build_aggregate(
    input: Arc<LogicalPlan>,
    keys: Vec<Expr>,
    select: Vec<Expr>,
    having: Option<Expr>,
) -> Result<LogicalPlan> {
    // Simple case: plain keys then plain aggregates, nothing to rewrite.
    let simple = having.is_none()
        && select.len() >= keys.len()
        && select.iter().zip(&keys).all(|(s, k)| s == k && matches!(k, Expr::Column(_)))
        && select[keys.len()..].iter().all(|e| {
            matches!(e.unalias(), Expr::Aggregate { args, .. } if args.iter().all(|a| !a.contains_aggregate()))
        });
    if simple {
        let aggs = select[keys.len()..].to_vec();
        return LogicalPlan::try_aggregate(input, keys, aggs);
    }
    let (plan, select) = build_aggregate_parts(input, keys, select, having)?;
    LogicalPlan::try_project(Arc::new(plan), select)
}

/// [`build_aggregate`] without its final projection: the Aggregate (and HAVING
/// Filter), and the select list rewritten over its output. Columns named `#win…`
/// (window results, computed above) pass through unchecked.
pub fn build_aggregate_parts(
    input: Arc<LogicalPlan>,
    keys: Vec<Expr>,
    select: Vec<Expr>,
    having: Option<Expr>,
) -> Result<(LogicalPlan, Vec<Expr>)> {
    let key_names: Vec<String> = keys.iter().map(|k| k.output_name()).collect();
    let named_keys: Vec<Expr> = keys
        .iter()
        .zip(&key_names)
        .map(|(k, n)| match k {
            Expr::Column(_) | Expr::Alias(..) => k.clone(),
            other => other.clone().alias(n.clone()),
        })
        .collect();
    let mut aggs: Vec<Expr> = vec![];
    let mut rewrite = |e: Expr| -> Result<Expr> {
        let mut error = None;
        let out = rewrite_expr(e.clone(), &keys, &key_names, &mut aggs, &mut error);
        match error {
            Some(err) => Err(err),
            None => Ok(out),
        }
    };
    let select: Vec<Expr> = select
        .into_iter()
        .map(|e| {
            let name = e.output_name();
            let r = rewrite(e)?;
            Ok(if r.output_name() == name {
                r
            } else {
                r.alias(name)
            })
        })
        .collect::<Result<_>>()?;
    let having = having.map(&mut rewrite).transpose()?;
    let mut plan = LogicalPlan::try_aggregate(input, named_keys, aggs)?;
    if let Some(h) = having {
        plan = LogicalPlan::try_filter(Arc::new(plan), h)?;
    }
    Ok((plan, select))
}

fn rewrite_expr(
    e: Expr,
    keys: &[Expr],
    key_names: &[String],
    aggs: &mut Vec<Expr>,
    error: &mut Option<Error>,
) -> Expr {
    if let Some(i) = keys.iter().position(|k| k == &e || k.unalias() == &e) {
        return col(key_names[i].clone());
    }
    match e {
        Expr::Aggregate { ref args, .. } => {
            if args.iter().any(|a| a.contains_aggregate()) {
                error.get_or_insert(Error::Plan(format!("nested aggregate in {e}")));
                return e;
            }
            let pos = aggs.iter().position(|a| a.unalias() == &e);
            let i = pos.unwrap_or_else(|| {
                aggs.push(e.clone().alias(format!("#agg{}", aggs.len())));
                aggs.len() - 1
            });
            col(aggs[i].output_name())
        }
        Expr::Alias(inner, name) => Expr::Alias(
            Box::new(rewrite_expr(*inner, keys, key_names, aggs, error)),
            name,
        ),
        Expr::Column(c) => {
            if key_names.contains(&c) || c.starts_with("#win") {
                return col(c);
            }
            error.get_or_insert(Error::Plan(format!(
                "column '{c}' must appear in the GROUP BY clause or be used in an aggregate function"
            )));
            Expr::Column(c)
        }
        Expr::Literal(_) => e,
        other => {
            // Rebuild children one level at a time so keys and aggregates match whole.
            let mut children = vec![];
            for c in other.children() {
                children.push(rewrite_expr(c.clone(), keys, key_names, aggs, error));
            }
            replace_children(other, children)
        }
    }
}

/// `e` with its direct children replaced, in [`Expr::children`] order.
pub(crate) fn replace_children(e: Expr, children: Vec<Expr>) -> Expr {
    let mut it = children.into_iter();
    let mut next = || {
        it.next()
            .map(Box::new)
            .unwrap_or_else(|| Box::new(Expr::Literal(crate::expr::ScalarValue::Null)))
    };
    match e {
        Expr::Not(_) => Expr::Not(next()),
        Expr::Negative(_) => Expr::Negative(next()),
        Expr::IsNull(_) => Expr::IsNull(next()),
        Expr::IsNotNull(_) => Expr::IsNotNull(next()),
        Expr::Cast { to, .. } => Expr::Cast { expr: next(), to },
        Expr::Binary { op, .. } => {
            let left = next();
            let right = next();
            Expr::Binary { left, op, right }
        }
        Expr::Case {
            branches,
            otherwise,
        } => {
            let branches = branches.iter().map(|_| (*next(), *next())).collect();
            let otherwise = otherwise.map(|_| next());
            Expr::Case {
                branches,
                otherwise,
            }
        }
        Expr::InList { list, negated, .. } => {
            let expr = next();
            let list = list.iter().map(|_| *next()).collect();
            Expr::InList {
                expr,
                list,
                negated,
            }
        }
        Expr::Like {
            negated,
            case_insensitive,
            ..
        } => {
            let expr = next();
            let pattern = next();
            Expr::Like {
                expr,
                pattern,
                negated,
                case_insensitive,
            }
        }
        Expr::Function { func, args } => Expr::Function {
            func,
            args: args.iter().map(|_| *next()).collect(),
        },
        other => other,
    }
}
