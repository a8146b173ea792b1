//! ObsLocTAP's `ivoa.obsplan` fed over `POST /obsplan` and moved along by the exposures ConsDB
//! records through its REST API, on the suite's backend. Expected statuses follow from the
//! documented rules applied by hand to the exposures the test writes (times, targets, exposure
//! times), not from our own output.

use super::common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::{call, signed};
use serde_json::{json, Value};

/// The columns ObsLocTAP 1.0 requires of `ivoa.obsplan` (the standard's §4 table).
const STANDARD: [&str; 26] = [
    "t_planning",
    "target_name",
    "obs_id",
    "obs_collection",
    "s_ra",
    "s_dec",
    "s_fov",
    "s_region",
    "s_resolution",
    "t_min",
    "t_max",
    "t_exptime",
    "t_resolution",
    "em_min",
    "em_max",
    "em_res_power",
    "o_ucd",
    "pol_states",
    "pol_xel",
    "facility_name",
    "instrument_name",
    "t_plan_exptime",
    "category",
    "priority",
    "execution_status",
    "tracking_type",
];

fn post(uri: &str, content_type: &str, body: String) -> Request<Body> {
    Request::post(uri)
        .header("content-type", content_type)
        .body(Body::from(body))
        .expect("request")
}

async fn json_call(app: &axum::Router, req: Request<Body>) -> (StatusCode, Value) {
    let (status, _, body) = call(app, req).await;
    let value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {status} {body}"));
    (status, value)
}

