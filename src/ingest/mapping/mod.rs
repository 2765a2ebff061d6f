//! Reads exports in any CSV shape through a mapping (docs/ingest.md): each source names the
//! files it reads, the table it feeds and where every canonical column's value comes
//! from. Rows then go through the same typing and quarantine as native files.
//!
//! Order of work: the files are matched to sources; lookup and alias tables are read
//! first (they are small: ids to ids); then each source reads its files row by row.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use chrono_tz::Tz;
use polars::prelude::*;

use crate::config::mapping::{
    delimiter_byte, file_pattern, Alias, ColumnRule, Encoding, FileFormat, Lookup, Mapping, Source,
    When,
};
use crate::error::{Error, Result};
use crate::ingest::parse::NumberFormat;
use crate::ingest::quarantine::QuarantinedRow;
use crate::ingest::records::{Batch, RecordReader};
use crate::ingest::typed::{ColumnFormat, TableBuilder};
use crate::model::columns::{ColumnType, TableSchema};
use crate::model::warehouse::{InputRecord, TableCounts};
use crate::observe::{MeterKind, Observer};

/// What a mapped read produced for one table.
#[derive(Default)]
pub struct MappedTable {
    pub frames: Vec<DataFrame>,
    /// Key rows of records the input deletes.
    pub deletions: Vec<DataFrame>,
    pub counts: TableCounts,
    pub quarantined: Vec<QuarantinedRow>,
    /// Fold repeated stages (see `Source::collapse_same_stage`).
    pub collapse_same_stage: bool,
}

pub struct MappedRead {
    pub tables: BTreeMap<&'static str, MappedTable>,
    pub inputs: Vec<InputRecord>,
}

/// Whether `name` matches the file name pattern `pattern` (validated with the
/// definitions), case-insensitively.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    file_pattern(pattern).is_ok_and(|m| m.is_match(name))
}

fn matches_any(patterns: &[String], path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    patterns.iter().any(|p| glob_match(p, &name))
}

/// The files of the inputs: folders are listed (not recursively), sorted by name.
fn list_files(inputs: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for input in inputs {
        if input.is_dir() {
            let entries =
                std::fs::read_dir(input).map_err(|e| Error::io("cannot list", input, e))?;
            let mut paths: Vec<PathBuf> = entries
                .filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.is_file())
                .collect();
            paths.sort();
            files.extend(paths);
        } else if input.is_file() {
            files.push(input.clone());
        } else {
            return Err(Error::input(input, "no such file or folder"));
        }
    }
    Ok(files)
}

/// A file decoded to text, with its raw bytes' hash.
#[derive(Debug)]
struct TextFile {
    /// Shared: a file read by several sources and lookups is decoded once.
    text: Rc<str>,
    blake3: String,
    bytes: u64,
}

fn read_text(path: &Path, encoding: Encoding) -> Result<TextFile> {
    let bytes = crate::ingest::native::read_bytes(path)?;
    let hash = blake3::hash(&bytes).to_hex().to_string();
    if bytes.contains(&0) {
        return Err(Error::input(
            path,
            "this is not a CSV text file (it contains NUL bytes); export the table as CSV",
        ));
    }
    let text = match encoding {
        Encoding::Utf8 => match String::from_utf8(bytes) {
            Ok(t) => t,
            Err(e) => {
                let at = e.utf8_error().valid_up_to();
                let line = e.as_bytes()[..at].iter().filter(|b| **b == b'\n').count() + 1;
                return Err(Error::input(
                    path,
                    format!("line {line}: {}", crate::ingest::native::ENCODING_HINT),
                ));
            }
        },
        // ISO-8859-1 proper: each byte is the code point of the same number (the
        // Encoding Standard reads the label `latin-1` as Windows-1252 instead).
        Encoding::Latin1 => bytes.iter().map(|&b| b as char).collect(),
        // Undefined bytes (0x81, 0x8D, 0x8F, 0x90, 0x9D) stay C1 controls.
        Encoding::Windows1252 => encoding_rs::WINDOWS_1252
            .decode_without_bom_handling(&bytes)
            .0
            .into_owned(),
    };
    let text = match text.strip_prefix('\u{feff}') {
        Some(rest) => rest.to_string(),
        None => text,
    };
    Ok(TextFile {
        text: text.into(),
        blake3: hash,
        bytes: std::fs::metadata(path).map(|m| m.len()).unwrap_or(0),
    })
}

/// A parsed CSV file: header and records with their line numbers, split by the
/// same [`RecordReader`] as native files.
struct Csv<'a> {
    header: Vec<String>,
    reader: RecordReader<&'a [u8]>,
    batch: Batch,
    /// The next record of `batch` to hand out.
    next: usize,
}

/// Records per batch of a mapped file.
const BATCH_RECORDS: usize = 64 * 1024;

