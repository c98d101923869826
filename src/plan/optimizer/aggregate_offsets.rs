//! Aggregates of a value plus a constant, from the aggregates of the value.
//!
//! `sum(x + c)` equals `sum(x) + c·count(x)`, and `avg(x + c)` equals `avg(x) + c`
//! (likewise `c + x` and `x − c`): the rows where `x` is NULL add nothing to either
//! side, and over no non-NULL rows both sides are NULL. So an Aggregate whose calls
//! add constants to one column (`sum(w), sum(w + 1), …, sum(w + 89)`) computes
//! `sum(w)`, `count(w)` and `avg(w)` once each, and a projection above adds the
//! constants, cast back to each call's own type:
//!
//! ```text
//! Project: k, #sum0 + 1 * #count0 AS sum(w + 1), ...
//!   Aggregate: keys=[k] aggs=[sum(w) AS #sum0, count(w) AS #count0, ...]
//! ```
//!
//! Identical calls of the rewritten aggregate share one accumulator, so the work per
//! row no longer grows with the number of constants. Only integer and floating-point
//! `x` is rewritten (a decimal plus a double literal is a double, whose sum the
//! decimal sum would not give exactly); for floats the two sides round differently,
//! within the last digits. An integer `x + c` that would overflow `Int64` on a row is
//! summed without the per-row overflow.
//!
//! The rule leaves aggregates without such a call alone.

use std::sync::Arc;

use arrow::datatypes::DataType;

use crate::error::{Error, Result};
use crate::expr::aggregate::AggFunc;
use crate::expr::scalar::ScalarValue;
use crate::expr::types::data_type;
use crate::expr::{col, BinaryOp, Expr};
use crate::plan::LogicalPlan;

/// `plan` with the aggregates of offset values computed from the plain ones.
pub fn rewrite(plan: &LogicalPlan) -> Result<LogicalPlan> {
    let node = plan.map_inputs(rewrite)?;
    let LogicalPlan::Aggregate {
        input, keys, aggs, ..
    } = &node
    else {
        return Ok(node);
    };
    let input_schema = input.schema();
    let offsets: Vec<Option<(AggFunc, Expr, Expr)>> = aggs
        .iter()
        .map(|a| offset_call(a.unalias(), &input_schema))
        .collect();
    if offsets.iter().all(Option::is_none) {
        return Ok(node);
    }
    let output = node.schema();
    // The rewritten calls, each once, by name.
    let mut calls: Vec<(Expr, String)> = vec![];
    let mut call = |e: Expr, stem: &str| -> String {
        if let Some((_, name)) = calls.iter().find(|(c, _)| *c == e) {
            return name.clone();
        }
        let name = format!("#{stem}{}", calls.len());
        calls.push((e, name.clone()));
        name
    };
    let mut exprs: Vec<Expr> = keys.iter().map(|k| col(k.output_name())).collect();
    for (i, (a, offset)) in aggs.iter().zip(&offsets).enumerate() {
        let name = a.output_name();
        let field = output.fields().get(keys.len() + i).ok_or_else(|| {
            Error::Internal(format!("aggregate output {name} missing from the schema"))
        })?;
        let Some((func, x, c)) = offset else {
            let own = call(a.unalias().clone(), "agg");
            exprs.push(col(own).alias(name));
            continue;
        };
        let aggregate = |func: AggFunc| Expr::Aggregate {
            func,
            args: vec![x.clone()],
        };
        let value = match func {
            AggFunc::Sum => {
                let sum = call(aggregate(AggFunc::Sum), "sum");
                let count = call(aggregate(AggFunc::Count), "count");
                col(sum).add(c.clone().mul(col(count)))
            }
            _ => col(call(aggregate(AggFunc::Mean), "avg")).add(c.clone()),
        };
        exprs.push(value.cast(field.data_type().clone()).alias(name));
    }
    let aggs = calls.into_iter().map(|(e, name)| e.alias(name)).collect();
    let inner = LogicalPlan::try_aggregate(Arc::clone(input), keys.clone(), aggs)?;
    LogicalPlan::try_project(Arc::new(inner), exprs)
}

