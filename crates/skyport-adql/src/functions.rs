//! ADQL's functions: names, argument counts, and the geometry constructors' argument forms
//! (the optional coordinate system, `CIRCLE(point, r)` beside `CIRCLE(lon, lat, r)`, polygons
//! from numbers or from points).

use std::ops::Range;

use crate::ast::{Expr, Ident, UnaryOp};
use crate::error::{AdqlError, ErrorKind};

/// What kind of function a name is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// ADQL math/trig: double in, double out.
    Math,
    /// COUNT, AVG, MIN, MAX, SUM.
    Aggregate,
    /// LOWER, UPPER.
    String,
    /// COALESCE.
    Coalesce,
    /// IN_UNIT.
    InUnit,
    /// POINT, CIRCLE, BOX, POLYGON, REGION, CENTROID: make a geometry.
    GeometryConstructor,
    /// CONTAINS, INTERSECTS, DISTANCE, AREA, COORD1, COORD2, COORDSYS: take geometries.
    GeometryValue,
}

/// One built-in function.
#[derive(Debug, Clone, Copy)]
pub struct Builtin {
    /// Upper-case name.
    pub name: &'static str,
    /// Fewest arguments.
    pub min: usize,
    /// Most arguments.
    pub max: usize,
    /// Its kind.
    pub kind: Kind,
}

const fn b(name: &'static str, min: usize, max: usize, kind: Kind) -> Builtin {
    Builtin {
        name,
        min,
        max,
        kind,
    }
}

/// Every function ADQL 2.1 defines, mandatory and optional.
pub const BUILTINS: &[Builtin] = &[
    b("ABS", 1, 1, Kind::Math),
    b("CEILING", 1, 1, Kind::Math),
    b("DEGREES", 1, 1, Kind::Math),
    b("EXP", 1, 1, Kind::Math),
    b("FLOOR", 1, 1, Kind::Math),
    b("LOG", 1, 1, Kind::Math),
    b("LOG10", 1, 1, Kind::Math),
    b("MOD", 2, 2, Kind::Math),
    b("PI", 0, 0, Kind::Math),
    b("POWER", 2, 2, Kind::Math),
    b("RADIANS", 1, 1, Kind::Math),
    b("SQRT", 1, 1, Kind::Math),
    b("RAND", 0, 1, Kind::Math),
    b("ROUND", 1, 2, Kind::Math),
    b("TRUNCATE", 1, 2, Kind::Math),
    b("ACOS", 1, 1, Kind::Math),
    b("ASIN", 1, 1, Kind::Math),
    b("ATAN", 1, 1, Kind::Math),
    b("ATAN2", 2, 2, Kind::Math),
    b("COS", 1, 1, Kind::Math),
    b("COT", 1, 1, Kind::Math),
    b("SIN", 1, 1, Kind::Math),
    b("TAN", 1, 1, Kind::Math),
    b("COUNT", 1, 1, Kind::Aggregate),
    b("AVG", 1, 1, Kind::Aggregate),
    b("MIN", 1, 1, Kind::Aggregate),
    b("MAX", 1, 1, Kind::Aggregate),
    b("SUM", 1, 1, Kind::Aggregate),
    b("LOWER", 1, 1, Kind::String),
    b("UPPER", 1, 1, Kind::String),
    b("COALESCE", 1, usize::MAX, Kind::Coalesce),
    b("IN_UNIT", 2, 2, Kind::InUnit),
    b("POINT", 2, 3, Kind::GeometryConstructor),
    b("CIRCLE", 2, 4, Kind::GeometryConstructor),
    b("BOX", 3, 5, Kind::GeometryConstructor),
    b("POLYGON", 3, usize::MAX, Kind::GeometryConstructor),
    b("REGION", 1, 1, Kind::GeometryConstructor),
    b("CENTROID", 1, 1, Kind::GeometryConstructor),
    b("CONTAINS", 2, 2, Kind::GeometryValue),
    b("INTERSECTS", 2, 2, Kind::GeometryValue),
    b("DISTANCE", 2, 4, Kind::GeometryValue),
    b("AREA", 1, 1, Kind::GeometryValue),
    b("COORD1", 1, 1, Kind::GeometryValue),
    b("COORD2", 1, 1, Kind::GeometryValue),
    b("COORDSYS", 1, 1, Kind::GeometryValue),
];

