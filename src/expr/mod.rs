//! Expressions: the column computations of a plan.
//!
//! An [`Expr`] is plain data (an enum, matched exhaustively). Builders give it a
//! Polars-like surface (`col("a").gt(lit(3)).and(col("b").is_null())`). Its type is
//! resolved against a schema when the plan node that holds it is built
//! ([`types`]), so a type error surfaces at `filter(...)`, not at `collect()`.
//! Evaluation ([`eval`]) runs arrow's compute kernels on a whole record batch; no
//! expression is evaluated row by row.

pub mod aggregate;
pub mod cast;
mod conjuncts;
mod date_functions;
pub mod eval;
pub mod float_keys;
pub mod functions;
mod math_functions;
pub mod scalar;
mod sort;
mod string_functions;
pub mod types;
pub mod window;
mod window_expr;

use std::fmt;

use arrow::datatypes::DataType;

pub use aggregate::{value_type, AggFunc, AggOrder};
pub use functions::ScalarFunc;
pub use scalar::ScalarValue;
pub use sort::SortExpr;
pub use window_expr::{cume_dist, dense_rank, ntile, percent_rank, rank, row_number, WindowExpr};

use serde::{Deserialize, Serialize};

/// Binary operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum BinaryOp {
    Plus,
    Minus,
    Multiply,
    Divide,
    /// `//`: integer division truncating toward zero for integers (a division by zero
    /// is an error, as in DuckDB), plain `/` for other numbers.
    IntegerDivide,
    Modulo,
    Eq,
    NotEq,
    Lt,
    LtEq,
    Gt,
    GtEq,
    And,
    Or,
}

impl BinaryOp {
    /// True for `= <> < <= > >=`.
    pub fn is_comparison(self) -> bool {
        matches!(
            self,
            BinaryOp::Eq
                | BinaryOp::NotEq
                | BinaryOp::Lt
                | BinaryOp::LtEq
                | BinaryOp::Gt
                | BinaryOp::GtEq
        )
    }

    /// True for `+ - * / %`.
    pub fn is_arithmetic(self) -> bool {
        matches!(
            self,
            BinaryOp::Plus
                | BinaryOp::Minus
                | BinaryOp::Multiply
                | BinaryOp::Divide
                | BinaryOp::IntegerDivide
                | BinaryOp::Modulo
        )
    }

    /// The operator as SQL writes it.
    pub fn symbol(self) -> &'static str {
        match self {
            BinaryOp::Plus => "+",
            BinaryOp::Minus => "-",
            BinaryOp::Multiply => "*",
            BinaryOp::Divide => "/",
            BinaryOp::IntegerDivide => "//",
            BinaryOp::Modulo => "%",
            BinaryOp::Eq => "=",
            BinaryOp::NotEq => "!=",
            BinaryOp::Lt => "<",
            BinaryOp::LtEq => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::GtEq => ">=",
            BinaryOp::And => "AND",
            BinaryOp::Or => "OR",
        }
    }
}

/// A column expression.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Expr {
    /// A column of the input, by name.
    Column(String),
    /// A constant.
    Literal(ScalarValue),
    /// Renames the result.
    Alias(Box<Expr>, String),
    Binary {
        left: Box<Expr>,
        op: BinaryOp,
        right: Box<Expr>,
    },
    Not(Box<Expr>),
    Negative(Box<Expr>),
    IsNull(Box<Expr>),
    IsNotNull(Box<Expr>),
    Cast {
        expr: Box<Expr>,
        to: DataType,
    },
    /// `CASE WHEN c1 THEN v1 ... ELSE e END`.
    Case {
        branches: Vec<(Expr, Expr)>,
        otherwise: Option<Box<Expr>>,
    },
    InList {
        expr: Box<Expr>,
        list: Vec<Expr>,
        negated: bool,
    },
    Like {
        expr: Box<Expr>,
        pattern: Box<Expr>,
        negated: bool,
        case_insensitive: bool,
    },
    /// A scalar (row-wise) function.
    Function {
        func: ScalarFunc,
        args: Vec<Expr>,
    },
    /// An aggregate; allowed only inside `agg(..)`.
    Aggregate {
        func: AggFunc,
        args: Vec<Expr>,
    },
    /// A window function call (`.over(..)`); allowed only in `select`,
    /// `with_columns` and `filter`, which plan it as a Window node below them.
    Window(Box<WindowExpr>),
}

