//! Rubin's transformed-EFD configuration (`config_<instrument>.yaml` of lsst-dm/consdb), read
//! as it is, and the schema it implies.
//!
//! Each column names the EFD topics and fields it summarises, the function, its arguments and
//! the tables it lands in. Every key is checked: an unknown key, function, function argument
//! or table is an error naming the column, so a config written for a newer transformer is
//! refused rather than half understood.

use serde_json::{Map, Value as Json};

use super::EfdError;

/// The tables a column can land in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Target {
    /// `exposure_efd`: one row per exposure, one column per config column.
    Exposure,
    /// `visit1_efd`: one row per visit.
    Visit,
    /// `exposure_efd_unpivoted`: one row per exposure, column and field.
    ExposureUnpivoted,
    /// `visit1_efd_unpivoted`: one row per visit, column and field.
    VisitUnpivoted,
}

impl Target {
    /// Every target, in table order.
    pub const ALL: [Target; 4] = [
        Target::Exposure,
        Target::ExposureUnpivoted,
        Target::Visit,
        Target::VisitUnpivoted,
    ];

    /// The table's name.
    pub fn table(self) -> &'static str {
        match self {
            Target::Exposure => "exposure_efd",
            Target::Visit => "visit1_efd",
            Target::ExposureUnpivoted => "exposure_efd_unpivoted",
            Target::VisitUnpivoted => "visit1_efd_unpivoted",
        }
    }

    /// Whether the table holds visits (else exposures).
    pub fn is_visit(self) -> bool {
        matches!(self, Target::Visit | Target::VisitUnpivoted)
    }

    /// Whether the table is the long (one row per field) form.
    pub fn is_unpivoted(self) -> bool {
        matches!(self, Target::ExposureUnpivoted | Target::VisitUnpivoted)
    }

    fn parse(name: &str) -> Option<Target> {
        Target::ALL.into_iter().find(|t| t.table() == name)
    }
}

/// What a polynomial is fitted against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FitBasis {
    /// The sample's position in the interval (0, 1, 2, …).
    Index,
    /// The sample's time, in nanoseconds since the interval's first sample.
    Time,
}

/// Where an interpolated value is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum At {
    /// The interval's start.
    Start,
    /// Its midpoint.
    Middle,
    /// Its end.
    End,
}

/// A summary function with its arguments.
#[derive(Debug, Clone, PartialEq)]
pub enum Function {
    /// Arithmetic mean.
    Mean,
    /// Standard deviation with `ddof` delta degrees of freedom (NULL below ddof + 1 samples).
    Stddev {
        /// Delta degrees of freedom (Rubin's configs use 1).
        ddof: u32,
    },
    /// Smallest value.
    Min,
    /// Largest value.
    Max,
    /// Median (the mean of the two middle values for an even count).
    Median,
    /// RMS of the residuals of a least-squares polynomial fit.
    RmsFromPolynomialFit {
        /// Polynomial degree.
        degree: u32,
        /// What the polynomial's variable is.
        basis: FitBasis,
    },
    /// The last sample of the interval (with `start_offset`, the interval reaches back).
    MostRecentValue,
    /// A sparse channel's value at a point of the interval, linearly interpolated between the
    /// samples on either side (skyport's extension: not in Rubin's transformer).
    Interpolated {
        /// Where in the interval.
        at: At,
        /// The widest gap between the two samples, in seconds (wider: NULL).
        max_gap_s: f64,
    },
}

impl Function {
    /// The name the config uses.
    pub fn name(&self) -> &'static str {
        match self {
            Function::Mean => "mean",
            Function::Stddev { .. } => "stddev",
            Function::Min => "min",
            Function::Max => "max",
            Function::Median => "median",
            Function::RmsFromPolynomialFit { .. } => "rms_from_polynomial_fit",
            Function::MostRecentValue => "most_recent_value",
            Function::Interpolated { .. } => "interpolated_value",
        }
    }
}

/// A column's filter on a field of its topic (Rubin's `subset_field`/`subset_value`).
#[derive(Debug, Clone, PartialEq)]
pub struct Subset {
    /// The field compared (e.g. `salIndex`).
    pub field: String,
    /// The values kept (any of them).
    pub values: Vec<f64>,
}

