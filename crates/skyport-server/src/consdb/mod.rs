//! `/consdb`: the consolidated database's REST API, wire-compatible with Rubin's pqserver
//! (paths, parameters `u`, `k`, `flex`, `commit`, bodies `values`/`obs_dict`/`query`, response
//! and error shapes), so ConsDbClient and rubin_nights work unchanged. Handlers only parse and
//! answer; [`skyport_consdb::ConsDb`] does the work. Additions: `as_of` on the reading
//! endpoints, a truncation flag on `/query`, and `/consdb/openapi.json`.

mod bulk;
mod openapi;
mod query;

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Json;
use bytes::Bytes;
use futures_util::StreamExt;
use serde_json::{json, Map, Value};
use skyport_consdb::catalog::{Catalog, OBS_TYPES};
use skyport_consdb::flex::{FlexKey, DTYPES};
use skyport_consdb::{ConsDbError, Inserted, Target};

use crate::caller::RequestCaller;
use crate::routes::Routes;
use crate::state::AppState;

/// The `/consdb` routes.
pub fn routes() -> Routes<Arc<AppState>> {
    Routes::new()
        .route("/consdb", get(index))
        .route("/consdb/", get(index))
        .route("/consdb/openapi.json", get(openapi::document))
        .route("/consdb/flex/{instrument}/{obs_type}/addkey", post(add_key))
        .route(
            "/consdb/flex/{instrument}/{obs_type}/schema",
            get(flex_schema),
        )
        .route(
            "/consdb/flex/{instrument}/{obs_type}/obs/{obs_id}",
            get(flex_get).post(flex_set),
        )
        .route(
            "/consdb/insert/{instrument}/{table}/by_seq_num/{day_obs}/{seq_num}",
            post(insert_by_seq_num),
        )
        .route(
            "/consdb/insert/{instrument}/{table}/by_seq_num/{day_obs}/{seq_num}/{detector}",
            post(insert_by_seq_num_detector),
        )
        .route(
            "/consdb/insert/{instrument}/{table}/obs/{obs_id}",
            post(insert_by_obs_id),
        )
        .route("/consdb/insert/{instrument}/{table}", post(insert_many))
        .route(
            "/consdb/query/{instrument}/{obs_type}/obs/{obs_id}",
            get(observation),
        )
        .route("/consdb/query", post(query::run))
        .route("/consdb/table_consistency", get(consistency_page))
        .route(
            "/consdb/table_consistency/{instrument}/{day_obs}",
            get(table_consistency),
        )
        .route("/consdb/export/{instrument}/{table}", get(export))
        .route("/consdb/schema", get(schema_instruments))
        .route("/consdb/schema/{instrument}", get(schema_tables))
        .route("/consdb/schema/{instrument}/{table}", get(schema_columns))
}

/// An error answered as pqserver answers it.
pub enum ApiError {
    /// A domain error.
    ConsDb(ConsDbError),
    /// FastAPI-style validation errors (422): `(type, location, message, input)`.
    Validation(Vec<(String, Vec<Value>, String, Value)>),
}

impl From<ConsDbError> for ApiError {
    fn from(e: ConsDbError) -> Self {
        ApiError::ConsDb(e)
    }
}

impl ApiError {
    fn one(kind: &str, loc: &[&str], msg: impl Into<String>, input: Value) -> ApiError {
        ApiError::Validation(vec![(
            kind.to_string(),
            loc.iter().map(|s| Value::from(*s)).collect(),
            msg.into(),
            input,
        )])
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, body) = match self {
            ApiError::ConsDb(ConsDbError::BadValue { kind, value, valid }) => {
                let mut body = Map::new();
                body.insert("message".into(), Value::from(format!("Invalid {kind}")));
                body.insert("value".into(), value);
                if !valid.is_empty() {
                    body.insert("valid".into(), Value::from(valid));
                }
                (StatusCode::NOT_FOUND, Value::Object(body))
            }
            ApiError::ConsDb(ConsDbError::NotFound(detail)) => {
                (StatusCode::NOT_FOUND, json!({ "detail": detail }))
            }
            ApiError::ConsDb(ConsDbError::Invalid { location, message }) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                json!({ "detail": [{
                    "type": "value_error",
                    "loc": location,
                    "msg": message,
                }]}),
            ),
            // pqserver answers 500 for both; a conflict is the client's (a key or row that
            // exists already), and neither message may carry the database's internal names.
            ApiError::ConsDb(ConsDbError::Conflict(m)) => {
                tracing::info!("ConsDB write conflict: {m}");
                (
                    StatusCode::CONFLICT,
                    json!({ "message": "a row or key with this identity exists already (to change a row, send u=1)" }),
                )
            }
            ApiError::ConsDb(ConsDbError::Database(m)) => {
                tracing::error!("ConsDB database error: {m}");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    json!({ "message": "the database failed; the error has been logged" }),
                )
            }
            ApiError::Validation(items) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                json!({ "detail": items.into_iter().map(|(kind, loc, msg, input)| json!({
                    "type": kind, "loc": loc, "msg": msg, "input": input,
                })).collect::<Vec<_>>() }),
            ),
        };
        (status, Json(body)).into_response()
    }
}

