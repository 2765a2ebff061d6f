//! The warehouse's Parquet writer for every file of a version (staged partitions that
//! become parts, merged parts, derived tables).
//!
//! It writes Parquet as polars' own writer does with the warehouse's settings (LZ4,
//! min/max/null statistics; one row group per [`TableWriter::write_group`], whatever
//! the frame's chunks), and polars reads the files back as the same frame: the stored Arrow schema is the frame's. What
//! differs is how each column's encoding is chosen. polars dictionary-encodes a text column
//! by hashing every value into a generic value map, after estimating its cardinality
//! with a second pass; at ingest that was about a sixth of the read phase. Here:
//! - a text column tries a dictionary on a sample of its values first, and a column
//!   of mostly distinct values (ids, over half of the sample) is written plain at
//!   once;
//! - a text column of few distinct values is dictionary-encoded by a map keyed on
//!   the 16-byte view of each value (short values are held whole in their view),
//!   skipping the lookup when a value repeats the previous row's;
//! - timestamps (distinct microseconds) are written plain without an estimate, and
//!   not compressed: LZ4 does not shrink them;
//! - other columns keep polars' choice.
//!
//! Columns are encoded and compressed side by side, one per worker thread
//! ([`crate::parallel`]).

use std::collections::HashMap;
use std::fs::File;
use std::hash::{BuildHasherDefault, Hasher};
use std::io::{BufWriter, Write};
use std::path::Path;

use crate::error::{Error, PolarsContext, Result};
use polars::prelude::*;
use polars_arrow::array::{
    Array, DictionaryArray, MutableBinaryViewArray, PrimitiveArray, Utf8ViewArray,
};
use polars_arrow::datatypes::{ArrowDataType, IntegerType};
use polars_parquet::write::{
    array_to_columns, compress, fallible_streaming_iterator, get_dtype_encoding, to_parquet_schema,
    CompressedPage, CompressionOptions, DynIter, DynStreamingIterator, Encoding, FileWriter,
    ParquetType, Version, WriteOptions,
};

/// Rows per row group of the warehouse's files (table parts, staged partitions,
/// derived tables).
pub const ROW_GROUP_ROWS: usize = 256 * 1024;

/// The warehouse's Parquet settings as polars' writer takes them (it sinks the
/// derived tables); [`TableWriter`] writes with the same: LZ4 (fast to write and
/// read; about 1.6× zstd's size), min/max/null statistics for scans to skip row
/// groups, row groups of [`ROW_GROUP_ROWS`].
pub fn warehouse_options() -> ParquetWriteOptions {
    ParquetWriteOptions {
        compression: ParquetCompression::Lz4Raw,
        statistics: StatisticsOptions::default(),
        row_group_size: Some(ROW_GROUP_ROWS),
        ..Default::default()
    }
}

/// Values sampled before building a text column's dictionary.
const SAMPLE: usize = 2048;

/// A text column is dictionary-encoded while its distinct values are at most this
/// share of its rows. polars' writer takes 0.75; between the two, a dictionary is
/// mostly a large hash map built for little: 19 M touches' `lead_id` (0.57 of a
/// row group's rows distinct) takes 56 MB plain with LZ4 against 85 MB as a
/// dictionary, and the ingest's read phase took 0.2–1.3 s less over four
/// interleaved pairs at 1 M leads.
const MAX_DISTINCT_SHARE: f64 = 0.5;

/// Writes frames as row groups of one Parquet file.
pub struct TableWriter<W: Write> {
    writer: FileWriter<W>,
    fields: Vec<ParquetType>,
    options: WriteOptions,
}

impl<W: Write> TableWriter<W> {
    /// A writer of frames with `schema`, in the warehouse's settings.
    pub fn new(out: W, schema: &Schema) -> PolarsResult<TableWriter<W>> {
        let arrow = schema.to_arrow(CompatLevel::newest());
        let parquet = to_parquet_schema(&arrow)?;
        let fields = parquet.fields().to_vec();
        let settings = warehouse_options();
        let options = WriteOptions {
            statistics: settings.statistics,
            version: Version::V1,
            compression: settings.compression.into(),
            data_page_size: settings.data_page_size,
        };
        Ok(TableWriter {
            writer: FileWriter::new_with_parquet_schema(out, arrow, parquet, options),
            fields,
            options,
        })
    }

