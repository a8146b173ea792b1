//! Uploads by URL (`UPLOAD=t,http://…`) against server-side request forgery: by default only
//! public addresses are fetched, however the address is spelt and at every redirect hop; the
//! operator's `upload_allow` opens specific hosts and networks; and every failure reads the
//! same, so the errors never tell what answered at an address.
//!
//! The documents come from real HTTP servers on loopback addresses made here. Loopback is
//! exactly what must be refused by default, so the tests that need a fetch to work allow one
//! loopback address explicitly (127.0.0.2 plays a public server: on Linux all of 127.0.0.0/8
//! is loopback, so it can be allowed without allowing 127.0.0.1).

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Path, Query};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get as route;
use common::{call, fixture_with_uploads, get};
use futures_util::StreamExt;
use skyport_server::Limits;

/// A valid upload whose rows are what a local service would answer: they must never appear
/// in an error.
const VOTABLE: &str = r#"<?xml version="1.0"?>
<VOTABLE version="1.3" xmlns="http://www.ivoa.net/xml/VOTable/v1.3"><RESOURCE><TABLE>
<FIELD name="answer" datatype="char" arraysize="*"/>
<DATA><TABLEDATA>
<TR><TD>SECRET-ROW-1</TD></TR>
<TR><TD>SECRET-ROW-2</TD></TR>
</TABLEDATA></DATA></TABLE></RESOURCE></VOTABLE>"#;

/// What the query over a successful upload of [`VOTABLE`] answers (CSV).
const ROWS: &str = "answer\nSECRET-ROW-1\nSECRET-ROW-2\n";

/// A VOTable of `rows` rows: valid, and as large as one likes.
fn big_votable(rows: usize) -> String {
    let mut s = String::from(
        r#"<?xml version="1.0"?><VOTABLE version="1.3" xmlns="http://www.ivoa.net/xml/VOTable/v1.3"><RESOURCE><TABLE><FIELD name="answer" datatype="char" arraysize="*"/><DATA><TABLEDATA>"#,
    );
    for i in 0..rows {
        s.push_str(&format!("<TR><TD>SECRET-ROW-{i}</TD></TR>\n"));
    }
    s.push_str("</TABLEDATA></DATA></TABLE></RESOURCE></VOTABLE>");
    s
}

fn redirect(location: &str) -> Response {
    (
        StatusCode::FOUND,
        [(header::LOCATION, location.to_string())],
    )
        .into_response()
}

/// A document server on `ip` (a port the system picks), or `None` when `ip` cannot be bound
/// here. Every route is something a service might answer.
async fn serve(ip: &str) -> Option<SocketAddr> {
    let listener = tokio::net::TcpListener::bind((ip, 0)).await.ok()?;
    let addr = listener.local_addr().ok()?;
    let router = axum::Router::new()
        .route("/t.xml", route(|| async { VOTABLE }))
        // `/to?url=…` redirects anywhere.
        .route(
            "/to",
            route(|Query(q): Query<HashMap<String, String>>| async move {
                redirect(q.get("url").map_or("/t.xml", String::as_str))
            }),
        )
        // `/hops/n` reaches the document after n (relative) redirects.
        .route(
            "/hops/{n}",
            route(|Path(n): Path<u32>| async move {
                match n {
                    0 => VOTABLE.into_response(),
                    n => redirect(&format!("/hops/{}", n - 1)),
                }
            }),
        )
        .route("/loop", route(|| async { redirect("/loop") }))
        .route(
            "/no-location",
            route(|| async { StatusCode::FOUND.into_response() }),
        )
        .route(
            "/404",
            route(|| async { (StatusCode::NOT_FOUND, "SECRET 404 page of a local service") }),
        )
        .route(
            "/500",
            route(|| async {
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "SECRET stack trace of a local service",
                )
            }),
        )
        .route(
            "/html",
            route(|| async { Html("<html><body>SECRET admin console</body></html>") }),
        )
        .route(
            "/broken",
            route(|| async {
                "<?xml version=\"1.0\"?><VOTABLE><RESOURCE><TABLE><FIELD name=\"SECRET\" datatype="
            }),
        )
        .route("/empty", route(|| async { "" }))
        .route("/big", route(|| async { big_votable(1000) }))
        // The same without a Content-Length: the limit applies while reading.
        .route(
            "/big-stream",
            route(|| async {
                let chunks = big_votable(1000)
                    .into_bytes()
                    .chunks(512)
                    .map(|c| Ok::<_, std::io::Error>(bytes::Bytes::copy_from_slice(c)))
                    .collect::<Vec<_>>();
                Body::from_stream(futures_util::stream::iter(chunks))
            }),
        )
        .route(
            "/slow",
            route(|| async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                VOTABLE
            }),
        )
        // Headers and a first part at once, the rest much later: the limit covers the body.
        .route(
            "/trickle",
            route(|| async {
                let (first, rest) = VOTABLE.split_at(100);
                let parts = futures_util::stream::iter([first.to_string(), rest.to_string()]).then(
                    |part| async move {
                        if !part.starts_with("<?xml") {
                            tokio::time::sleep(Duration::from_secs(30)).await;
                        }
                        Ok::<_, std::io::Error>(part)
                    },
                );
                Body::from_stream(parts)
            }),
        );
    tokio::spawn(async move { axum::serve(listener, router).await });
    Some(addr)
}

