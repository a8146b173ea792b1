//! The observers' logs, wire-compatible with Rubin's `exposurelog` (messages about one
//! exposure) and `narrativelog` (the night's narrative) services: the same message fields, the
//! same add / edit / delete / find semantics, kept in `exposurelog.message` and
//! `narrativelog.message`, which TAP serves and joins with ConsDB (`obs_id` is ConsDB's
//! `exposure_name`).
//!
//! Nothing is ever overwritten: an edit writes a new message whose `parent_id` is the old one
//! and marks the old one invalid (`date_invalidated`), and a delete only marks it invalid. Dates
//! are TAI without a zone, as Rubin's services keep them.

mod fields;
mod find;

use std::sync::Arc;

use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::{Map, Value as Json};
use skyport_store::{ddl, Statement, Store, StoreError, Value};

pub use fields::{Field, Type, EXPOSURE, EXPOSURE_FLAGS, NARRATIVE};

/// Columns of `exposurelog.message` beyond the message fields: which ConsDB exposure the
/// message is about, for joins and for data rights (a message about an exposure holding an
/// image the caller may not see is hidden like the exposure).
pub const EXPOSURE_EXTRA: [&str; 2] = ["exposure_id", "consdb_instrument"];

/// The alias queries give the log's table: the access layer's condition is made for it
/// (`Rights::row_filter` with qualifier `m.`).
pub const ALIAS: &str = "m";

/// `AND (visible)` for a query, when the access layer gave a condition.
fn and(visible: Option<&str>) -> String {
    visible.map(|v| format!(" AND ({v})")).unwrap_or_default()
}

/// Which log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `exposurelog`: messages about one exposure each.
    Exposure,
    /// `narrativelog`: the night's narrative.
    Narrative,
}

impl Kind {
    /// The schema (and URL prefix) name.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Exposure => "exposurelog",
            Kind::Narrative => "narrativelog",
        }
    }

    /// The message fields.
    pub fn fields(self) -> &'static [Field] {
        match self {
            Kind::Exposure => EXPOSURE,
            Kind::Narrative => NARRATIVE,
        }
    }
}

/// Why a log request failed, as Rubin's services answer it.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// 400: a value the service refuses (bad tags, a time zone suffix, a bad `order_by`).
    #[error("{0}")]
    BadRequest(String),
    /// 404: no such message, or no such exposure.
    #[error("{0}")]
    NotFound(String),
    /// 422: the body or a parameter does not have the expected shape.
    #[error("{loc:?}: {msg}")]
    Invalid {
        /// Where: `["body", "level"]`, `["query", "limit"]`.
        loc: Vec<String>,
        /// What is wrong.
        msg: String,
    },
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn invalid(place: &str, field: &str, msg: impl Into<String>) -> LogError {
    LogError::Invalid {
        loc: vec![place.to_string(), field.to_string()],
        msg: msg.into(),
    }
}

/// One of the two logs over the archive's store.
pub struct ObsLog {
    store: Arc<dyn Store>,
    kind: Kind,
    site_id: String,
    instruments: Vec<String>,
}

/// The most characters a text without a declared length (a message, a JSON list) may hold.
pub const MAX_TEXT: usize = 16_384;

/// The time now, TAI (UTC + 37 s since 2017), as Rubin's services record it.
pub fn tai_now() -> NaiveDateTime {
    (Utc::now() + chrono::Duration::seconds(37)).naive_utc()
}

/// A date as Rubin's services write it: no zone, microseconds only when not zero.
pub fn format_time(t: NaiveDateTime) -> String {
    if t.and_utc().timestamp_subsec_micros() == 0 {
        t.format("%Y-%m-%dT%H:%M:%S").to_string()
    } else {
        t.format("%Y-%m-%dT%H:%M:%S%.6f").to_string()
    }
}

/// How dates are stored: one fixed form, so text comparison (SQLite) orders them.
fn stored_time(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6f").to_string()
}

fn parse_time(text: &str) -> Option<NaiveDateTime> {
    skyport_schema::time::parse_iso(text)
}

