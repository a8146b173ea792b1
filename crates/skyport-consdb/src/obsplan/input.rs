//! The scheduler's plan as it arrives: a JSON array of objects (or `{"observations": […]}`), or
//! CSV with a header row, one column per `ivoa.obsplan` column. Every row is checked before
//! anything is written; the first fault is reported with its row number and column.

use std::sync::OnceLock;

use serde_json::Value as Json;
use skyport_schema::{Column, Datatype};
use skyport_store::Value;

use super::{PlanError, CATEGORIES, MAX_ROWS, STATUSES, TRACKING_TYPES};

/// The document's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A JSON array of objects, or an object whose `observations` is one.
    Json,
    /// CSV (RFC 4180) with a header row of column names.
    Csv,
}

/// One planned observation, checked: `ivoa.obsplan` column → value, in the table's order.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedObservation {
    values: Vec<(&'static str, Value)>,
}

impl PlannedObservation {
    /// Its `obs_id`.
    pub fn obs_id(&self) -> &str {
        self.get("obs_id").and_then(Value::as_str).unwrap_or("")
    }

    /// The value of `column`, if set.
    pub fn get(&self, column: &str) -> Option<&Value> {
        self.values
            .iter()
            .find(|(c, _)| *c == column)
            .map(|(_, v)| v)
    }

    /// Sets `column` (one of the table's) to `value`.
    pub fn set(&mut self, column: &str, value: Value) {
        if let Some(slot) = self.values.iter_mut().find(|(c, _)| *c == column) {
            slot.1 = value;
        } else if let Some(c) = columns().iter().find(|c| c.name == column) {
            self.values.push((c.name.as_str(), value));
        }
    }

    /// Its columns and values.
    pub fn into_pairs(self) -> Vec<(&'static str, Value)> {
        self.values
    }
}

/// The columns of `ivoa.obsplan`, as declared.
pub(super) fn columns() -> &'static [Column] {
    static COLUMNS: OnceLock<Vec<Column>> = OnceLock::new();
    COLUMNS.get_or_init(|| {
        skyport_schema::builtin_schemas()
            .into_iter()
            .find(|s| s.name == "ivoa")
            .and_then(|s| s.table(skyport_schema::OBSPLAN).map(|t| t.columns.clone()))
            .unwrap_or_default()
    })
}

/// Reads and checks a plan. Every row must name an `obs_id`, a `facility_name`, a time
/// interval (`t_min` ≤ `t_max`, MJD or ISO 8601 UTC) and a target (`target_name`, or `s_ra`
/// and `s_dec`); enumerated columns must hold one of the standard's values. Missing values get
/// the documented defaults (`execution_status` Planned, `category` Fixed, `priority` 1,
/// `tracking_type` Sidereal, `t_exptime` the planned time or the interval, `s_region` the
/// field's circle).
pub fn parse(body: &[u8], format: Format) -> Result<Vec<PlannedObservation>, PlanError> {
    if body.len() > super::MAX_BYTES {
        return Err(PlanError::Format(format!(
            "the plan is {} bytes: at most {} in one load (split it)",
            body.len(),
            super::MAX_BYTES
        )));
    }
    let raw = match format {
        Format::Json => json_rows(body)?,
        Format::Csv => csv_rows(body)?,
    };
    if raw.len() > MAX_ROWS {
        return Err(PlanError::Format(format!(
            "{} rows: at most {MAX_ROWS} in one load",
            raw.len()
        )));
    }
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(raw.len());
    for (i, fields) in raw.into_iter().enumerate() {
        let row = check_row(i + 1, fields)?;
        if !seen.insert(row.obs_id().to_string()) {
            return Err(PlanError::Row {
                row: i + 1,
                field: "obs_id".into(),
                reason: format!("{:?} appears twice in this plan", row.obs_id()),
            });
        }
        out.push(row);
    }
    Ok(out)
}

