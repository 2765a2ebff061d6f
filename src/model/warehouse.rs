//! The warehouse on disk (docs/tables.md): versioned folders of Parquet tables, the
//! `current` symlink, the manifest. The one place that reads and writes Parquet.
//!
//! Layout:
//! ```text
//! <warehouse>/current -> versions/v000042        (symlink, repointed atomically)
//! <warehouse>/versions/v000042/<table>/part-0.parquet   (part-1, … for a large table,
//!                                                   each holding a hash range of keys)
//! <warehouse>/versions/v000042/_manifest.json
//! <warehouse>/quarantine/<table>.csv
//! ```
//! A run writes a temporary folder, renames it into `versions/`, then replaces
//! `current` with a rename: readers see the old version or the new one, never a mix.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use polars::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Error, PolarsContext, Result};
use crate::model::columns::{TableSchema, TABLES};
use crate::model::parquet::{TableWriter, ROW_GROUP_ROWS};

/// The on-disk format this build reads and writes. Version 2 stores `touches`
/// partitioned by lead (recorded per table in [`Manifest::partitioned`]); it reads
/// version 1, and its next ingest of touches re-partitions them.
pub const FORMAT_VERSION: u32 = 2;

/// The file of partition `index` of a table.
pub fn part_name(index: usize) -> String {
    format!("part-{index}.parquet")
}

/// The partition index of a part file's name.
fn part_index(name: &str) -> Option<usize> {
    name.strip_prefix("part-")?
        .strip_suffix(".parquet")?
        .parse()
        .ok()
}
const MANIFEST: &str = "_manifest.json";
const STAGING: &str = "_staging";
/// The folder of a version holding its derived tables.
pub const DERIVED: &str = "_derived";

/// The file of derived table `name` in a version folder.
fn derived_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(DERIVED).join(format!("{name}.parquet"))
}

/// The part files of `table` in a version folder, in partition order.
fn parts_in(dir: &Path, table: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir.join(table)) else {
        return vec![];
    };
    let mut parts: Vec<(usize, PathBuf)> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            part_index(&name).map(|i| (i, e.path()))
        })
        .collect();
    parts.sort();
    parts.into_iter().map(|(_, p)| p).collect()
}

/// One scan per part of `table` in a version folder, in partition order, when its
/// files are exactly `part-0` to `part-<n-1>` (n > 1); otherwise none.
fn part_scans_in(dir: &Path, table: &str) -> Result<Vec<LazyFrame>> {
    let parts = parts_in(dir, table);
    let numbered = parts
        .iter()
        .enumerate()
        .all(|(i, p)| p.file_name().and_then(|n| part_index(&n.to_string_lossy())) == Some(i));
    if parts.len() < 2 || !numbered {
        return Ok(Vec::new());
    }
    parts.iter().map(|p| scan_part(p)).collect()
}

/// One lazy scan over a table's parts (in partition order), so that the engine sees
/// a single source; None when there are none.
fn scan_parts(table: &str, parts: &[PathBuf]) -> Result<Option<LazyFrame>> {
    if parts.is_empty() {
        return Ok(None);
    }
    let paths: Vec<PlRefPath> = parts
        .iter()
        .map(|p| PlRefPath::new(p.to_string_lossy().to_string()))
        .collect();
    let lf = LazyFrame::scan_parquet_files(paths.into(), ScanArgsParquet::default())
        .context(|| format!("cannot read the parts of `{table}`"))?;
    Ok(Some(lf))
}

/// Every table present in a version folder, by name.
fn scan_version(dir: &Path) -> Result<BTreeMap<&'static str, LazyFrame>> {
    let mut out = BTreeMap::new();
    for schema in TABLES {
        if let Some(lf) = scan_parts(schema.name, &parts_in(dir, schema.name))? {
            out.insert(schema.name, lf);
        }
    }
    Ok(out)
}

/// A lazy scan of one Parquet file.
pub fn scan_part(path: &Path) -> Result<LazyFrame> {
    let path_str = path.to_string_lossy().to_string();
    LazyFrame::scan_parquet(PlRefPath::new(path_str), ScanArgsParquet::default())
        .context(|| format!("cannot read `{}`", path.display()))
}

pub struct Warehouse {
    root: PathBuf,
    /// A version read in place of `current` (`--as-known-at`): what the warehouse
    /// held then. Only reading commands pin one.
    pinned: Option<String>,
}

