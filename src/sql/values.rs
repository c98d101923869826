//! `VALUES (…), (…)` as a query or a FROM item (`FROM (VALUES (1, 'a')) t(x, y)`).
//!
//! Each cell is an expression over no columns, evaluated once at plan time; the column
//! type is what the rows' types meet at (as for UNION: integers with doubles are
//! doubles, NULL takes the other rows' type). Columns are named `col0`, `col1`, … as in
//! DuckDB; an alias list (`AS t(x, y)`) renames them. The rows live in the plan, so
//! their memory is the size of the SQL text's values; nothing spills.

use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema};
use sqlparser::ast;

use super::scope::{Relations, Scope};
use crate::error::{Error, Result};
use crate::expr::cast::cast_array;
use crate::expr::eval::evaluate;
use crate::expr::types::common_type;
use crate::plan::LogicalPlan;

/// The plan of a VALUES list.
pub(super) fn plan_values(values: &ast::Values) -> Result<LogicalPlan> {
    let width = values.rows.first().map_or(0, |r| r.len());
    if width == 0 {
        return Err(Error::Sql("VALUES needs at least one value per row".into()));
    }
    let empty = Schema::empty();
    let relations = Relations::default();
    let scope = Scope::over(&empty, &relations, &[]);
    let one_row = RecordBatch::try_new_with_options(
        Arc::new(Schema::empty()),
        vec![],
        &arrow::array::RecordBatchOptions::new().with_row_count(Some(1)),
    )?;
    let mut columns: Vec<Vec<ArrayRef>> = vec![vec![]; width];
    for (r, row) in values.rows.iter().enumerate() {
        if row.len() != width {
            return Err(Error::Sql(format!(
                "VALUES row {} has {} values, the first row has {width}",
                r + 1,
                row.len()
            )));
        }
        for (c, cell) in row.iter().enumerate() {
            let e = scope.expr(cell)?;
            columns[c].push(evaluate(&e, &one_row)?);
        }
    }
    let mut fields = vec![];
    let mut arrays = vec![];
    for (c, cells) in columns.into_iter().enumerate() {
        let mut t = DataType::Null;
        for a in &cells {
            t = common_type(&t, a.data_type()).ok_or_else(|| {
                Error::Schema(format!(
                    "VALUES column {} mixes {t} and {}; CAST them to one type",
                    c + 1,
                    a.data_type()
                ))
            })?;
        }
        let cast: Vec<ArrayRef> = cells
            .iter()
            .map(|a| cast_array(a, &t))
            .collect::<Result<_>>()?;
        let refs: Vec<&dyn arrow::array::Array> = cast.iter().map(|a| a.as_ref()).collect();
        arrays.push(arrow::compute::concat(&refs)?);
        fields.push(Field::new(format!("col{c}"), t, true));
    }
    let schema = Arc::new(Schema::new(fields));
    let batch = RecordBatch::try_new(Arc::clone(&schema), arrays)?;
    Ok(LogicalPlan::Values {
        schema,
        batches: vec![batch],
    })
}
