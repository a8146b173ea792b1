//! Where telemetry comes from: one [`Source`] trait, with InfluxDB 1.x over its HTTP query API
//! (the EFD's own store) and offline CSV exports as implementations.
//!
//! A fetch names a topic, the fields wanted (all of a window's columns on that topic together)
//! and a closed time range in UTC nanoseconds; it may ask for InfluxDB-style pre-aggregation
//! (`GROUP BY time(…)` buckets aligned on the Unix epoch, each stamped with its start). The
//! answer is a [`Frame`]: ascending times and one value per field and time, NaN where the
//! row lacks the field.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use super::config::Function;
use super::EfdError;

/// Samples of several fields of one topic.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Frame {
    /// Sample times, ns since 1970 UTC, ascending.
    pub times: Vec<i64>,
    /// Field names.
    pub fields: Vec<String>,
    /// Per field, one value per time (NaN: missing).
    pub values: Vec<Vec<f64>>,
}

impl Frame {
    /// The values of `field`, if the frame has it.
    pub fn field(&self, field: &str) -> Option<&[f64]> {
        let i = self.fields.iter().position(|f| f == field)?;
        Some(&self.values[i])
    }

    /// Number of samples (times × fields).
    pub fn samples(&self) -> usize {
        self.times.len() * self.fields.len()
    }

    /// The rows within `[start, end]` (ns), as a range of row indices.
    pub fn rows_between(&self, start: i64, end: i64) -> std::ops::Range<usize> {
        let lo = self.times.partition_point(|&t| t < start);
        let hi = self.times.partition_point(|&t| t <= end);
        lo..hi.max(lo)
    }

    /// Sorts rows by time (stable), for sources that may answer out of order.
    fn sort(&mut self) {
        if self.times.windows(2).all(|w| w[0] <= w[1]) {
            return;
        }
        let mut order: Vec<usize> = (0..self.times.len()).collect();
        order.sort_by_key(|&i| self.times[i]);
        self.times = order.iter().map(|&i| self.times[i]).collect();
        for v in &mut self.values {
            *v = order.iter().map(|&i| v[i]).collect();
        }
    }
}

/// One fetch.
#[derive(Debug, Clone)]
pub struct Query<'a> {
    /// Topic (InfluxDB measurement).
    pub topic: &'a str,
    /// Fields wanted.
    pub fields: &'a [String],
    /// Start, ns UTC (inclusive).
    pub start: i64,
    /// End, ns UTC (inclusive).
    pub end: i64,
    /// Pre-aggregation: bucket length (ns) and mean, min or max.
    pub aggregate: Option<(i64, &'a Function)>,
    /// Only the latest sample of each field in the range is wanted (see [`Latest`]).
    pub latest: Option<Latest<'a>>,
}

/// A fetch of the latest sample of each field in a range only: what `most_recent_value` needs
/// from the time before an interval, without reading the whole look-back (half an hour of a
/// 96-field topic for a five-minute window). The answer has a row per field found, holding
/// that field's latest non-missing value at its time and NaN in the other fields.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Latest<'a> {
    /// Only samples whose `field` holds this value (a column's subset), when set.
    pub subset: Option<(&'a str, f64)>,
}

impl Latest<'_> {
    /// The latest sample of each of `fields` among the `rows` of `frame`.
    fn pick(&self, frame: &Frame, rows: std::ops::Range<usize>, fields: &[String]) -> Frame {
        let keep = self
            .subset
            .map(|(field, value)| (frame.field(field), value));
        let mut out = Frame {
            fields: fields.to_vec(),
            values: vec![Vec::new(); fields.len()],
            ..Frame::default()
        };
        for (i, field) in fields.iter().enumerate() {
            let Some(values) = frame.field(field) else {
                continue;
            };
            let passes = |r: usize| match keep {
                None => true,
                Some((Some(subset), value)) => subset[r] == value,
                Some((None, _)) => false,
            };
            let Some(row) = rows
                .clone()
                .rev()
                .find(|&r| !values[r].is_nan() && passes(r))
            else {
                continue;
            };
            out.times.push(frame.times[row]);
            for (j, v) in out.values.iter_mut().enumerate() {
                v.push(if j == i { values[row] } else { f64::NAN });
            }
        }
        out.sort();
        out
    }
}

