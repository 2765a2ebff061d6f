//! Turns rows of canonical text values into a typed frame of one table, sending every
//! row that cannot be loaded to quarantine with its reason. Shared by the native
//! reader and mapped sources: both hand over text in canonical column order.

use chrono_tz::Tz;
use polars::prelude::*;
use sha2::{Digest, Sha256};

use crate::config::hex;
use crate::error::{PolarsContext, Result};
use crate::ingest::parse::{
    format_timestamp, parse_date, parse_date_lenient, parse_date_with, parse_number_with,
    parse_timestamp, parse_timestamp_with, NumberFormat,
};
use crate::ingest::quarantine::QuarantinedRow;
use crate::model::columns::{ColumnType, TableSchema, TOUCHES};

/// How one canonical column's text is written in its source.
#[derive(Debug, Clone)]
pub struct ColumnFormat {
    /// A chrono format for timestamps and dates; ISO-8601 when absent.
    pub format: Option<String>,
    /// The zone of naive timestamps.
    pub tz: Tz,
    pub number: NumberFormat,
    /// Dates may be written as timestamps (mapped sources).
    pub lenient_date: bool,
}

impl ColumnFormat {
    /// The native format: ISO values, naive timestamps in `tz`, plain numbers.
    pub fn native(tz: Tz) -> ColumnFormat {
        ColumnFormat {
            format: None,
            tz,
            number: NumberFormat::default(),
            lenient_date: false,
        }
    }
}

/// The quarantine reason of a row whose field count differs from the header's.
pub fn ragged_reason(fields: usize, header: usize) -> String {
    format!("the row has {fields} fields but the header has {header}")
}

