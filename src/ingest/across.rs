//! Tables partitioned by a column other than their key (`touches`, by lead, so that
//! per-lead steps work one partition at a time): one key's rows may then sit in
//! different partitions (a touch whose lead changed, two input rows of one touch with
//! different leads). Before the partitions are merged one at a time, the rows that
//! lose to a row of their key in another partition are found here and dropped; the
//! merge of each partition settles the rest as for any table.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use polars::prelude::*;

use super::partition::Staging;
use crate::error::{PolarsContext, Result};
use crate::model::columns::TableSchema;
use crate::model::partition::fnv1a;
use crate::model::warehouse::read_parquet;

/// Rows to drop before each partition's merge.
#[derive(Debug, Default)]
pub struct Losers {
    /// Per partition, the positions of the warehouse's rows to drop, increasing.
    pub old: Vec<Vec<IdxSize>>,
    /// Per partition, the positions of the staged rows to drop, increasing.
    pub new: Vec<Vec<IdxSize>>,
    /// Input rows beaten by a later input row of their key in another partition.
    pub duplicates: u64,
    /// Up to five such keys, smallest first.
    pub examples: Vec<String>,
}

/// One row's key hash and place.
#[derive(Clone, Copy)]
struct Entry {
    hash: u64,
    pos: u32,
    part: u16,
    new: bool,
}

/// Column `key` of `df` (the keys of `table`).
fn key_column(df: &DataFrame, key: &str, table: &str) -> Result<StringChunked> {
    df.column(key)
        .and_then(|c| c.str().cloned())
        .context(|| format!("reading the keys of `{table}`"))
}

/// The key column of `lf`, in memory.
fn keys_of(lf: LazyFrame, key: &str, table: &str) -> Result<StringChunked> {
    let df = lf
        .select([col(key)])
        .collect()
        .context(|| format!("reading the keys of `{table}`"))?;
    key_column(&df, key, table)
}

/// The key column of staged partition `b` (None when it has no rows), read alone.
fn staged_keys(
    staging: &Staging,
    b: usize,
    key: &str,
    table: &str,
) -> Result<Option<StringChunked>> {
    match staging.staged_keys(b)? {
        Some(df) => Ok(Some(key_column(&df, key, table)?)),
        None => Ok(None),
    }
}

impl Losers {
    /// Nothing to drop in any of `partitions`.
    fn none(partitions: usize) -> Losers {
        Losers {
            old: vec![Vec::new(); partitions],
            new: vec![Vec::new(); partitions],
            ..Losers::default()
        }
    }
}

/// The rows of `schema`'s table (single-column key, partitioned off it) that a row of
/// their key in another partition beats: the winner is the key's latest input row
/// (by arrival), or its warehouse row when the input has none. `old(b)` is the
/// warehouse's partition `b`. Keys are compared by hash first: only the input's keys
/// are held, with the warehouse keys that share one of their hashes, and only keys
/// whose hash is in two partitions are read back and compared as text.
pub fn losers(
    schema: &TableSchema,
    partitions: usize,
    old: &mut dyn FnMut(usize) -> Result<Option<LazyFrame>>,
    staging: &Staging,
) -> Result<Losers> {
    assert_eq!(schema.key.len(), 1, "a single-column key");
    let key = schema.key[0];
    let mut entries: Vec<Entry> = Vec::new();
    for b in 0..partitions {
        if let Some(keys) = staged_keys(staging, b, key, schema.name)? {
            entries.extend(keys.iter().enumerate().map(|(pos, k)| Entry {
                hash: fnv1a(k.unwrap_or("").as_bytes()),
                pos: pos as u32,
                part: b as u16,
                new: true,
            }));
        }
    }
    if entries.is_empty() {
        return Ok(Losers::none(partitions));
    }
    let sharing = sharing_a_hash(&entries, partitions, old, key, schema.name)?;
    entries.extend(sharing);
    entries.sort_unstable_by_key(|e| e.hash);
    let candidates: Vec<Entry> = entries
        .chunk_by(|a, b| a.hash == b.hash)
        .filter(|run| run.iter().any(|e| e.part != run[0].part))
        .flatten()
        .copied()
        .collect();
    drop(entries);
    let mut out = Losers::none(partitions);
    if candidates.is_empty() {
        return Ok(out);
    }
    // The candidates' keys as text, read back from their partitions.
    let mut places: BTreeMap<(bool, u16), Vec<Entry>> = BTreeMap::new();
    for e in candidates {
        places.entry((e.new, e.part)).or_default().push(e);
    }
    let mut by_key: BTreeMap<String, Vec<Entry>> = BTreeMap::new();
    for ((new, part), es) in places {
        let keys = if new {
            staged_keys(staging, part as usize, key, schema.name)?.expect("staged rows")
        } else {
            keys_of(
                old(part as usize)?.expect("warehouse rows"),
                key,
                schema.name,
            )?
        };
        for e in es {
            let k = keys.get(e.pos as usize).unwrap_or("").to_string();
            by_key.entry(k).or_default().push(e);
        }
    }
    for (k, es) in by_key {
        settle(k, &es, staging, &mut out);
    }
    for v in out.old.iter_mut().chain(out.new.iter_mut()) {
        v.sort_unstable();
    }
    Ok(out)
}

