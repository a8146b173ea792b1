//! Users' own files over WebDAV (`/webdav/<user>/…`), on the suite's backend (the tokens live
//! in the archive): the owner's whole tree, shares to groups read-only or read-write, nothing
//! for anyone else (a tree not shared answers exactly as an absent one), paths that try to
//! climb out, and quotas that refuse an upload without losing what was there.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use bytes::Bytes;
use skyport_server::access::tokens::{issue, TokenRequest};
use skyport_server::{app, AppState, Limits};
use skyport_store::Accounts;

use crate::common::{call, call_bytes, server_settings, test_store};

pub(crate) struct Drive {
    pub(crate) app: axum::Router,
    dir: tempfile::TempDir,
    tokens: std::collections::HashMap<&'static str, String>,
    _database: Option<skyport_store::postgres::scratch::ScratchDatabase>,
}

/// A server keeping users' files with these quotas, and tokens for alice (group `team`), bob
/// (`team`, `editors`), carol (no group) and dave (no `write:files`).
pub(crate) async fn drive(quota_bytes: u64, quota_entries: u64) -> Drive {
    drive_with(quota_bytes, quota_entries, Default::default()).await
}

/// [`drive`] under the data rights `rights`.
pub(crate) async fn drive_with(
    quota_bytes: u64,
    quota_entries: u64,
    rights: Arc<skyport_store::Rights>,
) -> Drive {
    let dir = tempfile::tempdir().expect("dir");
    let (store, database) = test_store(dir.path()).await;
    let accounts = Accounts::open(Arc::clone(&store)).await.expect("accounts");
    let mut tokens = std::collections::HashMap::new();
    for (user, scopes, groups) in [
        ("alice", "write:files,read:tap", "team"),
        ("bob", "write:files,read:tap", "team,editors"),
        ("carol", "write:files", ""),
        ("dave", "read:tap,read:image", "team"),
        ("erin", "write:files,read:tap", "editors"),
    ] {
        let split = |s: &str| {
            s.split(',')
                .filter(|x| !x.is_empty())
                .map(String::from)
                .collect()
        };
        let (token, _) = issue(
            &accounts,
            TokenRequest {
                user: user.into(),
                scopes: split(scopes),
                groups: split(groups),
                expires: None,
            },
            "test",
        )
        .await
        .expect("token");
        tokens.insert(user, token);
    }
    let settings = skyport_server::ServerSettings {
        workspace: Some(skyport_workspace::WorkspaceSettings {
            dir: dir.path().join("workspace"),
            quota_bytes,
            quota_entries,
            quota_table_rows: 1000,
        }),
        rights,
        ..server_settings(dir.path(), Vec::new(), Limits::default())
    };
    let state = AppState::start(store, settings).await.expect("state");
    Drive {
        app: app(state),
        dir,
        tokens,
        _database: database,
    }
}

impl Drive {
    pub(crate) fn request(
        &self,
        who: &str,
        method: &str,
        uri: &str,
    ) -> axum::http::request::Builder {
        let b = Request::builder()
            .method(Method::from_bytes(method.as_bytes()).expect("method"))
            .uri(uri);
        match self.tokens.get(who) {
            Some(t) => b.header(header::AUTHORIZATION, format!("Bearer {t}")),
            None => b,
        }
    }

    pub(crate) async fn send(&self, who: &str, method: &str, uri: &str) -> (StatusCode, String) {
        let req = self
            .request(who, method, uri)
            .body(Body::empty())
            .expect("request");
        let (status, _, body) = call(&self.app, req).await;
        (status, body)
    }

    async fn put(&self, who: &str, uri: &str, data: &[u8]) -> StatusCode {
        let req = self
            .request(who, "PUT", uri)
            .header(header::CONTENT_LENGTH, data.len())
            .body(Body::from(data.to_vec()))
            .expect("request");
        call(&self.app, req).await.0
    }

    async fn get(&self, who: &str, uri: &str) -> (StatusCode, Vec<u8>) {
        let req = self
            .request(who, "GET", uri)
            .body(Body::empty())
            .expect("request");
        let (status, _, body) = call_bytes(&self.app, req).await;
        (status, body)
    }

