//! Ingest: native CSV exports into a new warehouse version (docs/ingest.md).
//!
//! The run has three phases, so that a bad input never half-writes the warehouse:
//! 1. read and validate every input file (file-level errors stop here, nothing written);
//! 2. merge each table by its key with what the warehouse holds, into a new version;
//! 3. publish the version (repoint `current`), then append quarantined rows.

pub mod across;
pub mod check;
pub mod mapping;
pub mod native;
pub mod parse;
pub mod partition;
pub mod quarantine;
pub mod records;
pub mod typed;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use polars::prelude::*;

use crate::config::Config;
use crate::error::{Error, PolarsContext, Result};
use crate::model::columns::{self, TableSchema, TABLES};
use crate::model::lock::WriteLock;
use crate::model::warehouse::{
    read_parquet, scan_part, Built, Check, InputRecord, Manifest, RunRecord, TableCounts,
    VersionWriter, Warehouse, FORMAT_VERSION,
};
use crate::observe::{timed, timing, MeterKind, Observer};
use crate::text::thousands;
use partition::Staging;
use quarantine::QuarantinedRow;

/// The folder of a version holding the rows its run quarantined.
const QUARANTINE_COPY: &str = "_quarantine";

/// What to ingest.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// Files or folders of native CSV files named after the tables.
    pub inputs: Vec<PathBuf>,
    /// Replace the tables present in the input instead of merging into them.
    pub replace: bool,
    /// With `replace`, let an input without rows empty a table that has rows.
    pub allow_empty: bool,
    /// How long to wait for another writer to finish.
    pub lock_timeout: std::time::Duration,
    /// Read the inputs as the native format even if the definitions have a mapping.
    pub native: bool,
}

/// The outcome of an ingest, per table in the input.
#[derive(Debug, Clone)]
pub struct IngestSummary {
    pub version: String,
    pub tables: BTreeMap<String, TableCounts>,
}

impl IngestSummary {
    /// One line per table, as printed after a run.
    pub fn lines(&self) -> Vec<String> {
        TABLES
            .iter()
            .filter_map(|t| self.tables.get(t.name).map(|c| (t.name, c)))
            .map(|(name, c)| {
                let mut line = format!(
                    "{name}: {} read, {} loaded, {} quarantined",
                    thousands(c.read),
                    thousands(c.loaded),
                    thousands(c.quarantined)
                );
                if c.merged > 0 {
                    line.push_str(&format!(", {} merged", thousands(c.merged)));
                }
                if c.deleted > 0 {
                    line.push_str(&format!(", {} deleted", thousands(c.deleted)));
                }
                if c.skipped > 0 {
                    line.push_str(&format!(
                        ", {} skipped by the mapping",
                        thousands(c.skipped)
                    ));
                }
                line.push_str(&format!(" ({} rows in the table)", thousands(c.rows)));
                line
            })
            .collect()
    }
}

/// One input file and the table it feeds.
#[derive(Debug, Clone)]
struct InputFile {
    path: PathBuf,
    schema: &'static TableSchema,
}

/// Expands the inputs into table files, in the order given (folders: table order).
fn discover(inputs: &[PathBuf], progress: &dyn Observer) -> Result<Vec<InputFile>> {
    let table_of = |path: &Path| -> Option<&'static TableSchema> {
        let ext_ok = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
        let stem = path.file_stem()?.to_string_lossy().to_lowercase();
        ext_ok.then(|| columns::table(&stem)).flatten()
    };
    let mut files = Vec::new();
    for input in inputs {
        if input.is_dir() {
            let mut found: Vec<InputFile> = Vec::new();
            let entries =
                std::fs::read_dir(input).map_err(|e| Error::io("cannot list", input, e))?;
            let mut paths: Vec<PathBuf> =
                entries.filter_map(|e| e.ok()).map(|e| e.path()).collect();
            paths.sort();
            for path in paths {
                // Definitions and plans (`funnel.toml`, a generated `plan.toml`)
                // travel beside exports: not data, and no cause for a warning.
                let toml = path
                    .extension()
                    .is_some_and(|e| e.eq_ignore_ascii_case("toml"));
                if !path.is_file() || toml {
                    continue;
                }
                match table_of(&path) {
                    Some(schema) => found.push(InputFile { path, schema }),
                    None => progress.warn(&format!(
                        "ignoring `{}`: not a table of the native format ({})",
                        path.display(),
                        table_names()
                    )),
                }
            }
            if found.is_empty() {
                return Err(Error::input(
                    input,
                    format!(
                        "no table files found in this folder (expected {})",
                        table_names()
                    ),
                ));
            }
            found.sort_by_key(|f| TABLES.iter().position(|t| t.name == f.schema.name));
            warn_twice_named(&found, progress);
            files.extend(found);
        } else if input.is_file() {
            let schema = table_of(input).ok_or_else(|| {
                Error::Usage(format!(
                    "`{}` is not named after a table; native files are {}",
                    input.display(),
                    table_names()
                ))
            })?;
            files.push(InputFile {
                path: input.clone(),
                schema,
            });
        } else {
            return Err(Error::input(input, "no such file or folder"));
        }
    }
    Ok(files)
}

