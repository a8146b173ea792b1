//! Output formats: what RESPONSEFORMAT may say, and the Content-Type each is served with.

/// A tabular output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// VOTable 1.4 with TABLEDATA (the default).
    VotableTabledata,
    /// VOTable 1.4 with BINARY2.
    VotableBinary2,
    /// Comma-separated values with a header line (RFC 4180).
    Csv,
    /// Tab-separated values with a header line.
    Tsv,
    /// JSON: column metadata and rows as arrays (no IVOA standard; DaCHS uses the same MIME type).
    Json,
    /// VOParquet 1.0: Parquet with the VOTable metadata in the footer.
    Parquet,
    /// The answer of Rubin's ConsDB `pqserver` `/query`: `{"columns": [names], "data": [[…]]}`,
    /// ending with `"truncated": true` past a row cap or `"error": {…}` after a failure. Not a
    /// RESPONSEFORMAT choice: ConsDB's REST API asks for it.
    PqJson,
}

/// Every format, in the order capabilities list them.
pub const ALL_FORMATS: [Format; 6] = [
    Format::VotableTabledata,
    Format::VotableBinary2,
    Format::Csv,
    Format::Tsv,
    Format::Json,
    Format::Parquet,
];

/// A RESPONSEFORMAT resolved to a format and the Content-Type to answer with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chosen {
    /// The format.
    pub format: Format,
    /// The Content-Type header (the client's own MIME type when it sent one, DALI §2.4.1).
    pub content_type: String,
}

impl Format {
    /// The canonical MIME type.
    pub fn mime(self) -> &'static str {
        match self {
            Format::VotableTabledata => "application/x-votable+xml;serialization=TABLEDATA",
            Format::VotableBinary2 => "application/x-votable+xml;serialization=BINARY2",
            Format::Csv => "text/csv;header=present",
            Format::Tsv => "text/tab-separated-values",
            Format::Json => "application/json",
            Format::Parquet => "application/vnd.apache.parquet",
            Format::PqJson => "application/json",
        }
    }

    /// Short aliases accepted in RESPONSEFORMAT; the first is the one capabilities announce.
    pub fn aliases(self) -> &'static [&'static str] {
        match self {
            Format::VotableTabledata => &["votable/td", "votable", "votabletd", "xml", "vot"],
            Format::VotableBinary2 => &["votable/b2", "votableb2", "binary2", "votable/binary2"],
            Format::Csv => &["csv"],
            Format::Tsv => &["tsv", "tab", "text/tsv"],
            Format::Json => &["json"],
            Format::Parquet => &["parquet", "voparquet"],
            Format::PqJson => &[],
        }
    }

    /// The TAPRegExt key of the format, when it has one.
    pub fn ivo_id(self) -> Option<&'static str> {
        match self {
            Format::VotableTabledata => Some("ivo://ivoa.net/std/TAPRegExt#output-votable-td"),
            Format::VotableBinary2 => Some("ivo://ivoa.net/std/TAPRegExt#output-votable-binary2"),
            _ => None,
        }
    }

    /// File name extension for stored results.
    pub fn extension(self) -> &'static str {
        match self {
            Format::VotableTabledata | Format::VotableBinary2 => "xml",
            Format::Csv => "csv",
            Format::Tsv => "tsv",
            Format::Json | Format::PqJson => "json",
            Format::Parquet => "parquet",
        }
    }

    /// True for the VOTable serialisations.
    pub fn is_votable(self) -> bool {
        matches!(self, Format::VotableTabledata | Format::VotableBinary2)
    }

    /// Resolves a RESPONSEFORMAT value (MIME type or alias, case-insensitive); `None` when the
    /// value names no supported format.
    pub fn choose(requested: &str) -> Option<Chosen> {
        let raw = requested.trim();
        let squeezed: String = raw
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_ascii_lowercase();
        if let Some(format) = ALL_FORMATS
            .into_iter()
            .find(|f| f.aliases().contains(&squeezed.as_str()))
        {
            return Some(Chosen {
                format,
                content_type: format.mime().to_string(),
            });
        }
        let mut parts = squeezed.split(';');
        let base = parts.next().unwrap_or("");
        let params: Vec<(&str, &str)> = parts.filter_map(|p| p.split_once('=')).collect();
        let param = |name: &str| params.iter().find(|(k, _)| *k == name).map(|(_, v)| *v);
        let format = match base {
            "application/x-votable+xml" | "text/xml" | "application/xml" | "text/x-votable+xml" => {
                match param("serialization").or_else(|| param("serialisation")) {
                    None | Some("tabledata") => Format::VotableTabledata,
                    Some("binary2") => Format::VotableBinary2,
                    Some(_) => return None,
                }
            }
            "text/csv" => Format::Csv,
            "text/tab-separated-values" => Format::Tsv,
            "application/json" => Format::Json,
            "application/vnd.apache.parquet" | "application/x-parquet" => Format::Parquet,
            _ => return None,
        };
        Some(Chosen {
            format,
            content_type: raw.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mime_types_and_aliases() {
        let c = Format::choose("text/csv").expect("csv");
        assert_eq!(
            (c.format, c.content_type.as_str()),
            (Format::Csv, "text/csv")
        );
        let c = Format::choose("application/x-votable+xml; serialization=BINARY2").expect("b2");
        assert_eq!(c.format, Format::VotableBinary2);
        assert_eq!(
            c.content_type, "application/x-votable+xml; serialization=BINARY2",
            "the client's own MIME type comes back"
        );
        assert_eq!(
            Format::choose("VOTable").map(|c| c.format),
            Some(Format::VotableTabledata)
        );
        assert_eq!(
            Format::choose("votable/b2").map(|c| c.content_type),
            Some(Format::VotableBinary2.mime().to_string())
        );
        assert_eq!(Format::choose("bogus"), None);
        assert_eq!(
            Format::choose("application/x-votable+xml;serialization=FITS"),
            None
        );
        for f in ALL_FORMATS {
            assert_eq!(Format::choose(f.mime()).map(|c| c.format), Some(f), "{f:?}");
        }
    }
}
