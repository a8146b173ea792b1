//! VOTable and tabular output for skyport: streaming writers (VOTable 1.4 TABLEDATA and
//! BINARY2, CSV, TSV, JSON, VOParquet), the reader for uploaded VOTables, and the DALI error document.
//!
//! Pure: writers append to caller-owned buffers, the readers take bytes or a reader they are
//! handed; nothing here opens a file or a socket.

mod delimited;
mod field;
mod format;
mod parquet;
mod parquet_read;
mod read;
mod vosi;
mod write;

pub use delimited::{DelimitedError, DelimitedReader};
pub use field::{Cell, Count, Datum, Field, Primitive, Shape};
pub use format::{Chosen, Format, ALL_FORMATS};
pub use parquet_read::{read_parquet, ParquetRows};
pub use read::{read_votable, ReadError, UploadedTable, VotableRows};
pub use vosi::{read_vosi_table, TableDescription};
pub use write::{push_field, push_json_string, Ending, Info, Prelude, TableWriter};
/// The VOTable 1.3+ namespace (shared by VOTable 1.4 and 1.5).
pub const VOTABLE_NS: &str = "http://www.ivoa.net/xml/VOTable/v1.3";

/// Escapes text for XML element content and attribute values.
pub use skyport_schema::xml::escape_xml;

/// The DALI error document: a VOTable whose results resource holds one
/// `INFO name="QUERY_STATUS" value="ERROR"` with the message (DALI 1.1 §4.2).
pub fn error_document(message: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <VOTABLE version=\"1.4\" xmlns=\"{VOTABLE_NS}\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">\n\
         \x20 <RESOURCE type=\"results\">\n\
         \x20   <INFO name=\"QUERY_STATUS\" value=\"ERROR\">{}</INFO>\n\
         \x20 </RESOURCE>\n\
         </VOTABLE>\n",
        escape_xml(message)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_control_characters() {
        assert_eq!(escape_xml("a < b & \"c\""), "a &lt; b &amp; &quot;c&quot;");
        assert_eq!(escape_xml("bell\u{7}"), "bell\u{FFFD}");
    }

    #[test]
    fn error_document_has_the_status_first_in_results() {
        let doc = error_document("UsageFault: MAXREC must be an integer, got \"x<y\"");
        let results = doc
            .find("<RESOURCE type=\"results\">")
            .expect("results resource");
        let info = doc
            .find("<INFO name=\"QUERY_STATUS\" value=\"ERROR\">")
            .expect("status");
        assert!(info > results);
        assert!(doc.contains("got &quot;x&lt;y&quot;"));
        assert!(doc.contains("version=\"1.4\""));
    }
}