/// Warns when one folder holds two files for the same table (`leads.csv` and
/// `LEADS.csv`): both are read and merged, which is seldom what was meant.
fn warn_twice_named(found: &[InputFile], progress: &dyn Observer) {
    for pair in found.windows(2) {
        if pair[0].schema.name == pair[1].schema.name {
            progress.warn(&format!(
                "`{}` and `{}` both hold table `{}`: both are read and merged by key",
                pair[0].path.display(),
                pair[1].path.display(),
                pair[0].schema.name
            ));
        }
    }
}

fn table_names() -> String {
    TABLES
        .iter()
        .map(|t| format!("{}.csv", t.name))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Everything read for one table from all of its input files: the loaded rows are
/// staged on disk by key partition.
struct TableInput {
    staging: Staging,
    /// Key rows the input deletes (mapped inputs; few).
    deletions: Vec<DataFrame>,
    counts: TableCounts,
    quarantined: Vec<QuarantinedRow>,
    collapse_same_stage: bool,
}

/// The partition count for `schema`'s table: what its input and the warehouse's copy
/// need, and never fewer than the warehouse's copy has.
fn partitions(
    warehouse: &Warehouse,
    schema: &TableSchema,
    input_bytes: u64,
    replace: bool,
) -> usize {
    if replace {
        return partition::partitions_for(input_bytes);
    }
    let parts = warehouse.table_parts(schema.name);
    // Parquet holds about a quarter of the CSV's bytes.
    let existing_bytes: u64 = parts
        .iter()
        .map(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .sum();
    partition::partitions_for(input_bytes + 4 * existing_bytes)
        .max(parts.len().max(1).next_power_of_two())
}

fn new_input(
    warehouse: &Warehouse,
    staging_root: &Path,
    schema: &'static TableSchema,
    input_bytes: u64,
    replace: bool,
) -> Result<TableInput> {
    let p = partitions(warehouse, schema, input_bytes, replace);
    Ok(TableInput {
        staging: Staging::new(staging_root, schema.name, schema.key, schema.partition, p)?,
        deletions: Vec::new(),
        counts: TableCounts::default(),
        quarantined: Vec::new(),
        collapse_same_stage: false,
    })
}

/// Phase 1 of the native format: every file streamed, typed and staged.
fn read_native(
    warehouse: &Warehouse,
    staging_root: &Path,
    files: &[InputFile],
    replace: bool,
    tz: chrono_tz::Tz,
    max_record: usize,
    progress: &dyn Observer,
) -> Result<(BTreeMap<&'static str, TableInput>, Vec<InputRecord>)> {
    let size = |f: &InputFile| std::fs::metadata(&f.path).map(|m| m.len()).unwrap_or(0);
    let total_bytes: u64 = files.iter().map(size).sum();
    let bar = progress.meter(MeterKind::Bytes, total_bytes, "reading");
    let mut tables: BTreeMap<&'static str, TableInput> = BTreeMap::new();
    let mut inputs = Vec::new();
    for file in files {
        bar.set_message(file.schema.name);
        if !tables.contains_key(file.schema.name) {
            let bytes: u64 = files
                .iter()
                .filter(|f| f.schema.name == file.schema.name)
                .map(size)
                .sum();
            let input = new_input(warehouse, staging_root, file.schema, bytes, replace)?;
            tables.insert(file.schema.name, input);
        }
        let entry = tables.get_mut(file.schema.name).expect("inserted above");
        let staging = &mut entry.staging;
        // Staging (partitioning and writing to disk) runs on its own thread, beside
        // the parsing and typing of the next rows.
        let read = std::thread::scope(|scope| {
            let (send, receive) = std::sync::mpsc::sync_channel::<DataFrame>(4);
            let stager = std::thread::Builder::new()
                .name("staging".into())
                .spawn_scoped(scope, move || -> Result<()> {
                    for chunk in receive {
                        staging.push(chunk)?;
                    }
                    Ok(())
                })
                .map_err(|e| Error::Runtime(format!("cannot start a thread: {e}")))?;
            let read = native::read_file(
                &file.path,
                file.schema,
                tz,
                max_record,
                |chunk| {
                    send.send(chunk)
                        .map_err(|_| Error::Runtime("staging stopped".into()))
                },
                |n| bar.inc(n),
            );
            drop(send);
            let staged = stager.join().expect("staging thread");
            // A staging failure (a full disk) is the cause when both failed.
            staged.and(read)
        })?;
        if !read.extra_columns.is_empty() {
            progress.warn(&format!(
                "`{}`: ignoring column(s) not in table `{}`: {}",
                file.path.display(),
                file.schema.name,
                crate::text::first_few(&read.extra_columns, 10)
            ));
        }
        inputs.push(InputRecord {
            path: file.path.display().to_string(),
            table: file.schema.name.to_string(),
            blake3: read.blake3,
            bytes: read.bytes,
            rows: read.read,
        });
        entry.counts.read += read.read;
        entry.counts.loaded += read.loaded;
        entry.counts.quarantined += read.quarantined.len() as u64;
        entry.quarantined.extend(read.quarantined);
    }
    bar.finish();
    Ok((tables, inputs))
}

/// Phase 1 through the definitions' mapping.
fn read_mapped(
    warehouse: &Warehouse,
    staging_root: &Path,
    options: &IngestOptions,
    config: &Config,
    through: &crate::config::mapping::Mapping,
    progress: &dyn Observer,
) -> Result<(BTreeMap<&'static str, TableInput>, Vec<InputRecord>)> {
    let read = mapping::read(
        &options.inputs,
        through,
        config.calendar.tz(),
        config.warehouse.max_record_bytes(),
        progress,
    )?;
    let mut tables = BTreeMap::new();
    for (name, t) in read.tables {
        let schema = columns::table(name).expect("mapped tables are canonical");
        // About 100 bytes of CSV per row.
        let rows: u64 = t.frames.iter().map(|f| f.height() as u64).sum();
        let mut input = new_input(warehouse, staging_root, schema, rows * 100, options.replace)?;
        for frame in t.frames {
            input.staging.push(frame)?;
        }
        input.deletions = t.deletions;
        input.counts = t.counts;
        input.quarantined = t.quarantined;
        input.collapse_same_stage = t.collapse_same_stage;
        tables.insert(name, input);
    }
    Ok((tables, read.inputs))
}

/// The warehouse's rows of partition `b` of `p` (None: no such table, or `--replace`).
/// When the table had fewer partitions, its part `b mod p_old` is split.
fn existing_partition(
    schema: &TableSchema,
    parts: &[PathBuf],
    b: usize,
    p: usize,
    split_cache: &mut BTreeMap<usize, Vec<DataFrame>>,
) -> Result<Option<LazyFrame>> {
    if parts.is_empty() {
        return Ok(None);
    }
    let p_old = parts.len();
    if p_old == p {
        return Ok(Some(scan_part(&parts[b])?));
    }
    let old = b % p_old;
    if !split_cache.contains_key(&old) {
        split_cache.clear();
        let df = read_parquet(&parts[old])?;
        split_cache.insert(
            old,
            crate::model::partition::split(&df, schema.partition, p)?,
        );
    }
    Ok(Some(split_cache[&old][b].clone().lazy()))
}

/// An ingest whose new version holds every table, merged, and waits for its derived
/// tables before it is committed ([`Staged::commit`]). Dropped without a commit, it
/// leaves the warehouse as it was.
pub struct Staged<'w> {
    warehouse: &'w Warehouse,
    writer: VersionWriter,
    previous: Option<Manifest>,
    tables: BTreeMap<&'static str, TableInput>,
    inputs: Vec<InputRecord>,
    manifest_tables: BTreeMap<String, u64>,
    partitioned: BTreeMap<String, String>,
    started_at: String,
    preset: Option<String>,
    replace: bool,
    // Held until the commit: one writer at a time.
    _lock: WriteLock,
}

/// Phases 1 and 2 of an ingest into `warehouse`: every input read and validated, then
/// each table merged into a new version, whose files go to disk in the background.
/// On error the warehouse is left as it was.
pub fn stage<'w>(
    warehouse: &'w Warehouse,
    config: &Config,
    options: &IngestOptions,
    progress: &dyn Observer,
) -> Result<Staged<'w>> {
    let started_at = now_rfc3339();
    let through = config.mapping.for_ingest().filter(|_| !options.native);
    let mapped = through.is_some();
    // Native inputs are listed before waiting for the lock, so a bad path fails fast.
    let native_files = if mapped {
        Vec::new()
    } else {
        discover(&options.inputs, progress)?
    };
    // One writer at a time; readers never see a partial version anyway.
    let lock = WriteLock::acquire(warehouse.root(), options.lock_timeout)?;
    // Everything the new version builds on is checked in full first.
    let previous = warehouse.manifest(Check::Full)?;
    // The new version's folder; staged rows live inside it until the commit, and a
    // failed or killed run leaves nothing behind.
    let mut writer = warehouse.begin()?;
    let staging_root = writer.staging_dir();

    // Phase 1: read and validate everything.
    let (mut tables, inputs) = timed("read inputs", || {
        if mapped {
            let through = through.as_ref().expect("mapped");
            read_mapped(warehouse, &staging_root, options, config, through, progress)
        } else {
            read_native(
                warehouse,
                &staging_root,
                &native_files,
                options.replace,
                config.calendar.tz(),
                config.warehouse.max_record_bytes(),
                progress,
            )
        }
    })?;

    // Phase 2: merge into the new version, one key partition at a time.
    let step = progress.meter(MeterKind::Step, 0, "merging");
    let mut manifest_tables = BTreeMap::new();
    let mut partitioned = BTreeMap::new();
    for schema in TABLES {
        let stored = match tables.get_mut(schema.name) {
            Some(input) => {
                step.set_message(&format!("merging {}", schema.name));
                let target = Target {
                    warehouse,
                    writer: &writer,
                    previous: previous.as_ref(),
                    staging_root: &staging_root,
                    replace: options.replace,
                };
                merge_table(schema, input, &target)?;
                refuse_emptying(schema, input, previous.as_ref(), options)?;
                Some(input.counts.rows)
            }
            None => link_table(schema, warehouse, &writer, previous.as_ref())?,
        };
        let Some(rows) = stored else {
            continue;
        };
        manifest_tables.insert(schema.name.to_string(), rows);
        let column = match tables.contains_key(schema.name) {
            true => schema
                .partitioned_off_key()
                .then(|| schema.partition.to_string()),
            // Linked as they are, stored as they were.
            false => previous
                .as_ref()
                .and_then(|m| m.partitioned.get(schema.name).cloned()),
        };
        if let Some(column) = column {
            partitioned.insert(schema.name.to_string(), column);
        }
    }
    step.finish();
    writer.sync_in_background()?;
    Ok(Staged {
        warehouse,
        writer,
        previous,
        tables,
        inputs,
        manifest_tables,
        partitioned,
        started_at,
        preset: mapped.then(|| config.mapping.preset.clone()).flatten(),
        replace: options.replace,
        _lock: lock,
    })
}

