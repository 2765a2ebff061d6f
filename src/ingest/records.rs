//! The records of a CSV file, read in batches: native files for the typing threads,
//! and mapped sources (with their own delimiter).
//!
//! The file's bytes are read into one buffer per batch (about 4 MiB) and
//! split in place. A record without quotes or lone carriage returns — nearly every
//! record of an export — is split by a scan for its separators, 64 bytes at a time
//! (SSE2 on x86-64); any other record is handed to `csv_core`, the parser under the
//! `csv` crate, so quoting follows exactly the rules it always did. The batch is
//! checked to be UTF-8 once, as a whole, and its fields are slices of it.
//!
//! A record's line is the line its first byte is on. (The `csv` crate reported the
//! line after the previous record, one line early in files with CRLF line breaks
//! and on blank lines before a record.) A test holds this reader to the `csv`
//! crate's records and to those lines.

use std::io::Read;

/// Bytes read per batch (at least: a record longer than this grows the batch).
const BATCH_BYTES: usize = 4 << 20;

/// Set on a field's start when the field lives in the unescaped buffer.
const UNQUOTED: u32 = 1 << 31;

/// A field of a batch: a byte range of its text, or (with [`UNQUOTED`]) of the
/// buffer of fields unescaped from quoted records.
#[derive(Clone, Copy)]
struct Field {
    start: u32,
    end: u32,
}

/// One batch of records: their text and where each record's fields are.
#[derive(Default)]
pub struct Batch {
    /// The bytes of the batch's records, checked to be UTF-8.
    text: String,
    /// Fields of records parsed by `csv_core` (unescaped), one after another.
    unquoted: String,
    fields: Vec<Field>,
    /// Per record: the end of its fields in `fields`.
    ends: Vec<u32>,
    /// Per record: its line in the file (1-based; the header is line 1).
    lines: Vec<u64>,
    /// Per record: where its first field starts in `text` (after blank lines).
    starts: Vec<u32>,
}

impl Batch {
    /// Records in the batch.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The line record `i` starts on.
    pub fn line(&self, i: usize) -> u64 {
        self.lines[i]
    }

    /// The fields of record `i`, as places in the batch.
    #[inline]
    fn fields_of(&self, i: usize) -> &[Field] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.fields[start..self.ends[i] as usize]
    }

    /// The text of field `f`.
    #[inline]
    fn text_of(&self, f: Field) -> &str {
        match f.start & UNQUOTED {
            0 => &self.text[f.start as usize..f.end as usize],
            _ => &self.unquoted[(f.start & !UNQUOTED) as usize..f.end as usize],
        }
    }

    /// How many fields record `i` has.
    pub fn width(&self, i: usize) -> usize {
        self.fields_of(i).len()
    }

    /// Field `j` of record `i` (which has more than `j` fields).
    #[inline]
    pub fn field(&self, i: usize, j: usize) -> &str {
        self.text_of(self.fields_of(i)[j])
    }

    /// The fields of record `i`.
    pub fn record(&self, i: usize) -> impl Iterator<Item = &str> + '_ {
        self.fields_of(i).iter().map(|f| self.text_of(*f))
    }
}

/// Why a batch could not be read.
#[derive(Debug)]
pub enum ReadError {
    Io(std::io::Error),
    /// Bytes that are not UTF-8, in record `line`, field `field` (0-based).
    Utf8 {
        line: u64,
        field: usize,
    },
    /// A record longer than the reader's limit.
    TooLong {
        line: u64,
        limit: usize,
    },
}

impl ReadError {
    /// The input error for the file at `path` (with `header`, to name the column).
    pub fn into_error(self, path: &std::path::Path, header: &[String]) -> crate::error::Error {
        use crate::error::Error;
        match self {
            ReadError::Io(e) => Error::input(path, e.to_string()),
            ReadError::Utf8 { line, field } => Error::input(
                path,
                format!(
                    "line {line}, column `{}`: {}",
                    header.get(field).map_or("?", |h| h.as_str()),
                    crate::ingest::native::ENCODING_HINT
                ),
            ),
            ReadError::TooLong { line, limit } => Error::input(
                path,
                format!(
                    "line {line}: a record longer than {} MiB (a quote left open, or not a CSV file?); fix the file, or raise `[warehouse] max_record_mib` in funnel.toml",
                    limit.div_ceil(1 << 20)
                ),
            ),
        }
    }
}