/// A column reference.
pub fn col(name: impl Into<String>) -> Expr {
    Expr::Column(name.into())
}

/// A literal.
pub fn lit(value: impl Into<ScalarValue>) -> Expr {
    Expr::Literal(value.into())
}

/// The typed NULL literal.
pub fn null() -> Expr {
    Expr::Literal(ScalarValue::Null)
}

/// The number of rows (SQL `count(*)`).
pub fn len() -> Expr {
    Expr::Aggregate {
        func: AggFunc::CountStar,
        args: vec![],
    }
}

/// Starts `when(c).then(v).otherwise(e)`.
pub fn when(condition: Expr) -> When {
    When {
        branches: vec![],
        pending: condition,
    }
}

/// Pearson correlation of two columns.
pub fn corr(a: Expr, b: Expr) -> Expr {
    Expr::Aggregate {
        func: AggFunc::Corr,
        args: vec![a, b],
    }
}

/// The expressions as text, joined row by row (Polars' `concat_str`, SQL's `||`): NULL
/// where any of them is NULL. SQL's `concat()` skips NULLs instead.
pub fn concat_str(exprs: impl IntoIterator<Item = Expr>) -> Expr {
    Expr::Function {
        func: ScalarFunc::ConcatStrict,
        args: exprs.into_iter().collect(),
    }
}

/// The largest of the expressions per row, NULLs skipped (Polars' `max_horizontal`,
/// SQL's `greatest`).
pub fn max_horizontal(exprs: impl IntoIterator<Item = Expr>) -> Expr {
    Expr::Function {
        func: ScalarFunc::Greatest,
        args: exprs.into_iter().collect(),
    }
}

/// The smallest of the expressions per row, NULLs skipped (SQL's `least`).
pub fn min_horizontal(exprs: impl IntoIterator<Item = Expr>) -> Expr {
    Expr::Function {
        func: ScalarFunc::Least,
        args: exprs.into_iter().collect(),
    }
}

/// Builder state after `when(..)`.
pub struct When {
    branches: Vec<(Expr, Expr)>,
    pending: Expr,
}

/// Builder state after `then(..)`.
pub struct Then {
    branches: Vec<(Expr, Expr)>,
}

impl When {
    pub fn then(mut self, value: Expr) -> Then {
        self.branches.push((self.pending, value));
        Then {
            branches: self.branches,
        }
    }
}

impl Then {
    pub fn when(self, condition: Expr) -> When {
        When {
            branches: self.branches,
            pending: condition,
        }
    }
    pub fn otherwise(self, value: Expr) -> Expr {
        Expr::Case {
            branches: self.branches,
            otherwise: Some(Box::new(value)),
        }
    }
    /// Ends the CASE with NULL for rows no branch matches.
    pub fn end(self) -> Expr {
        Expr::Case {
            branches: self.branches,
            otherwise: None,
        }
    }
}

macro_rules! binary_builders {
    ($($name:ident => $op:ident),* $(,)?) => {
        $(
            #[doc = concat!("`self ", stringify!($op), " other`")]
            #[allow(clippy::should_implement_trait)]
            pub fn $name(self, other: Expr) -> Expr {
                Expr::Binary { left: Box::new(self), op: BinaryOp::$op, right: Box::new(other) }
            }
        )*
    };
}

macro_rules! agg_builders {
    ($($name:ident => $func:ident),* $(,)?) => {
        $(
            #[doc = concat!("The `", stringify!($name), "` aggregate of this expression.")]
            pub fn $name(self) -> Expr {
                Expr::Aggregate { func: AggFunc::$func, args: vec![self] }
            }
        )*
    };
}

macro_rules! func_builders {
    ($($name:ident => $func:ident),* $(,)?) => {
        $(
            #[doc = concat!("The `", stringify!($name), "` function of this expression.")]
            pub fn $name(self) -> Expr {
                Expr::Function { func: ScalarFunc::$func, args: vec![self] }
            }
        )*
    };
}

impl Expr {
    binary_builders!(
        add => Plus, sub => Minus, mul => Multiply, div => Divide, rem => Modulo,
        eq => Eq, neq => NotEq, lt => Lt, lt_eq => LtEq, gt => Gt, gt_eq => GtEq,
        and => And, or => Or,
    );
    agg_builders!(
        count => Count, sum => Sum, mean => Mean, min => Min, max => Max, std => Std,
        var => Var, count_distinct => CountDistinct, first => First, last => Last,
        n_unique => CountDistinct, std_pop => StdPop, var_pop => VarPop,
        sum_distinct => SumDistinct, mean_distinct => MeanDistinct,
        approx_n_unique => ApproxCountDistinct,
    );

