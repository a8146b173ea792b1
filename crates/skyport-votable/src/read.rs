//! Reading uploaded tables: the first TABLE of a VOTable in TABLEDATA, BINARY or BINARY2.
//!
//! [`VotableRows`] reads a table a batch of rows at a time from any buffered reader, decoding
//! a binary stream as it arrives (the XML reader would gather a whole stream as one text), so
//! a user-table load's memory does not grow with the table. TAP uploads are small by
//! configuration and read whole ([`read_votable`]); the row limit is checked while reading so
//! a large table stops early with a clear error.

use base64::Engine as _;
use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use crate::field::{Count, Datum, Field, Primitive, Shape};

/// An uploaded table.
#[derive(Debug, Clone, PartialEq)]
pub struct UploadedTable {
    /// The columns, as declared.
    pub fields: Vec<Field>,
    /// The rows, one value per field.
    pub rows: Vec<Vec<Datum>>,
}

/// Why an upload could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    /// Not well-formed XML, or not a VOTable.
    #[error("not a readable VOTable: {0}")]
    Malformed(String),
    /// More rows than allowed.
    #[error("the table has more than {0} rows, the upload limit")]
    TooManyRows(usize),
    /// A construct this reader does not handle.
    #[error("unsupported VOTable content: {0}")]
    Unsupported(String),
    /// More cells than the document's size can stand for (short rows padded to many fields).
    #[error("the table has more cells than its {0} bytes can hold; write every cell out")]
    TooManyCells(usize),
}

fn malformed(e: impl std::fmt::Display) -> ReadError {
    ReadError::Malformed(e.to_string())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Serialization {
    TableData,
    Binary,
    Binary2,
}

fn attribute(e: &BytesStart<'_>, name: &str) -> Result<Option<String>, ReadError> {
    for a in e.attributes() {
        let a = a.map_err(malformed)?;
        if a.key.local_name().as_ref() == name {
            return Ok(Some(
                a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                    .map_err(malformed)?
                    .into_owned(),
            ));
        }
    }
    Ok(None)
}

fn field_of(e: &BytesStart<'_>) -> Result<Field, ReadError> {
    let name =
        attribute(e, "name")?.ok_or_else(|| ReadError::Malformed("a FIELD has no name".into()))?;
    let datatype = attribute(e, "datatype")?
        .ok_or_else(|| ReadError::Malformed(format!("FIELD {name} has no datatype")))?;
    Ok(Field {
        name,
        id: attribute(e, "ID")?,
        meta: skyport_schema::ColumnMeta {
            datatype,
            arraysize: attribute(e, "arraysize")?,
            xtype: attribute(e, "xtype")?,
            unit: attribute(e, "unit")?,
            ucd: attribute(e, "ucd")?,
            utype: attribute(e, "utype")?,
            description: None,
        },
        null: None,
    })
}

/// The character an XML reference (`&#233;`, `&amp;`) stands for: the five predefined
/// entities and character references; any other entity is an error.
pub(crate) fn resolve_reference(r: &quick_xml::events::BytesRef<'_>) -> Result<char, ReadError> {
    Ok(match r.resolve_char_ref().map_err(malformed)? {
        Some(ch) => ch,
        None => match r.xml10_content().as_ref() {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            other => return Err(malformed(format!("unknown entity &{other};"))),
        },
    })
}

/// Reads the first table of a VOTable document, with at most `max_rows` rows.
pub fn read_votable(bytes: &[u8], max_rows: usize) -> Result<UploadedTable, ReadError> {
    std::str::from_utf8(bytes).map_err(|_| malformed("the document is not UTF-8"))?;
    let mut reader = VotableRows::open(bytes, max_rows)?;
    // Every cell the document holds takes at least a byte of it; padding short rows makes
    // cells from nothing, so the cells kept are bounded by the document's size.
    reader.max_cells = bytes.len().saturating_mul(4).saturating_add(1024);
    reader.input_bytes = bytes.len();
    let mut rows = Vec::new();
    while let Some(batch) = reader.next_batch(usize::MAX)? {
        rows.extend(batch);
    }
    Ok(UploadedTable {
        fields: reader.fields,
        rows,
    })
}

/// The longest run of bytes between two `<` outside a binary stream: a cell, a description.
const MAX_TEXT_BYTES: usize = 16 << 20;
/// The longest row of a binary stream.
const MAX_BINARY_ROW_BYTES: usize = 16 << 20;
/// A batch ends when it holds this many cells, whatever its rows.
const BATCH_CELLS: usize = 1 << 18;

/// A source that refuses a run of more than [`MAX_TEXT_BYTES`] without a `<`: the XML reader
/// gathers a text event whole, so this bounds its memory. Binary streams are read raw, unbounded.
struct Bounded<R> {
    inner: R,
    run: usize,
    raw: bool,
}

impl<R: std::io::BufRead> std::io::Read for Bounded<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let n = {
            let available = std::io::BufRead::fill_buf(self)?;
            let n = available.len().min(out.len());
            out[..n].copy_from_slice(&available[..n]);
            n
        };
        std::io::BufRead::consume(self, n);
        Ok(n)
    }
}