/// Tags as Rubin's services accept them: an ASCII letter, then at least one letter, digit or
/// `_`; kept lower-cased.
pub fn normalize_tags(tags: &[String]) -> Result<Vec<String>, LogError> {
    let good = |t: &str| {
        let mut chars = t.chars();
        t.len() >= 2
            && chars.next().is_some_and(|c| c.is_ascii_alphabetic())
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    let mut bad: Vec<&str> = tags
        .iter()
        .map(String::as_str)
        .filter(|t| !good(t))
        .collect();
    if !bad.is_empty() {
        bad.sort_unstable();
        return Err(LogError::BadRequest(format!("Invalid tags: {bad:?}")));
    }
    Ok(tags.iter().map(|t| t.to_ascii_lowercase()).collect())
}

impl ObsLog {
    /// The `kind` log over `store`; messages are written as from `site_id`; `instruments` are
    /// the archive's ConsDB instruments, where exposure-log messages find their exposures.
    pub fn new(
        store: Arc<dyn Store>,
        kind: Kind,
        site_id: &str,
        instruments: Vec<String>,
    ) -> ObsLog {
        ObsLog {
            store,
            kind,
            site_id: site_id.chars().take(16).collect(),
            instruments,
        }
    }

    /// The site id messages are written with.
    pub fn site_id(&self) -> &str {
        &self.site_id
    }

    /// The declared length of text column `name` (a VARCHAR on PostgreSQL).
    fn length_of(&self, name: &str) -> Option<usize> {
        static LENGTHS: std::sync::OnceLock<Vec<(String, String, usize)>> =
            std::sync::OnceLock::new();
        LENGTHS
            .get_or_init(|| {
                skyport_schema::builtin_schemas()
                    .iter()
                    .flat_map(|s| {
                        s.tables
                            .iter()
                            .filter(|t| t.name == "message")
                            .flat_map(|t| t.columns.iter())
                            .filter_map(|c| {
                                Some((s.name.clone(), c.name.clone(), c.length? as usize))
                            })
                            .collect::<Vec<_>>()
                    })
                    .collect()
            })
            .iter()
            .find(|(schema, column, _)| schema == self.kind.name() && column == name)
            .map(|(_, _, n)| *n)
    }

    /// Which log.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The columns of the log's table (the access layer's row filter is made over them).
    pub fn columns(&self) -> Vec<&'static str> {
        let mut out: Vec<&'static str> = self.stored_fields().map(|f| f.name).collect();
        if self.kind == Kind::Exposure {
            out.extend(EXPOSURE_EXTRA);
        }
        out
    }

    fn table(&self) -> String {
        ddl::table_name(self.store.dialect(), self.kind.name(), "message")
    }

    fn p(&self, n: usize) -> String {
        ddl::placeholder(self.store.dialect(), n)
    }

    fn stored_fields(&self) -> impl Iterator<Item = &'static Field> {
        self.kind.fields().iter().filter(|f| f.ty != Type::Valid)
    }

    /// `GET …/messages/{id}`. `visible` is the access layer's condition on the table (a
    /// message the caller may not see is one that does not exist).
    pub async fn get(&self, id: &str, visible: Option<&str>) -> Result<Json, LogError> {
        self.read(id, visible)
            .await?
            .ok_or_else(|| LogError::NotFound(format!("No message found with id={id}")))
    }

    async fn read(&self, id: &str, visible: Option<&str>) -> Result<Option<Json>, LogError> {
        let sql = format!(
            "SELECT {} FROM {} AS m WHERE id = {}{}",
            find::select_list(self),
            self.table(),
            self.p(1),
            and(visible)
        );
        let rows = self.store.query(sql, vec![Value::Text(id.into())]).await?;
        Ok(rows.rows.first().map(|r| self.to_json(r)))
    }

    /// A stored row (in [`stored_fields`](Self::stored_fields) order) as the message JSON.
    fn to_json(&self, row: &[Value]) -> Json {
        let mut out = Map::new();
        let mut values = row.iter();
        let mut invalidated = false;
        let mut pending_valid = None;
        for field in self.kind.fields() {
            if field.ty == Type::Valid {
                pending_valid = Some(out.len());
                out.insert(field.name.into(), Json::Null);
                continue;
            }
            let v = values.next().cloned().unwrap_or(Value::Null);
            if field.name == "date_invalidated" {
                invalidated = v != Value::Null;
            }
            out.insert(field.name.into(), to_json_value(field.ty, v));
        }
        if pending_valid.is_some() {
            out.insert("is_valid".into(), Json::Bool(!invalidated));
        }
        Json::Object(out)
    }

    /// `POST …/messages`: checks `body`, fills what the service sets, writes the message and
    /// returns it. An exposure-log message must be about an exposure the caller may see
    /// (`visible`, as for [`get`](Self::get)).
    pub async fn add(
        &self,
        body: &Map<String, Json>,
        visible: Option<&str>,
    ) -> Result<Json, LogError> {
        let mut values: Vec<(&'static str, Value)> = Vec::new();
        let now = tai_now();
        for field in self.stored_fields() {
            let given = body.get(field.name).filter(|v| !v.is_null());
            let value = match (field.name, given) {
                ("id", _) => Value::Text(uuid::Uuid::new_v4().to_string()),
                ("site_id", _) => Value::Text(self.site_id.clone()),
                ("date_added", _) => Value::Text(stored_time(now)),
                ("date_invalidated" | "parent_id" | "day_obs" | "seq_num", _) => Value::Null,
                (_, None) if field.required => {
                    return Err(invalid("body", field.name, "field required"));
                }
                (_, None) => default_of(self.kind, field),
                (_, Some(v)) => self.convert(field, v, true)?,
            };
            values.push((field.name, value));
        }
        if self.kind == Kind::Exposure {
            if body.get("is_new").is_none_or(|v| !v.is_boolean()) {
                return Err(invalid(
                    "body",
                    "is_new",
                    "field required (a boolean; ignored)",
                ));
            }
            let text = |name: &str| {
                values
                    .iter()
                    .find(|(n, _)| *n == name)
                    .and_then(|(_, v)| v.as_str())
                    .unwrap_or("")
                    .to_string()
            };
            let exposure = self
                .exposure(&text("obs_id"), &text("instrument"), visible)
                .await?;
            for (name, v) in [("day_obs", exposure.day_obs), ("seq_num", exposure.seq_num)] {
                if let Some(slot) = values.iter_mut().find(|(n, _)| *n == name) {
                    slot.1 = Value::Int(v);
                }
            }
            values.push(("exposure_id", Value::Int(exposure.id)));
            values.push(("consdb_instrument", Value::Text(exposure.instrument)));
        }
        let id = values
            .first()
            .and_then(|(_, v)| v.as_str())
            .unwrap_or_default()
            .to_string();
        let (columns, params): (Vec<&str>, Vec<Value>) = values.into_iter().unzip();
        let sql = ddl::insert(self.store.dialect(), self.kind.name(), "message", &columns);
        self.store
            .write(self.kind.name(), vec![Statement::new(sql, params)])
            .await?;
        self.get(&id, None).await
    }

    /// The exposure `obs_id` of `instrument`, from ConsDB: a message must be about an exposure
    /// the archive knows (Rubin's service asks its Butler registry) and the caller may see.
    async fn exposure(
        &self,
        obs_id: &str,
        instrument: &str,
        visible: Option<&str>,
    ) -> Result<Exposure, LogError> {
        let key: String = instrument
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect::<String>()
            .to_ascii_lowercase();
        let missing = || {
            LogError::NotFound(format!(
                "No exposure found with obs_id={obs_id} and instrument={instrument}"
            ))
        };
        if !self.instruments.contains(&key) {
            return Err(missing());
        }
        let sql = format!(
            "SELECT day_obs, seq_num, exposure_id FROM {} WHERE exposure_name = {}",
            ddl::table_name(self.store.dialect(), &format!("cdb_{key}"), "exposure"),
            self.p(1)
        );
        let rows = self
            .store
            .query(sql, vec![Value::Text(obs_id.into())])
            .await?;
        let row = rows.rows.first().ok_or_else(missing)?;
        let int = |i: usize| row.get(i).and_then(Value::as_i64);
        let (Some(day_obs), Some(seq_num), Some(id)) = (int(0), int(1), int(2)) else {
            return Err(missing());
        };
        if let Some(visible) = visible {
            // The condition over a one-row table holding the message's exposure columns.
            let sql = format!(
                "SELECT 1 FROM (SELECT CAST({} AS BIGINT) AS \"exposure_id\", \
                 CAST({} AS VARCHAR(32)) AS \"consdb_instrument\") AS m WHERE {visible}",
                self.p(1),
                self.p(2)
            );
            let seen = self
                .store
                .query(sql, vec![Value::Int(id), Value::Text(key.clone())])
                .await?;
            if seen.rows.is_empty() {
                return Err(missing());
            }
        }
        Ok(Exposure {
            day_obs,
            seq_num,
            id,
            instrument: key,
        })
    }

    /// `PATCH …/messages/{id}`: a new message, the old one's fields with `body`'s non-null
    /// editable ones instead, whose parent is the old one; the old one is marked invalid in the
    /// same transaction. Returns the new message.
    pub async fn edit(
        &self,
        id: &str,
        body: &Map<String, Json>,
        visible: Option<&str>,
    ) -> Result<Json, LogError> {
        let extra = if self.kind == Kind::Exposure {
            format!(", {}", EXPOSURE_EXTRA.map(ddl::quote_ident).join(", "))
        } else {
            String::new()
        };
        let sql = format!(
            "SELECT {}{extra} FROM {} AS m WHERE id = {}{}",
            find::select_list(self),
            self.table(),
            self.p(1),
            and(visible)
        );
        let rows = self.store.query(sql, vec![Value::Text(id.into())]).await?;
        let parent = rows
            .rows
            .first()
            .ok_or_else(|| LogError::NotFound(format!("Message with id={id} not found")))?;
        let now = stored_time(tai_now());
        let new_id = uuid::Uuid::new_v4().to_string();
        let mut columns = Vec::new();
        let mut params = Vec::new();
        for (field, old) in self.stored_fields().zip(parent.iter()) {
            let value = match field.name {
                "id" => Value::Text(new_id.clone()),
                "site_id" => Value::Text(self.site_id.clone()),
                "date_added" => Value::Text(now.clone()),
                "date_invalidated" => Value::Null,
                "parent_id" => Value::Text(id.to_string()),
                _ => match body.get(field.name).filter(|v| !v.is_null()) {
                    Some(v) if field.editable => self.convert(field, v, false)?,
                    _ => stored_again(field.ty, old.clone()),
                },
            };
            columns.push(field.name);
            params.push(value);
        }
        if self.kind == Kind::Exposure {
            let stored = self.stored_fields().count();
            for (n, name) in EXPOSURE_EXTRA.iter().enumerate() {
                columns.push(name);
                params.push(parent.get(stored + n).cloned().unwrap_or(Value::Null));
            }
        }
        let insert = ddl::insert(self.store.dialect(), self.kind.name(), "message", &columns);
        let invalidate = format!(
            "UPDATE {} SET date_invalidated = {} WHERE id = {}",
            self.table(),
            self.p(1),
            self.p(2)
        );
        self.store
            .write(
                self.kind.name(),
                vec![
                    Statement::new(insert, params),
                    Statement::new(invalidate, vec![Value::Text(now), Value::Text(id.into())]),
                ],
            )
            .await?;
        self.get(&new_id, None).await
    }

    /// `DELETE …/messages/{id}`: marks the message invalid (once: a second delete keeps the
    /// first date).
    pub async fn delete(&self, id: &str, visible: Option<&str>) -> Result<(), LogError> {
        if self.read(id, visible).await?.is_none() {
            return Err(LogError::NotFound(format!("No message found with id={id}")));
        }
        let sql = format!(
            "UPDATE {t} SET date_invalidated = {p1} WHERE id = {p2} AND date_invalidated IS NULL",
            t = self.table(),
            p1 = self.p(1),
            p2 = self.p(2)
        );
        self.store
            .write(
                self.kind.name(),
                vec![Statement::new(
                    sql,
                    vec![Value::Text(stored_time(tai_now())), Value::Text(id.into())],
                )],
            )
            .await?;
        Ok(())
    }

    /// A body value for `field`, checked. `adding`: a date with a zone suffix is refused, as
    /// narrativelog refuses it when adding.
    fn convert(&self, field: &Field, v: &Json, adding: bool) -> Result<Value, LogError> {
        let wrong = |what: &str| invalid("body", field.name, what.to_string());
        match field.ty {
            Type::Text => {
                let s = v.as_str().ok_or_else(|| wrong("str type expected"))?;
                if field.name == "exposure_flag" && !EXPOSURE_FLAGS.contains(&s) {
                    return Err(wrong("value is not a valid enumeration member; permitted: 'none', 'junk', 'questionable'"));
                }
                let limit = self.length_of(field.name).unwrap_or(MAX_TEXT);
                if s.chars().count() > limit {
                    return Err(wrong(&format!(
                        "ensure this value has at most {limit} characters"
                    )));
                }
                Ok(Value::Text(s.to_string()))
            }
            Type::Int => v
                .as_i64()
                .filter(|i| i32::try_from(*i).is_ok())
                .map(Value::Int)
                .ok_or_else(|| wrong("value is not a valid integer")),
            Type::Bool => v
                .as_bool()
                .map(Value::Bool)
                .ok_or_else(|| wrong("value is not a valid boolean")),
            Type::List => {
                let items: Vec<String> = v
                    .as_array()
                    .and_then(|a| a.iter().map(|i| i.as_str().map(str::to_string)).collect())
                    .ok_or_else(|| wrong("value is not a valid list of strings"))?;
                let items = if field.name == "tags" {
                    normalize_tags(&items)?
                } else {
                    items
                };
                let text = Json::from(items).to_string();
                if text.chars().count() > MAX_TEXT {
                    return Err(wrong(&format!(
                        "ensure the list holds at most {MAX_TEXT} characters"
                    )));
                }
                Ok(Value::Text(text))
            }
            Type::Object => match v {
                Json::Object(_) if v.to_string().chars().count() <= MAX_TEXT => {
                    Ok(Value::Text(v.to_string()))
                }
                Json::Object(_) => Err(wrong(&format!(
                    "ensure the object holds at most {MAX_TEXT} characters"
                ))),
                _ => Err(wrong("value is not a valid dict")),
            },
            Type::Seconds => seconds(v)
                .map(Value::Float)
                .ok_or_else(|| wrong("value is not a valid duration (seconds or HH:MM:SS)")),
            Type::Time => {
                let s = v.as_str().ok_or_else(|| wrong("invalid datetime format"))?;
                let zoned =
                    s.ends_with('Z') || s.get(19..).is_some_and(|rest| rest.contains(['+', '-']));
                if adding && self.kind == Kind::Narrative && zoned {
                    return Err(LogError::BadRequest(format!(
                        "{} must not have a time zone suffix",
                        field.name
                    )));
                }
                let t = parse_time(s).ok_or_else(|| wrong("invalid datetime format"))?;
                Ok(Value::Text(stored_time(t)))
            }
            Type::Valid => Err(wrong("not settable")),
        }
    }
}

