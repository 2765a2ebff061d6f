//! Hash partitions of large tables, so that no step of an ingest holds every key at
//! once: rows are staged on disk by the hash of their first key column, then each
//! partition is merged with the same partition of the warehouse on its own.
//!
//! The partition of a key is FNV-1a (64-bit) of its text modulo the partition count, a
//! power of two. A table's count only grows; when it does, each old partition splits
//! into the new ones that share its remainder, so old parts stay valid.

use std::path::{Path, PathBuf};

use polars::prelude::*;

use crate::error::{Error, PolarsContext, Result};

/// Input bytes (CSV) per partition the ingest aims for.
pub const TARGET_BYTES: u64 = 128 << 20;
/// No table is cut into more partitions than this.
pub const MAX_PARTITIONS: usize = 256;
/// Rows a partition's staging buffer holds before it is written to disk (across all
/// partitions of a table at most about this many rows are buffered).
const BUFFER_ROWS: usize = 2 << 20;

/// FNV-1a, 64-bit: fixed, so a key's partition never changes between versions.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The partition of `key` among `partitions`.
pub fn bucket(key: &str, partitions: usize) -> usize {
    if partitions <= 1 {
        0
    } else {
        (fnv1a(key.as_bytes()) % partitions as u64) as usize
    }
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

/// Splits `df` into one frame per partition by the text of column `key` (null keys go
/// to partition 0). Rows keep their order within a partition.
pub fn split(df: &DataFrame, key: &str, partitions: usize) -> Result<Vec<DataFrame>> {
    if partitions <= 1 {
        return Ok(vec![df.clone()]);
    }
    let keys = df
        .column(key)
        .and_then(|c| c.str().cloned())
        .context(|| format!("reading key column `{key}`"))?;
    let ids: Vec<u32> = keys
        .iter()
        .map(|k| bucket(k.unwrap_or(""), partitions) as u32)
        .collect();
    // A counting sort: one gather, then contiguous slices.
    let mut counts = vec![0usize; partitions];
    for id in &ids {
        counts[*id as usize] += 1;
    }
    let mut starts = vec![0usize; partitions];
    for b in 1..partitions {
        starts[b] = starts[b - 1] + counts[b - 1];
    }
    let mut next = starts.clone();
    let mut order = vec![0 as IdxSize; ids.len()];
    for (row, id) in ids.iter().enumerate() {
        let slot = &mut next[*id as usize];
        order[*slot] = row as IdxSize;
        *slot += 1;
    }
    let idx = IdxCa::from_vec("".into(), order);
    let sorted = df
        .take(&idx)
        .context(|| format!("partitioning by `{key}`"))?;
    Ok((0..partitions)
        .map(|b| sorted.slice(starts[b] as i64, counts[b]))
        .collect())
}

/// Rows of one table staged on disk by partition during a run.
///
/// Each partition is one Parquet file written in the warehouse's own format (row
/// groups as its buffer fills), and the staging notes whether its keys arrived in
/// strictly increasing order. When they did and the warehouse holds no rows of the
/// table, the merge has nothing to do: the staged file already is the part (sorted by
/// key, no duplicates) and is moved into the version instead of being rewritten.
pub struct Staging {
    key: &'static [&'static str],
    pub partitions: usize,
    pending: Vec<Vec<DataFrame>>,
    pending_rows: Vec<usize>,
    parts: Vec<StagedPart>,
}

/// One partition's staged file.
struct StagedPart {
    path: PathBuf,
    writer: Option<polars::io::parquet::write::BatchedWriter<std::fs::File>>,
    rows: usize,
    /// Every key so far was greater than the one before (single-column keys only).
    in_key_order: bool,
    last_key: Option<String>,
}

impl StagedPart {
    /// Notes whether the keys of `keys` continue the strictly increasing run.
    fn follow(&mut self, keys: &StringChunked) {
        if !self.in_key_order {
            return;
        }
        let mut last: Option<&str> = self.last_key.as_deref();
        for key in keys.iter() {
            match (key, last) {
                (None, _) => {
                    self.in_key_order = false;
                    return;
                }
                (Some(k), Some(l)) if k <= l => {
                    self.in_key_order = false;
                    return;
                }
                (Some(k), _) => last = Some(k),
            }
        }
        self.last_key = last.map(str::to_string);
    }
}

