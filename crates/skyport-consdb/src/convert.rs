//! JSON values of REST bodies to stored values, checked against the column's Felis type: an
//! integer column takes integral numbers (or their text), a float column any number, a boolean
//! column true/false, a text column a string (within its length), a timestamp column ISO 8601
//! text (ConsDB's timestamps are TAI, written as astropy's `isot` form).

use serde_json::Value as Json;
use skyport_schema::{Column, Datatype};
use skyport_store::Value;

/// The canonical stored form of timestamps: ISO 8601 without zone, microseconds at most.
pub const TIMESTAMP_FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.f";

pub use skyport_schema::time::parse_iso;

/// An "as of" time (ISO 8601, UTC) in the form history times are compared with: six fraction
/// digits, so that on SQLite, where the times are text, equal instants compare equal.
pub fn as_of(text: &str) -> Option<String> {
    parse_iso(text).map(|d| d.format("%Y-%m-%dT%H:%M:%S%.6f").to_string())
}

/// ISO 8601 text (see [`parse_iso`]) in the canonical stored form.
pub fn timestamp(text: &str) -> Option<String> {
    parse_iso(text).map(|d| d.format(TIMESTAMP_FORMAT).to_string())
}

fn describe(json: &Json) -> String {
    let kind = match json {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "a list",
        Json::Object(_) => "an object",
    };
    format!("{kind} ({json})")
}

/// The stored value of `json` for `column`, or why it does not fit.
pub fn to_value(column: &Column, json: &Json) -> Result<Value, String> {
    let wrong = || {
        format!(
            "column {} takes {}, not {}",
            column.name,
            expectation(column),
            describe(json)
        )
    };
    if json.is_null() {
        return if column.nullable {
            Ok(Value::Null)
        } else {
            Err(format!("column {} may not be null", column.name))
        };
    }
    Ok(match column.datatype {
        Datatype::Boolean => match json {
            Json::Bool(b) => Value::Bool(*b),
            Json::Number(n) if n.as_i64() == Some(0) || n.as_i64() == Some(1) => {
                Value::Bool(n.as_i64() == Some(1))
            }
            _ => return Err(wrong()),
        },
        Datatype::Byte | Datatype::Short | Datatype::Int | Datatype::Long => {
            let i = match json {
                Json::Number(n) => n.as_i64().or_else(|| {
                    n.as_f64()
                        .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                        .map(|f| f as i64)
                }),
                Json::String(s) => s.trim().parse::<i64>().ok(),
                _ => None,
            }
            .ok_or_else(wrong)?;
            let fits = match column.datatype {
                Datatype::Byte => i8::try_from(i).is_ok() || u8::try_from(i).is_ok(),
                Datatype::Short => i16::try_from(i).is_ok(),
                Datatype::Int => i32::try_from(i).is_ok(),
                _ => true,
            };
            if !fits {
                return Err(format!(
                    "column {}: {i} is out of range for {}",
                    column.name,
                    expectation(column)
                ));
            }
            Value::Int(i)
        }
        Datatype::Float | Datatype::Double => match json {
            // A REAL column holds what a 32-bit float can: beyond, PostgreSQL refuses the
            // write and SQLite keeps a number skyport could only answer back as null.
            Json::Number(n) if column.datatype == Datatype::Float => {
                match n.as_f64().filter(|f| (*f as f32).is_finite()) {
                    Some(f) => Value::Float(f),
                    None => {
                        return Err(format!(
                            "column {}: {n} is out of range for {}",
                            column.name,
                            expectation(column)
                        ))
                    }
                }
            }
            Json::Number(n) => Value::Float(n.as_f64().ok_or_else(wrong)?),
            // Text is read as Rust reads numbers, which takes every spelling of NaN and of
            // infinity. NaN is stored as NULL (so only in a nullable column); an infinity is
            // refused, as skyport could only answer it back as null.
            Json::String(s) => match s.trim().parse::<f64>() {
                Ok(f) if f.is_nan() => {
                    if !column.nullable {
                        return Err(format!(
                            "column {} may not be null, and NaN is stored as null",
                            column.name
                        ));
                    }
                    Value::Null
                }
                Ok(f) if f.is_infinite() => return Err(wrong()),
                Ok(f) if column.datatype == Datatype::Float && (f as f32).is_infinite() => {
                    return Err(format!(
                        "column {}: {f} is out of range for {}",
                        column.name,
                        expectation(column)
                    ))
                }
                Ok(f) => Value::Float(f),
                _ => return Err(wrong()),
            },
            _ => return Err(wrong()),
        },
        Datatype::Timestamp => match json {
            Json::String(s) => Value::Text(timestamp(s).ok_or_else(wrong)?),
            _ => return Err(wrong()),
        },
        Datatype::Char | Datatype::String | Datatype::Unicode | Datatype::Text => match json {
            Json::String(s) => {
                if let Some(n) = column.length {
                    if s.chars().count() > n as usize {
                        return Err(format!(
                            "column {} holds at most {n} characters, got {}",
                            column.name,
                            s.chars().count()
                        ));
                    }
                }
                Value::Text(s.clone())
            }
            _ => return Err(wrong()),
        },
        Datatype::Binary => {
            return Err(format!(
                "column {} is binary and cannot be written over REST",
                column.name
            ))
        }
    })
}

