//! Group key encoding: every group key becomes one byte string, hashed and compared
//! as bytes by the hash table and stored as the `#key` Binary column of spilled state.
//!
//! * One string key: the string's own bytes, with no copy; NULL is the single byte
//!   `0xFF`, which never occurs in UTF-8, so it cannot collide with a value.
//! * One integer-like key (integers up to 32 bits and Int64, dates, timestamps): 9 bytes,
//!   a validity byte and the value as little-endian i64.
//! * Anything else (several keys, floats, booleans, decimals): `arrow-row` encoding,
//!   floats canonical first (`-0.0` as `0.0`, one NaN: [`crate::expr::float_keys`]).
//!
//! The single-column forms skip `arrow-row`'s per-row encoding work (DataFusion keeps
//! similar specialised group-value stores); the choice depends only on the key types,
//! so the partial and final phases always agree.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BinaryArray, Int64Array, StringArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Int64Type};
use arrow::row::{RowConverter, Rows, SortField};

use crate::error::Result;
use crate::expr::float_keys::canonical_keys;

const NULL_STRING: &[u8] = &[0xFF];
const INT_WIDTH: usize = 9;

/// How the keys of one aggregation are encoded.
#[derive(Debug)]
pub enum KeyCodec {
    Row(RowConverter),
    Utf8 { output: DataType },
    Int { output: DataType },
}

/// The encoded keys of one batch.
pub enum EncodedKeys {
    Rows(Rows),
    Utf8(StringArray),
    Int(Vec<u8>),
}

impl EncodedKeys {
    /// The key of row `i`.
    #[inline]
    pub fn key(&self, i: usize) -> &[u8] {
        match self {
            EncodedKeys::Rows(r) => r.row(i).data(),
            EncodedKeys::Utf8(a) => {
                if a.is_valid(i) {
                    a.value(i).as_bytes()
                } else {
                    NULL_STRING
                }
            }
            EncodedKeys::Int(buf) => &buf[i * INT_WIDTH..(i + 1) * INT_WIDTH],
        }
    }
}

fn int_like(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::UInt8
            | DataType::UInt16
            | DataType::UInt32
            | DataType::Date32
            | DataType::Date64
            | DataType::Timestamp(_, _)
    )
}

impl KeyCodec {
    /// The codec for keys of `types`.
    pub fn try_new(types: &[DataType]) -> Result<Self> {
        Ok(match types {
            [t @ (DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)] => {
                KeyCodec::Utf8 { output: t.clone() }
            }
            [t] if int_like(t) => KeyCodec::Int { output: t.clone() },
            _ => KeyCodec::Row(RowConverter::new(
                types.iter().map(|t| SortField::new(t.clone())).collect(),
            )?),
        })
    }

    /// Encodes the key columns of one batch.
    pub fn encode(&self, cols: &[ArrayRef]) -> Result<EncodedKeys> {
        Ok(match self {
            KeyCodec::Row(c) => EncodedKeys::Rows(c.convert_columns(&canonical_keys(cols))?),
            KeyCodec::Utf8 { .. } => {
                let a = cast(&cols[0], &DataType::Utf8)?;
                EncodedKeys::Utf8(a.as_string::<i32>().clone())
            }
            KeyCodec::Int { .. } => {
                let a = cast(&cols[0], &DataType::Int64)?;
                let a = a.as_primitive::<Int64Type>();
                let mut buf = vec![0u8; a.len() * INT_WIDTH];
                for (i, chunk) in buf.chunks_exact_mut(INT_WIDTH).enumerate() {
                    if a.is_valid(i) {
                        chunk[0] = 1;
                        chunk[1..].copy_from_slice(&a.value(i).to_le_bytes());
                    }
                }
                EncodedKeys::Int(buf)
            }
        })
    }

    /// Decodes stored keys back into key columns.
    pub fn decode(&self, keys: &BinaryArray) -> Result<Vec<ArrayRef>> {
        Ok(match self {
            KeyCodec::Row(c) => {
                let parser = c.parser();
                c.convert_rows((0..keys.len()).map(|i| parser.parse(keys.value(i))))?
            }
            KeyCodec::Utf8 { output } => {
                let a: StringArray = (0..keys.len())
                    .map(|i| {
                        let k = keys.value(i);
                        if k == NULL_STRING {
                            Ok(None)
                        } else {
                            std::str::from_utf8(k).map(Some).map_err(|e| {
                                crate::error::Error::Internal(format!(
                                    "group key is not UTF-8: {e}"
                                ))
                            })
                        }
                    })
                    .collect::<Result<_>>()?;
                vec![cast(&(Arc::new(a) as ArrayRef), output)?]
            }
            KeyCodec::Int { output } => {
                let a: Int64Array = (0..keys.len())
                    .map(|i| {
                        let k = keys.value(i);
                        (k.len() == INT_WIDTH && k[0] == 1).then(|| {
                            let mut b = [0u8; 8];
                            b.copy_from_slice(&k[1..]);
                            i64::from_le_bytes(b)
                        })
                    })
                    .collect();
                vec![cast(&(Arc::new(a) as ArrayRef), output)?]
            }
        })
    }
}
