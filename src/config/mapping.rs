//! The `[mapping]` section of `funnel.toml`: how an export that is not in the native
//! format becomes the canonical tables (docs/ingest.md). Declared, never guessed: every
//! separator, format, encoding and value map is written down here, and every mistake
//! is reported with the key to fix.

use std::collections::BTreeMap;

use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::model::columns::{self, TableSchema};

/// A file name pattern (`*`, `?`, `[abc]`, `{a,b}`), matched case-insensitively
/// against file names (globset: linear time whatever the pattern).
pub fn file_pattern(pattern: &str) -> Result<globset::GlobMatcher, String> {
    globset::GlobBuilder::new(pattern.trim())
        .case_insensitive(true)
        .literal_separator(true)
        .build()
        .map(|g| g.compile_matcher())
        .map_err(|e| format!("`{pattern}` is not a file name pattern: {}", e.kind()))
}

/// Checks every pattern of a `files` key.
fn check_patterns(patterns: &[String], key: &str) -> Result<(), String> {
    for p in patterns {
        file_pattern(p).map_err(|e| format!("key `{key}`: {e}"))?;
    }
    Ok(())
}

/// One string or a list of strings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub fn to_vec(&self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s.clone()],
            OneOrMany::Many(v) => v.clone(),
        }
    }
}

/// How a file is written. Set once under `[mapping]`, overridable per source.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FileFormat {
    /// One character; `"\t"` for tabs. Default `,`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delimiter: Option<String>,
    /// `utf-8` (default), `windows-1252` or `latin-1`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encoding: Option<String>,
    /// Decimal separator of numbers. Default `.`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decimal: Option<String>,
    /// Thousands separator of numbers. Default none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thousands: Option<String>,
    /// Currency symbols or codes removed from amounts before parsing (`["€", "EUR"]`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub currency_symbols: Option<Vec<String>>,
    /// Cell values read as empty, besides the empty string (`["000000000000000AAA"]`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub null_values: Option<Vec<String>>,
    /// Zone of naive timestamps. Default `calendar.timezone`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// chrono format of timestamp columns (`%d/%m/%Y %H:%M`). Default ISO-8601.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp_format: Option<String>,
    /// chrono format of date columns (`%d/%m/%Y`). Default ISO-8601.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date_format: Option<String>,
}

impl FileFormat {
    /// `self`, with unset keys taken from `base`.
    pub fn over(&self, base: &FileFormat) -> FileFormat {
        FileFormat {
            delimiter: self.delimiter.clone().or_else(|| base.delimiter.clone()),
            encoding: self.encoding.clone().or_else(|| base.encoding.clone()),
            decimal: self.decimal.clone().or_else(|| base.decimal.clone()),
            thousands: self.thousands.clone().or_else(|| base.thousands.clone()),
            currency_symbols: self
                .currency_symbols
                .clone()
                .or_else(|| base.currency_symbols.clone()),
            null_values: self
                .null_values
                .clone()
                .or_else(|| base.null_values.clone()),
            timezone: self.timezone.clone().or_else(|| base.timezone.clone()),
            timestamp_format: self
                .timestamp_format
                .clone()
                .or_else(|| base.timestamp_format.clone()),
            date_format: self
                .date_format
                .clone()
                .or_else(|| base.date_format.clone()),
        }
    }
}

/// The whole `[mapping]` section.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Mapping {
    /// `salesforce`, `hubspot` or `native`: a mapping shipped with the tool, with its
    /// default definitions for that CRM's picklists. Sources below are added to it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preset: Option<String>,
    /// Defaults for every source.
    #[serde(skip_serializing_if = "is_default")]
    pub format: FileFormat,
    /// One entry per (file pattern, table).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub source: Vec<Source>,
    /// Identifiers that stand for another record (a contact for the lead it was
    /// converted from, a merged record for its master).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub alias: Vec<Alias>,
}

fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

/// Files of one kind feeding one canonical table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// File name pattern(s), `*` and `?` wildcards, case-insensitive (`Lead.csv`).
    pub files: OneOrMany,
    /// The canonical table this source feeds.
    pub table: String,
    #[serde(default, skip_serializing_if = "is_default")]
    pub format: FileFormat,
    /// Canonical column → where its value comes from (see [`ColumnRule`]).
    #[serde(default)]
    pub columns: BTreeMap<String, toml::Value>,
    /// Keep only rows whose column has one of these values (trimmed, case-insensitive).
    #[serde(default, rename = "where", skip_serializing_if = "BTreeMap::is_empty")]
    pub filter: BTreeMap<String, OneOrMany>,
    /// Rows where any of these source columns is empty are skipped (not this table's).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub require: Vec<String>,
    /// Rows matching this delete their key from the table (`IsDeleted = 1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted: Option<Condition>,
    /// One output row per non-empty cell of several columns (stage date columns).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unpivot: Option<Unpivot>,
    /// Stage events: a row whose stage equals the same record's previous stage (by
    /// time) is folded into that stay (history rows that only change an amount).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub collapse_same_stage: bool,
}

