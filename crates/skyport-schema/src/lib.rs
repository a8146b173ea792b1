//! The shared vocabulary of skyport: the Felis schema model.
//!
//! Felis is Rubin Observatory's YAML language for describing relational schemas together with
//! their IVOA metadata (units, UCDs, utypes, TAP flags). skyport declares every table it serves
//! in Felis, so that one declaration yields the table, its indexes and its TAP_SCHEMA rows, and
//! the metadata a client sees can never drift from the table.
//!
//! This crate is pure: it parses YAML text that the caller has read, validates it, and answers
//! questions about it (VOTable types, units, keys). It does no I/O.

pub mod history;
mod model;
mod reserved;
pub mod time;
mod types;
pub mod units;
pub mod xml;

pub use model::{
    Aggregate, AggregateFn, Column, Constraint, ConstraintKind, DefaultValue, Index, Schema,
    SchemaVersion, Table, View,
};
pub use reserved::is_reserved;
pub use types::{ColumnMeta, Datatype, VoType};

/// Everything that can be wrong with a Felis document.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// The text is not YAML of the Felis shape.
    #[error("{source_name}: not a valid Felis schema: {message}")]
    Parse {
        /// Where the text came from (a file name, or a label).
        source_name: String,
        /// The parser's message, with its position.
        message: String,
    },
    /// The YAML parsed but breaks a rule of the model (a dangling reference, a duplicate name…).
    #[error("{source_name}: {message}")]
    Invalid {
        /// Where the text came from.
        source_name: String,
        /// What is wrong, naming the table and column.
        message: String,
    },
}

/// The schemas skyport itself declares, in the order they must be created: TAP_SCHEMA,
/// skyport's file bookkeeping, `ivoa` (ObsCore, ObsLocTAP's obsplan), and the observers' logs
/// (`exposurelog`, `narrativelog`).
pub fn builtin_schemas() -> Vec<Schema> {
    const SOURCES: [(&str, &str); 6] = [
        (
            "tap_schema.yaml",
            include_str!("../schemas/tap_schema.yaml"),
        ),
        (
            "skyport_archive.yaml",
            include_str!("../schemas/skyport_archive.yaml"),
        ),
        (
            "ivoa_obscore.yaml",
            include_str!("../schemas/ivoa_obscore.yaml"),
        ),
        ("caom2.yaml", include_str!("../schemas/caom2.yaml")),
        (
            "exposurelog.yaml",
            include_str!("../schemas/exposurelog.yaml"),
        ),
        (
            "narrativelog.yaml",
            include_str!("../schemas/narrativelog.yaml"),
        ),
    ];
    SOURCES
        .iter()
        .map(|(name, text)| match Schema::from_yaml(text, name) {
            Ok(mut s) => {
                // The observation plan keeps every version of its rows (a status change, a
                // replanned time), as ConsDB does.
                let histories: Vec<Table> = s
                    .tables
                    .iter()
                    .filter(|t| t.name == OBSPLAN)
                    .filter_map(history::history_table)
                    .collect();
                s.tables.extend(histories);
                s
            }
            // The files are part of the program and checked by the tests below; a failure here
            // is a build defect, never an input error.
            Err(e) => panic!("built-in schema {name} is invalid: {e}"),
        })
        .collect()
}

/// The ObsLocTAP table's name in the `ivoa` schema (`ivoa.obsplan`).
pub const OBSPLAN: &str = "obsplan";

#[cfg(test)]
mod builtin_tests {
    #[test]
    fn builtin_schemas_load() {
        let s = super::builtin_schemas();
        let names: Vec<&str> = s.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "TAP_SCHEMA",
                "skyport",
                "ivoa",
                "caom2",
                "exposurelog",
                "narrativelog"
            ]
        );
        let obscore = s[2].table("obscore").expect("ObsCore");
        assert!(obscore.columns.len() >= 31);
        let region = obscore.column("s_region").expect("s_region");
        assert_eq!(region.vo_type().xtype.as_deref(), Some("adql:REGION"));
        // ObsLocTAP's table, its data model, and its history.
        let plan = s[2].table(super::OBSPLAN).expect("obsplan");
        assert_eq!(
            plan.utype.as_deref(),
            Some("ivo://ivoa.net/std/obsloctap#table-1.0")
        );
        assert_eq!(plan.columns.iter().filter(|c| c.std).count(), 26);
        assert!(s[2].table("obsplan_history").is_some());
    }
}