/// One topic a column reads.
#[derive(Debug, Clone, PartialEq)]
pub struct TopicFields {
    /// The EFD topic (InfluxDB measurement), e.g. `lsst.sal.MTMount.azimuth`.
    pub name: String,
    /// Its fields the column summarises (the subset field excluded).
    pub fields: Vec<String>,
}

/// One configured column.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnSpec {
    /// Column name (also the `property` of unpivoted rows).
    pub name: String,
    /// Tables it is written to.
    pub targets: Vec<Target>,
    /// The summary.
    pub function: Function,
    /// Hours added to the interval's start before selecting samples (negative: earlier).
    pub start_offset_h: Option<f64>,
    /// InfluxDB pre-aggregation bucket, nanoseconds (mean, min and max columns only).
    pub pre_aggregate_ns: Option<i64>,
    /// Felis datatype of the column (`float`, `double`, `int`, `long`, `boolean`).
    pub datatype: String,
    /// Unit (astropy notation, as the config gives it; `""` means none).
    pub unit: Option<String>,
    /// UCD.
    pub ucd: Option<String>,
    /// Description.
    pub description: String,
    /// Whether each field is a packed series (`field0…fieldN` samples per row).
    pub packed_series: bool,
    /// Filter on a field value.
    pub subset: Option<Subset>,
    /// Topics and fields read.
    pub topics: Vec<TopicFields>,
}

impl ColumnSpec {
    /// Every field the column needs from `topic`, the subset field included.
    pub fn query_fields(&self, topic: &TopicFields) -> Vec<String> {
        let mut out = topic.fields.clone();
        if let Some(s) = &self.subset {
            if !out.contains(&s.field) {
                out.push(s.field.clone());
            }
        }
        out
    }
}

/// A whole transformed-EFD configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct EfdConfig {
    /// The config's (and its schema's) version.
    pub version: String,
    /// The columns, in file order.
    pub columns: Vec<ColumnSpec>,
}

const COLUMN_KEYS: [&str; 15] = [
    "name",
    "tables",
    "function",
    "function_args",
    "datatype",
    "ivoa",
    "description",
    "packed_series",
    "subset_field",
    "subset_value",
    "pre_aggregate_interval",
    "store_unpivoted",
    "start_offset",
    "topics",
    "unit",
];

fn bad(column: &str, reason: impl Into<String>) -> EfdError {
    EfdError::Config {
        column: column.to_string(),
        reason: reason.into(),
    }
}

/// A duration such as `1s`, `500ms`, `5m`, `1h`, in nanoseconds.
pub fn parse_duration_ns(text: &str) -> Option<i64> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit() && c != '.')?;
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let scale = match unit.trim() {
        "ns" => 1.0,
        "us" | "µs" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        "m" | "min" => 60e9,
        "h" => 3600e9,
        "d" => 86400e9,
        _ => return None,
    };
    let ns = number * scale;
    (1.0..1e18).contains(&ns).then_some(ns.round() as i64)
}