impl<'a> Csv<'a> {
    fn open(path: &Path, text: &'a str, delimiter: u8, max_record: usize) -> Result<Csv<'a>> {
        let mut reader =
            RecordReader::with_delimiter(text.as_bytes(), delimiter).with_max_record(max_record);
        let header: Vec<String> = reader
            .header()
            .map_err(|e| e.into_error(path, &[]))?
            .iter()
            .map(|h| {
                String::from_utf8_lossy(h)
                    .trim_start_matches('\u{feff}')
                    .trim()
                    .to_string()
            })
            .collect();
        if header.len() <= 1 && header.iter().all(|h| h.is_empty()) {
            return Err(Error::input(path, "the file is empty (no header line)"));
        }
        Ok(Csv {
            header,
            reader,
            batch: Batch::default(),
            next: 0,
        })
    }

    fn position(&self, column: &str) -> Option<usize> {
        self.header.iter().position(|h| h == column)
    }

    /// The next data record (into `record`) and the line it starts on, skipping
    /// blank lines (and lines of spaces).
    fn next(&mut self, path: &Path, record: &mut csv::StringRecord) -> Result<Option<u64>> {
        loop {
            if self.next == self.batch.len() {
                self.reader
                    .read_batch(&mut self.batch, BATCH_RECORDS)
                    .map_err(|e| e.into_error(path, &self.header))?;
                self.next = 0;
                if self.batch.is_empty() {
                    return Ok(None);
                }
            }
            let i = self.next;
            self.next += 1;
            record.clear();
            for field in self.batch.record(i) {
                record.push_field(field);
            }
            if record.len() == 1 && record[0].trim().is_empty() {
                continue;
            }
            return Ok(Some(self.batch.line(i)));
        }
    }
}

/// Reads a cell: trimmed, and empty when it is one of the null values.
fn cell<'r>(record: &'r csv::StringRecord, index: Option<usize>, nulls: &[String]) -> &'r str {
    let text = index.and_then(|i| record.get(i)).unwrap_or("").trim();
    if nulls.iter().any(|n| n == text) {
        ""
    } else {
        text
    }
}

fn equals_any(text: &str, values: &[String]) -> bool {
    values
        .iter()
        .any(|v| v.trim().to_lowercase() == text.to_lowercase())
}

/// Reads a lookup's files into `match value → take value`.
fn read_lookup(
    lookup: &Lookup,
    files: &[PathBuf],
    format: &FileFormat,
    nulls: &[String],
    used: &mut Vec<(PathBuf, TextFile, u64)>,
    max_record: usize,
) -> Result<HashMap<String, String>> {
    let mut map = HashMap::new();
    let matched: Vec<&PathBuf> = files
        .iter()
        .filter(|p| matches_any(&lookup.files, p))
        .collect();
    if matched.is_empty() && !lookup.optional {
        return Err(Error::Usage(format!(
            "a mapping lookup (files = {:?}, match = \"{}\", take = \"{}\") found none of its files among the inputs: add the file to the ingest's inputs, or set `optional = true` in the lookup if some exports lack it",
            lookup.files, lookup.match_column, lookup.take
        )));
    }
    for path in matched {
        let text = text_of(path, format, used)?;
        let mut csv = Csv::open(path, &text, delimiter_of(format), max_record)?;
        let need = |c: &str| {
            csv.position(c).ok_or_else(|| {
                Error::input(
                    path,
                    format!(
                        "column `{c}` is missing, needed by a mapping lookup (match = \"{}\", take = \"{}\"); the header has: {}",
                        lookup.match_column,
                        lookup.take,
                        csv.header.join(", ")
                    ),
                )
            })
        };
        let key = need(&lookup.match_column)?;
        let take = need(&lookup.take)?;
        let filters: Vec<(usize, &Vec<String>)> = lookup
            .filter
            .iter()
            .map(|(c, v)| need(c).map(|i| (i, v)))
            .collect::<Result<_>>()?;
        let mut record = csv::StringRecord::new();
        while csv.next(path, &mut record)?.is_some() {
            if !filters
                .iter()
                .all(|(i, v)| equals_any(cell(&record, Some(*i), nulls), v))
            {
                continue;
            }
            let (k, v) = (
                cell(&record, Some(key), nulls),
                cell(&record, Some(take), nulls),
            );
            // Keys match trimmed: ` 0015` and `0015` are one id.
            if !k.trim().is_empty() && !v.is_empty() {
                map.insert(k.trim().to_string(), v.to_string());
            }
        }
    }
    Ok(map)
}

fn delimiter_of(format: &FileFormat) -> u8 {
    format
        .delimiter
        .as_deref()
        .map(|d| delimiter_byte(d).expect("validated delimiter"))
        .unwrap_or(b',')
}

fn encoding_of(format: &FileFormat) -> Encoding {
    format
        .encoding
        .as_deref()
        .map(|e| Encoding::parse(e).expect("validated encoding"))
        .unwrap_or(Encoding::Utf8)
}

/// Decodes a file once per run; every use after the first reads the cached text.
fn text_of(
    path: &Path,
    format: &FileFormat,
    used: &mut Vec<(PathBuf, TextFile, u64)>,
) -> Result<Rc<str>> {
    if let Some((_, t, _)) = used.iter().find(|(p, _, _)| p == path) {
        return Ok(Rc::clone(&t.text));
    }
    let t = read_text(path, encoding_of(format))?;
    let text = Rc::clone(&t.text);
    used.push((path.to_path_buf(), t, 0));
    Ok(text)
}

