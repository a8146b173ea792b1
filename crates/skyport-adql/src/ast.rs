//! skyport's own ADQL syntax tree. `convert` builds it from sqlparser's much larger SQL tree and
//! refuses whatever has no place here, so everything after parsing (name resolution, typing,
//! translation) matches on ADQL only. `Display` prints canonical ADQL that parses back to the
//! same tree.

use std::fmt::{self, Write};

use crate::error::Pos;

/// A whole query: `[WITH …] set-expression [ORDER BY …] [OFFSET n]`.
#[derive(Debug, Clone)]
pub struct Query {
    /// Common table expressions (top level only).
    pub with: Vec<Cte>,
    /// The SELECT or set operation.
    pub body: SetExpr,
    /// ORDER BY items.
    pub order_by: Vec<OrderItem>,
    /// OFFSET rows.
    pub offset: Option<u64>,
}

/// `name [(columns)] AS (query)`.
#[derive(Debug, Clone)]
pub struct Cte {
    /// The name the CTE is referred to by.
    pub name: Ident,
    /// Optional column names.
    pub columns: Vec<Ident>,
    /// Its query.
    pub query: Box<Query>,
}

/// A SELECT, a set operation, or a parenthesised query.
#[derive(Debug, Clone)]
pub enum SetExpr {
    /// One SELECT.
    Select(Box<Select>),
    /// `left UNION|INTERSECT|EXCEPT [ALL] right`.
    Operation {
        /// Which operation.
        op: SetOp,
        /// `ALL` keeps duplicates.
        all: bool,
        /// Left operand (gives the result's column names and metadata).
        left: Box<SetExpr>,
        /// Right operand.
        right: Box<SetExpr>,
    },
    /// `( query )` as an operand.
    Query(Box<Query>),
}

/// A set operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetOp {
    /// UNION.
    Union,
    /// INTERSECT.
    Intersect,
    /// EXCEPT.
    Except,
}

impl SetOp {
    /// The operator's keyword, as ADQL and SQL write it.
    pub fn keyword(&self) -> &'static str {
        match self {
            SetOp::Union => "UNION",
            SetOp::Intersect => "INTERSECT",
            SetOp::Except => "EXCEPT",
        }
    }
}

/// `SELECT [DISTINCT] [TOP n] items FROM … [WHERE] [GROUP BY] [HAVING]`.
#[derive(Debug, Clone)]
pub struct Select {
    /// DISTINCT.
    pub distinct: bool,
    /// TOP n.
    pub top: Option<u64>,
    /// The select list.
    pub items: Vec<SelectItem>,
    /// FROM items (comma-separated: a cross product).
    pub from: Vec<FromItem>,
    /// WHERE condition.
    pub selection: Option<Expr>,
    /// GROUP BY terms.
    pub group_by: Vec<Expr>,
    /// HAVING condition.
    pub having: Option<Expr>,
    /// Where `SELECT` is.
    pub pos: Pos,
}

/// One entry of the select list.
#[derive(Debug, Clone)]
pub enum SelectItem {
    /// `*`.
    Wildcard(Pos),
    /// `t.*` or `s.t.*`.
    QualifiedWildcard(Vec<Ident>),
    /// `expr [AS alias]`.
    Expr {
        /// The value.
        expr: Expr,
        /// Its alias.
        alias: Option<Ident>,
    },
}

/// An identifier as written.
#[derive(Debug, Clone)]
pub struct Ident {
    /// The name without quotes.
    pub value: String,
    /// Written in double quotes: compared exactly, not case-insensitively.
    pub delimited: bool,
    /// Where it is.
    pub pos: Pos,
}

impl Ident {
    /// True when this identifier, as written, names `declared` (ADQL's case rules).
    pub fn matches(&self, declared: &str) -> bool {
        if self.delimited {
            self.value == declared
        } else {
            self.value.eq_ignore_ascii_case(declared)
        }
    }
}

