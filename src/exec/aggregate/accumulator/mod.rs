//! Group-indexed accumulators: one object holds the running state of one aggregate for
//! *all* groups of a hash table, in columnar vectors indexed by group id (DataFusion's
//! `GroupsAccumulator` idea), so updating costs a tight loop per batch, not a virtual
//! call per row.
//!
//! Each accumulator can emit its partial state as Arrow arrays ([`GroupsAccumulator::state`])
//! and merge such arrays back ([`GroupsAccumulator::merge`]). That state is what the
//! hash aggregate spills, and what a distributed run would ship between the partial and
//! the final phase (DESIGN §6). [`state_fields`] fixes its schema.
//!
//! Values whose type has no specialised accumulator (strings, dates, decimals, booleans)
//! are handled in `arrow-row` encoding, whose byte order equals the sort order, so one
//! implementation of min/max/first/last/count_distinct serves every type.

mod decimal;
mod encoded;
mod hyperloglog;
mod numeric;
mod quantile;
mod string_agg;

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Float64Array};
use arrow::buffer::NullBuffer;
use arrow::datatypes::{DataType, Field};

use self::decimal::{MeanDecimal, SumDecimal};
use self::encoded::{ArgExtremeAcc, DistinctAcc, RowValueAcc};
use self::hyperloglog::HyperLogLogAcc;
use self::numeric::{CorrAcc, CountAcc, MeanAcc, MinMaxF64, MinMaxI64, SumF64, SumI64, VarAcc};
use self::quantile::QuantileAcc;
use self::string_agg::StringAggAcc;
use crate::error::Result;
use crate::expr::AggFunc;

/// The running state of one aggregate over all groups of a table.
pub trait GroupsAccumulator: Send + Sync {
    /// Folds input rows in: row `i` belongs to group `group_ids[i]`; `order[i]` is its
    /// position in source order (used by first/last).
    fn update(
        &mut self,
        values: &[ArrayRef],
        group_ids: &[u32],
        num_groups: usize,
        order: &[i64],
    ) -> Result<()>;
    /// Folds partial states (arrays shaped like [`state_fields`]) in.
    fn merge(&mut self, states: &[ArrayRef], group_ids: &[u32], num_groups: usize) -> Result<()>;
    /// Emits the partial state of every group and resets.
    fn state(&mut self) -> Result<Vec<ArrayRef>>;
    /// Emits the final value of every group and resets.
    fn evaluate(&mut self) -> Result<ArrayRef>;
    /// Bytes held.
    fn size(&self) -> usize;
}

/// Decimals of at most this many digits are summed exactly, as `i128`: each value fits
/// an `i64`, so even 2^63 of them cannot overflow the sum (DuckDB sums decimals exactly
/// too). Wider decimals are summed as doubles.
const DECIMAL_SUM_DIGITS: u8 = 18;

/// The precision of an exact decimal sum's partial state.
const DECIMAL_SUM_PRECISION: u8 = 38;

/// The scale of `arg` when `sum` over it is computed exactly in the decimal domain.
fn exact_decimal_sum(arg: &DataType) -> Option<i8> {
    match arg {
        DataType::Decimal128(p, s) if *p <= DECIMAL_SUM_DIGITS => Some(*s),
        _ => None,
    }
}

/// The type an aggregate's input is cast to before `update`.
pub fn input_type(func: AggFunc, arg: &DataType) -> DataType {
    use AggFunc::*;
    match func {
        Sum if arg.is_integer() || *arg == DataType::Null => DataType::Int64,
        Sum | Mean if exact_decimal_sum(arg).is_some() => arg.clone(),
        Sum | Mean | Std | Var | StdPop | VarPop | Corr | Median | QuantileCont(_) => {
            DataType::Float64
        }
        Min | Max if arg.is_integer() => DataType::Int64,
        Min | Max if arg.is_floating() => DataType::Float64,
        StringAgg(_) => DataType::Utf8,
        ArgMin | ArgMax => crate::expr::value_type(arg),
        _ => arg.clone(),
    }
}

/// The type argument `i` of `func` is cast to (its first argument's type being
/// `first`), or `None` when it is taken as it comes: arg_min/arg_max's `val` and
/// string_agg's ORDER BY key are compared in their own types.
pub fn arg_input_type(func: AggFunc, i: usize, first: &DataType) -> Option<DataType> {
    use AggFunc::*;
    match (func, i) {
        (_, 0) | (Corr, _) => Some(input_type(func, first)),
        (StringAgg(_), 1) => Some(DataType::Utf8),
        _ => None,
    }
}