    /// Writes all of `df`'s rows as one row group, however its columns are chunked:
    /// each column is encoded from its chunks, so a frame stacked from many small
    /// pieces (or a slice of a merged table) is written without first being copied
    /// into one chunk per column (a text column of few values becomes one dictionary
    /// straight from its pieces).
    pub fn write_group(&mut self, df: &DataFrame) -> PolarsResult<()> {
        let rows = df.height();
        if rows == 0 {
            return Ok(());
        }
        let columns = df
            .columns()
            .iter()
            .map(|c| {
                let s = c.as_materialized_series();
                (0..s.n_chunks())
                    .map(|i| s.to_arrow(i, CompatLevel::newest()))
                    .filter(|a| !a.is_empty())
                    .collect()
            })
            .collect();
        let columns = encode(columns, &self.fields, self.options)?;
        let group = DynIter::new(columns.iter().map(|pages| {
            Ok(DynStreamingIterator::new(
                fallible_streaming_iterator::convert(pages.iter().map(PolarsResult::Ok)),
            ))
        }));
        self.writer.write(rows as u64, group)?;
        Ok(())
    }

    /// Writes the footer (with the Arrow schema) and flushes the output; returns the
    /// file's size.
    pub fn finish(mut self) -> PolarsResult<u64> {
        let size = self.writer.end(None)?;
        self.writer.into_inner().flush()?;
        Ok(size)
    }
}

impl TableWriter<BufWriter<File>> {
    /// Creates the file at `path` for frames with `schema`, written through a buffer.
    pub fn create(path: &Path, schema: &Schema) -> Result<Self> {
        let file = File::create(path).map_err(|e| Error::io("cannot create", path, e))?;
        TableWriter::new(BufWriter::with_capacity(1 << 20, file), schema)
            .context(|| format!("cannot write `{}`", path.display()))
    }
}

/// Every column's compressed pages (a column given as its chunks), columns taken in
/// turn by the machine's threads.
fn encode(
    arrays: Vec<Vec<ArrayRef>>,
    fields: &[ParquetType],
    options: WriteOptions,
) -> PolarsResult<Vec<Vec<CompressedPage>>> {
    crate::parallel::map(arrays.len(), |i| {
        encode_column(&arrays[i], fields[i].clone(), options)
    })
    .into_iter()
    .collect()
}

/// One column's pages (the column given as its chunks, at least one), compressed.
fn encode_column(
    chunks: &[ArrayRef],
    field: ParquetType,
    options: WriteOptions,
) -> PolarsResult<Vec<CompressedPage>> {
    let whole = || -> PolarsResult<ArrayRef> {
        match chunks {
            [one] => Ok(one.clone()),
            _ => polars_arrow::compute::concatenate::concatenate_unchecked(chunks),
        }
    };
    let array = chunks.first().expect("a column has a chunk");
    // Microsecond timestamps are close to random bytes: LZ4 gains nothing on them
    // (150 of 150 MB for 19 M touches) and costs time both ways.
    let compression = match array.dtype() {
        ArrowDataType::Timestamp(_, _) => CompressionOptions::Uncompressed,
        _ => options.compression,
    };
    let (array, encoding): (ArrayRef, Encoding) = match array.dtype() {
        ArrowDataType::Utf8View => {
            let text: Vec<&Utf8ViewArray> = chunks
                .iter()
                .map(|a| {
                    a.as_any()
                        .downcast_ref::<Utf8ViewArray>()
                        .expect("a Utf8View array")
                })
                .collect();
            match dictionary_of(&text) {
                Some(dictionary) => (Box::new(dictionary), Encoding::RleDictionary),
                None => (whole()?, Encoding::Plain),
            }
        }
        ArrowDataType::Timestamp(_, _) => (whole()?, Encoding::Plain),
        dtype => {
            let encodings = get_dtype_encoding(dtype);
            debug_assert_eq!(encodings.len(), 1, "flat columns");
            (whole()?, encodings[0])
        }
    };
    let mut pages = Vec::new();
    for column in array_to_columns(array, field, options, &[encoding])? {
        for page in column {
            pages.push(compress(page?, Vec::new(), compression)?);
        }
    }
    Ok(pages)
}

