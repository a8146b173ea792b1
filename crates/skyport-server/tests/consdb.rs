//! The ConsDB REST API driven the way Rubin's clients drive pqserver (requests built from the
//! endpoint table of PEERS.md §5.1: ConsDbClient's URLs, parameters and bodies), on the suite's
//! backend (SQLite, or PostgreSQL with `SKYPORT_TEST_BACKEND=postgres`). Expected values come
//! from Rubin's own table exports (`consdb/tests/lsstcomcamsim/*.ecsv`) and from pqserver's
//! documented answers, never from our own output.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use common::{call, get};
use serde_json::{json, Map, Value};

struct ConsDbFixture {
    _dir: tempfile::TempDir,
    app: axum::Router,
    _database: Option<skyport_store::postgres::scratch::ScratchDatabase>,
}

async fn fixture() -> ConsDbFixture {
    let dir = tempfile::tempdir().expect("dir");
    let (store, database, consdb) = common::consdb_store(dir.path()).await;
    let app = common::app_with_schemas(store, dir.path(), consdb).await;
    ConsDbFixture {
        _dir: dir,
        app,
        _database: database,
    }
}

/// A POST from the authenticating proxy (127.0.0.1, trusted by the fixture) for user `tester`.
fn post(uri: &str, body: &Value) -> Request<Body> {
    let mut request = Request::post(uri)
        .header("content-type", "application/json")
        .header("x-auth-request-user", "tester")
        .body(Body::from(body.to_string()))
        .expect("request");
    request
        .extensions_mut()
        .insert(ConnectInfo(std::net::SocketAddr::from((
            [127, 0, 0, 1],
            40000,
        ))));
    request
}

async fn json_call(app: &axum::Router, req: Request<Body>) -> (StatusCode, Value) {
    let (status, _, body) = call(app, req).await;
    let value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {status} {body}"));
    (status, value)
}

// ---------------------------------------------------------------------------------------
// A small reader of astropy's ECSV (the format of Rubin's exports): the YAML header gives
// each column's datatype; rows are blank-separated with CSV quoting; `subtype: json` cells
// hold JSON text.

struct Ecsv {
    columns: Vec<String>,
    rows: Vec<Vec<Value>>,
}

fn ecsv_tokens(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek() == Some(&' ') {
            chars.next();
        }
        let Some(&first) = chars.peek() else { break };
        let mut token = String::new();
        if first == '"' {
            chars.next();
            while let Some(c) = chars.next() {
                if c == '"' {
                    if chars.peek() == Some(&'"') {
                        chars.next();
                        token.push('"');
                    } else {
                        break;
                    }
                } else {
                    token.push(c);
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ' ' {
                    break;
                }
                token.push(c);
                chars.next();
            }
        }
        out.push(token);
    }
    out
}

fn read_ecsv(path: &std::path::Path) -> Ecsv {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut kinds: Vec<(String, String, bool)> = Vec::new();
    for line in text.lines().filter(|l| l.starts_with("# - {name:")) {
        let field = |key: &str| {
            line.split(&format!("{key}: "))
                .nth(1)
                .map(|r| r.split([',', '}']).next().unwrap_or("").trim().to_string())
        };
        kinds.push((
            field("name").unwrap_or_default(),
            field("datatype").unwrap_or_default(),
            field("subtype").as_deref() == Some("json"),
        ));
    }
    let mut lines = text.lines().filter(|l| !l.starts_with('#'));
    let columns = ecsv_tokens(lines.next().expect("header row"));
    assert_eq!(columns.len(), kinds.len(), "{}", path.display());
    let rows = lines
        .map(|l| {
            ecsv_tokens(l)
                .into_iter()
                .zip(&kinds)
                .map(|(t, (_, datatype, json))| match (datatype.as_str(), json) {
                    ("int64" | "int32" | "int16", _) => Value::from(t.parse::<i64>().expect("int")),
                    ("float64" | "float32", _) => json!(t.parse::<f64>().expect("float")),
                    ("bool", _) => Value::Bool(t == "True"),
                    (_, true) => match t.as_str() {
                        // Python's repr of a bool, as these exports hold it.
                        "True" => Value::Bool(true),
                        "False" => Value::Bool(false),
                        other => serde_json::from_str(other).unwrap_or(Value::String(t.clone())),
                    },
                    _ if t == "null" || t.is_empty() => Value::Null,
                    _ => Value::String(t),
                })
                .collect()
        })
        .collect();
    Ecsv { columns, rows }
}

fn export(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/consdb/tests/lsstcomcamsim")
        .join(name)
}

/// Whether a column of a ConsDB table is single precision (Felis `float`, REAL): its values
/// are the nearest 32-bit floats, which TAP writes with 32-bit precision.
fn single_precision(table: &str, column: &str) -> bool {
    static SCHEMAS: std::sync::OnceLock<Vec<skyport_schema::Schema>> = std::sync::OnceLock::new();
    SCHEMAS
        .get_or_init(skyport_consdb::schemas::builtin)
        .iter()
        .find(|s| s.name == "cdb_lsstcomcamsim")
        .and_then(|s| s.table(table))
        .and_then(|t| t.column(column))
        .is_some_and(|c| c.datatype == skyport_schema::Datatype::Float)
}

/// Two values are the same datum: equal JSON, or the same time written with different
/// fraction digits, or the same number as int/float (as 32-bit floats when `single`).
fn same_in(expected: &Value, got: &Value, single: bool) -> bool {
    if single {
        if let (Some(a), Some(b)) = (expected.as_f64(), got.as_f64()) {
            return a as f32 == b as f32;
        }
    }
    same(expected, got)
}

/// Two values are the same datum: equal JSON, or the same time written with different
/// fraction digits, or the same number as int/float.
fn same(expected: &Value, got: &Value) -> bool {
    if expected == got {
        return true;
    }
    match (expected, got) {
        (Value::String(a), Value::String(b)) => {
            let t = |s: &str| skyport_consdb::convert::timestamp(s);
            t(a).is_some() && t(a) == t(b)
        }
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        _ => false,
    }
}

