//! The printing pass: walks the resolved tree ([`crate::resolved`]) and writes the target's
//! SQL, asking the dialect's [`Printer`] for whatever the targets spell differently and
//! writing the rest (joins, `CASE`, arithmetic, aggregates) the same for both.

use std::fmt::Write;

use super::{literal, num, quote, GeometryArg, Printer};
use crate::ast::{CastTarget, JoinKind};
use crate::resolved::{
    Condition, From, JoinOn, OutputName, Query, QueryBody, Select, SetExpr, Typed, Value, When,
};
use crate::types::AdqlType;

/// The printing pass for one target.
#[derive(Clone, Copy)]
pub(crate) struct Walk<'p> {
    printer: &'p dyn Printer,
}

impl<'p> Walk<'p> {
    pub(crate) fn new(printer: &'p dyn Printer) -> Self {
        Walk { printer }
    }

    /// The SQL of a resolved value.
    pub(crate) fn value(&self, t: &Typed) -> String {
        let p = self.printer;
        let v = |t: &Typed| self.value(t);
        let list = |ts: &[Typed]| ts.iter().map(v).collect::<Vec<_>>();
        match &t.value {
            Value::Column { alias, column } => format!("{alias}.{}", quote(column)),
            Value::Integer(digits) => digits.clone(),
            Value::Double(digits) => p.double_literal(digits.clone()),
            Value::String(s) => literal(s),
            Value::Null => "NULL".into(),
            Value::Nested(x) => format!("({})", v(x)),
            Value::Sign { minus, operand } => {
                format!("{}({})", if *minus { "-" } else { "+" }, v(operand))
            }
            Value::Concat(a, b) => {
                let text = |t: &Typed| match t.ty {
                    AdqlType::Char(_) | AdqlType::VarChar(_) | AdqlType::Unknown => v(t),
                    _ => p.text(&v(t)),
                };
                format!("({} || {})", text(a), text(b))
            }
            Value::Arithmetic { op, left, right } => {
                format!("({} {} {})", v(left), op.symbol(), v(right))
            }
            Value::BooleanAsNumber(x) => p.boolean_as_number(&v(x)),
            Value::Case {
                operand,
                whens,
                otherwise,
            } => {
                let mut sql = String::from("CASE");
                if let Some(o) = operand {
                    let _ = write!(sql, " {}", v(o));
                }
                for (test, then) in whens {
                    let test = match test {
                        When::Value(w) => v(w),
                        When::Condition(c) => self.condition(c),
                    };
                    let _ = write!(sql, " WHEN {test} THEN {}", v(then));
                }
                if let Some(o) = otherwise {
                    let _ = write!(sql, " ELSE {}", v(o));
                }
                sql.push_str(" END");
                sql
            }
            Value::Cast { operand, target } => p.cast(&v(operand), *target),
            Value::Subquery(q) => format!("({})", self.query(q)),
            Value::CountStar => "COUNT(*)".into(),
            Value::Aggregate {
                upper,
                distinct,
                operand,
            } => format!(
                "{upper}({}{})",
                if *distinct { "DISTINCT " } else { "" },
                v(operand)
            ),
            Value::Math { upper, args } => {
                let sqls = list(args);
                let refs: Vec<&str> = sqls.iter().map(String::as_str).collect();
                p.math(upper, &refs)
            }
            Value::StringFunction { lower, operand } => p.string_function(lower, &v(operand)),
            Value::Coalesce(args) => format!("COALESCE({})", list(args).join(", ")),
            Value::InUnit { operand, factor } => format!("({} * {})", v(operand), num(*factor)),
            Value::Udf { udf, args } => {
                format!("{}({})", p.udf_function(udf), list(args).join(", "))
            }
            Value::RegionGeometry(x) => p.region_geometry(&v(x)),
            Value::Point { lon, lat } => p.point(&v(lon), &v(lat)),
            Value::Circle { lon, lat, radius } => p.circle(&v(lon), &v(lat), &v(radius)),
            Value::CircleAt { center, radius } => p.circle_at(&v(center), &v(radius)),
            Value::Box { args, constant } => {
                let [a, b, c, d] = args.as_ref();
                p.box_shape(&[v(a), v(b), v(c), v(d)], constant.as_ref())
            }
            Value::BoxAt {
                center,
                width,
                height,
            } => p.box_at(&v(center), &v(width), &v(height)),
            Value::PolygonNumbers(args) => p.polygon_numbers(&list(args)),
            Value::PolygonConstant(shape) => p.polygon_constant(shape),
            Value::PolygonPoints(args) => p.polygon_points(&list(args)),
            Value::Region { stcs, shape } => p.region(stcs, shape),
            Value::Centroid(g) => p.centroid(&v(g)),
            Value::GeometryFlag { test, a, b } => {
                let (sa, sb) = (v(a), v(b));
                p.geometry_flag(*test, arg(&sa, a), arg(&sb, b))
            }
            Value::Distance(a, b) => p.distance(&v(a), &v(b)),
            Value::DistanceCoordinates(args) => {
                let [a, b, c, d] = args.as_ref();
                p.distance_coordinates([&v(a), &v(b), &v(c), &v(d)])
            }
            Value::Area(g) => p.area(&v(g)),
            Value::Coordinate { point, second } => p.coordinate(&v(point), *second),
            Value::Coordsys(g) => {
                format!("CASE WHEN {} IS NULL THEN NULL ELSE 'ICRS' END", v(g))
            }
            Value::DaliText(g) => p.dali_text(&v(g)),
            Value::StcsText(g) => p.stcs_text(&v(g)),
        }
    }
}

