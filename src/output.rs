//! Writes result frames on stdout as an aligned table, CSV or JSON.

use std::io::Write;

use polars::prelude::*;

use crate::error::{Error, Result};
use crate::time::{format_date, format_timestamp};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Csv,
    Json,
}

/// One output cell, independent of the format.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
    List(Vec<Cell>),
}

impl Cell {
    fn from_any(value: AnyValue<'_>) -> Cell {
        match value {
            AnyValue::Null => Cell::Null,
            AnyValue::Boolean(b) => Cell::Bool(b),
            AnyValue::String(s) => Cell::Text(s.to_string()),
            AnyValue::StringOwned(s) => Cell::Text(s.to_string()),
            AnyValue::UInt8(v) => Cell::Int(v.into()),
            AnyValue::UInt16(v) => Cell::Int(v.into()),
            AnyValue::UInt32(v) => Cell::Int(v.into()),
            AnyValue::UInt64(v) => Cell::Int(v as i64),
            AnyValue::Int8(v) => Cell::Int(v.into()),
            AnyValue::Int16(v) => Cell::Int(v.into()),
            AnyValue::Int32(v) => Cell::Int(v.into()),
            AnyValue::Int64(v) => Cell::Int(v),
            AnyValue::Float32(v) => float(v.into()),
            AnyValue::Float64(v) => float(v),
            AnyValue::Date(days) => Cell::Text(format_date(days)),
            AnyValue::Datetime(v, unit, _) | AnyValue::DatetimeOwned(v, unit, _) => {
                let micros = match unit {
                    TimeUnit::Nanoseconds => v.div_euclid(1000),
                    TimeUnit::Microseconds => v,
                    TimeUnit::Milliseconds => v * 1000,
                };
                Cell::Text(format_timestamp(micros))
            }
            AnyValue::List(series) => Cell::List(
                (0..series.len())
                    .map(|i| Cell::from_any(series.get(i).unwrap_or(AnyValue::Null)))
                    .collect(),
            ),
            other => Cell::Text(other.to_string()),
        }
    }

    fn text(&self) -> String {
        match self {
            Cell::Null => String::new(),
            Cell::Bool(b) => b.to_string(),
            Cell::Int(v) => v.to_string(),
            Cell::Float(v) => v.to_string(),
            Cell::Text(s) => s.clone(),
            Cell::List(items) => items.iter().map(Cell::text).collect::<Vec<_>>().join(";"),
        }
    }

    fn json(&self) -> serde_json::Value {
        match self {
            Cell::Null => serde_json::Value::Null,
            Cell::Bool(b) => (*b).into(),
            Cell::Int(v) => (*v).into(),
            Cell::Float(v) => serde_json::Number::from_f64(*v)
                .map(serde_json::Value::Number)
                .unwrap_or(serde_json::Value::Null),
            Cell::Text(s) => s.clone().into(),
            Cell::List(items) => serde_json::Value::Array(items.iter().map(Cell::json).collect()),
        }
    }
}

/// NaN and infinities are not numbers anyone can use: they print as missing.
fn float(v: f64) -> Cell {
    if v.is_finite() {
        Cell::Float(v)
    } else {
        Cell::Null
    }
}

/// The frame as rows of cells.
pub fn rows(df: &DataFrame) -> Vec<Vec<Cell>> {
    let columns: Vec<_> = df
        .columns()
        .iter()
        .map(|c| c.as_materialized_series().rechunk())
        .collect();
    (0..df.height())
        .map(|i| {
            columns
                .iter()
                .map(|s| Cell::from_any(s.get(i).unwrap_or(AnyValue::Null)))
                .collect()
        })
        .collect()
}

/// Columns named `__n_<rate>` carry a rate's denominator: never printed, they mark
/// rates over fewer than this many in table output.
pub const SMALL_N: i64 = 30;

