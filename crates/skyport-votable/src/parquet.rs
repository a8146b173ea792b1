//! VOParquet output (IVOA Note VOParquet 1.0): an ordinary Parquet file whose file-level
//! key-value metadata carries `IVOA.VOTable-Parquet.version = "1.0"` and
//! `IVOA.VOTable-Parquet.content`, a VOTable with the FIELDs and no DATA.
//!
//! Rows are gathered into Arrow batches of [`BATCH_ROWS`] and row groups of at most
//! [`ROW_GROUP_ROWS`], and the encoded bytes are handed out as soon as the Parquet writer has
//! produced them, so memory stays bounded by one row group whatever the result size. The
//! metadata is written last, in the footer, so it can say how the result ended (OVERFLOW or
//! ERROR) in the embedded VOTable's QUERY_STATUS.

use std::sync::Arc;

use arrow_array::builder::{
    ArrayBuilder, BooleanBuilder, Float32Builder, Float64Builder, Int16Builder, Int32Builder,
    Int64Builder, ListBuilder, StringBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field as ArrowField, Schema, SchemaRef};
use parquet::arrow::arrow_writer::ArrowWriterOptions;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;

use crate::field::{Cell, Count, Field, Primitive, Shape};
use crate::write::as_integer as integer;

/// Rows per Arrow batch.
pub const BATCH_ROWS: usize = 8192;
/// Rows per Parquet row group (what the writer holds in memory at most).
pub const ROW_GROUP_ROWS: usize = 65_536;

enum Column {
    Bool(BooleanBuilder),
    Short(Int16Builder),
    Int(Int32Builder),
    Long(Int64Builder),
    Float(Float32Builder),
    Double(Float64Builder),
    Text(StringBuilder),
    Numbers(ListBuilder<Float64Builder>),
}

fn arrow_type(shape: Shape) -> DataType {
    match (shape.primitive, shape.count) {
        (Primitive::Char | Primitive::UnicodeChar | Primitive::Other, _) => DataType::Utf8,
        (Primitive::Boolean, Count::Scalar) => DataType::Boolean,
        (Primitive::UnsignedByte | Primitive::Short, Count::Scalar) => DataType::Int16,
        (Primitive::Int, Count::Scalar) => DataType::Int32,
        (Primitive::Long, Count::Scalar) => DataType::Int64,
        (Primitive::Float, Count::Scalar) => DataType::Float32,
        (Primitive::Double, Count::Scalar) => DataType::Float64,
        _ => DataType::List(Arc::new(ArrowField::new_list_field(
            DataType::Float64,
            true,
        ))),
    }
}

fn builder(data_type: &DataType) -> Column {
    match data_type {
        DataType::Boolean => Column::Bool(BooleanBuilder::new()),
        DataType::Int16 => Column::Short(Int16Builder::new()),
        DataType::Int32 => Column::Int(Int32Builder::new()),
        DataType::Int64 => Column::Long(Int64Builder::new()),
        DataType::Float32 => Column::Float(Float32Builder::new()),
        DataType::Float64 => Column::Double(Float64Builder::new()),
        DataType::Utf8 => Column::Text(StringBuilder::new()),
        _ => Column::Numbers(ListBuilder::new(Float64Builder::new())),
    }
}

fn double(cell: &Cell<'_>) -> Option<f64> {
    match cell {
        Cell::Int(i) => Some(*i as f64),
        Cell::Float(f) => Some(*f),
        Cell::Bool(b) => Some(f64::from(u8::from(*b))),
        Cell::Text(t) => t.trim().parse().ok(),
        Cell::Null => None,
    }
}

impl Column {
    fn push(&mut self, cell: &Cell<'_>) {
        match self {
            Column::Bool(b) => b.append_option(match cell {
                Cell::Null => None,
                Cell::Bool(v) => Some(*v),
                Cell::Text(t) => match t.trim().to_ascii_lowercase().as_str() {
                    "t" | "true" | "1" => Some(true),
                    "f" | "false" | "0" => Some(false),
                    _ => None,
                },
                other => double(other).map(|x| x != 0.0),
            }),
            Column::Short(b) => b.append_option(
                integer(cell).map(|i| i.clamp(i16::MIN.into(), i16::MAX.into()) as i16),
            ),
            Column::Int(b) => b.append_option(
                integer(cell).map(|i| i.clamp(i32::MIN.into(), i32::MAX.into()) as i32),
            ),
            Column::Long(b) => b.append_option(integer(cell)),
            Column::Float(b) => b.append_option(double(cell).map(|x| x as f32)),
            Column::Double(b) => b.append_option(double(cell)),
            Column::Text(b) => match cell {
                Cell::Null => b.append_null(),
                Cell::Text(t) => b.append_value(t),
                Cell::Int(i) => b.append_value(i.to_string()),
                Cell::Float(f) => b.append_value(f.to_string()),
                Cell::Bool(v) => b.append_value(if *v { "T" } else { "F" }),
            },
            Column::Numbers(b) => match cell {
                Cell::Null => b.append_null(),
                Cell::Text(t) => {
                    for x in t.split_whitespace() {
                        b.values().append_option(x.parse::<f64>().ok());
                    }
                    b.append(true);
                }
                other => {
                    b.values().append_option(double(other));
                    b.append(true);
                }
            },
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            Column::Bool(b) => Arc::new(b.finish()),
            Column::Short(b) => Arc::new(b.finish()),
            Column::Int(b) => Arc::new(b.finish()),
            Column::Long(b) => Arc::new(b.finish()),
            Column::Float(b) => Arc::new(b.finish()),
            Column::Double(b) => Arc::new(b.finish()),
            Column::Text(b) => Arc::new(b.finish()),
            Column::Numbers(b) => Arc::new(b.finish()),
        }
    }

