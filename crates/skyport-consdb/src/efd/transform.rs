//! Summarising the exposures and visits of one time window.
//!
//! Intervals come from the consolidated database: an exposure's `[obs_start, obs_end]`, a
//! visit's from `visit1` (over its exposures), both TAI and turned into UTC. A window holds
//! the exposures and visits that *start* in it, so each lands in exactly one window. The
//! columns are grouped by topic: each topic is fetched once per window, over the span of the
//! window's intervals (widened by the largest `start_offset` and interpolation gap of its
//! columns), with all its columns' fields together. Pre-aggregated columns (InfluxDB buckets)
//! and packed series form groups of their own.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures_util::StreamExt;

use skyport_store::ddl::{placeholder, table_name};
use skyport_store::{Statement, Store, Value};

use super::config::{ColumnSpec, EfdConfig, Function, Target};
use super::source::{Frame, Query, Source};
use super::stats::{apply, Samples};
use super::EfdError;
use crate::write::{self, OnConflict, RowSet};

/// One exposure's or visit's time span.
#[derive(Debug, Clone, PartialEq)]
pub struct Interval {
    /// exposure_id or visit_id.
    pub id: i64,
    /// day_obs.
    pub day_obs: i64,
    /// seq_num.
    pub seq_num: i64,
    /// Start, ns UTC.
    pub start: i64,
    /// End, ns UTC.
    pub end: i64,
}

/// The exposures (or visits) of `instrument` starting in `[from, to)` (ns UTC), by start.
pub async fn intervals(
    store: &dyn Store,
    instrument: &str,
    visits: bool,
    from: i64,
    to: i64,
) -> Result<Vec<Interval>, EfdError> {
    let d = store.dialect();
    let (table, id) = if visits {
        ("visit1", "visit_id")
    } else {
        ("exposure", "exposure_id")
    };
    // MJD (TAI) bounds with a minute's margin select candidates on an indexable number;
    // the exact test is on the parsed times.
    let mjd = |ns: i64| ns as f64 / 86_400e9 + 40_587.0;
    let sql = format!(
        "SELECT {id}, day_obs, seq_num, obs_start, obs_end FROM {} \
         WHERE obs_start_mjd >= {} AND obs_start_mjd < {} ORDER BY obs_start_mjd",
        table_name(d, &format!("cdb_{instrument}"), table),
        placeholder(d, 1),
        placeholder(d, 2)
    );
    let rows = store
        .query(
            sql,
            vec![
                Value::Float(mjd(from) - 1.0 / 1440.0),
                Value::Float(mjd(to) + 2.0 / 1440.0),
            ],
        )
        .await?;
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
    let mut out = Vec::new();
    for row in rows.rows {
        let (Some(idv), Some(day_obs), Some(seq_num)) = (
            row.first().and_then(Value::as_i64),
            row.get(1).and_then(Value::as_i64),
            row.get(2).and_then(Value::as_i64),
        ) else {
            continue;
        };
        let start = text(row.get(3)).and_then(|t| super::tai_text_to_utc_ns(&t));
        let end = text(row.get(4)).and_then(|t| super::tai_text_to_utc_ns(&t));
        let (Some(start), Some(end)) = (start, end) else {
            continue;
        };
        if start >= from && start < to && end >= start {
            out.push(Interval {
                id: idv,
                day_obs,
                seq_num,
                start,
                end,
            });
        }
    }
    out.sort_by_key(|i| (i.start, i.id));
    Ok(out)
}

/// Columns fetched together: one topic, packed or not, pre-aggregated or not.
#[derive(Debug, Clone)]
struct Group {
    topic: String,
    packed: bool,
    aggregate: Option<(i64, Function)>,
    /// Every field the group's columns read (subset fields included).
    fields: Vec<String>,
    /// The columns (indices into the config), each with its topic's index.
    columns: Vec<(usize, usize)>,
    /// How far before an interval's start the group reaches (ns, ≥ 0).
    before: i64,
    /// How far after an interval's end (ns, ≥ 0).
    after: i64,
}

