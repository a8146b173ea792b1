//! TAP's early answer from the coverage maps: a query over ObsCore whose rows must meet a
//! constant region where no image is (by the collections' MOCs) asks the database for nothing.
//!
//! Only one shape of query is read, and anything else runs as written: a single SELECT from
//! `ivoa.ObsCore` (no WITH, join or set operation) whose WHERE is a conjunction holding a term
//!
//! - `1 = INTERSECTS(s_region, G)` or `1 = INTERSECTS(G, s_region)`,
//! - `1 = CONTAINS(POINT(s_ra, s_dec), G)` (an image contains its centre),
//! - `1 = CONTAINS(s_region, G)` or `1 = CONTAINS(P, s_region)`,
//!
//! (either side of the `=`), with `G` a constant CIRCLE, POLYGON or POINT `P` in ICRS. Each of
//! those terms is false for an image whose footprint misses `G`, and the coverage maps hold
//! every cell an image's footprint touches: when `G`'s cells miss every map, the WHERE is false
//! for every row. The query is then rewritten with `WHERE 1 = 0`, which the databases decide
//! before reading a row; every other part (the select list, aggregates, TOP, ORDER BY) is kept,
//! so the answer's columns and their metadata are the same, and an aggregate still gives its
//! row (`COUNT(*)` = 0).

use skyport_adql::ast::{BinaryOp, Expr, FromItem, Ident, Query, SetExpr};
use skyport_sky::{Polygon, Shape, SkyPoint, SpaceMoc};

/// The constant regions a query's rows must meet (empty when the query is not of the shape
/// this module reads).
pub fn required_regions(query: &Query) -> Vec<Shape> {
    let Some(select) = single_obscore_select(query) else {
        return Vec::new();
    };
    let Some(condition) = &select.selection else {
        return Vec::new();
    };
    let qualifiers = qualifiers(select);
    let mut terms = Vec::new();
    conjuncts(condition, &mut terms);
    terms
        .into_iter()
        .filter_map(|term| required_region(term, &qualifiers))
        .collect()
}

/// Rewrites the query's WHERE to `1 = 0` (for a query [`required_regions`] read).
pub fn ask_for_nothing(query: &mut Query) {
    if let SetExpr::Select(select) = &mut query.body {
        let pos = select.pos;
        let number = |text: &str| Expr::Number {
            text: text.to_string(),
            pos,
        };
        select.selection = Some(Expr::Binary {
            op: BinaryOp::Eq,
            left: Box::new(number("1")),
            right: Box::new(number("0")),
        });
    }
}

/// The cells a region touches at the coverage maps' order, or `None` where they cannot be
/// told cheaply and safely (a circle or polygon reaching a hemisphere, where cdshealpix and
/// skyport could disagree on the inside).
pub fn region_cells(shape: &Shape) -> Option<SpaceMoc> {
    let order = skyport_store::coverage::SPACE_ORDER;
    match shape {
        Shape::Point(_) => SpaceMoc::of_shape(shape, order).ok(),
        Shape::Circle { radius, .. } if *radius < 90.0 => SpaceMoc::of_shape(shape, order).ok(),
        Shape::Polygon(p) if p.bounding_circle().radius < 90.0 => {
            let cells = SpaceMoc::of_shape(shape, order).ok()?;
            // cdshealpix decides which side is inside; ours is the side of the centroid.
            let c = p.centroid();
            cells.contains(c.ra, c.dec).then_some(cells)
        }
        _ => None,
    }
}

fn single_obscore_select(query: &Query) -> Option<&skyport_adql::ast::Select> {
    if !query.with.is_empty() {
        return None;
    }
    let SetExpr::Select(select) = &query.body else {
        return None;
    };
    match select.from.as_slice() {
        [FromItem::Table { name, .. }] if is_obscore(name) => Some(select),
        _ => None,
    }
}

fn same(ident: &Ident, name: &str) -> bool {
    if ident.delimited {
        ident.value == name
    } else {
        ident.value.eq_ignore_ascii_case(name)
    }
}

fn is_obscore(name: &[Ident]) -> bool {
    match name {
        [schema, table] => same(schema, "ivoa") && same(table, "ObsCore"),
        _ => false,
    }
}

/// How the query's columns may be qualified: by its alias, or else by the table's name.
fn qualifiers(select: &skyport_adql::ast::Select) -> Vec<Vec<String>> {
    match select.from.first() {
        Some(FromItem::Table {
            alias: Some(alias), ..
        }) => vec![vec![alias.value.to_ascii_lowercase()]],
        _ => vec![
            vec!["obscore".to_string()],
            vec!["ivoa".to_string(), "obscore".to_string()],
        ],
    }
}