/// A table reference in FROM.
#[derive(Debug, Clone)]
pub enum FromItem {
    /// `[[catalog.]schema.]table [AS alias]`.
    Table {
        /// The name parts (1 to 3).
        name: Vec<Ident>,
        /// Correlation name.
        alias: Option<Ident>,
    },
    /// `(query) [AS] alias`.
    Derived {
        /// The subquery.
        query: Box<Query>,
        /// Its mandatory correlation name.
        alias: Ident,
    },
    /// A join of two table references.
    Join {
        /// Left side.
        left: Box<FromItem>,
        /// Right side.
        right: Box<FromItem>,
        /// INNER, LEFT, RIGHT or FULL.
        kind: JoinKind,
        /// NATURAL join.
        natural: bool,
        /// ON or USING (or none, which DaCHS and ADQL readers treat as a cross join).
        condition: JoinCondition,
    },
    /// `( joined table )`.
    Nested(Box<FromItem>),
}

/// The kind of join.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinKind {
    /// INNER (the default).
    Inner,
    /// LEFT OUTER.
    Left,
    /// RIGHT OUTER.
    Right,
    /// FULL OUTER.
    Full,
}

/// How a join matches rows.
#[derive(Debug, Clone)]
pub enum JoinCondition {
    /// ON condition.
    On(Expr),
    /// USING (columns).
    Using(Vec<Ident>),
    /// No condition: every pair (or NATURAL).
    None,
}

/// `expr [ASC|DESC]`.
#[derive(Debug, Clone)]
pub struct OrderItem {
    /// What to sort by (an expression, a select-list alias, or a 1-based column number).
    pub expr: Expr,
    /// DESC.
    pub descending: bool,
}

/// A value expression or condition.
#[derive(Debug, Clone)]
pub enum Expr {
    /// `[[[catalog.]schema.]table.]column`.
    Column(Vec<Ident>),
    /// An unsigned numeric literal, as written.
    Number {
        /// The literal text (`12`, `1.5e-3`, `.5`).
        text: String,
        /// Where it is.
        pos: Pos,
    },
    /// A string literal.
    String {
        /// The value (quotes removed, `''` undoubled).
        value: String,
        /// Where it is.
        pos: Pos,
    },
    /// NULL.
    Null(Pos),
    /// `-x`, `+x`, `NOT c`.
    Unary {
        /// Operator.
        op: UnaryOp,
        /// Operand.
        expr: Box<Expr>,
        /// Where the operator is.
        pos: Pos,
    },
    /// Arithmetic, concatenation, comparison, AND/OR.
    Binary {
        /// Operator.
        op: BinaryOp,
        /// Left operand.
        left: Box<Expr>,
        /// Right operand.
        right: Box<Expr>,
    },
    /// A function call, including aggregates and geometry. `COUNT(*)` has `star`.
    Function {
        /// The name as written.
        name: Ident,
        /// Arguments.
        args: Vec<Expr>,
        /// `DISTINCT` inside an aggregate.
        distinct: bool,
        /// `COUNT(*)`.
        star: bool,
    },
    /// `CASE [operand] WHEN … THEN … [ELSE …] END`.
    Case {
        /// Simple-CASE operand.
        operand: Option<Box<Expr>>,
        /// (condition or value, result) pairs.
        whens: Vec<(Expr, Expr)>,
        /// ELSE result.
        otherwise: Option<Box<Expr>>,
        /// Where CASE is.
        pos: Pos,
    },
    /// `CAST(expr AS type)`.
    Cast {
        /// The value.
        expr: Box<Expr>,
        /// The target type.
        target: CastTarget,
        /// Where CAST is.
        pos: Pos,
    },
    /// `expr [NOT] IN (v, …)`.
    InList {
        /// Tested value.
        expr: Box<Expr>,
        /// Candidates.
        list: Vec<Expr>,
        /// NOT IN.
        negated: bool,
    },
    /// `expr [NOT] IN (subquery)`.
    InSubquery {
        /// Tested value.
        expr: Box<Expr>,
        /// Candidates.
        query: Box<Query>,
        /// NOT IN.
        negated: bool,
    },
    /// `expr [NOT] BETWEEN low AND high`.
    Between {
        /// Tested value.
        expr: Box<Expr>,
        /// Lower bound (inclusive).
        low: Box<Expr>,
        /// Upper bound (inclusive).
        high: Box<Expr>,
        /// NOT BETWEEN.
        negated: bool,
    },
    /// `expr [NOT] LIKE|ILIKE pattern`.
    Like {
        /// Tested string.
        expr: Box<Expr>,
        /// Pattern with `%` and `_`.
        pattern: Box<Expr>,
        /// NOT LIKE.
        negated: bool,
        /// ILIKE.
        case_insensitive: bool,
    },
    /// `expr IS [NOT] NULL`.
    IsNull {
        /// Tested value.
        expr: Box<Expr>,
        /// IS NOT NULL.
        negated: bool,
    },
    /// `[NOT] EXISTS (subquery)`.
    Exists {
        /// The subquery.
        query: Box<Query>,
        /// NOT EXISTS.
        negated: bool,
        /// Where EXISTS is.
        pos: Pos,
    },
    /// `(subquery)` as a scalar value.
    Subquery(Box<Query>, Pos),
    /// `( expr )`.
    Nested(Box<Expr>),
}

