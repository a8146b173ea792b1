//! Every writer's output read back: VOTables by our reader (TABLEDATA and BINARY2 must give the
//! same values), CSV by its RFC 4180 rules, JSON by serde_json.

use skyport_votable::{
    read_votable, Cell, Datum, Ending, Field, Format, Info, Prelude, TableWriter, VotableRows,
};

fn fields() -> Vec<Field> {
    vec![
        Field::new("id", "long"),
        Field::new("ra", "double"),
        Field::new("mag", "float"),
        Field::new("name", "char").with_arraysize("*"),
        Field::new("t", "char")
            .with_arraysize("*")
            .with_xtype("timestamp"),
        Field::new("pos", "double")
            .with_arraysize("2")
            .with_xtype("point"),
        Field::new("poly", "double")
            .with_arraysize("*")
            .with_xtype("polygon"),
        Field::new("flag", "boolean"),
        Field::new("n", "short"),
    ]
}

fn rows() -> Vec<Vec<Cell<'static>>> {
    vec![
        vec![
            Cell::Int(1),
            Cell::Float(10.5),
            Cell::Float(21.25),
            Cell::Text("a <b> & \"c\", d"),
            Cell::Text("2024-05-01T12:00:00.500"),
            Cell::Text("10.5 -20.25"),
            Cell::Text("1 2 3 2 2 3"),
            Cell::Bool(true),
            Cell::Int(-7),
        ],
        vec![Cell::Null; 9],
        vec![
            Cell::Int(i64::MAX),
            Cell::Float(1e-300),
            Cell::Float(-0.5),
            Cell::Text("ünïcödé"),
            Cell::Null,
            Cell::Null,
            Cell::Text("0 0 1 0 1 1 0 1"),
            Cell::Int(0),
            Cell::Int(32767),
        ],
    ]
}

fn write(format: Format, ending: Ending<'_>) -> Vec<u8> {
    let mut w = TableWriter::new(
        format,
        fields(),
        Prelude {
            infos: vec![Info::new("QUERY", "SELECT 1")],
            ..Prelude::default()
        },
    );
    let mut out = Vec::new();
    w.begin(&mut out);
    for r in rows() {
        w.row(&mut out, &r);
    }
    w.end(&mut out, ending);
    assert_eq!(w.rows(), 3);
    out
}

fn expected() -> Vec<Vec<Datum>> {
    rows()
        .into_iter()
        .map(|r| {
            r.into_iter()
                .enumerate()
                .map(|(i, c)| match (i, c) {
                    (_, Cell::Null) => Datum::Null,
                    (7, c) => Datum::Bool(c != Cell::Int(0)),
                    (_, Cell::Int(v)) => Datum::Int(v),
                    (_, Cell::Float(v)) => Datum::Float(v),
                    (_, Cell::Text(t)) => Datum::Text(t.to_string()),
                    (_, Cell::Bool(b)) => Datum::Bool(b),
                })
                .collect()
        })
        .collect()
}

#[test]
fn tabledata_and_binary2_read_back_the_same_values() {
    for format in [Format::VotableTabledata, Format::VotableBinary2] {
        let doc = write(format, Ending::Complete);
        let table = read_votable(&doc, 100).expect("readable");
        assert_eq!(table.fields, fields(), "{format:?}");
        assert_eq!(table.rows, expected(), "{format:?}");
    }
}

/// The rows of `doc` read a batch of at most `batch` rows at a time through a buffer of
/// `buffer` bytes, so that rows, cells and base64 quads straddle the reads.
fn streamed(doc: &[u8], buffer: usize, batch: usize) -> (Vec<Field>, Vec<Vec<Datum>>) {
    let source = std::io::BufReader::with_capacity(buffer, doc);
    let mut reader = VotableRows::open(source, usize::MAX).expect("opens");
    let fields = reader.fields().to_vec();
    let mut rows = Vec::new();
    while let Some(b) = reader.next_batch(batch).expect("a batch") {
        assert!(!b.is_empty() && b.len() <= batch);
        rows.extend(b);
    }
    (fields, rows)
}

#[test]
fn streamed_reads_give_what_a_whole_read_gives_in_every_buffer_size() {
    for format in [Format::VotableTabledata, Format::VotableBinary2] {
        let doc = write(format, Ending::Complete);
        for buffer in [1, 3, 7, 64, 8192] {
            for batch in [1, 2, 1000] {
                let (f, rows) = streamed(&doc, buffer, batch);
                assert_eq!(f, fields(), "{format:?}");
                assert_eq!(rows, expected(), "{format:?} buffer {buffer} batch {batch}");
            }
        }
    }
}

