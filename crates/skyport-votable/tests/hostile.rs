//! Uploads found by fuzzing (`fuzz/found/votable_upload/`) and their larger relatives: each is
//! refused with a clear error, quickly, and without memory out of proportion to its size.

use skyport_votable::{read_votable, ReadError};

fn found(name: &str) -> Vec<u8> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fuzz/found/votable_upload/"
    );
    std::fs::read(format!("{path}{name}")).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn table(fields: usize, rows: &str) -> String {
    let fields: String = (0..fields)
        .map(|i| format!("<FIELD name=\"c{i}\" datatype=\"int\"/>"))
        .collect();
    format!(
        "<VOTABLE><RESOURCE><TABLE>{fields}<DATA><TABLEDATA>{rows}</TABLEDATA></DATA></TABLE></RESOURCE></VOTABLE>"
    )
}

#[test]
fn a_field_after_the_data_is_refused() {
    let e = read_votable(&found("field-after-data"), 100_000).expect_err("refused");
    assert!(e.to_string().contains("FIELD after"), "{e}");
}

#[test]
fn zero_width_binary_fields_make_no_rows_out_of_nothing() {
    let e = read_votable(&found("zero-width-binary"), 1_000_000).expect_err("refused");
    assert!(e.to_string().contains("takes no bytes"), "{e}");
}

#[test]
fn short_rows_are_padded_only_as_far_as_the_document_can_stand_for() {
    // 1,000 fields and 20,000 empty rows: 135 kB that would become 20 million cells.
    let doc = table(1000, &"<TR/>".repeat(20_000));
    match read_votable(doc.as_bytes(), 100_000) {
        Err(ReadError::TooManyCells(n)) => assert_eq!(n, doc.len()),
        other => panic!(
            "expected TooManyCells, got {:?}",
            other.map(|t| t.rows.len())
        ),
    }
    // An ordinary short row is still padded with NULLs.
    let t = read_votable(table(3, "<TR><TD>1</TD></TR>").as_bytes(), 10).expect("a table");
    assert_eq!(t.rows.len(), 1);
    assert_eq!(t.rows[0].len(), 3);
}

#[test]
fn a_field_after_a_row_is_refused_even_without_a_data_element() {
    // The reader stops at the first row to know the columns: there are none yet.
    let e = read_votable(&found("row-before-field.fuzzer"), 100_000).expect_err("refused");
    assert!(e.to_string().contains("before any FIELD"), "{e}");
    let doc = "<VOTABLE><RESOURCE><TABLE><TR/><FIELD name=\"a\" datatype=\"int\"/></TABLE></RESOURCE></VOTABLE>";
    assert!(read_votable(doc.as_bytes(), 10).is_err());
}

/// Found by fuzzing (`fuzz/found/votable_upload/field-after-stream.fuzzer`): a BINARY2 stream
/// outside any DATA element, then a FIELD, gave rows with fewer cells than fields.
#[test]
fn a_field_after_a_stream_outside_data_is_refused() {
    let e = read_votable(&found("field-after-stream.fuzzer"), 100_000).expect_err("refused");
    assert!(e.to_string().contains("FIELD after"), "{e}");
    let doc = "<VOTABLE><RESOURCE><TABLE><FIELD name=\"a\" datatype=\"int\"/><BINARY2><STREAM encoding=\"base64\">AAAAAQ==</STREAM></BINARY2><FIELD name=\"b\" datatype=\"int\"/></TABLE></RESOURCE></VOTABLE>";
    assert!(read_votable(doc.as_bytes(), 10).is_err());
}

/// Found by fuzzing (`values-after-data.fuzzer`): a VALUES element inside the data changed a
/// field's null value after rows had been read with the old one, so a table read whole and
/// one read a batch at a time differed. The fields are fixed once the data starts.
#[test]
fn values_inside_the_data_change_no_field() {
    let t = read_votable(&found("values-after-data.fuzzer"), 100_000).expect("reads");
    assert!(
        t.fields.iter().all(|f| f.null.as_deref() != Some("har")),
        "{:?}",
        t.fields
    );
    let doc = "<VOTABLE><RESOURCE><TABLE><FIELD name=\"a\" datatype=\"int\"/><DATA><TABLEDATA><TR><TD>7</TD></TR><VALUES null=\"8\"/><TR><TD>8</TD></TR></TABLEDATA></DATA></TABLE></RESOURCE></VOTABLE>";
    let t = read_votable(doc.as_bytes(), 10).expect("reads");
    assert_eq!(t.fields[0].null, None);
    assert_eq!(
        t.rows,
        [
            [skyport_votable::Datum::Int(7)],
            [skyport_votable::Datum::Int(8)]
        ]
    );
}