/// A telemetry source.
#[async_trait]
pub trait Source: Send + Sync {
    /// For messages.
    fn name(&self) -> String;
    /// The samples of `query.fields` of `query.topic` in `[start, end]`.
    async fn fetch(&self, query: &Query<'_>) -> Result<Frame, EfdError>;
    /// The fields `topic` has (for unpacking packed series: `field0…fieldN`).
    async fn field_keys(&self, topic: &str) -> Result<Vec<String>, EfdError>;
}

fn aggregate_name(f: &Function) -> Result<&'static str, EfdError> {
    match f {
        Function::Mean => Ok("mean"),
        Function::Min => Ok("min"),
        Function::Max => Ok("max"),
        other => Err(EfdError::Usage(format!(
            "pre-aggregation with {} is not possible (mean, min, max)",
            other.name()
        ))),
    }
}

/// An InfluxDB identifier, double-quoted.
fn quote(identifier: &str) -> String {
    format!(
        "\"{}\"",
        identifier.replace('\\', "\\\\").replace('"', "\\\"")
    )
}

/// An InfluxQL duration literal for `ns`.
fn duration(ns: i64) -> String {
    if ns % 1_000_000_000 == 0 {
        format!("{}s", ns / 1_000_000_000)
    } else if ns % 1_000_000 == 0 {
        format!("{}ms", ns / 1_000_000)
    } else if ns % 1_000 == 0 {
        format!("{}u", ns / 1_000)
    } else {
        format!("{ns}ns")
    }
}

/// InfluxDB 1.x over HTTP (`/query`, CSV answers).
#[derive(Debug, Clone)]
pub struct InfluxSource {
    client: reqwest::Client,
    url: String,
    database: String,
    credentials: Option<(String, String)>,
    /// Field keys found per topic: a packed series asks in every window, its fields do not
    /// change within a run (a topic with none yet is asked again).
    field_keys: Arc<Mutex<HashMap<String, Vec<String>>>>,
}

impl InfluxSource {
    /// A source reading `database` at `url` (e.g. `http://127.0.0.1:8086`).
    pub fn new(
        url: &str,
        database: &str,
        credentials: Option<(String, String)>,
    ) -> Result<InfluxSource, EfdError> {
        // reqwest is built without a default TLS provider (for https EFDs): ring, as elsewhere.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(300))
            .connect_timeout(std::time::Duration::from_secs(10))
            .build()
            .map_err(|e| EfdError::Source {
                source_name: format!("InfluxDB {url}"),
                reason: format!("cannot make an HTTP client: {e}"),
            })?;
        Ok(InfluxSource {
            client,
            url: url.trim_end_matches('/').to_string(),
            database: database.to_string(),
            credentials,
            field_keys: Arc::new(Mutex::new(HashMap::new())),
        })
    }

    fn err(&self, reason: impl Into<String>) -> EfdError {
        EfdError::Source {
            source_name: self.name(),
            reason: reason.into(),
        }
    }

    /// Runs InfluxQL statements (`;`-separated) and returns the CSV answer.
    async fn query(&self, q: &str) -> Result<String, EfdError> {
        let mut form = vec![("db", self.database.as_str()), ("q", q), ("epoch", "ns")];
        if let Some((u, p)) = &self.credentials {
            form.push(("u", u));
            form.push(("p", p));
        }
        let response = self
            .client
            .post(format!("{}/query", self.url))
            .header("Accept", "application/csv")
            .form(&form)
            .send()
            .await
            .map_err(|e| self.err(format!("cannot reach it: {e}")))?;
        let status = response.status();
        let body = response
            .text()
            .await
            .map_err(|e| self.err(format!("reading the answer: {e}")))?;
        if !status.is_success() {
            return Err(self.err(format!("{status}: {}", body.trim())));
        }
        // Errors of a statement come back with 200 as a CSV "error" column.
        if let Some(first) = body.lines().next() {
            if first.starts_with("name,tags,error") || first == "error" {
                return Err(self.err(body.trim().to_string()));
            }
        }
        Ok(body)
    }
}