/// The fetch groups of `columns` (each with its index in the config).
fn groups(columns: &[(usize, &ColumnSpec)]) -> Vec<Group> {
    let mut out: Vec<Group> = Vec::new();
    for &(index, c) in columns {
        let aggregate = c.pre_aggregate_ns.map(|ns| (ns, c.function.clone()));
        let before = c
            .start_offset_h
            .map_or(0, |h| (-h * 3600e9).max(0.0) as i64);
        let gap = match c.function {
            Function::Interpolated { max_gap_s, .. } => (max_gap_s * 1e9) as i64,
            _ => 0,
        };
        // A packed row is stamped with the start of the second its samples cover.
        let before = if c.packed_series {
            before.max(1_000_000_000)
        } else {
            before
        };
        for (t, topic) in c.topics.iter().enumerate() {
            let g = match out.iter_mut().position(|g| {
                g.topic == topic.name && g.packed == c.packed_series && g.aggregate == aggregate
            }) {
                Some(i) => &mut out[i],
                None => {
                    out.push(Group {
                        topic: topic.name.clone(),
                        packed: c.packed_series,
                        aggregate: aggregate.clone(),
                        fields: Vec::new(),
                        columns: Vec::new(),
                        before: 0,
                        after: 0,
                    });
                    let last = out.len() - 1;
                    &mut out[last]
                }
            };
            for f in c.query_fields(topic) {
                if !g.fields.contains(&f) {
                    g.fields.push(f);
                }
            }
            g.columns.push((index, t));
            g.before = g.before.max(before.max(gap));
            g.after = g.after.max(gap);
        }
    }
    out
}

/// Topic fetches run at once within a window.
const FETCHES_IN_FLIGHT: usize = 4;

/// The field `cRIO_timestamp` (TAI, Unix seconds) stamps each row of a packed series.
const PACKED_CLOCK: &str = "cRIO_timestamp";

/// Unpacks packed series: each row's `field0…fieldN-1` become N samples spread evenly over the
/// second after its `cRIO_timestamp` (TAI, turned into UTC), as lsst-efd-client does.
fn unpack(frame: &Frame, bases: &[String], counts: &BTreeMap<String, usize>) -> Frame {
    let clock = frame.field(PACKED_CLOCK);
    let n = bases
        .iter()
        .filter_map(|b| counts.get(b))
        .copied()
        .max()
        .unwrap_or(0);
    let mut out = Frame {
        fields: bases.to_vec(),
        values: vec![Vec::new(); bases.len()],
        ..Frame::default()
    };
    let Some(clock) = clock else { return out };
    for (row, &tai) in clock.iter().enumerate() {
        if !tai.is_finite() {
            continue;
        }
        let epoch = hifitime::Epoch::from_unix_seconds(tai);
        let leap = epoch.leap_seconds(true).unwrap_or(0.0);
        let utc0 = ((tai - leap) * 1e9).round() as i64;
        for i in 0..n {
            out.times
                .push(utc0 + (i as f64 * 1e9 / n as f64).round() as i64);
            for (b, base) in bases.iter().enumerate() {
                let v = frame
                    .field(&format!("{base}{i}"))
                    .map_or(f64::NAN, |v| v[row]);
                out.values[b].push(v);
            }
        }
    }
    // Rows are in clock order already; samples within a second keep it.
    out
}

/// One wide row's values, in column order (None: NULL).
pub type RowValues = Vec<(String, Option<f64>)>;

/// What a window (or a recompute) produced.
#[derive(Debug, Default, Clone)]
pub struct Summaries {
    /// Wide rows per target table: (interval, column → value).
    pub wide: BTreeMap<&'static str, Vec<(Interval, RowValues)>>,
    /// Unpivoted rows per target table: (interval, property, field, value).
    pub long: BTreeMap<&'static str, Vec<(Interval, String, String, f64)>>,
    /// The exposures summarised (ids).
    pub exposures: Vec<i64>,
    /// The visits summarised (ids).
    pub visits: Vec<i64>,
    /// Samples fetched.
    pub samples: usize,
    /// Topics fetched.
    pub fetches: usize,
}

