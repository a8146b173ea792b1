//! From [`ast::Query`] to SQL for SQLite or PostgreSQL/pgsphere, printed by our own code.
//!
//! One walk resolves every name against the [`Catalogue`] (tables, aliases, CTEs, derived
//! tables, USING/NATURAL joins, correlated subqueries), infers each value's ADQL type and FIELD
//! metadata, and prints the target SQL. Checking a query (`analyze`) is the same walk with the
//! SQL thrown away, so the checker and the translator can never disagree.
//!
//! Conventions of the generated SQL:
//! * every FROM item gets a generated alias (`_t1`, `_t2`…) and every select item a generated
//!   name (`_c0`, `_c1`…), so ADQL's case rules and odd delimited names never reach the target's
//!   own rules; the result's real names and metadata are in [`Translation::columns`];
//! * TOP/OFFSET become LIMIT/OFFSET; a set-operation operand that has TOP, ORDER BY or is itself
//!   a set operation on the right is wrapped as `SELECT * FROM (…)`, which both targets accept
//!   and which keeps ADQL's grouping (SQLite has no parenthesised compound operands);
//! * geometry values inside the query are target geometries (SQLite: our encoded blobs made by
//!   Rust functions, see `skyport-store`'s `sqlite_functions`; PostgreSQL: pgsphere types), and
//!   the outermost select list turns them into DALI text (`"10 20"`), the same on both targets.
//!   Region columns (`s_region`) come out as the STC-S text they hold;
//! * on SQLite, CONTAINS/INTERSECTS/DISTANCE predicates against a constant shape use the
//!   table's R*Tree (bounding boxes in unit-vector space) to pre-filter rows before the exact
//!   test: this is exact at RA = 0/360 and at the poles, because nothing there is special in
//!   x, y, z.

use std::collections::HashMap;
use std::fmt::Write;

use skyport_sky::{parse_stcs, Shape, SkyError, SkyPoint};

use crate::ast::*;
use crate::catalogue::{Catalogue, ColumnMeta, SpatialIndex, TableInfo};
use crate::error::{AdqlError, ErrorKind, Pos};
use crate::functions::{self, ConstructorArgs, ConstructorForm, Kind};
use crate::print::postgres::Postgres;
use crate::print::sqlite::Sqlite;
use crate::print::{literal, num, quote, GeometryArg, GeometryTest, Printer};
use crate::suggest::closest;
use crate::types::AdqlType;
use crate::units;

/// The SQL target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite with skyport's Rust functions registered.
    Sqlite,
    /// PostgreSQL with pgsphere.
    Postgres,
}

impl Dialect {
    /// The printer that spells SQL for this target.
    fn printer(self) -> &'static dyn Printer {
        match self {
            Dialect::Sqlite => &Sqlite,
            Dialect::Postgres => &Postgres,
        }
    }
}

/// A user-defined function the service offers (ADQL `features-udf`).
#[derive(Debug, Clone, PartialEq)]
pub struct Udf {
    /// ADQL name (with its prefix, e.g. `ivo_hasword`), matched case-insensitively.
    pub name: String,
    /// Argument types.
    pub args: Vec<AdqlType>,
    /// Result type.
    pub result: AdqlType,
    /// SQL function name on SQLite.
    pub sqlite: String,
    /// SQL function name on PostgreSQL.
    pub postgres: String,
    /// One line for TAPRegExt.
    pub description: String,
}

/// What the translation may add or use beyond the query itself.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Predicates ANDed onto every reference to a table: key `schema.table` as declared, value
    /// an SQL condition over that table's (unqualified, quoted) columns. This is how rows a
    /// user may not see are hidden; the predicate is trusted SQL from the server, not ADQL.
    pub row_filters: HashMap<String, String>,
    /// User-defined functions on offer.
    pub udfs: Vec<Udf>,
}

/// One column of the result, with the FIELD metadata TAP writes.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputColumn {
    /// Column name (unique within the result).
    pub name: String,
    /// ADQL type.
    pub ty: AdqlType,
    /// FIELD metadata (datatype, arraysize, xtype, unit, ucd, utype, description).
    pub meta: ColumnMeta,
}

/// A translated query.
#[derive(Debug, Clone)]
pub struct Translation {
    /// The SQL text.
    pub sql: String,
    /// Result columns, in order.
    pub columns: Vec<OutputColumn>,
    /// True when a spatial index pre-filter was used.
    pub uses_spatial_index: bool,
}

/// Translates a parsed query.
pub fn translate(
    query: &Query,
    catalogue: &Catalogue,
    dialect: Dialect,
    options: &Options,
) -> Result<Translation, AdqlError> {
    let mut t = Translator {
        catalogue,
        printer: dialect.printer(),
        options,
        scopes: Vec::new(),
        ctes: Vec::new(),
        next_alias: 0,
        uses_spatial_index: false,
    };
    let (sql, columns) = t.query(query, true)?;
    let mut seen: HashMap<String, usize> = HashMap::new();
    let columns = columns
        .into_iter()
        .map(|c| {
            let n = seen.entry(c.name.to_ascii_lowercase()).or_insert(0);
            *n += 1;
            let name = if *n == 1 {
                c.name
            } else {
                format!("{}_{}", c.name, n)
            };
            OutputColumn {
                name,
                ty: c.ty,
                meta: c.meta,
            }
        })
        .collect();
    Ok(Translation {
        sql,
        columns,
        uses_spatial_index: t.uses_spatial_index,
    })
}

/// Parses, checks and translates in one call.
pub fn parse_and_translate(
    text: &str,
    catalogue: &Catalogue,
    dialect: Dialect,
    options: &Options,
) -> Result<Translation, AdqlError> {
    if let Ok(path) = std::env::var("SKYPORT_ADQL_LOG") {
        use std::io::Write as _;
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = writeln!(f, "{}", text.replace('\\', "\\\\").replace('\n', "\\n"));
        }
    }
    let q = crate::parse(text)?;
    translate(&q, catalogue, dialect, options)
}

/// A typed, translated value.
#[derive(Debug, Clone)]
struct Typed {
    sql: String,
    ty: AdqlType,
    meta: ColumnMeta,
    /// Default output name.
    name: String,
    /// A plain reference to a region column (holds STC-S text).
    region_column: bool,
}

impl Typed {
    /// The value as a geometry operand for the printer.
    fn arg(&self) -> GeometryArg<'_> {
        GeometryArg {
            sql: &self.sql,
            ty: self.ty,
        }
    }

    fn new(sql: String, ty: AdqlType, name: &str) -> Typed {
        Typed {
            sql,
            ty,
            meta: ColumnMeta::default(),
            name: name.to_string(),
            region_column: false,
        }
    }
}

/// A column visible through a FROM item.
#[derive(Debug, Clone)]
struct SourceColumn {
    name: String,
    ty: AdqlType,
    meta: ColumnMeta,
    sql: String,
    /// Hidden from `*` and from qualified lookups' ambiguity (a USING duplicate).
    merged_away: bool,
    /// Holds STC-S text (a region column), not a target geometry.
    stcs_text: bool,
}

/// A FROM item as a query sees it.
#[derive(Debug, Clone)]
struct Source {
    /// Correlation name, when the query gave one.
    alias: Option<Ident>,
    /// Declared schema and table, for base tables.
    table: Option<(String, String)>,
    columns: Vec<SourceColumn>,
    /// SQL expression of the SQLite rowid (base tables only).
    rowid_sql: Option<String>,
    spatial: Option<SpatialIndex>,
}

impl Source {
    /// Does a qualifier (`t`, `s.t`, `c.s.t`) name this source?
    fn named_by(&self, qualifier: &[Ident]) -> bool {
        match (&self.alias, qualifier) {
            (Some(a), [q]) => q.matches(&a.value),
            (Some(_), _) => false,
            (None, q) => match (&self.table, q) {
                (Some((_, t)), [qt]) => qt.matches(t),
                (Some((s, t)), [qs, qt]) | (Some((s, t)), [_, qs, qt]) => {
                    qs.matches(s) && qt.matches(t)
                }
                _ => false,
            },
        }
    }
}

#[derive(Debug, Default)]
struct Scope {
    sources: Vec<Source>,
    /// Columns merged by USING/NATURAL: found first for unqualified names.
    merged: Vec<SourceColumn>,
}

struct CteInfo {
    name: Ident,
    sql_name: String,
    columns: Vec<OutColumn>,
}

#[derive(Debug, Clone)]
struct OutColumn {
    name: String,
    delimited: bool,
    ty: AdqlType,
    meta: ColumnMeta,
    region_column: bool,
}

struct Translator<'a> {
    catalogue: &'a Catalogue,
    /// How the target spells what the translator has resolved.
    printer: &'static dyn Printer,
    options: &'a Options,
    scopes: Vec<Scope>,
    ctes: Vec<CteInfo>,
    next_alias: usize,
    uses_spatial_index: bool,
}

fn type_error(pos: Pos, message: impl Into<String>) -> AdqlError {
    AdqlError::new(ErrorKind::Type, pos, message)
}

fn name_error(pos: Pos, message: impl Into<String>) -> AdqlError {
    AdqlError::new(ErrorKind::Name, pos, message)
}

fn unsupported(pos: Pos, message: impl Into<String>) -> AdqlError {
    AdqlError::new(ErrorKind::Unsupported, pos, message)
}

/// The value of a numeric literal expression (`12`, `-1.5`, `(3)`), if it is one.
fn constant_number(e: &Expr) -> Option<f64> {
    match e.unnested() {
        Expr::Number { text, .. } => text.parse().ok(),
        Expr::Unary {
            op: UnaryOp::Minus,
            expr,
            ..
        } => constant_number(expr).map(|x| -x),
        Expr::Unary {
            op: UnaryOp::Plus,
            expr,
            ..
        } => constant_number(expr),
        _ => None,
    }
}