/// A `--replace` whose input has no rows would empty a table that has rows: refused
/// unless `--allow-empty` (an export cut short must not wipe a table).
fn refuse_emptying(
    schema: &TableSchema,
    input: &TableInput,
    previous: Option<&Manifest>,
    options: &IngestOptions,
) -> Result<()> {
    let before = previous
        .and_then(|m| m.tables.get(schema.name).copied())
        .unwrap_or(0);
    if !options.replace || options.allow_empty || input.counts.rows > 0 || before == 0 {
        return Ok(());
    }
    Err(Error::Data(format!(
        "--replace with an input of no rows would empty `{}` ({} rows now); pass --allow-empty if that is what you want",
        schema.name,
        thousands(before)
    )))
}

/// Where a table is merged to.
struct Target<'a> {
    warehouse: &'a Warehouse,
    writer: &'a VersionWriter,
    previous: Option<&'a Manifest>,
    staging_root: &'a Path,
    replace: bool,
}

/// Merges the staged input of one table with the warehouse's rows into the new
/// version, partition by partition, and records its counts in `input.counts`.
fn merge_table(
    schema: &'static TableSchema,
    input: &mut TableInput,
    to: &Target<'_>,
) -> Result<()> {
    let started = std::time::Instant::now();
    input.staging.finish()?;
    let (parts, existing_rows) = existing(schema, to)?;
    let p = input.staging.partitions;
    let off_key = schema.partitioned_off_key();
    let deletions = deletions_by_partition(std::mem::take(&mut input.deletions), schema, p)?;
    let restaged = restaged(schema, to, &parts, p)?;
    let mut split_cache = BTreeMap::new();
    let mut old = |b: usize| -> Result<Option<LazyFrame>> {
        match &restaged {
            Some(files) => files[b].as_deref().map(scan_part).transpose(),
            None => existing_partition(schema, &parts, b, p, &mut split_cache),
        }
    };
    // A partition of a table new to the warehouse whose staged keys are all distinct
    // is already merged: its file moves into the version.
    let ready = if parts.is_empty() && !input.collapse_same_stage {
        input.staging.ready_parts()?
    } else {
        vec![None; p]
    };
    // Off the key, rows of one key in different partitions are settled first, unless
    // every key is known to be distinct.
    let distinct = parts.is_empty()
        && (0..p).all(|b| ready[b].is_some() || input.staging.staged_file(b).is_none());
    let losers = match off_key && !distinct {
        true => Some(across::losers(schema, p, &mut old, &input.staging)?),
        false => None,
    };
    let mut tally = Tally::default();
    if let Some(l) = &losers {
        tally.duplicates = l.duplicates;
        tally.examples = l.examples.clone();
    }
    for (b, ready) in ready.into_iter().enumerate() {
        let gone: Vec<DataFrame> = deletions.iter().map(|d| d[b].clone()).collect();
        match (ready, gone.iter().any(|d| d.height() > 0)) {
            (Some((file, n)), false) => {
                to.writer.adopt_part(schema.name, b, &file)?;
                tally.adopted(n as u64);
            }
            _ => {
                let existing = old(b)?;
                let merged = merge_partition(
                    schema,
                    input,
                    existing,
                    losers.as_ref(),
                    b,
                    gone,
                    &mut tally,
                )?;
                to.writer.write_part(schema.name, b, &merged)?;
            }
        }
    }
    timing(
        &format!(
            "merge {} ({p} parts, {} already merged)",
            schema.name, tally.adopted
        ),
        started,
    );
    tally.count_into(&mut input.counts, existing_rows);
    Ok(())
}

