//! Reads one native-format CSV file (SPEC §2) into a typed frame of its canonical
//! table, sending every row that cannot be loaded to quarantine with its reason.
//!
//! The file is streamed record by record with the `csv` crate: that is where line
//! numbers and original field values are known, which quarantine needs. Values go
//! straight into polars column builders, so nothing is held twice.

use std::io::Read;
use std::path::Path;

use chrono_tz::Tz;
use polars::prelude::*;
use sha2::{Digest, Sha256};

use crate::config::hex;
use crate::error::{Error, PolarsContext, Result};
use crate::ingest::parse::{format_timestamp, parse_date, parse_number, parse_timestamp};
use crate::ingest::quarantine::QuarantinedRow;
use crate::model::columns::{ColumnType, TableSchema, TOUCHES};

/// What reading one file produced.
pub struct FileRead {
    /// The loaded rows, in file order, with the table's full canonical schema.
    pub frame: DataFrame,
    /// Data rows in the file (header excluded).
    pub read: u64,
    pub quarantined: Vec<QuarantinedRow>,
    /// Header columns that are not part of the table (ignored).
    pub extra_columns: Vec<String>,
}

/// Rows per builder chunk: bounds the memory of one chunk's builders.
const CHUNK_ROWS: usize = 256 * 1024;

enum Builder {
    Text(StringChunkedBuilder),
    Int64(PrimitiveChunkedBuilder<Int64Type>),
    Int32(PrimitiveChunkedBuilder<Int32Type>),
    Float(PrimitiveChunkedBuilder<Float64Type>),
}

/// A parsed value waiting to be appended once the whole row is known to be valid.
enum Value<'a> {
    Null,
    Text(&'a str),
    Owned(String),
    Int64(i64),
    Int32(i32),
    Float(f64),
}

struct Chunk {
    schema: &'static TableSchema,
    builders: Vec<Builder>,
    rows: usize,
}

impl Chunk {
    fn new(schema: &'static TableSchema) -> Chunk {
        let builders = schema
            .columns
            .iter()
            .map(|c| {
                let name = PlSmallStr::from_static(c.name);
                match c.ty {
                    ColumnType::Text | ColumnType::Enum(_) => {
                        Builder::Text(StringChunkedBuilder::new(name, CHUNK_ROWS))
                    }
                    ColumnType::Timestamp => {
                        Builder::Int64(PrimitiveChunkedBuilder::new(name, CHUNK_ROWS))
                    }
                    ColumnType::Date => {
                        Builder::Int32(PrimitiveChunkedBuilder::new(name, CHUNK_ROWS))
                    }
                    ColumnType::Number => {
                        Builder::Float(PrimitiveChunkedBuilder::new(name, CHUNK_ROWS))
                    }
                }
            })
            .collect();
        Chunk {
            schema,
            builders,
            rows: 0,
        }
    }

    fn push(&mut self, values: &mut [Value<'_>]) {
        for (builder, value) in self.builders.iter_mut().zip(values.iter_mut()) {
            match (builder, std::mem::replace(value, Value::Null)) {
                (Builder::Text(b), Value::Text(s)) => b.append_value(s),
                (Builder::Text(b), Value::Owned(s)) => b.append_value(s),
                (Builder::Text(b), _) => b.append_null(),
                (Builder::Int64(b), Value::Int64(v)) => b.append_value(v),
                (Builder::Int64(b), _) => b.append_null(),
                (Builder::Int32(b), Value::Int32(v)) => b.append_value(v),
                (Builder::Int32(b), _) => b.append_null(),
                (Builder::Float(b), Value::Float(v)) => b.append_value(v),
                (Builder::Float(b), _) => b.append_null(),
            }
        }
        self.rows += 1;
    }

    fn finish(self) -> Result<DataFrame> {
        let columns = self
            .builders
            .into_iter()
            .map(|b| match b {
                Builder::Text(b) => b.finish().into_column(),
                Builder::Int64(b) => b
                    .finish()
                    .into_datetime(TimeUnit::Microseconds, Some(TimeZone::UTC))
                    .into_column(),
                Builder::Int32(b) => b.finish().into_date().into_column(),
                Builder::Float(b) => b.finish().into_column(),
            })
            .collect();
        DataFrame::new(self.rows, columns)
            .context(|| format!("building table `{}`", self.schema.name))
    }
}

/// Reads the whole file's bytes, refusing what is not text CSV.
pub fn read_bytes(path: &Path) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(|e| Error::input(path, e.to_string()))?;
    Ok(bytes)
}

