//! REST bodies found by fuzzing (`fuzz/found/consdb_json/`): what is accepted is stored as
//! something that reads back as itself, and what cannot be is refused with a message.

use serde_json::{Map, Value as Json};
use skyport_consdb::convert::{to_json, to_value};
use skyport_consdb::flex::{python_type, stored_text, typed};
use skyport_consdb::vocabulary::check_unit;
use skyport_schema::Column;
use skyport_store::Value;

fn body(name: &str) -> Map<String, Json> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fuzz/found/consdb_json/");
    let text = std::fs::read(format!("{path}{name}")).unwrap_or_else(|e| panic!("{name}: {e}"));
    match serde_json::from_slice::<Json>(&text) {
        Ok(Json::Object(body)) => body,
        other => panic!("{name}: {other:?}"),
    }
}

/// The `values` object of a found body.
fn found(name: &str) -> Map<String, Json> {
    match body(name).remove("values") {
        Some(Json::Object(values)) => values,
        other => panic!("{name}: values is {other:?}"),
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

#[test]
fn units_that_are_no_positive_multiple_of_their_si_unit_are_refused() {
    for name in ["zero-scale-unit", "zero-scale-unit.fuzzer"] {
        let unit = body(name)["unit"].as_str().map(str::to_string);
        let unit = unit.unwrap_or_else(|| panic!("{name}: no unit"));
        let e = check_unit(&unit).expect_err("refused");
        assert!(e.contains("positive finite multiple"), "{name}: {e}");
    }
    for unit in ["10**-400 m", "1e400 m", "km**200"] {
        assert!(check_unit(unit).is_err(), "{unit}");
    }
    assert!(check_unit("10**-3 W.m**-2").is_ok());
}
