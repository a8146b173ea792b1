//! Fuzz target: arbitrary bytes through the VOTable upload reader
//! (`skyport_votable::read_votable`), which reads TAP `UPLOAD` tables and SODA `STAMPS` tables
//! sent by clients: TABLEDATA, BINARY and BINARY2 (base64 streams).
//!
//! Properties of every table that reads:
//! * it declares at least one field, holds at most the row limit, and every row has exactly one
//!   cell per field;
//! * each cell has the kind its field's datatype and arraysize call for (scalar booleans are
//!   `Bool`, scalar integers `Int`, scalar reals `Float` and never NaN, text and arrays `Text`,
//!   or `Null`);
//!
//! * read a batch at a time through a small buffer (`VotableRows`, which user-table loads use),
//!   the same document gives the same fields and rows.
//!
//! Whether it reads or not:
//! * nothing panics;
//! * the heap the reader uses at its peak is bounded by the document's size
//!   (`CEILING`, measured by the counting global allocator of `src/lib.rs`): a reader that makes
//!   rows or cells out of nothing lets a small upload take the server's memory, even when it
//!   gives up at the row limit in the end;
//! * the whole process stays under libFuzzer's `-rss_limit_mb` (set by `scripts/fuzz`, with
//!   `-max_len` large enough, 1 MiB, for blow-ups to be reachable).
//!
//! Run: `scripts/fuzz votable_upload SECONDS`. To see what the reader makes of an input, run the
//! built target on it with `SKYPORT_FUZZ_SHOW=1` (prints the table or the error).
#![no_main]

use libfuzzer_sys::fuzz_target;
use skyport_fuzz::{show, within_ceiling, Ceiling};
use skyport_votable::{read_votable, Count, Datum, Primitive, UploadedTable, VotableRows};

/// The TAP upload row limit skyport ships with (`upload_max_rows` in skyport-server's
/// `Limits::default`); SODA `STAMPS` tables are read with 1 000 000.
const MAX_ROWS: usize = 100_000;

/// The heap the reader may take at its peak: 256 bytes per document byte, plus 4 MiB.
/// Honest documents stay far below: a TABLEDATA cell costs at least 5 bytes (`<TD/>`) and
/// becomes one 24-byte `Datum`; a BINARY cell costs at least one byte (4/3 of a base64
/// character), an array element at most a few dozen bytes of text while it is joined.
/// The slack: the reader reserves room for up to 65 536 elements (24-byte `String`s, 1.5 MiB)
/// of an array cell before reading it, whatever the document holds; that is bounded and given
/// back after the cell.
const CEILING: Ceiling = Ceiling {
    per_byte: 256,
    slack: 4 << 20,
};

fn check_table(t: &UploadedTable) {
    assert!(!t.fields.is_empty(), "a table without fields");
    assert!(t.rows.len() <= MAX_ROWS, "{} rows", t.rows.len());
    let shapes: Vec<_> = t.fields.iter().map(|f| f.shape()).collect();
    for (r, row) in t.rows.iter().enumerate() {
        assert_eq!(
            row.len(),
            t.fields.len(),
            "row {r} has {} cells for {} fields",
            row.len(),
            t.fields.len()
        );
        for (cell, (field, shape)) in row.iter().zip(t.fields.iter().zip(&shapes)) {
            let ok = match cell {
                Datum::Null => true,
                Datum::Text(_) => {
                    shape.primitive.is_text()
                        || shape.count != Count::Scalar
                        || shape.primitive == Primitive::Other
                }
                Datum::Bool(_) => {
                    shape.primitive == Primitive::Boolean && shape.count == Count::Scalar
                }
                Datum::Int(_) => {
                    matches!(
                        shape.primitive,
                        Primitive::UnsignedByte
                            | Primitive::Short
                            | Primitive::Int
                            | Primitive::Long
                    ) && shape.count == Count::Scalar
                }
                Datum::Float(x) => {
                    !x.is_nan()
                        && matches!(shape.primitive, Primitive::Float | Primitive::Double)
                        && shape.count == Count::Scalar
                }
            };
            assert!(
                ok,
                "row {r}: {cell:?} in field {:?} ({} {:?})",
                field.name, field.meta.datatype, field.meta.arraysize
            );
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let read = within_ceiling(
        "votable_upload",
        data.len(),
        CEILING,
        || read_votable(data, MAX_ROWS),
        |read| match read {
            Ok(t) => format!("{} rows × {} fields", t.rows.len(), t.fields.len()),
            Err(e) => e.to_string(),
        },
    );
    if show() {
        eprintln!("{read:#?}");
    }
    if let Ok(table) = read {
        check_table(&table);
        let streamed = read_streamed(data);
        assert_eq!(
            streamed.as_ref().map(|(f, r)| (f, r.len())),
            Ok((&table.fields, table.rows.len())),
            "read whole and streamed differ"
        );
        assert!(streamed.is_ok_and(|(_, rows)| rows == table.rows));
    }
});

/// The table read in batches of 7 rows through a buffer of 13 bytes, so that tags, cells and
/// base64 quads straddle the reads.
fn read_streamed(
    data: &[u8],
) -> Result<(Vec<skyport_votable::Field>, Vec<Vec<Datum>>), skyport_votable::ReadError> {
    let mut reader = VotableRows::open(std::io::BufReader::with_capacity(13, data), MAX_ROWS)?;
    let fields = reader.fields().to_vec();
    let mut rows = Vec::new();
    while let Some(batch) = reader.next_batch(7)? {
        assert!(!batch.is_empty() && batch.len() <= 7, "a batch of {}", batch.len());
        rows.extend(batch);
    }
    Ok((fields, rows))
}