/// The built-in function of this name (case-insensitive).
pub fn builtin(name: &str) -> Option<&'static Builtin> {
    BUILTINS.iter().find(|f| f.name.eq_ignore_ascii_case(name))
}

/// True for COUNT, AVG, MIN, MAX, SUM (upper-case name).
pub fn is_aggregate(upper: &str) -> bool {
    matches!(upper, "COUNT" | "AVG" | "MIN" | "MAX" | "SUM")
}

/// True when `name` has the shape of a user-defined function: `prefix_rest`, as ADQL asks UDF
/// names to carry a prefix (`ivo_`, `gavo_`, …).
pub fn looks_like_udf(name: &str) -> bool {
    match name.split_once('_') {
        Some((prefix, rest)) => !prefix.is_empty() && !rest.is_empty(),
        None => false,
    }
}

/// Whether a call makes a geometry or another value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GeometryShape {
    /// A geometry value.
    Geometry,
    /// Any other value.
    Value,
}

/// True for a string literal or NULL: what a coordinate-system argument looks like.
fn is_coordsys_literal(e: &Expr) -> bool {
    matches!(e.unnested(), Expr::String { .. } | Expr::Null(_))
}

/// True when the expression is certainly a number, not a point: a numeric literal, a signed
/// one, or arithmetic.
pub fn is_numeric_form(e: &Expr) -> bool {
    match e.unnested() {
        Expr::Number { .. } | Expr::Binary { .. } => true,
        Expr::Unary { op, .. } => *op != UnaryOp::Not,
        _ => false,
    }
}