type ApiResult = Result<Response, ApiError>;

/// Query parameters, repeated ones kept.
fn query_pairs(raw: &Option<String>) -> Vec<(String, String)> {
    raw.as_deref()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default()
}

/// The last value of a query parameter.
fn last_param(raw: &Option<String>, name: &str) -> Option<String> {
    query_pairs(raw)
        .into_iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

fn int_param(raw: &Option<String>, name: &str, default: i64) -> Result<i64, ApiError> {
    match last_param(raw, name) {
        None => Ok(default),
        Some(v) => v.trim().parse::<i64>().map_err(|_| {
            ApiError::one(
                "int_parsing",
                &["query", name],
                "Input should be a valid integer, unable to parse string as an integer",
                Value::from(v),
            )
        }),
    }
}

fn bool_param(raw: &Option<String>, name: &str) -> Result<bool, ApiError> {
    match last_param(raw, name) {
        None => Ok(false),
        Some(v) => match v.trim().to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" | "t" | "y" => Ok(true),
            "0" | "false" | "no" | "off" | "f" | "n" => Ok(false),
            _ => Err(ApiError::one(
                "bool_parsing",
                &["query", name],
                "Input should be a valid boolean, unable to interpret input",
                Value::from(v),
            )),
        },
    }
}

/// `as_of`: an ISO 8601 time (UTC), normalised for comparison with recorded times.
fn as_of_param(raw: &Option<String>) -> Result<Option<String>, ApiError> {
    match last_param(raw, "as_of") {
        None => Ok(None),
        Some(v) => skyport_consdb::convert::as_of(&v).map(Some).ok_or_else(|| {
            ApiError::one(
                "datetime_parsing",
                &["query", "as_of"],
                "as_of must be an ISO 8601 time (UTC), e.g. 2024-08-01T12:00:00",
                Value::from(v),
            )
        }),
    }
}

/// The observation a path names, checked in pqserver's order: the instrument first (its 404
/// wins over everything), then the observation type and the id.
fn observation_path(
    state: &AppState,
    instrument: &str,
    obs_type_name: &str,
    obs_id: &str,
) -> Result<(&'static str, i64), ApiError> {
    state.consdb.catalog().instrument(instrument)?;
    Ok((obs_type(obs_type_name)?, path_count(obs_id, "obs_id")?))
}

/// Whether observation `obs_id` (of `obs_type`) holds an image `caller` may not see.
async fn hidden(
    state: &AppState,
    caller: &skyport_store::Caller,
    instrument: &str,
    obs_type: &str,
    obs_id: i64,
) -> Result<bool, ApiError> {
    state
        .images
        .observation_hidden(caller, instrument, obs_type.starts_with("ccd"), obs_id)
        .await
        .map_err(|e| ConsDbError::from(e).into())
}

/// A path number that names an observation: never negative (FastAPI's `ge=0` error shape).
fn path_count(value: &str, name: &str) -> Result<i64, ApiError> {
    let n = path_int(value, name)?;
    if n < 0 {
        return Err(ApiError::one(
            "greater_than_equal",
            &["path", name],
            "Input should be greater than or equal to 0",
            Value::from(n),
        ));
    }
    Ok(n)
}

fn path_int(value: &str, name: &str) -> Result<i64, ApiError> {
    value.trim().parse::<i64>().map_err(|_| {
        ApiError::one(
            "int_parsing",
            &["path", name],
            "Input should be a valid integer, unable to parse string as an integer",
            Value::from(value),
        )
    })
}