impl Staging {
    /// Stages rows of `table` (keyed by `key`, partitioned by its first column) under
    /// `root`.
    pub fn new(
        root: &Path,
        table: &str,
        key: &'static [&'static str],
        partitions: usize,
    ) -> Result<Staging> {
        let dir = root.join(table);
        std::fs::create_dir_all(&dir).map_err(|e| Error::io("cannot create", &dir, e))?;
        let parts = (0..partitions)
            .map(|b| StagedPart {
                path: dir.join(format!("p{b}.parquet")),
                writer: None,
                rows: 0,
                in_key_order: key.len() == 1,
                last_key: None,
            })
            .collect();
        Ok(Staging {
            key,
            partitions,
            pending: vec![Vec::new(); partitions],
            pending_rows: vec![0; partitions],
            parts,
        })
    }

    /// Adds rows; a partition's buffer goes to disk once it is full.
    pub fn push(&mut self, df: DataFrame) -> Result<()> {
        if df.height() == 0 {
            return Ok(());
        }
        let limit = (BUFFER_ROWS / self.partitions).max(32 * 1024);
        for (b, piece) in split(&df, self.key[0], self.partitions)?
            .into_iter()
            .enumerate()
        {
            if piece.height() == 0 {
                continue;
            }
            self.pending_rows[b] += piece.height();
            self.pending[b].push(piece);
            if self.pending_rows[b] >= limit {
                self.flush(b)?;
            }
        }
        Ok(())
    }

    /// Writes partition `b`'s buffer as a row group of its file.
    fn flush(&mut self, b: usize) -> Result<()> {
        let pieces = std::mem::take(&mut self.pending[b]);
        self.pending_rows[b] = 0;
        let Some(mut df) = pieces.into_iter().reduce(|mut a, p| {
            a.vstack_mut_owned(p).expect("same schema");
            a
        }) else {
            return Ok(());
        };
        // One chunk per column: the writer makes a row group of each chunk.
        df.rechunk_mut();
        let part = &mut self.parts[b];
        if let Ok(keys) = df.column(self.key[0]).and_then(|c| c.str().cloned()) {
            part.follow(&keys);
        } else {
            part.in_key_order = false;
        }
        let path = &part.path;
        if part.writer.is_none() {
            let file =
                std::fs::File::create(path).map_err(|e| Error::io("cannot create", path, e))?;
            let writer = crate::model::warehouse::parquet_writer(file)
                .batched(df.schema())
                .context(|| format!("cannot write `{}`", path.display()))?;
            part.writer = Some(writer);
        }
        part.writer
            .as_mut()
            .expect("opened above")
            .write_batch(&df)
            .context(|| format!("cannot write `{}`", path.display()))?;
        part.rows += df.height();
        Ok(())
    }

    /// Writes every buffer out and closes the files; call once all rows are pushed.
    pub fn finish(&mut self) -> Result<()> {
        for b in 0..self.partitions {
            self.flush(b)?;
            let part = &mut self.parts[b];
            if let Some(writer) = part.writer.take() {
                writer
                    .finish()
                    .context(|| format!("cannot write `{}`", part.path.display()))?;
            }
        }
        Ok(())
    }

    /// The staged rows of partition `b`, in push order.
    pub fn frames(&self, b: usize) -> Result<Vec<DataFrame>> {
        let part = &self.parts[b];
        if part.rows == 0 {
            return Ok(vec![]);
        }
        Ok(vec![crate::model::warehouse::read_parquet(&part.path)?])
    }

    /// Partition `b`'s staged file when it already is a merged part on its own, with
    /// its row count: its keys strictly increase (so it is sorted and has no
    /// duplicates), or else no key appears twice (rows stay in arrival order). Call
    /// after [`Staging::finish`], only for a table the warehouse does not hold yet.
    pub fn ready_part(&self, b: usize) -> Result<Option<(&Path, usize)>> {
        let part = &self.parts[b];
        if part.rows == 0 || part.writer.is_some() {
            return Ok(None);
        }
        let ready = Some((part.path.as_path(), part.rows));
        if part.in_key_order {
            return Ok(ready);
        }
        let keys: Vec<Expr> = self.key.iter().map(|k| col(*k)).collect();
        let distinct = crate::model::warehouse::scan_part(&part.path)?
            .select(keys)
            .unique(None, UniqueKeepStrategy::Any)
            .select([len().alias("n")])
            .collect()
            .context(|| format!("counting the keys of `{}`", part.path.display()))?;
        let n = distinct
            .column("n")
            .ok()
            .and_then(|c| c.get(0).ok())
            .and_then(|v| v.extract::<u64>());
        Ok((n == Some(part.rows as u64)).then_some(ready).flatten())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let mut staging = Staging::new(dir.path(), "t", key, 1).unwrap();
        for (keys, n) in batches {
            staging.push(frame(keys, n)).unwrap();
            // Flush each batch, so that the order check crosses row groups.
            staging.flush(0).unwrap();
        }
        staging.finish().unwrap();
        let ready = staging.ready_part(0).unwrap().map(|(path, rows)| {
            let df = crate::model::warehouse::read_parquet(path).unwrap();
            assert_eq!(df.height(), rows);
            rows
        });
        ready
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
        // A two-column key is distinct when the pair is.
        assert_eq!(ready(TWO_KEYS, &[(&["a", "a"], &[1, 2])]), Some(2));
        assert_eq!(ready(TWO_KEYS, &[(&["a", "a"], &[1, 1])]), None);
        // Nothing staged: nothing to adopt (the merge writes the typed empty table).
        assert_eq!(ready(KEY, &[]), None);
    }

    #[test]
    fn staged_rows_read_back_in_push_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut staging = Staging::new(dir.path(), "t", KEY, 2).unwrap();
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
}