impl<R: std::io::BufRead> std::io::BufRead for Bounded<R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        if !self.raw && self.run > MAX_TEXT_BYTES {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("more than {MAX_TEXT_BYTES} bytes between two tags"),
            ));
        }
        self.inner.fill_buf()
    }

    fn consume(&mut self, n: usize) {
        if !self.raw {
            // The bytes consumed are those the last `fill_buf` showed, still in the buffer.
            if let Ok(available) = self.inner.fill_buf() {
                let seen = &available[..n.min(available.len())];
                self.run = match seen.iter().rposition(|&b| b == b'<') {
                    Some(at) => seen.len() - at - 1,
                    None => self.run.saturating_add(seen.len()),
                };
            }
        }
        self.inner.consume(n);
    }
}

/// A binary stream being decoded.
struct StreamState {
    with_flags: bool,
    /// Base64 characters not yet decoded (fewer than four after each step).
    pending: Vec<u8>,
    /// Decoded bytes not yet made into rows.
    data: Vec<u8>,
    /// The closing tag has been reached: `data` is all there is.
    ended: bool,
}

/// The rows of a VOTable's first table, read from `R` a batch at a time: memory is that of a
/// batch, whatever the table's length (a TAP upload reads them all with [`read_votable`]).
pub struct VotableRows<R: std::io::BufRead> {
    reader: Reader<Bounded<R>>,
    buf: Vec<u8>,
    fields: Vec<Field>,
    shapes: Vec<Shape>,
    max_rows: usize,
    max_cells: usize,
    input_bytes: usize,
    rows_read: usize,
    serialization: Option<Serialization>,
    in_table: bool,
    tables_seen: usize,
    saw_votable: bool,
    data_started: bool,
    row: Vec<Datum>,
    cell_text: Option<String>,
    stream: Option<StreamState>,
    finished: bool,
}

impl<R: std::io::BufRead> VotableRows<R> {
    /// Reads `source` up to its first table's data, so that its fields are known; at most
    /// `max_rows` rows will be read.
    pub fn open(source: R, max_rows: usize) -> Result<VotableRows<R>, ReadError> {
        let mut rows = VotableRows {
            reader: Reader::from_reader(Bounded {
                inner: source,
                run: 0,
                raw: false,
            }),
            buf: Vec::new(),
            fields: Vec::new(),
            shapes: Vec::new(),
            max_rows,
            max_cells: usize::MAX,
            input_bytes: 0,
            rows_read: 0,
            serialization: None,
            in_table: false,
            tables_seen: 0,
            saw_votable: false,
            data_started: false,
            row: Vec::new(),
            cell_text: None,
            stream: None,
            finished: false,
        };
        let mut before_data = Vec::new();
        while !rows.data_started && !rows.finished {
            rows.step(&mut before_data, usize::MAX)?;
        }
        if !rows.saw_votable {
            return Err(malformed("no VOTABLE element"));
        }
        if rows.tables_seen == 0 {
            return Err(malformed("the VOTable holds no TABLE"));
        }
        if rows.fields.is_empty() && rows.data_started {
            return Err(malformed("the table's data starts before any FIELD"));
        }
        if rows.fields.is_empty() {
            return Err(malformed("the table declares no FIELD"));
        }
        rows.shapes = rows.fields.iter().map(Field::shape).collect();
        Ok(rows)
    }

