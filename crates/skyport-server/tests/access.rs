//! Identity, scopes and data rights on every route.
//!
//! The archive holds one public image (`demo/m13.fits`) and the same pixels again as a
//! proprietary image (`secret/hidden-proprietary.fits`, released in 2999, readable by group
//! `demo-team`), each with a ConsDB exposure. The issuer is a real one in miniature: the test
//! makes RSA and EC keys, serves their JWKS over HTTP on loopback and signs tokens with them;
//! skyport's own API tokens are made and revoked in the archive.
//!
//! The matrix walks every route the router has (the list comes from the router itself, so a
//! new route without an access rule fails here) for every kind of caller, asserting the status
//! class and that nothing of the proprietary image appears in any body of a caller without
//! rights. Further tests check that a hidden image answers exactly like an absent one, and that
//! the query pipeline never lets a hidden row be seen or counted.

mod common;
#[path = "access/late_bodies.rs"]
mod late_bodies;
#[path = "access/user_tables.rs"]
mod user_tables;
#[path = "access/webdav.rs"]
mod webdav;

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use base64::Engine;
use chrono::Utc;
use serde_json::{json, Value};
use skyport_auth::testing::{TestIssuer, TestServer};
use skyport_auth::{JwksSource, ScopePolicy};
use skyport_consdb::{build_record, default_bands, DataRoot, IngestSettings};
use skyport_server::access::{rule_for, AuthMode, AuthSettings, QuotaLimits, Quotas, Rule};
use skyport_server::releases::ReleaseSpec;
use skyport_server::{
    app, release_route_patterns, route_patterns, AppState, Limits, ServerSettings,
};
use skyport_store::{Accounts, CollectionRights, Rights, Statement};

use common::call;

/// What no caller without rights may ever see.
const SECRETS: [&str; 2] = ["hidden-proprietary", "MC_O_20251201_000001"];
const SECRET_DID: &str = "ivo://skyport.test/secret?hidden-proprietary";
const PUBLIC_DID: &str = "ivo://skyport.test/demo?m13";

fn issuer() -> &'static TestIssuer {
    static ISSUER: OnceLock<TestIssuer> = OnceLock::new();
    ISSUER.get_or_init(TestIssuer::new)
}

struct World {
    app: axum::Router,
    state: Arc<AppState>,
    /// The `Authorization` header of each kind of caller (`None`: anonymous).
    callers: BTreeMap<&'static str, Option<String>>,
    /// The centre of the two images' footprint.
    centre: (f64, f64),
    _jwks: TestServer,
    _dir: tempfile::TempDir,
    _database: Option<skyport_store::postgres::scratch::ScratchDatabase>,
}

fn groups(names: &[&str]) -> Value {
    Value::Array(
        names
            .iter()
            .enumerate()
            .map(|(i, n)| json!({ "name": n, "id": i + 1 }))
            .collect(),
    )
}

fn bearer(token: &str) -> Option<String> {
    Some(format!("Bearer {token}"))
}

async fn world(mode: AuthMode) -> World {
    world_with(mode, Quotas::default()).await
}

async fn world_with(mode: AuthMode, quotas: Quotas) -> World {
    world_cached(mode, quotas, AuthSettings::default().cache).await
}

/// A world whose access layer trusts what it looked up for `cache`.
async fn world_cached(mode: AuthMode, quotas: Quotas, cache: std::time::Duration) -> World {
    let base = AuthSettings {
        cache,
        ..AuthSettings::default()
    };
    world_configured(mode, quotas, base).await
}

