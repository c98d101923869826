//! `string_agg(x, sep [ORDER BY key])`: per group, every non-null value as text with a
//! sort key, joined by `sep` at the end.
//!
//! The key is the row's source position (big-endian, so byte order is input order)
//! when there is no ORDER BY, else the `arrow-row` encoding of the ORDER BY key with its
//! direction and null placement; ties keep the order they were met in. The partial
//! state is one binary value per group (length-prefixed key and text pairs) and the
//! separator, so partial states from spill files or other processes merge exactly.
//!
//! Memory: all the text of a group is held until the end (it is the result); `size()`
//! counts it, so the hash aggregate spills partial states when the budget runs short.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BinaryBuilder, StringArray, StringBuilder};
use arrow::compute::SortOptions;
use arrow::row::{RowConverter, SortField};

use super::{grow, GroupsAccumulator};
use crate::error::{Error, Result};
use crate::expr::AggOrder;

/// Bytes counted per held item beyond its key and text.
const ITEM_OVERHEAD: usize = 40;

/// A value's sort key and its text.
type Item = (Box<[u8]>, Box<str>);

pub(super) struct StringAggAcc {
    order: Option<AggOrder>,
    /// Encodes the ORDER BY key; made from the first key column seen.
    key_converter: Option<RowConverter>,
    items: Vec<Vec<Item>>,
    sep: Option<String>,
    bytes: usize,
}

impl StringAggAcc {
    pub(super) fn new(order: Option<AggOrder>) -> Self {
        StringAggAcc {
            order,
            key_converter: None,
            items: vec![],
            sep: None,
            bytes: 0,
        }
    }

    fn push(&mut self, g: usize, key: &[u8], text: &str) {
        self.bytes += key.len() + text.len() + ITEM_OVERHEAD;
        self.items[g].push((key.into(), text.into()));
    }

    fn learn_separator(&mut self, seps: &StringArray) {
        if self.sep.is_none() {
            self.sep = seps.iter().flatten().next().map(str::to_string);
        }
    }

    /// The encoded ORDER BY key of every row of `key`.
    fn keys(&mut self, key: &ArrayRef, order: AggOrder) -> Result<arrow::row::Rows> {
        if self.key_converter.is_none() {
            let options = SortOptions {
                descending: order.descending,
                nulls_first: order.nulls_first,
            };
            let field = SortField::new_with_options(key.data_type().clone(), options);
            self.key_converter = Some(RowConverter::new(vec![field])?);
        }
        let converter = self
            .key_converter
            .as_ref()
            .ok_or_else(|| Error::Internal("string_agg key encoder missing".into()))?;
        Ok(converter.convert_columns(&[Arc::clone(key)])?)
    }
}

impl GroupsAccumulator for StringAggAcc {
    fn update(
        &mut self,
        values: &[ArrayRef],
        group_ids: &[u32],
        n: usize,
        order: &[i64],
    ) -> Result<()> {
        grow(&mut self.items, n, vec![]);
        let text = values[0].as_string::<i32>();
        self.learn_separator(values[1].as_string::<i32>());
        let keys = match (self.order, values.get(2)) {
            (Some(o), Some(key)) => Some(self.keys(key, o)?),
            _ => None,
        };
        for (i, &g) in group_ids.iter().enumerate() {
            if text.is_null(i) {
                continue;
            }
            match &keys {
                Some(k) => self.push(g as usize, k.row(i).as_ref(), text.value(i)),
                None => {
                    let position = order.get(i).copied().unwrap_or(0);
                    self.push(g as usize, &position.to_be_bytes(), text.value(i))
                }
            }
        }
        Ok(())
    }
    fn merge(&mut self, states: &[ArrayRef], group_ids: &[u32], n: usize) -> Result<()> {
        grow(&mut self.items, n, vec![]);
        self.learn_separator(states[1].as_string::<i32>());
        let packed = states[0].as_binary::<i32>();
        for (i, &g) in group_ids.iter().enumerate() {
            if packed.is_null(i) {
                continue;
            }
            let mut buf = packed.value(i);
            while let Some((key, rest)) = take_prefixed(buf) {
                let Some((text, rest)) = take_prefixed(rest) else {
                    break;
                };
                let text = std::str::from_utf8(text)
                    .map_err(|e| Error::Internal(format!("string_agg state: {e}")))?;
                self.push(g as usize, key, text);
                buf = rest;
            }
        }
        Ok(())
    }
    fn state(&mut self) -> Result<Vec<ArrayRef>> {
        self.bytes = 0;
        let items = std::mem::take(&mut self.items);
        let mut packed = BinaryBuilder::new();
        let mut seps = StringBuilder::new();
        for group in items {
            let mut buf = vec![];
            for (key, text) in &group {
                put_prefixed(&mut buf, key);
                put_prefixed(&mut buf, text.as_bytes());
            }
            packed.append_value(&buf);
            seps.append_option(self.sep.as_deref());
        }
        Ok(vec![Arc::new(packed.finish()), Arc::new(seps.finish())])
    }
    fn evaluate(&mut self) -> Result<ArrayRef> {
        self.bytes = 0;
        let sep = self.sep.as_deref().unwrap_or(",");
        let mut out = StringBuilder::new();
        for mut group in std::mem::take(&mut self.items) {
            if group.is_empty() {
                out.append_null();
                continue;
            }
            group.sort_by(|a, b| a.0.cmp(&b.0));
            let texts: Vec<&str> = group.iter().map(|(_, t)| t.as_ref()).collect();
            out.append_value(texts.join(sep));
        }
        Ok(Arc::new(out.finish()))
    }
    fn size(&self) -> usize {
        self.items.capacity() * 24 + self.bytes
    }
}

fn put_prefixed(buf: &mut Vec<u8>, bytes: &[u8]) {
    buf.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    buf.extend_from_slice(bytes);
}

/// A length-prefixed item and the bytes after it.
fn take_prefixed(buf: &[u8]) -> Option<(&[u8], &[u8])> {
    let len = u32::from_le_bytes(buf.get(..4)?.try_into().ok()?) as usize;
    let end = 4usize.checked_add(len)?;
    Some((buf.get(4..end)?, &buf[end..]))
}
