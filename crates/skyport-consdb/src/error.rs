//! What can go wrong in a ConsDB request, in the kinds pqserver's clients tell apart (the HTTP
//! layer maps each kind to pqserver's status and body).

use skyport_store::StoreError;

/// A ConsDB request error.
#[derive(Debug, thiserror::Error)]
pub enum ConsDbError {
    /// A name or value outside the valid set (pqserver: 404 with `message`, `value`, `valid`).
    #[error("Invalid {kind}: {value}")]
    BadValue {
        /// What was named: `instrument`, `table`, `column`, `obs_type`, `key`, `dtype`…
        kind: String,
        /// The value given.
        value: serde_json::Value,
        /// The values that would have been accepted.
        valid: Vec<String>,
    },
    /// The observation does not exist (pqserver: 404 with `detail`).
    #[error("{0}")]
    NotFound(String),
    /// The request is well-formed but its content is unacceptable: a missing required column,
    /// a value of the wrong type (pqserver: 422-like validation errors).
    #[error("{message}")]
    Invalid {
        /// Where: body field path, e.g. `["body", "values", "airmass"]`.
        location: Vec<String>,
        /// What is wrong.
        message: String,
    },
    /// A write broke a constraint, e.g. inserting an existing key with `u=0`
    /// (pqserver: 500 with `message`).
    #[error("{0}")]
    Conflict(String),
    /// The database failed (pqserver: 500 with `message`).
    #[error("{0}")]
    Database(String),
}

impl ConsDbError {
    /// A [`ConsDbError::BadValue`].
    pub fn bad_value(kind: &str, value: impl Into<serde_json::Value>, valid: Vec<String>) -> Self {
        ConsDbError::BadValue {
            kind: kind.to_string(),
            value: value.into(),
            valid,
        }
    }

    /// A [`ConsDbError::Invalid`] about a body field.
    pub fn invalid(location: &[&str], message: impl Into<String>) -> Self {
        ConsDbError::Invalid {
            location: location.iter().map(|s| s.to_string()).collect(),
            message: message.into(),
        }
    }
}

impl From<StoreError> for ConsDbError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Constraint(m) => ConsDbError::Conflict(m),
            StoreError::Query(m) => ConsDbError::Invalid {
                location: vec!["body".into()],
                message: m,
            },
            other => ConsDbError::Database(other.to_string()),
        }
    }
}