impl<'a> Translator<'a> {
    fn fresh(&mut self, prefix: &str) -> String {
        self.next_alias += 1;
        format!("{prefix}{}", self.next_alias)
    }

    /// A sort direction: both targets are told to put NULLs in the same place, so they
    /// return rows in the same order.
    fn direction(&self, descending: bool) -> &'static str {
        self.printer.direction(descending)
    }

    // ----- queries ---------------------------------------------------------------------------

    fn query(&mut self, q: &Query, outermost: bool) -> Result<(String, Vec<OutColumn>), AdqlError> {
        let ctes_before = self.ctes.len();
        let mut sql = String::new();
        if !q.with.is_empty() {
            sql.push_str("WITH ");
            for (i, cte) in q.with.iter().enumerate() {
                if self
                    .ctes
                    .iter()
                    .any(|c| c.name.value.eq_ignore_ascii_case(&cte.name.value))
                {
                    return Err(name_error(
                        cte.name.pos,
                        format!("WITH name {} is used twice", cte.name),
                    ));
                }
                let (body, mut cols) = self.query(&cte.query, false)?;
                if !cte.columns.is_empty() {
                    if cte.columns.len() != cols.len() {
                        return Err(name_error(
                            cte.name.pos,
                            format!(
                                "WITH {} names {} columns but its query gives {}",
                                cte.name,
                                cte.columns.len(),
                                cols.len()
                            ),
                        ));
                    }
                    for (c, n) in cols.iter_mut().zip(&cte.columns) {
                        c.name = n.value.clone();
                        c.delimited = n.delimited;
                    }
                }
                let sql_name = self.fresh("_w");
                if i > 0 {
                    sql.push_str(", ");
                }
                let _ = write!(sql, "{sql_name} AS ({body})");
                self.ctes.push(CteInfo {
                    name: cte.name.clone(),
                    sql_name,
                    columns: cols,
                });
            }
            sql.push(' ');
        }
        // A plain SELECT takes the query's ORDER BY/OFFSET together with its own TOP.
        let result = match &q.body {
            SetExpr::Select(s) => {
                let (body, cols) = self.select(s, outermost, Some((&q.order_by, q.offset)))?;
                sql.push_str(&body);
                cols
            }
            body => {
                let (text, cols) = self.set_expr(body, outermost)?;
                sql.push_str(&text);
                let order = self.order_by_outputs(&q.order_by, &cols)?;
                sql.push_str(&order);
                if let Some(n) = q.offset {
                    sql.push_str(&self.printer.offset_only(n));
                }
                cols
            }
        };
        self.ctes.truncate(ctes_before);
        Ok((sql, result))
    }

    /// ORDER BY over a set operation: ordinals or output column names.
    fn order_by_outputs(
        &mut self,
        items: &[OrderItem],
        cols: &[OutColumn],
    ) -> Result<String, AdqlError> {
        if items.is_empty() {
            return Ok(String::new());
        }
        let mut parts = Vec::new();
        for item in items {
            let idx = match item.expr.unnested() {
                Expr::Number { text, pos } => {
                    let n: usize = text.parse().map_err(|_| {
                        AdqlError::syntax(*pos, "ORDER BY takes a column number or name")
                    })?;
                    if n == 0 || n > cols.len() {
                        return Err(name_error(
                            *pos,
                            format!("ORDER BY {n}: the result has {} columns", cols.len()),
                        ));
                    }
                    n - 1
                }
                Expr::Column(parts) if parts.len() == 1 => cols
                    .iter()
                    .position(|c| parts[0].matches(&c.name))
                    .ok_or_else(|| {
                        name_error(
                            parts[0].pos,
                            format!("ORDER BY {}: not a result column", parts[0]),
                        )
                    })?,
                other => return Err(unsupported(
                    other.pos(),
                    "ORDER BY after UNION/INTERSECT/EXCEPT takes result column names or numbers",
                )),
            };
            parts.push(format!(
                "{}{}",
                quote(&format!("_c{idx}")),
                self.direction(item.descending)
            ));
        }
        Ok(format!(" ORDER BY {}", parts.join(", ")))
    }

    fn set_expr(
        &mut self,
        s: &SetExpr,
        outermost: bool,
    ) -> Result<(String, Vec<OutColumn>), AdqlError> {
        match s {
            SetExpr::Select(sel) => {
                let (sql, cols) = self.select(sel, outermost, None)?;
                if sel.top.is_some() {
                    let alias = self.fresh("_s");
                    return Ok((format!("SELECT * FROM ({sql}) AS {alias}"), cols));
                }
                Ok((sql, cols))
            }
            SetExpr::Query(q) => {
                let (sql, cols) = self.query(q, outermost)?;
                let alias = self.fresh("_s");
                Ok((format!("SELECT * FROM ({sql}) AS {alias}"), cols))
            }
            SetExpr::Operation {
                op,
                all,
                left,
                right,
            } => {
                let (l, lcols) = self.set_expr(left, outermost)?;
                let (mut r, rcols) = self.set_expr(right, outermost)?;
                if matches!(right.as_ref(), SetExpr::Operation { .. }) {
                    let alias = self.fresh("_s");
                    r = format!("SELECT * FROM ({r}) AS {alias}");
                }
                let word = match op {
                    SetOp::Union => "UNION",
                    SetOp::Intersect => "INTERSECT",
                    SetOp::Except => "EXCEPT",
                };
                if lcols.len() != rcols.len() {
                    return Err(type_error(
                        Pos::default(),
                        format!(
                            "the operands of {word} have {} and {} columns; they must have the same number",
                            lcols.len(),
                            rcols.len()
                        ),
                    ));
                }
                Ok((
                    format!("{l} {word}{} {r}", if *all { " ALL" } else { "" }),
                    lcols,
                ))
            }
        }
    }

    /// Translates one SELECT. `tail` carries the enclosing query's ORDER BY and OFFSET when
    /// this SELECT is the whole body.
    fn select(
        &mut self,
        s: &Select,
        outermost: bool,
        tail: Option<(&Vec<OrderItem>, Option<u64>)>,
    ) -> Result<(String, Vec<OutColumn>), AdqlError> {
        self.scopes.push(Scope::default());
        let result = self.select_in_scope(s, outermost, tail);
        self.scopes.pop();
        result
    }

    fn select_in_scope(
        &mut self,
        s: &Select,
        outermost: bool,
        tail: Option<(&Vec<OrderItem>, Option<u64>)>,
    ) -> Result<(String, Vec<OutColumn>), AdqlError> {
        // FROM first: it defines the names the rest may use.
        let mut from_sql = Vec::new();
        for item in &s.from {
            from_sql.push(self.table_reference(item)?);
        }
        let mut list = SelectList::default();
        for item in &s.items {
            match item {
                SelectItem::Wildcard(pos) => {
                    let scope = self.scope();
                    if scope.sources.is_empty() {
                        return Err(name_error(*pos, "* with no table"));
                    }
                    let columns: Vec<SourceColumn> = scope
                        .merged
                        .iter()
                        .chain(scope.sources.iter().flat_map(|src| src.columns.iter()))
                        .filter(|c| !c.merged_away)
                        .cloned()
                        .collect();
                    for c in &columns {
                        self.push_item(&mut list, c.to_typed(), &c.name, true, outermost);
                    }
                }
                SelectItem::QualifiedWildcard(q) => {
                    let columns = self.find_source(q)?.columns.clone();
                    for c in &columns {
                        self.push_item(&mut list, c.to_typed(), &c.name, true, outermost);
                    }
                }
                SelectItem::Expr { expr, alias } => {
                    let typed = self.value(expr)?;
                    let (name, delimited) = match alias {
                        Some(a) => (a.value.clone(), a.delimited),
                        None => (typed.name.clone(), false),
                    };
                    self.push_item(&mut list, typed, &name, delimited, outermost);
                }
            }
        }
        let mut sql = String::from("SELECT ");
        if s.distinct {
            sql.push_str("DISTINCT ");
        }
        sql.push_str(&list.sql.join(", "));
        sql.push_str(" FROM ");
        sql.push_str(&from_sql.join(", "));
        if let Some(w) = &s.selection {
            let _ = write!(sql, " WHERE {}", self.condition(w)?);
        }
        if !s.group_by.is_empty() {
            let mut parts = Vec::new();
            for g in &s.group_by {
                parts.push(self.group_or_order_term(g, &list)?);
            }
            let _ = write!(sql, " GROUP BY {}", parts.join(", "));
        }
        if let Some(h) = &s.having {
            let _ = write!(sql, " HAVING {}", self.condition(h)?);
        }
        if let Some((order, offset)) = tail {
            if !order.is_empty() {
                let mut parts = Vec::new();
                for o in order {
                    let term = self.group_or_order_term(&o.expr, &list)?;
                    parts.push(format!("{term}{}", self.direction(o.descending)));
                }
                let _ = write!(sql, " ORDER BY {}", parts.join(", "));
            }
            match (s.top, offset) {
                (Some(n), Some(o)) => {
                    let _ = write!(sql, " LIMIT {n} OFFSET {o}");
                }
                (Some(n), None) => {
                    let _ = write!(sql, " LIMIT {n}");
                }
                (None, Some(o)) => sql.push_str(&self.printer.offset_only(o)),
                (None, None) => {}
            }
        } else if let Some(n) = s.top {
            let _ = write!(sql, " LIMIT {n}");
        }
        Ok((sql, list.cols))
    }

    /// A GROUP BY or ORDER BY term: a column number, a select-list name, or an expression.
    fn group_or_order_term(&mut self, e: &Expr, list: &SelectList) -> Result<String, AdqlError> {
        let cols = &list.cols;
        match e.unnested() {
            Expr::Number { text, pos } if !text.contains(['.', 'e', 'E']) => {
                let n: usize = text
                    .parse()
                    .map_err(|_| AdqlError::syntax(*pos, "a column number is too large"))?;
                if n == 0 || n > cols.len() {
                    return Err(name_error(
                        *pos,
                        format!(
                            "column number {n}: the select list has {} columns",
                            cols.len()
                        ),
                    ));
                }
                Ok(list.typed[n - 1].sql.clone())
            }
            Expr::Column(parts) if parts.len() == 1 => {
                // A column of the tables wins; otherwise a select-list alias.
                match self.column(parts) {
                    Ok(t) => Ok(t.sql),
                    Err(err) => {
                        let found = cols.iter().position(|c| {
                            if c.delimited && parts[0].delimited {
                                c.name == parts[0].value
                            } else {
                                parts[0].matches(&c.name)
                            }
                        });
                        match found {
                            Some(i) => Ok(list.typed[i].sql.clone()),
                            None => Err(err),
                        }
                    }
                }
            }
            _ => Ok(self.value(e)?.sql),
        }
    }

    /// Adds one select item: its SQL under a generated name, its result column (FIELD
    /// metadata from the column, or from the type for computed values), and its typed value
    /// for ORDER BY/GROUP BY to refer back to.
    fn push_item(
        &self,
        list: &mut SelectList,
        typed: Typed,
        name: &str,
        delimited: bool,
        outermost: bool,
    ) {
        let sql = if outermost {
            self.output_geometry(&typed)
        } else {
            typed.sql.clone()
        };
        list.sql.push(format!(
            "{sql} AS {}",
            quote(&format!("_c{}", list.cols.len()))
        ));
        let mut meta = typed.meta.clone();
        if meta.datatype.is_empty() {
            let field = typed.ty.field();
            meta.datatype = field.datatype;
            meta.arraysize = field.arraysize;
            meta.xtype = field.xtype;
        }
        list.cols.push(OutColumn {
            name: name.to_string(),
            delimited,
            ty: typed.ty,
            meta,
            region_column: typed.region_column,
        });
        list.typed.push(typed);
    }

    /// How a value leaves the outermost select list: geometries as DALI text.
    fn output_geometry(&self, t: &Typed) -> String {
        match (t.ty, t.region_column) {
            (AdqlType::Point | AdqlType::Circle | AdqlType::Polygon, _) => {
                self.printer.dali_text(&t.sql)
            }
            // A region column already holds the STC-S text.
            (AdqlType::Region, false) => self.printer.stcs_text(&t.sql),
            _ => t.sql.clone(),
        }
    }

    // ----- FROM ------------------------------------------------------------------------------

    fn table_reference(&mut self, item: &FromItem) -> Result<String, AdqlError> {
        match item {
            FromItem::Table { name, alias } => {
                let (sql, source) = self.table_source(name, alias.as_ref())?;
                self.add_source(source, alias.as_ref().or(name.last()))?;
                Ok(sql)
            }
            FromItem::Derived { query, alias } => {
                // A derived table sees outer names only through the enclosing scopes.
                let (inner, cols) = self.query(query, false)?;
                let sql_alias = self.fresh("_t");
                let columns = columns_of_subquery(&sql_alias, &cols);
                self.add_source(
                    Source {
                        alias: Some(alias.clone()),
                        table: None,
                        columns,
                        rowid_sql: None,
                        spatial: None,
                    },
                    Some(alias),
                )?;
                Ok(format!("({inner}) AS {sql_alias}"))
            }
            FromItem::Nested(inner) => Ok(format!("({})", self.table_reference(inner)?)),
            FromItem::Join {
                left,
                right,
                kind,
                natural,
                condition,
            } => {
                let before = self.scope().sources.len();
                let l = self.table_reference(left)?;
                let mid = self.scope().sources.len();
                let r = self.table_reference(right)?;
                let left_sources: Vec<Source> = self.scope().sources[before..mid].to_vec();
                let right_sources: Vec<Source> = self.scope().sources[mid..].to_vec();
                let join_word = match kind {
                    JoinKind::Inner => "JOIN",
                    JoinKind::Left => "LEFT JOIN",
                    JoinKind::Right => "RIGHT JOIN",
                    JoinKind::Full => "FULL JOIN",
                };
                let using: Vec<Ident> = match condition {
                    JoinCondition::Using(cols) => cols.clone(),
                    _ if *natural => {
                        // Common column names of the two sides.
                        let mut common = Vec::new();
                        for ls in &left_sources {
                            for lc in ls.columns.iter().filter(|c| !c.merged_away) {
                                let in_right = right_sources.iter().any(|rs| {
                                    rs.columns
                                        .iter()
                                        .any(|rc| rc.name.eq_ignore_ascii_case(&lc.name))
                                });
                                if in_right
                                    && !common
                                        .iter()
                                        .any(|c: &Ident| c.value.eq_ignore_ascii_case(&lc.name))
                                {
                                    common.push(Ident {
                                        value: lc.name.clone(),
                                        delimited: false,
                                        pos: Pos::default(),
                                    });
                                }
                            }
                        }
                        common
                    }
                    _ => Vec::new(),
                };
                let on = match condition {
                    JoinCondition::On(c) => Some(self.condition(c)?),
                    _ if !using.is_empty() || *natural => {
                        let mut eqs = Vec::new();
                        for u in &using {
                            let lc = side_column(&left_sources, u)?;
                            let rc = side_column(&right_sources, u)?;
                            eqs.push(format!("{} = {}", lc.sql, rc.sql));
                            let merged_sql = match kind {
                                JoinKind::Inner | JoinKind::Left => lc.sql.clone(),
                                JoinKind::Right => rc.sql.clone(),
                                JoinKind::Full => format!("COALESCE({}, {})", lc.sql, rc.sql),
                            };
                            self.merge_column(u, &lc, merged_sql);
                        }
                        if eqs.is_empty() {
                            Some("1 = 1".to_string())
                        } else {
                            Some(eqs.join(" AND "))
                        }
                    }
                    _ => None,
                };
                Ok(match on {
                    Some(on) => format!("{l} {join_word} {r} ON {on}"),
                    None => match kind {
                        JoinKind::Inner => format!("{l} CROSS JOIN {r}"),
                        _ => format!("{l} {join_word} {r} ON 1 = 1"),
                    },
                })
            }
        }
    }

    fn scope(&mut self) -> &mut Scope {
        if self.scopes.is_empty() {
            self.scopes.push(Scope::default());
        }
        let last = self.scopes.len() - 1;
        &mut self.scopes[last]
    }

    /// Records a USING/NATURAL column: found once, unqualified, and listed once by `*`.
    fn merge_column(&mut self, u: &Ident, proto: &SourceColumn, sql: String) {
        let scope = self.scope();
        for src in scope.sources.iter_mut() {
            for c in src.columns.iter_mut() {
                if u.matches(&c.name) {
                    c.merged_away = true;
                }
            }
        }
        scope.merged.retain(|m| !u.matches(&m.name));
        scope.merged.push(SourceColumn {
            name: proto.name.clone(),
            ty: proto.ty,
            meta: proto.meta.clone(),
            sql,
            merged_away: false,
            stcs_text: proto.stcs_text,
        });
    }

    fn add_source(&mut self, source: Source, exposed: Option<&Ident>) -> Result<(), AdqlError> {
        let pos = exposed.map(|i| i.pos).unwrap_or_default();
        let scope = self.scope();
        let clash = scope
            .sources
            .iter()
            .any(|s| match (&s.alias, &source.alias) {
                (Some(a), Some(b)) => a.value.eq_ignore_ascii_case(&b.value),
                _ => false,
            });
        if clash {
            return Err(name_error(
                pos,
                format!(
                    "the name {} is given to two tables in one FROM",
                    exposed.map(|i| i.to_string()).unwrap_or_default()
                ),
            ));
        }
        scope.sources.push(source);
        Ok(())
    }

    /// The SQL and the scope entry for a table name in FROM (a CTE or a catalogue table).
    fn table_source(
        &mut self,
        name: &[Ident],
        alias: Option<&Ident>,
    ) -> Result<(String, Source), AdqlError> {
        let sql_alias = self.fresh("_t");
        if let [one] = name {
            if let Some(cte) = self.ctes.iter().rev().find(|c| one.matches(&c.name.value)) {
                let columns = columns_of_subquery(&sql_alias, &cte.columns);
                let sql = format!("{} AS {sql_alias}", cte.sql_name);
                return Ok((
                    sql,
                    Source {
                        alias: Some(alias.cloned().unwrap_or_else(|| one.clone())),
                        table: None,
                        columns,
                        rowid_sql: None,
                        spatial: None,
                    },
                ));
            }
        }
        let table = self.find_table(name)?.clone();
        let base = self.printer.table_name(&table.schema, &table.name);
        let filter = self.options.row_filters.get(&table.qualified_name());
        let (sql, rowid_sql) =
            self.printer
                .table_ref(&base, &sql_alias, filter.map(String::as_str));
        let columns = table
            .columns
            .iter()
            .map(|c| SourceColumn {
                name: c.name.clone(),
                ty: c.ty,
                meta: c.meta.clone(),
                sql: format!("{sql_alias}.{}", quote(&c.name)),
                merged_away: false,
                stcs_text: c.ty == AdqlType::Region,
            })
            .collect();
        Ok((
            sql,
            Source {
                alias: alias.cloned(),
                table: Some((table.schema.clone(), table.name.clone())),
                columns,
                rowid_sql,
                spatial: table.spatial.clone(),
            },
        ))
    }

    fn find_table(&self, name: &[Ident]) -> Result<&'a TableInfo, AdqlError> {
        let pos = name.first().map(|i| i.pos).unwrap_or_default();
        let (schema, table) = match name {
            [t] => (None, t),
            [s, t] => (Some(s), t),
            [_catalog, s, t] => (Some(s), t),
            _ => {
                return Err(AdqlError::syntax(
                    pos,
                    "a table name has one to three parts",
                ))
            }
        };
        let candidates: Vec<&TableInfo> = self
            .catalogue
            .tables()
            .iter()
            .filter(|ti| table.matches(&ti.name) && schema.is_none_or(|s| s.matches(&ti.schema)))
            .collect();
        match candidates.as_slice() {
            [one] => Ok(one),
            [] => {
                let display: Vec<String> = name.iter().map(|i| i.to_string()).collect();
                let known: Vec<String> = self
                    .catalogue
                    .tables()
                    .iter()
                    .map(|t| t.qualified_name())
                    .collect();
                let wanted = display.join(".");
                Err(name_error(pos, format!("unknown table {wanted}"))
                    .with_hint(closest(&wanted, known.iter().map(String::as_str))))
            }
            many => Err(name_error(
                pos,
                format!(
                    "table {} is ambiguous: write one of {}",
                    table,
                    many.iter()
                        .map(|t| t.qualified_name())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )),
        }
    }

    fn find_source(&self, qualifier: &[Ident]) -> Result<&Source, AdqlError> {
        for scope in self.scopes.iter().rev() {
            let found: Vec<&Source> = scope
                .sources
                .iter()
                .filter(|s| s.named_by(qualifier))
                .collect();
            match found.as_slice() {
                [one] => return Ok(one),
                [] => continue,
                _ => {
                    return Err(name_error(
                        qualifier[0].pos,
                        format!(
                            "{} names more than one table here; give them different aliases",
                            dotted(qualifier)
                        ),
                    ))
                }
            }
        }
        let names: Vec<String> = self
            .scopes
            .iter()
            .flat_map(|s| s.sources.iter())
            .filter_map(|s| {
                s.alias
                    .as_ref()
                    .map(|a| a.value.clone())
                    .or_else(|| s.table.as_ref().map(|(_, t)| t.clone()))
            })
            .collect();
        Err(name_error(
            qualifier[0].pos,
            format!("{} is not a table in FROM", dotted(qualifier)),
        )
        .with_hint(closest(
            &dotted(qualifier),
            names.iter().map(String::as_str),
        )))
    }

    /// Resolves a column reference.
    fn column(&mut self, parts: &[Ident]) -> Result<Typed, AdqlError> {
        let (qualifier, col) = parts.split_at(parts.len() - 1);
        let col = &col[0];
        let found = if qualifier.is_empty() {
            let mut hit: Option<SourceColumn> = None;
            'scopes: for scope in self.scopes.iter().rev() {
                if let Some(m) = scope.merged.iter().find(|m| col.matches(&m.name)) {
                    hit = Some(m.clone());
                    break;
                }
                let mut matches: Vec<&SourceColumn> = Vec::new();
                for src in &scope.sources {
                    if let Some(c) = src
                        .columns
                        .iter()
                        .find(|c| !c.merged_away && col.matches(&c.name))
                    {
                        matches.push(c);
                    }
                }
                match matches.as_slice() {
                    [one] => {
                        hit = Some((*one).clone());
                        break 'scopes;
                    }
                    [] => continue,
                    _ => {
                        return Err(name_error(
                            col.pos,
                            format!(
                                "column {col} is ambiguous: more than one table in FROM has it; qualify it (t.{col})"
                            ),
                        ))
                    }
                }
            }
            hit
        } else {
            let src = self.find_source(qualifier)?;
            src.columns.iter().find(|c| col.matches(&c.name)).cloned()
        };
        match found {
            Some(c) => Ok(c.to_typed()),
            None => {
                let visible: Vec<String> = self
                    .scopes
                    .iter()
                    .flat_map(|s| s.sources.iter().flat_map(|src| src.columns.iter()))
                    .map(|c| c.name.clone())
                    .collect();
                Err(
                    name_error(col.pos, format!("unknown column {}", dotted(parts)))
                        .with_hint(closest(&col.value, visible.iter().map(String::as_str))),
                )
            }
        }
    }

    /// The source a column reference resolves to (for spatial index use).
    fn column_source(&self, parts: &[Ident]) -> Option<&Source> {
        let (qualifier, col) = parts.split_at(parts.len() - 1);
        let col = &col[0];
        for scope in self.scopes.iter().rev() {
            for src in &scope.sources {
                let named = qualifier.is_empty() || src.named_by(qualifier);
                if named && src.columns.iter().any(|c| col.matches(&c.name)) {
                    return Some(src);
                }
            }
        }
        None
    }

    // ----- conditions ------------------------------------------------------------------------

    fn condition(&mut self, e: &Expr) -> Result<String, AdqlError> {
        match e {
            Expr::Nested(inner) => Ok(format!("({})", self.condition(inner)?)),
            Expr::Unary {
                op: UnaryOp::Not,
                expr,
                ..
            } => Ok(format!("NOT ({})", self.condition(expr)?)),
            Expr::Binary {
                op: op @ (BinaryOp::And | BinaryOp::Or),
                left,
                right,
            } => Ok(format!(
                "({} {} {})",
                self.condition(left)?,
                op.symbol(),
                self.condition(right)?
            )),
            Expr::Binary { op, left, right } if op.is_comparison() => {
                if let Some(sql) = self.geometry_predicate(*op, left, right)? {
                    return Ok(sql);
                }
                let l = self.value(left)?;
                let r = self.value(right)?;
                self.check_comparable(&l, &r, left.pos())?;
                Ok(format!(
                    "({} {} {})",
                    self.comparable_sql(&l, &r),
                    op.symbol(),
                    self.comparable_sql(&r, &l)
                ))
            }
            Expr::Between {
                expr,
                low,
                high,
                negated,
            } => {
                let x = self.value(expr)?;
                let lo = self.value(low)?;
                let hi = self.value(high)?;
                self.check_comparable(&x, &lo, low.pos())?;
                self.check_comparable(&x, &hi, high.pos())?;
                Ok(format!(
                    "({} {}BETWEEN {} AND {})",
                    x.sql,
                    if *negated { "NOT " } else { "" },
                    lo.sql,
                    hi.sql
                ))
            }
            Expr::InList {
                expr,
                list,
                negated,
            } => {
                let x = self.value(expr)?;
                let mut items = Vec::new();
                for v in list {
                    let t = self.value(v)?;
                    self.check_comparable(&x, &t, v.pos())?;
                    items.push(t.sql);
                }
                Ok(format!(
                    "({} {}IN ({}))",
                    x.sql,
                    if *negated { "NOT " } else { "" },
                    items.join(", ")
                ))
            }
            Expr::InSubquery {
                expr,
                query,
                negated,
            } => {
                let x = self.value(expr)?;
                let (sub, cols) = self.query(query, false)?;
                if cols.len() != 1 {
                    return Err(type_error(
                        expr.pos(),
                        format!(
                            "IN (SELECT …) needs one column, the subquery gives {}",
                            cols.len()
                        ),
                    ));
                }
                Ok(format!(
                    "({} {}IN ({sub}))",
                    x.sql,
                    if *negated { "NOT " } else { "" }
                ))
            }
            Expr::Like {
                expr,
                pattern,
                negated,
                case_insensitive,
            } => {
                let x = self.value(expr)?;
                let p = self.value(pattern)?;
                for (t, at) in [(&x, expr.pos()), (&p, pattern.pos())] {
                    if !t.ty.is_string() {
                        return Err(type_error(
                            at,
                            format!("LIKE compares strings, not {}", t.ty),
                        ));
                    }
                }
                Ok(self
                    .printer
                    .like(&x.sql, &p.sql, *negated, *case_insensitive))
            }
            Expr::IsNull { expr, negated } => {
                let x = self.value(expr)?;
                Ok(format!(
                    "({} IS {}NULL)",
                    x.sql,
                    if *negated { "NOT " } else { "" }
                ))
            }
            Expr::Exists { query, negated, .. } => {
                let (sub, _) = self.query(query, false)?;
                Ok(format!(
                    "({}EXISTS ({sub}))",
                    if *negated { "NOT " } else { "" }
                ))
            }
            other => Err(AdqlError::syntax(
                other.pos(),
                format!("`{other}` is not a condition"),
            )),
        }
    }

    /// The SQL of `a` compared with `b`: a boolean compared with a number is read as 0 or 1.
    fn comparable_sql(&self, a: &Typed, b: &Typed) -> String {
        if a.ty == AdqlType::Boolean && b.ty.is_numeric() {
            self.printer.boolean_as_number(&a.sql)
        } else {
            a.sql.clone()
        }
    }

    fn check_comparable(&self, a: &Typed, b: &Typed, pos: Pos) -> Result<(), AdqlError> {
        let geometry = |t: AdqlType| {
            matches!(
                t,
                AdqlType::Point | AdqlType::Circle | AdqlType::Polygon | AdqlType::Region
            )
        };
        if geometry(a.ty) || geometry(b.ty) {
            return Err(unsupported(
                pos,
                "geometries cannot be compared with = < >; use CONTAINS, INTERSECTS or DISTANCE",
            ));
        }
        let ok = a.ty == AdqlType::Unknown
            || b.ty == AdqlType::Unknown
            || (a.ty.is_numeric() && b.ty.is_numeric())
            || (a.ty.is_string() && b.ty.is_string())
            || (a.ty == AdqlType::Timestamp && (b.ty.is_string() || b.ty == AdqlType::Timestamp))
            || (b.ty == AdqlType::Timestamp && a.ty.is_string())
            || (a.ty == AdqlType::Boolean && b.ty.is_numeric())
            || (b.ty == AdqlType::Boolean && a.ty.is_numeric())
            || a.ty == b.ty;
        if ok {
            Ok(())
        } else {
            Err(type_error(
                pos,
                format!("cannot compare {} with {}", a.ty, b.ty),
            ))
        }
    }

    /// `1 = CONTAINS(…)`, `INTERSECTS(…) = 0`, `DISTANCE(…) < r`: folded for pgsphere, and on
    /// SQLite given an R*Tree pre-filter when one side is a constant shape.
    fn geometry_predicate(
        &mut self,
        op: BinaryOp,
        left: &Expr,
        right: &Expr,
    ) -> Result<Option<String>, AdqlError> {
        // CONTAINS/INTERSECTS compared with 0 or 1.
        let (call, constant) = match (left.unnested(), right.unnested()) {
            (f @ Expr::Function { .. }, c) | (c, f @ Expr::Function { .. })
                if constant_number(c).is_some() =>
            {
                (f, constant_number(c))
            }
            _ => (left.unnested(), None),
        };
        if let (
            Expr::Function {
                name,
                args,
                star: false,
                ..
            },
            Some(k),
        ) = (call, constant)
        {
            let test = GeometryTest::from_name(&name.value.to_ascii_uppercase());
            let compared_with_truth =
                matches!(op, BinaryOp::Eq | BinaryOp::NotEq) && (k == 0.0 || k == 1.0);
            if let (Some(test), [a_expr, b_expr], true) =
                (test, args.as_slice(), compared_with_truth)
            {
                let truth = (k == 1.0) == (op == BinaryOp::Eq);
                let a = self.geometry(a_expr)?;
                let b = self.geometry(b_expr)?;
                let exact = self.printer.geometry_test(test, a.arg(), b.arg());
                let exact = if truth { exact } else { format!("NOT {exact}") };
                let prefilter = if truth {
                    self.spatial_prefilter(test, a_expr, b_expr)?
                } else {
                    None
                };
                return Ok(Some(match prefilter {
                    Some(p) => format!("({p} AND {exact})"),
                    None => format!("({exact})"),
                }));
            }
        }
        // DISTANCE(POINT(lon, lat), POINT(c)) < r (either order): a cone.
        let (dist, radius) = match (left.unnested(), right.unnested(), op) {
            (d @ Expr::Function { .. }, r, BinaryOp::Lt | BinaryOp::LtEq) => (d, r),
            (r, d @ Expr::Function { .. }, BinaryOp::Gt | BinaryOp::GtEq) => (d, r),
            _ => return Ok(None),
        };
        let Expr::Function { name, args, .. } = dist else {
            return Ok(None);
        };
        if !name.value.eq_ignore_ascii_case("DISTANCE") || !self.printer.has_rtree() {
            return Ok(None);
        }
        let Some(r) = constant_number(radius) else {
            return Ok(None);
        };
        let (point_cols, center) = match args.as_slice() {
            [a, b] => match (
                point_columns(a),
                constant_point(b),
                point_columns(b),
                constant_point(a),
            ) {
                (Some(cols), Some(c), _, _) | (_, _, Some(cols), Some(c)) => (cols, c),
                _ => return Ok(None),
            },
            [lon, lat, clon, clat] => match (
                constant_number(clon).zip(constant_number(clat)),
                column_pair(lon, lat),
            ) {
                (Some((x, y)), Some(cols)) => match SkyPoint::new(x, y) {
                    Ok(p) => (cols, p),
                    Err(_) => return Ok(None),
                },
                _ => return Ok(None),
            },
            _ => return Ok(None),
        };
        let Ok(cone) = Shape::circle(center, r.clamp(0.0, 180.0)) else {
            return Ok(None);
        };
        let exact = {
            let l = self.value(left)?;
            let rr = self.value(right)?;
            format!("({} {} {})", l.sql, op.symbol(), rr.sql)
        };
        Ok(self
            .point_prefilter(&point_cols.0, &point_cols.1, &cone)
            .map(|p| format!("({p} AND {exact})")))
    }

    /// An R*Tree pre-filter for `CONTAINS/INTERSECTS(a, b)` when one side is indexed columns
    /// and the other a constant shape.
    fn spatial_prefilter(
        &mut self,
        test: GeometryTest,
        a: &Expr,
        b: &Expr,
    ) -> Result<Option<String>, AdqlError> {
        if !self.printer.has_rtree() {
            return Ok(None);
        }
        // POINT(lon, lat) inside / intersecting a constant shape.
        if let (Some((lon, lat)), Some(shape)) = (point_columns(a), constant_shape(b)) {
            return Ok(self.point_prefilter(&lon, &lat, &shape));
        }
        if test == GeometryTest::Intersects {
            if let (Some((lon, lat)), Some(shape)) = (point_columns(b), constant_shape(a)) {
                return Ok(self.point_prefilter(&lon, &lat, &shape));
            }
        }
        // A region column against a constant shape, either way round: their boxes must overlap.
        for (col, other) in [(a, b), (b, a)] {
            if let (Expr::Column(parts), Some(shape)) = (col.unnested(), constant_shape(other)) {
                let printer = self.printer;
                let filter = self.column_source(parts).and_then(|src| {
                    match (&src.rowid_sql, &src.spatial) {
                        (
                            Some(rowid),
                            Some(SpatialIndex {
                                region: Some((rc, idx)),
                                ..
                            }),
                        ) if parts.last().is_some_and(|c| c.matches(rc)) => {
                            Some(printer.rtree_overlap(rowid, idx, &shape))
                        }
                        _ => None,
                    }
                });
                if filter.is_some() {
                    self.uses_spatial_index = true;
                    return Ok(filter);
                }
            }
        }
        Ok(None)
    }

    fn point_prefilter(&mut self, lon: &[Ident], lat: &[Ident], shape: &Shape) -> Option<String> {
        let src = self.column_source(lon)?;
        let same = self.column_source(lat)?;
        if src.rowid_sql != same.rowid_sql {
            return None;
        }
        let (
            rowid,
            SpatialIndex {
                point: Some((lc, bc, idx)),
                ..
            },
        ) = (src.rowid_sql.as_ref()?, src.spatial.as_ref()?)
        else {
            return None;
        };
        let lon_name = lon.last()?;
        let lat_name = lat.last()?;
        if !(lon_name.matches(lc) && lat_name.matches(bc)) {
            return None;
        }
        let filter = self.printer.rtree_overlap(rowid, idx, shape);
        self.uses_spatial_index = true;
        Some(filter)
    }

    // ----- values ----------------------------------------------------------------------------

    /// A geometry-typed value.
    fn geometry(&mut self, e: &Expr) -> Result<Typed, AdqlError> {
        let mut t = self.value(e)?;
        if !t.ty.is_geometry() {
            return Err(type_error(
                e.pos(),
                format!("a geometry is needed here, but `{e}` is {}", t.ty),
            ));
        }
        if t.region_column {
            // Region columns hold STC-S text, which the target may need as its own type.
            t.sql = self.printer.region_geometry(&t.sql);
        }
        Ok(t)
    }

    fn numeric(&mut self, e: &Expr, what: &str) -> Result<Typed, AdqlError> {
        let t = self.value(e)?;
        let literal_string = matches!(e.unnested(), Expr::String { .. });
        if !t.ty.is_numeric() && !literal_string {
            return Err(type_error(
                e.pos(),
                format!("{what} needs a number, but `{e}` is {}", t.ty),
            ));
        }
        Ok(t)
    }

    fn value(&mut self, e: &Expr) -> Result<Typed, AdqlError> {
        match e {
            Expr::Column(parts) => self.column(parts),
            Expr::Number { text, .. } => {
                let integral = !text.contains(['.', 'e', 'E']);
                let ty = if integral {
                    match text.parse::<i64>() {
                        Ok(v) if i32::try_from(v).is_ok() => AdqlType::Integer,
                        Ok(_) => AdqlType::BigInt,
                        Err(_) => AdqlType::Double,
                    }
                } else {
                    AdqlType::Double
                };
                let sql = if ty == AdqlType::Double && integral {
                    format!("{text}.0")
                } else if text.starts_with('.') {
                    format!("0{text}")
                } else if text.ends_with('.') {
                    format!("{text}0")
                } else {
                    text.clone()
                };
                // ADQL's approximate literals are doubles, which not every target assumes.
                let sql = if ty == AdqlType::Double {
                    self.printer.double_literal(sql)
                } else {
                    sql
                };
                Ok(Typed::new(sql, ty, "expr"))
            }
            Expr::String { value, .. } => {
                Ok(Typed::new(literal(value), AdqlType::VarChar(None), "expr"))
            }
            Expr::Null(_) => Ok(Typed::new("NULL".into(), AdqlType::Unknown, "expr")),
            Expr::Nested(inner) => {
                let mut t = self.value(inner)?;
                t.sql = format!("({})", t.sql);
                t.region_column = false;
                Ok(t)
            }
            Expr::Unary { op, expr, pos } => match op {
                UnaryOp::Not => Err(AdqlError::syntax(
                    *pos,
                    "NOT makes a condition, not a value",
                )),
                UnaryOp::Minus | UnaryOp::Plus => {
                    let t = self.numeric(expr, "a sign")?;
                    let sign = if *op == UnaryOp::Minus { "-" } else { "+" };
                    let mut out = Typed::new(format!("{sign}({})", t.sql), t.ty, &t.name);
                    out.meta.unit = t.meta.unit.clone();
                    Ok(out)
                }
            },
            Expr::Binary { op, left, right } => {
                if op.is_comparison() || matches!(op, BinaryOp::And | BinaryOp::Or) {
                    return Err(AdqlError::syntax(
                        left.pos(),
                        format!("`{e}` is a condition; a value is needed here"),
                    ));
                }
                if *op == BinaryOp::Concat {
                    let l = self.value(left)?;
                    let r = self.value(right)?;
                    for (t, x) in [(&l, left), (&r, right)] {
                        if t.ty.is_geometry() && t.ty != AdqlType::Unknown {
                            return Err(type_error(x.pos(), "a geometry cannot be concatenated"));
                        }
                    }
                    let cast = |t: &Typed| match t.ty {
                        AdqlType::Char(_) | AdqlType::VarChar(_) | AdqlType::Unknown => {
                            t.sql.clone()
                        }
                        _ => self.printer.text(&t.sql),
                    };
                    return Ok(Typed::new(
                        format!("({} || {})", cast(&l), cast(&r)),
                        AdqlType::VarChar(None),
                        "expr",
                    ));
                }
                let l = self.numeric(left, op.symbol())?;
                let r = self.numeric(right, op.symbol())?;
                let ty = if l.ty.is_integer() && r.ty.is_integer() {
                    if l.ty == AdqlType::BigInt || r.ty == AdqlType::BigInt {
                        AdqlType::BigInt
                    } else {
                        AdqlType::Integer
                    }
                } else if l.ty == AdqlType::Real && r.ty == AdqlType::Real {
                    AdqlType::Real
                } else {
                    AdqlType::Double
                };
                let mut t =
                    Typed::new(format!("({} {} {})", l.sql, op.symbol(), r.sql), ty, "expr");
                if matches!(op, BinaryOp::Plus | BinaryOp::Minus) && l.meta.unit == r.meta.unit {
                    t.meta.unit = l.meta.unit.clone();
                }
                Ok(t)
            }
            Expr::Function {
                name,
                args,
                distinct,
                star,
            } => self.function(name, args, *distinct, *star),
            Expr::Case {
                operand,
                whens,
                otherwise,
                ..
            } => {
                let mut sql = String::from("CASE");
                let op = match operand {
                    Some(o) => {
                        let t = self.value(o)?;
                        let _ = write!(sql, " {}", t.sql);
                        Some(t)
                    }
                    None => None,
                };
                let mut ty = AdqlType::Unknown;
                let mut meta = ColumnMeta::default();
                for (w, then) in whens {
                    let test = match &op {
                        Some(o) => {
                            let t = self.value(w)?;
                            self.check_comparable(o, &t, w.pos())?;
                            t.sql
                        }
                        None => self.condition(w)?,
                    };
                    let r = self.value(then)?;
                    if ty == AdqlType::Unknown {
                        ty = r.ty;
                        meta = r.meta.clone();
                    } else {
                        ty = unify(ty, r.ty).ok_or_else(|| {
                            type_error(then.pos(), format!("CASE mixes {ty} and {}", r.ty))
                        })?;
                    }
                    let _ = write!(sql, " WHEN {test} THEN {}", r.sql);
                }
                if let Some(o) = otherwise {
                    let r = self.value(o)?;
                    ty = if ty == AdqlType::Unknown {
                        r.ty
                    } else {
                        unify(ty, r.ty).ok_or_else(|| {
                            type_error(o.pos(), format!("CASE mixes {ty} and {}", r.ty))
                        })?
                    };
                    let _ = write!(sql, " ELSE {}", r.sql);
                }
                sql.push_str(" END");
                let mut t = Typed::new(sql, ty, "case");
                t.meta.unit = meta.unit;
                Ok(t)
            }
            Expr::Cast { expr, target, pos } => self.cast(expr, *target, *pos),
            Expr::Subquery(q, pos) => {
                let (sub, cols) = self.query(q, false)?;
                match cols.as_slice() {
                    [c] => {
                        let mut t = Typed::new(format!("({sub})"), c.ty, &c.name);
                        t.meta = c.meta.clone();
                        Ok(t)
                    }
                    _ => Err(type_error(
                        *pos,
                        format!(
                            "a subquery used as a value must give one column, not {}",
                            cols.len()
                        ),
                    )),
                }
            }
            Expr::InList { .. }
            | Expr::InSubquery { .. }
            | Expr::Between { .. }
            | Expr::Like { .. }
            | Expr::IsNull { .. }
            | Expr::Exists { .. } => Err(AdqlError::syntax(
                e.pos(),
                format!("`{e}` is a condition; a value is needed here"),
            )),
        }
    }

    fn cast(&mut self, expr: &Expr, target: CastTarget, pos: Pos) -> Result<Typed, AdqlError> {
        let x = self.value(expr)?;
        let ty = match target {
            CastTarget::SmallInt
            | CastTarget::Integer
            | CastTarget::BigInt
            | CastTarget::Real
            | CastTarget::Double => {
                if !(x.ty.is_numeric() || x.ty.is_string()) {
                    return Err(type_error(pos, format!("cannot CAST {} to {target}", x.ty)));
                }
                match target {
                    CastTarget::SmallInt => AdqlType::SmallInt,
                    CastTarget::Integer => AdqlType::Integer,
                    CastTarget::BigInt => AdqlType::BigInt,
                    CastTarget::Real => AdqlType::Real,
                    _ => AdqlType::Double,
                }
            }
            CastTarget::Char(n) | CastTarget::VarChar(n) => {
                let len = n.map(|v| u32::try_from(v).unwrap_or(u32::MAX));
                if matches!(target, CastTarget::Char(_)) {
                    AdqlType::Char(len.or(Some(1)))
                } else {
                    AdqlType::VarChar(len)
                }
            }
            CastTarget::Timestamp => {
                if !(x.ty.is_string() || x.ty == AdqlType::Timestamp) {
                    return Err(type_error(
                        pos,
                        "only strings (DALI timestamps) can be CAST to TIMESTAMP",
                    ));
                }
                AdqlType::Timestamp
            }
            CastTarget::Point | CastTarget::Circle | CastTarget::Polygon => {
                if !x.ty.is_string() {
                    return Err(type_error(
                        pos,
                        format!("only DALI strings can be CAST to {target}"),
                    ));
                }
                match target {
                    CastTarget::Point => AdqlType::Point,
                    CastTarget::Circle => AdqlType::Circle,
                    _ => AdqlType::Polygon,
                }
            }
        };
        let mut t = Typed::new(self.printer.cast(&x.sql, target), ty, &x.name);
        t.meta.unit = x.meta.unit;
        Ok(t)
    }

    fn function(
        &mut self,
        name: &Ident,
        args: &[Expr],
        distinct: bool,
        star: bool,
    ) -> Result<Typed, AdqlError> {
        let upper = name.value.to_ascii_uppercase();
        let Some(builtin) = functions::builtin(&upper) else {
            return self.udf(name, args);
        };
        let lower = upper.to_ascii_lowercase();
        match builtin.kind {
            Kind::Aggregate => {
                let d = if distinct { "DISTINCT " } else { "" };
                if star {
                    let mut t = Typed::new("COUNT(*)".into(), AdqlType::BigInt, "count");
                    t.meta.ucd = Some("meta.number".into());
                    return Ok(t);
                }
                let x = self.value(&args[0])?;
                if x.ty.is_geometry() && x.ty != AdqlType::Unknown {
                    return Err(type_error(args[0].pos(), format!("{upper} of a geometry")));
                }
                let (ty, keep_unit) = match upper.as_str() {
                    "COUNT" => (AdqlType::BigInt, false),
                    "AVG" => (AdqlType::Double, true),
                    "SUM" if x.ty.is_integer() => (AdqlType::BigInt, true),
                    "SUM" => (AdqlType::Double, true),
                    _ => (x.ty, true),
                };
                if matches!(upper.as_str(), "AVG" | "SUM") && !x.ty.is_numeric() {
                    return Err(type_error(
                        args[0].pos(),
                        format!("{upper} needs numbers, not {}", x.ty),
                    ));
                }
                let mut t = Typed::new(format!("{upper}({d}{})", x.sql), ty, &lower);
                if keep_unit {
                    t.meta.unit = x.meta.unit.clone();
                    if upper != "SUM" {
                        t.meta.ucd = x.meta.ucd.clone();
                    }
                } else {
                    t.meta.ucd = Some("meta.number".into());
                }
                Ok(t)
            }
            Kind::Math => {
                let mut xs = Vec::new();
                for a in args {
                    xs.push(self.numeric(a, &upper)?);
                }
                let sqls: Vec<&str> = xs.iter().map(|t| t.sql.as_str()).collect();
                let sql = self.printer.math(&upper, &sqls);
                let mut t = Typed::new(sql, AdqlType::Double, &lower);
                if matches!(
                    upper.as_str(),
                    "ABS" | "CEILING" | "FLOOR" | "ROUND" | "TRUNCATE"
                ) {
                    t.meta.unit = xs[0].meta.unit.clone();
                }
                Ok(t)
            }
            Kind::String => {
                let x = self.value(&args[0])?;
                if !x.ty.is_string() {
                    return Err(type_error(
                        args[0].pos(),
                        format!("{upper} needs a string, not {}", x.ty),
                    ));
                }
                let sql = self.printer.string_function(&lower, &x.sql);
                Ok(Typed::new(sql, AdqlType::VarChar(None), &lower))
            }
            Kind::Coalesce => {
                let mut ty = AdqlType::Unknown;
                let mut parts = Vec::new();
                let mut meta = ColumnMeta::default();
                for a in args {
                    let t = self.value(a)?;
                    ty = if ty == AdqlType::Unknown {
                        meta = t.meta.clone();
                        t.ty
                    } else {
                        unify(ty, t.ty).ok_or_else(|| {
                            type_error(a.pos(), format!("COALESCE mixes {ty} and {}", t.ty))
                        })?
                    };
                    parts.push(t.sql);
                }
                let mut t = Typed::new(format!("COALESCE({})", parts.join(", ")), ty, "coalesce");
                t.meta.unit = meta.unit;
                Ok(t)
            }
            Kind::InUnit => {
                let x = self.numeric(&args[0], "IN_UNIT")?;
                let Expr::String { value: target, .. } = args[1].unnested() else {
                    return Err(type_error(
                        args[1].pos(),
                        "IN_UNIT takes the target unit as a string literal",
                    ));
                };
                let from = x
                    .meta
                    .unit
                    .clone()
                    .filter(|u| !u.is_empty())
                    .ok_or_else(|| {
                        type_error(
                            args[0].pos(),
                            format!("IN_UNIT: `{}` has no unit to convert from", args[0]),
                        )
                    })?;
                let factor = units::conversion_factor(&from, target)
                    .map_err(|m| type_error(args[1].pos(), format!("IN_UNIT: {m}")))?;
                let mut t = Typed::new(
                    format!("({} * {})", x.sql, num(factor)),
                    AdqlType::Double,
                    &x.name,
                );
                t.meta.unit = Some(target.clone());
                t.meta.ucd = x.meta.ucd.clone();
                Ok(t)
            }
            Kind::GeometryConstructor => self.constructor(name, args),
            Kind::GeometryValue => self.geometry_value(&upper, args),
        }
    }

    fn udf(&mut self, name: &Ident, args: &[Expr]) -> Result<Typed, AdqlError> {
        let Some(udf) = self
            .options
            .udfs
            .iter()
            .find(|u| u.name.eq_ignore_ascii_case(&name.value))
        else {
            let known: Vec<&str> = functions::BUILTINS
                .iter()
                .map(|b| b.name)
                .chain(self.options.udfs.iter().map(|u| u.name.as_str()))
                .collect();
            return Err(
                name_error(name.pos, format!("unknown function {}", name.value))
                    .with_hint(closest(&name.value, known)),
            );
        };
        if udf.args.len() != args.len() {
            return Err(AdqlError::syntax(
                name.pos,
                format!(
                    "{} takes {} argument(s), not {}",
                    udf.name,
                    udf.args.len(),
                    args.len()
                ),
            ));
        }
        let mut sqls = Vec::new();
        for (a, want) in args.iter().zip(&udf.args) {
            let t = self.value(a)?;
            if unify(t.ty, *want).is_none() {
                return Err(type_error(
                    a.pos(),
                    format!("{} expects {want} here, not {}", udf.name, t.ty),
                ));
            }
            sqls.push(t.sql);
        }
        let f = self.printer.udf_function(udf);
        Ok(Typed::new(
            format!("{f}({})", sqls.join(", ")),
            udf.result,
            &udf.name.to_ascii_lowercase(),
        ))
    }

    fn constructor(&mut self, name: &Ident, args: &[Expr]) -> Result<Typed, AdqlError> {
        // Argument types decide between CIRCLE(lon, lat, r) and CIRCLE(point, r).
        let mut typed = Vec::with_capacity(args.len());
        for a in args {
            typed.push(self.value(a)?);
        }
        if typed.is_empty() {
            return Err(AdqlError::syntax(
                name.pos,
                format!("{name} needs arguments"),
            ));
        }
        let is_point = |i: usize| {
            typed
                .get(i)
                .is_some_and(|t| t.ty.is_geometry() && t.ty != AdqlType::Unknown)
        };
        let (cs, form) = functions::constructor_args(name, args, &is_point)?;
        let args = ConstructorArgList::new(name, args, &typed);
        if let Some(cs) = cs {
            check_coordsys(args.expr(cs)?)?;
        }
        let printer = self.printer;
        let (sql, ty) = match form {
            ConstructorArgs::Point { lon, lat } => {
                let (l, b) = (args.number(lon)?, args.number(lat)?);
                (printer.point(&l, &b), AdqlType::Point)
            }
            ConstructorArgs::Circle { lon, lat, radius } => {
                let (l, b, r) = (args.number(lon)?, args.number(lat)?, args.number(radius)?);
                (printer.circle(&l, &b, &r), AdqlType::Circle)
            }
            ConstructorArgs::CircleAt { center, radius } => {
                let (c, r) = (args.point(center)?, args.number(radius)?);
                (printer.circle_at(&c, &r), AdqlType::Circle)
            }
            ConstructorArgs::Box {
                lon,
                lat,
                width,
                height,
            } => {
                let parts = [
                    args.number(lon)?,
                    args.number(lat)?,
                    args.number(width)?,
                    args.number(height)?,
                ];
                let constant = match [lon, lat, width, height].map(|i| args.constant(i)) {
                    [Some(a), Some(b), Some(w), Some(h)] => {
                        Some(SkyPoint::new(a, b).and_then(|c| Shape::box_shape(c, w, h)))
                    }
                    _ => None,
                };
                let sql = printer
                    .box_shape(&parts, constant)
                    .map_err(|e| type_error(name.pos, format!("BOX: {e}")))?;
                (sql, AdqlType::Polygon)
            }
            ConstructorArgs::BoxAt {
                center,
                width,
                height,
            } => {
                let (c, w, h) = (
                    args.point(center)?,
                    args.number(width)?,
                    args.number(height)?,
                );
                (printer.box_at(&c, &w, &h), AdqlType::Polygon)
            }
            ConstructorArgs::PolygonNumbers(range) => {
                let mut parts = Vec::with_capacity(range.len());
                let mut constants = Some(Vec::with_capacity(range.len()));
                for i in range {
                    parts.push(args.number(i)?);
                    constants = constants.zip(args.constant(i)).map(|(mut v, c)| {
                        v.push(c);
                        v
                    });
                }
                match constants {
                    Some(values) => {
                        // Check a constant polygon now, so a bad one is a clear error, not a
                        // NULL.
                        let shape = values
                            .chunks(2)
                            .map(|c| match c {
                                [lon, lat] => SkyPoint::new(*lon, *lat),
                                _ => Err(SkyError::InvalidPolygon(
                                    "a vertex needs two numbers".into(),
                                )),
                            })
                            .collect::<Result<Vec<_>, _>>()
                            .and_then(Shape::polygon)
                            .map_err(|e| type_error(name.pos, format!("POLYGON: {e}")))?;
                        (printer.polygon_constant(&shape), AdqlType::Polygon)
                    }
                    None => (printer.polygon_numbers(&parts), AdqlType::Polygon),
                }
            }
            ConstructorArgs::PolygonPoints(range) => {
                let mut parts = Vec::with_capacity(range.len());
                for i in range {
                    parts.push(args.point(i)?);
                }
                (printer.polygon_points(&parts), AdqlType::Polygon)
            }
            ConstructorArgs::Region(i) => {
                let lit = args.expr(i)?;
                let Expr::String { value, pos } = lit.unnested() else {
                    return Err(type_error(lit.pos(), "REGION takes a string literal"));
                };
                let shape =
                    parse_stcs(value).map_err(|e| unsupported(*pos, format!("REGION: {e}")))?;
                (printer.region(value, &shape), AdqlType::Region)
            }
            ConstructorArgs::Centroid(i) => {
                let (g, t) = args.get(i)?;
                if !t.ty.is_geometry() {
                    return Err(type_error(
                        g.pos(),
                        format!("CENTROID needs a geometry, not {}", t.ty),
                    ));
                }
                let geometry = if t.region_column {
                    // Region columns hold STC-S text, which the target may need as its own type.
                    printer.region_geometry(&t.sql)
                } else {
                    t.sql.clone()
                };
                (printer.centroid(&geometry), AdqlType::Point)
            }
        };
        let name = name.value.to_ascii_lowercase();
        Ok(Typed::new(sql, ty, &name))
    }

    fn geometry_value(&mut self, upper: &str, args: &[Expr]) -> Result<Typed, AdqlError> {
        let lower = upper.to_ascii_lowercase();
        let printer = self.printer;
        // The parser has checked the argument counts; a tree built by hand may not have.
        let wrong_count = || {
            AdqlError::syntax(
                args.first().map(Expr::pos).unwrap_or_default(),
                format!("{upper} has the wrong number of arguments"),
            )
        };
        if upper == "DISTANCE" {
            let sql = match args {
                [_, _, _, _] => {
                    let mut v = Vec::with_capacity(4);
                    for a in args {
                        v.push(self.numeric(a, "DISTANCE")?.sql);
                    }
                    match v.as_slice() {
                        [a, b, c, d] => printer.distance_coordinates([a, b, c, d]),
                        _ => return Err(wrong_count()),
                    }
                }
                _ => {
                    let mut pts = Vec::with_capacity(2);
                    for a in args {
                        let t = self.geometry(a)?;
                        if !matches!(t.ty, AdqlType::Point | AdqlType::Unknown) {
                            return Err(type_error(
                                a.pos(),
                                format!("DISTANCE takes points, not {}", t.ty),
                            ));
                        }
                        pts.push(t.sql);
                    }
                    match pts.as_slice() {
                        [p, q] => printer.distance(p, q),
                        _ => return Err(wrong_count()),
                    }
                }
            };
            return Ok(distance_typed(sql));
        }
        if let Some(test) = GeometryTest::from_name(upper) {
            let [a, b] = args else {
                return Err(wrong_count());
            };
            let a = self.geometry(a)?;
            let b = self.geometry(b)?;
            let sql = printer.geometry_flag(test, a.arg(), b.arg());
            return Ok(Typed::new(sql, AdqlType::Integer, &lower));
        }
        let [arg] = args else {
            return Err(wrong_count());
        };
        let g = self.geometry(arg)?;
        match upper {
            "AREA" => {
                let mut t = Typed::new(printer.area(&g.sql), AdqlType::Double, "area");
                t.meta.unit = Some("deg**2".into());
                t.meta.ucd = Some("phys.angArea".into());
                Ok(t)
            }
            "COORD1" | "COORD2" => {
                if !matches!(g.ty, AdqlType::Point | AdqlType::Unknown) {
                    return Err(type_error(
                        arg.pos(),
                        format!("{upper} takes a point, not {}", g.ty),
                    ));
                }
                let second = upper == "COORD2";
                let mut t =
                    Typed::new(printer.coordinate(&g.sql, second), AdqlType::Double, &lower);
                t.meta.unit = Some("deg".into());
                t.meta.ucd = Some(if second { "pos.eq.dec" } else { "pos.eq.ra" }.into());
                Ok(t)
            }
            // COORDSYS: every geometry here is ICRS.
            _ => Ok(Typed::new(
                format!("CASE WHEN {} IS NULL THEN NULL ELSE 'ICRS' END", g.sql),
                AdqlType::VarChar(None),
                "coordsys",
            )),
        }
    }
}

