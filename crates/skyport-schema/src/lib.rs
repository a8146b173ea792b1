//! The shared vocabulary of skyport: the Felis schema model.
//!
//! Felis is Rubin Observatory's YAML language for describing relational schemas together with
//! their IVOA metadata (units, UCDs, utypes, TAP flags). skyport declares every table it serves
//! in Felis, so that one declaration yields the table, its indexes and its TAP_SCHEMA rows, and
//! the metadata a client sees can never drift from the table.
//!
//! This crate is pure: it parses YAML text that the caller has read, validates it, and answers
//! questions about it (VOTable types, units, keys). It does no I/O.

mod model;
mod types;

pub use model::{
    Column, Constraint, ConstraintKind, DefaultValue, Index, Schema, SchemaVersion, Table,
};
pub use types::{Datatype, VoType};

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
