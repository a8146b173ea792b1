//! The resolved query: what [`crate::translate()`] makes of an [`crate::ast::Query`] once every
//! name is bound to a FROM item (column references are the item's generated alias plus the
//! column's name), every value has its ADQL type and FIELD metadata, every ADQL check has
//! passed, and it is settled which construct each piece is. It holds no SQL text: the printer
//! pass (`crate::print::walk`) turns it into the target's SQL through the dialect's
//! [`crate::print::Printer`].

use skyport_sky::Shape;

use crate::ast::{BinaryOp, CastTarget, JoinKind, SetOp};
use crate::catalogue::ColumnMeta;
use crate::print::GeometryTest;
use crate::translate::Udf;
use crate::types::AdqlType;

/// The SQL name of a query's `i`-th output column (`_c0`, `_c1`, …): select items are
/// printed `AS` it, and a derived table's or set operation's columns are read by it. Its
/// characters need no escaping inside an identifier's quotes.
pub(crate) struct OutputName(pub(crate) usize);

impl std::fmt::Display for OutputName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "_c{}", self.0)
    }
}

/// A resolved value with its type, FIELD metadata and default output name.
#[derive(Debug, Clone)]
pub(crate) struct Typed {
    pub(crate) value: Value,
    pub(crate) ty: AdqlType,
    pub(crate) meta: std::sync::Arc<ColumnMeta>,
    /// Default output name.
    pub(crate) name: String,
    /// A plain reference to a region column (holds STC-S text).
    pub(crate) region_column: bool,
}

impl Typed {
    pub(crate) fn new(value: Value, ty: AdqlType, name: &str) -> Typed {
        Typed {
            value,
            ty,
            meta: std::sync::Arc::default(),
            name: name.to_string(),
            region_column: false,
        }
    }

    /// The FIELD metadata to change, copied first if another value shares it.
    pub(crate) fn meta_mut(&mut self) -> &mut ColumnMeta {
        std::sync::Arc::make_mut(&mut self.meta)
    }
}

/// An operand of a resolved value.
pub(crate) type Operand = Box<Typed>;

/// What a resolved value is.
#[derive(Debug, Clone)]
pub(crate) enum Value {
    /// A column of a FROM item, by the item's generated alias and the column's name there.
    Column {
        alias: String,
        column: String,
    },
    /// An exact integer literal, as written.
    Integer(String),
    /// An approximate (double) literal, as decimal digits with a digit on both sides of any
    /// point.
    Double(String),
    /// A string literal.
    String(String),
    Null,
    /// `(x)`.
    Nested(Operand),
    /// `-x` or `+x`.
    Sign {
        minus: bool,
        operand: Operand,
    },
    /// `a || b`; operands that are not strings are converted to text.
    Concat(Operand, Operand),
    /// `a + b`, `a - b`, `a * b`, `a / b`.
    Arithmetic {
        op: BinaryOp,
        left: Operand,
        right: Operand,
    },
    /// A boolean read as 0 or 1, to compare it with a number.
    BooleanAsNumber(Operand),
    Case {
        operand: Option<Operand>,
        whens: Vec<(When, Typed)>,
        otherwise: Option<Operand>,
    },
    Cast {
        operand: Operand,
        target: CastTarget,
    },
    /// A scalar subquery.
    Subquery(Box<Query>),
    CountStar,
    /// An aggregate (`upper` is its upper-case name) of one value.
    Aggregate {
        upper: String,
        distinct: bool,
        operand: Operand,
    },
    /// An ADQL math function (`upper` is its upper-case name).
    Math {
        upper: String,
        args: Vec<Typed>,
    },
    /// LOWER or UPPER (`lower` is the lower-case function name).
    StringFunction {
        lower: String,
        operand: Operand,
    },
    Coalesce(Vec<Typed>),
    /// IN_UNIT: the value times the conversion factor.
    InUnit {
        operand: Operand,
        factor: f64,
    },
    Udf {
        udf: Udf,
        args: Vec<Typed>,
    },
    /// A region column's STC-S text read as a target geometry.
    RegionGeometry(Operand),
    Point {
        lon: Operand,
        lat: Operand,
    },
    Circle {
        lon: Operand,
        lat: Operand,
        radius: Operand,
    },
    CircleAt {
        center: Operand,
        radius: Operand,
    },
    /// `BOX(lon, lat, width, height)`; `constant` is the box when all four are constants
    /// making a valid box.
    Box {
        args: Box<[Typed; 4]>,
        constant: Option<Shape>,
    },
    BoxAt {
        center: Operand,
        width: Operand,
        height: Operand,
    },
    PolygonNumbers(Vec<Typed>),
    /// A POLYGON of constant, checked coordinates.
    PolygonConstant(Shape),
    PolygonPoints(Vec<Typed>),
    /// `REGION('stcs')` with its text parsed.
    Region {
        stcs: String,
        shape: Shape,
    },
    Centroid(Operand),
    /// CONTAINS/INTERSECTS as the integer ADQL defines.
    GeometryFlag {
        test: GeometryTest,
        a: Operand,
        b: Operand,
    },
    Distance(Operand, Operand),
    DistanceCoordinates(Box<[Typed; 4]>),
    Area(Operand),
    /// COORD1 (`second` false) or COORD2.
    Coordinate {
        point: Operand,
        second: bool,
    },
    /// COORDSYS: 'ICRS' for every geometry that is not NULL.
    Coordsys(Operand),
    /// A target geometry as DALI text, leaving the outermost select list.
    DaliText(Operand),
    /// A computed region as STC-S text, leaving the outermost select list.
    StcsText(Operand),
}

