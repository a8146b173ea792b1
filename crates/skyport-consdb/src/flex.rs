//! Flexible metadata: per-observation key/value pairs whose keys are declared first (with a
//! type, description, unit and UCD) in `<obs_type>_flexdata_schema`. Values are stored as text
//! (pqserver's format, so both servers can share a database) and typed again on reading. Unlike
//! pqserver, the values of one request are written in one transaction.

use std::collections::HashMap;

use serde_json::{Map, Value as Json};
use skyport_schema::Schema;
use skyport_store::ddl::table_name;
use skyport_store::{Statement, Value};

use crate::catalog::Catalog;
use crate::error::ConsDbError;
use crate::service::ConsDb;
use crate::write::{self, OnConflict, RowSet};

/// The value types of flexible metadata, named as pqserver (Python) names them.
pub const DTYPES: [&str; 4] = ["bool", "int", "float", "str"];

/// A flexible-metadata key's declaration.
#[derive(Debug, Clone, PartialEq)]
pub struct FlexKey {
    /// The key.
    pub key: String,
    /// `bool`, `int`, `float` or `str`.
    pub dtype: String,
    /// Description.
    pub doc: String,
    /// VOUnit, if any.
    pub unit: Option<String>,
    /// UCD1+, if any.
    pub ucd: Option<String>,
}

/// The Python type name of a JSON value (what pqserver compares a key's dtype with).
pub fn python_type(value: &Json) -> &'static str {
    match value {
        Json::Bool(_) => "bool",
        Json::Number(n) if n.is_i64() || n.is_u64() => "int",
        Json::Number(_) => "float",
        Json::String(_) => "str",
        Json::Null => "NoneType",
        Json::Array(_) => "list",
        Json::Object(_) => "dict",
    }
}

