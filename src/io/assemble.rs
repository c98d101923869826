//! Assembling a scan's output batches from decoded file columns, and hive partition
//! pruning.
//!
//! A decoded batch holds the columns a file has, of those the scan needs. The
//! [`Assembler`] lines them up with the dataset: partition columns become constant
//! columns, columns the file lacks become nulls, types are cast to the dataset's. It
//! then applies every filter exactly (SQL semantics: a null predicate drops the row)
//! and projects to the output schema. Filters over one dictionary-read Parquet column
//! run first, on its distinct strings (`super::dictionary_filter`); the others run on
//! the rows that pass them. Memory: one batch at a time, plus its
//! filter mask; nothing is kept between batches.

use std::sync::Arc;

use arrow::array::{
    new_null_array, Array, ArrayRef, BooleanArray, RecordBatch, RecordBatchOptions,
};
use arrow::compute::kernels::boolean::and_kleene;
use arrow::compute::{filter_record_batch, FilterBuilder};
use arrow::datatypes::{DataType, Schema, SchemaRef};

use super::dataset::{DataFile, Dataset};
use super::dictionary_filter::{single_column, DictionaryPredicate};
use crate::error::{Error, Result};
use crate::expr::eval::evaluate_predicate;
use crate::expr::{Expr, ScalarValue};

/// Where a column of the working batch comes from, for one file.
#[derive(Debug, Clone)]
pub(crate) enum ColumnSource {
    Decoded(String),
    Constant(ScalarValue),
    Missing,
}

/// Turns decoded file columns into output batches; shared by all tasks.
#[derive(Debug)]
pub(crate) struct Assembler {
    /// Output columns, then the extra columns the filters read.
    pub work_schema: SchemaRef,
    pub output_schema: SchemaRef,
    pub output_in_work: Vec<usize>,
    pub filters: Vec<Expr>,
}

impl Assembler {
    /// Per-task state for the filters that may run on dictionaries: one entry per
    /// filter, `Some` for a filter over one column.
    fn dictionary_predicates(&self) -> Vec<Option<(usize, DictionaryPredicate)>> {
        self.filters
            .iter()
            .map(|f| {
                let name = single_column(f)?;
                let idx = self.work_schema.index_of(&name).ok()?;
                let field = Arc::new(self.work_schema.field(idx).clone());
                Some((idx, DictionaryPredicate::new(f.clone(), field)))
            })
            .collect()
    }

    fn finish(
        &self,
        layout: &[ColumnSource],
        decoded: &RecordBatch,
        dictionary_predicates: &mut [Option<(usize, DictionaryPredicate)>],
    ) -> Result<RecordBatch> {
        let n = decoded.num_rows();
        let mut columns = self
            .work_schema
            .fields()
            .iter()
            .zip(layout)
            .map(|(field, source)| column(field.data_type(), source, decoded, n))
            .collect::<Result<Vec<_>>>()?;
        // Filters over one dictionary-read column run on its distinct strings first;
        // the batch shrinks before any string is decoded.
        let mut done = vec![false; self.filters.len()];
        let mut mask: Option<BooleanArray> = None;
        for (i, entry) in dictionary_predicates.iter_mut().enumerate() {
            let Some((idx, predicate)) = entry else {
                continue;
            };
            if !matches!(columns[*idx].data_type(), DataType::Dictionary(..)) {
                continue;
            }
            let m = predicate.evaluate(&columns[*idx])?;
            done[i] = true;
            mask = Some(match mask {
                None => m,
                Some(a) => and_kleene(&a, &m)?,
            });
        }
        let mut rows = n;
        if let Some(m) = mask {
            let predicate = FilterBuilder::new(&m).optimize().build();
            rows = predicate.count();
            for c in columns.iter_mut() {
                *c = predicate.filter(c)?;
            }
        }
        for (c, field) in columns.iter_mut().zip(self.work_schema.fields()) {
            if c.data_type() != field.data_type() {
                *c = crate::expr::cast::cast_array(c, field.data_type())?;
            }
        }
        let options = RecordBatchOptions::new().with_row_count(Some(rows));
        let work =
            RecordBatch::try_new_with_options(Arc::clone(&self.work_schema), columns, &options)?;
        let mut mask: Option<BooleanArray> = None;
        for (f, _) in self.filters.iter().zip(&done).filter(|(_, d)| !**d) {
            let m = evaluate_predicate(f, &work)?;
            mask = Some(match mask {
                None => m,
                Some(a) => and_kleene(&a, &m)?,
            });
        }
        let work = match mask {
            Some(m) => filter_record_batch(&work, &m)?,
            None => work,
        };
        let columns: Vec<ArrayRef> = self
            .output_in_work
            .iter()
            .map(|&i| Arc::clone(work.column(i)))
            .collect();
        let options = RecordBatchOptions::new().with_row_count(Some(work.num_rows()));
        Ok(RecordBatch::try_new_with_options(
            Arc::clone(&self.output_schema),
            columns,
            &options,
        )?)
    }
}

