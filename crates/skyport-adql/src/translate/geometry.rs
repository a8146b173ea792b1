//! Geometry constructors (POINT, CIRCLE, BOX, POLYGON, REGION, CENTROID) and the functions
//! of geometries (CONTAINS, INTERSECTS, DISTANCE, AREA, COORD1/2, COORDSYS), plus recognising
//! constant shapes for the spatial pre-filters.

use skyport_sky::{parse_stcs, Shape, SkyError, SkyPoint};

use crate::ast::*;
use crate::error::AdqlError;
use crate::functions::{self, ConstructorArgs, ConstructorForm};
use crate::print::GeometryTest;
use crate::types::AdqlType;

use super::{constant_number, type_error, unsupported, Translator, Typed};

impl<'a> Translator<'a> {
    pub(super) fn constructor(&mut self, name: &Ident, args: &[Expr]) -> Result<Typed, AdqlError> {
        // Argument types decide between CIRCLE(lon, lat, r) and CIRCLE(point, r).
        let mut typed = Vec::with_capacity(args.len());
        for a in args {
            typed.push(self.value(a)?);
        }
        if typed.is_empty() {
            return Err(AdqlError::syntax(
                name.pos,
                format!("{name} needs arguments"),
            ));
        }
        let is_point = |i: usize| {
            typed
                .get(i)
                .is_some_and(|t| t.ty.is_geometry() && t.ty != AdqlType::Unknown)
        };
        let (cs, form) = functions::constructor_args(name, args, &is_point)?;
        let args = ConstructorArgList::new(name, args, &typed);
        if let Some(cs) = cs {
            check_coordsys(args.expr(cs)?)?;
        }
        let printer = self.printer;
        let (sql, ty) = match form {
            ConstructorArgs::Point { lon, lat } => {
                let (l, b) = (args.number(lon)?, args.number(lat)?);
                (printer.point(&l, &b), AdqlType::Point)
            }
            ConstructorArgs::Circle { lon, lat, radius } => {
                let (l, b, r) = (args.number(lon)?, args.number(lat)?, args.number(radius)?);
                (printer.circle(&l, &b, &r), AdqlType::Circle)
            }
            ConstructorArgs::CircleAt { center, radius } => {
                let (c, r) = (args.point(center)?, args.number(radius)?);
                (printer.circle_at(&c, &r), AdqlType::Circle)
            }
            ConstructorArgs::Box {
                lon,
                lat,
                width,
                height,
            } => {
                let parts = [
                    args.number(lon)?,
                    args.number(lat)?,
                    args.number(width)?,
                    args.number(height)?,
                ];
                let constant = match [lon, lat, width, height].map(|i| args.constant(i)) {
                    [Some(a), Some(b), Some(w), Some(h)] => {
                        Some(SkyPoint::new(a, b).and_then(|c| Shape::box_shape(c, w, h)))
                    }
                    _ => None,
                };
                let sql = printer
                    .box_shape(&parts, constant)
                    .map_err(|e| type_error(name.pos, format!("BOX: {e}")))?;
                (sql, AdqlType::Polygon)
            }
            ConstructorArgs::BoxAt {
                center,
                width,
                height,
            } => {
                let (c, w, h) = (
                    args.point(center)?,
                    args.number(width)?,
                    args.number(height)?,
                );
                (printer.box_at(&c, &w, &h), AdqlType::Polygon)
            }
            ConstructorArgs::PolygonNumbers(range) => {
                let mut parts = Vec::with_capacity(range.len());
                let mut constants = Some(Vec::with_capacity(range.len()));
                for i in range {
                    parts.push(args.number(i)?);
                    constants = constants.zip(args.constant(i)).map(|(mut v, c)| {
                        v.push(c);
                        v
                    });
                }
                match constants {
                    Some(values) => {
                        // Check a constant polygon now, so a bad one is a clear error, not a
                        // NULL.
                        let shape = values
                            .chunks(2)
                            .map(|c| match c {
                                [lon, lat] => SkyPoint::new(*lon, *lat),
                                _ => Err(SkyError::InvalidPolygon(
                                    "a vertex needs two numbers".into(),
                                )),
                            })
                            .collect::<Result<Vec<_>, _>>()
                            .and_then(Shape::polygon)
                            .map_err(|e| type_error(name.pos, format!("POLYGON: {e}")))?;
                        (printer.polygon_constant(&shape), AdqlType::Polygon)
                    }
                    None => (printer.polygon_numbers(&parts), AdqlType::Polygon),
                }
            }
            ConstructorArgs::PolygonPoints(range) => {
                let mut parts = Vec::with_capacity(range.len());
                for i in range {
                    parts.push(args.point(i)?);
                }
                (printer.polygon_points(&parts), AdqlType::Polygon)
            }
            ConstructorArgs::Region(i) => {
                let lit = args.expr(i)?;
                let Expr::String { value, pos } = lit.unnested() else {
                    return Err(type_error(lit.pos(), "REGION takes a string literal"));
                };
                let shape =
                    parse_stcs(value).map_err(|e| unsupported(*pos, format!("REGION: {e}")))?;
                (printer.region(value, &shape), AdqlType::Region)
            }
            ConstructorArgs::Centroid(i) => {
                let (g, t) = args.get(i)?;
                if !t.ty.is_geometry() {
                    return Err(type_error(
                        g.pos(),
                        format!("CENTROID needs a geometry, not {}", t.ty),
                    ));
                }
                let geometry = if t.region_column {
                    // Region columns hold STC-S text, which the target may need as its own type.
                    printer.region_geometry(&t.sql)
                } else {
                    t.sql.clone()
                };
                (printer.centroid(&geometry), AdqlType::Point)
            }
        };
        let name = name.value.to_ascii_lowercase();
        Ok(Typed::new(sql, ty, &name))
    }

