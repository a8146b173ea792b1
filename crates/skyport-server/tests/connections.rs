//! The accept loop's bounds over real sockets (hardening findings 1 and 7): headers that
//! never finish and idle kept-alive connections are closed, one address cannot hold more
//! than its share of connections, and clients that stop reading a large result lose their
//! connection — freeing the database connection behind it — while availability answers
//! promptly throughout.

mod common;

use std::time::{Duration, Instant};

use skyport_server::{serve_with, ConnectionSettings};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn server(settings: ConnectionSettings) -> (String, common::Fixture) {
    server_with(settings, skyport_server::Limits::default()).await
}

async fn server_with(
    settings: ConnectionSettings,
    limits: skyport_server::Limits,
) -> (String, common::Fixture) {
    let f = common::fixture_with(limits).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let app = f.app.clone();
    tokio::spawn(serve_with(
        listener,
        app,
        std::future::pending::<()>(),
        settings,
    ));
    (addr, f)
}

/// How long until the server closes `stream` (reading and discarding what it sends).
async fn closed_after(stream: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match tokio::time::timeout(
            limit.saturating_sub(started.elapsed()),
            stream.read(&mut buf),
        )
        .await
        {
            Ok(Ok(0)) | Ok(Err(_)) => return Some(started.elapsed()),
            Ok(Ok(_)) => continue,
            Err(_) => return None,
        }
    }
}

/// The server closes `stream` within 5 s (the tests' header timeout is 1 s).
async fn closed_within_5s(stream: &mut TcpStream, what: &str) {
    let after = closed_after(stream, Duration::from_secs(10)).await;
    assert!(
        after.is_some_and(|t| t < Duration::from_secs(5)),
        "{what}: {after:?}"
    );
}

fn settings() -> ConnectionSettings {
    ConnectionSettings {
        header_seconds: 1,
        write_stall_seconds: 1,
        connections_per_address: 4,
        uncapped: Vec::new(),
    }
}

