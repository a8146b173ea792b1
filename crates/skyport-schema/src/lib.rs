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
/// skyport's file bookkeeping, and ivoa.ObsCore.
pub fn builtin_schemas() -> Vec<Schema> {
    const SOURCES: [(&str, &str); 3] = [
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
    ];
    SOURCES
        .iter()
        .map(|(name, text)| match Schema::from_yaml(text, name) {
            Ok(s) => s,
            // The files are part of the program and checked by the tests below; a failure here
            // is a build defect, never an input error.
            Err(e) => panic!("built-in schema {name} is invalid: {e}"),
        })
        .collect()
}

#[cfg(test)]
mod builtin_tests {
    #[test]
    fn builtin_schemas_load() {
        let s = super::builtin_schemas();
        let names: Vec<&str> = s.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["TAP_SCHEMA", "skyport", "ivoa"]);
        let obscore = s[2].table("obscore").expect("ObsCore");
        assert!(obscore.columns.len() >= 31);
        let region = obscore.column("s_region").expect("s_region");
        assert_eq!(region.vo_type().xtype.as_deref(), Some("adql:REGION"));
    }
}
