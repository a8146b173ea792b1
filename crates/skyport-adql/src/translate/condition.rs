//! Search conditions (WHERE, HAVING, ON, CASE WHEN): comparisons with their type checks,
//! LIKE, IN, BETWEEN, EXISTS, and the geometry predicates the targets can answer faster
//! (pgsphere operators, R*Tree pre-filters) than by calling the function.

use skyport_sky::{Shape, SkyPoint};

use crate::ast::*;
use crate::catalogue::SpatialIndex;
use crate::error::{AdqlError, Pos};
use crate::print::GeometryTest;
use crate::resolved::{Condition, Prefilter, Typed, Value};
use crate::types::AdqlType;

use super::geometry::{constant_point, constant_shape};
use super::{constant_number, type_error, unsupported, Translator};

impl<'a> Translator<'a> {
    // ----- conditions ------------------------------------------------------------------------

    pub(super) fn condition(&mut self, e: &Expr) -> Result<Condition, AdqlError> {
        match e {
            Expr::Nested(inner) => Ok(Condition::Nested(Box::new(self.condition(inner)?))),
            Expr::Unary {
                op: UnaryOp::Not,
                expr,
                ..
            } => Ok(Condition::Not(Box::new(self.condition(expr)?))),
            Expr::Binary {
                op: op @ (BinaryOp::And | BinaryOp::Or),
                left,
                right,
            } => Ok(Condition::Logic {
                and: *op == BinaryOp::And,
                left: Box::new(self.condition(left)?),
                right: Box::new(self.condition(right)?),
            }),
            Expr::Binary { op, left, right } if op.is_comparison() => {
                if let Some(c) = self.geometry_predicate(*op, left, right)? {
                    return Ok(c);
                }
                let l = self.value(left)?;
                let r = self.value(right)?;
                self.check_comparable(&l, &r, left.pos())?;
                let (left, right) = (comparable(&l, &r), comparable(&r, &l));
                Ok(Condition::Compare {
                    op: *op,
                    left: Box::new(left),
                    right: Box::new(right),
                })
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
                Ok(Condition::Between {
                    operand: Box::new(x),
                    low: Box::new(lo),
                    high: Box::new(hi),
                    negated: *negated,
                })
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
                    items.push(t);
                }
                Ok(Condition::InList {
                    operand: Box::new(x),
                    items,
                    negated: *negated,
                })
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
                Ok(Condition::InSubquery {
                    operand: Box::new(x),
                    query: Box::new(sub),
                    negated: *negated,
                })
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
                Ok(Condition::Like {
                    operand: Box::new(x),
                    pattern: Box::new(p),
                    negated: *negated,
                    case_insensitive: *case_insensitive,
                })
            }
            Expr::IsNull { expr, negated } => {
                let x = self.value(expr)?;
                Ok(Condition::IsNull {
                    operand: Box::new(x),
                    negated: *negated,
                })
            }
            Expr::Exists { query, negated, .. } => {
                let (sub, _) = self.query(query, false)?;
                Ok(Condition::Exists {
                    query: Box::new(sub),
                    negated: *negated,
                })
            }
            other => Err(AdqlError::syntax(
                other.pos(),
                format!("`{other}` is not a condition"),
            )),
        }
    }

    pub(super) fn check_comparable(&self, a: &Typed, b: &Typed, pos: Pos) -> Result<(), AdqlError> {
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
    ) -> Result<Option<Condition>, AdqlError> {
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
                let prefilter = if truth {
                    self.spatial_prefilter(test, a_expr, b_expr)?
                } else {
                    None
                };
                return Ok(Some(Condition::GeometryTest {
                    test,
                    a: Box::new(a),
                    b: Box::new(b),
                    holds: truth,
                    prefilter,
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
        let exact = Condition::Compare {
            op,
            left: Box::new(self.value(left)?),
            right: Box::new(self.value(right)?),
        };
        Ok(self
            .point_prefilter(&point_cols.0, &point_cols.1, &cone)
            .map(|prefilter| Condition::Prefiltered {
                prefilter,
                exact: Box::new(exact),
            }))
    }

    /// An R*Tree pre-filter for `CONTAINS/INTERSECTS(a, b)` when one side is indexed columns
    /// and the other a constant shape.
    fn spatial_prefilter(
        &mut self,
        test: GeometryTest,
        a: &Expr,
        b: &Expr,
    ) -> Result<Option<Prefilter>, AdqlError> {
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
                let filter =
                    self.column_source(parts)
                        .and_then(|src| match (&src.rowid, &src.spatial) {
                            (
                                Some(rowid),
                                Some(SpatialIndex {
                                    region: Some((rc, idx)),
                                    ..
                                }),
                            ) if parts.last().is_some_and(|c| c.matches(rc)) => Some(Prefilter {
                                table: rowid.clone(),
                                index_table: idx.clone(),
                                shape: shape.clone(),
                            }),
                            _ => None,
                        });
                if filter.is_some() {
                    self.uses_spatial_index = true;
                    return Ok(filter);
                }
            }
        }
        Ok(None)
    }

    fn point_prefilter(
        &mut self,
        lon: &[Ident],
        lat: &[Ident],
        shape: &Shape,
    ) -> Option<Prefilter> {
        let src = self.column_source(lon)?;
        let same = self.column_source(lat)?;
        if src.rowid != same.rowid {
            return None;
        }
        let (
            rowid,
            SpatialIndex {
                point: Some((lc, bc, idx)),
                ..
            },
        ) = (src.rowid.as_ref()?, src.spatial.as_ref()?)
        else {
            return None;
        };
        let lon_name = lon.last()?;
        let lat_name = lat.last()?;
        if !(lon_name.matches(lc) && lat_name.matches(bc)) {
            return None;
        }
        let filter = Prefilter {
            table: rowid.clone(),
            index_table: idx.clone(),
            shape: shape.clone(),
        };
        self.uses_spatial_index = true;
        Some(filter)
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

/// `a` as compared with `b`: a boolean compared with a number is read as 0 or 1.
fn comparable(a: &Typed, b: &Typed) -> Typed {
    if a.ty == AdqlType::Boolean && b.ty.is_numeric() {
        let value = Value::BooleanAsNumber(Box::new(a.clone()));
        Typed::new(value, AdqlType::Integer, &a.name)
    } else {
        a.clone()
    }
}