/// A loopback port nothing listens on (bound for a moment, then let go).
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind")
}

/// Uploads `url` as table `t` and selects it as CSV: the status and the body.
async fn upload(f: &common::Fixture, url: &str) -> (StatusCode, String) {
    let q = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let uri = format!(
        "/tap/sync?LANG=ADQL&FORMAT=csv&QUERY={}&UPLOAD={}",
        q("SELECT * FROM TAP_UPLOAD.t"),
        q(&format!("t,{url}"))
    );
    let (status, _, body) = call(&f.app, get(&uri)).await;
    (status, body)
}

/// The message of a DALI error document.
fn message(body: &str) -> &str {
    body.split_once("value=\"ERROR\">")
        .and_then(|(_, rest)| rest.split_once("</INFO>"))
        .map_or(body, |(m, _)| m)
}

/// The message of an address the policy refuses.
fn refused(url: &str) -> String {
    format!("UsageFault: UPLOAD t: {url} leads to an address this service may not fetch from (uploads by URL come from public addresses only)")
}

/// The message of every other failed fetch.
fn not_fetched(url: &str, limits: &Limits) -> String {
    format!(
        "UsageFault: UPLOAD t: the document at {url} could not be fetched, or is not a VOTable within the limits of this service ({} s, {} redirects, {} bytes, {} rows)",
        limits.upload_fetch_seconds,
        limits.upload_max_redirects,
        limits.upload_max_bytes,
        limits.upload_max_rows
    )
}

/// Asserts that uploading `url` fails with exactly `expected`, showing nothing of any answer.
async fn assert_fails(f: &common::Fixture, url: &str, expected: &str) {
    let (status, body) = upload(f, url).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{url}: {body}");
    assert_eq!(message(&body), expected, "{url}");
    assert!(!body.contains("SECRET"), "{url}: {body}");
}

#[tokio::test]
async fn loopback_and_private_addresses_are_refused_however_spelt() {
    let server = serve("127.0.0.1").await.expect("a loopback server");
    let port = server.port();
    let closed = closed_port();
    let f = fixture_with_uploads(Limits::default(), None, &[]).await;
    let mut urls: Vec<String> = [
        "http://127.0.0.1:{port}/t.xml",
        "http://2130706433:{port}/t.xml",
        "http://0x7f.0.0.1:{port}/t.xml",
        "http://0x7f.1:{port}/t.xml",
        "http://0177.0.0.1:{port}/t.xml",
        "http://127.1:{port}/t.xml",
        "http://127.0.0.1.:{port}/t.xml",
        "http://[::ffff:127.0.0.1]:{port}/t.xml",
        "http://[::ffff:7f00:1]:{port}/t.xml",
        "http://[64:ff9b::7f00:1]:{port}/t.xml",
        "http://[2002:7f00:1::]:{port}/t.xml",
        "http://[::127.0.0.1]:{port}/t.xml",
        "http://0.0.0.0:{port}/t.xml",
        "http://0:{port}/t.xml",
        "http://localhost:{port}/t.xml",
        "https://127.0.0.1:{port}/t.xml",
        // Something that answers 404 and a port nobody listens on: the same refusal, decided
        // before any connection.
        "http://127.0.0.1:{port}/404",
        "http://127.0.0.1:{closed}/t.xml",
        "http://127.0.0.1:{port}#@example.org/t.xml",
        // Private, link-local (cloud metadata) and carrier-grade NAT addresses: refused at
        // once, not after a connection attempt.
        "http://10.0.0.1/t.xml",
        "http://172.16.0.1/t.xml",
        "http://192.168.1.1/t.xml",
        "http://169.254.169.254/latest/meta-data/",
        "http://100.64.0.1/t.xml",
        "http://[fd00::1]/t.xml",
        "http://[fe80::1]/t.xml",
    ]
    .iter()
    .map(|u| {
        u.replace("{port}", &port.to_string())
            .replace("{closed}", &closed.to_string())
    })
    .collect();
    match serve("::1").await {
        Some(v6) => urls.push(format!("http://[::1]:{}/t.xml", v6.port())),
        None => println!("note: no IPv6 loopback here; http://[::1]:… is not tried"),
    }
    let started = Instant::now();
    for url in &urls {
        assert_fails(&f, url, &refused(url)).await;
    }
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "refusals are decided before connecting: {:?}",
        started.elapsed()
    );
    // User names and passwords are not sent anywhere, whatever the host.
    let url = format!("http://example.org@127.0.0.1:{port}/t.xml");
    assert_fails(
        &f,
        &url,
        &format!("UsageFault: UPLOAD t: {url} carries a user name or password; uploads are fetched from plain http:// and https:// URLs"),
    )
    .await;
}

