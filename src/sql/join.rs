//! The FROM clause as a whole: items, joins and comma lists, lowered to one plan plus
//! the [`Relations`] that say what each name in the query refers to.
//!
//! ```text
//! FROM a, b JOIN c ON p USING ...     CrossJoin
//!                                       Scan a
//!                                       Join (filter = p)     -- ON: the whole condition
//!                                         Scan b              --     is the join's filter;
//!                                         Project c (renames) --     the optimizer turns its
//!                                                             --     `l = r` conjuncts into keys
//! ```
//!
//! * `[INNER] JOIN`, `LEFT/RIGHT/FULL [OUTER] JOIN`, `CROSS JOIN`, `SEMI`/`ANTI JOIN`
//!   (also `LEFT SEMI`/`LEFT ANTI`), each with `ON <condition>` or `USING (cols)`.
//! * Comma lists are cross joins; a WHERE equality between them becomes a join key in
//!   the optimizer's predicate pushdown.
//! * Each side's columns keep their SQL names; a right-hand column whose plan name is
//!   taken is renamed `qualifier.name` (see `scope.rs`).
//!
//! `NATURAL`, `ASOF`, `APPLY`, `USING … AS`, right semi/anti and `LATERAL` are
//! [`Error::NotSupported`].

use std::path::Path;
use std::sync::Arc;

use sqlparser::ast::{self, JoinConstraint, JoinOperator, TableFactor, TableWithJoins};

use super::context::Cx;
use super::from;
use super::scope::{named, Relations, Resolved, Scope, UsingColumn};
use crate::error::{Error, Result};
use crate::expr::{Expr, ScalarFunc};
use crate::plan::{join::join_schema, JoinType, LogicalPlan};

/// A plan and the names it binds.
pub(crate) struct Bound {
    pub plan: Arc<LogicalPlan>,
    pub relations: Relations,
}

/// The plan for a FROM clause.
pub(crate) fn plan_from(cx: &Cx, from: &[TableWithJoins]) -> Result<Bound> {
    let mut items = from.iter();
    let Some(first) = items.next() else {
        return Ok(Bound {
            plan: from::one_empty_row()?,
            relations: Relations::default(),
        });
    };
    let mut bound = table_with_joins(cx, first)?;
    for t in items {
        let right = table_with_joins(cx, t)?;
        bound = join_pair(bound, right, JoinType::Inner, &JoinConstraint::None)?;
    }
    Ok(bound)
}

fn table_with_joins(cx: &Cx, t: &TableWithJoins) -> Result<Bound> {
    let mut left = factor(cx, &t.relation)?;
    for j in &t.joins {
        let right = factor(cx, &j.relation)?;
        let (join_type, constraint) = join_kind(&j.join_operator)?;
        if join_type.is_none() && !matches!(constraint, JoinConstraint::None) {
            return Err(Error::Sql(format!("CROSS JOIN takes no condition: '{j}'")));
        }
        if join_type.is_some() && matches!(constraint, JoinConstraint::None) {
            return Err(Error::Sql(format!("JOIN needs ON or USING: '{j}'")));
        }
        left = join_pair(
            left,
            right,
            join_type.unwrap_or(JoinType::Inner),
            constraint,
        )?;
    }
    Ok(left)
}

/// The join type (None for CROSS JOIN) and the constraint of a join operator.
fn join_kind(op: &JoinOperator) -> Result<(Option<JoinType>, &JoinConstraint)> {
    use JoinOperator as J;
    let unsupported = |what: &str| Err(Error::NotSupported(what.to_string()));
    Ok(match op {
        J::Join(c) | J::Inner(c) => (Some(JoinType::Inner), c),
        J::Left(c) | J::LeftOuter(c) => (Some(JoinType::Left), c),
        J::Right(c) | J::RightOuter(c) => (Some(JoinType::Right), c),
        J::FullOuter(c) => (Some(JoinType::Full), c),
        J::CrossJoin(c) => (None, c),
        J::Semi(c) | J::LeftSemi(c) => (Some(JoinType::Semi), c),
        J::Anti(c) | J::LeftAnti(c) => (Some(JoinType::Anti), c),
        J::RightSemi(_) => return unsupported("RIGHT SEMI JOIN"),
        J::RightAnti(_) => return unsupported("RIGHT ANTI JOIN"),
        J::CrossApply | J::OuterApply => return unsupported("APPLY"),
        J::AsOf { .. } => return unsupported("ASOF JOIN"),
        J::StraightJoin(_) => return unsupported("STRAIGHT_JOIN"),
        J::ArrayJoin | J::LeftArrayJoin | J::InnerArrayJoin => return unsupported("ARRAY JOIN"),
    })
}