impl Walk<'_> {
    /// The SQL of a resolved condition.
    pub(crate) fn condition(&self, c: &Condition) -> String {
        let p = self.printer;
        let v = |t: &Typed| self.value(t);
        let not = |negated: bool| if negated { "NOT " } else { "" };
        match c {
            Condition::Nested(inner) => format!("({})", self.condition(inner)),
            Condition::Raw(sql) => format!("({sql})"),
            Condition::Not(inner) => format!("NOT ({})", self.condition(inner)),
            Condition::Logic { and, left, right } => format!(
                "({} {} {})",
                self.condition(left),
                if *and { "AND" } else { "OR" },
                self.condition(right)
            ),
            Condition::Compare { op, left, right } => {
                format!("({} {} {})", v(left), op.symbol(), v(right))
            }
            Condition::Between {
                operand,
                low,
                high,
                negated,
            } => format!(
                "({} {}BETWEEN {} AND {})",
                v(operand),
                not(*negated),
                v(low),
                v(high)
            ),
            Condition::InList {
                operand,
                items,
                negated,
            } => format!(
                "({} {}IN ({}))",
                v(operand),
                not(*negated),
                items.iter().map(v).collect::<Vec<_>>().join(", ")
            ),
            Condition::InSubquery {
                operand,
                query,
                negated,
            } => format!(
                "({} {}IN ({}))",
                v(operand),
                not(*negated),
                self.query(query)
            ),
            Condition::Like {
                operand,
                pattern,
                negated,
                case_insensitive,
            } => p.like(&v(operand), &v(pattern), *negated, *case_insensitive),
            Condition::IsNull { operand, negated } => {
                format!("({} IS {}NULL)", v(operand), not(*negated))
            }
            Condition::Exists { query, negated } => {
                format!("({}EXISTS ({}))", not(*negated), self.query(query))
            }
            Condition::GeometryTest {
                test,
                a,
                b,
                holds,
                prefilter,
            } => {
                let (sa, sb) = (v(a), v(b));
                let exact = p.geometry_test(*test, arg(&sa, a), arg(&sb, b));
                let exact = if *holds {
                    exact
                } else {
                    format!("NOT {exact}")
                };
                match prefilter {
                    Some(f) => format!(
                        "({} AND {exact})",
                        p.rtree_overlap(&f.table, &f.index_table, &f.shape)
                    ),
                    None => format!("({exact})"),
                }
            }
            Condition::Prefiltered {
                prefilter: f,
                exact,
            } => format!(
                "({} AND {})",
                p.rtree_overlap(&f.table, &f.index_table, &f.shape),
                self.condition(exact)
            ),
        }
    }
}