/// A SELECT list being built.
#[derive(Default)]
struct SelectList {
    /// `expr AS "_cN"` items.
    sql: Vec<String>,
    /// The result columns.
    cols: Vec<OutColumn>,
    /// The translated values, for ORDER BY/GROUP BY by number or name.
    typed: Vec<Typed>,
}

impl SourceColumn {
    /// The column as a value in an expression.
    fn to_typed(&self) -> Typed {
        Typed {
            sql: self.sql.clone(),
            ty: self.ty,
            meta: self.meta.clone(),
            name: self.name.clone(),
            region_column: self.stcs_text,
        }
    }
}

/// The columns a subquery (derived table or CTE) shows under its alias: its generated
/// `_cN` names, with the names, types and metadata of its select list.
fn columns_of_subquery(sql_alias: &str, cols: &[OutColumn]) -> Vec<SourceColumn> {
    cols.iter()
        .enumerate()
        .map(|(i, c)| SourceColumn {
            name: c.name.clone(),
            ty: c.ty,
            meta: c.meta.clone(),
            sql: format!("{sql_alias}.{}", quote(&format!("_c{i}"))),
            merged_away: false,
            stcs_text: c.region_column,
        })
        .collect()
}

/// A constructor call's arguments beside their translations, found by the argument index
/// [`functions::constructor_args`] gives: a wrong index is an error, never another argument.
struct ConstructorArgList<'e> {
    name: &'e Ident,
    args: &'e [Expr],
    typed: &'e [Typed],
}