/// Reads the records of a CSV stream batch by batch.
pub struct RecordReader<R> {
    source: R,
    /// Bytes read but not yet split (the start of the next batch), with the line
    /// they start on.
    carry: Vec<u8>,
    line: u64,
    eof: bool,
    /// The parser for quoted records.
    core: csv_core::Reader,
    /// Scratch space for `csv_core`'s output.
    out: Vec<u8>,
    out_ends: Vec<usize>,
    /// Bytes of the stream split into records so far.
    consumed: u64,
    /// Bytes read per batch (at least).
    batch_bytes: usize,
    /// The byte between fields.
    delimiter: u8,
    /// The longest record read: a longer one is an error, not a buffer that grows
    /// until the machine runs out of memory.
    max_record: usize,
}

/// The longest record by default (`[warehouse] max_record_mib`).
pub const MAX_RECORD_BYTES: usize = 16 << 20;

impl<R: Read> RecordReader<R> {
    /// A reader of comma-separated records.
    pub fn new(source: R) -> RecordReader<R> {
        RecordReader::with_delimiter(source, b',')
    }

    /// A reader of records whose fields are separated by `delimiter` (neither a quote
    /// nor a line break).
    pub fn with_delimiter(source: R, delimiter: u8) -> RecordReader<R> {
        RecordReader::with_batch_bytes(source, delimiter, BATCH_BYTES)
    }

    /// A reader whose batches read at least `batch_bytes` bytes (tests use a few).
    fn with_batch_bytes(source: R, delimiter: u8, batch_bytes: usize) -> RecordReader<R> {
        debug_assert!(!matches!(delimiter, b'"' | b'\n' | b'\r'));
        RecordReader {
            batch_bytes: batch_bytes.max(1),
            delimiter,
            source,
            carry: Vec::new(),
            line: 1,
            eof: false,
            core: csv_core::ReaderBuilder::new().delimiter(delimiter).build(),
            out: vec![0; 4096],
            out_ends: vec![0; 64],
            consumed: 0,
            max_record: MAX_RECORD_BYTES,
        }
    }

    /// The same reader refusing records longer than `bytes`.
    pub fn with_max_record(mut self, bytes: usize) -> RecordReader<R> {
        self.max_record = bytes.max(1);
        self
    }

    /// Bytes of the stream consumed by the records read so far.
    pub fn consumed(&self) -> u64 {
        self.consumed
    }

    /// The header record's fields, as bytes (none for an empty stream).
    pub fn header(&mut self) -> Result<Vec<Vec<u8>>, ReadError> {
        let mut want = self.batch_bytes.min(64 * 1024);
        loop {
            self.fill(want)?;
            let buf = std::mem::take(&mut self.carry);
            let parsed = self.parse_quoted(&buf, 0);
            self.carry = buf;
            match parsed? {
                (Parsed::Record(nend), nin) => {
                    self.line += count_lines(&self.carry[..nin]);
                    self.carry.drain(..nin);
                    self.consumed += nin as u64;
                    return Ok(self.parsed_fields(nend).map(<[u8]>::to_vec).collect());
                }
                (Parsed::End, _) => return Ok(Vec::new()),
                (Parsed::Incomplete, _) => want = want.max(self.carry.len() * 2),
            }
        }
    }

    /// The stream (read to its end once a batch comes back empty).
    pub fn into_source(self) -> R {
        self.source
    }

    /// Reads the next batch of at most `max_records` records into `batch`; an empty
    /// batch means the end of the stream.
    pub fn read_batch(&mut self, batch: &mut Batch, max_records: usize) -> Result<(), ReadError> {
        let mut want = self.batch_bytes;
        let mut unquoted = std::mem::take(&mut batch.unquoted).into_bytes();
        let used = loop {
            self.fill(want)?;
            batch.fields.clear();
            batch.ends.clear();
            batch.lines.clear();
            batch.starts.clear();
            unquoted.clear();
            let used = self.split(batch, &mut unquoted, max_records)?;
            if !batch.ends.is_empty() || self.eof {
                break used;
            }
            // Not one whole record in `want` bytes: read more, up to the limit.
            if self.carry.len() > self.max_record {
                return Err(ReadError::TooLong {
                    line: self.line,
                    limit: self.max_record,
                });
            }
            want = (self.carry.len() * 2).min(self.max_record + 1);
        };
        // A record that came whole in one read can be over the limit too.
        let n = batch.starts.len();
        for i in 0..n {
            let end = if i + 1 < n {
                batch.starts[i + 1] as usize
            } else {
                used
            };
            if end.saturating_sub(batch.starts[i] as usize) > self.max_record {
                return Err(ReadError::TooLong {
                    line: batch.lines[i],
                    limit: self.max_record,
                });
            }
        }
        self.consumed += used as u64;
        // The batch keeps the bytes it took; the rest moves to the buffer the batch
        // held before (so that no batch's bytes are copied).
        let mut rest = std::mem::take(&mut batch.text).into_bytes();
        rest.clear();
        rest.extend_from_slice(&self.carry[used..]);
        let mut bytes = std::mem::replace(&mut self.carry, rest);
        bytes.truncate(used);
        batch.text = String::from_utf8(bytes).map_err(|e| {
            let at = e.utf8_error().valid_up_to();
            utf8_error(batch, e.as_bytes(), at, self.delimiter)
        })?;
        // Unescaped from the batch's bytes, which are UTF-8, by dropping ASCII quotes
        // only: UTF-8 too.
        batch.unquoted = String::from_utf8(unquoted).expect("unescaped from UTF-8");
        Ok(())
    }