/// The manifest: what is in this version and how each run got it there.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Manifest {
    pub format_version: u32,
    pub tool_version: String,
    /// Rows per table in this version.
    pub tables: BTreeMap<String, u64>,
    /// Every ingest that led here, oldest first.
    pub runs: Vec<RunRecord>,
    /// The latest event instant in this version (UTC µs): the default `as_of` of
    /// every number, recorded so that reading it needs no scan of the touches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_event: Option<i64>,
    /// The earliest event after it, when the version holds events dated after its
    /// ingest (a typo in a year?): the derived frames, cut at `latest_event`, do not
    /// describe a moment at or after this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub later_event: Option<i64>,
    /// Frames every metric builds on, computed at ingest for the definitions then in
    /// force, and used only while `funnel.toml` still hashes the same.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub derived: Option<Derived>,
    /// Per table, the column whose hash picks a row's partition, where it is not the
    /// first key column (format 2: `touches` by `lead_id`). A table absent here is
    /// partitioned by its first key column.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub partitioned: BTreeMap<String, String>,
    /// Every file of the version (path relative to its folder, `/`-separated) with
    /// its size and BLAKE3 hash, checked before the version is read or built on.
    /// Empty in versions written before funnel recorded them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub files: BTreeMap<String, FileRecord>,
}

/// Which versions an ingest keeps (`[warehouse]`): the newest `versions`, and the last
/// version of each of the last `daily` days.
#[derive(Debug, Clone, Copy)]
pub struct Keep {
    pub versions: usize,
    pub daily: usize,
}

/// When a version was committed: its last run's end (UTC µs).
fn committed_at(manifest: &Manifest) -> Option<i64> {
    let run = manifest.runs.last()?;
    chrono::DateTime::parse_from_rfc3339(&run.finished_at)
        .ok()
        .map(|t| t.timestamp_micros())
}

/// What the derived tables' build records for the manifest: the event instants
/// that date the version, and the frames computed ahead.
pub struct Built {
    pub latest_event: Option<i64>,
    /// The first event after it, dated after the ingest's own time.
    pub later_event: Option<i64>,
    pub derived: Option<Derived>,
}

/// One file of a version, as its manifest records it.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq, Eq)]
pub struct FileRecord {
    pub bytes: u64,
    pub blake3: String,
    /// Its modification time when recorded (nanoseconds since the epoch): a file
    /// with the same size and time is taken as unchanged by the quick check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified_ns: Option<i128>,
}

/// How closely [`verify_files`] looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// Every file's size and modification time; a file whose time moved is hashed.
    /// What every read does (a million leads' version: milliseconds).
    Quick,
    /// Every file hashed: `funnel warehouse verify`, and before an ingest builds on
    /// the version.
    Full,
}

impl Manifest {
    /// The column `schema`'s table is partitioned by in this version.
    pub fn partition_column<'a>(&'a self, schema: &'a TableSchema) -> &'a str {
        self.partitioned
            .get(schema.name)
            .map(String::as_str)
            .unwrap_or(schema.key[0])
    }
}