impl<'e> ConstructorArgList<'e> {
    fn new(name: &'e Ident, args: &'e [Expr], typed: &'e [Typed]) -> Self {
        ConstructorArgList { name, args, typed }
    }

    /// Argument `i` and its translation.
    fn get(&self, i: usize) -> Result<(&'e Expr, &'e Typed), AdqlError> {
        self.args.get(i).zip(self.typed.get(i)).ok_or_else(|| {
            AdqlError::syntax(
                self.name.pos,
                format!("{}: argument {} is missing", self.name, i + 1),
            )
        })
    }

    fn expr(&self, i: usize) -> Result<&'e Expr, AdqlError> {
        self.get(i).map(|(e, _)| e)
    }

    /// The value of argument `i` when it is a numeric constant.
    fn constant(&self, i: usize) -> Option<f64> {
        self.args.get(i).and_then(constant_number)
    }

    /// The SQL of argument `i`, which must be a number (a coordinate, radius or size).
    fn number(&self, i: usize) -> Result<String, AdqlError> {
        let (e, t) = self.get(i)?;
        if t.ty.is_numeric() {
            Ok(t.sql.clone())
        } else {
            Err(type_error(
                e.pos(),
                format!("a coordinate must be a number, but `{e}` is {}", t.ty),
            ))
        }
    }

    /// The SQL of argument `i`, which must be a point (or of unknown type, e.g. NULL).
    fn point(&self, i: usize) -> Result<String, AdqlError> {
        let (e, t) = self.get(i)?;
        match t.ty {
            AdqlType::Point | AdqlType::Unknown => Ok(t.sql.clone()),
            other => Err(type_error(
                e.pos(),
                format!("a POINT is needed here, not {other}"),
            )),
        }
    }
}

