//! ADQL 2.1 for skyport, with no I/O: parse (sqlparser with an ADQL dialect), validate against
//! ADQL's grammar, resolve names against a catalogue of tables, infer result column types, and
//! translate to SQLite or PostgreSQL/pgsphere SQL printed by our own code.
//!
//! ```text
//! text ──parse──▶ ast::Query ──translate(catalogue, dialect, options)──▶ Translation { sql, columns }
//!                                │
//!                                ├─ 1. resolve: translate::{scope, query, condition, expr, geometry}
//!                                │     bind names (catalogue, scopes), infer ADQL types and FIELD
//!                                │     metadata, make ADQL's checks (errors with positions) and
//!                                │     decide which construct each piece is
//!                                │        │
//!                                │        ▼
//!                                │     resolved::{Query, Select, From, Condition, Typed/Value}:
//!                                │     typed nodes, columns as generated alias + name, no SQL
//!                                │     (+ the result's OutputColumns)
//!                                │        │
//!                                └─ 2. print: print::walk over the tree, asking print::Printer,
//!                                      one per Dialect (print::sqlite, print::postgres), how the
//!                                      target spells each construct ──▶ sql
//! ```
//!
//! [`parse`] alone is the syntax check; [`translate()`] checks names and types and is the only
//! way to get SQL, so a query that translates has passed every check.

pub mod ast;
pub mod catalogue;
mod convert;
mod dialect;
mod error;
pub mod functions;
mod lexical;
mod print;
mod resolved;
mod suggest;
mod translate;
pub mod types;
pub mod units;

pub use catalogue::{Catalogue, ColumnInfo, ColumnMeta, SpatialIndex, TableInfo};
pub use convert::{parse, MAX_OPERATORS};
pub use dialect::AdqlDialect;
pub use error::{AdqlError, ErrorKind, Pos};
pub use lexical::{is_reserved, Identifier, IdentifierError};
pub use translate::{
    log_query, parse_and_translate, translate, Dialect, Options, OutputColumn, RowFilterSource,
    Translation, Udf, MAX_SELECT_ITEMS, MAX_TABLE_REFERENCES, ROW_FILTER_TABLE,
};
pub use types::AdqlType;