/// `sum`/`avg` of a numeric column expression plus or minus a numeric literal: the
/// function, the expression, and the signed constant.
fn offset_call(e: &Expr, schema: &arrow::datatypes::Schema) -> Option<(AggFunc, Expr, Expr)> {
    let Expr::Aggregate { func, args } = e else {
        return None;
    };
    if !matches!(func, AggFunc::Sum | AggFunc::Mean) {
        return None;
    }
    let [Expr::Binary { left, op, right }] = &args[..] else {
        return None;
    };
    let number = |e: &Expr| match e {
        Expr::Literal(ScalarValue::Int64(v)) => Some(Expr::Literal(ScalarValue::Int64(*v))),
        Expr::Literal(ScalarValue::Float64(v)) if v.is_finite() => {
            Some(Expr::Literal(ScalarValue::Float64(*v)))
        }
        _ => None,
    };
    let negated = |e: Expr| match e {
        Expr::Literal(ScalarValue::Int64(v)) => v
            .checked_neg()
            .map(|v| Expr::Literal(ScalarValue::Int64(v))),
        Expr::Literal(ScalarValue::Float64(v)) => Some(Expr::Literal(ScalarValue::Float64(-v))),
        _ => None,
    };
    let (x, c) = match (op, number(left), number(right)) {
        (BinaryOp::Plus, None, Some(c)) => ((**left).clone(), c),
        (BinaryOp::Plus, Some(c), None) => ((**right).clone(), c),
        (BinaryOp::Minus, None, Some(c)) => ((**left).clone(), negated(c)?),
        _ => return None,
    };
    let t = data_type(&x, schema).ok()?;
    let plain = t.is_integer() || matches!(t, DataType::Float32 | DataType::Float64);
    // A float constant over an integer column sums as a double: the same either way.
    plain.then_some((*func, x, c))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::lit;
    use crate::plan::optimizer::test_util::values;

    fn sum(x: Expr) -> Expr {
        Expr::Aggregate {
            func: AggFunc::Sum,
            args: vec![x],
        }
    }

    /// Eight offset sums and an average over one column share two sums, a count and
    /// an average; the output keeps its names and types.
    #[test]
    fn offset_sums_share_one_sum_and_count() {
        let mut aggs: Vec<Expr> = (1..=8i64).map(|c| sum(col("b").add(lit(c)))).collect();
        aggs.push(sum(lit(2.5).add(col("b"))));
        aggs.push(sum(col("b").sub(lit(3i64))));
        aggs.push(Expr::Aggregate {
            func: AggFunc::Mean,
            args: vec![col("b").add(lit(1i64))],
        });
        aggs.push(sum(col("c")));
        let plan =
            LogicalPlan::try_aggregate(values(&["a", "b", "c"], 4), vec![col("a")], aggs).unwrap();
        let rewritten = rewrite(&plan).unwrap();
        assert_eq!(rewritten.schema(), plan.schema());
        let LogicalPlan::Project { input, .. } = &rewritten else {
            panic!("expected a projection, got {rewritten:?}");
        };
        let LogicalPlan::Aggregate { aggs, .. } = input.as_ref() else {
            panic!("expected an aggregate, got {input:?}");
        };
        let calls: Vec<String> = aggs.iter().map(|a| a.unalias().to_string()).collect();
        assert_eq!(
            calls,
            ["sum(b)", "count(b)", "avg(b)", "sum(c)"],
            "{rewritten:?}"
        );
    }

    /// A product, a column plus a column, a decimal or a non-sum is left alone.
    #[test]
    fn other_aggregates_are_left_alone() {
        for a in [
            sum(col("b").mul(lit(2i64))),
            sum(col("b").add(col("c"))),
            sum(lit(1i64).sub(col("b"))),
            Expr::Aggregate {
                func: AggFunc::Max,
                args: vec![col("b").add(lit(1i64))],
            },
            sum(col("b").cast(DataType::Decimal128(10, 2)).add(lit(1.5))),
        ] {
            let plan =
                LogicalPlan::try_aggregate(values(&["a", "b", "c"], 4), vec![], vec![a]).unwrap();
            let same = rewrite(&plan).unwrap();
            assert!(
                matches!(same, LogicalPlan::Aggregate { .. }),
                "{plan:?} became {same:?}"
            );
        }
    }
}