/// Parses a native CSV file of `schema`'s table.
///
/// File-level problems (binary content, invalid UTF-8, a missing required column, a
/// duplicated header) are errors; row-level problems go to quarantine.
pub fn read_file(
    path: &Path,
    bytes: &[u8],
    schema: &'static TableSchema,
    tz: Tz,
    mut on_progress: impl FnMut(u64),
) -> Result<FileRead> {
    let sniff = &bytes[..bytes.len().min(64 * 1024)];
    if sniff.contains(&0) {
        return Err(Error::input(
            path,
            "this is not a CSV text file (it contains NUL bytes); export the table as CSV",
        ));
    }
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .has_headers(true)
        .from_reader(bytes);
    let header = reader
        .byte_headers()
        .map_err(|e| Error::input(path, format!("cannot read the header line: {e}")))?
        .clone();
    let header: Vec<String> = header
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let text = std::str::from_utf8(h).map_err(|_| {
                Error::input(
                    path,
                    format!("header column {} is not valid UTF-8 (declare the file's encoding in a mapping)", i + 1),
                )
            })?;
            Ok(text.trim_start_matches('\u{feff}').trim().to_string())
        })
        .collect::<Result<_>>()?;
    if header.len() == 1 && header[0].is_empty() {
        return Err(Error::input(path, "the file is empty (no header line)"));
    }

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
        if found.is_empty()
            && column.required
            && !(schema.name == TOUCHES.name && column.name == "touch_id")
        {
            return Err(Error::input(
                path,
                format!(
                    "column `{}` is missing (required in table `{}`; the header has: {})",
                    column.name,
                    schema.name,
                    header.join(", ")
                ),
            ));
        }
        positions.push(found.first().copied());
    }
    let extra_columns = header
        .iter()
        .filter(|h| schema.column(h).is_none())
        .cloned()
        .collect();

    let is_touches = schema.name == TOUCHES.name;
    let file_name = path.display().to_string();
    let mut chunks = Vec::new();
    let mut chunk = Chunk::new(schema);
    let mut quarantined = Vec::new();
    let mut read = 0u64;
    let mut record = csv::ByteRecord::new();
    let mut last_progress = 0u64;
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                return Err(Error::input(
                    path,
                    format!("malformed CSV near line {line}: {e}"),
                ));
            }
        }
        let line = record.position().map_or(0, |p| p.line());
        // A blank line in the middle of a file is not a row.
        if record.len() == 1 && record[0].is_empty() {
            continue;
        }
        read += 1;
        let byte = record.position().map_or(0, |p| p.byte());
        if byte - last_progress > 4 << 20 {
            on_progress(byte - last_progress);
            last_progress = byte;
        }
        let mut fields: Vec<&str> = Vec::with_capacity(record.len());
        for (i, field) in record.iter().enumerate() {
            let text = std::str::from_utf8(field).map_err(|_| {
                Error::input(
                    path,
                    format!(
                        "line {line}, column `{}`: bytes that are not UTF-8 (declare the file's encoding in a mapping)",
                        header.get(i).map_or("?", |h| h.as_str())
                    ),
                )
            })?;
            fields.push(text);
        }
        let original = |fields: &[&str]| -> Vec<String> {
            positions
                .iter()
                .map(|p| p.and_then(|p| fields.get(p)).unwrap_or(&"").to_string())
                .collect()
        };
        if fields.len() != header.len() {
            quarantined.push(QuarantinedRow {
                values: original(&fields),
                file: file_name.clone(),
                line,
                reason: format!(
                    "the row has {} fields but the header has {}",
                    fields.len(),
                    header.len()
                ),
            });
            continue;
        }
        let mut values: Vec<Value> = Vec::with_capacity(schema.columns.len());
        let mut error = None;
        for (column, position) in schema.columns.iter().zip(&positions) {
            let raw = position.map_or("", |p| fields[p]).trim();
            if raw.is_empty() {
                if column.required && !(is_touches && column.name == "touch_id") {
                    error = Some(format!("required column `{}` is empty", column.name));
                    break;
                }
                values.push(Value::Null);
                continue;
            }
            let parsed = match column.ty {
                ColumnType::Text => Ok(Value::Text(raw)),
                ColumnType::Enum(allowed) => {
                    if allowed.contains(&raw) {
                        Ok(Value::Text(raw))
                    } else {
                        Err(format!("`{raw}` is not one of: {}", allowed.join(", ")))
                    }
                }
                ColumnType::Timestamp => parse_timestamp(raw, tz).map(Value::Int64),
                ColumnType::Date => parse_date(raw).map(Value::Int32),
                ColumnType::Number => parse_number(raw).map(Value::Float),
            };
            match parsed {
                Ok(v) => values.push(v),
                Err(reason) => {
                    error = Some(format!("column `{}`: {reason}", column.name));
                    break;
                }
            }
        }
        if let Some(reason) = error {
            quarantined.push(QuarantinedRow {
                values: original(&fields),
                file: file_name.clone(),
                line,
                reason,
            });
            continue;
        }
        if is_touches && matches!(values[0], Value::Null) {
            values[0] = Value::Owned(derive_touch_id(&values));
        }
        chunk.push(&mut values);
        if chunk.rows >= CHUNK_ROWS {
            chunks.push(std::mem::replace(&mut chunk, Chunk::new(schema)).finish()?);
        }
    }
    on_progress(bytes.len() as u64 - last_progress);
    chunks.push(chunk.finish()?);
    let mut frame = chunks.remove(0);
    for c in chunks {
        frame
            .vstack_mut_owned(c)
            .context(|| format!("stacking `{}`", path.display()))?;
    }
    Ok(FileRead {
        frame,
        read,
        quarantined,
        extra_columns,
    })
}

/// SPEC §2: the lowercase hex SHA-256 of
/// `lead_id|occurred_at|channel|action|team|campaign_id`, occurred_at as RFC 3339 UTC
/// with `Z`, empty for null. Values are the stored (trimmed) ones.
fn derive_touch_id(values: &[Value<'_>]) -> String {
    let text = |v: &Value<'_>| match v {
        Value::Text(s) => s.to_string(),
        Value::Owned(s) => s.clone(),
        Value::Int64(us) => format_timestamp(*us),
        _ => String::new(),
    };
    // Columns of TOUCHES: touch_id, lead_id, occurred_at, channel, action, team, campaign_id.
    let joined = values[1..].iter().map(text).collect::<Vec<_>>().join("|");
    hex(&Sha256::digest(joined.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_touch_id_matches_spec_formula() {
        let values = [
            Value::Null,
            Value::Text("L1"),
            Value::Int64(1_735_689_600_000_000), // 2025-01-01T00:00:00Z
            Value::Text("email"),
            Value::Text("open"),
            Value::Text("marketing"),
            Value::Null,
        ];
        let expected = hex(&Sha256::digest(
            b"L1|2025-01-01T00:00:00Z|email|open|marketing|",
        ));
        assert_eq!(derive_touch_id(&values), expected);
    }
}
