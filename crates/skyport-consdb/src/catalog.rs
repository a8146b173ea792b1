//! The instruments and tables ConsDB serves, and how REST requests name them: instruments
//! case-insensitively, tables bare or qualified (`visit1_quicklook`, `cdb_lsstcam.visit1_quicklook`),
//! observation types from a fixed list. A name that does not resolve is a [`ConsDbError::BadValue`]
//! listing the valid ones, as Rubin's pqserver answers.

use std::collections::BTreeMap;

use skyport_schema::{Schema, Table};

use crate::error::ConsDbError;
use crate::schemas;

/// The observation types of the REST paths.
pub const OBS_TYPES: [&str; 4] = ["exposure", "visit1", "ccdexposure", "ccdvisit1"];

/// The observation types that have flexible metadata.
pub const FLEX_OBS_TYPES: [&str; 2] = ["exposure", "ccdexposure"];

/// The natural-id columns, in the order the first present names a table's observation.
pub const NATURAL_IDS: [&str; 5] = [
    "ccdvisit_id",
    "visit_id",
    "ccdexposure_id",
    "exposure_id",
    "obs_id",
];

/// The ConsDB schemas by instrument name (lower case).
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    instruments: BTreeMap<String, Schema>,
}

impl Catalog {
    /// The catalog of `schemas` (ConsDB schemas, `cdb_<instrument>`).
    pub fn new(schemas: &[Schema]) -> Catalog {
        Catalog {
            instruments: schemas
                .iter()
                .map(|s| (schemas::instrument(s).to_ascii_lowercase(), s.clone()))
                .collect(),
        }
    }

    /// Instrument names, sorted.
    pub fn instruments(&self) -> Vec<String> {
        self.instruments.keys().cloned().collect()
    }

    /// The schema of an instrument named in any case.
    pub fn instrument(&self, name: &str) -> Result<(&str, &Schema), ConsDbError> {
        let lower = name.to_ascii_lowercase();
        self.instruments
            .get_key_value(&lower)
            .map(|(k, s)| (k.as_str(), s))
            .ok_or_else(|| ConsDbError::bad_value("instrument", name, self.instruments()))
    }

    /// An observation type named in any case.
    pub fn obs_type(name: &str) -> Result<&'static str, ConsDbError> {
        let lower = name.to_ascii_lowercase();
        OBS_TYPES
            .iter()
            .find(|t| **t == lower)
            .copied()
            .ok_or_else(|| {
                ConsDbError::bad_value("obs_type", name, OBS_TYPES.map(String::from).to_vec())
            })
    }
}

/// A table of `schema` named bare or qualified, in any case; `writable` restricts to stored
/// tables with a `day_obs` column (what `/insert` accepts).
pub fn table<'a>(schema: &'a Schema, name: &str, writable: bool) -> Result<&'a Table, ConsDbError> {
    let lower = name.to_ascii_lowercase();
    let prefix = format!("{}.", schema.name);
    let bare = lower.strip_prefix(&prefix).unwrap_or(&lower);
    let candidates: Vec<&Table> = schema
        .tables
        .iter()
        .filter(|t| t.history_of.is_none())
        .filter(|t| !writable || (t.view.is_none() && t.column("day_obs").is_some()))
        .collect();
    candidates
        .iter()
        .find(|t| t.name.eq_ignore_ascii_case(bare))
        .copied()
        .ok_or_else(|| {
            ConsDbError::bad_value(
                "table",
                format!("{}.{bare}", schema.name),
                candidates
                    .iter()
                    .map(|t| format!("{}.{}", schema.name, t.name))
                    .collect(),
            )
        })
}

/// The natural-id column of a table: the first of [`NATURAL_IDS`] it has.
pub fn natural_id(table: &Table) -> Option<&'static str> {
    NATURAL_IDS
        .iter()
        .find(|c| table.column(c).is_some())
        .copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_resolve_case_insensitively_and_qualified() {
        let catalog = Catalog::new(&schemas::builtin());
        let (name, schema) = catalog.instrument("LSSTCam").expect("lsstcam");
        assert_eq!(name, "lsstcam");
        let err = catalog.instrument("nope").expect_err("unknown");
        assert!(
            matches!(&err, ConsDbError::BadValue { valid, .. } if valid.contains(&"latiss".to_string()))
        );
        assert_eq!(
            table(schema, "CDB_LSSTCAM.Visit1_Quicklook", true)
                .expect("qualified")
                .name,
            "visit1_quicklook"
        );
        assert!(
            table(schema, "visit1", true).is_err(),
            "a view is not writable"
        );
        assert!(table(schema, "visit1", false).is_ok());
        assert!(table(schema, "exposure_history", false).is_err());
        assert_eq!(
            natural_id(schema.table("visit1_quicklook").expect("t")),
            Some("visit_id")
        );
        assert_eq!(Catalog::obs_type("CCDVisit1").expect("ok"), "ccdvisit1");
    }
}
