//! The shared fixture of the in-process tests: a real archive holding ingested images, and
//! helpers to call the application without a socket.
//!
//! The archive is SQLite unless `SKYPORT_TEST_BACKEND=postgres`: then it is a scratch database
//! on the server `SKYPORT_PG_URL` names, and the whole suite runs on PostgreSQL (scripts/test
//! runs it both ways).
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use skyport_consdb::{build_record, default_bands, DataRoot, IngestSettings};
use skyport_server::{app, AppState, Limits, ServerSettings, UploadAllow};
use skyport_store::postgres::scratch::ScratchDatabase;
use skyport_store::{PostgresStore, SqliteStore, Store};
use tower::ServiceExt;

pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub app: axum::Router,
    /// The PostgreSQL database of this fixture, dropped with it.
    pub database: Option<ScratchDatabase>,
}

/// Whether the suite runs on PostgreSQL.
pub fn on_postgres() -> bool {
    std::env::var("SKYPORT_TEST_BACKEND").as_deref() == Ok("postgres")
}

/// A migrated, empty archive store on the backend the suite runs on.
pub async fn test_store(dir: &std::path::Path) -> (Arc<dyn Store>, Option<ScratchDatabase>) {
    let (store, database): (Arc<dyn Store>, _) = if on_postgres() {
        let url = std::env::var("SKYPORT_PG_URL")
            .expect("SKYPORT_TEST_BACKEND=postgres needs SKYPORT_PG_URL");
        let db = ScratchDatabase::create(&url, "server")
            .await
            .expect("scratch database");
        let store = PostgresStore::connect(&db.url, 2).await.expect("connect");
        (Arc::new(store), Some(db))
    } else {
        let store = SqliteStore::open(&dir.join("db.sqlite"), 2).expect("open");
        (Arc::new(store), None)
    };
    store
        .migrate(&skyport_schema::builtin_schemas())
        .await
        .expect("migrate");
    (store, database)
}

/// [`test_store`] with ConsDB's schemas migrated too; returns them with the store.
pub async fn consdb_store(
    dir: &std::path::Path,
) -> (
    Arc<dyn Store>,
    Option<ScratchDatabase>,
    Vec<skyport_schema::Schema>,
) {
    let (store, database) = test_store(dir).await;
    let consdb = skyport_consdb::schemas::builtin();
    store.migrate(&consdb).await.expect("consdb schemas");
    (store, database, consdb)
}

/// An archive with ConsDB's schemas and no images, served with the default settings.
pub async fn consdb_fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("dir");
    let (store, database, consdb) = consdb_store(dir.path()).await;
    let app = app_with_schemas(store, dir.path(), consdb).await;
    Fixture { dir, app, database }
}

pub async fn fixture() -> Fixture {
    fixture_with(Limits::default()).await
}

pub async fn fixture_with(limits: Limits) -> Fixture {
    fixture_with_ca(limits, None).await
}

/// A fixture whose upload client also trusts the certificates in `upload_ca_pem`.
pub async fn fixture_with_ca(limits: Limits, upload_ca_pem: Option<Vec<u8>>) -> Fixture {
    fixture_with_uploads(limits, upload_ca_pem, &[]).await
}

/// A fixture whose upload client also trusts the certificates in `upload_ca_pem` and may
/// fetch from the hosts and networks of `upload_allow` (`[server] upload_allow`), such as
/// the loopback servers tests serve documents from.
pub async fn fixture_with_uploads(
    limits: Limits,
    upload_ca_pem: Option<Vec<u8>>,
    upload_allow: &[&str],
) -> Fixture {
    let m13 =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/fits/pypi_astropy/m13.fits");
    let allow = UploadAllow::parse(upload_allow).expect("upload_allow");
    fixture_of(limits, upload_ca_pem, allow, &[m13]).await
}

/// A file of the repository's `testdata/fits`.
pub fn testdata(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/fits")
        .join(rel)
}

/// A file of the shared data (`../shared/data/fits`).
pub fn shared(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/fits")
        .join(rel)
}

/// A fixture whose data root holds copies of `files`, all ingested (DIDs
/// `ivo://skyport.test/demo?<file stem>`).
pub async fn fixture_with_files(
    limits: Limits,
    upload_ca_pem: Option<Vec<u8>>,
    files: &[PathBuf],
) -> Fixture {
    fixture_of(limits, upload_ca_pem, UploadAllow::default(), files).await
}

async fn fixture_of(
    limits: Limits,
    upload_ca_pem: Option<Vec<u8>>,
    upload_allow: UploadAllow,
    files: &[PathBuf],
) -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).expect("mkdir");
    let mut copies = Vec::new();
    for f in files {
        let name = f.file_name().expect("file name");
        std::fs::copy(f, data.join(name)).unwrap_or_else(|e| panic!("copy {}: {e}", f.display()));
        copies.push(data.join(name));
    }
    std::fs::write(data.join("secret.fits"), b"not ingested").expect("write");
    let (store, database) = test_store(dir.path()).await;
    let settings = ingest_settings(&data);
    for copy in &copies {
        store
            .upsert_image(build_record(&settings, copy).expect("record"))
            .await
            .expect("upsert");
    }
    let state = AppState::start(
        store,
        ServerSettings {
            upload_ca_pem,
            upload_allow,
            ..server_settings(dir.path(), vec![("demo".into(), data)], limits)
        },
    )
    .await
    .expect("state");
    Fixture {
        dir,
        app: app(state),
        database,
    }
}