    /// Reads until the carried bytes hold `want` bytes or the stream ends.
    fn fill(&mut self, want: usize) -> Result<(), ReadError> {
        while !self.eof && self.carry.len() < want {
            let need = (want - self.carry.len()) as u64;
            let got = (&mut self.source)
                .take(need)
                .read_to_end(&mut self.carry)
                .map_err(ReadError::Io)?;
            if (got as u64) < need {
                self.eof = true;
            }
        }
        Ok(())
    }

    /// Splits whole records off the carried bytes into `batch` (up to `max_records`)
    /// and returns how many bytes they took. A record cut by the end of the bytes
    /// read is left for the next batch, unless the stream has ended.
    fn split(
        &mut self,
        batch: &mut Batch,
        unquoted: &mut Vec<u8>,
        max_records: usize,
    ) -> Result<usize, ReadError> {
        let buf = std::mem::take(&mut self.carry);
        let result = self.split_in(&buf, batch, unquoted, max_records);
        self.carry = buf;
        result
    }

    fn split_in(
        &mut self,
        buf: &[u8],
        batch: &mut Batch,
        unquoted: &mut Vec<u8>,
        max_records: usize,
    ) -> Result<usize, ReadError> {
        let n = buf.len();
        if n >= UNQUOTED as usize {
            return Err(ReadError::TooLong {
                line: self.line,
                limit: UNQUOTED as usize,
            });
        }
        // The end of the last whole record, and the line after it.
        let mut pos = 0;
        let mut line = self.line;
        let delimiter = self.delimiter;
        let mut scan = Separators::new(buf, delimiter);
        'records: while batch.ends.len() < max_records {
            // Blank lines before a record are skipped (as `csv_core` does).
            let mut start = pos;
            let mut end_line = line;
            while start < n && (buf[start] == b'\n' || buf[start] == b'\r') {
                end_line += u64::from(buf[start] == b'\n');
                start += 1;
            }
            if start == n {
                if self.eof {
                    pos = n;
                    line = end_line;
                }
                break;
            }
            let record_line = end_line;
            let first_field = batch.fields.len();
            let mut field_start = start;
            scan.seek(start);
            let end = loop {
                let Some(i) = scan.next() else {
                    if !self.eof {
                        batch.fields.truncate(first_field);
                        break 'records;
                    }
                    // The last record of a stream without a final line break.
                    push(batch, field_start, n);
                    break n;
                };
                match buf[i] {
                    c if c == delimiter => {
                        push(batch, field_start, i);
                        field_start = i + 1;
                    }
                    b'\n' => {
                        push(batch, field_start, i);
                        end_line += 1;
                        break i + 1;
                    }
                    b'\r' if i + 1 < n && buf[i + 1] == b'\n' => {
                        push(batch, field_start, i);
                        end_line += 1;
                        break i + 2;
                    }
                    b'\r' if i + 1 == n && !self.eof => {
                        batch.fields.truncate(first_field);
                        break 'records;
                    }
                    _ => {
                        // A quote or a lone carriage return: `csv_core` parses the
                        // record.
                        batch.fields.truncate(first_field);
                        let (nend, nin) = match self.parse_quoted(buf, start)? {
                            (Parsed::Record(nend), nin) => (nend, nin),
                            (Parsed::Incomplete, _) => break 'records,
                            (Parsed::End, _) => {
                                (pos, line) = (n, end_line + count_lines(&buf[start..]));
                                break 'records;
                            }
                        };
                        for field in self.parsed_fields(nend) {
                            let from = unquoted.len();
                            unquoted.extend_from_slice(field);
                            batch.fields.push(Field {
                                start: from as u32 | UNQUOTED,
                                end: unquoted.len() as u32,
                            });
                        }
                        end_line += count_lines(&buf[start..start + nin]);
                        break start + nin;
                    }
                }
            };
            batch.ends.push(batch.fields.len() as u32);
            batch.lines.push(record_line);
            batch.starts.push(start as u32);
            (pos, line) = (end, end_line);
        }
        self.line = line;
        Ok(pos)
    }

    /// Parses the record at `buf[start..]` with `csv_core`: its fields and the bytes
    /// it took (through its line break).
    fn parse_quoted(&mut self, buf: &[u8], start: usize) -> Result<(Parsed, usize), ReadError> {
        use csv_core::ReadRecordResult as R;
        let mut input = &buf[start..];
        let (mut nin_all, mut nout_all, mut nend_all) = (0, 0, 0);
        loop {
            let (res, nin, nout, nend) = self.core.read_record(
                input,
                &mut self.out[nout_all..],
                &mut self.out_ends[nend_all..],
            );
            input = &input[nin..];
            nin_all += nin;
            nout_all += nout;
            nend_all += nend;
            match res {
                // All input taken: at the end of the stream, the next call (with no
                // input) ends the record.
                R::InputEmpty if self.eof => {}
                R::InputEmpty => {
                    // Cut by the end of the bytes read: parsed again, whole, with the
                    // next batch. (A reset parser drops a byte-order mark that starts
                    // its next input, as at the start of a file: such a record, cut
                    // at a batch's end, would lose a leading U+FEFF.)
                    self.core.reset();
                    return Ok((Parsed::Incomplete, 0));
                }
                R::OutputFull => self.out.resize(self.out.len() * 2, 0),
                R::OutputEndsFull => self.out_ends.resize(self.out_ends.len() * 2, 0),
                R::Record => break,
                // Before the end of the stream, only input that was all byte-order
                // mark (dropped at the start of a file) ends early: read more.
                R::End if !self.eof => {
                    self.core.reset();
                    return Ok((Parsed::Incomplete, 0));
                }
                R::End => return Ok((Parsed::End, nin_all)),
            }
        }
        Ok((Parsed::Record(nend_all), nin_all))
    }

    /// The first `nend` fields `csv_core` wrote (its last record's).
    fn parsed_fields(&self, nend: usize) -> impl Iterator<Item = &[u8]> + '_ {
        let ends = &self.out_ends[..nend];
        (0..nend).map(move |k| {
            let from = if k == 0 { 0 } else { ends[k - 1] };
            &self.out[from..ends[k]]
        })
    }
}