/// The partial-state fields of an aggregate named `name`.
pub fn state_fields(func: AggFunc, arg: &DataType, name: &str) -> Vec<Field> {
    use AggFunc::*;
    let f = |suffix: &str, t: DataType| Field::new(format!("{name}#{suffix}"), t, true);
    if let (Sum | Mean, Some(scale)) = (func, exact_decimal_sum(arg)) {
        let mut fields = vec![f("sum", DataType::Decimal128(DECIMAL_SUM_PRECISION, scale))];
        if func == Mean {
            fields.push(f("count", DataType::Int64));
        }
        return fields;
    }
    match func {
        CountStar | Count => vec![f("count", DataType::Int64)],
        Sum if input_type(func, arg) == DataType::Float64 => {
            vec![f("sum", DataType::Float64), f("comp", DataType::Float64)]
        }
        Sum => vec![f("sum", input_type(func, arg))],
        Mean => vec![f("sum", DataType::Float64), f("count", DataType::Int64)],
        Std | Var | StdPop | VarPop => vec![
            f("count", DataType::Int64),
            f("mean", DataType::Float64),
            f("m2", DataType::Float64),
        ],
        Corr => ["n", "mx", "my", "m2x", "m2y", "cxy"]
            .iter()
            .map(|s| f(s, DataType::Float64))
            .collect(),
        Min | Max if arg.is_integer() => vec![f("value", DataType::Int64)],
        Min | Max if arg.is_floating() => vec![f("value", DataType::Float64)],
        Min | Max => vec![f("value", DataType::Binary)],
        First | Last | AnyValue => vec![f("value", DataType::Binary), f("order", DataType::Int64)],
        CountDistinct | SumDistinct | MeanDistinct => vec![f("set", DataType::Binary)],
        Median | QuantileCont(_) => vec![f("values", DataType::Binary)],
        ArgMin | ArgMax => vec![f("val", DataType::Binary), f("arg", DataType::Binary)],
        StringAgg(_) => vec![f("items", DataType::Binary), f("sep", DataType::Utf8)],
        ApproxCountDistinct => vec![f("sketch", DataType::Binary)],
    }
}

/// A new accumulator for `func` over an argument of type `arg`, producing `output`.
pub fn create_accumulator(
    func: AggFunc,
    arg: &DataType,
    output: &DataType,
) -> Result<Box<dyn GroupsAccumulator>> {
    use AggFunc::*;
    Ok(match func {
        CountStar => Box::new(CountAcc {
            counts: vec![],
            star: true,
        }),
        Count => Box::new(CountAcc {
            counts: vec![],
            star: false,
        }),
        Sum if input_type(func, arg) == DataType::Int64 => Box::new(SumI64 {
            sums: vec![],
            seen: vec![],
        }),
        Sum => match exact_decimal_sum(arg) {
            Some(scale) => Box::new(SumDecimal::new(scale)),
            None => Box::new(SumF64 {
                sums: vec![],
                comps: vec![],
                seen: vec![],
            }),
        },
        Mean => match exact_decimal_sum(arg) {
            Some(scale) => Box::new(MeanDecimal::new(scale)),
            None => Box::new(MeanAcc {
                sums: vec![],
                counts: vec![],
            }),
        },
        Std | Var | StdPop | VarPop => Box::new(VarAcc {
            n: vec![],
            mean: vec![],
            m2: vec![],
            std: matches!(func, Std | StdPop),
            population: matches!(func, StdPop | VarPop),
        }),
        Corr => Box::new(CorrAcc { s: vec![] }),
        Min | Max if arg.is_integer() => Box::new(MinMaxI64 {
            v: vec![],
            seen: vec![],
            max: func == Max,
            output: output.clone(),
        }),
        Min | Max if arg.is_floating() => Box::new(MinMaxF64 {
            v: vec![],
            max: func == Max,
            output: output.clone(),
        }),
        Min | Max | First | Last | AnyValue => Box::new(RowValueAcc::try_new(func, arg, output)?),
        CountDistinct | SumDistinct | MeanDistinct => {
            Box::new(DistinctAcc::try_new(func, arg, output)?)
        }
        Median | QuantileCont(_) => Box::new(QuantileAcc::new(func.fraction().unwrap_or(0.5))),
        ArgMin | ArgMax => Box::new(ArgExtremeAcc::try_new(func, arg, output)?),
        StringAgg(order) => Box::new(StringAggAcc::new(order)),
        ApproxCountDistinct => Box::new(HyperLogLogAcc::try_new(arg)?),
    })
}

fn grow<T: Clone>(v: &mut Vec<T>, n: usize, init: T) {
    if v.len() < n {
        v.resize(n, init);
    }
}

fn prim<T: arrow::datatypes::ArrowPrimitiveType>(a: &ArrayRef) -> &arrow::array::PrimitiveArray<T> {
    a.as_primitive::<T>()
}

/// Calls `f(group, row)` for every non-null row.
fn for_valid(a: &dyn Array, group_ids: &[u32], mut f: impl FnMut(usize, usize)) {
    match a.logical_nulls() {
        None => group_ids
            .iter()
            .enumerate()
            .for_each(|(i, &g)| f(g as usize, i)),
        Some(n) => group_ids
            .iter()
            .enumerate()
            .filter(|(i, _)| n.is_valid(*i))
            .for_each(|(i, &g)| f(g as usize, i)),
    }
}

fn nullable_from(values: Vec<f64>, valid: impl Iterator<Item = bool>) -> ArrayRef {
    let nulls = NullBuffer::from_iter(valid);
    Arc::new(Float64Array::new(values.into(), Some(nulls)))
}