    /// `self` at the row where `by` is largest (SQL `arg_max(self, by)`, DuckDB's
    /// `max_by`); rows where either is null are skipped.
    pub fn max_by(self, by: Expr) -> Expr {
        Expr::Aggregate {
            func: AggFunc::ArgMax,
            args: vec![self, by],
        }
    }

    /// `self` at the row where `by` is smallest (SQL `arg_min(self, by)`).
    pub fn min_by(self, by: Expr) -> Expr {
        Expr::Aggregate {
            func: AggFunc::ArgMin,
            args: vec![self, by],
        }
    }

    /// The non-null values as text joined by `separator`, in input order (Polars'
    /// `str.join`; SQL `string_agg(self, separator)`).
    pub fn str_join(self, separator: &str) -> Expr {
        Expr::Aggregate {
            func: AggFunc::StringAgg(None),
            args: vec![self, lit(separator)],
        }
    }
    func_builders!(
        lower => Lower, upper => Upper, str_len => Length, year => Year, month => Month,
        day => Day, hour => Hour, minute => Minute, second => Second, weekday => Weekday,
        abs => Abs, floor => Floor, ceil => Ceil, exp => Exp, ln => Ln, log10 => Log10,
        sign => Sign, str_reverse => Reverse, strip_chars => Trim,
    );

    /// `self` raised to `exponent` (a double).
    pub fn pow(self, exponent: Expr) -> Expr {
        Expr::Function {
            func: ScalarFunc::Power,
            args: vec![self, exponent],
        }
    }

    /// Renames the result.
    pub fn alias(self, name: impl Into<String>) -> Expr {
        Expr::Alias(Box::new(self), name.into())
    }
    #[allow(clippy::should_implement_trait)]
    pub fn not(self) -> Expr {
        Expr::Not(Box::new(self))
    }
    pub fn is_null(self) -> Expr {
        Expr::IsNull(Box::new(self))
    }
    pub fn is_not_null(self) -> Expr {
        Expr::IsNotNull(Box::new(self))
    }
    /// Replaces nulls with `value`.
    pub fn fill_null(self, value: Expr) -> Expr {
        Expr::Function {
            func: ScalarFunc::Coalesce,
            args: vec![self, value],
        }
    }

    /// The exact median (interpolated, as DuckDB's `median`).
    pub fn median(self) -> Expr {
        Expr::Aggregate {
            func: AggFunc::Median,
            args: vec![self],
        }
    }

    /// The exact continuous quantile at fraction `q` (DuckDB's `quantile_cont`).
    pub fn quantile(self, q: f64) -> crate::error::Result<Expr> {
        Ok(Expr::Aggregate {
            func: AggFunc::quantile(q)?,
            args: vec![self],
        })
    }

    /// This expression as an ascending sort key (nulls last).
    pub fn sort_asc(self) -> SortExpr {
        SortExpr::asc(self)
    }

    /// This expression as a descending sort key (nulls last).
    pub fn sort_desc(self) -> SortExpr {
        SortExpr::desc(self)
    }