fn obs_type(value: &str) -> Result<&'static str, ApiError> {
    Catalog::obs_type(value).map_err(|_| {
        let expected = "'exposure', 'visit1', 'ccdexposure' or 'ccdvisit1'";
        ApiError::Validation(vec![(
            "enum".into(),
            vec![Value::from("path"), Value::from("obs_type")],
            format!("Input should be {expected}"),
            Value::from(value),
        )])
    })
}

/// The JSON object body, or FastAPI's 422 for malformed JSON or a body that is not an object.
fn body_object(body: &Bytes) -> Result<Map<String, Value>, ApiError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(other) => Err(ApiError::one(
            "model_attributes_type",
            &["body"],
            "Input should be a valid dictionary or object to extract fields from",
            other,
        )),
        Err(e) => Err(ApiError::one(
            "json_invalid",
            &["body"],
            format!("JSON decode error: {e}"),
            json!({}),
        )),
    }
}

/// A required object field of the body (`values`, `obs_dict`).
fn object_field(body: &Map<String, Value>, field: &str) -> Result<Map<String, Value>, ApiError> {
    match body.get(field) {
        Some(Value::Object(m)) => Ok(m.clone()),
        Some(other) => Err(ApiError::one(
            "dict_type",
            &["body", field],
            "Input should be a valid dictionary",
            other.clone(),
        )),
        None => Err(ApiError::one(
            "missing",
            &["body", field],
            "Field required",
            Value::Object(body.clone()),
        )),
    }
}

/// Values must be scalars (pqserver: `bool | int | float | str`); null is allowed here for
/// nullable columns (pqserver cannot write NULL at all).
pub(super) fn check_scalars(values: &Map<String, Value>, loc: &[&str]) -> Result<(), ApiError> {
    let bad: Vec<_> = values
        .iter()
        .filter(|(_, v)| v.is_array() || v.is_object())
        .map(|(k, v)| {
            let mut at: Vec<Value> = loc.iter().map(|s| Value::from(*s)).collect();
            at.push(Value::from(k.as_str()));
            (
                "scalar_type".to_string(),
                at,
                "Input should be a boolean, an integer, a number or a string".to_string(),
                v.clone(),
            )
        })
        .collect();
    if bad.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Validation(bad))
    }
}

fn inserted(message: &str, done: Inserted) -> Response {
    Json(json!({
        "message": message,
        "instrument": done.instrument,
        "obs_id": done.obs_id,
        "table": done.table,
    }))
    .into_response()
}

async fn index(State(state): State<Arc<AppState>>) -> Response {
    Json(json!({
        "name": "skyport",
        "version": env!("CARGO_PKG_VERSION"),
        "description": "A web interface to the Consolidated Database (pqserver-compatible), served by skyport.",
        "repository_url": format!("{}/", state.settings.public_url),
        "documentation_url": format!("{}/consdb/openapi.json", state.settings.public_url),
        "instruments": state.consdb.catalog().instruments(),
        "obs_types": OBS_TYPES,
        "dtypes": DTYPES,
    }))
    .into_response()
}