/// The error for bytes that are not UTF-8 at `at` in the bytes `buf` of `batch`.
fn utf8_error(batch: &Batch, buf: &[u8], at: usize, delimiter: u8) -> ReadError {
    // The record holding `at`: the last one starting at or before it.
    let k = batch
        .starts
        .partition_point(|&s| s as usize <= at)
        .saturating_sub(1);
    let line = batch.lines.get(k).copied().unwrap_or(0);
    let from = batch.starts.get(k).map_or(0, |&s| s as usize);
    // Its field: how many fields `csv_core` completes before `at`.
    let mut core = csv_core::ReaderBuilder::new().delimiter(delimiter).build();
    let mut out = vec![0; at - from + 1];
    let mut ends = vec![0; at - from + 1];
    let (_, _, _, field) = core.read_record(&buf[from..at], &mut out, &mut ends);
    ReadError::Utf8 { line, field }
}

/// What parsing a record with `csv_core` gave.
enum Parsed {
    /// A record of this many fields (see [`RecordReader::parsed_fields`]).
    Record(usize),
    /// The record continues past the bytes read.
    Incomplete,
    /// No record: only blank lines were left.
    End,
}

fn push(batch: &mut Batch, start: usize, end: usize) {
    batch.fields.push(Field {
        start: start as u32,
        end: end as u32,
    });
}

fn count_lines(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|&&b| b == b'\n').count() as u64
}

/// The positions of the bytes that end a field or need the full parser (the
/// delimiter, `\n`, `\r`, `"`), in order, found 64 bytes at a time.
struct Separators<'a> {
    buf: &'a [u8],
    delimiter: u8,
    /// Start of the current 64-byte block, and its separators not yet returned.
    base: usize,
    mask: u64,
}

