//! The Consolidated Database's schemas: Rubin's own Felis files (`cdb_<instrument>.yaml`),
//! read as they are. Seven ship with skyport (`schemas/`, from the PyPI package
//! `lsst-sdm-schemas`; see its SOURCES.md); more can be read from a directory, so a new
//! instrument is a new file.
//!
//! Felis declares `visit1` and `ccdvisit1` as tables, but in ConsDB they are views over
//! `exposure` and `ccdexposure` (one visit per exposure: `visit_id` is the `exposure_id`,
//! `ccdvisit_id` the `ccdexposure_id`), as in Rubin's own database; [`mark_views`] says so.
//! Every stored table gets a history table ([`add_history`]).

use std::path::Path;

use skyport_schema::{history, Schema, SchemaError, View};

/// The schema files that ship with skyport: (file name, text).
pub const BUILTIN: [(&str, &str); 7] = [
    (
        "cdb_latiss.yaml",
        include_str!("../schemas/cdb_latiss.yaml"),
    ),
    (
        "cdb_lsstcam.yaml",
        include_str!("../schemas/cdb_lsstcam.yaml"),
    ),
    (
        "cdb_lsstcomcam.yaml",
        include_str!("../schemas/cdb_lsstcomcam.yaml"),
    ),
    (
        "cdb_lsstcomcamsim.yaml",
        include_str!("../schemas/cdb_lsstcomcamsim.yaml"),
    ),
    (
        "cdb_startrackerfast.yaml",
        include_str!("../schemas/cdb_startrackerfast.yaml"),
    ),
    (
        "cdb_startrackernarrow.yaml",
        include_str!("../schemas/cdb_startrackernarrow.yaml"),
    ),
    (
        "cdb_startrackerwide.yaml",
        include_str!("../schemas/cdb_startrackerwide.yaml"),
    ),
];

/// Why ConsDB schemas could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConsDbSchemaError {
    /// A file could not be read.
    #[error("{path}: {reason}")]
    Read {
        /// The file or directory.
        path: String,
        /// Why.
        reason: String,
    },
    /// A file is not a valid Felis schema.
    #[error(transparent)]
    Felis(#[from] SchemaError),
    /// A schema is not a ConsDB schema.
    #[error("{file}: schema {name} is not a ConsDB schema (its name must start with cdb_)")]
    NotConsDb {
        /// The file.
        file: String,
        /// Its schema name.
        name: String,
    },
}

/// A view of the ConsDB model: (view, base table, renamed columns (view, base)).
type ViewDecl = (
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
);

/// The views of the ConsDB model.
const VIEWS: [ViewDecl; 2] = [
    ("visit1", "exposure", &[("visit_id", "exposure_id")]),
    (
        "ccdvisit1",
        "ccdexposure",
        &[
            ("ccdvisit_id", "ccdexposure_id"),
            ("visit_id", "exposure_id"),
        ],
    ),
];

/// Marks `visit1` and `ccdvisit1` as views of `exposure` and `ccdexposure` where the schema
/// declares both.
pub fn mark_views(schema: &mut Schema) {
    for (view, base, renamed) in VIEWS {
        if schema.table(base).is_none() {
            continue;
        }
        if let Some(table) = schema.tables.iter_mut().find(|t| t.name == view) {
            table.view = Some(View {
                base: base.to_string(),
                renamed: renamed
                    .iter()
                    .map(|(to, from)| (to.to_string(), from.to_string()))
                    .collect(),
                aggregate: None,
            });
        }
    }
}

/// The name of skyport's view of visits made of snaps (see [`add_snap_visits`]).
pub const SNAP_VISIT: &str = "snap_visit";