/// The warehouse's entries (`new` false) whose key hashes as an input entry's does
/// (its own keys are distinct); most others are told apart by a bitmap of the
/// hashes' low bits before the sorted hashes are searched.
fn sharing_a_hash(
    entries: &[Entry],
    partitions: usize,
    old: &mut dyn FnMut(usize) -> Result<Option<LazyFrame>>,
    key: &str,
    table: &str,
) -> Result<Vec<Entry>> {
    let mut found = Vec::new();
    let mut hashes: Vec<u64> = entries.iter().map(|e| e.hash).collect();
    hashes.sort_unstable();
    hashes.dedup();
    // The warehouse's keys sharing a hash with an input key (its own keys are
    // distinct); most are told apart by a bitmap of the hashes' low bits.
    const BITS: u64 = 1 << 24;
    let mut bitmap = vec![0u64; (BITS / 64) as usize];
    for h in &hashes {
        let bit = h % BITS;
        bitmap[(bit / 64) as usize] |= 1 << (bit % 64);
    }
    for b in 0..partitions {
        let Some(lf) = old(b)? else { continue };
        let keys = keys_of(lf, key, table)?;
        for (pos, k) in keys.iter().enumerate() {
            let h = fnv1a(k.unwrap_or("").as_bytes());
            let bit = h % BITS;
            if bitmap[(bit / 64) as usize] & (1 << (bit % 64)) != 0
                && hashes.binary_search(&h).is_ok()
            {
                found.push(Entry {
                    hash: h,
                    pos: pos as u32,
                    part: b as u16,
                    new: false,
                });
            }
        }
    }
    Ok(found)
}

/// Decides one key found in more than one partition: the latest input row wins
/// (any input row over the warehouse's); every other row of the key is a loser.
fn settle(k: String, es: &[Entry], staging: &Staging, out: &mut Losers) {
    if es.iter().all(|e| e.part == es[0].part) {
        return; // one partition: its merge settles it
    }
    let arrival = |e: &Entry| -> u32 {
        staging
            .arrivals(e.part as usize)
            .expect("staged off the key")[e.pos as usize]
    };
    let winner = *es
        .iter()
        .max_by_key(|e| (e.new, if e.new { arrival(e) } else { 0 }))
        .expect("entries");
    let mut beaten_input = false;
    for e in es.iter().filter(|e| e.part != winner.part) {
        if e.new {
            out.new[e.part as usize].push(e.pos as IdxSize);
            out.duplicates += 1;
            beaten_input = true;
        } else {
            out.old[e.part as usize].push(e.pos as IdxSize);
        }
    }
    if beaten_input && out.examples.len() < 5 {
        out.examples.push(k);
    }
}

/// `lf` without the rows at `positions` (increasing).
pub fn without_rows(lf: LazyFrame, positions: &[IdxSize]) -> LazyFrame {
    if positions.is_empty() {
        return lf;
    }
    let drop = Series::new("".into(), positions.to_vec());
    lf.with_row_index("__pos", None)
        .filter(col("__pos").is_in(lit(drop).implode(false), false).not())
        .drop(cols(["__pos"]))
}

/// Re-partitions the warehouse's rows of a table stored by another column (format 1
/// partitioned `touches` by their key) by `schema.partition`, staged under `root`
/// one old part at a time: per partition, its staged file, if it has rows.
pub fn restage(
    schema: &'static TableSchema,
    parts: &[PathBuf],
    root: &Path,
    partitions: usize,
) -> Result<Vec<Option<PathBuf>>> {
    let mut staging = Staging::new(
        root,
        &format!("{}-restaged", schema.name),
        schema.key,
        schema.partition,
        partitions,
    )?;
    for part in parts {
        staging.push(read_parquet(part)?)?;
    }
    staging.finish()?;
    Ok((0..partitions).map(|b| staging.staged_file(b)).collect())
}