/// A world whose access layer has `base`'s settings but for its mode, issuer, scopes and
/// quotas.
async fn world_configured(mode: AuthMode, quotas: Quotas, base: AuthSettings) -> World {
    let issuer = issuer();
    let (jwks_url, jwks) = issuer.serve_jwks().await.expect("JWKS server");
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, database, consdb) = common::consdb_store(dir.path()).await;
    let m13 = common::testdata("pypi_astropy/m13.fits");
    let mut roots = Vec::new();
    for (name, file, release) in [
        ("demo", "m13.fits", None),
        (
            "secret",
            "hidden-proprietary.fits",
            Some("2999-01-01T00:00:00.000000".to_string()),
        ),
    ] {
        let path = dir.path().join(name);
        std::fs::create_dir_all(&path).expect("mkdir");
        std::fs::copy(&m13, path.join(file)).expect("copy");
        roots.push((
            DataRoot {
                name: name.into(),
                path,
                collection: name.into(),
                calib_level: 1,
                instrument: None,
                obscore: Vec::new(),
                release_date: release,
            },
            file,
        ));
    }
    let ingest = IngestSettings {
        authority: "skyport.test".into(),
        roots: roots.iter().map(|(r, _)| r.clone()).collect(),
        bands: default_bands(),
        require_wcs: true,
    };
    for (root, file) in &roots {
        store
            .upsert_image(build_record(&ingest, &root.path.join(file)).expect("record"))
            .await
            .expect("upsert");
    }
    // A ConsDB exposure for each image, related to it as header ingest relates them.
    let d = store.dialect();
    let exposure = skyport_store::ddl::table_name(d, "cdb_lsstcam", "exposure");
    let relation = skyport_store::ddl::table_name(d, "skyport", "image_exposure");
    let mut statements = Vec::new();
    for (seq, did) in [(1i64, SECRET_DID), (2, PUBLIC_DID)] {
        let id = 2025120100000 + seq;
        statements.push(Statement::new(
            format!(
                "INSERT INTO {exposure} (exposure_id, exposure_name, controller, day_obs, seq_num) \
                 VALUES ({id}, 'MC_O_20251201_{seq:06}', 'O', 20251201, {seq})"
            ),
            Vec::new(),
        ));
        statements.push(Statement::new(
            format!(
                "INSERT INTO {relation} (obs_publisher_did, instrument, exposure_id, detector, ccdexposure_id) \
                 VALUES ('{did}', 'lsstcam', {id}, 0, {id}000)"
            ),
            Vec::new(),
        ));
    }
    store.write("test", statements).await.expect("consdb rows");

    let accounts = Accounts::open(Arc::clone(&store)).await.expect("accounts");
    let api_token = |scopes: &[&str], team: &[&str]| {
        skyport_server::access::tokens::issue(
            &accounts,
            skyport_server::access::tokens::TokenRequest {
                user: "robot".into(),
                scopes: scopes.iter().map(|s| s.to_string()).collect(),
                groups: team.iter().map(|s| s.to_string()).collect(),
                expires: None,
            },
            "test",
        )
    };
    let (revoked, revoked_record) = api_token(&["read:tap", "read:image"], &["demo-team"])
        .await
        .expect("token");
    let (robot, _) = api_token(&["read:tap", "read:image"], &["demo-team"])
        .await
        .expect("token");
    assert!(accounts
        .revoke_token(&revoked_record.key, Utc::now(), "test")
        .await
        .expect("revoke"));

    let now = Utc::now().timestamp();
    let claims = |user: &str, member_of: Value| {
        let mut c = issuer.claims(user);
        c["isMemberOf"] = member_of;
        c
    };
    let mut expired = claims("late", groups(&["readers"]));
    expired["exp"] = json!(now - 3600);
    let mut wrong_audience = claims("lost", groups(&["readers"]));
    wrong_audience["aud"] = json!("some-other-service");
    let mut former = claims("former", groups(&["readers"]));
    former["isMemberOf"]
        .as_array_mut()
        .expect("groups")
        .push(json!({ "name": "demo-team", "id": 9, "expires": now - 86400 }));
    let callers: BTreeMap<&'static str, Option<String>> = [
        ("anonymous", None),
        ("expired token", bearer(&issuer.sign_rs256(&expired))),
        (
            "token signed by another key",
            bearer(&issuer.sign_with_other_key(&claims("x", groups(&["readers"])), "rsa-1")),
        ),
        (
            "wrong audience",
            bearer(&issuer.sign_rs256(&wrong_audience)),
        ),
        (
            "alg none",
            bearer(&issuer.unsigned_alg_none(&claims("x", groups(&["readers", "writers"])))),
        ),
        (
            "HMAC with the public key",
            bearer(
                &issuer
                    .hmac_signed_with_public_key_pem(&claims("x", groups(&["readers", "writers"]))),
            ),
        ),
        (
            "token without the scope",
            bearer(&issuer.sign_rs256(&claims("nobody", json!([])))),
        ),
        (
            "token with the scope",
            bearer(&issuer.sign_es256(&claims(
                "writer",
                groups(&["readers", "writers", "token-admins"]),
            ))),
        ),
        (
            "data-rights member",
            bearer(&issuer.sign_rs256(&claims("member", groups(&["readers", "demo-team"])))),
        ),
        (
            "member whose rights ended",
            bearer(&issuer.sign_rs256(&former)),
        ),
        ("revoked skyport token", bearer(&revoked)),
        (
            "throttled",
            bearer(&issuer.sign_rs256(&claims("slow", groups(&["throttled"])))),
        ),
        (
            "job administrator",
            bearer(&issuer.sign_rs256(&claims("root", groups(&["admins"])))),
        ),
        (
            "skyport token as Basic password",
            Some(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("anyone:{robot}"))
            )),
        ),
    ]
    .into_iter()
    .collect();

    let scopes = ScopePolicy {
        anonymous: vec!["read:tap".into(), "read:image".into()],
        authenticated: Vec::new(),
        group_scopes: [
            ("readers", vec!["read:tap", "read:image"]),
            ("demo-team", vec!["read:tap", "read:image"]),
            ("writers", vec!["write:consdb", "write:files"]),
            ("throttled", vec!["read:tap", "read:image"]),
            ("admins", vec!["read:tap", "read:image", "admin:jobs"]),
            ("token-admins", vec!["admin:token"]),
        ]
        .into_iter()
        .map(|(g, s)| (g.to_string(), s.into_iter().map(String::from).collect()))
        .collect(),
    };
    let state = AppState::start_with_releases(
        Arc::clone(&store),
        ServerSettings {
            public_url: "http://127.0.0.1:8080".into(),
            title: "access test".into(),
            roots: roots
                .iter()
                .map(|(r, _)| (r.name.clone(), r.path.clone()))
                .collect(),
            limits: Limits::default(),
            jobs_dir: dir.path().join("jobs"),
            cache_dir: dir.path().join("cache"),
            upload_ca_pem: None,
            upload_allow: Default::default(),
            trusted_proxies: Vec::new(),
            rights: Arc::new(Rights::new(
                [CollectionRights {
                    collection: "secret".into(),
                    groups: vec!["demo-team".into()],
                    metadata_public: true,
                    data_public: true,
                }],
                [(
                    "cdb_lsstcam.exposure_quicklook".to_string(),
                    vec!["staff".to_string()],
                )],
            )),
            auth: AuthSettings {
                mode,
                jwt: Some(issuer.settings(JwksSource::Url(jwks_url))),
                scopes,
                quotas,
                ..base
            },
            extra_schemas: consdb,
            bands: default_bands(),
            dataset: "test".into(),
            hips_dir: None,
            workspace: Some(skyport_workspace::WorkspaceSettings {
                dir: dir.path().join("workspace"),
                quota_bytes: 1 << 20,
                quota_entries: 100,
                quota_table_rows: 0,
            }),
            objects: None,
        },
        // A label of the public collection, served from the live archive: the walk below goes
        // through its routes too, where not even the secret collection's members may see it.
        vec![ReleaseSpec {
            name: "public".into(),
            description: String::new(),
            collections: vec!["demo".into()],
            snapshot: None,
        }],
    )
    .await
    .expect("state");
    let app = app(Arc::clone(&state));
    let mut world = World {
        app,
        state,
        callers,
        centre: (0.0, 0.0),
        _jwks: jwks,
        _dir: dir,
        _database: database,
    };
    let (_, rows) = world
        .tap("data-rights member", "SELECT s_ra, s_dec FROM ivoa.ObsCore")
        .await;
    let first = rows.first().expect("a row");
    world.centre = (
        first[0].as_f64().expect("ra"),
        first[1].as_f64().expect("dec"),
    );
    world
}

impl World {
    async fn send(
        &self,
        who: &str,
        method: Method,
        uri: &str,
        body: Option<Value>,
    ) -> (StatusCode, axum::http::HeaderMap, String) {
        let mut request = Request::builder().method(method).uri(uri);
        if let Some(Some(auth)) = self.callers.get(who) {
            request = request.header(header::AUTHORIZATION, auth);
        }
        let request = match body {
            Some(b) => request
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(b.to_string())),
            None => request.body(Body::empty()),
        }
        .expect("request");
        call(&self.app, request).await
    }

    async fn get(&self, who: &str, uri: &str) -> (StatusCode, String) {
        let (status, _, body) = self.send(who, Method::GET, uri, None).await;
        (status, body)
    }

    /// A TAP query's rows (JSON), asserting success.
    async fn tap(&self, who: &str, adql: &str) -> (Vec<String>, Vec<Vec<Value>>) {
        let uri = format!("/tap/sync?LANG=ADQL&FORMAT=json&QUERY={}", encode(adql));
        let (status, body) = self.get(who, &uri).await;
        assert_eq!(status, StatusCode::OK, "{who}: {adql}: {body}");
        let v: Value = serde_json::from_str(&body).expect("json");
        let names = v["columns"]
            .as_array()
            .map(|c| {
                c.iter()
                    .map(|c| c["name"].as_str().unwrap_or_default().to_string())
                    .collect()
            })
            .unwrap_or_default();
        let rows = v["data"]
            .as_array()
            .map(|r| {
                r.iter()
                    .map(|r| r.as_array().cloned().unwrap_or_default())
                    .collect()
            })
            .unwrap_or_default();
        (names, rows)
    }

    async fn count(&self, who: &str, adql: &str) -> i64 {
        let (_, rows) = self.tap(who, adql).await;
        rows.first()
            .and_then(|r| r.first())
            .and_then(Value::as_i64)
            .unwrap_or_else(|| panic!("{who}: {adql}: no count in {rows:?}"))
    }
}