    /// The table's columns.
    pub fn fields(&self) -> &[Field] {
        &self.fields
    }

    /// The next rows, at most `max` (fewer when they hold many cells), or `None` at the end.
    pub fn next_batch(&mut self, max: usize) -> Result<Option<Vec<Vec<Datum>>>, ReadError> {
        let mut batch = Vec::new();
        let room = max.min(BATCH_CELLS / self.fields.len().max(1)).max(1);
        while !self.finished && batch.len() < room {
            self.step(&mut batch, room)?;
        }
        Ok(if batch.is_empty() { None } else { Some(batch) })
    }

    /// One event of the document, or one buffer of a binary stream.
    fn step(&mut self, batch: &mut Vec<Vec<Datum>>, room: usize) -> Result<(), ReadError> {
        if self.stream.is_some() {
            return self.stream_step(batch, room);
        }
        self.buf.clear();
        let event = self
            .reader
            .read_event_into(&mut self.buf)
            .map_err(malformed)?;
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let empty = matches!(event, Event::Empty(_));
                let local = e.local_name();
                let in_table = self.in_table;
                match local.as_ref() {
                    "VOTABLE" => self.saw_votable = true,
                    "TABLE" if self.tables_seen == 0 => {
                        self.in_table = true;
                        self.tables_seen += 1;
                    }
                    "FIELD" if in_table && self.data_started => {
                        return Err(malformed("a FIELD after the table's DATA"))
                    }
                    "FIELD" if in_table => self.fields.push(field_of(e)?),
                    // A FIELD's VALUES; once the data has started the fields are fixed.
                    "VALUES" if in_table && !self.data_started => {
                        if let (Some(f), Some(null)) =
                            (self.fields.last_mut(), attribute(e, "null")?)
                        {
                            f.null = Some(null);
                        }
                    }
                    "DATA" if in_table => self.data_started = true,
                    // A serialisation starts the data even outside a DATA element: a FIELD
                    // after a BINARY stream would find rows already read with fewer cells.
                    "TABLEDATA" if in_table => {
                        self.data_started = true;
                        self.serialization = Some(Serialization::TableData)
                    }
                    "BINARY" if in_table => {
                        self.data_started = true;
                        self.serialization = Some(Serialization::Binary)
                    }
                    "BINARY2" if in_table => {
                        self.data_started = true;
                        self.serialization = Some(Serialization::Binary2)
                    }
                    "FITS" if in_table => {
                        return Err(ReadError::Unsupported(
                            "FITS serialisation; send TABLEDATA, BINARY or BINARY2".into(),
                        ))
                    }
                    "STREAM" if in_table => {
                        if attribute(e, "href")?.is_some() {
                            return Err(ReadError::Unsupported(
                                "a STREAM with href; put the data inline".into(),
                            ));
                        }
                        if let Some(enc) = attribute(e, "encoding")? {
                            if enc != "base64" {
                                return Err(ReadError::Unsupported(format!(
                                    "STREAM encoding {enc:?}; only base64 is read"
                                )));
                            }
                        }
                        if !empty {
                            self.shapes = self.fields.iter().map(Field::shape).collect();
                            self.stream = Some(StreamState {
                                with_flags: self.serialization == Some(Serialization::Binary2),
                                pending: Vec::new(),
                                data: Vec::new(),
                                ended: false,
                            });
                            self.reader.get_mut().raw = true;
                        }
                    }
                    "TR" if in_table => {
                        self.data_started = true;
                        self.row.clear();
                    }
                    "TD" if in_table => {
                        if empty {
                            self.row.push(Datum::Null);
                        } else {
                            self.cell_text = Some(String::new());
                        }
                    }
                    _ => {}
                }
                if empty && local.as_ref() == "TR" && in_table {
                    let row = std::mem::take(&mut self.row);
                    self.push_row(batch, row)?;
                }
            }
            Event::Text(t) => {
                if let Some(c) = self.cell_text.as_mut() {
                    c.push_str(&t.xml10_content());
                    check_cell(c)?;
                }
            }
            Event::CData(t) => {
                if let Some(c) = self.cell_text.as_mut() {
                    c.push_str(&t.into_inner());
                    check_cell(c)?;
                }
            }
            Event::GeneralRef(r) => {
                if let Some(c) = self.cell_text.as_mut() {
                    c.push(resolve_reference(&r)?);
                    check_cell(c)?;
                }
            }
            Event::End(ref e) => match e.local_name().as_ref() {
                "TD" if self.in_table => {
                    let text = self.cell_text.take().unwrap_or_default();
                    let field = self.fields.get(self.row.len()).ok_or_else(|| {
                        malformed(format!("a row has more than {} cells", self.fields.len()))
                    })?;
                    let value = parse_text(field, &text)?;
                    self.row.push(value);
                }
                "TR" if self.in_table => {
                    let row = std::mem::take(&mut self.row);
                    self.push_row(batch, row)?
                }
                "TABLE" if self.in_table => self.in_table = false,
                _ => {}
            },
            Event::Eof => self.finished = true,
            _ => {}
        }
        Ok(())
    }

    /// Makes rows of a binary stream's decoded bytes until the batch holds `room`, and when
    /// they hold no whole row, reads one more buffer up to the stream's closing tag. The XML
    /// reader resumes at the `<` that ends the stream.
    fn stream_step(&mut self, batch: &mut Vec<Vec<Datum>>, room: usize) -> Result<(), ReadError> {
        let Some(mut stream) = self.stream.take() else {
            return Ok(());
        };
        let mut at = 0;
        while batch.len() < room {
            let Some((row, used)) = decode_row(
                &stream.data[at..],
                &self.fields,
                &self.shapes,
                stream.with_flags,
            )?
            else {
                break;
            };
            at += used;
            self.push_row(batch, row)?;
        }
        stream.data.drain(..at);
        if batch.len() >= room {
            self.stream = Some(stream);
            return Ok(());
        }
        if stream.ended {
            if !stream.data.is_empty() {
                return Err(malformed("the binary stream ends inside a row"));
            }
            let source = self.reader.get_mut();
            source.raw = false;
            source.run = 0;
            return Ok(());
        }
        let mut source = self.reader.stream();
        let available = std::io::BufRead::fill_buf(&mut source).map_err(malformed)?;
        if available.is_empty() {
            return Err(malformed("the document ends inside a STREAM"));
        }
        let end = available.iter().position(|&b| b == b'<');
        let taken = end.unwrap_or(available.len());
        stream.pending.extend(
            available[..taken]
                .iter()
                .filter(|b| !b.is_ascii_whitespace()),
        );
        std::io::BufRead::consume(&mut source, taken);
        stream.ended = end.is_some();
        let whole = if stream.ended {
            stream.pending.len()
        } else {
            stream.pending.len() / 4 * 4
        };
        base64::engine::general_purpose::STANDARD
            .decode_vec(&stream.pending[..whole], &mut stream.data)
            .map_err(|e| malformed(format!("the base64 stream is invalid: {e}")))?;
        stream.pending.drain(..whole);
        if stream.data.len() > MAX_BINARY_ROW_BYTES {
            return Err(malformed(format!(
                "a row of the binary stream is longer than {MAX_BINARY_ROW_BYTES} bytes"
            )));
        }
        self.stream = Some(stream);
        Ok(())
    }

    fn push_row(
        &mut self,
        batch: &mut Vec<Vec<Datum>>,
        mut row: Vec<Datum>,
    ) -> Result<(), ReadError> {
        if self.rows_read >= self.max_rows {
            return Err(ReadError::TooManyRows(self.max_rows));
        }
        if (self.rows_read + 1).saturating_mul(self.fields.len()) > self.max_cells {
            return Err(ReadError::TooManyCells(self.input_bytes));
        }
        self.rows_read += 1;
        // A short row means the missing trailing cells are empty.
        row.resize(self.fields.len(), Datum::Null);
        batch.push(row);
        Ok(())
    }
}

