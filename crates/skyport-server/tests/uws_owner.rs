//! UWS jobs belong to their owner, through the real application: a user's job answers every
//! other caller on every route of the job tree exactly as an id never given out does, job
//! lists show the caller's own jobs only, and a job created anonymously is reachable by its
//! (random) id but listed to nobody. Callers are named by an authenticating proxy on
//! 127.0.0.1, which the fixture trusts. (Administrators, `admin:jobs`, are given by scopes,
//! which no request can carry yet: skyport-uws's tests cover them.)

mod common;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use common::{as_user, call, fixture, get, wait_final};

fn q(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn form(method: Method, uri: &str, form: &str) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(uri)
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

/// Creates a job through `app` and returns its path (`/tap/async/<id>`).
async fn create(app: &axum::Router, list: &str, request: Request<Body>) -> String {
    let (status, headers, body) = call(app, request).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{list}: {body}");
    let job = location(&headers);
    let id = job.rsplit('/').next().expect("id");
    assert!(
        job == format!("{list}/{id}")
            && id.len() == 32
            && id
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "a job id of 32 lower-case hex digits: {job}"
    );
    job
}

const TABLE: &str = r#"<?xml version="1.0"?>
<VOTABLE version="1.3" xmlns="http://www.ivoa.net/xml/VOTable/v1.3"><RESOURCE><TABLE>
<FIELD name="n" datatype="int"/>
<DATA><TABLEDATA><TR><TD>7</TD></TR></TABLEDATA></DATA></TABLE></RESOURCE></VOTABLE>"#;

/// A TAP job with an inline upload `tbl`, run at once.
fn upload_job() -> Request<Body> {
    let mut body = String::new();
    for (name, value) in [
        ("LANG", "ADQL"),
        ("QUERY", "SELECT n FROM TAP_UPLOAD.mine"),
        ("UPLOAD", "mine,param:tbl"),
        ("RESPONSEFORMAT", "csv"),
        ("PHASE", "RUN"),
    ] {
        body.push_str(&format!(
            "--B\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
        ));
    }
    body.push_str(&format!(
        "--B\r\nContent-Disposition: form-data; name=\"tbl\"; filename=\"t.xml\"\r\n\
         Content-Type: application/x-votable+xml\r\n\r\n{TABLE}\r\n--B--\r\n"
    ));
    Request::post("/tap/async")
        .header(header::CONTENT_TYPE, "multipart/form-data; boundary=B")
        .body(Body::from(body))
        .expect("request")
}

/// Every route of a job's tree: method, path below the job, form body.
fn routes() -> Vec<(Method, &'static str, &'static str)> {
    vec![
        (Method::GET, "", ""),
        (Method::GET, "?WAIT=1", ""),
        (Method::GET, "/phase", ""),
        (Method::GET, "/executionduration", ""),
        (Method::GET, "/destruction", ""),
        (Method::GET, "/error", ""),
        (Method::GET, "/quote", ""),
        (Method::GET, "/owner", ""),
        (Method::GET, "/results", ""),
        (Method::GET, "/results/result", ""),
        (Method::GET, "/parameters", ""),
        (Method::GET, "/parameters/tbl", ""),
        (Method::POST, "/phase", "PHASE=RUN"),
        (Method::POST, "/phase", "PHASE=ABORT"),
        (Method::POST, "/executionduration", "EXECUTIONDURATION=5"),
        (
            Method::POST,
            "/destruction",
            "DESTRUCTION=2030-01-01T00:00:00Z",
        ),
        (Method::POST, "/parameters", "QUERY=SELECT+2"),
        (Method::POST, "", "ACTION=DELETE"),
        (Method::DELETE, "", ""),
    ]
}

/// What `app` answers on `route` of `job` (`/tap/async/<id>`), with the id written `ID`.
async fn answer(
    app: &axum::Router,
    job: &str,
    (method, tail, body): &(Method, &str, &str),
) -> (StatusCode, String, String) {
    let id = job.rsplit('/').next().expect("id");
    let (status, headers, text) =
        call(app, form(method.clone(), &format!("{job}{tail}"), body)).await;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    (status, content_type, text.replace(id, "ID"))
}

#[tokio::test]
async fn another_users_job_answers_like_no_job_on_every_route() {
    let f = fixture().await;
    let alice = as_user(&f.app, "alice");
    let bob = as_user(&f.app, "bob");
    let anonymous = f.app.clone();

    // Alice's jobs: one completed (a result, an inline upload), one failed, one pending.
    let done = create(&alice, "/tap/async", upload_job()).await;
    let failed = create(
        &alice,
        "/tap/async",
        form(
            Method::POST,
            "/tap/async",
            &format!(
                "LANG=ADQL&PHASE=RUN&QUERY={}",
                q("SELECT nosuch FROM ivoa.ObsCore")
            ),
        ),
    )
    .await;
    let pending = create(
        &alice,
        "/tap/async",
        form(
            Method::POST,
            "/tap/async",
            &format!("LANG=ADQL&QUERY={}", q("SELECT 1 FROM ivoa.ObsCore")),
        ),
    )
    .await;
    assert!(wait_final(&alice, &done).await.contains("COMPLETED"));
    assert!(wait_final(&alice, &failed)
        .await
        .contains("<uws:phase>ERROR"));
    // Alice reaches each route that her jobs have.
    for (job, tail, want) in [
        (&done, "", "<uws:ownerId>alice</uws:ownerId>"),
        (&done, "/owner", "alice"),
        (&done, "/results/result", "7"),
        (&done, "/parameters/tbl", "<TD>7</TD>"),
        (&failed, "/error", "nosuch"),
        (&pending, "/phase", "PENDING"),
    ] {
        let (status, _, body) = call(&alice, get(&format!("{job}{tail}"))).await;
        assert_eq!(status, StatusCode::OK, "{job}{tail}: {body}");
        assert!(body.contains(want), "{job}{tail}: {body}");
    }
    let before: Vec<String> = {
        let mut docs = Vec::new();
        for job in [&done, &failed, &pending] {
            docs.push(call(&alice, get(job)).await.2);
        }
        docs
    };

    // Bob, and an anonymous caller, get what an id never given out gets: 404, same message.
    let never = "/tap/async/0123456789abcdef0123456789abcdef";
    for route in routes() {
        let unknown = answer(&bob, never, &route).await;
        assert_eq!(unknown.0, StatusCode::NOT_FOUND, "{route:?}: {unknown:?}");
        assert!(unknown.2.contains("no job ID"), "{route:?}: {unknown:?}");
        for job in [&done, &failed, &pending] {
            for (who, app) in [("bob", &bob), ("anonymous", &anonymous)] {
                assert_eq!(
                    answer(app, job, &route).await,
                    unknown,
                    "{who} on {route:?} of {job}"
                );
            }
        }
    }
    // … and changed nothing.
    for (job, was) in [&done, &failed, &pending].into_iter().zip(&before) {
        let (status, _, now) = call(&alice, get(job)).await;
        assert_eq!(status, StatusCode::OK, "{job} still there");
        assert_eq!(&now, was, "{job} unchanged");
    }

    // Lists: each user's own jobs; anonymous callers see none, not even anonymous jobs.
    let bobs = create(
        &bob,
        "/tap/async",
        form(Method::POST, "/tap/async", "LANG=ADQL&QUERY=SELECT+1"),
    )
    .await;
    let open = create(
        &anonymous,
        "/tap/async",
        form(Method::POST, "/tap/async", "LANG=ADQL&QUERY=SELECT+1"),
    )
    .await;
    let id = |job: &str| format!("id=\"{}\"", job.rsplit('/').next().unwrap_or(job));
    let (status, _, list) = call(&alice, get("/tap/async")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list.matches("<uws:jobref").count(), 3, "{list}");
    for job in [&done, &failed, &pending] {
        assert!(list.contains(&id(job)), "{list}");
    }
    let (_, _, list) = call(&bob, get("/tap/async")).await;
    assert_eq!(list.matches("<uws:jobref").count(), 1, "{list}");
    assert!(list.contains(&id(&bobs)), "{list}");
    let (status, _, list) = call(&anonymous, get("/tap/async")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        list.contains("<uws:jobs") && !list.contains("<uws:jobref"),
        "{list}"
    );
    // The filters apply within one's own jobs.
    let (_, _, list) = call(&alice, get("/tap/async?PHASE=ERROR")).await;
    assert!(
        list.matches("<uws:jobref").count() == 1 && list.contains(&id(&failed)),
        "{list}"
    );
    let (_, _, list) = call(&alice, get("/tap/async?LAST=1")).await;
    assert!(
        list.matches("<uws:jobref").count() == 1 && list.contains(&id(&pending)),
        "{list}"
    );
    let (_, _, list) = call(&bob, get("/tap/async?PHASE=ERROR")).await;
    assert!(!list.contains("<uws:jobref"), "{list}");

    // The anonymous job is reachable by whoever has its URL, and has no owner.
    for app in [&anonymous, &bob, &alice] {
        let (status, _, doc) = call(app, get(&open)).await;
        assert_eq!(status, StatusCode::OK, "{doc}");
        assert!(doc.contains("<uws:ownerId xsi:nil=\"true\"/>"), "{doc}");
        let (status, _, owner) = call(app, get(&format!("{open}/owner"))).await;
        assert_eq!((status, owner.as_str()), (StatusCode::OK, ""));
    }

    // Alice deletes her own job.
    let (status, _, _) = call(&alice, form(Method::DELETE, &pending, "")).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(call(&alice, get(&pending)).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn soda_jobs_belong_to_their_owner_too() {
    let f = fixture().await;
    let alice = as_user(&f.app, "alice");
    let bob = as_user(&f.app, "bob");
    let job = create(
        &alice,
        "/soda/async",
        form(
            Method::POST,
            "/soda/async",
            &format!(
                "ID={}&CIRCLE=250.4226+36.4602+0.01",
                q("ivo://skyport.test/demo?m13")
            ),
        ),
    )
    .await;
    let (status, _, doc) = call(&alice, get(&job)).await;
    assert!(
        status == StatusCode::OK && doc.contains("<uws:ownerId>alice</uws:ownerId>"),
        "{doc}"
    );
    let never = "/soda/async/0123456789abcdef0123456789abcdef";
    for route in routes() {
        let unknown = answer(&bob, never, &route).await;
        assert_eq!(unknown.0, StatusCode::NOT_FOUND, "{route:?}");
        assert_eq!(answer(&bob, &job, &route).await, unknown, "{route:?}");
    }
    let id = format!("id=\"{}\"", job.rsplit('/').next().unwrap_or(""));
    assert!(call(&alice, get("/soda/async")).await.2.contains(&id));
    assert!(!call(&bob, get("/soda/async"))
        .await
        .2
        .contains("<uws:jobref"));
    assert!(!call(&f.app, get("/soda/async"))
        .await
        .2
        .contains("<uws:jobref"));
    // The job is still there, as it was.
    assert_eq!(
        call(&alice, get(&format!("{job}/phase"))).await.2,
        "PENDING"
    );
}