/// Where one canonical column's value comes from. Written as a plain string (a
/// source column name), a table, or a list of tables (the first non-empty wins).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ColumnRule {
    /// The source column.
    pub column: Option<String>,
    /// A constant.
    pub value: Option<String>,
    /// Conditions tried in order; the first that holds gives the value.
    pub when: Vec<When>,
    /// The value when no `when` holds (default empty).
    #[serde(rename = "else")]
    pub otherwise: Option<String>,
    /// Look `column`'s value up in another file.
    pub lookup: Option<Lookup>,
    /// Split the cell on this separator and take the first non-empty part.
    pub split: Option<String>,
    /// Raw value → stored value (trimmed, case-insensitive).
    pub map: BTreeMap<String, String>,
    /// A value missing from `map`: `keep` it (default), make it `null`, or `error`
    /// (the row goes to quarantine).
    pub unmapped: Option<String>,
    /// chrono format of this timestamp or date column.
    pub format: Option<String>,
    /// Zone of this column's naive timestamps.
    pub timezone: Option<String>,
    /// A source column that may be absent from the file (then the value is empty).
    pub optional: bool,
}

/// One condition of a `when` list, with what it yields.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct When {
    pub column: String,
    /// Holds when the cell equals one of these (trimmed, case-insensitive).
    pub equals: Option<OneOrMany>,
    /// Holds when the cell is not empty.
    pub not_empty: bool,
    /// The value it yields…
    pub value: Option<String>,
    /// …or the source column whose cell it yields.
    pub from: Option<String>,
}

/// A row condition (`deleted`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Condition {
    pub column: String,
    pub equals: Option<OneOrMany>,
    /// The column may be absent from the file (then the condition never holds).
    pub optional: bool,
}

/// Looks a value up in other files: the `take` cell of the row whose `match` cell
/// equals the value (the last such row wins).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, Eq, PartialOrd, Ord)]
#[serde(deny_unknown_fields, default)]
pub struct Lookup {
    pub files: Vec<String>,
    #[serde(rename = "match")]
    pub match_column: String,
    pub take: String,
    /// Only rows whose column has one of these values.
    #[serde(rename = "where")]
    pub filter: BTreeMap<String, Vec<String>>,
    /// A value no row matches: `error` (default: the row goes to quarantine naming
    /// the value), `null`, or `keep` the value looked up.
    pub unmatched: Option<String>,
    /// The lookup's files may be missing from the inputs (every value is then
    /// unmatched); without it a lookup whose files are not among the inputs is an
    /// error.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub optional: bool,
}

/// One output row per non-empty cell among several columns: `name` gets the column's
/// label, `value` the cell.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Unpivot {
    /// Source column → label.
    pub columns: BTreeMap<String, String>,
    /// Or every source column matching this regular expression; its first capture
    /// group is the label.
    pub pattern: Option<String>,
    /// Canonical column that receives the label (e.g. `stage`).
    pub name: String,
    /// Canonical column that receives the cell (e.g. `entered_at`).
    pub value: String,
}

/// Values of canonical column `column` found in `from` of these files stand for the
/// value in `to` of the same row, in every table: references are rewritten, and rows of
/// the table keyed by `column` are left out (the other record is the person).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Alias {
    pub column: String,
    pub files: Vec<String>,
    pub from: String,
    pub to: String,
}

pub const PRESETS: &[&str] = &["native", "salesforce", "hubspot"];

impl Mapping {
    /// Whether ingest reads through this mapping (rather than the native format).
    pub fn is_active(&self) -> bool {
        self.preset.as_deref() != Some("native") && !self.source.is_empty()
    }

