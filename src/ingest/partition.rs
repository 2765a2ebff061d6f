//! Hash partitions of large tables, so that no step of an ingest holds every key at
//! once: rows are staged on disk by the hash of their first key column, then each
//! partition is merged with the same partition of the warehouse on its own.
//!
//! The partition of a key is FNV-1a (64-bit) of its text modulo the partition count, a
//! power of two. A table's count only grows; when it does, each old partition splits
//! into the new ones that share its remainder, so old parts stay valid.

use std::cmp::Ordering;
use std::path::{Path, PathBuf};

use polars::prelude::*;

use crate::model::parquet::{TableWriter, ROW_GROUP_ROWS};
use crate::model::partition::{fnv1a, split, split_rows};

use crate::error::{Error, PolarsContext, Result};

/// Input bytes (CSV) per partition the ingest aims for.
pub const TARGET_BYTES: u64 = 128 << 20;
/// No table is cut into more partitions than this.
pub const MAX_PARTITIONS: usize = 256;
/// Rows a partition's staging buffer holds before it is written to disk as a row
/// group (across all partitions of a table at most about this many rows are
/// buffered; one partition holds 32 Ki to 256 Ki rows, so that its file is written as
/// the input is read, not all at the end).
const BUFFER_ROWS: usize = 2 << 20;

/// Rows one partition buffers before they are written as a row group.
fn buffer_limit(partitions: usize) -> usize {
    (BUFFER_ROWS / partitions).clamp(32 * 1024, ROW_GROUP_ROWS)
}

/// How many partitions a table of about `csv_bytes` of input needs.
/// `FUNNEL_PARTITION_BYTES` overrides the target size (tests use it to exercise
/// partitioned merges on small data).
pub fn partitions_for(csv_bytes: u64) -> usize {
    let target = std::env::var("FUNNEL_PARTITION_BYTES")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|v| *v > 0)
        .unwrap_or(TARGET_BYTES);
    let n = csv_bytes.div_ceil(target).max(1) as usize;
    n.next_power_of_two().min(MAX_PARTITIONS)
}

/// Whether no two of `hashes` are equal.
fn all_distinct(mut hashes: Vec<u64>) -> bool {
    hashes.sort_unstable();
    hashes.windows(2).all(|w| w[0] != w[1])
}

/// A 64-bit hash of each row's values in `df` (FNV-1a over each column's value, text
/// or integer; null apart), or None for a column of another type.
fn key_hashes(df: &DataFrame) -> Result<Option<Vec<u64>>> {
    const NULL: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut hashes = vec![0xcbf2_9ce4_8422_2325u64; df.height()];
    let mix =
        |h: &mut u64, v: u64| *h = (h.rotate_left(23) ^ v).wrapping_mul(0x0000_0100_0000_01b3);
    for column in df.columns() {
        let physical = column.to_physical_repr();
        match physical.dtype() {
            DataType::String => {
                let values = physical.str().context(|| "hashing keys".to_string())?;
                for (h, v) in hashes.iter_mut().zip(values.iter()) {
                    mix(h, v.map_or(NULL, |v| fnv1a(v.as_bytes())));
                }
            }
            DataType::Int64 => {
                let values = physical.i64().context(|| "hashing keys".to_string())?;
                for (h, v) in hashes.iter_mut().zip(values.iter()) {
                    mix(h, v.map_or(NULL, |v| fnv1a(&v.to_le_bytes())));
                }
            }
            DataType::Int32 => {
                let values = physical.i32().context(|| "hashing keys".to_string())?;
                for (h, v) in hashes.iter_mut().zip(values.iter()) {
                    mix(h, v.map_or(NULL, |v| fnv1a(&v.to_le_bytes())));
                }
            }
            _ => return Ok(None),
        }
    }
    Ok(Some(hashes))
}

/// Rows of one table staged on disk by partition during a run.
///
/// Each partition is one Parquet file written in the warehouse's own format (row
/// groups as its buffer fills), and the staging follows its keys as they pass (see
/// `StagedPart::follow`). When they are all distinct and the warehouse holds no
/// rows of the table, the merge has nothing to do: the staged file already is the
/// part and is moved into the version instead of being rewritten
/// ([`Staging::ready_parts`]).
pub struct Staging {
    key: &'static [&'static str],
    /// The column whose hash picks a row's partition.
    partition: &'static str,
    pub partitions: usize,
    /// When the partition column is not the key's (a key's rows may land in different
    /// partitions): the keys followed across all partitions in arrival order, and
    /// each partition's rows' arrival numbers (which of two rows with one key came
    /// later), in push order.
    across: Option<Across>,
    pending: Vec<Vec<DataFrame>>,
    pending_rows: Vec<usize>,
    /// Buffered rows at which each partition is next written.
    flush_at: Vec<usize>,
    parts: Vec<StagedPart>,
}