async fn add_key(
    State(state): State<Arc<AppState>>,
    Path((instrument, obs_type_name)): Path<(String, String)>,
    caller: RequestCaller,
    body: Bytes,
) -> ApiResult {
    state.consdb.catalog().instrument(&instrument)?;
    let obs_type = obs_type(&obs_type_name)?;
    let body = body_object(&body)?;
    let mut errors = Vec::new();
    let text = |field: &str| body.get(field).and_then(Value::as_str).map(String::from);
    let key = text("key");
    if key.is_none() {
        errors.push((
            "missing".to_string(),
            vec![json!("body"), json!("key")],
            "Field required".to_string(),
            Value::Object(body.clone()),
        ));
    }
    let dtype = text("dtype");
    if !dtype.as_deref().is_some_and(|d| DTYPES.contains(&d)) {
        errors.push((
            "enum".into(),
            vec![json!("body"), json!("dtype")],
            "Input should be 'bool', 'int', 'float' or 'str'".into(),
            body.get("dtype").cloned().unwrap_or(Value::Null),
        ));
    }
    let unit = text("unit");
    let ucd = text("ucd");
    type Check = fn(&str) -> Result<(), String>;
    let checks: [(&str, &Option<String>, Check, &str); 2] = [
        (
            "unit",
            &unit,
            skyport_consdb::vocabulary::check_unit,
            "VOUnit",
        ),
        (
            "ucd",
            &ucd,
            skyport_consdb::vocabulary::check_ucd,
            "IVOA UCD",
        ),
    ];
    for (field, value, check, what) in checks {
        if let Some(v) = value {
            if let Err(e) = check(v) {
                errors.push((
                    "value_error".into(),
                    vec![json!("body"), json!(field)],
                    format!("Value error, '{v}' is not a valid {what}: {e}"),
                    Value::from(v.as_str()),
                ));
            }
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let key = key.unwrap_or_default();
    let (instrument, obs_type) = state
        .consdb
        .add_flex_key(
            &instrument,
            obs_type,
            FlexKey {
                key: key.clone(),
                dtype: dtype.unwrap_or_default(),
                doc: text("doc").unwrap_or_default(),
                unit,
                ucd,
            },
            &caller.author(),
        )
        .await?;
    Ok(Json(json!({
        "message": "Key added to flexible metadata",
        "key": key,
        "instrument": instrument,
        "obs_type": obs_type,
    }))
    .into_response())
}

async fn flex_schema(
    State(state): State<Arc<AppState>>,
    Path((instrument, obs_type_name)): Path<(String, String)>,
) -> ApiResult {
    state.consdb.catalog().instrument(&instrument)?;
    let obs_type = obs_type(&obs_type_name)?;
    let keys = state.consdb.flex_keys(&instrument, obs_type).await?;
    let out: Map<String, Value> = keys
        .into_iter()
        .map(|k| (k.key, json!([k.dtype, k.doc, k.unit, k.ucd])))
        .collect();
    Ok(Json(Value::Object(out)).into_response())
}

async fn flex_get(
    State(state): State<Arc<AppState>>,
    RequestCaller(caller): RequestCaller,
    Path((instrument, obs_type_name, obs_id)): Path<(String, String, String)>,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    let (obs_type, obs_id) = observation_path(&state, &instrument, &obs_type_name, &obs_id)?;
    // A hidden observation is read as one that has no values (as an unknown one is).
    let obs_id = if hidden(&state, &caller, &instrument, obs_type, obs_id).await? {
        i64::MIN
    } else {
        obs_id
    };
    let as_of = as_of_param(&raw)?;
    let pairs = query_pairs(&raw);
    let keys: Vec<String> = pairs
        .iter()
        .filter(|(k, _)| k == "k")
        .map(|(_, v)| v.clone())
        .collect();
    let keys = if pairs.iter().any(|(k, _)| k == "k") {
        Some(keys.as_slice())
    } else {
        None
    };
    let values = state
        .consdb
        .flex_values(&instrument, obs_type, obs_id, keys, as_of.as_deref())
        .await?;
    Ok(Json(Value::Object(values)).into_response())
}

async fn flex_set(
    State(state): State<Arc<AppState>>,
    Path((instrument, obs_type_name, obs_id)): Path<(String, String, String)>,
    RawQuery(raw): RawQuery,
    caller: RequestCaller,
    body: Bytes,
) -> ApiResult {
    let (obs_type, obs_id) = observation_path(&state, &instrument, &obs_type_name, &obs_id)?;
    let update = int_param(&raw, "u", 0)? != 0;
    let values = object_field(&body_object(&body)?, "values")?;
    check_scalars(&values, &["body", "values"])?;
    let done = state
        .consdb
        .set_flex_values(
            &instrument,
            obs_type,
            obs_id,
            values,
            update,
            &caller.author(),
        )
        .await?;
    let (instrument, obs_type) = done;
    Ok(Json(json!({
        "message": "Flexible metadata inserted",
        "instrument": instrument,
        "obs_type": obs_type,
        "obs_id": obs_id,
    }))
    .into_response())
}

async fn insert_one(
    state: &AppState,
    instrument: &str,
    table: &str,
    target: Target,
    raw: &Option<String>,
    caller: &RequestCaller,
    body: &Bytes,
) -> ApiResult {
    let update = int_param(raw, "u", 0)? != 0;
    let values = object_field(&body_object(body)?, "values")?;
    check_scalars(&values, &["body", "values"])?;
    let done = state
        .consdb
        .insert(instrument, table, target, values, update, &caller.author())
        .await?;
    Ok(inserted("Data inserted", done))
}

async fn insert_by_seq_num(
    State(state): State<Arc<AppState>>,
    Path((instrument, table, day_obs, seq_num)): Path<(String, String, String, String)>,
    RawQuery(raw): RawQuery,
    caller: RequestCaller,
    body: Bytes,
) -> ApiResult {
    state.consdb.catalog().instrument(&instrument)?;
    let target = Target::BySeqNum {
        day_obs: path_count(&day_obs, "day_obs")?,
        seq_num: path_count(&seq_num, "seq_num")?,
        detector: None,
    };
    insert_one(&state, &instrument, &table, target, &raw, &caller, &body).await
}

async fn insert_by_seq_num_detector(
    State(state): State<Arc<AppState>>,
    Path((instrument, table, day_obs, seq_num, detector)): Path<(
        String,
        String,
        String,
        String,
        String,
    )>,
    RawQuery(raw): RawQuery,
    caller: RequestCaller,
    body: Bytes,
) -> ApiResult {
    state.consdb.catalog().instrument(&instrument)?;
    let target = Target::BySeqNum {
        day_obs: path_count(&day_obs, "day_obs")?,
        seq_num: path_count(&seq_num, "seq_num")?,
        detector: Some(path_count(&detector, "detector")?),
    };
    insert_one(&state, &instrument, &table, target, &raw, &caller, &body).await
}

async fn insert_by_obs_id(
    State(state): State<Arc<AppState>>,
    Path((instrument, table, obs_id)): Path<(String, String, String)>,
    RawQuery(raw): RawQuery,
    caller: RequestCaller,
    body: Bytes,
) -> ApiResult {
    state.consdb.catalog().instrument(&instrument)?;
    let target = Target::ObsId(path_count(&obs_id, "obs_id")?);
    insert_one(&state, &instrument, &table, target, &raw, &caller, &body).await
}

async fn insert_many(
    State(state): State<Arc<AppState>>,
    Path((instrument, table)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
    caller: RequestCaller,
    body: Bytes,
) -> ApiResult {
    state.consdb.catalog().instrument(&instrument)?;
    let update = int_param(&raw, "u", 0)? != 0;
    let rows = bulk::rows(&body, state.settings.limits.consdb_bulk_max_rows)?;
    let ids = rows.check()?;
    let refused = std::sync::Mutex::new(None);
    let done = state
        .consdb
        .insert_many(
            &instrument,
            &table,
            rows.batches(&ids, &refused),
            update,
            &caller.author(),
        )
        .await;
    if let Some(e) = refused.lock().ok().and_then(|mut slot| slot.take()) {
        return Err(e);
    }
    let done = done?;
    Ok(inserted("Data inserted", done))
}

async fn observation(
    State(state): State<Arc<AppState>>,
    RequestCaller(caller): RequestCaller,
    Path((instrument, obs_type_name, obs_id)): Path<(String, String, String)>,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    let (obs_type, obs_id) = observation_path(&state, &instrument, &obs_type_name, &obs_id)?;
    let flex = bool_param(&raw, "flex")?;
    let as_of = as_of_param(&raw)?;
    if hidden(&state, &caller, &instrument, obs_type, obs_id).await? {
        // Exactly the answer for an observation that does not exist.
        return Err(ConsDbError::NotFound(format!("Observation {obs_id} not found.")).into());
    }
    let row = state
        .consdb
        .observation(&instrument, obs_type, obs_id, flex, as_of.as_deref())
        .await?;
    Ok(Json(Value::Object(row)).into_response())
}

async fn schema_instruments(State(state): State<Arc<AppState>>) -> Response {
    Json(state.consdb.catalog().instruments()).into_response()
}

async fn schema_tables(
    State(state): State<Arc<AppState>>,
    Path(instrument): Path<String>,
) -> ApiResult {
    Ok(Json(state.consdb.tables(&instrument)?).into_response())
}

async fn schema_columns(
    State(state): State<Arc<AppState>>,
    Path((instrument, table)): Path<(String, String)>,
) -> ApiResult {
    let columns = state.consdb.columns(&instrument, &table)?;
    let out: Map<String, Value> = columns
        .into_iter()
        .map(|(name, ty, doc)| (name, json!([ty, doc])))
        .collect();
    Ok(Json(Value::Object(out)).into_response())
}

async fn table_consistency(
    State(state): State<Arc<AppState>>,
    Path((instrument, day_obs)): Path<(String, String)>,
) -> ApiResult {
    if !skyport_consdb::consistency::CHECKED_INSTRUMENTS
        .contains(&instrument.to_ascii_lowercase().as_str())
    {
        return Err(ConsDbError::bad_value(
            "instrument",
            instrument.as_str(),
            skyport_consdb::consistency::CHECKED_INSTRUMENTS
                .map(String::from)
                .to_vec(),
        )
        .into());
    }
    let day_obs = path_int(&day_obs, "day_obs")?;
    let found = state.consdb.table_consistency(&instrument, day_obs).await?;
    Ok(Json(found).into_response())
}

/// A page to run the consistency checks from a browser.
async fn consistency_page() -> axum::response::Html<&'static str> {
    axum::response::Html(CONSISTENCY_PAGE)
}

const CONSISTENCY_PAGE: &str = r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>ConsDB table consistency</title>
<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3em .6em}</style>
</head><body>
<h1>ConsDB table consistency</h1>
<form id="f"><label>Instrument <select name="instrument"><option>lsstcam</option><option>latiss</option></select></label>
<label>day_obs <input name="day_obs" pattern="[0-9]{8}" required placeholder="YYYYMMDD"></label>
<button>Check</button></form>
<p id="status"></p><table id="out"></table>
<script>
const f = document.getElementById('f');
const params = new URLSearchParams(location.search);
for (const k of ['instrument', 'day_obs']) if (params.get(k)) f.elements[k].value = params.get(k);
async function run(e) {
  if (e) e.preventDefault();
  const i = f.elements.instrument.value, d = f.elements.day_obs.value;
  if (!d) return;
  history.replaceState(null, '', '?instrument=' + i + '&day_obs=' + d);
  const r = await fetch(location.pathname.replace(/\/$/, '') + '/' + i + '/' + d);
  const rows = await r.json();
  const out = document.getElementById('out');
  document.getElementById('status').textContent = r.ok ? rows.length + ' inconsistencies' : JSON.stringify(rows);
  out.innerHTML = '';
  if (!r.ok || !rows.length) return;
  out.insertAdjacentHTML('beforeend', '<tr><th>rule</th><th>day_obs</th><th>seq_num</th><th>detail</th></tr>');
  for (const v of rows) {
    const tr = document.createElement('tr');
    for (const k of ['rule', 'day_obs', 'seq_num', 'detail']) { const td = document.createElement('td'); td.textContent = v[k]; tr.appendChild(td); }
    out.appendChild(tr);
  }
}
f.addEventListener('submit', run); run();
</script></body></html>"#;

/// `GET /consdb/export/{instrument}/{table}?where=&as_of=&columns=&ids=&format=`: a table or
/// view for pipelines (Parquet by default; csv, tsv, json, votable too), streamed; with
/// `ids=1` a campaign list of the natural ids of the rows that qualify.
async fn export(
    State(state): State<Arc<AppState>>,
    RequestCaller(caller): RequestCaller,
    Path((instrument, table)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    state.consdb.catalog().instrument(&instrument)?;
    let param = |name: &str| last_param(&raw, name);
    let spec = skyport_consdb::export::ExportSpec {
        instrument: instrument.clone(),
        table: table.clone(),
        condition: param("where"),
        as_of: as_of_param(&raw)?,
        columns: skyport_consdb::export::column_list(param("columns").as_deref()),
        ids_only: bool_param(&raw, "ids")?,
    };
    let query = state.consdb.export_query(&spec)?;
    let format = crate::dali::format::output_format(
        "format",
        Some(param("format").as_deref().unwrap_or("parquet")),
    )
    .map_err(|e| {
        ApiError::one(
            "value_error",
            &["query", "format"],
            e.message(),
            Value::Null,
        )
    })?;
    let extension = format.format.extension();
    let request = crate::tap::request::TapRequest {
        query,
        maxrec: state.settings.limits.maxrec_hard,
        format,
        uploads: Vec::new(),
        run_id: None,
    };
    let output = state
        .tap
        .execute(
            &caller,
            &request,
            &std::collections::HashMap::new(),
            Some(std::time::Duration::from_secs(
                state.settings.limits.execution_seconds_hard,
            )),
        )
        .await
        .map_err(|e| ConsDbError::invalid(&["query", "where"], e.message()))?;
    let file = format!(
        "{}_{}.{extension}",
        instrument.to_ascii_lowercase(),
        table.to_ascii_lowercase().replace('.', "_")
    );
    Ok((
        [
            (
                axum::http::header::CONTENT_TYPE,
                output.content_type.clone(),
            ),
            (
                axum::http::header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{file}\""),
            ),
        ],
        axum::body::Body::from_stream(output.body.map(Ok::<_, std::convert::Infallible>)),
    )
        .into_response())
}