    /// The mapping ingest reads through, if any: this one when it lists sources;
    /// when it only sets `[mapping.format]` (a `;`-separated or Windows-1252 export
    /// of the native tables), one source per native table file (`leads.csv`, …)
    /// with every canonical column under its own name, read with that format.
    pub fn for_ingest(&self) -> Option<Mapping> {
        if self.is_active() {
            return Some(self.clone());
        }
        let plain = self.preset.as_deref().is_none_or(|p| p == "native");
        if !plain || self.format == FileFormat::default() {
            return None;
        }
        let source = columns::TABLES
            .iter()
            .map(|t| Source {
                files: OneOrMany::One(format!("{}.csv", t.name)),
                table: t.name.to_string(),
                format: FileFormat::default(),
                columns: t
                    .columns
                    .iter()
                    .map(|c| {
                        let rule = if c.required {
                            toml::Value::String(c.name.to_string())
                        } else {
                            let mut rule = toml::map::Map::new();
                            rule.insert("column".into(), toml::Value::String(c.name.into()));
                            rule.insert("optional".into(), toml::Value::Boolean(true));
                            toml::Value::Table(rule)
                        };
                        (c.name.to_string(), rule)
                    })
                    .collect(),
                filter: BTreeMap::new(),
                require: Vec::new(),
                deleted: None,
                unpivot: None,
                collapse_same_stage: false,
            })
            .collect();
        Some(Mapping {
            preset: None,
            format: self.format.clone(),
            source,
            alias: Vec::new(),
        })
    }

    /// Checks every key; the message names the key to fix.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(p) = &self.preset {
            if !PRESETS.contains(&p.as_str()) {
                return Err(format!(
                    "key `mapping.preset`: unknown preset `{p}` (use one of: {})",
                    PRESETS.join(", ")
                ));
            }
        }
        self.format.check("mapping.format")?;
        for (i, source) in self.source.iter().enumerate() {
            source.check(&format!("mapping.source[{i}]"))?;
        }
        for (i, alias) in self.alias.iter().enumerate() {
            let key = format!("mapping.alias[{i}]");
            if alias.files.is_empty() || alias.from.is_empty() || alias.to.is_empty() {
                return Err(format!("key `{key}`: set `files`, `from` and `to`"));
            }
            check_patterns(&alias.files, &format!("{key}.files"))?;
            if !columns::TABLES
                .iter()
                .any(|t| t.column(&alias.column).is_some())
            {
                return Err(format!(
                    "key `{key}.column`: `{}` is not a column of any table",
                    alias.column
                ));
            }
        }
        Ok(())
    }
}

impl FileFormat {
    fn check(&self, key: &str) -> Result<(), String> {
        if let Some(d) = &self.delimiter {
            delimiter_byte(d).map_err(|e| format!("key `{key}.delimiter`: {e}"))?;
        }
        if let Some(e) = &self.encoding {
            Encoding::parse(e).map_err(|e| format!("key `{key}.encoding`: {e}"))?;
        }
        for (name, value) in [("decimal", &self.decimal), ("thousands", &self.thousands)] {
            if let Some(v) = value {
                if v.chars().count() != 1 {
                    return Err(format!(
                        "key `{key}.{name}`: `{v}` must be exactly one character"
                    ));
                }
            }
        }
        if self.decimal.is_some() && self.decimal == self.thousands {
            return Err(format!(
                "key `{key}.thousands`: the same character as `decimal`"
            ));
        }
        if let Some(tz) = &self.timezone {
            check_tz(tz, &format!("{key}.timezone"))?;
        }
        for (name, value) in [
            ("timestamp_format", &self.timestamp_format),
            ("date_format", &self.date_format),
        ] {
            if let Some(f) = value {
                check_format(f, &format!("{key}.{name}"))?;
            }
        }
        Ok(())
    }
}

