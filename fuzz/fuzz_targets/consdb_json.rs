//! Fuzz target: arbitrary bytes as the JSON body of a ConsDB REST request (skyport's
//! pqserver-compatible API), read the way the handlers in skyport-server's `consdb` module read
//! them and turned into typed values by skyport-consdb:
//! * `insert`/`upsert` bodies, `{"values": {column: value, …}}`, and bulk ones,
//!   `{"obs_dict": {"<obs id>": {column: value, …}, …}}`: every value through
//!   `convert::to_value` for a column of every Felis datatype, nullable or not, with a length
//!   or not (the handlers refuse lists and objects first, as here);
//! * flexible-metadata bodies, `{"values": {key: value, …}}`: the value's Python type
//!   (`flex::python_type`, checked against the key's declared type), the text it is stored as
//!   (`flex::stored_text`), and the value read back from that text (`flex::typed`);
//! * add-key bodies, `{"key", "dtype", "doc", "unit", "ucd"}`: `vocabulary::check_unit` and
//!   `check_ucd`;
//! * query bodies, `{"query": "…"}`: the ADQL parser (the `adql_parse` target fuzzes it
//!   further).
//!
//! Properties, beyond "no panic":
//! * a converted value is of the column's kind: integers within the column's range, text within
//!   its length, timestamps in their canonical form (converting them again changes nothing),
//!   NULL only for a nullable column or a float column given `"NaN"`;
//! * what is stored reads back as what was written: a converted value, given back as the JSON
//!   skyport answers with (`convert::to_json`), converts to the same value (float columns,
//!   which answer at single precision, to the same JSON again); a flexible-metadata value
//!   stored as text reads back, typed by its declared type, as the value sent;
//! * a unit that is accepted converts to itself with the factor 1;
//! * the heap all of it takes at its peak is bounded by the body's size (`CEILING`).
//!
//! Run: `scripts/fuzz consdb_json SECONDS`.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value as Json};
use skyport_consdb::convert::{timestamp, to_json, to_value};
use skyport_consdb::flex::{python_type, stored_text, typed, DTYPES};
use skyport_consdb::vocabulary::{check_ucd, check_unit};
use skyport_fuzz::{show, within_ceiling, Ceiling};
use skyport_schema::{Column, Datatype};
use skyport_store::Value;

/// Heap per body byte. serde_json makes one 32-byte `Value` of as little as two bytes of JSON
/// (`0,`), 64 more per object entry (its key, the index map's slot); vectors and maps double
/// as they grow, and the handlers copy the `values` object once. The conversions that follow
/// are value by value and give their memory back. 256 bytes per byte is about four times the
/// worst of those.
const CEILING: Ceiling = Ceiling {
    per_byte: 256,
    slack: 1 << 20,
};

/// One column of every datatype, nullable and not, with a length of 4 and without.
fn columns() -> &'static [Column] {
    static COLUMNS: OnceLock<Vec<Column>> = OnceLock::new();
    COLUMNS.get_or_init(|| {
        let mut out = Vec::new();
        for datatype in [
            "boolean",
            "byte",
            "short",
            "int",
            "long",
            "float",
            "double",
            "char",
            "string",
            "unicode",
            "text",
            "binary",
            "timestamp",
        ] {
            for nullable in [true, false] {
                for length in [None, Some(4)] {
                    let mut c = serde_json::json!({
                        "name": format!("c_{datatype}"),
                        "datatype": datatype,
                        "nullable": nullable,
                    });
                    if let Some(n) = length {
                        c["length"] = Json::from(n);
                    }
                    match serde_json::from_value::<Column>(c) {
                        Ok(c) => out.push(c),
                        Err(e) => panic!("column {datatype}: {e}"),
                    }
                }
            }
        }
        out
    })
}