/// Whether `e` is the ObsCore column `name` (bare, or with one of `qualifiers`).
fn is_column(e: &Expr, name: &str, qualifiers: &[Vec<String>]) -> bool {
    let Expr::Column(parts) = e.unnested() else {
        return false;
    };
    let Some((column, qualifier)) = parts.split_last() else {
        return false;
    };
    if !same(column, name) {
        return false;
    }
    qualifier.is_empty()
        || qualifiers.iter().any(|q| {
            q.len() == qualifier.len()
                && q.iter()
                    .zip(qualifier)
                    .all(|(want, got)| got.value.eq_ignore_ascii_case(want))
        })
}

fn conjuncts<'a>(e: &'a Expr, out: &mut Vec<&'a Expr>) {
    match e.unnested() {
        Expr::Binary {
            op: BinaryOp::And,
            left,
            right,
        } => {
            conjuncts(left, out);
            conjuncts(right, out);
        }
        other => out.push(other),
    }
}

/// The region of one `1 = PREDICATE(…)` term, if it is one this module reads.
fn required_region(term: &Expr, qualifiers: &[Vec<String>]) -> Option<Shape> {
    let Expr::Binary {
        op: BinaryOp::Eq,
        left,
        right,
    } = term
    else {
        return None;
    };
    let call = if number(left) == Some(1.0) {
        right
    } else if number(right) == Some(1.0) {
        left
    } else {
        return None;
    };
    let Expr::Function { name, args, .. } = call.unnested() else {
        return None;
    };
    let [a, b] = args.as_slice() else {
        return None;
    };
    let region = |e: &Expr| is_column(e, "s_region", qualifiers);
    if same_name(name, "INTERSECTS") {
        if region(a) {
            return constant_shape(b);
        }
        if region(b) {
            return constant_shape(a);
        }
        return None;
    }
    if same_name(name, "CONTAINS") {
        if region(a) || is_centre(a, qualifiers) {
            return constant_shape(b);
        }
        if region(b) {
            return match constant_shape(a)? {
                point @ Shape::Point(_) => Some(point),
                _ => None,
            };
        }
    }
    None
}

fn same_name(ident: &Ident, name: &str) -> bool {
    ident.value.eq_ignore_ascii_case(name)
}

/// `POINT(['ICRS',] s_ra, s_dec)`.
fn is_centre(e: &Expr, qualifiers: &[Vec<String>]) -> bool {
    let Expr::Function { name, args, .. } = e.unnested() else {
        return false;
    };
    if !same_name(name, "POINT") {
        return false;
    }
    match strip_frame(args) {
        Some([ra, dec]) => is_column(ra, "s_ra", qualifiers) && is_column(dec, "s_dec", qualifiers),
        _ => false,
    }
}

/// The arguments after an optional leading coordinate system, if that system is ICRS (or
/// empty, which ADQL reads as the service's default, ICRS here).
fn strip_frame(args: &[Expr]) -> Option<&[Expr]> {
    match args.split_first() {
        Some((first, rest)) => match first.unnested() {
            Expr::String { value, .. } => {
                let frame = value.trim();
                (frame.is_empty() || frame.eq_ignore_ascii_case("ICRS")).then_some(rest)
            }
            _ => Some(args),
        },
        None => Some(args),
    }
}

/// A numeric constant (`12`, `-1.5`, `(3)`).
fn number(e: &Expr) -> Option<f64> {
    e.constant_number()
}

fn numbers(args: &[Expr]) -> Option<Vec<f64>> {
    args.iter()
        .map(|a| number(a).filter(|x| x.is_finite()))
        .collect()
}

fn point(args: &[Expr]) -> Option<SkyPoint> {
    match numbers(strip_frame(args)?)?.as_slice() {
        [ra, dec] => SkyPoint::new(*ra, *dec).ok(),
        _ => None,
    }
}