fn encode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn leaks(body: &str) -> Option<&'static str> {
    SECRETS.into_iter().find(|s| body.contains(s))
}

/// The callers whose credentials are refused outright.
const REFUSED: [&str; 6] = [
    "expired token",
    "token signed by another key",
    "wrong audience",
    "alg none",
    "HMAC with the public key",
    "revoked skyport token",
];
/// The callers who may see the proprietary image.
const MEMBERS: [&str; 2] = ["data-rights member", "skyport token as Basic password"];

/// A concrete request for a route pattern: sample values for its parameters (public ones: the
/// leak check must not be fooled by the request echoing a secret it was given).
fn concrete(pattern: &str, centre: (f64, f64)) -> String {
    let mut uri = pattern.to_string();
    for (param, value) in [
        ("{id}", "0123456789abcdef0123456789abcdef"),
        ("{result}", "result"),
        ("{name}", "QUERY"),
        ("{root}", "demo"),
        ("{*path}", "m13.fits"),
        ("{instrument}", "lsstcam"),
        ("{obs_type}", "exposure"),
        ("{obs_id}", "2025120100002"),
        ("{table}", "exposure"),
        ("{day_obs}", "20251201"),
        ("{seq_num}", "2"),
        ("{detector}", "0"),
        ("{key}", "no-such-key"),
        ("{collection}", "secret"),
        ("{user}", "someone"),
    ] {
        uri = uri.replace(param, value);
    }
    assert!(
        !uri.contains('{'),
        "no sample value for a parameter of {pattern}"
    );
    let (ra, dec) = centre;
    let query = match pattern {
        "/tap/sync" => format!(
            "LANG=ADQL&QUERY={}",
            encode("SELECT o.obs_id, o.access_url FROM ivoa.ObsCore AS o")
        ),
        "/sia/query" => format!("POS={}", encode(&format!("CIRCLE {ra} {dec} 0.5"))),
        "/datalink/links" => format!("ID={}", encode(PUBLIC_DID)),
        "/soda/sync" => format!("CIRCLE={}", encode(&format!("{ra} {dec} 0.005"))),
        p if p.starts_with("/consdb/export") => "format=csv".into(),
        _ => String::new(),
    };
    if query.is_empty() {
        uri
    } else {
        format!("{uri}?{query}")
    }
}

#[tokio::test]
async fn every_route_for_every_caller() {
    let w = world(AuthMode::Open).await;
    let patterns = route_patterns(&w.state);
    assert!(
        patterns.len() > 40,
        "the router lists its routes: {patterns:?}"
    );
    // Every route of the archive, and every route of a release under its prefix (checked by
    // the release's own access layer, with the same rules).
    let release_patterns = release_route_patterns(&w.state);
    let walk = patterns
        .iter()
        .filter(|p| !p.starts_with("/releases/{release}/"))
        .map(|p| (p.as_str(), ""))
        .chain(
            release_patterns
                .iter()
                .map(|p| (p.as_str(), "/releases/public")),
        );
    for (pattern, prefix) in walk {
        for method in [Method::GET, Method::POST, Method::DELETE] {
            let Some(rule) = rule_for(&method, pattern) else {
                panic!("route {method} {pattern} has no access rule");
            };
            let uri = format!("{prefix}{}", concrete(pattern, w.centre));
            // A JSON body for the POSTs that take one (ConsDB); the others ignore it.
            let body = (method == Method::POST && pattern.starts_with("/consdb"))
                .then(|| json!({ "values": { "airmass": 1.5 }, "key": "k", "dtype": "int" }));
            // Whether the route takes this method at all: asked as a caller who may do anything.
            let (status, _, _) = w
                .send("token with the scope", method.clone(), &uri, body.clone())
                .await;
            if status == StatusCode::METHOD_NOT_ALLOWED {
                continue;
            }
            for who in w.callers.keys() {
                let (status, headers, text) = w.send(who, method.clone(), &uri, body.clone()).await;
                let at = format!("{who}: {method} {uri} ({pattern}) → {status}");
                let denied = status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN;
                assert!(!status.is_server_error(), "{at}: {text}");
                match (rule, *who) {
                    (Rule::Open, _) => assert!(!denied, "{at}: an open door"),
                    (_, w) if REFUSED.contains(&w) => {
                        assert_eq!(status, StatusCode::UNAUTHORIZED, "{at}: {text}");
                        let challenges: Vec<&str> = headers
                            .get_all(header::WWW_AUTHENTICATE)
                            .iter()
                            .filter_map(|v| v.to_str().ok())
                            .collect();
                        assert!(
                            challenges.iter().any(|c| c.starts_with("Bearer realm="))
                                && challenges.iter().any(|c| c.starts_with("ivoa_bearer "))
                                && challenges.iter().any(|c| c.starts_with("Basic realm=")),
                            "{at}: {challenges:?}"
                        );
                    }
                    (Rule::Scope(scope), "anonymous") => {
                        if scope.starts_with("read:") {
                            assert!(!denied, "{at}: anonymous may read in open mode: {text}");
                        } else {
                            assert_eq!(status, StatusCode::UNAUTHORIZED, "{at}: {text}");
                        }
                    }
                    (Rule::Scope(_), "token without the scope") => {
                        assert_eq!(status, StatusCode::FORBIDDEN, "{at}: {text}")
                    }
                    (Rule::Scope(scope), "token with the scope") => {
                        assert!(!denied, "{at} ({scope}): {text}")
                    }
                    (Rule::Scope(scope), _) => {
                        // Readers without write scopes.
                        assert_eq!(denied, !scope.starts_with("read:"), "{at}: {text}");
                    }
                }
                if !MEMBERS.contains(who) || !prefix.is_empty() {
                    assert_eq!(leaks(&text), None, "{at}: {text}");
                }
            }
        }
    }
}

