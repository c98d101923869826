//! Filters evaluated on dictionary-encoded string columns without decoding the strings.
//!
//! Parquet writers dictionary-encode low-cardinality string columns (`l_shipmode`,
//! `p_brand`, `c_mktsegment`): a row group holds each distinct string once and one
//! small integer key per row. Where every data page of such a column is
//! dictionary-encoded and a pushed filter reads that column alone, the Parquet scan
//! asks the reader for `Dictionary(Int32, Utf8)` instead of `Utf8`
//! ([`dictionary_read_columns`]). The assembler then:
//!
//! 1. evaluates each such filter once per distinct string: on the dictionary's values,
//!    plus one NULL for rows whose key is null ([`DictionaryPredicate`]); the answers
//!    are cached for as long as the reader hands out the same dictionary (one column
//!    chunk);
//! 2. maps the answers through the keys, one lookup per row, and filters the batch
//!    (for a dictionary column that moves keys only);
//! 3. decodes the surviving rows' strings (`cast` to `Utf8`), so that everything after
//!    the scan sees the dataset's types, and evaluates the other filters on them.
//!
//! Any row-wise predicate over one column gives the same answer for a row as for its
//! string, so the result is exact, NULL semantics included (a null answer drops the
//! row, as in SQL). Memory: the cached answers are one bit per distinct string.

use std::sync::Arc;

use arrow::array::{
    new_null_array, Array, ArrayRef, AsArray, BooleanArray, RecordBatch, RecordBatchOptions,
};
use arrow::buffer::{BooleanBuffer, NullBuffer};
use arrow::datatypes::{DataType, Field, Int32Type, Schema};
use parquet::arrow::arrow_reader::ArrowReaderMetadata;
use parquet::basic::Encoding;

use crate::error::Result;
use crate::expr::eval::evaluate_predicate;
use crate::expr::Expr;

/// The dictionary type a dictionary-read string column is decoded as.
pub(crate) fn dictionary_type() -> DataType {
    DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
}

/// The single column `filter` reads, if it reads exactly one.
pub(crate) fn single_column(filter: &Expr) -> Option<String> {
    let mut refs = filter.column_refs();
    (refs.len() == 1).then(|| refs.remove(0))
}