/// The warehouse's files of the table (none when the ingest replaces it) and its
/// row count.
fn existing(schema: &TableSchema, to: &Target<'_>) -> Result<(Vec<PathBuf>, u64)> {
    if to.replace {
        return Ok((Vec::new(), 0));
    }
    let rows = match to.warehouse.scan(schema.name)? {
        Some(lf) => count_rows(lf, schema.name)?,
        None => 0,
    };
    Ok((to.warehouse.table_parts(schema.name), rows))
}

/// The warehouse's rows re-partitioned into staged files, one per partition, when
/// they are stored by another column than the table's partition column (an older
/// format); None when they are stored as the merge reads them.
fn restaged(
    schema: &'static TableSchema,
    to: &Target<'_>,
    parts: &[PathBuf],
    p: usize,
) -> Result<Option<Vec<Option<PathBuf>>>> {
    let stored_by = to
        .previous
        .map_or(schema.key[0], |m| m.partition_column(schema));
    if parts.is_empty() || stored_by == schema.partition {
        return Ok(None);
    }
    let dir = to.staging_root.join("_restaged");
    Ok(Some(across::restage(schema, parts, &dir, p)?))
}

/// The input's deletions by partition: split by the key's hash when the table is
/// partitioned by its key; off the key (a deletion names only the key), every
/// partition gets them all.
fn deletions_by_partition(
    deletions: Vec<DataFrame>,
    schema: &TableSchema,
    p: usize,
) -> Result<Vec<Vec<DataFrame>>> {
    deletions
        .iter()
        .map(|d| match schema.partitioned_off_key() {
            true => Ok(vec![d.clone(); p]),
            false => crate::model::partition::split(d, schema.key[0], p),
        })
        .collect()
}