/// Derived tables of a version: `_derived/<name>.parquet`, valid for one definitions
/// hash. They are a cache: a reader with other definitions computes them itself.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq, Eq)]
pub struct Derived {
    pub definitions_hash: String,
    pub tables: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct RunRecord {
    pub version: String,
    pub started_at: String,
    pub finished_at: String,
    pub tool_version: String,
    pub definitions_hash: String,
    pub replace: bool,
    /// The shipped mapping the inputs were read through, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preset: Option<String>,
    pub inputs: Vec<InputRecord>,
    pub tables: BTreeMap<String, TableCounts>,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct InputRecord {
    pub path: String,
    pub table: String,
    pub blake3: String,
    pub bytes: u64,
    pub rows: u64,
}

/// Row counts of one table in one run.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq, Eq)]
pub struct TableCounts {
    /// Data rows in the input files.
    pub read: u64,
    /// Rows that parsed and entered the merge.
    pub loaded: u64,
    /// Rows sent to quarantine.
    pub quarantined: u64,
    /// Loaded rows that collapsed into another row with the same key.
    pub merged: u64,
    /// Input rows that delete their key (`IsDeleted = 1` through a mapping).
    pub deleted: u64,
    /// Mapped rows left out on purpose: filtered by the mapping (`where`, `require`)
    /// or standing for another record (an alias).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub skipped: u64,
    /// Rows in the table after the run.
    pub rows: u64,
    /// Loaded rows whose key another loaded row of this run also had.
    #[serde(default)]
    pub duplicates: u64,
    /// Up to five such keys, smallest first.
    #[serde(default)]
    pub duplicate_examples: Vec<String>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Warehouse {
    pub fn new(root: impl Into<PathBuf>) -> Warehouse {
        Warehouse {
            root: root.into(),
            pinned: None,
        }
    }

    /// The same warehouse read as version `id` instead of `current`.
    pub fn pinned(self, id: &str) -> Warehouse {
        Warehouse {
            pinned: Some(id.to_string()),
            ..self
        }
    }

    /// The version that was current at `until` (UTC µs): the latest one committed
    /// at or before it (by its manifest's last run), among those still kept.
    pub fn version_at(&self, until: i64) -> Result<Option<String>> {
        let mut best = None;
        for id in self.version_ids() {
            let dir = self.root.join("versions").join(&id);
            let Ok(manifest) = read_manifest(&dir) else {
                continue;
            };
            if committed_at(&manifest).is_some_and(|t| t <= until) {
                best = Some(id);
            }
        }
        Ok(best)
    }

    /// Each kept version with when it was committed (UTC µs), oldest first.
    pub fn version_times(&self) -> Vec<(String, Option<i64>)> {
        self.version_ids()
            .into_iter()
            .map(|id| {
                let t = read_manifest(&self.root.join("versions").join(&id))
                    .ok()
                    .and_then(|m| committed_at(&m));
                (id, t)
            })
            .collect()
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn current_link(&self) -> PathBuf {
        self.root.join("current")
    }

    pub fn quarantine_dir(&self) -> PathBuf {
        self.root.join("quarantine")
    }

    /// The folder of the current version, if the warehouse has one (for reading its
    /// files once [`Warehouse::current`] has vouched for it).
    pub fn current_dir(&self) -> Option<PathBuf> {
        if let Some(id) = &self.pinned {
            let dir = self.root.join("versions").join(id);
            return dir.is_dir().then_some(dir);
        }
        let target = std::fs::read_link(self.current_link()).ok()?;
        let dir = self.root.join(target);
        dir.is_dir().then_some(dir)
    }

    /// The folder of the current version; None when the warehouse holds no version
    /// at all (no folder, or nothing ingested yet). An error, naming the newest
    /// intact version and the command that repoints to it, when versions exist but
    /// `current` does not lead to one: nothing may read a guess or build on nothing.
    pub fn current(&self) -> Result<Option<PathBuf>> {
        if let Some(id) = &self.pinned {
            let dir = self.root.join("versions").join(id);
            return match dir.join(MANIFEST).is_file() {
                true => Ok(Some(dir)),
                false => Err(Error::Usage(format!(
                    "there is no version `{id}` in `{}` (`funnel warehouse versions` lists them)",
                    self.root.display()
                ))),
            };
        }
        let link = self.current_link();
        match std::fs::symlink_metadata(&link) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                match self.version_ids().is_empty() {
                    true => Ok(None),
                    false => Err(self.damaged("`current` is missing")),
                }
            }
            Err(e) => Err(Error::io("cannot read", &link, e)),
            Ok(m) if !m.file_type().is_symlink() => {
                Err(self.damaged("`current` is not a link to a version"))
            }
            Ok(_) => {
                let target =
                    std::fs::read_link(&link).map_err(|e| Error::io("cannot read", &link, e))?;
                let dir = self.root.join(&target);
                match dir.join(MANIFEST).is_file() {
                    true => Ok(Some(dir)),
                    false => Err(self.damaged(&format!(
                        "`current` points to `{}`, which is missing or has no manifest",
                        target.display()
                    ))),
                }
            }
        }
    }

    /// The ids of the published versions (`v000001`, …), oldest first.
    pub fn version_ids(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(self.root.join("versions")) else {
            return Vec::new();
        };
        let mut ids: Vec<String> = entries
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().to_string())
            .filter(|n| {
                n.len() > 1 && n.starts_with('v') && n[1..].bytes().all(|b| b.is_ascii_digit())
            })
            .collect();
        ids.sort();
        ids
    }

    /// The newest version whose manifest reads and whose files match it.
    pub fn newest_intact(&self) -> Option<String> {
        self.version_ids()
            .into_iter()
            .rev()
            .find(|id| self.verify(id).is_ok())
    }

    /// Checks version `id` against its manifest: its manifest when every file it
    /// records is there, whole and unchanged; otherwise what is wrong.
    pub fn verify(&self, id: &str) -> std::result::Result<Manifest, String> {
        let dir = self.root.join("versions").join(id);
        if !dir.is_dir() {
            return Err(format!("there is no version `{id}`"));
        }
        let manifest = read_manifest(&dir).map_err(|e| e.to_string())?;
        verify_files(&dir, &manifest, Check::Full)?;
        Ok(manifest)
    }

    /// The id of the version `current` points at, when it points at one.
    pub fn current_id(&self) -> Option<String> {
        let dir = self.current_dir()?;
        Some(dir.file_name()?.to_string_lossy().to_string())
    }

    /// Points `current` at version `id`, atomically (a new link renamed over it).
    pub fn point_current(&self, id: &str) -> Result<()> {
        let link = self.current_link();
        let tmp_link = self.root.join(format!(".current-{}", std::process::id()));
        let _ = std::fs::remove_file(&tmp_link);
        let target = Path::new("versions").join(id);
        symlink(&target, &tmp_link).map_err(|e| Error::io("cannot create", &tmp_link, e))?;
        std::fs::rename(&tmp_link, &link).map_err(|e| Error::io("cannot repoint", &link, e))?;
        if let Ok(dir) = File::open(&self.root) {
            let _ = dir.sync_all();
        }
        Ok(())
    }

    /// What to say when the warehouse cannot be used as it is.
    fn damaged(&self, what: &str) -> Error {
        let remedy = match self.newest_intact() {
            Some(id) => format!(
                "the newest intact version is {id}; `funnel warehouse repair` points `current` at it"
            ),
            None => "no intact version is left: restore the folder from a backup, or ingest into a new warehouse".into(),
        };
        Error::Runtime(format!(
            "the warehouse `{}` is damaged: {what}; {remedy} (nothing was read or written)",
            self.root.display()
        ))
    }

    /// The mapping preset the current version's last ingest read its inputs through,
    /// if any (the manifest read as it is: the command that reads data checks it).
    pub fn recorded_preset(&self) -> Option<String> {
        let manifest = read_manifest(&self.current_dir()?).ok()?;
        manifest.runs.last()?.preset.clone()
    }

    /// The manifest of the current version; checks the format version and that
    /// every file the manifest records is there and unchanged, as closely as
    /// `check` says.
    pub fn manifest(&self, check: Check) -> Result<Option<Manifest>> {
        let Some(dir) = self.current()? else {
            return Ok(None);
        };
        let manifest = read_manifest(&dir)?;
        verify_files(&dir, &manifest, check).map_err(|why| self.damaged(&why))?;
        if manifest.format_version > FORMAT_VERSION {
            return Err(Error::Runtime(format!(
                "the warehouse `{}` has format version {}, newer than this funnel understands ({}); upgrade funnel (it is {})",
                self.root.display(),
                manifest.format_version,
                FORMAT_VERSION,
                env!("CARGO_PKG_VERSION")
            )));
        }
        Ok(Some(manifest))
    }

    /// The Parquet part files of `table` in the current version, in partition order
    /// (empty when the table is absent).
    pub fn table_parts(&self, table: &str) -> Vec<PathBuf> {
        match self.current_dir() {
            Some(dir) => parts_in(&dir, table),
            None => vec![],
        }
    }

    /// One scan per partition of `table` in the current version (see
    /// [`Tables::touch_parts`](crate::metrics::model::Tables::touch_parts)); empty
    /// unless it has two or more numbered parts.
    pub fn part_scans(&self, table: &str) -> Result<Vec<LazyFrame>> {
        match self.current_dir() {
            Some(dir) => part_scans_in(&dir, table),
            None => Ok(Vec::new()),
        }
    }

    /// A lazy scan of `table` in the current version (None when the table is absent).
    pub fn scan(&self, table: &str) -> Result<Option<LazyFrame>> {
        scan_parts(table, &self.table_parts(table))
    }

    /// Every table present in the current version, by name.
    pub fn scan_all(&self) -> Result<BTreeMap<&'static str, LazyFrame>> {
        match self.current_dir() {
            Some(dir) => scan_version(&dir),
            None => Ok(BTreeMap::new()),
        }
    }