#[tokio::test]
async fn silent_half_sent_and_idle_connections_are_closed() {
    let (addr, _f) = server(settings()).await;
    // A connection that sends nothing at all (hyper-util's HTTP/1-or-2 detection waited on
    // it for ever: it reads before HTTP/1's header timeout starts).
    let mut silent = TcpStream::connect(&addr).await.expect("connect");
    closed_within_5s(&mut silent, "a silent connection").await;
    // Headers that never finish.
    let mut slow = TcpStream::connect(&addr).await.expect("connect");
    slow.write_all(b"GET /tap/availability HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");
    closed_within_5s(&mut slow, "half-sent headers").await;
    // A kept-alive connection left idle after its answer.
    let mut idle = TcpStream::connect(&addr).await.expect("connect");
    idle.write_all(b"GET /tap/availability HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let mut first = vec![0u8; 4096];
    let n = idle.read(&mut first).await.expect("read");
    assert!(String::from_utf8_lossy(&first[..n]).starts_with("HTTP/1.1 200"));
    closed_within_5s(&mut idle, "an idle kept-alive connection").await;
}

#[tokio::test]
async fn one_address_holds_only_its_share_of_connections() {
    let (addr, _f) = server(ConnectionSettings {
        header_seconds: 30,
        ..settings()
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(TcpStream::connect(&addr).await.expect("connect"));
    }
    // Let the server count them.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut fifth = TcpStream::connect(&addr).await.expect("connect");
    let after = closed_after(&mut fifth, Duration::from_secs(5)).await;
    assert!(
        after.is_some_and(|t| t < Duration::from_secs(2)),
        "{after:?}"
    );
    // Once one is gone, there is room again.
    drop(held.pop());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut again = TcpStream::connect(&addr).await.expect("connect");
    again
        .write_all(b"GET /tap/availability HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .expect("write");
    let mut answer = String::new();
    again.read_to_string(&mut answer).await.expect("read");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test]
async fn clients_that_stop_reading_lose_their_connection_and_free_the_database() {
    let (addr, _f) = server(settings()).await;
    // A result of millions of rows, far more than the socket buffers hold.
    let query = "SELECT a.column_name, b.column_name, c.description FROM TAP_SCHEMA.columns AS a, TAP_SCHEMA.columns AS b, TAP_SCHEMA.columns AS c";
    let path = format!(
        "/tap/sync?LANG=ADQL&MAXREC=10000000&RESPONSEFORMAT=csv&QUERY={}",
        form_urlencoded::byte_serialize(query.as_bytes()).collect::<String>()
    );
    // As many stalled clients as the fixture has database readers (2), and more.
    let mut stalled = Vec::new();
    for _ in 0..3 {
        let mut s = TcpStream::connect(&addr).await.expect("connect");
        s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
            .await
            .expect("write");
        stalled.push(s);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Availability answers at once even so.
    let started = Instant::now();
    let mut probe = TcpStream::connect(&addr).await.expect("connect");
    probe
        .write_all(b"GET /tap/availability HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .expect("write");
    let mut answer = String::new();
    probe.read_to_string(&mut answer).await.expect("read");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    // After the stall limit the server has let go of them: a query runs again promptly.
    tokio::time::sleep(Duration::from_secs(3)).await;
    a_query_answers_promptly(&addr).await;
    // And the stalled connections were closed by the server.
    for mut s in stalled {
        assert!(closed_after(&mut s, Duration::from_secs(30))
            .await
            .is_some());
    }
}

/// A small TAP query from another connection answers within 5 s.
async fn a_query_answers_promptly(addr: &str) {
    let started = Instant::now();
    let count = form_urlencoded::byte_serialize(b"SELECT COUNT(*) AS n FROM ivoa.ObsCore")
        .collect::<String>();
    let mut next = TcpStream::connect(addr).await.expect("connect");
    next.write_all(
        format!(
            "GET /tap/sync?LANG=ADQL&RESPONSEFORMAT=csv&QUERY={count} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
    )
    .await
    .expect("write");
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(10), next.read_to_string(&mut answer))
        .await
        .expect("the query answered")
        .expect("read");
    assert!(
        answer.starts_with("HTTP/1.1 200") && answer.contains("n\n1\n"),
        "{answer}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

/// Sends a GET for `path` and leaves the answer unread.
async fn stalled_get(addr: &str, path: &str) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .await
        .expect("write");
    s
}

#[tokio::test]
async fn a_stalled_result_gives_its_database_connection_back_long_before_its_socket() {
    // The connection may stall for a minute; the query behind it only for a second.
    let settings = ConnectionSettings {
        write_stall_seconds: 60,
        ..settings()
    };
    let limits = skyport_server::Limits {
        result_stall_seconds: 1,
        ..Default::default()
    };
    let (addr, _f) = server_with(settings, limits).await;
    let query = "SELECT a.column_name, b.column_name, c.description FROM TAP_SCHEMA.columns AS a, TAP_SCHEMA.columns AS b, TAP_SCHEMA.columns AS c";
    let path = format!(
        "/tap/sync?LANG=ADQL&MAXREC=10000000&RESPONSEFORMAT=csv&QUERY={}",
        form_urlencoded::byte_serialize(query.as_bytes()).collect::<String>()
    );
    // More stalled clients than the fixture has readers (2).
    let mut stalled = Vec::new();
    for _ in 0..3 {
        stalled.push(stalled_get(&addr, &path).await);
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    // While the stalled sockets are still open.
    a_query_answers_promptly(&addr).await;
    // The stalled sockets are still open (their connection may stall for a minute), and a
    // client that reads on finds its result cut short and saying so (CSV's error line).
    let mut first = stalled.remove(0);
    let mut body = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), first.read_to_end(&mut body))
        .await
        .expect("the cut result ends")
        .expect("read");
    let text = String::from_utf8_lossy(&body);
    assert!(
        text.starts_with("HTTP/1.1 200"),
        "{}",
        &text[..text.len().min(200)]
    );
    let tail = &text[text.len().saturating_sub(300)..];
    assert!(
        tail.contains("QUERY_STATUS=ERROR") && tail.contains("not being read"),
        "a cut result must say so at its end: {tail:?}"
    );
}
