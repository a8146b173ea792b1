//! Search conditions (WHERE, HAVING, ON, CASE WHEN): comparisons with their type checks,
//! LIKE, IN, BETWEEN, EXISTS, and the geometry predicates the targets can answer faster
//! (pgsphere operators, R*Tree pre-filters) than by calling the function.

use skyport_sky::{Shape, SkyPoint};

use crate::ast::*;
use crate::catalogue::SpatialIndex;
use crate::error::{AdqlError, Pos};
use crate::print::GeometryTest;
use crate::types::AdqlType;

use super::geometry::{constant_point, constant_shape};
use crate::print::walk::arg;
use crate::resolved::{Typed, Value};

use super::{constant_number, type_error, unsupported, Translator};

impl<'a> Translator<'a> {
    // ----- conditions ------------------------------------------------------------------------

    pub(super) fn condition(&mut self, e: &Expr) -> Result<String, AdqlError> {
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
                    self.sql(&x),
                    if *negated { "NOT " } else { "" },
                    self.sql(&lo),
                    self.sql(&hi)
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
                    items.push(self.sql(&t));
                }
                Ok(format!(
                    "({} {}IN ({}))",
                    self.sql(&x),
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
                    self.sql(&x),
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
                    .like(&self.sql(&x), &self.sql(&p), *negated, *case_insensitive))
            }
            Expr::IsNull { expr, negated } => {
                let x = self.value(expr)?;
                Ok(format!(
                    "({} IS {}NULL)",
                    self.sql(&x),
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
            let value = Value::BooleanAsNumber(Box::new(a.clone()));
            self.sql(&Typed::new(value, AdqlType::Integer, &a.name))
        } else {
            self.sql(a)
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
                let (sa, sb) = (self.sql(&a), self.sql(&b));
                let exact = self.printer.geometry_test(test, arg(&sa, &a), arg(&sb, &b));
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
            format!("({} {} {})", self.sql(&l), op.symbol(), self.sql(&rr))
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