fn distance_typed(sql: String) -> Typed {
    let mut t = Typed::new(sql, AdqlType::Double, "distance");
    t.meta.unit = Some("deg".into());
    t.meta.ucd = Some("pos.angDistance".into());
    t
}

fn unify(a: AdqlType, b: AdqlType) -> Option<AdqlType> {
    if a == AdqlType::Unknown {
        return Some(b);
    }
    if b == AdqlType::Unknown || a == b {
        return Some(a);
    }
    if a.is_numeric() && b.is_numeric() {
        return Some(if a.is_integer() && b.is_integer() {
            AdqlType::BigInt
        } else {
            AdqlType::Double
        });
    }
    if a.is_string() && b.is_string() {
        return Some(AdqlType::VarChar(None));
    }
    if a.is_geometry() && b.is_geometry() {
        return Some(AdqlType::Region);
    }
    None
}

fn dotted(parts: &[Ident]) -> String {
    parts
        .iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join(".")
}

/// The column of a USING/NATURAL name on one side of a join.
fn side_column(sources: &[Source], u: &Ident) -> Result<SourceColumn, AdqlError> {
    let hits: Vec<&SourceColumn> = sources
        .iter()
        .flat_map(|s| s.columns.iter())
        .filter(|c| u.matches(&c.name))
        .collect();
    match hits.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(name_error(
            u.pos,
            format!("USING ({u}): one side of the join has no such column"),
        )),
        _ => Err(name_error(
            u.pos,
            format!("USING ({u}): the column is ambiguous on one side of the join"),
        )),
    }
}

