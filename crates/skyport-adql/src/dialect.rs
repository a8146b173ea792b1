//! The sqlparser dialect for ADQL: regular identifiers are `[A-Za-z][A-Za-z0-9_]*`, delimited
//! ones use double quotes, and every dialect extension sqlparser offers stays off (the trait's
//! defaults). sqlparser still accepts more than ADQL; `convert` rejects the rest.

use sqlparser::dialect::Dialect;

/// ADQL 2.1 as a sqlparser dialect.
#[derive(Debug, Default, Clone, Copy)]
pub struct AdqlDialect;

impl Dialect for AdqlDialect {
    fn is_identifier_start(&self, ch: char) -> bool {
        ch.is_ascii_alphabetic()
    }

    fn is_identifier_part(&self, ch: char) -> bool {
        ch.is_ascii_alphanumeric() || ch == '_'
    }

    fn is_delimited_identifier_start(&self, ch: char) -> bool {
        ch == '"'
    }

    /// SQL-92 (and so ADQL) joins string literals separated only by whitespace or comments:
    /// `'qua' -- note⏎ 'tsch'` is `'quatsch'`.
    fn supports_string_literal_concatenation(&self) -> bool {
        true
    }

    fn supports_string_literal_concatenation_with_newline(&self) -> bool {
        true
    }
}
