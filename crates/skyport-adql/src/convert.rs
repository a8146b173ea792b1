//! From text to [`crate::ast::Query`]: sqlparser does the parsing (with [`AdqlDialect`]), then this
//! module walks its tree and keeps only ADQL 2.1. sqlparser accepts a great deal more than ADQL
//! (LIMIT, `::` casts, placeholders, several statements, bitwise operators, window functions…),
//! so every construct is either converted or refused with its position. Two passes make that
//! robust: the token stream is checked against ADQL's small alphabet first (catching hex
//! literals, `::`, `$1`, `/* */` with an exact position), then the tree is converted node by
//! node. The converter also enforces the grammar's split between conditions and values (a bare
//! `WHERE CONTAINS(…)` is not ADQL), which sqlparser does not know about.

use sqlparser::ast as sql;
use sqlparser::ast::Spanned;
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer, Whitespace};

use crate::ast::*;
use crate::dialect::AdqlDialect;
use crate::error::{AdqlError, Pos};
use crate::functions::{self, GeometryShape};
use crate::lexical::is_reserved;

/// The most operators one query may hold. Deeper expression trees are refused before parsing,
/// because every later stage (and dropping the tree) recurses over them.
pub const MAX_OPERATORS: usize = 1000;

/// How deeply expressions and subqueries may nest.
const MAX_DEPTH: usize = 200;

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