/// One alternative of a column, with source columns resolved to positions.
enum Base {
    /// A source column (None: optional and absent), split, and a lookup.
    Column {
        index: Option<usize>,
        split: Option<String>,
        lookup: Option<usize>,
    },
    Value(String),
    When {
        conditions: Vec<(Option<usize>, Option<Vec<String>>, Yield)>,
        otherwise: String,
    },
}

enum Yield {
    Value(String),
    From(Option<usize>),
}

struct Alternative {
    base: Base,
    map: HashMap<String, String>,
    unmapped: Unmapped,
    key: String,
}

#[derive(PartialEq)]
enum Unmapped {
    Keep,
    Null,
    Error,
}

struct CompiledColumn {
    alternatives: Vec<Alternative>,
}

/// The value of one canonical column for one record (empty = null).
fn evaluate(
    column: &CompiledColumn,
    record: &csv::StringRecord,
    nulls: &[String],
    lookups: &[LookupTable],
) -> std::result::Result<String, (String, String)> {
    for alt in &column.alternatives {
        let mut value = match &alt.base {
            Base::Column {
                index,
                split,
                lookup,
            } => {
                let mut v = cell(record, *index, nulls).to_string();
                if let Some(sep) = split {
                    v = v
                        .split(sep.as_str())
                        .map(str::trim)
                        .find(|p| !p.is_empty())
                        .unwrap_or("")
                        .to_string();
                }
                if let Some(l) = lookup {
                    let table = &lookups[*l];
                    match table.map.get(v.trim()) {
                        Some(found) => v = found.clone(),
                        None if v.trim().is_empty() => v.clear(),
                        None => {
                            table.misses.set(table.misses.get() + 1);
                            match table.unmatched {
                                Unmapped::Keep => {}
                                Unmapped::Null => v.clear(),
                                Unmapped::Error => {
                                    let reason = format!(
                                        "`{v}` has no row in the lookup files {:?} (match = \"{}\"; set `unmatched = \"null\"` in the lookup to store it empty)",
                                        table.files, table.match_column
                                    );
                                    return Err((reason, v));
                                }
                            }
                        }
                    }
                }
                v
            }
            Base::Value(v) => v.clone(),
            Base::When {
                conditions,
                otherwise,
            } => {
                let hit = conditions.iter().find(|(index, equals, _)| {
                    let c = cell(record, *index, nulls);
                    match equals {
                        Some(values) => equals_any(c, values),
                        None => !c.is_empty(),
                    }
                });
                match hit.map(|(_, _, y)| y) {
                    Some(Yield::Value(v)) => v.clone(),
                    Some(Yield::From(index)) => cell(record, *index, nulls).to_string(),
                    None => otherwise.clone(),
                }
            }
        };
        if !value.is_empty() && !alt.map.is_empty() {
            match alt.map.get(&value.trim().to_lowercase()) {
                Some(mapped) => value = mapped.clone(),
                None => match alt.unmapped {
                    Unmapped::Keep => {}
                    Unmapped::Null => value.clear(),
                    Unmapped::Error => {
                        let reason = format!(
                            "`{value}` is not in `{}.map` (add it there, or set `unmapped = \"keep\"`)",
                            alt.key
                        );
                        return Err((reason, value));
                    }
                },
            }
        }
        if !value.trim().is_empty() {
            return Ok(value);
        }
    }
    Ok(String::new())
}

/// An unpivot resolved against a header: where the label and the cell go, and the
/// source columns with their labels.
struct CompiledUnpivot {
    name: usize,
    value: usize,
    cells: Vec<(usize, String)>,
}

/// A source's `where` conditions: a column's position and the values it accepts.
type RowFilters = Vec<(usize, Vec<String>)>;

/// Everything one source needs for one file, resolved against its header.
struct CompiledSource {
    /// One per canonical column of the table; None: not mapped (null) or unpivoted.
    columns: Vec<Option<CompiledColumn>>,
    filters: RowFilters,
    require: Vec<usize>,
    deleted: Option<(usize, Vec<String>)>,
    unpivot: Option<CompiledUnpivot>,
}

struct Compiler<'a> {
    path: &'a Path,
    header: &'a [String],
    key: &'a str,
}