fn check_cell(text: &str) -> Result<(), ReadError> {
    if text.len() > MAX_TEXT_BYTES {
        return Err(malformed(format!(
            "a cell is longer than {MAX_TEXT_BYTES} bytes"
        )));
    }
    Ok(())
}

/// One row decoded from the start of `data` and the bytes it took, or `None` when `data`
/// ends before the row does.
fn decode_row(
    data: &[u8],
    fields: &[Field],
    shapes: &[Shape],
    with_flags: bool,
) -> Result<Option<(Vec<Datum>, usize)>, ReadError> {
    if data.is_empty() {
        return Ok(None);
    }
    let mut cursor = Bytes {
        data,
        at: 0,
        short: false,
    };
    let mut decode = || -> Result<Vec<Datum>, ReadError> {
        let flags = if with_flags {
            cursor.take(fields.len().div_ceil(8))?.to_vec()
        } else {
            Vec::new()
        };
        let mut row = Vec::with_capacity(fields.len());
        for (i, (field, shape)) in fields.iter().zip(shapes).enumerate() {
            let value = read_binary_cell(&mut cursor, field, *shape)?;
            let flagged = flags.get(i / 8).is_some_and(|b| b & (0x80 >> (i % 8)) != 0);
            row.push(if flagged { Datum::Null } else { value });
        }
        Ok(row)
    };
    let decoded = decode();
    match decoded {
        Ok(_) if cursor.at == 0 => {
            // Zero-width fields would make rows out of nothing, without end.
            Err(malformed("a row of the binary stream takes no bytes"))
        }
        Ok(row) => Ok(Some((row, cursor.at))),
        Err(_) if cursor.short => Ok(None),
        Err(e) => Err(e),
    }
}

