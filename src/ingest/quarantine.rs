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
}

/// The quarantine file's header: the table's columns, then where and why.
pub fn header(schema: &TableSchema) -> Vec<String> {
    schema
        .columns
        .iter()
        .map(|c| c.name.to_string())
        .chain(["source_file", "source_line", "reason"].map(String::from))
        .collect()
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
        ]);
        writer.write_record(record).map_err(write_err)?;
    }
    writer
        .flush()
        .map_err(|e| Error::io("cannot write", &path, e))?;
    Ok(())
}
