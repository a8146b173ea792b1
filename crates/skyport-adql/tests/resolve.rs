//! Name resolution, result types and FIELD metadata, and the PostgreSQL/pgsphere text.

use skyport_adql::{
    parse_and_translate, AdqlType, Catalogue, Dialect, ErrorKind, Options, Translation,
};

fn cat() -> Catalogue {
    Catalogue::from_schemas(&skyport_schema::builtin_schemas())
}

fn ok(q: &str) -> Translation {
    parse_and_translate(q, &cat(), Dialect::Sqlite, &Options::default())
        .unwrap_or_else(|e| panic!("{q}: {e}"))
}

fn pg(q: &str) -> String {
    parse_and_translate(q, &cat(), Dialect::Postgres, &Options::default())
        .unwrap_or_else(|e| panic!("{q}: {e}"))
        .sql
}

fn err(q: &str) -> skyport_adql::AdqlError {
    match parse_and_translate(q, &cat(), Dialect::Sqlite, &Options::default()) {
        Ok(t) => panic!("{q} translated to {}", t.sql),
        Err(e) => e,
    }
}

#[test]
fn unknown_and_ambiguous_names_are_explained() {
    let e = err("SELECT s_ra FROM ivoa.obscor");
    assert_eq!(e.kind, ErrorKind::Name);
    assert_eq!(e.hint.as_deref(), Some("did you mean ivoa.ObsCore?"), "{e}");
    let e = err("SELECT obs_idd FROM ivoa.ObsCore");
    assert_eq!(e.hint.as_deref(), Some("did you mean obs_id?"), "{e}");
    assert_eq!((e.pos.line, e.pos.column), (1, 8));
    let e =
        err("SELECT obs_id FROM ivoa.ObsCore AS a JOIN ivoa.ObsCore AS b ON a.obs_id = b.obs_id");
    assert!(e.message.contains("ambiguous"), "{e}");
    let e = err("SELECT x.obs_id FROM ivoa.ObsCore AS a");
    assert!(e.message.contains("not a table in FROM"), "{e}");
    // Delimited identifiers are exact; regular ones are not.
    ok("SELECT OBS_ID, \"obs_id\" FROM IVOA.OBSCORE");
    let e = err("SELECT \"OBS_ID\" FROM ivoa.ObsCore");
    assert!(e.message.contains("unknown column"), "{e}");
    let e = err("SELECT obs_id FROM ivoa.ObsCore WHERE POINT(1, 2) = POINT(1, 2)");
    assert_eq!(e.kind, ErrorKind::Unsupported, "{e}");
    assert!(e.message.contains("geometries cannot be compared"), "{e}");
    let e = err("SELECT obs_id FROM ivoa.ObsCore WHERE s_ra = obs_id");
    assert_eq!(e.kind, ErrorKind::Type, "{e}");
    assert!(
        e.message
            .contains("cannot compare DOUBLE PRECISION with VARCHAR"),
        "{e}"
    );
    let e = err("SELECT obs_id FROM ivoa.ObsCore WHERE 1 = CONTAINS(s_ra, CIRCLE(1, 2, 3))");
    assert_eq!(e.kind, ErrorKind::Type, "{e}");
    let e = err("SELECT IN_UNIT(s_ra, 'm') FROM ivoa.ObsCore");
    assert!(e.message.contains("cannot be converted"), "{e}");
    let e = err("SELECT IN_UNIT(1, 'deg') FROM ivoa.ObsCore");
    assert!(e.message.contains("no unit"), "{e}");
    let e = err("SELECT POINT('GALACTIC', 1, 2) FROM ivoa.ObsCore");
    assert_eq!(e.kind, ErrorKind::Unsupported, "{e}");
    let e = err("SELECT REGION('Union ICRS (Circle 1 2 3)') FROM ivoa.ObsCore");
    assert_eq!(e.kind, ErrorKind::Unsupported, "{e}");
    let e = err("SELECT obs_id FROM ivoa.ObsCore UNION SELECT obs_id, s_ra FROM ivoa.ObsCore");
    assert!(e.message.contains("same number"), "{e}");
    let e = err("SELECT my_function(1) FROM ivoa.ObsCore");
    assert!(e.message.contains("unknown function"), "{e}");
}