impl Tally {
    /// A partition of `n` rows moved into the version as it was staged.
    fn adopted(&mut self, n: u64) {
        self.before_deletions += n;
        self.rows += n;
        self.adopted += 1;
    }

    /// The table's counts after its merge, from a warehouse that held
    /// `existing_rows` of it: duplicates with five examples, rows merged away, rows.
    fn count_into(mut self, counts: &mut TableCounts, existing_rows: u64) {
        self.examples.sort();
        self.examples.dedup();
        self.examples.truncate(5);
        counts.duplicates = self.duplicates;
        counts.duplicate_examples = self.examples;
        counts.merged = (existing_rows + counts.loaded).saturating_sub(self.before_deletions);
        counts.rows = self.rows;
    }
}

/// What the partitions of one table's merge add up to.
#[derive(Default)]
struct Tally {
    duplicates: u64,
    examples: Vec<String>,
    rows: u64,
    before_deletions: u64,
    adopted: usize,
}

/// Partition `b` of one table: the warehouse's rows and the staged input merged by
/// key, less the rows another partition won (`losers`) and the deleted keys.
fn merge_partition(
    schema: &TableSchema,
    input: &TableInput,
    mut existing: Option<LazyFrame>,
    losers: Option<&across::Losers>,
    b: usize,
    gone: Vec<DataFrame>,
    tally: &mut Tally,
) -> Result<DataFrame> {
    let deletes = gone.iter().any(|d| d.height() > 0);
    let mut frames = input.staging.frames(b)?;
    if let Some(l) = losers {
        existing = existing.map(|e| across::without_rows(e, &l.old[b]));
        if !l.new[b].is_empty() {
            let staged = concat(
                frames.into_iter().map(|f| f.lazy()).collect::<Vec<_>>(),
                UnionArgs::default(),
            )
            .context(|| format!("combining `{}`", schema.name))?;
            frames = vec![across::without_rows(staged, &l.new[b])
                .collect()
                .context(|| format!("merging `{}`", schema.name))?];
        }
    }
    let Merged {
        table: mut merged,
        duplicates,
        examples,
    } = merge(schema, existing, frames)?;
    tally.duplicates += duplicates;
    tally.examples.extend(examples);
    if input.collapse_same_stage {
        merged = collapse_same_stage(schema, merged)?;
    }
    tally.before_deletions += merged.height() as u64;
    if deletes {
        merged = delete_keys(schema, merged, gone)?;
    }
    tally.rows += merged.height() as u64;
    Ok(merged)
}