impl Walk<'_> {
    /// The SQL of a resolved query.
    pub(crate) fn query(&self, q: &Query) -> String {
        let mut sql = String::new();
        if !q.with.is_empty() {
            sql.push_str("WITH ");
            for (i, cte) in q.with.iter().enumerate() {
                if i > 0 {
                    sql.push_str(", ");
                }
                let _ = write!(sql, "{} AS ({})", cte.name, self.query(&cte.query));
            }
            sql.push(' ');
        }
        match &q.body {
            QueryBody::Select(s) => sql.push_str(&self.select(s)),
            QueryBody::Set {
                operation,
                order_by,
                offset,
            } => {
                sql.push_str(&self.set_expr(operation));
                if !order_by.is_empty() {
                    let terms: Vec<String> = order_by
                        .iter()
                        .map(|(i, descending)| {
                            format!(
                                "\"{}\"{}",
                                OutputName(*i),
                                self.printer.direction(*descending)
                            )
                        })
                        .collect();
                    let _ = write!(sql, " ORDER BY {}", terms.join(", "));
                }
                if let Some(n) = offset {
                    sql.push_str(&self.printer.offset_only(*n));
                }
            }
        }
        sql
    }

    fn set_expr(&self, s: &SetExpr) -> String {
        match s {
            SetExpr::Select(s) => self.select(s),
            SetExpr::Wrapped { query, alias } => {
                format!("SELECT * FROM ({}) AS {alias}", self.query(query))
            }
            SetExpr::Operation {
                op,
                all,
                left,
                right,
            } => {
                let word = op.keyword();
                format!(
                    "{} {word}{} {}",
                    self.set_expr(left),
                    if *all { " ALL" } else { "" },
                    self.set_expr(right)
                )
            }
        }
    }

    fn select(&self, s: &Select) -> String {
        let mut sql = String::from("SELECT ");
        if s.distinct {
            sql.push_str("DISTINCT ");
        }
        // Each item straight into the text: a `SELECT *` of ObsCore has 80 of them.
        for (i, t) in s.items.iter().enumerate() {
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&self.value(t));
            let _ = write!(sql, " AS \"{}\"", OutputName(i));
        }
        sql.push_str(" FROM ");
        let from: Vec<String> = s.from.iter().map(|f| self.from(f)).collect();
        sql.push_str(&from.join(", "));
        if let Some(w) = &s.selection {
            let _ = write!(sql, " WHERE {}", self.condition(w));
        }
        if !s.group_by.is_empty() {
            let terms: Vec<String> = s.group_by.iter().map(|t| self.list_term(t)).collect();
            let _ = write!(sql, " GROUP BY {}", terms.join(", "));
        }
        if let Some(h) = &s.having {
            let _ = write!(sql, " HAVING {}", self.condition(h));
        }
        if !s.order_by.is_empty() {
            let terms: Vec<String> = s
                .order_by
                .iter()
                .map(|(t, descending)| {
                    format!(
                        "{}{}",
                        self.list_term(t),
                        self.printer.direction(*descending)
                    )
                })
                .collect();
            let _ = write!(sql, " ORDER BY {}", terms.join(", "));
        }
        match (s.limit, s.offset) {
            (Some(n), Some(o)) => {
                let _ = write!(sql, " LIMIT {n} OFFSET {o}");
            }
            (Some(n), None) => {
                let _ = write!(sql, " LIMIT {n}");
            }
            (None, Some(o)) => sql.push_str(&self.printer.offset_only(o)),
            (None, None) => {}
        }
        sql
    }

    /// A GROUP BY or ORDER BY term. A constant there (an alias of `1 AS one`, resolved to its
    /// value) is written as a cast: both targets read a bare integer in these lists as the
    /// number of a result column, and PostgreSQL refuses other bare constants.
    fn list_term(&self, t: &Typed) -> String {
        let sql = self.value(t);
        if !is_literal(&t.value) {
            return sql;
        }
        let target = if t.ty.is_integer() {
            CastTarget::BigInt
        } else if t.ty.is_numeric() {
            CastTarget::Double
        } else {
            CastTarget::VarChar(None)
        };
        self.printer.cast(&sql, target)
    }

    fn from(&self, f: &From) -> String {
        let p = self.printer;
        match f {
            From::Table {
                schema,
                table,
                alias,
                filter,
                keep_rowid,
            } => p.table_ref(
                &p.table_name(schema, table),
                alias,
                filter.as_deref(),
                *keep_rowid,
            ),
            From::Cte { name, alias } => format!("{name} AS {alias}"),
            From::Derived { query, alias } => format!("({}) AS {alias}", self.query(query)),
            From::Nested(inner) => format!("({})", self.from(inner)),
            From::Join {
                left,
                right,
                kind,
                on,
            } => {
                let (l, r) = (self.from(left), self.from(right));
                let word = match kind {
                    JoinKind::Inner => "JOIN",
                    JoinKind::Left => "LEFT JOIN",
                    JoinKind::Right => "RIGHT JOIN",
                    JoinKind::Full => "FULL JOIN",
                };
                match on {
                    Some(JoinOn::Condition(c)) => {
                        format!("{l} {word} {r} ON {}", self.condition(c))
                    }
                    Some(JoinOn::Using(pairs)) if !pairs.is_empty() => {
                        let eqs: Vec<String> = pairs
                            .iter()
                            .map(|(a, b)| format!("{} = {}", self.value(a), self.value(b)))
                            .collect();
                        format!("{l} {word} {r} ON {}", eqs.join(" AND "))
                    }
                    None if *kind == JoinKind::Inner => format!("{l} CROSS JOIN {r}"),
                    // USING of no columns, or an outer join on nothing: every pair of rows.
                    _ => format!("{l} {word} {r} ON 1 = 1"),
                }
            }
        }
    }
}

/// A printed geometry operand with the type the printer may need.
pub(crate) fn arg<'s>(sql: &'s str, t: &Typed) -> GeometryArg<'s> {
    GeometryArg { sql, ty: t.ty }
}

/// Whether `value` is a literal, signed or in parentheses.
fn is_literal(value: &Value) -> bool {
    match value {
        Value::Integer(_) | Value::Double(_) | Value::String(_) | Value::Null => true,
        Value::Sign { operand, .. } | Value::Nested(operand) => is_literal(&operand.value),
        _ => false,
    }
}
