//! Statements a session runs besides queries, and the splitting of a script into
//! statements, so that a whole ETL job runs as one `.sql` file (`floe sql -f`, the
//! shell's `.read`, [`Session::run_script`]).
//!
//! | statement | effect |
//! |---|---|
//! | a query (`SELECT`, `WITH`, `FROM`, `VALUES`, ...) | rows, still lazy |
//! | `CREATE [OR REPLACE] VIEW v AS query` | names the query's plan |
//! | `CREATE [OR REPLACE] TABLE t AS query` | runs the query into Parquet, names the files |
//! | `DROP VIEW\|TABLE [IF EXISTS] name` | forgets the name |
//! | `DESCRIBE name\|query`, `SHOW name` | rows: column_name, column_type, null |
//! | `SUMMARIZE name\|query` | rows: per column min, max, approx_unique, avg, count, null_count |
//! | `SHOW TABLES`, `DESCRIBE` | rows: name |
//! | `COPY name\|(query) TO 'path' [(FORMAT parquet\|csv, PARTITION_BY (c, ...), COMPRESSION codec, HEADER b, DELIMITER 'c')]` | writes files |
//!
//! Algorithm: [`split_statements`] cuts a script at the semicolons that lie outside
//! quotes and comments. Each statement is dispatched on its first keyword; `CREATE`
//! and `DROP` are parsed by `sqlparser`, the others by the small grammar above, and
//! queries by the SQL planner.
//!
//! Memory and spill: a view holds only a plan. `CREATE TABLE ... AS` streams its query
//! through the Parquet sink (bounded, like every sink) into a directory the session
//! owns under its spill dir; the files stay until the session is dropped, since views
//! made from the table may still read them. `DESCRIBE` plans only; `SUMMARIZE` is one
//! global aggregate pass (HyperLogLog for the distinct count), and `COPY` is a file
//! sink, atomic as every sink is.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use sqlparser::ast::{self, ObjectType, Statement};

use crate::error::{Error, Result};
use crate::expr::types::{is_numeric, is_string, sql_name};
use crate::frame::{DataFrame, LazyFrame};
use crate::io::{CsvSinkOptions, ParquetSinkOptions};
use crate::plan::LogicalPlan;
use crate::session::Session;
use crate::sql::Catalog;

mod script;

use script::{
    first_word, is_query_start, matching_paren, quote_ident, skip_noise, split_top_level,
    string_literal, unquote, unquote_ident,
};
pub use script::{is_complete, split_statements};

/// What a statement gave.
pub enum StatementResult {
    /// Rows to show (a query, `DESCRIBE`, `SUMMARIZE`, `SHOW TABLES`), not yet run.
    Rows(LazyFrame),
    /// A statement that changed the session or wrote files, with a one-line summary
    /// (empty for those that need none, as `CREATE VIEW`).
    Done(String),
}

impl Session {
    /// Runs every statement of `script` in order and returns their results; a query's
    /// rows stay lazy, so the caller collects, streams or sinks them. The first error
    /// stops the script (statements before it keep their effect).
    pub fn run_script(&self, script: &str) -> Result<Vec<StatementResult>> {
        split_statements(script)
            .into_iter()
            .map(|s| self.execute(s))
            .collect()
    }

    /// Runs one statement (the kinds are in the [module docs](crate::statement)).
    pub fn execute(&self, statement: &str) -> Result<StatementResult> {
        let text = skip_noise(statement).trim_end();
        let text = text.strip_suffix(';').unwrap_or(text).trim_end();
        let (word, rest) = first_word(text);
        match word.to_ascii_uppercase().as_str() {
            "SHOW" => {
                let (w, r) = first_word(rest);
                let tables = (w.eq_ignore_ascii_case("TABLES") && r.is_empty())
                    || (w.eq_ignore_ascii_case("ALL") && r.eq_ignore_ascii_case("TABLES"));
                if tables {
                    self.show_tables()
                } else {
                    self.describe(&self.target(rest)?)
                }
            }
            "DESCRIBE" | "DESC" if rest.is_empty() => self.show_tables(),
            "DESCRIBE" | "DESC" => self.describe(&self.target(rest)?),
            "SUMMARIZE" => self.summarize(&self.target(rest)?),
            "COPY" => self.copy(rest),
            "CREATE" | "DROP" => self.definition(text),
            _ => Ok(StatementResult::Rows(self.sql(text)?)),
        }
    }

    /// What `DESCRIBE`, `SUMMARIZE` and `COPY` read: a table name, a path or a query.
    fn target(&self, text: &str) -> Result<LazyFrame> {
        if text.is_empty() {
            return Err(Error::Sql("expected a table name or a query".into()));
        }
        if is_query_start(text) {
            self.sql(text)
        } else {
            self.sql(&format!("SELECT * FROM {text}"))
        }
    }