#[test]
fn result_columns_carry_types_and_metadata() {
    let t = ok("SELECT obs_id, s_ra AS ra, s_ra * 2, COUNT(*) AS n, POINT(s_ra, s_dec) AS p, CIRCLE(1, 2, 3), s_region, t_min, DISTANCE(1, 2, 3, 4), IN_UNIT(s_fov, 'arcsec') AS fov FROM ivoa.ObsCore GROUP BY obs_id, s_ra, s_dec, s_region, t_min, s_fov");
    let names: Vec<&str> = t.columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        ["obs_id", "ra", "expr", "n", "p", "circle", "s_region", "t_min", "distance", "fov"]
    );
    let c = &t.columns;
    assert_eq!(c[1].meta.unit.as_deref(), Some("deg"));
    assert_eq!(c[1].meta.ucd.as_deref(), Some("pos.eq.ra"));
    assert_eq!(c[1].meta.datatype, "double");
    assert_eq!(c[2].ty, AdqlType::Double);
    assert_eq!(c[3].ty, AdqlType::BigInt);
    assert_eq!(c[3].meta.datatype, "long");
    assert_eq!(
        (
            c[4].meta.datatype.as_str(),
            c[4].meta.arraysize.as_deref(),
            c[4].meta.xtype.as_deref()
        ),
        ("double", Some("2"), Some("point"))
    );
    assert_eq!(
        (c[5].meta.arraysize.as_deref(), c[5].meta.xtype.as_deref()),
        (Some("3"), Some("circle"))
    );
    assert_eq!(c[6].meta.xtype.as_deref(), Some("adql:REGION"));
    assert_eq!(c[6].meta.datatype, "char");
    assert_eq!(c[8].meta.unit.as_deref(), Some("deg"));
    assert_eq!(c[9].meta.unit.as_deref(), Some("arcsec"));
    assert!(t.sql.contains("adql_dali(adql_point("), "{}", t.sql);
    // Duplicate names in the result are made unique.
    let t = ok("SELECT a.obs_id, b.obs_id FROM ivoa.ObsCore AS a JOIN ivoa.ObsCore AS b USING (obs_publisher_did)");
    assert_eq!(t.columns[0].name, "obs_id");
    assert_eq!(t.columns[1].name, "obs_id_2");
}

#[test]
fn joins_ctes_subqueries_and_set_operations_resolve() {
    // USING merges the column: unqualified is fine and * lists it once.
    let t = ok("SELECT * FROM ivoa.ObsCore AS a JOIN ivoa.ObsCore AS b USING (obs_publisher_did)");
    let n = cat()
        .tables()
        .iter()
        .find(|t| t.name == "ObsCore")
        .unwrap()
        .columns
        .len();
    assert_eq!(t.columns.len(), 2 * n - 1);
    let t = ok("SELECT * FROM ivoa.ObsCore NATURAL JOIN ivoa.ObsCore AS b");
    assert_eq!(t.columns.len(), n);
    ok("WITH c AS (SELECT obs_id AS id, s_ra FROM ivoa.ObsCore) SELECT c.id, s_ra FROM c WHERE id LIKE 'x%'");
    ok("SELECT q.n FROM (SELECT COUNT(*) AS n FROM ivoa.ObsCore) AS q");
    ok("SELECT obs_id FROM ivoa.ObsCore AS o WHERE EXISTS (SELECT * FROM skyport.image_file AS f WHERE f.obs_publisher_did = o.obs_publisher_did)");
    ok("SELECT obs_id FROM ivoa.ObsCore WHERE s_ra > (SELECT AVG(s_ra) FROM ivoa.ObsCore)");
    ok("SELECT TOP 3 obs_id FROM ivoa.ObsCore UNION SELECT obs_id FROM ivoa.ObsCore ORDER BY 1 OFFSET 2");
    ok("SELECT table_name, column_name FROM TAP_SCHEMA.columns WHERE \"size\" IS NULL ORDER BY table_name");
    ok("SELECT s_ra + 1 AS x FROM ivoa.ObsCore ORDER BY x DESC");
}

#[test]
fn postgres_text_folds_predicates_into_pgsphere_operators() {
    let sql = pg("SELECT obs_id FROM ivoa.ObsCore WHERE 1 = CONTAINS(POINT(s_ra, s_dec), CIRCLE(10, 20, 0.5))");
    assert!(sql.contains("(spoint(radians(_t1.\"s_ra\"), radians(_t1.\"s_dec\")) <@ scircle(spoint(radians(10), radians(20)), radians(CAST(0.5 AS double precision))))"), "{sql}");
    assert!(!sql.contains("= 1"), "{sql}");
    let sql = pg(
        "SELECT obs_id FROM ivoa.ObsCore WHERE INTERSECTS(s_region, POLYGON(1, 2, 3, 2, 3, 4)) = 0",
    );
    assert!(
        sql.contains("NOT (skyport_region(_t1.\"s_region\") && spoly '{"),
        "{sql}"
    );
    let sql = pg("SELECT TOP 10 obs_id FROM ivoa.ObsCore ORDER BY obs_id OFFSET 5");
    assert!(
        sql.ends_with("ORDER BY _t1.\"obs_id\" NULLS FIRST LIMIT 10 OFFSET 5"),
        "{sql}"
    );
    let sql = pg("SELECT LOG(s_ra), LOG10(s_ra), MOD(s_ra, 2), ROUND(s_ra, 2) FROM ivoa.ObsCore");
    assert!(
        sql.contains("ln(")
            && sql.contains("log(")
            && sql.contains("mod(CAST(")
            && sql.contains("round(CAST("),
        "{sql}"
    );
    let sql = pg(
        "SELECT POINT(s_ra, s_dec), DISTANCE(POINT(1, 2), POINT(s_ra, s_dec)) FROM ivoa.ObsCore",
    );
    assert!(
        sql.contains("skyport_dali(spoint(")
            && sql.contains("degrees(spoint(radians(1), radians(2)) <-> spoint("),
        "{sql}"
    );
    let sql = pg("SELECT obs_id FROM ivoa.ObsCore WHERE obs_id LIKE 'a%' AND obs_id ILIKE 'B%'");
    assert!(
        sql.contains(" LIKE 'a%'") && sql.contains(" ILIKE 'B%'"),
        "{sql}"
    );
}