/// Coordinate systems skyport accepts in geometry constructors: ICRS (and FK5/J2000, which
/// match it to 0.02″), or none.
fn check_coordsys(cs: &Expr) -> Result<(), AdqlError> {
    match cs.unnested() {
        Expr::Null(_) => Ok(()),
        Expr::String { value, pos } => {
            let first = value
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_ascii_uppercase();
            match first.as_str() {
                "" | "ICRS" | "FK5" | "J2000" | "UNKNOWNFRAME" => Ok(()),
                other => Err(unsupported(
                    *pos,
                    format!("coordinate system {other} is not supported: skyport's coordinates are ICRS"),
                )),
            }
        }
        other => Err(unsupported(
            other.pos(),
            "the coordinate system must be a string literal",
        )),
    }
}

/// `(lon column, lat column)` of `POINT([cs,] col, col)`.
fn point_columns(e: &Expr) -> Option<(Vec<Ident>, Vec<Ident>)> {
    let Expr::Function { name, args, .. } = e.unnested() else {
        return None;
    };
    if !name.value.eq_ignore_ascii_case("POINT") {
        return None;
    }
    let (lon, lat) = match args.as_slice() {
        [lon, lat] | [_, lon, lat] => (lon, lat),
        _ => return None,
    };
    column_pair(lon, lat)
}

