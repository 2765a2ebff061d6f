//! `funnel warehouse`: verify the versions' files, list the versions, repoint a
//! damaged `current` at an intact version.

use super::{Context, WarehouseAction};
use crate::error::{Error, Result};
use crate::model::lock::WriteLock;
use crate::model::warehouse::Warehouse;
use crate::text::thousands;

pub fn run(action: &WarehouseAction, ctx: &Context) -> Result<()> {
    let warehouse = ctx.warehouse();
    if warehouse.version_ids().is_empty() {
        return Err(Error::Runtime(format!(
            "`{}` holds no warehouse version; run `funnel ingest EXPORT` first",
            warehouse.root().display()
        )));
    }
    match action {
        WarehouseAction::Verify { all } => verify(&warehouse, *all),
        WarehouseAction::Versions => versions(&warehouse),
        WarehouseAction::Repair { to } => repair(&warehouse, to.as_deref(), ctx),
    }
}

/// Checks the current version (or all) against its manifest.
fn verify(warehouse: &Warehouse, all: bool) -> Result<()> {
    let ids = match all {
        true => warehouse.version_ids(),
        // An unusable `current` is reported here with its remedy.
        false => match warehouse.current()? {
            Some(_) => warehouse.current_id().into_iter().collect(),
            None => Vec::new(),
        },
    };
    let mut out = String::new();
    let mut damaged = Vec::new();
    for id in &ids {
        match warehouse.verify(id) {
            Ok(m) if m.files.is_empty() => out.push_str(&format!(
                "{id}: written before funnel recorded its files; nothing to check\n"
            )),
            Ok(m) => out.push_str(&format!("{id}: {} files intact\n", m.files.len())),
            Err(why) => {
                out.push_str(&format!("{id}: DAMAGED: {why}\n"));
                damaged.push(id.clone());
            }
        }
    }
    crate::output::print(&out)?;
    if damaged.is_empty() {
        return Ok(());
    }
    let remedy = match warehouse.newest_intact() {
        Some(id) => {
            format!("`funnel warehouse repair` points `current` at {id}, the newest intact version")
        }
        None => "no intact version is left: restore the folder from a backup".into(),
    };
    Err(Error::Runtime(format!(
        "damaged version(s) {} in `{}`; {remedy}",
        damaged.join(", "),
        warehouse.root().display()
    )))
}

/// One line per version, newest first.
fn versions(warehouse: &Warehouse) -> Result<()> {
    let current = warehouse.current_id();
    let mut out = format!(
        "{:<8}  {:<7}  {:<6}  {:<24}  {:>9}  inputs\n",
        "version", "current", "intact", "ingested at", "rows"
    );
    for id in warehouse.version_ids().iter().rev() {
        let mark = if current.as_deref() == Some(id) {
            "*"
        } else {
            ""
        };
        let line = match warehouse.verify(id) {
            Ok(m) => {
                let run = m.runs.last();
                let rows: u64 = m.tables.values().sum();
                format!(
                    "{id:<8}  {mark:<7}  {:<6}  {:<24}  {:>9}  {}",
                    "yes",
                    run.map_or("?", |r| r.finished_at.as_str()),
                    thousands(rows),
                    run.map(inputs_in_words).unwrap_or_default()
                )
            }
            Err(why) => format!("{id:<8}  {mark:<7}  {:<6}  {why}", "NO"),
        };
        out.push_str(&crate::text::terminal_safe(&line));
        out.push('\n');
    }
    crate::output::print(&out)
}

/// A run's inputs in a few words: `8 files in exports/2026-12-06`.
fn inputs_in_words(run: &crate::model::warehouse::RunRecord) -> String {
    let mut folders: Vec<String> = run
        .inputs
        .iter()
        .map(|i| {
            std::path::Path::new(&i.path)
                .parent()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        })
        .collect();
    folders.dedup();
    let n = run.inputs.len();
    match folders.as_slice() {
        [one] => format!("{n} file(s) in {one}"),
        _ => format!("{n} file(s) in {} folders", folders.len()),
    }
}

/// Points `current` at `to` (verified first), or at the newest intact version.
fn repair(warehouse: &Warehouse, to: Option<&str>, ctx: &Context) -> Result<()> {
    let _lock = WriteLock::acquire(warehouse.root(), std::time::Duration::ZERO)?;
    let id = match to {
        Some(id) => {
            warehouse
                .verify(id)
                .map_err(|why| Error::Runtime(format!("version {id} is not intact: {why}")))?;
            id.to_string()
        }
        None => warehouse.newest_intact().ok_or_else(|| {
            Error::Runtime(format!(
                "no intact version is left in `{}`: restore the folder from a backup",
                warehouse.root().display()
            ))
        })?,
    };
    warehouse.point_current(&id)?;
    ctx.progress.info(format!(
        "`current` now points at {id}; ingests build on it from now on"
    ));
    Ok(())
}
