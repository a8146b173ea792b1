//! The body of a bulk insert (`POST /consdb/insert/{instrument}/{table}`), read without
//! expanding it: `obs_dict` is split into its rows as JSON text (a few words each), refused
//! past [`Limits::consdb_bulk_max_rows`](crate::limits::Limits) before any row is parsed, and
//! each row is parsed only when its batch is written. A 100 MB body used to become some 3 GB
//! of JSON values, rows and statements held at once.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;

use serde::de::{DeserializeSeed, Error as _, MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{json, Map, Value};
use skyport_consdb::{BulkBatch, ConsDbError};

use super::{check_scalars, ApiError};

/// Rows parsed and written together.
pub(super) const BATCH_ROWS: usize = 1000;

/// Most validation errors one answer lists (a body may hold a million bad rows).
const MAX_REPORTED: usize = 100;

/// Inputs echoed in an error only up to this size, so that a refusal does not expand a large
/// body into JSON values either.
const MAX_ECHO_BYTES: usize = 64 * 1024;

/// `obs_dict`'s rows: the id as sent and the row as JSON text, in the order sent, a repeated
/// id keeping its first place and its last row (as a JSON object's reader does).
pub(super) struct RawRows<'a> {
    rows: Vec<(String, &'a RawValue)>,
}

/// Reads the body down to `obs_dict`'s rows, refusing more than `max_rows` of them.
pub(super) fn rows(body: &[u8], max_rows: usize) -> Result<RawRows<'_>, ApiError> {
    #[derive(serde::Deserialize)]
    struct Body<'a> {
        #[serde(borrow)]
        obs_dict: Option<&'a RawValue>,
    }
    let parsed: Body<'_> = match serde_json::from_slice(body) {
        Ok(b) => b,
        Err(_) => return Err(body_error(body)),
    };
    let Some(obs_dict) = parsed.obs_dict else {
        return Err(ApiError::one(
            "missing",
            &["body", "obs_dict"],
            "Field required",
            echo(body),
        ));
    };
    let too_many = std::cell::Cell::new(false);
    let seed = RowsSeed {
        max_rows,
        too_many: &too_many,
    };
    let mut reader = serde_json::Deserializer::from_str(obs_dict.get());
    match seed.deserialize(&mut reader) {
        Ok(rows) => Ok(RawRows { rows }),
        Err(_) if too_many.get() => Err(ApiError::one(
            "too_long",
            &["body", "obs_dict"],
            format!(
                "A bulk insert takes at most {max_rows} rows; send the rest in another request"
            ),
            json!(null),
        )),
        Err(_) => Err(ApiError::one(
            "dict_type",
            &["body", "obs_dict"],
            "Input should be a valid dictionary",
            echo(obs_dict.get().as_bytes()),
        )),
    }
}

impl<'a> RawRows<'a> {
    /// Checks every id and that every row is an object, listing what is wrong (the first
    /// [`MAX_REPORTED`] mistakes); the ids.
    pub(super) fn check(&self) -> Result<Vec<i64>, ApiError> {
        let mut ids = Vec::with_capacity(self.rows.len());
        let mut errors = Vec::new();
        for (key, row) in &self.rows {
            if errors.len() >= MAX_REPORTED {
                break;
            }
            match key.trim().parse::<i64>() {
                Ok(id) => ids.push(id),
                Err(_) => errors.push((
                    "int_parsing".to_string(),
                    vec![json!("body"), json!("obs_dict"), json!(key), json!("[key]")],
                    "Input should be a valid integer, unable to parse string as an integer"
                        .to_string(),
                    Value::from(key.as_str()),
                )),
            }
            if !row.get().trim_start().starts_with('{') {
                errors.push((
                    "dict_type".into(),
                    vec![json!("body"), json!("obs_dict"), json!(key)],
                    "Input should be a valid dictionary".into(),
                    echo(row.get().as_bytes()),
                ));
            }
        }
        if errors.is_empty() {
            Ok(ids)
        } else {
            Err(ApiError::Validation(errors))
        }
    }

    /// The rows in batches of [`BATCH_ROWS`], each parsed when it is asked for, with the ids
    /// [`check`](Self::check) gave. A row that is not an object of scalars stops the batches:
    /// its error is left in `refused`.
    pub(super) fn batches<'s>(
        &'s self,
        ids: &'s [i64],
        refused: &'s Mutex<Option<ApiError>>,
    ) -> impl Iterator<Item = Result<BulkBatch, ConsDbError>> + Send + 's {
        self.rows
            .chunks(BATCH_ROWS)
            .zip(ids.chunks(BATCH_ROWS))
            .map(move |(rows, ids)| {
                rows.iter()
                    .zip(ids)
                    .map(|((key, raw), id)| {
                        let parsed = serde_json::from_str::<Map<String, Value>>(raw.get())
                            .map_err(|_| {
                                ApiError::one(
                                    "dict_type",
                                    &["body", "obs_dict", key],
                                    "Input should be a valid dictionary",
                                    echo(raw.get().as_bytes()),
                                )
                            })
                            .and_then(|row| {
                                check_scalars(&row, &["body", "obs_dict", key]).map(|()| row)
                            });
                        match parsed {
                            Ok(row) => Ok((*id, row)),
                            Err(e) => {
                                if let Ok(mut slot) = refused.lock() {
                                    *slot = Some(e);
                                }
                                Err(ConsDbError::invalid(&["body", "obs_dict", key], "refused"))
                            }
                        }
                    })
                    .collect()
            })
    }
}

/// The error for a body that is not a JSON object.
fn body_error(body: &[u8]) -> ApiError {
    match serde_json::from_slice::<serde::de::IgnoredAny>(body) {
        Err(e) => ApiError::one(
            "json_invalid",
            &["body"],
            format!("JSON decode error: {e}"),
            json!({}),
        ),
        Ok(_) => ApiError::one(
            "model_attributes_type",
            &["body"],
            "Input should be a valid dictionary or object to extract fields from",
            echo(body),
        ),
    }
}

/// A refused input as an error shows it: itself when small, else null.
fn echo(bytes: &[u8]) -> Value {
    if bytes.len() > MAX_ECHO_BYTES {
        return Value::Null;
    }
    serde_json::from_slice(bytes).unwrap_or(Value::Null)
}

/// Reads a JSON object into (key, row text) pairs, at most `max_rows` distinct keys.
struct RowsSeed<'c> {
    max_rows: usize,
    too_many: &'c std::cell::Cell<bool>,
}

impl<'de> DeserializeSeed<'de> for RowsSeed<'_> {
    type Value = Vec<(String, &'de RawValue)>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for RowsSeed<'_> {
    type Value = Vec<(String, &'de RawValue)>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object of rows")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut rows: Vec<(String, &'de RawValue)> = Vec::new();
        let mut places: HashMap<String, usize> = HashMap::new();
        while let Some(key) = map.next_key::<String>()? {
            let row: &'de RawValue = map.next_value()?;
            if let Some(kept) = places.get(&key).and_then(|&at| rows.get_mut(at)) {
                kept.1 = row;
                continue;
            }
            if rows.len() >= self.max_rows {
                self.too_many.set(true);
                return Err(A::Error::custom("too many rows"));
            }
            places.insert(key.clone(), rows.len());
            rows.push((key, row));
        }
        Ok(rows)
    }
}
