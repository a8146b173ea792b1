//! Users' tables over TAP (youcat's conventions, which pyvo's table-management calls speak), on
//! the suite's backend: made from a VOSI description or a VOTable, filled from CSV, TSV or
//! VOTable all or nothing, queried and joined in ADQL, granted to groups, indexed by a UWS job,
//! held to a row quota, dropped; a table the caller may not read is absent to them.

use axum::body::{Body, Bytes};
use axum::http::{header, StatusCode};

use crate::common::call;
use crate::webdav::{drive, drive_with, location, run_job, wait_as, Drive};

const STARS: &str = r#"<vosi:table xmlns:vosi="http://www.ivoa.net/xml/VOSITables/v1.0"
    xmlns:vs="http://www.ivoa.net/xml/VODataService/v1.1"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" type="output">
  <name>user_alice.stars</name>
  <description>Stars I follow</description>
  <column><name>id</name><dataType xsi:type="vs:VOTableType" arraysize="*">char</dataType></column>
  <column><name>ra</name><unit>deg</unit><ucd>pos.eq.ra</ucd>
    <dataType xsi:type="vs:VOTableType">double</dataType></column>
  <column><name>dec</name><unit>deg</unit><dataType xsi:type="vs:VOTableType">double</dataType></column>
  <column><name>n_obs</name><dataType xsi:type="vs:VOTableType">int</dataType></column>
  <column><name>seen</name><dataType xsi:type="vs:VOTableType" arraysize="*" xtype="timestamp">char</dataType></column>
</vosi:table>"#;

async fn put(d: &Drive, who: &str, name: &str, kind: &str, body: &str) -> (StatusCode, String) {
    let req = d
        .request(who, "PUT", &format!("/tap/tables/{name}"))
        .header(header::CONTENT_TYPE, kind)
        .body(Body::from(body.to_string()))
        .expect("request");
    let (status, _, body) = call(&d.app, req).await;
    (status, body)
}

async fn load(d: &Drive, who: &str, name: &str, kind: &str, body: Body) -> (StatusCode, String) {
    let req = d
        .request(who, "POST", &format!("/tap/load/{name}"))
        .header(header::CONTENT_TYPE, kind)
        .body(body)
        .expect("request");
    let (status, _, body) = call(&d.app, req).await;
    (status, body)
}

/// A query's CSV answer as `who`.
async fn query(d: &Drive, who: &str, adql: &str) -> (StatusCode, String) {
    let uri = format!(
        "/tap/sync?LANG=ADQL&FORMAT=csv&QUERY={}",
        percent_encoding::utf8_percent_encode(adql, percent_encoding::NON_ALPHANUMERIC)
    );
    d.send(who, "GET", &uri).await
}

