//! The printing pass: [`walk`] writes the resolved tree (`crate::resolved`) as SQL, asking one
//! [`Printer`] per target ([`sqlite`], [`postgres`]) how each construct is spelled there.
//!
//! The translator settles names, types and which ADQL construct a piece of the query is, and
//! writes no SQL; a printer settles only how that construct is spelled. Whatever both targets
//! spell the same (joins, `CASE`, arithmetic, aggregates) the walk writes itself with the
//! helpers here.

pub(crate) mod postgres;
pub(crate) mod sqlite;
pub(crate) mod walk;

use skyport_sky::Shape;

use crate::ast::CastTarget;
use crate::resolved::RowId;
use crate::types::AdqlType;

/// CONTAINS or INTERSECTS: the two geometry tests ADQL has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GeometryTest {
    /// `CONTAINS(a, b)`: a lies inside b.
    Contains,
    /// `INTERSECTS(a, b)`: a and b overlap.
    Intersects,
}

impl GeometryTest {
    /// The test an upper-case ADQL function name calls for.
    pub(crate) fn from_name(upper: &str) -> Option<GeometryTest> {
        match upper {
            "CONTAINS" => Some(GeometryTest::Contains),
            "INTERSECTS" => Some(GeometryTest::Intersects),
            _ => None,
        }
    }

    /// The ADQL name, lower case (the `adql_` SQL functions use it).
    pub(crate) fn lower(self) -> &'static str {
        match self {
            GeometryTest::Contains => "contains",
            GeometryTest::Intersects => "intersects",
        }
    }
}

/// A translated geometry operand: its SQL and its ADQL type (pgsphere's operators differ for
/// points and for areas).
#[derive(Debug, Clone, Copy)]
pub(crate) struct GeometryArg<'a> {
    /// The target geometry's SQL.
    pub sql: &'a str,
    /// Its ADQL type.
    pub ty: AdqlType,
}

/// How one SQL target spells what ADQL means. The walk calls the spelling methods with the
/// operands already printed for this target, and they return SQL; `has_rtree` and
/// `literal_boxes` say what the target can do, and are asked during resolution.
pub(crate) trait Printer: Sync {
    // ----- tables and the query's tail ----------------------------------------------------

    /// The SQL name of a catalogue table. Must agree with skyport-store's `ddl::table_name`
    /// (checked by a test in the binary).
    fn table_name(&self, schema: &str, table: &str) -> String;

    /// A base table in FROM under `alias`, restricted by the server's row filter when there
    /// is one.
    fn table_ref(&self, base: &str, alias: &str, filter: Option<&str>, keep_rowid: bool) -> String;

    /// The words after an ORDER BY term.
    fn direction(&self, descending: bool) -> &'static str;

    /// An OFFSET with no LIMIT (some targets need a LIMIT before OFFSET).
    fn offset_only(&self, offset: u64) -> String;

    // ----- values -------------------------------------------------------------------------

    /// An approximate numeric literal (`1.5`, `2e3`, or an integer too large for BIGINT),
    /// given as its SQL digits; ADQL reads these as doubles.
    fn double_literal(&self, digits: String) -> String;

    /// A value converted to text, for `||`.
    fn text(&self, sql: &str) -> String;

    /// A boolean read as 0 or 1, to compare it with a number.
    fn boolean_as_number(&self, sql: &str) -> String;

    /// `x [NOT] LIKE p` or, with `case_insensitive`, ILIKE; ADQL's LIKE is case-sensitive.
    fn like(&self, x: &str, pattern: &str, negated: bool, case_insensitive: bool) -> String;

    /// `CAST(x AS target)`, types already checked.
    fn cast(&self, x: &str, target: CastTarget) -> String;

    /// LOWER or UPPER (`lower` is the lower-case function name).
    fn string_function(&self, lower: &str, x: &str) -> String;

    /// An ADQL math function (`upper` is its upper-case name) of translated numbers.
    fn math(&self, upper: &str, args: &[&str]) -> String;

