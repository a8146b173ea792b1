//! Summarising the exposures and visits of one time window.
//!
//! Intervals come from the consolidated database: an exposure's `[obs_start, obs_end]`, a
//! visit's from `visit1` (over its exposures), both TAI and turned into UTC. A window holds
//! the exposures and visits that *start* in it, so each lands in exactly one window. The
//! columns are grouped by topic: each topic is fetched once per window, over the span of the
//! window's intervals (widened by the largest `start_offset` and interpolation gap of its
//! columns), with all its columns' fields together. Pre-aggregated columns (InfluxDB buckets)
//! and packed series form groups of their own. When only `most_recent_value` columns reach
//! back (a `start_offset`), the reach is fetched as the latest row before the window (per
//! subset) instead of whole: the value before an interval is that row or one in the window.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures_util::StreamExt;

use skyport_store::ddl::{placeholder, table_name};
use skyport_store::{Statement, Store, Value};

use super::config::{ColumnSpec, EfdConfig, Function, Target};
use super::source::{Frame, Latest, Query, Source};
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
    /// When only `most_recent_value` columns reach back: the latest samples fetched from
    /// before the window instead of the whole reach.
    lookback: Option<Vec<Lookback>>,
}

/// Fields whose latest sample before a window is fetched, for one subset (or none).
#[derive(Debug, Clone, PartialEq)]
struct Lookback {
    subset: Option<(String, f64)>,
    fields: Vec<String>,
}

impl Group {
    /// Whether the group reaches back by the latest rows only.
    fn latest_only(&self) -> bool {
        self.lookback.is_some()
    }
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
                        lookback: None,
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
    for g in &mut out {
        g.lookback = lookbacks(g, columns);
    }
    out
}

/// What `group` reads from before the window when everything in it that reaches back is a
/// `most_recent_value` of single values (one field, or unpivoted): only the latest sample of
/// each such field before the window, per subset, instead of the whole reach. `None` when
/// something else reaches back (interpolation, a statistic with a start offset, a packed
/// series, a wide column over several fields) or nothing does.
fn lookbacks(group: &Group, columns: &[(usize, &ColumnSpec)]) -> Option<Vec<Lookback>> {
    if group.before == 0 || group.packed || group.aggregate.is_some() {
        return None;
    }
    let mut out: Vec<Lookback> = Vec::new();
    for &(index, topic) in &group.columns {
        // `columns` is in config order (summarise filters an enumeration).
        let (_, c) = columns
            .binary_search_by_key(&index, |(i, _)| *i)
            .ok()
            .map(|at| columns[at])?;
        let reaches = c.start_offset_h.is_some_and(|h| h < 0.0);
        let fields = &c.topics[topic].fields;
        let single = fields.len() == 1 || c.targets.iter().all(|t| t.is_unpivoted());
        match c.function {
            Function::Interpolated { .. } => return None,
            Function::MostRecentValue if reaches && single => {}
            _ if reaches => return None,
            _ => continue,
        }
        let subsets: Vec<Option<(String, f64)>> = match &c.subset {
            None => vec![None],
            Some(s) => s
                .values
                .iter()
                .map(|v| Some((s.field.clone(), *v)))
                .collect(),
        };
        for subset in subsets {
            let i = match out.iter().position(|l| l.subset == subset) {
                Some(i) => i,
                None => {
                    out.push(Lookback {
                        subset,
                        fields: Vec::new(),
                    });
                    out.len() - 1
                }
            };
            for f in fields {
                if !out[i].fields.contains(f) {
                    out[i].fields.push(f.clone());
                }
            }
        }
    }
    Some(out)
}

/// The rows of `main` preceded by the latest samples found before it: each look-back frame
/// laid out in `main`'s fields, its subset field holding the subset's value so the subset's
/// columns find them.
fn prepend(main: Frame, earlier: Vec<(&Lookback, Frame)>) -> Frame {
    let mut rows: Vec<(i64, Vec<f64>)> = Vec::new();
    for (lookback, frame) in earlier {
        let from: Vec<Option<&[f64]>> = main.fields.iter().map(|f| frame.field(f)).collect();
        let subset = lookback.subset.as_ref().and_then(|(field, value)| {
            Some((main.fields.iter().position(|f| f == field)?, *value))
        });
        for (r, &t) in frame.times.iter().enumerate() {
            let row = from
                .iter()
                .enumerate()
                .map(|(i, values)| match (values, subset) {
                    (_, Some((s, value))) if s == i => value,
                    (Some(values), _) => values[r],
                    (None, _) => f64::NAN,
                })
                .collect();
            rows.push((t, row));
        }
    }
    if rows.is_empty() {
        return main;
    }
    rows.sort_by_key(|(t, _)| *t);
    let mut out = Frame {
        times: rows.iter().map(|(t, _)| *t).collect(),
        fields: main.fields.clone(),
        values: (0..main.fields.len())
            .map(|f| rows.iter().map(|(_, row)| row[f]).collect())
            .collect(),
    };
    out.times.extend_from_slice(&main.times);
    for (to, from) in out.values.iter_mut().zip(&main.values) {
        to.extend_from_slice(from);
    }
    out
}