/// A unary operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnaryOp {
    /// `-`.
    Minus,
    /// `+`.
    Plus,
    /// `NOT`.
    Not,
}

/// A binary operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    /// `+`.
    Plus,
    /// `-`.
    Minus,
    /// `*`.
    Multiply,
    /// `/`.
    Divide,
    /// `||`.
    Concat,
    /// `=`.
    Eq,
    /// `<>` or `!=`.
    NotEq,
    /// `<`.
    Lt,
    /// `<=`.
    LtEq,
    /// `>`.
    Gt,
    /// `>=`.
    GtEq,
    /// AND.
    And,
    /// OR.
    Or,
}

impl BinaryOp {
    /// The operator as written in ADQL (and in both SQL targets).
    pub fn symbol(self) -> &'static str {
        match self {
            BinaryOp::Plus => "+",
            BinaryOp::Minus => "-",
            BinaryOp::Multiply => "*",
            BinaryOp::Divide => "/",
            BinaryOp::Concat => "||",
            BinaryOp::Eq => "=",
            BinaryOp::NotEq => "<>",
            BinaryOp::Lt => "<",
            BinaryOp::LtEq => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::GtEq => ">=",
            BinaryOp::And => "AND",
            BinaryOp::Or => "OR",
        }
    }

    /// Binding strength: higher binds tighter.
    pub fn precedence(self) -> u8 {
        match self {
            BinaryOp::Or => 1,
            BinaryOp::And => 2,
            BinaryOp::Eq
            | BinaryOp::NotEq
            | BinaryOp::Lt
            | BinaryOp::LtEq
            | BinaryOp::Gt
            | BinaryOp::GtEq => 4,
            BinaryOp::Concat => 5,
            BinaryOp::Plus | BinaryOp::Minus => 6,
            BinaryOp::Multiply | BinaryOp::Divide => 7,
        }
    }

    /// True for `= <> < <= > >=`.
    pub fn is_comparison(self) -> bool {
        self.precedence() == 4
    }
}

/// A CAST target type (ADQL 2.1 §4.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CastTarget {
    /// SMALLINT.
    SmallInt,
    /// INTEGER.
    Integer,
    /// BIGINT.
    BigInt,
    /// REAL.
    Real,
    /// DOUBLE PRECISION.
    Double,
    /// CHAR(n) (n = 1 when omitted).
    Char(Option<u64>),
    /// VARCHAR(n) or VARCHAR.
    VarChar(Option<u64>),
    /// TIMESTAMP (from a DALI timestamp string).
    Timestamp,
    /// POINT from a DALI string.
    Point,
    /// CIRCLE from a DALI string.
    Circle,
    /// POLYGON from a DALI string.
    Polygon,
}