fn bad_value(field: &Field, text: &str) -> ReadError {
    malformed(format!(
        "column {}: {text:?} is not a {} value",
        field.name, field.meta.datatype
    ))
}

/// The value of one TABLEDATA cell.
fn parse_text(field: &Field, text: &str) -> Result<Datum, ReadError> {
    let shape = field.shape();
    let trimmed = text.trim();
    if shape.primitive.is_text() {
        return Ok(if text.is_empty() {
            Datum::Null
        } else {
            Datum::Text(text.to_string())
        });
    }
    if trimmed.is_empty() || field.null.as_deref() == Some(trimmed) {
        return Ok(Datum::Null);
    }
    if shape.count != Count::Scalar {
        return Ok(Datum::Text(
            trimmed.split_whitespace().collect::<Vec<_>>().join(" "),
        ));
    }
    Ok(match shape.primitive {
        Primitive::Boolean => match trimmed.to_ascii_lowercase().as_str() {
            "t" | "true" | "1" => Datum::Bool(true),
            "f" | "false" | "0" => Datum::Bool(false),
            "?" => Datum::Null,
            _ => return Err(bad_value(field, text)),
        },
        Primitive::UnsignedByte | Primitive::Short | Primitive::Int | Primitive::Long => {
            parse_integer(trimmed)
                .map(Datum::Int)
                .ok_or_else(|| bad_value(field, text))?
        }
        Primitive::Float | Primitive::Double => {
            let x = parse_float(trimmed).ok_or_else(|| bad_value(field, text))?;
            if x.is_nan() {
                Datum::Null
            } else {
                Datum::Float(x)
            }
        }
        _ => Datum::Text(trimmed.to_string()),
    })
}

fn parse_integer(t: &str) -> Option<i64> {
    if let Some(hex) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        return i64::from_str_radix(hex, 16).ok();
    }
    t.parse().ok()
}

fn parse_float(t: &str) -> Option<f64> {
    match t {
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        _ => t.parse().ok(),
    }
}

/// A cursor over decoded binary data.
struct Bytes<'a> {
    data: &'a [u8],
    at: usize,
    /// Set when a read wanted more bytes than are left.
    short: bool,
}