#[tokio::test]
async fn the_query_pipeline_never_sees_a_hidden_row() {
    let w = world(AuthMode::Open).await;
    let queries = [
        ("SELECT COUNT(*) FROM ivoa.ObsCore", 1, 2),
        ("SELECT COUNT(*) FROM ivoa.ObsCore AS a JOIN ivoa.ObsCore AS b ON a.s_ra = b.s_ra", 1, 4),
        ("SELECT COUNT(*) FROM (SELECT obs_id FROM ivoa.ObsCore UNION SELECT obs_id FROM ivoa.ObsCore) AS u", 1, 2),
        ("SELECT COUNT(*) FROM ivoa.ObsCore WHERE obs_id IN (SELECT obs_id FROM ivoa.ObsCore WHERE obs_collection = 'secret')", 0, 1),
        ("SELECT COUNT(*) FROM (SELECT obs_collection, COUNT(*) AS n FROM ivoa.ObsCore GROUP BY obs_collection) AS g", 1, 2),
        ("WITH c AS (SELECT * FROM ivoa.ObsCore) SELECT COUNT(*) FROM c", 1, 2),
        ("SELECT COUNT(*) FROM skyport.image_file", 1, 2),
        ("SELECT COUNT(*) FROM skyport.image_hdu WHERE obs_publisher_did LIKE '%hidden%'", 0, 1),
        ("SELECT COUNT(*) FROM skyport.image_coverage", 1, 2),
        ("SELECT COUNT(*) FROM cdb_lsstcam.exposure", 1, 2),
        ("SELECT COUNT(*) FROM cdb_lsstcam.exposure WHERE exposure_id = 2025120100001", 0, 1),
        // CAOM2 is filtered as its images' ObsCore rows are, in every table.
        ("SELECT COUNT(*) FROM caom2.Observation", 1, 2),
        ("SELECT COUNT(*) FROM caom2.Plane WHERE publisherID LIKE '%hidden%'", 0, 1),
        ("SELECT COUNT(*) FROM caom2.Artifact WHERE uri LIKE '%hidden%'", 0, 1),
        ("SELECT COUNT(*) FROM caom2.Part AS p JOIN caom2.Artifact AS a ON a.artifactID = p.artifactID", 1, 2),
        ("SELECT COUNT(*) FROM caom2.Chunk", 1, 2),
    ];
    for (adql, outside, inside) in queries {
        for who in [
            "anonymous",
            "token with the scope",
            "member whose rights ended",
        ] {
            assert_eq!(w.count(who, adql).await, outside, "{who}: {adql}");
        }
        for who in MEMBERS {
            assert_eq!(w.count(who, adql).await, inside, "{who}: {adql}");
        }
    }
    // The coverage map of the closed collection is absent for those outside it.
    for who in [
        "anonymous",
        "token with the scope",
        "member whose rights ended",
    ] {
        let (status, _) = w.get(who, "/moc/secret").await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{who}");
    }
    for who in MEMBERS {
        let (status, body) = w.get(who, "/moc/secret?format=ascii").await;
        assert_eq!(status, StatusCode::OK, "{who}: {body}");
    }
    // The open endpoints do not count hidden images either.
    for (uri, says) in [
        ("/metrics", "skyport_archive_images 1\n"),
        ("/", "Images in the archive: 1."),
    ] {
        let (_, body) = w.get("data-rights member", uri).await;
        assert!(body.contains(says), "{uri}: {body}");
    }
    // Every output format, and the member sees the image by name.
    for format in ["votable", "csv", "tsv", "json", "parquet"] {
        let uri = format!(
            "/tap/sync?LANG=ADQL&FORMAT={format}&QUERY={}",
            encode("SELECT obs_id, obs_publisher_did, access_url FROM ivoa.ObsCore")
        );
        let (status, body) = w.get("anonymous", &uri).await;
        assert_eq!(status, StatusCode::OK, "{format}");
        assert_eq!(leaks(&body), None, "{format}: {body}");
        if format != "parquet" {
            let (_, body) = w.get("data-rights member", &uri).await;
            assert!(body.contains("hidden-proprietary"), "{format}: {body}");
        }
    }
    // A TAP upload joined against ObsCore cannot probe hidden rows.
    let votable = format!(
        "<?xml version=\"1.0\"?><VOTABLE version=\"1.4\" xmlns=\"http://www.ivoa.net/xml/VOTable/v1.3\"><RESOURCE><TABLE>\
         <FIELD name=\"did\" datatype=\"char\" arraysize=\"*\"/><DATA><TABLEDATA>\
         <TR><TD>{SECRET_DID}</TD></TR><TR><TD>{PUBLIC_DID}</TD></TR></TABLEDATA></DATA></TABLE></RESOURCE></VOTABLE>"
    );
    let boundary = "xBOUNDARYx";
    let form = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"LANG\"\r\n\r\nADQL\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"FORMAT\"\r\n\r\ncsv\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"UPLOAD\"\r\n\r\nt,param:t\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"QUERY\"\r\n\r\nSELECT COUNT(*) AS n FROM TAP_UPLOAD.t AS u JOIN ivoa.ObsCore AS o ON o.obs_publisher_did = u.did\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"t\"; filename=\"t.xml\"\r\nContent-Type: application/x-votable+xml\r\n\r\n{votable}\r\n\
         --{boundary}--\r\n"
    );
    for (who, n) in [("anonymous", "1"), ("data-rights member", "2")] {
        let mut request = Request::post("/tap/sync").header(
            header::CONTENT_TYPE,
            format!("multipart/form-data; boundary={boundary}"),
        );
        if let Some(Some(auth)) = w.callers.get(who) {
            request = request.header(header::AUTHORIZATION, auth);
        }
        let (status, _, body) = call(
            &w.app,
            request.body(Body::from(form.clone())).expect("request"),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body.lines().nth(1), Some(n), "{who}: {body}");
    }
    // Tables: a restricted one is absent, in TAP_SCHEMA, /tap/tables and to queries alike.
    let hidden = "cdb_lsstcam.exposure_quicklook";
    assert_eq!(
        w.count(
            "anonymous",
            &format!("SELECT COUNT(*) FROM TAP_SCHEMA.tables WHERE table_name = '{hidden}'")
        )
        .await,
        0
    );
    assert_eq!(
        w.count(
            "anonymous",
            &format!("SELECT COUNT(*) FROM TAP_SCHEMA.columns WHERE table_name = '{hidden}'")
        )
        .await,
        0
    );
    let (_, tables) = w.get("anonymous", "/tap/tables").await;
    let at = tables.find(hidden).unwrap_or(0);
    assert!(
        !tables.contains(hidden),
        "/tap/tables lists {hidden}: …{}…",
        &tables[at.saturating_sub(300)..(at + 100).min(tables.len())]
    );
    let ask = |table: &str| {
        format!(
            "/tap/sync?LANG=ADQL&QUERY={}",
            encode(&format!("SELECT * FROM {table}"))
        )
    };
    let (s1, absent) = w
        .get("anonymous", &ask("cdb_lsstcam.exposure_quicklooq"))
        .await;
    let (s2, restricted) = w.get("anonymous", &ask(hidden)).await;
    assert_eq!((s1, s2), (StatusCode::BAD_REQUEST, StatusCode::BAD_REQUEST));
    assert!(
        absent.contains("unknown table cdb_lsstcam.exposure_quicklooq"),
        "{absent}"
    );
    // Answered as an unknown table, and no hint ever names the hidden one (its misspelling
    // would be pointed to it were it visible).
    assert!(
        restricted.contains(&format!("unknown table {hidden}")),
        "{restricted}"
    );
    assert!(!restricted.contains(&format!("{hidden}?")), "{restricted}");
    assert!(!absent.contains(hidden), "{absent}");
}

