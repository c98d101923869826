//! Name resolution: what an identifier in a SQL clause refers to.
//!
//! A FROM clause binds one or more *items* (tables, files, derived tables), each with
//! an optional qualifier (its alias, else the table name, the file stem or the table
//! function name) and its columns. The plan a FROM clause lowers to must have unique
//! column names, so every item column has two names:
//!
//! * its **SQL name**, the one queries use (`id`, or `b.id` qualified), and
//! * its **plan name**, the column of the joined plan. That is the SQL name unless an
//!   item to its left already uses it; then it is `qualifier.name` (`b.id`), or
//!   `name_1` for an item without a qualifier, with `_1`, `_2`… added until unique.
//!
//! An unqualified name must match exactly one column over all items (exact match
//! first, then case-insensitive, as in DuckDB), else it is ambiguous ([`Error::Plan`]).
//! `JOIN … USING (k)` merges the two `k` columns into one *using column*: unqualified
//! `k` means the left key (the right key for a RIGHT join, `coalesce` of both for a
//! FULL join), and `*` shows it once, where the left `k` stood. `a.k` and `b.k` still
//! name each side's copy.
//!
//! In a subquery, a name its own FROM items do not bind (nor a select alias) resolves
//! against the enclosing query's FROM items ([`Scope::outer`]): that is a correlated
//! reference. It lowers to a column whose name carries [`OUTER_TAG`], which no plan
//! column has, so an outer reference can never silently read an inner column;
//! `subquery.rs` turns the conjuncts holding such columns into join conditions.

use arrow::datatypes::Schema;

use crate::error::{Error, Result};
use crate::expr::Expr;

/// One FROM item as SQL sees it.
#[derive(Debug, Clone)]
pub(crate) struct FromItem {
    /// Alias, else table name (None for an unaliased derived table).
    pub qualifier: Option<String>,
    /// `(SQL name, plan name)` of each column, in the item's order.
    pub columns: Vec<(String, String)>,
}

/// A column merged by `JOIN … USING`.
#[derive(Debug, Clone)]
pub(crate) struct UsingColumn {
    pub name: String,
    /// The value of the merged column, over plan columns.
    pub expr: Expr,
    /// The plan column whose place `*` shows this column in.
    pub slot: String,
    /// Plan columns (the other copies) that `*` leaves out.
    pub hidden: Vec<String>,
}

impl UsingColumn {
    fn covers(&self, plan_name: &str) -> bool {
        self.slot == plan_name || self.hidden.iter().any(|h| h == plan_name)
    }
}

/// Everything a FROM clause binds.
#[derive(Debug, Clone, Default)]
pub(crate) struct Relations {
    pub items: Vec<FromItem>,
    pub using: Vec<UsingColumn>,
}

/// What an unqualified name resolved to.
pub(crate) enum Resolved {
    /// A plan column of one item.
    Column(String),
    /// A `USING` column (index into [`Relations::using`]).
    Using(usize),
}

impl Relations {
    /// One item whose SQL names are its plan names.
    pub fn single(qualifier: Option<String>, schema: &Schema) -> Self {
        let columns = schema
            .fields()
            .iter()
            .map(|f| (f.name().clone(), f.name().clone()))
            .collect();
        Relations {
            items: vec![FromItem { qualifier, columns }],
            using: vec![],
        }
    }

    /// The items of `self` then of `right`; qualifiers must stay unique.
    pub fn merge(mut self, right: Relations) -> Result<Self> {
        for item in &right.items {
            if let Some(q) = &item.qualifier {
                let taken = self.items.iter().any(|i| {
                    i.qualifier
                        .as_ref()
                        .is_some_and(|x| x.eq_ignore_ascii_case(q))
                });
                if taken {
                    return Err(Error::Plan(format!(
                        "table name '{q}' appears more than once in FROM; give one an alias"
                    )));
                }
            }
        }
        self.items.extend(right.items);
        self.using.extend(right.using);
        Ok(self)
    }