/// What staging by a column other than the key follows across partitions.
struct Across {
    /// The keys in arrival order (only the following; it writes nothing).
    follower: StagedPart,
    /// Per partition, the arrival number of each of its rows, in push order.
    arrivals: Vec<Vec<u32>>,
    /// Rows pushed so far.
    pushed: u64,
}

/// One partition's staged file.
struct StagedPart {
    path: PathBuf,
    writer: Option<TableWriter<std::io::BufWriter<std::fs::File>>>,
    rows: usize,
    /// The keys are followed (single-column keys): they are increasing runs plus
    /// `exceptions`. When false, only counting distinct keys can tell.
    tracked: bool,
    /// A key equal to the last of its run: certainly a duplicate.
    duplicate: bool,
    /// One run per key length (the last two keys of each): `T00000999` is followed by
    /// `T00001000`, while ids of another shape (such as touch ids derived as hashes)
    /// are a run of their own, usually a hashed one. Keys of different lengths are
    /// never equal.
    runs: Vec<Run<String>>,
    /// FNV-1a of every key that did not extend its run.
    exceptions: Vec<u64>,
    /// The lengths of those keys: only keys of these lengths can equal one of them.
    exception_lengths: Vec<usize>,
    /// FNV-1a of every key of a hashed run (see `Run::hashed`).
    hashed: Vec<u64>,
}

/// The last two keys of one run of keys of one length.
#[derive(Clone)]
struct Run<S> {
    len: usize,
    last: S,
    previous: Option<S>,
    /// Keys the run has had (up to 3).
    seen: u8,
    /// Keys of this length came out of order by their third: they look random (such
    /// as derived hash ids), so every one is hashed into `StagedPart::hashed` and
    /// whether they are distinct is told by the hashes alone, without reading them
    /// back.
    hashed: bool,
}

/// Key lengths followed before giving up (each has its own run).
const MAX_RUNS: usize = 8;

impl StagedPart {
    /// Writes `pieces` (rows in push order) as a row group of the file, following
    /// their keys (`key`: the first key column).
    fn write(&mut self, key: &str, pieces: Vec<DataFrame>) -> Result<()> {
        let Some(df) = pieces.into_iter().reduce(|mut a, p| {
            a.vstack_mut_owned(p).expect("same schema");
            a
        }) else {
            return Ok(());
        };
        // One row group, encoded from the pieces' chunks as they are.
        self.rows += df.height();
        if let Ok(keys) = df.column(key).and_then(|c| c.str().cloned()) {
            self.follow(&keys);
        } else {
            self.tracked = false;
        }
        let path = &self.path;
        if self.writer.is_none() {
            self.writer = Some(TableWriter::create(path, df.schema())?);
        }
        self.writer
            .as_mut()
            .expect("opened above")
            .write_group(&df)
            .context(|| format!("cannot write `{}`", path.display()))
    }