#[tokio::test]
async fn redirects_are_checked_at_every_hop() {
    let Some(stand_in) = serve("127.0.0.2").await else {
        println!("note: 127.0.0.2 cannot be bound here (not Linux?); redirect hops not tested");
        return;
    };
    let target = serve("127.0.0.1").await.expect("a loopback server");
    let t = target.port();
    // 127.0.0.2 plays a public server; 127.0.0.1 stays forbidden.
    let f = fixture_with_uploads(Limits::default(), None, &["127.0.0.2/32"]).await;
    let limits = Limits::default();
    // The allowed server is fetched, through redirects too.
    for path in ["/t.xml", "/hops/2", "/to?url=/hops/1"] {
        let (status, body) = upload(&f, &format!("http://{stand_in}{path}")).await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, ROWS), "{path}");
    }
    let redirect_to = |target: &str| {
        format!(
            "http://{stand_in}/to?url={}",
            form_urlencoded::byte_serialize(target.as_bytes()).collect::<String>()
        )
    };
    for forbidden in [
        format!("http://127.0.0.1:{t}/t.xml"),
        format!("http://2130706433:{t}/t.xml"),
        format!("http://0x7f.0.0.1:{t}/t.xml"),
        format!("http://[::ffff:127.0.0.1]:{t}/t.xml"),
        format!("http://localhost:{t}/t.xml"),
        format!("http://127.0.0.1:{}/t.xml", closed_port()),
        "http://169.254.169.254/latest/meta-data/".to_string(),
    ] {
        let url = redirect_to(&forbidden);
        assert_fails(&f, &url, &refused(&url)).await;
    }
    // A redirect to what the first URL could not be is a failure like any other.
    for odd in [
        format!("http://someone@{stand_in}/t.xml"),
        "file:///etc/passwd".to_string(),
        format!("ftp://{stand_in}/t.xml"),
    ] {
        let url = redirect_to(&odd);
        assert_fails(&f, &url, &not_fetched(&url, &limits)).await;
    }
    // A host name in the allow-list is fetched at whatever it resolves to.
    let by_name = fixture_with_uploads(Limits::default(), None, &["localhost"]).await;
    let (status, body) = upload(&by_name, &format!("http://localhost:{t}/t.xml")).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, ROWS));
    // ... but not at its address written out.
    let url = format!("http://127.0.0.1:{t}/t.xml");
    assert_fails(&by_name, &url, &refused(&url)).await;
}

#[tokio::test]
async fn every_failure_reads_the_same() {
    let server = serve("127.0.0.1").await.expect("a loopback server");
    let limits = Limits {
        upload_fetch_seconds: 2,
        upload_max_redirects: 3,
        upload_max_bytes: 4096,
        ..Limits::default()
    };
    let f = fixture_with_uploads(limits.clone(), None, &["127.0.0.1"]).await;
    // What works: a document, and one behind as many redirects as allowed.
    for path in ["/t.xml", "/hops/3"] {
        let (status, body) = upload(&f, &format!("http://{server}{path}")).await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, ROWS), "{path}");
    }
    let closed = closed_port();
    let mut urls: Vec<String> = [
        "/hops/4",
        "/loop",
        "/no-location",
        "/404",
        "/500",
        "/html",
        "/broken",
        "/empty",
        "/big",
        "/big-stream",
        "/nothing-here",
    ]
    .iter()
    .map(|p| format!("http://{server}{p}"))
    .collect();
    urls.push(format!("http://127.0.0.1:{closed}/t.xml"));
    urls.push(format!("https://{server}/t.xml"));
    urls.push("http://no-such-host.invalid/t.xml".to_string());
    for url in &urls {
        assert_fails(&f, url, &not_fetched(url, &limits)).await;
    }
    // Too slow, before the headers or while sending the body: stopped at the time limit.
    for path in ["/slow", "/trickle"] {
        let url = format!("http://{server}{path}");
        let started = Instant::now();
        assert_fails(&f, &url, &not_fetched(&url, &limits)).await;
        let took = started.elapsed();
        assert!(
            took >= Duration::from_secs(2) && took < Duration::from_secs(10),
            "{path}: {took:?}"
        );
    }
}
