//! Accumulators over `arrow-row` encoded values, for every type: min/max (the encoding's
//! byte order is the sort order), first/last (with each row's source position),
//! arg_min/arg_max (the best encoded `val` and its encoded `arg`), and count/sum/avg
//! (DISTINCT) (a hash set of encoded values per group; sum and avg decode the sets at
//! the end and fold them with the plain aggregate). Memory is the encoded bytes held
//! per group, counted in `size()`.

use arrow::array::{Array, ArrayRef, AsArray, BinaryArray, BinaryBuilder, Int64Array};
use arrow::buffer::NullBuffer;
use arrow::compute::cast;
use arrow::datatypes::{DataType, Int64Type};
use arrow::row::{RowConverter, SortField};
use std::sync::Arc;

use super::{for_valid, grow, prim, GroupsAccumulator};
use crate::error::Result;
use crate::expr::AggFunc;

/// min/max/first/last over any type, on `arrow-row` encoded values.
pub(super) struct RowValueAcc {
    func: AggFunc,
    converter: RowConverter,
    values: Vec<Option<Box<[u8]>>>,
    order: Vec<i64>,
    bytes: usize,
    output: DataType,
}

impl RowValueAcc {
    pub(super) fn try_new(func: AggFunc, arg: &DataType, output: &DataType) -> Result<Self> {
        Ok(RowValueAcc {
            func,
            converter: RowConverter::new(vec![SortField::new(arg.clone())])?,
            values: vec![],
            order: vec![],
            bytes: 0,
            output: output.clone(),
        })
    }

    fn offer(&mut self, g: usize, bytes: &[u8], order: i64) {
        let replace = match (&self.values[g], self.func) {
            (None, _) => true,
            (Some(cur), AggFunc::Min) => bytes < cur.as_ref(),
            (Some(cur), AggFunc::Max) => bytes > cur.as_ref(),
            (Some(_), AggFunc::First | AggFunc::AnyValue) => order < self.order[g],
            (Some(_), _) => order > self.order[g],
        };
        if replace {
            self.bytes += bytes.len();
            if let Some(old) = self.values[g].replace(bytes.into()) {
                self.bytes -= old.len();
            }
            self.order[g] = order;
        }
    }

    fn grow(&mut self, n: usize) {
        grow(&mut self.values, n, None);
        grow(&mut self.order, n, 0);
    }

    fn emit_binary(&mut self) -> BinaryArray {
        self.bytes = 0;
        let values = std::mem::take(&mut self.values);
        values.iter().map(|v| v.as_deref()).collect()
    }
}

impl GroupsAccumulator for RowValueAcc {
    fn update(
        &mut self,
        values: &[ArrayRef],
        group_ids: &[u32],
        n: usize,
        order: &[i64],
    ) -> Result<()> {
        self.grow(n);
        let rows = self.converter.convert_columns(&values[..1])?;
        if matches!(self.func, AggFunc::First | AggFunc::Last) {
            // first/last keep nulls, as in DuckDB and Polars: the encoded row of a null decodes to null.
            for (i, &g) in group_ids.iter().enumerate() {
                self.offer(g as usize, rows.row(i).as_ref(), order[i]);
            }
        } else {
            for_valid(values[0].as_ref(), group_ids, |g, i| {
                self.offer(g, rows.row(i).as_ref(), order.get(i).copied().unwrap_or(0))
            });
        }
        Ok(())
    }
    fn merge(&mut self, states: &[ArrayRef], group_ids: &[u32], n: usize) -> Result<()> {
        self.grow(n);
        let v = states[0].as_binary::<i32>();
        let o = states.get(1).map(|o| prim::<Int64Type>(o).clone());
        for_valid(v, group_ids, |g, i| {
            self.offer(g, v.value(i), o.as_ref().map_or(0, |o| o.value(i)))
        });
        Ok(())
    }
    fn state(&mut self) -> Result<Vec<ArrayRef>> {
        let order = Int64Array::from(std::mem::take(&mut self.order));
        let values = self.emit_binary();
        let mut out: Vec<ArrayRef> = vec![Arc::new(values)];
        if matches!(
            self.func,
            AggFunc::First | AggFunc::Last | AggFunc::AnyValue
        ) {
            out.push(Arc::new(order));
        }
        Ok(out)
    }
    fn evaluate(&mut self) -> Result<ArrayRef> {
        self.order.clear();
        let values = std::mem::take(&mut self.values);
        self.bytes = 0;
        decode(&self.converter, &values, &self.output)
    }
    fn size(&self) -> usize {
        self.values.capacity() * 24 + self.order.capacity() * 8 + self.bytes
    }
}