    async fn propfind(&self, who: &str, uri: &str) -> (StatusCode, String) {
        let req = self
            .request(who, "PROPFIND", uri)
            .header("Depth", "1")
            .body(Body::empty())
            .expect("request");
        let (status, _, body) = call(&self.app, req).await;
        (status, body)
    }

    async fn share(&self, who: &str, json: &str) -> (StatusCode, String) {
        let req = self
            .request(who, "PUT", &format!("/workspace/{who}/shares"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(json.to_string()))
            .expect("request");
        let (status, _, body) = call(&self.app, req).await;
        (status, body)
    }

    fn staging_is_empty(&self) -> bool {
        std::fs::read_dir(self.dir.path().join("workspace/staging"))
            .expect("staging")
            .next()
            .is_none()
    }
}

/// The `href`s of a PROPFIND answer.
fn hrefs(xml: &str) -> Vec<String> {
    xml.split("<D:href>")
        .skip(1)
        .filter_map(|s| s.split("</D:href>").next())
        .map(String::from)
        .collect()
}

#[tokio::test]
async fn the_owner_puts_gets_lists_moves_copies_and_deletes() {
    let d = drive(1 << 20, 1000).await;
    let data: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
    assert_eq!(
        d.put("alice", "/webdav/alice/a.bin", &data).await,
        StatusCode::CREATED
    );
    assert_eq!(
        d.put("alice", "/webdav/alice/a.bin", &data).await,
        StatusCode::NO_CONTENT,
        "a second PUT replaces"
    );
    assert_eq!(
        d.get("alice", "/webdav/alice/a.bin").await,
        (StatusCode::OK, data.clone())
    );
    // A range.
    let req = d
        .request("alice", "GET", "/webdav/alice/a.bin")
        .header(header::RANGE, "bytes=1000-1099")
        .body(Body::empty())
        .expect("request");
    let (status, headers, body) = call_bytes(&d.app, req).await;
    assert_eq!(status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(body, data[1000..1100]);
    assert_eq!(
        headers[header::CONTENT_RANGE].to_str().expect("text"),
        "bytes 1000-1099/10000"
    );
    // A directory, a move into it, a copy, a listing.
    assert_eq!(
        d.send("alice", "MKCOL", "/webdav/alice/results").await.0,
        StatusCode::CREATED
    );
    let req = d
        .request("alice", "MOVE", "/webdav/alice/a.bin")
        .header(
            "Destination",
            "http://127.0.0.1:8080/webdav/alice/results/b.bin",
        )
        .body(Body::empty())
        .expect("request");
    assert_eq!(call(&d.app, req).await.0, StatusCode::CREATED);
    let req = d
        .request("alice", "COPY", "/webdav/alice/results/b.bin")
        .header("Destination", "/webdav/alice/c.bin")
        .body(Body::empty())
        .expect("request");
    assert_eq!(call(&d.app, req).await.0, StatusCode::CREATED);
    let (status, xml) = d.propfind("alice", "/webdav/alice/").await;
    assert_eq!(status, StatusCode::MULTI_STATUS, "{xml}");
    let mut listed = hrefs(&xml);
    listed.sort();
    assert_eq!(
        listed,
        [
            "/webdav/alice/",
            "/webdav/alice/c.bin",
            "/webdav/alice/results/"
        ]
    );
    assert_eq!(
        d.get("alice", "/webdav/alice/c.bin").await,
        (StatusCode::OK, data.clone())
    );
    // Compressed as clients ask (the compression layer reads a body past its end: it must
    // stay ended).
    let req = d
        .request("alice", "PROPFIND", "/webdav/alice/")
        .header("Depth", "1")
        .header(header::ACCEPT_ENCODING, "gzip")
        .body(Body::empty())
        .expect("request");
    let (status, headers, gz) = call_bytes(&d.app, req).await;
    assert_eq!(status, StatusCode::MULTI_STATUS);
    assert_eq!(headers[header::CONTENT_ENCODING], "gzip");
    let mut unzipped = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&gz[..]), &mut unzipped)
        .expect("gzip");
    assert_eq!(hrefs(&unzipped).len(), 3, "{unzipped}");
    assert_eq!(
        d.get("alice", "/webdav/alice/a.bin").await.0,
        StatusCode::NOT_FOUND,
        "moved away"
    );
    // A name with spaces and non-ASCII letters, percent-encoded.
    assert_eq!(
        d.put(
            "alice",
            "/webdav/alice/results/M%2013%20%C3%A9t%C3%A9.txt",
            b"m13"
        )
        .await,
        StatusCode::CREATED
    );
    assert!(d
        .dir
        .path()
        .join("workspace/users/alice/results/M 13 été.txt")
        .is_file());
    assert_eq!(
        d.send("alice", "DELETE", "/webdav/alice/results/").await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        d.get("alice", "/webdav/alice/results/b.bin").await.0,
        StatusCode::NOT_FOUND
    );
    // A Destination that only begins like the tree's path (`/webdav/alicex/…`) reaches
    // nothing outside it, whatever dav-server would make of it.
    let escaped = d.dir.path().join("escaped.txt");
    for method in ["MOVE", "COPY"] {
        let req = d
            .request("alice", method, "/webdav/alice/c.bin")
            .header(
                "Destination",
                format!("/webdav/alicex{}", escaped.display()),
            )
            .header("Overwrite", "T")
            .body(Body::empty())
            .expect("request");
        let (status, _, _) = call(&d.app, req).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method}");
        assert!(!escaped.exists(), "{method}");
    }
    assert_eq!(
        d.get("alice", "/webdav/alice/c.bin").await.0,
        StatusCode::OK,
        "the source stays"
    );
    // A PUT whose directory is missing is a conflict (RFC 4918), and makes nothing.
    assert_eq!(
        d.put("alice", "/webdav/alice/nowhere/x", b"x").await,
        StatusCode::CONFLICT
    );
    assert!(d.staging_is_empty());
}