/// A field as it came: JSON keeps its type, CSV gives text (empty text is no value).
enum Raw {
    Json(Json),
    Text(String),
}

fn json_rows(body: &[u8]) -> Result<Vec<Vec<(String, Raw)>>, PlanError> {
    let doc: Json =
        serde_json::from_slice(body).map_err(|e| PlanError::Format(format!("not JSON: {e}")))?;
    let list = match doc {
        Json::Array(a) => a,
        Json::Object(mut o) => match o.remove("observations") {
            Some(Json::Array(a)) => a,
            _ => {
                return Err(PlanError::Format(
                    "a plan is a JSON array of observations, or an object whose \"observations\" is one"
                        .into(),
                ))
            }
        },
        _ => return Err(PlanError::Format("a plan is a JSON array of observations".into())),
    };
    list.into_iter()
        .enumerate()
        .map(|(i, row)| match row {
            Json::Object(o) => Ok(o.into_iter().map(|(k, v)| (k, Raw::Json(v))).collect()),
            _ => Err(PlanError::Row {
                row: i + 1,
                field: "(row)".into(),
                reason: "not a JSON object".into(),
            }),
        })
        .collect()
}

fn csv_rows(body: &[u8]) -> Result<Vec<Vec<(String, Raw)>>, PlanError> {
    let text =
        std::str::from_utf8(body).map_err(|_| PlanError::Format("CSV is not UTF-8".into()))?;
    let mut records = csv_records(text)?.into_iter();
    let header: Vec<String> = records
        .next()
        .ok_or_else(|| PlanError::Format("CSV without a header row".into()))?
        .into_iter()
        .map(|h| h.trim().to_string())
        .collect();
    records
        .enumerate()
        .filter(|(_, r)| !(r.len() == 1 && r[0].trim().is_empty()))
        .map(|(i, r)| {
            if r.len() != header.len() {
                return Err(PlanError::Row {
                    row: i + 1,
                    field: "(row)".into(),
                    reason: format!("{} fields where the header has {}", r.len(), header.len()),
                });
            }
            Ok(header
                .iter()
                .cloned()
                .zip(r.into_iter().map(Raw::Text))
                .collect())
        })
        .collect()
}

/// RFC 4180 records: fields split at commas, `"…"` quoting with `""` for a quote, records
/// ended by LF or CRLF (also inside quotes, as part of the field).
fn csv_records(text: &str) -> Result<Vec<Vec<String>>, PlanError> {
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') if field.is_empty() => quoted = true,
            (false, ',') => record.push(std::mem::take(&mut field)),
            (false, '\r') if chars.peek() == Some(&'\n') => {}
            (false, '\n') => {
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            (false, c) => field.push(c),
        }
    }
    if quoted {
        return Err(PlanError::Format("CSV ends inside a quoted field".into()));
    }
    if !field.is_empty() || !record.is_empty() {
        record.push(field);
        records.push(record);
    }
    Ok(records)
}