/// Parses InfluxDB's CSV answer (`name,tags,time,<fields…>` blocks) into a frame with
/// `fields` in that order.
fn parse_influx_csv(body: &str, fields: &[String]) -> Result<Frame, String> {
    let mut frame = Frame {
        fields: fields.to_vec(),
        values: vec![Vec::new(); fields.len()],
        ..Frame::default()
    };
    let mut map: Vec<Option<usize>> = Vec::new();
    let mut time_col = 0;
    for line in body.lines() {
        if line.is_empty() {
            map.clear();
            continue;
        }
        let cells: Vec<&str> = split_csv(line);
        if map.is_empty() {
            time_col = cells
                .iter()
                .position(|c| *c == "time")
                .ok_or_else(|| format!("no time column in the header {line:?}"))?;
            map = cells
                .iter()
                .map(|c| fields.iter().position(|f| f == c.trim_matches('"')))
                .collect();
            continue;
        }
        let t: i64 = cells
            .get(time_col)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| format!("a row without a time: {line:?}"))?;
        frame.times.push(t);
        for v in &mut frame.values {
            v.push(f64::NAN);
        }
        for (cell, slot) in cells.iter().zip(&map) {
            if let Some(i) = slot {
                if let Some(last) = frame.values[*i].last_mut() {
                    *last = number(cell);
                }
            }
        }
    }
    frame.sort();
    Ok(frame)
}

/// A CSV cell as a number: booleans are 1/0, text and empty cells NaN.
fn number(cell: &str) -> f64 {
    match cell {
        "true" | "True" => 1.0,
        "false" | "False" => 0.0,
        c => c.parse().unwrap_or(f64::NAN),
    }
}