/// Adds the view `snap_visit`: one visit per exposure group (`group_id`; an exposure without
/// one is a visit of its own), so a two-snap visit aggregates its exposures — summed exposure
/// times, the first start, the last end, the mean airmass, the union of the footprints — and a
/// single-snap visit is its exposure. Being a view, it is always consistent with `exposure`.
/// Rubin's `visit1` (one visit per exposure) is unchanged.
pub fn add_snap_visits(schema: &mut Schema) {
    use skyport_schema::{Aggregate, AggregateFn};
    let Some(exposure) = schema.table("exposure") else {
        return;
    };
    if exposure.column("group_id").is_none()
        || exposure.column("exposure_id").is_none()
        || schema.table(SNAP_VISIT).is_some()
    {
        return;
    }
    let plan: [(&str, AggregateFn, &str); 25] = [
        ("visit_id", AggregateFn::Min, "exposure_id"),
        ("day_obs", AggregateFn::Group, "day_obs"),
        ("group_id", AggregateFn::Group, "group_id"),
        ("seq_num", AggregateFn::Min, "seq_num"),
        ("n_snaps", AggregateFn::Count, "exposure_id"),
        ("controller", AggregateFn::Min, "controller"),
        ("physical_filter", AggregateFn::Min, "physical_filter"),
        ("band", AggregateFn::Min, "band"),
        ("img_type", AggregateFn::Min, "img_type"),
        ("science_program", AggregateFn::Min, "science_program"),
        ("observation_reason", AggregateFn::Min, "observation_reason"),
        ("target_name", AggregateFn::Min, "target_name"),
        ("s_ra", AggregateFn::Min, "s_ra"),
        ("s_dec", AggregateFn::Min, "s_dec"),
        ("sky_rotation", AggregateFn::Min, "sky_rotation"),
        ("airmass", AggregateFn::Avg, "airmass"),
        ("exp_time", AggregateFn::Sum, "exp_time"),
        ("shut_time", AggregateFn::Sum, "shut_time"),
        ("dark_time", AggregateFn::Sum, "dark_time"),
        ("obs_start", AggregateFn::Min, "obs_start"),
        ("obs_start_mjd", AggregateFn::Min, "obs_start_mjd"),
        ("obs_end", AggregateFn::Max, "obs_end"),
        ("obs_end_mjd", AggregateFn::Max, "obs_end_mjd"),
        ("dimm_seeing", AggregateFn::Avg, "dimm_seeing"),
        ("s_region", AggregateFn::RegionUnion, "s_region"),
    ];
    let mut columns = Vec::new();
    let mut aggregated = Vec::new();
    for (name, f, from) in plan {
        let Some(base) = exposure.column(from) else {
            continue;
        };
        let mut c = base.clone();
        c.name = name.to_string();
        c.id = None;
        c.nullable = true;
        c.value = None;
        match (name, f) {
            ("visit_id", _) => {
                c.description = Some("Id of the visit: its first exposure's exposure_id.".into())
            }
            ("n_snaps", _) => {
                c.datatype = skyport_schema::Datatype::Int;
                c.unit = None;
                c.ucd = Some("meta.number".into());
                c.description = Some("Number of exposures (snaps) in the visit.".into());
            }
            (_, AggregateFn::Sum) => {
                c.description = Some(
                    format!(
                        "{} Summed over the visit's snaps.",
                        base.description.clone().unwrap_or_default()
                    )
                    .trim()
                    .to_string(),
                )
            }
            (_, AggregateFn::Avg) => {
                c.description = Some(
                    format!(
                        "{} Mean over the visit's snaps.",
                        base.description.clone().unwrap_or_default()
                    )
                    .trim()
                    .to_string(),
                )
            }
            (_, AggregateFn::RegionUnion) => {
                c.description = Some("Union of the snaps' footprints (STC-S).".into())
            }
            _ => {}
        }
        columns.push(c);
        aggregated.push((name.to_string(), f, from.to_string()));
    }
    schema.tables.push(skyport_schema::Table {
        name: SNAP_VISIT.to_string(),
        id: None,
        utype: None,
        description: Some(
            "Visits made of the snaps of one exposure group (skyport's addition; Rubin's visit1 has \
             one visit per exposure): a single-snap visit is its exposure, a two-snap visit sums \
             the exposure times, spans the first start to the last end, averages the airmass and \
             unites the footprints. A view, recomputed whenever an exposure changes."
                .into(),
        ),
        table_index: exposure.table_index.map(|i| i + 1),
        primary_key: Vec::new(),
        constraints: Vec::new(),
        indexes: Vec::new(),
        columns,
        column_refs: Default::default(),
        view: Some(View {
            base: "exposure".into(),
            renamed: Vec::new(),
            aggregate: Some(Aggregate {
                group_by: vec![
                    ("day_obs".into(), None),
                    ("group_id".into(), Some("exposure_id".into())),
                ],
                columns: aggregated,
            }),
        }),
        history_of: None,
    });
}

/// Gives every stored table of the schema a history table (`<table>_history`): no write to
/// ConsDB destroys a value (see [`skyport_schema::history`]).
pub fn add_history(schema: &mut Schema) {
    let histories: Vec<_> = schema
        .tables
        .iter()
        .filter(|t| t.history_of.is_none() && !t.columns.is_empty())
        .filter(|t| {
            schema
                .table(&format!("{}{}", t.name, history::SUFFIX))
                .is_none()
        })
        .filter_map(history::history_table)
        .collect();
    schema.tables.extend(histories);
}

/// Parses one ConsDB schema file.
pub fn parse(text: &str, file: &str) -> Result<Schema, ConsDbSchemaError> {
    let mut schema = Schema::from_yaml(text, file)?;
    if !schema.name.starts_with("cdb_") {
        return Err(ConsDbSchemaError::NotConsDb {
            file: file.to_string(),
            name: schema.name,
        });
    }
    mark_views(&mut schema);
    add_history(&mut schema);
    add_snap_visits(&mut schema);
    Ok(schema)
}

/// The schemas that ship with skyport.
pub fn builtin() -> Vec<Schema> {
    BUILTIN
        .iter()
        // Checked by the tests: every shipped file parses.
        .filter_map(|(file, text)| parse(text, file).ok())
        .collect()
}

/// Every `cdb_*.yaml` in `dir`, by file name.
pub fn from_dir(dir: &Path) -> Result<Vec<Schema>, ConsDbSchemaError> {
    let read_err = |p: &Path, e: std::io::Error| ConsDbSchemaError::Read {
        path: p.display().to_string(),
        reason: e.to_string(),
    };
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| read_err(dir, e))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("cdb_") && n.ends_with(".yaml"))
        })
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| {
            let text = std::fs::read_to_string(p).map_err(|e| read_err(p, e))?;
            parse(&text, &p.display().to_string())
        })
        .collect()
}

/// The instrument a schema is for (`cdb_lsstcam` → `lsstcam`).
pub fn instrument(schema: &Schema) -> &str {
    schema.name.strip_prefix("cdb_").unwrap_or(&schema.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_schema_parses_with_its_views() {
        for (file, text) in BUILTIN {
            let schema = parse(text, file).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(format!("{}.yaml", schema.name), file);
            let exposure = schema.table("exposure").expect("exposure");
            assert!(exposure.view.is_none());
            if let Some(visit) = schema.table("visit1") {
                let view = visit.view.as_ref().expect("visit1 is a view");
                assert_eq!(view.base, "exposure");
            }
        }
        assert_eq!(builtin().len(), 7);
        let err = parse("name: other\ntables: []\n", "x.yaml").expect_err("not cdb");
        assert!(err.to_string().contains("cdb_"), "{err}");
    }
}
