//! Every service answers whole and correct whatever `Accept-Encoding` the client sends.
//!
//! Python `requests` (and so pyvo and Rubin's clients) sends `Accept-Encoding: gzip, deflate`
//! on every request; a streamed body that was polled once more after its end used to panic
//! under gzip and leave the client an empty reply. Each answer is decoded here when it is
//! compressed (flate2, independently of the server's encoder) and checked for its content.

mod common;

use std::io::Read;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use common::{call_bytes, get};
use serde_json::{json, Value};

/// What clients send: none, each single coding, the lists of requests and browsers, any.
const ENCODINGS: &[&str] = &[
    "identity",
    "gzip",
    "deflate",
    "br",
    "zstd",
    "gzip, deflate",
    "gzip, deflate, br, zstd",
    "*",
];

const M13_DID: &str = "ivo%3A%2F%2Fskyport.test%2Fdemo%3Fm13";

/// The body as the client reads it: gunzipped when the server compressed it (gzip is the only
/// coding it offers; anything else must come back uncompressed).
fn decoded(encoding: &str, headers: &axum::http::HeaderMap, body: Vec<u8>) -> Vec<u8> {
    match headers.get(header::CONTENT_ENCODING).map(|v| v.as_bytes()) {
        None => body,
        Some(b"gzip") => {
            assert!(
                encoding.contains("gzip") || encoding == "*",
                "gzip sent for Accept-Encoding {encoding:?}"
            );
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(&body[..])
                .read_to_end(&mut out)
                .unwrap_or_else(|e| panic!("a broken gzip stream for {encoding:?}: {e}"));
            out
        }
        Some(other) => panic!(
            "Content-Encoding {:?} for Accept-Encoding {encoding:?}",
            String::from_utf8_lossy(other)
        ),
    }
}

fn with_encoding(mut request: Request<Body>, encoding: &str) -> Request<Body> {
    request.headers_mut().insert(
        header::ACCEPT_ENCODING,
        encoding.parse().expect("header value"),
    );
    request
}

fn votable(body: &[u8]) -> bool {
    let text = String::from_utf8_lossy(body);
    text.contains("QUERY_STATUS\" value=\"OK") && text.trim_end().ends_with("</VOTABLE>")
}

#[tokio::test]
async fn every_image_service_answers_whole_under_every_encoding() {
    let f = common::fixture().await;
    type Check = fn(&[u8]) -> bool;
    let cases: Vec<(String, Check)> = vec![
        (
            "/tap/sync?LANG=ADQL&QUERY=SELECT+obs_publisher_did,s_ra+FROM+ivoa.ObsCore".into(),
            |b| votable(b) && String::from_utf8_lossy(b).contains("ivo://skyport.test/demo?m13"),
        ),
        (
            "/tap/sync?LANG=ADQL&RESPONSEFORMAT=csv&QUERY=SELECT+obs_id+FROM+ivoa.ObsCore".into(),
            |b| b == b"obs_id\r\nm13\r\n" || b == b"obs_id\nm13\n",
        ),
        (
            "/tap/sync?LANG=ADQL&RESPONSEFORMAT=json&QUERY=SELECT+obs_id+FROM+ivoa.ObsCore".into(),
            |b| {
                serde_json::from_slice::<Value>(b)
                    .is_ok_and(|v| v["data"] == json!([["m13"]]) && v["status"] == "OK")
            },
        ),
        (
            "/tap/sync?LANG=ADQL&RESPONSEFORMAT=parquet&QUERY=SELECT+obs_id+FROM+ivoa.ObsCore"
                .into(),
            |b| b.starts_with(b"PAR1") && b.ends_with(b"PAR1"),
        ),
        ("/tap/tables".into(), |b| {
            String::from_utf8_lossy(b).contains("<name>ivoa.ObsCore</name>")
        }),
        ("/tap/availability".into(), |b| {
            String::from_utf8_lossy(b).contains("<vosi:available>true</vosi:available>")
        }),
        ("/sia/query?POS=CIRCLE+250.4226+36.4602+0.01".into(), |b| {
            votable(b) && String::from_utf8_lossy(b).contains("ivo://skyport.test/demo?m13")
        }),
        (format!("/datalink/links?ID={M13_DID}"), |b| {
            votable(b) && String::from_utf8_lossy(b).contains("/files/demo/m13.fits")
        }),
        (
            format!("/soda/sync?ID={M13_DID}&CIRCLE=250.4226+36.4602+0.01"),
            |b| b.starts_with(b"SIMPLE  =") && b.len() % 2880 == 0,
        ),
        ("/files/demo/m13.fits".into(), |b| {
            b.starts_with(b"SIMPLE  =") && b.len() % 2880 == 0
        }),
        ("/previews/demo/m13.fits?size=thumbnail".into(), |b| {
            b.starts_with(b"\x89PNG\r\n\x1a\n")
        }),
    ];
    for (uri, check) in &cases {
        for encoding in ENCODINGS {
            let (status, headers, body) =
                call_bytes(&f.app, with_encoding(get(uri), encoding)).await;
            assert_eq!(status, StatusCode::OK, "{uri} with {encoding:?}");
            let body = decoded(encoding, &headers, body);
            assert!(
                check(&body),
                "{uri} with {encoding:?}: {}",
                String::from_utf8_lossy(&body[..body.len().min(400)])
            );
        }
    }
}