/// A geometry constructor call with its coordinate-system argument split off and its form told.
#[derive(Debug, Clone, Copy)]
pub enum ConstructorForm<'a> {
    /// `POINT(lon, lat)`.
    Point {
        /// Longitude.
        lon: &'a Expr,
        /// Latitude.
        lat: &'a Expr,
    },
    /// `CIRCLE(lon, lat, r)`.
    Circle {
        /// Centre longitude.
        lon: &'a Expr,
        /// Centre latitude.
        lat: &'a Expr,
        /// Radius (degrees).
        radius: &'a Expr,
    },
    /// `CIRCLE(point, r)`.
    CircleAt {
        /// Centre.
        center: &'a Expr,
        /// Radius (degrees).
        radius: &'a Expr,
    },
    /// `BOX(lon, lat, width, height)`.
    Box {
        /// Centre longitude.
        lon: &'a Expr,
        /// Centre latitude.
        lat: &'a Expr,
        /// Full width.
        width: &'a Expr,
        /// Full height.
        height: &'a Expr,
    },
    /// `BOX(point, width, height)`.
    BoxAt {
        /// Centre.
        center: &'a Expr,
        /// Full width.
        width: &'a Expr,
        /// Full height.
        height: &'a Expr,
    },
    /// `POLYGON(lon1, lat1, lon2, lat2, …)`.
    PolygonNumbers(&'a [Expr]),
    /// `POLYGON(p1, p2, p3, …)`.
    PolygonPoints(&'a [Expr]),
    /// `REGION('…')`.
    Region(&'a Expr),
    /// `CENTROID(g)`.
    Centroid(&'a Expr),
}

/// A geometry constructor call's form, with each part given as the index of its argument in
/// the call's argument list. The translator keeps one translated value per argument, so an
/// index finds the right one with no searching; [`ConstructorForm`] is the same form with the
/// arguments themselves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConstructorArgs {
    /// `POINT(lon, lat)`.
    Point {
        /// Longitude.
        lon: usize,
        /// Latitude.
        lat: usize,
    },
    /// `CIRCLE(lon, lat, r)`.
    Circle {
        /// Centre longitude.
        lon: usize,
        /// Centre latitude.
        lat: usize,
        /// Radius (degrees).
        radius: usize,
    },
    /// `CIRCLE(point, r)`.
    CircleAt {
        /// Centre.
        center: usize,
        /// Radius (degrees).
        radius: usize,
    },
    /// `BOX(lon, lat, width, height)`.
    Box {
        /// Centre longitude.
        lon: usize,
        /// Centre latitude.
        lat: usize,
        /// Full width.
        width: usize,
        /// Full height.
        height: usize,
    },
    /// `BOX(point, width, height)`.
    BoxAt {
        /// Centre.
        center: usize,
        /// Full width.
        width: usize,
        /// Full height.
        height: usize,
    },
    /// `POLYGON(lon1, lat1, lon2, lat2, …)`: the arguments in this range.
    PolygonNumbers(Range<usize>),
    /// `POLYGON(p1, p2, p3, …)`: the arguments in this range.
    PolygonPoints(Range<usize>),
    /// `REGION('…')`.
    Region(usize),
    /// `CENTROID(g)`.
    Centroid(usize),
}

/// Splits a constructor's optional leading coordinate system off and tells its form.
/// `is_point(i)` says whether argument `i` (of `args`) is known to be a point/geometry; when
/// unknown (syntax-only checking), a column is taken as a point only where a number cannot be.
pub fn constructor_form<'a>(
    name: &Ident,
    args: &'a [Expr],
    is_point: &dyn Fn(usize) -> bool,
) -> Result<(Option<&'a Expr>, ConstructorForm<'a>), AdqlError> {
    let (cs, form) = constructor_args(name, args, is_point)?;
    // The indexes come from `args` itself, so every lookup succeeds; an error (not a panic)
    // keeps that promise checked.
    let at = |i: usize| {
        args.get(i).ok_or_else(|| {
            AdqlError::syntax(name.pos, format!("{name}: argument {} is missing", i + 1))
        })
    };
    let range = |r: Range<usize>| {
        args.get(r.clone()).ok_or_else(|| {
            AdqlError::syntax(name.pos, format!("{name}: arguments {r:?} are missing"))
        })
    };
    let cs = cs.map(at).transpose()?;
    let form = match form {
        ConstructorArgs::Point { lon, lat } => ConstructorForm::Point {
            lon: at(lon)?,
            lat: at(lat)?,
        },
        ConstructorArgs::Circle { lon, lat, radius } => ConstructorForm::Circle {
            lon: at(lon)?,
            lat: at(lat)?,
            radius: at(radius)?,
        },
        ConstructorArgs::CircleAt { center, radius } => ConstructorForm::CircleAt {
            center: at(center)?,
            radius: at(radius)?,
        },
        ConstructorArgs::Box {
            lon,
            lat,
            width,
            height,
        } => ConstructorForm::Box {
            lon: at(lon)?,
            lat: at(lat)?,
            width: at(width)?,
            height: at(height)?,
        },
        ConstructorArgs::BoxAt {
            center,
            width,
            height,
        } => ConstructorForm::BoxAt {
            center: at(center)?,
            width: at(width)?,
            height: at(height)?,
        },
        ConstructorArgs::PolygonNumbers(r) => ConstructorForm::PolygonNumbers(range(r)?),
        ConstructorArgs::PolygonPoints(r) => ConstructorForm::PolygonPoints(range(r)?),
        ConstructorArgs::Region(i) => ConstructorForm::Region(at(i)?),
        ConstructorArgs::Centroid(i) => ConstructorForm::Centroid(at(i)?),
    };
    Ok((cs, form))
}

/// [`constructor_form`] as argument indexes: the index of the coordinate-system argument, if
/// there is one, and the form.
pub fn constructor_args(
    name: &Ident,
    args: &[Expr],
    is_point: &dyn Fn(usize) -> bool,
) -> Result<(Option<usize>, ConstructorArgs), AdqlError> {
    let upper = name.value.to_ascii_uppercase();
    let bad = |msg: String| Err(AdqlError::syntax(name.pos, msg));
    let first_is_cs = args.first().is_some_and(is_coordsys_literal);
    // With a leading coordinate system the form's arguments start at 1.
    let split = |with_cs: bool| if with_cs { (Some(0), 1) } else { (None, 0) };
    match upper.as_str() {
        "POINT" => match args.len() {
            2 => Ok((None, ConstructorArgs::Point { lon: 0, lat: 1 })),
            3 => Ok((Some(0), ConstructorArgs::Point { lon: 1, lat: 2 })),
            _ => bad("POINT takes ([coordsys,] longitude, latitude)".into()),
        },
        "CIRCLE" => {
            let (cs, o) = split(args.len() == 4 || (args.len() == 3 && first_is_cs));
            match args.get(o..).unwrap_or_default() {
                [_, _, _] => Ok((
                    cs,
                    ConstructorArgs::Circle {
                        lon: o,
                        lat: o + 1,
                        radius: o + 2,
                    },
                )),
                [center, _] if !is_numeric_form(center) || is_point(o) => Ok((
                    cs,
                    ConstructorArgs::CircleAt {
                        center: o,
                        radius: o + 1,
                    },
                )),
                _ => bad(
                    "CIRCLE takes ([coordsys,] longitude, latitude, radius) or ([coordsys,] point, radius)"
                        .into(),
                ),
            }
        }
        "BOX" => {
            let (cs, o) = split(args.len() == 5 || (args.len() == 4 && first_is_cs));
            match args.get(o..).unwrap_or_default() {
                [_, _, _, _] => Ok((
                    cs,
                    ConstructorArgs::Box {
                        lon: o,
                        lat: o + 1,
                        width: o + 2,
                        height: o + 3,
                    },
                )),
                [center, _, _] if !is_numeric_form(center) || is_point(o) => Ok((
                    cs,
                    ConstructorArgs::BoxAt {
                        center: o,
                        width: o + 1,
                        height: o + 2,
                    },
                )),
                _ => bad(
                    "BOX takes ([coordsys,] longitude, latitude, width, height) or ([coordsys,] point, width, height)"
                        .into(),
                ),
            }
        }
        "POLYGON" => {
            let (cs, o) = split(first_is_cs);
            let rest = args.get(o..).unwrap_or_default();
            let all = o..args.len();
            let any_point = all.clone().any(is_point);
            let any_number = rest.iter().any(is_numeric_form);
            if any_point && any_number {
                return bad(
                    "POLYGON takes either numbers (lon, lat pairs) or points, not both".into(),
                );
            }
            if !any_point && rest.len() >= 6 && rest.len() % 2 == 0 {
                Ok((cs, ConstructorArgs::PolygonNumbers(all)))
            } else if !any_number && rest.len() >= 3 && (any_point || rest.len() % 2 == 1) {
                Ok((cs, ConstructorArgs::PolygonPoints(all)))
            } else if !any_number && !any_point && rest.len() >= 3 {
                // All columns, even count below 6: only points make sense.
                Ok((cs, ConstructorArgs::PolygonPoints(all)))
            } else {
                bad(format!(
                    "POLYGON needs at least three vertices: 6 or more numbers in pairs, or 3 or more points (got {} arguments)",
                    rest.len()
                ))
            }
        }
        "REGION" => match args {
            [s] => match s.unnested() {
                Expr::String { .. } => Ok((None, ConstructorArgs::Region(0))),
                _ => bad("REGION takes a string literal".into()),
            },
            _ => bad("REGION takes one string literal".into()),
        },
        "CENTROID" => match args {
            [_] => Ok((None, ConstructorArgs::Centroid(0))),
            _ => bad("CENTROID takes one geometry".into()),
        },
        _ => bad(format!("{upper} is not a geometry constructor")),
    }
}

/// Syntax-level check of a call: the function exists (or looks like a UDF), the argument count
/// fits, and geometry constructors have a valid argument form. Tells whether the call makes a
/// geometry.
pub fn check_syntax(
    name: &Ident,
    args: &[Expr],
    star: bool,
    is_geometry: impl Fn(usize) -> bool,
) -> Result<GeometryShape, AdqlError> {
    let upper = name.value.to_ascii_uppercase();
    let Some(f) = builtin(&upper) else {
        if looks_like_udf(&name.value) {
            return Ok(GeometryShape::Value);
        }
        return Err(AdqlError::new(
            ErrorKind::Name,
            name.pos,
            format!("unknown function {}", name.value),
        )
        .with_hint(crate::suggest::closest(
            &name.value,
            BUILTINS.iter().map(|b| b.name),
        )));
    };
    let n = args.len() + usize::from(star);
    if n < f.min || n > f.max {
        let expected = if f.min == f.max {
            format!("{}", f.min)
        } else if f.max == usize::MAX {
            format!("at least {}", f.min)
        } else {
            format!("{} to {}", f.min, f.max)
        };
        return Err(AdqlError::syntax(
            name.pos,
            format!("{upper} takes {expected} argument(s), not {n}"),
        ));
    }
    if f.name == "DISTANCE" && n == 3 {
        return Err(AdqlError::syntax(
            name.pos,
            "DISTANCE takes (point, point) or (lon1, lat1, lon2, lat2)",
        ));
    }
    match f.kind {
        Kind::GeometryConstructor => {
            constructor_form(name, args, &is_geometry)?;
            Ok(GeometryShape::Geometry)
        }
        _ => Ok(GeometryShape::Value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The arguments of `NAME(args)` as the parser makes them.
    fn call(text: &str) -> (Ident, Vec<Expr>) {
        let q = crate::parse(&format!("SELECT {text} FROM t")).expect("parses");
        let crate::ast::SetExpr::Select(s) = &q.body else {
            panic!("not a select: {text}");
        };
        match s.items.first() {
            Some(crate::ast::SelectItem::Expr {
                expr: Expr::Function { name, args, .. },
                ..
            }) => (name.clone(), args.clone()),
            other => panic!("not a call: {other:?}"),
        }
    }

    fn args_of(text: &str, points: &[usize]) -> (Option<usize>, ConstructorArgs) {
        let (name, args) = call(text);
        constructor_args(&name, &args, &|i| points.contains(&i)).expect("a constructor")
    }

    #[test]
    fn constructor_parts_are_the_arguments_after_the_coordinate_system() {
        assert_eq!(
            args_of("POINT('ICRS', a, b)", &[]),
            (Some(0), ConstructorArgs::Point { lon: 1, lat: 2 })
        );
        assert_eq!(
            args_of("POINT(a, b)", &[]),
            (None, ConstructorArgs::Point { lon: 0, lat: 1 })
        );
        assert_eq!(
            args_of("CIRCLE('ICRS', a, b, 2)", &[]),
            (
                Some(0),
                ConstructorArgs::Circle {
                    lon: 1,
                    lat: 2,
                    radius: 3
                }
            )
        );
        // A column known to be a point makes the two-argument form.
        assert_eq!(
            args_of("CIRCLE('ICRS', p, 2)", &[1]),
            (
                Some(0),
                ConstructorArgs::CircleAt {
                    center: 1,
                    radius: 2
                }
            )
        );
        assert_eq!(
            args_of("BOX(p, 1, 2)", &[0]),
            (
                None,
                ConstructorArgs::BoxAt {
                    center: 0,
                    width: 1,
                    height: 2
                }
            )
        );
        assert_eq!(
            args_of("BOX(NULL, a, b, 1, 2)", &[]),
            (
                Some(0),
                ConstructorArgs::Box {
                    lon: 1,
                    lat: 2,
                    width: 3,
                    height: 4
                }
            )
        );
        assert_eq!(
            args_of("POLYGON('ICRS', 1, 2, 3, 4, 5, 6)", &[]),
            (Some(0), ConstructorArgs::PolygonNumbers(1..7))
        );
        assert_eq!(
            args_of("POLYGON(p, q, r)", &[0, 1, 2]),
            (None, ConstructorArgs::PolygonPoints(0..3))
        );
        assert_eq!(
            args_of("CENTROID(g)", &[]),
            (None, ConstructorArgs::Centroid(0))
        );
    }

    #[test]
    fn constructor_form_hands_back_the_arguments_the_indexes_name() {
        let (name, args) = call("CIRCLE('ICRS', a, b, 2)");
        let (cs, form) = constructor_form(&name, &args, &|_| false).expect("a circle");
        assert!(cs.is_some_and(|c| std::ptr::eq(c, &args[0])));
        let ConstructorForm::Circle { lon, lat, radius } = form else {
            panic!("{form:?}");
        };
        assert!(std::ptr::eq(lon, &args[1]));
        assert!(std::ptr::eq(lat, &args[2]));
        assert!(std::ptr::eq(radius, &args[3]));
    }
}