    pub(super) fn geometry_value(
        &mut self,
        upper: &str,
        args: &[Expr],
    ) -> Result<Typed, AdqlError> {
        let lower = upper.to_ascii_lowercase();
        let printer = self.printer;
        // The parser has checked the argument counts; a tree built by hand may not have.
        let wrong_count = || {
            AdqlError::syntax(
                args.first().map(Expr::pos).unwrap_or_default(),
                format!("{upper} has the wrong number of arguments"),
            )
        };
        if upper == "DISTANCE" {
            let sql = match args {
                [_, _, _, _] => {
                    let mut v = Vec::with_capacity(4);
                    for a in args {
                        v.push(self.numeric(a, "DISTANCE")?.sql);
                    }
                    match v.as_slice() {
                        [a, b, c, d] => printer.distance_coordinates([a, b, c, d]),
                        _ => return Err(wrong_count()),
                    }
                }
                _ => {
                    let mut pts = Vec::with_capacity(2);
                    for a in args {
                        let t = self.geometry(a)?;
                        if !matches!(t.ty, AdqlType::Point | AdqlType::Unknown) {
                            return Err(type_error(
                                a.pos(),
                                format!("DISTANCE takes points, not {}", t.ty),
                            ));
                        }
                        pts.push(t.sql);
                    }
                    match pts.as_slice() {
                        [p, q] => printer.distance(p, q),
                        _ => return Err(wrong_count()),
                    }
                }
            };
            return Ok(distance_typed(sql));
        }
        if let Some(test) = GeometryTest::from_name(upper) {
            let [a, b] = args else {
                return Err(wrong_count());
            };
            let a = self.geometry(a)?;
            let b = self.geometry(b)?;
            let sql = printer.geometry_flag(test, a.arg(), b.arg());
            return Ok(Typed::new(sql, AdqlType::Integer, &lower));
        }
        let [arg] = args else {
            return Err(wrong_count());
        };
        let g = self.geometry(arg)?;
        match upper {
            "AREA" => {
                let mut t = Typed::new(printer.area(&g.sql), AdqlType::Double, "area");
                t.meta.unit = Some("deg**2".into());
                t.meta.ucd = Some("phys.angArea".into());
                Ok(t)
            }
            "COORD1" | "COORD2" => {
                if !matches!(g.ty, AdqlType::Point | AdqlType::Unknown) {
                    return Err(type_error(
                        arg.pos(),
                        format!("{upper} takes a point, not {}", g.ty),
                    ));
                }
                let second = upper == "COORD2";
                let mut t =
                    Typed::new(printer.coordinate(&g.sql, second), AdqlType::Double, &lower);
                t.meta.unit = Some("deg".into());
                t.meta.ucd = Some(if second { "pos.eq.dec" } else { "pos.eq.ra" }.into());
                Ok(t)
            }
            // COORDSYS: every geometry here is ICRS.
            _ => Ok(Typed::new(
                format!("CASE WHEN {} IS NULL THEN NULL ELSE 'ICRS' END", g.sql),
                AdqlType::VarChar(None),
                "coordsys",
            )),
        }
    }
}

/// A constructor call's arguments beside their translations, found by the argument index
/// [`functions::constructor_args`] gives: a wrong index is an error, never another argument.
struct ConstructorArgList<'e> {
    name: &'e Ident,
    args: &'e [Expr],
    typed: &'e [Typed],
}

impl<'e> ConstructorArgList<'e> {
    fn new(name: &'e Ident, args: &'e [Expr], typed: &'e [Typed]) -> Self {
        ConstructorArgList { name, args, typed }
    }

    /// Argument `i` and its translation.
    fn get(&self, i: usize) -> Result<(&'e Expr, &'e Typed), AdqlError> {
        self.args.get(i).zip(self.typed.get(i)).ok_or_else(|| {
            AdqlError::syntax(
                self.name.pos,
                format!("{}: argument {} is missing", self.name, i + 1),
            )
        })
    }