impl fmt::Display for CastTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CastTarget::SmallInt => f.write_str("SMALLINT"),
            CastTarget::Integer => f.write_str("INTEGER"),
            CastTarget::BigInt => f.write_str("BIGINT"),
            CastTarget::Real => f.write_str("REAL"),
            CastTarget::Double => f.write_str("DOUBLE PRECISION"),
            CastTarget::Char(None) => f.write_str("CHAR"),
            CastTarget::Char(Some(n)) => write!(f, "CHAR({n})"),
            CastTarget::VarChar(None) => f.write_str("VARCHAR"),
            CastTarget::VarChar(Some(n)) => write!(f, "VARCHAR({n})"),
            CastTarget::Timestamp => f.write_str("TIMESTAMP"),
            CastTarget::Point => f.write_str("POINT"),
            CastTarget::Circle => f.write_str("CIRCLE"),
            CastTarget::Polygon => f.write_str("POLYGON"),
        }
    }
}

impl Expr {
    /// Where the expression starts (as well as we know).
    pub fn pos(&self) -> Pos {
        match self {
            Expr::Column(parts) => parts.first().map(|p| p.pos).unwrap_or_default(),
            Expr::Number { pos, .. }
            | Expr::String { pos, .. }
            | Expr::Null(pos)
            | Expr::Unary { pos, .. }
            | Expr::Case { pos, .. }
            | Expr::Cast { pos, .. }
            | Expr::Exists { pos, .. }
            | Expr::Subquery(_, pos) => *pos,
            Expr::Function { name, .. } => name.pos,
            Expr::Binary { left, .. } => left.pos(),
            Expr::InList { expr, .. }
            | Expr::InSubquery { expr, .. }
            | Expr::Between { expr, .. }
            | Expr::Like { expr, .. }
            | Expr::IsNull { expr, .. } => expr.pos(),
            Expr::Nested(inner) => inner.pos(),
        }
    }

    /// The expression with any `( … )` around it removed.
    pub fn unnested(&self) -> &Expr {
        let mut e = self;
        while let Expr::Nested(inner) = e {
            e = inner;
        }
        e
    }

    /// The value of a numeric literal expression (`12`, `-1.5`, `(3)`), if it is one.
    pub fn constant_number(&self) -> Option<f64> {
        match self.unnested() {
            Expr::Number { text, .. } => text.parse().ok(),
            Expr::Unary {
                op: UnaryOp::Minus,
                expr,
                ..
            } => expr.constant_number().map(|x| -x),
            Expr::Unary {
                op: UnaryOp::Plus,
                expr,
                ..
            } => expr.constant_number(),
            _ => None,
        }
    }
}

/// Writes an identifier in ADQL: delimited ones in double quotes with `"` doubled.
pub fn write_ident(out: &mut impl Write, ident: &Ident) -> fmt::Result {
    if ident.delimited {
        out.write_char('"')?;
        out.write_str(&ident.value.replace('"', "\"\""))?;
        out.write_char('"')
    } else {
        out.write_str(&ident.value)
    }
}

/// Writes a string literal with `'` doubled.
pub fn write_string_literal(out: &mut impl Write, value: &str) -> fmt::Result {
    out.write_char('\'')?;
    out.write_str(&value.replace('\'', "''"))?;
    out.write_char('\'')
}

fn write_dotted(f: &mut fmt::Formatter<'_>, parts: &[Ident]) -> fmt::Result {
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            f.write_char('.')?;
        }
        write_ident(f, p)?;
    }
    Ok(())
}

fn write_list<T: fmt::Display>(f: &mut fmt::Formatter<'_>, items: &[T]) -> fmt::Result {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{item}")?;
    }
    Ok(())
}

impl fmt::Display for Ident {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_ident(f, self)
    }
}

