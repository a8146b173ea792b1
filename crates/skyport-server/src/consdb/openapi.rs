//! `GET /consdb/openapi.json`: an OpenAPI 3.1 description of the ConsDB REST API.

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::state::AppState;

fn param(name: &str, location: &str, schema: Value, description: &str) -> Value {
    json!({
        "name": name, "in": location, "required": location == "path",
        "schema": schema, "description": description,
    })
}

fn path(name: &str) -> Value {
    let schema = match name {
        "instrument" | "table" => json!({ "type": "string" }),
        "obs_type" => {
            json!({ "type": "string", "enum": ["exposure", "visit1", "ccdexposure", "ccdvisit1"] })
        }
        _ => json!({ "type": "integer", "format": "int64" }),
    };
    param(name, "path", schema, "")
}

fn upsert() -> Value {
    param(
        "u",
        "query",
        json!({ "type": "integer", "default": 0 }),
        "0: insert only (an existing key is an error); 1: update the named columns of an existing row",
    )
}

fn as_of() -> Value {
    param(
        "as_of",
        "query",
        json!({ "type": "string", "format": "date-time" }),
        "Read the state as it was at this time (UTC); default: now",
    )
}

fn op(summary: &str, params: Vec<Value>, body: Option<Value>) -> Value {
    let mut o = json!({
        "summary": summary,
        "parameters": params,
        "responses": {
            "200": { "description": "Success", "content": { "application/json": {} } },
            "404": { "description": "Invalid instrument, table, observation type, key, value or column: {message, value, valid}" },
            "422": { "description": "Malformed request: {detail: [{type, loc, msg, input}]}" },
            "500": { "description": "Database error, e.g. an existing key with u=0: {message}" },
        },
    });
    if let Some(schema) = body {
        o["requestBody"] = json!({
            "required": true,
            "content": { "application/json": { "schema": schema } },
        });
    }
    o
}

fn values_body() -> Value {
    json!({
        "type": "object", "required": ["values"],
        "properties": { "values": { "type": "object", "additionalProperties": {
            "type": ["boolean", "integer", "number", "string", "null"] } } },
    })
}

/// The handler.
pub async fn document(State(state): State<Arc<AppState>>) -> Response {
    let by_seq = vec![
        path("instrument"),
        path("table"),
        path("day_obs"),
        path("seq_num"),
        upsert(),
    ];
    let mut by_seq_detector = by_seq.clone();
    by_seq_detector.insert(4, path("detector"));
    Json(json!({
        "openapi": "3.1.0",
        "info": {
            "title": "skyport ConsDB",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The Consolidated Database REST API, wire-compatible with Rubin Observatory's pqserver. Every request is one transaction; every write is kept in history (as_of).",
        },
        "servers": [{ "url": format!("{}/consdb", state.settings.public_url) }],
        "paths": {
            "/": { "get": op("Service description: instruments, observation types, flex dtypes", vec![], None) },
            "/flex/{instrument}/{obs_type}/addkey": { "post": op(
                "Declare a flexible-metadata key",
                vec![path("instrument"), path("obs_type")],
                Some(json!({ "type": "object", "required": ["key", "dtype"], "properties": {
                    "key": { "type": "string" },
                    "dtype": { "type": "string", "enum": ["bool", "int", "float", "str"] },
                    "doc": { "type": "string" },
                    "unit": { "type": "string", "description": "a VOUnit" },
                    "ucd": { "type": "string", "description": "a UCD1+" } } })),
            ) },
            "/flex/{instrument}/{obs_type}/schema": { "get": op(
                "Declared flexible-metadata keys: {key: [dtype, doc, unit, ucd]}",
                vec![path("instrument"), path("obs_type")], None) },
            "/flex/{instrument}/{obs_type}/obs/{obs_id}": {
                "get": op("Flexible metadata of an observation",
                    vec![path("instrument"), path("obs_type"), path("obs_id"),
                         param("k", "query", json!({ "type": "array", "items": { "type": "string" } }), "keys to return (repeatable)"),
                         as_of()], None),
                "post": op("Set flexible metadata of an observation (all values in one transaction)",
                    vec![path("instrument"), path("obs_type"), path("obs_id"), upsert()], Some(values_body())),
            },
            "/insert/{instrument}/{table}/by_seq_num/{day_obs}/{seq_num}": { "post": op(
                "Insert or update one row by day_obs and seq_num", by_seq, Some(values_body())) },
            "/insert/{instrument}/{table}/by_seq_num/{day_obs}/{seq_num}/{detector}": { "post": op(
                "Insert or update one detector row by day_obs, seq_num and detector", by_seq_detector, Some(values_body())) },
            "/insert/{instrument}/{table}/obs/{obs_id}": { "post": op(
                "Insert or update one row by its natural id",
                vec![path("instrument"), path("table"), path("obs_id"), upsert()], Some(values_body())) },
            "/insert/{instrument}/{table}": { "post": op(
                "Insert or update many rows by natural id, all or nothing (timestamps are TAI, ISO 8601)",
                vec![path("instrument"), path("table"), upsert()],
                Some(json!({ "type": "object", "required": ["obs_dict"], "properties": {
                    "obs_dict": { "type": "object", "additionalProperties": { "type": "object" } } } }))) },
            "/query/{instrument}/{obs_type}/obs/{obs_id}": { "get": op(
                "One observation with its quicklook/camera rows (and flexible metadata with flex=1)",
                vec![path("instrument"), path("obs_type"), path("obs_id"),
                     param("flex", "query", json!({ "type": "boolean", "default": false }), "include flexible metadata"),
                     as_of()], None) },
            "/query": { "post": op(
                "Run a read-only ADQL query: {columns, data[, truncated]}",
                vec![param("commit", "query", json!({ "type": "integer", "default": 1 }), "accepted for compatibility; queries never write")],
                Some(json!({ "type": "object", "required": ["query"], "properties": { "query": { "type": "string" } } }))) },
            "/schema": { "get": op("Instruments", vec![], None) },
            "/schema/{instrument}": { "get": op("Tables of an instrument", vec![path("instrument")], None) },
            "/schema/{instrument}/{table}": { "get": op(
                "Columns of a table: {column: [type, description]}", vec![path("instrument"), path("table")], None) },
        },
    }))
    .into_response()
}