impl Compiler<'_> {
    fn find(&self, column: &str, optional: bool, key: &str) -> Result<Option<usize>> {
        match self.header.iter().position(|h| h == column) {
            Some(i) => Ok(Some(i)),
            None if optional => Ok(None),
            None => Err(Error::input(
                self.path,
                format!(
                    "column `{column}` (named by mapping key `{key}`) is not in the file; fix the name there, or set `optional = true` if some exports lack it. The header has: {}",
                    self.header.join(", ")
                ),
            )),
        }
    }

    fn rule(
        &self,
        rule: &ColumnRule,
        key: &str,
        lookup_ids: &BTreeMap<Lookup, usize>,
    ) -> Result<Alternative> {
        let base = if let Some(c) = &rule.column {
            Base::Column {
                index: self.find(c, rule.optional, &format!("{key}.column"))?,
                split: rule.split.clone(),
                lookup: rule.lookup.as_ref().map(|l| lookup_ids[l]),
            }
        } else if let Some(v) = &rule.value {
            Base::Value(v.clone())
        } else {
            let conditions = rule
                .when
                .iter()
                .enumerate()
                .map(|(i, w): (usize, &When)| {
                    let wkey = format!("{key}.when[{i}]");
                    let index = self.find(&w.column, rule.optional, &format!("{wkey}.column"))?;
                    let y = match (&w.value, &w.from) {
                        (Some(v), _) => Yield::Value(v.clone()),
                        (None, Some(f)) => {
                            Yield::From(self.find(f, rule.optional, &format!("{wkey}.from"))?)
                        }
                        (None, None) => Yield::Value(String::new()),
                    };
                    Ok((index, w.equals.as_ref().map(|e| e.to_vec()), y))
                })
                .collect::<Result<_>>()?;
            Base::When {
                conditions,
                otherwise: rule.otherwise.clone().unwrap_or_default(),
            }
        };
        Ok(Alternative {
            base,
            map: rule
                .map
                .iter()
                .map(|(k, v)| (k.trim().to_lowercase(), v.clone()))
                .collect(),
            unmapped: match rule.unmapped.as_deref() {
                Some("null") => Unmapped::Null,
                Some("error") => Unmapped::Error,
                _ => Unmapped::Keep,
            },
            key: key.to_string(),
        })
    }

    fn source(
        &self,
        source: &Source,
        rules: &[(String, Vec<ColumnRule>)],
        lookup_ids: &BTreeMap<Lookup, usize>,
    ) -> Result<CompiledSource> {
        let schema = source.schema();
        let mut columns: Vec<Option<CompiledColumn>> =
            schema.columns.iter().map(|_| None).collect();
        for (name, alternatives) in rules {
            let position = schema
                .columns
                .iter()
                .position(|c| c.name == name)
                .expect("validated column");
            let many = alternatives.len() > 1;
            let compiled = alternatives
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    let key = if many {
                        format!("{}.columns.{name}[{i}]", self.key)
                    } else {
                        format!("{}.columns.{name}", self.key)
                    };
                    self.rule(r, &key, lookup_ids)
                })
                .collect::<Result<_>>()?;
            columns[position] = Some(CompiledColumn {
                alternatives: compiled,
            });
        }
        let (filters, require) = self.conditions(source)?;
        let deleted = match &source.deleted {
            Some(d) => self
                .find(
                    &d.column,
                    d.optional,
                    &format!("{}.deleted.column", self.key),
                )?
                .map(|i| {
                    (
                        i,
                        d.equals
                            .as_ref()
                            .map(|e| e.to_vec())
                            .unwrap_or_else(|| vec!["1".into(), "true".into()]),
                    )
                }),
            None => None,
        };
        let unpivot = match &source.unpivot {
            Some(u) => Some(self.unpivot(u, schema)?),
            None => None,
        };
        Ok(CompiledSource {
            columns,
            filters,
            require,
            deleted,
            unpivot,
        })
    }

    /// The source's row conditions: each `where` column's position with its accepted
    /// values, and each `require`d column's position.
    fn conditions(&self, source: &Source) -> Result<(RowFilters, Vec<usize>)> {
        let filters = source
            .filter
            .iter()
            .map(|(c, v)| {
                Ok((
                    self.find(c, false, &format!("{}.where.{c}", self.key))?
                        .expect("not optional"),
                    v.to_vec(),
                ))
            })
            .collect::<Result<_>>()?;
        let require = source
            .require
            .iter()
            .map(|c| {
                Ok(self
                    .find(c, false, &format!("{}.require", self.key))?
                    .expect("not optional"))
            })
            .collect::<Result<_>>()?;
        Ok((filters, require))
    }

    /// The cells an unpivot turns into rows: the header columns its pattern or its
    /// list names, each with its label. An error when none is in the file.
    fn unpivot(
        &self,
        u: &crate::config::mapping::Unpivot,
        schema: &TableSchema,
    ) -> Result<CompiledUnpivot> {
        let pos = |c: &str| {
            schema
                .columns
                .iter()
                .position(|x| x.name == c)
                .expect("validated")
        };
        let mut cells = Vec::new();
        if let Some(p) = &u.pattern {
            let re = regex::Regex::new(p).expect("validated pattern");
            for (i, h) in self.header.iter().enumerate() {
                if let Some(c) = re.captures(h) {
                    let label = c.get(1).map_or("", |m| m.as_str()).trim();
                    if !label.is_empty() {
                        cells.push((i, label.to_string()));
                    }
                }
            }
        }
        for (column, label) in &u.columns {
            if let Some(i) = self.header.iter().position(|h| h == column) {
                cells.push((i, label.clone()));
            }
        }
        if cells.is_empty() {
            return Err(Error::input(
                self.path,
                format!(
                    "no column of the file matches mapping key `{}.unpivot` ({}); the header has: {}",
                    self.key,
                    match &u.pattern {
                        Some(p) => format!("pattern `{p}`"),
                        None => format!(
                            "columns {}",
                            u.columns.keys().cloned().collect::<Vec<_>>().join(", ")
                        ),
                    },
                    self.header.join(", ")
                ),
            ));
        }
        Ok(CompiledUnpivot {
            name: pos(&u.name),
            value: pos(&u.value),
            cells,
        })
    }
}