    pub fn cast(self, to: DataType) -> Expr {
        Expr::Cast {
            expr: Box::new(self),
            to,
        }
    }
    pub fn is_in(self, list: Vec<Expr>) -> Expr {
        Expr::InList {
            expr: Box::new(self),
            list,
            negated: false,
        }
    }
    pub fn between(self, low: Expr, high: Expr) -> Expr {
        self.clone().gt_eq(low).and(self.lt_eq(high))
    }
    /// SQL LIKE with `%` and `_`.
    pub fn like(self, pattern: impl Into<String>) -> Expr {
        Expr::Like {
            expr: Box::new(self),
            pattern: Box::new(lit(pattern.into())),
            negated: false,
            case_insensitive: false,
        }
    }
    pub fn contains(self, pattern: impl Into<String>) -> Expr {
        self.string_predicate(ScalarFunc::Contains, pattern.into())
    }
    pub fn starts_with(self, prefix: impl Into<String>) -> Expr {
        self.string_predicate(ScalarFunc::StartsWith, prefix.into())
    }
    pub fn ends_with(self, suffix: impl Into<String>) -> Expr {
        self.string_predicate(ScalarFunc::EndsWith, suffix.into())
    }
    fn string_predicate(self, func: ScalarFunc, s: String) -> Expr {
        Expr::Function {
            func,
            args: vec![self, lit(s)],
        }
    }
    /// Truncates a date or timestamp to `unit` (year, quarter, month, week, day, hour, minute, second).
    pub fn dt_truncate(self, unit: &str) -> Expr {
        Expr::Function {
            func: ScalarFunc::DateTrunc,
            args: vec![lit(unit), self],
        }
    }
    /// Characters `start..start+len` (1-based start, as in SQL).
    pub fn substring(self, start: i64, len: Option<i64>) -> Expr {
        let mut args = vec![self, lit(start)];
        args.extend(len.map(lit));
        Expr::Function {
            func: ScalarFunc::Substring,
            args,
        }
    }

    /// The output name: the alias, the column name, or the expression text.
    pub fn output_name(&self) -> String {
        match self {
            Expr::Alias(_, name) => name.clone(),
            Expr::Column(name) => name.clone(),
            other => other.to_string(),
        }
    }

    /// The expression under any aliases.
    pub fn unalias(&self) -> &Expr {
        match self {
            Expr::Alias(e, _) => e.unalias(),
            e => e,
        }
    }

    /// The direct sub-expressions.
    pub fn children(&self) -> Vec<&Expr> {
        match self {
            Expr::Column(_) | Expr::Literal(_) => vec![],
            Expr::Alias(e, _)
            | Expr::Not(e)
            | Expr::Negative(e)
            | Expr::IsNull(e)
            | Expr::IsNotNull(e)
            | Expr::Cast { expr: e, .. } => vec![e],
            Expr::Binary { left, right, .. } => vec![left, right],
            Expr::Case {
                branches,
                otherwise,
            } => branches
                .iter()
                .flat_map(|(c, v)| [c, v])
                .chain(otherwise.as_deref())
                .collect(),
            Expr::InList { expr, list, .. } => std::iter::once(expr.as_ref()).chain(list).collect(),
            Expr::Like { expr, pattern, .. } => vec![expr, pattern],
            Expr::Function { args, .. } | Expr::Aggregate { args, .. } => args.iter().collect(),
            Expr::Window(w) => (w.args.iter())
                .chain(&w.partition_by)
                .chain(w.order_by.iter().map(|o| &o.expr))
                .collect(),
        }
    }

    /// Rebuilds the expression bottom-up with `f` applied to every node.
    pub fn transform(self, f: &mut dyn FnMut(Expr) -> Expr) -> Expr {
        let b = |e: Box<Expr>, f: &mut dyn FnMut(Expr) -> Expr| -> Box<Expr> {
            Box::new(e.transform(f))
        };
        let node = match self {
            e @ (Expr::Column(_) | Expr::Literal(_)) => e,
            Expr::Alias(e, n) => Expr::Alias(b(e, f), n),
            Expr::Not(e) => Expr::Not(b(e, f)),
            Expr::Negative(e) => Expr::Negative(b(e, f)),
            Expr::IsNull(e) => Expr::IsNull(b(e, f)),
            Expr::IsNotNull(e) => Expr::IsNotNull(b(e, f)),
            Expr::Cast { expr, to } => Expr::Cast {
                expr: b(expr, f),
                to,
            },
            Expr::Binary { left, op, right } => Expr::Binary {
                left: b(left, f),
                op,
                right: b(right, f),
            },
            Expr::Case {
                branches,
                otherwise,
            } => Expr::Case {
                branches: branches
                    .into_iter()
                    .map(|(c, v)| (c.transform(f), v.transform(f)))
                    .collect(),
                otherwise: otherwise.map(|e| b(e, f)),
            },
            Expr::InList {
                expr,
                list,
                negated,
            } => Expr::InList {
                expr: b(expr, f),
                list: list.into_iter().map(|e| e.transform(f)).collect(),
                negated,
            },
            Expr::Like {
                expr,
                pattern,
                negated,
                case_insensitive,
            } => Expr::Like {
                expr: b(expr, f),
                pattern: b(pattern, f),
                negated,
                case_insensitive,
            },
            Expr::Function { func, args } => Expr::Function {
                func,
                args: args.into_iter().map(|e| e.transform(f)).collect(),
            },
            Expr::Aggregate { func, args } => Expr::Aggregate {
                func,
                args: args.into_iter().map(|e| e.transform(f)).collect(),
            },
            Expr::Window(w) => {
                let w = *w;
                Expr::Window(Box::new(WindowExpr {
                    args: w.args.into_iter().map(|e| e.transform(f)).collect(),
                    partition_by: (w.partition_by.into_iter())
                        .map(|e| e.transform(f))
                        .collect(),
                    order_by: (w.order_by.into_iter())
                        .map(|o| SortExpr {
                            expr: o.expr.transform(f),
                            ..o
                        })
                        .collect(),
                    ..w
                }))
            }
        };
        f(node)
    }