/// The printable columns and rows of a frame, and per cell whether it is a rate
/// whose denominator is small.
fn render(df: &DataFrame) -> (Vec<String>, Vec<Vec<Cell>>, Vec<Vec<bool>>) {
    let all: Vec<String> = df
        .get_column_names()
        .iter()
        .map(|n| n.to_string())
        .collect();
    let all_rows = rows(df);
    let visible: Vec<usize> = (0..all.len())
        .filter(|i| !all[*i].starts_with("__"))
        .collect();
    let names: Vec<String> = visible.iter().map(|i| all[*i].clone()).collect();
    let mut marks = Vec::with_capacity(all_rows.len());
    let mut out = Vec::with_capacity(all_rows.len());
    for row in &all_rows {
        let mut m = Vec::with_capacity(visible.len());
        for i in &visible {
            let n_col = format!("__n_{}", all[*i]);
            let small = all
                .iter()
                .position(|c| *c == n_col)
                .is_some_and(|j| matches!(row[j], Cell::Int(n) if n > 0 && n < SMALL_N));
            m.push(small);
        }
        marks.push(m);
        out.push(visible.iter().map(|i| row[*i].clone()).collect());
    }
    (names, out, marks)
}

pub fn write_frame(df: &DataFrame, format: Format, out: &mut impl Write) -> Result<()> {
    let (names, rows, marks) = render(df);
    let text = match format {
        Format::Table => table(&names, &rows, &marks),
        Format::Csv => csv_text(&names, &rows)?,
        Format::Json => json_text(&names, &rows),
    };
    emit(out, &text)
}

/// Writes `text` to stdout: every command's data goes through here or
/// [`write_frame`], so that a closed pipe (`funnel … | head`) ends the run quietly.
pub fn print(text: &str) -> Result<()> {
    emit(&mut std::io::stdout().lock(), text)
}

fn emit(out: &mut impl Write, text: &str) -> Result<()> {
    out.write_all(text.as_bytes())
        .and_then(|_| out.flush())
        .map_err(|e| Error::io("cannot write to", "stdout", e))
}

/// What a metric document says besides its rows (docs/metrics.md, output formats).
pub struct MetricHeader {
    pub metric: String,
    pub as_of: String,
    pub from: String,
    pub to: String,
    pub params: serde_json::Value,
    /// Lines printed under a table: definition, basis, definitions hash.
    pub footer: Vec<String>,
}

/// Writes a metric: JSON as `{"metric", "as_of", "from", "to", "params", "rows"}`,
/// CSV as the rows, a table with its footer.
pub fn write_metric(
    df: &DataFrame,
    format: Format,
    header: &MetricHeader,
    out: &mut impl Write,
) -> Result<()> {
    let (names, rows, marks) = render(df);
    let text = match format {
        Format::Table => {
            let mut t = table(&names, &rows, &marks);
            if marks.iter().flatten().any(|m| *m) {
                t.push_str(&format!(
                    "* rate over fewer than {SMALL_N}: read it as noisy\n"
                ));
            }
            for line in &header.footer {
                t.push_str(line);
                t.push('\n');
            }
            t
        }
        Format::Csv => csv_text(&names, &rows)?,
        Format::Json => {
            let key = |s: &str| serde_json::to_string(s).expect("json serialises");
            let mut doc = String::from("{");
            doc.push_str(&format!("\n  \"metric\": {},", key(&header.metric)));
            doc.push_str(&format!("\n  \"as_of\": {},", key(&header.as_of)));
            doc.push_str(&format!("\n  \"from\": {},", key(&header.from)));
            doc.push_str(&format!("\n  \"to\": {},", key(&header.to)));
            doc.push_str(&format!("\n  \"params\": {},", header.params));
            doc.push_str("\n  \"rows\": ");
            doc.push_str(&json_rows(&names, &rows));
            doc.push_str("\n}\n");
            doc
        }
    };
    emit(out, &text)
}