#[test]
fn a_binary_stream_without_null_flags_streams_too() {
    use base64::Engine as _;
    let mut data = Vec::new();
    for i in 0..1000i32 {
        data.extend_from_slice(&i.to_be_bytes());
        data.extend_from_slice(&(f64::from(i) / 4.0).to_be_bytes());
        data.extend_from_slice(&(i as u32 % 3).to_be_bytes());
        data.extend(std::iter::repeat_n(b'a', (i % 3) as usize));
    }
    let doc = format!(
        "<VOTABLE><RESOURCE><TABLE><FIELD name=\"i\" datatype=\"int\"/><FIELD name=\"x\" datatype=\"double\"/><FIELD name=\"s\" datatype=\"char\" arraysize=\"*\"/><DATA><BINARY><STREAM encoding=\"base64\">\n{}\n</STREAM></BINARY></DATA></TABLE></RESOURCE></VOTABLE>",
        base64::engine::general_purpose::STANDARD.encode(&data)
    );
    for buffer in [5, 77, 8192] {
        let (_, rows) = streamed(doc.as_bytes(), buffer, 333);
        assert_eq!(rows.len(), 1000);
        for (i, r) in rows.iter().enumerate() {
            let text = "a".repeat(i % 3);
            assert_eq!(
                r,
                &vec![
                    Datum::Int(i as i64),
                    Datum::Float(i as f64 / 4.0),
                    if text.is_empty() {
                        Datum::Null
                    } else {
                        Datum::Text(text)
                    }
                ],
                "row {i}, buffer {buffer}"
            );
        }
    }
}

#[test]
fn a_long_binary2_stream_is_read_in_batches() {
    let mut w = TableWriter::new(Format::VotableBinary2, fields(), Prelude::default());
    let mut doc = Vec::new();
    w.begin(&mut doc);
    let one = rows();
    for _ in 0..10_000 {
        for r in &one {
            w.row(&mut doc, r);
        }
    }
    w.end(&mut doc, Ending::Complete);
    let mut reader = VotableRows::open(std::io::BufReader::with_capacity(4096, &doc[..]), 30_000)
        .expect("opens");
    let mut batches = 0;
    let mut n = 0;
    while let Some(b) = reader.next_batch(2_000).expect("a batch") {
        assert_eq!(b[0], expected()[n % 3], "batch {batches}");
        n += b.len();
        batches += 1;
    }
    assert_eq!((n, batches), (30_000, 15));
    // One row more than allowed is refused when it is reached.
    let mut reader = VotableRows::open(&doc[..], 29_999).expect("opens");
    let mut error = None;
    loop {
        match reader.next_batch(2_000) {
            Ok(Some(_)) => {}
            Ok(None) => break,
            Err(e) => {
                error = Some(e);
                break;
            }
        }
    }
    assert_eq!(error, Some(skyport_votable::ReadError::TooManyRows(29_999)));
}

#[test]
fn a_stream_cut_inside_a_row_or_the_document_is_refused() {
    let doc = String::from_utf8(write(Format::VotableBinary2, Ending::Complete)).expect("utf-8");
    let start = doc.find("<STREAM encoding=\"base64\">").expect("a stream") + 25;
    let end = doc.find("</STREAM>").expect("its end");
    // Four base64 characters less: the last row loses three bytes.
    let cut = format!("{}{}", &doc[..end - 4], &doc[end..]);
    assert!(read_votable(cut.as_bytes(), 100).is_err());
    // The document ends inside the stream.
    let truncated = &doc[..(start + end) / 2];
    let mut reader = VotableRows::open(truncated.as_bytes(), 100).expect("opens");
    assert!(std::iter::from_fn(|| match reader.next_batch(10) {
        Ok(Some(_)) => Some(Ok(())),
        Ok(None) => None,
        Err(e) => Some(Err(e)),
    })
    .any(|r| r.is_err()));
}

#[test]
fn a_cell_longer_than_sixteen_megabytes_is_refused_without_being_kept() {
    let doc = format!(
        "<VOTABLE><RESOURCE><TABLE><FIELD name=\"a\" datatype=\"char\" arraysize=\"*\"/><DATA><TABLEDATA><TR><TD>{}</TD></TR></TABLEDATA></DATA></TABLE></RESOURCE></VOTABLE>",
        "x".repeat(17 << 20)
    );
    let source = std::io::BufReader::with_capacity(1 << 16, doc.as_bytes());
    let mut reader = VotableRows::open(source, 10).expect("opens");
    let e = reader.next_batch(10).expect_err("refused");
    assert!(e.to_string().contains("bytes between two tags"), "{e}");
}