    /// A derived table of the current version (see [`Derived`]), if the manifest
    /// lists it for exactly these definitions and its file is there.
    pub fn scan_derived(
        &self,
        manifest: Option<&Manifest>,
        definitions_hash: &str,
        name: &str,
    ) -> Result<Option<LazyFrame>> {
        let Some(derived) = manifest.and_then(|m| m.derived.as_ref()) else {
            return Ok(None);
        };
        if derived.definitions_hash != definitions_hash || !derived.tables.iter().any(|t| t == name)
        {
            return Ok(None);
        }
        let Some(dir) = self.current_dir() else {
            return Ok(None);
        };
        let path = derived_path(&dir, name);
        if !path.is_file() {
            return Ok(None);
        }
        scan_part(&path).map(Some)
    }

    /// Starts writing a new version. Leftovers of killed runs are removed first.
    pub fn begin(&self) -> Result<VersionWriter> {
        let versions = self.root.join("versions");
        std::fs::create_dir_all(&versions).map_err(|e| Error::io("cannot create", &versions, e))?;
        let mut next = 1;
        for entry in
            std::fs::read_dir(&versions).map_err(|e| Error::io("cannot list", &versions, e))?
        {
            let entry = entry.map_err(|e| Error::io("cannot list", &versions, e))?;
            let name = entry.file_name().to_string_lossy().to_string();
            if name.starts_with(".tmp-") {
                // A run that died before committing; nothing points at it.
                let _ = std::fs::remove_dir_all(entry.path());
            } else if let Some(n) = name.strip_prefix('v').and_then(|n| n.parse::<u64>().ok()) {
                next = next.max(n + 1);
            }
        }
        let id = format!("v{next:06}");
        let tmp = versions.join(format!(".tmp-{id}-{}", std::process::id()));
        std::fs::create_dir_all(&tmp).map_err(|e| Error::io("cannot create", &tmp, e))?;
        Ok(VersionWriter {
            root: self.root.clone(),
            id,
            _on_signal: crate::interrupt::register(tmp.clone()),
            tmp,
            committed: false,
            syncing: None,
        })
    }

