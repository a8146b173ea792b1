//! Values and conditions: sqlparser's expressions converted to ADQL's, keeping ADQL's split
//! between search conditions, geometries and other values, with function calls checked
//! against ADQL's functions and CAST targets against its types.

use sqlparser::ast as sql;

use crate::ast::*;
use crate::error::{AdqlError, Pos};
use crate::functions::{self, GeometryShape};

use super::{node_name, not_adql, span_pos, Class, Converter};

impl Converter {
    /// A value expression (not a condition).
    pub(super) fn value(&mut self, e: &sql::Expr) -> Result<Expr, AdqlError> {
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
    pub(super) fn scalar(&mut self, e: &sql::Expr, operator: &str) -> Result<Expr, AdqlError> {
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
    pub(super) fn condition(&mut self, e: &sql::Expr) -> Result<Expr, AdqlError> {
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

    pub(super) fn expr(&mut self, e: &sql::Expr) -> Result<(Expr, Class), AdqlError> {
        let pos = start_pos(e);
        self.enter(pos)?;
        let result = self.expr_inner(e, pos);
        self.depth -= 1;
        result
    }

    pub(super) fn expr_inner(
        &mut self,
        e: &sql::Expr,
        pos: Pos,
    ) -> Result<(Expr, Class), AdqlError> {
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
            E::BinaryOp {
                left,
                op: op_sql,
                right,
            } => {
                use sql::BinaryOperator as B;
                let (op, kind) = match op_sql {
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
                        // `a OR b OR c …`, as notebooks build from a list of values, comes
                        // from sqlparser left-deep, a level per term: its terms are taken
                        // off the chain one by one and, for a long chain, joined again as a
                        // balanced tree, so depth grows with the log of the length and such a
                        // query stays within MAX_DEPTH (the operator count still bounds it).
                        let mut terms = vec![right.as_ref()];
                        let mut rest = left.as_ref();
                        while let E::BinaryOp {
                            left: l,
                            op: o,
                            right: r,
                        } = rest
                        {
                            if o != op_sql {
                                break;
                            }
                            terms.push(r);
                            rest = l;
                        }
                        terms.push(rest);
                        terms.reverse();
                        // The tree built is as deep as it will be joined: the levels beyond
                        // this node's own count against MAX_DEPTH like any nesting.
                        let extra = logical_height(terms.len()).saturating_sub(1);
                        let converted = self.descend(pos, extra).and_then(|()| {
                            terms
                                .into_iter()
                                .map(|t| self.condition(t))
                                .collect::<Result<Vec<_>, _>>()
                        });
                        self.depth -= extra;
                        condition(join_logical(op, converted?))
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

    pub(super) fn function(
        &mut self,
        f: &sql::Function,
        pos: Pos,
    ) -> Result<(Expr, Class), AdqlError> {
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

/// Where `e` starts. sqlparser finds a binary operation's span by joining its operands' spans,
/// recursively: for a long left-deep chain that is a deep recursion (a stack overflow at 250
/// terms on 1 MB in a debug build) repeated at every level. The chain starts where its
/// leftmost operand does.
fn start_pos(mut e: &sql::Expr) -> Pos {
    loop {
        match e {
            // sqlparser's spans of these start where their first operand does.
            sql::Expr::BinaryOp { left: inner, .. }
            | sql::Expr::Nested(inner)
            | sql::Expr::UnaryOp { expr: inner, .. }
            | sql::Expr::InSubquery { expr: inner, .. } => e = inner,
            sql::Expr::Subquery(q) | sql::Expr::Exists { subquery: q, .. } => {
                return super::query_start(q)
            }
            _ => return span_pos(e),
        }
    }
}

/// Chains of one logical operator shorter than this keep sqlparser's left-deep shape (and so
/// print as they always did); longer ones are balanced.
const BALANCE_FROM: usize = 16;

/// How deep [`join_logical`] makes a chain of `terms` terms (at least one).
fn logical_height(terms: usize) -> usize {
    if terms < BALANCE_FROM {
        terms.saturating_sub(1)
    } else {
        1 + logical_height(terms.div_ceil(2)).max(logical_height(terms / 2))
    }
}

/// `terms` (at least one) joined by `op` (AND or OR, both associative): left-deep when short,
/// else a balanced tree whose depth is the log of the number of terms.
fn join_logical(op: BinaryOp, mut terms: Vec<Expr>) -> Expr {
    let join = |left: Expr, right: Expr| Expr::Binary {
        op,
        left: Box::new(left),
        right: Box::new(right),
    };
    if terms.len() < BALANCE_FROM {
        let mut terms = terms.into_iter();
        let first = terms.next().unwrap_or(Expr::Null(Pos::default()));
        return terms.fold(first, join);
    }
    let right = terms.split_off(terms.len().div_ceil(2));
    join(join_logical(op, terms), join_logical(op, right))
}
