//! Reads one native-format CSV file (docs/tables.md) into a typed frame of its canonical
//! table, sending every row that cannot be loaded to quarantine with its reason.
//!
//! The file is streamed (never read whole) by [`RecordReader`], which splits it into
//! records with the line numbers and original field values that quarantine needs.
//! Records come in batches of about 4 MiB; each batch is typed into polars column
//! builders by the worker threads while the next batch is read, and its frames are handed to
//! the caller (which stages them on disk) in file order, so memory does not grow with
//! the file. A piece of a batch whose records all load is typed column by column
//! (each column's parser and builder in a tight loop); a piece holding a record that
//! does not load is typed record by record, which quarantines it with its reason. The
//! content hash for the manifest is computed on the same pass.

use std::io::Read;
use std::path::Path;

use chrono_tz::Tz;
use polars::prelude::*;

use crate::error::{Error, Result};
use crate::ingest::quarantine::QuarantinedRow;
use crate::ingest::records::{Batch, RecordReader};
use crate::ingest::typed::{type_by_column, ColumnFormat, TableBuilder};
use crate::model::columns::TableSchema;

/// What reading one file produced (its rows went to the caller's sink).
pub struct FileRead {
    /// Data rows in the file (header excluded).
    pub read: u64,
    /// Rows that loaded.
    pub loaded: u64,
    /// BLAKE3 of the file's bytes, and their count.
    pub blake3: String,
    pub bytes: u64,
    pub quarantined: Vec<QuarantinedRow>,
    /// Header columns that are not part of the table (ignored).
    pub extra_columns: Vec<String>,
}

/// Reads the whole file's bytes, refusing what is not text CSV.
pub fn read_bytes(path: &Path) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(|e| Error::input(path, e.to_string()))?;
    Ok(bytes)
}

/// A reader that hashes and counts what passes through it, and refuses a NUL byte
/// wherever it is (the first 64 KiB are checked before reading starts, the rest as
/// it passes): a file with one is not CSV text, whatever comes before it.
struct Hashing<R> {
    inner: R,
    hasher: blake3::Hasher,
    bytes: u64,
}

/// What a NUL byte in a file means, said once for the first 64 KiB and the rest.
const NOT_TEXT: &str =
    "this is not a CSV text file (it contains NUL bytes); export the table as CSV";

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        // `contains` is the word-at-a-time search; the position only on a find.
        if buf[..n].contains(&0) {
            let at = buf[..n].iter().position(|b| *b == 0).unwrap_or(0);
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{NOT_TEXT} (byte {})", self.bytes + at as u64 + 1),
            ));
        }
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

/// What to write when a file is not UTF-8: the usual other encoding of exports
/// (Excel, older CRMs) is Windows-1252, a superset of Latin-1.
pub const ENCODING_HINT: &str = "the file is not UTF-8: if it comes from Excel or an older CRM it is most likely Windows-1252; add to funnel.toml\n\n[mapping.format]\nencoding = \"windows-1252\"\n";

/// When a header is one column holding another separator, the lines that read the
/// file: `[mapping.format]` applies to native files on its own.
fn delimiter_hint(header: &[String]) -> String {
    let [only] = header else {
        return String::new();
    };
    let found = [(';', ";"), ('\t', "\\t"), ('|', "|")]
        .into_iter()
        .max_by_key(|(c, _)| only.matches(*c).count())
        .filter(|(c, _)| only.contains(*c));
    match found {
        Some((c, written)) => format!(
            "; the file looks `{}`-separated: add to funnel.toml\n\n[mapping.format]\ndelimiter = \"{written}\"\n",
            if c == '\t' { "tab".to_string() } else { c.to_string() }
        ),
        None => String::new(),
    }
}

/// Refuses a file whose first 64 KiB hold NUL bytes: not CSV text.
fn sniff(path: &Path) -> Result<()> {
    let mut head = vec![0u8; 64 * 1024];
    let mut file = std::fs::File::open(path).map_err(|e| Error::input(path, e.to_string()))?;
    let mut n = 0;
    while n < head.len() {
        match file.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) => return Err(Error::input(path, e.to_string())),
        }
    }
    if head[..n].contains(&0) {
        return Err(Error::input(path, NOT_TEXT));
    }
    Ok(())
}