impl<'a> Bytes<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], ReadError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&e| e <= self.data.len())
            .ok_or_else(|| malformed("the binary stream ends inside a row"));
        let end = match end {
            Ok(end) => end,
            Err(e) => {
                self.short = true;
                return Err(e);
            }
        };
        let s = &self.data[self.at..end];
        self.at = end;
        Ok(s)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], ReadError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }
}

fn read_element(cursor: &mut Bytes<'_>, p: Primitive) -> Result<Option<f64>, ReadError> {
    Ok(Some(match p {
        Primitive::UnsignedByte => f64::from(cursor.array::<1>()?[0]),
        Primitive::Short => f64::from(i16::from_be_bytes(cursor.array()?)),
        Primitive::Int => f64::from(i32::from_be_bytes(cursor.array()?)),
        Primitive::Long => i64::from_be_bytes(cursor.array()?) as f64,
        Primitive::Float => f64::from(f32::from_be_bytes(cursor.array()?)),
        Primitive::Double => f64::from_be_bytes(cursor.array()?),
        Primitive::Boolean => match cursor.array::<1>()?[0] {
            b'T' | b't' | b'1' => 1.0,
            b'F' | b'f' | b'0' => 0.0,
            _ => return Ok(None),
        },
        _ => return Err(ReadError::Unsupported("bit and complex columns".into())),
    }))
}

fn read_binary_cell(
    cursor: &mut Bytes<'_>,
    field: &Field,
    shape: Shape,
) -> Result<Datum, ReadError> {
    let p = shape.primitive;
    let n = match shape.count {
        Count::Scalar => None,
        Count::Fixed(n) => Some(n),
        Count::Variable => Some(u32::from_be_bytes(cursor.array()?) as usize),
    };
    if p.is_text() {
        let n = n.unwrap_or(1);
        let text = if p == Primitive::UnicodeChar {
            let raw = cursor.take(n.checked_mul(2).ok_or_else(|| malformed("huge string"))?)?;
            let units: Vec<u16> = raw
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .take_while(|&u| u != 0)
                .collect();
            String::from_utf16_lossy(&units)
        } else {
            let raw = cursor.take(n)?;
            let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
            String::from_utf8_lossy(&raw[..end]).into_owned()
        };
        return Ok(if text.is_empty() {
            Datum::Null
        } else {
            Datum::Text(text)
        });
    }
    let magic = field.null.as_deref().and_then(parse_integer);
    match n {
        None => {
            let raw_at = cursor.at;
            let x = read_element(cursor, p)?;
            let integer = matches!(
                p,
                Primitive::UnsignedByte | Primitive::Short | Primitive::Int | Primitive::Long
            );
            Ok(match x {
                None => Datum::Null,
                Some(x) if p == Primitive::Boolean => Datum::Bool(x != 0.0),
                Some(_) if integer => {
                    // Re-read exactly: a long does not fit a double.
                    let raw = &cursor.data[raw_at..cursor.at];
                    let i = match p {
                        Primitive::Long => {
                            i64::from_be_bytes(raw.try_into().map_err(malformed_len)?)
                        }
                        Primitive::Int => {
                            i32::from_be_bytes(raw.try_into().map_err(malformed_len)?).into()
                        }
                        Primitive::Short => {
                            i16::from_be_bytes(raw.try_into().map_err(malformed_len)?).into()
                        }
                        _ => raw[0].into(),
                    };
                    if Some(i) == magic {
                        Datum::Null
                    } else {
                        Datum::Int(i)
                    }
                }
                Some(x) if x.is_nan() => Datum::Null,
                Some(x) => Datum::Float(x),
            })
        }
        Some(n) => {
            let mut parts = Vec::with_capacity(n.min(1 << 16));
            for _ in 0..n {
                let x = read_element(cursor, p)?;
                parts.push(match x {
                    Some(x) if x.is_nan() => "NaN".to_string(),
                    Some(x) => format!("{x}"),
                    None => "NaN".to_string(),
                });
            }
            Ok(if parts.is_empty() {
                Datum::Null
            } else {
                Datum::Text(parts.join(" "))
            })
        }
    }
}

fn malformed_len(_: std::array::TryFromSliceError) -> ReadError {
    malformed("integer of the wrong width")
}
