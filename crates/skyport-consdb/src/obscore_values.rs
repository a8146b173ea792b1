//! ObsCore values a data root's configuration gives its files (`[archive.roots.obscore]`), as
//! Rubin's `dax_obscore` gives them from templates over what it knows of a dataset:
//! `lsst_visit = "{exposure_id}"`, `obs_title = "{band} - {exposure_name}"`,
//! `dataproduct_subtype = "lsst.raw"`.
//!
//! A template's fields are, in this order: what the root's header translator (its
//! `instrument`, the one ConsDB uses) says of the file — the exposure row (`exposure_id`,
//! `day_obs`, `seq_num`, `band`, `physical_filter`, `exposure_name`, …) and the detector
//! (`detector`, `ccdexposure_id`); what ingest computed (`obs_id`, `obs_collection`,
//! `calib_level`, `band` from the band table); then the science header's keywords
//! (`{FILTER}`). A template naming a field the file does not have gives NULL, never a partial
//! value. Templates fill only what ingest leaves NULL; its own values stand.

use std::collections::HashMap;

use skyport_fits::{Header, HeaderValue};
use skyport_store::{Row, Value};

/// How a template's text becomes the column's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    /// Kept as text.
    Text,
    /// An integer (`long`, `int`, `short`, `byte` columns).
    Integer,
    /// A floating-point number.
    Real,
}

/// One configured value: the column, its template, and how to convert the result.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnTemplate {
    /// The ObsCore column.
    pub column: String,
    /// The template: text with `{field}` parts (`{{` and `}}` for braces).
    pub template: String,
    /// The column's kind.
    pub kind: ValueKind,
}

/// Why a template cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TemplateError {
    /// An unbalanced brace or an empty field name, found when the configuration is read.
    #[error("template {template:?}: {reason}")]
    Syntax {
        /// The template.
        template: String,
        /// What is wrong.
        reason: String,
    },
    /// The filled template is not a number for a numeric column.
    #[error("ObsCore.{column} = {value:?} (from {template:?}) is not a number")]
    NotANumber {
        /// The column.
        column: String,
        /// The filled text.
        value: String,
        /// The template.
        template: String,
    },
}

enum Part<'a> {
    Text(&'a str),
    Field(&'a str),
}

fn parts(template: &str) -> Result<Vec<Part<'_>>, TemplateError> {
    let bad = |reason: &str| TemplateError::Syntax {
        template: template.to_string(),
        reason: reason.to_string(),
    };
    let mut out = Vec::new();
    let mut rest = template;
    while !rest.is_empty() {
        if let Some(tail) = rest.strip_prefix("{{") {
            out.push(Part::Text("{"));
            rest = tail;
        } else if let Some(tail) = rest.strip_prefix("}}") {
            out.push(Part::Text("}"));
            rest = tail;
        } else if let Some(tail) = rest.strip_prefix('{') {
            let end = tail.find('}').ok_or_else(|| bad("a { is not closed"))?;
            let name = tail[..end].trim();
            if name.is_empty() || name.contains('{') {
                return Err(bad("a field has no name"));
            }
            out.push(Part::Field(name));
            rest = &tail[end + 1..];
        } else if rest.starts_with('}') {
            return Err(bad("a } has no {"));
        } else {
            let end = rest.find(['{', '}']).unwrap_or(rest.len());
            out.push(Part::Text(&rest[..end]));
            rest = &rest[end..];
        }
    }
    Ok(out)
}

/// Checks a template's syntax (when the configuration is read).
pub fn check(template: &str) -> Result<(), TemplateError> {
    parts(template).map(|_| ())
}

/// The fields of one file (see the module documentation for their order).
#[derive(Debug, Default)]
pub struct Fields<'a> {
    known: HashMap<String, String>,
    header: Option<&'a Header>,
}