/// Tokenises and checks the token stream against ADQL's lexical alphabet.
fn check_tokens(text: &str) -> Result<Vec<TokenWithSpan>, AdqlError> {
    let tokens = Tokenizer::new(&AdqlDialect, text)
        .tokenize_with_location()
        .map_err(|e| {
            AdqlError::syntax(
                Pos::from_location(e.location),
                format!("syntax error: {}", e.message),
            )
        })?;
    let mut operators = 0usize;
    let mut semicolon: Option<Pos> = None;
    for t in &tokens {
        let pos = Pos::from_location(t.span.start);
        let refuse = |what: &str| Err(AdqlError::syntax(pos, what.to_string()));
        if let Some(at) = semicolon {
            if !matches!(
                t.token,
                Token::Whitespace(_) | Token::EOF | Token::SemiColon
            ) {
                return Err(AdqlError::syntax(
                    at,
                    "one query only: ADQL has no statement separator",
                ));
            }
        }
        match &t.token {
            Token::Word(w) => {
                if w.quote_style.is_none() && w.value.eq_ignore_ascii_case("LIMIT") {
                    return refuse("LIMIT is not ADQL: write SELECT TOP n");
                }
                if w.quote_style == Some('"') && w.value.is_empty() {
                    return refuse("a delimited identifier cannot be empty");
                }
                if w.quote_style.is_none() {
                    let upper = w.value.to_ascii_uppercase();
                    if upper == "AND" || upper == "OR" {
                        operators += 1;
                    }
                }
            }
            Token::Number(..)
            | Token::SingleQuotedString(_)
            | Token::Comma
            | Token::LParen
            | Token::RParen
            | Token::Period
            | Token::EOF => {}
            Token::Eq
            | Token::Neq
            | Token::Lt
            | Token::Gt
            | Token::LtEq
            | Token::GtEq
            | Token::Plus
            | Token::Minus
            | Token::Mul
            | Token::Div
            | Token::StringConcat => operators += 1,
            Token::SemiColon => {
                // A single trailing semicolon is tolerated (clients paste it from SQL tools).
                if semicolon.is_some() {
                    return refuse("one query only: ADQL has no statement separator");
                }
                semicolon = Some(pos);
            }
            Token::Whitespace(ws) => match ws {
                Whitespace::Space | Whitespace::Newline | Whitespace::Tab => {}
                Whitespace::SingleLineComment { prefix, .. } if prefix == "--" => {}
                // ADQL's grammar has only `--` comments, but block comments change nothing
                // and appear in archives' own examples (SIMBAD's), so they count as whitespace.
                Whitespace::MultiLineComment(_) => {}
                _ => return refuse("this comment syntax is not ADQL: use --"),
            },
            Token::DoubleColon => return refuse("`::` casts are not ADQL: write CAST(x AS type)"),
            Token::Placeholder(p) => {
                return refuse(&format!(
                    "`{p}` looks like a query parameter placeholder; ADQL has none: write the value"
                ))
            }
            Token::HexStringLiteral(_) => {
                return refuse(
                    "hexadecimal literals were removed from ADQL 2.1: write the number in decimal",
                )
            }
            Token::Ampersand | Token::Pipe | Token::Caret | Token::Tilde => {
                return refuse("bitwise operators were removed from ADQL 2.1")
            }
            Token::Mod => return refuse("`%` is not ADQL: write MOD(x, y)"),
            Token::DoubleEq => return refuse("`==` is not ADQL: write ="),
            Token::DoubleQuotedString(_) => {
                return refuse("this is not a valid delimited identifier")
            }
            Token::Char(c) => return refuse(&format!("unexpected character `{c}`")),
            other => return refuse(&format!("`{other}` is not ADQL")),
        }
    }
    if operators > MAX_OPERATORS {
        return Err(AdqlError::syntax(
            Pos::default(),
            format!("the query has more than {MAX_OPERATORS} operators; split it up"),
        ));
    }
    Ok(tokens)
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
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(AdqlError::syntax(pos, "the query is nested too deeply"));
        }
        Ok(())
    }

    fn query(&mut self, q: &sql::Query, top_level: bool) -> Result<Query, AdqlError> {
        let pos = span_pos(q);
        self.enter(pos)?;
        if q.fetch.is_some() {
            return Err(not_adql(pos, "FETCH"));
        }
        if !q.locks.is_empty() || q.for_clause.is_some() {
            return Err(not_adql(pos, "FOR UPDATE/FOR XML"));
        }
        if q.settings.is_some() || q.format_clause.is_some() || !q.pipe_operators.is_empty() {
            return Err(not_adql(pos, "this query clause"));
        }
        let mut with = Vec::new();
        if let Some(w) = &q.with {
            let wpos = Pos::from_location(w.with_token.0.span.start);
            if !top_level {
                return Err(AdqlError::syntax(
                    wpos,
                    "WITH is allowed only at the start of the whole query, not in a subquery or set operand",
                ));
            }
            if w.recursive {
                return Err(not_adql(wpos, "WITH RECURSIVE"));
            }
            for cte in &w.cte_tables {
                if cte.from.is_some() || cte.materialized.is_some() {
                    return Err(not_adql(wpos, "this WITH option"));
                }
                let name = self.ident(&cte.alias.name)?;
                let mut columns = Vec::new();
                for c in &cte.alias.columns {
                    if c.data_type.is_some() {
                        return Err(not_adql(
                            Pos::from_location(c.name.span.start),
                            "a typed WITH column",
                        ));
                    }
                    columns.push(self.ident(&c.name)?);
                }
                with.push(Cte {
                    name,
                    columns,
                    query: Box::new(self.query(&cte.query, false)?),
                });
            }
        }
        let body = self.set_expr(&q.body)?;
        let mut order_by = Vec::new();
        if let Some(ob) = &q.order_by {
            if ob.interpolate.is_some() {
                return Err(not_adql(pos, "INTERPOLATE"));
            }
            match &ob.kind {
                sql::OrderByKind::All(_) => return Err(not_adql(pos, "ORDER BY ALL")),
                sql::OrderByKind::Expressions(items) => {
                    for item in items {
                        let ipos = span_pos(&item.expr);
                        if item.with_fill.is_some() || item.options.nulls_first.is_some() {
                            return Err(not_adql(ipos, "NULLS FIRST/LAST"));
                        }
                        let descending = match &item.options.sort {
                            None | Some(sql::OrderBySort::Asc) => false,
                            Some(sql::OrderBySort::Desc) => true,
                            Some(sql::OrderBySort::Using(_)) => {
                                return Err(not_adql(ipos, "ORDER BY … USING"))
                            }
                        };
                        order_by.push(OrderItem {
                            expr: self.value(&item.expr)?,
                            descending,
                        });
                    }
                }
            }
        }
        let mut offset = None;
        if let Some(limit) = &q.limit_clause {
            match limit {
                sql::LimitClause::LimitOffset {
                    limit: None,
                    offset: Some(o),
                    limit_by,
                } if limit_by.is_empty() && matches!(o.rows, sql::OffsetRows::None) => {
                    offset = Some(self.unsigned_integer(&o.value, "OFFSET")?);
                }
                _ => {
                    return Err(AdqlError::syntax(
                        pos,
                        "LIMIT is not ADQL: write SELECT TOP n (and OFFSET n after ORDER BY)",
                    ))
                }
            }
        }
        self.depth -= 1;
        Ok(Query {
            with,
            body,
            order_by,
            offset,
        })
    }

    fn unsigned_integer(&mut self, e: &sql::Expr, clause: &str) -> Result<u64, AdqlError> {
        if let sql::Expr::Value(v) = e {
            if let sql::Value::Number(text, false) = &v.value {
                if let Ok(n) = text.parse::<u64>() {
                    return Ok(n);
                }
            }
        }
        Err(AdqlError::syntax(
            span_pos(e),
            format!("{clause} needs a non-negative whole number, found `{e}`"),
        ))
    }

    fn set_expr(&mut self, s: &sql::SetExpr) -> Result<SetExpr, AdqlError> {
        match s {
            sql::SetExpr::Select(select) => Ok(SetExpr::Select(Box::new(self.select(select)?))),
            sql::SetExpr::Query(q) => Ok(SetExpr::Query(Box::new(self.query(q, false)?))),
            sql::SetExpr::SetOperation {
                left,
                op,
                set_quantifier,
                right,
            } => {
                let pos = span_pos(s);
                let op = match op {
                    sql::SetOperator::Union => SetOp::Union,
                    sql::SetOperator::Intersect => SetOp::Intersect,
                    sql::SetOperator::Except => SetOp::Except,
                    sql::SetOperator::Minus => return Err(not_adql(pos, "MINUS (write EXCEPT)")),
                };
                let all = match set_quantifier {
                    sql::SetQuantifier::None => false,
                    sql::SetQuantifier::All => true,
                    other => return Err(not_adql(pos, &format!("{op:?} {other}"))),
                };
                Ok(SetExpr::Operation {
                    op,
                    all,
                    left: Box::new(self.set_expr(left)?),
                    right: Box::new(self.set_expr(right)?),
                })
            }
            other => Err(not_adql(
                span_pos(other),
                &node_name(format!("{other:?}")).to_uppercase(),
            )),
        }
    }

    fn select(&mut self, s: &sql::Select) -> Result<Select, AdqlError> {
        let pos = Pos::from_location(s.select_token.0.span.start);
        let unsupported = |what: &str| Err(not_adql(pos, what));
        if !s.optimizer_hints.is_empty() || s.select_modifiers.is_some() {
            return unsupported("an optimizer hint");
        }
        if s.exclude.is_some() {
            return unsupported("EXCLUDE");
        }
        if s.into.is_some() {
            return unsupported("SELECT INTO");
        }
        if !s.lateral_views.is_empty() {
            return unsupported("LATERAL VIEW");
        }
        if s.prewhere.is_some() {
            return unsupported("PREWHERE");
        }
        if !s.connect_by.is_empty() {
            return unsupported("CONNECT BY");
        }
        if !s.cluster_by.is_empty() || !s.distribute_by.is_empty() || !s.sort_by.is_empty() {
            return unsupported("CLUSTER/DISTRIBUTE/SORT BY");
        }
        if !s.named_window.is_empty() || s.qualify.is_some() {
            return unsupported("WINDOW/QUALIFY");
        }
        if s.value_table_mode.is_some() {
            return unsupported("SELECT AS VALUE/STRUCT");
        }
        if !matches!(s.flavor, sql::SelectFlavor::Standard) {
            return unsupported("FROM-first SELECT");
        }
        if s.top_before_distinct {
            return unsupported("TOP before DISTINCT (write SELECT DISTINCT TOP n)");
        }
        let distinct = match &s.distinct {
            None | Some(sql::Distinct::All) => false,
            Some(sql::Distinct::Distinct) => true,
            Some(_) => return unsupported("DISTINCT ON"),
        };
        let top = match &s.top {
            None => None,
            Some(t) => {
                if t.with_ties || t.percent {
                    return unsupported("TOP … PERCENT/WITH TIES");
                }
                match &t.quantity {
                    Some(sql::TopQuantity::Constant(n)) => Some(*n),
                    _ => {
                        return Err(AdqlError::syntax(
                            pos,
                            "TOP needs a whole number written directly: TOP 10",
                        ))
                    }
                }
            }
        };
        let mut items = Vec::new();
        for item in &s.projection {
            items.push(self.select_item(item)?);
        }
        if s.from.is_empty() {
            return Err(AdqlError::syntax(
                pos,
                "a SELECT needs a FROM clause in ADQL",
            ));
        }
        let mut from = Vec::new();
        for twj in &s.from {
            from.push(self.table_with_joins(twj)?);
        }
        let selection = s
            .selection
            .as_ref()
            .map(|e| self.condition(e))
            .transpose()?;
        let group_by = match &s.group_by {
            sql::GroupByExpr::Expressions(exprs, modifiers) if modifiers.is_empty() => exprs
                .iter()
                .map(|e| self.value(e))
                .collect::<Result<Vec<_>, _>>()?,
            _ => return unsupported("this GROUP BY form"),
        };
        let having = s.having.as_ref().map(|e| self.condition(e)).transpose()?;
        Ok(Select {
            distinct,
            top,
            items,
            from,
            selection,
            group_by,
            having,
            pos,
        })
    }

    fn select_item(&mut self, item: &sql::SelectItem) -> Result<SelectItem, AdqlError> {
        let check_options = |o: &sql::WildcardAdditionalOptions, pos: Pos| {
            if o.opt_ilike.is_some()
                || o.opt_exclude.is_some()
                || o.opt_except.is_some()
                || o.opt_replace.is_some()
                || o.opt_rename.is_some()
                || o.opt_alias.is_some()
            {
                Err(not_adql(pos, "a wildcard option"))
            } else {
                Ok(())
            }
        };
        match item {
            sql::SelectItem::UnnamedExpr(e) => Ok(SelectItem::Expr {
                expr: self.value(e)?,
                alias: None,
            }),
            sql::SelectItem::ExprWithAlias { expr, alias } => Ok(SelectItem::Expr {
                expr: self.value(expr)?,
                alias: Some(self.ident(alias)?),
            }),
            sql::SelectItem::Wildcard(o) => {
                let pos = Pos::from_location(o.wildcard_token.0.span.start);
                check_options(o, pos)?;
                Ok(SelectItem::Wildcard(pos))
            }
            sql::SelectItem::QualifiedWildcard(kind, o) => {
                let pos = span_pos(item);
                check_options(o, pos)?;
                match kind {
                    sql::SelectItemQualifiedWildcardKind::ObjectName(name) => {
                        let parts = self.object_name(name)?;
                        if parts.len() > 3 {
                            return Err(AdqlError::syntax(
                                pos,
                                "a table name has at most three parts: catalog.schema.table",
                            ));
                        }
                        Ok(SelectItem::QualifiedWildcard(parts))
                    }
                    sql::SelectItemQualifiedWildcardKind::Expr(_) => {
                        Err(not_adql(pos, "`expression.*`"))
                    }
                }
            }
            sql::SelectItem::ExprWithAliases { .. } => {
                Err(not_adql(span_pos(item), "a multi-column alias"))
            }
        }
    }

    fn ident(&mut self, i: &sql::Ident) -> Result<Ident, AdqlError> {
        let pos = Pos::from_location(i.span.start);
        match i.quote_style {
            None => {
                if is_reserved(&i.value) {
                    return Err(AdqlError::syntax(
                        pos,
                        format!(
                            "`{}` is a reserved word in ADQL; to use it as a name, write it in double quotes: \"{}\"",
                            i.value, i.value
                        ),
                    ));
                }
                Ok(Ident {
                    value: i.value.clone(),
                    delimited: false,
                    pos,
                })
            }
            Some('"') => Ok(Ident {
                value: i.value.clone(),
                delimited: true,
                pos,
            }),
            Some(q) => Err(AdqlError::syntax(
                pos,
                format!("`{q}` quoting is not ADQL: delimit names with double quotes"),
            )),
        }
    }

    fn object_name(&mut self, name: &sql::ObjectName) -> Result<Vec<Ident>, AdqlError> {
        name.0
            .iter()
            .map(|part| match part {
                sql::ObjectNamePart::Identifier(i) => self.ident(i),
                sql::ObjectNamePart::Function(f) => Err(not_adql(
                    Pos::from_location(f.name.span.start),
                    "a function in a name",
                )),
            })
            .collect()
    }

    fn table_alias(&mut self, alias: &Option<sql::TableAlias>) -> Result<Option<Ident>, AdqlError> {
        match alias {
            None => Ok(None),
            Some(a) => {
                if !a.columns.is_empty() || a.at.is_some() {
                    return Err(not_adql(
                        Pos::from_location(a.name.span.start),
                        "a column list after an alias",
                    ));
                }
                Ok(Some(self.ident(&a.name)?))
            }
        }
    }

    fn table_with_joins(&mut self, twj: &sql::TableWithJoins) -> Result<FromItem, AdqlError> {
        let mut item = self.table_factor(&twj.relation)?;
        for join in &twj.joins {
            let pos = span_pos(&join.relation);
            if join.global {
                return Err(not_adql(pos, "GLOBAL JOIN"));
            }
            let (kind, constraint) = match &join.join_operator {
                sql::JoinOperator::Join(c) | sql::JoinOperator::Inner(c) => (JoinKind::Inner, c),
                sql::JoinOperator::Left(c) | sql::JoinOperator::LeftOuter(c) => (JoinKind::Left, c),
                sql::JoinOperator::Right(c) | sql::JoinOperator::RightOuter(c) => {
                    (JoinKind::Right, c)
                }
                sql::JoinOperator::FullOuter(c) => (JoinKind::Full, c),
                sql::JoinOperator::CrossJoin(_) => {
                    return Err(not_adql(pos, "CROSS JOIN (list the tables with commas)"))
                }
                other => {
                    return Err(not_adql(
                        pos,
                        &format!("{} join", node_name(format!("{other:?}"))),
                    ))
                }
            };
            let right = self.table_factor(&join.relation)?;
            let (natural, condition) = match constraint {
                sql::JoinConstraint::On(e) => (false, JoinCondition::On(self.condition(e)?)),
                sql::JoinConstraint::Using(names) => {
                    let mut cols = Vec::new();
                    for n in names {
                        let parts = self.object_name(n)?;
                        match <[Ident; 1]>::try_from(parts) {
                            Ok([one]) => cols.push(one),
                            Err(_) => {
                                return Err(AdqlError::syntax(
                                    span_pos(n),
                                    "USING takes plain column names",
                                ))
                            }
                        }
                    }
                    (false, JoinCondition::Using(cols))
                }
                sql::JoinConstraint::Natural => (true, JoinCondition::None),
                sql::JoinConstraint::None => (false, JoinCondition::None),
            };
            item = FromItem::Join {
                left: Box::new(item),
                right: Box::new(right),
                kind,
                natural,
                condition,
            };
        }
        Ok(item)
    }

    fn table_factor(&mut self, t: &sql::TableFactor) -> Result<FromItem, AdqlError> {
        let pos = span_pos(t);
        match t {
            sql::TableFactor::Table {
                name,
                alias,
                args,
                with_hints,
                version,
                with_ordinality,
                partitions,
                json_path,
                sample,
                index_hints,
            } => {
                if args.is_some() {
                    return Err(not_adql(pos, "a table function"));
                }
                if !with_hints.is_empty()
                    || version.is_some()
                    || *with_ordinality
                    || !partitions.is_empty()
                    || json_path.is_some()
                    || sample.is_some()
                    || !index_hints.is_empty()
                {
                    return Err(not_adql(pos, "this table option"));
                }
                let parts = self.object_name(name)?;
                if parts.len() > 3 {
                    return Err(AdqlError::syntax(
                        pos,
                        "a table name has at most three parts: catalog.schema.table",
                    ));
                }
                Ok(FromItem::Table {
                    name: parts,
                    alias: self.table_alias(alias)?,
                })
            }
            sql::TableFactor::Derived {
                lateral,
                subquery,
                alias,
                sample,
            } => {
                if *lateral || sample.is_some() {
                    return Err(not_adql(pos, "LATERAL/TABLESAMPLE"));
                }
                let query = Box::new(self.query(subquery, false)?);
                match self.table_alias(alias)? {
                    Some(alias) => Ok(FromItem::Derived { query, alias }),
                    None => Err(AdqlError::syntax(
                        pos,
                        "a subquery in FROM needs a name: (SELECT …) AS q",
                    )),
                }
            }
            sql::TableFactor::NestedJoin {
                table_with_joins,
                alias,
            } => {
                if alias.is_some() {
                    return Err(not_adql(pos, "an alias on a parenthesised join"));
                }
                Ok(FromItem::Nested(Box::new(
                    self.table_with_joins(table_with_joins)?,
                )))
            }
            other => Err(not_adql(
                pos,
                &format!("{} in FROM", node_name(format!("{other:?}"))),
            )),
        }
    }

    /// A value expression (not a condition).
    fn value(&mut self, e: &sql::Expr) -> Result<Expr, AdqlError> {
        let (expr, class) = self.expr(e)?;
        if class == Class::Condition {
            return Err(AdqlError::syntax(
                span_pos(e),
                format!("`{e}` is a condition; a value is needed here"),
            ));
        }
        Ok(expr)
    }

    /// A value that may take part in arithmetic or concatenation (not geometry).
    fn scalar(&mut self, e: &sql::Expr, operator: &str) -> Result<Expr, AdqlError> {
        let (expr, class) = self.expr(e)?;
        match class {
            Class::Value => Ok(expr),
            Class::Condition => Err(AdqlError::syntax(
                span_pos(e),
                format!("`{e}` is a condition; a value is needed here"),
            )),
            Class::Geometry => Err(AdqlError::new(
                crate::error::ErrorKind::Type,
                span_pos(e),
                format!("a geometry cannot be an operand of {operator}"),
            )),
        }
    }

    /// A search condition.
    fn condition(&mut self, e: &sql::Expr) -> Result<Expr, AdqlError> {
        let (expr, class) = self.expr(e)?;
        if class != Class::Condition {
            let hint = match expr.unnested() {
                Expr::Function { name, .. }
                    if ["CONTAINS", "INTERSECTS"]
                        .iter()
                        .any(|f| name.value.eq_ignore_ascii_case(f)) =>
                {
                    format!(" (write 1 = {}(…))", name.value.to_ascii_uppercase())
                }
                _ => String::new(),
            };
            return Err(AdqlError::syntax(
                span_pos(e),
                format!("a condition is needed here, but `{e}` is a value{hint}"),
            ));
        }
        Ok(expr)
    }

    fn expr(&mut self, e: &sql::Expr) -> Result<(Expr, Class), AdqlError> {
        let pos = span_pos(e);
        self.enter(pos)?;
        let result = self.expr_inner(e, pos);
        self.depth -= 1;
        result
    }

    fn expr_inner(&mut self, e: &sql::Expr, pos: Pos) -> Result<(Expr, Class), AdqlError> {
        use sql::Expr as E;
        let value = |x: Expr| Ok((x, Class::Value));
        let condition = |x: Expr| Ok((x, Class::Condition));
        match e {
            E::Identifier(i) => value(Expr::Column(vec![self.ident(i)?])),
            E::CompoundIdentifier(parts) => {
                if parts.len() > 4 {
                    return Err(AdqlError::syntax(
                        pos,
                        "a column name has at most four parts: catalog.schema.table.column",
                    ));
                }
                let parts = parts
                    .iter()
                    .map(|i| self.ident(i))
                    .collect::<Result<Vec<_>, _>>()?;
                value(Expr::Column(parts))
            }
            E::Value(v) => {
                let vpos = Pos::from_location(v.span.start);
                match &v.value {
                    sql::Value::Number(text, false) => value(Expr::Number {
                        text: text.clone(),
                        pos: vpos,
                    }),
                    sql::Value::SingleQuotedString(s) => value(Expr::String {
                        value: s.clone(),
                        pos: vpos,
                    }),
                    sql::Value::Null => value(Expr::Null(vpos)),
                    sql::Value::Boolean(_) => Err(AdqlError::syntax(
                        vpos,
                        "TRUE and FALSE are not ADQL values: compare with 1 or 0",
                    )),
                    other => Err(not_adql(vpos, &format!("the literal `{other}`"))),
                }
            }
            E::BinaryOp { left, op, right } => {
                use sql::BinaryOperator as B;
                let (op, kind) = match op {
                    B::Plus => (BinaryOp::Plus, 0),
                    B::Minus => (BinaryOp::Minus, 0),
                    B::Multiply => (BinaryOp::Multiply, 0),
                    B::Divide => (BinaryOp::Divide, 0),
                    B::StringConcat => (BinaryOp::Concat, 0),
                    B::Eq => (BinaryOp::Eq, 1),
                    B::NotEq => (BinaryOp::NotEq, 1),
                    B::Lt => (BinaryOp::Lt, 1),
                    B::LtEq => (BinaryOp::LtEq, 1),
                    B::Gt => (BinaryOp::Gt, 1),
                    B::GtEq => (BinaryOp::GtEq, 1),
                    B::And => (BinaryOp::And, 2),
                    B::Or => (BinaryOp::Or, 2),
                    B::Modulo => return Err(not_adql(pos, "`%` (write MOD(x, y))")),
                    B::BitwiseAnd | B::BitwiseOr | B::BitwiseXor => {
                        return Err(AdqlError::syntax(
                            pos,
                            "bitwise operators were removed from ADQL 2.1",
                        ))
                    }
                    other => return Err(not_adql(pos, &format!("the operator `{other}`"))),
                };
                match kind {
                    0 => {
                        let sym = op.symbol();
                        let l = self.scalar(left, sym)?;
                        let r = self.scalar(right, sym)?;
                        value(Expr::Binary {
                            op,
                            left: Box::new(l),
                            right: Box::new(r),
                        })
                    }
                    1 => {
                        let l = self.value(left)?;
                        let r = self.value(right)?;
                        condition(Expr::Binary {
                            op,
                            left: Box::new(l),
                            right: Box::new(r),
                        })
                    }
                    _ => {
                        let l = self.condition(left)?;
                        let r = self.condition(right)?;
                        condition(Expr::Binary {
                            op,
                            left: Box::new(l),
                            right: Box::new(r),
                        })
                    }
                }
            }
            E::UnaryOp { op, expr } => match op {
                sql::UnaryOperator::Not => condition(Expr::Unary {
                    op: UnaryOp::Not,
                    expr: Box::new(self.condition(expr)?),
                    pos,
                }),
                sql::UnaryOperator::Minus | sql::UnaryOperator::Plus => {
                    let op = if matches!(op, sql::UnaryOperator::Minus) {
                        UnaryOp::Minus
                    } else {
                        UnaryOp::Plus
                    };
                    value(Expr::Unary {
                        op,
                        expr: Box::new(self.scalar(expr, "a sign")?),
                        pos,
                    })
                }
                sql::UnaryOperator::BitwiseNot => Err(AdqlError::syntax(
                    pos,
                    "bitwise operators were removed from ADQL 2.1",
                )),
                other => Err(not_adql(pos, &format!("the operator `{other}`"))),
            },
            E::Nested(inner) => {
                let (x, class) = self.expr(inner)?;
                Ok((Expr::Nested(Box::new(x)), class))
            }
            E::Function(f) => self.function(f, pos),
            // sqlparser reads CEIL and FLOOR as their own nodes; ADQL has CEILING (an ordinary
            // call) and FLOOR.
            E::Ceil { .. } => Err(not_adql(pos, "CEIL (write CEILING)")),
            E::Floor { expr, field } => {
                if !matches!(
                    field,
                    sql::CeilFloorKind::DateTimeField(sql::DateTimeField::NoDateTime)
                ) {
                    return Err(not_adql(pos, "FLOOR with a second argument"));
                }
                value(Expr::Function {
                    name: Ident {
                        value: "FLOOR".to_string(),
                        delimited: false,
                        pos,
                    },
                    args: vec![self.scalar(expr, "FLOOR")?],
                    distinct: false,
                    star: false,
                })
            }
            E::Case {
                operand,
                conditions,
                else_result,
                ..
            } => {
                let operand = match operand {
                    Some(o) => Some(Box::new(self.value(o)?)),
                    None => None,
                };
                let mut whens = Vec::new();
                for w in conditions {
                    let test = if operand.is_some() {
                        self.value(&w.condition)?
                    } else {
                        self.condition(&w.condition)?
                    };
                    whens.push((test, self.value(&w.result)?));
                }
                let otherwise = match else_result {
                    Some(x) => Some(Box::new(self.value(x)?)),
                    None => None,
                };
                value(Expr::Case {
                    operand,
                    whens,
                    otherwise,
                    pos,
                })
            }
            E::Cast {
                kind,
                expr,
                data_type,
                format,
            } => {
                if !matches!(kind, sql::CastKind::Cast) || format.is_some() {
                    return Err(not_adql(pos, "this cast form (write CAST(x AS type))"));
                }
                let target = cast_target(data_type).ok_or_else(|| {
                    AdqlError::syntax(
                        pos,
                        format!(
                            "CAST to {data_type} is not ADQL: the targets are SMALLINT, INTEGER, BIGINT, REAL, DOUBLE PRECISION, CHAR(n), VARCHAR(n), TIMESTAMP, POINT, CIRCLE, POLYGON"
                        ),
                    )
                })?;
                let inner = self.value(expr)?;
                let class = if matches!(
                    target,
                    CastTarget::Point | CastTarget::Circle | CastTarget::Polygon
                ) {
                    Class::Geometry
                } else {
                    Class::Value
                };
                Ok((
                    Expr::Cast {
                        expr: Box::new(inner),
                        target,
                        pos,
                    },
                    class,
                ))
            }
            E::InList {
                expr,
                list,
                negated,
            } => {
                let x = self.value(expr)?;
                let list = list
                    .iter()
                    .map(|v| self.value(v))
                    .collect::<Result<Vec<_>, _>>()?;
                condition(Expr::InList {
                    expr: Box::new(x),
                    list,
                    negated: *negated,
                })
            }
            E::InSubquery {
                expr,
                subquery,
                negated,
            } => {
                let x = self.value(expr)?;
                condition(Expr::InSubquery {
                    expr: Box::new(x),
                    query: Box::new(self.query(subquery, false)?),
                    negated: *negated,
                })
            }
            E::Between {
                expr,
                negated,
                low,
                high,
            } => condition(Expr::Between {
                expr: Box::new(self.value(expr)?),
                low: Box::new(self.value(low)?),
                high: Box::new(self.value(high)?),
                negated: *negated,
            }),
            E::Like {
                negated,
                any,
                expr,
                pattern,
                escape_char,
            }
            | E::ILike {
                negated,
                any,
                expr,
                pattern,
                escape_char,
            } => {
                if *any || escape_char.is_some() {
                    return Err(not_adql(pos, "LIKE ANY/ESCAPE"));
                }
                condition(Expr::Like {
                    expr: Box::new(self.scalar(expr, "LIKE")?),
                    pattern: Box::new(self.scalar(pattern, "LIKE")?),
                    negated: *negated,
                    case_insensitive: matches!(e, E::ILike { .. }),
                })
            }
            E::IsNull(x) | E::IsNotNull(x) => condition(Expr::IsNull {
                expr: Box::new(self.value(x)?),
                negated: matches!(e, E::IsNotNull(_)),
            }),
            E::Exists { subquery, negated } => condition(Expr::Exists {
                query: Box::new(self.query(subquery, false)?),
                negated: *negated,
                pos,
            }),
            E::Subquery(q) => value(Expr::Subquery(Box::new(self.query(q, false)?), pos)),
            other => Err(not_adql(
                pos,
                &format!("`{other}` ({})", node_name(format!("{other:?}"))),
            )),
        }
    }

    fn function(&mut self, f: &sql::Function, pos: Pos) -> Result<(Expr, Class), AdqlError> {
        let name_ident = match f.name.0.as_slice() {
            [sql::ObjectNamePart::Identifier(i)] => i,
            _ => {
                return Err(AdqlError::syntax(
                    pos,
                    format!("`{}`: function names are not qualified in ADQL", f.name),
                ))
            }
        };
        let name_pos = Pos::from_location(name_ident.span.start);
        let name = Ident {
            value: name_ident.value.clone(),
            delimited: name_ident.quote_style.is_some(),
            pos: name_pos,
        };
        if name.delimited {
            return Err(AdqlError::syntax(
                name_pos,
                "a function name cannot be a delimited identifier",
            ));
        }
        if f.uses_odbc_syntax
            || !matches!(f.parameters, sql::FunctionArguments::None)
            || !f.within_group.is_empty()
            || f.filter.is_some()
            || f.null_treatment.is_some()
        {
            return Err(not_adql(pos, "this function-call form"));
        }
        if f.over.is_some() {
            return Err(not_adql(pos, "a window function (OVER)"));
        }
        let list = match &f.args {
            sql::FunctionArguments::List(list) => list,
            sql::FunctionArguments::None => {
                return Err(not_adql(
                    name_pos,
                    &format!("`{}` without parentheses", name.value),
                ))
            }
            sql::FunctionArguments::Subquery(_) => {
                return Err(not_adql(pos, "a subquery as a bare function argument"))
            }
        };
        if !list.clauses.is_empty() {
            return Err(not_adql(pos, "a clause inside function arguments"));
        }
        let upper = name.value.to_ascii_uppercase();
        let aggregate = functions::is_aggregate(&upper);
        let distinct = match list.duplicate_treatment {
            None | Some(sql::DuplicateTreatment::All) => false,
            Some(sql::DuplicateTreatment::Distinct) => true,
        };
        if list.duplicate_treatment.is_some() && !aggregate {
            return Err(AdqlError::syntax(
                pos,
                format!("DISTINCT/ALL inside {upper}(…) is allowed only in aggregate functions"),
            ));
        }
        let mut args = Vec::new();
        let mut classes = Vec::new();
        let mut star = false;
        for a in &list.args {
            match a {
                sql::FunctionArg::Unnamed(sql::FunctionArgExpr::Expr(x)) => {
                    let (arg, class) = self.expr(x)?;
                    if class == Class::Condition {
                        return Err(AdqlError::syntax(
                            span_pos(x),
                            format!("`{x}` is a condition; a function argument must be a value"),
                        ));
                    }
                    args.push(arg);
                    classes.push(class);
                }
                sql::FunctionArg::Unnamed(sql::FunctionArgExpr::Wildcard)
                    if upper == "COUNT" && list.args.len() == 1 && !distinct =>
                {
                    star = true
                }
                _ => {
                    return Err(AdqlError::syntax(
                        pos,
                        format!("this argument form is not ADQL in {upper}(…)"),
                    ))
                }
            }
        }
        let class = functions::check_syntax(&name, &args, star, |i| {
            classes.get(i) == Some(&Class::Geometry)
        })?;
        let class = match class {
            GeometryShape::Geometry => Class::Geometry,
            GeometryShape::Value => Class::Value,
        };
        Ok((
            Expr::Function {
                name,
                args,
                distinct,
                star,
            },
            class,
        ))
    }
}

