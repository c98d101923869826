//! SQL expressions (sqlparser's AST) to floe [`Expr`]s.
//!
//! Names are resolved as they are lowered, by [`Scope`] (see `scope.rs`): an
//! identifier matches a column exactly, or else case-insensitively (as in DuckDB), so
//! every [`Expr::Column`] this module produces names a real plan column. Where SQL lets
//! a clause use select-list aliases (WHERE, GROUP BY, HAVING), an identifier that is
//! not a column falls back to the aliased expression; input columns win over aliases.
//!
//! Anything valid in SQL that floe cannot compute yet is [`Error::NotSupported`]
//! naming the construct; anything meaningless is [`Error::Sql`] or [`Error::Plan`].

use arrow::datatypes::{DataType, TimeUnit};
use sqlparser::ast::{
    self, BinaryOperator, CastKind, DateTimeField, FunctionArg, FunctionArgExpr, FunctionArguments,
    UnaryOperator, Value,
};

use super::scope::{MarkKind, Scope};
use crate::error::{Error, Result};
use crate::expr::{lit, AggFunc, AggOrder, BinaryOp, Expr, ScalarFunc, ScalarValue};

/// A SQL LIKE pattern in the syntax of arrow's LIKE kernels, where `\` escapes the next
/// character. SQL (DuckDB) has no escape character unless `ESCAPE 'c'` names one, so
/// a backslash is an ordinary character: `'a\b' LIKE 'a\b'` is true. With an escape
/// character `c`, `c%`, `c_` and `cc` match `%`, `_` and `c` literally. A constant
/// pattern is translated once here; a computed one without ESCAPE has its backslashes
/// doubled as it is evaluated.
fn like_pattern(pattern: Expr, escape: Option<char>) -> Result<Expr> {
    match pattern {
        Expr::Literal(ScalarValue::Utf8(p)) => {
            let mut out = String::with_capacity(p.len() + 4);
            let mut chars = p.chars();
            while let Some(c) = chars.next() {
                if Some(c) == escape {
                    match chars.next() {
                        Some(n) => {
                            out.push('\\');
                            out.push(n);
                        }
                        None => {
                            return Err(Error::Sql(format!(
                                "LIKE pattern '{p}' ends with its escape character"
                            )))
                        }
                    }
                } else if c == '\\' {
                    out.push_str("\\\\");
                } else {
                    out.push(c);
                }
            }
            Ok(Expr::Literal(ScalarValue::Utf8(out)))
        }
        Expr::Literal(ScalarValue::Null) => Ok(pattern),
        other if escape.is_none() => Ok(Expr::Function {
            func: ScalarFunc::Replace,
            args: vec![
                other,
                Expr::Literal(ScalarValue::Utf8("\\".into())),
                Expr::Literal(ScalarValue::Utf8("\\\\".into())),
            ],
        }),
        other => Err(Error::NotSupported(format!(
            "LIKE ... ESCAPE with a pattern that is not a constant ({other})"
        ))),
    }
}

/// Chains of one associative operator longer than this are lowered as a balanced tree.
const LONG_CHAIN: usize = 64;

/// The operands of the left-deep chain of `op` at `e` (`a op b op c` parses as
/// `(a op b) op c`), found without recursion; one operand when `op` is not associative
/// (AND, OR, `+`, `*`, `||`) or `e` is not an `op`.
fn chain_operands<'a>(e: &'a ast::Expr, op: &BinaryOperator) -> Vec<&'a ast::Expr> {
    use BinaryOperator as B;
    if !matches!(op, B::And | B::Or | B::Plus | B::Multiply | B::StringConcat) {
        return vec![e];
    }
    let mut operands = vec![];
    let mut at = e;
    while let ast::Expr::BinaryOp { left, op: o, right } = at {
        if o != op {
            break;
        }
        operands.push(right.as_ref());
        at = left;
    }
    operands.push(at);
    operands.reverse();
    operands
}