impl Source {
    pub fn schema(&self) -> &'static TableSchema {
        columns::table(&self.table).expect("validated table name")
    }

    /// The parsed rule of each canonical column, in the table's column order.
    pub fn rules(&self, key: &str) -> Result<Vec<(String, Vec<ColumnRule>)>, String> {
        let mut out = Vec::new();
        for (name, value) in &self.columns {
            out.push((
                name.clone(),
                parse_rules(value, &format!("{key}.columns.{name}"))?,
            ));
        }
        Ok(out)
    }

    fn check(&self, key: &str) -> Result<(), String> {
        let Some(schema) = columns::table(&self.table) else {
            return Err(format!(
                "key `{key}.table`: `{}` is not a table (use one of: {})",
                self.table,
                columns::TABLES
                    .iter()
                    .map(|t| t.name)
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        };
        if self.files.to_vec().iter().all(|f| f.trim().is_empty()) {
            return Err(format!(
                "key `{key}.files`: give at least one file name pattern"
            ));
        }
        check_patterns(&self.files.to_vec(), &format!("{key}.files"))?;
        self.format.check(&format!("{key}.format"))?;
        let rules = self.rules(key)?;
        for (name, _) in &rules {
            if schema.column(name).is_none() {
                return Err(format!(
                    "key `{key}.columns.{name}`: table `{}` has no column `{name}` (its columns: {})",
                    schema.name,
                    schema
                        .columns
                        .iter()
                        .map(|c| c.name)
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        }
        let mut filled: Vec<&str> = rules.iter().map(|(n, _)| n.as_str()).collect();
        if let Some(u) = &self.unpivot {
            let ukey = format!("{key}.unpivot");
            for (name, col) in [("name", &u.name), ("value", &u.value)] {
                if schema.column(col).is_none() {
                    return Err(format!(
                        "key `{ukey}.{name}`: table `{}` has no column `{col}`",
                        schema.name
                    ));
                }
                if filled.contains(&col.as_str()) {
                    return Err(format!(
                        "key `{ukey}.{name}`: column `{col}` is also under `{key}.columns`"
                    ));
                }
                filled.push(col);
            }
            match (&u.pattern, u.columns.is_empty()) {
                (Some(p), _) => {
                    let re = regex::Regex::new(p).map_err(|e| {
                        format!("key `{ukey}.pattern`: not a regular expression: {e}")
                    })?;
                    if re.captures_len() < 2 {
                        return Err(format!(
                            "key `{ukey}.pattern`: needs a capture group `( )` around the label"
                        ));
                    }
                }
                (None, true) => {
                    return Err(format!("key `{ukey}`: set `columns` or `pattern`"));
                }
                (None, false) => {}
            }
        }
        for column in schema.columns {
            let derived = schema.name == columns::TOUCHES.name && column.name == "touch_id";
            if column.required && !derived && !filled.contains(&column.name) {
                return Err(format!(
                    "key `{key}.columns`: required column `{}` of table `{}` is not mapped (add `{} = \"<source column>\"`)",
                    column.name, schema.name, column.name
                ));
            }
        }
        if self.collapse_same_stage && !schema.columns.iter().any(|c| c.name == "stage") {
            return Err(format!(
                "key `{key}.collapse_same_stage`: table `{}` has no stages",
                schema.name
            ));
        }
        Ok(())
    }
}

/// Parses a column's rule(s): a string, a table, or a list of tables.
pub fn parse_rules(value: &toml::Value, key: &str) -> Result<Vec<ColumnRule>, String> {
    let rules = match value {
        toml::Value::String(s) => vec![ColumnRule {
            column: Some(s.clone()),
            ..Default::default()
        }],
        toml::Value::Table(_) => vec![parse_rule(value, key)?],
        toml::Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, v)| parse_rule(v, &format!("{key}[{i}]")))
            .collect::<Result<_, _>>()?,
        _ => {
            return Err(format!(
                "key `{key}`: expected a source column name, a table such as {{ column = \"…\" }}, or a list of them"
            ))
        }
    };
    if rules.is_empty() {
        return Err(format!("key `{key}`: the list is empty"));
    }
    Ok(rules)
}

fn parse_rule(value: &toml::Value, key: &str) -> Result<ColumnRule, String> {
    if let toml::Value::String(s) = value {
        return Ok(ColumnRule {
            column: Some(s.clone()),
            ..Default::default()
        });
    }
    let rule: ColumnRule = value
        .clone()
        .try_into()
        .map_err(|e: toml::de::Error| format!("key `{key}`: {}", e.message().trim()))?;
    let sources = [
        rule.column.is_some(),
        rule.value.is_some(),
        !rule.when.is_empty(),
    ]
    .iter()
    .filter(|b| **b)
    .count();
    if sources != 1 {
        return Err(format!(
            "key `{key}`: set exactly one of `column` (a source column), `value` (a constant) or `when` (conditions)"
        ));
    }
    if rule.otherwise.is_some() && rule.when.is_empty() {
        return Err(format!("key `{key}.else`: only with `when`"));
    }
    if rule.lookup.is_some() && rule.column.is_none() {
        return Err(format!(
            "key `{key}.lookup`: needs `column`, the value to look up"
        ));
    }
    if let Some(l) = &rule.lookup {
        if l.files.is_empty() || l.match_column.is_empty() || l.take.is_empty() {
            return Err(format!(
                "key `{key}.lookup`: set `files`, `match` and `take`"
            ));
        }
        check_patterns(&l.files, &format!("{key}.lookup.files"))?;
        if let Some(u) = &l.unmatched {
            if !["keep", "null", "error"].contains(&u.as_str()) {
                return Err(format!(
                    "key `{key}.lookup.unmatched`: `{u}` is not one of: error, null, keep"
                ));
            }
        }
    }
    for (i, w) in rule.when.iter().enumerate() {
        if w.column.is_empty() {
            return Err(format!(
                "key `{key}.when[{i}].column`: name the source column"
            ));
        }
        if w.value.is_some() == w.from.is_some() {
            return Err(format!(
                "key `{key}.when[{i}]`: set exactly one of `value` or `from`"
            ));
        }
        if w.equals.is_none() && !w.not_empty {
            return Err(format!(
                "key `{key}.when[{i}]`: set `equals = [...]` or `not_empty = true`"
            ));
        }
    }
    if let Some(u) = &rule.unmapped {
        if !["keep", "null", "error"].contains(&u.as_str()) {
            return Err(format!(
                "key `{key}.unmapped`: `{u}` is not one of: keep, null, error"
            ));
        }
    }
    if let Some(f) = &rule.format {
        check_format(f, &format!("{key}.format"))?;
    }
    if let Some(tz) = &rule.timezone {
        check_tz(tz, &format!("{key}.timezone"))?;
    }
    Ok(rule)
}

fn check_tz(tz: &str, key: &str) -> Result<(), String> {
    tz.parse::<Tz>().map(|_| ()).map_err(|_| {
        format!("key `{key}`: unknown time zone `{tz}` (use an IANA name such as `Europe/Paris` or `UTC`)")
    })
}

fn check_format(format: &str, key: &str) -> Result<(), String> {
    use chrono::format::{Item, StrftimeItems};
    if StrftimeItems::new(format).any(|i| matches!(i, Item::Error)) {
        return Err(format!(
            "key `{key}`: `{format}` is not a chrono format (e.g. `%d/%m/%Y` or `%Y-%m-%d %H:%M:%S`)"
        ));
    }
    if !format.contains('%') {
        return Err(format!(
            "key `{key}`: `{format}` has no `%` field (e.g. `%d/%m/%Y`)"
        ));
    }
    Ok(())
}

/// The delimiter byte of a `delimiter` key.
pub fn delimiter_byte(text: &str) -> Result<u8, String> {
    match text {
        "\t" | "\\t" | "tab" => Ok(b'\t'),
        "\"" | "\n" | "\r" => Err(format!(
            "`{}` cannot separate fields: it is a quote or a line break",
            text.escape_default()
        )),
        t if t.len() == 1 && t.is_ascii() => Ok(t.as_bytes()[0]),
        t => Err(format!("`{t}` must be one ASCII character (or \"\\t\")")),
    }
}

/// The text encodings a mapping may declare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Utf8,
    Latin1,
    Windows1252,
}

impl Encoding {
    pub fn parse(text: &str) -> Result<Encoding, String> {
        match text.to_ascii_lowercase().replace('_', "-").as_str() {
            "utf-8" | "utf8" => Ok(Encoding::Utf8),
            "latin-1" | "latin1" | "iso-8859-1" => Ok(Encoding::Latin1),
            "windows-1252" | "cp1252" => Ok(Encoding::Windows1252),
            other => Err(format!(
                "`{other}` is not a supported encoding (use utf-8, windows-1252 or latin-1)"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    #[test]
    fn presets_are_valid_definitions() {
        for preset in ["salesforce", "hubspot"] {
            let config = Config::parse_with_preset("", Some(preset)).unwrap();
            assert!(config.mapping.is_active(), "{preset}");
            assert_eq!(config.mapping.preset.as_deref(), Some(preset));
        }
    }

    #[test]
    fn mistakes_name_the_key() {
        let cases = [
            ("[[mapping.source]]\nfiles = \"a.csv\"\ntable = \"lead\"\n", "mapping.source[0].table"),
            (
                "[[mapping.source]]\nfiles = \"a.csv\"\ntable = \"leads\"\ncolumns = { lead_id = \"Id\" }\n",
                "required column `created_at`",
            ),
            (
                "[[mapping.source]]\nfiles = \"a.csv\"\ntable = \"leads\"\ncolumns = { lead_id = \"Id\", created_at = { column = \"C\", format = \"dd/mm/yyyy\" } }\n",
                "mapping.source[0].columns.created_at.format",
            ),
            (
                "[[mapping.source]]\nfiles = \"a.csv\"\ntable = \"leads\"\ncolumns = { lead_id = \"Id\", created_at = { colum = \"C\" } }\n",
                "mapping.source[0].columns.created_at",
            ),
            ("[mapping.format]\ndelimiter = \";;\"\n", "mapping.format.delimiter"),
            (
                "[mapping.format]\ndelimiter = '\"'\n",
                "cannot separate fields: it is a quote",
            ),
            ("[mapping.format]\nencoding = \"ebcdic\"\n", "mapping.format.encoding"),
        ];
        for (text, expected) in cases {
            let err = Config::parse(text).unwrap_err();
            assert!(err.contains(expected), "{text}: {err}");
        }
    }
}