fn char_length(len: &Option<sql::CharacterLength>) -> Option<Option<u64>> {
    match len {
        None => Some(None),
        Some(sql::CharacterLength::IntegerLength { length, unit: None }) => Some(Some(*length)),
        Some(_) => None,
    }
}

fn cast_target(t: &sql::DataType) -> Option<CastTarget> {
    use sql::DataType as D;
    Some(match t {
        D::SmallInt(None) => CastTarget::SmallInt,
        D::Int(None) | D::Integer(None) => CastTarget::Integer,
        D::BigInt(None) => CastTarget::BigInt,
        D::Real => CastTarget::Real,
        D::DoublePrecision => CastTarget::Double,
        D::Char(l) | D::Character(l) => CastTarget::Char(char_length(l)?),
        D::Varchar(l) | D::CharacterVarying(l) => CastTarget::VarChar(char_length(l)?),
        D::Timestamp(None, sql::TimezoneInfo::None) => CastTarget::Timestamp,
        D::Custom(name, modifiers) if modifiers.is_empty() && name.0.len() == 1 => {
            match name.to_string().to_ascii_uppercase().as_str() {
                "POINT" => CastTarget::Point,
                "CIRCLE" => CastTarget::Circle,
                "POLYGON" => CastTarget::Polygon,
                _ => return None,
            }
        }
        _ => return None,
    })
}