/// Splits a CSV line (double-quoted cells may hold commas).
fn split_csv(line: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut start, mut quoted) = (0, false);
    for (i, b) in line.bytes().enumerate() {
        match b {
            b'"' => quoted = !quoted,
            b',' if !quoted => {
                out.push(&line[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&line[start..]);
    out
}

#[async_trait]
impl Source for InfluxSource {
    fn name(&self) -> String {
        format!("InfluxDB {} (database {})", self.url, self.database)
    }

    async fn fetch(&self, q: &Query<'_>) -> Result<Frame, EfdError> {
        let select: Vec<String> = match q.aggregate {
            None => q.fields.iter().map(|f| quote(f)).collect(),
            Some((_, function)) => {
                let name = aggregate_name(function)?;
                q.fields
                    .iter()
                    .map(|f| format!("{name}({}) AS {}", quote(f), quote(f)))
                    .collect()
            }
        };
        let range = format!(
            "FROM {} WHERE time >= {} AND time <= {}",
            quote(q.topic),
            q.start,
            q.end
        );
        let sql = if let Some(latest) = q.latest {
            // One statement per field: InfluxDB answers a single-field SELECT with the rows
            // that have that field, so each finds its field's latest value; one request.
            let subset = latest.subset.map_or(String::new(), |(field, value)| {
                // A subset key may be an integer field or a tag; a tag compares as a string.
                let field = quote(field);
                format!(" AND ({field} = {value} OR {field} = '{value}')")
            });
            q.fields
                .iter()
                .map(|f| {
                    format!(
                        "SELECT {} {range}{subset} ORDER BY time DESC LIMIT 1",
                        quote(f)
                    )
                })
                .collect::<Vec<_>>()
                .join("; ")
        } else {
            let mut sql = format!("SELECT {} {range}", select.join(", "));
            if let Some((bucket, _)) = q.aggregate {
                sql.push_str(&format!(" GROUP BY time({}) fill(none)", duration(bucket)));
            }
            sql
        };
        let body = self.query(&sql).await?;
        parse_influx_csv(&body, q.fields).map_err(|e| self.err(e))
    }

    async fn field_keys(&self, topic: &str) -> Result<Vec<String>, EfdError> {
        if let Some(keys) = self
            .field_keys
            .lock()
            .ok()
            .and_then(|c| c.get(topic).cloned())
        {
            return Ok(keys);
        }
        let body = self
            .query(&format!("SHOW FIELD KEYS FROM {}", quote(topic)))
            .await?;
        // name,tags,fieldKey,fieldType
        let mut keys = Vec::new();
        let mut column = None;
        for line in body.lines().filter(|l| !l.is_empty()) {
            let cells = split_csv(line);
            match column {
                None => column = cells.iter().position(|c| *c == "fieldKey"),
                Some(i) => {
                    if let Some(k) = cells.get(i) {
                        keys.push(k.to_string());
                    }
                }
            }
        }
        if !keys.is_empty() {
            if let Ok(mut cache) = self.field_keys.lock() {
                cache.insert(topic.to_string(), keys.clone());
            }
        }
        Ok(keys)
    }
}

/// Offline exports: `<directory>/<topic>.parquet` or `<topic>.csv`. A CSV file has a header
/// `time,<field>,…` and one row per sample, `time` in ns since 1970 UTC (how InfluxDB exports
/// it) or ISO 8601 UTC; a Parquet file a `time` column (a timestamp, or integer ns since 1970
/// UTC) and numeric or boolean fields. Each file is read once and kept.
#[derive(Debug)]
pub struct FileSource {
    directory: PathBuf,
    cache: Mutex<HashMap<String, Arc<Frame>>>,
}

impl FileSource {
    /// A source reading the exports in `directory`.
    pub fn new(directory: impl Into<PathBuf>) -> FileSource {
        FileSource {
            directory: directory.into(),
            cache: Mutex::new(HashMap::new()),
        }
    }

    fn err(&self, reason: impl Into<String>) -> EfdError {
        EfdError::Source {
            source_name: self.name(),
            reason: reason.into(),
        }
    }

    /// The whole file of `topic` (empty when there is none: no telemetry of that topic).
    fn load(&self, topic: &str) -> Result<Arc<Frame>, EfdError> {
        if topic.contains(['/', '\\']) || topic.starts_with('.') {
            return Err(self.err(format!("{topic:?} is not a topic name")));
        }
        if let Some(f) = self.cache.lock().ok().and_then(|c| c.get(topic).cloned()) {
            return Ok(f);
        }
        let parquet = self.directory.join(format!("{topic}.parquet"));
        let path = self.directory.join(format!("{topic}.csv"));
        let frame = if parquet.is_file() {
            read_parquet(&parquet).map_err(|e| self.err(format!("{}: {e}", parquet.display())))?
        } else {
            match std::fs::read_to_string(&path) {
                Ok(text) => {
                    parse_export(&text).map_err(|e| self.err(format!("{}: {e}", path.display())))?
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Frame::default(),
                Err(e) => return Err(self.err(format!("{}: {e}", path.display()))),
            }
        };
        let frame = Arc::new(frame);
        if let Ok(mut c) = self.cache.lock() {
            c.insert(topic.to_string(), Arc::clone(&frame));
        }
        Ok(frame)
    }
}

/// A Parquet export as a frame: `time` (timestamp of any unit, or integer ns) and every
/// numeric or boolean column (NULL → NaN); other columns are left out.
fn read_parquet(path: &std::path::Path) -> Result<Frame, String> {
    use arrow_array::cast::AsArray;
    use arrow_array::types::{
        Float32Type, Float64Type, Int16Type, Int32Type, Int64Type, Int8Type,
        TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
        TimestampSecondType, UInt16Type, UInt32Type, UInt64Type, UInt8Type,
    };
    use arrow_array::Array;
    use arrow_schema::{DataType, TimeUnit};

    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| e.to_string())?
        .build()
        .map_err(|e| e.to_string())?;
    let mut frame = Frame::default();
    let mut columns: Option<Vec<usize>> = None;
    let mut time_at = 0;
    for batch in reader {
        let batch = batch.map_err(|e| e.to_string())?;
        let schema = batch.schema();
        let chosen = columns.get_or_insert_with(|| {
            let mut keep = Vec::new();
            for (i, f) in schema.fields().iter().enumerate() {
                if f.name() == "time" {
                    time_at = i;
                } else if f.data_type().is_numeric() || *f.data_type() == DataType::Boolean {
                    keep.push(i);
                    frame.fields.push(f.name().clone());
                    frame.values.push(Vec::new());
                }
            }
            keep
        });
        if schema
            .fields()
            .get(time_at)
            .is_none_or(|f| f.name() != "time")
        {
            return Err("no time column".into());
        }
        let t = batch.column(time_at);
        let scale = |unit: &TimeUnit| match unit {
            TimeUnit::Second => 1_000_000_000,
            TimeUnit::Millisecond => 1_000_000,
            TimeUnit::Microsecond => 1_000,
            TimeUnit::Nanosecond => 1,
        };
        let times: Vec<i64> = match t.data_type() {
            DataType::Int64 => t.as_primitive::<Int64Type>().values().to_vec(),
            DataType::Timestamp(unit, _) => {
                let k = scale(unit);
                let raw: Vec<i64> = match unit {
                    TimeUnit::Second => t.as_primitive::<TimestampSecondType>().values().to_vec(),
                    TimeUnit::Millisecond => t
                        .as_primitive::<TimestampMillisecondType>()
                        .values()
                        .to_vec(),
                    TimeUnit::Microsecond => t
                        .as_primitive::<TimestampMicrosecondType>()
                        .values()
                        .to_vec(),
                    TimeUnit::Nanosecond => t
                        .as_primitive::<TimestampNanosecondType>()
                        .values()
                        .to_vec(),
                };
                raw.into_iter().map(|v| v.saturating_mul(k)).collect()
            }
            other => return Err(format!("time is {other}, not a timestamp or integer ns")),
        };
        if t.null_count() > 0 {
            return Err("a row without a time".into());
        }
        frame.times.extend(times);
        for (slot, &i) in chosen.iter().enumerate() {
            let c = batch.column(i);
            let n = c.len();
            macro_rules! prim {
                ($t:ty) => {{
                    let a = c.as_primitive::<$t>();
                    (0..n)
                        .map(|r| {
                            if a.is_null(r) {
                                f64::NAN
                            } else {
                                a.value(r) as f64
                            }
                        })
                        .collect::<Vec<f64>>()
                }};
            }
            let values = match c.data_type() {
                DataType::Float64 => prim!(Float64Type),
                DataType::Float32 => prim!(Float32Type),
                DataType::Int64 => prim!(Int64Type),
                DataType::Int32 => prim!(Int32Type),
                DataType::Int16 => prim!(Int16Type),
                DataType::Int8 => prim!(Int8Type),
                DataType::UInt64 => prim!(UInt64Type),
                DataType::UInt32 => prim!(UInt32Type),
                DataType::UInt16 => prim!(UInt16Type),
                DataType::UInt8 => prim!(UInt8Type),
                DataType::Boolean => {
                    let a = c.as_boolean();
                    (0..n)
                        .map(|r| {
                            if a.is_null(r) {
                                f64::NAN
                            } else {
                                f64::from(u8::from(a.value(r)))
                            }
                        })
                        .collect()
                }
                _ => vec![f64::NAN; n],
            };
            frame.values[slot].extend(values);
        }
    }
    frame.sort();
    Ok(frame)
}

fn parse_export(text: &str) -> Result<Frame, String> {
    let mut lines = text.lines();
    let header = lines.next().ok_or("empty file")?;
    let names: Vec<&str> = split_csv(header);
    let time_col = names
        .iter()
        .position(|c| *c == "time")
        .ok_or("no time column")?;
    let fields: Vec<String> = names
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != time_col)
        .map(|(_, n)| n.trim_matches('"').to_string())
        .collect();
    let mut frame = Frame {
        values: vec![Vec::new(); fields.len()],
        fields,
        ..Frame::default()
    };
    for (n, line) in lines.enumerate().filter(|(_, l)| !l.is_empty()) {
        let cells = split_csv(line);
        let t = cells.get(time_col).copied().unwrap_or("");
        let t = t
            .parse::<i64>()
            .ok()
            .or_else(|| super::utc_text_to_ns(t))
            .ok_or_else(|| format!("line {}: time {t:?} is neither ns nor ISO 8601", n + 2))?;
        frame.times.push(t);
        let mut k = 0;
        for (i, cell) in cells.iter().enumerate() {
            if i == time_col {
                continue;
            }
            if let Some(v) = frame.values.get_mut(k) {
                v.push(number(cell));
            }
            k += 1;
        }
        for v in frame.values.iter_mut().skip(k) {
            v.push(f64::NAN);
        }
    }
    frame.sort();
    Ok(frame)
}

/// Buckets of `bucket` ns aligned on the epoch, each the `function` of its samples per field
/// (what InfluxDB's `GROUP BY time(…) fill(none)` gives).
fn aggregate(frame: &Frame, bucket: i64, function: &Function) -> Result<Frame, EfdError> {
    let name = aggregate_name(function)?;
    let mut out = Frame {
        fields: frame.fields.clone(),
        values: vec![Vec::new(); frame.fields.len()],
        ..Frame::default()
    };
    let mut i = 0;
    while i < frame.times.len() {
        let start = frame.times[i].div_euclid(bucket) * bucket;
        let j = frame.times.partition_point(|&t| t < start + bucket);
        let mut any = false;
        let cells: Vec<f64> = frame
            .values
            .iter()
            .map(|v| {
                let vals = v[i..j].iter().copied().filter(|x| !x.is_nan());
                let r = match name {
                    "mean" => {
                        let (s, n) = vals.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
                        if n == 0 {
                            f64::NAN
                        } else {
                            s / n as f64
                        }
                    }
                    "min" => vals.fold(f64::NAN, f64::min),
                    _ => vals.fold(f64::NAN, f64::max),
                };
                any |= !r.is_nan();
                r
            })
            .collect();
        if any {
            out.times.push(start);
            for (v, c) in out.values.iter_mut().zip(cells) {
                v.push(c);
            }
        }
        i = j.max(i + 1);
    }
    Ok(out)
}

#[async_trait]
impl Source for FileSource {
    fn name(&self) -> String {
        format!("CSV exports in {}", self.directory.display())
    }

    async fn fetch(&self, q: &Query<'_>) -> Result<Frame, EfdError> {
        let whole = self.load(q.topic)?;
        let rows = whole.rows_between(q.start, q.end);
        if let Some(latest) = q.latest {
            return Ok(latest.pick(&whole, rows, q.fields));
        }
        let mut frame = Frame {
            times: whole.times[rows.clone()].to_vec(),
            fields: q.fields.to_vec(),
            values: q
                .fields
                .iter()
                .map(|f| match whole.field(f) {
                    Some(v) => v[rows.clone()].to_vec(),
                    None => vec![f64::NAN; rows.len()],
                })
                .collect(),
        };
        if let Some((bucket, function)) = q.aggregate {
            frame = aggregate(&frame, bucket, function)?;
        }
        Ok(frame)
    }

    async fn field_keys(&self, topic: &str) -> Result<Vec<String>, EfdError> {
        Ok(self.load(topic)?.fields.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn influx_csv_answers_become_frames() {
        let body = "name,tags,time,b,a\nt,,20,2.5,\nt,,10,true,1\n\nname,tags,time,a\nt,,30,3\n";
        let f = parse_influx_csv(body, &["a".into(), "b".into()]).expect("frame");
        assert_eq!(f.times, [10, 20, 30]);
        assert_eq!(f.values[0][0], 1.0);
        assert!(f.values[0][1].is_nan());
        assert_eq!(f.values[1][..2], [1.0, 2.5]);
        assert!(f.values[1][2].is_nan());
    }

    #[test]
    fn buckets_are_epoch_aligned_like_influx() {
        let frame = Frame {
            times: vec![100, 900, 1100, 2500],
            fields: vec!["x".into()],
            values: vec![vec![1.0, 3.0, 5.0, f64::NAN]],
        };
        let f = aggregate(&frame, 1000, &Function::Mean).expect("agg");
        assert_eq!(f.times, [0, 1000]);
        assert_eq!(f.values[0], [2.0, 5.0]);
        assert_eq!(duration(1_000_000_000), "1s");
        assert_eq!(duration(1_500_000), "1500u");
    }
}
