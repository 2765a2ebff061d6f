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
pub struct Staging {
    dir: PathBuf,
    key: &'static str,
    pub partitions: usize,
    pending: Vec<Vec<DataFrame>>,
    pending_rows: Vec<usize>,
    files: Vec<Vec<PathBuf>>,
    written: usize,
}

impl Staging {
    /// Stages rows of `table` (keyed by its first key column `key`) under `root`.
    pub fn new(root: &Path, table: &str, key: &'static str, partitions: usize) -> Result<Staging> {
        let dir = root.join(table);
        std::fs::create_dir_all(&dir).map_err(|e| Error::io("cannot create", &dir, e))?;
        Ok(Staging {
            dir,
            key,
            partitions,
            pending: vec![Vec::new(); partitions],
            pending_rows: vec![0; partitions],
            files: vec![Vec::new(); partitions],
            written: 0,
        })
    }

    /// Adds rows; a partition's buffer goes to disk once it is full.
    pub fn push(&mut self, df: DataFrame) -> Result<()> {
        if df.height() == 0 {
            return Ok(());
        }
        let limit = (BUFFER_ROWS / self.partitions).max(32 * 1024);
        for (b, piece) in split(&df, self.key, self.partitions)?
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

    fn flush(&mut self, b: usize) -> Result<()> {
        let pieces = std::mem::take(&mut self.pending[b]);
        self.pending_rows[b] = 0;
        let Some(mut df) = pieces.into_iter().reduce(|mut a, p| {
            a.vstack_mut_owned(p).expect("same schema");
            a
        }) else {
            return Ok(());
        };
        let path = self.dir.join(format!("p{b}-{}.parquet", self.written));
        self.written += 1;
        let file =
            std::fs::File::create(&path).map_err(|e| Error::io("cannot create", &path, e))?;
        ParquetWriter::new(file)
            .with_compression(ParquetCompression::Uncompressed)
            .with_statistics(StatisticsOptions::empty())
            .finish(&mut df)
            .context(|| format!("cannot write `{}`", path.display()))?;
        self.files[b].push(path);
        Ok(())
    }

    /// Writes every buffer out; call once all rows are pushed.
    pub fn finish(&mut self) -> Result<()> {
        for b in 0..self.partitions {
            self.flush(b)?;
        }
        Ok(())
    }

    /// The staged rows of partition `b`, in push order.
    pub fn frames(&self, b: usize) -> Result<Vec<DataFrame>> {
        self.files[b]
            .iter()
            .map(|p| crate::model::warehouse::read_parquet(p))
            .collect()
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