/// Decodes one encoded value per group (`None`: a null result) as an `output` array.
fn decode(
    converter: &RowConverter,
    values: &[Option<Box<[u8]>>],
    output: &DataType,
) -> Result<ArrayRef> {
    // Null groups decode through a stand-in row and are nulled afterwards.
    let valid: Vec<bool> = values.iter().map(|v| v.is_some()).collect();
    let Some(filler) = values.iter().flatten().next().cloned() else {
        return Ok(arrow::array::new_null_array(output, values.len()));
    };
    let parser = converter.parser();
    let rows = values
        .iter()
        .map(|v| parser.parse(v.as_deref().unwrap_or(&filler)));
    let decoded = converter.convert_rows(rows)?.remove(0);
    let nulls = NullBuffer::union(Some(&NullBuffer::from_iter(valid)), decoded.nulls());
    let data = decoded.into_data().into_builder().nulls(nulls).build()?;
    Ok(cast(&arrow::array::make_array(data), output)?)
}

/// A group's best encoded `val` and the encoded `arg` of its row.
type Best = (Box<[u8]>, Box<[u8]>);

/// arg_min(arg, val) / arg_max(arg, val): per group the best encoded `val` so far and
/// the encoded `arg` of its row. Rows where either is null are skipped (DuckDB's rule).
pub(super) struct ArgExtremeAcc {
    max: bool,
    arg_converter: RowConverter,
    /// Made from the first `val` column seen (the state holds encoded values only).
    val_converter: Option<RowConverter>,
    best: Vec<Option<Best>>,
    bytes: usize,
    output: DataType,
}

impl ArgExtremeAcc {
    pub(super) fn try_new(func: AggFunc, arg: &DataType, output: &DataType) -> Result<Self> {
        Ok(ArgExtremeAcc {
            max: func == AggFunc::ArgMax,
            arg_converter: RowConverter::new(vec![SortField::new(arg.clone())])?,
            val_converter: None,
            best: vec![],
            bytes: 0,
            output: output.clone(),
        })
    }

    fn offer(&mut self, g: usize, val: &[u8], arg: &[u8]) {
        let better = match &self.best[g] {
            None => true,
            Some((cur, _)) if self.max => val > cur.as_ref(),
            Some((cur, _)) => val < cur.as_ref(),
        };
        if better {
            self.bytes += val.len() + arg.len();
            if let Some((v, a)) = self.best[g].replace((val.into(), arg.into())) {
                self.bytes -= v.len() + a.len();
            }
        }
    }
}

impl GroupsAccumulator for ArgExtremeAcc {
    fn update(
        &mut self,
        values: &[ArrayRef],
        group_ids: &[u32],
        n: usize,
        _: &[i64],
    ) -> Result<()> {
        grow(&mut self.best, n, None);
        // One encoding for every batch: strings of any kind as Utf8, dictionaries decoded.
        let val = cast(&values[1], &crate::expr::value_type(values[1].data_type()))?;
        if self.val_converter.is_none() {
            self.val_converter = Some(RowConverter::new(vec![SortField::new(
                val.data_type().clone(),
            )])?);
        }
        let Some(val_converter) = &self.val_converter else {
            return Ok(());
        };
        let vals = val_converter.convert_columns(&[Arc::clone(&val)])?;
        let args = self.arg_converter.convert_columns(&values[..1])?;
        let both = NullBuffer::union(
            values[0].logical_nulls().as_ref(),
            val.logical_nulls().as_ref(),
        );
        for (i, &g) in group_ids.iter().enumerate() {
            if both.as_ref().is_none_or(|b| b.is_valid(i)) {
                self.offer(g as usize, vals.row(i).as_ref(), args.row(i).as_ref());
            }
        }
        Ok(())
    }
    fn merge(&mut self, states: &[ArrayRef], group_ids: &[u32], n: usize) -> Result<()> {
        grow(&mut self.best, n, None);
        let (v, a) = (states[0].as_binary::<i32>(), states[1].as_binary::<i32>());
        for_valid(v, group_ids, |g, i| self.offer(g, v.value(i), a.value(i)));
        Ok(())
    }
    fn state(&mut self) -> Result<Vec<ArrayRef>> {
        self.bytes = 0;
        let best = std::mem::take(&mut self.best);
        let vals: BinaryArray = best
            .iter()
            .map(|b| b.as_ref().map(|(v, _)| v.as_ref()))
            .collect();
        let args: BinaryArray = best
            .iter()
            .map(|b| b.as_ref().map(|(_, a)| a.as_ref()))
            .collect();
        Ok(vec![Arc::new(vals), Arc::new(args)])
    }
    fn evaluate(&mut self) -> Result<ArrayRef> {
        self.bytes = 0;
        let args: Vec<Option<Box<[u8]>>> = std::mem::take(&mut self.best)
            .into_iter()
            .map(|b| b.map(|(_, a)| a))
            .collect();
        decode(&self.arg_converter, &args, &self.output)
    }
    fn size(&self) -> usize {
        self.best.capacity() * 40 + self.bytes
    }
}

