//! Refusals over a real socket, when the request's body arrives after its headers (urllib3, and
//! so requests and pyvo, writes a form's body in a write of its own). The access layer answers
//! a refusal without wanting the body; the connection must still be usable afterwards, or say
//! in its answer that it is not. A connection closed silently after a 429 made pyvo's next
//! request on it fail with "Remote end closed connection without response".

use std::time::Duration;

use skyport_server::access::{AuthMode, QuotaLimits, Quotas};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The head (lower-cased) of one HTTP/1.1 response read off `stream`, whose body is read whole
/// (by its `Content-Length`, or to its last chunk) so that the next read starts at the next
/// response.
async fn read_response(stream: &mut TcpStream) -> String {
    let mut seen = Vec::new();
    let mut buf = [0u8; 8192];
    let head_end = loop {
        if let Some(at) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let n = tokio::time::timeout(Duration::from_secs(30), stream.read(&mut buf))
            .await
            .expect("an answer within 30 s")
            .expect("read");
        assert!(
            n > 0,
            "the server closed the connection without an answer; read so far: {}",
            String::from_utf8_lossy(&seen)
        );
        seen.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&seen[..head_end]).to_ascii_lowercase();
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map(|v| v.trim().parse::<usize>().expect("a Content-Length number"));
    let chunked = head.contains("transfer-encoding: chunked");
    // Read the body whole, so that the next read starts at the next response.
    loop {
        let body = &seen[head_end..];
        let whole = match length {
            Some(n) => body.len() >= n,
            None if chunked => body.ends_with(b"0\r\n\r\n"),
            None => panic!("a response of no stated length: {head}"),
        };
        if whole {
            break;
        }
        let n = tokio::time::timeout(Duration::from_secs(30), stream.read(&mut buf))
            .await
            .expect("the body within 30 s")
            .expect("read");
        assert!(n > 0, "closed in the middle of a body: {head}");
        seen.extend_from_slice(&buf[..n]);
    }
    head
}

/// The head of a form POST to `path` with `auth`, its further header lines `extra` (each
/// ending in CRLF) and a body of `length` bytes.
fn form_post_head(path: &str, auth: &str, extra: &str, length: usize) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {auth}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\n{extra}\
         Content-Length: {length}\r\n\r\n"
    )
}

/// Sends a form POST's head, waits, then its body, as urllib3 does on a slow machine.
async fn post_with_late_body(stream: &mut TcpStream, path: &str, auth: &str, body: &str) {
    let head = form_post_head(path, auth, "", body.len());
    stream.write_all(head.as_bytes()).await.expect("write head");
    stream.flush().await.expect("flush");
    tokio::time::sleep(Duration::from_millis(300)).await;
    stream.write_all(body.as_bytes()).await.expect("write body");
}

#[tokio::test]
async fn a_refusal_before_the_body_arrives_leaves_the_connection_usable() {
    let mut quotas = Quotas::default();
    quotas.groups.insert(
        "throttled".into(),
        QuotaLimits {
            requests_per_minute: 1,
            ..QuotaLimits::default()
        },
    );
    let w = super::world_with(AuthMode::Open, quotas).await;
    let addr = crate::common::serve_on_loopback(w.app.clone()).await;
    let throttled = w.callers["throttled"].clone().expect("a token");
    let unscoped = w.callers["token without the scope"]
        .clone()
        .expect("a token");
    let query =
        "REQUEST=doQuery&LANG=ADQL&FORMAT=csv&QUERY=SELECT+COUNT%28%2A%29+FROM+ivoa.ObsCore";
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    // The minute's one request, answered.
    post_with_late_body(&mut stream, "/tap/sync", &throttled, query).await;
    let head = read_response(&mut stream).await;
    assert!(head.starts_with("http/1.1 200"), "{head}");
    // Over the rate, sync and async alike: refused, and the connection still answers.
    for path in ["/tap/sync", "/tap/async"] {
        post_with_late_body(&mut stream, path, &throttled, query).await;
        let head = read_response(&mut stream).await;
        assert!(head.starts_with("http/1.1 429"), "{path}: {head}");
        assert!(!head.contains("connection: close"), "{path}: {head}");
    }
    // A caller without the scope to write ConsDB: 403, and the connection still answers.
    post_with_late_body(
        &mut stream,
        "/consdb/insert/lsstcam/exposure",
        &unscoped,
        "{}",
    )
    .await;
    let head = read_response(&mut stream).await;
    assert!(head.starts_with("http/1.1 403"), "{head}");
    stream
        .write_all(b"GET /tap/availability HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .expect("write");
    let head = read_response(&mut stream).await;
    assert!(head.starts_with("http/1.1 200"), "{head}");
    // A body too long to read for nothing, one that does not come, and one the client waits to
    // be asked for: the refusal comes at once but for the second, says the connection closes,
    // and it does.
    for (length, expect, waits) in [
        (1 << 20, "", false),
        (100, "", true),
        (100, "Expect: 100-continue\r\n", false),
    ] {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        let head = form_post_head("/tap/sync", &throttled, expect, length);
        stream.write_all(head.as_bytes()).await.expect("write head");
        let started = std::time::Instant::now();
        let answer = read_response(&mut stream).await;
        assert!(answer.starts_with("http/1.1 429"), "{answer}");
        assert!(answer.contains("connection: close"), "{answer}");
        let waited = started.elapsed() >= Duration::from_secs(2);
        assert_eq!(waited, waits, "{length} {expect}: {:?}", started.elapsed());
        let mut rest = [0u8; 16];
        let end = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut rest)).await;
        assert!(matches!(end, Ok(Ok(0)) | Ok(Err(_))), "{end:?}");
    }
}