/// The ConsDB exposure a message is about.
struct Exposure {
    day_obs: i64,
    seq_num: i64,
    id: i64,
    instrument: String,
}

/// What an optional field holds when an add does not give it.
fn default_of(kind: Kind, field: &Field) -> Value {
    match (kind, field.name, field.ty) {
        (_, "level", _) => Value::Int(20),
        (_, "exposure_flag", _) => Value::Text("none".into()),
        (_, "time_lost", _) => Value::Float(0.0),
        (_, _, Type::List) if !field.nullable => Value::Text("[]".into()),
        _ => Value::Null,
    }
}

/// A duration: seconds as a number, or `HH:MM:SS[.f]`, or an ISO 8601 `PT…H…M…S` duration.
fn seconds(v: &Json) -> Option<f64> {
    if let Some(n) = v.as_f64() {
        return Some(n).filter(|n| n.is_finite() && *n >= 0.0);
    }
    let s = v.as_str()?.trim();
    if let Some(iso) = s.strip_prefix("PT") {
        let (mut total, mut number) = (0.0, String::new());
        for c in iso.chars() {
            match c {
                '0'..='9' | '.' => number.push(c),
                'H' | 'M' | 'S' => {
                    let n: f64 = std::mem::take(&mut number).parse().ok()?;
                    total += n * match c {
                        'H' => 3600.0,
                        'M' => 60.0,
                        _ => 1.0,
                    };
                }
                _ => return None,
            }
        }
        return Some(total).filter(|t| number.is_empty() && t.is_finite() && *t >= 0.0);
    }
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() == 3 {
        let h: f64 = parts[0].parse().ok()?;
        let m: f64 = parts[1].parse().ok()?;
        let sec: f64 = parts[2].parse().ok()?;
        return Some(h * 3600.0 + m * 60.0 + sec).filter(|t| t.is_finite() && *t >= 0.0);
    }
    s.parse().ok().filter(|n: &f64| n.is_finite() && *n >= 0.0)
}