/// Root columns of `metadata` (among `projection`) worth reading as dictionaries:
/// `Utf8` columns that a single-column filter reads and whose every data page, in
/// every row group, is dictionary-encoded (so the reader never falls back to
/// rebuilding a dictionary from plain strings).
pub(crate) fn dictionary_read_columns(
    metadata: &ArrowReaderMetadata,
    projection: &[usize],
    filters: &[Expr],
) -> Vec<usize> {
    let schema = metadata.schema();
    let parquet_schema = metadata.parquet_schema();
    let groups = metadata.metadata().row_groups();
    let mut out: Vec<usize> = filters
        .iter()
        .filter_map(single_column)
        .filter_map(|name| schema.index_of(&name).ok())
        .filter(|root| projection.contains(root))
        .filter(|root| schema.field(*root).data_type() == &DataType::Utf8)
        .filter(|root| {
            let leaves: Vec<usize> = (0..parquet_schema.num_columns())
                .filter(|leaf| parquet_schema.get_column_root_idx(*leaf) == *root)
                .collect();
            leaves.len() == 1
                && !groups.is_empty()
                && groups.iter().all(|g| {
                    let c = g.column(leaves[0]);
                    c.dictionary_page_offset().is_some()
                        && c.page_encoding_stats_mask().is_some_and(|m| {
                            m.is_only(Encoding::RLE_DICTIONARY)
                                || m.is_only(Encoding::PLAIN_DICTIONARY)
                        })
                })
        })
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// A filter over one column, evaluated per distinct string of a dictionary.
#[derive(Debug)]
pub(crate) struct DictionaryPredicate {
    filter: Expr,
    /// The column's field as the filter expects it (its dataset type).
    field: Arc<Field>,
    /// The dictionary last seen and the answers for its values, then for NULL.
    cache: Option<(ArrayRef, BooleanArray)>,
}

impl DictionaryPredicate {
    pub fn new(filter: Expr, field: Arc<Field>) -> Self {
        DictionaryPredicate {
            filter,
            field,
            cache: None,
        }
    }

    /// The filter's answer for each row of `column`, a `Dictionary(Int32, _)` array
    /// whose values have the field's type: true, false or null.
    pub fn evaluate(&mut self, column: &ArrayRef) -> Result<BooleanArray> {
        let dict = column.as_dictionary::<Int32Type>();
        let values = dict.values();
        let fresh = match &self.cache {
            Some((v, _)) => !Arc::ptr_eq(v, values),
            None => true,
        };
        if fresh {
            let answers = self.answers(values)?;
            self.cache = Some((Arc::clone(values), answers));
        }
        let Some((_, answers)) = &self.cache else {
            return Ok(BooleanArray::new_null(column.len()));
        };
        let null_slot = answers.len() - 1;
        let keys = dict.keys();
        let slot = |i: usize| -> usize {
            if keys.is_valid(i) {
                (keys.value(i).max(0) as usize).min(null_slot)
            } else {
                null_slot
            }
        };
        let n = keys.len();
        let value = BooleanBuffer::collect_bool(n, |i| answers.value(slot(i)));
        let nulls = (answers.null_count() > 0).then(|| {
            NullBuffer::new(BooleanBuffer::collect_bool(n, |i| {
                answers.is_valid(slot(i))
            }))
        });
        Ok(BooleanArray::new(value, nulls))
    }

    /// The filter on each dictionary value, then on NULL.
    fn answers(&self, values: &ArrayRef) -> Result<BooleanArray> {
        let null = new_null_array(values.data_type(), 1);
        let all = arrow::compute::concat(&[values.as_ref(), null.as_ref()])?;
        let all = crate::expr::cast::cast_array(&all, self.field.data_type())?;
        let schema = Arc::new(Schema::new(vec![self
            .field
            .as_ref()
            .clone()
            .with_nullable(true)]));
        let options = RecordBatchOptions::new().with_row_count(Some(all.len()));
        let batch = RecordBatch::try_new_with_options(schema, vec![all], &options)?;
        evaluate_predicate(&self.filter, &batch)
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::{DictionaryArray, Int32Array, StringArray};

    use super::*;
    use crate::expr::{col, lit};

    fn dict(keys: Vec<Option<i32>>, values: &[&str]) -> ArrayRef {
        let values: ArrayRef = Arc::new(StringArray::from(values.to_vec()));
        Arc::new(DictionaryArray::new(Int32Array::from(keys), values))
    }

    /// Each answer equals the filter evaluated on the decoded strings.
    fn check(filter: Expr, column: &ArrayRef) {
        let field = Arc::new(Field::new("s", DataType::Utf8, true));
        let mut p = DictionaryPredicate::new(filter.clone(), Arc::clone(&field));
        let got = p.evaluate(column).unwrap();
        let plain = arrow::compute::cast(column, &DataType::Utf8).unwrap();
        let batch = RecordBatch::try_new(
            Arc::new(Schema::new(vec![field.as_ref().clone()])),
            vec![plain],
        )
        .unwrap();
        let want = evaluate_predicate(&filter, &batch).unwrap();
        assert_eq!(got, want, "{filter}");
    }

    #[test]
    fn answers_match_the_decoded_strings_nulls_included() {
        let column = dict(
            vec![Some(0), Some(2), None, Some(1), Some(2), Some(0)],
            &["MAIL", "SHIP", "AIR"],
        );
        check(col("s").eq(lit("SHIP")), &column);
        check(col("s").neq(lit("SHIP")), &column);
        check(col("s").is_null(), &column);
        check(
            col("s").is_not_null().and(col("s").neq(lit("AIR"))),
            &column,
        );
    }

    #[test]
    fn answers_are_recomputed_for_a_new_dictionary() {
        let field = Arc::new(Field::new("s", DataType::Utf8, true));
        let mut p = DictionaryPredicate::new(col("s").eq(lit("b")), field);
        let first = p
            .evaluate(&dict(vec![Some(0), Some(1)], &["a", "b"]))
            .unwrap();
        assert_eq!(first, BooleanArray::from(vec![false, true]));
        let second = p
            .evaluate(&dict(vec![Some(0), Some(1)], &["b", "a"]))
            .unwrap();
        assert_eq!(second, BooleanArray::from(vec![true, false]));
    }
}