impl<'a> Fields<'a> {
    /// Fields read from `header` when nothing else names them.
    pub fn new(header: &'a Header) -> Fields<'a> {
        Fields {
            known: HashMap::new(),
            header: Some(header),
        }
    }

    /// Sets a field unless one of that name is set already (earlier sources win).
    pub fn offer(&mut self, name: &str, value: Option<String>) {
        if let Some(v) = value {
            self.known.entry(name.to_string()).or_insert(v);
        }
    }

    fn get(&self, name: &str) -> Option<String> {
        if let Some(v) = self.known.get(name) {
            return Some(v.clone());
        }
        match self.header?.get(name)? {
            HeaderValue::Str(s) => Some(s.trim_end().to_string()),
            HeaderValue::Int(i) => Some(i.to_string()),
            HeaderValue::Real(x) => Some(x.to_string()),
            HeaderValue::Logical(b) => Some(if *b { "T" } else { "F" }.to_string()),
            _ => None,
        }
    }
}

/// Fills `template` from `fields`; `None` when it names a field the file lacks.
fn fill(template: &str, fields: &Fields<'_>) -> Result<Option<String>, TemplateError> {
    let mut out = String::new();
    for part in parts(template)? {
        match part {
            Part::Text(t) => out.push_str(t),
            Part::Field(name) => match fields.get(name) {
                Some(v) => out.push_str(&v),
                None => return Ok(None),
            },
        }
    }
    Ok(Some(out))
}

/// Applies `templates` to `row` (a file's ObsCore row): each fills its column when the row
/// has no value there.
pub fn apply(
    templates: &[ColumnTemplate],
    fields: &Fields<'_>,
    row: &mut Row,
) -> Result<(), TemplateError> {
    for t in templates {
        let not_a_number = |s: &str| TemplateError::NotANumber {
            column: t.column.clone(),
            value: s.to_string(),
            template: t.template.clone(),
        };
        let value = match (fill(&t.template, fields)?, t.kind) {
            (None, _) => Value::Null,
            (Some(s), ValueKind::Text) => Value::Text(s),
            (Some(s), ValueKind::Integer) => {
                Value::Int(s.trim().parse().map_err(|_| not_a_number(&s))?)
            }
            (Some(s), ValueKind::Real) => {
                Value::Float(s.trim().parse().map_err(|_| not_a_number(&s))?)
            }
        };
        match row
            .0
            .iter_mut()
            .find(|(c, _)| c.eq_ignore_ascii_case(&t.column))
        {
            Some((_, existing)) if matches!(existing, Value::Null) => *existing = value,
            Some(_) => {}
            None => row.push(&t.column, value),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(column: &str, template: &str, kind: ValueKind) -> ColumnTemplate {
        ColumnTemplate {
            column: column.into(),
            template: template.into(),
            kind,
        }
    }

    #[test]
    fn templates_fill_from_known_fields_then_header_keywords_and_never_partially() {
        let header = Header::from_dump(b"FILTER  = 'r_57    '\nEXPID   = 42\n").expect("header");
        let mut fields = Fields::new(&header);
        fields.offer("band", Some("r".into()));
        fields.offer("band", Some("ignored: the first offer wins".into()));
        fields.offer("exposure_id", Some("2025120100100".into()));
        fields.offer("tract", None);
        let mut row = Row::default();
        row.push("target_name", Value::Text("M13".into()));
        row.push("dataproduct_subtype", Value::Null);
        apply(
            &[
                template("dataproduct_subtype", "lsst.raw", ValueKind::Text),
                template("lsst_visit", "{exposure_id}", ValueKind::Integer),
                template("lsst_filter", "{FILTER}", ValueKind::Text),
                template("obs_title", "{band} - {{{EXPID}}}", ValueKind::Text),
                template("lsst_tract", "{tract}", ValueKind::Integer),
                template("target_name", "never", ValueKind::Text),
            ],
            &fields,
            &mut row,
        )
        .expect("applied");
        assert_eq!(
            row.get("dataproduct_subtype"),
            Some(&Value::Text("lsst.raw".into()))
        );
        assert_eq!(row.get("lsst_visit"), Some(&Value::Int(2025120100100)));
        assert_eq!(row.get("lsst_filter"), Some(&Value::Text("r_57".into())));
        assert_eq!(row.get("obs_title"), Some(&Value::Text("r - {42}".into())));
        assert_eq!(row.get("lsst_tract"), Some(&Value::Null));
        assert_eq!(row.get("target_name"), Some(&Value::Text("M13".into())));
        let mut row = Row::default();
        let err = apply(
            &[template("lsst_visit", "v{band}", ValueKind::Integer)],
            &fields,
            &mut row,
        );
        assert!(matches!(err, Err(TemplateError::NotANumber { .. })));
    }

    #[test]
    fn bad_templates_are_found_when_read() {
        for bad in ["{band", "band}", "{}", "{ }", "a {b{c}}"] {
            assert!(check(bad).is_err(), "{bad}");
        }
        for good in ["lsst.raw", "{band}", "{{literal}}", "{a}-{b}"] {
            assert!(check(good).is_ok(), "{good}");
        }
    }
}