impl Scope<'_> {
    /// A long chain `a op b op c ...` (generated SQL: thousands of OR terms) as a
    /// balanced tree of `op`, so that its depth, and the depth of every recursion over
    /// it (optimizer, evaluation, drop), is logarithmic: a left-deep tree of 10,000
    /// terms overflowed the stack. The operators are associative, so the value is the
    /// same; over floats `+` rounds as pairwise summation does. Shorter chains keep
    /// SQL's left-to-right order exactly.
    fn balanced_chain(&self, e: &ast::Expr, op: &BinaryOperator) -> Result<Expr> {
        let operands = chain_operands(e, op)
            .into_iter()
            .map(|o| self.expr(o))
            .collect::<Result<Vec<_>>>()?;
        let concat = *op == BinaryOperator::StringConcat;
        let op = if concat { None } else { Some(binary_op(op)?) };
        fn build(mut items: Vec<Expr>, op: Option<BinaryOp>) -> Result<Expr> {
            if items.len() == 1 {
                return items
                    .pop()
                    .ok_or_else(|| Error::Internal("empty operator chain".into()));
            }
            let right = items.split_off(items.len() / 2);
            let (left, right) = (build(items, op)?, build(right, op)?);
            Ok(match op {
                Some(op) => Expr::Binary {
                    left: Box::new(left),
                    op,
                    right: Box::new(right),
                },
                None => Expr::Function {
                    func: ScalarFunc::ConcatStrict,
                    args: vec![left, right],
                },
            })
        }
        build(operands, op)
    }

    /// Lowers one SQL expression.
    #[recursive::recursive]
    pub fn expr(&self, e: &ast::Expr) -> Result<Expr> {
        use ast::Expr as S;
        let boxed = |e: &ast::Expr| self.expr(e).map(Box::new);
        Ok(match e {
            S::Identifier(id) => self.identifier(&id.value)?,
            S::CompoundIdentifier(parts) => self.compound(parts)?,
            S::Nested(inner) => self.expr(inner)?,
            S::Value(v) => Expr::Literal(literal(&v.value)?),
            S::TypedString(ts) => typed_string(&ts.data_type, &ts.value.value)?,
            S::UnaryOp { op, expr } => match op {
                UnaryOperator::Minus => match expr.as_ref() {
                    // Fold `-3` into one literal so it keeps its type and name.
                    S::Value(ast::ValueWithSpan {
                        value: Value::Number(n, _),
                        ..
                    }) => Expr::Literal(number(&format!("-{n}"))?),
                    other => Expr::Negative(boxed(other)?),
                },
                UnaryOperator::Plus => self.expr(expr)?,
                UnaryOperator::Not | UnaryOperator::BangNot => Expr::Not(boxed(expr)?),
                other => return Err(Error::NotSupported(format!("unary operator {other}"))),
            },
            S::BinaryOp { op, .. } if chain_operands(e, op).len() > LONG_CHAIN => {
                self.balanced_chain(e, op)?
            }
            S::BinaryOp {
                left,
                op: op @ (BinaryOperator::Plus | BinaryOperator::Minus),
                right,
            } if matches!(right.as_ref(), S::Interval(_)) => match right.as_ref() {
                S::Interval(iv) => {
                    super::interval::shift(self.expr(left)?, iv, *op == BinaryOperator::Minus)?
                }
                _ => return Err(Error::Internal("interval arm".into())),
            },
            S::BinaryOp { .. } if super::decimal_literal::fold(e).is_some() => {
                match super::decimal_literal::fold(e) {
                    Some(x) => Expr::Literal(number(&x.text())?),
                    None => return Err(Error::Internal("decimal fold".into())),
                }
            }
            S::BinaryOp {
                left,
                op: BinaryOperator::StringConcat,
                right,
            } => Expr::Function {
                func: ScalarFunc::ConcatStrict,
                args: vec![self.expr(left)?, self.expr(right)?],
            },
            S::BinaryOp { left, op, right } => Expr::Binary {
                left: boxed(left)?,
                op: binary_op(op)?,
                right: boxed(right)?,
            },
            S::IsNull(e) => Expr::IsNull(boxed(e)?),
            S::IsNotNull(e) => Expr::IsNotNull(boxed(e)?),
            S::Between {
                expr,
                negated,
                low,
                high,
            } => {
                let b = self.expr(expr)?.between(self.expr(low)?, self.expr(high)?);
                if *negated {
                    b.not()
                } else {
                    b
                }
            }
            S::In {
                expr,
                target,
                negated,
                ..
            } => match target {
                ast::InTarget::List(list) => Expr::InList {
                    expr: boxed(expr)?,
                    list: list.iter().map(|e| self.expr(e)).collect::<Result<_>>()?,
                    negated: *negated,
                },
                ast::InTarget::Subquery(q) => match self.marks {
                    Some(marks) => {
                        let x = self.expr(expr)?;
                        if super::scope::is_correlated(&x) {
                            return Err(Error::NotSupported(format!(
                                "outer reference on the left of IN (subquery): {x}"
                            )));
                        }
                        let m = Expr::Column(marks.add(q, MarkKind::In(x)));
                        if *negated {
                            m.not()
                        } else {
                            m
                        }
                    }
                    None => return Err(misplaced_subquery(e)),
                },
                ast::InTarget::Unnest(_) => return Err(Error::NotSupported("IN UNNEST".into())),
                ast::InTarget::Table { .. } => return Err(Error::NotSupported("IN table".into())),
            },
            S::Like {
                negated,
                any,
                expr,
                pattern,
                escape_char,
            } => self.like(*negated, *any, expr, pattern, escape_char.as_deref(), false)?,
            S::ILike {
                negated,
                any,
                expr,
                pattern,
                escape_char,
            } => self.like(*negated, *any, expr, pattern, escape_char.as_deref(), true)?,
            S::Cast {
                kind,
                expr,
                data_type,
                format,
            } => {
                if format.is_some() {
                    return Err(Error::NotSupported("CAST ... FORMAT".into()));
                }
                match kind {
                    CastKind::Cast | CastKind::DoubleColon => {}
                    // floe's CAST fails on a bad value; a cast that yields NULL instead is not there yet.
                    CastKind::TryCast | CastKind::SafeCast => {
                        return Err(Error::NotSupported("TRY_CAST".into()))
                    }
                }
                self.expr(expr)?.cast(sql_type(data_type)?)
            }
            S::Extract { field, expr, .. } => Expr::Function {
                func: extract_field(field)?,
                args: vec![self.expr(expr)?],
            },
            S::Substring {
                expr,
                substring_from,
                substring_for,
                ..
            } => {
                let mut args = vec![self.expr(expr)?];
                args.push(match substring_from {
                    Some(f) => self.expr(f)?,
                    None => lit(1i64),
                });
                if let Some(n) = substring_for {
                    args.push(self.expr(n)?);
                }
                Expr::Function {
                    func: ScalarFunc::Substring,
                    args,
                }
            }
            S::Case {
                operand,
                conditions,
                else_result,
                ..
            } => {
                let operand = operand.as_deref().map(|o| self.expr(o)).transpose()?;
                let branches = conditions
                    .iter()
                    .map(|cw| {
                        let c = self.expr(&cw.condition)?;
                        let c = match &operand {
                            Some(o) => o.clone().eq(c),
                            None => c,
                        };
                        Ok((c, self.expr(&cw.result)?))
                    })
                    .collect::<Result<_>>()?;
                Expr::Case {
                    branches,
                    otherwise: else_result.as_deref().map(boxed).transpose()?,
                }
            }
            S::Function(f) => self.function(f)?,
            S::Subquery(q) => match self.subqueries {
                Some(collect) => Expr::Column(collect.add(q)),
                None => return Err(misplaced_subquery(e)),
            },
            S::Exists { subquery, negated } => match self.marks {
                Some(marks) => {
                    let m = Expr::Column(marks.add(subquery, MarkKind::Exists));
                    if *negated {
                        m.not()
                    } else {
                        m
                    }
                }
                None => return Err(misplaced_subquery(e)),
            },
            // Never NULL: `x IS TRUE` is `coalesce(x, false)`, and so on.
            S::IsTrue(x) => self.expr(x)?.fill_null(lit(false)),
            S::IsNotTrue(x) => self.expr(x)?.fill_null(lit(false)).not(),
            S::IsFalse(x) => self.expr(x)?.not().fill_null(lit(false)),
            S::IsNotFalse(x) => self.expr(x)?.not().fill_null(lit(false)).not(),
            // NULL-safe equality: two NULLs are not distinct, NULL and a value are.
            S::IsDistinctFrom(a, b) => not_distinct(self.expr(a)?, self.expr(b)?).not(),
            S::IsNotDistinctFrom(a, b) => not_distinct(self.expr(a)?, self.expr(b)?),
            S::SimilarTo { .. } => return Err(Error::NotSupported("SIMILAR TO".into())),
            S::RLike { .. } => return Err(Error::NotSupported("REGEXP/RLIKE".into())),
            S::Interval(_) => return Err(Error::NotSupported("INTERVAL".into())),
            S::Ceil { expr, field } | S::Floor { expr, field } => {
                if !matches!(
                    field,
                    ast::CeilFloorKind::DateTimeField(ast::DateTimeField::NoDateTime)
                ) {
                    return Err(Error::NotSupported(format!("{e}")));
                }
                let func = if matches!(e, S::Ceil { .. }) {
                    ScalarFunc::Ceil
                } else {
                    ScalarFunc::Floor
                };
                Expr::Function {
                    func,
                    args: vec![self.expr(expr)?],
                }
            }
            S::Trim {
                trim_where,
                trim_what,
                expr,
                trim_characters,
            } => {
                if trim_characters.is_some() {
                    return Err(Error::NotSupported(format!("{e}")));
                }
                let func = match trim_where {
                    None | Some(ast::TrimWhereField::Both) => ScalarFunc::Trim,
                    Some(ast::TrimWhereField::Leading) => ScalarFunc::LTrim,
                    Some(ast::TrimWhereField::Trailing) => ScalarFunc::RTrim,
                };
                let mut args = vec![self.expr(expr)?];
                if let Some(w) = trim_what {
                    args.push(self.expr(w)?);
                }
                Expr::Function { func, args }
            }
            S::Position { expr, r#in } => Expr::Function {
                func: ScalarFunc::StrPos,
                args: vec![self.expr(r#in)?, self.expr(expr)?],
            },
            S::AtTimeZone { .. } => return Err(Error::NotSupported("AT TIME ZONE".into())),
            S::GroupingSets(_) | S::Cube(_) | S::Rollup(_) => {
                return Err(Error::Sql(format!(
                    "'{e}' is only allowed as a GROUP BY item"
                )))
            }
            S::Wildcard(_) | S::QualifiedWildcard(..) => {
                return Err(Error::Sql(format!(
                    "'{e}' is only allowed in the select list or count(*)"
                )))
            }
            other => return Err(Error::NotSupported(format!("expression '{other}'"))),
        })
    }

    fn like(
        &self,
        negated: bool,
        any: bool,
        expr: &ast::Expr,
        pattern: &ast::Expr,
        escape: Option<&ast::Expr>,
        case_insensitive: bool,
    ) -> Result<Expr> {
        let op = if case_insensitive { "ILIKE" } else { "LIKE" };
        if any {
            return Err(Error::NotSupported(format!("{op} ANY")));
        }
        let escape = match escape.map(|e| self.expr(e)).transpose()? {
            None => None,
            Some(Expr::Literal(ScalarValue::Utf8(e))) if e.chars().count() == 1 => e.chars().next(),
            Some(other) => {
                return Err(Error::Sql(format!(
                    "{op} ... ESCAPE takes one character, got {other}"
                )))
            }
        };
        Ok(Expr::Like {
            expr: Box::new(self.expr(expr)?),
            pattern: Box::new(like_pattern(self.expr(pattern)?, escape)?),
            negated,
            case_insensitive,
        })
    }

    /// A function call: aggregate, scalar, or one of the few rewritten here.
    /// `name(..) OVER (..)`: recorded in the scope's window collector, read as its
    /// placeholder column.
    /// `string_agg(x [, sep] [ORDER BY key])`: the arguments `[x, sep]`, or `[x, sep,
    /// key]` when ordered; `sep` must be a constant string (`,` when left out).
    fn string_agg(
        &self,
        mut args: Vec<Expr>,
        order: Option<&ast::OrderByExpr>,
    ) -> Result<(AggFunc, Vec<Expr>)> {
        match args.as_slice() {
            [_] => args.push(Expr::Literal(ScalarValue::Utf8(",".into()))),
            [_, Expr::Literal(ScalarValue::Utf8(_))] => {}
            [_, other] => {
                return Err(Error::NotSupported(format!(
                    "string_agg() separator '{other}'; it must be a constant string"
                )))
            }
            _ => {
                return Err(Error::Plan(format!(
                    "string_agg() takes a value and a separator, got {} arguments",
                    args.len()
                )))
            }
        }
        let Some(key) = order else {
            return Ok((AggFunc::StringAgg(None), args));
        };
        let (descending, nulls_first) = super::order::direction(&key.options)?;
        args.push(self.expr(&key.expr)?);
        let order = AggOrder {
            descending,
            nulls_first,
        };
        Ok((AggFunc::StringAgg(Some(order)), args))
    }

    /// The function of `name(args) OVER`, and its arguments as the operator takes them:
    /// `DISTINCT` picks the distinct aggregate, `quantile_cont(x, q)` keeps `x`, and
    /// `string_agg` gets its separator and order key.
    fn window_function(
        &self,
        name: &str,
        args: Vec<Expr>,
        distinct: bool,
        order: Option<&ast::OrderByExpr>,
    ) -> Result<(crate::expr::window::WindowFunc, Vec<Expr>)> {
        use crate::expr::window::WindowFunc;
        let (func, args) = if matches!(name, "quantile_cont" | "quantile") {
            match quantile(name, args)? {
                Expr::Aggregate { func, args } => (WindowFunc::Aggregate(func), args),
                other => return Err(Error::Internal(format!("quantile() planned as {other}"))),
            }
        } else {
            let func = WindowFunc::from_name(name, args.len())
                .ok_or_else(|| Error::NotSupported(format!("window function {name}() OVER")))?;
            match func {
                WindowFunc::Aggregate(AggFunc::StringAgg(_)) if !distinct => {
                    let (f, args) = self.string_agg(args, order)?;
                    return Ok((WindowFunc::Aggregate(f), args));
                }
                _ => (func, args),
            }
        };
        if order.is_some() {
            return Err(Error::NotSupported(format!(
                "ORDER BY inside {name}() OVER; floe orders string_agg only"
            )));
        }
        if !distinct {
            return Ok((func, args));
        }
        match func {
            WindowFunc::Aggregate(f) => match f.distinct() {
                Some(d) => Ok((WindowFunc::Aggregate(d), args)),
                None => Err(Error::NotSupported(format!("{name}(DISTINCT ..) OVER"))),
            },
            _ => Err(Error::Sql(format!(
                "DISTINCT is only allowed in aggregates, not {name}() OVER"
            ))),
        }
    }

    fn window_call(&self, name: &str, f: &ast::Function, over: &ast::WindowType) -> Result<Expr> {
        use crate::expr::window::{FrameBound, FrameUnits, WindowFrame, WindowFunc};
        let Some(collect) = self.windows else {
            return Err(Error::NotSupported(format!(
                "window function {name}() OVER here (only in the select list)"
            )));
        };
        let spec = match over {
            ast::WindowType::WindowSpec(w) => w.clone(),
            ast::WindowType::NamedWindow(n) => ast::WindowSpec {
                window_name: Some(n.clone()),
                partition_by: vec![],
                order_by: vec![],
                window_frame: None,
            },
        };
        let w = &collect.resolve(spec, 0)?;
        if f.filter.is_some() || !f.within_group.is_empty() {
            return Err(Error::NotSupported(format!(
                "{name}() OVER with FILTER or WITHIN GROUP"
            )));
        }
        // `lag(x) IGNORE NULLS OVER ..` or `first_value(x IGNORE NULLS) OVER ..`.
        let mut null_treatment = f.null_treatment;
        let mut agg_order: Option<&ast::OrderByExpr> = None;
        if let FunctionArguments::List(l) = &f.args {
            for c in &l.clauses {
                match c {
                    ast::FunctionArgumentClause::IgnoreOrRespectNulls(t) => {
                        null_treatment = Some(*t)
                    }
                    // string_agg's own order: `string_agg(x, ',' ORDER BY k) OVER (..)`.
                    ast::FunctionArgumentClause::OrderBy(keys)
                        if keys.len() == 1 && AggFunc::from_name(name).is_some() =>
                    {
                        agg_order = keys.first()
                    }
                    other => return Err(Error::NotSupported(format!("{name}({other}) OVER"))),
                }
            }
        }
        let ignore_nulls = null_treatment == Some(ast::NullTreatment::IgnoreNulls);
        let mut distinct = false;
        let args: Vec<Expr> = match &f.args {
            FunctionArguments::None => vec![],
            FunctionArguments::List(l) => {
                distinct = matches!(
                    l.duplicate_treatment,
                    Some(ast::DuplicateTreatment::Distinct)
                );
                let mut out = vec![];
                for a in &l.args {
                    match a {
                        FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => out.push(self.expr(e)?),
                        FunctionArg::Unnamed(FunctionArgExpr::Wildcard) if name == "count" => {}
                        other => {
                            return Err(Error::Sql(format!(
                                "'{other}' is not allowed as an argument of {name}() OVER"
                            )))
                        }
                    }
                }
                out
            }
            FunctionArguments::Subquery(_) => {
                return Err(Error::NotSupported(format!(
                    "subquery as the argument of {name}()"
                )))
            }
        };
        let (func, args) = self.window_function(name, args, distinct, agg_order)?;
        if ignore_nulls
            && !matches!(
                func,
                WindowFunc::Lag
                    | WindowFunc::Lead
                    | WindowFunc::FirstValue
                    | WindowFunc::LastValue
                    | WindowFunc::NthValue
            )
        {
            return Err(Error::NotSupported(format!(
                "{name}() OVER with IGNORE NULLS"
            )));
        }
        let partition_by = w
            .partition_by
            .iter()
            .map(|e| self.expr(e))
            .collect::<Result<Vec<_>>>()?;
        let order_by = w
            .order_by
            .iter()
            .map(|o| {
                let descending = match &o.options.sort {
                    None | Some(ast::OrderBySort::Asc) => false,
                    Some(ast::OrderBySort::Desc) => true,
                    Some(other) => {
                        return Err(Error::NotSupported(format!("ORDER BY {other:?} in OVER")))
                    }
                };
                Ok(crate::expr::SortExpr {
                    expr: self.expr(&o.expr)?,
                    descending,
                    nulls_first: o.options.nulls_first.unwrap_or(false),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        // RANGE offsets become the order key's value at the bound, per row.
        let mut keys: [Option<crate::plan::window::ValueOffset>; 2] = [None, None];
        let mut bound = |b: &ast::WindowFrameBound,
                         start: bool,
                         range: bool|
         -> Result<FrameBound> {
            let (e, preceding) = match b {
                ast::WindowFrameBound::CurrentRow => return Ok(FrameBound::CurrentRow),
                ast::WindowFrameBound::Preceding(None) if start => {
                    return Ok(FrameBound::UnboundedPreceding)
                }
                ast::WindowFrameBound::Following(None) if !start => {
                    return Ok(FrameBound::UnboundedFollowing)
                }
                ast::WindowFrameBound::Preceding(Some(e)) => (e, true),
                ast::WindowFrameBound::Following(Some(e)) => (e, false),
                other => return Err(Error::Plan(format!("invalid window frame bound {other}"))),
            };
            if !range {
                return match self.expr(e)? {
                    Expr::Literal(ScalarValue::Int64(n)) if n >= 0 => Ok(if preceding {
                        FrameBound::Preceding(n as u64)
                    } else {
                        FrameBound::Following(n as u64)
                    }),
                    other => Err(Error::NotSupported(format!(
                        "ROWS frame offset {other} (a non-negative integer literal)"
                    ))),
                };
            }
            let [key] = order_by.as_slice() else {
                return Err(Error::Plan(format!(
                    "a RANGE frame with an offset ({b}) needs exactly one ORDER BY key"
                )));
            };
            // Preceding is toward smaller keys when ascending, larger when descending.
            let subtract = preceding != key.descending;
            if let ast::Expr::Interval(iv) = e.as_ref() {
                let (m, d, us) = super::interval::parts(iv, false)?;
                if m < 0 || d < 0 || us < 0 {
                    return Err(Error::Plan(format!("RANGE frame offset {e} is negative")));
                }
                let (months, days, micros) = super::interval::parts(iv, subtract)?;
                keys[usize::from(!start)] = Some(crate::plan::window::ValueOffset::Interval {
                    months,
                    days,
                    micros,
                });
                return Ok(if preceding {
                    FrameBound::ValuePreceding
                } else {
                    FrameBound::ValueFollowing
                });
            }
            let offset = self.expr(e)?;
            let non_negative = match &offset {
                Expr::Literal(ScalarValue::Int64(n)) => *n >= 0,
                Expr::Literal(ScalarValue::Float64(x)) => *x >= 0.0,
                _ => false,
            };
            if !non_negative {
                return Err(Error::NotSupported(format!(
                    "RANGE frame offset {offset} (a non-negative number)"
                )));
            }
            let at = crate::plan::window::ValueOffset::Number { offset, subtract };
            keys[usize::from(!start)] = Some(at);
            Ok(if preceding {
                FrameBound::ValuePreceding
            } else {
                FrameBound::ValueFollowing
            })
        };
        let frame = match &w.window_frame {
            None => WindowFrame::default_for(!order_by.is_empty()),
            Some(fr) => {
                let units = match fr.units {
                    ast::WindowFrameUnits::Rows => FrameUnits::Rows,
                    ast::WindowFrameUnits::Range => FrameUnits::Range,
                    ast::WindowFrameUnits::Groups if order_by.is_empty() => {
                        return Err(Error::Plan(
                            "a GROUPS frame needs ORDER BY in its window".into(),
                        ))
                    }
                    ast::WindowFrameUnits::Groups => FrameUnits::Groups,
                };
                let range = units == FrameUnits::Range;
                let start = bound(&fr.start_bound, true, range)?;
                let end = match &fr.end_bound {
                    Some(b) => bound(b, false, range)?,
                    None => FrameBound::CurrentRow,
                };
                WindowFrame { units, start, end }
            }
        };
        let [start_offset, end_offset] = keys;
        let name = collect.add(super::scope::WindowUse {
            func,
            args,
            partition_by,
            order_by,
            frame,
            name: String::new(),
            start_offset,
            end_offset,
            ignore_nulls,
        });
        Ok(Expr::Column(name))
    }

    fn function(&self, f: &ast::Function) -> Result<Expr> {
        let name = f
            .name
            .0
            .last()
            .and_then(|p| p.as_ident())
            .map(|i| i.value.to_ascii_lowercase())
            .ok_or_else(|| Error::Sql(format!("invalid function name '{}'", f.name)))?;
        if let Some(over) = &f.over {
            return self.window_call(&name, f, over);
        }
        // `agg(x) FILTER (WHERE c)` reads `CASE WHEN c THEN x END`: the rows where
        // `c` is not true add a NULL, which every aggregate skips.
        let filter = f.filter.as_ref().map(|c| self.expr(c)).transpose()?;
        let filtered = |args: Vec<Expr>| -> Vec<Expr> {
            match &filter {
                None => args,
                Some(c) => (args.into_iter())
                    .map(|a| Expr::Case {
                        branches: vec![(c.clone(), a)],
                        otherwise: None,
                    })
                    .collect(),
            }
        };
        if !f.within_group.is_empty() {
            return Err(Error::NotSupported("WITHIN GROUP".into()));
        }
        if f.null_treatment.is_some() {
            return Err(Error::NotSupported("IGNORE/RESPECT NULLS".into()));
        }
        if !matches!(f.parameters, FunctionArguments::None) {
            return Err(Error::NotSupported("parametric function call".into()));
        }
        if matches!(
            name.as_str(),
            "quantile_disc" | "percentile_cont" | "percentile_disc" | "mode"
        ) {
            return Err(Error::NotSupported(name));
        }

        let mut order_by: Option<&ast::OrderByExpr> = None;
        let (distinct, args): (bool, &[FunctionArg]) = match &f.args {
            FunctionArguments::None => (false, &[]),
            FunctionArguments::Subquery(_) => {
                return Err(Error::NotSupported(format!(
                    "subquery as the argument of {name}()"
                )))
            }
            FunctionArguments::List(l) => {
                for clause in &l.clauses {
                    match clause {
                        // An aggregate's own ORDER BY, on one key: string_agg's order.
                        ast::FunctionArgumentClause::OrderBy(keys)
                            if keys.len() == 1 && AggFunc::from_name(&name).is_some() =>
                        {
                            order_by = keys.first()
                        }
                        other => return Err(Error::NotSupported(format!("{name}() with {other}"))),
                    }
                }
                let distinct = matches!(
                    l.duplicate_treatment,
                    Some(ast::DuplicateTreatment::Distinct)
                );
                (distinct, &l.args)
            }
        };

        // count(*) and count() count rows.
        if name == "count"
            && !distinct
            && matches!(args, [] | [FunctionArg::Unnamed(FunctionArgExpr::Wildcard)])
        {
            if filter.is_some() {
                return Ok(Expr::Aggregate {
                    func: AggFunc::Count,
                    args: filtered(vec![Expr::Literal(ScalarValue::Int64(1))]),
                });
            }
            return Ok(Expr::Aggregate {
                func: AggFunc::CountStar,
                args: vec![],
            });
        }

        let args: Vec<Expr> = args
            .iter()
            .map(|a| match a {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => self.expr(e),
                FunctionArg::Unnamed(w) => Err(Error::Sql(format!(
                    "'{w}' is not allowed as an argument of {name}()"
                ))),
                FunctionArg::Named { .. } | FunctionArg::ExprNamed { .. } => {
                    Err(Error::NotSupported(format!("named arguments in {name}()")))
                }
            })
            .collect::<Result<_>>()?;

        if matches!(name.as_str(), "quantile_cont" | "quantile") {
            if distinct {
                return Err(Error::NotSupported(format!("{name}(DISTINCT ...)")));
            }
            return quantile(&name, filtered(args));
        }
        // bool_and / bool_or: min / max of the booleans as 0 and 1.
        if let Some(func) = match name.as_str() {
            "bool_and" | "every" | "logical_and" => Some(AggFunc::Min),
            "bool_or" | "logical_or" => Some(AggFunc::Max),
            _ => None,
        } {
            let [arg] = <[Expr; 1]>::try_from(args)
                .map_err(|a| Error::Plan(format!("{name}() takes 1 argument, got {}", a.len())))?;
            let as_int = Expr::Cast {
                expr: Box::new(arg),
                to: DataType::Int32,
            };
            return Ok(Expr::Cast {
                expr: Box::new(Expr::Aggregate {
                    func,
                    args: filtered(vec![as_int]),
                }),
                to: DataType::Boolean,
            });
        }
        if let Some(func) = AggFunc::from_name(&name) {
            let func = match (distinct, func) {
                (false, func) => func,
                (true, func) => func
                    .distinct()
                    .ok_or_else(|| Error::NotSupported(format!("{name}(DISTINCT ...)")))?,
            };
            let (func, args) = match (func, order_by) {
                (AggFunc::StringAgg(_), order) => self.string_agg(args, order)?,
                (_, Some(_)) => {
                    return Err(Error::NotSupported(format!(
                        "ORDER BY inside {name}(); floe orders string_agg only"
                    )))
                }
                (func, None) => (func, args),
            };
            return Ok(Expr::Aggregate {
                func,
                args: filtered(args),
            });
        }
        if filter.is_some() {
            return Err(Error::Sql(format!(
                "FILTER (WHERE ..) is only allowed on aggregates, not {name}()"
            )));
        }
        if distinct {
            return Err(Error::Sql(format!(
                "DISTINCT is only allowed in aggregates, not {name}()"
            )));
        }
        if let Some(func) = ScalarFunc::from_name(&name) {
            return Ok(Expr::Function { func, args });
        }
        rewritten_function(&name, args)
    }
}

/// A subquery where `subquery.rs` does not plan it (it handles whole WHERE/HAVING
/// conjuncts only, so one under OR, CASE, a function or in the select list ends here).
fn misplaced_subquery(e: &ast::Expr) -> Error {
    Error::NotSupported(format!(
        "subquery in this position ('{e}'); floe plans subqueries in WHERE, in the select \
         list, and as HAVING conjuncts comparing with a scalar (SELECT …)"
    ))
}

/// `quantile_cont(x, q)`: the aggregate takes `x`; `q` must be a numeric literal.
fn quantile(name: &str, mut args: Vec<Expr>) -> Result<Expr> {
    let q = match args.as_slice() {
        [_, Expr::Literal(ScalarValue::Float64(q))] => *q,
        [_, Expr::Literal(ScalarValue::Int64(q))] => *q as f64,
        [_, other] => {
            return Err(Error::NotSupported(format!(
                "{name}() with fraction '{other}'; it must be a number literal"
            )))
        }
        _ => {
            return Err(Error::Plan(format!(
                "{name}() takes 2 arguments (value, fraction), got {}",
                args.len()
            )))
        }
    };
    args.truncate(1);
    Ok(Expr::Aggregate {
        func: AggFunc::quantile(q)?,
        args,
    })
}

/// The function names SQL knows, for the "did you mean" of an unknown one.
const FUNCTION_NAMES: &[&str] = &[
    "count",
    "sum",
    "avg",
    "mean",
    "min",
    "max",
    "stddev",
    "stddev_samp",
    "stddev_pop",
    "variance",
    "var_samp",
    "var_pop",
    "first",
    "any_value",
    "last",
    "corr",
    "median",
    "quantile_cont",
    "quantile_disc",
    "arg_min",
    "arg_max",
    "min_by",
    "max_by",
    "string_agg",
    "listagg",
    "approx_count_distinct",
    "coalesce",
    "ifnull",
    "nullif",
    "if",
    "iff",
    "contains",
    "starts_with",
    "ends_with",
    "lower",
    "upper",
    "length",
    "substring",
    "substr",
    "year",
    "quarter",
    "month",
    "day",
    "hour",
    "minute",
    "second",
    "dayofweek",
    "dayofyear",
    "weekofyear",
    "date_trunc",
    "date_part",
    "date_diff",
    "date_add",
    "make_date",
    "strftime",
    "strptime",
    "last_day",
    "current_date",
    "current_timestamp",
    "now",
    "abs",
    "round",
    "sqrt",
    "floor",
    "ceil",
    "power",
    "ln",
    "log10",
    "log2",
    "exp",
    "sign",
    "greatest",
    "least",
    "concat",
    "concat_ws",
    "trim",
    "ltrim",
    "rtrim",
    "replace",
    "lpad",
    "rpad",
    "split_part",
    "strpos",
    "position",
    "reverse",
    "repeat",
    "left",
    "right",
    "regexp_matches",
    "regexp_replace",
    "regexp_extract",
    "like",
    "ilike",
    "grouping",
    "grouping_id",
    "row_number",
    "rank",
    "dense_rank",
    "percent_rank",
    "cume_dist",
    "ntile",
    "lag",
    "lead",
    "first_value",
    "last_value",
    "nth_value",
];

/// Functions lowered to other expressions.
fn rewritten_function(name: &str, args: Vec<Expr>) -> Result<Expr> {
    let arity = |n: usize| -> Result<()> {
        if args.len() == n {
            Ok(())
        } else {
            Err(Error::Plan(format!(
                "{name}() takes {n} arguments, got {}",
                args.len()
            )))
        }
    };
    match name {
        // The function forms of `s LIKE p` and `s ILIKE p`.
        "like" | "ilike" => {
            arity(2)?;
            let mut args = args.into_iter();
            let (expr, pattern) = (args.next(), args.next());
            match (expr, pattern) {
                (Some(expr), Some(pattern)) => Ok(Expr::Like {
                    expr: Box::new(expr),
                    pattern: Box::new(like_pattern(pattern, None)?),
                    negated: false,
                    case_insensitive: name == "ilike",
                }),
                _ => Err(Error::Internal(format!("{name}() lost its arguments"))),
            }
        }
        // Evaluated once, when the query is planned (DuckDB: at the query's start).
        "current_date" | "today" => {
            arity(0)?;
            let days = chrono::Utc::now().date_naive().signed_duration_since(
                chrono::NaiveDate::from_ymd_opt(1970, 1, 1)
                    .ok_or_else(|| Error::Internal("epoch".into()))?,
            );
            Ok(Expr::Literal(ScalarValue::Date32(days.num_days() as i32)))
        }
        "current_timestamp" | "now" | "get_current_timestamp" => {
            arity(0)?;
            Ok(Expr::Literal(ScalarValue::TimestampMicros(
                chrono::Utc::now().timestamp_micros(),
            )))
        }
        "if" | "iff" => {
            arity(3)?;
            let mut it = args.into_iter();
            let (c, t, e) = (it.next(), it.next(), it.next());
            match (c, t, e) {
                (Some(c), Some(t), Some(e)) => Ok(Expr::Case {
                    branches: vec![(c, t)],
                    otherwise: Some(Box::new(e)),
                }),
                _ => Err(Error::Internal("if(): arity checked".into())),
            }
        }
        "nullif" => {
            arity(2)?;
            let (a, b) = (args[0].clone(), args[1].clone());
            Ok(Expr::Case {
                branches: vec![(a.clone().eq(b), Expr::Literal(ScalarValue::Null))],
                otherwise: Some(Box::new(a)),
            })
        }
        "date_part" | "datepart" => {
            arity(2)?;
            let Expr::Literal(ScalarValue::Utf8(part)) = &args[0] else {
                return Err(Error::NotSupported(
                    "date_part() with a non-constant part".into(),
                ));
            };
            let field = match part.to_ascii_lowercase().as_str() {
                "year" => ScalarFunc::Year,
                "quarter" => ScalarFunc::Quarter,
                "month" => ScalarFunc::Month,
                "day" => ScalarFunc::Day,
                "hour" => ScalarFunc::Hour,
                "minute" => ScalarFunc::Minute,
                "second" => ScalarFunc::Second,
                "dow" | "dayofweek" => ScalarFunc::DayOfWeek,
                "isodow" => ScalarFunc::Weekday,
                "doy" | "dayofyear" => ScalarFunc::DayOfYear,
                "week" | "weekofyear" => ScalarFunc::Week,
                other => return Err(Error::NotSupported(format!("date_part('{other}', ...)"))),
            };
            Ok(Expr::Function {
                func: field,
                args: vec![args[1].clone()],
            })
        }
        _ => Err(Error::Plan(format!(
            "unknown function {name}(){}",
            crate::error::did_you_mean(name, FUNCTION_NAMES)
        ))),
    }
}

fn extract_field(field: &DateTimeField) -> Result<ScalarFunc> {
    Ok(match field {
        DateTimeField::Year | DateTimeField::Years => ScalarFunc::Year,
        DateTimeField::Quarter => ScalarFunc::Quarter,
        DateTimeField::Month | DateTimeField::Months => ScalarFunc::Month,
        DateTimeField::Day | DateTimeField::Days => ScalarFunc::Day,
        DateTimeField::Hour | DateTimeField::Hours => ScalarFunc::Hour,
        DateTimeField::Minute | DateTimeField::Minutes => ScalarFunc::Minute,
        DateTimeField::Second | DateTimeField::Seconds => ScalarFunc::Second,
        DateTimeField::Dow | DateTimeField::DayOfWeek => ScalarFunc::DayOfWeek,
        DateTimeField::Isodow => ScalarFunc::Weekday,
        DateTimeField::Doy | DateTimeField::DayOfYear => ScalarFunc::DayOfYear,
        DateTimeField::Week(None) | DateTimeField::Weeks => ScalarFunc::Week,
        DateTimeField::Custom(id) => match id.value.to_ascii_lowercase().as_str() {
            "dow" | "dayofweek" => ScalarFunc::DayOfWeek,
            "isodow" => ScalarFunc::Weekday,
            "doy" | "dayofyear" => ScalarFunc::DayOfYear,
            "week" | "weekofyear" => ScalarFunc::Week,
            "quarter" => ScalarFunc::Quarter,
            other => return Err(Error::NotSupported(format!("EXTRACT({other} FROM ...)"))),
        },
        other => return Err(Error::NotSupported(format!("EXTRACT({other} FROM ...)"))),
    })
}

pub(super) fn binary_op(op: &BinaryOperator) -> Result<BinaryOp> {
    use BinaryOperator as B;
    Ok(match op {
        B::Plus => BinaryOp::Plus,
        B::Minus => BinaryOp::Minus,
        B::Multiply => BinaryOp::Multiply,
        B::Divide => BinaryOp::Divide,
        B::DuckIntegerDivide | B::MyIntegerDivide => BinaryOp::IntegerDivide,
        B::Modulo => BinaryOp::Modulo,
        B::Eq => BinaryOp::Eq,
        B::NotEq => BinaryOp::NotEq,
        B::Lt => BinaryOp::Lt,
        B::LtEq => BinaryOp::LtEq,
        B::Gt => BinaryOp::Gt,
        B::GtEq => BinaryOp::GtEq,
        B::And => BinaryOp::And,
        B::Or => BinaryOp::Or,
        other => return Err(Error::NotSupported(format!("operator {other}"))),
    })
}

/// A literal value.
pub(crate) fn literal(v: &Value) -> Result<ScalarValue> {
    Ok(match v {
        Value::Number(n, _) => number(n)?,
        Value::Boolean(b) => ScalarValue::Boolean(*b),
        Value::Null => ScalarValue::Null,
        Value::SingleQuotedString(s)
        | Value::TripleSingleQuotedString(s)
        | Value::TripleDoubleQuotedString(s)
        | Value::EscapedStringLiteral(s)
        | Value::UnicodeStringLiteral(s)
        | Value::NationalStringLiteral(s)
        | Value::DoubleQuotedString(s) => ScalarValue::Utf8(s.clone()),
        Value::DollarQuotedString(s) => ScalarValue::Utf8(s.value.clone()),
        Value::Placeholder(p) => return Err(Error::NotSupported(format!("query parameter {p}"))),
        other => return Err(Error::NotSupported(format!("literal {other}"))),
    })
}

/// An integer literal is Int64 (Float64 past its range); a decimal point or exponent makes Float64.
fn number(text: &str) -> Result<ScalarValue> {
    if !text.contains(['.', 'e', 'E']) {
        if let Ok(i) = text.parse::<i64>() {
            return Ok(ScalarValue::Int64(i));
        }
    }
    text.parse::<f64>()
        .map(ScalarValue::Float64)
        .map_err(|_| Error::Sql(format!("invalid number literal {text}")))
}

/// `DATE '2024-01-01'`, `TIMESTAMP '2024-01-01 12:00:00'`, or `<type> '<text>'` as a cast.
fn typed_string(t: &ast::DataType, v: &Value) -> Result<Expr> {
    let text = match v {
        Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => s.as_str(),
        other => {
            return Err(Error::Sql(format!(
                "expected a string after {t}, got {other}"
            )))
        }
    };
    let to = sql_type(t)?;
    Ok(Expr::Literal(match to {
        DataType::Date32 => ScalarValue::Date32(parse_date(text)?),
        DataType::Timestamp(..) => ScalarValue::TimestampMicros(parse_timestamp(text)?),
        _ => return Ok(lit(text).cast(to)),
    }))
}

fn parse_date(s: &str) -> Result<i32> {
    let d = chrono::NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .map_err(|e| Error::Sql(format!("invalid DATE literal '{s}': {e}")))?;
    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1)
        .ok_or_else(|| Error::Internal("epoch".into()))?;
    i32::try_from((d - epoch).num_days())
        .map_err(|_| Error::Sql(format!("DATE literal '{s}' out of range")))
}

fn parse_timestamp(s: &str) -> Result<i64> {
    let t = s.trim();
    let formats = [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
    ];
    let parsed = formats
        .iter()
        .find_map(|f| chrono::NaiveDateTime::parse_from_str(t, f).ok())
        .or_else(|| {
            chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
        })
        .ok_or_else(|| Error::Sql(format!("invalid TIMESTAMP literal '{s}'")))?;
    Ok(parsed.and_utc().timestamp_micros())
}

/// The Arrow type of a SQL type name.
pub(crate) fn sql_type(t: &ast::DataType) -> Result<DataType> {
    use ast::DataType as T;
    Ok(match t {
        T::TinyInt(_) => DataType::Int8,
        T::SmallInt(_) | T::Int2(_) => DataType::Int16,
        T::Int(_)
        | T::Integer(_)
        | T::Int4(_)
        | T::BigInt(_)
        | T::Int8(_)
        | T::Int64
        | T::Signed
        | T::SignedInteger => DataType::Int64,
        T::Int16 => DataType::Int16,
        T::Int32 => DataType::Int32,
        T::Double(_)
        | T::DoublePrecision
        | T::Float(_)
        | T::Float4
        | T::Float8
        | T::Float32
        | T::Float64
        | T::Real
        | T::Decimal(_)
        | T::Dec(_)
        | T::Numeric(_) => DataType::Float64,
        T::Varchar(_)
        | T::Nvarchar(_)
        | T::CharacterVarying(_)
        | T::CharVarying(_)
        | T::Char(_)
        | T::Character(_)
        | T::Text
        | T::String(_) => DataType::Utf8,
        T::Bool | T::Boolean => DataType::Boolean,
        T::Date => DataType::Date32,
        T::Timestamp(_, tz) => match tz {
            ast::TimezoneInfo::None | ast::TimezoneInfo::WithoutTimeZone => {
                DataType::Timestamp(TimeUnit::Microsecond, None)
            }
            _ => return Err(Error::NotSupported("TIMESTAMP WITH TIME ZONE".into())),
        },
        T::Datetime(_) | T::TimestampNtz(_) => DataType::Timestamp(TimeUnit::Microsecond, None),
        other => return Err(Error::NotSupported(format!("type {other}"))),
    })
}

/// `a IS NOT DISTINCT FROM b`: true when both are NULL or both equal, false otherwise
/// (never NULL).
fn not_distinct(a: Expr, b: Expr) -> Expr {
    Expr::Case {
        branches: vec![
            (a.clone().is_null(), b.clone().is_null()),
            (b.clone().is_null(), lit(false)),
        ],
        otherwise: Some(Box::new(a.eq(b))),
    }
}