/// A stored value written again unchanged (a date read back is put in the stored form).
fn stored_again(ty: Type, v: Value) -> Value {
    match (ty, &v) {
        (Type::Time, Value::Text(t)) => parse_time(t).map_or(v, |t| Value::Text(stored_time(t))),
        (Type::Bool, Value::Int(i)) => Value::Bool(*i != 0),
        _ => v,
    }
}

/// A stored value as the message's JSON.
fn to_json_value(ty: Type, v: Value) -> Json {
    match (ty, v) {
        (_, Value::Null) => Json::Null,
        (Type::Bool, Value::Bool(b)) => Json::Bool(b),
        (Type::Bool, Value::Int(i)) => Json::Bool(i != 0),
        (Type::Int, v) => v.as_i64().map_or(Json::Null, Json::from),
        (Type::Seconds, v) => v.as_f64().map_or(Json::Null, Json::from),
        (Type::List | Type::Object, Value::Text(t)) => {
            serde_json::from_str(&t).unwrap_or(Json::Null)
        }
        (Type::Time, Value::Text(t)) => {
            parse_time(&t).map_or(Json::Null, |t| Json::from(format_time(t)))
        }
        (_, Value::Text(t)) => Json::from(t),
        (_, Value::Int(i)) => Json::from(i),
        (_, Value::Float(f)) => Json::from(f),
        (_, Value::Bool(b)) => Json::from(b),
    }
}