/// How the test archives ingest the images of their data root `data` (collection `demo`).
pub fn ingest_settings(data: &std::path::Path) -> IngestSettings {
    IngestSettings {
        authority: "skyport.test".into(),
        roots: vec![DataRoot {
            name: "demo".into(),
            path: data.to_path_buf(),
            collection: "demo".into(),
            calib_level: 1,
            instrument: None,
            obscore: Vec::new(),
            release_date: None,
        }],
        bands: default_bands(),
        require_wcs: true,
    }
}

/// The settings test servers start from: `roots` and `limits`, jobs and caches below `dir`,
/// no upload certificates or allow-list, open access, and 127.0.0.1 trusted as an
/// authenticating proxy (tests that need a named caller play it: `as_user`; requests without
/// a peer address stay anonymous).
pub fn server_settings(
    dir: &std::path::Path,
    roots: Vec<(String, PathBuf)>,
    limits: Limits,
) -> ServerSettings {
    ServerSettings {
        public_url: "http://127.0.0.1:8080".into(),
        title: "test archive".into(),
        roots,
        limits,
        jobs_dir: dir.join("jobs"),
        cache_dir: dir.join("cache"),
        upload_ca_pem: None,
        upload_allow: UploadAllow::default(),
        trusted_proxies: vec![std::net::Ipv4Addr::LOCALHOST.into()],
        rights: Default::default(),
        auth: Default::default(),
        extra_schemas: Vec::new(),
        bands: default_bands(),
        dataset: "test".into(),
        hips_dir: None,
        workspace: None,
        objects: None,
    }
}

/// The application over `store` (migrated), serving `extra_schemas` (ConsDB's) beside the
/// built-in ones; jobs and caches below `dir`.
pub async fn app_with_schemas(
    store: Arc<dyn Store>,
    dir: &std::path::Path,
    extra_schemas: Vec<skyport_schema::Schema>,
) -> axum::Router {
    let state = AppState::start(
        store,
        ServerSettings {
            extra_schemas,
            ..server_settings(dir, Vec::new(), Limits::default())
        },
    )
    .await
    .expect("state");
    app(state)
}

pub async fn call(
    app: &axum::Router,
    req: Request<Body>,
) -> (StatusCode, axum::http::HeaderMap, String) {
    let resp = app.clone().oneshot(req).await.expect("response");
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await.expect("body").to_bytes();
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

/// Calls the app and returns the body as bytes.
pub async fn call_bytes(
    app: &axum::Router,
    req: Request<Body>,
) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let resp = app.clone().oneshot(req).await.expect("response");
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await.expect("body").to_bytes();
    (status, headers, body.to_vec())
}

/// The document of async job `job` (a path) once it has finished, waiting for it.
pub async fn wait_final(app: &axum::Router, job: &str) -> String {
    for _ in 0..50 {
        let (_, _, body) = call(app, get(&format!("{job}?WAIT=5"))).await;
        if ["COMPLETED", "ERROR", "ABORTED"]
            .iter()
            .any(|p| body.contains(&format!("<uws:phase>{p}</uws:phase>")))
        {
            return body;
        }
    }
    panic!("job {job} did not finish");
}

/// A TAP query's rows, through the TAP service under `prefix` (`""`, `/releases/dr1`), as JSON
/// objects keyed by column name.
pub async fn tap_rows(
    app: &axum::Router,
    prefix: &str,
    adql: &str,
) -> Vec<serde_json::Map<String, serde_json::Value>> {
    let uri = format!(
        "{prefix}/tap/sync?LANG=ADQL&FORMAT=json&MAXREC=100000&QUERY={}",
        percent_encoding::utf8_percent_encode(adql, percent_encoding::NON_ALPHANUMERIC)
    );
    let (status, _, body) = call(app, get(&uri)).await;
    assert_eq!(status, StatusCode::OK, "{adql}: {body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    let names: Vec<String> = v["columns"]
        .as_array()
        .expect("columns")
        .iter()
        .map(|c| c["name"].as_str().expect("name").to_string())
        .collect();
    v["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|r| {
            names
                .iter()
                .cloned()
                .zip(r.as_array().expect("row").iter().cloned())
                .collect()
        })
        .collect()
}

pub fn get(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).expect("request")
}

/// `req` as sent by an authenticating proxy on 127.0.0.1 for `user` (the fixtures trust it).
pub fn signed(mut req: Request<Body>, user: &str) -> Request<Body> {
    req.headers_mut().insert(
        "x-auth-request-user",
        axum::http::HeaderValue::from_str(user).expect("user name"),
    );
    req.extensions_mut()
        .insert(axum::extract::ConnectInfo(std::net::SocketAddr::from((
            [127, 0, 0, 1],
            40000,
        ))));
    req
}

/// The application as `user` reaches it: every request is [`signed`] for them.
pub fn as_user(app: &axum::Router, user: &str) -> axum::Router {
    let user = user.to_string();
    app.clone()
        .layer(axum::middleware::map_request(move |req: Request<Body>| {
            let signed = signed(req, &user);
            async move { signed }
        }))
}

/// Serves `app` as `skyport serve` does (`skyport_server::serve`) on a free loopback port,
/// until the test's runtime ends; the address to connect to.
pub async fn serve_on_loopback(app: axum::Router) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(skyport_server::serve(
        listener,
        app,
        std::future::pending::<()>(),
    ));
    addr
}