/// The built-in `ivoa` schema with its `ObsCore` table extended by the columns of another
/// Felis declaration of ObsCore (`text`, such as Rubin's `ivoa_obscore.yaml` with its `lsst_*`
/// columns) that the built-in one lacks. The built-in columns stay as declared (ingest, the
/// spatial index and SIA depend on them); each new column keeps its declaration (type,
/// description, UCD, TAP flags). New columns must allow NULL: rows already stored, and files
/// whose ingest gives no value, have none.
pub fn obscore_with_extensions(text: &str, source_name: &str) -> Result<Schema, SchemaError> {
    let invalid = |message: String| SchemaError::Invalid {
        source_name: source_name.to_string(),
        message,
    };
    let other = Schema::from_yaml(text, source_name)?;
    let extension = other
        .table("ObsCore")
        .ok_or_else(|| invalid("declares no ObsCore table".into()))?;
    let mut ivoa = builtin_schemas()
        .into_iter()
        .find(|s| s.name == "ivoa")
        .ok_or_else(|| invalid("the built-in ivoa schema is missing".into()))?;
    let obscore = ivoa
        .tables
        .iter_mut()
        .find(|t| t.name == "ObsCore")
        .ok_or_else(|| invalid("the built-in ObsCore table is missing".into()))?;
    for column in &extension.columns {
        if obscore
            .columns
            .iter()
            .any(|c| c.name.eq_ignore_ascii_case(&column.name))
        {
            continue;
        }
        if !column.nullable {
            return Err(invalid(format!(
                "ObsCore.{} is NOT NULL; an added column must allow NULL (stored rows have no value)",
                column.name
            )));
        }
        let mut added = column.clone();
        // Its id, if any, in the built-in table's namespace.
        added.id = Some(format!("#ObsCore.{}", column.name));
        obscore.columns.push(added);
    }
    Ok(ivoa)
}

#[cfg(test)]
mod extension_tests {
    #[test]
    fn extra_columns_join_and_built_in_ones_stay() {
        let text = "name: ivoa\ntables:\n- name: ObsCore\n  columns:\n  - name: s_ra\n    datatype: float\n  - name: lsst_band\n    datatype: string\n    length: 10\n    ivoa:ucd: meta.id;instr.bandpass\n  - name: lsst_visit\n    datatype: long\n";
        let ivoa = super::obscore_with_extensions(text, "t.yaml").expect("extended");
        let obscore = ivoa.table("ObsCore").expect("ObsCore");
        let builtin = super::builtin_schemas();
        let before = builtin[2].table("ObsCore").expect("built-in").columns.len();
        assert_eq!(obscore.columns.len(), before + 2);
        let s_ra = obscore
            .columns
            .iter()
            .find(|c| c.name == "s_ra")
            .expect("s_ra");
        assert_eq!(
            s_ra.datatype,
            super::Datatype::Double,
            "the built-in declaration stays"
        );
        let band = obscore
            .columns
            .iter()
            .find(|c| c.name == "lsst_band")
            .expect("band");
        assert_eq!(band.ucd.as_deref(), Some("meta.id;instr.bandpass"));
        let refused = super::obscore_with_extensions(
            "name: x\ntables:\n- name: ObsCore\n  columns:\n  - name: lsst_tract\n    datatype: long\n    nullable: false\n",
            "t.yaml",
        );
        assert!(refused.is_err_and(|e| e.to_string().contains("lsst_tract")));
        assert!(super::obscore_with_extensions("name: x\ntables: []\n", "t.yaml").is_err());
    }
}
