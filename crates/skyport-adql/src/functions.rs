//! ADQL's functions: names, argument counts, and the geometry constructors' argument forms
//! (the optional coordinate system, `CIRCLE(point, r)` beside `CIRCLE(lon, lat, r)`, polygons
//! from numbers or from points).

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

/// Splits a constructor's optional leading coordinate system off and tells its form.
/// `is_point(i)` says whether argument `i` (of `args`) is known to be a point/geometry; when
/// unknown (syntax-only checking), a column is taken as a point only where a number cannot be.
pub fn constructor_form<'a>(
    name: &Ident,
    args: &'a [Expr],
    is_point: &dyn Fn(usize) -> bool,
) -> Result<(Option<&'a Expr>, ConstructorForm<'a>), AdqlError> {
    let upper = name.value.to_ascii_uppercase();
    let bad = |msg: String| Err(AdqlError::syntax(name.pos, msg));
    let first_is_cs = args.first().is_some_and(is_coordsys_literal);
    match upper.as_str() {
        "POINT" => match args {
            [lon, lat] => Ok((None, ConstructorForm::Point { lon, lat })),
            [cs, lon, lat] => Ok((Some(cs), ConstructorForm::Point { lon, lat })),
            _ => bad("POINT takes ([coordsys,] longitude, latitude)".into()),
        },
        "CIRCLE" => {
            let (cs, rest, offset) = match args.len() {
                4 => (args.first(), &args[1..], 1),
                3 if first_is_cs => (args.first(), &args[1..], 1),
                _ => (None, args, 0),
            };
            match rest {
                [lon, lat, radius] => {
                    Ok((cs, ConstructorForm::Circle { lon, lat, radius }))
                }
                [center, radius] if !is_numeric_form(center) || is_point(offset) => {
                    Ok((cs, ConstructorForm::CircleAt { center, radius }))
                }
                _ => bad(
                    "CIRCLE takes ([coordsys,] longitude, latitude, radius) or ([coordsys,] point, radius)"
                        .into(),
                ),
            }
        }
        "BOX" => {
            let (cs, rest, offset) = match args.len() {
                5 => (args.first(), &args[1..], 1),
                4 if first_is_cs => (args.first(), &args[1..], 1),
                _ => (None, args, 0),
            };
            match rest {
                [lon, lat, width, height] => Ok((
                    cs,
                    ConstructorForm::Box {
                        lon,
                        lat,
                        width,
                        height,
                    },
                )),
                [center, width, height] if !is_numeric_form(center) || is_point(offset) => Ok((
                    cs,
                    ConstructorForm::BoxAt {
                        center,
                        width,
                        height,
                    },
                )),
                _ => bad(
                    "BOX takes ([coordsys,] longitude, latitude, width, height) or ([coordsys,] point, width, height)"
                        .into(),
                ),
            }
        }
        "POLYGON" => {
            let (cs, rest, offset) = if first_is_cs {
                (args.first(), &args[1..], 1)
            } else {
                (None, args, 0)
            };
            let any_point = (0..rest.len()).any(|i| is_point(i + offset));
            let any_number = rest.iter().any(is_numeric_form);
            if any_point && any_number {
                return bad(
                    "POLYGON takes either numbers (lon, lat pairs) or points, not both".into(),
                );
            }
            if !any_point && rest.len() >= 6 && rest.len() % 2 == 0 {
                Ok((cs, ConstructorForm::PolygonNumbers(rest)))
            } else if !any_number && rest.len() >= 3 && (any_point || rest.len() % 2 == 1) {
                Ok((cs, ConstructorForm::PolygonPoints(rest)))
            } else if !any_number && !any_point && rest.len() >= 3 {
                // All columns, even count below 6: only points make sense.
                Ok((cs, ConstructorForm::PolygonPoints(rest)))
            } else {
                bad(format!(
                    "POLYGON needs at least three vertices: 6 or more numbers in pairs, or 3 or more points (got {} arguments)",
                    rest.len()
                ))
            }
        }
        "REGION" => match args {
            [s] => match s.unnested() {
                Expr::String { .. } => Ok((None, ConstructorForm::Region(s))),
                _ => bad("REGION takes a string literal".into()),
            },
            _ => bad("REGION takes one string literal".into()),
        },
        "CENTROID" => match args {
            [g] => Ok((None, ConstructorForm::Centroid(g))),
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
