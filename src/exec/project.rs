//! Project: computes the output columns of a morsel from its input columns.
//! Streams; holds nothing between morsels.

use arrow::array::{RecordBatch, RecordBatchOptions};
use arrow::datatypes::SchemaRef;

use crate::error::Result;
use crate::expr::eval::evaluate;
use crate::expr::Expr;
use crate::stream::{Emit, Operator, SinkStatus};

pub struct ProjectOperator {
    pub exprs: Vec<Expr>,
    pub schema: SchemaRef,
}

impl Operator for ProjectOperator {
    fn name(&self) -> String {
        let items: Vec<String> = self.exprs.iter().map(|e| e.to_string()).collect();
        format!("Project: {}", items.join(", "))
    }

    fn execute(&self, batch: RecordBatch, emit: &mut Emit<'_>) -> Result<SinkStatus> {
        let mut columns = Vec::with_capacity(self.exprs.len());
        for (e, f) in self.exprs.iter().zip(self.schema.fields()) {
            let a = evaluate(e, &batch)?;
            columns.push(crate::expr::cast::cast_array(&a, f.data_type())?);
        }
        let options = RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
        emit(RecordBatch::try_new_with_options(
            std::sync::Arc::clone(&self.schema),
            columns,
            &options,
        )?)
    }
}