/// The formats of each canonical column of a source.
fn column_formats(
    source: &Source,
    rules: &[(String, Vec<ColumnRule>)],
    format: &FileFormat,
    calendar_tz: Tz,
) -> Vec<ColumnFormat> {
    let schema = source.schema();
    let tz_of =
        |name: Option<&String>| -> Tz { name.and_then(|t| t.parse().ok()).unwrap_or(calendar_tz) };
    let file_tz = tz_of(format.timezone.as_ref());
    let number = NumberFormat {
        decimal: format
            .decimal
            .as_deref()
            .and_then(|d| d.chars().next())
            .unwrap_or('.'),
        thousands: format.thousands.as_deref().and_then(|t| t.chars().next()),
        strip: format.currency_symbols.clone().unwrap_or_default(),
    };
    let rule_of = |name: &str| rules.iter().find(|(n, _)| n == name).map(|(_, r)| r);
    schema
        .columns
        .iter()
        .map(|c| {
            let own = rule_of(c.name);
            let own_format = own.and_then(|rs| rs.iter().find_map(|r| r.format.clone()));
            let own_tz = own.and_then(|rs| rs.iter().find_map(|r| r.timezone.clone()));
            let file_format = match c.ty {
                ColumnType::Timestamp => format.timestamp_format.clone(),
                ColumnType::Date => format.date_format.clone(),
                _ => None,
            };
            ColumnFormat {
                format: own_format.or(file_format),
                tz: own_tz.map(|t| tz_of(Some(&t))).unwrap_or(file_tz),
                number: number.clone(),
                lenient_date: true,
            }
        })
        .collect()
}

/// Reads `inputs` through `mapping`: every source's files, typed into its table's
/// frames, with the rows to delete and the rows quarantined.
pub fn read(
    inputs: &[PathBuf],
    mapping: &Mapping,
    calendar_tz: Tz,
    max_record: usize,
    progress: &dyn Observer,
) -> Result<MappedRead> {
    let files = list_files(inputs)?;
    let plan = Plan::new(mapping, &files, inputs)?;
    plan.warn_unread(mapping, &files, progress);
    let base = &mapping.format;
    let mut used: Vec<(PathBuf, TextFile, u64)> = Vec::new();
    let resolve = Resolve::read(mapping, &plan.lookup_ids, &files, &mut used, max_record)?;
    let total: u64 = plan
        .sources
        .iter()
        .flat_map(|(_, _, fs)| fs.iter())
        .map(|f| std::fs::metadata(f).map(|m| m.len()).unwrap_or(0))
        .sum();
    let bar = progress.meter(MeterKind::Bytes, total, "reading");
    let mut tables: BTreeMap<&'static str, MappedTable> = BTreeMap::new();
    let mut fed: HashMap<PathBuf, Vec<&'static str>> = HashMap::new();
    for (i, source, paths) in &plan.sources {
        let format = source.format.over(base);
        let reader = SourceReader {
            key: format!("mapping.source[{i}]"),
            source,
            schema: source.schema(),
            nulls: format.null_values.clone().unwrap_or_default(),
            formats: column_formats(source, &plan.rules[*i], &format, calendar_tz),
            format: format.clone(),
            rules: &plan.rules[*i],
            lookup_ids: &plan.lookup_ids,
            resolve: &resolve,
        };
        let table = tables.entry(reader.schema.name).or_default();
        table.collapse_same_stage |= source.collapse_same_stage;
        for path in paths {
            bar.set_message(reader.schema.name);
            let text = decoded(&mut used, path, &format, base)?;
            let read = reader.read_file(path, &text)?;
            bar.inc(std::fs::metadata(path).map(|m| m.len()).unwrap_or(0));
            if let Some(k) = used.iter().position(|(p, _, _)| p == path) {
                used[k].2 = read.read;
            }
            tables
                .get_mut(reader.schema.name)
                .expect("entry made above")
                .add(read);
            fed.entry(path.to_path_buf())
                .or_default()
                .push(reader.schema.name);
        }
    }
    bar.finish();
    // Values a lookup did not find, stored empty or as they were: counted, so a key
    // that differs from the lookup file's is not lost without a word.
    for l in resolve.lookups.iter().filter(|l| l.misses.get() > 0) {
        let what = match l.unmatched {
            Unmapped::Null => "stored empty",
            Unmapped::Keep => "kept as they were",
            Unmapped::Error => "rows quarantined",
        };
        progress.info(&format!(
            "lookup {:?} ({} → {}): {} value(s) found no row, {what}",
            l.files,
            l.match_column,
            l.take,
            crate::text::thousands(l.misses.get())
        ));
    }
    tables.retain(|_, t| !t.frames.is_empty() || !t.deletions.is_empty());
    Ok(MappedRead {
        tables,
        inputs: input_records(used, &fed),
    })
}

/// Which files each source reads, each source's column rules (parsed once: the
/// definitions were validated) and the lookups they use, numbered.
struct Plan<'m> {
    sources: Vec<(usize, &'m Source, Vec<PathBuf>)>,
    rules: Vec<Vec<(String, Vec<ColumnRule>)>>,
    lookup_ids: BTreeMap<Lookup, usize>,
}

