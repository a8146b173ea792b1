//! The `efd_<instrument>` schema a transformed-EFD config implies — the shape Rubin's own
//! generator gives it (and the Felis files in sdm_schemas record): `exposure_efd` and
//! `visit1_efd` keyed by `(day_obs, seq_num)` with one column per config column, their
//! `_unpivoted` forms keyed by `(day_obs, seq_num, id, property, field)`, each with a history
//! table, and skyport's `efd_scheduler` of time windows.

use serde_json::{json, Value as Json};
use skyport_schema::{history, Schema};

use super::config::{EfdConfig, Target};
use super::EfdError;

/// The scheduler's table name.
pub const SCHEDULER: &str = "efd_scheduler";

fn column(table: &str, name: &str, datatype: &str, nullable: bool, description: &str) -> Json {
    json!({
        "name": name,
        "@id": format!("#{table}.{name}"),
        "datatype": datatype,
        "nullable": nullable,
        "description": description,
    })
}

fn keys(table: &str, id: &str, what: &str) -> Vec<Json> {
    let mut day = column(
        table,
        "day_obs",
        "int",
        false,
        "Day of observation (YYYYMMDD)",
    );
    day["ivoa:ucd"] = json!("meta.id.part");
    day["tap:principal"] = json!(1);
    let mut seq = column(
        table,
        "seq_num",
        "int",
        false,
        "Sequence number of the exposure",
    );
    seq["ivoa:ucd"] = json!("meta.id.part");
    seq["tap:principal"] = json!(1);
    let mut ident = column(table, id, "long", false, &format!("{what} id (ConsDB)"));
    ident["ivoa:ucd"] = json!("meta.id");
    ident["tap:principal"] = json!(1);
    vec![day, seq, ident]
}

fn created_at(table: &str) -> Json {
    let mut c = column(
        table,
        "created_at",
        "timestamp",
        true,
        "When the row was first written (UTC)",
    );
    c["value"] = json!("CURRENT_TIMESTAMP");
    c
}

fn table_json(config: &EfdConfig, target: Target, index: usize) -> Json {
    let name = target.table();
    let (id, what) = if target.is_visit() {
        ("visit_id", "Visit")
    } else {
        ("exposure_id", "Exposure")
    };
    let mut columns = keys(name, id, what);
    let mut primary = vec![format!("#{name}.day_obs"), format!("#{name}.seq_num")];
    let mut constraints = Vec::new();
    if target.is_unpivoted() {
        columns.push(column(
            name,
            "property",
            "string",
            false,
            "The config column summarised",
        ));
        columns.push(column(
            name,
            "field",
            "string",
            false,
            "The EFD field summarised",
        ));
        columns.push(column(
            name,
            "value",
            "float",
            true,
            "The summary of the field",
        ));
        columns[3]["length"] = json!(255);
        columns[4]["length"] = json!(255);
        primary.extend([
            format!("#{name}.{id}"),
            format!("#{name}.property"),
            format!("#{name}.field"),
        ]);
        columns.push(created_at(name));
    } else {
        columns.push(created_at(name));
        for c in config.columns_of(target) {
            let mut col = column(name, &c.name, &c.datatype, true, &c.description);
            if let Some(unit) = &c.unit {
                col["ivoa:unit"] = json!(unit);
            }
            if let Some(ucd) = &c.ucd {
                col["ivoa:ucd"] = json!(ucd);
            }
            columns.push(col);
        }
        constraints.push(json!({
            "name": format!("un_{name}_{id}"),
            "@id": format!("#{name}.un_{id}"),
            "@type": "Unique",
            "columns": [format!("#{name}.{id}")],
        }));
    }
    json!({
        "name": name,
        "@id": format!("#{name}"),
        "description": format!(
            "Engineering telemetry (EFD) summarised over each {}'s time span{}",
            what.to_lowercase(),
            if target.is_unpivoted() { ", one row per column and field" } else { "" }
        ),
        "tap:table_index": 100 + index,
        "primaryKey": primary,
        "constraints": constraints,
        "columns": columns,
    })
}

fn scheduler_json() -> Json {
    let t = SCHEDULER;
    let mut columns = vec![
        column(
            t,
            "start_time",
            "timestamp",
            false,
            "Start of the window (UTC, inclusive)",
        ),
        column(
            t,
            "end_time",
            "timestamp",
            false,
            "End of the window (UTC, exclusive)",
        ),
        column(
            t,
            "timewindow",
            "int",
            false,
            "Length of the window (minutes)",
        ),
        column(
            t,
            "status",
            "string",
            false,
            "pending, running, completed, failed or stale",
        ),
        column(
            t,
            "process_start_time",
            "timestamp",
            true,
            "When the last attempt started (UTC)",
        ),
        column(
            t,
            "process_end_time",
            "timestamp",
            true,
            "When the last attempt ended (UTC)",
        ),
        column(
            t,
            "process_exec_time",
            "double",
            true,
            "How long the last attempt took (s)",
        ),
        column(
            t,
            "exposures",
            "int",
            true,
            "Exposures summarised by the last attempt",
        ),
        column(
            t,
            "visits1",
            "int",
            true,
            "Visits summarised by the last attempt",
        ),
        column(t, "retries", "int", false, "Failed attempts so far"),
        column(
            t,
            "next_attempt",
            "timestamp",
            true,
            "A failed window is not retried before this (UTC)",
        ),
        column(t, "error", "text", true, "Why the last attempt failed"),
        created_at(t),
    ];
    columns[3]["length"] = json!(20);
    columns[9]["value"] = json!(0);
    json!({
        "name": t,
        "@id": format!("#{t}"),
        "description": "Time windows of the EFD transformation and how each went",
        "tap:table_index": 190,
        "primaryKey": [format!("#{t}.start_time")],
        "columns": columns,
    })
}

/// The schema of `instrument`'s summaries under `config`.
pub fn schema(instrument: &str, config: &EfdConfig) -> Result<Schema, EfdError> {
    let name = format!("efd_{instrument}");
    let tables: Vec<Json> = Target::ALL
        .iter()
        .enumerate()
        .map(|(i, t)| table_json(config, *t, i))
        .chain(std::iter::once(scheduler_json()))
        .collect();
    let doc = json!({
        "name": name,
        "@id": format!("#{name}"),
        "description": format!("Transformed EFD of {instrument}: engineering telemetry summarised per exposure and visit"),
        "version": config.version,
        "tables": tables,
    });
    // JSON is YAML: the generated schema goes through the same parser and checks as a file.
    let mut schema = Schema::from_yaml(&doc.to_string(), &format!("efd config of {instrument}"))
        .map_err(|e| EfdError::Config {
            column: String::new(),
            reason: e.to_string(),
        })?;
    let histories: Vec<_> = schema
        .tables
        .iter()
        .filter(|t| t.name != SCHEDULER)
        .filter_map(history::history_table)
        .collect();
    schema.tables.extend(histories);
    Ok(schema)
}