    /// Removes all but the newest `keep.versions` versions and the last version of
    /// each of the last `keep.daily` days (never the current one).
    fn prune(&self, keep: Keep) -> Result<()> {
        let versions = self.root.join("versions");
        let mut ids: Vec<String> = std::fs::read_dir(&versions)
            .map_err(|e| Error::io("cannot list", &versions, e))?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().to_string())
            .filter(|n| n.starts_with('v'))
            .collect();
        ids.sort();
        let current = self.current_dir();
        let excess = ids.len().saturating_sub(keep.versions);
        let daily = self.daily_keepers(keep.daily);
        for id in &ids[..excess] {
            let dir = versions.join(id);
            if Some(&dir) == current.as_ref() || daily.contains(id) {
                continue;
            }
            // Removed while held, so that no reader leases it meanwhile.
            if let Some(_held) = unread(&dir) {
                let _ = std::fs::remove_dir_all(&dir);
            }
        }
        Ok(())
    }

    /// The last version committed on each of the last `days` days (UTC dates, counted
    /// back from the newest version's): the nightly history `keep_daily` keeps.
    fn daily_keepers(&self, days: usize) -> Vec<String> {
        if days == 0 {
            return Vec::new();
        }
        let dated: Vec<(String, chrono::NaiveDate)> = self
            .version_times()
            .into_iter()
            .filter_map(|(id, t)| {
                Some((
                    id,
                    chrono::DateTime::from_timestamp_micros(t?)?.date_naive(),
                ))
            })
            .collect();
        let Some(newest) = dated.iter().map(|(_, d)| *d).max() else {
            return Vec::new();
        };
        let first = newest - chrono::Duration::days(days as i64 - 1);
        let mut last_of_day: BTreeMap<chrono::NaiveDate, String> = BTreeMap::new();
        for (id, d) in dated {
            if d >= first {
                // Ids grow with time: the later id of a day wins.
                last_of_day.insert(d, id);
            }
        }
        last_of_day.into_values().collect()
    }

    /// The current version's manifest, its files verified, with a lease that keeps
    /// the version from being pruned while this process reads it (held until the
    /// returned file is dropped). A version pruned between finding it and taking
    /// the lease is looked up once more.
    pub fn open_current(&self) -> Result<Option<(Manifest, File)>> {
        for _ in 0..2 {
            let Some(dir) = self.current()? else {
                return Ok(None);
            };
            let Ok(lease) = File::open(&dir) else {
                continue;
            };
            if lease.lock_shared().is_err() || !dir.join(MANIFEST).is_file() {
                continue;
            }
            return match self.manifest(Check::Quick)? {
                Some(m) => Ok(Some((m, lease))),
                None => Ok(None),
            };
        }
        Err(self.damaged("`current` moved away twice while it was being opened"))
    }
}

/// A version being written. Dropped without `commit`, it removes its folder.
pub struct VersionWriter {
    root: PathBuf,
    id: String,
    tmp: PathBuf,
    committed: bool,
    /// Flushing the files written so far, beside the work that follows
    /// ([`VersionWriter::sync_in_background`]).
    syncing: Option<std::thread::JoinHandle<Result<()>>>,
    /// Removes the temporary folder if the process is stopped by a signal.
    _on_signal: crate::interrupt::Registered,
}

impl VersionWriter {
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Writes `df` as partition `index` of the table in the new version.
    pub fn write_part(&self, table: &str, index: usize, df: &DataFrame) -> Result<()> {
        let dir = self.tmp.join(table);
        std::fs::create_dir_all(&dir).map_err(|e| Error::io("cannot create", &dir, e))?;
        write_parquet(&dir.join(part_name(index)), df)
    }

    /// Moves a file already in the warehouse's format (a staged partition that needed
    /// no merge) into the new version as part `index` of `table`.
    pub fn adopt_part(&self, table: &str, index: usize, file: &Path) -> Result<()> {
        let dir = self.tmp.join(table);
        std::fs::create_dir_all(&dir).map_err(|e| Error::io("cannot create", &dir, e))?;
        let path = dir.join(part_name(index));
        std::fs::rename(file, &path).map_err(|e| Error::io("cannot move", file, e))
    }