/// A hasher for the dictionary's keys: views (16 bytes) and longer values. Not
/// resistant to crafted collisions, which would only make a write slower.
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.mix(u64::from_le_bytes(c.try_into().expect("8 bytes")));
        }
        let mut last = [0u8; 8];
        last[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
        self.mix(u64::from_le_bytes(last) ^ bytes.len() as u64);
    }

    fn write_u128(&mut self, v: u128) {
        self.mix(v as u64);
        self.mix((v >> 64) as u64);
    }
}

impl KeyHasher {
    fn mix(&mut self, v: u64) {
        self.0 = (self.0 ^ v)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            .rotate_left(29);
    }
}

type KeyMap<K> = HashMap<K, u32, BuildHasherDefault<KeyHasher>>;

/// The text column of `chunks` as one dictionary array (its distinct values in
/// order of first sight, and one key per row), or None when it holds too many
/// distinct values to be worth one.
fn dictionary_of(chunks: &[&Utf8ViewArray]) -> Option<DictionaryArray<u32>> {
    let len: usize = chunks.iter().map(|a| a.len()).sum();
    let limit = ((len as f64) * MAX_DISTINCT_SHARE) as usize;
    // Mostly distinct in a sample (ids): plain, without reading further.
    let sample = len.min(SAMPLE);
    if sample > 128 {
        let mut seen: KeyMap<&str> = KeyMap::default();
        let mut taken = 0;
        'sample: for array in chunks {
            for i in 0..array.len() {
                if taken == sample {
                    break 'sample;
                }
                taken += 1;
                if array.is_valid(i) {
                    seen.insert(array.value(i), 0);
                }
            }
        }
        if seen.len() as f64 > (sample as f64) * MAX_DISTINCT_SHARE {
            return None;
        }
    }
    // Short values are held whole in their view (zero-padded): the view is the key.
    // Longer ones are keyed by their text.
    let mut inline: KeyMap<u128> = KeyMap::default();
    let mut long: KeyMap<&str> = KeyMap::default();
    let mut values = MutableBinaryViewArray::<str>::new();
    let mut keys: Vec<u32> = Vec::with_capacity(len);
    let mut previous: Option<(u128, u32)> = None;
    for array in chunks {
        let views = array.views();
        for i in 0..array.len() {
            if !array.is_valid(i) {
                keys.push(0);
                continue;
            }
            let view = views[i];
            let bits = view.as_u128();
            if let Some((p, key)) = previous {
                if p == bits && view.is_inline() {
                    keys.push(key);
                    continue;
                }
            }
            let next = values.len() as u32;
            let key = if view.is_inline() {
                *inline.entry(bits).or_insert(next)
            } else {
                // SAFETY: i < array.len().
                let text = unsafe { array.value_unchecked(i) };
                *long.entry(text).or_insert(next)
            };
            if key == next {
                if values.len() >= limit {
                    return None;
                }
                // SAFETY: i < array.len().
                values.push_value(unsafe { array.value_unchecked(i) });
            }
            previous = Some((bits, key));
            keys.push(key);
        }
    }
    let values: Utf8ViewArray = values.into();
    let validity = match chunks {
        [one] => one.validity().cloned(),
        _ if chunks.iter().all(|a| a.validity().is_none()) => None,
        _ => {
            let mut bits = polars_arrow::bitmap::MutableBitmap::with_capacity(len);
            for array in chunks {
                match array.validity() {
                    Some(v) => bits.extend_from_bitmap(v),
                    None => bits.extend_constant(array.len(), true),
                }
            }
            Some(bits.freeze())
        }
    };
    let keys = PrimitiveArray::new(ArrowDataType::UInt32, keys.into(), validity);
    DictionaryArray::try_new(
        ArrowDataType::Dictionary(
            IntegerType::UInt32,
            Box::new(ArrowDataType::Utf8View),
            false,
        ),
        keys,
        values.boxed(),
    )
    .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `df` written with [`TableWriter`] as one row group.
    fn written(df: &DataFrame) -> Vec<u8> {
        let mut buffer = Vec::new();
        let mut writer = TableWriter::new(&mut buffer, df.schema()).unwrap();
        writer.write_group(df).unwrap();
        writer.finish().unwrap();
        buffer
    }

    /// Writes `df` with [`TableWriter`] and reads it back with polars.
    fn round_trip(df: &DataFrame) -> DataFrame {
        ParquetReader::new(std::io::Cursor::new(written(df)))
            .finish()
            .unwrap()
    }

    fn frame(rows: usize) -> DataFrame {
        let ts = DataType::Datetime(TimeUnit::Microseconds, Some(TimeZone::UTC));
        let id: Vec<String> = (0..rows).map(|i| format!("T{i:08}")).collect();
        let long_id: Vec<String> = (0..rows).map(|i| format!("{i:064x}")).collect();
        let channel: Vec<Option<&str>> = (0..rows)
            .map(|i| match i % 7 {
                0 => None,
                1 | 2 => Some("email"),
                3 => Some("a campaign with a long name"),
                4 => Some(""),
                _ => Some("web"),
            })
            .collect();
        let long_few: Vec<String> = (0..rows)
            .map(|i| format!("a value longer than twelve bytes #{}", (i / 3) % 5))
            .collect();
        let at: Vec<Option<i64>> = (0..rows)
            .map(|i| (i % 11 != 0).then_some(1_700_000_000_000_000 + i as i64 * 7_919))
            .collect();
        let day: Vec<Option<i32>> = (0..rows).map(|i| Some(19_000 + (i % 30) as i32)).collect();
        let amount: Vec<Option<f64>> = (0..rows)
            .map(|i| (i % 5 != 0).then_some(i as f64 * 0.5))
            .collect();
        let nothing: Vec<Option<&str>> = vec![None; rows];
        DataFrame::new(
            rows,
            vec![
                Column::new("id".into(), id),
                Column::new("long_id".into(), long_id),
                Column::new("channel".into(), channel),
                Column::new("long_few".into(), long_few),
                Column::new("at".into(), at).cast(&ts).unwrap(),
                Column::new("day".into(), day)
                    .cast(&DataType::Date)
                    .unwrap(),
                Column::new("amount".into(), amount),
                Column::new("nothing".into(), nothing)
                    .cast(&DataType::String)
                    .unwrap(),
            ],
        )
        .unwrap()
    }

    #[test]
    fn frames_read_back_as_written() {
        for rows in [0, 1, 5, 200, 5_000] {
            let df = frame(rows);
            let back = round_trip(&df);
            assert!(back.equals_missing(&df), "{rows} rows:\n{back}\n{df}");
        }
        // Two chunks, one row group.
        let mut df = frame(3_000);
        df.vstack_mut(&frame(1_000)).unwrap();
        let back = round_trip(&df);
        assert!(back.equals_missing(&df));
    }

    #[test]
    fn a_frame_of_pieces_is_one_row_group_read_back_as_written() {
        // Pieces of different sizes, some without nulls in a column that others have
        // (no validity at all), stacked without being copied into one chunk.
        let mut df = frame(0);
        let pieces = [frame(300), frame(1), frame(2_500), frame(7)];
        let mut no_nulls = frame(40);
        no_nulls = no_nulls
            .lazy()
            .with_column(col("channel").fill_null(lit("web")))
            .collect()
            .unwrap();
        for piece in pieces.into_iter().chain([no_nulls]) {
            df.vstack_mut_owned(piece).unwrap();
        }
        assert!(df.column("channel").unwrap().n_chunks() > 1);
        let mut reader = ParquetReader::new(std::io::Cursor::new(written(&df)));
        let metadata = reader.get_metadata().unwrap().clone();
        assert_eq!(metadata.row_groups.len(), 1);
        let has_dictionary = |name: &str| {
            metadata.row_groups[0]
                .parquet_columns()
                .iter()
                .find(|c| c.descriptor().path_in_schema[0].as_str() == name)
                .unwrap()
                .dictionary_page_offset()
                .is_some()
        };
        assert!(has_dictionary("channel"));
        assert!(!has_dictionary("id"));
        let back = reader.finish().unwrap();
        assert!(back.equals_missing(&df));
    }

    #[test]
    fn few_values_are_a_dictionary_and_ids_are_plain() {
        let df = frame(5_000);
        let text = |name: &str| {
            df.column(name)
                .unwrap()
                .as_materialized_series()
                .to_arrow(0, CompatLevel::newest())
        };
        let dictionary = |name: &str| {
            dictionary_of(&[text(name).as_any().downcast_ref::<Utf8ViewArray>().unwrap()])
        };
        assert!(dictionary("id").is_none());
        assert!(dictionary("long_id").is_none());
        let channel = dictionary("channel").expect("few values");
        assert_eq!(channel.values().len(), 4, "email, a campaign.., \"\", web");
        assert_eq!(
            channel.null_count(),
            df.column("channel").unwrap().null_count()
        );
        assert_eq!(
            dictionary("long_few").expect("few values").values().len(),
            5
        );
        // All null: an empty dictionary.
        assert_eq!(dictionary("nothing").expect("no values").values().len(), 0);
        // Few values in the sample, distinct ones after it: given up past half.
        let late: Vec<String> = (0..5_000)
            .map(|i| {
                if i < SAMPLE {
                    "a".into()
                } else {
                    format!("v{i}")
                }
            })
            .collect();
        let late = Series::new("late".into(), late);
        let arrow = late.to_arrow(0, CompatLevel::newest());
        assert!(
            dictionary_of(&[arrow.as_any().downcast_ref::<Utf8ViewArray>().unwrap()]).is_none()
        );
        let df = DataFrame::new(5_000, vec![late.into_column()]).unwrap();
        assert!(round_trip(&df).equals_missing(&df));
    }

    #[test]
    fn text_statistics_hold_min_max_and_nulls() {
        use polars_parquet::parquet::statistics::Statistics;
        let df = frame(5_000);
        let metadata = ParquetReader::new(std::io::Cursor::new(written(&df)))
            .get_metadata()
            .unwrap()
            .clone();
        let group = &metadata.row_groups[0];
        let stats = |name: &str| {
            let column = group
                .parquet_columns()
                .iter()
                .find(|c| c.descriptor().path_in_schema[0].as_str() == name)
                .unwrap();
            match column.statistics(&metadata.footer_buf).unwrap().unwrap() {
                Statistics::Binary(b) => (
                    String::from_utf8(b.min_value.unwrap()).unwrap(),
                    String::from_utf8(b.max_value.unwrap()).unwrap(),
                    b.null_count.unwrap(),
                ),
                other => panic!("{name}: {other:?}"),
            }
        };
        // Timestamps are stored uncompressed, the rest with LZ4.
        use polars_parquet::parquet::compression::Compression;
        for column in group.parquet_columns() {
            let name = column.descriptor().path_in_schema[0].as_str();
            let expected = if name == "at" {
                Compression::Uncompressed
            } else {
                Compression::Lz4Raw
            };
            assert_eq!(column.compression(), expected, "{name}");
        }
        // Dictionary-encoded: from the dictionary's values, nulls from the rows.
        let nulls = df.column("channel").unwrap().null_count() as i64;
        assert_eq!(stats("channel"), ("".into(), "web".into(), nulls));
        // Plain.
        assert_eq!(stats("id"), ("T00000000".into(), "T00004999".into(), 0));
    }
}