#[tokio::test]
async fn a_table_is_made_filled_queried_shared_and_dropped() {
    let d = drive(1 << 20, 1000).await;
    let (status, body) = put(&d, "alice", "user_alice.stars", "text/xml", STARS).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // CSV, columns in another order, a quoted value with a comma, an empty (NULL) value;
    // sent in small pieces, as a slow client would.
    let csv = "ra,dec,id,n_obs,seen\n\
               250.4235,36.4613,\"M13, Hercules\",12,2025-12-01T03:04:05\n\
               50.6738,-37.2083,NGC 1316,,2025-12-02\n";
    let pieces: Vec<Result<Bytes, std::io::Error>> = csv
        .as_bytes()
        .chunks(7)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    let (status, body) = load(
        &d,
        "alice",
        "user_alice.stars",
        "text/csv",
        Body::from_stream(futures_util::stream::iter(pieces)),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("2 rows added"), "{body}");
    // TSV appends.
    let (status, body) = load(
        &d,
        "alice",
        "user_alice.stars",
        "text/tab-separated-values",
        Body::from("id\tra\tdec\tn_obs\tseen\nVega\t279.2347\t38.7837\t3\t\n"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let (status, csv) = query(
        &d,
        "alice",
        "SELECT id, ra, n_obs, seen FROM user_alice.stars ORDER BY ra",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{csv}");
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "id,ra,n_obs,seen");
    assert_eq!(lines[1], "NGC 1316,50.6738,,2025-12-02T00:00:00");
    assert_eq!(
        lines[2],
        "\"M13, Hercules\",250.4235,12,2025-12-01T03:04:05"
    );
    assert!(lines[3].starts_with("Vega,279.2347,3,"), "{csv}");
    // It joins with the archive's tables and with itself.
    let (status, csv) = query(
        &d,
        "alice",
        "SELECT COUNT(*) AS n FROM user_alice.stars AS s JOIN TAP_SCHEMA.schemas AS t ON t.schema_name = 'ivoa' WHERE s.dec > 0",
    )
    .await;
    assert_eq!(
        (status, csv.lines().nth(1)),
        (StatusCode::OK, Some("2")),
        "{csv}"
    );
    // /tap/tables describes it to its owner.
    let (_, tables) = d.send("alice", "GET", "/tap/tables").await;
    assert!(tables.contains("<name>user_alice.stars</name>"), "{tables}");
    assert!(tables.contains("<ucd>pos.eq.ra</ucd>"), "{tables}");

    // TAP_SCHEMA describes it to its owner, with its columns' metadata.
    let (_, csv) = query(
        &d,
        "alice",
        "SELECT c.column_name, c.unit, c.ucd FROM TAP_SCHEMA.columns AS c \
         JOIN TAP_SCHEMA.tables AS t ON t.table_name = c.table_name \
         WHERE t.schema_name = 'user_alice' ORDER BY c.column_index",
    )
    .await;
    assert_eq!(
        csv.lines().collect::<Vec<_>>(),
        [
            "column_name,unit,ucd",
            "id,,",
            "ra,deg,pos.eq.ra",
            "dec,deg,",
            "n_obs,,",
            "seen,,"
        ]
    );
    let user_schemas = "SELECT schema_name FROM TAP_SCHEMA.schemas WHERE schema_name LIKE 'user%'";
    let (_, csv) = query(&d, "alice", user_schemas).await;
    assert_eq!(csv.lines().nth(1), Some("user_alice"), "{csv}");

    // bob sees nothing of it: the same answer as a table that never was.
    for adql in [
        user_schemas,
        "SELECT table_name FROM TAP_SCHEMA.tables WHERE table_name LIKE 'user%'",
        "SELECT column_name FROM TAP_SCHEMA.columns WHERE table_name LIKE 'user%'",
    ] {
        let (status, csv) = query(&d, "bob", adql).await;
        assert_eq!(
            (status, csv.lines().count()),
            (StatusCode::OK, 1),
            "{adql}: {csv}"
        );
    }
    let (status, absent) = query(&d, "bob", "SELECT * FROM user_alice.nothing").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, hidden) = query(&d, "bob", "SELECT * FROM user_alice.stars").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        hidden.replace("stars", "X"),
        absent.replace("nothing", "X"),
        "a hidden table answers as an absent one"
    );
    let (_, tables) = d.send("bob", "GET", "/tap/tables").await;
    assert!(!tables.contains("user_alice"), "{tables}");
    assert_eq!(
        d.send("bob", "GET", "/tap/permissions/user_alice.stars")
            .await
            .0,
        StatusCode::NOT_FOUND
    );

    // Granted to team, read-only: bob (team) reads it, carol (no group) still does not.
    let req = d
        .request("alice", "POST", "/tap/permissions/user_alice.stars")
        .header(header::CONTENT_TYPE, "text/plain")
        .body(Body::from("r-group=ivo://skyport.test/gms?team\n"))
        .expect("request");
    let (status, _, text) = call(&d.app, req).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert!(text.contains("r-group=team"), "{text}");
    let (status, csv) = query(&d, "bob", "SELECT COUNT(*) FROM user_alice.stars").await;
    assert_eq!(
        (status, csv.lines().nth(1)),
        (StatusCode::OK, Some("3")),
        "{csv}"
    );
    assert_eq!(
        query(&d, "carol", "SELECT COUNT(*) FROM user_alice.stars")
            .await
            .0,
        StatusCode::BAD_REQUEST
    );
    let (status, _) = load(
        &d,
        "bob",
        "user_alice.stars",
        "text/csv",
        Body::from("id,ra,dec,n_obs,seen\nx,1,2,3,\n"),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "read-only for bob");
    assert_eq!(
        d.send("bob", "DELETE", "/tap/tables/user_alice.stars")
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    // Nobody makes tables in another's schema.
    let (status, _) = put(&d, "bob", "user_alice.mine", "text/xml", STARS).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // The owner drops it: gone for everyone.
    let (status, body) = d
        .send("alice", "DELETE", "/tap/tables/user_alice.stars")
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        query(&d, "alice", "SELECT * FROM user_alice.stars").await.0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        d.send("alice", "DELETE", "/tap/tables/user_alice.stars")
            .await
            .0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn bad_tables_and_bad_rows_are_refused_and_nothing_is_half_written() {
    let d = drive(1 << 20, 1000).await;
    let long = "x".repeat(10_000);
    for (name, body, why) in [
        (
            "user_alice.select",
            STARS.replace("stars", "select"),
            "reserved",
        ),
        (&format!("user_alice.{long}")[..], STARS.to_string(), "64"),
        ("alice.stars", STARS.to_string(), "user"),
        (
            "user_alice.stars",
            STARS.replace("<name>n_obs</name>", "<name>from</name>"),
            "reserved",
        ),
        (
            "user_alice.stars",
            STARS.replace(
                r#"<dataType xsi:type="vs:VOTableType">int</dataType>"#,
                r#"<dataType xsi:type="vs:VOTableType" arraysize="2x3">int</dataType>"#,
            ),
            "arraysize",
        ),
        ("user_alice.stars", "<vosi:table>".to_string(), "VOSI"),
        (
            "user_alice.stars",
            STARS.replace(
                "<unit>deg</unit><ucd>",
                "<unit>furlongs per fortnight</unit><ucd>",
            ),
            "unit",
        ),
        (
            "user_alice.stars",
            STARS.replace("pos.eq.ra", "pos eq ra!"),
            "not a UCD",
        ),
    ] {
        let (status, text) = put(&d, "alice", name, "text/xml", &body).await;
        assert!(
            status == StatusCode::BAD_REQUEST || status == StatusCode::FORBIDDEN,
            "{name}: {status} {text}"
        );
        assert!(text.contains(why), "{why}: {text}");
        assert!(
            !text.contains("CREATE") && !text.contains("skyport_user_table"),
            "{text}"
        );
    }
    // A VOTable with a wrong arraysize: refused, nothing made.
    let votable = r#"<VOTABLE version="1.4"><RESOURCE><TABLE>
        <FIELD name="id" datatype="char" arraysize="*"/>
        <FIELD name="flux" datatype="double" arraysize="2"/>
        <DATA><TABLEDATA><TR><TD>a</TD><TD>1 2</TD></TR></TABLEDATA></DATA></TABLE></RESOURCE></VOTABLE>"#;
    let (status, text) = put(
        &d,
        "alice",
        "user_alice.fluxes",
        "application/x-votable+xml",
        votable,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    assert!(text.contains("arraysize"), "{text}");
    assert_eq!(
        query(&d, "alice", "SELECT * FROM user_alice.fluxes")
            .await
            .0,
        StatusCode::BAD_REQUEST,
        "no table was made"
    );
    // A VOTable with rows makes the table with them.
    let votable = votable
        .replace(r#"datatype="double" arraysize="2""#, r#"datatype="double""#)
        .replace("1 2", "1.5");
    let (status, text) = put(
        &d,
        "alice",
        "user_alice.fluxes",
        "application/x-votable+xml",
        &votable,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let (status, text) = put(
        &d,
        "alice",
        "user_alice.fluxes",
        "application/x-votable+xml",
        &votable,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{text}");

    let (status, text) = put(&d, "alice", "user_alice.stars", "text/xml", STARS).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let good = "id,ra,dec,n_obs,seen\na,1,2,3,\n";
    for (body, why) in [
        ("id,ra,dec\na,1,2\n".to_string(), "columns"),
        ("id,ra,dec,n_obs,wrong\na,1,2,3,\n".to_string(), "columns"),
        (format!("{good}b,1,2,three,\n"), "line 3, column n_obs"),
        (format!("{good}c,1,2,99999999999,\n"), "out of the range"),
        (format!("{good}d,1,2\n"), "line 3: 3 values for 5 columns"),
        (format!("{good}e,1,2,3,yesterday\n"), "ISO 8601"),
    ] {
        let (status, text) = load(
            &d,
            "alice",
            "user_alice.stars",
            "text/csv",
            Body::from(body),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{why}: {text}");
        assert!(text.contains(why), "{why}: {text}");
        let (_, csv) = query(&d, "alice", "SELECT COUNT(*) FROM user_alice.stars").await;
        assert_eq!(csv.lines().nth(1), Some("0"), "{why}: all or nothing");
    }
    // An upload that breaks off adds nothing either.
    let pieces: Vec<Result<Bytes, std::io::Error>> = vec![
        Ok(Bytes::from(good)),
        Err(std::io::Error::other("connection reset")),
    ];
    let (status, _) = load(
        &d,
        "alice",
        "user_alice.stars",
        "text/csv",
        Body::from_stream(futures_util::stream::iter(pieces)),
    )
    .await;
    assert!(!status.is_success());
    let (_, csv) = query(&d, "alice", "SELECT COUNT(*) FROM user_alice.stars").await;
    assert_eq!(csv.lines().nth(1), Some("0"));
    let (status, text) = load(
        &d,
        "alice",
        "user_alice.stars",
        "application/fits",
        Body::from("not FITS at all"),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    assert!(text.contains("not a FITS file"), "{text}");
    let (status, _) = load(
        &d,
        "alice",
        "user_alice.stars",
        "application/octet-stream",
        Body::from("x"),
    )
    .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);

    // The quota (1,000 rows in the fixture): 999 fit with the VOTable's row, 1,001 do not.
    let mut many = String::from("id,ra,dec,n_obs,seen\n");
    for i in 0..1000 {
        many.push_str(&format!("s{i},{i},0,{i},\n"));
    }
    let (status, text) = load(
        &d,
        "alice",
        "user_alice.stars",
        "text/csv",
        Body::from(many),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    assert!(text.contains("quota of 1000 rows"), "{text}");
    let (_, csv) = query(&d, "alice", "SELECT COUNT(*) FROM user_alice.stars").await;
    assert_eq!(csv.lines().nth(1), Some("0"));
}

#[tokio::test]
async fn an_index_is_made_by_a_table_update_job() {
    let d = drive(1 << 20, 1000).await;
    let (status, text) = put(&d, "alice", "user_alice.stars", "text/xml", STARS).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let start = |who: &'static str, column: &str| {
        d.request(who, "POST", "/tap/table-update")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(format!(
                "table=user_alice.stars&index={column}&unique=true"
            )))
            .expect("request")
    };
    let (status, headers, text) = call(&d.app, start("alice", "id")).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{text}");
    let job = location(&headers);
    run_job(&d, "alice", &job).await;
    let doc = wait_as(&d, "alice", &job).await;
    assert!(doc.contains("<uws:phase>COMPLETED</uws:phase>"), "{doc}");
    // The index is there: /tap/tables flags the column, and a unique index refuses a repeat.
    let (_, table) = d.send("alice", "GET", "/tap/tables/user_alice.stars").await;
    assert!(table.contains(r#"<flag>indexed</flag>"#), "{table}");
    let (status, text) = load(
        &d,
        "alice",
        "user_alice.stars",
        "text/csv",
        Body::from("id,ra,dec,n_obs,seen\na,1,2,3,\na,4,5,6,\n"),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    let (_, csv) = query(&d, "alice", "SELECT COUNT(*) FROM user_alice.stars").await;
    assert_eq!(csv.lines().nth(1), Some("0"));
    // A column that is not there: the job ends in error, saying so.
    let (_, headers, _) = call(&d.app, start("alice", "nothere")).await;
    let job = location(&headers);
    run_job(&d, "alice", &job).await;
    let doc = wait_as(&d, "alice", &job).await;
    assert!(doc.contains("<uws:phase>ERROR</uws:phase>"), "{doc}");
    // bob may not index alice's table: his job ends in error, as for a table that is not.
    let (status, headers, _) = call(&d.app, start("bob", "seen")).await;
    assert_eq!(
        status,
        StatusCode::SEE_OTHER,
        "the job is made; it is refused when it runs"
    );
    let job = location(&headers);
    run_job(&d, "bob", &job).await;
    let doc = wait_as(&d, "bob", &job).await;
    assert!(doc.contains("<uws:phase>ERROR</uws:phase>"), "{doc}");
    let (_, error) = d.send("bob", "GET", &format!("{job}/error")).await;
    assert!(error.contains("no table user_alice.stars"), "{error}");
}

#[tokio::test]
async fn a_query_result_is_kept_as_a_table_with_its_owners_rights() {
    // Group team holds the rights to a restricted collection: what alice (in team) keeps from
    // a query only readers in team may read, whoever she grants it to.
    let rights = std::sync::Arc::new(skyport_store::Rights::new(
        [skyport_store::CollectionRights {
            collection: "secret".into(),
            groups: vec!["team".into()],
            metadata_public: false,
            data_public: false,
        }],
        Vec::<(String, Vec<String>)>::new(),
    ));
    let d = drive_with(1 << 20, 1000, rights).await;
    let adql = "SELECT schema_name, table_name, table_type FROM TAP_SCHEMA.tables";
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("LANG", "ADQL")
        .append_pair("QUERY", adql)
        .append_pair("DEST", "user_alice.kept")
        .append_pair("PHASE", "RUN")
        .finish();
    let req = d
        .request("alice", "POST", "/tap/async")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .expect("request");
    let (status, headers, text) = call(&d.app, req).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{text}");
    let job = location(&headers);
    let doc = wait_as(&d, "alice", &job).await;
    assert!(doc.contains("<uws:phase>COMPLETED</uws:phase>"), "{doc}");
    // The kept table holds the result's rows.
    // (TAP_SCHEMA lists the kept table too now; it did not when the query ran.)
    let (_, direct) = query(
        &d,
        "alice",
        &format!("{adql} WHERE schema_name <> 'user_alice' ORDER BY table_name"),
    )
    .await;
    let (status, kept) = query(
        &d,
        "alice",
        "SELECT schema_name, table_name, table_type FROM user_alice.kept ORDER BY table_name",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{kept}");
    assert_eq!(kept, direct);
    // Granted to editors: bob (team and editors) reads it; erin (editors, not team) does not.
    let req = d
        .request("alice", "POST", "/tap/permissions/user_alice.kept")
        .body(Body::from("r-group=editors"))
        .expect("request");
    assert_eq!(call(&d.app, req).await.0, StatusCode::OK);
    assert_eq!(
        query(&d, "bob", "SELECT COUNT(*) FROM user_alice.kept")
            .await
            .0,
        StatusCode::OK
    );
    let (status, text) = query(&d, "erin", "SELECT COUNT(*) FROM user_alice.kept").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    // A table a user made and filled from their own bytes carries no such bound.
    let (status, _) = put(
        &d,
        "alice",
        "user_alice.own",
        "text/xml",
        &STARS.replace("stars", "own"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let req = d
        .request("alice", "POST", "/tap/permissions/user_alice.own")
        .body(Body::from("r-group=editors"))
        .expect("request");
    assert_eq!(call(&d.app, req).await.0, StatusCode::OK);
    assert_eq!(
        query(&d, "erin", "SELECT COUNT(*) FROM user_alice.own")
            .await
            .0,
        StatusCode::OK
    );
    // A result into someone else's schema: the job ends in error, nothing made.
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("LANG", "ADQL")
        .append_pair("QUERY", adql)
        .append_pair("DEST", "user_alice.from_bob")
        .append_pair("PHASE", "RUN")
        .finish();
    let req = d
        .request("bob", "POST", "/tap/async")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .expect("request");
    let (_, headers, _) = call(&d.app, req).await;
    let job = location(&headers);
    let doc = wait_as(&d, "bob", &job).await;
    assert!(doc.contains("<uws:phase>ERROR</uws:phase>"), "{doc}");
    assert_eq!(
        query(&d, "alice", "SELECT COUNT(*) FROM user_alice.from_bob")
            .await
            .0,
        StatusCode::BAD_REQUEST
    );
}

async fn post_table(
    d: &Drive,
    who: &str,
    name: &str,
    kind: &str,
    body: Body,
) -> (StatusCode, String) {
    let req = d
        .request(who, "POST", &format!("/tap/tables/{name}"))
        .header(header::CONTENT_TYPE, kind)
        .body(body)
        .expect("request");
    let (status, _, body) = call(&d.app, req).await;
    (status, body)
}

#[tokio::test]
async fn a_table_is_described_anew_and_rows_posted_to_it_are_added() {
    let d = drive(1 << 20, 1000).await;
    let (status, body) = put(&d, "alice", "user_alice.stars", "text/xml", STARS).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // A new description of two columns, and of the table.
    let described = r#"<?xml version="1.0"?>
<!-- the metadata, set again -->
<vosi:table xmlns:vosi="http://www.ivoa.net/xml/VOSITables/v1.0"
    xmlns:vs="http://www.ivoa.net/xml/VODataService/v1.1"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <name>user_alice.stars</name>
  <description>Stars I follow, with their declinations</description>
  <column><name>dec</name><description>Declination (ICRS)</description><unit>deg</unit>
    <ucd>pos.eq.dec;meta.main</ucd><dataType xsi:type="vs:VOTableType">double</dataType></column>
  <column><name>n_obs</name><description>Times seen</description><unit>ct</unit>
    <dataType xsi:type="vs:VOTableType">int</dataType></column>
</vosi:table>"#;
    let (status, body) = post_table(
        &d,
        "bob",
        "user_alice.stars",
        "text/xml",
        Body::from(described),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "another user finds no table: {body}"
    );
    let (status, body) = post_table(
        &d,
        "alice",
        "user_alice.stars",
        "text/xml",
        Body::from(described),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, csv) = query(
        &d,
        "alice",
        "SELECT c.column_name, c.unit, c.ucd, c.description, t.description FROM TAP_SCHEMA.columns AS c \
         JOIN TAP_SCHEMA.tables AS t ON t.table_name = c.table_name \
         WHERE t.schema_name = 'user_alice' ORDER BY c.column_index",
    )
    .await;
    let table = "Stars I follow, with their declinations";
    assert_eq!(
        csv.lines().collect::<Vec<_>>(),
        [
            "column_name,unit,ucd,description,description_2".to_string(),
            format!("id,,,,\"{table}\""),
            format!("ra,deg,pos.eq.ra,,\"{table}\""),
            format!("dec,deg,pos.eq.dec;meta.main,Declination (ICRS),\"{table}\""),
            format!("n_obs,ct,,Times seen,\"{table}\""),
            format!("seen,,,,\"{table}\""),
        ]
    );
    let (_, tables) = d.send("alice", "GET", "/tap/tables").await;
    assert!(
        tables.contains("<ucd>pos.eq.dec;meta.main</ucd>"),
        "{tables}"
    );
    // Bad descriptions change nothing: a type changed, a column that is not there, a bad unit
    // and a bad UCD.
    for (bad, says) in [
        (
            "<column><name>n_obs</name><dataType>double</dataType></column>",
            "stays so",
        ),
        (
            "<column><name>mag</name><dataType>double</dataType></column>",
            "no column",
        ),
        (
            "<column><name>ra</name><unit>furlong/(</unit><dataType>double</dataType></column>",
            "unit",
        ),
        (
            "<column><name>ra</name><ucd>pos eq</ucd><dataType>double</dataType></column>",
            "not a UCD",
        ),
    ] {
        let doc = format!("<vosi:table xmlns:vosi=\"http://www.ivoa.net/xml/VOSITables/v1.0\"><name>stars</name><description>changed</description>{bad}</vosi:table>");
        let (status, body) =
            post_table(&d, "alice", "user_alice.stars", "text/xml", Body::from(doc)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert!(body.contains(says), "{bad}: {body}");
    }
    let (_, csv) = query(
        &d,
        "alice",
        "SELECT description FROM TAP_SCHEMA.tables WHERE schema_name = 'user_alice'",
    )
    .await;
    assert_eq!(
        csv.lines().nth(1),
        Some(format!("\"{table}\"").as_str()),
        "{csv}"
    );

    // Rows posted to the table as a VOTable (BINARY2, read as a stream) are added.
    let mut votable = String::from(
        "<?xml version=\"1.0\"?><VOTABLE version=\"1.4\" xmlns=\"http://www.ivoa.net/xml/VOTable/v1.3\"><RESOURCE><TABLE>\
         <FIELD name=\"n_obs\" datatype=\"int\"/><FIELD name=\"id\" datatype=\"char\" arraysize=\"*\"/>\
         <FIELD name=\"ra\" datatype=\"double\"/><FIELD name=\"dec\" datatype=\"double\"/>\
         <FIELD name=\"seen\" datatype=\"char\" arraysize=\"*\"/>\
         <DATA><BINARY2><STREAM encoding=\"base64\">\n",
    );
    let mut raw = Vec::new();
    for i in 0..900i32 {
        raw.push(0x08); // the fifth field, seen, is NULL
        raw.extend_from_slice(&i.to_be_bytes());
        let id = format!("star {i}");
        raw.extend_from_slice(&(id.len() as u32).to_be_bytes());
        raw.extend_from_slice(id.as_bytes());
        raw.extend_from_slice(&(f64::from(i) / 100.0).to_be_bytes());
        raw.extend_from_slice(&(-f64::from(i) / 1000.0).to_be_bytes());
        raw.extend_from_slice(&0u32.to_be_bytes());
    }
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode(&raw);
    for line in encoded.as_bytes().chunks(76) {
        votable.push_str(std::str::from_utf8(line).expect("base64"));
        votable.push('\n');
    }
    votable.push_str("</STREAM></BINARY2></DATA></TABLE></RESOURCE></VOTABLE>\n");
    let pieces: Vec<Result<Bytes, std::io::Error>> = votable
        .into_bytes()
        .chunks(4099)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    let (status, body) = post_table(
        &d,
        "alice",
        "user_alice.stars",
        "application/x-votable+xml",
        Body::from_stream(futures_util::stream::iter(pieces)),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("900 rows added"), "{body}");
    let (_, csv) = query(
        &d,
        "alice",
        "SELECT COUNT(*) AS n, SUM(n_obs) AS s, MAX(id) AS m, MAX(ra) AS r, MIN(dec) AS d, COUNT(seen) AS t FROM user_alice.stars",
    )
    .await;
    assert_eq!(
        csv.lines().nth(1),
        Some("900,404550,star 99,8.99,-0.899,0"),
        "{csv}"
    );
    // A stream cut inside a row adds nothing.
    let cut = format!(
        "<VOTABLE><RESOURCE><TABLE><FIELD name=\"n_obs\" datatype=\"int\"/><FIELD name=\"id\" datatype=\"char\" arraysize=\"*\"/><FIELD name=\"ra\" datatype=\"double\"/><FIELD name=\"dec\" datatype=\"double\"/><FIELD name=\"seen\" datatype=\"char\" arraysize=\"*\"/><DATA><BINARY><STREAM encoding=\"base64\">{}</STREAM></BINARY></DATA></TABLE></RESOURCE></VOTABLE>",
        base64::engine::general_purpose::STANDARD.encode([0u8, 0, 0, 1, 0, 0, 0, 0, 0, 0])
    );
    let (status, body) =
        post_table(&d, "alice", "user_alice.stars", "text/xml", Body::from(cut)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("ends inside a row"), "{body}");
    let (_, csv) = query(&d, "alice", "SELECT COUNT(*) AS n FROM user_alice.stars").await;
    assert_eq!(csv.lines().nth(1), Some("900"), "{csv}");
}
