//! Streaming table writers: VOTable 1.4 (TABLEDATA, BINARY2), CSV, TSV and JSON.
//!
//! A writer appends bytes to a caller's buffer row by row, so the caller decides when to ship
//! them (to a socket, a file, a gzip stream); nothing here holds more than one row. Values are
//! laid out by the FIELD metadata: a geometry held as DALI text (`"10 20"`) becomes the two
//! doubles of a `double[2]` in BINARY2 and a JSON array in JSON.

use base64::Engine as _;

use crate::field::{Cell, Count, Field, Primitive, Shape};
use crate::format::Format;
use std::io::Write as _;

use skyport_schema::xml::push_escaped_xml;

use crate::VOTABLE_NS;

/// An INFO element of the results resource (`name`, `value`, optional text content).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Info {
    /// INFO name.
    pub name: String,
    /// INFO value.
    pub value: String,
    /// Text content, if any.
    pub text: Option<String>,
}

impl Info {
    /// An INFO without text content.
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Info {
        Info {
            name: name.into(),
            value: value.into(),
            text: None,
        }
    }
}

/// What goes around the table besides the FIELDs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Prelude {
    /// INFOs written after `QUERY_STATUS` in the results resource (query text, limits…).
    pub infos: Vec<Info>,
    /// Raw XML written before the results resource (a service's self-description, which
    /// some services' clients look for first).
    pub leading_resources: String,
    /// Raw XML appended after the results resource (service descriptors, `RESOURCE type="meta"`).
    pub extra_resources: String,
}

/// How a table ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending<'a> {
    /// All rows were written.
    Complete,
    /// MAXREC or a service limit cut the result.
    Overflow,
    /// An error after the first bytes were sent: written as a trailing QUERY_STATUS=ERROR
    /// (in the text formats, as a final line the reader can see).
    Error(&'a str),
}

/// Bytes of raw BINARY2 data per base64 line (76 characters).
const BASE64_LINE: usize = 57;

/// A streaming writer for one result table in one format.
#[derive(Debug)]
pub struct TableWriter {
    format: Format,
    fields: Vec<Field>,
    shapes: Vec<Shape>,
    prelude: Prelude,
    rows: u64,
    /// BINARY2 bytes not yet base64-encoded (fewer than one line).
    pending: Vec<u8>,
    /// The Parquet encoder, for [`Format::Parquet`].
    parquet: Option<Box<crate::parquet::ParquetState>>,
}

impl TableWriter {
    /// A writer for `fields` in `format`.
    pub fn new(format: Format, fields: Vec<Field>, prelude: Prelude) -> TableWriter {
        let shapes = fields.iter().map(Field::shape).collect();
        TableWriter {
            format,
            fields,
            shapes,
            prelude,
            rows: 0,
            pending: Vec::new(),
            parquet: None,
        }
    }

    /// The error that made the output unusable, if any (only the Parquet encoder can fail).
    pub fn failure(&self) -> Option<&str> {
        self.parquet.as_ref().and_then(|p| p.failure.as_deref())
    }

    /// Rows written so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Writes everything before the first row.
    pub fn begin(&mut self, out: &mut Vec<u8>) {
        match self.format {
            Format::VotableTabledata | Format::VotableBinary2 => self.votable_head(out),
            Format::Csv => self.separated_header(out, b','),
            Format::Tsv => self.separated_header(out, b'\t'),
            Format::Json => self.json_head(out),
            Format::PqJson => self.pq_head(out),
            Format::Parquet => {
                self.parquet = Some(Box::new(crate::parquet::ParquetState::new(&self.fields)))
            }
        }
    }

