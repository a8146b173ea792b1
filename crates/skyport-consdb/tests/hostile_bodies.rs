//! REST bodies found by fuzzing (`fuzz/found/consdb_json/`): what is accepted is stored as
//! something that reads back as itself, and what cannot be is refused with a message.

use serde_json::{Map, Value as Json};
use skyport_consdb::convert::{to_json, to_value};
use skyport_consdb::flex::{python_type, stored_text, typed};
use skyport_schema::Column;
use skyport_store::Value;

fn found(name: &str) -> Map<String, Json> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fuzz/found/consdb_json/");
    let text = std::fs::read(format!("{path}{name}")).unwrap_or_else(|e| panic!("{name}: {e}"));
    match serde_json::from_slice::<Json>(&text) {
        Ok(Json::Object(mut body)) => match body.remove("values") {
            Some(Json::Object(values)) => values,
            other => panic!("{name}: values is {other:?}"),
        },
        other => panic!("{name}: {other:?}"),
    }
}

fn column(datatype: &str, nullable: bool) -> Column {
    let yaml = format!(
        "name: s\ntables:\n- name: t\n  columns:\n  - {{name: c, datatype: {datatype}, nullable: {nullable}}}\n"
    );
    let schema = skyport_schema::Schema::from_yaml(&yaml, "t").expect("schema");
    schema.tables[0].columns[0].clone()
}

/// The value `json` is stored as, checked to read back as itself.
fn stored(column: &Column, json: &Json) -> Result<Value, String> {
    let value = to_value(column, json)?;
    let answered = to_json(Some(column), &value);
    let again = to_value(column, &answered)
        .unwrap_or_else(|e| panic!("{json} stored as {value:?}, answered {answered}: {e}"));
    assert_eq!(
        to_json(Some(column), &again),
        answered,
        "{json} stored as {value:?}"
    );
    Ok(value)
}

#[test]
fn nan_text_is_null_only_where_null_is_allowed() {
    for name in ["nan-text-non-nullable", "signed-nan-text"] {
        for json in found(name).values() {
            for datatype in ["float", "double"] {
                let e = stored(&column(datatype, false), json).expect_err("not null");
                assert!(e.contains("may not be null"), "{name}: {e}");
                assert_eq!(stored(&column(datatype, true), json), Ok(Value::Null));
            }
        }
    }
}

#[test]
fn infinite_text_is_refused() {
    for json in found("infinite-text").values() {
        for datatype in ["float", "double"] {
            for nullable in [true, false] {
                let e = stored(&column(datatype, nullable), json).expect_err("infinite");
                assert!(e.contains("takes a"), "{e}");
            }
        }
    }
}

#[test]
fn reals_beyond_single_precision_are_refused_by_float_columns_only() {
    for json in found("beyond-single-precision").values() {
        let e = stored(&column("float", true), json).expect_err("out of range");
        assert!(e.contains("out of range for a 32-bit float"), "{e}");
        assert!(matches!(
            stored(&column("double", false), json),
            Ok(Value::Float(_))
        ));
    }
}

#[test]
fn flexible_integers_read_back_as_integers() {
    for value in found("flex-int-beyond-i64").values() {
        let dtype = python_type(value);
        assert_eq!(dtype, "int");
        assert_eq!(&typed(dtype, &stored_text(value)), value);
    }
}