    /// The SQL function that implements a user-defined function here.
    fn udf_function<'u>(&self, udf: &'u crate::translate::Udf) -> &'u str;

    // ----- geometry -----------------------------------------------------------------------

    /// A region column's STC-S text as a target geometry.
    fn region_geometry(&self, text: &str) -> String;

    /// A target geometry (point, circle, polygon) as DALI text, for the result.
    fn dali_text(&self, geometry: &str) -> String;

    /// A computed region as STC-S text, for the result.
    fn stcs_text(&self, region: &str) -> String;

    /// `POINT(lon, lat)`, in degrees.
    fn point(&self, lon: &str, lat: &str) -> String;

    /// `CIRCLE(lon, lat, r)`, in degrees.
    fn circle(&self, lon: &str, lat: &str, radius: &str) -> String;

    /// `CIRCLE(point, r)`.
    fn circle_at(&self, center: &str, radius: &str) -> String;

    /// `BOX(lon, lat, width, height)`. `constant` is the box when all four are constants
    /// making a valid box.
    fn box_shape(&self, args: &[String; 4], constant: Option<&Shape>) -> String;

    /// True when the target writes a constant BOX as a literal shape, so an invalid constant
    /// box is an error of the query rather than a NULL when it runs.
    fn literal_boxes(&self) -> bool;

    /// `BOX(point, width, height)`.
    fn box_at(&self, center: &str, width: &str, height: &str) -> String;

    /// `POLYGON(lon1, lat1, …)` of computed coordinates.
    fn polygon_numbers(&self, coordinates: &[String]) -> String;

    /// A POLYGON of constant coordinates, already checked.
    fn polygon_constant(&self, shape: &Shape) -> String;

    /// `POLYGON(p1, p2, …)` of points.
    fn polygon_points(&self, points: &[String]) -> String;

    /// `REGION('stcs')`, its text already parsed into `shape`.
    fn region(&self, stcs: &str, shape: &Shape) -> String;

    /// `CENTROID(g)`.
    fn centroid(&self, geometry: &str) -> String;

    /// CONTAINS/INTERSECTS as a condition.
    fn geometry_test(&self, test: GeometryTest, a: GeometryArg<'_>, b: GeometryArg<'_>) -> String;

    /// CONTAINS/INTERSECTS as the integer ADQL defines (1 or 0).
    fn geometry_flag(&self, test: GeometryTest, a: GeometryArg<'_>, b: GeometryArg<'_>) -> String;

    /// `DISTANCE(p, q)` of two points, in degrees.
    fn distance(&self, p: &str, q: &str) -> String;

    /// `DISTANCE(lon1, lat1, lon2, lat2)`, in degrees.
    fn distance_coordinates(&self, coordinates: [&str; 4]) -> String;

    /// `AREA(g)`, in square degrees.
    fn area(&self, geometry: &str) -> String;

    /// `COORD1(p)` (`second` false) or `COORD2(p)`, in degrees.
    fn coordinate(&self, point: &str, second: bool) -> String;

    // ----- spatial index ------------------------------------------------------------------

    /// True when the target has R*Tree indexes whose pre-filters are worth looking for.
    fn has_rtree(&self) -> bool;

    /// The pre-filter keeping the rows of `table` whose R*Tree box (in `index_table`, joined
    /// on the row id) overlaps `shape`'s bounding box.
    fn rtree_overlap(&self, table: &RowId, index_table: &str, shape: &Shape) -> String;
}

/// Quotes an SQL identifier.
pub(crate) fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Quotes an SQL string literal.
pub(crate) fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// The f64 text both targets read back exactly.
pub(crate) fn num(x: f64) -> String {
    let s = format!("{x:?}");
    if s.contains('e') || s.contains('.') || s.contains("inf") || s.contains("NaN") {
        s
    } else {
        format!("{s}.0")
    }
}