/// The most columns a table has (a row's values are typed on the stack).
const MAX_COLUMNS: usize = 16;

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
    /// Builders with room for `capacity` rows.
    fn new(schema: &'static TableSchema, capacity: usize) -> Chunk {
        let builders = schema
            .columns
            .iter()
            .map(|c| {
                let name = PlSmallStr::from_static(c.name);
                match c.ty {
                    ColumnType::Text | ColumnType::Enum(_) => {
                        Builder::Text(StringChunkedBuilder::new(name, capacity))
                    }
                    ColumnType::Timestamp => {
                        Builder::Int64(PrimitiveChunkedBuilder::new(name, capacity))
                    }
                    ColumnType::Date => {
                        Builder::Int32(PrimitiveChunkedBuilder::new(name, capacity))
                    }
                    ColumnType::Number => {
                        Builder::Float(PrimitiveChunkedBuilder::new(name, capacity))
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

/// Builds one table's typed frame row by row.
pub struct TableBuilder {
    schema: &'static TableSchema,
    formats: Vec<ColumnFormat>,
    /// Only the key columns are read and required (rows that delete their key).
    keys_only: bool,
    chunks: Vec<DataFrame>,
    chunk: Chunk,
    /// Rows a new chunk's builders make room for.
    capacity: usize,
    /// Per column: part of the key; must not be empty (worked out once, not per row).
    is_key: Vec<bool>,
    required: Vec<bool>,
    is_touches: bool,
    pub quarantined: Vec<QuarantinedRow>,
    pub loaded: u64,
}

impl TableBuilder {
    /// `formats` holds one entry per canonical column of `schema`.
    pub fn new(schema: &'static TableSchema, formats: Vec<ColumnFormat>) -> TableBuilder {
        debug_assert_eq!(formats.len(), schema.columns.len());
        assert!(schema.columns.len() <= MAX_COLUMNS, "raise MAX_COLUMNS");
        TableBuilder {
            schema,
            formats,
            keys_only: false,
            chunks: Vec::new(),
            chunk: Chunk::new(schema, CHUNK_ROWS),
            capacity: CHUNK_ROWS,
            is_key: schema
                .columns
                .iter()
                .map(|c| schema.key.contains(&c.name))
                .collect(),
            required: schema.columns.iter().map(|c| c.required).collect(),
            is_touches: schema.name == TOUCHES.name,
            quarantined: Vec::new(),
            loaded: 0,
        }
    }

    /// A builder for about `rows` rows (its builders need not make room for more).
    pub fn with_capacity(
        schema: &'static TableSchema,
        formats: Vec<ColumnFormat>,
        rows: usize,
    ) -> TableBuilder {
        let capacity = rows.clamp(1, CHUNK_ROWS);
        TableBuilder {
            chunk: Chunk::new(schema, capacity),
            capacity,
            ..TableBuilder::new(schema, formats)
        }
    }

    /// A builder for rows that delete their key: other columns are left null.
    pub fn keys_only(schema: &'static TableSchema, formats: Vec<ColumnFormat>) -> TableBuilder {
        TableBuilder {
            keys_only: true,
            ..TableBuilder::new(schema, formats)
        }
    }

    pub fn schema(&self) -> &'static TableSchema {
        self.schema
    }

    /// Sends a row to quarantine with `reason`; `values` are in canonical order.
    pub fn quarantine(&mut self, values: &[&str], file: &str, line: u64, reason: String) {
        self.quarantined.push(QuarantinedRow {
            values: values.iter().map(|v| v.to_string()).collect(),
            file: file.to_string(),
            line,
            reason,
        });
    }

    /// Types one row given as text in canonical column order (empty = null). A row
    /// that cannot be loaded goes to quarantine; returns whether it was loaded.
    pub fn push(&mut self, raw: &[&str], file: &str, line: u64) -> Result<bool> {
        let is_touches = self.is_touches;
        // On the stack: this runs once per input row.
        let mut slots: [Value; MAX_COLUMNS] = std::array::from_fn(|_| Value::Null);
        let mut n = 0;
        let mut error = None;
        for (i, ((column, text), format)) in self
            .schema
            .columns
            .iter()
            .zip(raw)
            .zip(&self.formats)
            .enumerate()
        {
            let text = trim(text);
            let is_key = self.is_key[i];
            if text.is_empty() || (self.keys_only && !is_key) {
                let required = if self.keys_only {
                    is_key
                } else {
                    self.required[i]
                };
                if required && text.is_empty() {
                    error = Some(format!("required column `{}` is empty", column.name));
                    break;
                }
                n += 1;
                continue;
            }
            let parsed = match column.ty {
                ColumnType::Text => Ok(Value::Text(text)),
                ColumnType::Enum(allowed) => {
                    if allowed.contains(&text) {
                        Ok(Value::Text(text))
                    } else {
                        Err(format!("`{text}` is not one of: {}", allowed.join(", ")))
                    }
                }
                ColumnType::Timestamp => match &format.format {
                    Some(f) => parse_timestamp_with(text, f, format.tz),
                    None => parse_timestamp(text, format.tz),
                }
                .map(Value::Int64),
                ColumnType::Date => match &format.format {
                    Some(f) => parse_date_with(text, f),
                    None if format.lenient_date => parse_date_lenient(text, format.tz),
                    None => parse_date(text),
                }
                .map(Value::Int32),
                ColumnType::Number => parse_number_with(text, &format.number).map(Value::Float),
            };
            match parsed {
                Ok(v) => {
                    slots[n] = v;
                    n += 1;
                }
                Err(reason) => {
                    error = Some(format!("column `{}`: {reason}", column.name));
                    break;
                }
            }
        }
        if let Some(reason) = error {
            self.quarantine(raw, file, line, reason);
            return Ok(false);
        }
        let values = &mut slots[..n];
        if is_touches && matches!(values[0], Value::Null) && !self.keys_only {
            values[0] = Value::Owned(derive_touch_id(values));
        }
        self.chunk.push(values);
        self.loaded += 1;
        if self.chunk.rows >= CHUNK_ROWS {
            let full = std::mem::replace(&mut self.chunk, Chunk::new(self.schema, self.capacity));
            self.chunks.push(full.finish()?);
        }
        Ok(true)
    }

    /// Whether a full chunk is waiting to be taken.
    pub fn has_full_chunk(&self) -> bool {
        !self.chunks.is_empty()
    }

    /// Takes the rows built so far (full chunks and the current one), in push order.
    pub fn take(&mut self) -> Result<Vec<DataFrame>> {
        let current = std::mem::replace(&mut self.chunk, Chunk::new(self.schema, self.capacity));
        let mut out = std::mem::take(&mut self.chunks);
        if current.rows > 0 {
            out.push(current.finish()?);
        }
        Ok(out)
    }

    /// The loaded rows in push order, and the quarantined ones.
    pub fn finish(mut self) -> Result<(DataFrame, Vec<QuarantinedRow>)> {
        self.chunks.push(self.chunk.finish()?);
        let mut frame = self.chunks.remove(0);
        for c in self.chunks {
            frame
                .vstack_mut_owned(c)
                .context(|| format!("stacking `{}`", self.schema.name))?;
        }
        Ok((frame, self.quarantined))
    }
}

/// `str::trim`, with a fast exit for the usual value that starts and ends with a
/// visible ASCII character (the full trim handles Unicode whitespace).
fn trim(text: &str) -> &str {
    match (text.as_bytes().first(), text.as_bytes().last()) {
        (Some(a), Some(b)) if a.is_ascii_graphic() && b.is_ascii_graphic() => text,
        _ => text.trim(),
    }
}

/// SPEC §2: the lowercase hex SHA-256 of
/// `lead_id|occurred_at|channel|action|team|campaign_id`, occurred_at as RFC 3339 UTC
/// with `Z`, empty for null. Values are the stored (trimmed) ones.
fn derive_touch_id(values: &[Value<'_>]) -> String {
    // Columns of TOUCHES: touch_id, lead_id, occurred_at, channel, action, team, campaign_id.
    let mut joined = String::with_capacity(96);
    for (i, v) in values[1..].iter().enumerate() {
        if i > 0 {
            joined.push('|');
        }
        match v {
            Value::Text(s) => joined.push_str(s),
            Value::Owned(s) => joined.push_str(s),
            Value::Int64(us) => joined.push_str(&format_timestamp(*us)),
            _ => {}
        }
    }
    hex(&Sha256::digest(joined.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trim_is_str_trim() {
        for text in [
            "",
            " ",
            "a",
            " a",
            "a ",
            "\u{a0}a",
            "a\u{2003}",
            "é",
            " é ",
            "a b",
            "\t",
        ] {
            assert_eq!(trim(text), text.trim(), "{text:?}");
        }
    }

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
