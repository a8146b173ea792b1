//! Values: literals, column references, arithmetic, CASE, CAST, subqueries and function
//! calls, each with its ADQL type and the FIELD metadata (unit, UCD) it carries along.

use crate::ast::*;
use crate::catalogue::ColumnMeta;
use crate::error::{AdqlError, Pos};
use crate::functions::{self, Kind};
use crate::resolved::{Typed, Value, When};
use crate::suggest::closest;
use crate::types::AdqlType;
use crate::units;

use super::{name_error, type_error, unify, Translator};

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
            let ty = t.ty;
            let name = t.name.clone();
            let meta = t.meta.clone();
            t = Typed::new(Value::RegionGeometry(Box::new(t)), ty, &name);
            t.meta = meta;
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
                let digits = if ty == AdqlType::Double && integral {
                    format!("{text}.0")
                } else if text.starts_with('.') {
                    format!("0{text}")
                } else if text.ends_with('.') {
                    format!("{text}0")
                } else {
                    text.clone()
                };
                // ADQL's approximate literals are doubles, which not every target assumes.
                let value = if ty == AdqlType::Double {
                    Value::Double(digits)
                } else {
                    Value::Integer(digits)
                };
                Ok(Typed::new(value, ty, "expr"))
            }
            Expr::String { value, .. } => Ok(Typed::new(
                Value::String(value.clone()),
                AdqlType::VarChar(None),
                "expr",
            )),
            Expr::Null(_) => Ok(Typed::new(Value::Null, AdqlType::Unknown, "expr")),
            Expr::Nested(inner) => {
                let t = self.value(inner)?;
                let mut out = Typed::new(Value::Nested(Box::new(t.clone())), t.ty, &t.name);
                out.meta = t.meta;
                Ok(out)
            }
            Expr::Unary { op, expr, pos } => match op {
                UnaryOp::Not => Err(AdqlError::syntax(
                    *pos,
                    "NOT makes a condition, not a value",
                )),
                UnaryOp::Minus | UnaryOp::Plus => {
                    let t = self.numeric(expr, "a sign")?;
                    let (ty, name, unit) = (t.ty, t.name.clone(), t.meta.unit.clone());
                    let sign = Value::Sign {
                        minus: *op == UnaryOp::Minus,
                        operand: Box::new(t),
                    };
                    let mut out = Typed::new(sign, ty, &name);
                    out.meta_mut().unit = unit;
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
                    return Ok(Typed::new(
                        Value::Concat(Box::new(l), Box::new(r)),
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
                let unit = if matches!(op, BinaryOp::Plus | BinaryOp::Minus)
                    && l.meta.unit == r.meta.unit
                {
                    l.meta.unit.clone()
                } else {
                    None
                };
                let value = Value::Arithmetic {
                    op: *op,
                    left: Box::new(l),
                    right: Box::new(r),
                };
                let mut t = Typed::new(value, ty, "expr");
                t.meta_mut().unit = unit;
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
                let op = match operand {
                    Some(o) => Some(self.value(o)?),
                    None => None,
                };
                let mut resolved_whens = Vec::with_capacity(whens.len());
                let mut ty = AdqlType::Unknown;
                let mut meta = ColumnMeta::default();
                for (w, then) in whens {
                    let test = match &op {
                        Some(o) => {
                            let t = self.value(w)?;
                            self.check_comparable(o, &t, w.pos())?;
                            When::Value(Box::new(t))
                        }
                        None => When::Condition(self.condition(w)?),
                    };
                    let r = self.value(then)?;
                    if ty == AdqlType::Unknown {
                        ty = r.ty;
                        meta = (*r.meta).clone();
                    } else {
                        ty = unify(ty, r.ty).ok_or_else(|| {
                            type_error(then.pos(), format!("CASE mixes {ty} and {}", r.ty))
                        })?;
                    }
                    resolved_whens.push((test, r));
                }
                let mut resolved_otherwise = None;
                if let Some(o) = otherwise {
                    let r = self.value(o)?;
                    ty = if ty == AdqlType::Unknown {
                        r.ty
                    } else {
                        unify(ty, r.ty).ok_or_else(|| {
                            type_error(o.pos(), format!("CASE mixes {ty} and {}", r.ty))
                        })?
                    };
                    resolved_otherwise = Some(Box::new(r));
                }
                let value = Value::Case {
                    operand: op.map(Box::new),
                    whens: resolved_whens,
                    otherwise: resolved_otherwise,
                };
                let mut t = Typed::new(value, ty, "case");
                t.meta_mut().unit = meta.unit;
                Ok(t)
            }
            Expr::Cast { expr, target, pos } => self.cast(expr, *target, *pos),
            Expr::Subquery(q, pos) => {
                let (sub, cols) = self.query(q, false)?;
                match cols.as_slice() {
                    [c] => {
                        let mut t = Typed::new(Value::Subquery(Box::new(sub)), c.ty, &c.name);
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
        let (name, unit) = (x.name.clone(), x.meta.unit.clone());
        let value = Value::Cast {
            operand: Box::new(x),
            target,
        };
        let mut t = Typed::new(value, ty, &name);
        t.meta_mut().unit = unit;
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
                if star {
                    let mut t = Typed::new(Value::CountStar, AdqlType::BigInt, "count");
                    t.meta_mut().ucd = Some("meta.number".into());
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
                let (unit, ucd) = (x.meta.unit.clone(), x.meta.ucd.clone());
                let value = Value::Aggregate {
                    upper: upper.clone(),
                    distinct,
                    operand: Box::new(x),
                };
                let mut t = Typed::new(value, ty, &lower);
                if keep_unit {
                    t.meta_mut().unit = unit;
                    if upper != "SUM" {
                        t.meta_mut().ucd = ucd;
                    }
                } else {
                    t.meta_mut().ucd = Some("meta.number".into());
                }
                Ok(t)
            }
            Kind::Math => {
                let mut xs = Vec::new();
                for a in args {
                    xs.push(self.numeric(a, &upper)?);
                }
                let unit = if matches!(
                    upper.as_str(),
                    "ABS" | "CEILING" | "FLOOR" | "ROUND" | "TRUNCATE"
                ) {
                    xs.first().and_then(|x| x.meta.unit.clone())
                } else {
                    None
                };
                let value = Value::Math {
                    upper: upper.clone(),
                    args: xs,
                };
                let mut t = Typed::new(value, AdqlType::Double, &lower);
                t.meta_mut().unit = unit;
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
                let value = Value::StringFunction {
                    lower: lower.clone(),
                    operand: Box::new(x),
                };
                Ok(Typed::new(value, AdqlType::VarChar(None), &lower))
            }
            Kind::Coalesce => {
                let mut ty = AdqlType::Unknown;
                let mut parts = Vec::new();
                let mut meta = ColumnMeta::default();
                for a in args {
                    let t = self.value(a)?;
                    ty = if ty == AdqlType::Unknown {
                        meta = (*t.meta).clone();
                        t.ty
                    } else {
                        unify(ty, t.ty).ok_or_else(|| {
                            type_error(a.pos(), format!("COALESCE mixes {ty} and {}", t.ty))
                        })?
                    };
                    parts.push(t);
                }
                let mut t = Typed::new(Value::Coalesce(parts), ty, "coalesce");
                t.meta_mut().unit = meta.unit;
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
                let (name, ucd) = (x.name.clone(), x.meta.ucd.clone());
                let value = Value::InUnit {
                    operand: Box::new(x),
                    factor,
                };
                let mut t = Typed::new(value, AdqlType::Double, &name);
                t.meta_mut().unit = Some(target.clone());
                t.meta_mut().ucd = ucd;
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
            sqls.push(t);
        }
        let value = Value::Udf {
            udf: udf.clone(),
            args: sqls,
        };
        Ok(Typed::new(
            value,
            udf.result,
            &udf.name.to_ascii_lowercase(),
        ))
    }
}
