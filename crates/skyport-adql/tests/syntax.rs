//! Syntax-level acceptance and rejection, with the positions and wording of errors.

use skyport_adql::{parse, Pos};

fn err(q: &str) -> skyport_adql::AdqlError {
    match parse(q) {
        Ok(tree) => panic!("accepted {q:?} as {tree}"),
        Err(e) => e,
    }
}

#[test]
fn non_adql_is_refused_with_position_and_construct() {
    let cases: &[(&str, &str, Pos)] = &[
        ("SELECT x FROM t LIMIT 5", "LIMIT", Pos { line: 1, column: 17 }),
        ("SELECT x::int FROM t", "::", Pos { line: 1, column: 9 }),
        ("SELECT x FROM t WHERE a = $1", "placeholder", Pos { line: 1, column: 27 }),
        ("SELECT x FROM t WHERE a = ?", "placeholder", Pos { line: 1, column: 27 }),
        ("SELECT x FROM t; DROP TABLE t", "one query only", Pos { line: 1, column: 16 }),
        ("SELECT x FROM t WHERE a = 0xFF", "hexadecimal", Pos { line: 1, column: 27 }),
        ("SELECT x FROM t WHERE (a & 4) = 4", "bitwise", Pos { line: 1, column: 26 }),
        ("SELECT x FROM t WHERE a % 2 = 0", "MOD", Pos { line: 1, column: 25 }),
        ("SELECT\n  foo(x) FROM t", "unknown function foo", Pos { line: 2, column: 3 }),
        ("SELECT x FROM t\nWHERE CONTAINS(POINT(1,2), CIRCLE(1,2,3))", "condition", Pos { line: 2, column: 7 }),
        ("SELECT distance FROM t", "reserved word", Pos { line: 1, column: 8 }),
        ("SELECT x FROM t WHERE x = TRUE", "TRUE", Pos { line: 1, column: 27 }),
        ("SELECT ROW_NUMBER() OVER () FROM t", "not ADQL", Pos { line: 1, column: 8 }),
        ("SELECT CAST(x AS FLOAT) FROM t", "CAST to FLOAT", Pos { line: 1, column: 13 }),
        ("SELECT x FROM t OFFSET -10", "OFFSET", Pos { line: 1, column: 25 }),
        ("SELECT x FROM t OFFSET 10.5", "OFFSET", Pos { line: 1, column: 24 }),
        ("SELECT COALESCE() FROM t", "COALESCE", Pos { line: 1, column: 8 }),
        ("SELECT x FROM t WHERE x IN (SELECT y FROM (WITH c AS (SELECT 1 FROM u) SELECT * FROM c) AS q)", "WITH", Pos { line: 1, column: 44 }),
        ("SELECT POINT(1, 2) || 'a' FROM t", "geometry", Pos { line: 1, column: 8 }),
        ("SELECT x FROM (SELECT x FROM t)", "needs a name", Pos { line: 1, column: 16 }),
        ("SELECT x FROM t CROSS JOIN u", "CROSS JOIN", Pos { line: 1, column: 28 }),
        ("SELECT x FROM t WHERE x ~ 'a'", "bitwise", Pos { line: 1, column: 25 }),
        ("SELECT x FROM t WHERE x = `y`", "unexpected character", Pos { line: 1, column: 27 }),
        ("SELECT x FROM t WHERE x = N'a'", "not ADQL", Pos { line: 1, column: 27 }),
        ("SELECT CURRENT_TIMESTAMP FROM t", "not ADQL", Pos { line: 1, column: 8 }),
        ("SELECT x FROM t WHERE x = 1 LIMIT 1 OFFSET 2", "LIMIT", Pos { line: 1, column: 29 }),
    ];
    let mut wrong = Vec::new();
    for (query, needle, pos) in cases {
        let e = err(query);
        if !e.to_string().contains(needle) || e.pos != *pos {
            wrong.push(format!("{query:?}: got {e}, want {needle:?} at {pos}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn all_of_adql_2_1_is_accepted() {
    let queries = [
        "SELECT DISTINCT TOP 10 x FROM t ORDER BY x DESC OFFSET 5",
        "WITH a AS (SELECT x FROM t), b (y) AS (SELECT x FROM a) SELECT * FROM b",
        "SELECT x FROM t UNION ALL SELECT x FROM u INTERSECT SELECT x FROM v EXCEPT SELECT x FROM w",
        "SELECT * FROM t NATURAL JOIN u LEFT OUTER JOIN v USING (k) RIGHT JOIN w ON t.a = w.a FULL OUTER JOIN z ON (1=1)",
        "SELECT (SELECT MAX(y) FROM u) AS m FROM t WHERE EXISTS (SELECT * FROM u WHERE u.k = t.k) AND x IN (SELECT k FROM v) AND NOT x NOT IN (1, 2)",
        "SELECT CASE WHEN x > 1 THEN 'a' WHEN x < 0 THEN 'b' ELSE 'c' END, CASE x WHEN 1 THEN 2 END FROM t",
        "SELECT COALESCE(a, b, 0), CAST(x AS DOUBLE PRECISION), CAST(x AS VARCHAR(20)), CAST('2020-01-01T00:00:00' AS TIMESTAMP), CAST('1 2' AS POINT) FROM t",
        "SELECT a || 'b' || c, LOWER(a), UPPER(a), IN_UNIT(x, 'arcsec') FROM t WHERE a ILIKE 'x%' AND b NOT ILIKE '%y' AND c LIKE '_'",
        "SELECT ABS(x), CEILING(x), DEGREES(x), EXP(x), FLOOR(x), LOG(x), LOG10(x), MOD(x, 3), PI(), POWER(x, 2), RADIANS(x), SQRT(x), RAND(), RAND(3), ROUND(x), ROUND(x, -2), TRUNCATE(x), TRUNCATE(x, 2) FROM t",
        "SELECT ACOS(x), ASIN(x), ATAN(x), ATAN2(y, x), COS(x), COT(x), SIN(x), TAN(x), COUNT(*), COUNT(DISTINCT x), AVG(x), MIN(x), MAX(x), SUM(ALL x) FROM t GROUP BY y HAVING COUNT(*) > 1",
        "SELECT POINT(1, 2), POINT('ICRS', 1, 2), CIRCLE(1, 2, 3), CIRCLE(POINT(1, 2), 3), CIRCLE('ICRS', POINT(1, 2), 3), BOX(1, 2, 3, 4), BOX(POINT(1, 2), 3, 4), POLYGON(1, 2, 3, 4, 5, 6), POLYGON(POINT(1, 2), POINT(3, 4), POINT(5, 6)), REGION('CIRCLE ICRS 1 2 3') FROM t",
        "SELECT DISTANCE(POINT(1, 2), POINT(3, 4)), DISTANCE(1, 2, 3, 4), AREA(CIRCLE(1, 2, 3)), CENTROID(POLYGON(1, 2, 3, 4, 5, 6)), COORD1(p), COORD2(p), COORDSYS(p) FROM t WHERE 1 = CONTAINS(POINT(ra, dec), CIRCLE(1, 2, 3)) AND INTERSECTS(s_region, BOX(1, 2, 3, 4)) = 0",
        "SELECT \"size\", \"DATE\", \"a\"\"b\" FROM \"My Schema\".\"My Table\" AS \"T\"",
        "select x from t -- a comment\nwhere x >= 1 and x <= 2 and x <> 3 and x != 4",
        "SELECT x FROM cat.sch.tab WHERE cat.sch.tab.x BETWEEN -1 AND +1 ORDER BY 1, x + 1 DESC, tab.x",
        "SELECT x FROM t WHERE x IS NULL OR y IS NOT NULL;",
    ];
    let refused: Vec<String> = queries
        .iter()
        .filter_map(|q| parse(q).err().map(|e| format!("{q}\n  refused: {e}")))
        .collect();
    assert!(refused.is_empty(), "{}", refused.join("\n"));
}

#[test]
fn subtraction_groups_to_the_left() {
    // vollt's 2.1 parser gives a-(1-2); ADQL (like SQL) means (a-1)-2.
    let q = parse("SELECT a - 1 - 2, a / 2 * 3, a - (1 - 2) FROM t").expect("parses");
    assert_eq!(
        q.to_string(),
        "SELECT a - 1 - 2, a / 2 * 3, a - (1 - 2) FROM t"
    );
    let skyport_adql::ast::SetExpr::Select(s) = &q.body else {
        panic!("select")
    };
    let skyport_adql::ast::SelectItem::Expr { expr, .. } = &s.items[0] else {
        panic!("expr")
    };
    let skyport_adql::ast::Expr::Binary { left, .. } = expr else {
        panic!("binary")
    };
    assert!(matches!(
        left.as_ref(),
        skyport_adql::ast::Expr::Binary { .. }
    ));
}

#[test]
fn string_literals_join_across_whitespace_and_comments() {
    let q = parse("SELECT 'a' -- note\n 'b' FROM t").expect("parses");
    assert_eq!(q.to_string(), "SELECT 'ab' FROM t");
}

#[test]
fn deep_nesting_and_huge_queries_are_refused_not_crashing() {
    let deep = format!("SELECT {}1{} FROM t", "(".repeat(500), ")".repeat(500));
    assert!(parse(&deep).is_err());
    let long = format!("SELECT {} FROM t", vec!["1"; 5000].join(" + "));
    let e = err(&long);
    assert!(e.message.contains("operators"), "{e}");
}

/// Found by fuzzing SIA (`fuzz/found/dali_params/sia-southern-range`): the negative latitudes
/// of a southern RANGE's polygons are signs of literals, not operators; a chain of
/// subtractions still is one.
#[test]
fn signed_numbers_in_argument_lists_are_not_counted_as_operators() {
    let vertices: Vec<String> = (0..1500).map(|i| format!("{}, -29", i % 360)).collect();
    let q = format!(
        "SELECT * FROM t WHERE 1 = INTERSECTS(s, POLYGON('ICRS', {}))",
        vertices.join(", ")
    );
    parse(&q).expect("a polygon of 1 500 southern vertices parses");
    let chain = format!("SELECT 1{} FROM t", " - 1".repeat(5000));
    assert!(err(&chain).message.contains("operators"));
    let signs = format!("SELECT {}1{} FROM t", "(-".repeat(1500), ")".repeat(1500));
    assert!(parse(&signs).is_err(), "nested signs are still counted");
}

/// Found by fuzzing ConsDB bodies (`fuzz/found/consdb_json/query-nested-parentheses.fuzzer`, a
/// `/consdb/query` body): about 150 nested parentheses overflowed the parsing thread's stack
/// (the fuzzer's 8 MB main thread, a debug server's 2 MB workers, which aborted). Nesting is
/// refused now before it needs 1 MB.
#[test]
fn the_fuzzers_nested_query_is_refused_within_a_small_stack() {
    let body = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fuzz/found/consdb_json/query-nested-parentheses.fuzzer"
    ))
    .expect("the found body");
    let query = body
        .split_once("\"query\": \"")
        .and_then(|(_, rest)| rest.rsplit_once('"'))
        .map(|(q, _)| q.to_string())
        .expect("its query");
    assert!(query.matches('(').count() > 100, "{query}");
    let refused = std::thread::Builder::new()
        .stack_size(1 << 20)
        .spawn(move || parse(&query).err().map(|e| e.to_string()))
        .expect("thread")
        .join()
        .expect("no stack overflow");
    let message = refused.expect("refused");
    assert!(message.contains("nested too deeply"), "{message}");
}

/// Rubin's notebooks build conditions from lists: `(visit = … AND detector = …) OR …` with
/// hundreds of terms. sqlparser hands such a chain over left-deep, a level per term, and it
/// was refused as "nested too deeply"; it is a chain, not nesting, and is accepted up to the
/// operator limit, on a small stack, with every term kept in order. Short chains print as
/// they always did.
#[test]
fn long_chains_of_and_or_are_not_nesting() {
    let pairs: Vec<String> = (0..250)
        .map(|i| format!("(v = {i} AND d = {})", i % 9))
        .collect();
    let query = format!("SELECT * FROM t WHERE {}", pairs.join(" OR "));
    let printed = std::thread::Builder::new()
        .stack_size(1 << 20)
        .spawn(move || parse(&query).map(|q| q.to_string()))
        .expect("thread")
        .join()
        .expect("no stack overflow")
        .expect("a chain of 250 terms parses");
    let terms: Vec<usize> = pairs
        .iter()
        .map(|p| printed.find(p.as_str()).expect("every term is kept"))
        .collect();
    assert!(terms.windows(2).all(|w| w[0] < w[1]), "in order: {printed}");
    assert_eq!(printed.matches(" OR ").count(), 249);
    let short = "SELECT * FROM t WHERE a = 1 AND b = 2 AND c = 3 OR d = 4";
    assert_eq!(parse(short).expect("parses").to_string(), short);
    // Past the operator limit a chain is still refused.
    let long = format!("SELECT * FROM t WHERE {}", vec!["a = 1"; 600].join(" OR "));
    assert!(err(&long).message.contains("operators"));
    // Within parentheses, under NOT and in a subquery, on the same small stack.
    let chain = pairs[..200].join(" OR ");
    for query in [
        format!("SELECT * FROM t WHERE b = 'r' AND ({chain})"),
        format!("SELECT * FROM t WHERE NOT ({chain})"),
        format!("SELECT * FROM t WHERE v IN (SELECT v FROM u WHERE {chain})"),
    ] {
        std::thread::Builder::new()
            .stack_size(1 << 20)
            .spawn(move || parse(&query).map(|_| ()))
            .expect("thread")
            .join()
            .expect("no stack overflow")
            .expect("parses");
    }
    // Chains inside chains are nesting, counted as deep as the tree they make: eight levels
    // of 15-term chains (some 230 operators) are refused.
    let mut nested = "a = 1".to_string();
    for _ in 0..8 {
        nested = format!("({nested}){}", " OR a = 1".repeat(14));
    }
    let message = err(&format!("SELECT * FROM t WHERE {nested}")).message;
    assert!(message.contains("nested too deeply"), "{message}");
}