fn string(column: &str, m: &Map<String, Json>, key: &str) -> Result<Option<String>, EfdError> {
    match m.get(key) {
        None | Some(Json::Null) => Ok(None),
        Some(Json::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(bad(column, format!("{key} must be text, not {other}"))),
    }
}

fn boolean(column: &str, m: &Map<String, Json>, key: &str) -> Result<bool, EfdError> {
    match m.get(key) {
        None | Some(Json::Null) => Ok(false),
        Some(Json::Bool(b)) => Ok(*b),
        Some(other) => Err(bad(
            column,
            format!("{key} must be true or false, not {other}"),
        )),
    }
}

fn function(column: &str, name: &str, args: &Map<String, Json>) -> Result<Function, EfdError> {
    let allowed: &[&str] = match name {
        "stddev" => &["ddof"],
        "rms_from_polynomial_fit" => &["degree", "fit_basis"],
        "interpolated_value" => &["at", "max_gap"],
        "mean" | "min" | "max" | "median" | "most_recent_value" => &[],
        other => {
            return Err(bad(
                column,
                format!(
                    "unknown function {other:?} (known: mean, stddev, min, max, median, rms_from_polynomial_fit, most_recent_value, interpolated_value)"
                ),
            ))
        }
    };
    if let Some(k) = args.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(bad(
            column,
            format!("function {name} takes no argument {k:?} (it takes: {allowed:?})"),
        ));
    }
    let uint = |key: &str, default: u32| -> Result<u32, EfdError> {
        match args.get(key) {
            None => Ok(default),
            Some(v) => v
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .filter(|n| *n <= 20)
                .ok_or_else(|| bad(column, format!("{key} must be an integer 0…20, not {v}"))),
        }
    };
    Ok(match name {
        "mean" => Function::Mean,
        "min" => Function::Min,
        "max" => Function::Max,
        "median" => Function::Median,
        "most_recent_value" => Function::MostRecentValue,
        "stddev" => Function::Stddev {
            ddof: uint("ddof", 1)?,
        },
        "rms_from_polynomial_fit" => Function::RmsFromPolynomialFit {
            degree: uint("degree", 1)?,
            basis: match args
                .get("fit_basis")
                .and_then(Json::as_str)
                .unwrap_or("index")
            {
                "index" => FitBasis::Index,
                "time" => FitBasis::Time,
                other => {
                    return Err(bad(
                        column,
                        format!("fit_basis must be index or time, not {other:?}"),
                    ))
                }
            },
        },
        _ => Function::Interpolated {
            at: match args.get("at").and_then(Json::as_str).unwrap_or("middle") {
                "start" => At::Start,
                "middle" => At::Middle,
                "end" => At::End,
                other => {
                    return Err(bad(
                        column,
                        format!("at must be start, middle or end, not {other:?}"),
                    ))
                }
            },
            max_gap_s: match args.get("max_gap") {
                None => 3600.0,
                Some(Json::String(s)) => parse_duration_ns(s)
                    .map(|ns| ns as f64 / 1e9)
                    .ok_or_else(|| {
                        bad(column, format!("max_gap {s:?} is not a duration like 10m"))
                    })?,
                Some(other) => {
                    return Err(bad(
                        column,
                        format!("max_gap must be a duration like 10m, not {other}"),
                    ))
                }
            },
        },
    })
}

/// Topic and field names as text: YAML 1.1 reads a field called `y` or `on` as a boolean
/// when nothing says it is text, so names are read a second time, typed.
#[derive(Debug, Default, serde::Deserialize)]
struct Names {
    #[serde(default)]
    columns: Vec<ColumnNames>,
}

#[derive(Debug, Default, serde::Deserialize)]
struct ColumnNames {
    #[serde(default)]
    topics: Vec<TopicNames>,
}

#[derive(Debug, Default, serde::Deserialize)]
struct TopicNames {
    #[serde(default)]
    fields: Vec<FieldName>,
}

#[derive(Debug, Default, serde::Deserialize)]
struct FieldName {
    #[serde(default)]
    name: String,
}