    /// Renames plan column `old` to `new` everywhere.
    pub fn rename_plan_column(&mut self, old: &str, new: &str) {
        for item in &mut self.items {
            for (_, p) in &mut item.columns {
                if p == old {
                    *p = new.to_string();
                }
            }
        }
        for u in &mut self.using {
            u.expr = u.expr.clone().transform(&mut |x| match x {
                Expr::Column(c) if c == old => Expr::Column(new.to_string()),
                other => other,
            });
            if u.slot == old {
                u.slot = new.to_string();
            }
            for h in &mut u.hidden {
                if h == old {
                    *h = new.to_string();
                }
            }
        }
    }

    /// The SQL name of a plan column.
    pub fn sql_name(&self, plan_name: &str) -> Option<&str> {
        self.items
            .iter()
            .flat_map(|i| &i.columns)
            .find(|(_, p)| p == plan_name)
            .map(|(s, _)| s.as_str())
    }

    /// What unqualified `name` refers to, or None if nothing has that name.
    pub fn resolve_name(&self, name: &str) -> Option<Result<Resolved>> {
        let exact = self.candidates(name, |a, b| a == b);
        let found = if exact.is_empty() {
            self.candidates(name, |a, b| a.eq_ignore_ascii_case(b))
        } else {
            exact
        };
        match found.len() {
            0 => None,
            1 => found.into_iter().next().map(|(r, _)| Ok(r)),
            _ => Some(Err(Error::Plan(format!(
                "column reference '{name}' is ambiguous: it matches {}; qualify it",
                found
                    .iter()
                    .map(|(_, d)| format!("'{d}'"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )))),
        }
    }

    fn candidates(&self, name: &str, eq: impl Fn(&str, &str) -> bool) -> Vec<(Resolved, String)> {
        let mut out = vec![];
        let matched: Vec<usize> = (0..self.using.len())
            .filter(|&i| eq(&self.using[i].name, name))
            .collect();
        for &i in &matched {
            out.push((Resolved::Using(i), self.using[i].name.clone()));
        }
        for item in &self.items {
            for (sql, plan) in &item.columns {
                if !eq(sql, name) || matched.iter().any(|&i| self.using[i].covers(plan)) {
                    continue;
                }
                let shown = match &item.qualifier {
                    Some(q) => format!("{q}.{sql}"),
                    None => sql.clone(),
                };
                out.push((Resolved::Column(plan.clone()), shown));
            }
        }
        out
    }

    /// The expression for unqualified `name`, or None if nothing has that name.
    pub fn resolve(&self, name: &str) -> Option<Result<Expr>> {
        self.resolve_name(name).map(|r| {
            r.map(|r| match r {
                Resolved::Column(p) => Expr::Column(p),
                Resolved::Using(i) => self.using[i].expr.clone(),
            })
        })
    }

    fn item(&self, qualifier: &str) -> Result<&FromItem> {
        let named = |exact: bool| {
            self.items.iter().find(|i| {
                i.qualifier.as_deref().is_some_and(|q| {
                    if exact {
                        q == qualifier
                    } else {
                        q.eq_ignore_ascii_case(qualifier)
                    }
                })
            })
        };
        named(true).or_else(|| named(false)).ok_or_else(|| {
            let known: Vec<&str> = self
                .items
                .iter()
                .filter_map(|i| i.qualifier.as_deref())
                .collect();
            Error::Plan(format!(
                "table or alias '{qualifier}' is not in the FROM clause; it has [{}]",
                known.join(", ")
            ))
        })
    }

    /// Whether some item is called `qualifier`.
    pub fn has_qualifier(&self, qualifier: &str) -> bool {
        self.item(qualifier).is_ok()
    }

    /// The plan column `qualifier.name` refers to.
    pub fn resolve_qualified(&self, qualifier: &str, name: &str) -> Result<Expr> {
        let item = self.item(qualifier)?;
        let find = |exact: bool| {
            item.columns.iter().find(|(s, _)| {
                if exact {
                    s == name
                } else {
                    s.eq_ignore_ascii_case(name)
                }
            })
        };
        match find(true).or_else(|| find(false)) {
            Some((_, p)) => Ok(Expr::Column(p.clone())),
            None => Err(Error::Plan(format!(
                "column '{name}' not found in '{qualifier}'; its columns are [{}]",
                item.columns
                    .iter()
                    .map(|(s, _)| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }

    /// `*`: every item's columns in order, each USING column once, named by SQL name.
    pub fn star(&self) -> Vec<Expr> {
        let mut out = vec![];
        for item in &self.items {
            for (sql, plan) in &item.columns {
                if self
                    .using
                    .iter()
                    .any(|u| u.hidden.iter().any(|h| h == plan))
                {
                    continue;
                }
                match self.using.iter().find(|u| &u.slot == plan) {
                    Some(u) => out.push(named(u.expr.clone(), &u.name)),
                    None => out.push(named(Expr::Column(plan.clone()), sql)),
                }
            }
        }
        out
    }

    /// `q.*`: the columns of one item.
    pub fn qualified_star(&self, qualifier: &str) -> Result<Vec<Expr>> {
        let item = self.item(qualifier)?;
        Ok(item
            .columns
            .iter()
            .map(|(sql, plan)| named(Expr::Column(plan.clone()), sql))
            .collect())
    }

    /// The SQL names of every column, for error messages.
    pub fn names(&self) -> Vec<String> {
        let mut out: Vec<String> = self.using.iter().map(|u| u.name.clone()).collect();
        for item in &self.items {
            for (sql, plan) in &item.columns {
                if self.using.iter().any(|u| u.covers(plan)) {
                    continue;
                }
                out.push(match (&item.qualifier, self.items.len()) {
                    (Some(q), n) if n > 1 => format!("{q}.{sql}"),
                    _ => sql.clone(),
                });
            }
        }
        out
    }
}

/// `e` named `name` (aliased unless it already is a column of that name).
pub(crate) fn named(e: Expr, name: &str) -> Expr {
    match &e {
        Expr::Column(c) if c == name => e,
        _ => e.alias(name),
    }
}

/// Marks a column of the enclosing query in a subquery's expressions.
pub(crate) const OUTER_TAG: &str = "#outer#";

/// The outer plan column a tagged column refers to, if `name` is tagged.
pub(crate) fn outer_column(name: &str) -> Option<&str> {
    name.strip_prefix(OUTER_TAG)
}

/// Whether `e` refers to a column of the enclosing query.
pub(crate) fn is_correlated(e: &Expr) -> bool {
    e.column_refs().iter().any(|c| outer_column(c).is_some())
}

fn tag_outer(e: Expr) -> Expr {
    e.transform(&mut |x| match x {
        Expr::Column(c) => Expr::Column(format!("{OUTER_TAG}{c}")),
        other => other,
    })
}

/// What identifiers in a clause resolve against.
pub(crate) struct Scope<'a> {
    pub schema: &'a Schema,
    /// The FROM items; without them, names resolve against `schema` alone.
    pub relations: Option<&'a Relations>,
    /// `(alias, expression)` of the select list, for clauses that may use aliases.
    pub aliases: &'a [(String, Expr)],
    /// The enclosing query's FROM items, for a subquery's correlated references.
    pub outer: Option<&'a Relations>,
    /// Where scalar subqueries in expressions are collected (the select list): each
    /// becomes a placeholder column the caller joins in. `None`: a subquery here is
    /// [`crate::error::Error::NotSupported`].
    pub subqueries: Option<&'a ScalarSubqueries>,
    /// Where window function calls are collected (the select list): each becomes a
    /// placeholder column that a Window node computes. `None`: a window function here
    /// is [`crate::error::Error::NotSupported`].
    pub windows: Option<&'a WindowCalls>,
    /// Where `EXISTS` / `IN (subquery)` met inside expressions are collected (under OR,
    /// NOT, CASE, in the select list): each becomes a boolean mark column the caller
    /// joins in (`subquery/mark.rs`). `None`: such a subquery here is
    /// [`crate::error::Error::NotSupported`].
    pub marks: Option<&'a SubqueryMarks>,
}

/// What a mark column says of its subquery.
#[derive(Debug, Clone)]
pub(crate) enum MarkKind {
    /// `EXISTS (q)`: true or false.
    Exists,
    /// `x IN (q)`: true, false or NULL (SQL's three-valued IN).
    In(Expr),
}

/// An `EXISTS` or `IN (subquery)` met inside an expression.
#[derive(Debug, Clone)]
pub(crate) struct SubqueryMark {
    pub query: sqlparser::ast::Query,
    pub kind: MarkKind,
    /// The mark column.
    pub name: String,
}

/// The subquery marks of one clause.
#[derive(Default)]
pub(crate) struct SubqueryMarks {
    /// Makes the names unique within the query (`#mark<prefix>_<n>`).
    pub prefix: usize,
    pub found: std::cell::RefCell<Vec<SubqueryMark>>,
}

impl SubqueryMarks {
    /// Records a mark; returns its column's name.
    pub fn add(&self, query: &sqlparser::ast::Query, kind: MarkKind) -> String {
        let mut found = self.found.borrow_mut();
        let name = format!("#mark{}_{}", self.prefix, found.len());
        found.push(SubqueryMark {
            query: query.clone(),
            kind,
            name: name.clone(),
        });
        name
    }
}

pub(crate) use crate::plan::window::WindowUse;

/// The window function calls of a select list.
#[derive(Default)]
pub(crate) struct WindowCalls {
    pub prefix: usize,
    pub found: std::cell::RefCell<Vec<WindowUse>>,
    /// The SELECT's `WINDOW name AS (...)` definitions.
    pub named: Vec<sqlparser::ast::NamedWindowDefinition>,
}

impl WindowCalls {
    /// `spec` with the named window it refers to (`OVER w`, `OVER (w ORDER BY ..)`)
    /// merged in, as the SQL standard and DuckDB do: the base gives PARTITION BY, and
    /// ORDER BY and the frame unless `spec` has its own.
    pub fn resolve(
        &self,
        spec: sqlparser::ast::WindowSpec,
        depth: usize,
    ) -> crate::error::Result<sqlparser::ast::WindowSpec> {
        use crate::error::Error;
        use sqlparser::ast::{NamedWindowDefinition, NamedWindowExpr, WindowSpec};
        let Some(name) = &spec.window_name else {
            return Ok(spec);
        };
        if depth > self.named.len() {
            return Err(Error::Plan(format!(
                "window '{name}' is defined in terms of itself"
            )));
        }
        let base = self
            .named
            .iter()
            .find(|NamedWindowDefinition(n, _)| n.value.eq_ignore_ascii_case(&name.value))
            .ok_or_else(|| Error::Plan(format!("window '{name}' is not defined")))?;
        let base = match &base.1 {
            NamedWindowExpr::WindowSpec(w) => w.clone(),
            NamedWindowExpr::NamedWindow(other) => WindowSpec {
                window_name: Some(other.clone()),
                partition_by: vec![],
                order_by: vec![],
                window_frame: None,
            },
        };
        let base = self.resolve(base, depth + 1)?;
        if !spec.partition_by.is_empty() {
            return Err(Error::Plan(format!(
                "PARTITION BY over window '{name}', which has its own partitioning"
            )));
        }
        if !spec.order_by.is_empty() && !base.order_by.is_empty() {
            return Err(Error::Plan(format!(
                "ORDER BY over window '{name}', which has its own ordering"
            )));
        }
        Ok(WindowSpec {
            window_name: None,
            partition_by: base.partition_by,
            order_by: if spec.order_by.is_empty() {
                base.order_by
            } else {
                spec.order_by
            },
            window_frame: spec.window_frame.or(base.window_frame),
        })
    }

    /// Records a call; returns its placeholder column's name.
    pub fn add(&self, mut call: WindowUse) -> String {
        let mut found = self.found.borrow_mut();
        let name = format!("#win{}_{}", self.prefix, found.len());
        call.name = name.clone();
        found.push(call);
        name
    }
}

/// Scalar subqueries met in a select list, each with its placeholder column name.
#[derive(Default)]
pub(crate) struct ScalarSubqueries {
    /// Makes the names unique within the query (`#ssq<prefix>_<n>`).
    pub prefix: usize,
    pub found: std::cell::RefCell<Vec<(sqlparser::ast::Query, String)>>,
}

impl ScalarSubqueries {
    /// Records `q` and returns its placeholder column's name.
    pub fn add(&self, q: &sqlparser::ast::Query) -> String {
        let mut found = self.found.borrow_mut();
        let name = format!("#ssq{}_{}", self.prefix, found.len());
        found.push((q.clone(), name.clone()));
        name
    }
}

impl<'a> Scope<'a> {
    /// A scope of a plan's output columns only.
    pub fn new(schema: &'a Schema) -> Self {
        Scope {
            schema,
            relations: None,
            aliases: &[],
            outer: None,
            subqueries: None,
            windows: None,
            marks: None,
        }
    }

    /// The columns of FROM items, with select-list aliases as a fallback.
    pub fn over(
        schema: &'a Schema,
        relations: &'a Relations,
        aliases: &'a [(String, Expr)],
    ) -> Self {
        Scope {
            schema,
            relations: Some(relations),
            aliases,
            outer: None,
            subqueries: None,
            windows: None,
            marks: None,
        }
    }

    /// Collects scalar subqueries into `into` instead of refusing them.
    pub fn with_subqueries(mut self, into: &'a ScalarSubqueries) -> Self {
        self.subqueries = Some(into);
        self
    }

    /// Collects `EXISTS` / `IN (subquery)` inside expressions into `into` as marks.
    pub fn with_marks(mut self, into: &'a SubqueryMarks) -> Self {
        self.marks = Some(into);
        self
    }

    /// Collects window function calls into `into` instead of refusing them.
    pub fn with_windows(mut self, into: &'a WindowCalls) -> Self {
        self.windows = Some(into);
        self
    }

    /// Falls back to `outer` (the enclosing query's items) for names not bound here.
    pub fn with_outer(mut self, outer: Option<&'a Relations>) -> Self {
        self.outer = outer;
        self
    }

    /// The column `name` refers to: exact match first, then a unique case-insensitive one.
    fn resolve_column(&self, name: &str) -> Option<Result<String>> {
        if self.schema.field_with_name(name).is_ok() {
            return Some(Ok(name.to_string()));
        }
        let matches: Vec<&String> = self
            .schema
            .fields()
            .iter()
            .map(|f| f.name())
            .filter(|n| n.eq_ignore_ascii_case(name))
            .collect();
        match matches.as_slice() {
            [] => None,
            [one] => Some(Ok((*one).clone())),
            many => Some(Err(Error::Plan(format!(
                "column reference '{name}' is ambiguous: it matches {}",
                many.iter()
                    .map(|s| format!("'{s}'"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )))),
        }
    }

    /// An unqualified name: an input column, else a select-list alias.
    pub fn identifier(&self, name: &str) -> Result<Expr> {
        let found = match self.relations {
            Some(r) => r.resolve(name),
            None => self.resolve_column(name).map(|c| c.map(Expr::Column)),
        };
        if let Some(c) = found {
            return c;
        }
        let alias = self.aliases.iter().find(|(a, _)| a == name).or_else(|| {
            self.aliases
                .iter()
                .find(|(a, _)| a.eq_ignore_ascii_case(name))
        });
        if let Some((_, e)) = alias {
            return Ok(e.clone());
        }
        if let Some(found) = self.outer.and_then(|o| o.resolve(name)) {
            return found.map(tag_outer);
        }
        let names: Vec<String> = match self.relations {
            Some(r) => r.names(),
            None => self
                .schema
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect(),
        };
        Err(Error::Plan(format!(
            "column '{name}' not found; available columns: [{}]",
            names.join(", ")
        )))
    }

    /// `a.b` or `schema.a.b`: column `b` of FROM item `a`.
    pub fn compound(&self, parts: &[sqlparser::ast::Ident]) -> Result<Expr> {
        match (self.relations, parts) {
            (Some(r), [.., q, c]) => match self.outer {
                Some(o) if !r.has_qualifier(&q.value) && o.has_qualifier(&q.value) => {
                    o.resolve_qualified(&q.value, &c.value).map(tag_outer)
                }
                _ => r.resolve_qualified(&q.value, &c.value),
            },
            // Over a plan's output, qualifiers add nothing.
            (_, [.., c]) => self.identifier(&c.value),
            (_, []) => Err(Error::Sql("empty compound identifier".into())),
        }
    }
}