/// A constant CIRCLE, POLYGON or POINT in ICRS.
fn constant_shape(e: &Expr) -> Option<Shape> {
    let Expr::Function { name, args, .. } = e.unnested() else {
        return None;
    };
    if same_name(name, "POINT") {
        return point(args).map(Shape::Point);
    }
    if same_name(name, "CIRCLE") {
        let args = strip_frame(args)?;
        // CIRCLE(ra, dec, r) or CIRCLE(POINT(…), r).
        let (center, radius) = match args {
            [c, r] => match c.unnested() {
                Expr::Function { name, args, .. } if same_name(name, "POINT") => {
                    (point(args)?, number(r)?)
                }
                _ => return None,
            },
            [ra, dec, r] => (SkyPoint::new(number(ra)?, number(dec)?).ok()?, number(r)?),
            _ => return None,
        };
        return Shape::circle(center, radius).ok();
    }
    if same_name(name, "POLYGON") {
        let args = strip_frame(args)?;
        let values = numbers(args)?;
        if values.len() < 6 || values.len() % 2 != 0 {
            return None;
        }
        let vertices = values
            .chunks(2)
            .map(|c| SkyPoint::new(c[0], c[1]).ok())
            .collect::<Option<Vec<_>>>()?;
        return Polygon::new(vertices).ok().map(Shape::Polygon);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn regions(adql: &str) -> Vec<Shape> {
        required_regions(&skyport_adql::parse(adql).expect("parses"))
    }

    #[test]
    fn the_forms_it_reads() {
        for adql in [
            "SELECT * FROM ivoa.ObsCore WHERE 1 = INTERSECTS(s_region, CIRCLE('ICRS', 10, 20, 0.5))",
            "SELECT obs_id FROM ivoa.ObsCore WHERE INTERSECTS(CIRCLE(10, 20, 0.5), s_region) = 1 AND calib_level = 2",
            "SELECT obs_id FROM ivoa.ObsCore AS o WHERE o.dataproduct_type = 'image' AND (1 = CONTAINS(POINT('ICRS', o.s_ra, o.s_dec), CIRCLE(POINT('ICRS', 10, 20), 0.5)))",
            "SELECT COUNT(*) FROM ivoa.obscore WHERE 1 = CONTAINS(POINT('', 10, 20), ivoa.ObsCore.s_region)",
            "SELECT TOP 5 * FROM ivoa.ObsCore WHERE 1=INTERSECTS(s_region, POLYGON('ICRS', 10, 20, 11, 20, 11, 21)) ORDER BY obs_id",
        ] {
            assert_eq!(regions(adql).len(), 1, "{adql}");
        }
    }

    #[test]
    fn what_it_leaves_alone() {
        for adql in [
            // Not a conjunct: OR, NOT.
            "SELECT * FROM ivoa.ObsCore WHERE 1 = INTERSECTS(s_region, CIRCLE(10, 20, 0.5)) OR calib_level = 2",
            "SELECT * FROM ivoa.ObsCore WHERE NOT (1 = INTERSECTS(s_region, CIRCLE(10, 20, 0.5)))",
            // Compared with 0: rows outside the region.
            "SELECT * FROM ivoa.ObsCore WHERE 0 = INTERSECTS(s_region, CIRCLE(10, 20, 0.5))",
            // Another frame, another table, a join, a CTE, a union.
            "SELECT * FROM ivoa.ObsCore WHERE 1 = INTERSECTS(s_region, CIRCLE('GALACTIC', 10, 20, 0.5))",
            "SELECT * FROM skyport.image_coverage WHERE 1 = INTERSECTS(s_region, CIRCLE(10, 20, 0.5))",
            "SELECT * FROM ivoa.ObsCore AS a JOIN ivoa.ObsCore AS b ON a.obs_id = b.obs_id WHERE 1 = INTERSECTS(a.s_region, CIRCLE(10, 20, 0.5))",
            "WITH x AS (SELECT * FROM ivoa.ObsCore) SELECT * FROM ivoa.ObsCore WHERE 1 = INTERSECTS(s_region, CIRCLE(10, 20, 0.5))",
            "SELECT obs_id FROM ivoa.ObsCore WHERE 1 = INTERSECTS(s_region, CIRCLE(10, 20, 0.5)) UNION SELECT obs_id FROM ivoa.ObsCore",
            // Not constant, or not the footprint.
            "SELECT * FROM ivoa.ObsCore WHERE 1 = INTERSECTS(s_region, CIRCLE(s_ra, 20, 0.5))",
            "SELECT * FROM ivoa.ObsCore AS o WHERE 1 = INTERSECTS(x.s_region, CIRCLE(10, 20, 0.5))",
            // A circle that contains a polygon says nothing of where the images are.
            "SELECT * FROM ivoa.ObsCore WHERE 1 = CONTAINS(CIRCLE(10, 20, 0.5), s_region)",
            // The whole sky's worth: not told.
            "SELECT * FROM ivoa.ObsCore WHERE 1 = INTERSECTS(s_region, CIRCLE(10, 20, 120))",
        ] {
            let found = regions(adql);
            let cells: Vec<_> = found.iter().filter_map(region_cells).collect();
            assert!(cells.is_empty(), "{adql}: {found:?}");
        }
    }

    #[test]
    fn nothing_is_asked_but_the_columns_stay() {
        let mut q = skyport_adql::parse(
            "SELECT COUNT(*) AS n FROM ivoa.ObsCore WHERE 1 = INTERSECTS(s_region, CIRCLE(10, 20, 0.5))",
        )
        .expect("parses");
        ask_for_nothing(&mut q);
        let SetExpr::Select(s) = &q.body else {
            panic!("a select");
        };
        assert_eq!(s.items.len(), 1);
        match s.selection.as_ref().map(Expr::unnested) {
            Some(Expr::Binary {
                op: BinaryOp::Eq,
                left,
                right,
            }) => {
                assert_eq!((number(left), number(right)), (Some(1.0), Some(0.0)));
            }
            other => panic!("{other:?}"),
        }
    }
}
