//! Turns rows of canonical text values into a typed frame of one table, sending every
//! row that cannot be loaded to quarantine with its reason. Shared by the native
//! reader and mapped sources: both hand over text in canonical column order.

use chrono_tz::Tz;
use polars::prelude::*;
use sha2::{Digest, Sha256};

use crate::config::hex;
use crate::error::{PolarsContext, Result};
use crate::ingest::parse::{parse_number_with, NumberFormat};
use crate::ingest::quarantine::QuarantinedRow;
use crate::model::columns::{ColumnDef, ColumnType, TableSchema, TOUCHES};
use crate::time::{
    format_timestamp, parse_date, parse_date_lenient, parse_date_with, parse_timestamp,
    parse_timestamp_with,
};

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

    /// A timestamp's microseconds since the epoch, UTC.
    fn timestamp(&self, text: &str) -> std::result::Result<i64, String> {
        match &self.format {
            Some(f) => parse_timestamp_with(text, f, self.tz),
            None => parse_timestamp(text, self.tz),
        }
    }

    /// A date's days since the epoch.
    fn date(&self, text: &str) -> std::result::Result<i32, String> {
        match &self.format {
            Some(f) => parse_date_with(text, f),
            None if self.lenient_date => parse_date_lenient(text, self.tz),
            None => parse_date(text),
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

/// The typed value of one non-empty (trimmed) text of `column`, or why it is refused.
fn parse_value<'a>(
    column: &ColumnDef,
    format: &ColumnFormat,
    text: &'a str,
) -> std::result::Result<Value<'a>, String> {
    match column.ty {
        ColumnType::Text => Ok(Value::Text(text)),
        ColumnType::Enum(allowed) => {
            if allowed.contains(&text) {
                Ok(Value::Text(text))
            } else {
                Err(format!("`{text}` is not one of: {}", allowed.join(", ")))
            }
        }
        ColumnType::Timestamp => format.timestamp(text).map(Value::Int64),
        ColumnType::Date => format.date(text).map(Value::Int32),
        ColumnType::Number => parse_number_with(text, &format.number).map(Value::Float),
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
            record: None,
        });
    }

    /// Sends a record whose field count differs from the header's to quarantine,
    /// with the whole record (`fields`, as read) beside its values.
    pub fn quarantine_ragged(
        &mut self,
        values: &[&str],
        fields: &[&str],
        file: &str,
        line: u64,
        header: usize,
    ) {
        self.quarantine(values, file, line, ragged_reason(fields.len(), header));
        if let Some(row) = self.quarantined.last_mut() {
            row.record = Some(crate::ingest::quarantine::record_text(
                fields.iter().copied(),
            ));
        }
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
            match parse_value(column, format, text) {
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

/// Rows typed together, one column after another (their text stays in the cache).
const BLOCK_ROWS: usize = 1024;

/// Types `rows` rows of a native file column by column, the fast way for rows that all
/// load: `text(row, position)` is the field at `position` of the file's row `row`, and
/// `positions` holds each canonical column's position in the file. None when some row
/// would not load as it is (an empty required value, a value that does not parse):
/// the caller then types the rows one by one with [`TableBuilder::push`], which
/// quarantines that row with its reason. A frame given here equals the one `push`
/// builds.
pub fn type_by_column<'a>(
    schema: &'static TableSchema,
    formats: &[ColumnFormat],
    positions: &[Option<usize>],
    rows: usize,
    text: impl Fn(usize, usize) -> &'a str,
) -> Option<Result<DataFrame>> {
    let mut chunk = Chunk::new(schema, rows.max(1));
    let is_touches = schema.name == TOUCHES.name;
    for start in (0..rows).step_by(BLOCK_ROWS) {
        let block = start..(start + BLOCK_ROWS).min(rows);
        let columns = schema.columns.iter().zip(&mut chunk.builders);
        for (c, ((column, builder), format)) in columns.zip(formats).enumerate() {
            let filled = match positions[c] {
                // A touch without its id gets the one derived from its other values.
                position if is_touches && c == 0 => {
                    let Builder::Text(b) = builder else {
                        unreachable!("touch_id is text")
                    };
                    block
                        .clone()
                        .all(|r| match trim(position.map_or("", |p| text(r, p))) {
                            "" => derived_id(schema, formats, positions, |p| text(r, p))
                                .map(|id| b.append_value(id))
                                .is_some(),
                            t => {
                                b.append_value(t);
                                true
                            }
                        })
                }
                Some(p) => fill(block.clone(), |r| text(r, p), column, format, builder),
                None => fill(block.clone(), |_| "", column, format, builder),
            };
            if !filled {
                return None;
            }
        }
    }
    chunk.rows = rows;
    Some(chunk.finish())
}

/// The id docs/tables.md derives for a touch row given by `text(position)`; None when one of
/// its values does not parse (the row path then quarantines the row).
fn derived_id<'a>(
    schema: &'static TableSchema,
    formats: &[ColumnFormat],
    positions: &[Option<usize>],
    text: impl Fn(usize) -> &'a str,
) -> Option<String> {
    let mut values: [Value; MAX_COLUMNS] = std::array::from_fn(|_| Value::Null);
    let columns = schema
        .columns
        .iter()
        .zip(formats)
        .zip(positions)
        .enumerate();
    for (c, ((column, format), position)) in columns.skip(1) {
        match trim(position.map_or("", &text)) {
            "" => {}
            t => values[c] = parse_value(column, format, t).ok()?,
        }
    }
    Some(derive_touch_id(&values[..schema.columns.len()]))
}

