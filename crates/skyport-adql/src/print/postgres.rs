//! PostgreSQL with pgsphere: geometries are pgsphere's `spoint`/`scircle`/`spoly` (radians
//! inside, degrees in ADQL), plus the `skyport_*` SQL functions the store installs for what
//! pgsphere lacks (DALI and STC-S text, boxes, polygons from arrays).

use skyport_sky::{Shape, SkyPoint};

use super::{num, quote, GeometryArg, GeometryTest, Printer};
use crate::ast::CastTarget;
use crate::resolved::RowId;
use crate::translate::Udf;
use crate::types::AdqlType;

/// The PostgreSQL/pgsphere printer.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Postgres;

/// `CAST(x AS double precision)`: PostgreSQL's functions would otherwise pick NUMERIC or
/// integer overloads.
fn dp(x: &str) -> String {
    format!("CAST({x} AS double precision)")
}

fn numeric(x: &str) -> String {
    format!("CAST({x} AS numeric)")
}

impl Printer for Postgres {
    fn table_name(&self, schema: &str, table: &str) -> String {
        if schema.eq_ignore_ascii_case("TAP_UPLOAD") {
            // Uploads are temporary tables of the session.
            format!("pg_temp.{}", quote(table))
        } else {
            format!("{}.{}", quote(schema), quote(table))
        }
    }

    fn table_ref(
        &self,
        base: &str,
        alias: &str,
        filter: Option<&str>,
        _keep_rowid: bool,
    ) -> String {
        match filter {
            Some(pred) => format!("(SELECT * FROM {base} WHERE ({pred})) AS {alias}"),
            None => format!("{base} AS {alias}"),
        }
    }