#[test]
fn booleans_compare_with_numbers_on_both_backends() {
    // SQLite stores booleans as 0/1; PostgreSQL has no boolean = integer operator.
    let q = "SELECT obs_publisher_did FROM skyport.image_hdu WHERE has_wcs = 1";
    assert!(
        pg(q).contains("CAST(_t1.\"has_wcs\" AS INTEGER) = 1"),
        "{}",
        pg(q)
    );
    assert!(ok(q).sql.contains("_t1.\"has_wcs\" = 1"), "{}", ok(q).sql);
}

#[test]
fn constructor_arguments_are_checked_and_printed_in_their_own_places() {
    // Each coordinate is the argument in its place, never the coordinate system or another
    // argument standing in for it.
    let sql = ok("SELECT CIRCLE('ICRS', s_ra, s_dec, 2) FROM ivoa.ObsCore").sql;
    assert!(
        sql.contains("adql_circle(_t1.\"s_ra\", _t1.\"s_dec\", 2)"),
        "{sql}"
    );
    let sql = pg("SELECT BOX('ICRS', s_dec, s_ra, 1, 2) FROM ivoa.ObsCore");
    assert!(
        sql.contains("skyport_box(_t1.\"s_dec\", _t1.\"s_ra\", 1, 2)"),
        "{sql}"
    );
    // A wrong argument is reported where it is, by its own text.
    let e = err("SELECT CIRCLE('ICRS', 10, obs_id, 1) FROM ivoa.ObsCore");
    assert_eq!(e.kind, ErrorKind::Type, "{e}");
    assert!(e.message.contains("`obs_id` is VARCHAR"), "{e}");
    assert_eq!((e.pos.line, e.pos.column), (1, 27), "{e}");
    let e = err("SELECT BOX(POINT(1, 2), 1, obs_id) FROM ivoa.ObsCore");
    assert!(e.message.contains("`obs_id`"), "{e}");
    let e = err("SELECT POLYGON(POINT(1, 2), POINT(2, 3), s_region) FROM ivoa.ObsCore");
    assert!(
        e.message.contains("a POINT is needed here, not REGION"),
        "{e}"
    );
}

#[test]
fn an_unordered_listing_of_a_table_with_a_listing_order_is_sorted_by_it_and_nothing_else_is() {
    let mut cat = cat();
    assert!(cat.set_listing_order("TAP_SCHEMA", "key_columns", &["key_id", "from_column"]));
    assert!(!cat.set_listing_order("TAP_SCHEMA", "nope", &["key_id"]));
    let sql = |q: &str| {
        parse_and_translate(q, &cat, Dialect::Sqlite, &Options::default())
            .unwrap_or_else(|e| panic!("{q}: {e}"))
            .sql
    };
    let tail = |q: &str| {
        let s = sql(q);
        s.find("ORDER BY").map(|i| s[i..].to_string())
    };
    for listing in [
        "SELECT * FROM TAP_SCHEMA.key_columns",
        "SELECT target_column FROM TAP_SCHEMA.key_columns AS k WHERE k.key_id <> 'x'",
        "SELECT TOP 3 k.* FROM TAP_SCHEMA.key_columns k",
    ] {
        let order = tail(listing).unwrap_or_else(|| panic!("{listing}: {}", sql(listing)));
        let key = order.find("key_id").expect("key_id first");
        let from = order.find("from_column").expect("then from_column");
        assert!(key < from, "{listing}: {order}");
    }
    // The query's own order stands; counts, DISTINCT, groups, joins and other tables are
    // not sorted (an added term could be invalid there, or cost a sort of a large result).
    assert_eq!(
        tail("SELECT * FROM TAP_SCHEMA.key_columns ORDER BY target_column DESC")
            .map(|o| o.contains("key_id")),
        Some(false)
    );
    for other in [
        "SELECT COUNT(*) FROM TAP_SCHEMA.key_columns",
        "SELECT DISTINCT key_id FROM TAP_SCHEMA.key_columns",
        "SELECT key_id FROM TAP_SCHEMA.key_columns GROUP BY key_id",
        "SELECT * FROM TAP_SCHEMA.key_columns AS a JOIN TAP_SCHEMA.keys AS b USING (key_id)",
        "SELECT * FROM TAP_SCHEMA.keys",
        "SELECT * FROM (SELECT * FROM TAP_SCHEMA.key_columns) AS t",
    ] {
        assert_eq!(tail(other), None, "{other}");
    }
}
