//! ADQL's lexical rules: how identifiers compare (regular ones case-insensitively, delimited
//! ones exactly) and which words are reserved (ADQL 2.1 §2.1.2: SQL reserved words and ADQL's
//! own).

pub use skyport_schema::is_reserved;

/// An ADQL identifier as written in a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identifier {
    /// A regular identifier: compared case-insensitively.
    Regular(String),
    /// A delimited identifier (`"Name"`): compared exactly.
    Delimited(String),
}

/// Why a piece of text is not an identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentifierError {
    /// Empty text.
    #[error("empty identifier")]
    Empty,
    /// A regular identifier with a character outside `[A-Za-z0-9_]` or not starting with a letter.
    #[error("{0:?} is not a regular identifier: it must start with a letter and hold only letters, digits and _")]
    Malformed(String),
    /// A reserved word used without quotes.
    #[error("{0:?} is a reserved word: write it as \"{0}\" to use it as a name")]
    Reserved(String),
    /// A delimited identifier whose quotes do not close.
    #[error("unterminated delimited identifier {0:?}")]
    Unterminated(String),
}

impl Identifier {
    /// Parses an identifier as written: `"…"` (with `""` for a quote) is delimited, anything
    /// else must be a regular, non-reserved identifier.
    pub fn parse(text: &str) -> Result<Identifier, IdentifierError> {
        if text.is_empty() {
            return Err(IdentifierError::Empty);
        }
        if let Some(inner) = text.strip_prefix('"') {
            let body = inner
                .strip_suffix('"')
                .ok_or_else(|| IdentifierError::Unterminated(text.to_string()))?;
            if body.is_empty() {
                return Err(IdentifierError::Empty);
            }
            // Inside, a quote must be doubled.
            if body.replace("\"\"", "").contains('"') {
                return Err(IdentifierError::Unterminated(text.to_string()));
            }
            return Ok(Identifier::Delimited(body.replace("\"\"", "\"")));
        }
        let mut chars = text.chars();
        let starts_with_letter = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
        if !starts_with_letter || !text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(IdentifierError::Malformed(text.to_string()));
        }
        if is_reserved(text) {
            return Err(IdentifierError::Reserved(text.to_string()));
        }
        Ok(Identifier::Regular(text.to_string()))
    }

    /// True when this identifier names `name` (a name as declared in the schema).
    pub fn matches(&self, name: &str) -> bool {
        match self {
            Identifier::Regular(s) => s.eq_ignore_ascii_case(name),
            Identifier::Delimited(s) => s == name,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_rules() {
        let regular = Identifier::parse("Obs_ID").expect("regular");
        assert!(regular.matches("obs_id") && regular.matches("OBS_ID"));
        let delimited = Identifier::parse("\"Obs_ID\"").expect("delimited");
        assert!(delimited.matches("Obs_ID") && !delimited.matches("obs_id"));
        assert_eq!(
            Identifier::parse("\"a\"\"b\""),
            Ok(Identifier::Delimited("a\"b".into()))
        );
    }

    #[test]
    fn reserved_words_need_quotes() {
        for w in [
            "size", "DISTANCE", "point", "value", "Region", "top", "date",
        ] {
            assert!(
                matches!(Identifier::parse(w), Err(IdentifierError::Reserved(_))),
                "{w}"
            );
            assert!(Identifier::parse(&format!("\"{w}\"")).is_ok());
        }
        assert!(Identifier::parse("s_ra").is_ok());
    }

    #[test]
    fn malformed_identifiers() {
        for w in ["1abc", "_x", "a-b", "\"open", "\"a\"b\"", ""] {
            assert!(Identifier::parse(w).is_err(), "{w}");
        }
    }
}
