//! Filter: keeps the rows of a morsel for which the predicate is true (NULL drops).
//! Streams; holds nothing between morsels.

use arrow::array::{Array, RecordBatch};
use arrow::compute::filter_record_batch;

use crate::error::Result;
use crate::expr::eval::evaluate_predicate;
use crate::expr::Expr;
use crate::stream::{Emit, Operator, SinkStatus};

pub struct FilterOperator {
    pub predicate: Expr,
}

impl Operator for FilterOperator {
    fn name(&self) -> String {
        format!("Filter: {}", self.predicate)
    }

    fn execute(&self, batch: RecordBatch, emit: &mut Emit<'_>) -> Result<SinkStatus> {
        let mask = evaluate_predicate(&self.predicate, &batch)?;
        if mask.true_count() == batch.num_rows() && mask.null_count() == 0 {
            return emit(batch);
        }
        let out = filter_record_batch(&batch, &mask)?;
        if out.num_rows() == 0 {
            return Ok(SinkStatus::NeedMore);
        }
        emit(out)
    }
}
