//! Exact arithmetic on decimal literals, as SQL (and DuckDB) does it.
//!
//! `0.06 + 0.01` in SQL is the DECIMAL 0.07, but as doubles it is
//! 0.06999999999999999, and `l_discount <= 0.06 + 0.01` would then drop every
//! discount of exactly 0.07 (TPC-H Q6). Constant `+`, `-` and `*` over number literals
//! are therefore computed here on scaled integers and only then become one literal.

use sqlparser::ast::{self, BinaryOperator, UnaryOperator, Value};

/// A decimal value: `mantissa × 10^-scale`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Exact {
    mantissa: i128,
    scale: u32,
}

impl Exact {
    fn parse(text: &str) -> Option<Exact> {
        if text.contains(['e', 'E']) {
            return None;
        }
        let (neg, digits) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
        if frac.len() > 18 || int.len() > 18 {
            return None;
        }
        let mantissa: i128 = format!("{int}{frac}").parse().ok()?;
        Some(Exact {
            mantissa: if neg { -mantissa } else { mantissa },
            scale: frac.len() as u32,
        })
    }

    fn rescale(self, scale: u32) -> Option<i128> {
        self.mantissa
            .checked_mul(10i128.checked_pow(scale - self.scale)?)
    }

    fn combine(self, op: &BinaryOperator, other: Exact) -> Option<Exact> {
        match op {
            BinaryOperator::Plus | BinaryOperator::Minus => {
                let scale = self.scale.max(other.scale);
                let (a, b) = (self.rescale(scale)?, other.rescale(scale)?);
                let mantissa = if *op == BinaryOperator::Plus {
                    a.checked_add(b)?
                } else {
                    a.checked_sub(b)?
                };
                Some(Exact { mantissa, scale })
            }
            BinaryOperator::Multiply => Some(Exact {
                mantissa: self.mantissa.checked_mul(other.mantissa)?,
                scale: self.scale + other.scale,
            })
            .filter(|e| e.scale <= 36),
            _ => None,
        }
    }

    /// The value as SQL number text (`0.07`, `-3`, `1.50`).
    pub fn text(self) -> String {
        let neg = self.mantissa < 0;
        let digits = self.mantissa.unsigned_abs().to_string();
        let scale = self.scale as usize;
        let body = if scale == 0 {
            digits
        } else {
            let padded = format!("{digits:0>width$}", width = scale + 1);
            let (int, frac) = padded.split_at(padded.len() - scale);
            format!("{int}.{frac}")
        };
        if neg {
            format!("-{body}")
        } else {
            body
        }
    }
}

/// The exact value of a constant expression made of number literals and `+ - *`, if
/// it is one (and has at least one operator, so single literals are left alone).
pub fn fold(e: &ast::Expr) -> Option<Exact> {
    match e {
        ast::Expr::BinaryOp { .. } => eval(e),
        _ => None,
    }
}

fn eval(e: &ast::Expr) -> Option<Exact> {
    match e {
        ast::Expr::Value(v) => match &v.value {
            Value::Number(n, _) => Exact::parse(n),
            _ => None,
        },
        ast::Expr::Nested(inner) => eval(inner),
        ast::Expr::UnaryOp {
            op: UnaryOperator::Minus,
            expr,
        } => eval(expr).map(|x| Exact {
            mantissa: -x.mantissa,
            scale: x.scale,
        }),
        ast::Expr::BinaryOp { left, op, right } => eval(left)?.combine(op, eval(right)?),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use sqlparser::dialect::GenericDialect;
    use sqlparser::parser::Parser;

    use super::*;

    fn folded(sql: &str) -> Option<String> {
        let e = Parser::new(&GenericDialect)
            .try_with_sql(sql)
            .unwrap()
            .parse_expr()
            .unwrap();
        fold(&e).map(|x| x.text())
    }

    #[test]
    fn decimal_literal_arithmetic_is_exact() {
        assert_eq!(folded("0.06 + 0.01").as_deref(), Some("0.07"));
        assert_eq!(folded("0.06 - 0.01").as_deref(), Some("0.05"));
        assert_eq!(folded("(1 - 0.25) * 2").as_deref(), Some("1.50"));
        assert_eq!(folded("-0.5 + 0.25").as_deref(), Some("-0.25"));
        assert_eq!(folded("0.01 - 0.06").as_deref(), Some("-0.05"));
        assert_eq!(folded("3"), None);
        assert_eq!(folded("x + 1"), None);
        assert_eq!(folded("1 / 3"), None);
    }
}
