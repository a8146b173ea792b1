//! The exposure log and the night log, driven with the request bodies and parameters Rubin's
//! exposurelog and narrativelog services document (their README, OpenAPI and tests), on the
//! suite's backend. Expected answers are those services' documented ones: 200 on add and
//! edit, 204 on delete, `{"detail": …}` errors, edits that supersede, TAI dates without a zone.

use super::common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::{call, signed};
use serde_json::{json, Value};

fn request(method: &str, uri: &str, body: Option<Value>) -> Request<Body> {
    let builder = Request::builder().method(method).uri(uri);
    match body {
        Some(b) => builder
            .header("content-type", "application/json")
            .body(Body::from(b.to_string())),
        None => builder.body(Body::empty()),
    }
    .expect("request")
}

/// As an observer behind the authenticating proxy (write:consdb, read:tap).
async fn as_observer(
    app: &axum::Router,
    method: &str,
    uri: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let (status, _, text) = call(app, signed(request(method, uri, body), "observer")).await;
    let value = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {status} {text}"))
    };
    (status, value)
}

fn is_tai_text(v: &Value) -> bool {
    // 2025-12-02T03:04:05 or 2025-12-02T03:04:05.123456, no zone.
    let s = v.as_str().unwrap_or("");
    let re_len = s.len() == 19 || s.len() == 26;
    re_len && s.as_bytes()[10] == b'T' && !s.ends_with('Z') && !s[19..].contains('+')
}

async fn ids(app: &axum::Router, query: &str) -> Vec<String> {
    let (status, body) =
        as_observer(app, "GET", &format!("/exposurelog/messages?{query}"), None).await;
    assert_eq!(status, StatusCode::OK, "{query}: {body}");
    body.as_array()
        .expect("list")
        .iter()
        .map(|m| m["id"].as_str().expect("id").to_string())
        .collect()
}