    /// Writes one row; `cells` has one value per field.
    pub fn row(&mut self, out: &mut Vec<u8>, cells: &[Cell<'_>]) {
        match self.format {
            Format::VotableTabledata => self.tabledata_row(out, cells),
            Format::VotableBinary2 => self.binary2_row(out, cells),
            Format::Csv => self.separated_row(out, cells, b','),
            Format::Tsv => self.separated_row(out, cells, b'\t'),
            Format::Json => self.json_row(out, cells),
            Format::PqJson => self.pq_row(out, cells),
            Format::Parquet => {
                if let Some(p) = self.parquet.as_mut() {
                    p.row(out, cells);
                }
            }
        }
        self.rows += 1;
    }

    /// Writes everything after the last row.
    pub fn end(&mut self, out: &mut Vec<u8>, ending: Ending<'_>) {
        match self.format {
            Format::VotableTabledata => {
                out.extend_from_slice(b"</TABLEDATA></DATA>\n</TABLE>\n");
                self.votable_tail(out, ending);
            }
            Format::VotableBinary2 => {
                let rest = std::mem::take(&mut self.pending);
                if !rest.is_empty() {
                    push_base64(out, &rest);
                }
                out.extend_from_slice(b"</STREAM></BINARY2></DATA>\n</TABLE>\n");
                self.votable_tail(out, ending);
            }
            Format::Csv | Format::Tsv => {
                if let Ending::Error(message) = ending {
                    // No standard way exists; a last line that cannot be mistaken for data.
                    out.extend_from_slice(b"# QUERY_STATUS=ERROR: ");
                    out.extend_from_slice(one_line(message).as_bytes());
                    out.push(b'\n');
                }
            }
            Format::Json => {
                out.extend_from_slice(b"\n],\n\"status\": ");
                let (status, message) = match ending {
                    Ending::Complete => ("OK", None),
                    Ending::Overflow => ("OVERFLOW", None),
                    Ending::Error(m) => ("ERROR", Some(m)),
                };
                push_json_string(out, status);
                if let Some(m) = message {
                    out.extend_from_slice(b",\n\"message\": ");
                    push_json_string(out, m);
                }
                out.extend_from_slice(b"\n}\n");
            }
            Format::PqJson => match ending {
                Ending::Complete => out.extend_from_slice(b"]}"),
                Ending::Overflow => out.extend_from_slice(b"], \"truncated\": true}"),
                Ending::Error(message) => {
                    out.extend_from_slice(b"], \"error\": {\"message\": ");
                    push_json_string(out, message);
                    out.extend_from_slice(b"}}");
                }
            },
            Format::Parquet => {
                let header = self.dataless_votable(ending);
                if let Some(p) = self.parquet.as_mut() {
                    p.end(out, header);
                }
            }
        }
    }

    fn votable_head(&self, out: &mut Vec<u8>) {
        self.votable_fields(out);
        match self.format {
            Format::VotableBinary2 => {
                out.extend_from_slice(b"<DATA><BINARY2><STREAM encoding=\"base64\">\n")
            }
            _ => out.extend_from_slice(b"<DATA><TABLEDATA>\n"),
        }
    }

    /// The VOTable up to and including the FIELDs.
    fn votable_fields(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
                 <VOTABLE version=\"1.4\" xmlns=\"{VOTABLE_NS}\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">\n"
            )
            .as_bytes(),
        );
        out.extend_from_slice(self.prelude.leading_resources.as_bytes());
        out.extend_from_slice(
            b"<RESOURCE type=\"results\">\n<INFO name=\"QUERY_STATUS\" value=\"OK\"/>\n",
        );
        for info in &self.prelude.infos {
            push_info(out, info);
        }
        out.extend_from_slice(b"<TABLE>\n");
        for field in &self.fields {
            push_field(out, field);
        }
    }

    /// The VOTable describing the columns without any DATA (the VOParquet header).
    fn dataless_votable(&self, ending: Ending<'_>) -> String {
        let mut doc = Vec::new();
        self.votable_fields(&mut doc);
        doc.extend_from_slice(b"</TABLE>\n");
        self.votable_tail(&mut doc, ending);
        String::from_utf8_lossy(&doc).into_owned()
    }

    fn votable_tail(&self, out: &mut Vec<u8>, ending: Ending<'_>) {
        match ending {
            Ending::Complete => {}
            Ending::Overflow => {
                out.extend_from_slice(b"<INFO name=\"QUERY_STATUS\" value=\"OVERFLOW\"/>\n")
            }
            Ending::Error(message) => push_info(
                out,
                &Info {
                    name: "QUERY_STATUS".into(),
                    value: "ERROR".into(),
                    text: Some(message.to_string()),
                },
            ),
        }
        out.extend_from_slice(b"</RESOURCE>\n");
        out.extend_from_slice(self.prelude.extra_resources.as_bytes());
        out.extend_from_slice(b"</VOTABLE>\n");
    }

    fn tabledata_row(&self, out: &mut Vec<u8>, cells: &[Cell<'_>]) {
        out.extend_from_slice(b"<TR>");
        for (shape, cell) in self.shapes.iter().zip(cells) {
            if matches!(cell, Cell::Null) {
                out.extend_from_slice(b"<TD/>");
                continue;
            }
            out.extend_from_slice(b"<TD>");
            push_cell_text(out, *shape, cell, push_escaped_xml);
            out.extend_from_slice(b"</TD>");
        }
        out.extend_from_slice(b"</TR>\n");
    }

    fn binary2_row(&mut self, out: &mut Vec<u8>, cells: &[Cell<'_>]) {
        let flags_at = self.pending.len();
        self.pending
            .resize(flags_at + self.fields.len().div_ceil(8), 0);
        for (i, (shape, cell)) in self.shapes.iter().zip(cells).enumerate() {
            if matches!(cell, Cell::Null) {
                self.pending[flags_at + i / 8] |= 0x80 >> (i % 8);
            }
            push_binary(&mut self.pending, *shape, cell);
        }
        let whole = self.pending.len() / BASE64_LINE * BASE64_LINE;
        if whole > 0 {
            for line in self.pending[..whole].chunks(BASE64_LINE) {
                push_base64(out, line);
            }
            self.pending.drain(..whole);
        }
    }

    fn separated_header(&self, out: &mut Vec<u8>, sep: u8) {
        for (i, field) in self.fields.iter().enumerate() {
            if i > 0 {
                out.push(sep);
            }
            push_separated(out, &field.name, sep);
        }
        out.push(b'\n');
    }

    fn separated_row(&self, out: &mut Vec<u8>, cells: &[Cell<'_>], sep: u8) {
        for (i, (shape, cell)) in self.shapes.iter().zip(cells).enumerate() {
            if i > 0 {
                out.push(sep);
            }
            if !matches!(cell, Cell::Null) {
                // Numbers and flags never need quoting; text goes through the quoting rules.
                push_cell_text(out, *shape, cell, |out, text| {
                    push_separated(out, text, sep)
                });
            }
        }
        out.push(b'\n');
    }

    fn json_head(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\n\"columns\": [");
        for (i, f) in self.fields.iter().enumerate() {
            out.extend_from_slice(if i == 0 { b"\n  {" } else { b",\n  {" });
            let attrs = [
                ("name", Some(f.name.as_str())),
                ("datatype", Some(f.meta.datatype.as_str())),
                ("arraysize", f.meta.arraysize.as_deref()),
                ("xtype", f.meta.xtype.as_deref()),
                ("unit", f.meta.unit.as_deref()),
                ("ucd", f.meta.ucd.as_deref()),
                ("utype", f.meta.utype.as_deref()),
                ("description", f.meta.description.as_deref()),
            ];
            let mut first = true;
            for (key, value) in attrs {
                let Some(value) = value else { continue };
                if !first {
                    out.extend_from_slice(b", ");
                }
                first = false;
                push_json_string(out, key);
                out.extend_from_slice(b": ");
                push_json_string(out, value);
            }
            out.push(b'}');
        }
        out.extend_from_slice(b"\n],\n\"data\": [");
    }

    fn json_row(&self, out: &mut Vec<u8>, cells: &[Cell<'_>]) {
        out.extend_from_slice(if self.rows == 0 { b"\n[" } else { b",\n[" });
        for (i, (shape, cell)) in self.shapes.iter().zip(cells).enumerate() {
            if i > 0 {
                out.extend_from_slice(b", ");
            }
            push_json_cell(out, *shape, cell);
        }
        out.push(b']');
    }
}

impl TableWriter {
    fn pq_head(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"columns\": [");
        for (i, f) in self.fields.iter().enumerate() {
            if i > 0 {
                out.extend_from_slice(b", ");
            }
            push_json_string(out, &f.name);
        }
        out.extend_from_slice(b"], \"data\": [");
    }

    /// A row as pqserver gives it: each value as the database returned it (numbers stay
    /// numbers, text stays text), booleans stored as integers as `true`/`false`, and
    /// single-precision columns at single precision.
    fn pq_row(&self, out: &mut Vec<u8>, cells: &[Cell<'_>]) {
        if self.rows > 0 {
            out.push(b',');
        }
        out.push(b'[');
        for (i, (shape, cell)) in self.shapes.iter().zip(cells).enumerate() {
            if i > 0 {
                out.extend_from_slice(b", ");
            }
            match (shape.primitive, cell) {
                (_, Cell::Null) => out.extend_from_slice(b"null"),
                (Primitive::Boolean, Cell::Int(v)) => {
                    out.extend_from_slice(if *v != 0 { b"true" } else { b"false" })
                }
                (_, Cell::Bool(b)) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
                (_, Cell::Int(v)) => out.extend_from_slice(v.to_string().as_bytes()),
                (Primitive::Float, Cell::Float(x)) => {
                    push_pq_number(out, format!("{:?}", *x as f32), (*x as f32).is_finite())
                }
                (_, Cell::Float(x)) => push_pq_number(out, format!("{x:?}"), x.is_finite()),
                (_, Cell::Text(t)) => push_json_string(out, t),
            }
        }
        out.push(b']');
    }
}

/// A JSON number the way Python's `json` reads back a float (`1.0`, not `1`); NaN and
/// infinities, which JSON lacks, as null.
fn push_pq_number(out: &mut Vec<u8>, text: String, finite: bool) {
    if finite {
        out.extend_from_slice(text.as_bytes());
    } else {
        out.extend_from_slice(b"null");
    }
}

fn push_attr(out: &mut Vec<u8>, name: &str, value: Option<&str>) {
    if let Some(v) = value {
        out.push(b' ');
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b"=\"");
        push_escaped_xml(out, v);
        out.push(b'"');
    }
}

fn push_info(out: &mut Vec<u8>, info: &Info) {
    out.extend_from_slice(b"<INFO");
    push_attr(out, "name", Some(&info.name));
    push_attr(out, "value", Some(&info.value));
    match &info.text {
        Some(t) => {
            out.push(b'>');
            push_escaped_xml(out, t);
            out.extend_from_slice(b"</INFO>\n");
        }
        None => out.extend_from_slice(b"/>\n"),
    }
}

/// Writes one FIELD element.
pub fn push_field(out: &mut Vec<u8>, field: &Field) {
    out.extend_from_slice(b"<FIELD");
    push_attr(out, "name", Some(&field.name));
    push_attr(out, "ID", field.id.as_deref());
    push_attr(out, "datatype", Some(&field.meta.datatype));
    push_attr(out, "arraysize", field.meta.arraysize.as_deref());
    push_attr(out, "xtype", field.meta.xtype.as_deref());
    push_attr(out, "unit", field.meta.unit.as_deref());
    push_attr(out, "ucd", field.meta.ucd.as_deref());
    push_attr(out, "utype", field.meta.utype.as_deref());
    match field
        .meta
        .description
        .as_deref()
        .filter(|d| !d.trim().is_empty())
    {
        Some(d) => {
            out.extend_from_slice(b"><DESCRIPTION>");
            push_escaped_xml(out, d);
            out.extend_from_slice(b"</DESCRIPTION></FIELD>\n");
        }
        None => out.extend_from_slice(b"/>\n"),
    }
}

fn push_base64(out: &mut Vec<u8>, raw: &[u8]) {
    let mut line = String::with_capacity(raw.len() * 4 / 3 + 4);
    base64::engine::general_purpose::STANDARD.encode_string(raw, &mut line);
    out.extend_from_slice(line.as_bytes());
    out.push(b'\n');
}

/// Appends the shortest text that reads back as the same double (`NaN`, `+Inf`, `-Inf` for
/// the others; no `.0` on whole numbers).
fn push_double(out: &mut Vec<u8>, x: f64) {
    if x.is_nan() {
        out.extend_from_slice(b"NaN");
    } else if x.is_infinite() {
        out.extend_from_slice(if x > 0.0 { b"+Inf" } else { b"-Inf" });
    } else {
        push_shortest(out, x);
    }
}

/// [`push_double`] for single precision.
fn push_float(out: &mut Vec<u8>, x: f32) {
    if x.is_finite() {
        push_shortest(out, x);
    } else {
        push_double(out, f64::from(x));
    }
}

/// Appends a finite float's shortest round-trip text (Rust's `Debug`), without `.0`.
fn push_shortest(out: &mut Vec<u8>, x: impl std::fmt::Debug) {
    let start = out.len();
    // Writing to a Vec cannot fail.
    let _ = write!(out, "{x:?}");
    if out[start..].ends_with(b".0") {
        out.truncate(out.len() - 2);
    }
}

/// The integer a value stands for in an integer column (floats round to the nearest).
pub(crate) fn as_integer(cell: &Cell<'_>) -> Option<i64> {
    match cell {
        Cell::Int(i) => Some(*i),
        Cell::Bool(b) => Some(i64::from(*b)),
        Cell::Float(f) if f.is_finite() => Some(f.round() as i64),
        Cell::Text(t) => t.trim().parse().ok(),
        _ => None,
    }
}

fn as_double(cell: &Cell<'_>) -> f64 {
    match cell {
        Cell::Int(i) => *i as f64,
        Cell::Float(f) => *f,
        Cell::Bool(b) => f64::from(u8::from(*b)),
        Cell::Text(t) => parse_double(t),
        Cell::Null => f64::NAN,
    }
}

fn parse_double(t: &str) -> f64 {
    let t = t.trim();
    match t {
        "+Inf" | "Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        _ => t.parse().unwrap_or(f64::NAN),
    }
}

fn as_bool(cell: &Cell<'_>) -> Option<bool> {
    match cell {
        Cell::Bool(b) => Some(*b),
        Cell::Int(i) => Some(*i != 0),
        Cell::Float(f) => Some(*f != 0.0),
        Cell::Text(t) => match t.trim().to_ascii_lowercase().as_str() {
            "t" | "true" | "1" => Some(true),
            "f" | "false" | "0" => Some(false),
            _ => None,
        },
        Cell::Null => None,
    }
}

/// The numbers of an array cell (DALI text such as `"10 20 1.5"`, or one number).
fn array_numbers(cell: &Cell<'_>) -> Vec<f64> {
    match cell {
        Cell::Text(t) => t.split_whitespace().map(parse_double).collect(),
        Cell::Null => Vec::new(),
        other => vec![as_double(other)],
    }
}

/// The text of a non-NULL cell as TABLEDATA, CSV and TSV write it.
fn cell_text(shape: Shape, cell: &Cell<'_>) -> String {
    let mut out = Vec::new();
    push_cell_text(&mut out, shape, cell, |out, t| {
        out.extend_from_slice(t.as_bytes())
    });
    String::from_utf8(out).unwrap_or_default()
}

/// Appends the text of a cell as TABLEDATA, CSV and TSV write it: numbers and flags straight
/// into `out` (they never need escaping), text through `text`, which escapes or quotes it for
/// the format. Nothing is allocated for scalar cells.
fn push_cell_text(
    out: &mut Vec<u8>,
    shape: Shape,
    cell: &Cell<'_>,
    text: impl Fn(&mut Vec<u8>, &str),
) {
    let number = |out: &mut Vec<u8>, x: f64| match shape.primitive {
        Primitive::Float => push_float(out, x as f32),
        _ => push_double(out, x),
    };
    match (shape.primitive, shape.count, cell) {
        (_, _, Cell::Null) => {}
        (Primitive::Boolean, Count::Scalar, c) => out.push(match as_bool(c) {
            Some(true) => b'T',
            Some(false) => b'F',
            None => b'?',
        }),
        (
            Primitive::Short | Primitive::Int | Primitive::Long | Primitive::UnsignedByte,
            Count::Scalar,
            c,
        ) => {
            if let Some(i) = as_integer(c) {
                let _ = write!(out, "{i}");
            }
        }
        (Primitive::Float | Primitive::Double, Count::Scalar, c) => number(out, as_double(c)),
        (Primitive::Float | Primitive::Double, _, Cell::Text(t)) => {
            for (k, x) in t.split_whitespace().enumerate() {
                if k > 0 {
                    out.push(b' ');
                }
                number(out, parse_double(x));
            }
        }
        (_, _, Cell::Text(t)) => text(out, t),
        (_, _, Cell::Int(i)) => {
            let _ = write!(out, "{i}");
        }
        (_, _, Cell::Float(f)) => number(out, *f),
        (_, _, Cell::Bool(b)) => out.push(if *b { b'T' } else { b'F' }),
    }
}

fn push_number(out: &mut Vec<u8>, primitive: Primitive, x: f64) {
    match primitive {
        Primitive::Float => out.extend_from_slice(&(x as f32).to_be_bytes()),
        _ => out.extend_from_slice(&x.to_be_bytes()),
    }
}

fn push_integer(out: &mut Vec<u8>, primitive: Primitive, i: i64) {
    match primitive {
        Primitive::UnsignedByte => out.push(i.clamp(0, 255) as u8),
        Primitive::Short => {
            out.extend_from_slice(&(i.clamp(i16::MIN.into(), i16::MAX.into()) as i16).to_be_bytes())
        }
        Primitive::Int => {
            out.extend_from_slice(&(i.clamp(i32::MIN.into(), i32::MAX.into()) as i32).to_be_bytes())
        }
        _ => out.extend_from_slice(&i.to_be_bytes()),
    }
}

/// Appends the BINARY2 encoding of one cell (NULLs as zeros, NaN or an empty array; the null
/// flag says which they are).
fn push_binary(out: &mut Vec<u8>, shape: Shape, cell: &Cell<'_>) {
    let p = shape.primitive;
    match (p, shape.count) {
        (Primitive::Char | Primitive::UnicodeChar | Primitive::Other, count) => {
            let text = match cell {
                Cell::Null => String::new(),
                c => cell_text(shape, c),
            };
            let units: Vec<u16> = text.encode_utf16().collect();
            let n = match count {
                Count::Scalar => 1,
                Count::Fixed(n) => n,
                Count::Variable => {
                    let n = if p == Primitive::UnicodeChar {
                        units.len()
                    } else {
                        text.len()
                    };
                    out.extend_from_slice(&(n as u32).to_be_bytes());
                    n
                }
            };
            if p == Primitive::UnicodeChar {
                for k in 0..n {
                    out.extend_from_slice(&units.get(k).copied().unwrap_or(0).to_be_bytes());
                }
            } else {
                let bytes = text.as_bytes();
                for k in 0..n {
                    out.push(bytes.get(k).copied().unwrap_or(0));
                }
            }
        }
        (Primitive::Boolean, Count::Scalar) => out.push(match as_bool(cell) {
            Some(true) => b'T',
            Some(false) => b'F',
            None => b'?',
        }),
        (Primitive::Float | Primitive::Double, Count::Scalar) => {
            push_number(out, p, as_double(cell))
        }
        (_, Count::Scalar) => push_integer(out, p, as_integer(cell).unwrap_or(0)),
        (_, count) => {
            let numbers = array_numbers(cell);
            let n = match count {
                Count::Fixed(n) => n,
                _ => {
                    out.extend_from_slice(&(numbers.len() as u32).to_be_bytes());
                    numbers.len()
                }
            };
            for k in 0..n {
                let x = numbers.get(k).copied().unwrap_or(f64::NAN);
                match p {
                    Primitive::Float | Primitive::Double => push_number(out, p, x),
                    Primitive::Boolean => out.push(if x != 0.0 { b'T' } else { b'F' }),
                    _ => push_integer(out, p, if x.is_finite() { x.round() as i64 } else { 0 }),
                }
            }
        }
    }
}

/// One CSV/TSV value: RFC 4180 quoting for CSV; TSV has no quoting, so tabs and line breaks
/// become spaces.
fn push_separated(out: &mut Vec<u8>, text: &str, sep: u8) {
    if sep == b'\t' {
        for c in text.chars() {
            match c {
                '\t' | '\n' | '\r' => out.push(b' '),
                c => {
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
            }
        }
    } else if text.contains([',', '"', '\n', '\r']) || text.starts_with(' ') || text.ends_with(' ')
    {
        out.push(b'"');
        out.extend_from_slice(text.replace('"', "\"\"").as_bytes());
        out.push(b'"');
    } else {
        out.extend_from_slice(text.as_bytes());
    }
}

fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c == '\n' || c == '\r' { ' ' } else { c })
        .collect()
}