/// Appends column `column` of the rows `block` to its builder; false when a row would
/// not load.
fn fill<'a>(
    block: std::ops::Range<usize>,
    text: impl Fn(usize) -> &'a str,
    column: &ColumnDef,
    format: &ColumnFormat,
    builder: &mut Builder,
) -> bool {
    let required = column.required;
    match (builder, column.ty) {
        (Builder::Text(b), ColumnType::Text) => each_value(block, &text, required, |v| {
            b.append_option(v);
            true
        }),
        (Builder::Text(b), ColumnType::Enum(allowed)) => {
            each_value(block, &text, required, |v| match v {
                Some(t) if !allowed.contains(&t) => false,
                v => {
                    b.append_option(v);
                    true
                }
            })
        }
        (Builder::Int64(b), ColumnType::Timestamp) => each_value(block, &text, required, |v| {
            append(b, v.map(|t| format.timestamp(t)))
        }),
        (Builder::Int32(b), ColumnType::Date) => each_value(block, &text, required, |v| {
            append(b, v.map(|t| format.date(t)))
        }),
        (Builder::Float(b), ColumnType::Number) => each_value(block, &text, required, |v| {
            append(b, v.map(|t| parse_number_with(t, &format.number)))
        }),
        _ => unreachable!("a column's builder follows its type"),
    }
}

/// Hands each row's value, trimmed (None when empty), to `push`; false when a row
/// would not load (an empty required value, or `push` refused it).
#[inline]
fn each_value<'a>(
    block: std::ops::Range<usize>,
    text: &impl Fn(usize) -> &'a str,
    required: bool,
    mut push: impl FnMut(Option<&'a str>) -> bool,
) -> bool {
    block.into_iter().all(|r| match trim(text(r)) {
        "" => !required && push(None),
        t => push(Some(t)),
    })
}

/// Appends a parsed value (None: null); false when it did not parse.
fn append<T: PolarsNumericType>(
    b: &mut PrimitiveChunkedBuilder<T>,
    parsed: Option<std::result::Result<T::Native, String>>,
) -> bool {
    match parsed {
        None => b.append_null(),
        Some(Ok(v)) => b.append_value(v),
        Some(Err(_)) => return false,
    }
    true
}

/// `str::trim`, also of byte-order marks (U+FEFF: one left in mid-file by two
/// exports pasted together became part of an id), with a fast exit for the usual
/// value that starts and ends with a visible ASCII character.
fn trim(text: &str) -> &str {
    match (text.as_bytes().first(), text.as_bytes().last()) {
        (Some(a), Some(b)) if a.is_ascii_graphic() && b.is_ascii_graphic() => text,
        _ => text.trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}'),
    }
}

