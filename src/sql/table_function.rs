//! The file-reading table functions and their options, as DuckDB spells them:
//!
//! * `read_parquet('path')` / `parquet_scan`.
//! * `read_csv('path', …)` / `read_csv_auto`, with the named options
//!   - `header` (bool), `delim`/`sep`/`delimiter`, `quote`, `escape`, `nullstr` (a
//!     string or a list of strings), `sample_size` (rows read to infer types; -1 reads
//!     64 Ki rows), `auto_detect` (accepted, detection always runs);
//!   - `types`/`dtypes`/`column_types`: `{'col': 'TYPE', …}` overrides the inferred type
//!     of the named columns, `['TYPE', …]` those of the first columns in order;
//!   - `columns`: `{'col': 'TYPE', …}` gives every column's name and type (no inference);
//!   - `names`/`column_names`: `['a', 'b', …]` renames the first columns;
//!   - `all_varchar` (every column read as text), `ignore_errors` (rows that do not
//!     parse are skipped and counted, instead of failing the query), `skip` (lines
//!     skipped at the start of each file, before the header).
//! * `read_json('path')` / `read_ndjson` / `read_json_auto`: newline-delimited JSON
//!   (`format = 'newline_delimited'` or `'auto'` accepted).
//!
//!   Without `delim`, the delimiter is sniffed from the first file (`,` `|` `;` or
//!   tab; `.tsv` means tab). `DECIMAL(p, s)` in `types`/`columns` reads exact
//!   decimals, as in DuckDB (bare `DECIMAL` is `DECIMAL(18, 3)`).
//!
//! Options floe does not have (`dateformat`, …) are [`Error::NotSupported`]
//! naming the option. Nothing here holds data: the result is a scan plan.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema};
use sqlparser::ast::{self, FunctionArg, FunctionArgExpr};
use sqlparser::dialect::DuckDbDialect;
use sqlparser::parser::Parser;

use super::expr::{literal, sql_type};
use super::from::{detect_format, scan, scan_path, Format};
use crate::error::{Error, Result};
use crate::expr::ScalarValue;
use crate::io::{BadRowPolicy, CsvOptions, Dataset, FileFormat};
use crate::plan::LogicalPlan;

/// Rows `sample_size = -1` infers types from.
const ALL_SAMPLE_ROWS: usize = 1 << 16;

/// `read_csv(...)`, `read_csv_auto(...)`, `read_parquet(...)`.
pub(super) fn table_function(
    name: &ast::ObjectName,
    args: &[FunctionArg],
) -> Result<Arc<LogicalPlan>> {
    let fname = name.to_string().to_ascii_lowercase();
    let format = match fname.as_str() {
        "read_csv" | "read_csv_auto" => Format::Csv,
        "read_parquet" | "parquet_scan" => Format::Parquet,
        "read_json" | "read_json_auto" | "read_ndjson" | "read_ndjson_auto" => Format::Json,
        _ => {
            return Err(Error::Plan(format!(
                "unknown table function {fname}; floe reads files with read_csv, \
                 read_csv_auto, read_parquet and read_json (newline-delimited){}",
                crate::error::did_you_mean(
                    &fname,
                    &[
                        "read_csv",
                        "read_csv_auto",
                        "read_parquet",
                        "read_json",
                        "read_ndjson"
                    ]
                )
            )))
        }
    };
    let mut path = None;
    let mut csv = CsvRequest::default();
    for arg in args {
        match arg {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) if path.is_none() => {
                path = Some(const_string(e, &fname)?)
            }
            FunctionArg::Unnamed(_) => {
                return Err(Error::Sql(format!(
                    "{fname}() takes one path, then named options"
                )))
            }
            FunctionArg::Named { name, arg, .. } => {
                let FunctionArgExpr::Expr(value) = arg else {
                    return Err(Error::Sql(format!(
                        "invalid value for option {name} of {fname}()"
                    )));
                };
                let option = name.value.to_ascii_lowercase();
                match format {
                    Format::Csv => csv.option(&option, value)?,
                    // Newline-delimited is the one layout floe reads.
                    Format::Json if option == "format" => {
                        let v = const_string(value, &fname)?.to_ascii_lowercase();
                        if !matches!(v.as_str(), "newline_delimited" | "auto") {
                            return Err(Error::NotSupported(format!(
                                "{fname}(format = '{v}'); floe reads newline-delimited JSON"
                            )));
                        }
                    }
                    _ => return Err(Error::NotSupported(format!("{fname}() option {option}"))),
                }
            }
            FunctionArg::ExprNamed { .. } => {
                return Err(Error::NotSupported(format!(
                    "{fname}() option syntax '{arg}'"
                )))
            }
        }
    }
    let path = path.ok_or_else(|| Error::Sql(format!("{fname}() needs a path")))?;
    match format {
        Format::Csv => csv.scan(&path),
        Format::Tsv | Format::Parquet | Format::Json => scan_path(&path, Some(format)),
    }
}