/// Writes a JSON string literal.
pub fn push_json_string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            c if (c as u32) < 0x20 => {
                out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes())
            }
            c => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    out.push(b'"');
}

fn push_json_number(out: &mut Vec<u8>, primitive: Primitive, x: f64) {
    if x.is_finite() {
        match primitive {
            Primitive::Float => push_float(out, x as f32),
            _ => push_double(out, x),
        }
    } else {
        out.extend_from_slice(b"null");
    }
}

fn push_json_cell(out: &mut Vec<u8>, shape: Shape, cell: &Cell<'_>) {
    let p = shape.primitive;
    match (p, shape.count, cell) {
        (_, _, Cell::Null) => out.extend_from_slice(b"null"),
        (Primitive::Char | Primitive::UnicodeChar | Primitive::Other, _, Cell::Text(t)) => {
            push_json_string(out, t)
        }
        (Primitive::Char | Primitive::UnicodeChar | Primitive::Other, _, c) => {
            push_json_string(out, &cell_text(shape, c))
        }
        (Primitive::Boolean, Count::Scalar, c) => out.extend_from_slice(match as_bool(c) {
            Some(true) => b"true",
            Some(false) => b"false",
            None => b"null",
        }),
        (Primitive::Float | Primitive::Double, Count::Scalar, c) => {
            push_json_number(out, p, as_double(c))
        }
        (_, Count::Scalar, c) => match as_integer(c) {
            Some(i) => {
                let _ = write!(out, "{i}");
            }
            None => out.extend_from_slice(b"null"),
        },
        (_, _, c) => {
            out.push(b'[');
            for (k, x) in array_numbers(c).into_iter().enumerate() {
                if k > 0 {
                    out.push(b',');
                }
                push_json_number(out, p, x);
            }
            out.push(b']');
        }
    }
}