#[tokio::test]
async fn consdb_queries_and_reads_answer_whole_under_every_encoding() {
    let dir = tempfile::tempdir().expect("dir");
    let (store, _database, consdb) = common::consdb_store(dir.path()).await;
    let app = common::app_with_schemas(store, dir.path(), consdb).await;
    // Writes need a user: the one the trusted proxy (127.0.0.1 here) names.
    let post =
        |uri: &str, body: Value| {
            let mut request = Request::post(uri)
                .header(header::CONTENT_TYPE, "application/json")
                .header("x-auth-request-user", "tester")
                .body(Body::from(body.to_string()))
                .expect("request");
            request.extensions_mut().insert(axum::extract::ConnectInfo(
                std::net::SocketAddr::from(([127, 0, 0, 1], 40000)),
            ));
            request
        };
    let (status, _, _) = call_bytes(
        &app,
        post(
            "/consdb/insert/lsstcam/exposure/by_seq_num/20251201/1",
            json!({"values": {
                "exposure_id": 2025120100001i64,
                "exposure_name": "MC_O_20251201_000001",
                "controller": "O",
                "day_obs": 20251201,
                "seq_num": 1,
                "band": "r",
                "airmass": 1.25,
                "can_see_sky": true,
            }}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let query = json!({
        "query": "SELECT seq_num, band, airmass, can_see_sky FROM cdb_lsstcam.exposure"
    });
    for encoding in ENCODINGS {
        let (status, headers, body) = call_bytes(
            &app,
            with_encoding(post("/consdb/query", query.clone()), encoding),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "/consdb/query with {encoding:?}");
        let body = decoded(encoding, &headers, body);
        let answer: Value = serde_json::from_slice(&body).unwrap_or_else(|e| {
            panic!(
                "/consdb/query with {encoding:?} is not JSON ({e}): {:?}",
                String::from_utf8_lossy(&body)
            )
        });
        assert_eq!(
            answer,
            json!({
                "columns": ["seq_num", "band", "airmass", "can_see_sky"],
                "data": [[1, "r", 1.25, true]]
            }),
            "with {encoding:?}"
        );

        let (status, headers, body) = call_bytes(
            &app,
            with_encoding(get("/consdb/schema/lsstcam/exposure"), encoding),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        let columns: Value =
            serde_json::from_slice(&decoded(encoding, &headers, body)).expect("schema JSON");
        assert_eq!(columns["seq_num"][0], "INTEGER", "with {encoding:?}");

        let (status, headers, body) = call_bytes(
            &app,
            with_encoding(
                get("/consdb/export/lsstcam/exposure?format=csv&columns=seq_num,band"),
                encoding,
            ),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "export with {encoding:?}");
        let csv = String::from_utf8(decoded(encoding, &headers, body)).expect("CSV text");
        assert_eq!(
            csv.lines().collect::<Vec<_>>(),
            ["seq_num,band", "1,r"],
            "export with {encoding:?}"
        );
    }
}