fn column(value: &Json, index: usize, names: Option<&ColumnNames>) -> Result<ColumnSpec, EfdError> {
    let Json::Object(m) = value else {
        return Err(bad(&format!("#{index}"), "a column must be a mapping"));
    };
    let name = match m.get("name") {
        Some(Json::String(s)) if !s.is_empty() => s.clone(),
        _ => return Err(bad(&format!("#{index}"), "the column has no name")),
    };
    let valid_name = name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !valid_name {
        return Err(bad(
            &name,
            "a column name is lower-case letters, digits and _ (at most 63)",
        ));
    }
    let col = name.as_str();
    if let Some(k) = m.keys().find(|k| !COLUMN_KEYS.contains(&k.as_str())) {
        return Err(bad(col, format!("unknown key {k:?}")));
    }
    let store_unpivoted = boolean(col, m, "store_unpivoted")?;
    let targets: Vec<Target> = match m.get("tables") {
        None | Some(Json::Null) => {
            if store_unpivoted {
                vec![Target::ExposureUnpivoted, Target::VisitUnpivoted]
            } else {
                vec![Target::Exposure, Target::Visit]
            }
        }
        Some(Json::Array(items)) => items
            .iter()
            .map(|t| {
                t.as_str().and_then(Target::parse).ok_or_else(|| {
                    bad(
                        col,
                        format!("unknown table {t} (known: exposure_efd, visit1_efd, exposure_efd_unpivoted, visit1_efd_unpivoted)"),
                    )
                })
            })
            .collect::<Result<_, _>>()?,
        Some(other) => return Err(bad(col, format!("tables must be a list, not {other}"))),
    };
    if targets.is_empty() {
        return Err(bad(col, "tables is empty"));
    }
    let fname =
        string(col, m, "function")?.ok_or_else(|| bad(col, "the column has no function"))?;
    let args = match m.get("function_args") {
        None | Some(Json::Null) => Map::new(),
        Some(Json::Object(a)) => a.clone(),
        Some(other) => {
            return Err(bad(
                col,
                format!("function_args must be a mapping, not {other}"),
            ))
        }
    };
    let function = function(col, &fname, &args)?;
    let start_offset_h = match m.get("start_offset") {
        None | Some(Json::Null) => None,
        Some(v) => Some(
            v.as_f64()
                .filter(|h| h.is_finite() && h.abs() <= 24.0 * 30.0)
                .ok_or_else(|| {
                    bad(
                        col,
                        format!("start_offset must be a number of hours, not {v}"),
                    )
                })?,
        ),
    };
    let pre_aggregate_ns = match string(col, m, "pre_aggregate_interval")? {
        None => None,
        Some(text) => Some(parse_duration_ns(&text).ok_or_else(|| {
            bad(
                col,
                format!("pre_aggregate_interval {text:?} is not a duration like 1s"),
            )
        })?),
    };
    let datatype = string(col, m, "datatype")?.unwrap_or_else(|| "float".into());
    if !["float", "double", "int", "long", "short", "boolean"].contains(&datatype.as_str()) {
        return Err(bad(col, format!("datatype {datatype:?} is not numeric")));
    }
    let (mut unit, mut ucd) = (string(col, m, "unit")?, None);
    match m.get("ivoa") {
        None | Some(Json::Null) => {}
        Some(Json::Object(ivoa)) => {
            if let Some(k) = ivoa.keys().find(|k| *k != "unit" && *k != "ucd") {
                return Err(bad(col, format!("unknown key ivoa.{k}")));
            }
            unit = string(col, ivoa, "unit")?.or(unit);
            ucd = string(col, ivoa, "ucd")?;
        }
        Some(other) => return Err(bad(col, format!("ivoa must be a mapping, not {other}"))),
    }
    // `""` (quoted empty) is how the configs write "no unit".
    let unit = unit
        .map(|u| u.trim().trim_matches('"').to_string())
        .filter(|u| !u.is_empty());
    let subset = match string(col, m, "subset_field")? {
        None => {
            if m.get("subset_value").is_some_and(|v| !v.is_null()) {
                return Err(bad(col, "subset_value without subset_field"));
            }
            None
        }
        Some(field) => {
            let one = |v: &Json| -> Result<f64, EfdError> {
                match v {
                    Json::Number(n) => n.as_f64(),
                    Json::String(s) => s.trim().parse().ok(),
                    _ => None,
                }
                .ok_or_else(|| bad(col, format!("subset_value {v} is not a number")))
            };
            let values = match m.get("subset_value") {
                Some(Json::Array(items)) => items.iter().map(one).collect::<Result<_, _>>()?,
                Some(v) if !v.is_null() => vec![one(v)?],
                _ => return Err(bad(col, "subset_field without subset_value")),
            };
            Some(Subset { field, values })
        }
    };
    let topics = match m.get("topics") {
        Some(Json::Array(items)) if !items.is_empty() => items
            .iter()
            .enumerate()
            .map(|(i, t)| topic(col, t, subset.as_ref(), names.and_then(|n| n.topics.get(i))))
            .collect::<Result<Vec<_>, _>>()?,
        _ => return Err(bad(col, "topics must be a non-empty list")),
    };
    if pre_aggregate_ns.is_some()
        && !matches!(function, Function::Mean | Function::Min | Function::Max)
    {
        return Err(bad(
            col,
            format!("pre_aggregate_interval works with mean, min and max, not {fname}"),
        ));
    }
    let description = string(col, m, "description")?.unwrap_or_default();
    let packed_series = boolean(col, m, "packed_series")?;
    Ok(ColumnSpec {
        name,
        targets,
        function,
        start_offset_h,
        pre_aggregate_ns,
        datatype,
        unit,
        ucd,
        description,
        packed_series,
        subset,
        topics,
    })
}

