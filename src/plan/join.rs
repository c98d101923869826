//! Join descriptions used by [`LogicalPlan::Join`](super::LogicalPlan::Join): join
//! types, equi-key pairs and the join's output schema.
//!
//! Output columns: the left input's columns, then the right input's, except for semi
//! and anti joins, which output only the left input's columns. Columns of the side an
//! outer join may fill with nulls become nullable. Column names must be unique: the
//! frame API renames clashing right-hand columns (`_right`), and SQL qualifies them.

use std::fmt;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::expr::{types, Expr};

/// Which rows a join keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum JoinType {
    /// Pairs of rows whose keys match (a cross product when there are no keys).
    Inner,
    /// Every left row; unmatched ones with nulls on the right.
    Left,
    /// Every right row; unmatched ones with nulls on the left.
    Right,
    /// Every row of both sides.
    Full,
    /// Left rows with at least one match, each once (`EXISTS`, `IN`).
    Semi,
    /// Left rows with no match (`NOT EXISTS`).
    Anti,
}

impl JoinType {
    /// Whether the output holds the right input's columns.
    pub fn outputs_right(self) -> bool {
        !matches!(self, JoinType::Semi | JoinType::Anti)
    }
    /// Whether the left input's columns may be null-filled.
    fn left_nullable(self) -> bool {
        matches!(self, JoinType::Right | JoinType::Full)
    }
    /// Whether the right input's columns may be null-filled.
    fn right_nullable(self) -> bool {
        matches!(self, JoinType::Left | JoinType::Full)
    }
}

impl fmt::Display for JoinType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            JoinType::Inner => "Inner",
            JoinType::Left => "Left",
            JoinType::Right => "Right",
            JoinType::Full => "Full",
            JoinType::Semi => "Semi",
            JoinType::Anti => "Anti",
        })
    }
}

impl std::str::FromStr for JoinType {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "inner" => JoinType::Inner,
            "left" | "left_outer" => JoinType::Left,
            "right" | "right_outer" => JoinType::Right,
            "full" | "outer" | "full_outer" => JoinType::Full,
            "semi" | "left_semi" => JoinType::Semi,
            "anti" | "left_anti" => JoinType::Anti,
            other => {
                return Err(Error::Plan(format!(
                    "unknown join type '{other}'; expected inner, left, right, full, semi or anti"
                )))
            }
        })
    }
}

/// The output schema of a join, checking names are unique.
pub fn join_schema(left: &Schema, right: &Schema, join_type: JoinType) -> Result<SchemaRef> {
    let mut fields: Vec<Field> = left
        .fields()
        .iter()
        .map(|f| {
            let f = f.as_ref().clone();
            if join_type.left_nullable() {
                f.with_nullable(true)
            } else {
                f
            }
        })
        .collect();
    if join_type.outputs_right() {
        for f in right.fields() {
            if left.field_with_name(f.name()).is_ok() {
                return Err(Error::Plan(format!(
                    "column '{}' is on both sides of the join; rename one side first",
                    f.name()
                )));
            }
            let f = f.as_ref().clone();
            fields.push(if join_type.right_nullable() {
                f.with_nullable(true)
            } else {
                f
            });
        }
    }
    Ok(std::sync::Arc::new(Schema::new(fields)))
}

/// The type both keys of an equi-key pair are compared at.
pub fn key_type(left: &Expr, right: &Expr, ls: &Schema, rs: &Schema) -> Result<DataType> {
    let lt = types::data_type(left, ls)?;
    let rt = types::data_type(right, rs)?;
    types::common_type(&lt, &rt).ok_or_else(|| {
        Error::Schema(format!(
            "join keys {left} ({lt}) and {right} ({rt}) have no common type"
        ))
    })
}

/// The input of a hash join whose rows go into the hash table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BuildSide {
    Left,
    Right,
}