    /// Shares an unchanged table's part files with the new version (hard links, else
    /// copies).
    pub fn link_table(&self, table: &str, parts: &[PathBuf]) -> Result<()> {
        let dir = self.tmp.join(table);
        std::fs::create_dir_all(&dir).map_err(|e| Error::io("cannot create", &dir, e))?;
        for existing in parts {
            let path = dir.join(existing.file_name().expect("part file name"));
            if std::fs::hard_link(existing, &path).is_err() {
                std::fs::copy(existing, &path)
                    .map_err(|e| Error::io("cannot copy", existing, e))?;
            }
        }
        Ok(())
    }

    /// One scan per partition of `table` written into the new version (see
    /// [`Warehouse::part_scans`]).
    pub fn part_scans(&self, table: &str) -> Result<Vec<LazyFrame>> {
        part_scans_in(&self.tmp, table)
    }

    /// Every table written or linked so far into the new version, by name.
    pub fn scan_all(&self) -> Result<BTreeMap<&'static str, LazyFrame>> {
        scan_version(&self.tmp)
    }

    /// A lazy scan of a derived table written into the new version.
    pub fn scan_derived(&self, name: &str) -> Result<LazyFrame> {
        scan_part(&derived_path(&self.tmp, name))
    }

    /// Streams the rows of `lf` into a derived table of the new version
    /// (`_derived/<name>.parquet`): polars' streaming engine hands over the rows in
    /// batches of one row group, which the warehouse's own writer encodes as they
    /// come, so that the table is never held in memory whole. (polars' own Parquet
    /// writer took 0.42–0.57 s for the 1 M-row lead funnel in memory, this one
    /// 0.17–0.21 s: it leaves timestamps uncompressed and builds a text column's
    /// dictionary straight from its views.)
    pub fn sink_derived(&self, name: &str, mut lf: LazyFrame) -> Result<()> {
        let dir = self.tmp.join(DERIVED);
        std::fs::create_dir_all(&dir).map_err(|e| Error::io("cannot create", &dir, e))?;
        let path = derived_path(&self.tmp, name);
        let cannot = || format!("cannot write `{}`", path.display());
        let schema = lf.collect_schema().context(cannot)?;
        let writer = Arc::new(Mutex::new(Some(TableWriter::create(&path, &schema)?)));
        let batches = Arc::clone(&writer);
        let write = PlanCallback::new(move |df: DataFrame| {
            let mut writer = batches.lock().expect("derived writer");
            writer
                .as_mut()
                .expect("open until the query ends")
                .write_group(&df)?;
            // Never stop the query early.
            Ok(false)
        });
        lf.sink_batches(write, true, std::num::NonZeroUsize::new(ROW_GROUP_ROWS))
            .and_then(|lf| lf.collect_with_engine(Engine::Streaming))
            .context(cannot)?;
        let writer = writer
            .lock()
            .expect("derived writer")
            .take()
            .expect("taken once");
        writer.finish().context(cannot)?;
        Ok(())
    }

    /// The folder of the version being written (renamed into `versions/` on commit).
    pub fn path(&self) -> &Path {
        &self.tmp
    }

    /// A scratch folder inside the new version for rows staged during the run;
    /// removed before the version is published (and with it if the run dies).
    pub fn staging_dir(&self) -> PathBuf {
        self.tmp.join(STAGING)
    }

    /// Starts flushing to disk, on a thread of its own, the files the version holds
    /// now (not the staged rows, which the commit removes), so that the commit's
    /// flush finds them on disk already instead of waiting for them after the work
    /// in between (the derived tables). An earlier such flush is waited for first,
    /// and its error returned: a failed flush is never retried as if nothing had
    /// happened.
    pub fn sync_in_background(&mut self) -> Result<()> {
        self.wait_for_sync()?;
        let (dir, staging) = (self.tmp.clone(), self.staging_dir());
        self.syncing = Some(std::thread::spawn(move || sync_tree(&dir, &staging)));
        Ok(())
    }

    /// Waits for [`VersionWriter::sync_in_background`]'s flush, if any.
    fn wait_for_sync(&mut self) -> Result<()> {
        match self.syncing.take() {
            Some(thread) => thread.join().expect("sync thread"),
            None => Ok(()),
        }
    }

    /// Writes the manifest, publishes the version and repoints `current` at it.
    pub fn commit(mut self, manifest: &Manifest, keep: Keep) -> Result<()> {
        self.wait_for_sync()?;
        let staging = self.staging_dir();
        if staging.exists() {
            std::fs::remove_dir_all(&staging)
                .map_err(|e| Error::io("cannot remove", &staging, e))?;
        }
        let mut manifest = manifest.clone();
        manifest.files = crate::observe::timed("checksums", || record_files(&self.tmp))?;
        let path = self.tmp.join(MANIFEST);
        let text = serde_json::to_string_pretty(&manifest).expect("manifest serialises");
        std::fs::write(&path, text + "\n").map_err(|e| Error::io("cannot write", &path, e))?;
        crate::observe::timed("sync to disk", || sync_tree(&self.tmp, &staging))?;
        let final_dir = self.root.join("versions").join(&self.id);
        std::fs::rename(&self.tmp, &final_dir)
            .map_err(|e| Error::io("cannot publish", &final_dir, e))?;
        self.committed = true;
        let warehouse = Warehouse::new(&self.root);
        warehouse.point_current(&self.id)?;
        warehouse.prune(keep)
    }
}