    /// Visits every node, parents first.
    pub fn visit(&self, f: &mut impl FnMut(&Expr)) {
        f(self);
        for c in self.children() {
            c.visit(f);
        }
    }

    /// Names of the columns the expression reads.
    pub fn column_refs(&self) -> Vec<String> {
        let mut out = vec![];
        self.visit(&mut |e| {
            if let Expr::Column(c) = e {
                if !out.contains(c) {
                    out.push(c.clone());
                }
            }
        });
        out
    }

    /// True if an aggregate appears anywhere inside.
    pub fn contains_aggregate(&self) -> bool {
        let mut found = false;
        self.visit(&mut |e| found |= matches!(e, Expr::Aggregate { .. }));
        found
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Column(c) => write!(f, "{c}"),
            Expr::Literal(v) => write!(f, "{v}"),
            Expr::Alias(e, n) => write!(f, "{e} AS {n}"),
            Expr::Binary { left, op, right } => write!(f, "({left} {} {right})", op.symbol()),
            Expr::Not(e) => write!(f, "NOT {e}"),
            Expr::Negative(e) => write!(f, "-{e}"),
            Expr::IsNull(e) => write!(f, "{e} IS NULL"),
            Expr::IsNotNull(e) => write!(f, "{e} IS NOT NULL"),
            Expr::Cast { expr, to } => write!(f, "CAST({expr} AS {to})"),
            Expr::Case {
                branches,
                otherwise,
            } => {
                write!(f, "CASE")?;
                for (c, v) in branches {
                    write!(f, " WHEN {c} THEN {v}")?;
                }
                if let Some(e) = otherwise {
                    write!(f, " ELSE {e}")?;
                }
                write!(f, " END")
            }
            Expr::InList {
                expr,
                list,
                negated,
            } => {
                let items: Vec<String> = list.iter().map(|e| e.to_string()).collect();
                let not = if *negated { " NOT" } else { "" };
                write!(f, "{expr}{not} IN ({})", items.join(", "))
            }
            Expr::Like {
                expr,
                pattern,
                negated,
                case_insensitive,
            } => {
                let not = if *negated { " NOT" } else { "" };
                let op = if *case_insensitive { "ILIKE" } else { "LIKE" };
                write!(f, "{expr}{not} {op} {pattern}")
            }
            Expr::Function { func, args } => {
                let items: Vec<String> = args.iter().map(|e| e.to_string()).collect();
                write!(f, "{}({})", func.name(), items.join(", "))
            }
            Expr::Aggregate { func, args } => {
                if matches!(func, AggFunc::CountStar) {
                    return write!(f, "count_star()");
                }
                let items: Vec<String> = args.iter().map(|e| e.to_string()).collect();
                write!(f, "{}({})", func.name(), items.join(", "))
            }
            Expr::Window(w) => write!(f, "{w}"),
        }
    }
}

macro_rules! operator_traits {
    ($($trait:ident :: $method:ident => $op:ident),* $(,)?) => {
        $(
            impl std::ops::$trait for Expr {
                type Output = Expr;
                fn $method(self, other: Expr) -> Expr {
                    Expr::Binary { left: Box::new(self), op: BinaryOp::$op, right: Box::new(other) }
                }
            }
        )*
    };
}

operator_traits!(Add::add => Plus, Sub::sub => Minus, Mul::mul => Multiply, Div::div => Divide, Rem::rem => Modulo);

impl std::ops::Neg for Expr {
    type Output = Expr;
    fn neg(self) -> Expr {
        Expr::Negative(Box::new(self))
    }
}