/// Parses a native CSV file of `schema`'s table, streaming: every chunk of loaded
/// rows goes to `sink` in file order.
///
/// File-level problems (binary content, invalid UTF-8, a missing required column, a
/// duplicated header) are errors; row-level problems go to quarantine.
pub fn read_file(
    path: &Path,
    schema: &'static TableSchema,
    tz: Tz,
    max_record: usize,
    mut sink: impl FnMut(DataFrame) -> Result<()>,
    mut on_progress: impl FnMut(u64),
) -> Result<FileRead> {
    let mut reader = open(path, max_record)?;
    let header = read_header(&mut reader, path)?;
    let positions = column_positions(&header, schema, path)?;

    let file_name = path.display().to_string();
    let formats = vec![ColumnFormat::native(tz); schema.columns.len()];
    let rows = Rows {
        file_name: &file_name,
        schema,
        formats: &formats,
        header: &header,
        positions: &positions,
    };
    // Two threads: while a helper types the first part of a batch of records, this
    // thread reads the next batch, then types the rest. Batches are typed into
    // frames in file order, so the rows reach `sink` in file order.
    let mut read = 0u64;
    let mut loaded = 0u64;
    let mut quarantined = Vec::new();
    let mut last_progress = 0u64;
    let mut current = Batch::default();
    let mut next = Batch::default();
    fill(
        &mut reader,
        &mut current,
        path,
        &header,
        &mut last_progress,
        &mut on_progress,
    )?;
    while !current.is_empty() {
        // The batch is typed in pieces that the workers take in turn (this thread
        // after reading the next batch), so that none waits for another; the
        // pieces' frames come back in file order.
        let pieces = pieces(current.len());
        let (typed, filled) = crate::parallel::map_alongside(
            pieces.len(),
            |i| rows.typed(&current, pieces[i].clone()),
            || {
                fill(
                    &mut reader,
                    &mut next,
                    path,
                    &header,
                    &mut last_progress,
                    &mut on_progress,
                )
            },
        );
        if let Some(frame) = gather(typed, &mut read, &mut loaded, &mut quarantined)? {
            sink(frame)?;
        }
        filled?;
        std::mem::swap(&mut current, &mut next);
    }
    // The reader gives an empty batch only at the end of the stream: every byte has
    // passed through the hash.
    let source = reader.into_source();
    on_progress(source.bytes - last_progress);
    Ok(FileRead {
        read,
        loaded,
        blake3: source.hasher.finalize().to_hex().to_string(),
        bytes: source.bytes,
        quarantined,
        extra_columns: header
            .iter()
            .filter(|h| schema.column(h).is_none())
            .cloned()
            .collect(),
    })
}

/// A reader of the records of `path`, hashing every byte it reads, once the
/// file's first bytes look like text.
fn open(path: &Path, max_record: usize) -> Result<RecordReader<Hashing<std::fs::File>>> {
    sniff(path)?;
    let file = std::fs::File::open(path).map_err(|e| Error::input(path, e.to_string()))?;
    let source = Hashing {
        inner: file,
        hasher: blake3::Hasher::new(),
        bytes: 0,
    };
    Ok(RecordReader::new(source).with_max_record(max_record))
}

/// The ranges of a batch of `n` records typed as one piece each ([`PIECES`]).
fn pieces(n: usize) -> Vec<std::ops::Range<usize>> {
    let size = n.div_ceil(PIECES).max(1);
    (0..n)
        .step_by(size)
        .map(|start| start..(start + size).min(n))
        .collect()
}

/// The file's header: each name trimmed, a byte order mark dropped. An error names
/// a column that is not UTF-8, or a file without a header line.
fn read_header<R: Read>(reader: &mut RecordReader<R>, path: &Path) -> Result<Vec<String>> {
    let header = reader
        .header()
        .map_err(|e| e.into_error(path, &[]))?
        .into_iter()
        .enumerate()
        .map(|(i, h)| {
            let text = String::from_utf8(h).map_err(|_| {
                Error::input(
                    path,
                    format!(
                        "header column {} is not valid UTF-8; {}",
                        i + 1,
                        ENCODING_HINT
                    ),
                )
            })?;
            Ok(text.trim_start_matches('\u{feff}').trim().to_string())
        })
        .collect::<Result<Vec<String>>>()?;
    if header.len() <= 1 && header.iter().all(|h| h.is_empty()) {
        return Err(Error::input(path, "the file is empty (no header line)"));
    }

    Ok(header)
}

/// Where each canonical column of `schema` is in `header` (None when absent). An
/// error names a column that appears twice, or a required one that is missing.
fn column_positions(
    header: &[String],
    schema: &TableSchema,
    path: &Path,
) -> Result<Vec<Option<usize>>> {
    // Position of each canonical column in the file, if present.
    let mut positions = Vec::with_capacity(schema.columns.len());
    for column in schema.columns {
        let found: Vec<usize> = header
            .iter()
            .enumerate()
            .filter(|(_, h)| h.as_str() == column.name)
            .map(|(i, _)| i)
            .collect();
        if found.len() > 1 {
            return Err(Error::input(
                path,
                format!(
                    "column `{}` appears {} times in the header",
                    column.name,
                    found.len()
                ),
            ));
        }
        // `touch_id` is optional in the schema: derived when missing.
        if found.is_empty() && column.required {
            return Err(Error::input(
                path,
                format!(
                    "column `{}` is missing (required in table `{}`; the header has: {}){}",
                    column.name,
                    schema.name,
                    crate::text::first_few(header, 10),
                    delimiter_hint(header)
                ),
            ));
        }
        positions.push(found.first().copied());
    }
    Ok(positions)
}

