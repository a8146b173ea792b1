//! CSV (RFC 4180) and TSV read as they arrive: bytes are pushed in pieces of any size and
//! whole records come out, so a table of any length is read in the memory of a record or two.
//! The parsing is `csv-core`'s.

/// Why delimited text could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DelimitedError {
    /// A record longer than the reader takes.
    #[error("line {line}: a row longer than {limit} bytes")]
    TooLong {
        /// The record's number, from 1.
        line: u64,
        /// The limit.
        limit: usize,
    },
    /// Not UTF-8.
    #[error("line {0}: the text is not UTF-8")]
    NotUtf8(u64),
    /// More values in a row than a table can have.
    #[error("line {line}: more than {limit} values in a row")]
    TooManyFields {
        /// The record's number, from 1.
        line: u64,
        /// The limit.
        limit: usize,
    },
}

/// The most values a record may hold.
pub const MAX_FIELDS: usize = 10_000;

/// A push reader of CSV or TSV records.
pub struct DelimitedReader {
    reader: csv_core::Reader,
    out: Vec<u8>,
    out_len: usize,
    ends: Vec<usize>,
    ends_len: usize,
    records: u64,
    max_record: usize,
}

impl DelimitedReader {
    /// A CSV reader (`delimiter` `,`, RFC 4180 quoting) or a TSV one (`\t`, no quoting);
    /// records longer than `max_record` bytes are refused.
    pub fn new(delimiter: u8, max_record: usize) -> DelimitedReader {
        let reader = csv_core::ReaderBuilder::new()
            .delimiter(delimiter)
            .quoting(delimiter != b'\t')
            .build();
        DelimitedReader {
            reader,
            out: vec![0; max_record.clamp(1, 4096)],
            out_len: 0,
            ends: vec![0; 64],
            ends_len: 0,
            records: 0,
            max_record,
        }
    }

    /// Records read so far.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Reads `input` (empty: the end of the text), appending every completed record to
    /// `records`. Blank lines give no record.
    pub fn push(
        &mut self,
        mut input: &[u8],
        records: &mut Vec<Vec<String>>,
    ) -> Result<(), DelimitedError> {
        let at_end = input.is_empty();
        loop {
            let (result, read, written, ended) = self.reader.read_record(
                input,
                &mut self.out[self.out_len..],
                &mut self.ends[self.ends_len..],
            );
            input = &input[read..];
            self.out_len += written;
            self.ends_len += ended;
            match result {
                csv_core::ReadRecordResult::InputEmpty => {
                    if at_end {
                        continue;
                    }
                    return Ok(());
                }
                csv_core::ReadRecordResult::OutputFull => {
                    if self.out.len() >= self.max_record {
                        return Err(DelimitedError::TooLong {
                            line: self.records + 1,
                            limit: self.max_record,
                        });
                    }
                    let grown = (self.out.len() * 2).min(self.max_record);
                    self.out.resize(grown, 0);
                }
                csv_core::ReadRecordResult::OutputEndsFull => {
                    // Empty values take no output: a row of commas must not grow this freely.
                    if self.ends.len() >= MAX_FIELDS {
                        return Err(DelimitedError::TooManyFields {
                            line: self.records + 1,
                            limit: MAX_FIELDS,
                        });
                    }
                    let grown = (self.ends.len() * 2).min(MAX_FIELDS);
                    self.ends.resize(grown, 0);
                }
                csv_core::ReadRecordResult::Record => {
                    self.records += 1;
                    let line = self.records;
                    // Each value is checked alone: the record may be UTF-8 as a whole with a
                    // character split between two values.
                    let mut fields = Vec::with_capacity(self.ends_len);
                    let mut start = 0;
                    for &end in &self.ends[..self.ends_len] {
                        let value = std::str::from_utf8(&self.out[start..end])
                            .map_err(|_| DelimitedError::NotUtf8(line))?;
                        fields.push(value.to_string());
                        start = end;
                    }
                    self.out_len = 0;
                    self.ends_len = 0;
                    records.push(fields);
                }
                csv_core::ReadRecordResult::End => return Ok(()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(delimiter: u8, text: &str, piece: usize) -> Vec<Vec<String>> {
        let mut r = DelimitedReader::new(delimiter, 1 << 20);
        let mut out = Vec::new();
        for chunk in text.as_bytes().chunks(piece) {
            r.push(chunk, &mut out).expect("read");
        }
        r.push(&[], &mut out).expect("end");
        out
    }

    #[test]
    fn records_come_whole_whatever_the_pieces() {
        let text = "a,b,c\n1,\"x, y\",\"say \"\"hi\"\"\"\r\n2,,\"two\nlines\"\n3,z,last";
        let expected = vec![
            vec!["a", "b", "c"],
            vec!["1", "x, y", "say \"hi\""],
            vec!["2", "", "two\nlines"],
            vec!["3", "z", "last"],
        ];
        for piece in [1, 2, 7, 1000] {
            assert_eq!(read(b',', text, piece), expected, "pieces of {piece}");
        }
        assert_eq!(
            read(b'\t', "ra\tdec\n10.5\t\"-3\"\n", 3),
            vec![vec!["ra", "dec"], vec!["10.5", "\"-3\""]]
        );
    }

    #[test]
    fn long_records_and_bad_text_are_refused() {
        let mut r = DelimitedReader::new(b',', 16);
        let mut out = Vec::new();
        assert!(matches!(
            r.push("a,b\nxxxxxxxxxxxxxxxxxxxxxxxx,y\n".as_bytes(), &mut out),
            Err(DelimitedError::TooLong { line: 2, .. })
        ));
        let mut r = DelimitedReader::new(b',', 1024);
        assert_eq!(
            r.push(b"a\n\xff\xfe\n", &mut out),
            Err(DelimitedError::NotUtf8(2))
        );
        // A character split across two values: UTF-8 as a row, not as values.
        let mut r = DelimitedReader::new(b',', 1024);
        assert_eq!(
            r.push(b"\xC3,\xA9\n", &mut out),
            Err(DelimitedError::NotUtf8(1))
        );
        // A row of nothing but separators.
        let mut r = DelimitedReader::new(b',', 1 << 20);
        assert!(matches!(
            r.push(&[b','; 100_000], &mut out),
            Err(DelimitedError::TooManyFields { line: 1, .. })
        ));
    }
}