impl fmt::Display for Query {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.with.is_empty() {
            f.write_str("WITH ")?;
            for (i, cte) in self.with.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{}", cte.name)?;
                if !cte.columns.is_empty() {
                    f.write_str(" (")?;
                    write_list(f, &cte.columns)?;
                    f.write_char(')')?;
                }
                write!(f, " AS ({})", cte.query)?;
            }
            f.write_char(' ')?;
        }
        write!(f, "{}", self.body)?;
        if !self.order_by.is_empty() {
            f.write_str(" ORDER BY ")?;
            for (i, item) in self.order_by.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{}", item.expr)?;
                if item.descending {
                    f.write_str(" DESC")?;
                }
            }
        }
        if let Some(n) = self.offset {
            write!(f, " OFFSET {n}")?;
        }
        Ok(())
    }
}

impl fmt::Display for SetExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SetExpr::Select(s) => write!(f, "{s}"),
            SetExpr::Query(q) => write!(f, "({q})"),
            SetExpr::Operation {
                op,
                all,
                left,
                right,
            } => {
                let word = op.keyword();
                // The right operand of a set operation is printed in parentheses when it is
                // itself an operation, so the grouping survives a re-parse.
                write!(f, "{left} {word}{} ", if *all { " ALL" } else { "" })?;
                match right.as_ref() {
                    SetExpr::Operation { .. } => write!(f, "({right})"),
                    _ => write!(f, "{right}"),
                }
            }
        }
    }
}

impl fmt::Display for Select {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SELECT ")?;
        if self.distinct {
            f.write_str("DISTINCT ")?;
        }
        if let Some(n) = self.top {
            write!(f, "TOP {n} ")?;
        }
        write_list(f, &self.items)?;
        f.write_str(" FROM ")?;
        write_list(f, &self.from)?;
        if let Some(w) = &self.selection {
            write!(f, " WHERE {w}")?;
        }
        if !self.group_by.is_empty() {
            f.write_str(" GROUP BY ")?;
            write_list(f, &self.group_by)?;
        }
        if let Some(h) = &self.having {
            write!(f, " HAVING {h}")?;
        }
        Ok(())
    }
}

impl fmt::Display for SelectItem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SelectItem::Wildcard(_) => f.write_char('*'),
            SelectItem::QualifiedWildcard(parts) => {
                write_dotted(f, parts)?;
                f.write_str(".*")
            }
            SelectItem::Expr { expr, alias } => {
                write!(f, "{expr}")?;
                if let Some(a) = alias {
                    write!(f, " AS {a}")?;
                }
                Ok(())
            }
        }
    }
}

impl fmt::Display for FromItem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FromItem::Table { name, alias } => {
                write_dotted(f, name)?;
                if let Some(a) = alias {
                    write!(f, " AS {a}")?;
                }
                Ok(())
            }
            FromItem::Derived { query, alias } => write!(f, "({query}) AS {alias}"),
            FromItem::Nested(inner) => write!(f, "({inner})"),
            FromItem::Join {
                left,
                right,
                kind,
                natural,
                condition,
            } => {
                write!(f, "{left} ")?;
                if *natural {
                    f.write_str("NATURAL ")?;
                }
                f.write_str(match kind {
                    JoinKind::Inner => "INNER JOIN ",
                    JoinKind::Left => "LEFT OUTER JOIN ",
                    JoinKind::Right => "RIGHT OUTER JOIN ",
                    JoinKind::Full => "FULL OUTER JOIN ",
                })?;
                match right.as_ref() {
                    FromItem::Join { .. } => write!(f, "({right})")?,
                    _ => write!(f, "{right}")?,
                }
                match condition {
                    JoinCondition::On(c) => write!(f, " ON {c}"),
                    JoinCondition::Using(cols) => {
                        f.write_str(" USING (")?;
                        write_list(f, cols)?;
                        f.write_char(')')
                    }
                    JoinCondition::None => Ok(()),
                }
            }
        }
    }
}

/// Precedence of an expression as an operand; atoms bind tightest.
fn expr_precedence(e: &Expr) -> u8 {
    match e {
        Expr::Binary { op, .. } => op.precedence(),
        Expr::Unary {
            op: UnaryOp::Not, ..
        } => 3,
        Expr::InList { .. }
        | Expr::InSubquery { .. }
        | Expr::Between { .. }
        | Expr::Like { .. }
        | Expr::IsNull { .. } => 4,
        _ => 10,
    }
}