/// As docs/tables.md says: the lowercase hex SHA-256 of
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
    use crate::model::columns::OPPORTUNITIES;

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
        assert_eq!(trim("\u{feff}L1"), "L1");
        assert_eq!(trim(" \u{feff} L1\u{feff}"), "L1");
    }

    /// Types `rows` (in canonical column order, with `missing` columns absent from
    /// the file) by column and, one by one, with `push`.
    fn typed_both_ways(
        schema: &'static TableSchema,
        rows: &[Vec<&str>],
        missing: &[usize],
    ) -> (Option<DataFrame>, DataFrame) {
        let formats = vec![ColumnFormat::native(Tz::Europe__Berlin); schema.columns.len()];
        let positions: Vec<Option<usize>> = (0..schema.columns.len())
            .map(|c| (!missing.contains(&c)).then_some(c))
            .collect();
        let by_column = type_by_column(schema, &formats, &positions, rows.len(), |r, p| rows[r][p])
            .map(|frame| frame.unwrap());
        let mut builder = TableBuilder::new(schema, formats);
        for row in rows {
            let raw: Vec<&str> = (0..row.len())
                .map(|c| if missing.contains(&c) { "" } else { row[c] })
                .collect();
            builder.push(&raw, "f.csv", 2).unwrap();
        }
        let (by_row, quarantined) = builder.finish().unwrap();
        assert!(quarantined.is_empty());
        (by_column, by_row)
    }

    #[test]
    fn typing_by_column_equals_typing_by_row() {
        // Records as a file gives them; enough rows for several blocks, each kind of
        // row in each.
        let rows = |records: &[&'static str], n: usize| -> Vec<Vec<&'static str>> {
            let records = records.iter().map(|r| r.split(',').collect::<Vec<_>>());
            records.cycle().take(n).collect()
        };
        let touches = rows(
            &[
                "T1,L1,2025-03-01T09:30:00Z,email,open,marketing,C1",
                ", L2 ,2025-03-01 09:30:00,,click,sales,",
                "  ,L3,2025-10-26T02:30:00,web,, marketing,C2",
                "T4,Lé4,2024-02-29T23:59:59.25+01:00,e,a,sales,x",
                "T5,L5,2025-03-01,a-channel-longer-than-a-view,b,sales,c",
            ],
            2_600,
        );
        let (by_column, by_row) = typed_both_ways(&TOUCHES, &touches, &[]);
        let by_column = by_column.expect("every row loads");
        assert!(by_column.equals_missing(&by_row));
        assert_eq!(by_row.height(), 2_600);
        // Without the `touch_id` column every id is derived.
        let (by_column, by_row) = typed_both_ways(&TOUCHES, &touches, &[0]);
        assert!(by_column.expect("every row loads").equals_missing(&by_row));

        let opportunities = rows(
            &[
                "O1,L1,A1,R1,new,2025-01-02T03:04:05Z,2025-02-01,,open,Discovery,1200.50,EUR,web,",
                "O2,,,,,2025-01-02,,2025-03-01T00:00:00Z,won,,-3e2,,,2025-03-02T00:00:00Z",
            ],
            1_500,
        );
        let (by_column, by_row) = typed_both_ways(&OPPORTUNITIES, &opportunities, &[]);
        assert!(by_column.expect("every row loads").equals_missing(&by_row));
    }

    #[test]
    fn typing_by_column_leaves_a_row_that_does_not_load_to_the_row_path() {
        let formats = vec![ColumnFormat::native(Tz::UTC); TOUCHES.columns.len()];
        let positions: Vec<Option<usize>> = (0..TOUCHES.columns.len()).map(Some).collect();
        let good = [
            "T1",
            "L1",
            "2025-03-01T09:30:00Z",
            "email",
            "open",
            "sales",
            "",
        ];
        for (column, bad) in [(1, ""), (2, "2025-02-30T00:00:00Z"), (5, "partner")] {
            let text = |r: usize, p: usize| match (r, p) {
                (1_500, p) if p == column => bad,
                (_, p) => good[p],
            };
            let typed = type_by_column(&TOUCHES, &formats, &positions, 2_000, text);
            assert!(typed.is_none(), "column {column}: `{bad}`");
        }
        // A touch whose id would be derived from a value that does not parse.
        let text = |r: usize, p: usize| match (r, p) {
            (7, 0) => "",
            (7, 2) => "yesterday",
            (_, p) => good[p],
        };
        assert!(type_by_column(&TOUCHES, &formats, &positions, 10, text).is_none());
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