    fn show_tables(&self) -> Result<StatementResult> {
        let names = StringArray::from(self.table_names());
        let schema = Arc::new(Schema::new(vec![Field::new("name", DataType::Utf8, false)]));
        rows(self, schema, vec![Arc::new(names)])
    }

    fn describe(&self, frame: &LazyFrame) -> Result<StatementResult> {
        let schema = frame.schema();
        let names: StringArray = schema.fields().iter().map(|f| Some(f.name())).collect();
        let types: StringArray = schema
            .fields()
            .iter()
            .map(|f| Some(sql_name(f.data_type())))
            .collect();
        let nulls: StringArray = schema
            .fields()
            .iter()
            .map(|f| Some(if f.is_nullable() { "YES" } else { "NO" }))
            .collect();
        let out = Arc::new(Schema::new(vec![
            Field::new("column_name", DataType::Utf8, false),
            Field::new("column_type", DataType::Utf8, false),
            Field::new("null", DataType::Utf8, false),
        ]));
        rows(
            self,
            out,
            vec![Arc::new(names), Arc::new(types), Arc::new(nulls)],
        )
    }

    /// One aggregate pass over `frame`: per column min and max (as text), a
    /// HyperLogLog distinct count, the mean of numbers, the non-null and null counts.
    fn summarize(&self, frame: &LazyFrame) -> Result<StatementResult> {
        let schema = frame.schema();
        let source = "__floe_summarize";
        let mut select = vec!["count(*)".to_string()];
        for f in schema.fields() {
            let c = quote_ident(f.name());
            let t = f.data_type();
            let ordered =
                is_numeric(t) || is_string(t) || t.is_temporal() || *t == DataType::Boolean;
            if ordered {
                select.push(format!("CAST(min({c}) AS VARCHAR)"));
                select.push(format!("CAST(max({c}) AS VARCHAR)"));
                select.push(format!("CAST(approx_count_distinct({c}) AS BIGINT)"));
            } else {
                select.push("CAST(NULL AS VARCHAR)".into());
                select.push("CAST(NULL AS VARCHAR)".into());
                select.push("CAST(NULL AS BIGINT)".into());
            }
            if is_numeric(t) {
                select.push(format!("CAST(avg({c}) AS DOUBLE)"));
            } else {
                select.push("CAST(NULL AS DOUBLE)".into());
            }
            select.push(format!("count({c})"));
        }
        let query = format!("SELECT {} FROM {source}", select.join(", "));
        let catalog = WithTable {
            session: self,
            name: source,
            plan: Arc::clone(frame.plan()),
        };
        let plan = crate::sql::plan_sql(&catalog, &query)?;
        let stats = self.frame(plan).collect()?.to_batch()?;
        if stats.num_rows() != 1 {
            return Err(Error::Internal("SUMMARIZE aggregate gave no row".into()));
        }
        let int = |i: usize| -> Option<i64> {
            let a = stats.column(i).as_any().downcast_ref::<Int64Array>()?;
            a.is_valid(0).then(|| a.value(0))
        };
        let text = |i: usize| -> Option<String> {
            let a = stats.column(i).as_any().downcast_ref::<StringArray>()?;
            a.is_valid(0).then(|| a.value(0).to_string())
        };
        let float = |i: usize| -> Option<f64> {
            let a = stats.column(i).as_any().downcast_ref::<Float64Array>()?;
            a.is_valid(0).then(|| a.value(0))
        };
        let total = int(0).unwrap_or(0);
        let (mut names, mut types, mut mins, mut maxs) = (vec![], vec![], vec![], vec![]);
        let (mut distinct, mut avgs, mut counts, mut nulls) = (vec![], vec![], vec![], vec![]);
        for (k, f) in schema.fields().iter().enumerate() {
            let base = 1 + 5 * k;
            names.push(f.name().clone());
            types.push(sql_name(f.data_type()));
            mins.push(text(base));
            maxs.push(text(base + 1));
            distinct.push(int(base + 2));
            avgs.push(float(base + 3));
            let count = int(base + 4).unwrap_or(0);
            counts.push(count);
            nulls.push(total - count);
        }
        let out = Arc::new(Schema::new(vec![
            Field::new("column_name", DataType::Utf8, false),
            Field::new("column_type", DataType::Utf8, false),
            Field::new("min", DataType::Utf8, true),
            Field::new("max", DataType::Utf8, true),
            Field::new("approx_unique", DataType::Int64, true),
            Field::new("avg", DataType::Float64, true),
            Field::new("count", DataType::Int64, false),
            Field::new("null_count", DataType::Int64, false),
        ]));
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(names)),
            Arc::new(StringArray::from(types)),
            Arc::new(StringArray::from(mins)),
            Arc::new(StringArray::from(maxs)),
            Arc::new(Int64Array::from(distinct)),
            Arc::new(Float64Array::from(avgs)),
            Arc::new(Int64Array::from(counts)),
            Arc::new(Int64Array::from(nulls)),
        ];
        rows(self, out, columns)
    }

    /// `COPY name|(query) TO 'path' [(options)]`.
    fn copy(&self, text: &str) -> Result<StatementResult> {
        let bad = |what: &str| {
            Error::Sql(format!("COPY: {what}; expected COPY table|(query) TO 'path' [(FORMAT parquet|csv, PARTITION_BY (col, ...), ...)]"))
        };
        let (frame, rest) = if text.starts_with('(') {
            let close = matching_paren(text).ok_or_else(|| bad("unclosed '('"))?;
            (self.sql(&text[1..close])?, skip_noise(&text[close + 1..]))
        } else {
            let (name, rest) = first_word(text);
            (self.target(name)?, rest)
        };
        let (to, rest) = first_word(rest);
        if !to.eq_ignore_ascii_case("TO") {
            return Err(bad("missing TO"));
        }
        let (path, rest) =
            string_literal(rest).ok_or_else(|| bad("the target must be a quoted path"))?;
        let mut rest = skip_noise(rest);
        if let Some(r) = rest
            .strip_prefix("WITH")
            .or_else(|| rest.strip_prefix("with"))
        {
            rest = skip_noise(r);
        }
        let mut options = Vec::new();
        if !rest.is_empty() {
            if !rest.starts_with('(') {
                return Err(bad(&format!("unexpected '{rest}'")));
            }
            let close = matching_paren(rest).ok_or_else(|| bad("unclosed options"))?;
            if !skip_noise(&rest[close + 1..]).is_empty() {
                return Err(bad(&format!("unexpected '{}'", &rest[close + 1..])));
            }
            options = split_top_level(&rest[1..close]);
        }
        let lower = path.to_ascii_lowercase();
        let mut parquet = [".parquet", ".pq", ".parq"]
            .iter()
            .any(|e| lower.ends_with(e));
        let (mut partition_by, mut compression, mut overwrite) = (Vec::new(), None, false);
        let mut csv = CsvSinkOptions::default();
        for option in options {
            let (key, value) = first_word(option);
            let value = unquote(value.trim());
            match key.to_ascii_uppercase().as_str() {
                "FORMAT" => match value.to_ascii_lowercase().as_str() {
                    "parquet" => parquet = true,
                    "csv" => parquet = false,
                    other => {
                        return Err(Error::NotSupported(format!(
                            "COPY format '{other}' (parquet and csv are)"
                        )))
                    }
                },
                "PARTITION_BY" => {
                    let inner = value.strip_prefix('(').and_then(|v| v.strip_suffix(')'));
                    partition_by = split_top_level(inner.unwrap_or(&value))
                        .into_iter()
                        .map(|c| unquote_ident(c.trim()))
                        .collect();
                }
                "COMPRESSION" | "CODEC" => compression = Some(value.to_string()),
                "HEADER" => {
                    let on = value.is_empty()
                        || matches!(value.to_ascii_lowercase().as_str(), "true" | "1" | "on");
                    csv = csv.with_header(on);
                }
                "DELIMITER" | "DELIM" | "SEP" => match value.as_bytes() {
                    [d] => csv = csv.with_delimiter(*d),
                    _ => return Err(bad("DELIMITER takes one character")),
                },
                // A single file is always replaced atomically; a partitioned folder
                // that exists is emptied first only when asked.
                "OVERWRITE" | "OVERWRITE_OR_IGNORE" => overwrite = true,
                other => {
                    return Err(Error::NotSupported(format!("COPY option {other}")));
                }
            }
        }
        if overwrite && !partition_by.is_empty() && Path::new(&path).is_dir() {
            std::fs::remove_dir_all(&path).map_err(|e| Error::io(&path, e))?;
        }
        // Missing folders are made, as DuckDB does.
        let folder = if partition_by.is_empty() {
            Path::new(&path).parent().map(Path::to_path_buf)
        } else {
            Some(PathBuf::from(&path))
        };
        if let Some(dir) = folder.filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        }
        let report = if parquet {
            let mut o = ParquetSinkOptions::default().partition_by(partition_by);
            if let Some(c) = compression {
                o = o.with_compression(c.parse()?);
            }
            frame.sink_parquet(&path, o)?
        } else {
            if compression.is_some() {
                return Err(Error::NotSupported("COMPRESSION of a CSV COPY".into()));
            }
            frame.sink_csv(&path, csv.partition_by(partition_by))?
        };
        Ok(StatementResult::Done(format!(
            "{} rows written to {path} ({} file{})",
            report.rows,
            report.files.len(),
            if report.files.len() == 1 { "" } else { "s" }
        )))
    }

    /// `CREATE VIEW`, `CREATE TABLE ... AS`, `DROP`.
    fn definition(&self, text: &str) -> Result<StatementResult> {
        let statements = crate::sql::parse(text)?;
        let unsupported = || {
            let words: Vec<&str> = text.split_whitespace().take(2).collect();
            Error::NotSupported(format!(
                "{} statement (CREATE [OR REPLACE] VIEW|TABLE ... AS and DROP VIEW|TABLE are)",
                words.join(" ").to_ascii_uppercase()
            ))
        };
        match statements.as_slice() {
            [Statement::CreateView(v)] => {
                if v.materialized || v.or_alter || !v.columns.is_empty() {
                    return Err(unsupported());
                }
                let name = object_name(&v.name)?;
                if let Some(done) = self.check_new(&name, v.or_replace, v.if_not_exists)? {
                    return Ok(done);
                }
                let plan = crate::sql::plan_parsed_query(self, &v.query)?;
                self.register(&name, &self.frame(plan))?;
                Ok(StatementResult::Done(String::new()))
            }
            [Statement::CreateTable(t)] => {
                let query = match &t.query {
                    Some(q) if t.columns.is_empty() => q,
                    _ => {
                        return Err(Error::NotSupported(
                            "CREATE TABLE without AS query; floe tables are files (register them) or query results".into(),
                        ))
                    }
                };
                let name = object_name(&t.name)?;
                if let Some(done) = self.check_new(&name, t.or_replace, t.if_not_exists)? {
                    return Ok(done);
                }
                let frame = self.frame(crate::sql::plan_parsed_query(self, query)?);
                let path = self.table_file(&name)?;
                let report = frame.sink_parquet(&path, ParquetSinkOptions::default())?;
                self.register_parquet(
                    &name,
                    &path.to_string_lossy(),
                    crate::io::ParquetOptions::default(),
                )?;
                Ok(StatementResult::Done(format!(
                    "table {name}: {} rows",
                    report.rows
                )))
            }
            [Statement::Drop {
                object_type: ObjectType::View | ObjectType::Table,
                if_exists,
                names,
                ..
            }] => {
                for n in names {
                    let name = object_name(n)?;
                    if !self.deregister(&name) && !if_exists {
                        return Err(Error::Plan(format!(
                            "cannot drop '{name}': no such table or view{}",
                            crate::error::did_you_mean(&name, &self.table_names())
                        )));
                    }
                }
                Ok(StatementResult::Done(String::new()))
            }
            _ => Err(unsupported()),
        }
    }

    /// `Some` when `name` exists and the statement says IF NOT EXISTS (nothing to do);
    /// an error when it exists and may not be replaced.
    fn check_new(
        &self,
        name: &str,
        or_replace: bool,
        if_not_exists: bool,
    ) -> Result<Option<StatementResult>> {
        if self.table(name).is_none() || or_replace {
            return Ok(None);
        }
        if if_not_exists {
            return Ok(Some(StatementResult::Done(String::new())));
        }
        Err(Error::Plan(format!(
            "'{name}' already exists; use CREATE OR REPLACE, or DROP it first"
        )))
    }
}