/// Summarises `exposures` and `visits` for the chosen columns (all of the config's when
/// `only` is empty).
pub async fn summarise(
    config: &EfdConfig,
    only: &[String],
    source: &dyn Source,
    exposures: &[Interval],
    visits: &[Interval],
) -> Result<Summaries, EfdError> {
    let columns: Vec<(usize, &ColumnSpec)> = config
        .columns
        .iter()
        .enumerate()
        .filter(|(_, c)| only.is_empty() || only.contains(&c.name))
        .collect();
    let mut out = Summaries {
        exposures: exposures.iter().map(|i| i.id).collect(),
        visits: visits.iter().map(|i| i.id).collect(),
        ..Summaries::default()
    };
    let all: Vec<&Interval> = exposures.iter().chain(visits).collect();
    let (Some(first), Some(last)) = (
        all.iter().map(|i| i.start).min(),
        all.iter().map(|i| i.end).max(),
    ) else {
        return Ok(out);
    };
    // Per (target, interval id): values in column order.
    // Per (target, interval id): values by config column index.
    let mut wide: BTreeMap<(Target, i64), BTreeMap<usize, Option<f64>>> = BTreeMap::new();
    let mut rows_buffer: Vec<usize> = Vec::new();
    // The fields each group asks for (packed series: their field0…fieldN, found once).
    let mut plans = Vec::new();
    for group in groups(&columns) {
        let (fields, counts) = if group.packed {
            let keys = source.field_keys(&group.topic).await?;
            let mut counts = BTreeMap::new();
            let mut wanted = vec![PACKED_CLOCK.to_string()];
            for base in &group.fields {
                let packed: Vec<&String> = keys
                    .iter()
                    .filter(|k| {
                        k.strip_prefix(base.as_str()).is_some_and(|rest| {
                            !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit())
                        })
                    })
                    .collect();
                counts.insert(base.clone(), packed.len());
                wanted.extend(packed.into_iter().cloned());
            }
            (wanted, counts)
        } else {
            (group.fields.clone(), BTreeMap::new())
        };
        plans.push((group, fields, counts));
    }
    // A few fetches in flight: the source answers one while the last is summarised. Frames
    // are taken in plan order, so results do not depend on timing.
    let mut fetched =
        futures_util::stream::iter(plans.iter().map(|(group, fields, _)| async move {
            let query = Query {
                topic: &group.topic,
                fields,
                start: first - group.before,
                end: last + group.after,
                aggregate: group.aggregate.as_ref().map(|(ns, f)| (*ns, f)),
            };
            source.fetch(&query).await
        }))
        .buffered(FETCHES_IN_FLIGHT);
    for (group, _, counts) in &plans {
        let Some(frame) = fetched.next().await else {
            break;
        };
        let mut frame = frame?;
        out.fetches += 1;
        out.samples += frame.samples();
        if group.packed {
            frame = unpack(&frame, &group.fields, counts);
        }
        for &(index, topic) in &group.columns {
            let column = &config.columns[index];
            let spec = &column.topics[topic];
            // The column's fields and subset in this frame, looked up once.
            let data: Option<Vec<&[f64]>> = spec.fields.iter().map(|f| frame.field(f)).collect();
            let subset: Option<Option<(&[f64], &[f64])>> = match &column.subset {
                None => Some(None),
                Some(s) => frame
                    .field(&s.field)
                    .map(|v| Some((v, s.values.as_slice()))),
            };
            let (Some(data), Some(subset)) = (data, subset) else {
                continue;
            };
            for target in &column.targets {
                let intervals = if target.is_visit() { visits } else { exposures };
                for interval in intervals {
                    if target.is_unpivoted() {
                        for (field, values) in spec.fields.iter().zip(&data) {
                            let value = column_value(
                                column,
                                &frame,
                                std::slice::from_ref(values),
                                subset,
                                interval,
                                &mut rows_buffer,
                            );
                            if let Some(v) = value {
                                out.long.entry(target.table()).or_default().push((
                                    interval.clone(),
                                    column.name.clone(),
                                    field.clone(),
                                    v,
                                ));
                            }
                        }
                    } else {
                        let value =
                            column_value(column, &frame, &data, subset, interval, &mut rows_buffer);
                        let row = wide.entry((*target, interval.id)).or_default();
                        // A column reading several topics keeps the first topic with data.
                        let slot = row.entry(index).or_insert(None);
                        if slot.is_none() {
                            *slot = value;
                        }
                    }
                }
            }
        }
    }
    for target in [Target::Exposure, Target::Visit] {
        let intervals = if target.is_visit() { visits } else { exposures };
        if !columns.iter().any(|(_, c)| c.targets.contains(&target)) {
            continue;
        }
        let rows = out.wide.entry(target.table()).or_default();
        for interval in intervals {
            let values = wide.remove(&(target, interval.id)).unwrap_or_default();
            rows.push((
                interval.clone(),
                values
                    .into_iter()
                    .map(|(i, v)| (config.columns[i].name.clone(), v))
                    .collect(),
            ));
        }
    }
    Ok(out)
}

