//! Rows that could not be loaded: kept with their original values, the file, the line
//! and the reason, appended to `<warehouse>/quarantine/<table>.csv` (docs/ingest.md).

use std::fs::OpenOptions;
use std::path::Path;

use crate::error::{Error, Result};
use crate::model::columns::TableSchema;

#[derive(Debug, Clone)]
pub struct QuarantinedRow {
    /// The row's original field values, one per canonical column (empty when absent).
    pub values: Vec<String>,
    pub file: String,
    /// 1-based line where the record starts (the header is line 1).
    pub line: u64,
    pub reason: String,
    /// The whole record as read (its fields as one CSV line), when its fields do not
    /// fit the header: the values above then cannot hold them all.
    pub record: Option<String>,
}

/// A record's fields as one CSV line (quoted where needed).
pub fn record_text<'a>(fields: impl IntoIterator<Item = &'a str>) -> String {
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    let fields: Vec<&str> = fields.into_iter().collect();
    // Writing to memory cannot fail.
    let _ = writer.write_record(&fields);
    let bytes = writer.into_inner().unwrap_or_default();
    String::from_utf8_lossy(&bytes)
        .trim_end_matches('\n')
        .to_string()
}

/// The quarantine file's header: the table's columns, then where and why.
pub fn header(schema: &TableSchema) -> Vec<String> {
    schema
        .columns
        .iter()
        .map(|c| c.name.to_string())
        .chain(["source_file", "source_line", "reason", "raw_record"].map(String::from))
        .collect()
}

/// Adds the `raw_record` column to a quarantine file an older funnel wrote without it
/// (empty for its rows), so that appended rows line up with the header.
fn upgrade(path: &Path, schema: &TableSchema) -> Result<()> {
    let mut reader = csv::Reader::from_path(path)
        .map_err(|e| Error::Runtime(format!("cannot read `{}`: {e}", path.display())))?;
    let old: Vec<String> = reader
        .headers()
        .map_err(|e| Error::Runtime(format!("cannot read `{}`: {e}", path.display())))?
        .iter()
        .map(String::from)
        .collect();
    let new = header(schema);
    if old == new || old.len() + 1 != new.len() || old[..] != new[..old.len()] {
        return Ok(());
    }
    let tmp = path.with_extension("csv.upgrading");
    let mut writer = csv::Writer::from_path(&tmp)
        .map_err(|e| Error::Runtime(format!("cannot write `{}`: {e}", tmp.display())))?;
    let fail = |e: csv::Error| Error::Runtime(format!("cannot upgrade `{}`: {e}", path.display()));
    writer.write_record(&new).map_err(fail)?;
    for record in reader.records() {
        let record = record.map_err(fail)?;
        writer
            .write_record(record.iter().chain([""]))
            .map_err(fail)?;
    }
    writer
        .flush()
        .map_err(|e| Error::io("cannot write", &tmp, e))?;
    drop(writer);
    std::fs::rename(&tmp, path).map_err(|e| Error::io("cannot replace", path, e))
}

/// Appends rows to `dir/<table>.csv`, writing the header when the file is new.
pub fn append(dir: &Path, schema: &TableSchema, rows: &[QuarantinedRow]) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    std::fs::create_dir_all(dir).map_err(|e| Error::io("cannot create", dir, e))?;
    let path = dir.join(format!("{}.csv", schema.name));
    let is_new = !path.exists()
        || std::fs::metadata(&path)
            .map(|m| m.len() == 0)
            .unwrap_or(true);
    if !is_new {
        upgrade(&path, schema)?;
    }
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|e| Error::io("cannot open", &path, e))?;
    let mut writer = csv::Writer::from_writer(file);
    let write_err =
        |e: csv::Error| Error::Runtime(format!("cannot write `{}`: {e}", path.display()));
    if is_new {
        writer.write_record(header(schema)).map_err(write_err)?;
    }
    for row in rows {
        let line = row.line.to_string();
        let record = row.values.iter().map(String::as_str).chain([
            row.file.as_str(),
            line.as_str(),
            row.reason.as_str(),
            row.record.as_deref().unwrap_or(""),
        ]);
        writer.write_record(record).map_err(write_err)?;
    }
    writer
        .flush()
        .map_err(|e| Error::io("cannot write", &path, e))?;
    drop(writer);
    write_spreadsheet_copy(&path)
}

/// Beside `<table>.csv`, `<table>.for-spreadsheets.csv`: the same rows with every
/// cell a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab, CR first)
/// prefixed with `'`. The quarantine file keeps values verbatim so that fixed rows
/// re-ingest as they were exported; the copy is for opening in a spreadsheet.
fn write_spreadsheet_copy(path: &Path) -> Result<()> {
    let copy = path.with_extension("for-spreadsheets.csv");
    let fail = |e: csv::Error| Error::Runtime(format!("cannot write `{}`: {e}", copy.display()));
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_path(path)
        .map_err(fail)?;
    let tmp = copy.with_extension("csv.tmp");
    let mut writer = csv::Writer::from_path(&tmp).map_err(fail)?;
    for record in reader.records() {
        let record = record.map_err(fail)?;
        writer
            .write_record(record.iter().map(|cell| {
                match cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
                    true => format!("'{cell}"),
                    false => cell.to_string(),
                }
            }))
            .map_err(fail)?;
    }
    writer
        .flush()
        .map_err(|e| Error::io("cannot write", &tmp, e))?;
    drop(writer);
    std::fs::rename(&tmp, &copy).map_err(|e| Error::io("cannot replace", &copy, e))
}
