//! TAP 1.1 in-process: parameters, MAXREC and overflow, errors with their status, formats,
//! uploads, limits, and the UWS job tree. Expected values come from the standard's text and
//! from the archive's own TAP_SCHEMA rows, counted independently with SQL-free reasoning.

mod common;

use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use common::{as_user, call, fixture, fixture_with, get, wait_final};
use skyport_server::Limits;

fn q(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn sync(query: &str, extra: &str) -> Request<Body> {
    get(&format!("/tap/sync?LANG=ADQL&QUERY={}{extra}", q(query)))
}

fn count(body: &str, needle: &str) -> usize {
    body.matches(needle).count()
}

/// The rows of the demo archive's TAP_SCHEMA.columns, known from the Felis files.
fn tap_schema_column_count() -> usize {
    skyport_schema::builtin_schemas()
        .iter()
        .flat_map(|s| s.tables.iter())
        .map(|t| t.columns.len())
        .sum()
}

#[tokio::test]
async fn spurious_parameters_and_mixed_case_names_are_accepted() {
    let f = fixture().await;
    let uri = format!(
        "/tap/sync?lang=ADQL&Query={}&REQUEST=doQuery&VERSION=1.0&whatever=1",
        q("SELECT TOP 3 table_name, column_name, \"size\" FROM TAP_SCHEMA.columns")
    );
    let (status, headers, body) = call(&f.app, get(&uri)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(headers[header::CONTENT_TYPE], "application/x-votable+xml");
    let ok = body
        .find("<INFO name=\"QUERY_STATUS\" value=\"OK\"/>")
        .expect("status");
    assert!(
        ok < body.find("<TABLE>").expect("table"),
        "QUERY_STATUS first"
    );
    assert_eq!(count(&body, "<TR>"), 3);
    assert!(
        body.contains("<FIELD name=\"size\" datatype=\"int\""),
        "{body}"
    );
    assert!(!body.contains("OVERFLOW"));
}

#[tokio::test]
async fn maxrec_truncates_with_an_overflow_and_top_does_not() {
    let f = fixture().await;
    let all = tap_schema_column_count();
    let (_, _, body) = call(
        &f.app,
        sync("SELECT column_name FROM TAP_SCHEMA.columns", "&MAXREC=5"),
    )
    .await;
    assert_eq!(count(&body, "<TR>"), 5);
    let table_end = body.find("</TABLE>").expect("table");
    let overflow = body.find("value=\"OVERFLOW\"").expect("overflow");
    assert!(overflow > table_end, "trailing OVERFLOW");

    let (_, _, body) = call(
        &f.app,
        sync(
            "SELECT TOP 3 column_name FROM TAP_SCHEMA.columns",
            "&MAXREC=5",
        ),
    )
    .await;
    assert_eq!(count(&body, "<TR>"), 3);
    assert!(!body.contains("OVERFLOW"), "TOP alone never overflows");

    let (_, _, body) = call(
        &f.app,
        sync("SELECT column_name FROM TAP_SCHEMA.columns", ""),
    )
    .await;
    assert_eq!(
        count(&body, "<TR>"),
        all,
        "the default MAXREC is far above the table size"
    );
    assert!(!body.contains("OVERFLOW"));

    let (status, _, body) = call(
        &f.app,
        sync("SELECT column_name FROM TAP_SCHEMA.columns", "&MAXREC=0"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(count(&body, "<TR>"), 0);
    assert!(body.contains("<FIELD name=\"column_name\""));
    assert!(body.contains("value=\"OVERFLOW\""));

    let limited = fixture_with(Limits {
        maxrec_hard: 4,
        maxrec_default: 2,
        ..Limits::default()
    })
    .await;
    let (_, _, body) = call(
        &limited.app,
        sync("SELECT column_name FROM TAP_SCHEMA.columns", ""),
    )
    .await;
    assert_eq!(count(&body, "<TR>"), 2, "default MAXREC");
    let (_, _, body) = call(
        &limited.app,
        sync("SELECT column_name FROM TAP_SCHEMA.columns", "&MAXREC=1000"),
    )
    .await;
    assert_eq!(count(&body, "<TR>"), 4, "hard cap");
    assert!(body.contains("value=\"OVERFLOW\""));
}

#[tokio::test]
async fn bad_input_gets_the_error_document_and_status() {
    let f = fixture().await;
    let cases = [
        (
            "/tap/sync?LANG=SQL&QUERY=SELECT+1",
            StatusCode::BAD_REQUEST,
            "LANG",
        ),
        (
            "/tap/sync?QUERY=SELECT+1",
            StatusCode::BAD_REQUEST,
            "LANG is missing",
        ),
        (
            "/tap/sync?LANG=ADQL&QUERY=SELEKT+x",
            StatusCode::BAD_REQUEST,
            "ADQL",
        ),
        (
            "/tap/sync?LANG=ADQL&QUERY=SELECT+nosuch+FROM+ivoa.ObsCore",
            StatusCode::BAD_REQUEST,
            "nosuch",
        ),
        (
            "/tap/sync?LANG=ADQL&QUERY=SELECT+1+FROM+ivoa.ObsCore&MAXREC=-1",
            StatusCode::BAD_REQUEST,
            "MAXREC",
        ),
        (
            "/tap/sync?LANG=ADQL&QUERY=SELECT+1+FROM+ivoa.ObsCore&MAXREC=1&MAXREC=2",
            StatusCode::BAD_REQUEST,
            "MAXREC",
        ),
        (
            "/tap/sync?LANG=ADQL&QUERY=SELECT+1+FROM+ivoa.ObsCore&RESPONSEFORMAT=bogus",
            StatusCode::BAD_REQUEST,
            "RESPONSEFORMAT",
        ),
        (
            "/tap/sync?LANG=ADQL&QUERY=SELECT+*+FROM+TAP_UPLOAD.t&UPLOAD=t,param:t",
            StatusCode::BAD_REQUEST,
            "no file part",
        ),
        ("/tap/async/nosuchjob", StatusCode::NOT_FOUND, "nosuchjob"),
    ];
    for (uri, want, says) in cases {
        let (status, headers, body) = call(&f.app, get(uri)).await;
        assert_eq!(status, want, "{uri}: {body}");
        assert_eq!(
            headers[header::CONTENT_TYPE],
            "application/x-votable+xml",
            "{uri}"
        );
        assert!(
            body.contains("<INFO name=\"QUERY_STATUS\" value=\"ERROR\">"),
            "{uri}: {body}"
        );
        assert!(body.contains(says), "{uri}: {body}");
    }
}

#[tokio::test]
async fn formats_are_served_with_their_content_types() {
    let f = fixture().await;
    let query = "SELECT TOP 2 table_name, column_index FROM TAP_SCHEMA.columns ORDER BY table_name, column_index";
    for (format, content_type, marker) in [
        (
            "csv",
            "text/csv;header=present",
            "table_name,column_index\n",
        ),
        ("text/csv", "text/csv", "table_name,column_index\n"),
        (
            "tsv",
            "text/tab-separated-values",
            "table_name\tcolumn_index\n",
        ),
        ("json", "application/json", "\"columns\""),
        (
            "votable/b2",
            "application/x-votable+xml;serialization=BINARY2",
            "<BINARY2><STREAM encoding=\"base64\">",
        ),
        (
            "application/x-votable+xml",
            "application/x-votable+xml",
            "<TABLEDATA>",
        ),
    ] {
        let (status, headers, body) = call(
            &f.app,
            sync(query, &format!("&RESPONSEFORMAT={}", q(format))),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{format}: {body}");
        assert_eq!(headers[header::CONTENT_TYPE], content_type, "{format}");
        assert!(body.contains(marker), "{format}: {body}");
    }
    let (_, _, csv) = call(&f.app, sync(query, "&FORMAT=csv")).await;
    assert_eq!(
        csv.lines().nth(1),
        Some("TAP_SCHEMA.columns,1"),
        "FORMAT is a synonym"
    );
}

fn multipart(parts: &[(&str, Option<&str>, &str)]) -> Request<Body> {
    let mut body = String::new();
    for (name, file, content) in parts {
        body.push_str("--BOUNDARY\r\n");
        match file {
            Some(f) => body.push_str(&format!(
                "Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\nContent-Type: application/x-votable+xml\r\n\r\n"
            )),
            None => body.push_str(&format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n")),
        }
        body.push_str(content);
        body.push_str("\r\n");
    }
    body.push_str("--BOUNDARY--\r\n");
    Request::post("/tap/sync")
        .header(
            header::CONTENT_TYPE,
            "multipart/form-data; boundary=BOUNDARY",
        )
        .body(Body::from(body))
        .expect("request")
}

const UPLOAD: &str = r#"<?xml version="1.0"?>
<VOTABLE version="1.3" xmlns="http://www.ivoa.net/xml/VOTable/v1.3"><RESOURCE><TABLE>
<FIELD name="name" datatype="char" arraysize="*"/>
<FIELD name="n" datatype="int"/>
<FIELD name="t" datatype="char" arraysize="*" xtype="timestamp"/>
<FIELD name="Odd Name" datatype="double"/>
<DATA><TABLEDATA>
<TR><TD>TAP_SCHEMA.columns</TD><TD>1</TD><TD>2024-05-01T12:00:00.500</TD><TD>1.5</TD></TR>
<TR><TD>ivoa.ObsCore</TD><TD/><TD/><TD/></TR>
</TABLEDATA></DATA></TABLE></RESOURCE></VOTABLE>"#;

#[tokio::test]
async fn upload_column_names_with_control_characters_are_the_clients_mistake() {
    let f = fixture().await;
    for bad in ["a\u{0}b", "bell\u{7}"] {
        let table = UPLOAD.replace("\"Odd Name\"", &format!("\"{bad}\""));
        let (status, _, body) = call(
            &f.app,
            multipart(&[
                ("LANG", None, "ADQL"),
                ("QUERY", None, "SELECT * FROM TAP_UPLOAD.mine"),
                ("UPLOAD", None, "mine,param:tbl"),
                ("tbl", Some("t.xml"), &table),
            ]),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad:?}: {body}");
        assert!(body.contains("control character"), "{bad:?}: {body}");
        assert!(!body.contains("CREATE"), "no SQL in the message: {body}");
    }
    // Thousands of columns are checked for duplicates in linear time.
    let fields: String = (0..20_000)
        .map(|i| format!(r#"<FIELD name="c{i}" datatype="int"/>"#))
        .collect();
    let wide = format!(
        r#"<VOTABLE version="1.3" xmlns="http://www.ivoa.net/xml/VOTable/v1.3"><RESOURCE><TABLE>{fields}<FIELD name="C7" datatype="int"/><DATA><TABLEDATA></TABLEDATA></DATA></TABLE></RESOURCE></VOTABLE>"#
    );
    let started = std::time::Instant::now();
    let (status, _, body) = call(
        &f.app,
        multipart(&[
            ("LANG", None, "ADQL"),
            ("QUERY", None, "SELECT * FROM TAP_UPLOAD.mine"),
            ("UPLOAD", None, "mine,param:tbl"),
            ("tbl", Some("t.xml"), &wide),
        ]),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("C7&quot; appears twice"), "{body}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn inline_uploads_round_trip_and_join() {
    let f = fixture().await;
    let (status, _, body) = call(
        &f.app,
        multipart(&[
            ("LANG", None, "ADQL"),
            ("QUERY", None, "SELECT * FROM TAP_UPLOAD.mine ORDER BY n"),
            ("UPLOAD", None, "mine,param:tbl"),
            ("RESPONSEFORMAT", None, "csv"),
            ("tbl", Some("t.xml"), UPLOAD),
        ]),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // SQLite sorts NULL first.
    assert_eq!(
        body,
        "name,n,t,Odd Name\nivoa.ObsCore,,,\nTAP_SCHEMA.columns,1,2024-05-01T12:00:00.500,1.5\n"
    );
    let (status, _, body) = call(
        &f.app,
        multipart(&[
            ("LANG", None, "ADQL"),
            ("QUERY", None, "SELECT u.name, COUNT(*) AS n FROM TAP_UPLOAD.mine AS u JOIN TAP_SCHEMA.columns AS c ON c.table_name = u.name GROUP BY u.name ORDER BY u.name"),
            ("UPLOAD", None, "mine,param:tbl"),
            ("FORMAT", None, "csv"),
            ("tbl", Some("t.xml"), UPLOAD),
        ]),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let obscore_columns = skyport_schema::builtin_schemas()
        .iter()
        .find(|s| s.name == "ivoa")
        .and_then(|s| s.table("ObsCore"))
        .map(|t| t.columns.len())
        .expect("ObsCore");
    let tap_columns = skyport_schema::builtin_schemas()
        .iter()
        .find(|s| s.name == "TAP_SCHEMA")
        .and_then(|s| s.table("columns"))
        .map(|t| t.columns.len())
        .expect("columns");
    assert_eq!(
        body,
        format!("name,n\nTAP_SCHEMA.columns,{tap_columns}\nivoa.ObsCore,{obscore_columns}\n")
    );
    // The table existed for that query only.
    let (status, _, _) = call(&f.app, sync("SELECT * FROM TAP_UPLOAD.mine", "")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn limits_give_clear_errors() {
    let f = fixture_with(Limits {
        max_request_bytes: 4096,
        upload_max_rows: 1,
        execution_seconds_default: 1,
        ..Limits::default()
    })
    .await;
    let big = "x".repeat(10_000);
    let (status, _, body) = call(
        &f.app,
        multipart(&[("LANG", None, "ADQL"), ("big", Some("b"), &big)]),
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert!(
        body.contains("QUERY_STATUS\" value=\"ERROR\">UsageFault: the request body is larger"),
        "{body}"
    );
    let (status, _, body) = call(
        &f.app,
        multipart(&[
            ("LANG", None, "ADQL"),
            ("QUERY", None, "SELECT * FROM TAP_UPLOAD.mine"),
            ("UPLOAD", None, "mine,param:tbl"),
            ("tbl", Some("t.xml"), UPLOAD),
        ]),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("more than 1 rows"), "{body}");
    let huge = UPLOAD.replace(
        "<FIELD name=\"name\" datatype=\"char\" arraysize=\"*\"/>",
        "<FIELD name=\"name\" datatype=\"char\" arraysize=\"2000000000\"/>",
    );
    // A one-row table, so the declared size is what is refused.
    let huge = huge.replace("<TR><TD>ivoa.ObsCore</TD><TD/><TD/><TD/></TR>\n", "");
    let (status, _, body) = call(
        &f.app,
        multipart(&[
            ("LANG", None, "ADQL"),
            ("QUERY", None, "SELECT * FROM TAP_UPLOAD.mine"),
            ("RESPONSEFORMAT", None, "votable/b2"),
            ("UPLOAD", None, "mine,param:tbl"),
            ("tbl", Some("t.xml"), &huge),
        ]),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("declares arraysize 2000000000"), "{body}");
    // Five-fold cross join of TAP_SCHEMA.columns: ~4·10^9 rows to test, far over one second.
    let slow = "SELECT COUNT(*) AS n FROM TAP_SCHEMA.columns AS a, TAP_SCHEMA.columns AS b, TAP_SCHEMA.columns AS c, TAP_SCHEMA.columns AS d, TAP_SCHEMA.columns AS e WHERE a.column_index + b.column_index + c.column_index + d.column_index + e.column_index > 0";
    let started = std::time::Instant::now();
    let (status, _, body) = call(&f.app, sync(slow, "")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("ran longer than the limit of 1 s"), "{body}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

fn post(uri: &str, form: &str) -> Request<Body> {
    Request::post(uri)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(form.to_string()))
        .expect("request")
}

fn location(headers: &axum::http::HeaderMap) -> String {
    let l = headers[header::LOCATION].to_str().expect("location");
    l.strip_prefix("http://127.0.0.1:8080")
        .expect("absolute")
        .to_string()
}

#[tokio::test]
async fn async_jobs_follow_uws() {
    let f = fixture().await;
    // Jobs are listed to their owner only: the whole tree is used as one named user.
    let app = as_user(&f.app, "alice");
    let query = q("SELECT TOP 4 column_name FROM TAP_SCHEMA.columns");
    let (status, headers, _) = call(
        &app,
        post(
            "/tap/async",
            &format!("LANG=ADQL&QUERY={query}&RUNID=first&RESPONSEFORMAT=csv"),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let job = location(&headers);
    let id = job.rsplit('/').next().expect("id").to_string();
    let (status, headers, body) = call(&app, get(&job)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers[header::CONTENT_TYPE]
        .to_str()
        .expect("ct")
        .starts_with("text/xml"));
    assert!(
        body.contains("version=\"1.1\"") && body.contains("<uws:phase>PENDING</uws:phase>"),
        "{body}"
    );
    assert!(body.contains(&format!("<uws:jobId>{id}</uws:jobId>")));
    assert!(body.contains("<uws:ownerId>alice</uws:ownerId>"), "{body}");
    let (status, _, owner) = call(&app, get(&format!("{job}/owner"))).await;
    assert_eq!((status, owner.as_str()), (StatusCode::OK, "alice"));
    // RUNID replaced, not duplicated.
    let (status, _, _) = call(&app, post(&format!("{job}/parameters"), "runId=second")).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, _, params) = call(&app, get(&format!("{job}/parameters"))).await;
    assert_eq!(count(&params, "id=\"runid\""), 1, "{params}");
    assert!(params.contains(">second<"));
    let (_, headers, phase) = call(&app, get(&format!("{job}/phase"))).await;
    assert_eq!(
        (
            phase.as_str(),
            headers[header::CONTENT_TYPE].to_str().expect("ct")
        ),
        ("PENDING", "text/plain; charset=utf-8")
    );
    let (_, _, duration) = call(&app, get(&format!("{job}/executionduration"))).await;
    let (_, _, doc) = call(&app, get(&job)).await;
    assert!(doc.contains(&format!(
        "<uws:executionDuration>{duration}</uws:executionDuration>"
    )));
    let (_, _, destruction) = call(&app, get(&format!("{job}/destruction"))).await;
    assert!(
        doc.contains(&format!("<uws:destruction>{destruction}</uws:destruction>"))
            && destruction.ends_with('Z')
    );

    let (status, _, _) = call(&app, post(&format!("{job}/phase"), "PHASE=RUN")).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let done = wait_final(&app, &job).await;
    assert!(done.contains("<uws:phase>COMPLETED</uws:phase>"), "{done}");
    assert!(
        done.contains(&format!(
            "xlink:href=\"http://127.0.0.1:8080/tap/async/{id}/results/result\""
        )),
        "{done}"
    );
    let (status, headers, result) = call(&app, get(&format!("{job}/results/result"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "text/csv;header=present");
    assert_eq!(result.lines().count(), 5, "{result}");
    let (status, _, _) = call(&app, post(&format!("{job}/parameters"), "QUERY=x")).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "parameters only while PENDING"
    );
    let (status, _, _) = call(&app, get(&format!("{job}/error"))).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "a completed job has no error"
    );

    // A failing job: the error document with status 200.
    let (_, headers, _) = call(
        &app,
        post(
            "/tap/async",
            &format!(
                "LANG=ADQL&QUERY={}&PHASE=RUN",
                q("SELECT nosuch FROM ivoa.ObsCore")
            ),
        ),
    )
    .await;
    let bad = location(&headers);
    let done = wait_final(&app, &bad).await;
    assert!(
        done.contains("<uws:phase>ERROR</uws:phase>") && done.contains("<uws:errorSummary"),
        "{done}"
    );
    let (status, _, err) = call(&app, get(&format!("{bad}/error"))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        err.contains("value=\"ERROR\">UsageFault: the ADQL query is invalid")
            && err.contains("nosuch"),
        "{err}"
    );

    // The list and its filters.
    let (_, _, list) = call(&app, get("/tap/async?PHASE=ERROR")).await;
    assert!(
        list.contains(&bad.rsplit('/').next().expect("id").to_string()) && !list.contains(&id),
        "{list}"
    );
    let (_, _, list) = call(&app, get("/tap/async?LAST=1")).await;
    assert_eq!(count(&list, "<uws:jobref"), 1);

    // ACTION=DELETE and HTTP DELETE.
    let (status, headers, _) = call(&app, post(&job, "ACTION=DELETE")).await;
    assert_eq!(
        (status, location(&headers).as_str()),
        (StatusCode::SEE_OTHER, "/tap/async")
    );
    assert_eq!(call(&app, get(&job)).await.0, StatusCode::NOT_FOUND);
    let (status, _, _) = call(
        &app,
        Request::delete(&bad).body(Body::empty()).expect("req"),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(call(&app, get(&bad)).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn aborting_a_pending_job() {
    let f = fixture().await;
    let (_, headers, _) = call(
        &f.app,
        post("/tap/async", "LANG=ADQL&QUERY=SELECT+1+FROM+ivoa.ObsCore"),
    )
    .await;
    let job = location(&headers);
    let (status, _, _) = call(&f.app, post(&format!("{job}/phase"), "PHASE=ABORT")).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, _, phase) = call(&f.app, get(&format!("{job}/phase"))).await;
    assert_eq!(phase, "ABORTED");
    let (status, _, body) = call(&f.app, post(&format!("{job}/phase"), "PHASE=SUSPEND")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

#[tokio::test]
async fn vosi_tables_and_examples() {
    let f = fixture().await;
    let (status, _, body) = call(&f.app, get("/tap/tables")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        count(&body, "<column"),
        tap_schema_column_count(),
        "every TAP_SCHEMA column"
    );
    assert!(
        body.contains("<name>&quot;size&quot;</name>"),
        "reserved names delimited"
    );
    let (_, _, min) = call(&f.app, get("/tap/tables?detail=min")).await;
    assert_eq!(count(&min, "<column"), 0);
    assert!(min.contains("<name>ivoa.ObsCore</name>"));
    let (status, _, one) = call(&f.app, get("/tap/tables/ivoa.ObsCore")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        one.starts_with("<?xml") && one.contains("<vosi:table xmlns:vosi="),
        "{one}"
    );
    assert_eq!(
        call(&f.app, get("/tap/tables/nope.nope")).await.0,
        StatusCode::NOT_FOUND
    );
    let (status, headers, ex) = call(&f.app, get("/tap/examples")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers[header::CONTENT_TYPE]
        .to_str()
        .expect("ct")
        .starts_with("application/xhtml+xml"));
    // Every example runs.
    for e in skyport_server::tap::examples::EXAMPLES {
        assert!(ex.contains(&format!("id=\"{}\"", e.id)));
        let (status, _, body) = call(&f.app, sync(e.query, "&MAXREC=10")).await;
        assert_eq!(status, StatusCode::OK, "{}: {body}", e.id);
    }
}

/// Serves `body` at `/t.xml` on a loopback port; returns the base URL.
async fn serve_file(body: String) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let router =
        axum::Router::new().route("/t.xml", axum::routing::get(move || async move { body }));
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{addr}")
}

#[tokio::test]
async fn http_uploads_are_fetched_and_limited() {
    let base = serve_file(UPLOAD.to_string()).await;
    // The server is on loopback, which uploads may come from only when the operator says so.
    let allow = ["127.0.0.1"];
    let f = common::fixture_with_uploads(Limits::default(), None, &allow).await;
    let uri = format!(
        "/tap/sync?LANG=ADQL&FORMAT=csv&QUERY={}&UPLOAD={}",
        q("SELECT name FROM TAP_UPLOAD.remote ORDER BY name"),
        q(&format!("remote,{base}/t.xml"))
    );
    let (status, _, body) = call(&f.app, get(&uri)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, "name\nTAP_SCHEMA.columns\nivoa.ObsCore\n");
    let small = common::fixture_with_uploads(
        Limits {
            upload_max_bytes: 100,
            ..Limits::default()
        },
        None,
        &allow,
    )
    .await;
    // Too large and missing documents fail alike, naming the limits but not what answered.
    let (status, _, body) = call(&small.app, get(&uri)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body.contains(&format!("UPLOAD remote: the document at {base}/t.xml could not be fetched, or is not a VOTable within the limits of this service (60 s, 5 redirects, 100 bytes, 100000 rows)")),
        "{body}"
    );
    let missing = format!(
        "/tap/sync?LANG=ADQL&QUERY={}&UPLOAD={}",
        q("SELECT * FROM TAP_UPLOAD.r"),
        q(&format!("r,{base}/nothing.xml"))
    );
    let (status, _, body) = call(&f.app, get(&missing)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body.contains(&format!("UPLOAD r: the document at {base}/nothing.xml could not be fetched, or is not a VOTable within")),
        "{body}"
    );
    // (The URL is left out of this check: its port may hold the digits 404.)
    assert!(!body.replace(&base, "").contains("404"), "{body}");
}

/// Serves `body` to every request over TLS on a loopback port, with a certificate for
/// 127.0.0.1 issued by a fresh CA. Returns the base URL and the CA certificate (PEM).
async fn serve_https(body: String) -> (String, String) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_key = KeyPair::generate().expect("CA key");
    let ca_cert = ca_params.self_signed(&ca_key).expect("CA certificate");
    let issuer = Issuer::new(ca_params, ca_key);
    let leaf_key = KeyPair::generate().expect("key");
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_string()])
        .expect("params")
        .signed_by(&leaf_key, &issuer)
        .expect("certificate");
    let _ = rustls::crypto::ring::default_provider().install_default();
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone()],
            rustls::pki_types::PrivateKeyDer::try_from(leaf_key.serialize_der()).expect("key der"),
        )
        .expect("TLS config");
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, body) = (acceptor.clone(), body.clone());
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let response = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/x-votable+xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.write_all(response.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    (format!("https://{addr}"), ca_cert.pem())
}

#[tokio::test]
async fn https_uploads_are_fetched_when_the_certificate_is_trusted() {
    let (base, ca_pem) = serve_https(UPLOAD.to_string()).await;
    let uri = format!(
        "/tap/sync?LANG=ADQL&FORMAT=csv&QUERY={}&UPLOAD={}",
        q("SELECT name FROM TAP_UPLOAD.remote ORDER BY name"),
        q(&format!("remote,{base}/t.xml"))
    );
    let ca_pem = ca_pem.into_bytes();
    let allow = ["127.0.0.1"];
    let trusting =
        common::fixture_with_uploads(Limits::default(), Some(ca_pem.clone()), &allow).await;
    let (status, _, body) = call(&trusting.app, get(&uri)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, "name\nTAP_SCHEMA.columns\nivoa.ObsCore\n");
    // Without the CA the certificate is not trusted, and the error says the fetch failed.
    let f = common::fixture_with_uploads(Limits::default(), None, &allow).await;
    let (status, _, body) = call(&f.app, get(&uri)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body.contains(&format!(
            "UPLOAD remote: the document at {base}/t.xml could not be fetched"
        )),
        "{body}"
    );
    // A trusted certificate does not make a loopback address public.
    let strict = common::fixture_with_ca(Limits::default(), Some(ca_pem)).await;
    let (status, _, body) = call(&strict.app, get(&uri)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body.contains("leads to an address this service may not fetch from"),
        "{body}"
    );
}

#[tokio::test]
async fn results_are_gzipped_when_the_client_accepts_it() {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let f = fixture().await;
    let mut req = sync(
        "SELECT column_name, description FROM TAP_SCHEMA.columns",
        "",
    );
    req.headers_mut()
        .insert(header::ACCEPT_ENCODING, "gzip".parse().expect("header"));
    let resp = f.app.clone().oneshot(req).await.expect("response");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()[header::CONTENT_ENCODING], "gzip");
    let body = resp.into_body().collect().await.expect("body").to_bytes();
    assert_eq!(&body[..2], &[0x1f, 0x8b], "gzip magic");
}

#[tokio::test]
async fn consdb_tables_and_views_are_queryable_when_the_archive_holds_them() {
    use skyport_store::Value;
    let dir = tempfile::tempdir().expect("dir");
    let (store, _database, consdb) = common::consdb_store(dir.path()).await;
    store
        .insert_rows(
            "cdb_latiss",
            "exposure",
            [
                "exposure_id",
                "exposure_name",
                "day_obs",
                "seq_num",
                "controller",
                "band",
            ]
            .map(String::from)
            .to_vec(),
            vec![vec![
                Value::Int(2024080100302),
                Value::Text("AT_O_20240801_000302".into()),
                Value::Int(20240801),
                Value::Int(302),
                Value::Text("O".into()),
                Value::Text("r".into()),
            ]],
        )
        .await
        .expect("exposure");
    let app = common::app_with_schemas(store, dir.path(), consdb).await;
    let (status, _, body) = call(
        &app,
        get("/tap/sync?LANG=ADQL&FORMAT=csv&QUERY=SELECT%20visit_id%2C%20seq_num%2C%20band%20FROM%20cdb_latiss.visit1"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, "visit_id,seq_num,band\n2024080100302,302,r\n");
}

#[tokio::test]
async fn a_query_over_the_length_limit_is_refused_before_it_is_parsed() {
    let f = fixture_with(Limits {
        query_max_bytes: 1000,
        ..Limits::default()
    })
    .await;
    let long = format!(
        "SELECT obs_id FROM ivoa.ObsCore WHERE {}",
        vec!["1 = 1"; 300].join(" AND ")
    );
    let (status, _, body) = call(&f.app, sync(&long, "")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body.contains(&format!(
            "UsageFault: the query is {} bytes long; this service takes queries of at most 1000 bytes",
            long.len()
        )),
        "{body}"
    );
    let (status, _, body) = call(&f.app, sync("SELECT obs_id FROM ivoa.ObsCore", "")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn nul_characters_and_bytes_that_are_not_utf8_are_named_client_mistakes() {
    let f = fixture().await;
    for (uri, says) in [
        (
            "/tap/sync?LANG=ADQL&QUERY=SELECT+obs_id+FROM+ivoa.ObsCore+WHERE+obs_id+%3D+%27a%00%27",
            "parameter QUERY contains a NUL character",
        ),
        (
            "/tap/sync?LANG=ADQL&QUERY=SELECT+%FF+FROM+ivoa.ObsCore",
            "parameter QUERY is not UTF-8 text",
        ),
        (
            "/sia/query?ID=ivo%3A%2F%2Fa%00",
            "parameter ID contains a NUL character",
        ),
        (
            "/datalink/links?ID=%C3%28",
            "parameter ID is not UTF-8 text",
        ),
    ] {
        let (status, _, body) = call(&f.app, get(uri)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {body}");
        assert!(body.contains(says), "{uri}: {body}");
        assert!(
            !body.contains("\"ivoa.ObsCore\""),
            "no SQL in the message: {body}"
        );
    }
}

#[tokio::test]
async fn integer_overflow_is_an_error_not_a_saturated_value() {
    let f = fixture().await;
    for query in [
        "SELECT (-9223372036854775807 - 1) / -1 AS x FROM ivoa.ObsCore",
        "SELECT 9223372036854775807 + 1 AS x FROM ivoa.ObsCore",
        "SELECT TOP 1 obs_id, 9223372036854775807 * 2 AS x FROM ivoa.ObsCore",
    ] {
        let (status, _, body) = call(&f.app, sync(query, "")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert!(
            body.contains("overflow") || body.contains("out of range"),
            "{query}: {body}"
        );
        assert!(
            !body.contains("<TD>9223372036854775807</TD>"),
            "{query}: {body}"
        );
    }
    // The largest value itself is fine.
    let (status, _, body) = call(
        &f.app,
        sync("SELECT 9223372036854775807 AS x FROM ivoa.ObsCore", ""),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("<TD>9223372036854775807</TD>"), "{body}");
}

#[tokio::test]
async fn queries_too_wide_or_joining_too_many_tables_are_the_clients_mistake() {
    let f = fixture().await;
    let wide = format!(
        "SELECT {} FROM ivoa.ObsCore",
        (0..2000)
            .map(|i| format!("s_ra AS c{i}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let joined = format!(
        "SELECT COUNT(*) FROM {}",
        (0..70)
            .map(|i| format!("ivoa.ObsCore AS t{i}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let long = format!(
        "SELECT {} FROM ivoa.ObsCore",
        vec!["obs_id"; 100_000].join(", ")
    );
    for (query, says) in [
        (&wide, "at most 1600"),
        (&joined, "join fewer tables"),
        (&long, "bytes long"),
    ] {
        let request = Request::post("/tap/sync")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(format!("LANG=ADQL&QUERY={}", q(query))))
            .expect("request");
        let (status, _, body) = call(&f.app, request).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{}: {body}", &query[..60]);
        assert!(body.contains(says), "{body}");
        assert!(!body.contains("SQL") && !body.contains("_t1"), "{body}");
    }
}

#[tokio::test]
async fn an_async_job_over_its_execution_duration_ends_aborted() {
    let f = fixture().await;
    let slow = "SELECT COUNT(*) AS n FROM TAP_SCHEMA.columns AS a, TAP_SCHEMA.columns AS b, TAP_SCHEMA.columns AS c, TAP_SCHEMA.columns AS d, TAP_SCHEMA.columns AS e, TAP_SCHEMA.columns AS g WHERE a.column_index + b.column_index + c.column_index + d.column_index + e.column_index + g.column_index > 0";
    let (status, headers, body) = call(
        &f.app,
        post(
            "/tap/async",
            &format!("LANG=ADQL&EXECUTIONDURATION=1&PHASE=RUN&QUERY={}", q(slow)),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    let job = location(&headers);
    // Given with the creation, the execution duration is the job's, not a parameter of it.
    let (_, _, duration) = call(&f.app, get(&format!("{job}/executionduration"))).await;
    assert_eq!(duration.trim(), "1");
    let doc = wait_final(&f.app, &job).await;
    assert!(doc.contains("<uws:phase>ABORTED</uws:phase>"), "{doc}");
    assert!(doc.contains("execution duration of 1 s"), "{doc}");
    assert!(!doc.contains("/tap/async with a longer"), "{doc}");
}

#[tokio::test]
async fn a_request_over_the_time_limit_gets_the_error_document_and_its_work_stops() {
    let f = fixture_with(Limits {
        request_timeout_seconds: 1,
        ..Limits::default()
    })
    .await;
    let slow = "SELECT COUNT(*) AS n FROM TAP_SCHEMA.columns AS a, TAP_SCHEMA.columns AS b, TAP_SCHEMA.columns AS c, TAP_SCHEMA.columns AS d, TAP_SCHEMA.columns AS e, TAP_SCHEMA.columns AS g WHERE a.column_index + b.column_index + c.column_index + d.column_index + e.column_index + g.column_index > 0";
    let started = std::time::Instant::now();
    let (status, headers, body) = call(&f.app, sync(slow, "")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(
        headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap_or("")
            .contains("votable"),
        "{headers:?}"
    );
    assert!(
        body.contains("QUERY_STATUS\" value=\"ERROR\"") && body.contains("limit of 1 s"),
        "{body}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    // The query was stopped: both database readers serve the next queries at once.
    for _ in 0..2 {
        let started = std::time::Instant::now();
        let (status, _, body) = call(&f.app, sync("SELECT COUNT(*) FROM ivoa.ObsCore", "")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
    }
}

/// The from-columns of each foreign key, as lists in the order they are given, sorted.
fn sorted_lists(mut lists: Vec<Vec<String>>) -> Vec<Vec<String>> {
    lists.sort();
    lists
}

#[tokio::test]
async fn an_unordered_read_of_tap_schema_lists_key_columns_as_tables_does_after_a_rewrite() {
    // taplint compares each foreign key's column pairs, in order, between TAP_SCHEMA and
    // /tables. A database returns unordered rows in its storage order, which stops being the
    // insertion order once rows are deleted and written again (PostgreSQL reuses free slots):
    // here the rows are written back in reverse.
    let dir = tempfile::tempdir().expect("dir");
    let (store, _database, consdb) = common::consdb_store(dir.path()).await;
    let table = skyport_store::ddl::table_name(store.dialect(), "TAP_SCHEMA", "key_columns");
    let stored = store
        .query(
            format!("SELECT key_id, from_column, target_column FROM {table} ORDER BY key_id DESC, from_column DESC"),
            Vec::new(),
        )
        .await
        .expect("key columns");
    let placeholders: Vec<String> = (1..=3)
        .map(|n| skyport_store::ddl::placeholder(store.dialect(), n))
        .collect();
    let placeholders = placeholders.join(", ");
    let mut rewrite = vec![skyport_store::Statement::new(
        format!("DELETE FROM {table}"),
        Vec::new(),
    )];
    for row in &stored.rows {
        rewrite.push(skyport_store::Statement::new(
            format!(
                "INSERT INTO {table} (key_id, from_column, target_column) VALUES ({placeholders})"
            ),
            row.clone(),
        ));
    }
    store.write("test", rewrite).await.expect("rewrite");
    let app = common::app_with_schemas(store, dir.path(), consdb).await;

    let (status, _, csv) = call(
        &app,
        sync(
            "SELECT key_id, from_column, target_column FROM TAP_SCHEMA.key_columns",
            "&FORMAT=csv",
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{csv}");
    let mut by_key: Vec<(String, Vec<String>)> = Vec::new();
    for line in csv.lines().skip(1) {
        let (key, rest) = line.split_once(',').expect("three fields");
        let (from, _target) = rest.rsplit_once(',').expect("three fields");
        // A delimited name ("key") is a quoted CSV field.
        let from = match from.strip_prefix('"').and_then(|f| f.strip_suffix('"')) {
            Some(quoted) => quoted.replace("\"\"", "\""),
            None => from.to_string(),
        };
        match by_key.last_mut() {
            Some((k, columns)) if k == key => columns.push(from),
            _ => by_key.push((key.to_string(), vec![from])),
        }
    }
    assert!(
        by_key.iter().any(|(_, columns)| columns.len() > 1),
        "a foreign key of several columns is listed: {csv}"
    );
    let from_tap: Vec<Vec<String>> = by_key.into_iter().map(|(_, columns)| columns).collect();

    let (status, _, tables) = call(&app, get("/tap/tables")).await;
    assert_eq!(status, StatusCode::OK);
    let from_tables: Vec<Vec<String>> = tables
        .split("<foreignKey>")
        .skip(1)
        .map(|key| {
            let key = key.split("</foreignKey>").next().unwrap_or_default();
            key.split("<fromColumn>")
                .skip(1)
                .map(|c| {
                    c.split("</fromColumn>")
                        .next()
                        .unwrap_or_default()
                        .replace("&quot;", "\"")
                })
                .collect()
        })
        .collect();
    assert_eq!(sorted_lists(from_tap), sorted_lists(from_tables));
}

/// Found by fuzzing (`consdb_json`'s corpus): 150 nested parentheses overflowed the stack of
/// the thread parsing them, and a debug server died of it. The parser now refuses nesting
/// before it needs more than a small stack: on this test's own threads (2 MB), the deepest
/// query accepted runs, a deeper one is a 400 naming the problem, and the service answers on.
#[tokio::test]
async fn a_deeply_nested_query_is_refused_and_the_service_answers_on() {
    let f = fixture().await;
    let nested = |depth: usize| {
        format!(
            "SELECT COUNT(*) FROM ivoa.ObsCore WHERE {}obs_id = 'x'{}",
            "(".repeat(depth),
            ")".repeat(depth)
        )
    };
    let (status, _, body) = call(&f.app, sync(&nested(40), "")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for depth in [150, 1000] {
        let (status, _, body) = call(&f.app, sync(&nested(depth), "")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{depth}: {body}");
        assert!(body.contains("nested too deeply"), "{body}");
    }
    let (status, _, _) = call(&f.app, get("/tap/availability")).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn small_answers_go_whole_and_large_ones_stream() {
    use axum::body::HttpBody;
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let f = fixture().await;
    // One row: a body of known length (sent with a Content-Length, in one write).
    let resp = f
        .app
        .clone()
        .oneshot(sync("SELECT TOP 1 column_name FROM TAP_SCHEMA.columns", ""))
        .await
        .expect("response");
    assert_eq!(resp.status(), StatusCode::OK);
    let length = resp.body().size_hint().exact();
    let body = resp.into_body().collect().await.expect("body").to_bytes();
    assert_eq!(length, Some(body.len() as u64));
    assert!(body.ends_with(b"</VOTABLE>\n"));
    assert_eq!(count(&String::from_utf8_lossy(&body), "<TR>"), 1);
    // Far more than 64 KiB: streamed as it is written, and whole at the end.
    let n = tap_schema_column_count();
    let resp = f
        .app
        .clone()
        .oneshot(sync(
            "SELECT a.column_name, b.description FROM TAP_SCHEMA.columns AS a, TAP_SCHEMA.columns AS b",
            "&MAXREC=1000000",
        ))
        .await
        .expect("response");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.body().size_hint().exact(), None, "streamed");
    let body = resp.into_body().collect().await.expect("body").to_bytes();
    let text = String::from_utf8_lossy(&body);
    assert!(body.len() > 64 * 1024, "{}", body.len());
    assert!(text.ends_with("</VOTABLE>\n"));
    assert_eq!(count(&text, "<TR>"), n * n);
}