/// The answer for the hidden image, with its name replaced, equals the answer for an image
/// that never existed.
async fn like_absent(w: &World, who: &str, hidden_uri: &str, absent_uri: &str) {
    let (s1, hidden) = w.get(who, hidden_uri).await;
    let (s2, absent) = w.get(who, absent_uri).await;
    assert_eq!(s1, s2, "{who}: {hidden_uri}: {hidden}");
    let normalise = |s: &str| {
        s.replace("hidden-proprietary", "X")
            .replace("2025120100001", "N")
            .replace("2025120100009", "N")
            .replace("never-was", "X")
            .replace("secret", "C")
            .replace("nowhere", "C")
    };
    assert_eq!(
        normalise(&hidden),
        normalise(&absent),
        "{who}: {hidden_uri}"
    );
}

#[tokio::test]
async fn a_hidden_image_answers_like_an_absent_one_everywhere() {
    let w = world(AuthMode::Open).await;
    let absent_did = "ivo://skyport.test/nowhere?never-was";
    for who in [
        "anonymous",
        "token with the scope",
        "member whose rights ended",
    ] {
        like_absent(
            &w,
            who,
            &format!("/datalink/links?ID={}", encode(SECRET_DID)),
            &format!("/datalink/links?ID={}", encode(absent_did)),
        )
        .await;
        like_absent(
            &w,
            who,
            &format!(
                "/soda/sync?ID={}&CIRCLE={}",
                encode(SECRET_DID),
                encode(&format!("{} {} 0.005", w.centre.0, w.centre.1))
            ),
            &format!(
                "/soda/sync?ID={}&CIRCLE={}",
                encode(absent_did),
                encode(&format!("{} {} 0.005", w.centre.0, w.centre.1))
            ),
        )
        .await;
        like_absent(
            &w,
            who,
            "/files/secret/hidden-proprietary.fits",
            "/files/secret/never-was.fits",
        )
        .await;
        like_absent(
            &w,
            who,
            "/previews/secret/hidden-proprietary.fits",
            "/previews/secret/never-was.fits",
        )
        .await;
        // SIA by ID: no row either way.
        // (The QUERY INFO echoes the ID asked for; no row answers it.)
        let (status, body) = w
            .get(who, &format!("/sia/query?ID={}", encode(SECRET_DID)))
            .await;
        assert_eq!(status, StatusCode::OK);
        assert!(!body.contains("<TR>"), "{who}: {body}");
        // SIA's MAXREC=0 option lists do not name the collection of hidden rows.
        let (_, body) = w.get(who, "/sia/query?MAXREC=0").await;
        assert!(!body.contains("<OPTION value=\"secret\""), "{who}: {body}");
        // A cutout search without ID skips the hidden image: one cutout, of the public one.
        let (status, _, body) = w
            .send(
                who,
                Method::GET,
                &format!(
                    "/soda/sync?POS={}",
                    encode(&format!("CIRCLE {} {} 0.005", w.centre.0, w.centre.1))
                ),
                None,
            )
            .await;
        assert!(status.is_success(), "{who}: {status}");
        assert_eq!(leaks(&body), None);
        // ConsDB REST reads of the hidden exposure answer as for an unknown one.
        like_absent(
            &w,
            who,
            "/consdb/query/lsstcam/exposure/obs/2025120100001",
            "/consdb/query/lsstcam/exposure/obs/2025120100009",
        )
        .await;
        let (_, export) = w
            .get(who, "/consdb/export/lsstcam/exposure?format=csv")
            .await;
        assert_eq!(leaks(&export), None, "{who}: {export}");
        assert!(export.contains("MC_O_20251201_000002"), "{who}: {export}");
    }
    // The member reaches everything of it.
    for who in MEMBERS {
        let (status, body) = w
            .get(who, &format!("/datalink/links?ID={}", encode(SECRET_DID)))
            .await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            body.contains("/files/secret/hidden-proprietary.fits"),
            "{body}"
        );
        let (status, _) = w.get(who, "/files/secret/hidden-proprietary.fits").await;
        assert_eq!(status, StatusCode::OK, "{who}");
        let (status, body) = w
            .get(who, "/consdb/query/lsstcam/exposure/obs/2025120100001")
            .await;
        assert_eq!(status, StatusCode::OK, "{who}: {body}");
        let (_, export) = w
            .get(who, "/consdb/export/lsstcam/exposure?format=csv")
            .await;
        assert!(export.contains("MC_O_20251201_000001"), "{who}: {export}");
    }
}