    fn direction(&self, descending: bool) -> &'static str {
        // ADQL leaves the place of NULLs to the database; PostgreSQL is told SQLite's order
        // (NULLs sort low), so both backends return rows in the same order. The store creates
        // PostgreSQL's B-tree indexes NULLS FIRST, so both directions still use them.
        if descending {
            " DESC NULLS LAST"
        } else {
            " NULLS FIRST"
        }
    }

    fn offset_only(&self, offset: u64) -> String {
        format!(" OFFSET {offset}")
    }

    fn double_literal(&self, digits: String) -> String {
        // PostgreSQL reads a literal with a point or exponent as NUMERIC.
        dp(&digits)
    }

    fn text(&self, sql: &str) -> String {
        format!("CAST({sql} AS text)")
    }

    fn boolean_as_number(&self, sql: &str) -> String {
        format!("CAST({sql} AS INTEGER)")
    }

    fn like(&self, x: &str, pattern: &str, negated: bool, case_insensitive: bool) -> String {
        let not = if negated { "NOT " } else { "" };
        let op = if case_insensitive { "ILIKE" } else { "LIKE" };
        format!("({x} {not}{op} {pattern})")
    }

    fn cast(&self, x: &str, target: CastTarget) -> String {
        match target {
            CastTarget::Timestamp => format!("CAST({x} AS timestamp)"),
            CastTarget::Point => format!("skyport_cast_point({x})"),
            CastTarget::Circle => format!("skyport_cast_circle({x})"),
            CastTarget::Polygon => format!("skyport_cast_polygon({x})"),
            // ADQL's other type names are PostgreSQL's.
            _ => format!("CAST({x} AS {target})"),
        }
    }

    fn string_function(&self, lower: &str, x: &str) -> String {
        format!("{lower}({x})")
    }

    fn math(&self, upper: &str, args: &[&str]) -> String {
        let arg = |i: usize| args.get(i).copied().unwrap_or("NULL");
        match upper {
            "LOG" => format!("ln({})", dp(arg(0))),
            "LOG10" => format!("log({})", dp(arg(0))),
            "RAND" => "random()".into(),
            "MOD" => dp(&format!("mod({}, {})", numeric(arg(0)), numeric(arg(1)))),
            "ROUND" | "TRUNCATE" => {
                // Only the NUMERIC overloads take a number of digits.
                let f = if upper == "ROUND" { "round" } else { "trunc" };
                match args.len() {
                    1 => dp(&format!("{f}({})", numeric(arg(0)))),
                    _ => dp(&format!(
                        "{f}({}, CAST({} AS integer))",
                        numeric(arg(0)),
                        arg(1)
                    )),
                }
            }
            "PI" => "pi()".into(),
            "CEILING" | "FLOOR" | "ABS" | "DEGREES" | "RADIANS" | "EXP" | "SQRT" | "POWER"
            | "ACOS" | "ASIN" | "ATAN" | "ATAN2" | "COS" | "COT" | "SIN" | "TAN" => format!(
                "{}({})",
                upper.to_ascii_lowercase(),
                args.iter().map(|s| dp(s)).collect::<Vec<_>>().join(", ")
            ),
            other => format!("{}({})", other.to_ascii_lowercase(), args.join(", ")),
        }
    }

    fn udf_function<'u>(&self, udf: &'u Udf) -> &'u str {
        &udf.postgres
    }

    fn region_geometry(&self, text: &str) -> String {
        // Region columns hold STC-S text; pgsphere needs its own type.
        format!("skyport_region({text})")
    }

    fn dali_text(&self, geometry: &str) -> String {
        format!("skyport_dali({geometry})")
    }

    fn stcs_text(&self, region: &str) -> String {
        format!("skyport_stcs({region})")
    }

    fn point(&self, lon: &str, lat: &str) -> String {
        format!("spoint(radians({lon}), radians({lat}))")
    }

    fn circle(&self, lon: &str, lat: &str, radius: &str) -> String {
        self.circle_at(&self.point(lon, lat), radius)
    }

    fn circle_at(&self, center: &str, radius: &str) -> String {
        format!("scircle({center}, radians({radius}))")
    }

    fn box_shape(&self, args: &[String; 4], constant: Option<&Shape>) -> String {
        // A constant box is a literal spoly, which pgsphere's index operators can use.
        match constant {
            Some(shape) => pg_literal(shape),
            None => format!("skyport_box({})", args.join(", ")),
        }
    }

    fn literal_boxes(&self) -> bool {
        true
    }

    fn box_at(&self, center: &str, width: &str, height: &str) -> String {
        format!("skyport_box_at({center}, {width}, {height})")
    }

    fn polygon_numbers(&self, coordinates: &[String]) -> String {
        format!(
            "skyport_spoly(ARRAY[{}])",
            coordinates
                .iter()
                .map(|p| format!("radians({p})"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    }

    fn polygon_constant(&self, shape: &Shape) -> String {
        pg_literal(shape)
    }

    fn polygon_points(&self, points: &[String]) -> String {
        format!("skyport_polygon_points({})", points.join(", "))
    }

    fn region(&self, _stcs: &str, shape: &Shape) -> String {
        pg_literal(shape)
    }

    fn centroid(&self, geometry: &str) -> String {
        format!("skyport_centroid({geometry})")
    }

    fn geometry_test(&self, test: GeometryTest, a: GeometryArg<'_>, b: GeometryArg<'_>) -> String {
        let point = |g: &GeometryArg<'_>| g.ty == AdqlType::Point;
        // pgsphere's `<@` (inside) is the test whenever a point is involved; `&&` (overlap)
        // exists only between areas.
        if test == GeometryTest::Contains || point(&a) || point(&b) {
            let (inner, outer) = if test == GeometryTest::Intersects && point(&b) && !point(&a) {
                (b, a)
            } else {
                (a, b)
            };
            format!("({} <@ {})", inner.sql, outer.sql)
        } else {
            format!("({} && {})", a.sql, b.sql)
        }
    }

    fn geometry_flag(&self, test: GeometryTest, a: GeometryArg<'_>, b: GeometryArg<'_>) -> String {
        format!(
            "CASE WHEN {} THEN 1 ELSE 0 END",
            self.geometry_test(test, a, b)
        )
    }

    fn distance(&self, p: &str, q: &str) -> String {
        format!("degrees({p} <-> {q})")
    }

    fn distance_coordinates(&self, [a, b, c, d]: [&str; 4]) -> String {
        self.distance(&self.point(a, b), &self.point(c, d))
    }

    fn area(&self, geometry: &str) -> String {
        format!("skyport_area({geometry})")
    }

    fn coordinate(&self, point: &str, second: bool) -> String {
        let f = if second { "lat" } else { "long" };
        format!("degrees({f}({point}))")
    }

    fn has_rtree(&self) -> bool {
        false
    }

    fn rtree_overlap(&self, _table: &RowId, _index_table: &str, _shape: &Shape) -> String {
        // Never asked for (`has_rtree` is false); a pre-filter that keeps every row is still
        // correct, since the exact test follows it.
        String::from("TRUE")
    }
}

/// A pgsphere literal for a constant shape (degrees, with pgsphere's `d` suffix).
fn pg_literal(shape: &Shape) -> String {
    let pt = |p: &SkyPoint| format!("({}d, {}d)", num(p.ra), num(p.dec));
    match shape {
        Shape::Point(p) => format!("spoint '{}'", pt(p)),
        Shape::Circle { center, radius } => {
            format!("scircle '<{}, {}d>'", pt(center), num(*radius))
        }
        Shape::Polygon(poly) => format!(
            "spoly '{{{}}}'",
            poly.vertices()
                .iter()
                .map(pt)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}