/// The stored text of a value (Python's `str()`).
pub fn stored_text(value: &Json) -> String {
    match value {
        Json::Bool(true) => "True".into(),
        Json::Bool(false) => "False".into(),
        Json::Number(n) if n.is_i64() || n.is_u64() => n.to_string(),
        Json::Number(n) => python_float(n.as_f64().unwrap_or(f64::NAN)),
        Json::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The typed value of stored text, by dtype (`bool` is true for `true`, `t` and `1` in any
/// case); text that does not parse reads as a string rather than failing the whole answer.
pub fn typed(dtype: &str, text: &str) -> Json {
    match dtype {
        "bool" => Json::Bool(matches!(
            text.to_ascii_lowercase().as_str(),
            "true" | "t" | "1"
        )),
        // Above i64::MAX, a JSON integer is still an `int` (`python_type`) and is stored as
        // its digits; it reads back as the same unsigned integer, not as text.
        "int" => text
            .trim()
            .parse::<i64>()
            .map(Json::from)
            .or_else(|_| text.trim().parse::<u64>().map(Json::from))
            .unwrap_or_else(|_| Json::String(text.into())),
        "float" => text
            .trim()
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(Json::Number)
            .unwrap_or_else(|| Json::String(text.into())),
        _ => Json::String(text.into()),
    }
}

/// Python's `str()` of a float (`0.1`, `4.0`, `1e+20`, `1e-05`).
pub fn python_float(f: f64) -> String {
    let s = format!("{f:?}");
    match s.split_once('e') {
        Some((mantissa, exponent)) => {
            let (sign, digits) = match exponent.strip_prefix('-') {
                Some(d) => ("-", d),
                None => ("+", exponent),
            };
            format!("{mantissa}e{sign}{digits:0>2}")
        }
        None => s,
    }
}

impl ConsDb {
    fn flex_schema_of<'a>(
        &'a self,
        instrument: &str,
        obs_type: &str,
    ) -> Result<(&'a str, &'a Schema, &'static str), ConsDbError> {
        let (instrument, schema) = self.catalog.instrument(instrument)?;
        let obs_type = Catalog::obs_type(obs_type)?;
        let has = |suffix: &str| schema.table(&format!("{obs_type}{suffix}")).is_some();
        if !(has("_flexdata") && has("_flexdata_schema")) {
            let valid = crate::catalog::FLEX_OBS_TYPES
                .iter()
                .filter(|t| schema.table(&format!("{t}_flexdata")).is_some())
                .map(|t| t.to_string())
                .collect();
            return Err(ConsDbError::bad_value("observation type", obs_type, valid));
        }
        Ok((instrument, schema, obs_type))
    }

    /// Declares a flexible-metadata key. `unit` and `ucd` must already be checked.
    pub async fn add_flex_key(
        &self,
        instrument: &str,
        obs_type: &str,
        key: FlexKey,
        author: &str,
    ) -> Result<(String, &'static str), ConsDbError> {
        let (instrument, schema, obs_type) = self.flex_schema_of(instrument, obs_type)?;
        let set = RowSet {
            columns: ["key", "dtype", "doc", "unit", "ucd"]
                .map(String::from)
                .to_vec(),
            rows: vec![vec![
                Value::Text(key.key),
                Value::Text(key.dtype),
                Value::Text(key.doc),
                Value::opt_text(key.unit),
                Value::opt_text(key.ucd),
            ]],
        };
        let statements = write::statements(
            self.dialect(),
            &schema.name,
            &format!("{obs_type}_flexdata_schema"),
            &set,
            &[],
            OnConflict::Fail,
        );
        self.store.write(author, statements).await?;
        Ok((instrument.to_string(), obs_type))
    }

    /// The declared keys of an observation type, by key.
    pub async fn flex_keys(
        &self,
        instrument: &str,
        obs_type: &str,
    ) -> Result<Vec<FlexKey>, ConsDbError> {
        let (_, schema, obs_type) = self.flex_schema_of(instrument, obs_type)?;
        self.read_flex_keys(schema, obs_type).await
    }

    /// The declared keys' dtypes, by key.
    async fn declared_types(
        &self,
        schema: &Schema,
        obs_type: &str,
    ) -> Result<HashMap<String, String>, ConsDbError> {
        Ok(self
            .read_flex_keys(schema, obs_type)
            .await?
            .into_iter()
            .map(|k| (k.key, k.dtype))
            .collect())
    }

    async fn read_flex_keys(
        &self,
        schema: &Schema,
        obs_type: &str,
    ) -> Result<Vec<FlexKey>, ConsDbError> {
        let sql = format!(
            "SELECT key, dtype, doc, unit, ucd FROM {} ORDER BY key",
            table_name(
                self.dialect(),
                &schema.name,
                &format!("{obs_type}_flexdata_schema")
            )
        );
        let rows = self.store.query(sql, Vec::new()).await?;
        Ok(rows
            .rows
            .into_iter()
            .map(|r| {
                let text = |i: usize| r.get(i).and_then(Value::as_str).map(String::from);
                FlexKey {
                    key: text(0).unwrap_or_default(),
                    dtype: text(1).unwrap_or_default(),
                    doc: text(2).unwrap_or_default(),
                    unit: text(3),
                    ucd: text(4),
                }
            })
            .collect())
    }

    /// The flexible metadata of one observation (all keys, or those in `keys`), as of now or
    /// as of a past time.
    pub async fn flex_values(
        &self,
        instrument: &str,
        obs_type: &str,
        obs_id: i64,
        keys: Option<&[String]>,
        as_of: Option<&str>,
    ) -> Result<Map<String, Json>, ConsDbError> {
        let (_, schema, obs_type) = self.flex_schema_of(instrument, obs_type)?;
        let declared = self.declared_types(schema, obs_type).await?;
        let table = format!("{obs_type}_flexdata");
        let mut params = vec![Value::Int(obs_id)];
        let mut sql = match as_of {
            Some(t) => {
                params.push(Value::Text(t.to_string()));
                format!(
                    "SELECT key, value FROM {} WHERE obs_id = {} AND {}",
                    table_name(
                        self.dialect(),
                        &schema.name,
                        &format!("{table}{}", skyport_schema::history::SUFFIX)
                    ),
                    self.p(1),
                    skyport_schema::history::as_of_condition(&self.p(2))
                )
            }
            None => format!(
                "SELECT key, value FROM {} WHERE obs_id = {}",
                table_name(self.dialect(), &schema.name, &table),
                self.p(1)
            ),
        };
        if let Some(keys) = keys {
            if keys.is_empty() {
                return Ok(Map::new());
            }
            let marks: Vec<String> = keys
                .iter()
                .map(|k| {
                    params.push(Value::Text(k.clone()));
                    self.p(params.len())
                })
                .collect();
            sql.push_str(&format!(" AND key IN ({})", marks.join(", ")));
        }
        sql.push_str(" ORDER BY key");
        let rows = self.store.query(sql, params).await?;
        let mut out = Map::new();
        for r in rows.rows {
            let (Some(key), Some(text)) = (r[0].as_str(), r[1].as_str()) else {
                continue;
            };
            let dtype = declared.get(key).map_or("str", String::as_str);
            out.insert(key.to_string(), typed(dtype, text));
        }
        Ok(out)
    }

    /// Sets flexible metadata of one observation, all values in one transaction. Returns the
    /// instrument and observation type as named canonically.
    pub async fn set_flex_values(
        &self,
        instrument: &str,
        obs_type: &str,
        obs_id: i64,
        values: Map<String, Json>,
        update: bool,
        author: &str,
    ) -> Result<(String, &'static str), ConsDbError> {
        let (instrument, schema, obs_type) = self.flex_schema_of(instrument, obs_type)?;
        let declared = self.declared_types(schema, obs_type).await?;
        for (key, value) in &values {
            let Some(dtype) = declared.get(key) else {
                let mut valid: Vec<String> = declared.keys().cloned().collect();
                valid.sort();
                return Err(ConsDbError::bad_value("key", key.clone(), valid));
            };
            let given = python_type(value);
            if given != dtype {
                return Err(ConsDbError::bad_value(
                    &format!("{dtype} value"),
                    value.clone(),
                    vec![given.to_string()],
                ));
            }
        }
        let (parent_id, per_detector) = match obs_type {
            "ccdexposure" => ("ccdexposure_id", true),
            _ => ("exposure_id", false),
        };
        let found = self
            .parent_keys(schema, obs_type, parent_id, &[obs_id])
            .await?;
        let keys = found
            .get(&obs_id)
            .ok_or_else(|| ConsDbError::bad_value(parent_id, obs_id, Vec::new()))?;
        let mut columns = vec!["obs_id", "day_obs", "seq_num"];
        let mut key_columns = vec!["day_obs", "seq_num"];
        if per_detector {
            columns.push("detector");
            key_columns.push("detector");
        }
        columns.extend(["key", "value"]);
        key_columns.push("key");
        let rows = values
            .iter()
            .map(|(key, value)| {
                let mut row = vec![
                    Value::Int(obs_id),
                    Value::Int(keys.day_obs),
                    Value::Int(keys.seq_num),
                ];
                if per_detector {
                    row.push(Value::opt_int(keys.detector));
                }
                row.push(Value::Text(key.clone()));
                row.push(Value::Text(stored_text(value)));
                row
            })
            .collect::<Vec<_>>();
        if !rows.is_empty() {
            let set = RowSet {
                columns: columns.iter().map(|c| c.to_string()).collect(),
                rows,
            };
            let on_conflict = if update {
                OnConflict::Update
            } else {
                OnConflict::Fail
            };
            let statements: Vec<Statement> = write::statements(
                self.dialect(),
                &schema.name,
                &format!("{obs_type}_flexdata"),
                &set,
                &key_columns,
                on_conflict,
            );
            self.store.write(author, statements).await?;
        }
        Ok((instrument.to_string(), obs_type))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_are_stored_as_python_writes_them() {
        assert_eq!(stored_text(&json!(true)), "True");
        assert_eq!(stored_text(&json!(4)), "4");
        assert_eq!(stored_text(&json!(4.0)), "4.0");
        assert_eq!(stored_text(&json!(0.1)), "0.1");
        assert_eq!(stored_text(&json!(1e20)), "1e+20");
        assert_eq!(stored_text(&json!(1e-5)), "1e-05");
        assert_eq!(python_type(&json!(4.0)), "float");
        assert_eq!(python_type(&json!(4)), "int");
        assert_eq!(typed("bool", "True"), json!(true));
        assert_eq!(typed("bool", "f"), json!(false));
        assert_eq!(typed("float", "1e+20"), json!(1e20));
    }
}
