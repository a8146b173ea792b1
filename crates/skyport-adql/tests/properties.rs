//! Property tests: printing a parsed query and parsing it again gives the same tree (compared by
//! its printed form), and neither parsing nor translating ever panics, on generated ADQL and on
//! arbitrary text.

use proptest::prelude::*;
use skyport_adql::{parse, translate, Catalogue, Dialect, Options};
use std::sync::OnceLock;

/// The built-in schemas' catalogue, built once: building it reads every schema, and once per
/// generated case that was most of these tests' two minutes.
fn catalogue() -> &'static Catalogue {
    static CATALOGUE: OnceLock<Catalogue> = OnceLock::new();
    CATALOGUE.get_or_init(|| Catalogue::from_schemas(&skyport_schema::builtin_schemas()))
}

fn column() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "s_ra",
        "s_dec",
        "obs_id",
        "o.s_fov",
        "t_min",
        "calib_level",
        "\"s_region\"",
        "em_min",
    ])
    .prop_map(str::to_string)
}

fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        (0u32..1000).prop_map(|n| n.to_string()),
        (0.0f64..400.0).prop_map(|x| format!("{x:.3}")),
        (1u32..9, -5i32..5).prop_map(|(m, e)| format!("{m}.5E{e}")),
    ]
}

fn value() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        column(),
        number(),
        "[a-z%_']{0,6}".prop_map(|s| format!("'{}'", s.replace('\'', "''"))),
        Just("NULL".to_string()),
    ];
    leaf.prop_recursive(4, 24, 3, |inner| {
        prop_oneof![
            (
                inner.clone(),
                prop::sample::select(vec!["+", "-", "*", "/", "||"]),
                inner.clone()
            )
                .prop_map(|(a, op, b)| format!("{a} {op} {b}")),
            inner.clone().prop_map(|a| format!("({a})")),
            inner.clone().prop_map(|a| format!("-{a}")),
            (
                prop::sample::select(vec!["ABS", "SIN", "SQRT", "LOG10", "FLOOR", "LOWER"]),
                inner.clone()
            )
                .prop_map(|(f, a)| format!("{f}({a})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("COALESCE({a}, {b})")),
            (inner.clone(), inner.clone())
                .prop_map(|(a, b)| format!("DISTANCE(POINT({a}, {b}), POINT(1, 2))")),
            (inner.clone(), inner.clone())
                .prop_map(|(a, b)| format!("CASE WHEN {a} > {b} THEN {a} ELSE {b} END")),
            inner
                .clone()
                .prop_map(|a| format!("CAST({a} AS DOUBLE PRECISION)")),
        ]
    })
}

fn condition() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        (
            value(),
            prop::sample::select(vec!["=", "<>", "<", ">=", "!="]),
            value()
        )
            .prop_map(|(a, op, b)| format!("{a} {op} {b}")),
        (value(), value(), value()).prop_map(|(a, b, c)| format!("{a} BETWEEN {b} AND {c}")),
        (value(), value()).prop_map(|(a, b)| format!("{a} NOT IN ({b}, 1)")),
        (value(), value()).prop_map(|(a, b)| format!("{a} LIKE {b}")),
        value().prop_map(|a| format!("{a} IS NOT NULL")),
        (value(), value(), value()).prop_map(|(a, b, r)| {
            format!("1 = CONTAINS(POINT({a}, {b}), CIRCLE(10, 20, {r}))")
        }),
        Just("INTERSECTS(s_region, BOX(1, 2, 3, 4)) = 0".to_string()),
    ];
    leaf.prop_recursive(3, 12, 2, |inner| {
        prop_oneof![
            (
                inner.clone(),
                prop::sample::select(vec!["AND", "OR"]),
                inner.clone()
            )
                .prop_map(|(a, op, b)| format!("{a} {op} {b}")),
            inner.clone().prop_map(|a| format!("NOT ({a})")),
            inner.clone().prop_map(|a| format!("({a})")),
        ]
    })
}

fn query() -> impl Strategy<Value = String> {
    (
        prop::option::of(1u32..100),
        prop::collection::vec(value(), 1..4),
        prop::option::of(condition()),
        prop::option::of(column()),
        prop::option::of(0u32..50),
        any::<bool>(),
    )
        .prop_map(|(top, items, cond, order, offset, union)| {
            let mut q = String::from("SELECT ");
            if let Some(n) = top {
                q.push_str(&format!("TOP {n} "));
            }
            q.push_str(&items.join(", "));
            q.push_str(" FROM ivoa.ObsCore AS o");
            if let Some(c) = cond {
                q.push_str(&format!(" WHERE {c}"));
            }
            if union {
                q.push_str(&format!(
                    " UNION SELECT {} FROM ivoa.ObsCore AS o",
                    items.join(", ")
                ));
            }
            if let Some(c) = order {
                if !union {
                    q.push_str(&format!(" ORDER BY {c} DESC"));
                }
            }
            if let Some(n) = offset {
                q.push_str(&format!(" OFFSET {n}"));
            }
            q
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 600, .. ProptestConfig::default() })]

    #[test]
    fn print_then_parse_is_stable(q in query()) {
        if let Ok(tree) = parse(&q) {
            let printed = tree.to_string();
            let again = parse(&printed).map_err(|e| TestCaseError::fail(format!("{printed}: {e}")))?;
            prop_assert_eq!(&again.to_string(), &printed);
        }
    }

    #[test]
    fn translation_never_panics(q in query()) {
        let cat = catalogue();
        if let Ok(tree) = parse(&q) {
            for d in [Dialect::Sqlite, Dialect::Postgres] {
                let _ = translate(&tree, cat, d, &Options::default());
            }
        }
    }

    #[test]
    fn arbitrary_text_never_panics(s in "\\PC{0,200}") {
        let _ = parse(&s);
    }

    #[test]
    fn mangled_queries_never_panic(q in query(), cut in 0usize..400, junk in "[()',.;*\"a-z0-9 -]{0,4}") {
        let cut = cut.min(q.len());
        let cut = (0..=cut).rev().find(|i| q.is_char_boundary(*i)).unwrap_or(0);
        let mangled = format!("{}{junk}{}", &q[..cut], &q[cut..]);
        let cat = catalogue();
        if let Ok(tree) = parse(&mangled) {
            let _ = translate(&tree, cat, Dialect::Sqlite, &Options::default());
        }
    }
}

#[test]
fn generated_queries_are_mostly_valid() {
    // Guard against a generator that only produces rejected queries (which would make the
    // round-trip property vacuous).
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let cat = catalogue();
    let mut parsed = 0;
    let mut translated = 0;
    for _ in 0..300 {
        let q = query().new_tree(&mut runner).expect("tree").current();
        if let Ok(t) = parse(&q) {
            parsed += 1;
            if translate(&t, cat, Dialect::Sqlite, &Options::default()).is_ok() {
                translated += 1;
            }
        }
    }
    assert!(parsed > 250, "only {parsed}/300 generated queries parse");
    assert!(
        translated > 50,
        "only {translated}/300 generated queries translate"
    );
}
