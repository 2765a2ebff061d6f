//! Writes result frames on stdout as an aligned table, CSV or JSON.

use std::io::Write;

use polars::prelude::*;

use crate::error::{Error, Result};
use crate::ingest::parse::{format_date, format_timestamp};

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

pub fn write_frame(df: &DataFrame, format: Format, out: &mut impl Write) -> Result<()> {
    let names: Vec<String> = df
        .get_column_names()
        .iter()
        .map(|n| n.to_string())
        .collect();
    let rows = rows(df);
    let text = match format {
        Format::Table => table(&names, &rows),
        Format::Csv => csv_text(&names, &rows)?,
        Format::Json => json_text(&names, &rows),
    };
    out.write_all(text.as_bytes())
        .and_then(|_| out.flush())
        .map_err(|e| Error::io("cannot write to", "stdout", e))
}

/// `{"columns": [...], "rows": [{...}]}` with each row's keys in column order.
fn json_text(names: &[String], rows: &[Vec<Cell>]) -> String {
    let key = |n: &String| serde_json::to_string(n).expect("json serialises");
    let mut out = String::from("{\n  \"columns\": ");
    out.push_str(&serde_json::to_string(names).expect("json serialises"));
    out.push_str(",\n  \"rows\": [");
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
    out.push_str(if rows.is_empty() {
        "]\n}\n"
    } else {
        "\n  ]\n}\n"
    });
    out
}

fn csv_text(names: &[String], rows: &[Vec<Cell>]) -> Result<String> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let err = |e: csv::Error| Error::Runtime(format!("cannot write CSV: {e}"));
    writer.write_record(names).map_err(err)?;
    for row in rows {
        writer
            .write_record(row.iter().map(Cell::text))
            .map_err(err)?;
    }
    let bytes = writer
        .into_inner()
        .map_err(|e| Error::Runtime(format!("cannot write CSV: {e}")))?;
    Ok(String::from_utf8(bytes).expect("CSV of UTF-8 cells is UTF-8"))
}

/// Aligned columns: text left, numbers right, floats rounded for reading.
fn table(names: &[String], rows: &[Vec<Cell>]) -> String {
    let shown: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            row.iter()
                .map(|c| match c {
                    Cell::Null => "—".to_string(),
                    Cell::Float(v) => round_for_reading(*v),
                    other => other.text(),
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
    out.push_str(&line(names));
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