#[tokio::test]
async fn the_exposure_log_adds_edits_finds_and_deletes_as_rubins_does() {
    let f = common::consdb_fixture().await;
    let app = &f.app;
    // The exposure the messages are about, as ConsDB records it.
    let (status, body) = as_observer(
        app,
        "POST",
        "/consdb/insert/lsstcam/exposure/by_seq_num/20251202/7",
        Some(json!({"values": {"exposure_id": 2025120200007i64, "exposure_name": "MC_O_20251202_000007",
            "controller": "O", "day_obs": 20251202, "seq_num": 7}})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let message = json!({
        "obs_id": "MC_O_20251202_000007", "instrument": "LSSTCam",
        "message_text": "Seeing degraded", "level": 30, "tags": ["Seeing", "weather"],
        "urls": ["https://rubinobs.atlassian.net/browse/OBS-1"], "user_id": "alice",
        "user_agent": "LOVE", "is_human": true, "is_new": false, "exposure_flag": "questionable",
    });
    // Anonymous callers may not write.
    let (status, _, _) = call(
        app,
        request("POST", "/exposurelog/messages", Some(message.clone())),
    )
    .await;
    assert!(
        status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN,
        "{status}"
    );

    let (status, first) =
        as_observer(app, "POST", "/exposurelog/messages", Some(message.clone())).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let fields: Vec<&str> = first
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        fields,
        [
            "id",
            "site_id",
            "obs_id",
            "instrument",
            "day_obs",
            "seq_num",
            "message_text",
            "level",
            "tags",
            "urls",
            "user_id",
            "user_agent",
            "is_human",
            "is_valid",
            "exposure_flag",
            "date_added",
            "date_invalidated",
            "parent_id"
        ]
    );
    assert_eq!(first["day_obs"], 20251202);
    assert_eq!(first["seq_num"], 7);
    assert_eq!(first["tags"], json!(["seeing", "weather"]));
    assert_eq!(first["is_valid"], true);
    assert_eq!(first["parent_id"], Value::Null);
    assert!(is_tai_text(&first["date_added"]), "{first}");
    assert!(uuid::Uuid::parse_str(first["id"].as_str().expect("id")).is_ok());
    let id = first["id"].as_str().expect("id").to_string();

    // Refusals: a missing field (422 naming it), bad tags (400), an exposure nobody took (404).
    let mut missing = message.clone();
    missing.as_object_mut().expect("o").remove("user_id");
    let (status, body) = as_observer(app, "POST", "/exposurelog/messages", Some(missing)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["detail"][0]["loc"], json!(["body", "user_id"]));
    let mut tags = message.clone();
    tags["tags"] = json!(["ok", "9lives", "a"]);
    let (status, body) = as_observer(app, "POST", "/exposurelog/messages", Some(tags)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body, json!({"detail": "Invalid tags: [\"9lives\", \"a\"]"}));
    let mut unknown = message.clone();
    unknown["obs_id"] = json!("MC_O_20251202_000999");
    let (status, _) = as_observer(app, "POST", "/exposurelog/messages", Some(unknown)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Longer than the column (VARCHAR(64) on PostgreSQL): refused alike on both backends.
    let mut long = message.clone();
    long["user_id"] = json!("u".repeat(65));
    let (status, body) = as_observer(app, "POST", "/exposurelog/messages", Some(long)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["detail"][0]["loc"], json!(["body", "user_id"]));
    let mut flag = message.clone();
    flag["exposure_flag"] = json!("awful");
    let (status, body) = as_observer(app, "POST", "/exposurelog/messages", Some(flag)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["detail"][0]["loc"], json!(["body", "exposure_flag"]));

    let (status, got) = as_observer(app, "GET", &format!("/exposurelog/messages/{id}"), None).await;
    assert_eq!((status, &got), (StatusCode::OK, &first));
    for missing in ["00000000-0000-4000-8000-000000000000", "not-a-uuid"] {
        let (status, body) = as_observer(
            app,
            "GET",
            &format!("/exposurelog/messages/{missing}"),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    }

    // An edit is a new message superseding the old; what it does not name is copied.
    let (status, second) = as_observer(
        app,
        "PATCH",
        &format!("/exposurelog/messages/{id}"),
        Some(json!({"message_text": "Seeing 2.1 arcsec", "level": null, "site_id": "elsewhere"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{second}");
    assert_ne!(second["id"], first["id"]);
    assert_eq!(second["parent_id"], first["id"]);
    assert_eq!(second["message_text"], "Seeing 2.1 arcsec");
    for same in [
        "obs_id",
        "level",
        "tags",
        "urls",
        "user_id",
        "exposure_flag",
        "day_obs",
        "site_id",
    ] {
        assert_eq!(second[same], first[same], "{same}");
    }
    let (_, old) = as_observer(app, "GET", &format!("/exposurelog/messages/{id}"), None).await;
    assert_eq!(old["is_valid"], false);
    assert_eq!(old["date_invalidated"], second["date_added"]);
    let (status, _) = as_observer(
        app,
        "PATCH",
        "/exposurelog/messages/00000000-0000-4000-8000-000000000000",
        Some(json!({"message_text": "x"})),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A third message, about the same exposure, at info level.
    let mut info = message.clone();
    info["level"] = json!(20);
    info["tags"] = json!(["focus"]);
    info["exposure_flag"] = json!("none");
    let (_, third) = as_observer(app, "POST", "/exposurelog/messages", Some(info)).await;
    let (second_id, third_id) = (
        second["id"].as_str().expect("id").to_string(),
        third["id"].as_str().expect("id").to_string(),
    );
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    // Searches, with upstream's semantics.
    assert_eq!(
        sorted(ids(app, "").await),
        sorted(vec![second_id.clone(), third_id.clone()])
    );
    assert_eq!(ids(app, "is_valid=either").await.len(), 3);
    assert_eq!(ids(app, "is_valid=false").await, [id.as_str()]);
    assert_eq!(
        ids(app, "tags=Seeing&tags=nothing").await,
        [second_id.as_str()]
    );
    assert_eq!(ids(app, "exclude_tags=seeing").await, [third_id.as_str()]);
    assert_eq!(ids(app, "min_level=30").await, [second_id.as_str()]);
    assert_eq!(ids(app, "max_level=30").await, [third_id.as_str()]);
    assert_eq!(
        ids(app, "exposure_flags=questionable").await,
        [second_id.as_str()]
    );
    assert_eq!(
        ids(app, "obs_id=20251202_0000&instruments=LSSTCam")
            .await
            .len(),
        2
    );
    assert_eq!(ids(app, "instruments=LATISS").await.len(), 0);
    assert_eq!(
        ids(app, "message_text=2.1%25").await.len(),
        0,
        "% is literal"
    );
    assert_eq!(ids(app, "has_parent_id=true").await, [second_id.as_str()]);
    assert_eq!(
        ids(app, "order_by=-level&limit=2").await,
        [second_id.clone(), third_id.clone()]
    );
    assert_eq!(
        ids(app, "order_by=level&offset=1").await,
        [second_id.as_str()]
    );
    assert_eq!(
        ids(
            app,
            "min_day_obs=20251202&max_day_obs=20251203&min_seq_num=7&max_seq_num=8"
        )
        .await
        .len(),
        2
    );
    for (query, status) in [
        ("order_by=nonsense", StatusCode::BAD_REQUEST),
        ("limit=1", StatusCode::UNPROCESSABLE_ENTITY),
        ("offset=-1", StatusCode::UNPROCESSABLE_ENTITY),
        ("is_valid=maybe", StatusCode::UNPROCESSABLE_ENTITY),
        ("min_date_added=yesterday", StatusCode::UNPROCESSABLE_ENTITY),
        ("exposure_flags=awful", StatusCode::UNPROCESSABLE_ENTITY),
        ("min_level=99999999999", StatusCode::UNPROCESSABLE_ENTITY),
        (
            "limit=99999999999999999999",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        // No maximum, as upstream (Rubin's clients ask for 50,000): at most 10,000 come back.
        ("limit=50000", StatusCode::OK),
    ] {
        let (got, body) =
            as_observer(app, "GET", &format!("/exposurelog/messages?{query}"), None).await;
        assert_eq!(got, status, "{query}: {body}");
    }

    // A delete marks the message invalid, once.
    let (status, body) = as_observer(
        app,
        "DELETE",
        &format!("/exposurelog/messages/{third_id}"),
        None,
    )
    .await;
    assert_eq!((status, body), (StatusCode::NO_CONTENT, Value::Null));
    let (_, deleted) = as_observer(
        app,
        "GET",
        &format!("/exposurelog/messages/{third_id}"),
        None,
    )
    .await;
    assert_eq!(deleted["is_valid"], false);
    let (status, _) = as_observer(
        app,
        "DELETE",
        &format!("/exposurelog/messages/{third_id}"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, again) = as_observer(
        app,
        "GET",
        &format!("/exposurelog/messages/{third_id}"),
        None,
    )
    .await;
    assert_eq!(again["date_invalidated"], deleted["date_invalidated"]);
    let (status, _) = as_observer(
        app,
        "DELETE",
        "/exposurelog/messages/00000000-0000-4000-8000-000000000000",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // TAP joins the log with ConsDB.
    let query = "SELECT m.message_text, e.exposure_id FROM exposurelog.message AS m \
                 JOIN cdb_lsstcam.exposure AS e ON e.exposure_name = m.obs_id \
                 WHERE m.date_invalidated IS NULL";
    let uri = format!(
        "/tap/sync?LANG=ADQL&FORMAT=csv&QUERY={}",
        query.replace(' ', "+").replace('=', "%3D")
    );
    let (status, _, csv) = call(app, signed(common::get(&uri), "observer")).await;
    assert_eq!(status, StatusCode::OK, "{csv}");
    assert_eq!(
        csv.lines().skip(1).collect::<Vec<_>>(),
        ["Seeing 2.1 arcsec,2025120200007"]
    );
}

#[tokio::test]
async fn the_night_log_keeps_times_lost_and_components() {
    let f = common::consdb_fixture().await;
    let app = &f.app;
    let message = json!({
        "message_text": "Dome shutter fault", "level": 40, "tags": ["dome"], "urls": [],
        "time_lost": 5400, "date_begin": "2025-12-02T01:00:00", "date_end": "2025-12-02T02:30:00",
        "user_id": "bob", "user_agent": "nightlog", "is_human": true,
        "category": "fault", "time_lost_type": "fault",
        "components_json": {"name": "AuxTel", "children": [{"name": "Dome"}]},
    });
    let (status, first) =
        as_observer(app, "POST", "/narrativelog/messages", Some(message.clone())).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(first["time_lost"], json!(5400.0));
    assert_eq!(first["date_begin"], "2025-12-02T01:00:00");
    assert_eq!(first["components_json"], message["components_json"]);
    assert_eq!(first["systems"], Value::Null);
    assert_eq!(first["is_valid"], true);
    assert_eq!(first.as_object().expect("o").len(), 25);
    // narrativelog requires a level, and refuses zoned dates on add.
    let mut no_level = message.clone();
    no_level.as_object_mut().expect("o").remove("level");
    let (status, body) = as_observer(app, "POST", "/narrativelog/messages", Some(no_level)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["detail"][0]["loc"], json!(["body", "level"]));
    let mut zoned = message.clone();
    zoned["date_begin"] = json!("2025-12-02T01:00:00Z");
    let (status, body) = as_observer(app, "POST", "/narrativelog/messages", Some(zoned)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        json!({"detail": "date_begin must not have a time zone suffix"})
    );
    // An edit given as HH:MM:SS; the components stay.
    let id = first["id"].as_str().expect("id");
    let (status, second) = as_observer(
        app,
        "PATCH",
        &format!("/narrativelog/messages/{id}"),
        Some(json!({"time_lost": "01:00:00", "category": "weather"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{second}");
    assert_eq!(second["time_lost"], json!(3600.0));
    assert_eq!(second["components_json"], message["components_json"]);
    assert_eq!(second["parent_id"], first["id"]);
    let find = |q: &'static str| async move {
        let (status, body) =
            as_observer(app, "GET", &format!("/narrativelog/messages?{q}"), None).await;
        assert_eq!(status, StatusCode::OK, "{q}: {body}");
        body.as_array().expect("list").len()
    };
    assert_eq!(find("").await, 1);
    assert_eq!(find("min_time_lost=3600").await, 1);
    assert_eq!(find("max_time_lost=3600").await, 0);
    assert_eq!(find("categories=weather").await, 1);
    assert_eq!(find("categories=fault").await, 0);
    assert_eq!(find("is_valid=either&categories=fault").await, 1);
    assert_eq!(
        find("has_date_end=true&min_date_begin=2025-12-02T00:00:00").await,
        1
    );
    assert_eq!(find("tags=dome&is_human=true").await, 1);
    assert_eq!(find("is_human=false").await, 0);
    let (status, config) = as_observer(app, "GET", "/narrativelog/configuration", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(config["site_id"], first["site_id"]);
}