fn check_row(row: usize, fields: Vec<(String, Raw)>) -> Result<PlannedObservation, PlanError> {
    let fault = |field: &str, reason: String| PlanError::Row {
        row,
        field: field.to_string(),
        reason,
    };
    let mut values: Vec<(&'static str, Value)> = Vec::new();
    for (name, raw) in fields {
        let column = columns()
            .iter()
            .find(|c| c.name.eq_ignore_ascii_case(name.trim()))
            .ok_or_else(|| fault(&name, "not a column of ivoa.obsplan".into()))?;
        if column.name == "t_planning" {
            // The time the plan changed is this archive's to record.
            continue;
        }
        let value = convert(column, raw).map_err(|reason| fault(&column.name, reason))?;
        if values.iter().any(|(c, _)| *c == column.name) {
            return Err(fault(&column.name, "given twice".into()));
        }
        if value != Value::Null {
            values.push((column.name.as_str(), value));
        }
    }
    let mut plan = PlannedObservation { values };
    let text = |plan: &PlannedObservation, c: &str| {
        plan.get(c)
            .and_then(Value::as_str)
            .map(str::to_string)
            .filter(|s| !s.trim().is_empty())
    };
    let number = |plan: &PlannedObservation, c: &str| plan.get(c).and_then(Value::as_f64);
    for required in ["obs_id", "facility_name"] {
        if text(&plan, required).is_none() {
            return Err(fault(required, "required".into()));
        }
    }
    let (Some(t_min), Some(t_max)) = (number(&plan, "t_min"), number(&plan, "t_max")) else {
        let missing = if number(&plan, "t_min").is_none() {
            "t_min"
        } else {
            "t_max"
        };
        return Err(fault(
            missing,
            "required: the planned interval (MJD or ISO 8601 UTC)".into(),
        ));
    };
    if t_min > t_max {
        return Err(fault(
            "t_max",
            format!("{t_max} is before t_min {t_min}: the interval is reversed"),
        ));
    }
    let (ra, dec) = (number(&plan, "s_ra"), number(&plan, "s_dec"));
    if text(&plan, "target_name").is_none() && (ra.is_none() || dec.is_none()) {
        return Err(fault(
            "target_name",
            "no target: give target_name, or s_ra and s_dec".into(),
        ));
    }
    if ra.is_some_and(|r| !(0.0..360.0).contains(&r)) {
        return Err(fault("s_ra", "outside [0, 360) degrees".into()));
    }
    if dec.is_some_and(|d| !(-90.0..=90.0).contains(&d)) {
        return Err(fault("s_dec", "outside [-90, 90] degrees".into()));
    }
    let fov = number(&plan, "s_fov");
    if fov.is_some_and(|f| f <= 0.0 || f > 360.0) {
        return Err(fault(
            "s_fov",
            "must be a positive diameter in degrees".into(),
        ));
    }
    for (c, allowed, default) in [
        ("execution_status", &STATUSES[..], "Planned"),
        ("category", &CATEGORIES[..], "Fixed"),
        ("tracking_type", &TRACKING_TYPES[..], "Sidereal"),
    ] {
        match text(&plan, c) {
            None => plan.set(c, Value::Text(default.into())),
            Some(v) => {
                let Some(known) = allowed.iter().find(|a| a.eq_ignore_ascii_case(v.trim())) else {
                    return Err(fault(
                        c,
                        format!("{v:?} is not one of {}", allowed.join(", ")),
                    ));
                };
                plan.set(c, Value::Text((*known).to_string()));
            }
        }
    }
    match plan.get("priority").and_then(Value::as_i64) {
        None => plan.set("priority", Value::Int(1)),
        Some(0..=2) => {}
        Some(p) => return Err(fault("priority", format!("{p} is not 0, 1 or 2"))),
    }
    for c in [
        "t_exptime",
        "t_plan_exptime",
        "s_resolution",
        "t_resolution",
    ] {
        if number(&plan, c).is_some_and(|v| v < 0.0) {
            return Err(fault(c, "must not be negative".into()));
        }
    }
    if number(&plan, "t_exptime").is_none() {
        let planned = number(&plan, "t_plan_exptime").unwrap_or((t_max - t_min) * 86_400.0);
        plan.set("t_exptime", Value::Float(planned));
    }
    match (text(&plan, "s_region"), ra, dec) {
        (Some(region), _, _) => {
            if let Err(e) = skyport_sky::parse_stcs(&region) {
                return Err(fault("s_region", format!("not an STC-S region: {e}")));
            }
        }
        (None, Some(ra), Some(dec)) => {
            if let Some(fov) = fov {
                plan.set(
                    "s_region",
                    Value::Text(format!("CIRCLE ICRS {ra} {dec} {}", fov / 2.0)),
                );
            }
        }
        _ => {}
    }
    // The table's column order, so every load writes alike.
    plan.values.sort_by_key(|(c, _)| {
        columns()
            .iter()
            .position(|col| col.name == *c)
            .unwrap_or(usize::MAX)
    });
    Ok(plan)
}

/// A field as the column's type: numbers (times also as ISO 8601 UTC), integers, text within
/// the declared length.
fn convert(column: &Column, raw: Raw) -> Result<Value, String> {
    let is_time = matches!(column.name.as_str(), "t_min" | "t_max");
    let json = match raw {
        Raw::Text(t) if t.trim().is_empty() => return Ok(Value::Null),
        Raw::Text(t) => match column.datatype {
            Datatype::String | Datatype::Char | Datatype::Unicode | Datatype::Text => {
                Json::String(t)
            }
            _ => match t.trim().parse::<f64>() {
                Ok(n) => serde_json::Number::from_f64(n)
                    .map(Json::Number)
                    .ok_or("not a finite number")?,
                Err(_) => Json::String(t),
            },
        },
        Raw::Json(j) => j,
    };
    match (column.datatype, json) {
        (_, Json::Null) => Ok(Value::Null),
        (Datatype::Double | Datatype::Float, Json::Number(n)) => n
            .as_f64()
            .filter(|v| v.is_finite())
            .map(Value::Float)
            .ok_or_else(|| "not a finite number".into()),
        (Datatype::Double | Datatype::Float, Json::String(s)) if is_time => {
            skyport_schema::time::parse_iso(&s)
                .map(|t| super::mjd(t.and_utc()))
                .map(Value::Float)
                .ok_or_else(|| format!("{s:?} is neither an MJD nor an ISO 8601 time"))
        }
        (Datatype::Int | Datatype::Long | Datatype::Short, Json::Number(n)) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))
            .filter(|v| i32::try_from(*v).is_ok())
            .map(Value::Int)
            .ok_or_else(|| "not a 32-bit integer".into()),
        (
            Datatype::String | Datatype::Char | Datatype::Unicode | Datatype::Text,
            Json::String(s),
        ) => {
            let limit = column.length.unwrap_or(4096) as usize;
            if s.chars().count() > limit {
                Err(format!("longer than {limit} characters"))
            } else if s.chars().any(char::is_control) {
                Err("holds control characters".into())
            } else {
                Ok(Value::Text(s))
            }
        }
        (Datatype::Double | Datatype::Float, _) => Err("not a number".into()),
        (Datatype::Int | Datatype::Long | Datatype::Short, _) => Err("not an integer".into()),
        (_, _) => Err("not text".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fault(body: &str, format: Format) -> (usize, String, String) {
        match parse(body.as_bytes(), format) {
            Err(PlanError::Row { row, field, reason }) => (row, field, reason),
            other => panic!("{body}: {other:?}"),
        }
    }

    const GOOD: &str = r#"{"obs_id": "p1", "facility_name": "Rubin", "t_min": 61010.2, "t_max": 61010.21, "target_name": "ECDFS"}"#;

    #[test]
    fn a_plan_row_gets_the_defaults_and_its_region() {
        let rows = parse(
            br#"[{"obs_id": "p1", "facility_name": "Rubin", "t_min": "2025-12-01T12:00:00Z",
                 "t_max": 61010.51, "s_ra": 53.1, "s_dec": -28.1, "s_fov": 3.5,
                 "instrument_name": "LSSTCam", "t_plan_exptime": 30, "rubin_nexp": 2}]"#,
            Format::Json,
        )
        .expect("parse");
        let r = &rows[0];
        assert_eq!(r.get("t_min"), Some(&Value::Float(61010.5)));
        assert_eq!(
            r.get("execution_status"),
            Some(&Value::Text("Planned".into()))
        );
        assert_eq!(r.get("category"), Some(&Value::Text("Fixed".into())));
        assert_eq!(r.get("priority"), Some(&Value::Int(1)));
        assert_eq!(
            r.get("tracking_type"),
            Some(&Value::Text("Sidereal".into()))
        );
        assert_eq!(r.get("t_exptime"), Some(&Value::Float(30.0)));
        assert_eq!(
            r.get("s_region"),
            Some(&Value::Text("CIRCLE ICRS 53.1 -28.1 1.75".into()))
        );
        assert_eq!(r.get("rubin_nexp"), Some(&Value::Int(2)));
        assert!(r.get("t_planning").is_none());
    }

    #[test]
    fn csv_plans_read_like_json_ones() {
        let csv = "obs_id,facility_name,t_min,t_max,target_name,execution_status\r\n\
                   p1,Rubin,61010.2,61010.21,\"ECDFS, deep\",scheduled\r\n\
                   p2,Rubin,61010.3,61010.31,\"say \"\"hi\"\"\",\r\n";
        let rows = parse(csv.as_bytes(), Format::Csv).expect("csv");
        assert_eq!(rows.len(), 2);
        assert_eq!(
            rows[0].get("target_name"),
            Some(&Value::Text("ECDFS, deep".into()))
        );
        assert_eq!(
            rows[0].get("execution_status"),
            Some(&Value::Text("Scheduled".into()))
        );
        assert_eq!(
            rows[1].get("target_name"),
            Some(&Value::Text("say \"hi\"".into()))
        );
        assert_eq!(
            rows[1].get("execution_status"),
            Some(&Value::Text("Planned".into()))
        );
    }

    #[test]
    fn bad_rows_are_named_by_number_and_column() {
        let row = |extra: &str| {
            format!(
                "[{GOOD}, {}]",
                GOOD.replace("\"p1\"", "\"p2\"")
                    .replace('}', &format!(", {extra}}}"))
            )
        };
        let (n, field, reason) = fault(&row(r#""execution_status": "Done""#), Format::Json);
        assert_eq!((n, field.as_str()), (2, "execution_status"));
        assert!(reason.contains("Planned, Scheduled"), "{reason}");
        let reversed = format!("[{}]", GOOD.replace("61010.21", "61010.1"));
        let (n, field, reason) = fault(&reversed, Format::Json);
        assert_eq!((n, field.as_str()), (1, "t_max"));
        assert!(reason.contains("reversed"), "{reason}");
        let no_target =
            r#"[{"obs_id": "p1", "facility_name": "R", "t_min": 1, "t_max": 2, "s_ra": 10}]"#;
        assert_eq!(fault(no_target, Format::Json).1, "target_name");
        assert_eq!(fault(&row(r#""nonsense": 1"#), Format::Json).1, "nonsense");
        assert_eq!(fault(&row(r#""priority": 7"#), Format::Json).1, "priority");
        assert_eq!(fault(&row(r#""s_dec": 95"#), Format::Json).1, "s_dec");
        assert_eq!(
            fault(&row(r#""t_min": "yesterday""#), Format::Json).1,
            "t_min"
        );
        assert_eq!(
            fault(&row(r#""s_region": "BLOB 1 2""#), Format::Json).1,
            "s_region"
        );
        assert_eq!(
            fault(&format!("[{GOOD}, {GOOD}]"), Format::Json).1,
            "obs_id"
        );
        let missing = r#"[{"obs_id": "p1", "t_min": 1, "t_max": 2, "target_name": "x"}]"#;
        assert_eq!(fault(missing, Format::Json).1, "facility_name");
        let csv = "obs_id,facility_name,t_min,t_max,target_name\np1,R,1,2,x\np2,R,1\n";
        assert_eq!(fault(csv, Format::Csv).0, 2);
        assert!(matches!(
            parse(b"{\"a\": 1}", Format::Json),
            Err(PlanError::Format(_))
        ));
        assert!(matches!(
            parse(b"\"x", Format::Csv),
            Err(PlanError::Format(_))
        ));
    }
}