impl<'m> Plan<'m> {
    fn new(mapping: &'m Mapping, files: &[PathBuf], inputs: &[PathBuf]) -> Result<Self> {
        let sources: Vec<(usize, &Source, Vec<PathBuf>)> = mapping
            .source
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let patterns = s.files.to_vec();
                let matched = files
                    .iter()
                    .filter(|f| matches_any(&patterns, f))
                    .cloned()
                    .collect();
                (i, s, matched)
            })
            .collect();
        if sources.iter().all(|(_, _, fs)| fs.is_empty()) {
            let patterns: Vec<String> = mapping
                .source
                .iter()
                .flat_map(|s| s.files.to_vec())
                .collect();
            return Err(Error::input(
                inputs.first().map(PathBuf::as_path).unwrap_or(Path::new(".")),
                format!(
                    "no file matches the mapping's sources (file patterns: {}); check `mapping.source[…].files`",
                    patterns.join(", ")
                ),
            ));
        }
        let rules: Vec<Vec<(String, Vec<ColumnRule>)>> = mapping
            .source
            .iter()
            .enumerate()
            .map(|(i, s)| s.rules(&format!("mapping.source[{i}]")))
            .collect::<std::result::Result<_, _>>()
            .map_err(Error::Usage)?;
        let mut lookup_ids: BTreeMap<Lookup, usize> = BTreeMap::new();
        for rule in rules.iter().flatten().flat_map(|(_, r)| r) {
            if let Some(l) = &rule.lookup {
                let n = lookup_ids.len();
                lookup_ids.entry(l.clone()).or_insert(n);
            }
        }
        Ok(Plan {
            sources,
            rules,
            lookup_ids,
        })
    }

    /// Warns about each table-like file that no source, lookup or alias reads.
    fn warn_unread(&self, mapping: &Mapping, files: &[PathBuf], progress: &dyn Observer) {
        let consumed = |f: &PathBuf| {
            self.sources.iter().any(|(_, _, fs)| fs.contains(f))
                || self.lookup_ids.keys().any(|l| matches_any(&l.files, f))
                || mapping.alias.iter().any(|a| matches_any(&a.files, f))
        };
        let tabular = |f: &PathBuf| {
            f.extension()
                .map(|e| e.to_string_lossy().to_lowercase())
                .is_some_and(|e| ["csv", "tsv", "txt"].contains(&e.as_str()))
        };
        for f in files {
            if !consumed(f) && tabular(f) {
                progress.warn(&format!(
                    "ignoring `{}`: no mapping source reads it",
                    f.display()
                ));
            }
        }
    }
}

/// What the lookup and alias files say: each lookup's map (by its number) and, per
/// column, the identifiers that stand for another record.
/// One lookup read: its map, what a value it lacks becomes, and how many did.
struct LookupTable {
    map: HashMap<String, String>,
    unmatched: Unmapped,
    misses: std::cell::Cell<u64>,
    files: Vec<String>,
    match_column: String,
    take: String,
}

struct Resolve {
    /// The longest record of any file read.
    max_record: usize,
    lookups: Vec<LookupTable>,
    aliases: HashMap<String, HashMap<String, String>>,
}

impl Resolve {
    fn read(
        mapping: &Mapping,
        lookup_ids: &BTreeMap<Lookup, usize>,
        files: &[PathBuf],
        used: &mut Vec<(PathBuf, TextFile, u64)>,
        max_record: usize,
    ) -> Result<Self> {
        let base = &mapping.format;
        let base_nulls = base.null_values.clone().unwrap_or_default();
        let mut ordered: Vec<(&usize, &Lookup)> =
            lookup_ids.iter().map(|(l, id)| (id, l)).collect();
        ordered.sort();
        let mut lookups = Vec::with_capacity(ordered.len());
        for (_, lookup) in ordered {
            lookups.push(LookupTable {
                map: read_lookup(lookup, files, base, &base_nulls, used, max_record)?,
                unmatched: match lookup.unmatched.as_deref() {
                    Some("null") => Unmapped::Null,
                    Some("keep") => Unmapped::Keep,
                    _ => Unmapped::Error,
                },
                misses: std::cell::Cell::new(0),
                files: lookup.files.clone(),
                match_column: lookup.match_column.clone(),
                take: lookup.take.clone(),
            });
        }
        let mut aliases: HashMap<String, HashMap<String, String>> = HashMap::new();
        for alias in &mapping.alias {
            let a: &Alias = alias;
            let lookup = Lookup {
                files: a.files.clone(),
                match_column: a.from.clone(),
                take: a.to.clone(),
                // An alias file may be missing: then nothing stands for another record.
                optional: true,
                ..Lookup::default()
            };
            let map = read_lookup(&lookup, files, base, &base_nulls, used, max_record)?;
            aliases.entry(a.column.clone()).or_default().extend(map);
        }
        Ok(Resolve {
            lookups,
            aliases,
            max_record,
        })
    }

    /// Rewrites identifiers that stand for another record (up to eight hops); true
    /// when the table's own key (`keyed_by`) was one of them.
    fn alias(&self, schema: &TableSchema, values: &mut [String], keyed_by: Option<&str>) -> bool {
        let mut aliased = false;
        for (c, v) in schema.columns.iter().zip(values.iter_mut()) {
            if let Some(map) = self.aliases.get(c.name) {
                let mut hops = 0;
                while let Some(to) = map.get(v.as_str()) {
                    if hops == 8 || to == v {
                        break;
                    }
                    *v = to.clone();
                    hops += 1;
                    if keyed_by == Some(c.name) {
                        aliased = true;
                    }
                }
            }
        }
        aliased
    }
}