fn check_value(column: &Column, json: &Json) {
    let Ok(value) = to_value(column, json) else {
        return;
    };
    let what = || {
        format!(
            "{} ({:?}) from {json}: {value:?}",
            column.name, column.datatype
        )
    };
    match (&value, column.datatype) {
        (Value::Null, Datatype::Float | Datatype::Double) => {
            assert!(column.nullable || !json.is_null(), "{}", what())
        }
        (Value::Null, _) => assert!(column.nullable && json.is_null(), "{}", what()),
        (Value::Bool(_), Datatype::Boolean) => {}
        (Value::Int(i), Datatype::Byte) => assert!((-128..=255).contains(i), "{}", what()),
        (Value::Int(i), Datatype::Short) => assert!(i16::try_from(*i).is_ok(), "{}", what()),
        (Value::Int(i), Datatype::Int) => assert!(i32::try_from(*i).is_ok(), "{}", what()),
        (Value::Int(_), Datatype::Long) => {}
        (Value::Float(_), Datatype::Float | Datatype::Double) => {}
        (Value::Text(t), Datatype::Timestamp) => {
            assert_eq!(timestamp(t).as_deref(), Some(t.as_str()), "{}", what())
        }
        (
            Value::Text(t),
            Datatype::Char | Datatype::String | Datatype::Unicode | Datatype::Text,
        ) => {
            if let Some(n) = column.length {
                assert!(t.chars().count() <= n as usize, "{}", what());
            }
        }
        _ => panic!("a value of the wrong kind: {}", what()),
    }
    // What is stored reads back as what was written.
    let answered = to_json(Some(column), &value);
    match to_value(column, &answered) {
        Ok(again) if column.datatype == Datatype::Float => {
            let twice = to_json(Some(column), &again);
            assert_eq!(twice, answered, "{}: answered {answered}", what());
        }
        Ok(again) => assert_eq!(again, value, "{}: answered {answered}", what()),
        Err(e) => panic!("{}: answered {answered}, which is refused: {e}", what()),
    }
}

fn check_flex(value: &Json) {
    let dtype = python_type(value);
    if !DTYPES.contains(&dtype) {
        return; // refused: a key's dtype is one of DTYPES
    }
    let text = stored_text(value);
    let back = typed(dtype, &text);
    assert_eq!(
        &back, value,
        "flexible value {value} ({dtype}) stored as {text:?} reads back as {back}"
    );
}

/// The scalar values of a `values`-like object, as the handlers let them through.
fn scalars(m: &Map<String, Json>) -> Option<&Map<String, Json>> {
    m.values()
        .all(|v| !v.is_array() && !v.is_object())
        .then_some(m)
}

fn run(data: &[u8]) {
    // `body_object`: the body must be a JSON object.
    let Ok(Json::Object(body)) = serde_json::from_slice::<Json>(data) else {
        return;
    };
    // `object_field` copies the object out of the body.
    if let Some(Json::Object(values)) = body.get("values").cloned() {
        if let Some(values) = scalars(&values) {
            for v in values.values() {
                for c in columns() {
                    check_value(c, v);
                }
                check_flex(v);
            }
        }
    }
    if let Some(Json::Object(obs)) = body.get("obs_dict").cloned() {
        for (key, row) in &obs {
            let _ = key.trim().parse::<i64>();
            if let Some(row) = row.as_object().and_then(scalars) {
                for v in row.values() {
                    for c in columns() {
                        check_value(c, v);
                    }
                }
            }
        }
    }
    if let Some(unit) = body.get("unit").and_then(Json::as_str) {
        if check_unit(unit).is_ok() {
            if let Ok(f) = skyport_schema::units::conversion_factor(unit, unit) {
                assert!(
                    (f - 1.0).abs() < 1e-12,
                    "{unit:?} converts to itself by {f}"
                );
            }
        }
    }
    if let Some(ucd) = body.get("ucd").and_then(Json::as_str) {
        let _ = check_ucd(ucd);
    }
    if let Some(q) = body.get("query").and_then(Json::as_str) {
        let parsed = skyport_adql::parse(q);
        if show() {
            eprintln!("query: {:?}", parsed.map(|t| t.to_string()));
        }
    }
}

fuzz_target!(|data: &[u8]| {
    // The columns and the UCD vocabulary are built once, before anything is measured.
    columns();
    let _ = check_ucd("meta.id");
    within_ceiling(
        "consdb_json",
        data.len(),
        CEILING,
        || run(data),
        |_| String::new(),
    );
});
