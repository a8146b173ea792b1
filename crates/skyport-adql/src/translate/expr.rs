//! Values: literals, column references, arithmetic, CASE, CAST, subqueries and function
//! calls, each with its ADQL type and the FIELD metadata (unit, UCD) it carries along.

use std::fmt::Write;

use crate::ast::*;
use crate::catalogue::ColumnMeta;
use crate::error::{AdqlError, Pos};
use crate::functions::{self, Kind};
use crate::print::{literal, num};
use crate::suggest::closest;
use crate::types::AdqlType;
use crate::units;

use super::{name_error, type_error, unify, Translator, Typed};

impl<'a> Translator<'a> {
    // ----- values ----------------------------------------------------------------------------

    /// A geometry-typed value.
    pub(super) fn geometry(&mut self, e: &Expr) -> Result<Typed, AdqlError> {
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

    pub(super) fn numeric(&mut self, e: &Expr, what: &str) -> Result<Typed, AdqlError> {
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

    pub(super) fn value(&mut self, e: &Expr) -> Result<Typed, AdqlError> {
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
}