impl Drop for VersionWriter {
    fn drop(&mut self) {
        if !self.committed {
            // Not while the flush is still reading the folder.
            let _ = self.wait_for_sync();
            let _ = std::fs::remove_dir_all(&self.tmp);
        }
    }
}

#[cfg(unix)]
fn symlink(target: &Path, link: &Path) -> std::io::Result<()> {
    std::os::unix::fs::symlink(target, link)
}

#[cfg(not(unix))]
fn symlink(_target: &Path, _link: &Path) -> std::io::Result<()> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "the warehouse needs symbolic links (Unix)",
    ))
}

/// An exclusive hold on the version folder `dir`, or None while a reader holds a
/// lease on it ([`Warehouse::open_current`]: its shared lock keeps ours out).
fn unread(dir: &Path) -> Option<File> {
    let folder = File::open(dir).ok()?;
    folder.try_lock().ok()?;
    Some(folder)
}

/// The manifest in a version folder.
fn read_manifest(dir: &Path) -> Result<Manifest> {
    let path = dir.join(MANIFEST);
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io("cannot read", &path, e))?;
    serde_json::from_str(&text)
        .map_err(|e| Error::Runtime(format!("corrupt manifest `{}`: {e}", path.display())))
}

/// Every file of a version folder but its manifest, with its size and hash (hashed
/// side by side).
fn record_files(dir: &Path) -> Result<BTreeMap<String, FileRecord>> {
    let mut paths = Vec::new();
    list_files(dir, dir, &mut paths)?;
    paths.retain(|rel| rel != MANIFEST);
    let records = crate::parallel::map(paths.len(), |i| hash_file(&dir.join(&paths[i])));
    paths
        .into_iter()
        .zip(records)
        .map(|(rel, record)| Ok((rel, record?)))
        .collect()
}

/// The files under `dir`, relative to `base`, `/`-separated.
fn list_files(base: &Path, dir: &Path, out: &mut Vec<String>) -> Result<()> {
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io("cannot list", dir, e))? {
        let path = entry.map_err(|e| Error::io("cannot list", dir, e))?.path();
        if path.is_dir() {
            list_files(base, &path, out)?;
        } else {
            let rel = path.strip_prefix(base).expect("under base");
            let parts: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().to_string())
                .collect();
            out.push(parts.join("/"));
        }
    }
    Ok(())
}

/// The modification time of a file's metadata, in nanoseconds since the epoch.
fn modified_ns(meta: &std::fs::Metadata) -> Option<i128> {
    let t = meta.modified().ok()?;
    let d = t.duration_since(std::time::UNIX_EPOCH).ok()?;
    Some(d.as_nanos() as i128)
}

fn hash_file(path: &Path) -> Result<FileRecord> {
    let file = File::open(path).map_err(|e| Error::io("cannot read", path, e))?;
    let modified = file.metadata().ok().as_ref().and_then(modified_ns);
    let mut hasher = blake3::Hasher::new();
    let bytes = std::io::copy(
        &mut std::io::BufReader::with_capacity(1 << 20, file),
        &mut hasher,
    )
    .map_err(|e| Error::io("cannot read", path, e))?;
    Ok(FileRecord {
        bytes,
        blake3: hasher.finalize().to_hex().to_string(),
        modified_ns: modified,
    })
}

/// Whether every file `manifest` records is in `dir` with its size and hash; the
/// first mismatch, said for people, when not. (A version written before funnel
/// recorded its files has nothing to check.)
pub fn verify_files(
    dir: &Path,
    manifest: &Manifest,
    check: Check,
) -> std::result::Result<(), String> {
    // Every table the manifest counts rows in has its parts (also in versions that
    // recorded no file hashes).
    for (table, rows) in &manifest.tables {
        if *rows > 0 && parts_in(dir, table).is_empty() {
            return Err(format!(
                "the table `{table}` ({} rows in the manifest) has no files in `{}`",
                crate::text::thousands(*rows),
                dir.display()
            ));
        }
    }
    let files: Vec<(&String, &FileRecord)> = manifest.files.iter().collect();
    let found = crate::parallel::map(files.len(), |i| {
        let (rel, _) = files[i];
        let path = dir.join(rel);
        match std::fs::metadata(&path) {
            Err(_) => Err(format!("`{}` is missing", path.display())),
            Ok(m) if m.len() != files[i].1.bytes => Err(format!(
                "`{}` has {} bytes where the manifest recorded {}",
                path.display(),
                m.len(),
                files[i].1.bytes
            )),
            Ok(m) if check == Check::Quick
                && files[i].1.modified_ns.is_some()
                && modified_ns(&m) == files[i].1.modified_ns =>
            {
                Ok(())
            }
            Ok(_) => match hash_file(&path) {
                Ok(r) if r.blake3 == files[i].1.blake3 => Ok(()),
                Ok(_) => Err(format!(
                    "`{}` has changed since it was written (its BLAKE3 hash differs from the manifest's)",
                    path.display()
                )),
                Err(e) => Err(e.to_string()),
            },
        }
    });
    found.into_iter().collect()
}