impl<'a> Separators<'a> {
    fn new(buf: &'a [u8], delimiter: u8) -> Separators<'a> {
        Separators {
            buf,
            delimiter,
            base: usize::MAX,
            mask: 0,
        }
    }

    /// Continues from byte `pos` (never before a position already returned).
    fn seek(&mut self, pos: usize) {
        let base = pos & !63;
        if base != self.base {
            self.base = base;
            self.mask = block_mask(self.buf, base, self.delimiter);
        }
        self.mask &= u64::MAX << (pos - base);
    }

    fn next(&mut self) -> Option<usize> {
        while self.mask == 0 {
            let base = self.base + 64;
            if base >= self.buf.len() {
                return None;
            }
            self.base = base;
            self.mask = block_mask(self.buf, base, self.delimiter);
        }
        let i = self.base + self.mask.trailing_zeros() as usize;
        self.mask &= self.mask - 1;
        Some(i)
    }
}

/// Bit `k` is set when `buf[base + k]` is a separator (bits past the end are clear).
fn block_mask(buf: &[u8], base: usize, delimiter: u8) -> u64 {
    if base >= buf.len() {
        return 0;
    }
    match buf.get(base..base + 64) {
        Some(block) => block_mask_64(block.try_into().expect("64 bytes"), delimiter),
        None => {
            let mut block = [0u8; 64];
            let tail = &buf[base..];
            block[..tail.len()].copy_from_slice(tail);
            block_mask_64(&block, delimiter)
        }
    }
}

#[cfg(target_arch = "x86_64")]
fn block_mask_64(block: &[u8; 64], delimiter: u8) -> u64 {
    use std::arch::x86_64::*;
    let mut mask = 0u64;
    for k in 0..4 {
        // SAFETY: SSE2 is part of x86-64; the load reads 16 bytes inside `block`.
        let bits = unsafe {
            let v = _mm_loadu_si128(block.as_ptr().add(16 * k) as *const __m128i);
            let hits = _mm_or_si128(
                _mm_or_si128(
                    _mm_cmpeq_epi8(v, _mm_set1_epi8(delimiter as i8)),
                    _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\n' as i8)),
                ),
                _mm_or_si128(
                    _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\r' as i8)),
                    _mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8)),
                ),
            );
            _mm_movemask_epi8(hits) as u16
        };
        mask |= u64::from(bits) << (16 * k);
    }
    mask
}