/// The rows of a small statement result as a lazy frame.
fn rows(session: &Session, schema: SchemaRef, columns: Vec<ArrayRef>) -> Result<StatementResult> {
    let batch = RecordBatch::try_new(Arc::clone(&schema), columns)?;
    Ok(StatementResult::Rows(
        DataFrame::new(schema, vec![batch]).lazy(session),
    ))
}

/// The session's tables plus one more name, for planning a statement's own query.
struct WithTable<'a> {
    session: &'a Session,
    name: &'a str,
    plan: Arc<LogicalPlan>,
}

impl Catalog for WithTable<'_> {
    fn table(&self, name: &str) -> Option<Arc<LogicalPlan>> {
        if name.eq_ignore_ascii_case(self.name) {
            Some(Arc::clone(&self.plan))
        } else {
            self.session.table(name)
        }
    }
    fn table_names(&self) -> Vec<String> {
        self.session.table_names()
    }
}

fn object_name(name: &ast::ObjectName) -> Result<String> {
    match name.0.as_slice() {
        [part] => part
            .as_ident()
            .map(|i| i.value.clone())
            .ok_or_else(|| Error::NotSupported(format!("name '{name}'"))),
        _ => Err(Error::NotSupported(format!(
            "qualified name '{name}' (schemas)"
        ))),
    }
}

impl Session {
    /// A fresh Parquet path for table `name` in the session's table directory.
    fn table_file(&self, name: &str) -> Result<PathBuf> {
        let dir = self.tables_dir()?;
        let safe: String = name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        let n = self.next_table_number();
        Ok(Path::new(&dir).join(format!("{safe}-{n}.parquet")))
    }
}