/// count(DISTINCT x), and sum/avg(DISTINCT x): a set of encoded values per group; the
/// partial state serialises each set as length-prefixed items in one binary value.
pub(super) struct DistinctAcc {
    /// CountDistinct, SumDistinct or MeanDistinct.
    func: AggFunc,
    arg: DataType,
    output: DataType,
    converter: RowConverter,
    sets: Vec<hashbrown::HashSet<Box<[u8]>>>,
    bytes: usize,
}

impl DistinctAcc {
    pub(super) fn try_new(func: AggFunc, arg: &DataType, output: &DataType) -> Result<Self> {
        Ok(DistinctAcc {
            func,
            arg: arg.clone(),
            output: output.clone(),
            converter: RowConverter::new(vec![SortField::new(arg.clone())])?,
            sets: vec![],
            bytes: 0,
        })
    }

    /// sum/avg over each group's distinct values: the sets decoded, then folded by the
    /// plain aggregate (so decimals stay exact and doubles compensated, as in `sum`).
    fn fold_sets(&self, sets: &[hashbrown::HashSet<Box<[u8]>>]) -> Result<ArrayRef> {
        let plain = match self.func {
            AggFunc::MeanDistinct => AggFunc::Mean,
            _ => AggFunc::Sum,
        };
        let parser = self.converter.parser();
        let mut group_ids = vec![];
        let mut rows = vec![];
        for (g, set) in sets.iter().enumerate() {
            for item in set {
                group_ids.push(g as u32);
                rows.push(parser.parse(item));
            }
        }
        let values = self.converter.convert_rows(rows)?.remove(0);
        let input = super::input_type(plain, &self.arg);
        let mut acc = super::create_accumulator(plain, &input, &self.output)?;
        acc.update(&[cast(&values, &input)?], &group_ids, sets.len(), &[])?;
        acc.evaluate()
    }
    fn insert(&mut self, g: usize, item: &[u8]) {
        if !self.sets[g].contains(item) {
            self.bytes += item.len() + 32;
            self.sets[g].insert(item.into());
        }
    }
}

impl GroupsAccumulator for DistinctAcc {
    fn update(
        &mut self,
        values: &[ArrayRef],
        group_ids: &[u32],
        n: usize,
        _: &[i64],
    ) -> Result<()> {
        grow(&mut self.sets, n, Default::default());
        let canonical = crate::expr::float_keys::canonical_floats(&values[0]);
        let rows = self.converter.convert_columns(&[canonical])?;
        for_valid(values[0].as_ref(), group_ids, |g, i| {
            self.insert(g, rows.row(i).as_ref())
        });
        Ok(())
    }
    fn merge(&mut self, states: &[ArrayRef], group_ids: &[u32], n: usize) -> Result<()> {
        grow(&mut self.sets, n, Default::default());
        let s = states[0].as_binary::<i32>();
        for (i, &g) in group_ids.iter().enumerate() {
            let mut buf = s.value(i);
            while buf.len() >= 4 {
                let len = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
                let end = (4 + len).min(buf.len());
                self.insert(g as usize, &buf[4..end]);
                buf = &buf[end..];
            }
        }
        Ok(())
    }
    fn state(&mut self) -> Result<Vec<ArrayRef>> {
        self.bytes = 0;
        let mut b = BinaryBuilder::new();
        for set in std::mem::take(&mut self.sets) {
            let mut buf = Vec::new();
            for item in set {
                buf.extend_from_slice(&(item.len() as u32).to_le_bytes());
                buf.extend_from_slice(&item);
            }
            b.append_value(&buf);
        }
        Ok(vec![Arc::new(b.finish())])
    }
    fn evaluate(&mut self) -> Result<ArrayRef> {
        self.bytes = 0;
        let sets = std::mem::take(&mut self.sets);
        if self.func != AggFunc::CountDistinct {
            return self.fold_sets(&sets);
        }
        Ok(Arc::new(Int64Array::from_iter_values(
            sets.iter().map(|s| s.len() as i64),
        )))
    }
    fn size(&self) -> usize {
        self.sets.capacity() * 48 + self.bytes
    }
}