/// One FROM item (a nested join is several).
fn factor(cx: &Cx, t: &TableFactor) -> Result<Bound> {
    let (alias, default_qualifier) = match t {
        TableFactor::Table {
            name, alias, args, ..
        } => (alias, Some(table_qualifier(name, args.is_some()))),
        TableFactor::Derived { alias, .. } => (alias, None),
        TableFactor::NestedJoin {
            table_with_joins: inner,
            alias,
        } => {
            if alias.is_some() {
                return Err(Error::NotSupported("alias on a parenthesized join".into()));
            }
            return table_with_joins(cx, inner);
        }
        _ => (&None, None),
    };
    let mut plan = from::relation(cx, t)?;
    let qualifier = match alias {
        Some(a) => {
            if !a.columns.is_empty() {
                plan = rename_columns(plan, &a.columns)?;
            }
            Some(a.name.value.clone())
        }
        None => default_qualifier,
    };
    let relations = Relations::single(qualifier, &plan.schema());
    Ok(Bound { plan, relations })
}

/// `t`, `db.t` → `t`; `'dir/x.csv'` → `x` (as DuckDB); `read_csv(…)` → `read_csv`.
fn table_qualifier(name: &ast::ObjectName, function: bool) -> String {
    let last = name
        .0
        .last()
        .and_then(|p| p.as_ident())
        .map(|i| (i.value.clone(), i.quote_style));
    match last {
        Some((v, Some('\''))) if !function => Path::new(&v)
            .file_stem()
            .and_then(|s| s.to_str())
            .map(|s| s.split('.').next().unwrap_or(s).to_string())
            .unwrap_or(v),
        Some((v, _)) => v,
        None => name.to_string(),
    }
}

/// `AS t(a, b)`: renames the first columns.
pub(super) fn rename_columns(
    plan: Arc<LogicalPlan>,
    names: &[ast::TableAliasColumnDef],
) -> Result<Arc<LogicalPlan>> {
    let schema = plan.schema();
    if names.len() > schema.fields().len() {
        return Err(Error::Plan(format!(
            "table alias names {} columns, but the table has {}",
            names.len(),
            schema.fields().len()
        )));
    }
    let exprs = schema
        .fields()
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let c = Expr::Column(f.name().clone());
            match names.get(i) {
                Some(n) => named(c, &n.name.value),
                None => c,
            }
        })
        .collect();
    Ok(Arc::new(LogicalPlan::try_project(plan, exprs)?))
}