#[cfg(not(target_arch = "x86_64"))]
fn block_mask_64(block: &[u8; 64], delimiter: u8) -> u64 {
    block.iter().enumerate().fold(0u64, |mask, (k, &b)| {
        mask | (u64::from(b == delimiter || matches!(b, b'\n' | b'\r' | b'"')) << k)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    type Records = (Vec<Vec<u8>>, Vec<(u64, Vec<String>)>);

    proptest! {
        /// The vector scan (the unsafe block of `block_mask_64` on x86-64) marks
        /// exactly the bytes a plain scan marks.
        #[test]
        fn the_block_mask_marks_separators_as_a_plain_scan_does(
            block in proptest::collection::vec(
                prop_oneof![Just(b','), Just(b';'), Just(b'\n'), Just(b'\r'), Just(b'"'), any::<u8>()],
                64,
            ),
            delimiter in prop_oneof![Just(b','), Just(b';'), Just(b'\t'), any::<u8>()],
        ) {
            let block: [u8; 64] = block.try_into().unwrap();
            let plain = block.iter().enumerate().fold(0u64, |mask, (k, &b)| {
                mask | (u64::from(b == delimiter || matches!(b, b'\n' | b'\r' | b'"')) << k)
            });
            prop_assert_eq!(block_mask_64(&block, delimiter), plain);
        }
    }

    /// The header and the records as the `csv` crate reads them, each with the line
    /// of its first byte (after the blank lines and line break that the `csv` crate
    /// counts into its position).
    fn by_csv(bytes: &[u8], delimiter: u8) -> Records {
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .flexible(true)
            .has_headers(true)
            .from_reader(bytes);
        let header = reader
            .byte_headers()
            .unwrap()
            .iter()
            .map(<[u8]>::to_vec)
            .collect();
        let mut records = Vec::new();
        let mut record = csv::StringRecord::new();
        while reader.read_record(&mut record).unwrap() {
            let mut at = record.position().unwrap().byte() as usize;
            let mut line = 1 + count_lines(&bytes[..at]);
            while at < bytes.len() && (bytes[at] == b'\n' || bytes[at] == b'\r') {
                line += u64::from(bytes[at] == b'\n');
                at += 1;
            }
            records.push((line, record.iter().map(String::from).collect()));
        }
        (header, records)
    }

    /// The same, read by [`RecordReader`] in batches of `batch_bytes` bytes and at
    /// most `max_records` records.
    fn by_reader(
        bytes: &[u8],
        delimiter: u8,
        batch_bytes: usize,
        max_records: usize,
    ) -> Result<Records, ReadError> {
        let mut reader = RecordReader::with_batch_bytes(bytes, delimiter, batch_bytes);
        let header = reader.header()?;
        let mut records = Vec::new();
        let mut batch = Batch::default();
        loop {
            reader.read_batch(&mut batch, max_records)?;
            if batch.is_empty() {
                break;
            }
            for i in 0..batch.len() {
                records.push((batch.line(i), batch.record(i).map(String::from).collect()));
            }
        }
        assert_eq!(reader.consumed(), bytes.len() as u64, "every byte consumed");
        Ok((header, records))
    }

    #[test]
    fn splits_plain_quoted_and_crlf_records_as_csv_does() {
        let cases: &[&[u8]] = &[
            b"a,b\n1,2\n3,4\n",
            b"a,b\n1,2\n3,4",
            b"a,b\r\n1,2\r\n\r\n3,4\r\n",
            b"\xef\xbb\xbfa,b\n1,\"x,\"\"y\"\"\nz\"\n\n\n5,6\n",
            b"a\n\"\"\n\n,\n",
            b"a,b\r1,2\r3,4",
            b"a,b\n1,2\r",
            b"a,b\n\"open,1\n2,3\n",
            b"a,b\nx\"y,\"q\"r\n",
            b"",
            b"a",
            b"a,b\n\n\n",
        ];
        for case in cases {
            let expected = by_csv(case, b',');
            for batch_bytes in [1, 2, 3, 7, 64, 4096] {
                for max_records in [1, 2, 1000] {
                    let got = by_reader(case, b',', batch_bytes, max_records).unwrap();
                    assert_eq!(
                        got,
                        expected,
                        "{:?} in batches of {batch_bytes} bytes, {max_records} records",
                        String::from_utf8_lossy(case)
                    );
                }
            }
        }
    }

    #[test]
    fn long_records_span_blocks_and_batches() {
        let field = "x".repeat(200);
        let mut text = String::from("a,b,c\n");
        for i in 0..300 {
            text.push_str(&format!("{i},{field},\"{field}\n{i}\"\n"));
        }
        let expected = by_csv(text.as_bytes(), b',');
        assert_eq!(expected.1.len(), 300);
        for batch_bytes in [1, 100, 1000, 1 << 20] {
            assert_eq!(
                by_reader(text.as_bytes(), b',', batch_bytes, 64).unwrap(),
                expected
            );
        }
    }

    #[test]
    fn bytes_that_are_not_utf8_name_their_line_and_field() {
        let bytes = b"a,b,c\n1,2,3\n4,\"5\",6\xff\n7,8,9\n";
        for batch_bytes in [1, 5, 4096] {
            match by_reader(bytes, b',', batch_bytes, 1000) {
                Err(ReadError::Utf8 { line, field }) => assert_eq!((line, field), (3, 2)),
                other => panic!("expected a UTF-8 error, got {:?}", other.map(|_| ())),
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]

        /// Any text of separators, quotes, line breaks and letters is split into the
        /// records and lines the `csv` crate gives, whatever the batch sizes and
        /// with either delimiter (the other one is then an ordinary character).
        #[test]
        fn splits_any_text_as_csv_does(
            chars in proptest::collection::vec(
                prop_oneof![
                    4 => Just('a'), 1 => Just('é'), 3 => Just(','), 2 => Just(';'),
                    2 => Just('"'), 2 => Just('\n'), 1 => Just('\r'), 1 => Just(' '),
                ],
                0..300,
            ),
            delimiter in prop_oneof![Just(b','), Just(b';')],
            batch_bytes in 1usize..80,
            max_records in 1usize..6,
        ) {
            let text: String = chars.into_iter().collect();
            let expected = by_csv(text.as_bytes(), delimiter);
            let got = by_reader(text.as_bytes(), delimiter, batch_bytes, max_records).unwrap();
            prop_assert_eq!(got, expected);
        }
    }
}