/// The options of one `read_csv` call.
#[derive(Default)]
struct CsvRequest {
    options: CsvOptions,
    delimiter_given: bool,
    /// `types` as a list: the types of the first columns, in order.
    positional_types: Vec<DataType>,
    /// `names`: the names of the first columns, in order.
    names: Vec<String>,
    all_varchar: bool,
}

impl CsvRequest {
    fn option(&mut self, option: &str, value: &ast::Expr) -> Result<()> {
        let o = &mut self.options;
        match option {
            "header" => o.has_header = const_bool(value, option)?,
            "delim" | "sep" | "delimiter" => {
                o.delimiter = one_byte(&const_string(value, option)?, option)?;
                self.delimiter_given = true;
            }
            "quote" => {
                let q = const_string(value, option)?;
                o.quote = if q.is_empty() {
                    None
                } else {
                    Some(one_byte(&q, option)?)
                };
            }
            "escape" => {
                let e = const_string(value, option)?;
                o.escape = if e.is_empty() {
                    None
                } else {
                    Some(one_byte(&e, option)?)
                };
            }
            "nullstr" | "null_str" | "na_values" => {
                o.null_values = match value {
                    ast::Expr::Array(a) => a
                        .elem
                        .iter()
                        .map(|e| const_string(e, option))
                        .collect::<Result<_>>()?,
                    _ => vec![const_string(value, option)?],
                }
            }
            "sample_size" => {
                o.infer_rows = match const_value(value, option)? {
                    ScalarValue::Int64(-1) => ALL_SAMPLE_ROWS,
                    ScalarValue::Int64(n) if n > 0 => n as usize,
                    other => {
                        return Err(Error::Sql(format!(
                            "sample_size must be a positive number of rows or -1, got {other}"
                        )))
                    }
                }
            }
            "ignore_errors" => {
                o.on_bad_row = if const_bool(value, option)? {
                    BadRowPolicy::Skip
                } else {
                    BadRowPolicy::Error
                }
            }
            "all_varchar" => self.all_varchar = const_bool(value, option)?,
            "types" | "dtypes" | "column_types" => match value {
                ast::Expr::Dictionary(fields) => {
                    for f in fields {
                        let t = csv_type(&const_string(&f.value, option)?)?;
                        o.column_types.push((f.key.value.clone(), t));
                    }
                }
                ast::Expr::Array(a) => {
                    for e in &a.elem {
                        self.positional_types
                            .push(csv_type(&const_string(e, option)?)?);
                    }
                }
                other => {
                    return Err(Error::Sql(format!(
                        "{option} must be {{'column': 'TYPE', ...}} or ['TYPE', ...], got {other}"
                    )))
                }
            },
            "columns" => {
                let ast::Expr::Dictionary(fields) = value else {
                    return Err(Error::Sql(format!(
                        "columns must be {{'column': 'TYPE', ...}}, got {value}"
                    )));
                };
                let fields: Vec<Field> = fields
                    .iter()
                    .map(|f| {
                        let t = csv_type(&const_string(&f.value, option)?)?;
                        Ok(Field::new(f.key.value.clone(), t, true))
                    })
                    .collect::<Result<_>>()?;
                o.schema = Some(Arc::new(Schema::new(fields)));
            }
            "names" | "column_names" => {
                let ast::Expr::Array(a) = value else {
                    return Err(Error::Sql(format!(
                        "{option} must be a list ['a', 'b', ...], got {value}"
                    )));
                };
                self.names = a
                    .elem
                    .iter()
                    .map(|e| const_string(e, option))
                    .collect::<Result<_>>()?;
            }
            "skip" => {
                o.skip_lines = match const_value(value, option)? {
                    ScalarValue::Int64(n) if n >= 0 => n as usize,
                    other => {
                        return Err(Error::Sql(format!(
                            "skip must be a number of lines, got {other}"
                        )))
                    }
                }
            }
            // Type detection always runs; these only confirm it.
            "auto_detect" => {}
            _ => {
                return Err(Error::NotSupported(format!(
                    "read_csv() option {option} (floe reads header, delim, quote, escape, \
                     nullstr, types, columns, names, all_varchar, ignore_errors, sample_size, skip)"
                )))
            }
        }
        Ok(())
    }

