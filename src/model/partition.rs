//! Hash partitions of a table by the text of one key column: the partition of a key
//! is FNV-1a (64-bit) of its text modulo the partition count, a power of two. The
//! warehouse stores large tables this way (the ingest stages and merges one partition
//! at a time), and readers split a frame the same way to join it partition by
//! partition.

use polars::prelude::*;

use crate::error::{PolarsContext, Result};

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

/// Splits `df` into one frame per partition by the text of column `key` (null keys go
/// to partition 0). Rows keep their order within a partition.
pub fn split(df: &DataFrame, key: &str, partitions: usize) -> Result<Vec<DataFrame>> {
    Ok(split_inner(df, key, partitions, false)?.0)
}

/// [`split`], with the rows of `df` each partition got (their indices, increasing).
pub fn split_rows(
    df: &DataFrame,
    key: &str,
    partitions: usize,
) -> Result<(Vec<DataFrame>, Vec<Vec<IdxSize>>)> {
    split_inner(df, key, partitions, true)
}

fn split_inner(
    df: &DataFrame,
    key: &str,
    partitions: usize,
    with_rows: bool,
) -> Result<(Vec<DataFrame>, Vec<Vec<IdxSize>>)> {
    if partitions <= 1 {
        if !with_rows {
            return Ok((vec![df.clone()], vec![]));
        }
        return Ok((
            vec![df.clone()],
            vec![(0..df.height() as IdxSize).collect()],
        ));
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
    let rows: Vec<Vec<IdxSize>> = if with_rows {
        (0..partitions)
            .map(|b| order[starts[b]..starts[b] + counts[b]].to_vec())
            .collect()
    } else {
        vec![]
    };
    let idx = IdxCa::from_vec("".into(), order);
    let sorted = df
        .take(&idx)
        .context(|| format!("partitioning by `{key}`"))?;
    let frames = (0..partitions)
        .map(|b| sorted.slice(starts[b] as i64, counts[b]))
        .collect();
    Ok((frames, rows))
}