/// The text of `path` in `format`'s encoding: decoded once and shared with the
/// lookups that read the same file in the same encoding.
fn decoded(
    used: &mut Vec<(PathBuf, TextFile, u64)>,
    path: &Path,
    format: &FileFormat,
    base: &FileFormat,
) -> Result<Rc<str>> {
    if let Some(k) = used.iter().position(|(p, _, _)| p == path) {
        if format.encoding == base.encoding {
            return Ok(Rc::clone(&used[k].1.text));
        }
    }
    let t = read_text(path, encoding_of(format))?;
    let text = Rc::clone(&t.text);
    used.retain(|(p, _, _)| p != path);
    used.push((path.to_path_buf(), t, 0));
    Ok(text)
}

/// One source of the mapping, ready to read its files.
struct SourceReader<'a> {
    /// `mapping.source[i]`, for messages.
    key: String,
    source: &'a Source,
    schema: &'static TableSchema,
    /// The source's file format over the mapping's.
    format: FileFormat,
    nulls: Vec<String>,
    formats: Vec<ColumnFormat>,
    rules: &'a [(String, Vec<ColumnRule>)],
    lookup_ids: &'a BTreeMap<Lookup, usize>,
    resolve: &'a Resolve,
}

/// What one file gave its source's table.
struct FileRead {
    frame: DataFrame,
    /// Key rows to delete: deleted records, and records of an aliased key.
    deletions: Vec<DataFrame>,
    quarantined: Vec<QuarantinedRow>,
    read: u64,
    skipped: u64,
}

impl MappedTable {
    fn add(&mut self, file: FileRead) {
        self.counts.read += file.read;
        self.counts.skipped += file.skipped;
        self.counts.loaded += file.frame.height() as u64;
        self.counts.quarantined += file.quarantined.len() as u64;
        self.frames.push(file.frame);
        self.counts.deleted += file.deletions.first().map_or(0, |d| d.height() as u64);
        self.deletions
            .extend(file.deletions.into_iter().filter(|d| d.height() > 0));
        self.quarantined.extend(file.quarantined);
    }
}

/// What becomes of one record.
enum Outcome {
    /// Left out by the source's filters or required columns.
    Skipped,
    /// Its key stands for another record: the row is that record's. A deleted one
    /// deletes its key; another is left out, its key removed from the table.
    Aliased { values: Vec<String>, deleted: bool },
    /// One row (or one per unpivoted cell), with the first bad value's reason.
    Rows {
        rows: Vec<Vec<String>>,
        error: Option<String>,
        deleted: bool,
    },
}