#[tokio::test]
async fn required_mode_refuses_anonymous_callers_but_keeps_the_open_doors() {
    let w = world(AuthMode::Required).await;
    for uri in [
        "/",
        "/tap/capabilities",
        "/tap/availability",
        "/sia/capabilities",
        "/soda/availability",
        // The portal's files: the page asks for a token and reads the archive with it.
        "/portal/",
        "/portal/js/app.js",
    ] {
        let (status, body) = w.get("anonymous", uri).await;
        assert_eq!(status, StatusCode::OK, "{uri}: {body}");
    }
    // SSO 2.0's methods only, by default: the token as a Basic password.
    let (_, caps) = w.get("anonymous", "/tap/capabilities").await;
    assert!(
        caps.contains("<securityMethod standardID=\"ivo://ivoa.net/sso#BasicAA\"/>")
            && !caps.contains("sso#token"),
        "{caps}"
    );
    // Bearer tokens declared when configured (`[auth] declare_token_method`).
    let declaring = world_configured(
        AuthMode::Required,
        Quotas::default(),
        AuthSettings {
            declare_token_method: true,
            ..AuthSettings::default()
        },
    )
    .await;
    let (_, caps) = declaring.get("anonymous", "/tap/capabilities").await;
    let sync: Vec<&str> = caps
        .split("<interface")
        .filter(|b| b.contains("/tap</accessURL>"))
        .collect();
    assert_eq!(sync.len(), 1, "{caps}");
    assert!(
        sync[0].contains("<securityMethod standardID=\"ivo://ivoa.net/sso#token\"/>")
            && sync[0].contains("sso#BasicAA")
            && !sync[0].contains("<securityMethod/>"),
        "{caps}"
    );
    for uri in [
        "/tap/tables",
        "/sia/query?POS=CIRCLE+0+0+1",
        "/datalink/links?ID=x",
        "/files/demo/m13.fits",
        "/consdb/schema",
    ] {
        let (status, headers, body) = w.send("anonymous", Method::GET, uri, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{uri}: {body}");
        assert!(headers.contains_key(header::WWW_AUTHENTICATE), "{uri}");
    }
    // Each service answers in its own error format.
    let (_, headers, body) = w.send("anonymous", Method::GET, "/tap/tables", None).await;
    assert!(
        body.contains("QUERY_STATUS")
            && headers[header::CONTENT_TYPE]
                .to_str()
                .unwrap_or("")
                .contains("votable")
    );
    let (_, _, body) = w
        .send("anonymous", Method::GET, "/soda/sync?ID=x", None)
        .await;
    assert!(body.starts_with("UsageError: "), "{body}");
    let (_, _, body) = w
        .send("anonymous", Method::GET, "/consdb/schema", None)
        .await;
    let v: Value = serde_json::from_str(&body).expect("json");
    assert!(v["detail"].as_str().is_some(), "{body}");
    // With credentials, reads work; open mode's capabilities offer an anonymous interface too.
    let (status, _) = w.get("token with the scope", "/tap/tables").await;
    assert_eq!(status, StatusCode::OK);
    let open = world(AuthMode::Open).await;
    let (_, caps) = open.get("anonymous", "/sia/capabilities").await;
    // One standard interface, open to anonymous callers (a securityMethod without standardID)
    // and to tokens.
    let query: Vec<&str> = caps
        .split("<interface")
        .filter(|b| b.contains("/sia/query</accessURL>"))
        .collect();
    assert_eq!(query.len(), 1, "{caps}");
    assert!(
        query[0].contains("<securityMethod/>") && query[0].contains("sso#BasicAA"),
        "{caps}"
    );
    // The services a search leads to are declared too, so clients send credentials there.
    for companion in ["/datalink/links", "/soda/sync", "/files/", "/previews/"] {
        let secured = caps
            .split("<interface")
            .filter(|b| b.contains(&format!("{companion}</accessURL>")))
            .any(|b| b.contains("ivo://ivoa.net/sso#BasicAA"));
        assert!(secured, "{companion}: {caps}");
    }
}

#[tokio::test]
async fn quotas_refuse_with_the_standard_headers_and_count_refusals() {
    let mut quotas = Quotas::default();
    quotas.groups.insert(
        "throttled".into(),
        QuotaLimits {
            requests_per_minute: 3,
            sync_queries: 1,
            async_jobs: 1,
            job_result_bytes: 0,
        },
    );
    let w = world_with(AuthMode::Open, quotas).await;
    // One synchronous query at a time: a result not yet sent holds the slot, a small one sent
    // whole included.
    let tap = format!(
        "/tap/sync?LANG=ADQL&QUERY={}",
        encode("SELECT * FROM ivoa.ObsCore")
    );
    let held = {
        let request = Request::get(&tap)
            .header(
                header::AUTHORIZATION,
                w.callers["throttled"].clone().unwrap_or_default(),
            )
            .body(Body::empty())
            .expect("request");
        tower::ServiceExt::oneshot(w.app.clone(), request)
            .await
            .expect("response")
    };
    assert_eq!(held.status(), StatusCode::OK);
    assert!(
        axum::body::HttpBody::size_hint(held.body())
            .exact()
            .is_some(),
        "sent whole"
    );
    let (status, _, body) = w.send("throttled", Method::GET, &tap, None).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(body.contains("synchronous queries"), "{body}");
    drop(held);
    // One async job at a time.
    let (status, _, _) = w
        .send(
            "throttled",
            Method::POST,
            &tap.replace("/tap/sync", "/tap/async"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    // That was request 3 of the minute; the next is over the rate.
    let (status, headers, body) = w
        .send(
            "throttled",
            Method::POST,
            &tap.replace("/tap/sync", "/tap/async"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(body.contains("requests per minute"), "{body}");
    // Plain text: pyvo knows a 429 by its status only when the body is not a VOTable.
    assert!(headers[header::CONTENT_TYPE]
        .to_str()
        .unwrap_or("")
        .starts_with("text/plain"));
    let number = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or_else(|| panic!("header {name} in {headers:?}"))
    };
    assert!((1..=60).contains(&number("retry-after")));
    assert_eq!(number("x-ratelimit-limit"), 3);
    assert_eq!(number("x-ratelimit-remaining"), 0);
    // Others are not slowed down by it.
    let (status, _, _) = w
        .send("token with the scope", Method::GET, &tap, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, metrics) = w.get("anonymous", "/metrics").await;
    let count = |reason: &str| {
        metrics
            .lines()
            .find(|l| l.starts_with(&format!("skyport_refusals_total{{reason=\"{reason}\"}}")))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or_else(|| panic!("{reason} in {metrics}"))
    };
    assert_eq!(count("rate_limited"), 1);
    assert_eq!(count("concurrent_queries"), 1);
}

#[tokio::test]
async fn async_jobs_count_against_their_owner_and_administrators_see_all() {
    let mut quotas = Quotas::default();
    quotas.groups.insert(
        "throttled".into(),
        QuotaLimits {
            requests_per_minute: 0,
            sync_queries: 0,
            async_jobs: 1,
            job_result_bytes: 0,
        },
    );
    let w = world_with(AuthMode::Open, quotas).await;
    let create = format!(
        "/tap/async?LANG=ADQL&QUERY={}",
        encode("SELECT obs_id FROM ivoa.ObsCore")
    );
    let (status, headers, _) = w.send("throttled", Method::POST, &create, None).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let job = headers[header::LOCATION]
        .to_str()
        .expect("location")
        .trim_start_matches("http://127.0.0.1:8080")
        .to_string();
    let (status, _, body) = w.send("throttled", Method::POST, &create, None).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(body.contains("jobs pending"), "{body}");
    // Another user's job is not there for a stranger, and is for an administrator.
    let (status, _) = w.get("token with the scope", &job).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = w.get("job administrator", &job).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("<uws:ownerId>slow</uws:ownerId>"), "{body}");
    let (_, list) = w.get("job administrator", "/tap/async").await;
    assert!(
        list.contains(job.rsplit('/').next().unwrap_or("?")),
        "{list}"
    );
    let (_, list) = w.get("token with the scope", "/tap/async").await;
    assert!(
        !list.contains(job.rsplit('/').next().unwrap_or("?")),
        "{list}"
    );
    // The job runs with its owner's rights: an async query by a member sees the proprietary
    // image, one by anyone else does not.
    for (who, sees) in [("data-rights member", true), ("anonymous", false)] {
        let (status, headers, _) = w
            .send(
                who,
                Method::POST,
                &format!("{create}&PHASE=RUN&FORMAT=csv"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{who}");
        let job = headers[header::LOCATION]
            .to_str()
            .expect("location")
            .trim_start_matches("http://127.0.0.1:8080")
            .to_string();
        let mut doc = String::new();
        for _ in 0..60 {
            doc = w.get(who, &format!("{job}?WAIT=1")).await.1;
            if doc.contains("COMPLETED") || doc.contains("ERROR") {
                break;
            }
        }
        assert!(doc.contains("COMPLETED"), "{who}: {doc}");
        let (status, result) = w.get(who, &format!("{job}/results/result")).await;
        assert_eq!(status, StatusCode::OK, "{who}");
        assert_eq!(
            result.contains("hidden-proprietary"),
            sees,
            "{who}: {result}"
        );
    }
}

#[tokio::test]
async fn hostile_credentials_get_a_clear_401_and_a_dead_issuer_a_quick_503() {
    let w = world(AuthMode::Open).await;
    let huge = "a".repeat(64 * 1024);
    let many_groups = {
        let mut c = issuer().claims("crowd");
        c["isMemberOf"] = Value::Array(
            (0..5000)
                .map(|i| json!({ "name": format!("g{i}") }))
                .collect(),
        );
        issuer().sign_rs256(&c)
    };
    let tap = format!(
        "/tap/sync?LANG=ADQL&QUERY={}",
        encode("SELECT COUNT(*) FROM ivoa.ObsCore")
    );
    for header_value in [
        "Bearer".to_string(),
        "Bearer ".to_string(),
        "Bearer a b".to_string(),
        "Negotiate abc".to_string(),
        "Basic !!!not-base64!!!".to_string(),
        "Basic ".to_string(),
        format!("Bearer {huge}"),
        format!("Bearer {many_groups}"),
        "Bearer skp_short.x".to_string(),
        "Bearer eyJhbGciOiJSUzI1NiJ9.e30.AAAA".to_string(),
    ] {
        let request = Request::get(&tap)
            .header(header::AUTHORIZATION, header_value.as_str())
            .body(Body::empty())
            .expect("request");
        let (status, headers, body) = call(&w.app, request).await;
        let shown = &header_value[..header_value.len().min(40)];
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{shown}: {body}");
        assert!(body.contains("QUERY_STATUS"), "{shown}: {body}");
        assert!(headers.contains_key(header::WWW_AUTHENTICATE), "{shown}");
    }
    // A header that is not even text.
    let request = Request::get(&tap)
        .header(
            header::AUTHORIZATION,
            axum::http::HeaderValue::from_bytes(b"Bearer \xff\xfe").expect("bytes"),
        )
        .body(Body::empty())
        .expect("request");
    let (status, _, _) = call(&w.app, request).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // An issuer that never answers: 503 within the fetch timeout, not a stalled worker.
    let (hanging, _server) = skyport_auth::testing::serve_hanging()
        .await
        .expect("server");
    let dir = tempfile::tempdir().expect("dir");
    let (store, _db) = common::test_store(dir.path()).await;
    let state = AppState::start(
        store,
        ServerSettings {
            public_url: "http://127.0.0.1:8080".into(),
            title: "dead issuer".into(),
            roots: Vec::new(),
            limits: Limits::default(),
            jobs_dir: dir.path().join("jobs"),
            cache_dir: dir.path().join("cache"),
            upload_ca_pem: None,
            upload_allow: Default::default(),
            trusted_proxies: Vec::new(),
            rights: Default::default(),
            auth: AuthSettings {
                jwt: Some(issuer().settings(JwksSource::Url(hanging))),
                ..AuthSettings::default()
            },
            extra_schemas: Vec::new(),
            bands: default_bands(),
            dataset: "test".into(),
            hips_dir: None,
            workspace: None,
            objects: None,
        },
    )
    .await
    .expect("state");
    let dead = app(state);
    let token = issuer().sign_rs256(&issuer().claims("someone"));
    let started = std::time::Instant::now();
    let request = Request::get(&tap)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .expect("request");
    let (status, _, body) = call(&dead, request).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    // Anonymous callers are not held up by it.
    let (status, _, _) = call(
        &dead,
        Request::get(&tap).body(Body::empty()).expect("request"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_recorded_end_of_membership_keeps_only_what_was_released_before_it() {
    // Recorded ends are read again after the cache time; none here, so each request sees them.
    let w = world_cached(AuthMode::Open, Quotas::default(), std::time::Duration::ZERO).await;
    let count = "SELECT COUNT(*) FROM ivoa.ObsCore";
    // The member's token says nothing of an end; the archive records one (as
    // `skyport rights revoke` does) before the proprietary image's release in 2999.
    w.state
        .access
        .accounts()
        .end_membership(
            "member",
            "demo-team",
            Utc::now() - chrono::Duration::days(1),
            "test",
        )
        .await
        .expect("end");
    assert_eq!(w.count("data-rights member", count).await, 1);
    // A membership the identity provider no longer reports, recorded as lasting until 3000
    // (after the 2999 release), still counts until then.
    w.state
        .access
        .accounts()
        .end_membership(
            "writer",
            "demo-team",
            chrono::DateTime::parse_from_rfc3339("3000-01-01T00:00:00Z")
                .expect("time")
                .with_timezone(&Utc),
            "test",
        )
        .await
        .expect("end");
    assert_eq!(w.count("token with the scope", count).await, 2);
    // A recorded end never lengthens the one the token gives.
    w.state
        .access
        .accounts()
        .end_membership(
            "former",
            "demo-team",
            chrono::DateTime::parse_from_rfc3339("3000-01-01T00:00:00Z")
                .expect("time")
                .with_timezone(&Utc),
            "test",
        )
        .await
        .expect("end");
    assert_eq!(w.count("member whose rights ended", count).await, 1);
}

#[tokio::test]
async fn tokens_are_managed_over_rest_by_token_administrators() {
    let w = world(AuthMode::Open).await;
    let body = json!({ "user": "pipeline", "scopes": ["read:tap"], "groups": ["demo-team"], "expires": "1d" });
    // Not for anyone else.
    for who in ["anonymous", "data-rights member"] {
        let (status, _, _) = w
            .send(who, Method::POST, "/auth/tokens", Some(body.clone()))
            .await;
        assert!(
            status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN,
            "{who}: {status}"
        );
    }
    let (status, _, text) = w
        .send(
            "token with the scope",
            Method::POST,
            "/auth/tokens",
            Some(body.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{text}");
    let made: Value = serde_json::from_str(&text).expect("json");
    let token = made["token"].as_str().expect("token").to_string();
    let key = made["key"].as_str().expect("key").to_string();
    assert!(token.starts_with("skp_") && token.contains(&key));
    // It works, with its groups' data rights.
    let use_it = |token: &str| {
        Request::get(format!(
            "/tap/sync?LANG=ADQL&FORMAT=csv&QUERY={}",
            encode("SELECT COUNT(*) AS n FROM ivoa.ObsCore")
        ))
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .expect("request")
    };
    let (status, _, text) = call(&w.app, use_it(&token)).await;
    assert_eq!(
        (status, text.lines().nth(1)),
        (StatusCode::OK, Some("2")),
        "{text}"
    );
    // Listed without its secret.
    let (_, list) = w
        .get("token with the scope", "/auth/tokens?user=pipeline")
        .await;
    assert!(list.contains(&key) && !list.contains(&token), "{list}");
    // Bad requests are told apart.
    for bad in [
        json!({ "user": "", "scopes": [] }),
        json!({ "user": "x", "scopes": ["root"] }),
        json!({ "user": "x", "expires": "forever" }),
        json!(["not", "an", "object"]),
    ] {
        let (status, _, text) = w
            .send(
                "token with the scope",
                Method::POST,
                "/auth/tokens",
                Some(bad.clone()),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {text}");
    }
    // Revoked: refused at once on this server.
    let (status, _, _) = w
        .send(
            "token with the scope",
            Method::DELETE,
            &format!("/auth/tokens/{key}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _, _) = call(&w.app, use_it(&token)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, _) = w
        .send(
            "token with the scope",
            Method::DELETE,
            &format!("/auth/tokens/{key}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn one_caller_holds_at_most_half_the_database_readers() {
    let dir = tempfile::tempdir().expect("dir");
    let store: Arc<dyn skyport_store::Store> =
        Arc::new(skyport_store::SqliteStore::open(&dir.path().join("a.sqlite"), 4).expect("open"));
    store
        .migrate(&skyport_schema::builtin_schemas())
        .await
        .expect("migrate");
    let accounts = Accounts::open(Arc::clone(&store)).await.expect("accounts");
    // A quota of 8 synchronous queries, on a pool of 4 readers.
    let access = skyport_server::access::Access::new(
        AuthSettings {
            readers: 4,
            ..AuthSettings::default()
        },
        accounts,
    )
    .expect("access");
    let anonymous = skyport_store::Caller::anonymous();
    let one: std::net::IpAddr = [192, 0, 2, 1].into();
    let other: std::net::IpAddr = [192, 0, 2, 2].into();
    let wait = Duration::from_secs(30);
    let slot = || access.sync_slot(&anonymous, Some(one), wait);
    let first = slot().await.expect("first");
    let second = slot().await.expect("second");
    // A third would leave others less than half the pool: it waits for a reader.
    let mut third = Box::pin(slot());
    assert!(
        tokio::time::timeout(Duration::from_millis(200), third.as_mut())
            .await
            .is_err(),
        "a third query runs only when one of the first two ends"
    );
    // Another address still gets readers at once.
    let elsewhere = access
        .sync_slot(&anonymous, Some(other), wait)
        .await
        .expect("other address");
    // The queries waiting count against the quota of 8: five more wait, the ninth is refused.
    let mut waiting = Vec::new();
    for _ in 0..5 {
        let mut w = Box::pin(slot());
        assert!(tokio::time::timeout(Duration::from_millis(20), w.as_mut())
            .await
            .is_err());
        waiting.push(w);
    }
    assert_eq!(slot().await.err(), Some(8), "beyond the quota");
    // When a result ends, the waiting query gets its reader.
    drop(first);
    let third = tokio::time::timeout(Duration::from_secs(5), third)
        .await
        .expect("woken when a reader is given back")
        .expect("third");
    // One that waits longer than it may is refused with the share.
    let short = access
        .sync_slot(&anonymous, Some(one), Duration::from_millis(50))
        .await;
    assert_eq!(short.err(), Some(2));
    drop((second, third, elsewhere, waiting));
}

#[tokio::test]
async fn exposure_log_messages_about_a_hidden_exposure_are_hidden_like_it() {
    let w = world(AuthMode::Open).await;
    let message = |seq: u32| {
        json!({
            "obs_id": format!("MC_O_20251201_{seq:06}"), "instrument": "LSSTCam",
            "message_text": format!("note on exposure {seq}"), "user_id": "observer",
            "user_agent": "test", "is_human": true, "is_new": false,
        })
    };
    // Written as the summit writes them, past any caller's rights.
    let hidden = w
        .state
        .exposure_log
        .add(message(1).as_object().expect("object"), None)
        .await
        .expect("hidden message");
    let hidden_id = hidden["id"].as_str().expect("id").to_string();
    let absent_id = "00000000-0000-4000-8000-000000000000";
    for who in [
        "anonymous",
        "token with the scope",
        "member whose rights ended",
    ] {
        let (s1, hidden) = w
            .get(who, &format!("/exposurelog/messages/{hidden_id}"))
            .await;
        let (s2, absent) = w
            .get(who, &format!("/exposurelog/messages/{absent_id}"))
            .await;
        assert_eq!(s1, StatusCode::NOT_FOUND, "{who}: {hidden}");
        assert_eq!(
            (s1, hidden.replace(&hidden_id, "ID")),
            (s2, absent.replace(absent_id, "ID")),
            "{who}"
        );
        let (status, list) = w.get(who, "/exposurelog/messages?is_valid=either").await;
        assert_eq!(status, StatusCode::OK, "{who}: {list}");
        assert_eq!(leaks(&list), None, "{who}: {list}");
        let (_, rows) = w
            .tap(who, "SELECT obs_id, message_text FROM exposurelog.message")
            .await;
        assert!(rows.is_empty(), "{who}: {rows:?}");
    }
    // A writer who may not see the exposure cannot annotate it, nor edit or delete the
    // message about it: both answer as for an exposure or message that does not exist.
    let (status, _, hidden_body) = w
        .send(
            "token with the scope",
            Method::POST,
            "/exposurelog/messages",
            Some(message(1)),
        )
        .await;
    let (status_absent, _, absent_body) = w
        .send(
            "token with the scope",
            Method::POST,
            "/exposurelog/messages",
            Some(message(9)),
        )
        .await;
    assert_eq!(
        (status, status_absent),
        (StatusCode::NOT_FOUND, StatusCode::NOT_FOUND)
    );
    assert_eq!(
        hidden_body.replace("000001", "N"),
        absent_body.replace("000009", "N")
    );
    for method in [Method::PATCH, Method::DELETE] {
        let (status, _, _) = w
            .send(
                "token with the scope",
                method.clone(),
                &format!("/exposurelog/messages/{hidden_id}"),
                Some(json!({"message_text": "overwritten"})),
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method}");
    }
    // The public exposure's message is the writer's to add, and everyone's to read.
    let (status, _, body) = w
        .send(
            "token with the scope",
            Method::POST,
            "/exposurelog/messages",
            Some(message(2)),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, rows) = w
        .tap("anonymous", "SELECT obs_id FROM exposurelog.message")
        .await;
    assert_eq!(rows, vec![vec![json!("MC_O_20251201_000002")]]);
    // Members see both.
    for who in MEMBERS {
        let (status, body) = w
            .get(who, &format!("/exposurelog/messages/{hidden_id}"))
            .await;
        assert_eq!(status, StatusCode::OK, "{who}: {body}");
        let (_, rows) = w.tap(who, "SELECT obs_id FROM exposurelog.message").await;
        assert_eq!(rows.len(), 2, "{who}");
    }
}