    fn len(&self) -> usize {
        match self {
            Column::Bool(b) => b.len(),
            Column::Short(b) => b.len(),
            Column::Int(b) => b.len(),
            Column::Long(b) => b.len(),
            Column::Float(b) => b.len(),
            Column::Double(b) => b.len(),
            Column::Text(b) => b.len(),
            Column::Numbers(b) => b.len(),
        }
    }
}

/// The Parquet side of a table writer.
pub(crate) struct ParquetState {
    writer: Option<ArrowWriter<Vec<u8>>>,
    schema: SchemaRef,
    columns: Vec<Column>,
    /// The first error from the Parquet library, if any (the file is then unusable).
    pub(crate) failure: Option<String>,
}

impl std::fmt::Debug for ParquetState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParquetState")
            .field("schema", &self.schema)
            .finish()
    }
}

impl ParquetState {
    pub(crate) fn new(fields: &[Field]) -> ParquetState {
        let arrow_fields: Vec<ArrowField> = fields
            .iter()
            .map(|f| ArrowField::new(&f.name, arrow_type(f.shape()), true))
            .collect();
        let schema = Arc::new(Schema::new(arrow_fields));
        let columns = schema
            .fields()
            .iter()
            .map(|f| builder(f.data_type()))
            .collect();
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
            .build();
        // Without the serialised Arrow schema, readers such as pyarrow expose the file's
        // key-value metadata (the VOParquet keys) as the schema metadata.
        let options = ArrowWriterOptions::new()
            .with_properties(props)
            .with_skip_arrow_metadata(true);
        let (writer, failure) = match ArrowWriter::try_new_with_options(
            Vec::with_capacity(1 << 16),
            Arc::clone(&schema),
            options,
        ) {
            Ok(w) => (Some(w), None),
            Err(e) => (None, Some(e.to_string())),
        };
        ParquetState {
            writer,
            schema,
            columns,
            failure,
        }
    }

    fn fail(&mut self, e: impl std::fmt::Display) {
        if self.failure.is_none() {
            self.failure = Some(format!("writing Parquet: {e}"));
        }
    }

    /// Hands the bytes the writer has produced so far to `out`.
    fn drain(&mut self, out: &mut Vec<u8>) {
        if let Some(w) = self.writer.as_mut() {
            out.append(w.inner_mut());
        }
    }

    fn write_batch(&mut self) {
        if self.columns.first().is_none_or(|c| c.len() == 0) {
            return;
        }
        let arrays: Vec<ArrayRef> = self.columns.iter_mut().map(Column::finish).collect();
        match RecordBatch::try_new(Arc::clone(&self.schema), arrays) {
            Ok(batch) => {
                if let Some(Err(e)) = self.writer.as_mut().map(|w| w.write(&batch)) {
                    self.fail(e);
                }
            }
            Err(e) => self.fail(e),
        }
    }

    pub(crate) fn row(&mut self, out: &mut Vec<u8>, cells: &[Cell<'_>]) {
        for (column, cell) in self.columns.iter_mut().zip(cells) {
            column.push(cell);
        }
        if self.columns.first().is_some_and(|c| c.len() >= BATCH_ROWS) {
            self.write_batch();
            self.drain(out);
        }
    }

    pub(crate) fn end(&mut self, out: &mut Vec<u8>, header: String) {
        self.write_batch();
        if let Some(w) = self.writer.as_mut() {
            w.append_key_value_metadata(KeyValue::new(
                "IVOA.VOTable-Parquet.version".into(),
                "1.0".to_string(),
            ));
            w.append_key_value_metadata(KeyValue::new(
                "IVOA.VOTable-Parquet.content".into(),
                header,
            ));
            if let Err(e) = w.finish() {
                self.fail(e);
            }
        }
        self.drain(out);
    }
}