    /// Follows the keys of `keys`: a key greater than the last of its run (the keys
    /// of its length) extends the run; another is an exception (its hash kept),
    /// except that a run key that broke the order (greater than the keys on both
    /// sides of it) is moved to the exceptions instead. Runs are strictly increasing,
    /// so their keys are distinct; whether the exceptions are is checked at the end.
    fn follow(&mut self, keys: &StringChunked) {
        if !self.tracked || self.duplicate {
            return;
        }
        let mut runs: Vec<Run<&str>> = self
            .runs
            .iter()
            .map(|r| Run {
                len: r.len,
                last: r.last.as_str(),
                previous: r.previous.as_deref(),
                seen: r.seen,
                hashed: r.hashed,
            })
            .collect();
        let exceptions = &mut self.exceptions;
        let lengths = &mut self.exception_lengths;
        let hashed = &mut self.hashed;
        for key in keys.iter() {
            let Some(k) = key else {
                self.tracked = false;
                return;
            };
            let Some(run) = runs.iter_mut().find(|r| r.len == k.len()) else {
                if runs.len() == MAX_RUNS {
                    self.tracked = false;
                    return;
                }
                runs.push(Run {
                    len: k.len(),
                    last: k,
                    previous: None,
                    seen: 1,
                    hashed: false,
                });
                continue;
            };
            if run.hashed {
                hashed.push(fnv1a(k.as_bytes()));
                continue;
            }
            let order = k.cmp(run.last);
            if run.seen < 3 && order == Ordering::Less {
                // Out of order among the first three: all the run's keys are known,
                // so from here on its length is hashed.
                hashed.extend(run.previous.iter().map(|p| fnv1a(p.as_bytes())));
                hashed.push(fnv1a(run.last.as_bytes()));
                hashed.push(fnv1a(k.as_bytes()));
                run.hashed = true;
                continue;
            }
            run.seen = run.seen.saturating_add(1).min(3);
            if order == Ordering::Greater {
                run.previous = Some(run.last);
                run.last = k;
            } else if order == Ordering::Equal {
                self.duplicate = true;
                return;
            } else {
                if run.previous.is_none_or(|p| k > p) {
                    // The run's last key was the odd one out.
                    exceptions.push(fnv1a(run.last.as_bytes()));
                    run.last = k;
                } else {
                    exceptions.push(fnv1a(k.as_bytes()));
                }
                if !lengths.contains(&k.len()) {
                    lengths.push(k.len());
                }
            }
        }
        let runs: Vec<Run<String>> = runs
            .into_iter()
            .map(|r| Run {
                len: r.len,
                last: r.last.to_string(),
                previous: r.previous.map(str::to_string),
                seen: r.seen,
                hashed: r.hashed,
            })
            .collect();
        self.runs = runs;
        // Mostly out of order: not worth following (or holding) further.
        if self.exceptions.len() + self.hashed.len() > self.rows / 4 + 1024 {
            self.tracked = false;
            self.exceptions = Vec::new();
            self.exception_lengths = Vec::new();
            self.hashed = Vec::new();
        }
    }
}

impl StagedPart {
    /// The key columns of this (finished) partition's file, read alone.
    fn read_keys(&self, key: &[&str]) -> Result<DataFrame> {
        let keys: Vec<Expr> = key.iter().map(|k| col(*k)).collect();
        crate::model::warehouse::scan_part(&self.path)?
            .select(keys)
            .collect()
            .context(|| format!("reading the keys of `{}`", self.path.display()))
    }
}

