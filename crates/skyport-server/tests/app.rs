//! The application's routes, exercised in-process (no socket) against a real SQLite archive.

mod common;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use common::{call, fixture, get};
use http_body_util::BodyExt;
use std::path::PathBuf;
use tower::ServiceExt;

#[tokio::test]
async fn availability_reports_the_database_state() {
    let f = fixture().await;
    let (status, headers, body) = call(&f.app, get("/tap/availability")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers[header::CONTENT_TYPE]
        .to_str()
        .expect("ct")
        .starts_with("text/xml"));
    assert!(
        body.contains("<vosi:available>true</vosi:available>"),
        "{body}"
    );
    assert_eq!(headers[header::SERVER], skyport_server::SERVER_NAME);
    assert!(headers.contains_key("x-request-id"));
}

#[tokio::test]
async fn capabilities_declare_tap_1_1_with_unqualified_capability_elements() {
    let f = fixture().await;
    let (status, _, body) = call(&f.app, get("/tap/capabilities")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains(
        "<vosi:capabilities xmlns:vosi=\"http://www.ivoa.net/xml/VOSICapabilities/v1.0\""
    ));
    assert!(body.contains(
        "<capability standardID=\"ivo://ivoa.net/std/TAP\" xsi:type=\"tr:TableAccess\">"
    ));
    assert!(body.contains("role=\"std\" version=\"1.1\""));
    assert!(body.contains("<accessURL use=\"base\">http://127.0.0.1:8080/tap</accessURL>"));
    assert!(
        body.contains("<accessURL use=\"full\">http://127.0.0.1:8080/tap/availability</accessURL>")
    );
    assert_eq!(
        body.matches("standardID=\"ivo://ivoa.net/std/TAP\"")
            .count(),
        1
    );
}

#[tokio::test]
async fn landing_page_lists_the_services_and_counts_images() {
    let f = fixture().await;
    let (status, _, body) = call(&f.app, get("/")).await;
    assert_eq!(status, StatusCode::OK);
    for path in [
        "/tap/capabilities",
        "/tap/availability",
        "/sia/query?MAXREC=0",
        "/datalink/links",
        "/metrics",
    ] {
        assert!(
            body.contains(&format!("http://127.0.0.1:8080{path}")),
            "{path} missing"
        );
    }
    assert!(body.contains("Images in the archive: 1."), "{body}");
}

#[tokio::test]
async fn unknown_paths_and_wrong_methods_are_clear_errors() {
    let f = fixture().await;
    let (status, _, body) = call(&f.app, get("/nope")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        body.contains("QUERY_STATUS\" value=\"ERROR\">NotFoundFault:"),
        "{body}"
    );
    let (status, _, _) = call(
        &f.app,
        Request::post("/tap/availability")
            .body(Body::empty())
            .expect("r"),
    )
    .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn responses_are_gzipped_when_asked() {
    let f = fixture().await;
    let req = Request::get("/tap/capabilities")
        .header(header::ACCEPT_ENCODING, "gzip")
        .body(Body::empty())
        .expect("r");
    let resp = f.app.clone().oneshot(req).await.expect("resp");
    assert_eq!(resp.headers()[header::CONTENT_ENCODING], "gzip");
}

#[tokio::test]
async fn files_serves_ingested_images_with_ranges_and_nothing_else() {
    let f = fixture().await;
    let original = std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/fits/pypi_astropy/m13.fits"),
    )
    .expect("read");
    let (status, headers, _) = call(&f.app, get("/files/demo/m13.fits")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "application/fits");
    assert_eq!(
        headers[header::CONTENT_LENGTH].to_str().expect("len"),
        original.len().to_string()
    );
    let req = Request::get("/files/demo/m13.fits")
        .header(header::RANGE, "bytes=0-79")
        .body(Body::empty())
        .expect("r");
    let resp = f.app.clone().oneshot(req).await.expect("resp");
    assert_eq!(resp.status(), StatusCode::PARTIAL_CONTENT);
    let first_card = resp.into_body().collect().await.expect("body").to_bytes();
    assert_eq!(&first_card[..], &original[..80]);
    for uri in [
        "/files/demo/secret.fits",
        "/files/demo/../data/m13.fits",
        "/files/demo/%2e%2e/%2e%2e/etc/passwd",
        "/files/other/m13.fits",
    ] {
        let (status, _, _) = call(&f.app, get(uri)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{uri}");
    }
}

#[tokio::test]
async fn metrics_count_requests_by_route() {
    let f = fixture().await;
    call(&f.app, get("/tap/availability")).await;
    call(&f.app, get("/tap/availability")).await;
    let (status, _, body) = call(&f.app, get("/metrics")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body.contains("skyport_http_requests_total{route=\"/tap/availability\",status=\"200\"} 2"),
        "{body}"
    );
    assert!(body.contains("skyport_archive_images 1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_for_one_preview_share_one_render() {
    let f = fixture().await;
    let uris = [
        "/previews/demo/m13.fits",
        "/previews/demo/m13.fits?size=thumbnail",
    ];
    let requests = (0..24).map(|i| {
        let app = f.app.clone();
        let uri = uris[i % uris.len()];
        async move {
            let resp = app.oneshot(get(uri)).await.expect("response");
            let status = resp.status();
            let body = resp.into_body().collect().await.expect("body").to_bytes();
            (uri, status, body)
        }
    });
    let answers = futures_util::future::join_all(requests).await;
    for uri in uris {
        let bodies: Vec<_> = answers.iter().filter(|(u, ..)| *u == uri).collect();
        for (_, s, b) in &bodies {
            assert_eq!(*s, StatusCode::OK, "{uri}: {}", String::from_utf8_lossy(b));
        }
        assert!(bodies[0].2.starts_with(b"\x89PNG"), "{uri}");
        assert!(
            bodies.iter().all(|(.., b)| *b == bodies[0].2),
            "{uri}: one picture"
        );
    }
    let (_, _, metrics) = call(&f.app, get("/metrics")).await;
    assert!(
        metrics.contains("skyport_previews_rendered_total 2\n"),
        "each preview rendered once: {metrics}"
    );
}