/// `decoded`'s column for `source`, cast to `t`; a dictionary of `t` values (a
/// dictionary-read Parquet column) stays a dictionary until the filters have run.
fn column(
    t: &DataType,
    source: &ColumnSource,
    decoded: &RecordBatch,
    n: usize,
) -> Result<ArrayRef> {
    let array = match source {
        ColumnSource::Decoded(name) => match decoded.column_by_name(name) {
            Some(a) => Arc::clone(a),
            None => {
                return Err(Error::Internal(format!(
                    "decoded batch lacks column '{name}'"
                )))
            }
        },
        ColumnSource::Constant(ScalarValue::Null) | ColumnSource::Missing => {
            return Ok(new_null_array(t, n))
        }
        ColumnSource::Constant(v) => v.to_array(n),
    };
    if let DataType::Dictionary(_, value) = array.data_type() {
        if value.as_ref() == t {
            return Ok(array);
        }
    }
    crate::expr::cast::cast_array(&array, t)
}

/// The batches of one task, assembled, filtered and projected; empty ones are skipped.
pub(crate) struct AssembledIter {
    inner: Box<dyn Iterator<Item = Result<RecordBatch>> + Send>,
    layout: Arc<Vec<ColumnSource>>,
    assembler: Arc<Assembler>,
    dictionary_predicates: Vec<Option<(usize, DictionaryPredicate)>>,
}

impl AssembledIter {
    pub fn new(
        inner: Box<dyn Iterator<Item = Result<RecordBatch>> + Send>,
        layout: Arc<Vec<ColumnSource>>,
        assembler: Arc<Assembler>,
    ) -> Self {
        AssembledIter {
            inner,
            layout,
            dictionary_predicates: assembler.dictionary_predicates(),
            assembler,
        }
    }
}

impl Iterator for AssembledIter {
    type Item = Result<RecordBatch>;
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let decoded = match self.inner.next()? {
                Ok(b) => b,
                Err(e) => return Some(Err(e)),
            };
            let assembled =
                self.assembler
                    .finish(&self.layout, &decoded, &mut self.dictionary_predicates);
            match assembled {
                Ok(b) if b.num_rows() == 0 => continue,
                other => return Some(other),
            }
        }
    }
}

/// False if a partition-only filter is not true for this file's partition values.
pub(crate) fn partitions_may_match(dataset: &Dataset, file: &DataFile, filters: &[&Expr]) -> bool {
    if filters.is_empty() {
        return true;
    }
    let columns: Option<Vec<ArrayRef>> = dataset
        .partition_fields
        .iter()
        .zip(&file.partition_values)
        .map(|(f, v)| {
            column(
                f.data_type(),
                &ColumnSource::Constant(v.clone()),
                &empty_batch(),
                1,
            )
            .ok()
        })
        .collect();
    let schema = Arc::new(Schema::new(dataset.partition_fields.clone()));
    let options = RecordBatchOptions::new().with_row_count(Some(1));
    let Some(batch) =
        columns.and_then(|c| RecordBatch::try_new_with_options(schema, c, &options).ok())
    else {
        return true;
    };
    filters.iter().all(|f| match evaluate_predicate(f, &batch) {
        Ok(m) => m.is_valid(0) && m.value(0),
        // An error here resurfaces when the filter runs on the data.
        Err(_) => true,
    })
}

fn empty_batch() -> RecordBatch {
    RecordBatch::new_empty(Arc::new(Schema::empty()))
}

/// Where each working column comes from in `file`, and which file columns to decode.
pub(crate) fn file_layout(
    dataset: &Dataset,
    file: &DataFile,
    work_names: &[String],
) -> (Vec<ColumnSource>, Vec<usize>) {
    let mut projection = vec![];
    let layout = work_names
        .iter()
        .map(|name| {
            if let Some(k) = dataset
                .partition_fields
                .iter()
                .position(|f| f.name() == name)
            {
                let v = file
                    .partition_values
                    .get(k)
                    .cloned()
                    .unwrap_or(ScalarValue::Null);
                return ColumnSource::Constant(v);
            }
            match file.schema.index_of(name) {
                Ok(i) => {
                    projection.push(i);
                    ColumnSource::Decoded(name.clone())
                }
                Err(_) => ColumnSource::Missing,
            }
        })
        .collect();
    projection.sort_unstable();
    projection.dedup();
    (layout, projection)
}
