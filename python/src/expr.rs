//! `floe.Expr` and the functions that make expressions (`col`, `lit`, `when`, `len`,
//! the ranking functions), in Polars' shape: `col("x").sum().alias("s")`,
//! `(col("a") + 1) > col("b")`, `col("x").rank().over("g")`. Python scalars (int,
//! float, str, bool, None) are literals wherever an expression is expected.

use std::str::FromStr;

use arrow::datatypes::DataType;
use arrow::pyarrow::FromPyArrow;
use floe::expr::{self as fx, Expr, SortExpr};
use pyo3::basic::CompareOp;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyFloat, PyInt, PyList, PyString, PyTuple};

use crate::errors::{IntoPy, InvalidInputError};

/// An expression over the columns of a frame.
#[pyclass(name = "Expr", module = "floe", frozen, skip_from_py_object)]
#[derive(Clone)]
pub struct PyExpr {
    pub inner: Expr,
}

fn wrap(e: Expr) -> PyExpr {
    PyExpr { inner: e }
}

/// An expression from a Python value: an Expr, or a scalar literal.
pub fn to_expr(obj: &Bound<'_, PyAny>) -> PyResult<Expr> {
    if let Ok(e) = obj.extract::<PyRef<'_, PyExpr>>() {
        return Ok(e.inner.clone());
    }
    if obj.is_none() {
        return Ok(fx::null());
    }
    if obj.is_instance_of::<PyBool>() {
        return Ok(fx::lit(obj.extract::<bool>()?));
    }
    if obj.is_instance_of::<PyInt>() {
        let v: i64 = obj.extract().map_err(|_| {
            InvalidInputError::new_err(format!("integer literal {obj} does not fit in 64 bits"))
        })?;
        return Ok(fx::lit(v));
    }
    if obj.is_instance_of::<PyFloat>() {
        return Ok(fx::lit(obj.extract::<f64>()?));
    }
    if obj.is_instance_of::<PyString>() {
        return Ok(fx::lit(obj.extract::<String>()?));
    }
    Err(InvalidInputError::new_err(format!(
        "expected an expression or a literal (int, float, str, bool, None), got {}",
        obj.get_type().name()?
    )))
}

/// Expressions from one value or a list: strings name columns here (`group_by("g")`,
/// `select(["a", col("b") * 2])`).
pub fn to_exprs(obj: &Bound<'_, PyAny>) -> PyResult<Vec<Expr>> {
    if obj.is_instance_of::<PyList>() || obj.is_instance_of::<PyTuple>() {
        return obj.try_iter()?.map(|o| column_or_expr(&o?)).collect();
    }
    Ok(vec![column_or_expr(obj)?])
}

/// A column (from a string) or an expression.
pub fn column_or_expr(obj: &Bound<'_, PyAny>) -> PyResult<Expr> {
    if let Ok(name) = obj.extract::<String>() {
        return Ok(fx::col(name.as_str()));
    }
    to_expr(obj)
}

/// An Arrow type from a pyarrow type or a name ("Int64", "Float64", "Utf8", "Date32").
pub fn data_type(obj: &Bound<'_, PyAny>) -> PyResult<DataType> {
    if let Ok(text) = obj.extract::<String>() {
        return DataType::from_str(&text)
            .map_err(|e| InvalidInputError::new_err(format!("unknown type name {text:?}: {e}")));
    }
    DataType::from_pyarrow_bound(obj)
}

/// Sort keys: names or expressions, with one `descending` flag or one per key
/// (ascending when `None`).
pub fn sort_keys(
    by: &Bound<'_, PyAny>,
    descending: Option<&Bound<'_, PyAny>>,
    nulls_last: Option<bool>,
) -> PyResult<Vec<SortExpr>> {
    let exprs = to_exprs(by)?;
    let flags: Vec<bool> = match descending {
        None => vec![false; exprs.len()],
        Some(d) => match d.extract::<bool>() {
            Ok(one) => vec![one; exprs.len()],
            Err(_) => d.extract()?,
        },
    };
    if flags.len() != exprs.len() {
        return Err(InvalidInputError::new_err(format!(
            "{} sort keys but {} descending flags",
            exprs.len(),
            flags.len()
        )));
    }
    Ok(exprs
        .into_iter()
        .zip(flags)
        .map(|(e, d)| {
            let s = if d {
                SortExpr::desc(e)
            } else {
                SortExpr::asc(e)
            };
            match nulls_last {
                Some(last) => s.with_nulls_first(!last),
                None => s,
            }
        })
        .collect())
}

