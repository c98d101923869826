//! Nested values (structs, lists, maps) as JSON text, for CSV output, which has no
//! nested form: arrow's CSV writer refuses such columns, and the CLI printed a header and
//! then failed. Each nested column becomes a text column of JSON values (`{"a":1,"b":null}`,
//! `[1,2]`), NULL keys written as `null`; other columns are untouched.
//!
//! Memory: the text of the nested columns of one batch.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, RecordBatch, StringBuilder};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::json::writer::{make_encoder, EncoderOptions};

use crate::error::Result;

/// Whether values of type `t` need JSON text in CSV.
pub fn is_nested(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Struct(_)
            | DataType::List(_)
            | DataType::LargeList(_)
            | DataType::FixedSizeList(..)
            | DataType::ListView(_)
            | DataType::LargeListView(_)
            | DataType::Map(..)
    )
}

/// `batch` with each nested column replaced by its values as JSON text (`batch` itself
/// when it has none).
pub fn nested_as_json(batch: &RecordBatch) -> Result<RecordBatch> {
    let schema = batch.schema();
    if !schema.fields().iter().any(|f| is_nested(f.data_type())) {
        return Ok(batch.clone());
    }
    let options = EncoderOptions::default().with_explicit_nulls(true);
    let mut fields = Vec::with_capacity(schema.fields().len());
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(fields.capacity());
    for (field, column) in schema.fields().iter().zip(batch.columns()) {
        if !is_nested(field.data_type()) {
            fields.push(Arc::clone(field));
            columns.push(Arc::clone(column));
            continue;
        }
        let mut encoder = make_encoder(field, column.as_ref(), &options)?;
        let mut text = StringBuilder::with_capacity(column.len(), column.len() * 16);
        let mut buf = Vec::new();
        for i in 0..column.len() {
            if column.is_null(i) {
                text.append_null();
                continue;
            }
            buf.clear();
            encoder.encode(i, &mut buf);
            text.append_value(String::from_utf8_lossy(&buf));
        }
        fields.push(Arc::new(Field::new(field.name(), DataType::Utf8, true)));
        columns.push(Arc::new(text.finish()));
    }
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{AsArray, Int64Array, ListArray, StructArray};
    use arrow::datatypes::Int64Type;

    #[test]
    fn structs_and_lists_become_json_text_with_explicit_nulls() {
        let list = ListArray::from_iter_primitive::<Int64Type, _, _>(vec![
            Some(vec![Some(1), None]),
            None,
        ]);
        let st = StructArray::from(vec![(
            Arc::new(Field::new("a", DataType::Int64, true)),
            Arc::new(Int64Array::from(vec![None, Some(2)])) as ArrayRef,
        )]);
        let batch = RecordBatch::try_from_iter(vec![
            ("id", Arc::new(Int64Array::from(vec![7, 8])) as ArrayRef),
            ("l", Arc::new(list) as ArrayRef),
            ("s", Arc::new(st) as ArrayRef),
        ])
        .unwrap();
        let out = nested_as_json(&batch).unwrap();
        assert_eq!(out.column(0).as_primitive::<Int64Type>().value(1), 8);
        let l = out.column(1).as_string::<i32>();
        assert_eq!(l.value(0), "[1,null]");
        assert!(l.is_null(1));
        let s = out.column(2).as_string::<i32>();
        assert_eq!(s.value(0), r#"{"a":null}"#);
        assert_eq!(s.value(1), r#"{"a":2}"#);
    }
}
