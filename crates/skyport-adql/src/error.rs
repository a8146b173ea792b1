//! Errors with positions: every rejection names the construct and where it is.

use std::fmt;

/// A place in the query text (1-based line and column). Line 0 means "unknown".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, PartialOrd, Ord, Hash)]
pub struct Pos {
    /// 1-based line.
    pub line: u32,
    /// 1-based column (in characters).
    pub column: u32,
}

impl Pos {
    /// A position from a sqlparser location.
    pub(crate) fn from_location(loc: sqlparser::tokenizer::Location) -> Pos {
        Pos {
            line: u32::try_from(loc.line).unwrap_or(u32::MAX),
            column: u32::try_from(loc.column).unwrap_or(u32::MAX),
        }
    }

    /// True when the position is known.
    pub fn is_known(self) -> bool {
        self.line > 0
    }
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}", self.line, self.column)
    }
}

/// What stage refused the query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Not ADQL syntax (including constructs other SQL dialects accept).
    Syntax,
    /// Well-formed, but names a table, column or function the service does not have.
    Name,
    /// Well-formed, but the operand types do not fit (e.g. `POINT(...) || 'x'`).
    Type,
    /// Valid ADQL that this service does not implement (e.g. a REGION shape it cannot evaluate).
    Unsupported,
}

/// A rejected query: what is wrong, where, and (when we can tell) what was probably meant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdqlError {
    /// Which stage refused it.
    pub kind: ErrorKind,
    /// The message, naming the construct.
    pub message: String,
    /// Where in the query text (line 0 when unknown).
    pub pos: Pos,
    /// A suggestion ("did you mean …"), when one is close enough.
    pub hint: Option<String>,
}

impl AdqlError {
    pub(crate) fn new(kind: ErrorKind, pos: Pos, message: impl Into<String>) -> AdqlError {
        AdqlError {
            kind,
            message: message.into(),
            pos,
            hint: None,
        }
    }

    pub(crate) fn syntax(pos: Pos, message: impl Into<String>) -> AdqlError {
        AdqlError::new(ErrorKind::Syntax, pos, message)
    }

    pub(crate) fn with_hint(mut self, hint: Option<String>) -> AdqlError {
        self.hint = hint;
        self
    }
}

impl fmt::Display for AdqlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.pos.is_known() {
            write!(f, "{}: ", self.pos)?;
        }
        f.write_str(&self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, " ({hint})")?;
        }
        Ok(())
    }
}

impl std::error::Error for AdqlError {}