/// One column's value over one interval from the fields `fields` of `frame`.
fn column_value(
    column: &ColumnSpec,
    frame: &Frame,
    data: &[&[f64]],
    subset: Option<(&[f64], &[f64])>,
    interval: &Interval,
    rows: &mut Vec<usize>,
) -> Option<f64> {
    let start = interval.start + column.start_offset_h.map_or(0, |h| (h * 3600e9) as i64);
    let range = match column.function {
        // Interpolation looks at the samples around the interval too.
        Function::Interpolated { max_gap_s, .. } => {
            let gap = (max_gap_s * 1e9) as i64;
            frame.rows_between(interval.start - gap, interval.end + gap)
        }
        _ => frame.rows_between(start.min(interval.end), interval.end),
    };
    rows.clear();
    rows.extend(
        range
            .filter(|&r| data.iter().all(|f| !f[r].is_nan()))
            .filter(|&r| subset.is_none_or(|(v, keep)| keep.contains(&v[r]))),
    );
    apply(
        &column.function,
        &Samples {
            times: &frame.times,
            fields: data,
            rows,
        },
        (interval.start, interval.end),
    )
}

/// The statements writing `summaries` into `efd_<instrument>` (upserts: a value computed
/// again replaces the stored one, and history keeps what it replaced; unchanged rows record
/// no new version). For unpivoted tables, an interval's rows of a recomputed property whose
/// field has no value any more are deleted.
pub fn statements(
    store: &Arc<dyn Store>,
    instrument: &str,
    config: &EfdConfig,
    only: &[String],
    summaries: &Summaries,
) -> Vec<Statement> {
    let d = store.dialect();
    let schema = format!("efd_{instrument}");
    let mut out = Vec::new();
    for (table, rows) in &summaries.wide {
        let id = if table.starts_with("visit") {
            "visit_id"
        } else {
            "exposure_id"
        };
        // Rows with the same column set share statements.
        let mut sets: Vec<RowSet> = Vec::new();
        for (interval, values) in rows {
            let mut columns: Vec<String> = vec!["day_obs".into(), "seq_num".into(), id.to_string()];
            let mut row = vec![
                Value::Int(interval.day_obs),
                Value::Int(interval.seq_num),
                Value::Int(interval.id),
            ];
            for (name, v) in values {
                columns.push(name.clone());
                row.push(
                    v.filter(|x| x.is_finite())
                        .map_or(Value::Null, Value::Float),
                );
            }
            match sets.iter_mut().find(|s| s.columns == columns) {
                Some(s) => s.rows.push(row),
                None => sets.push(RowSet {
                    columns,
                    rows: vec![row],
                }),
            }
        }
        for set in &sets {
            out.extend(write::statements(
                d,
                &schema,
                table,
                set,
                &["day_obs", "seq_num"],
                OnConflict::Update,
            ));
        }
    }
    let long_targets: Vec<Target> = Target::ALL
        .into_iter()
        .filter(|t| t.is_unpivoted())
        .filter(|t| {
            config
                .columns
                .iter()
                .any(|c| c.targets.contains(t) && (only.is_empty() || only.contains(&c.name)))
        })
        .collect();
    for target in long_targets {
        let table = target.table();
        let id = if target.is_visit() {
            "visit_id"
        } else {
            "exposure_id"
        };
        let rows = summaries.long.get(table).map_or(&[][..], Vec::as_slice);
        // Stale rows first: every row of the recomputed properties of these intervals that
        // this run does not write again.
        let properties: Vec<(&str, usize)> = config
            .columns
            .iter()
            .filter(|c| c.targets.contains(&target) && (only.is_empty() || only.contains(&c.name)))
            .map(|c| {
                (
                    c.name.as_str(),
                    c.topics.iter().map(|t| t.fields.len()).sum(),
                )
            })
            .collect();
        let intervals = if target.is_visit() {
            &summaries.visits
        } else {
            &summaries.exposures
        };
        let mut kept: std::collections::HashMap<(i64, &str), Vec<&str>> =
            std::collections::HashMap::new();
        for (i, p, f, _) in rows {
            kept.entry((i.id, p.as_str())).or_default().push(f.as_str());
        }
        out.extend(stale_deletions(
            d,
            &schema,
            table,
            id,
            intervals,
            &properties,
            &kept,
        ));
        let set = RowSet {
            columns: ["day_obs", "seq_num", id, "property", "field", "value"]
                .map(String::from)
                .to_vec(),
            rows: rows
                .iter()
                .map(|(i, p, f, v)| {
                    vec![
                        Value::Int(i.day_obs),
                        Value::Int(i.seq_num),
                        Value::Int(i.id),
                        Value::Text(p.clone()),
                        Value::Text(f.clone()),
                        Value::Float(*v),
                    ]
                })
                .collect(),
        };
        if !set.rows.is_empty() {
            out.extend(write::statements(
                d,
                &schema,
                table,
                &set,
                &["day_obs", "seq_num", id, "property", "field"],
                OnConflict::Update,
            ));
        }
    }
    out
}