/// The rows of an ADQL query, as CSV records (header first).
async fn adql(app: &axum::Router, query: &str) -> Vec<Vec<String>> {
    let uri = format!(
        "/tap/sync?LANG=ADQL&FORMAT=csv&QUERY={}",
        query
            .replace(' ', "+")
            .replace('\'', "%27")
            .replace('=', "%3D")
    );
    let (status, _, body) = call(app, signed(common::get(&uri), "planner")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body.lines()
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect()
}

/// obs_id → (execution_status, t_exptime).
async fn statuses(app: &axum::Router) -> Vec<(String, String, f64)> {
    adql(
        app,
        "SELECT obs_id, execution_status, t_exptime FROM ivoa.obsplan ORDER BY obs_id",
    )
    .await
    .into_iter()
    .skip(1)
    .map(|r| (r[0].clone(), r[1].clone(), r[2].parse().expect("t_exptime")))
    .collect()
}

fn plan(
    obs_id: &str,
    target: &str,
    ra: f64,
    dec: f64,
    from: &str,
    to: &str,
    planned: f64,
) -> Value {
    json!({
        "obs_id": obs_id, "facility_name": "Rubin Observatory", "instrument_name": "LSSTCam",
        "target_name": target, "s_ra": ra, "s_dec": dec, "s_fov": 3.5,
        "t_min": from, "t_max": to, "t_plan_exptime": planned, "execution_status": "Scheduled",
    })
}

/// An LSSTCam exposure as the Header Service's ConsDB row gives it.
fn exposure(seq: i64, target: &str, ra: f64, dec: f64, start_mjd: f64, seconds: f64) -> Value {
    json!({
        "values": {
            "exposure_id": 2025120200000i64 + seq,
            "exposure_name": format!("MC_O_20251202_{seq:06}"),
            "controller": "O", "day_obs": 20251202, "seq_num": seq,
            "target_name": target, "s_ra": ra, "s_dec": dec,
            "obs_start_mjd": start_mjd, "obs_end_mjd": start_mjd + seconds / 86400.0,
            "exp_time": seconds,
        }
    })
}

#[tokio::test]
async fn a_plan_is_loaded_whole_and_follows_the_exposures_consdb_records() {
    let f = common::consdb_fixture().await;
    let app = &f.app;
    // 2025-12-02T03:00 is MJD 61011.125.
    let plans = json!([
        plan(
            "A",
            "ECDFS",
            53.16,
            -28.1,
            "2025-12-02T03:00:00",
            "2025-12-02T03:10:00",
            30.0
        ),
        plan(
            "B",
            "COSMOS",
            150.12,
            2.21,
            "2025-12-02T03:00:00",
            "2025-12-02T03:10:00",
            60.0
        ),
        plan(
            "C",
            "M31",
            10.68,
            41.27,
            "2027-01-01T00:00:00",
            "2027-01-01T00:05:00",
            30.0
        ),
    ]);

    // Anonymous callers hold no write:consdb.
    let (status, _, _) = call(app, post("/obsplan", "application/json", plans.to_string())).await;
    assert!(
        status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN,
        "{status}"
    );
    assert!(statuses(app).await.is_empty());

    let (status, body) = json_call(
        app,
        signed(
            post("/obsplan", "application/json", plans.to_string()),
            "scheduler",
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({"written": 3, "kept": 0, "performed": 0, "aborted": 0})
    );

    // Every column the standard requires is served, with the defaults filled in.
    let header = adql(app, "SELECT TOP 1 * FROM ivoa.obsplan")
        .await
        .remove(0);
    for column in STANDARD {
        assert!(
            header.iter().any(|h| h == column),
            "{column} missing: {header:?}"
        );
    }
    let row = adql(
        app,
        "SELECT category, priority, tracking_type, t_min, t_max, s_region FROM ivoa.obsplan WHERE obs_id = 'A'",
    )
    .await
    .remove(1);
    assert_eq!(&row[..3], ["Fixed", "1", "Sidereal"]);
    assert!(
        (row[3].parse::<f64>().expect("t_min") - 61011.125).abs() < 1e-9,
        "{row:?}"
    );
    assert!(
        row[5].starts_with("CIRCLE ICRS 53.16 -28.1 1.75"),
        "{row:?}"
    );

    // A plan with one bad row writes nothing and names the row and the column.
    for (bad, field) in [
        (json!({"execution_status": "Done"}), "execution_status"),
        (json!({"t_max": "2025-12-02T02:00:00"}), "t_max"),
        (json!({"target_name": null, "s_ra": null}), "target_name"),
    ] {
        let mut second = plan(
            "D",
            "X",
            1.0,
            1.0,
            "2025-12-02T03:00:00",
            "2025-12-02T03:10:00",
            30.0,
        );
        for (k, v) in bad.as_object().expect("object") {
            second[k] = v.clone();
        }
        let changed_a = plan(
            "A",
            "ECDFS",
            53.16,
            -28.1,
            "2025-12-02T04:00:00",
            "2025-12-02T04:10:00",
            30.0,
        );
        let (status, body) = json_call(
            app,
            signed(
                post(
                    "/obsplan",
                    "application/json",
                    json!([changed_a, second]).to_string(),
                ),
                "scheduler",
            ),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(
            body["detail"][0]["loc"],
            json!(["body", 2, field]),
            "{body}"
        );
        let msg = body["detail"][0]["msg"].as_str().expect("msg");
        assert!(
            msg.starts_with("row 2:") && msg.contains("nothing was loaded"),
            "{msg}"
        );
        assert_eq!(statuses(app).await.len(), 3);
        let t_min = adql(app, "SELECT t_min FROM ivoa.obsplan WHERE obs_id = 'A'").await;
        assert!((t_min[1][0].parse::<f64>().expect("t_min") - 61011.125).abs() < 1e-9);
    }

    // CSV replans C; the old version stays in the history.
    let csv = "obs_id,facility_name,instrument_name,target_name,t_min,t_max,t_plan_exptime\n\
               C,Rubin Observatory,LSSTCam,M31,2027-01-02T00:00:00,2027-01-02T00:05:00,30\n";
    let (status, body) = json_call(
        app,
        signed(post("/obsplan", "text/csv", csv.into()), "scheduler"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["written"], 1);
    let versions = adql(
        app,
        "SELECT version, t_min, recorded_by FROM ivoa.obsplan_history WHERE obs_id = 'C' ORDER BY version",
    )
    .await;
    assert_eq!(versions.len(), 3, "{versions:?}");
    assert_eq!(versions[2][2], "scheduler");
    assert_ne!(versions[1][1], versions[2][1]);
    // The new version replaces the old whole: the position the CSV no longer gives is gone.
    let c = adql(
        app,
        "SELECT s_ra, target_name FROM ivoa.obsplan WHERE obs_id = 'C'",
    )
    .await;
    assert_eq!(c[1], ["", "M31"], "{c:?}");

    // ConsDB records the night: ECDFS for 30 s inside A's interval (as planned), COSMOS for
    // 30 s inside B's (half of the 60 s planned), and a third field no plan names.
    let start = 61011.125 + 120.0 / 86400.0;
    for (seq, target, ra, dec, at) in [
        (1, "ECDFS", 53.16, -28.1, start),
        (2, "COSMOS", 150.12, 2.21, start + 0.001),
        (3, "ELAIS-S1", 9.45, -44.0, start + 0.002),
    ] {
        let (status, body) = json_call(
            app,
            signed(
                post(
                    &format!("/consdb/insert/lsstcam/exposure/by_seq_num/20251202/{seq}"),
                    "application/json",
                    exposure(seq, target, ra, dec, at, 30.0).to_string(),
                ),
                "observer",
            ),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    assert_eq!(
        statuses(app).await,
        [
            ("A".to_string(), "Performed".to_string(), 30.0),
            ("B".to_string(), "Aborted".to_string(), 30.0),
            // Replanned by the CSV, which named no status: Planned by default.
            ("C".to_string(), "Planned".to_string(), 30.0),
        ]
    );
    // A performed observation's times are the exposure's.
    let a = adql(app, "SELECT t_min FROM ivoa.obsplan WHERE obs_id = 'A'").await;
    assert!(
        (a[1][0].parse::<f64>().expect("t_min") - start).abs() < 1e-9,
        "{a:?}"
    );

    // The scheduler sending A again does not undo what the exposures decided.
    let (status, body) = json_call(
        app,
        signed(
            post(
                "/obsplan",
                "application/json",
                json!([plans[0]]).to_string(),
            ),
            "scheduler",
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({"written": 0, "kept": 1, "performed": 0, "aborted": 0})
    );
    assert_eq!(statuses(app).await[0].1, "Performed");
    let history = adql(
        app,
        "SELECT execution_status FROM ivoa.obsplan_history WHERE obs_id = 'A' ORDER BY version",
    )
    .await;
    assert_eq!(
        history[1..],
        [vec!["Scheduled".to_string()], vec!["Performed".to_string()]]
    );

    // Bodies that are no plan.
    for (content_type, body) in [
        ("application/json", "{\"plan\": 1}"),
        ("application/json", "not json"),
        ("text/csv", "obs_id,t_min\n\"unterminated"),
    ] {
        let (status, answer) = json_call(
            app,
            signed(post("/obsplan", content_type, body.into()), "scheduler"),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {answer}");
    }
}