impl SourceReader<'_> {
    /// Reads one file of the source.
    fn read_file(&self, path: &Path, text: &str) -> Result<FileRead> {
        let mut csv = Csv::open(
            path,
            text,
            delimiter_of(&self.format),
            self.resolve.max_record,
        )?;
        let header = csv.header.clone();
        let compiled = Compiler {
            path,
            header: &header,
            key: &self.key,
        }
        .source(self.source, self.rules, self.lookup_ids)?;
        let file = path.display().to_string();
        let mut builder = TableBuilder::new(self.schema, self.formats.clone());
        let mut deletions = TableBuilder::keys_only(self.schema, self.formats.clone());
        let mut dropped = TableBuilder::keys_only(self.schema, self.formats.clone());
        let mut record = csv::StringRecord::new();
        let (mut read, mut skipped) = (0u64, 0u64);
        while let Some(line) = csv.next(path, &mut record)? {
            read += 1;
            match self.map_record(&compiled, &record) {
                Outcome::Skipped => skipped += 1,
                Outcome::Aliased { values, deleted } => {
                    let raw: Vec<&str> = values.iter().map(String::as_str).collect();
                    if deleted {
                        deletions.push(&raw, &file, line)?;
                    } else {
                        skipped += 1;
                        dropped.push(&raw, &file, line)?;
                    }
                }
                Outcome::Rows {
                    rows,
                    error,
                    deleted,
                } => {
                    for row in rows {
                        let raw: Vec<&str> = row.iter().map(String::as_str).collect();
                        if record.len() != header.len() {
                            let fields: Vec<&str> = record.iter().collect();
                            builder.quarantine_ragged(&raw, &fields, &file, line, header.len());
                        } else if let Some(e) = &error {
                            builder.quarantine(&raw, &file, line, e.clone());
                        } else if deleted {
                            deletions.push(&raw, &file, line)?;
                        } else {
                            builder.push(&raw, &file, line)?;
                        }
                    }
                }
            }
        }
        let (frame, mut quarantined) = builder.finish()?;
        let (deleted, q2) = deletions.finish()?;
        quarantined.extend(q2);
        let (dropped, q3) = dropped.finish()?;
        quarantined.extend(q3);
        Ok(FileRead {
            frame,
            deletions: vec![deleted, dropped],
            quarantined,
            read,
            skipped,
        })
    }

    /// Maps one record through the compiled source.
    fn map_record(&self, compiled: &CompiledSource, record: &csv::StringRecord) -> Outcome {
        let nulls = &self.nulls;
        let filtered_out = !compiled
            .filters
            .iter()
            .all(|(i, v)| equals_any(cell(record, Some(*i), nulls), v));
        let incomplete = compiled
            .require
            .iter()
            .any(|i| cell(record, Some(*i), nulls).is_empty());
        if filtered_out || incomplete {
            return Outcome::Skipped;
        }
        let deleted = compiled
            .deleted
            .as_ref()
            .is_some_and(|(i, v)| equals_any(cell(record, Some(*i), nulls), v));
        let mut values = vec![String::new(); self.schema.columns.len()];
        let mut error = None;
        for ((slot, column), def) in values
            .iter_mut()
            .zip(&compiled.columns)
            .zip(self.schema.columns)
        {
            if let Some(column) = column {
                match evaluate(column, record, nulls, &self.resolve.lookups) {
                    Ok(v) => *slot = v,
                    Err((reason, raw)) => {
                        *slot = raw;
                        error.get_or_insert(format!("column `{}`: {reason}", def.name));
                    }
                }
            }
        }
        // Identifiers that stand for another record: references are rewritten; a
        // row of the table keyed by it is that other record's, so it is left out
        // and its own key removed from the table (it may be there from an ingest
        // before the conversion or merge).
        let keyed_by: Option<&str> = (self.schema.key.len() == 1).then(|| self.schema.key[0]);
        if !self.resolve.aliases.is_empty() {
            let original = values.clone();
            let aliased = self.resolve.alias(self.schema, &mut values, keyed_by);
            if aliased || (deleted && keyed_by.is_some()) {
                values = original;
            }
            if aliased && error.is_none() {
                return Outcome::Aliased { values, deleted };
            }
        }
        let rows = match &compiled.unpivot {
            None => vec![values],
            Some(CompiledUnpivot { name, value, cells }) => cells
                .iter()
                .filter_map(|(i, label)| {
                    let c = cell(record, Some(*i), nulls);
                    (!c.is_empty()).then(|| {
                        let mut row = values.clone();
                        row[*name] = label.clone();
                        row[*value] = c.to_string();
                        row
                    })
                })
                .collect(),
        };
        Outcome::Rows {
            rows,
            error,
            deleted,
        }
    }
}

/// The manifest's record of every file read: the tables it fed (`(lookup)` for a
/// lookup or alias file), its hash, size and rows.
fn input_records(
    used: Vec<(PathBuf, TextFile, u64)>,
    fed: &HashMap<PathBuf, Vec<&'static str>>,
) -> Vec<InputRecord> {
    used.into_iter()
        .map(|(path, t, rows)| InputRecord {
            table: fed
                .get(&path)
                .map(|ts| ts.join(","))
                .unwrap_or_else(|| "(lookup)".into()),
            path: path.display().to_string(),
            blake3: t.blake3,
            bytes: t.bytes,
            rows,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("Lead.csv", "lead.CSV"));
        assert!(glob_match("Lead_*.csv", "Lead_2.csv"));
        assert!(!glob_match("Lead_*.csv", "LeadHistory.csv"));
        assert!(glob_match(
            "*contacts*.csv",
            "hubspot-crm-exports-all-contacts-2026.csv"
        ));
        assert!(glob_match("a?c", "abc"));
        assert!(!glob_match("a?c", "ac"));
        assert!(glob_match("leads-{2025,2026}.csv", "LEADS-2026.csv"));
        // A pattern that took the old backtracking matcher exponential time.
        let started = std::time::Instant::now();
        assert!(!glob_match(
            &"*a".repeat(30),
            &format!("{}b", "a".repeat(60))
        ));
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
    }

    #[test]
    fn a_bad_file_pattern_is_a_definitions_error_naming_the_key() {
        let err = crate::config::Config::parse(
            "[[mapping.source]]\nfiles = \"leads[.csv\"\ntable = \"leads\"\ncolumns = { lead_id = \"Id\", created_at = \"C\" }\n",
        )
        .unwrap_err();
        assert!(
            err.contains("mapping.source[0].files") && err.contains("leads[.csv"),
            "{err}"
        );
    }

    #[test]
    fn windows_1252_high_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.csv");
        std::fs::write(&path, b"a\n\x80 \xe9t\xe9 \x93q\x94\n").unwrap();
        let t = read_text(&path, Encoding::Windows1252).unwrap();
        assert_eq!(&*t.text, "a\n€ été “q”\n");
        let t = read_text(&path, Encoding::Latin1).unwrap();
        assert!(t.text.contains("été"));
        let err = read_text(&path, Encoding::Utf8).unwrap_err().to_string();
        assert!(
            err.contains("line 2") && err.contains("windows-1252"),
            "{err}"
        );
        // The five bytes Windows-1252 leaves undefined stay C1 controls.
        std::fs::write(&path, b"\x81\x8d\x8f\x90\x9d").unwrap();
        let t = read_text(&path, Encoding::Windows1252).unwrap();
        assert_eq!(&*t.text, "\u{81}\u{8d}\u{8f}\u{90}\u{9d}");
    }
}