#[tokio::test]
async fn shares_reach_their_groups_and_nobody_else_sees_anything() {
    let d = drive(1 << 20, 1000).await;
    for dir in ["results", "inbox", "private"] {
        d.send("alice", "MKCOL", &format!("/webdav/alice/{dir}/"))
            .await;
    }
    for file in ["results/r.txt", "private/p.txt", "top.txt"] {
        assert_eq!(
            d.put("alice", &format!("/webdav/alice/{file}"), file.as_bytes())
                .await,
            StatusCode::CREATED
        );
    }
    // Nothing is shared yet: bob sees what an absent user's tree shows.
    let absent = d.get("bob", "/webdav/nobody/results/r.txt").await;
    assert_eq!(absent.0, StatusCode::NOT_FOUND);
    assert_eq!(d.get("bob", "/webdav/alice/results/r.txt").await, absent);

    let (status, saved) = d
        .share(
            "alice",
            r#"[{"path": "/results/", "group": "team", "access": "read"},
                {"path": "/inbox", "group": "editors", "access": "write"}]"#,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    assert!(saved.contains(r#""path":"/results""#), "{saved}");

    // bob (team) reads the shared directory, and only it.
    assert_eq!(
        d.get("bob", "/webdav/alice/results/r.txt").await,
        (StatusCode::OK, b"results/r.txt".to_vec())
    );
    let (status, xml) = d.propfind("bob", "/webdav/alice/results/").await;
    assert_eq!(status, StatusCode::MULTI_STATUS);
    assert_eq!(
        hrefs(&xml),
        ["/webdav/alice/results/", "/webdav/alice/results/r.txt"]
    );
    assert!(!xml.contains("quota-used"), "the owner's usage is hers");
    for hidden in [
        "/webdav/alice/",
        "/webdav/alice/top.txt",
        "/webdav/alice/private/p.txt",
        // Climbing out of the share, plainly or encoded.
        "/webdav/alice/results/../private/p.txt",
        "/webdav/alice/results/%2e%2e/private/p.txt",
        // Out of one's own tree into another's is a request for the other's.
        "/webdav/bob/../alice/top.txt",
    ] {
        assert_eq!(d.get("bob", hidden).await, absent, "{hidden}");
    }
    // A segment holding an encoded slash is no path at all.
    let (status, body) = d
        .get("bob", "/webdav/alice/results/..%2fprivate/p.txt")
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(!String::from_utf8_lossy(&body).contains("private/p.txt"));
    // Read-only: no write of any kind.
    assert_eq!(
        d.put("bob", "/webdav/alice/results/new.txt", b"x").await,
        StatusCode::FORBIDDEN
    );
    for method in ["DELETE", "MKCOL"] {
        assert_eq!(
            d.send("bob", method, "/webdav/alice/results/r.txt").await.0,
            StatusCode::FORBIDDEN,
            "{method}"
        );
    }
    // Read-write: bob writes into alice's inbox (counted against her quota), not elsewhere.
    assert_eq!(
        d.put("bob", "/webdav/alice/inbox/from-bob.txt", b"hello")
            .await,
        StatusCode::CREATED
    );
    assert_eq!(
        d.get("alice", "/webdav/alice/inbox/from-bob.txt").await,
        (StatusCode::OK, b"hello".to_vec())
    );
    let req = d
        .request("bob", "MOVE", "/webdav/alice/inbox/from-bob.txt")
        .header("Destination", "/webdav/alice/inboxx/../private/stolen.txt")
        .body(Body::empty())
        .expect("request");
    let (status, _, _) = call(&d.app, req).await;
    assert!(
        status.is_client_error() || status == StatusCode::BAD_GATEWAY,
        "{status}"
    );
    assert!(!d
        .dir
        .path()
        .join("workspace/users/alice/private/stolen.txt")
        .exists());
    assert_eq!(
        d.get("alice", "/webdav/alice/inbox/from-bob.txt").await,
        (StatusCode::OK, b"hello".to_vec()),
        "a refused move leaves the file where it was"
    );
    // Deleting the share's top removes what is in it (bob may write there), but the directory
    // alice shared stays hers.
    let (status, _) = d.send("bob", "DELETE", "/webdav/alice/inbox/").await;
    assert!(!status.is_success(), "{status}");
    assert!(d.dir.path().join("workspace/users/alice/inbox").is_dir());
    assert_eq!(
        d.get("alice", "/webdav/alice/inbox/from-bob.txt").await.0,
        StatusCode::NOT_FOUND
    );
    // carol is in no group, dave holds no write:files: they reach nothing.
    assert_eq!(d.get("carol", "/webdav/alice/results/r.txt").await, absent);
    assert_eq!(
        d.get("dave", "/webdav/alice/results/r.txt").await.0,
        StatusCode::FORBIDDEN
    );
    // Anonymous callers are asked for credentials.
    let req = d
        .request("nobody", "PROPFIND", "/webdav/alice/")
        .body(Body::empty())
        .expect("request");
    let (status, headers, _) = call(&d.app, req).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(headers.contains_key(header::WWW_AUTHENTICATE));
    // Only alice reads or changes her shares.
    let (status, _) = d.send("bob", "GET", "/workspace/alice/shares").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let req = d
        .request("bob", "PUT", "/workspace/alice/shares")
        .body(Body::from("[]"))
        .expect("request");
    assert_eq!(call(&d.app, req).await.0, StatusCode::NOT_FOUND);
    // Shares said wrong are refused, and the old ones stand.
    for bad in [
        "not json",
        r#"[{"path": "../bob", "group": "team", "access": "read"}]"#,
        r#"[{"path": "/a/../b", "group": "team", "access": "read"}]"#,
        r#"[{"path": "/a", "group": "", "access": "read"}]"#,
        r#"[{"path": "/a", "group": "team", "access": "admin"}]"#,
    ] {
        let (status, body) = d.share("alice", bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert!(!body.contains("workspace/"), "no server paths: {body}");
    }
    let (status, summary) = d.send("alice", "GET", "/workspace/alice").await;
    assert_eq!(status, StatusCode::OK);
    let summary: serde_json::Value = serde_json::from_str(&summary).expect("json");
    assert_eq!(summary["shares"].as_array().map(Vec::len), Some(2));
    // Counted independently: the files alice's tree holds.
    let expected: usize = ["results/r.txt", "private/p.txt", "top.txt"]
        .iter()
        .map(|f| f.len())
        .sum::<usize>();
    assert_eq!(summary["usage"]["bytes"], expected as u64);
    assert_eq!(summary["usage"]["entries"], 6);
}

#[tokio::test]
async fn quotas_refuse_what_does_not_fit_and_keep_what_was_there() {
    let d = drive(1000, 4).await;
    let old = vec![b'o'; 600];
    assert_eq!(
        d.put("alice", "/webdav/alice/old.bin", &old).await,
        StatusCode::CREATED
    );
    // Announced too big: refused before a byte is written.
    assert_eq!(
        d.put("alice", "/webdav/alice/big.bin", &[b'b'; 600]).await,
        StatusCode::INSUFFICIENT_STORAGE
    );
    // Sent without a length, it is refused as it passes the quota.
    let chunks: Vec<Result<Bytes, std::io::Error>> =
        (0..6).map(|_| Ok(Bytes::from(vec![b'c'; 100]))).collect();
    let req = d
        .request("alice", "PUT", "/webdav/alice/chunked.bin")
        .body(Body::from_stream(futures_util::stream::iter(chunks)))
        .expect("request");
    assert_eq!(call(&d.app, req).await.0, StatusCode::INSUFFICIENT_STORAGE);
    for gone in ["big.bin", "chunked.bin"] {
        assert_eq!(
            d.get("alice", &format!("/webdav/alice/{gone}")).await.0,
            StatusCode::NOT_FOUND,
            "{gone}"
        );
    }
    // Replacing a file needs room only for what it grows by.
    assert_eq!(
        d.put("alice", "/webdav/alice/old.bin", &[b'n'; 900]).await,
        StatusCode::NO_CONTENT
    );
    // A replacement too big leaves the file as it was.
    assert_eq!(
        d.put("alice", "/webdav/alice/old.bin", &[b'x'; 1200]).await,
        StatusCode::INSUFFICIENT_STORAGE
    );
    assert_eq!(
        d.get("alice", "/webdav/alice/old.bin").await,
        (StatusCode::OK, vec![b'n'; 900])
    );
    // An upload broken off midway (the client went away) leaves the old file too.
    let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
        Ok(Bytes::from(vec![b'y'; 50])),
        Err(std::io::Error::other("connection reset")),
    ];
    let req = d
        .request("alice", "PUT", "/webdav/alice/old.bin")
        .body(Body::from_stream(futures_util::stream::iter(chunks)))
        .expect("request");
    let (status, _, _) = call(&d.app, req).await;
    assert!(!status.is_success(), "{status}");
    assert_eq!(
        d.get("alice", "/webdav/alice/old.bin").await,
        (StatusCode::OK, vec![b'n'; 900])
    );
    // Entries: old.bin and three more reach the limit of 4.
    for dir in ["a", "b", "c"] {
        assert_eq!(
            d.send("alice", "MKCOL", &format!("/webdav/alice/{dir}"))
                .await
                .0,
            StatusCode::CREATED
        );
    }
    assert_eq!(
        d.send("alice", "MKCOL", "/webdav/alice/d").await.0,
        StatusCode::INSUFFICIENT_STORAGE
    );
    assert!(d.staging_is_empty(), "no upload is left half written");
    // WebDAV's quota properties (RFC 4331) say the same.
    let req = d
        .request("alice", "PROPFIND", "/webdav/alice/")
        .header("Depth", "0")
        .body(Body::from(
            r#"<?xml version="1.0"?><propfind xmlns="DAV:"><prop><quota-available-bytes/><quota-used-bytes/></prop></propfind>"#,
        ))
        .expect("request");
    let (_, _, xml) = call(&d.app, req).await;
    assert!(xml.contains("<D:quota-used-bytes>900<"), "{xml}");
    assert!(xml.contains("<D:quota-available-bytes>100<"), "{xml}");
}

