//! SQLite with skyport's Rust functions registered (`skyport-store`'s `sqlite_functions`):
//! ADQL's functions and geometries are `adql_*` functions over encoded geometry blobs, and
//! constant shapes can use a table's R*Tree of bounding boxes in unit-vector space.

use skyport_sky::Shape;

use super::{literal, num, quote, GeometryArg, GeometryTest, Printer};
use crate::ast::CastTarget;
use crate::resolved::RowId;
use crate::translate::Udf;

/// The SQLite printer.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Sqlite;

impl Printer for Sqlite {
    fn table_name(&self, schema: &str, table: &str) -> String {
        quote(&format!("{schema}.{table}"))
    }

    fn table_ref(&self, base: &str, alias: &str, filter: Option<&str>, keep_rowid: bool) -> String {
        match filter {
            Some(pred) if !keep_rowid => {
                format!("(SELECT * FROM {base} WHERE ({pred})) AS {alias}")
            }
            // A subquery hides the table's own rowid, so it is carried out under a name.
            Some(pred) => {
                format!("(SELECT *, rowid AS \"_rowid\" FROM {base} WHERE ({pred})) AS {alias}")
            }
            None => format!("{base} AS {alias}"),
        }
    }

    fn direction(&self, descending: bool) -> &'static str {
        // SQLite sorts NULLs low, the order PostgreSQL is told to follow.
        if descending {
            " DESC"
        } else {
            ""
        }
    }

    fn offset_only(&self, offset: u64) -> String {
        format!(" LIMIT -1 OFFSET {offset}")
    }

    fn double_literal(&self, digits: String) -> String {
        digits
    }

    fn text(&self, sql: &str) -> String {
        format!("CAST({sql} AS TEXT)")
    }

    fn boolean_as_number(&self, sql: &str) -> String {
        // SQLite stores booleans as 0 and 1 already.
        sql.to_string()
    }

    fn like(&self, x: &str, pattern: &str, negated: bool, case_insensitive: bool) -> String {
        // SQLite's own LIKE ignores ASCII case; ADQL's LIKE must not.
        let not = if negated { "NOT " } else { "" };
        let f = if case_insensitive {
            "adql_ilike"
        } else {
            "adql_like"
        };
        format!("({not}{f}({x}, {pattern}))")
    }

    fn cast(&self, x: &str, target: CastTarget) -> String {
        match target {
            // SQLite's CAST truncates silently; ADQL wants range and text checks.
            CastTarget::SmallInt | CastTarget::Integer | CastTarget::BigInt => {
                format!("adql_cast_integer({x}, '{target}')")
            }
            CastTarget::Real | CastTarget::Double => format!("CAST({x} AS REAL)"),
            CastTarget::Char(n) | CastTarget::VarChar(n) => {
                let text = format!("CAST({x} AS TEXT)");
                match n.map(|v| u32::try_from(v).unwrap_or(u32::MAX)) {
                    Some(n) => format!("substr({text}, 1, {n})"),
                    None => text,
                }
            }
            CastTarget::Timestamp => format!("adql_timestamp({x})"),
            CastTarget::Point => format!("adql_cast_point({x})"),
            CastTarget::Circle => format!("adql_cast_circle({x})"),
            CastTarget::Polygon => format!("adql_cast_polygon({x})"),
        }
    }

    fn string_function(&self, lower: &str, x: &str) -> String {
        format!("adql_{lower}({x})")
    }

    fn math(&self, upper: &str, args: &[&str]) -> String {
        match upper {
            "PI" => "3.141592653589793".into(),
            "ABS" => format!("abs({})", args.first().copied().unwrap_or("NULL")),
            _ => format!("adql_{}({})", upper.to_ascii_lowercase(), args.join(", ")),
        }
    }

    fn udf_function<'u>(&self, udf: &'u Udf) -> &'u str {
        &udf.sqlite
    }

    fn region_geometry(&self, text: &str) -> String {
        // The adql_ functions read STC-S text where they expect a geometry.
        text.to_string()
    }

    fn dali_text(&self, geometry: &str) -> String {
        format!("adql_dali({geometry})")
    }

    fn stcs_text(&self, region: &str) -> String {
        format!("adql_stcs({region})")
    }

    fn point(&self, lon: &str, lat: &str) -> String {
        format!("adql_point({lon}, {lat})")
    }

    fn circle(&self, lon: &str, lat: &str, radius: &str) -> String {
        format!("adql_circle({lon}, {lat}, {radius})")
    }

    fn circle_at(&self, center: &str, radius: &str) -> String {
        format!("adql_circle_at({center}, {radius})")
    }

    fn box_shape(&self, args: &[String; 4], _constant: Option<&Shape>) -> String {
        // adql_box checks its arguments itself when the query runs.
        format!("adql_box({})", args.join(", "))
    }

    fn literal_boxes(&self) -> bool {
        false
    }

    fn box_at(&self, center: &str, width: &str, height: &str) -> String {
        format!("adql_box_at({center}, {width}, {height})")
    }

    fn polygon_numbers(&self, coordinates: &[String]) -> String {
        format!("adql_polygon({})", coordinates.join(", "))
    }

    fn polygon_constant(&self, shape: &Shape) -> String {
        // One text argument rather than two per vertex: SQLite caps a function at 127
        // arguments, which would limit literal polygons to 63 vertices.
        format!("adql_cast_polygon({})", literal(&shape.to_dali_text()))
    }

    fn polygon_points(&self, points: &[String]) -> String {
        format!("adql_polygon_points({})", points.join(", "))
    }

    fn region(&self, stcs: &str, _shape: &Shape) -> String {
        format!("adql_region({})", literal(stcs))
    }

    fn centroid(&self, geometry: &str) -> String {
        format!("adql_centroid({geometry})")
    }

    fn geometry_test(&self, test: GeometryTest, a: GeometryArg<'_>, b: GeometryArg<'_>) -> String {
        format!("{} = 1", self.geometry_flag(test, a, b))
    }

    fn geometry_flag(&self, test: GeometryTest, a: GeometryArg<'_>, b: GeometryArg<'_>) -> String {
        format!("adql_{}({}, {})", test.lower(), a.sql, b.sql)
    }

    fn distance(&self, p: &str, q: &str) -> String {
        format!("adql_distance({p}, {q})")
    }

    fn distance_coordinates(&self, [a, b, c, d]: [&str; 4]) -> String {
        format!("adql_distance4({a}, {b}, {c}, {d})")
    }

    fn area(&self, geometry: &str) -> String {
        format!("adql_area({geometry})")
    }

    fn coordinate(&self, point: &str, second: bool) -> String {
        let f = if second { "adql_coord2" } else { "adql_coord1" };
        format!("{f}({point})")
    }

    fn has_rtree(&self) -> bool {
        true
    }

    fn rtree_overlap(&self, table: &RowId, index_table: &str, shape: &Shape) -> String {
        let b = shape.bounding_box();
        let rowid = if table.filtered {
            format!("{}.\"_rowid\"", table.alias)
        } else {
            format!("{}.rowid", table.alias)
        };
        format!(
            "{rowid} IN (SELECT id FROM {} WHERE maxX >= {} AND minX <= {} AND maxY >= {} AND minY <= {} AND maxZ >= {} AND minZ <= {})",
            quote(index_table),
            num(b[0]),
            num(b[1]),
            num(b[2]),
            num(b[3]),
            num(b[4]),
            num(b[5])
        )
    }
}