/// The typed pieces of one batch as one frame (None when no row loaded), in file
/// order, with their counts and quarantined rows added to the file's.
fn gather(
    typed: Vec<Result<Typed>>,
    read: &mut u64,
    loaded: &mut u64,
    quarantined: &mut Vec<QuarantinedRow>,
) -> Result<Option<DataFrame>> {
    let mut frames: Vec<DataFrame> = Vec::new();
    for piece in typed {
        let part = piece?;
        *read += part.read;
        *loaded += part.loaded;
        quarantined.extend(part.quarantined);
        frames.extend(part.frames);
    }
    // One frame per batch for the stager.
    Ok(frames
        .into_iter()
        .reduce(|mut a, f| {
            a.vstack_mut_owned(f).expect("same schema");
            a
        })
        .map(|mut frame| {
            frame.rechunk_mut();
            frame
        }))
}

/// Records per batch at most (each batch is typed by the worker threads).
const BATCH_ROWS: usize = 64 * 1024;
/// Pieces a batch is typed in.
const PIECES: usize = 8;

/// Reads the next batch of records into `batch` (empty at the end), reporting
/// progress every 4 MiB.
fn fill<R: Read>(
    reader: &mut RecordReader<R>,
    batch: &mut Batch,
    path: &Path,
    header: &[String],
    last_progress: &mut u64,
    on_progress: &mut impl FnMut(u64),
) -> Result<()> {
    reader
        .read_batch(batch, BATCH_ROWS)
        .map_err(|e| e.into_error(path, header))?;
    let byte = reader.consumed();
    if byte - *last_progress > 4 << 20 {
        on_progress(byte - *last_progress);
        *last_progress = byte;
    }
    Ok(())
}

/// What typing one run of records gave.
struct Typed {
    read: u64,
    loaded: u64,
    frames: Vec<DataFrame>,
    quarantined: Vec<QuarantinedRow>,
}

/// How the records of one file become rows of its table.
struct Rows<'a> {
    file_name: &'a str,
    schema: &'static TableSchema,
    formats: &'a [ColumnFormat],
    header: &'a [String],
    /// Position of each canonical column in the file, if present.
    positions: &'a [Option<usize>],
}

impl Rows<'_> {
    /// Types the records `range` of `batch`, in order: column by column when every
    /// record loads as it is, else one by one.
    fn typed(&self, batch: &Batch, range: std::ops::Range<usize>) -> Result<Typed> {
        // Blank lines and ragged records take the row path.
        let width = self.header.len();
        if width > 1 && range.clone().all(|i| batch.width(i) == width) {
            let start = range.start;
            let text = |row, position| batch.field(start + row, position);
            let rows = range.len();
            if let Some(frame) =
                type_by_column(self.schema, self.formats, self.positions, rows, text)
            {
                return Ok(Typed {
                    read: rows as u64,
                    loaded: rows as u64,
                    frames: vec![frame?],
                    quarantined: Vec::new(),
                });
            }
        }
        let mut builder =
            TableBuilder::with_capacity(self.schema, self.formats.to_vec(), range.len());
        let mut fields: Vec<&str> = Vec::new();
        let mut raw: Vec<&str> = Vec::with_capacity(self.positions.len());
        let mut frames = Vec::new();
        let mut read = 0;
        for i in range {
            fields.clear();
            fields.extend(batch.record(i));
            // A record of one empty field (`""`) is a blank line, not a row.
            if fields.len() == 1 && fields[0].is_empty() {
                continue;
            }
            let line = batch.line(i);
            read += 1;
            raw.clear();
            raw.extend(
                self.positions
                    .iter()
                    .map(|p| p.and_then(|p| fields.get(p).copied()).unwrap_or("")),
            );
            if fields.len() != self.header.len() {
                builder.quarantine_ragged(&raw, &fields, self.file_name, line, self.header.len());
                continue;
            }
            builder.push(&raw, self.file_name, line)?;
            if builder.has_full_chunk() {
                frames.extend(builder.take()?);
            }
        }
        frames.extend(builder.take()?);
        Ok(Typed {
            read,
            loaded: builder.loaded,
            frames,
            quarantined: builder.quarantined,
        })
    }
}