fn column_pair(lon: &Expr, lat: &Expr) -> Option<(Vec<Ident>, Vec<Ident>)> {
    match (lon.unnested(), lat.unnested()) {
        (Expr::Column(a), Expr::Column(b)) => Some((a.clone(), b.clone())),
        _ => None,
    }
}

fn constant_point(e: &Expr) -> Option<SkyPoint> {
    match constant_shape(e)? {
        Shape::Point(p) => Some(p),
        _ => None,
    }
}

/// The shape of a geometry constructor whose arguments are all constants.
fn constant_shape(e: &Expr) -> Option<Shape> {
    let Expr::Function { name, args, .. } = e.unnested() else {
        return None;
    };
    // A POINT(…) call argument is a point; telling them apart matters for POLYGON, whose
    // form (numbers or points) would otherwise be guessed from the argument count.
    let is_point_call = |i: usize| {
        args.get(i).is_some_and(
            |a| matches!(a.unnested(), Expr::Function { name, .. } if name.matches("POINT")),
        )
    };
    let (_, form) = functions::constructor_form(name, args, &is_point_call).ok()?;
    let n = constant_number;
    match form {
        ConstructorForm::Point { lon, lat } => {
            Some(Shape::Point(SkyPoint::new(n(lon)?, n(lat)?).ok()?))
        }
        ConstructorForm::Circle { lon, lat, radius } => {
            Shape::circle(SkyPoint::new(n(lon)?, n(lat)?).ok()?, n(radius)?).ok()
        }
        ConstructorForm::CircleAt { center, radius } => {
            Shape::circle(constant_point(center)?, n(radius)?).ok()
        }
        ConstructorForm::Box {
            lon,
            lat,
            width,
            height,
        } => Shape::box_shape(SkyPoint::new(n(lon)?, n(lat)?).ok()?, n(width)?, n(height)?).ok(),
        ConstructorForm::BoxAt {
            center,
            width,
            height,
        } => Shape::box_shape(constant_point(center)?, n(width)?, n(height)?).ok(),
        ConstructorForm::PolygonNumbers(nums) => {
            let v: Option<Vec<f64>> = nums.iter().map(n).collect();
            let pts: Option<Vec<SkyPoint>> = v?
                .chunks(2)
                .map(|c| SkyPoint::new(c[0], c[1]).ok())
                .collect();
            Shape::polygon(pts?).ok()
        }
        ConstructorForm::PolygonPoints(points) => {
            let pts: Option<Vec<SkyPoint>> = points.iter().map(constant_point).collect();
            Shape::polygon(pts?).ok()
        }
        ConstructorForm::Region(lit) => match lit.unnested() {
            Expr::String { value, .. } => parse_stcs(value).ok(),
            _ => None,
        },
        ConstructorForm::Centroid(_) => None,
    }
}