impl Staging {
    /// Stages rows of `table` (keyed by `key`, partitioned by the hash of column
    /// `partition`) under `root`.
    pub fn new(
        root: &Path,
        table: &str,
        key: &'static [&'static str],
        partition: &'static str,
        partitions: usize,
    ) -> Result<Staging> {
        let dir = root.join(table);
        std::fs::create_dir_all(&dir).map_err(|e| Error::io("cannot create", &dir, e))?;
        let off_key = partition != key[0];
        let part = |path: PathBuf, tracked: bool| StagedPart {
            path,
            writer: None,
            rows: 0,
            tracked,
            duplicate: false,
            runs: Vec::new(),
            exceptions: Vec::new(),
            exception_lengths: Vec::new(),
            hashed: Vec::new(),
        };
        // Partitions by another column follow their keys across partitions instead.
        let parts = (0..partitions)
            .map(|b| {
                part(
                    dir.join(format!("p{b}.parquet")),
                    key.len() == 1 && !off_key,
                )
            })
            .collect();
        let across = off_key.then(|| Across {
            follower: part(PathBuf::new(), key.len() == 1),
            arrivals: vec![Vec::new(); partitions],
            pushed: 0,
        });
        Ok(Staging {
            key,
            partition,
            across,
            partitions,
            pending: vec![Vec::new(); partitions],
            pending_rows: vec![0; partitions],
            // Partitions fill at the same pace, so with one threshold they would all
            // be written in the same batch, and the reader would wait on that burst.
            // Staggered first thresholds spread the writes evenly over the input.
            flush_at: (0..partitions)
                .map(|b| (buffer_limit(partitions) * (b + 1) / partitions).max(1))
                .collect(),
            parts,
        })
    }

    /// Adds rows; a partition's buffer goes to disk once it is full.
    pub fn push(&mut self, df: DataFrame) -> Result<()> {
        if df.height() == 0 {
            return Ok(());
        }
        let pieces = match &mut self.across {
            None => split(&df, self.partition, self.partitions)?,
            Some(across) => {
                across.follower.rows += df.height();
                match df.column(self.key[0]).and_then(|c| c.str().cloned()) {
                    Ok(keys) => across.follower.follow(&keys),
                    Err(_) => across.follower.tracked = false,
                }
                let (pieces, rows) = split_rows(&df, self.partition, self.partitions)?;
                let base = across.pushed;
                for (arrivals, rows) in across.arrivals.iter_mut().zip(rows) {
                    arrivals.extend(rows.iter().map(|r| (base + u64::from(*r)) as u32));
                }
                across.pushed += df.height() as u64;
                pieces
            }
        };
        for (b, piece) in pieces.into_iter().enumerate() {
            if piece.height() == 0 {
                continue;
            }
            self.pending_rows[b] += piece.height();
            self.pending[b].push(piece);
            if self.pending_rows[b] >= self.flush_at[b] {
                self.flush_at[b] = buffer_limit(self.partitions);
                self.flush(b)?;
            }
        }
        Ok(())
    }

    /// Writes partition `b`'s buffer as a row group of its file.
    fn flush(&mut self, b: usize) -> Result<()> {
        let pieces = std::mem::take(&mut self.pending[b]);
        self.pending_rows[b] = 0;
        self.parts[b].write(self.key[0], pieces)
    }

    /// Writes every buffer out and closes the files; call once all rows are pushed.
    /// The partitions are written side by side by the machine's threads.
    pub fn finish(&mut self) -> Result<()> {
        let key = self.key[0];
        let work: Vec<std::sync::Mutex<(&mut StagedPart, Vec<DataFrame>)>> = self
            .parts
            .iter_mut()
            .zip(self.pending.iter_mut().map(std::mem::take))
            .map(std::sync::Mutex::new)
            .collect();
        self.pending_rows.iter_mut().for_each(|n| *n = 0);
        crate::parallel::map(work.len(), |i| -> Result<()> {
            let mut item = work[i].lock().unwrap_or_else(|e| e.into_inner());
            let (part, pieces) = &mut *item;
            part.write(key, std::mem::take(pieces))?;
            if let Some(writer) = part.writer.take() {
                writer
                    .finish()
                    .context(|| format!("cannot write `{}`", part.path.display()))?;
            }
            Ok(())
        })
        .into_iter()
        .collect()
    }

    /// The staged rows of partition `b`, in push order.
    pub fn frames(&self, b: usize) -> Result<Vec<DataFrame>> {
        let part = &self.parts[b];
        if part.rows == 0 {
            return Ok(vec![]);
        }
        Ok(vec![crate::model::warehouse::read_parquet(&part.path)?])
    }

    /// Per partition, its staged file and row count when the file already is a
    /// merged part on its own: no key appears twice (rows stay in arrival order).
    /// Call after [`Staging::finish`], only for a table the warehouse does not hold
    /// yet. The partitions are checked side by side by the machine's threads.
    pub fn ready_parts(&self) -> Result<Vec<Option<(PathBuf, usize)>>> {
        if let Some(across) = &self.across {
            // A key's rows may be in different partitions: all are ready, or none.
            let ready = self.distinct_across(across)?;
            return Ok(self
                .parts
                .iter()
                .map(|p| (ready && p.rows > 0).then(|| (p.path.clone(), p.rows)))
                .collect());
        }
        crate::parallel::map(self.parts.len(), |b| {
            let part = &self.parts[b];
            Ok(self.is_ready(part)?.then(|| (part.path.clone(), part.rows)))
        })
        .into_iter()
        .collect()
    }

    /// Whether no key appears twice in all partitions: what following the keys in
    /// arrival order found, or else distinct hashes of every staged key.
    fn distinct_across(&self, across: &Across) -> Result<bool> {
        let f = &across.follower;
        if f.duplicate || self.parts.iter().any(|p| p.writer.is_some()) {
            return Ok(false);
        }
        if f.tracked && f.exceptions.is_empty() && all_distinct(f.hashed.clone()) {
            return Ok(true);
        }
        let mut hashes = Vec::with_capacity(f.rows);
        for part in self.parts.iter().filter(|p| p.rows > 0) {
            match key_hashes(&part.read_keys(self.key)?)? {
                Some(h) => hashes.extend(h),
                None => return Ok(false),
            }
        }
        // Distinct hashes mean distinct keys; a shared one sends the table through the
        // merge, which tells.
        Ok(all_distinct(hashes))
    }

    /// The arrival number of each staged row of partition `b` (in its file's order),
    /// when the partition column is not the key's.
    pub fn arrivals(&self, b: usize) -> Option<&[u32]> {
        self.across.as_ref().map(|a| a.arrivals[b].as_slice())
    }

    /// The key columns of staged partition `b`, read alone from its file; None when
    /// it has no rows (after [`Staging::finish`]).
    pub fn staged_keys(&self, b: usize) -> Result<Option<DataFrame>> {
        let part = &self.parts[b];
        match part.rows {
            0 => Ok(None),
            _ => part.read_keys(self.key).map(Some),
        }
    }

    /// Partition `b`'s staged file, if it has rows (after [`Staging::finish`]).
    pub fn staged_file(&self, b: usize) -> Option<PathBuf> {
        let part = &self.parts[b];
        (part.rows > 0).then(|| part.path.clone())
    }

    /// Whether the keys of a (finished) staged partition are all distinct, by the
    /// cheapest test that can tell: what following them while staging found (a
    /// duplicate, or runs, distinct hashes of the hashed runs and no exceptions), then
    /// the exceptions' hashes against the partition's keys of their lengths, then a
    /// hash of every key, and only then an exact count.
    fn is_ready(&self, part: &StagedPart) -> Result<bool> {
        if part.rows == 0 || part.writer.is_some() || part.duplicate {
            return Ok(false);
        }
        // What following the keys found: a hashed run's keys are distinct when their
        // hashes are (a shared hash may be a duplicate, which the tests below tell).
        let followed = part.tracked && all_distinct(part.hashed.clone());
        if followed && part.exceptions.is_empty() {
            return Ok(true);
        }
        let df = part.read_keys(self.key)?;
        if followed && exceptions_are_distinct(part, &df, self.key[0])? {
            return Ok(true);
        }
        // Distinct hashes mean distinct keys; a shared hash may be a duplicate.
        if key_hashes(&df)?.is_some_and(all_distinct) {
            return Ok(true);
        }
        // Exact: count the distinct keys.
        let distinct = df
            .lazy()
            .unique(None, UniqueKeepStrategy::Any)
            .select([len().alias("n")])
            .collect()
            .context(|| format!("counting the keys of `{}`", part.path.display()))?;
        let n = distinct
            .column("n")
            .ok()
            .and_then(|c| c.get(0).ok())
            .and_then(|v| v.extract::<u64>());
        Ok(n == Some(part.rows as u64))
    }
}