macro_rules! unary {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {
        #[pymethods]
        impl PyExpr {
            $(
                $(#[$doc])*
                fn $name(&self) -> PyExpr {
                    wrap(self.inner.clone().$name())
                }
            )*
        }
    };
}

unary!(
    /// The sum (an aggregate).
    sum,
    /// The mean (an aggregate).
    mean,
    /// The smallest value (an aggregate).
    min,
    /// The largest value (an aggregate).
    max,
    /// The number of non-null values (an aggregate).
    count,
    /// The number of distinct non-null values (an aggregate).
    n_unique,
    /// The sample standard deviation (an aggregate).
    std,
    /// The sample variance (an aggregate).
    var,
    /// The first value in input order (an aggregate).
    first,
    /// The last value in input order (an aggregate).
    last,
    /// The exact median (an aggregate).
    median,
    /// Whether the value is null.
    is_null,
    /// Whether the value is not null.
    is_not_null,
    /// Lower-case text.
    lower,
    /// Upper-case text.
    upper,
    /// The length of text in characters.
    str_len,
    /// The year of a date or timestamp.
    year,
    /// The month (1-12).
    month,
    /// The day of the month.
    day,
    /// The absolute value.
    abs,
    /// Rounded down.
    floor,
    /// Rounded up.
    ceil,
    /// The running sum over the window's order.
    cum_sum,
    /// The running count.
    cum_count,
    /// The running minimum.
    cum_min,
    /// The running maximum.
    cum_max,
);

#[pymethods]
impl PyExpr {
    /// Names the result.
    fn alias(&self, name: &str) -> PyExpr {
        wrap(self.inner.clone().alias(name))
    }

    /// The result converted to `dtype` (a pyarrow type or a name such as "Float64").
    fn cast(&self, dtype: &Bound<'_, PyAny>) -> PyResult<PyExpr> {
        Ok(wrap(self.inner.clone().cast(data_type(dtype)?)))
    }

    /// `value` where this is null.
    fn fill_null(&self, value: &Bound<'_, PyAny>) -> PyResult<PyExpr> {
        Ok(wrap(self.inner.clone().fill_null(to_expr(value)?)))
    }

    /// Whether the value is one of `values`.
    fn is_in(&self, values: &Bound<'_, PyAny>) -> PyResult<PyExpr> {
        let list = values
            .try_iter()?
            .map(|v| to_expr(&v?))
            .collect::<PyResult<Vec<_>>>()?;
        Ok(wrap(self.inner.clone().is_in(list)))
    }

    /// `low <= self <= high`.
    fn is_between(&self, low: &Bound<'_, PyAny>, high: &Bound<'_, PyAny>) -> PyResult<PyExpr> {
        Ok(wrap(
            self.inner.clone().between(to_expr(low)?, to_expr(high)?),
        ))
    }

    /// Whether the text contains `pattern` (literally).
    fn contains(&self, pattern: &str) -> PyExpr {
        wrap(self.inner.clone().contains(pattern))
    }

    /// Whether the text starts with `prefix`.
    fn starts_with(&self, prefix: &str) -> PyExpr {
        wrap(self.inner.clone().starts_with(prefix))
    }

    /// Whether the text ends with `suffix`.
    fn ends_with(&self, suffix: &str) -> PyExpr {
        wrap(self.inner.clone().ends_with(suffix))
    }

    /// SQL LIKE with `%` and `_`.
    fn like(&self, pattern: &str) -> PyExpr {
        wrap(self.inner.clone().like(pattern))
    }

    /// The exact continuous quantile `q` (an aggregate).
    fn quantile(&self, q: f64) -> PyResult<PyExpr> {
        Ok(wrap(self.inner.clone().quantile(q).py_err()?))
    }

    /// The value `n` rows earlier in the window (`n < 0`: later).
    #[pyo3(signature = (n=1))]
    fn shift(&self, n: i64) -> PyExpr {
        wrap(self.inner.clone().shift(n))
    }

    /// This value minus the one `n` rows earlier in the window.
    #[pyo3(signature = (n=1))]
    fn diff(&self, n: i64) -> PyExpr {
        wrap(self.inner.clone().diff(n))
    }

    /// The sum of the last `n` rows (this one included) in the window's order.
    fn rolling_sum(&self, n: u64) -> PyExpr {
        wrap(self.inner.clone().rolling_sum(n))
    }

    /// The mean of the last `n` rows.
    fn rolling_mean(&self, n: u64) -> PyExpr {
        wrap(self.inner.clone().rolling_mean(n))
    }

    /// The minimum of the last `n` rows.
    fn rolling_min(&self, n: u64) -> PyExpr {
        wrap(self.inner.clone().rolling_min(n))
    }

    /// The maximum of the last `n` rows.
    fn rolling_max(&self, n: u64) -> PyExpr {
        wrap(self.inner.clone().rolling_max(n))
    }

    /// Evaluates the aggregates and window functions inside per partition of
    /// `partition_by`, keeping every row; with `order_by`, rows of each partition are
    /// in that order (running and rolling functions, ranks, shifts).
    #[pyo3(signature = (partition_by=None, order_by=None, descending=None))]
    fn over(
        &self,
        partition_by: Option<&Bound<'_, PyAny>>,
        order_by: Option<&Bound<'_, PyAny>>,
        descending: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyExpr> {
        let p = match partition_by {
            Some(p) => to_exprs(p)?,
            None => vec![],
        };
        let e = self.inner.clone();
        Ok(wrap(match order_by {
            None => e.over(p),
            Some(o) => e.over_ordered(p, sort_keys(o, descending, None)?),
        }))
    }

    fn __add__(&self, o: &Bound<'_, PyAny>) -> PyResult<PyExpr> {
        Ok(wrap(self.inner.clone() + to_expr(o)?))
    }
    fn __radd__(&self, o: &Bound<'_, PyAny>) -> PyResult<PyExpr> {
        Ok(wrap(to_expr(o)? + self.inner.clone()))
    }
    fn __sub__(&self, o: &Bound<'_, PyAny>) -> PyResult<PyExpr> {
        Ok(wrap(self.inner.clone() - to_expr(o)?))
    }
    fn __rsub__(&self, o: &Bound<'_, PyAny>) -> PyResult<PyExpr> {
        Ok(wrap(to_expr(o)? - self.inner.clone()))
    }
    fn __mul__(&self, o: &Bound<'_, PyAny>) -> PyResult<PyExpr> {
        Ok(wrap(self.inner.clone() * to_expr(o)?))
    }
    fn __rmul__(&self, o: &Bound<'_, PyAny>) -> PyResult<PyExpr> {
        Ok(wrap(to_expr(o)? * self.inner.clone()))
    }
    fn __truediv__(&self, o: &Bound<'_, PyAny>) -> PyResult<PyExpr> {
        Ok(wrap(self.inner.clone() / to_expr(o)?))
    }
    fn __rtruediv__(&self, o: &Bound<'_, PyAny>) -> PyResult<PyExpr> {
        Ok(wrap(to_expr(o)? / self.inner.clone()))
    }
    fn __mod__(&self, o: &Bound<'_, PyAny>) -> PyResult<PyExpr> {
        Ok(wrap(self.inner.clone() % to_expr(o)?))
    }
    fn __neg__(&self) -> PyExpr {
        wrap(-self.inner.clone())
    }
    fn __and__(&self, o: &Bound<'_, PyAny>) -> PyResult<PyExpr> {
        Ok(wrap(self.inner.clone().and(to_expr(o)?)))
    }
    fn __rand__(&self, o: &Bound<'_, PyAny>) -> PyResult<PyExpr> {
        Ok(wrap(to_expr(o)?.and(self.inner.clone())))
    }
    fn __or__(&self, o: &Bound<'_, PyAny>) -> PyResult<PyExpr> {
        Ok(wrap(self.inner.clone().or(to_expr(o)?)))
    }
    fn __ror__(&self, o: &Bound<'_, PyAny>) -> PyResult<PyExpr> {
        Ok(wrap(to_expr(o)?.or(self.inner.clone())))
    }
    fn __invert__(&self) -> PyExpr {
        wrap(self.inner.clone().not())
    }
    fn __richcmp__(&self, o: &Bound<'_, PyAny>, op: CompareOp) -> PyResult<PyExpr> {
        let (l, r) = (self.inner.clone(), to_expr(o)?);
        Ok(wrap(match op {
            CompareOp::Lt => l.lt(r),
            CompareOp::Le => l.lt_eq(r),
            CompareOp::Eq => l.eq(r),
            CompareOp::Ne => l.neq(r),
            CompareOp::Gt => l.gt(r),
            CompareOp::Ge => l.gt_eq(r),
        }))
    }
    fn __bool__(&self) -> PyResult<bool> {
        Err(InvalidInputError::new_err(
            "an expression has no truth value: combine conditions with & and |, not and/or",
        ))
    }
    fn __repr__(&self) -> String {
        format!("<floe.Expr {}>", self.inner)
    }
}

/// `when(cond).then(v).when(c2).then(v2).otherwise(e)`: CASE WHEN.
#[pyclass(name = "When", module = "floe", frozen, skip_from_py_object)]
pub struct PyWhen {
    branches: Vec<(Expr, Expr)>,
    condition: Expr,
}

/// A CASE expression being built; usable as an expression (ELSE NULL) or finished
/// with `otherwise`.
#[pyclass(name = "Then", module = "floe", frozen, skip_from_py_object)]
pub struct PyThen {
    branches: Vec<(Expr, Expr)>,
}

#[pymethods]
impl PyWhen {
    /// The value where the condition holds.
    fn then(&self, value: &Bound<'_, PyAny>) -> PyResult<PyThen> {
        let mut branches = self.branches.clone();
        branches.push((self.condition.clone(), to_expr(value)?));
        Ok(PyThen { branches })
    }
}

#[pymethods]
impl PyThen {
    /// A further condition, tried when the earlier ones do not hold.
    fn when(&self, condition: &Bound<'_, PyAny>) -> PyResult<PyWhen> {
        Ok(PyWhen {
            branches: self.branches.clone(),
            condition: to_expr(condition)?,
        })
    }

    /// The value where no condition holds.
    fn otherwise(&self, value: &Bound<'_, PyAny>) -> PyResult<PyExpr> {
        Ok(wrap(Expr::Case {
            branches: self.branches.clone(),
            otherwise: Some(Box::new(to_expr(value)?)),
        }))
    }

    /// The CASE with ELSE NULL.
    fn end(&self) -> PyExpr {
        wrap(Expr::Case {
            branches: self.branches.clone(),
            otherwise: None,
        })
    }
}

/// A column by name.
#[pyfunction]
fn col(name: &str) -> PyExpr {
    wrap(fx::col(name))
}

/// A constant (int, float, str, bool or None).
#[pyfunction]
fn lit(value: &Bound<'_, PyAny>) -> PyResult<PyExpr> {
    Ok(wrap(to_expr(value)?))
}

/// The number of rows (`count(*)`), an aggregate.
#[pyfunction]
fn len() -> PyExpr {
    wrap(fx::len())
}

/// Starts a CASE expression.
#[pyfunction]
fn when(condition: &Bound<'_, PyAny>) -> PyResult<PyWhen> {
    Ok(PyWhen {
        branches: vec![],
        condition: to_expr(condition)?,
    })
}

/// The row's number in its window partition (1, 2, ...); use with `.over(...)`.
#[pyfunction]
fn row_number() -> PyExpr {
    wrap(fx::row_number())
}

/// The rank with gaps (1, 1, 3) in the window's order; use with `.over(...)`.
#[pyfunction]
fn rank() -> PyExpr {
    wrap(fx::rank())
}

/// The rank without gaps (1, 1, 2); use with `.over(...)`.
#[pyfunction]
fn dense_rank() -> PyExpr {
    wrap(fx::dense_rank())
}

/// Text pieces joined (null where any piece is null).
#[pyfunction]
#[pyo3(signature = (*exprs))]
fn concat_str(exprs: &Bound<'_, PyTuple>) -> PyResult<PyExpr> {
    let e = exprs
        .iter()
        .map(|o| column_or_expr(&o))
        .collect::<PyResult<Vec<_>>>()?;
    Ok(wrap(fx::concat_str(e)))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyExpr>()?;
    m.add_class::<PyWhen>()?;
    m.add_class::<PyThen>()?;
    m.add_function(wrap_pyfunction!(col, m)?)?;
    m.add_function(wrap_pyfunction!(lit, m)?)?;
    m.add_function(wrap_pyfunction!(len, m)?)?;
    m.add_function(wrap_pyfunction!(when, m)?)?;
    m.add_function(wrap_pyfunction!(row_number, m)?)?;
    m.add_function(wrap_pyfunction!(rank, m)?)?;
    m.add_function(wrap_pyfunction!(dense_rank, m)?)?;
    m.add_function(wrap_pyfunction!(concat_str, m)?)?;
    Ok(())
}