/// Joins two bound FROM items.
fn join_pair(
    left: Bound,
    right: Bound,
    join_type: JoinType,
    constraint: &JoinConstraint,
) -> Result<Bound> {
    let right = disambiguate(&left, right)?;
    let left_relations = left.relations.clone();
    let both = left.relations.merge(right.relations.clone())?;
    let mut relations = both.clone();
    let (mut on, mut filter) = (vec![], None);
    match constraint {
        JoinConstraint::None => {}
        JoinConstraint::On(e) => {
            let schema = join_schema(&left.plan.schema(), &right.plan.schema(), JoinType::Inner)?;
            let condition = Scope::over(&schema, &both, &[]).expr(e)?;
            if condition.contains_aggregate() {
                return Err(Error::Plan(format!("aggregate in join condition {e}")));
            }
            filter = Some(condition);
        }
        JoinConstraint::Using(cols) => {
            relations.using.clear();
            let mut left_using = left_relations.using.clone();
            let mut right_using = right.relations.using.clone();
            let mut merged = vec![];
            for c in cols {
                let name = match c.0.last().and_then(|p| p.as_ident()) {
                    Some(id) => id.value.clone(),
                    None => return Err(Error::Sql(format!("invalid USING column '{c}'"))),
                };
                let (lexpr, lname, lslot, mut hidden) =
                    using_key(&left_relations, &mut left_using, &name, "left")?;
                let (rexpr, _, rslot, rhidden) =
                    using_key(&right.relations, &mut right_using, &name, "right")?;
                on.push((lexpr.clone(), rexpr.clone()));
                hidden.push(rslot);
                hidden.extend(rhidden);
                let expr = match join_type {
                    JoinType::Right => rexpr,
                    JoinType::Full => Expr::Function {
                        func: ScalarFunc::Coalesce,
                        args: vec![lexpr, rexpr],
                    },
                    _ => lexpr,
                };
                merged.push(UsingColumn {
                    name: lname,
                    expr,
                    slot: lslot,
                    hidden,
                });
            }
            relations.using = left_using;
            relations.using.extend(right_using);
            relations.using.extend(merged);
        }
        JoinConstraint::UsingAlias(..) => return Err(Error::NotSupported("USING ... AS".into())),
        JoinConstraint::Natural => return Err(Error::NotSupported("NATURAL JOIN".into())),
    }
    let plan = LogicalPlan::try_join(left.plan, right.plan, join_type, on, filter)?;
    if !join_type.outputs_right() {
        relations = left_relations;
    }
    Ok(Bound {
        plan: Arc::new(plan),
        relations,
    })
}

/// One side's key of `USING (name)`: its expression, SQL name, `*` slot and the plan
/// columns a merged key already hides. A merged key is taken out of `using`.
fn using_key(
    relations: &Relations,
    using: &mut Vec<UsingColumn>,
    name: &str,
    side: &str,
) -> Result<(Expr, String, String, Vec<String>)> {
    match relations.resolve_name(name) {
        None => Err(Error::Plan(format!(
            "USING column '{name}' is not on the {side} side of the join"
        ))),
        Some(Err(e)) => Err(e),
        Some(Ok(Resolved::Column(p))) => {
            let sql = relations.sql_name(&p).unwrap_or(name).to_string();
            Ok((Expr::Column(p.clone()), sql, p, vec![]))
        }
        Some(Ok(Resolved::Using(i))) => {
            let u = relations.using[i].clone();
            using.retain(|x| x.slot != u.slot);
            Ok((u.expr, u.name, u.slot, u.hidden))
        }
    }
}

/// `right` with every plan column whose name the left side (or an earlier rename)
/// already uses renamed `qualifier.name` (or `name_1`), made unique with `_1`, `_2`….
fn disambiguate(left: &Bound, mut right: Bound) -> Result<Bound> {
    let ls = left.plan.schema();
    let rs = right.plan.schema();
    let mut taken: Vec<String> = ls
        .fields()
        .iter()
        .chain(rs.fields().iter())
        .map(|f| f.name().clone())
        .collect();
    let mut renames: Vec<(String, String)> = vec![];
    for f in rs.fields() {
        let p = f.name();
        if ls.field_with_name(p).is_err() {
            continue;
        }
        let owner = right
            .relations
            .items
            .iter()
            .find(|i| i.columns.iter().any(|(_, x)| x == p));
        let sql = right.relations.sql_name(p).unwrap_or(p).to_string();
        let base = match owner.and_then(|o| o.qualifier.as_ref()) {
            Some(q) => format!("{q}.{sql}"),
            None => format!("{sql}_1"),
        };
        let mut new = base.clone();
        let mut n = 1;
        while taken.contains(&new) {
            new = format!("{base}_{n}");
            n += 1;
        }
        taken.push(new.clone());
        renames.push((p.clone(), new));
    }
    if renames.is_empty() {
        return Ok(right);
    }
    let exprs = rs
        .fields()
        .iter()
        .map(|f| {
            let c = Expr::Column(f.name().clone());
            match renames.iter().find(|(old, _)| old == f.name()) {
                Some((_, new)) => c.alias(new.clone()),
                None => c,
            }
        })
        .collect();
    right.plan = Arc::new(LogicalPlan::try_project(right.plan, exprs)?);
    for (old, new) in &renames {
        right.relations.rename_plan_column(old, new);
    }
    Ok(right)
}