/// POSTs an export through the bulk endpoint, keyed by `id_column`; nulls are left out, as a
/// pqserver client must.
async fn load(app: &axum::Router, file: &str, table: &str, id_column: &str) -> Ecsv {
    let ecsv = read_ecsv(&export(file));
    let id_at = ecsv
        .columns
        .iter()
        .position(|c| c == id_column)
        .expect("id column");
    let mut obs_dict = Map::new();
    for row in &ecsv.rows {
        let values: Map<String, Value> = ecsv
            .columns
            .iter()
            .zip(row)
            .filter(|(_, v)| !v.is_null())
            .map(|(c, v)| (c.clone(), v.clone()))
            .collect();
        obs_dict.insert(row[id_at].to_string(), Value::Object(values));
    }
    let (status, body) = json_call(
        app,
        post(
            &format!("/consdb/insert/lsstcomcamsim/{table}"),
            &json!({ "table": table, "obs_dict": obs_dict }),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{file}: {body}");
    let ids: Vec<Value> = ecsv.rows.iter().map(|r| r[id_at].clone()).collect();
    assert_eq!(
        body,
        json!({ "message": "Data inserted", "instrument": "lsstcomcamsim", "obs_id": ids, "table": table })
    );
    ecsv
}

async fn tap_rows(app: &axum::Router, adql: &str) -> (Vec<String>, Vec<Vec<Value>>) {
    let uri = format!(
        "/tap/sync?LANG=ADQL&FORMAT=json&QUERY={}",
        form_urlencoded::byte_serialize(adql.as_bytes()).collect::<String>()
    );
    let (status, body) = json_call(app, get(&uri)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let names = body["columns"]
        .as_array()
        .expect("columns")
        .iter()
        .map(|c| c["name"].as_str().unwrap_or_default().to_string())
        .collect();
    let rows = body["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|r| r.as_array().cloned().unwrap_or_default())
        .collect();
    (names, rows)
}

#[tokio::test]
async fn rubins_exports_load_in_bulk_and_read_back_identically_through_rest_and_tap() {
    let f = fixture().await;
    let loads = [
        ("exposure.ecsv", "exposure", "exposure_id", "exposure"),
        ("exposure2.ecsv", "exposure", "exposure_id", "exposure"),
        (
            "ccdexposure.ecsv",
            "ccdexposure",
            "ccdexposure_id",
            "ccdexposure",
        ),
        (
            "visit1_quicklook.ecsv",
            "visit1_quicklook",
            "visit_id",
            "visit1",
        ),
        (
            "ccdvisit1_quicklook.ecsv",
            "ccdvisit1_quicklook",
            "ccdvisit_id",
            "ccdvisit1",
        ),
    ];
    for (file, table, id_column, obs_type) in loads {
        let ecsv = load(&f.app, file, table, id_column).await;
        let id_at = ecsv
            .columns
            .iter()
            .position(|c| c == id_column)
            .expect("id");
        for row in &ecsv.rows {
            let id = &row[id_at];
            // REST: the whole observation, companions included.
            let (status, got) = json_call(
                &f.app,
                get(&format!("/consdb/query/lsstcomcamsim/{obs_type}/obs/{id}")),
            )
            .await;
            assert_eq!(status, StatusCode::OK, "{file} {id}: {got}");
            for (column, expected) in ecsv.columns.iter().zip(row) {
                let column = match (obs_type, column.as_str()) {
                    ("visit1", "exposure_id") => "visit_id",
                    _ => column.as_str(),
                };
                let base = match obs_type {
                    "visit1" | "ccdvisit1" => table,
                    other => other,
                };
                assert!(
                    same_in(expected, &got[column], single_precision(base, column)),
                    "{file} {id} {column}: expected {expected}, REST gave {}",
                    got[column]
                );
            }
            // TAP: the table itself.
            let (names, rows) = tap_rows(
                &f.app,
                &format!("SELECT * FROM cdb_lsstcomcamsim.{table} WHERE {id_column} = {id}"),
            )
            .await;
            assert_eq!(rows.len(), 1, "{file} {id}");
            for (column, expected) in ecsv.columns.iter().zip(row) {
                let at = names.iter().position(|n| n == column).expect("column");
                let got = &rows[0][at];
                // TAP's JSON carries booleans of SQLite as 0/1 per the VOTable type.
                let got = match (expected, got) {
                    (Value::Bool(_), Value::Number(n)) => Value::Bool(n.as_i64() == Some(1)),
                    _ => got.clone(),
                };
                assert!(
                    same_in(expected, &got, single_precision(table, column)),
                    "{file} {id} {column}: expected {expected}, TAP gave {got}"
                );
            }
        }
    }
    // The day_obs/seq_num the exports lack came from the parent exposures.
    let (_, rows) = tap_rows(
        &f.app,
        "SELECT day_obs, seq_num, detector FROM cdb_lsstcomcamsim.ccdvisit1_quicklook WHERE ccdvisit_id = 730865976064",
    )
    .await;
    assert_eq!(rows, vec![vec![json!(20240403), json!(451), json!(0)]]);
}

#[tokio::test]
async fn flexible_metadata_from_rubins_exports_round_trips_with_types() {
    let f = fixture().await;
    load(&f.app, "exposure.ecsv", "exposure", "exposure_id").await;
    load(&f.app, "exposure2.ecsv", "exposure", "exposure_id").await;
    let schema = read_ecsv(&export("exposure_flexdata_schema.ecsv"));
    let mut dtypes = std::collections::HashMap::new();
    for row in &schema.rows {
        let mut body = Map::new();
        for (c, v) in schema.columns.iter().zip(row) {
            if !v.is_null() {
                body.insert(c.clone(), v.clone());
            }
        }
        dtypes.insert(
            row[0].as_str().unwrap_or_default().to_string(),
            row[1].clone(),
        );
        let (status, got) = json_call(
            &f.app,
            post(
                "/consdb/flex/lsstcomcamsim/exposure/addkey",
                &Value::Object(body),
            ),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{got}");
        assert_eq!(got["message"], "Key added to flexible metadata");
    }
    let (_, declared) = json_call(&f.app, get("/consdb/flex/lsstcomcamsim/exposure/schema")).await;
    assert_eq!(
        declared["baz"],
        json!([
            "float",
            "Sample flex float type",
            "m3 / (kg s2)",
            "phys.gravity"
        ])
    );
    assert_eq!(
        declared["bar"],
        json!(["int", "Sample flex int type", null, null])
    );

    let values = read_ecsv(&export("exposure_flexdata.ecsv"));
    let mut per_obs: Vec<(i64, Map<String, Value>)> = Vec::new();
    for row in &values.rows {
        // The export holds the ids as strings.
        let obs: i64 = match &row[0] {
            Value::String(s) => s.parse().expect("obs_id"),
            other => other.as_i64().expect("obs_id"),
        };
        let key = row[1].as_str().expect("key").to_string();
        let text = match &row[2] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        // The exports hold text; the client sends the key's type.
        let typed = match dtypes[&key].as_str() {
            Some("bool") => Value::Bool(text == "true" || text == "True"),
            Some("int") => json!(text.parse::<i64>().expect("int")),
            Some("float") => json!(text.parse::<f64>().expect("float")),
            _ => Value::String(text),
        };
        match per_obs.iter_mut().find(|(o, _)| *o == obs) {
            Some((_, m)) => {
                m.insert(key, typed);
            }
            None => per_obs.push((obs, Map::from_iter([(key, typed)]))),
        }
    }
    for (obs, map) in &per_obs {
        let (status, got) = json_call(
            &f.app,
            post(
                &format!("/consdb/flex/lsstcomcamsim/exposure/obs/{obs}"),
                &json!({ "values": map }),
            ),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{got}");
        assert_eq!(
            got,
            json!({ "message": "Flexible metadata inserted", "instrument": "lsstcomcamsim", "obs_type": "exposure", "obs_id": obs })
        );
        let (_, back) = json_call(
            &f.app,
            get(&format!("/consdb/flex/lsstcomcamsim/exposure/obs/{obs}")),
        )
        .await;
        assert_eq!(&back, &Value::Object(map.clone()), "typed read-back");
        let (_, some) = json_call(
            &f.app,
            get(&format!(
                "/consdb/flex/lsstcomcamsim/exposure/obs/{obs}?k=bar&k=qux"
            )),
        )
        .await;
        assert_eq!(some.as_object().map(|m| m.len()), Some(2), "{some}");
        let (_, all) = json_call(
            &f.app,
            get(&format!(
                "/consdb/query/lsstcomcamsim/exposure/obs/{obs}?flex=1"
            )),
        )
        .await;
        assert_eq!(all["qux"], map["qux"]);
        assert_eq!(all["exposure_id"], json!(obs));
    }
    // pqserver's text form is what the table holds (a database both servers can share).
    let (_, rows) = tap_rows(
        &f.app,
        "SELECT \"key\", \"value\" FROM cdb_lsstcomcamsim.exposure_flexdata WHERE obs_id = 7024040300451 ORDER BY \"key\"",
    )
    .await;
    assert_eq!(
        rows,
        vec![
            vec![json!("bar"), json!("1234")],
            vec![json!("baz"), json!("3.14")],
            vec![json!("foo"), json!("True")],
            vec![json!("qux"), json!("nachos")],
        ]
    );
}

/// An LSSTCam exposure row as a client sends it.
fn exposure(seq: i64) -> Value {
    json!({
        "exposure_id": 2025120100000i64 + seq,
        "exposure_name": format!("MC_O_20251201_{seq:06}"),
        "controller": "O",
        "day_obs": 20251201,
        "seq_num": seq,
        "band": "r",
        "airmass": 1.2,
        "obs_start": "2025-12-02T03:04:05.123456",
    })
}

#[tokio::test]
async fn every_documented_error_has_pqservers_status_and_body() {
    let f = fixture().await;
    let app = &f.app;
    let instruments = json!([
        "latiss",
        "lsstcam",
        "lsstcomcam",
        "lsstcomcamsim",
        "startrackerfast",
        "startrackernarrow",
        "startrackerwide"
    ]);
    let (status, index) = json_call(app, get("/consdb/")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(index["instruments"], instruments);
    assert_eq!(
        index["obs_types"],
        json!(["exposure", "visit1", "ccdexposure", "ccdvisit1"])
    );
    assert_eq!(index["dtypes"], json!(["bool", "int", "float", "str"]));
    assert_eq!(json_call(app, get("/consdb/schema")).await.1, instruments);

    // Unknown instrument: 404, before anything else is looked at.
    let (status, body) = json_call(
        app,
        post(
            "/consdb/insert/NoSuchCam/exposure/by_seq_num/x/1",
            &json!({ "values": {} }),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        body,
        json!({ "message": "Invalid instrument", "value": "NoSuchCam", "valid": instruments })
    );

    // Bad table.
    let (status, body) = json_call(
        app,
        post(
            "/consdb/insert/LSSTCam/nope/by_seq_num/20251201/1",
            &json!({ "values": {} }),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["message"], "Invalid table");
    assert_eq!(body["value"], "cdb_lsstcam.nope");
    assert!(body["valid"]
        .as_array()
        .expect("valid")
        .contains(&json!("cdb_lsstcam.exposure")));

    // Missing non-nullable columns with u=0 (table column order), then extra columns.
    let (status, body) = json_call(
        app,
        post(
            "/consdb/insert/lsstcam/exposure/by_seq_num/20251201/1",
            &json!({ "values": { "band": "r" } }),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        body,
        json!({ "message": "Invalid missing columns", "value": "exposure_id,exposure_name,controller" })
    );
    let mut row = exposure(1);
    row["no_such_column"] = json!(1);
    let (status, body) = json_call(
        app,
        post(
            "/consdb/insert/lsstcam/exposure/by_seq_num/20251201/1",
            &json!({ "values": row }),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        body,
        json!({ "message": "Invalid extra columns", "value": "no_such_column" })
    );

    // A good insert (ConsDbClient.insert with a (day_obs, seq_num) tuple), then the same
    // again with u=0: a conflict, 500 with the database's message.
    let (status, body) = json_call(
        app,
        post(
            "/consdb/insert/lsstcam/exposure/by_seq_num/20251201/1",
            &json!({ "table": "exposure", "values": exposure(1) }),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({ "message": "Data inserted", "instrument": "lsstcam", "obs_id": [20251201, 1], "table": "cdb_lsstcam.exposure" })
    );
    let (status, body) = json_call(
        app,
        post(
            "/consdb/insert/lsstcam/exposure/by_seq_num/20251201/1",
            &json!({ "values": exposure(1) }),
        ),
    )
    .await;
    // pqserver answers 500 here; the row existing is the client's matter, so skyport says
    // 409, in pqserver's body shape, and names no table or constraint of the database.
    assert_eq!(status, StatusCode::CONFLICT);
    let message = body["message"]
        .as_str()
        .expect("message")
        .to_ascii_lowercase();
    assert!(message.contains("exists already"), "{message}");
    assert!(
        !message.contains("unique") && !message.contains("cdb_") && !message.contains("constraint"),
        "{message}"
    );

    // u=1 changes the named columns only.
    let (status, _) = json_call(
        app,
        post(
            "/consdb/insert/lsstcam/exposure/by_seq_num/20251201/1?u=1",
            &json!({ "values": { "airmass": 1.5 } }),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (_, obs) = json_call(app, get("/consdb/query/lsstcam/exposure/obs/2025120100001")).await;
    assert_eq!(obs["airmass"], json!(1.5));
    assert_eq!(
        obs["band"],
        json!("r"),
        "an upsert keeps the columns it does not name"
    );

    // The legacy /obs/ form (ConsDbClient.insert with an id) fills day_obs/seq_num from the
    // exposure and answers with the id as an integer.
    let (status, body) = json_call(
        app,
        post(
            "/consdb/insert/lsstcam/visit1_quicklook/obs/2025120100001",
            &json!({ "table": "visit1_quicklook", "obs_id": 2025120100001i64, "values": { "n_inputs": 3 } }),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["obs_id"], json!(2025120100001i64));
    assert_eq!(body["table"], "cdb_lsstcam.visit1_quicklook");
    let (status, body) = json_call(
        app,
        post(
            "/consdb/insert/lsstcam/visit1_quicklook/obs/999",
            &json!({ "values": { "n_inputs": 3 } }),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        body,
        json!({ "message": "Invalid exposure_id", "value": 999 })
    );

    // Unknown observation.
    let (status, body) = json_call(app, get("/consdb/query/lsstcam/exposure/obs/42")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body, json!({ "detail": "Observation 42 not found." }));
    let (status, body) = json_call(app, get("/consdb/query/lsstcam/bogus/obs/42")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["detail"][0]["loc"], json!(["path", "obs_type"]));
    let (status, body) = json_call(app, get("/consdb/query/lsstcam/exposure/obs/abc")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["detail"][0]["type"], "int_parsing");

    // Flexible metadata: keys, types, and what is refused.
    let add = |body: Value| post("/consdb/flex/lsstcam/exposure/addkey", &body);
    let (status, _) = json_call(
        app,
        add(json!({ "key": "n", "dtype": "int", "doc": "a count" })),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = json_call(app, add(json!({ "key": "seeing", "dtype": "float", "unit": "arcsec", "ucd": "instr.obsty.seeing" }))).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = json_call(app, add(json!({ "key": "n", "dtype": "int" }))).await;
    assert_eq!(status, StatusCode::CONFLICT, "a duplicate key: {body}");
    let (status, body) = json_call(app, add(json!({ "key": "x", "dtype": "double" }))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["detail"][0]["loc"], json!(["body", "dtype"]));
    let (status, body) = json_call(
        app,
        add(json!({ "key": "x", "dtype": "float", "unit": "tacos / s" })),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["detail"][0]["loc"], json!(["body", "unit"]));
    let (status, body) = json_call(
        app,
        add(json!({ "key": "x", "dtype": "float", "ucd": "but not" })),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["detail"][0]["loc"], json!(["body", "ucd"]));
    let (status, body) = json_call(
        app,
        post(
            "/consdb/flex/lsstcam/visit1/addkey",
            &json!({ "key": "x", "dtype": "int" }),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        body,
        json!({ "message": "Invalid observation type", "value": "visit1", "valid": ["exposure", "ccdexposure"] })
    );

    let flex = |values: Value| {
        post(
            "/consdb/flex/lsstcam/exposure/obs/2025120100001",
            &json!({ "values": values }),
        )
    };
    let (status, body) = json_call(app, flex(json!({ "n": 4.0 }))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        body,
        json!({ "message": "Invalid int value", "value": 4.0, "valid": ["float"] })
    );
    let (status, body) = json_call(app, flex(json!({ "seeing": 4 }))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        body,
        json!({ "message": "Invalid float value", "value": 4, "valid": ["int"] })
    );
    let (status, body) = json_call(app, flex(json!({ "nope": 1 }))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        body,
        json!({ "message": "Invalid key", "value": "nope", "valid": ["n", "seeing"] })
    );
    // One request is one transaction: a bad value anywhere writes nothing.
    let (status, _) = json_call(app, flex(json!({ "n": 1, "seeing": "x" }))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, back) = json_call(app, get("/consdb/flex/lsstcam/exposure/obs/2025120100001")).await;
    assert_eq!(back, json!({}));
    let (status, _) = json_call(app, flex(json!({ "n": 1, "seeing": 0.7 }))).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = json_call(app, flex(json!({ "n": 2 }))).await;
    assert_eq!(status, StatusCode::CONFLICT, "u=0 on an existing key");
    let (status, body) = json_call(
        app,
        post(
            "/consdb/flex/lsstcam/exposure/obs/77",
            &json!({ "values": { "n": 2 } }),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        body,
        json!({ "message": "Invalid exposure_id", "value": 77 })
    );

    // Malformed bodies are FastAPI's 422s.
    let (status, body) = json_call(
        app,
        post(
            "/consdb/insert/lsstcam/exposure/by_seq_num/20251201/2",
            &json!({}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["detail"][0]["type"], "missing");
    assert_eq!(body["detail"][0]["loc"], json!(["body", "values"]));
    let (status, body) = json_call(
        app,
        post(
            "/consdb/insert/lsstcam/exposure",
            &json!({ "obs_dict": { "abc": {} } }),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        body["detail"][0]["loc"],
        json!(["body", "obs_dict", "abc", "[key]"])
    );

    // /schema/{instrument}/{table}: types and descriptions.
    let (status, cols) = json_call(app, get("/consdb/schema/lsstcam/CDB_LSSTCAM.Exposure")).await;
    assert_eq!(status, StatusCode::OK, "{cols}");
    assert_eq!(cols["exposure_id"][0], "BIGINT");
    assert_eq!(cols["day_obs"][0], "INTEGER");
    assert_eq!(cols["obs_start"][0], "TIMESTAMP");
    assert_eq!(cols["s_ra"][0], "DOUBLE PRECISION");
    let (_, tables) = json_call(app, get("/consdb/schema/lsstcam")).await;
    assert!(tables
        .as_array()
        .expect("list")
        .contains(&json!("cdb_lsstcam.visit1_quicklook")));

    // /query: read-only ADQL, pqserver's answer shape.
    let (status, body) = json_call(
        app,
        post(
            "/consdb/query",
            &json!({ "query": "SELECT exposure_id, band FROM cdb_lsstcam.exposure" }),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({ "columns": ["exposure_id", "band"], "data": [[2025120100001i64, "r"]] })
    );
    let (status, body) = json_call(
        app,
        post(
            "/consdb/query",
            &json!({ "query": "DELETE FROM cdb_lsstcam.exposure" }),
        ),
    )
    .await;
    // pqserver says 500; a query that is not read-only ADQL is the client's mistake.
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["message"].as_str().is_some_and(|m| m.contains("ADQL")),
        "{body}"
    );
    let (_, body) = json_call(app, get("/consdb/query/lsstcam/exposure/obs/2025120100001")).await;
    assert_eq!(
        body["exposure_id"],
        json!(2025120100001i64),
        "nothing was deleted"
    );
    // A boolean column compared with a number works on PostgreSQL too.
    let (status, body) = json_call(
        app,
        post(
            "/consdb/query",
            &json!({ "query": "SELECT COUNT(*) AS n FROM cdb_lsstcam.exposure WHERE can_see_sky = 1" }),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"], json!([[0]]));

    let (status, doc) = json_call(app, get("/consdb/openapi.json")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["paths"]["/insert/{instrument}/{table}"]["post"].is_object());
}

#[tokio::test]
async fn history_reads_every_past_state_and_a_failed_bulk_write_leaves_nothing() {
    let f = fixture().await;
    let app = &f.app;
    let (status, _body) = json_call(
        app,
        post(
            "/consdb/insert/lsstcam/exposure/by_seq_num/20251201/7",
            &json!({ "values": exposure(7) }),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{_body}");
    let now = || {
        chrono::Utc::now()
            .format("%Y-%m-%dT%H:%M:%S%.6f")
            .to_string()
    };
    let mut times = Vec::new();
    for airmass in [1.3, 1.4, 1.5] {
        tokio::time::sleep(Duration::from_millis(5)).await;
        times.push(now());
        tokio::time::sleep(Duration::from_millis(5)).await;
        let (status, _) = json_call(
            app,
            post(
                "/consdb/insert/lsstcam/exposure/by_seq_num/20251201/7?u=1",
                &json!({ "values": { "airmass": airmass } }),
            ),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
    }
    times.push(now());
    for (at, expected) in times.iter().zip([1.2, 1.3, 1.4, 1.5]) {
        let (status, obs) = json_call(
            app,
            get(&format!(
                "/consdb/query/lsstcam/exposure/obs/2025120100007?as_of={at}"
            )),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{obs}");
        assert_eq!(obs["airmass"], json!(expected), "as of {at}");
        assert_eq!(obs["band"], json!("r"));
        // The same through TAP, on the history table.
        let (_, rows) = tap_rows(
            app,
            &format!(
                "SELECT airmass FROM cdb_lsstcam.exposure_history WHERE exposure_id = 2025120100007 \
                 AND recorded_at <= '{at}' AND (superseded_at IS NULL OR superseded_at > '{at}')"
            ),
        )
        .await;
        assert_eq!(rows, vec![vec![json!(expected)]], "TAP as of {at}");
    }
    let (status, body) = json_call(
        app,
        get("/consdb/query/lsstcam/exposure/obs/2025120100007?as_of=2000-01-01T00:00:00"),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (_, rows) = tap_rows(
        app,
        "SELECT version, recorded_by FROM cdb_lsstcam.exposure_history WHERE exposure_id = 2025120100007 ORDER BY version",
    )
    .await;
    assert_eq!(rows.len(), 4);
    assert!(rows.iter().all(|r| r[1] == json!("tester")), "{rows:?}");

    // A bulk write whose last row is bad writes none of its rows.
    let mut obs_dict = Map::new();
    for seq in 100..150 {
        obs_dict.insert((2025120100000i64 + seq).to_string(), exposure(seq));
    }
    let mut bad = exposure(150);
    bad["day_obs"] = json!("not a day");
    obs_dict.insert("2025120100150".into(), bad);
    let (status, body) = json_call(
        app,
        post(
            "/consdb/insert/lsstcam/exposure",
            &json!({ "obs_dict": obs_dict }),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (_, rows) = tap_rows(
        app,
        "SELECT COUNT(*) FROM cdb_lsstcam.exposure WHERE seq_num >= 100",
    )
    .await;
    assert_eq!(rows, vec![vec![json!(0)]]);
    // The same rows, all good but one colliding with an existing key (u=0): none written.
    let mut obs_dict = Map::new();
    for seq in 100..150 {
        obs_dict.insert((2025120100000i64 + seq).to_string(), exposure(seq));
    }
    obs_dict.insert("2025120100007".into(), exposure(7));
    let (status, _) = json_call(
        app,
        post(
            "/consdb/insert/lsstcam/exposure",
            &json!({ "obs_dict": obs_dict }),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (_, rows) = tap_rows(
        app,
        "SELECT COUNT(*) FROM cdb_lsstcam.exposure WHERE seq_num >= 100",
    )
    .await;
    assert_eq!(rows, vec![vec![json!(0)]]);
}

#[tokio::test]
async fn concurrent_updates_of_different_columns_both_land() {
    let f = fixture().await;
    let (status, _) = json_call(
        &f.app,
        post(
            "/consdb/insert/lsstcam/exposure/by_seq_num/20251201/9",
            &json!({ "values": exposure(9) }),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let mut tasks = Vec::new();
    for n in 0..10 {
        let app = f.app.clone();
        let values = if n % 2 == 0 {
            json!({ "airmass": 2.0 + n as f64 })
        } else {
            json!({ "target_name": format!("field{n}") })
        };
        tasks.push(tokio::spawn(async move {
            json_call(
                &app,
                post(
                    "/consdb/insert/lsstcam/exposure/by_seq_num/20251201/9?u=1",
                    &json!({ "values": values }),
                ),
            )
            .await
            .0
        }));
    }
    for t in tasks {
        assert_eq!(t.await.expect("join"), StatusCode::OK);
    }
    let (_, rows) = tap_rows(
        &f.app,
        "SELECT COUNT(*) FROM cdb_lsstcam.exposure_history WHERE exposure_id = 2025120100009",
    )
    .await;
    assert_eq!(rows, vec![vec![json!(11)]], "every update is a version");
    let (_, obs) = json_call(
        &f.app,
        get("/consdb/query/lsstcam/exposure/obs/2025120100009"),
    )
    .await;
    assert!(obs["airmass"].as_f64().is_some_and(|a| a >= 2.0), "{obs}");
    assert!(
        obs["target_name"]
            .as_str()
            .is_some_and(|t| t.starts_with("field")),
        "{obs}"
    );
}

/// Bulk-inserts rows keyed by natural id into an LSSTCam table.
async fn bulk(app: &axum::Router, table: &str, rows: Vec<(i64, Value)>) {
    let obs_dict: Map<String, Value> = rows.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    let (status, body) = json_call(
        app,
        post(
            &format!("/consdb/insert/lsstcam/{table}"),
            &json!({ "obs_dict": obs_dict }),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{table}: {body}");
}

#[tokio::test]
async fn table_consistency_reports_pqservers_rules() {
    let f = fixture().await;
    let app = &f.app;
    let day = 20251202i64;
    // A: a complete science exposure. B: a bias with every kind of fault.
    let a = day * 100_000 + 1;
    let b = day * 100_000 + 99; // not day_obs * 100000 + seq_num (seq 2)
    let exposure = |id: i64, seq: i64, img_type: &str| {
        json!({ "exposure_id": id, "exposure_name": format!("MC_O_{day}_{seq:06}"), "controller": "O",
                "day_obs": day, "seq_num": seq, "img_type": img_type })
    };
    bulk(
        app,
        "exposure",
        vec![(a, exposure(a, 1, "science")), (b, exposure(b, 2, "bias"))],
    )
    .await;
    let guiders = [189, 190, 193, 194, 197, 198, 201, 202];
    let ccd = |exp: i64, seq: i64, det: i64| {
        (
            exp * 1000 + det,
            json!({ "exposure_id": exp, "day_obs": day, "seq_num": seq, "detector": det }),
        )
    };
    let mut rows: Vec<(i64, Value)> = (0..205).map(|d| ccd(a, 1, d)).collect();
    rows.extend([ccd(b, 2, 0), ccd(b, 3, 1), ccd(b, 2, 189)]);
    bulk(app, "ccdexposure", rows).await;
    let keyed = |id: i64, seq: i64, det: i64| {
        (
            id,
            json!({ "day_obs": day, "seq_num": seq, "detector": det }),
        )
    };
    let mut quick: Vec<(i64, Value)> = (0..205)
        .filter(|d| !guiders.contains(d))
        .map(|d| keyed(a * 1000 + d, 1, d))
        .collect();
    quick.push(keyed(b * 1000 + 189, 2, 189));
    bulk(app, "ccdexposure_quicklook", quick).await;
    let mut visits: Vec<(i64, Value)> = (0..205)
        .filter(|d| !guiders.contains(d))
        .map(|d| keyed(a * 1000 + d, 1, d))
        .collect();
    visits.push(keyed(b * 1000, 2, 0));
    bulk(app, "ccdvisit1_quicklook", visits).await;
    bulk(
        app,
        "exposure_quicklook",
        vec![(a, json!({ "day_obs": day, "seq_num": 1 }))],
    )
    .await;
    bulk(
        app,
        "visit1_quicklook",
        vec![(a, json!({ "day_obs": day, "seq_num": 1 }))],
    )
    .await;

    let (status, found) = json_call(
        app,
        get(&format!("/consdb/table_consistency/LSSTCam/{day}")),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{found}");
    let v = |rule: &str, detail: String| json!({ "rule": rule, "day_obs": day, "seq_num": 2, "detail": detail });
    // Derived rule by rule from Rubin's definitions (PEERS.md §5.5 and pqserver's texts).
    let expected = json!([
        v(
            "ccdexposure_completeness",
            "expected 205 ccdexposure rows for detectors 0-204, found 3".into()
        ),
        v(
            "ccdexposure_key_agreement",
            format!(
                "ccdexposure_id {} day_obs/seq_num disagree with exposure_id {b}",
                b * 1000 + 1
            )
        ),
        v(
            "ccdexposure_quicklook_coverage",
            "expected 197 ccdexposure_quicklook rows, found 1".into()
        ),
        v(
            "exposure_id_encoding",
            format!("exposure_id {b} <> day_obs * 100000 + seq_num")
        ),
        v(
            "no_calibration_science_products",
            "calibration frame has 1 ccdvisit1_quicklook rows".into()
        ),
        v(
            "no_guider_products",
            "guider detector 189 has a ccdexposure_quicklook row".into()
        ),
        v(
            "visit1_quicklook_coverage",
            "missing visit1_quicklook row".into()
        ),
    ]);
    assert_eq!(found, expected);
    let (_, none) = json_call(app, get("/consdb/table_consistency/lsstcam/20251203")).await;
    assert_eq!(none, json!([]));
    let (status, body) = json_call(app, get("/consdb/table_consistency/LSSTComCam/20251202")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        body,
        json!({ "message": "Invalid instrument", "value": "LSSTComCam", "valid": ["lsstcam", "latiss"] })
    );
    let (status, _, page) = call(app, get("/consdb/table_consistency")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("table consistency"));
}

#[tokio::test]
async fn snap_visits_aggregate_their_exposures_and_follow_changes() {
    let f = fixture().await;
    let app = &f.app;
    let day = 20251203i64;
    let snap =
        |seq: i64, group: Option<&str>, start: &str, end: &str, airmass: f64, region: &str| {
            let mut v = json!({
                "exposure_id": day * 100_000 + seq, "exposure_name": format!("MC_O_{day}_{seq:06}"),
                "controller": "O", "day_obs": day, "seq_num": seq, "band": "r", "exp_time": 15.0,
                "obs_start": start, "obs_end": end, "airmass": airmass, "s_region": region,
            });
            if let Some(g) = group {
                v["group_id"] = json!(g);
            }
            (day * 100_000 + seq, v)
        };
    let p1 = "Polygon ICRS 10 10 11 10 11 11";
    let p2 = "Polygon ICRS 10.5 10 11.5 10 11.5 11";
    bulk(
        app,
        "exposure",
        vec![
            snap(
                1,
                Some("g1"),
                "2025-12-04T01:00:00",
                "2025-12-04T01:00:15",
                1.2,
                p1,
            ),
            snap(
                2,
                Some("g1"),
                "2025-12-04T01:00:17",
                "2025-12-04T01:00:32",
                1.4,
                p2,
            ),
            snap(
                3,
                None,
                "2025-12-04T01:01:00",
                "2025-12-04T01:01:15",
                1.5,
                p1,
            ),
        ],
    )
    .await;
    let visits = || async {
        tap_rows(
            app,
            "SELECT visit_id, n_snaps, exp_time, obs_start, obs_end, airmass, s_region FROM cdb_lsstcam.snap_visit ORDER BY visit_id",
        )
        .await
        .1
    };
    let rows = visits().await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    let two = &rows[0];
    assert_eq!(two[0], json!(day * 100_000 + 1), "the first snap's id");
    assert_eq!(two[1], json!(2));
    assert_eq!(two[2].as_f64(), Some(30.0), "summed exposure time");
    assert!(
        same(&json!("2025-12-04T01:00:00"), &two[3]),
        "first start: {}",
        two[3]
    );
    assert!(
        same(&json!("2025-12-04T01:00:32"), &two[4]),
        "last end: {}",
        two[4]
    );
    assert!(
        (two[5].as_f64().unwrap_or(0.0) - 1.3).abs() < 1e-6,
        "mean airmass: {}",
        two[5]
    );
    let union = two[6].as_str().unwrap_or_default();
    assert!(
        union.starts_with("Union ICRS (") && union.contains(p1) && union.contains(p2),
        "{union}"
    );
    let one = &rows[1];
    assert_eq!(one[0], json!(day * 100_000 + 3));
    assert_eq!(one[1], json!(1));
    assert_eq!(one[6], json!(p1), "a single snap's footprint as it is");
    // A corrected snap changes its visit at once.
    let (status, _) = json_call(
        app,
        post(
            &format!("/consdb/insert/lsstcam/exposure/by_seq_num/{day}/2?u=1"),
            &json!({ "values": { "airmass": 1.6 } }),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let rows = visits().await;
    assert!(
        (rows[0][5].as_f64().unwrap_or(0.0) - 1.4).abs() < 1e-6,
        "{:?}",
        rows[0]
    );
}

#[tokio::test]
async fn an_upsert_cannot_change_a_rows_identity() {
    let f = fixture().await;
    let app = &f.app;
    let (status, body) = json_call(
        app,
        post(
            "/consdb/insert/lsstcam/exposure/by_seq_num/20251201/114",
            &json!({ "values": exposure(114) }),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = json_call(
        app,
        post(
            "/consdb/insert/lsstcam/visit1_quicklook/by_seq_num/20251201/114",
            &json!({ "values": { "visit_id": 2025120100114i64, "psf_sigma_median": 1.5 } }),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Found by (day_obs, seq_num), the row may not be given another exposure or visit id.
    for (table, column, other) in [
        ("exposure", "exposure_id", "airmass"),
        ("visit1_quicklook", "visit_id", "psf_sigma_median"),
    ] {
        let (status, body) = json_call(
            app,
            post(
                &format!("/consdb/insert/lsstcam/{table}/by_seq_num/20251201/114?u=1"),
                &json!({ "values": { column: 7, other: 1.9 } }),
            ),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{table}: {body}");
        let detail = &body["detail"][0];
        assert_eq!(detail["loc"], json!(["body", "values", column]), "{body}");
        assert!(
            detail["msg"]
                .as_str()
                .is_some_and(|m| m.contains(column) && m.contains("2025120100114")),
            "{body}"
        );
    }
    let (_, rows) = tap_rows(
        app,
        "SELECT e.exposure_id, e.airmass, q.visit_id, q.psf_sigma_median \
         FROM cdb_lsstcam.exposure AS e JOIN cdb_lsstcam.visit1_quicklook AS q \
         ON q.day_obs = e.day_obs AND q.seq_num = e.seq_num WHERE e.seq_num = 114",
    )
    .await;
    assert_eq!(
        rows,
        vec![vec![
            json!(2025120100114i64),
            json!(1.2),
            json!(2025120100114i64),
            json!(1.5)
        ]],
        "nothing was written"
    );

    // Restating the same id is no change, and the rest of the update lands.
    let (status, body) = json_call(
        app,
        post(
            "/consdb/insert/lsstcam/exposure/by_seq_num/20251201/114?u=1",
            &json!({ "values": { "exposure_id": 2025120100114i64, "airmass": 1.7 } }),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, rows) = tap_rows(
        app,
        "SELECT airmass FROM cdb_lsstcam.exposure WHERE seq_num = 114",
    )
    .await;
    assert_eq!(rows, vec![vec![json!(1.7)]]);

    // A new row may not be given another observation's id, nor one with no observation
    // behind it (exposure 115 was never made).
    for (seq, input) in [(114, 7), (115, 2025120100115i64)] {
        let (status, body) = json_call(
            app,
            post(
                &format!("/consdb/insert/lsstcam/visit1_quicklook/by_seq_num/20251201/{seq}?u=1"),
                &json!({ "values": { "visit_id": input, "psf_sigma_median": 2.5 } }),
            ),
        )
        .await;
        if seq == 114 {
            // 114's row exists: the update path refuses it as above.
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
            continue;
        }
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{seq}: {body}");
        assert_eq!(
            body["detail"][0]["loc"],
            json!(["body", "values", "visit_id"]),
            "{body}"
        );
    }
    let (status, body) = json_call(
        app,
        post(
            "/consdb/insert/lsstcam/exposure/by_seq_num/20251201/116",
            &json!({ "values": exposure(116) }),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = json_call(
        app,
        post(
            "/consdb/insert/lsstcam/visit1_quicklook/by_seq_num/20251201/116?u=1",
            &json!({ "values": { "visit_id": 7, "psf_sigma_median": 2.5 } }),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["detail"][0]["msg"]
            .as_str()
            .is_some_and(|m| m.contains("2025120100116")),
        "{body}"
    );
    let (_, rows) = tap_rows(
        app,
        "SELECT COUNT(*) FROM cdb_lsstcam.visit1_quicklook WHERE seq_num IN (115, 116)",
    )
    .await;
    assert_eq!(
        rows,
        vec![vec![json!(0)]],
        "no row pointing elsewhere was made"
    );
}

#[tokio::test]
async fn an_identity_header_from_a_client_is_not_believed() {
    let f = fixture().await;
    let app = &f.app;
    let (status, body) = json_call(
        app,
        post(
            "/consdb/insert/lsstcam/exposure/by_seq_num/20251201/21",
            &json!({ "values": exposure(21) }),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // The same header sent by a client that is not the configured proxy, or whose address is
    // unknown: the caller is anonymous, and anonymous callers may not write.
    for (n, peer) in [Some([192, 0, 2, 7]), None].into_iter().enumerate() {
        let mut request =
            Request::post("/consdb/insert/lsstcam/exposure/by_seq_num/20251201/21?u=1")
                .header("content-type", "application/json")
                .header("x-auth-request-user", "rubin-admin")
                .body(Body::from(
                    json!({ "values": { "airmass": 1.3 + n as f64 / 10.0 } }).to_string(),
                ))
                .expect("request");
        if let Some(ip) = peer {
            request
                .extensions_mut()
                .insert(ConnectInfo(std::net::SocketAddr::from((ip, 40000))));
        }
        let (status, body) = json_call(app, request).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        assert!(
            body["detail"]
                .as_str()
                .is_some_and(|d| d.contains("write:consdb")),
            "{body}"
        );
    }
    let (_, rows) = tap_rows(
        app,
        "SELECT recorded_by FROM cdb_lsstcam.exposure_history WHERE exposure_id = 2025120100021 ORDER BY version",
    )
    .await;
    assert_eq!(
        rows,
        vec![vec![json!("tester")]],
        "only the proxy's word counts, and nobody else wrote"
    );
}

#[tokio::test]
async fn impossible_observation_numbers_are_the_clients_mistake() {
    let f = fixture().await;
    let app = &f.app;
    for (uri, body) in [
        (
            "/consdb/insert/lsstcam/exposure/by_seq_num/20251201/-1",
            json!({ "values": { "airmass": 1.2 } }),
        ),
        (
            "/consdb/insert/lsstcam/exposure/by_seq_num/-20251201/1",
            json!({ "values": { "airmass": 1.2 } }),
        ),
        (
            "/consdb/insert/lsstcam/ccdexposure/by_seq_num/20251201/1/-3",
            json!({ "values": { "exposure_id": 2025120100001i64 } }),
        ),
        (
            "/consdb/insert/lsstcam/exposure/by_seq_num/20251201/99999999999999999999",
            json!({ "values": { "airmass": 1.2 } }),
        ),
    ] {
        let (status, answer) = json_call(app, post(uri, &body)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{uri}: {answer}");
        // The mistake is named where it is: the path parameter.
        assert_eq!(answer["detail"][0]["loc"][0], "path", "{uri}: {answer}");
        assert!(!answer.to_string().contains("SQL"), "{uri}: {answer}");
    }
    let (status, answer) = json_call(app, get("/consdb/query/lsstcam/exposure/obs/-5")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!(answer["detail"][0]["loc"], json!(["path", "obs_id"]));
}
