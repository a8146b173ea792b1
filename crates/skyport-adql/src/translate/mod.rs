//! From [`crate::ast::Query`] to SQL for SQLite or PostgreSQL/pgsphere, printed by our own code.
//!
//! Two passes. Resolution walks the query once: it binds every name against the
//! [`Catalogue`] (tables, aliases, CTEs, derived tables, USING/NATURAL joins, correlated
//! subqueries), infers each value's ADQL type and FIELD metadata, makes ADQL's checks, and
//! decides which construct each piece is, building the resolved tree (`crate::resolved`),
//! which holds no SQL. Only when that has succeeded does the printing pass
//! (`crate::print::walk`) write the tree as SQL through the [`Dialect`]'s [`Printer`]. So
//! this module and its children write no SQL and never ask which target they write; they ask
//! the printer only what the target can do (R*Tree indexes, literal boxes), which decides
//! what the tree says.
//!
//! Resolution is split by what it handles:
//! * [`scope`]: the names a query can see and their lookup;
//! * [`query`]: queries, set operations, select lists, FROM items;
//! * [`condition`]: search conditions, including the geometry predicates worth rewriting;
//! * [`expr`]: values, CAST and function calls;
//! * [`geometry`]: geometry constructors and functions, and constant shapes.
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

mod condition;
mod expr;
mod geometry;
mod query;
mod scope;

use std::collections::HashMap;

use crate::ast::*;
use crate::catalogue::{Catalogue, ColumnMeta};
use crate::error::{AdqlError, ErrorKind, Pos};
use crate::print::postgres::Postgres;
use crate::print::sqlite::Sqlite;
use crate::print::walk::Walk;
use crate::print::Printer;
use crate::types::AdqlType;
use scope::{CteInfo, Scope};

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

/// Makes the row filter of a table (`schema.table`), if it needs one.
pub type RowFilterFn = dyn Fn(&str) -> Option<String> + Send + Sync;

/// A source of row filters made on demand (see [`Options::row_filter`]).
#[derive(Clone)]
pub struct RowFilterSource(pub std::sync::Arc<RowFilterFn>);

impl std::fmt::Debug for RowFilterSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RowFilterSource")
    }
}

/// In a row filter, where a column's table qualifier goes (`<alias>.`): a NUL and a dot, which
/// no SQL text of a row filter holds otherwise.
pub const ROW_FILTER_TABLE: &str = "\u{0}.";

/// Most result columns one SELECT may give (SQLite refuses more than 2,000 and PostgreSQL
/// more than 1,664; past either the error would be the database's, not the user's).
pub const MAX_SELECT_ITEMS: usize = 1600;

/// Most references to catalogue tables in one query (SQLite joins at most 64 tables).
pub const MAX_TABLE_REFERENCES: usize = 60;

/// What the translation may add or use beyond the query itself.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The predicates ANDed onto every reference to a table, asked for each table a query
    /// names (`schema.table` as declared), so that filters are made only for the tables a
    /// query uses. A predicate is an SQL condition over the table's quoted columns, each
    /// written after [`ROW_FILTER_TABLE`] (which the translation replaces by the reference's
    /// alias, or removes). This is how rows a user may not see are hidden; the predicate is
    /// trusted SQL from the server, not ADQL.
    pub row_filter: Option<RowFilterSource>,
    /// Tables (`schema.table` as declared) the query may not name: to the query they do not
    /// exist — the error, its hints and ambiguity messages are those of an absent table.
    pub hidden_tables: std::collections::HashSet<String>,
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
    pub meta: std::sync::Arc<ColumnMeta>,
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
        tables_named: 0,
        nullable: false,
    };
    // Resolve the whole query first, then print it: nothing is printed before every name,
    // type and check has passed.
    let (resolved, columns) = t.query(query, true)?;
    let sql = Walk::new(t.printer).query(&resolved);
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
    log_query(text);
    let q = crate::parse(text)?;
    translate(&q, catalogue, dialect, options)
}

/// Appends `text` (one line, backslashes and newlines escaped) to the file that the
/// environment variable `SKYPORT_ADQL_LOG` names, when it is set: a corpus of what clients
/// ask. The variable is read once, at the first query: reading the environment takes a lock
/// and a copy, on every query otherwise.
pub fn log_query(text: &str) {
    static LOG: std::sync::OnceLock<Option<std::ffi::OsString>> = std::sync::OnceLock::new();
    if let Some(path) = LOG.get_or_init(|| std::env::var_os("SKYPORT_ADQL_LOG")) {
        use std::io::Write as _;
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = writeln!(f, "{}", text.replace('\\', "\\\\").replace('\n', "\\n"));
        }
    }
}

struct Translator<'a> {
    catalogue: &'a Catalogue,
    /// The target's printer: resolution asks it only what the target can do; the printing
    /// pass asks it how to spell the resolved tree.
    printer: &'static dyn Printer,
    options: &'a Options,
    scopes: Vec<Scope>,
    ctes: Vec<CteInfo>,
    next_alias: usize,
    uses_spatial_index: bool,
    /// Catalogue tables named so far (see [`MAX_TABLE_REFERENCES`]).
    tables_named: usize,
    /// Whether the table references being translated are on the side of an outer join that
    /// may be null-extended: their row filters cannot go into the WHERE clause.
    nullable: bool,
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
    e.constant_number()
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