/// A UTC instant as TAI naive time (for tests and callers that hold UTC).
pub fn tai_of(utc: DateTime<Utc>) -> NaiveDateTime {
    (utc + chrono::Duration::seconds(37)).naive_utc()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_durations_and_dates_as_rubin_writes_them() {
        assert_eq!(
            normalize_tags(&["Seeing".into(), "a_1".into()]).expect("good"),
            ["seeing", "a_1"]
        );
        match normalize_tags(&["ok".into(), "1bad".into(), "x".into()]) {
            Err(LogError::BadRequest(m)) => assert_eq!(m, "Invalid tags: [\"1bad\", \"x\"]"),
            other => panic!("{other:?}"),
        }
        assert_eq!(seconds(&Json::from(90)), Some(90.0));
        assert_eq!(seconds(&Json::from("01:02:03")), Some(3723.0));
        assert_eq!(seconds(&Json::from("PT1H30M")), Some(5400.0));
        assert_eq!(seconds(&Json::from("soon")), None);
        assert_eq!(seconds(&Json::from(-1)), None);
        let t = parse_time("2024-01-01T00:00:00").expect("t");
        assert_eq!(format_time(t), "2024-01-01T00:00:00");
        let t = parse_time("2024-03-20 16:37:54.123456").expect("t");
        assert_eq!(format_time(t), "2024-03-20T16:37:54.123456");
        let utc = DateTime::parse_from_rfc3339("2025-01-01T00:00:00Z")
            .expect("t")
            .with_timezone(&Utc);
        assert_eq!(format_time(tai_of(utc)), "2025-01-01T00:00:37");
    }
}