/// Deletes, for the given intervals and properties, the unpivoted rows not in `kept`.
fn stale_deletions(
    d: skyport_store::Dialect,
    schema: &str,
    table: &str,
    id: &str,
    intervals: &[i64],
    properties: &[(&str, usize)],
    kept: &std::collections::HashMap<(i64, &str), Vec<&str>>,
) -> Vec<Statement> {
    // One statement per (interval, property) that keeps some fields (NOT IN them), and one
    // per interval for the properties that keep none.
    let mut out = Vec::new();
    let name = table_name(d, schema, table);
    for &interval in intervals {
        let mut none: Vec<&str> = Vec::new();
        for &(p, configured) in properties {
            let Some(fields) = kept.get(&(interval, p)) else {
                none.push(p);
                continue;
            };
            // Every field written again: no row of the property can be stale.
            if fields.len() >= configured {
                continue;
            }
            let marks: Vec<String> = (3..3 + fields.len()).map(|i| placeholder(d, i)).collect();
            let mut params = vec![Value::Int(interval), Value::Text(p.to_string())];
            params.extend(fields.iter().map(|f| Value::Text(f.to_string())));
            out.push(Statement::new(
                format!(
                    "DELETE FROM {name} WHERE {id} = {} AND property = {} AND field NOT IN ({})",
                    placeholder(d, 1),
                    placeholder(d, 2),
                    marks.join(", ")
                ),
                params,
            ));
        }
        if !none.is_empty() {
            let marks: Vec<String> = (2..2 + none.len()).map(|i| placeholder(d, i)).collect();
            let mut params = vec![Value::Int(interval)];
            params.extend(none.iter().map(|p| Value::Text(p.to_string())));
            out.push(Statement::new(
                format!(
                    "DELETE FROM {name} WHERE {id} = {} AND property IN ({})",
                    placeholder(d, 1),
                    marks.join(", ")
                ),
                params,
            ));
        }
    }
    out
}
