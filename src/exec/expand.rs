//! Expand: emits every input morsel once per projection, each computing a full output
//! row (the input of a GROUPING SETS / ROLLUP / CUBE aggregate, which then reads its
//! input once). Streams; holds nothing between morsels: the morsels it emits are as
//! large as its input's, one after the other.

use arrow::array::{RecordBatch, RecordBatchOptions};
use arrow::datatypes::SchemaRef;

use crate::error::Result;
use crate::expr::eval::evaluate;
use crate::expr::Expr;
use crate::stream::{Emit, Operator, SinkStatus};

pub struct ExpandOperator {
    pub projections: Vec<Vec<Expr>>,
    pub schema: SchemaRef,
}

impl Operator for ExpandOperator {
    fn name(&self) -> String {
        format!("Expand: {} projections", self.projections.len())
    }

    fn execute(&self, batch: RecordBatch, emit: &mut Emit<'_>) -> Result<SinkStatus> {
        let options = RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
        let mut status = SinkStatus::NeedMore;
        for projection in &self.projections {
            let mut columns = Vec::with_capacity(projection.len());
            for (e, f) in projection.iter().zip(self.schema.fields()) {
                let a = evaluate(e, &batch)?;
                columns.push(crate::expr::cast::cast_array(&a, f.data_type())?);
            }
            status = emit(RecordBatch::try_new_with_options(
                std::sync::Arc::clone(&self.schema),
                columns,
                &options,
            )?)?;
            if status != SinkStatus::NeedMore {
                break;
            }
        }
        Ok(status)
    }
}
