//! Accumulators over `arrow-row` encoded values, for every type: min/max (the encoding's
//! byte order is the sort order), first/last (with each row's source position), and
//! count(DISTINCT) (a hash set of encoded values per group). Memory is the encoded
//! bytes held per group, counted in `size()`.

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
            (Some(_), AggFunc::First) => order < self.order[g],
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
        if matches!(self.func, AggFunc::First | AggFunc::Last) {
            out.push(Arc::new(order));
        }
        Ok(out)
    }
    fn evaluate(&mut self) -> Result<ArrayRef> {
        self.order.clear();
        let values = std::mem::take(&mut self.values);
        self.bytes = 0;
        // Null groups decode through a stand-in row and are nulled afterwards.
        let valid: Vec<bool> = values.iter().map(|v| v.is_some()).collect();
        let Some(filler) = values.iter().flatten().next().cloned() else {
            return Ok(arrow::array::new_null_array(&self.output, values.len()));
        };
        let parser = self.converter.parser();
        let rows = values
            .iter()
            .map(|v| parser.parse(v.as_deref().unwrap_or(&filler)));
        let decoded = self.converter.convert_rows(rows)?.remove(0);
        let nulls = NullBuffer::union(Some(&NullBuffer::from_iter(valid)), decoded.nulls());
        let data = decoded.into_data().into_builder().nulls(nulls).build()?;
        Ok(cast(&arrow::array::make_array(data), &self.output)?)
    }
    fn size(&self) -> usize {
        self.values.capacity() * 24 + self.order.capacity() * 8 + self.bytes
    }
}

/// count(DISTINCT x): a set of encoded values per group; the partial state serialises
/// each set as length-prefixed items in one binary value.
pub(super) struct DistinctAcc {
    converter: RowConverter,
    sets: Vec<hashbrown::HashSet<Box<[u8]>>>,
    bytes: usize,
}

impl DistinctAcc {
    pub(super) fn try_new(arg: &DataType) -> Result<Self> {
        Ok(DistinctAcc {
            converter: RowConverter::new(vec![SortField::new(arg.clone())])?,
            sets: vec![],
            bytes: 0,
        })
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
        let rows = self.converter.convert_columns(&values[..1])?;
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
        Ok(Arc::new(Int64Array::from_iter_values(
            sets.iter().map(|s| s.len() as i64),
        )))
    }
    fn size(&self) -> usize {
        self.sets.capacity() * 48 + self.bytes
    }
}
