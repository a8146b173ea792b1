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
            });
        }
    }
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