/// A table the input does not touch: the new version links the warehouse's parts as
/// they are. Its row count, or None when the warehouse has no such table.
fn link_table(
    schema: &TableSchema,
    warehouse: &Warehouse,
    writer: &VersionWriter,
    previous: Option<&Manifest>,
) -> Result<Option<u64>> {
    let parts = warehouse.table_parts(schema.name);
    if parts.is_empty() {
        return Ok(None);
    }
    writer.link_table(schema.name, &parts)?;
    Ok(Some(
        previous
            .and_then(|m| m.tables.get(schema.name).copied())
            .unwrap_or(0),
    ))
}

impl Staged<'_> {
    /// The new version, with every table in place (for its derived tables).
    pub fn writer(&self) -> &VersionWriter {
        &self.writer
    }

    /// The tables stored by a column other than their key ([`Manifest::partitioned`]).
    pub fn partitioned(&self) -> &BTreeMap<String, String> {
        &self.partitioned
    }

    /// Phase 3: publishes the version with its derived tables (`built`: computed for
    /// `config`, with the event instants that date them), then appends the
    /// quarantined rows.
    pub fn commit(self, config: &Config, built: &Built) -> Result<IngestSummary> {
        let counts: BTreeMap<String, TableCounts> = self
            .tables
            .iter()
            .map(|(name, t)| (name.to_string(), t.counts.clone()))
            .collect();
        let mut runs = self.previous.map(|m| m.runs).unwrap_or_default();
        runs.push(RunRecord {
            version: self.writer.id().to_string(),
            started_at: self.started_at,
            finished_at: now_rfc3339(),
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
            definitions_hash: config.definitions_hash(),
            replace: self.replace,
            preset: self.preset,
            inputs: self.inputs,
            tables: counts.clone(),
        });
        let manifest = Manifest {
            format_version: FORMAT_VERSION,
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
            tables: self.manifest_tables,
            partitioned: self.partitioned,
            runs,
            latest_event: built.latest_event,
            later_event: built.later_event,
            derived: built.derived.clone(),
            // Recorded by the commit, from the files as written.
            files: BTreeMap::new(),
        };
        let version = self.writer.id().to_string();
        // The rows this run could not load travel with the version, so that they
        // exist exactly when the run landed, whatever happens to the append below.
        let kept = self.writer.path().join(QUARANTINE_COPY);
        for schema in TABLES {
            if let Some(input) = self.tables.get(schema.name) {
                quarantine::append(&kept, schema, &input.quarantined)?;
            }
        }
        self.writer.commit(
            &manifest,
            crate::model::warehouse::Keep {
                versions: config.warehouse.keep_versions as usize,
                daily: config.warehouse.keep_daily as usize,
            },
        )?;
        append_quarantine(self.warehouse, &self.tables, &version)?;
        Ok(IngestSummary {
            version,
            tables: counts,
        })
    }
}