#[test]
fn overflow_and_error_endings_follow_the_table() {
    let doc = String::from_utf8(write(Format::VotableTabledata, Ending::Overflow)).expect("utf8");
    let table_end = doc.find("</TABLE>").expect("table");
    let status = doc
        .find("<INFO name=\"QUERY_STATUS\" value=\"OK\"/>")
        .expect("ok");
    let overflow = doc
        .find("<INFO name=\"QUERY_STATUS\" value=\"OVERFLOW\"/>")
        .expect("overflow");
    assert!(status < doc.find("<TABLE>").expect("table") && overflow > table_end);
    let doc =
        String::from_utf8(write(Format::VotableBinary2, Ending::Error("boom <1>"))).expect("utf8");
    assert!(doc.contains(
        "<INFO name=\"QUERY_STATUS\" value=\"ERROR\">boom &lt;1&gt;</INFO>\n</RESOURCE>"
    ));
}

#[test]
fn csv_quotes_per_rfc4180_and_tsv_has_no_tabs_in_values() {
    let csv = String::from_utf8(write(Format::Csv, Ending::Complete)).expect("utf8");
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "id,ra,mag,name,t,pos,poly,flag,n");
    assert_eq!(
        lines[1],
        "1,10.5,21.25,\"a <b> & \"\"c\"\", d\",2024-05-01T12:00:00.500,10.5 -20.25,1 2 3 2 2 3,T,-7"
    );
    assert_eq!(lines[2], ",,,,,,,,");
    assert_eq!(
        lines[3],
        "9223372036854775807,1e-300,-0.5,ünïcödé,,,0 0 1 0 1 1 0 1,F,32767"
    );
    let tsv = String::from_utf8(write(Format::Tsv, Ending::Complete)).expect("utf8");
    assert_eq!(tsv.lines().nth(1).map(|l| l.split('\t').count()), Some(9));
}

#[test]
fn json_is_valid_and_typed() {
    let text = write(Format::Json, Ending::Overflow);
    let v: serde_json::Value = serde_json::from_slice(&text).expect("valid JSON");
    assert_eq!(v["status"], "OVERFLOW");
    assert_eq!(v["columns"][5]["xtype"], "point");
    assert_eq!(v["data"][0][5], serde_json::json!([10.5, -20.25]));
    assert_eq!(v["data"][0][0], 1);
    assert_eq!(v["data"][0][7], true);
    assert_eq!(v["data"][1][3], serde_json::Value::Null);
    assert_eq!(v["data"][2][0], serde_json::json!(i64::MAX));
}

#[test]
fn binary_uploads_honour_magic_nulls() {
    // BINARY (no null flags): int with VALUES null=-99 as the magic value, a double NaN.
    use base64::Engine as _;
    let mut raw = Vec::new();
    for (i, x) in [(5i32, 1.5f64), (-99, f64::NAN)] {
        raw.extend_from_slice(&i.to_be_bytes());
        raw.extend_from_slice(&x.to_be_bytes());
        raw.extend_from_slice(&3u32.to_be_bytes());
        raw.extend_from_slice(b"abc");
    }
    let doc = format!(
        "<VOTABLE version=\"1.2\"><RESOURCE><TABLE>\
         <FIELD name=\"i\" datatype=\"int\"><VALUES null=\"-99\"/></FIELD>\
         <FIELD name=\"x\" datatype=\"double\"/><FIELD name=\"s\" datatype=\"char\" arraysize=\"*\"/>\
         <DATA><BINARY><STREAM encoding=\"base64\">{}</STREAM></BINARY></DATA></TABLE></RESOURCE></VOTABLE>",
        base64::engine::general_purpose::STANDARD.encode(&raw)
    );
    let t = read_votable(doc.as_bytes(), 10).expect("readable");
    assert_eq!(
        t.rows,
        vec![
            vec![Datum::Int(5), Datum::Float(1.5), Datum::Text("abc".into())],
            vec![Datum::Null, Datum::Null, Datum::Text("abc".into())],
        ]
    );
    assert!(read_votable(doc.as_bytes(), 1).is_err(), "row limit");
    assert!(read_votable(b"<html/>", 10).is_err());
    assert!(read_votable(b"<VOTABLE><RESOURCE><TABLE><FIELD name=\"a\" datatype=\"int\"/><DATA><TABLEDATA><TR><TD>x</TD></TR></TABLEDATA></DATA></TABLE></RESOURCE></VOTABLE>", 10).is_err());
}