fn json_rows(names: &[String], rows: &[Vec<Cell>]) -> String {
    let key = |n: &String| serde_json::to_string(n).expect("json serialises");
    let mut out = String::from("[");
    for (i, row) in rows.iter().enumerate() {
        out.push_str(if i == 0 { "\n    {" } else { ",\n    {" });
        for (j, (name, cell)) in names.iter().zip(row).enumerate() {
            if j > 0 {
                out.push_str(", ");
            }
            out.push_str(&key(name));
            out.push_str(": ");
            out.push_str(&cell.json().to_string());
        }
        out.push('}');
    }
    out.push_str(if rows.is_empty() { "]" } else { "\n  ]" });
    out
}

/// `{"columns": [...], "rows": [{...}]}` with each row's keys in column order.
fn json_text(names: &[String], rows: &[Vec<Cell>]) -> String {
    format!(
        "{{\n  \"columns\": {},\n  \"rows\": {}\n}}\n",
        serde_json::to_string(names).expect("json serialises"),
        json_rows(names, rows)
    )
}

/// A text cell a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab, CR)
/// gets a leading `'`; numbers are numbers and stay as they are.
fn csv_safe(cell: &Cell) -> String {
    match cell {
        Cell::Text(t) if t.starts_with(['=', '+', '-', '@', '\t', '\r']) => format!("'{t}"),
        Cell::List(items) => items.iter().map(csv_safe).collect::<Vec<_>>().join(";"),
        other => other.text(),
    }
}

fn csv_text(names: &[String], rows: &[Vec<Cell>]) -> Result<String> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let err = |e: csv::Error| Error::Runtime(format!("cannot write CSV: {e}"));
    writer.write_record(names).map_err(err)?;
    for row in rows {
        writer.write_record(row.iter().map(csv_safe)).map_err(err)?;
    }
    let bytes = writer
        .into_inner()
        .map_err(|e| Error::Runtime(format!("cannot write CSV: {e}")))?;
    Ok(String::from_utf8(bytes).expect("CSV of UTF-8 cells is UTF-8"))
}

/// Aligned columns: text left, numbers right, floats rounded for reading.
fn table(names: &[String], rows: &[Vec<Cell>], marks: &[Vec<bool>]) -> String {
    let names: Vec<String> = names
        .iter()
        .map(|n| crate::text::terminal_safe(n))
        .collect();
    let shown: Vec<Vec<String>> = rows
        .iter()
        .zip(marks)
        .map(|(row, mark)| {
            row.iter()
                .zip(mark)
                .map(|(c, m)| {
                    let text = match c {
                        Cell::Null => "—".to_string(),
                        Cell::Float(v) => round_for_reading(*v),
                        Cell::List(items) => {
                            items.iter().map(Cell::text).collect::<Vec<_>>().join(", ")
                        }
                        other => other.text(),
                    };
                    // A value from a file must not drive the terminal.
                    let text = crate::text::terminal_safe(&text);
                    if *m {
                        format!("{text}*")
                    } else {
                        text
                    }
                })
                .collect()
        })
        .collect();
    let numeric: Vec<bool> = (0..names.len())
        .map(|i| {
            rows.iter()
                .all(|r| matches!(r[i], Cell::Int(_) | Cell::Float(_) | Cell::Null))
                && !rows.is_empty()
        })
        .collect();
    let widths: Vec<usize> = (0..names.len())
        .map(|i| {
            shown
                .iter()
                .map(|r| r[i].chars().count())
                .chain([names[i].chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: &[String]| -> String {
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let pad = widths[i].saturating_sub(c.chars().count());
                if numeric[i] {
                    format!("{}{c}", " ".repeat(pad))
                } else {
                    format!("{c}{}", " ".repeat(pad))
                }
            })
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    let mut out = String::new();
    out.push_str(&line(&names));
    out.push('\n');
    out.push_str(
        &widths
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .join("  "),
    );
    out.push('\n');
    for row in &shown {
        out.push_str(&line(row));
        out.push('\n');
    }
    out.push_str(&format!(
        "({} row{})\n",
        rows.len(),
        if rows.len() == 1 { "" } else { "s" }
    ));
    out
}

fn round_for_reading(v: f64) -> String {
    let s = if v.abs() >= 1000.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.4}")
    };
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}