fn topic(
    col: &str,
    value: &Json,
    subset: Option<&Subset>,
    names: Option<&TopicNames>,
) -> Result<TopicFields, EfdError> {
    let Json::Object(m) = value else {
        return Err(bad(col, "a topic must be a mapping with name and fields"));
    };
    if let Some(k) = m.keys().find(|k| *k != "name" && *k != "fields") {
        return Err(bad(col, format!("unknown key topics[].{k}")));
    }
    let name = match m.get("name") {
        Some(Json::String(s)) if !s.is_empty() => s.clone(),
        _ => return Err(bad(col, "a topic has no name")),
    };
    let mut fields = Vec::new();
    match m.get("fields") {
        Some(Json::Array(items)) if !items.is_empty() => {
            for (i, f) in items.iter().enumerate() {
                let typed = names
                    .and_then(|n| n.fields.get(i))
                    .map(|f| f.name.clone())
                    .filter(|n| !n.is_empty());
                let field = match f {
                    Json::Object(fm) => {
                        if let Some(k) = fm.keys().find(|k| *k != "name") {
                            return Err(bad(col, format!("unknown key topics[].fields[].{k}")));
                        }
                        typed.or_else(|| fm.get("name").and_then(Json::as_str).map(str::to_string))
                    }
                    Json::String(s) => Some(s.clone()),
                    _ => None,
                }
                .filter(|s| !s.is_empty())
                .ok_or_else(|| bad(col, format!("a field of {name} has no name")))?;
                // The subset field selects rows; it is not summarised.
                if subset.is_some_and(|s| s.field == field) || fields.contains(&field) {
                    continue;
                }
                fields.push(field);
            }
        }
        _ => return Err(bad(col, format!("topic {name} must list its fields"))),
    }
    if fields.is_empty() {
        return Err(bad(col, format!("topic {name} has no field to summarise")));
    }
    Ok(TopicFields { name, fields })
}

impl EfdConfig {
    /// Parses a config's text (`file` names it in errors).
    pub fn parse(text: &str, file: &str) -> Result<EfdConfig, EfdError> {
        let doc: Json = serde_saphyr::from_str(text).map_err(|e| EfdError::Config {
            column: String::new(),
            reason: format!("{file}: not valid YAML: {e}"),
        })?;
        let Json::Object(top) = doc else {
            return Err(bad("", format!("{file}: the config must be a mapping")));
        };
        if let Some(k) = top.keys().find(|k| *k != "version" && *k != "columns") {
            return Err(bad("", format!("{file}: unknown top-level key {k:?}")));
        }
        let version = match top.get("version") {
            Some(Json::String(s)) => s.clone(),
            Some(Json::Number(n)) => n.to_string(),
            _ => "1.0.0".into(),
        };
        let Some(Json::Array(items)) = top.get("columns") else {
            return Err(bad("", format!("{file}: no columns list")));
        };
        let names: Names = serde_saphyr::from_str(text).unwrap_or_default();
        let mut columns: Vec<ColumnSpec> = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let c = column(item, i, names.columns.get(i))?;
            if columns.iter().any(|o| o.name == c.name) {
                return Err(bad(&c.name, "the column is declared twice"));
            }
            columns.push(c);
        }
        Ok(EfdConfig { version, columns })
    }

    /// Reads and parses a config file.
    pub fn load(path: &std::path::Path) -> Result<EfdConfig, EfdError> {
        let text = std::fs::read_to_string(path).map_err(|e| EfdError::Config {
            column: String::new(),
            reason: format!("{}: cannot read: {e}", path.display()),
        })?;
        EfdConfig::parse(&text, &path.display().to_string())
    }

    /// The column called `name`.
    pub fn column(&self, name: &str) -> Option<&ColumnSpec> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// The columns written to `target`.
    pub fn columns_of(&self, target: Target) -> impl Iterator<Item = &ColumnSpec> {
        self.columns
            .iter()
            .filter(move |c| c.targets.contains(&target))
    }
}