#[tokio::test]
async fn async_results_are_delivered_to_the_owners_files() {
    let d = drive(1 << 20, 1000).await;
    let adql = "SELECT table_name FROM TAP_SCHEMA.tables ORDER BY table_name";
    let start = |who: &'static str, dest: &str| {
        let body = form_urlencoded::Serializer::new(String::new())
            .append_pair("LANG", "ADQL")
            .append_pair("QUERY", adql)
            .append_pair("DEST", dest)
            .append_pair("PHASE", "RUN")
            .finish();
        d.request(who, "POST", "/tap/async")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .expect("request")
    };
    let (status, headers, body) = call(&d.app, start("alice", "/webdav/alice/results/")).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    let job = location(&headers);
    let id = job.rsplit('/').next().expect("id").to_string();
    let doc = wait_as(&d, "alice", &job).await;
    assert!(doc.contains("<uws:phase>COMPLETED</uws:phase>"), "{doc}");
    let (status, result) = d.get("alice", &format!("{job}/results/result")).await;
    assert_eq!(status, StatusCode::OK);
    let (_, listing) = d.propfind("alice", "/webdav/alice/results/").await;
    assert!(
        hrefs(&listing).contains(&format!("/webdav/alice/results/{id}-result.xml")),
        "{listing}"
    );
    let (status, kept) = d
        .get("alice", &format!("/webdav/alice/results/{id}-result.xml"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(kept, result, "the same bytes as the job's result");
    assert!(String::from_utf8_lossy(&kept).contains("<VOTABLE"));

    // Into a share bob may only read: the job ends in error, saying why, and writes nothing.
    let (status, _) = d
        .share(
            "alice",
            r#"[{"path": "/results", "group": "team", "access": "read"}]"#,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, headers, _) = call(&d.app, start("bob", "/webdav/alice/results/from-bob.vot")).await;
    let job = location(&headers);
    let doc = wait_as(&d, "bob", &job).await;
    assert!(doc.contains("<uws:phase>ERROR</uws:phase>"), "{doc}");
    let (_, error) = d.get("bob", &format!("{job}/error")).await;
    assert!(
        String::from_utf8_lossy(&error).contains("read-only"),
        "{}",
        String::from_utf8_lossy(&error)
    );
    assert_eq!(
        d.get("alice", "/webdav/alice/results/from-bob.vot").await.0,
        StatusCode::NOT_FOUND
    );
    // A DEST outside the user files is refused when the job is made.
    let (status, _, body) = call(&d.app, start("alice", "/tmp/x.vot")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("DEST"), "{body}");
}

/// The job a `303 See Other` names, as a path.
pub(crate) fn location(headers: &axum::http::HeaderMap) -> String {
    headers[header::LOCATION]
        .to_str()
        .expect("location")
        .trim_start_matches("http://127.0.0.1:8080")
        .to_string()
}

/// Runs `job` as `who` (`PHASE=RUN`).
pub(crate) async fn run_job(d: &Drive, who: &str, job: &str) {
    let req = d
        .request(who, "POST", &format!("{job}/phase"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from("PHASE=RUN"))
        .expect("request");
    call(&d.app, req).await;
}

/// The document of `job` once it has ended, asked for as `who`.
pub(crate) async fn wait_as(d: &Drive, who: &str, job: &str) -> String {
    for _ in 0..50 {
        let (_, body) = d.send(who, "GET", &format!("{job}?WAIT=5")).await;
        if ["COMPLETED", "ERROR", "ABORTED"]
            .iter()
            .any(|p| body.contains(&format!("<uws:phase>{p}</uws:phase>")))
        {
            return body;
        }
    }
    panic!("job {job} did not end");
}

#[tokio::test]
async fn moving_a_file_away_during_its_replacement_does_not_double_the_quota() {
    let d = drive(1000, 100).await;
    assert_eq!(
        d.put("alice", "/webdav/alice/a", &[b'o'; 900]).await,
        StatusCode::CREATED
    );
    // A replacement of /a starts: it may grow the tree only past /a's 900 bytes...
    let (sender, receiver) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    let body = Body::from_stream(futures_util::stream::unfold(receiver, |mut r| async move {
        r.recv().await.map(|chunk| (chunk, r))
    }));
    let req = d
        .request("alice", "PUT", "/webdav/alice/a")
        .body(body)
        .expect("request");
    let app = d.app.clone();
    let upload = tokio::spawn(async move { call(&app, req).await.0 });
    sender
        .send(Ok(Bytes::from(vec![b'n'; 400])))
        .await
        .expect("send");
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    // ...but /a is moved away before it ends.
    let req = d
        .request("alice", "MOVE", "/webdav/alice/a")
        .header("Destination", "/webdav/alice/a1")
        .body(Body::empty())
        .expect("request");
    assert_eq!(call(&d.app, req).await.0, StatusCode::CREATED);
    sender
        .send(Ok(Bytes::from(vec![b'n'; 500])))
        .await
        .expect("send");
    drop(sender);
    assert_eq!(
        upload.await.expect("upload"),
        StatusCode::INSUFFICIENT_STORAGE,
        "900 + 900 bytes do not fit in 1000"
    );
    assert_eq!(
        d.get("alice", "/webdav/alice/a").await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        d.get("alice", "/webdav/alice/a1").await,
        (StatusCode::OK, vec![b'o'; 900])
    );
    assert!(d.staging_is_empty());
}