/// Phase 3's last step: the run landed; what it could not load is added to the
/// warehouse's quarantine files.
fn append_quarantine(
    warehouse: &Warehouse,
    tables: &BTreeMap<&'static str, TableInput>,
    version: &str,
) -> Result<()> {
    for schema in TABLES {
        if let Some(input) = tables.get(schema.name) {
            quarantine::append(&warehouse.quarantine_dir(), schema, &input.quarantined)
                .map_err(|e| {
                    Error::Runtime(format!(
                        "version {version} landed, but its quarantined rows could not be added to `{}`: {e}; they are kept in `{}`",
                        warehouse.quarantine_dir().display(),
                        warehouse
                            .root()
                            .join("versions")
                            .join(version)
                            .join(QUARANTINE_COPY)
                            .display()
                    ))
                })?;
        }
    }
    Ok(())
}

fn count_rows(lf: LazyFrame, table: &str) -> Result<u64> {
    let df = lf
        .select([len().alias("n")])
        .collect()
        .context(|| format!("counting `{table}`"))?;
    let n = df
        .column("n")
        .ok()
        .and_then(|c| c.get(0).ok())
        .and_then(|v| v.extract::<u64>())
        .unwrap_or(0);
    Ok(n)
}

/// A merged partition: the table, and the rows of this run's input that shared a key
/// with another input row, with up to five such keys (the first key column),
/// smallest first.
pub struct Merged {
    pub table: DataFrame,
    pub duplicates: u64,
    pub examples: Vec<String>,
}

/// Merges rows by the table key (docs/ingest.md): among rows with one key the latest
/// `updated_at` wins, a row with `updated_at` beats one without, otherwise the later
/// row wins (existing rows come before new ones; new ones in file order). Output is
/// sorted by key, so the same input always gives the same table. (A partition of a
/// table new to the warehouse whose keys are distinct skips this: see
/// [`partition::Staging::ready_parts`].)
///
/// One sort by (key, `updated_at`, arrival) does it all: each key's rows end up
/// together with the winner last, and input rows sharing a key end up adjacent.
pub fn merge(
    schema: &TableSchema,
    existing: Option<LazyFrame>,
    new: Vec<DataFrame>,
) -> Result<Merged> {
    let empty = || Merged {
        table: DataFrame::empty_with_schema(&schema.polars_schema()),
        duplicates: 0,
        examples: vec![],
    };
    let mut parts: Vec<LazyFrame> = existing
        .into_iter()
        .map(|e| e.with_column(lit(false).alias("__new")))
        .collect();
    parts.extend(
        new.into_iter()
            .map(|f| f.lazy().with_column(lit(true).alias("__new"))),
    );
    if parts.is_empty() {
        // A partition (or a header-only file) with no rows: the typed empty table.
        return Ok(empty());
    }
    let all = concat(
        parts,
        UnionArgs {
            rechunk: false,
            parallel: true,
            maintain_order: true,
            ..Default::default()
        },
    )
    .context(|| format!("combining `{}`", schema.name))?;
    let mut order: Vec<PlSmallStr> = schema
        .key
        .iter()
        .map(|k| PlSmallStr::from_static(k))
        .collect();
    if schema.has_updated_at() {
        order.push("updated_at".into());
    }
    order.push("_seq".into());
    let sorted = all
        .with_row_index("_seq", None)
        .sort(order, SortMultipleOptions::default().with_nulls_last(false))
        .collect()
        .context(|| format!("merging `{}`", schema.name))?;
    if sorted.height() == 0 {
        return Ok(empty());
    }
    // Same key as the row `offset` rows away (nulls equal, the edges never).
    let same_key = |offset: i64| -> Expr {
        schema
            .key
            .iter()
            .map(|k| col(*k).eq_missing(col(*k).shift(lit(offset))))
            .reduce(|a, b| a.and(b))
            .expect("a key")
            .fill_null(lit(false))
    };
    let table = sorted
        .clone()
        .lazy()
        .filter(same_key(-1).not())
        .drop(cols(["_seq", "__new"]))
        .collect()
        .context(|| format!("merging `{}`", schema.name))?;
    let first = schema.key[0];
    let dups = sorted
        .lazy()
        .filter(col("__new"))
        .select([
            col(first).cast(DataType::String).alias("__k"),
            same_key(1).alias("__dup"),
        ])
        .filter(col("__dup"))
        .collect()
        .context(|| format!("counting duplicates in `{}`", schema.name))?;
    let keys = dups.column("__k").expect("selected").str().expect("string");
    let mut examples: Vec<String> = Vec::new();
    for k in keys.iter().flatten() {
        if examples.last().map(String::as_str) != Some(k) {
            examples.push(k.to_string());
            if examples.len() == 5 {
                break;
            }
        }
    }
    Ok(Merged {
        table,
        duplicates: dups.height() as u64,
        examples,
    })
}