/// Topic fetches run at once within a window. The source works on several while the frames
/// arrive in order; in the LSSTCam benchmark 16 was faster than 4 or 8 (the window's ~40
/// topics wait less on the slowest), and each frame in flight is at most a few MB.
const FETCHES_IN_FLIGHT: usize = 16;

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
                start: if group.latest_only() {
                    first
                } else {
                    first - group.before
                },
                end: last + group.after,
                aggregate: group.aggregate.as_ref().map(|(ns, f)| (*ns, f)),
                latest: None,
            };
            let main = source.fetch(&query).await?;
            let Some(lookbacks) = &group.lookback else {
                return Ok::<_, EfdError>((main, 1));
            };
            let mut earlier = Vec::with_capacity(lookbacks.len());
            for lookback in lookbacks {
                let query = Query {
                    fields: &lookback.fields,
                    start: first - group.before,
                    end: first - 1,
                    latest: Some(Latest {
                        subset: lookback.subset.as_ref().map(|(f, v)| (f.as_str(), *v)),
                    }),
                    ..query.clone()
                };
                earlier.push((lookback, source.fetch(&query).await?));
            }
            Ok((prepend(main, earlier), 1 + lookbacks.len()))
        }))
        .buffered(FETCHES_IN_FLIGHT);
    for (group, _, counts) in &plans {
        let Some(frame) = fetched.next().await else {
            break;
        };
        let (mut frame, fetches) = frame?;
        out.fetches += fetches;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn column(name: &str, function: &str, extra: &str, topic: &str, fields: &[&str]) -> String {
        let fields: Vec<String> = fields.iter().map(|f| format!("{{name: {f}}}")).collect();
        format!(
            "- {{name: {name}, tables: [exposure_efd], function: {function}, datatype: float, \
             description: x, packed_series: false{extra}, topics: [{{name: {topic}, fields: [{}]}}]}}\n",
            fields.join(", ")
        )
    }

    #[test]
    fn only_most_recent_values_of_single_fields_reach_back_by_latest_samples() {
        let back = ", start_offset: -1";
        let yaml = [
            column("a_mean", "mean", "", "A", &["x"]),
            column("a_recent", "most_recent_value", back, "A", &["y"]),
            column(
                "b_recent1",
                "most_recent_value",
                &format!("{back}, subset_field: s, subset_value: [1, 2]"),
                "B",
                &["x", "s"],
            ),
            column(
                "b_recent2",
                "most_recent_value",
                &format!("{back}, subset_field: s, subset_value: 2"),
                "B",
                &["y", "s"],
            ),
            column("c_mean", "mean", back, "C", &["x"]),
            column("d_recent", "most_recent_value", back, "D", &["x", "y"]),
            column("e_recent", "most_recent_value", back, "E", &["x"]),
            column(
                "e_interp",
                "interpolated_value",
                ", function_args: {at: middle, max_gap: 1h}",
                "E",
                &["x"],
            ),
        ]
        .concat();
        let config =
            EfdConfig::parse(&format!("version: 1.0.0\ncolumns:\n{yaml}"), "test").expect("config");
        let columns: Vec<(usize, &ColumnSpec)> = config.columns.iter().enumerate().collect();
        let by_topic: BTreeMap<String, Option<Vec<Lookback>>> = groups(&columns)
            .into_iter()
            .map(|g| (g.topic, g.lookback))
            .collect();
        let one = |subset: Option<f64>, fields: &[&str]| Lookback {
            subset: subset.map(|v| ("s".to_string(), v)),
            fields: fields.iter().map(|f| f.to_string()).collect(),
        };
        // The mean on A does not reach back; only the most recent y does.
        assert_eq!(by_topic["A"], Some(vec![one(None, &["y"])]));
        // Each subset value is looked up on its own, with the fields of its columns.
        assert_eq!(
            by_topic["B"],
            Some(vec![one(Some(1.0), &["x"]), one(Some(2.0), &["x", "y"])])
        );
        // A statistic with a start offset, a wide most-recent row of two fields and
        // interpolation need the whole reach.
        assert_eq!(by_topic["C"], None);
        assert_eq!(by_topic["D"], None);
        assert_eq!(by_topic["E"], None);
    }

    #[test]
    fn latest_samples_go_before_the_window_with_their_subset_value() {
        let main = Frame {
            times: vec![100, 200],
            fields: vec!["x".into(), "s".into(), "y".into()],
            values: vec![vec![1.0, 2.0], vec![1.0, 2.0], vec![10.0, 20.0]],
        };
        let by_subset = Lookback {
            subset: Some(("s".into(), 2.0)),
            fields: vec!["x".into()],
        };
        let plain = Lookback {
            subset: None,
            fields: vec!["y".into()],
        };
        let found = |t: i64, field: &str, v: f64| Frame {
            times: vec![t],
            fields: vec![field.into()],
            values: vec![vec![v]],
        };
        let out = prepend(
            main,
            vec![
                (&by_subset, found(50, "x", 5.0)),
                (&plain, found(20, "y", 7.0)),
            ],
        );
        assert_eq!(out.times, vec![20, 50, 100, 200]);
        let x = out.field("x").expect("x");
        let s = out.field("s").expect("s");
        let y = out.field("y").expect("y");
        assert!(x[0].is_nan() && s[0].is_nan() && y[0] == 7.0);
        assert!(x[1] == 5.0 && s[1] == 2.0 && y[1].is_nan());
        assert_eq!(&x[2..], &[1.0, 2.0]);
        assert_eq!(&y[2..], &[10.0, 20.0]);
    }
}