/// Whether a followed partition's exceptions are distinct from each other and from
/// its runs' keys, by their hashes: no two exceptions share one, and the partition's
/// keys (column `key` of `keys`) hold each exception's hash exactly once. (False also
/// when two different keys share a hash: the caller then tests otherwise.)
fn exceptions_are_distinct(part: &StagedPart, keys: &DataFrame, key: &str) -> Result<bool> {
    let mut hashes = part.exceptions.clone();
    hashes.sort_unstable();
    if hashes.windows(2).any(|w| w[0] == w[1]) {
        return Ok(false);
    }
    let keys = keys
        .column(key)
        .and_then(|c| c.str().cloned())
        .context(|| format!("reading the keys of `{}`", part.path.display()))?;
    // A bitmap of the hashes' low bits spares most keys the binary search.
    const BITS: u64 = 1 << 22;
    let mut bitmap = vec![0u64; (BITS / 64) as usize];
    for h in &hashes {
        let bit = h % BITS;
        bitmap[(bit / 64) as usize] |= 1 << (bit % 64);
    }
    let mut hits = 0usize;
    // Keys of another length than every exception's cannot equal one (most keys,
    // when the exceptions are ids of another shape): not hashed.
    let lengths = &part.exception_lengths;
    for k in keys.iter() {
        let k = k.unwrap_or("");
        if !lengths.contains(&k.len()) {
            continue;
        }
        let h = fnv1a(k.as_bytes());
        let bit = h % BITS;
        if bitmap[(bit / 64) as usize] & (1 << (bit % 64)) != 0 && hashes.binary_search(&h).is_ok()
        {
            hits += 1;
            if hits > hashes.len() {
                return Ok(false);
            }
        }
    }
    Ok(hits == hashes.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::partition::bucket;

    #[test]
    fn split_keeps_every_row_in_its_partition() {
        let keys: Vec<String> = (0..1000).map(|i| format!("L{i:07}")).collect();
        let n: Vec<i64> = (0..1000).collect();
        let df = DataFrame::new(
            1000,
            vec![
                Column::new("k".into(), keys.clone()),
                Column::new("n".into(), n),
            ],
        )
        .unwrap();
        let parts = split(&df, "k", 8).unwrap();
        assert_eq!(parts.iter().map(DataFrame::height).sum::<usize>(), 1000);
        for (b, part) in parts.iter().enumerate() {
            assert!(part.height() > 60, "partition {b} is lopsided");
            let ks = part.column("k").unwrap().str().unwrap().clone();
            let ns = part.column("n").unwrap().i64().unwrap().clone();
            let mut last = -1;
            for (k, n) in ks.iter().zip(ns.iter()) {
                assert_eq!(bucket(k.unwrap(), 8), b);
                // Order within a partition is the input order.
                assert!(n.unwrap() > last);
                last = n.unwrap();
            }
        }
        // Growing the count splits a partition into those sharing its remainder.
        for k in &keys {
            assert_eq!(bucket(k, 32) % 8, bucket(k, 8));
        }
        assert_eq!(partitions_for(0), 1);
        assert_eq!(partitions_for(TARGET_BYTES * 5), 8);
        assert_eq!(partitions_for(u64::MAX / 2), MAX_PARTITIONS);
    }
}

#[cfg(test)]
mod staging_tests {
    use super::*;
    use crate::model::partition::bucket;

    const KEY: &[&str] = &["k"];
    const TWO_KEYS: &[&str] = &["k", "n"];

    fn frame(keys: &[&str], n: &[i64]) -> DataFrame {
        DataFrame::new(
            keys.len(),
            vec![
                Column::new("k".into(), keys.to_vec()),
                Column::new("n".into(), n.to_vec()),
            ],
        )
        .unwrap()
    }

    /// Stages `batches` in one partition and says whether it is ready as a part.
    fn ready(key: &'static [&'static str], batches: &[(&[&str], &[i64])]) -> Option<usize> {
        let dir = tempfile::tempdir().unwrap();
        let mut staging = Staging::new(dir.path(), "t", key, key[0], 1).unwrap();
        for (keys, n) in batches {
            staging.push(frame(keys, n)).unwrap();
            // Flush each batch, so that the order check crosses row groups.
            staging.flush(0).unwrap();
        }
        staging.finish().unwrap();
        staging.ready_parts().unwrap()[0]
            .clone()
            .map(|(path, rows)| {
                let df = crate::model::warehouse::read_parquet(&path).unwrap();
                assert_eq!(df.height(), rows);
                rows
            })
    }

    #[test]
    fn partitions_are_written_at_staggered_points() {
        // 64 partitions buffer 32 Ki rows each; after about 8 Ki rows each, only the
        // first quarter has reached its first (staggered) threshold. With one shared
        // threshold none would have been written yet, and all in the same batch later.
        let dir = tempfile::tempdir().unwrap();
        let mut staging = Staging::new(dir.path(), "t", KEY, KEY[0], 64).unwrap();
        for batch in 0..8i64 {
            let keys: Vec<String> = (0..65_536).map(|i| format!("k{batch}-{i}")).collect();
            let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
            staging
                .push(frame(&keys, &vec![batch; keys.len()]))
                .unwrap();
        }
        let written = staging.parts.iter().filter(|p| p.rows > 0).count();
        assert!((8..=24).contains(&written), "{written} of 64 written");
        assert!(staging.parts[0].rows > 0 && staging.parts[63].rows == 0);
    }

    #[test]
    fn a_partition_is_ready_when_its_keys_are_distinct() {
        // Strictly increasing, across batches.
        assert_eq!(
            ready(KEY, &[(&["a", "b"], &[1, 2]), (&["c"], &[3])]),
            Some(3)
        );
        // Out of order but distinct: ready too (by counting distinct keys).
        assert_eq!(
            ready(KEY, &[(&["b", "c"], &[1, 2]), (&["a"], &[3])]),
            Some(3)
        );
        // A key repeated within a batch, or across batches: needs a merge.
        assert_eq!(ready(KEY, &[(&["a", "a"], &[1, 2])]), None);
        assert_eq!(ready(KEY, &[(&["a", "b"], &[1, 2]), (&["b"], &[3])]), None);
        assert_eq!(ready(KEY, &[(&["b", "a"], &[1, 2]), (&["b"], &[3])]), None);
        // Runs per key length: hash-like ids among numbered ones, a high outlier.
        assert_eq!(
            ready(
                KEY,
                &[(
                    &["T1", "T2", "ffff", "T3", "0abc", "T4", "z9", "T5"],
                    &[1, 2, 3, 4, 5, 6, 7, 8]
                )]
            ),
            Some(8)
        );
        // Distinct but shuffled, within and across batches.
        assert_eq!(
            ready(
                KEY,
                &[(&["q", "b", "x"], &[1, 2, 3]), (&["a", "m"], &[4, 5])]
            ),
            Some(5)
        );
        // A repeated key among the exceptions, or an exception equal to a run key.
        assert_eq!(
            ready(
                KEY,
                &[(&["b", "c"], &[1, 2]), (&["a"], &[3]), (&["a"], &[4])]
            ),
            None
        );
        assert_eq!(ready(KEY, &[(&["a", "c", "b", "a"], &[1, 2, 3, 4])]), None);
        assert_eq!(
            ready(
                KEY,
                &[(&["T1", "ffff", "T2", "T3", "ffff"], &[1, 2, 3, 4, 5])]
            ),
            None
        );
        // A key of a hashed run (out of order by its second key) that a later key of
        // its length repeats, among keys of another length.
        assert_eq!(
            ready(
                KEY,
                &[(
                    &["T1", "ffff", "T2", "0abc", "T3", "ffff"],
                    &[1, 2, 3, 4, 5, 6]
                )]
            ),
            None
        );
        // A two-column key is distinct when the pair is.
        assert_eq!(ready(TWO_KEYS, &[(&["a", "a"], &[1, 2])]), Some(2));
        assert_eq!(ready(TWO_KEYS, &[(&["a", "a"], &[1, 1])]), None);
        // Nothing staged: nothing to adopt (the merge writes the typed empty table).
        assert_eq!(ready(KEY, &[]), None);
    }

    /// Rows (key `k`, group `g`) staged by `g` in 4 partitions, in two batches: how
    /// many partitions are ready as parts, and each partition's arrival numbers.
    fn stage_by_group(rows: &[(String, String)]) -> (usize, usize, Vec<Vec<u32>>) {
        let dir = tempfile::tempdir().unwrap();
        let mut staging = Staging::new(dir.path(), "t", KEY, "g", 4).unwrap();
        for batch in rows.chunks(rows.len().div_ceil(2)) {
            let k: Vec<&str> = batch.iter().map(|(k, _)| k.as_str()).collect();
            let g: Vec<&str> = batch.iter().map(|(_, g)| g.as_str()).collect();
            let df = DataFrame::new(
                k.len(),
                vec![Column::new("k".into(), k), Column::new("g".into(), g)],
            )
            .unwrap();
            staging.push(df).unwrap();
        }
        staging.finish().unwrap();
        let ready = staging.ready_parts().unwrap();
        let staged = (0..4).filter(|b| staging.staged_file(*b).is_some()).count();
        let arrivals = (0..4)
            .map(|b| staging.arrivals(b).unwrap().to_vec())
            .collect();
        (ready.iter().flatten().count(), staged, arrivals)
    }

    #[test]
    fn staging_off_the_key_follows_the_keys_across_partitions() {
        let groups: Vec<String> = (0..12).map(|i| format!("g{i}")).collect();
        let rows = |keys: &[&str]| -> Vec<(String, String)> {
            keys.iter()
                .enumerate()
                .map(|(i, k)| (k.to_string(), groups[i % groups.len()].clone()))
                .collect()
        };
        let keys: Vec<String> = (0..24).map(|i| format!("k{i:02}")).collect();
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        // Distinct keys, in order: every staged partition is ready.
        let (ready, staged, arrivals) = stage_by_group(&rows(&keys));
        assert!(staged > 1);
        assert_eq!(ready, staged);
        // Each partition's rows keep their arrival numbers, increasing; together
        // they are every row once.
        let mut all: Vec<u32> = arrivals.concat();
        assert!(arrivals.iter().all(|a| a.windows(2).all(|w| w[0] < w[1])));
        all.sort();
        assert_eq!(all, (0..24).collect::<Vec<u32>>());
        // Distinct keys out of order: still ready (told by their hashes).
        let mut shuffled = keys.clone();
        shuffled.reverse();
        shuffled.swap(3, 17);
        assert_eq!(stage_by_group(&rows(&shuffled)).0, staged);
        // One key twice, under groups of different partitions: no partition is
        // ready, however distinct the keys of each partition are.
        let apart = groups
            .iter()
            .position(|g| bucket(g, 4) != bucket(&groups[0], 4))
            .unwrap();
        let mut twice = keys.clone();
        twice[apart] = twice[0];
        let (ready, _, _) = stage_by_group(&rows(&twice));
        assert_eq!(ready, 0);
    }

    #[test]
    fn staged_rows_read_back_in_push_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut staging = Staging::new(dir.path(), "t", KEY, KEY[0], 2).unwrap();
        staging.push(frame(&["x", "y", "z"], &[1, 2, 3])).unwrap();
        staging.push(frame(&["w", "x"], &[4, 5])).unwrap();
        staging.finish().unwrap();
        let mut seen = 0;
        for b in 0..2 {
            for df in staging.frames(b).unwrap() {
                let ks = df.column("k").unwrap().str().unwrap().clone();
                let ns = df.column("n").unwrap().i64().unwrap().clone();
                let mut last = 0;
                for (k, n) in ks.iter().zip(ns.iter()) {
                    assert_eq!(bucket(k.unwrap(), 2), b);
                    assert!(n.unwrap() > last);
                    last = n.unwrap();
                    seen += 1;
                }
            }
        }
        assert_eq!(seen, 5);
    }

    #[test]
    fn runs_per_length_keep_outliers_as_the_only_exceptions() {
        let dir = tempfile::tempdir().unwrap();
        let mut staging = Staging::new(dir.path(), "t", KEY, KEY[0], 1).unwrap();
        let keys = [
            "T1", "T2", "ffff", "T3", "0abc", "T4", "z9", "T5", "T6", "abcd",
        ];
        let n: Vec<i64> = (0..keys.len() as i64).collect();
        staging.push(frame(&keys, &n)).unwrap();
        staging.finish().unwrap();
        let part = &staging.parts[0];
        assert!(part.tracked && !part.duplicate);
        // `z9` broke the run of two-character keys late: it is moved to the
        // exceptions, which only keys of its length can equal.
        assert_eq!(part.exceptions, vec![fnv1a(b"z9")]);
        assert_eq!(part.exception_lengths, vec![2]);
        // `0abc` came out of order second among the four-character keys: every key
        // of that length is hashed, and none is an exception.
        assert_eq!(
            part.hashed,
            vec![fnv1a(b"ffff"), fnv1a(b"0abc"), fnv1a(b"abcd")]
        );
        // The exceptions alone tell (hashing only the keys of their lengths).
        assert!(exceptions_are_distinct(part, &frame(&keys, &n), "k").unwrap());
        assert!(staging.ready_parts().unwrap()[0].is_some());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig {
            cases: 256, failure_persistence: None, ..Default::default()
        })]

        /// Whatever the keys' order, lengths and repeats, and however they are cut
        /// into batches, a part is ready exactly when its keys are distinct.
        #[test]
        fn ready_exactly_when_the_keys_are_distinct(
            keys in proptest::collection::vec("[a-h]{1,3}", 1..25),
            cut in 0usize..25,
        ) {
            let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
            let n: Vec<i64> = (0..keys.len() as i64).collect();
            let cut = cut.min(keys.len());
            let batches: Vec<(&[&str], &[i64])> = if cut == 0 {
                vec![(&refs[..], &n[..])]
            } else {
                vec![(&refs[..cut], &n[..cut]), (&refs[cut..], &n[cut..])]
            };
            let distinct = keys.iter().collect::<std::collections::BTreeSet<_>>().len();
            let expected = (distinct == keys.len()).then_some(keys.len());
            proptest::prop_assert_eq!(ready(KEY, &batches), expected);
        }
    }

    #[test]
    fn hashed_runs_tell_without_reading_the_keys_back() {
        let dir = tempfile::tempdir().unwrap();
        let mut staging = Staging::new(dir.path(), "t", KEY, KEY[0], 1).unwrap();
        staging
            .push(frame(&["T1", "ffff", "T2", "0abc", "T3"], &[1, 2, 3, 4, 5]))
            .unwrap();
        staging.flush(0).unwrap();
        staging.push(frame(&["abcd", "T4"], &[6, 7])).unwrap();
        staging.finish().unwrap();
        assert!(staging.parts[0].exceptions.is_empty());
        assert_eq!(staging.parts[0].hashed.len(), 3);
        // The staged file is not read: a part whose file is gone is still ready.
        let path = staging.parts[0].path.clone();
        let moved = dir.path().join("moved.parquet");
        std::fs::rename(&path, &moved).unwrap();
        assert_eq!(staging.ready_parts().unwrap()[0], Some((path, 7)));
    }
}