/// The test of one `WHEN` of a CASE.
#[derive(Debug, Clone)]
pub(crate) enum When {
    /// A simple CASE compares its operand with this value.
    Value(Box<Typed>),
    /// A searched CASE's condition.
    Condition(Condition),
}

/// A resolved search condition (WHERE, HAVING, ON, CASE WHEN).
#[derive(Debug, Clone)]
pub(crate) enum Condition {
    /// `(c)`.
    Nested(Box<Condition>),
    /// Trusted SQL from the server (a row filter), printed as it is, in parentheses.
    Raw(String),
    Not(Box<Condition>),
    /// AND (`and`) or OR.
    Logic {
        and: bool,
        left: Box<Condition>,
        right: Box<Condition>,
    },
    /// `a = b`, `a < b`…; a boolean compared with a number is already read as one.
    Compare {
        op: BinaryOp,
        left: Operand,
        right: Operand,
    },
    Between {
        operand: Operand,
        low: Operand,
        high: Operand,
        negated: bool,
    },
    InList {
        operand: Operand,
        items: Vec<Typed>,
        negated: bool,
    },
    /// `x IN (SELECT …)`.
    InSubquery {
        operand: Operand,
        query: Box<Query>,
        negated: bool,
    },
    Like {
        operand: Operand,
        pattern: Operand,
        negated: bool,
        case_insensitive: bool,
    },
    IsNull {
        operand: Operand,
        negated: bool,
    },
    /// `EXISTS (SELECT …)`.
    Exists {
        query: Box<Query>,
        negated: bool,
    },
    /// CONTAINS/INTERSECTS compared with 1 (`holds`) or 0, as the target's geometry test,
    /// behind an R*Tree pre-filter when one applies.
    GeometryTest {
        test: GeometryTest,
        a: Operand,
        b: Operand,
        holds: bool,
        prefilter: Option<Prefilter>,
    },
    /// A condition behind an R*Tree pre-filter.
    Prefiltered {
        prefilter: Prefilter,
        exact: Box<Condition>,
    },
}

/// The rows of one table whose R*Tree bounding box overlaps a constant shape's.
#[derive(Debug, Clone)]
pub(crate) struct Prefilter {
    pub(crate) table: RowId,
    /// The R*Tree's table.
    pub(crate) index_table: String,
    pub(crate) shape: Shape,
}

/// How an R*Tree's ids join a FROM item: its generated alias, and whether it is a base table
/// restricted by a row filter (whose row id a subquery carries under another name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RowId {
    pub(crate) alias: String,
    pub(crate) filtered: bool,
}

/// A resolved query: its common table expressions under their generated names, and its
/// body.
#[derive(Debug, Clone)]
pub(crate) struct Query {
    pub(crate) with: Vec<Cte>,
    pub(crate) body: QueryBody,
}

impl Query {
    /// A query of just this body.
    pub(crate) fn of(body: QueryBody) -> Query {
        Query {
            with: Vec::new(),
            body,
        }
    }
}

/// A common table expression under its generated name (`_w1`…).
#[derive(Debug, Clone)]
pub(crate) struct Cte {
    pub(crate) name: String,
    pub(crate) query: Query,
}

#[derive(Debug, Clone)]
pub(crate) enum QueryBody {
    /// One SELECT, which carries the query's ORDER BY and OFFSET itself.
    Select(Box<Select>),
    /// A set operation, ordered by output columns (index, descending).
    Set {
        operation: SetExpr,
        order_by: Vec<(usize, bool)>,
        offset: Option<u64>,
    },
}

/// An operand of a set operation.
#[derive(Debug, Clone)]
pub(crate) enum SetExpr {
    Select(Box<Select>),
    /// `SELECT * FROM (query) AS alias`: an operand with its own TOP, ORDER BY or set
    /// operation, kept whole.
    Wrapped {
        query: Box<Query>,
        alias: String,
    },
    Operation {
        op: SetOp,
        all: bool,
        left: Box<SetExpr>,
        right: Box<SetExpr>,
    },
}

/// One SELECT; its items are output as `_c0`, `_c1`… in order.
#[derive(Debug, Clone)]
pub(crate) struct Select {
    pub(crate) distinct: bool,
    pub(crate) items: Vec<Typed>,
    pub(crate) from: Vec<From>,
    pub(crate) selection: Option<Condition>,
    pub(crate) group_by: Vec<Typed>,
    pub(crate) having: Option<Condition>,
    /// Terms and whether each is descending.
    pub(crate) order_by: Vec<(Typed, bool)>,
    pub(crate) limit: Option<u64>,
    pub(crate) offset: Option<u64>,
}

/// A FROM item under its generated alias.
#[derive(Debug, Clone)]
pub(crate) enum From {
    /// A catalogue table, restricted by the server's row filter (trusted SQL over the
    /// table's columns, from the options) when it has one.
    Table {
        schema: String,
        table: String,
        alias: String,
        filter: Option<String>,
        /// Whether the spatial pre-filter reads its row ids (only tables with a spatial
        /// index have them; views have none).
        keep_rowid: bool,
    },
    /// A common table expression, by its generated name.
    Cte {
        name: String,
        alias: String,
    },
    Derived {
        query: Box<Query>,
        alias: String,
    },
    Nested(Box<From>),
    Join {
        left: Box<From>,
        right: Box<From>,
        kind: JoinKind,
        /// None: a CROSS JOIN (inner) or an outer join on nothing.
        on: Option<JoinOn>,
    },
}

#[derive(Debug, Clone)]
pub(crate) enum JoinOn {
    Condition(Condition),
    /// USING or NATURAL: the pairs of columns that must be equal (none: every pair of rows).
    Using(Vec<(Typed, Typed)>),
}