fn write_operand(f: &mut fmt::Formatter<'_>, e: &Expr, min: u8) -> fmt::Result {
    if expr_precedence(e) < min {
        write!(f, "({e})")
    } else {
        write!(f, "{e}")
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Column(parts) => write_dotted(f, parts),
            Expr::Number { text, .. } => f.write_str(text),
            Expr::String { value, .. } => write_string_literal(f, value),
            Expr::Null(_) => f.write_str("NULL"),
            Expr::Unary { op, expr, .. } => match op {
                UnaryOp::Not => {
                    f.write_str("NOT ")?;
                    write_operand(f, expr, 3)
                }
                UnaryOp::Minus | UnaryOp::Plus => {
                    f.write_char(if *op == UnaryOp::Minus { '-' } else { '+' })?;
                    // `- -1` must not become the comment `--1`.
                    if matches!(expr.as_ref(), Expr::Unary { .. }) {
                        f.write_char(' ')?;
                    }
                    write_operand(f, expr, 8)
                }
            },
            Expr::Binary { op, left, right } => {
                let p = op.precedence();
                write_operand(f, left, p)?;
                write!(f, " {} ", op.symbol())?;
                write_operand(f, right, p + 1)
            }
            Expr::Function {
                name,
                args,
                distinct,
                star,
            } => {
                write!(f, "{name}(")?;
                if *star {
                    f.write_char('*')?;
                }
                if *distinct {
                    f.write_str("DISTINCT ")?;
                }
                write_list(f, args)?;
                f.write_char(')')
            }
            Expr::Case {
                operand,
                whens,
                otherwise,
                ..
            } => {
                f.write_str("CASE")?;
                if let Some(o) = operand {
                    write!(f, " {o}")?;
                }
                for (w, t) in whens {
                    write!(f, " WHEN {w} THEN {t}")?;
                }
                if let Some(e) = otherwise {
                    write!(f, " ELSE {e}")?;
                }
                f.write_str(" END")
            }
            Expr::Cast { expr, target, .. } => write!(f, "CAST({expr} AS {target})"),
            Expr::InList {
                expr,
                list,
                negated,
            } => {
                write_operand(f, expr, 5)?;
                f.write_str(if *negated { " NOT IN (" } else { " IN (" })?;
                write_list(f, list)?;
                f.write_char(')')
            }
            Expr::InSubquery {
                expr,
                query,
                negated,
            } => {
                write_operand(f, expr, 5)?;
                write!(f, "{}({query})", if *negated { " NOT IN " } else { " IN " })
            }
            Expr::Between {
                expr,
                low,
                high,
                negated,
            } => {
                write_operand(f, expr, 5)?;
                f.write_str(if *negated {
                    " NOT BETWEEN "
                } else {
                    " BETWEEN "
                })?;
                write_operand(f, low, 5)?;
                f.write_str(" AND ")?;
                write_operand(f, high, 5)
            }
            Expr::Like {
                expr,
                pattern,
                negated,
                case_insensitive,
            } => {
                write_operand(f, expr, 5)?;
                f.write_str(if *negated { " NOT" } else { "" })?;
                f.write_str(if *case_insensitive {
                    " ILIKE "
                } else {
                    " LIKE "
                })?;
                write_operand(f, pattern, 5)
            }
            Expr::IsNull { expr, negated } => {
                write_operand(f, expr, 5)?;
                f.write_str(if *negated { " IS NOT NULL" } else { " IS NULL" })
            }
            Expr::Exists { query, negated, .. } => {
                write!(f, "{}EXISTS ({query})", if *negated { "NOT " } else { "" })
            }
            Expr::Subquery(q, _) => write!(f, "({q})"),
            Expr::Nested(inner) => write!(f, "({inner})"),
        }
    }
}
