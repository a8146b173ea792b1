//! Geometry constructors (POINT, CIRCLE, BOX, POLYGON, REGION, CENTROID) and the functions
//! of geometries (CONTAINS, INTERSECTS, DISTANCE, AREA, COORD1/2, COORDSYS), plus recognising
//! constant shapes for the spatial pre-filters.

use skyport_sky::{parse_stcs, Shape, SkyError, SkyPoint};

use crate::ast::*;
use crate::error::AdqlError;
use crate::functions::{self, ConstructorArgs, ConstructorForm};
use crate::print::GeometryTest;
use crate::types::AdqlType;

use crate::resolved::{Typed, Value};

use super::{constant_number, type_error, unsupported, Translator};

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
        let (value, ty) = match form {
            ConstructorArgs::Point { lon, lat } => {
                let (lon, lat) = (args.number(lon)?, args.number(lat)?);
                (Value::Point { lon, lat }, AdqlType::Point)
            }
            ConstructorArgs::Circle { lon, lat, radius } => {
                let (lon, lat, radius) =
                    (args.number(lon)?, args.number(lat)?, args.number(radius)?);
                (Value::Circle { lon, lat, radius }, AdqlType::Circle)
            }
            ConstructorArgs::CircleAt { center, radius } => {
                let (center, radius) = (args.point(center)?, args.number(radius)?);
                (Value::CircleAt { center, radius }, AdqlType::Circle)
            }
            ConstructorArgs::Box {
                lon,
                lat,
                width,
                height,
            } => {
                let parts = [
                    *args.number(lon)?,
                    *args.number(lat)?,
                    *args.number(width)?,
                    *args.number(height)?,
                ];
                let constant = match [lon, lat, width, height].map(|i| args.constant(i)) {
                    [Some(a), Some(b), Some(w), Some(h)] => {
                        match SkyPoint::new(a, b).and_then(|c| Shape::box_shape(c, w, h)) {
                            Ok(shape) => Some(shape),
                            // A target that writes the box as a literal cannot write this one.
                            Err(e) if self.printer.literal_boxes() => {
                                return Err(type_error(name.pos, format!("BOX: {e}")))
                            }
                            Err(_) => None,
                        }
                    }
                    _ => None,
                };
                let value = Value::Box {
                    args: Box::new(parts),
                    constant,
                };
                (value, AdqlType::Polygon)
            }
            ConstructorArgs::BoxAt {
                center,
                width,
                height,
            } => {
                let (center, width, height) = (
                    args.point(center)?,
                    args.number(width)?,
                    args.number(height)?,
                );
                let value = Value::BoxAt {
                    center,
                    width,
                    height,
                };
                (value, AdqlType::Polygon)
            }
            ConstructorArgs::PolygonNumbers(range) => {
                let mut parts = Vec::with_capacity(range.len());
                let mut constants = Some(Vec::with_capacity(range.len()));
                for i in range {
                    parts.push(*args.number(i)?);
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
                        (Value::PolygonConstant(shape), AdqlType::Polygon)
                    }
                    None => (Value::PolygonNumbers(parts), AdqlType::Polygon),
                }
            }
            ConstructorArgs::PolygonPoints(range) => {
                let mut parts = Vec::with_capacity(range.len());
                for i in range {
                    parts.push(*args.point(i)?);
                }
                (Value::PolygonPoints(parts), AdqlType::Polygon)
            }
            ConstructorArgs::Region(i) => {
                let lit = args.expr(i)?;
                let Expr::String { value, pos } = lit.unnested() else {
                    return Err(type_error(lit.pos(), "REGION takes a string literal"));
                };
                let shape =
                    parse_stcs(value).map_err(|e| unsupported(*pos, format!("REGION: {e}")))?;
                let value = Value::Region {
                    stcs: value.clone(),
                    shape,
                };
                (value, AdqlType::Region)
            }
            ConstructorArgs::Centroid(i) => {
                let (g, t) = args.get(i)?;
                if !t.ty.is_geometry() {
                    return Err(type_error(
                        g.pos(),
                        format!("CENTROID needs a geometry, not {}", t.ty),
                    ));
                }
                let geometry = Box::new(t.clone());
                let geometry = if t.region_column {
                    // Region columns hold STC-S text, which the target may need as its own type.
                    Box::new(Typed::new(Value::RegionGeometry(geometry), t.ty, &t.name))
                } else {
                    geometry
                };
                (Value::Centroid(geometry), AdqlType::Point)
            }
        };
        let name = name.value.to_ascii_lowercase();
        Ok(Typed::new(value, ty, &name))
    }

    pub(super) fn geometry_value(
        &mut self,
        upper: &str,
        args: &[Expr],
    ) -> Result<Typed, AdqlError> {
        let lower = upper.to_ascii_lowercase();
        // The parser has checked the argument counts; a tree built by hand may not have.
        let wrong_count = || {
            AdqlError::syntax(
                args.first().map(Expr::pos).unwrap_or_default(),
                format!("{upper} has the wrong number of arguments"),
            )
        };
        if upper == "DISTANCE" {
            let value = match args {
                [_, _, _, _] => {
                    let mut v = Vec::with_capacity(4);
                    for a in args {
                        v.push(self.numeric(a, "DISTANCE")?);
                    }
                    let coordinates: [Typed; 4] = v.try_into().map_err(|_| wrong_count())?;
                    Value::DistanceCoordinates(Box::new(coordinates))
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
                        pts.push(t);
                    }
                    let [p, q]: [Typed; 2] = pts.try_into().map_err(|_| wrong_count())?;
                    Value::Distance(Box::new(p), Box::new(q))
                }
            };
            return Ok(distance_typed(value));
        }
        if let Some(test) = GeometryTest::from_name(upper) {
            let [a, b] = args else {
                return Err(wrong_count());
            };
            let a = self.geometry(a)?;
            let b = self.geometry(b)?;
            let value = Value::GeometryFlag {
                test,
                a: Box::new(a),
                b: Box::new(b),
            };
            return Ok(Typed::new(value, AdqlType::Integer, &lower));
        }
        let [arg] = args else {
            return Err(wrong_count());
        };
        let g = self.geometry(arg)?;
        match upper {
            "AREA" => {
                let mut t = Typed::new(Value::Area(Box::new(g)), AdqlType::Double, "area");
                t.meta_mut().unit = Some("deg**2".into());
                t.meta_mut().ucd = Some("phys.angArea".into());
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
                let value = Value::Coordinate {
                    point: Box::new(g),
                    second,
                };
                let mut t = Typed::new(value, AdqlType::Double, &lower);
                t.meta_mut().unit = Some("deg".into());
                t.meta_mut().ucd = Some(if second { "pos.eq.dec" } else { "pos.eq.ra" }.into());
                Ok(t)
            }
            // COORDSYS: every geometry here is ICRS.
            _ => Ok(Typed::new(
                Value::Coordsys(Box::new(g)),
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

    /// Argument `i`, which must be a number (a coordinate, radius or size).
    fn number(&self, i: usize) -> Result<Box<Typed>, AdqlError> {
        let (e, t) = self.get(i)?;
        if t.ty.is_numeric() {
            Ok(Box::new(t.clone()))
        } else {
            Err(type_error(
                e.pos(),
                format!("a coordinate must be a number, but `{e}` is {}", t.ty),
            ))
        }
    }

    /// Argument `i`, which must be a point (or of unknown type, e.g. NULL).
    fn point(&self, i: usize) -> Result<Box<Typed>, AdqlError> {
        let (e, t) = self.get(i)?;
        match t.ty {
            AdqlType::Point | AdqlType::Unknown => Ok(Box::new(t.clone())),
            other => Err(type_error(
                e.pos(),
                format!("a POINT is needed here, not {other}"),
            )),
        }
    }
}

fn distance_typed(value: Value) -> Typed {
    let mut t = Typed::new(value, AdqlType::Double, "distance");
    t.meta_mut().unit = Some("deg".into());
    t.meta_mut().ucd = Some("pos.angDistance".into());
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