    fn expr(&self, i: usize) -> Result<&'e Expr, AdqlError> {
        self.get(i).map(|(e, _)| e)
    }

    /// The value of argument `i` when it is a numeric constant.
    fn constant(&self, i: usize) -> Option<f64> {
        self.args.get(i).and_then(constant_number)
    }

    /// The SQL of argument `i`, which must be a number (a coordinate, radius or size).
    fn number(&self, i: usize) -> Result<String, AdqlError> {
        let (e, t) = self.get(i)?;
        if t.ty.is_numeric() {
            Ok(t.sql.clone())
        } else {
            Err(type_error(
                e.pos(),
                format!("a coordinate must be a number, but `{e}` is {}", t.ty),
            ))
        }
    }

    /// The SQL of argument `i`, which must be a point (or of unknown type, e.g. NULL).
    fn point(&self, i: usize) -> Result<String, AdqlError> {
        let (e, t) = self.get(i)?;
        match t.ty {
            AdqlType::Point | AdqlType::Unknown => Ok(t.sql.clone()),
            other => Err(type_error(
                e.pos(),
                format!("a POINT is needed here, not {other}"),
            )),
        }
    }
}

fn distance_typed(sql: String) -> Typed {
    let mut t = Typed::new(sql, AdqlType::Double, "distance");
    t.meta.unit = Some("deg".into());
    t.meta.ucd = Some("pos.angDistance".into());
    t
}

/// Coordinate systems skyport accepts in geometry constructors: ICRS (and FK5/J2000, which
/// match it to 0.02″), or none.
fn check_coordsys(cs: &Expr) -> Result<(), AdqlError> {
    match cs.unnested() {
        Expr::Null(_) => Ok(()),
        Expr::String { value, pos } => {
            let first = value
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_ascii_uppercase();
            match first.as_str() {
                "" | "ICRS" | "FK5" | "J2000" | "UNKNOWNFRAME" => Ok(()),
                other => Err(unsupported(
                    *pos,
                    format!("coordinate system {other} is not supported: skyport's coordinates are ICRS"),
                )),
            }
        }
        other => Err(unsupported(
            other.pos(),
            "the coordinate system must be a string literal",
        )),
    }
}

pub(super) fn constant_point(e: &Expr) -> Option<SkyPoint> {
    match constant_shape(e)? {
        Shape::Point(p) => Some(p),
        _ => None,
    }
}

/// The shape of a geometry constructor whose arguments are all constants.
pub(super) fn constant_shape(e: &Expr) -> Option<Shape> {
    let Expr::Function { name, args, .. } = e.unnested() else {
        return None;
    };
    // A POINT(…) call argument is a point; telling them apart matters for POLYGON, whose
    // form (numbers or points) would otherwise be guessed from the argument count.
    let is_point_call = |i: usize| {
        args.get(i).is_some_and(
            |a| matches!(a.unnested(), Expr::Function { name, .. } if name.matches("POINT")),
        )
    };
    let (_, form) = functions::constructor_form(name, args, &is_point_call).ok()?;
    let n = constant_number;
    match form {
        ConstructorForm::Point { lon, lat } => {
            Some(Shape::Point(SkyPoint::new(n(lon)?, n(lat)?).ok()?))
        }
        ConstructorForm::Circle { lon, lat, radius } => {
            Shape::circle(SkyPoint::new(n(lon)?, n(lat)?).ok()?, n(radius)?).ok()
        }
        ConstructorForm::CircleAt { center, radius } => {
            Shape::circle(constant_point(center)?, n(radius)?).ok()
        }
        ConstructorForm::Box {
            lon,
            lat,
            width,
            height,
        } => Shape::box_shape(SkyPoint::new(n(lon)?, n(lat)?).ok()?, n(width)?, n(height)?).ok(),
        ConstructorForm::BoxAt {
            center,
            width,
            height,
        } => Shape::box_shape(constant_point(center)?, n(width)?, n(height)?).ok(),
        ConstructorForm::PolygonNumbers(nums) => {
            let v: Option<Vec<f64>> = nums.iter().map(n).collect();
            let pts: Option<Vec<SkyPoint>> = v?
                .chunks(2)
                .map(|c| SkyPoint::new(c[0], c[1]).ok())
                .collect();
            Shape::polygon(pts?).ok()
        }
        ConstructorForm::PolygonPoints(points) => {
            let pts: Option<Vec<SkyPoint>> = points.iter().map(constant_point).collect();
            Shape::polygon(pts?).ok()
        }
        ConstructorForm::Region(lit) => match lit.unnested() {
            Expr::String { value, .. } => parse_stcs(value).ok(),
            _ => None,
        },
        ConstructorForm::Centroid(_) => None,
    }
}