    /// The scan, after inference when names or positional types need the columns.
    fn scan(mut self, location: &str) -> Result<Arc<LogicalPlan>> {
        if !self.delimiter_given {
            if detect_format(location)? == Some(Format::Tsv) {
                self.options.delimiter = b'\t';
            } else {
                self.options.sniff_delimiter = true;
            }
        }
        let reshape =
            self.all_varchar || !self.names.is_empty() || !self.positional_types.is_empty();
        if !reshape {
            return scan(location, FileFormat::Csv(self.options));
        }
        let inferred = match &self.options.schema {
            Some(s) => Arc::clone(s),
            None => Dataset::try_new(location, FileFormat::Csv(self.options.clone()))?.file_schema,
        };
        let n = inferred.fields().len();
        for (what, given) in [
            ("names", self.names.len()),
            ("types", self.positional_types.len()),
        ] {
            if given > n {
                return Err(Error::Sql(format!(
                    "read_csv() {what} lists {given} columns, but '{location}' has {n}"
                )));
            }
        }
        let fields: Vec<Field> = inferred
            .fields()
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let name = self.names.get(i).unwrap_or(f.name());
                let t = match self.positional_types.get(i) {
                    Some(t) => t.clone(),
                    None if self.all_varchar => DataType::Utf8,
                    None => f.data_type().clone(),
                };
                Field::new(name, t, true)
            })
            .collect();
        // The schema is given now, so the scan takes it as it is.
        self.options.schema = Some(Arc::new(Schema::new(fields)));
        self.options.column_types.clear();
        scan(location, FileFormat::Csv(self.options))
    }
}

/// The Arrow type a CSV column of SQL type `text` reads as: `DECIMAL(p, s)` is an exact
/// decimal (bare `DECIMAL` is DuckDB's `DECIMAL(18, 3)`), other types as in CAST.
fn csv_type(text: &str) -> Result<DataType> {
    let t = Parser::new(&DuckDbDialect {})
        .try_with_sql(text)
        .and_then(|mut p| p.parse_data_type())
        .map_err(|e| Error::Sql(format!("'{text}' is not a SQL type: {e}")))?;
    use ast::ExactNumberInfo as N;
    match &t {
        ast::DataType::Decimal(info) | ast::DataType::Numeric(info) | ast::DataType::Dec(info) => {
            let (p, s) = match *info {
                N::None => (18, 3),
                N::Precision(p) => (p, 0),
                N::PrecisionAndScale(p, s) => (p, s),
            };
            if !(1..=38).contains(&p) || s < 0 || s as u64 > p {
                return Err(Error::Sql(format!(
                    "'{text}': DECIMAL precision must be 1 to 38 and the scale 0 to the precision"
                )));
            }
            Ok(DataType::Decimal128(p as u8, s as i8))
        }
        _ => sql_type(&t),
    }
}

fn const_value(e: &ast::Expr, what: &str) -> Result<ScalarValue> {
    match e {
        ast::Expr::Value(v) => literal(&v.value),
        ast::Expr::Nested(inner) => const_value(inner, what),
        ast::Expr::UnaryOp {
            op: ast::UnaryOperator::Minus,
            expr,
        } => match const_value(expr, what)? {
            ScalarValue::Int64(i) => Ok(ScalarValue::Int64(-i)),
            other => Err(Error::Sql(format!("{what} cannot be negative: -{other}"))),
        },
        other => Err(Error::NotSupported(format!(
            "non-constant {what} '{other}'"
        ))),
    }
}

fn const_string(e: &ast::Expr, what: &str) -> Result<String> {
    match const_value(e, what)? {
        ScalarValue::Utf8(s) => Ok(s),
        other => Err(Error::Sql(format!("{what} must be a string, got {other}"))),
    }
}

fn const_bool(e: &ast::Expr, what: &str) -> Result<bool> {
    match const_value(e, what)? {
        ScalarValue::Boolean(b) => Ok(b),
        ScalarValue::Int64(i) => Ok(i != 0),
        other => Err(Error::Sql(format!(
            "{what} must be true or false, got {other}"
        ))),
    }
}

/// A one-character option; `'\t'` written as backslash-t means a tab, as in DuckDB.
fn one_byte(s: &str, what: &str) -> Result<u8> {
    match s {
        "\\t" => Ok(b'\t'),
        _ if s.len() == 1 => Ok(s.as_bytes()[0]),
        _ => Err(Error::Sql(format!(
            "{what} must be a single ASCII character, got '{s}'"
        ))),
    }
}