#[test]
fn voparquet_reads_back_with_its_votable_header() {
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let bytes = bytes::Bytes::from(write(Format::Parquet, Ending::Overflow));
    assert_eq!(&bytes[..4], b"PAR1");
    let builder = ParquetRecordBatchReaderBuilder::try_new(bytes).expect("parquet");
    let kv = builder
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .cloned()
        .unwrap_or_default();
    let get = |k: &str| kv.iter().find(|e| e.key == k).and_then(|e| e.value.clone());
    assert_eq!(get("IVOA.VOTable-Parquet.version").as_deref(), Some("1.0"));
    let header = get("IVOA.VOTable-Parquet.content").expect("content");
    let described = read_votable(
        header
            .replace("</TABLE>", "<DATA><TABLEDATA></TABLEDATA></DATA></TABLE>")
            .as_bytes(),
        10,
    )
    .expect("the header is a VOTable");
    assert_eq!(described.fields, fields());
    assert!(header.contains("value=\"OVERFLOW\"") && !header.contains("<DATA>"));
    let batches: Vec<_> = builder
        .build()
        .expect("reader")
        .collect::<Result<_, _>>()
        .expect("batches");
    let batch = &batches[0];
    assert_eq!(batch.num_rows(), 3);
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Float32Type, Float64Type, Int16Type, Int64Type};
    use arrow_array::Array;
    let ids = batch.column(0).as_primitive::<Int64Type>();
    assert_eq!(
        (ids.value(0), ids.is_null(1), ids.value(2)),
        (1, true, i64::MAX)
    );
    assert_eq!(
        batch.column(1).as_primitive::<Float64Type>().value(2),
        1e-300
    );
    assert_eq!(
        batch.column(2).as_primitive::<Float32Type>().value(0),
        21.25
    );
    assert_eq!(
        batch.column(3).as_string::<i32>().value(0),
        "a <b> & \"c\", d"
    );
    let pos = batch.column(5).as_list::<i32>();
    let first: Vec<f64> = pos.value(0).as_primitive::<Float64Type>().values().to_vec();
    assert_eq!(first, vec![10.5, -20.25]);
    assert!(pos.is_null(1));
    assert!(batch.column(7).as_boolean().value(0));
    assert_eq!(batch.column(8).as_primitive::<Int16Type>().value(2), 32767);
}

#[test]
fn tabledata_cells_are_written_as_the_votable_standard_spells_them() {
    let fields = vec![
        Field::new("d", "double"),
        Field::new("f", "float"),
        Field::new("i", "int"),
        Field::new("b", "boolean"),
        Field::new("s", "char").with_arraysize("*"),
        Field::new("a", "double").with_arraysize("*"),
    ];
    let mut w = TableWriter::new(Format::VotableTabledata, fields, Prelude::default());
    let mut out = Vec::new();
    w.begin(&mut out);
    let start = out.len();
    for row in [
        [
            Cell::Float(3.0),
            Cell::Float(0.1),
            Cell::Int(-12),
            Cell::Bool(false),
            Cell::Text("x<y & 'z'\u{1}"),
            Cell::Text("1.0 2.5 -0"),
        ],
        [
            Cell::Float(f64::NAN),
            Cell::Float(f64::NEG_INFINITY),
            Cell::Null,
            Cell::Null,
            Cell::Text(""),
            Cell::Text("+Inf"),
        ],
    ] {
        w.row(&mut out, &row);
    }
    let rows = String::from_utf8(out[start..].to_vec()).expect("utf8");
    // VOTable 1.4 §6: NaN, +Inf and -Inf for floating-point specials; T/F for booleans.
    assert_eq!(
        rows,
        "<TR><TD>3</TD><TD>0.1</TD><TD>-12</TD><TD>F</TD><TD>x&lt;y &amp; &apos;z&apos;\u{FFFD}</TD><TD>1 2.5 -0</TD></TR>\n\
         <TR><TD>NaN</TD><TD>-Inf</TD><TD/><TD/><TD></TD><TD>+Inf</TD></TR>\n"
    );
}