/// Writes a table file of a version ([`TableWriter`]), in row groups of
/// [`ROW_GROUP_ROWS`] (each slice encoded from its chunks, the frame never copied
/// into one chunk per column).
fn write_parquet(path: &Path, df: &DataFrame) -> Result<()> {
    let mut writer = TableWriter::create(path, df.schema())?;
    let context = || format!("cannot write `{}`", path.display());
    let mut offset = 0;
    while offset < df.height() {
        writer
            .write_group(&df.slice(offset as i64, ROW_GROUP_ROWS))
            .context(context)?;
        offset += ROW_GROUP_ROWS;
    }
    writer.finish().context(context)?;
    Ok(())
}

/// Flushes every file of a new version to disk before it is published (but those
/// under `skip`).
fn sync_tree(dir: &Path, skip: &Path) -> Result<()> {
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io("cannot list", dir, e))? {
        let entry = entry.map_err(|e| Error::io("cannot list", dir, e))?;
        let path = entry.path();
        if path == skip {
            continue;
        }
        if path.is_dir() {
            sync_tree(&path, skip)?;
        } else if let Ok(f) = File::open(&path) {
            f.sync_all()
                .map_err(|e| Error::io("cannot sync", &path, e))?;
        }
    }
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Reads a whole Parquet table eagerly (tests and small tables).
pub fn read_parquet(path: &Path) -> Result<DataFrame> {
    let file = File::open(path).map_err(|e| Error::io("cannot open", path, e))?;
    ParquetReader::new(file)
        .finish()
        .context(|| format!("cannot read `{}`", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// More rows than a row group, of every kind a derived table holds, with nulls.
    fn rows(n: usize) -> DataFrame {
        let ts = DataType::Datetime(TimeUnit::Microseconds, Some(TimeZone::UTC));
        df!(
            "lead_id" => (0..n).map(|i| format!("L{i:07}")).collect::<Vec<_>>(),
            "team" => (0..n).map(|i| ["marketing", "sales"].get(i % 3).copied()).collect::<Vec<_>>(),
            "at" => (0..n).map(|i| (i % 5 != 0).then_some(1_700_000_000_000_000 + i as i64)).collect::<Vec<_>>(),
            "n" => (0..n).map(|i| i as i64).collect::<Vec<_>>(),
            "stage_idx" => (0..n).map(|i| (i % 4 != 0).then_some((i % 7) as i32)).collect::<Vec<_>>(),
            "amount" => (0..n).map(|i| (i % 6 != 0).then_some(i as f64 / 4.0)).collect::<Vec<_>>(),
            "linked" => (0..n).map(|i| (i % 8 != 0).then_some(i % 2 == 0)).collect::<Vec<_>>(),
        )
        .unwrap()
        .lazy()
        .with_column(col("at").cast(ts))
        .collect()
        .unwrap()
    }

    #[test]
    fn a_derived_table_streams_into_row_groups_and_reads_back_as_computed() {
        let dir = tempfile::tempdir().unwrap();
        let writer = Warehouse::new(dir.path()).begin().unwrap();
        let n = ROW_GROUP_ROWS + ROW_GROUP_ROWS / 2;
        let df = rows(n);
        writer.sink_derived("some", df.clone().lazy()).unwrap();
        let back = writer.scan_derived("some").unwrap().collect().unwrap();
        assert!(back.equals_missing(&df), "{back:?}\n{df:?}");
        let path = derived_path(writer.path(), "some");
        let mut reader = ParquetReader::new(File::open(&path).unwrap());
        let groups = reader
            .get_metadata()
            .unwrap()
            .row_groups
            .iter()
            .map(|g| g.num_rows())
            .collect::<Vec<_>>();
        assert_eq!(groups, vec![ROW_GROUP_ROWS, ROW_GROUP_ROWS / 2]);

        // A query without rows still leaves a table (of its columns) to read.
        writer
            .sink_derived("none", df.clone().lazy().filter(lit(false)))
            .unwrap();
        let none = writer.scan_derived("none").unwrap().collect().unwrap();
        assert_eq!(none.height(), 0);
        assert_eq!(none.schema(), df.schema());
    }
}
