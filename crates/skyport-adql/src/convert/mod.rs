//! From text to [`crate::ast::Query`]: sqlparser does the parsing (with [`AdqlDialect`]), then this
//! module walks its tree and keeps only ADQL 2.1. sqlparser accepts a great deal more than ADQL
//! (LIMIT, `::` casts, placeholders, several statements, bitwise operators, window functions…),
//! so every construct is either converted or refused with its position. Two passes make that
//! robust: the token stream is checked against ADQL's small alphabet first (catching hex
//! literals, `::`, `$1`, `/* */` with an exact position), then the tree is converted node by
//! node. The converter also enforces the grammar's split between conditions and values (a bare
//! `WHERE CONTAINS(…)` is not ADQL), which sqlparser does not know about.
//!
//! * [`tokens`]: the token check;
//! * [`query`]: queries, SELECT, names and FROM items;
//! * [`expr`]: values, conditions, function calls and CAST targets.

use sqlparser::ast as sql;
use sqlparser::ast::Spanned;
use sqlparser::parser::{Parser, ParserError};

use crate::ast::*;
use crate::dialect::AdqlDialect;
use crate::error::{AdqlError, Pos};

mod expr;
mod query;
mod tokens;

use tokens::check_tokens;

/// The most operators one query may hold. Deeper expression trees are refused before parsing,
/// because every later stage (and dropping the tree) recurses over them.
pub const MAX_OPERATORS: usize = 1000;

/// How deeply expressions and subqueries may nest (sqlparser's count: about one level per
/// parenthesis or subquery). Each level costs the parser some 20 KB of stack in an unoptimised
/// build; 64 keeps the deepest query accepted (about 60 parentheses, far beyond real ones)
/// within 1 MB, where 200 let 150 parentheses overflow a 2 MB thread and kill the process.
const MAX_DEPTH: usize = 64;

/// Parses and validates ADQL 2.1 text into skyport's syntax tree. Names are not resolved here
/// (see [`crate::translate()`]); functions must be ADQL's own or look like a user-defined function
/// (`prefix_name(…)`).
pub fn parse(text: &str) -> Result<Query, AdqlError> {
    // Tokenise once: check the tokens, then hand them to the parser.
    let tokens = check_tokens(text)?;
    let statements = Parser::new(&AdqlDialect)
        .with_recursion_limit(MAX_DEPTH)
        .with_tokens_with_locations(tokens)
        .parse_statements()
        .map_err(parser_error)?;
    let query = match statements.as_slice() {
        [sql::Statement::Query(q)] => q,
        [] => return Err(AdqlError::syntax(Pos::default(), "the query is empty")),
        [_] => {
            return Err(AdqlError::syntax(
                span_pos(&statements[0]),
                "only SELECT queries are ADQL",
            ))
        }
        [_, second, ..] => {
            return Err(AdqlError::syntax(
                span_pos(second),
                "one query only: ADQL has no statement separator",
            ))
        }
    };
    Converter { depth: 0 }.query(query, true)
}

fn span_pos(node: &impl Spanned) -> Pos {
    Pos::from_location(node.span().start)
}

/// Where a query starts: its WITH or its first SELECT. sqlparser's span of a query joins the
/// spans of everything in it, recursively; for a WHERE of a long left-deep chain that is a deep
/// recursion, which is what a position needs none of.
fn query_start(q: &sql::Query) -> Pos {
    match &q.with {
        Some(w) => Pos::from_location(w.with_token.0.span.start),
        None => set_expr_start(&q.body),
    }
}

/// Where a query body starts (see [`query_start`]).
fn set_expr_start(mut s: &sql::SetExpr) -> Pos {
    loop {
        match s {
            sql::SetExpr::Select(select) => {
                return Pos::from_location(select.select_token.0.span.start)
            }
            sql::SetExpr::SetOperation { left, .. } => s = left,
            sql::SetExpr::Query(q) => return query_start(q),
            other => return span_pos(other),
        }
    }
}

/// Turns sqlparser's message ("Expected: …, found: x at Line: 1, Column: 8") into our error.
fn parser_error(e: ParserError) -> AdqlError {
    let text = match e {
        ParserError::TokenizerError(s) | ParserError::ParserError(s) => s,
        ParserError::RecursionLimitExceeded => {
            return AdqlError::syntax(Pos::default(), "the query is nested too deeply")
        }
    };
    let (message, pos) = match text.rfind(" at Line: ") {
        Some(i) => {
            let tail = &text[i + " at Line: ".len()..];
            let mut nums = tail
                .split(|c: char| !c.is_ascii_digit())
                .filter(|s| !s.is_empty())
                .map(|s| s.parse::<u32>().unwrap_or(0));
            let line = nums.next().unwrap_or(0);
            let column = nums.next().unwrap_or(0);
            (text[..i].to_string(), Pos { line, column })
        }
        None => (text, Pos::default()),
    };
    let message = message
        .trim_start_matches("sql parser error: ")
        .replace("Expected: ", "expected ")
        .replace(", found: ", ", found ");
    AdqlError::syntax(pos, format!("syntax error: {message}"))
}

/// The syntactic class of an expression (ADQL's BNF keeps these apart).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    /// A search condition (comparison, AND/OR/NOT, BETWEEN, IN, LIKE, IS NULL, EXISTS).
    Condition,
    /// A geometry value (POINT, CIRCLE, BOX, POLYGON, REGION, CENTROID).
    Geometry,
    /// Any other value.
    Value,
}

struct Converter {
    depth: usize,
}

fn not_adql(pos: Pos, what: &str) -> AdqlError {
    AdqlError::syntax(pos, format!("{what} is not ADQL"))
}

/// The variant name of a sqlparser node, for "X is not ADQL" messages.
fn node_name(debug: String) -> String {
    let end = debug
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(debug.len());
    debug[..end].to_string()
}

impl Converter {
    fn enter(&mut self, pos: Pos) -> Result<(), AdqlError> {
        self.descend(pos, 1)
    }

    /// Goes `levels` deeper (the caller comes back up by as many, whatever the result).
    fn descend(&mut self, pos: Pos, levels: usize) -> Result<(), AdqlError> {
        self.depth += levels;
        if self.depth > MAX_DEPTH {
            return Err(AdqlError::syntax(pos, "the query is nested too deeply"));
        }
        Ok(())
    }
}