fn expectation(column: &Column) -> &'static str {
    match column.datatype {
        Datatype::Boolean => "a boolean",
        Datatype::Byte => "an 8-bit integer",
        Datatype::Short => "a 16-bit integer",
        Datatype::Int => "a 32-bit integer",
        Datatype::Long => "a 64-bit integer",
        Datatype::Float => "a 32-bit float",
        Datatype::Double => "a number",
        Datatype::Timestamp => "an ISO 8601 timestamp",
        Datatype::Binary => "binary data",
        _ => "a string",
    }
}

/// The JSON of a stored value read back for `column` (SQLite returns booleans as integers).
pub fn to_json(column: Option<&Column>, value: &Value) -> Json {
    match (value, column.map(|c| c.datatype)) {
        (Value::Null, _) => Json::Null,
        (Value::Int(i), Some(Datatype::Boolean)) => Json::Bool(*i != 0),
        (Value::Bool(b), _) => Json::Bool(*b),
        (Value::Int(i), _) => Json::from(*i),
        (Value::Float(f), Some(Datatype::Float)) => single_precision(*f),
        (Value::Float(f), _) => serde_json::Number::from_f64(*f).map_or(Json::Null, Json::Number),
        (Value::Text(s), _) => Json::String(s.clone()),
    }
}

/// A single-precision (REAL) value as the shortest decimal that reads back as the same 32-bit
/// float: PostgreSQL hands REALs over widened (1.2 → 1.2000000476837158), SQLite keeps the
/// double that was written; both answer 1.2.
pub fn single_precision(f: f64) -> Json {
    let narrow = f as f32;
    narrow
        .to_string()
        .parse::<f64>()
        .ok()
        .and_then(serde_json::Number::from_f64)
        .map_or(Json::Null, Json::Number)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn column(datatype: &str, nullable: bool) -> Column {
        let yaml = format!(
            "name: s\ntables:\n- name: t\n  columns:\n  - {{name: c, datatype: {datatype}, length: 4, nullable: {nullable}}}\n"
        );
        let schema = skyport_schema::Schema::from_yaml(&yaml, "t").expect("schema");
        schema.tables[0].columns[0].clone()
    }

    #[test]
    fn values_are_checked_against_their_column() {
        assert_eq!(to_value(&column("int", true), &json!(5)), Ok(Value::Int(5)));
        assert_eq!(
            to_value(&column("int", true), &json!(5.0)),
            Ok(Value::Int(5))
        );
        assert!(to_value(&column("int", true), &json!(5.5)).is_err());
        assert!(to_value(&column("int", true), &json!(3_000_000_000i64)).is_err());
        assert_eq!(
            to_value(&column("long", true), &json!(3_000_000_000i64)),
            Ok(Value::Int(3_000_000_000))
        );
        assert_eq!(
            to_value(&column("double", true), &json!(2)),
            Ok(Value::Float(2.0))
        );
        assert!(to_value(&column("double", false), &json!(null)).is_err());
        assert_eq!(
            to_value(&column("double", true), &json!(null)),
            Ok(Value::Null)
        );
        assert!(to_value(&column("char", true), &json!("abcde")).is_err());
        assert_eq!(
            to_value(&column("boolean", true), &json!(true)),
            Ok(Value::Bool(true))
        );
        assert_eq!(
            to_value(
                &column("timestamp", true),
                &json!("2024-08-01T03:04:05.25Z")
            ),
            Ok(Value::Text("2024-08-01T03:04:05.250".into()))
        );
        assert!(to_value(&column("timestamp", true), &json!("yesterday")).is_err());
    }
}