/// Stage events: drops a row whose stage equals the same record's previous stage by
/// time (a history row that only changed an amount or a date). The stay keeps the
/// first row's time and amount.
fn collapse_same_stage(schema: &TableSchema, table: DataFrame) -> Result<DataFrame> {
    let id = schema.key[0];
    let previous = col("stage")
        .shift(lit(1))
        .over([col(id)])
        .context(|| format!("folding repeated stages of `{}`", schema.name))?;
    table
        .lazy()
        .sort(
            [id, "entered_at"],
            SortMultipleOptions::default().with_maintain_order(true),
        )
        .filter(previous.neq_missing(col("stage")))
        .sort(
            schema.key.to_vec(),
            SortMultipleOptions::default().with_maintain_order(true),
        )
        .collect()
        .context(|| format!("folding repeated stages of `{}`", schema.name))
}

/// Removes the rows whose key a deletion names.
fn delete_keys(
    schema: &TableSchema,
    table: DataFrame,
    deletions: Vec<DataFrame>,
) -> Result<DataFrame> {
    let key: Vec<Expr> = schema.key.iter().map(|k| col(*k)).collect();
    let parts: Vec<LazyFrame> = deletions
        .into_iter()
        .map(|d| d.lazy().select(key.clone()))
        .collect();
    let gone = concat(parts, UnionArgs::default())
        .context(|| format!("combining deletions of `{}`", schema.name))?;
    table
        .lazy()
        .join(gone, key.clone(), key, JoinArgs::new(JoinType::Anti))
        .collect()
        .context(|| format!("deleting keys of `{}`", schema.name))
}

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::typed::{ColumnFormat, TableBuilder};
    use crate::model::columns::LEADS;

    /// Leads rows of (lead_id, updated_at, source), the source marking each row.
    fn leads(rows: &[(&str, &str, &str)]) -> DataFrame {
        let formats = vec![ColumnFormat::native(chrono_tz::Tz::UTC); LEADS.columns.len()];
        let mut b = TableBuilder::new(&LEADS, formats);
        for (i, (id, updated, source)) in rows.iter().enumerate() {
            let raw = [
                *id,
                "2025-01-01T00:00:00Z",
                source,
                "",
                "",
                "",
                "",
                "",
                updated,
            ];
            assert!(b.push(&raw, "test", i as u64 + 2).unwrap());
        }
        b.finish().unwrap().0
    }

    fn column(df: &DataFrame, name: &str) -> Vec<String> {
        let c = df.column(name).unwrap().str().unwrap().clone();
        c.iter().map(|v| v.unwrap_or("").to_string()).collect()
    }

    #[test]
    fn merge_keeps_the_winner_of_each_key_and_counts_input_duplicates() {
        let existing = leads(&[("A", "2025-01-02T00:00:00Z", "old-a"), ("B", "", "old-b")]);
        let new = vec![
            leads(&[
                ("C", "", "c1"),
                ("A", "", "new-a"),
                ("C", "2025-02-01T00:00:00Z", "c2"),
                ("D", "", "d1"),
            ]),
            leads(&[("C", "", "c3"), ("D", "", "d2")]),
        ];
        let merged = merge(&LEADS, Some(existing.lazy()), new).unwrap();
        // Sorted by key. A: the existing row has updated_at, the new one none. C: the
        // only row with updated_at. D: neither has one, the later row wins.
        assert_eq!(column(&merged.table, "lead_id"), ["A", "B", "C", "D"]);
        assert_eq!(
            column(&merged.table, "source"),
            ["old-a", "old-b", "c2", "d2"]
        );
        // Input rows sharing a key with another input row: C thrice (2), D twice (1);
        // A's new row meets only an existing row.
        assert_eq!(merged.duplicates, 3);
        assert_eq!(merged.examples, ["C", "D"]);
        assert_eq!(merged.table.width(), LEADS.columns.len());
    }

    #[test]
    fn merge_of_nothing_is_the_typed_empty_table() {
        let merged = merge(&LEADS, None, vec![]).unwrap();
        assert_eq!(merged.table.height(), 0);
        assert_eq!(merged.table.width(), LEADS.columns.len());
        assert_eq!(merged.duplicates, 0);
    }
}
