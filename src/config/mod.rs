//! The definitions file `funnel.toml`: its schema, defaults, loading and hash.
//!
//! Precedence is built-in defaults < the file < command-line flags. Every section and
//! key is optional in the file; an unknown key, a wrong type or an unknown time zone is
//! a usage error naming the file and the key.

pub mod mapping;
pub mod plan;
pub mod presets;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use mapping::Mapping;

/// The file `funnel init` writes, with every key documented. `Config::default()` must
/// equal this file parsed; a test holds them together.
pub const TEMPLATE: &str = include_str!("../funnel.template.toml");

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub calendar: Calendar,
    pub stages: Stages,
    pub definitions: Definitions,
    pub funnel: Funnel,
    pub mql: Mql,
    pub touches: Touches,
    pub sources: BTreeMap<String, Vec<String>>,
    pub opportunity: Opportunity,
    pub attribution: Attribution,
    pub currency: Currency,
    pub quota: Quota,
    pub warehouse: WarehouseSettings,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approval: Option<Approval>,
    /// How exports that are not in the native format are read (docs/mapping.md).
    #[serde(skip_serializing_if = "crate::config::is_default")]
    pub mapping: Mapping,
    /// The shared plan both teams sign (docs/planning.md); none by default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<plan::Plan>,
}

pub fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Calendar {
    /// IANA time zone: naive timestamps are read, and periods cut, in this zone.
    pub timezone: String,
    pub fiscal_year_start_month: u32,
    pub week_start: Weekday,
}

impl Default for Calendar {
    fn default() -> Self {
        Calendar {
            timezone: "UTC".into(),
            fiscal_year_start_month: 1,
            week_start: Weekday::Monday,
        }
    }
}

impl Calendar {
    /// The parsed time zone. Validated at load time, so this cannot fail afterwards.
    pub fn tz(&self) -> Tz {
        self.timezone.parse().unwrap_or(Tz::UTC)
    }

    /// How this calendar cuts periods.
    pub fn periods(&self) -> crate::time::Calendar {
        crate::time::Calendar {
            week_start: self.week_start as u32,
            fiscal_year_start_month: self.fiscal_year_start_month,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Weekday {
    Monday,
    Tuesday,
    Wednesday,
    Thursday,
    Friday,
    Saturday,
    Sunday,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Stages {
    pub lead: Vec<String>,
    pub mql: Vec<String>,
    pub sal: Vec<String>,
    pub sql: Vec<String>,
    pub opportunity: Vec<String>,
    pub customer: Vec<String>,
    pub recycled: Vec<String>,
    pub disqualified: Vec<String>,
    pub unknown_values: UnknownValues,
}

fn strings(values: &[&str]) -> Vec<String> {
    values.iter().map(|v| v.to_string()).collect()
}

impl Default for Stages {
    fn default() -> Self {
        Stages {
            lead: strings(&["lead", "New"]),
            mql: strings(&["mql", "Marketing Qualified"]),
            sal: strings(&["sal"]),
            sql: strings(&["sql"]),
            opportunity: strings(&["opportunity"]),
            customer: strings(&["customer"]),
            recycled: strings(&["recycled", "nurture"]),
            disqualified: strings(&["disqualified"]),
            unknown_values: UnknownValues::Ignore,
        }
    }
}

impl Stages {
    /// Each canonical stage with its raw values: funnel order, then recycled and
    /// disqualified (the order that breaks ties and resolves double listings).
    pub fn lists(&self) -> [(&'static str, &Vec<String>); 8] {
        [
            ("lead", &self.lead),
            ("mql", &self.mql),
            ("sal", &self.sal),
            ("sql", &self.sql),
            ("opportunity", &self.opportunity),
            ("customer", &self.customer),
            ("recycled", &self.recycled),
            ("disqualified", &self.disqualified),
        ]
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UnknownValues {
    Ignore,
    Error,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Definitions {
    pub lead: String,
    pub mql: String,
    pub sal: String,
    pub sql: String,
    pub contact: String,
    pub opportunity: String,
    pub customer: String,
    pub recycled: String,
    pub disqualified: String,
}

/// The prose `funnel init` writes; a team replaces it. Starts with the marker that
/// lets checks spot text nobody has reviewed.
pub const PLACEHOLDER_MARK: &str = "TODO(review):";

impl Default for Definitions {
    fn default() -> Self {
        let p = |s: &str| format!("{PLACEHOLDER_MARK} {s}");
        Definitions {
            lead: p("A person who gave us contact details through any channel."),
            mql: p("A lead whose score reached the threshold or who requested a demo."),
            sal: p("An MQL that a sales rep accepted for follow-up within the SLA."),
            sql: p("A SAL that sales qualified as a real buying opportunity."),
            contact: p("A person at an account we are in touch with, lead or not."),
            opportunity: p("A deal in the CRM with an amount and an expected close date."),
            customer: p("A person whose opportunity was won."),
            recycled: p(
                "A rejected MQL returned to marketing nurture; it may become an MQL again.",
            ),
            disqualified: p("A lead that will never buy (wrong fit, competitor, spam)."),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Funnel {
    pub skipped_stages: SkippedStages,
    pub conversion_window_days: u32,
    pub maturity_days: u32,
}

impl Default for Funnel {
    fn default() -> Self {
        Funnel {
            skipped_stages: SkippedStages::Backfill,
            conversion_window_days: 0,
            maturity_days: 90,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SkippedStages {
    Backfill,
    Strict,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Mql {
    pub score_threshold: f64,
    pub sla_hours: f64,
}

impl Default for Mql {
    fn default() -> Self {
        Mql {
            score_threshold: 65.0,
            sla_hours: 48.0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Touches {
    pub count_actions: Vec<String>,
    pub dedupe_minutes: u32,
}

impl Default for Touches {
    fn default() -> Self {
        Touches {
            count_actions: strings(&[
                "open", "click", "visit", "form", "event", "download", "reply", "meeting", "call",
            ]),
            dedupe_minutes: 0,
        }
    }
}

fn default_sources() -> BTreeMap<String, Vec<String>> {
    BTreeMap::from([
        (
            "marketing".to_string(),
            strings(&[
                "webinar",
                "paid_search",
                "organic",
                "content",
                "event",
                "email",
            ]),
        ),
        ("sales".to_string(), strings(&["outbound", "cold_call"])),
        ("partner".to_string(), strings(&["partner", "referral"])),
    ])
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Opportunity {
    pub stages: Vec<String>,
    pub won_stages: Vec<String>,
    pub lost_stages: Vec<String>,
    pub pipelines: BTreeMap<String, Pipeline>,
}

impl Default for Opportunity {
    fn default() -> Self {
        Opportunity {
            stages: strings(&[
                "Prospecting",
                "Qualification",
                "Proposal",
                "Negotiation",
                "Closed Won",
                "Closed Lost",
            ]),
            won_stages: strings(&["Closed Won"]),
            lost_stages: strings(&["Closed Lost"]),
            pipelines: BTreeMap::new(),
        }
    }
}

/// Stage lists of one pipeline, for CRMs with several.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Pipeline {
    pub stages: Vec<String>,
    #[serde(default)]
    pub won_stages: Vec<String>,
    #[serde(default)]
    pub lost_stages: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Attribution {
    pub model: AttributionModel,
    pub touch_teams: Vec<String>,
    pub lookback_days: u32,
    pub half_life_days: f64,
}

impl Default for Attribution {
    fn default() -> Self {
        Attribution {
            model: AttributionModel::WShaped,
            touch_teams: strings(&["marketing"]),
            lookback_days: 365,
            half_life_days: 7.0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttributionModel {
    FirstTouch,
    LastTouch,
    Linear,
    UShaped,
    WShaped,
    TimeDecay,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Currency {
    pub base: String,
    /// 1 unit of the key currency = rate units of the base currency.
    pub rates: BTreeMap<String, f64>,
}

impl Default for Currency {
    fn default() -> Self {
        Currency {
            base: "USD".into(),
            rates: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Quota {
    pub lookback_days: u32,
}

impl Default for Quota {
    fn default() -> Self {
        Quota { lookback_days: 365 }
    }
}

/// Storage settings; not part of the definitions hash (they change no number).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WarehouseSettings {
    /// How many warehouse versions to keep (the newest ones).
    pub keep_versions: u32,
    /// Also keep the last version of each of the last N days (`--as-known-at`'s
    /// nightly history); 0 keeps none beyond `keep_versions`.
    pub keep_daily: u32,
    /// The longest CSV record an ingest reads, in MiB (a longer one is an error).
    pub max_record_mib: u32,
}

impl WarehouseSettings {
    /// [`WarehouseSettings::max_record_mib`] in bytes.
    pub fn max_record_bytes(&self) -> usize {
        (self.max_record_mib.max(1) as usize) << 20
    }
}

impl Default for WarehouseSettings {
    fn default() -> Self {
        WarehouseSettings {
            keep_versions: 7,
            keep_daily: 0,
            max_record_mib: 16,
        }
    }
}

/// Who signed the definitions off. Teams are free-form keys (`marketing`, `sales`, …).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Approval {
    #[serde(default)]
    pub version: Option<u32>,
    #[serde(flatten)]
    pub teams: BTreeMap<String, TeamApproval>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamApproval {
    pub by: String,
    pub on: toml::value::Datetime,
    #[serde(default)]
    pub rules_hash: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            calendar: Calendar::default(),
            stages: Stages::default(),
            definitions: Definitions::default(),
            funnel: Funnel::default(),
            mql: Mql::default(),
            touches: Touches::default(),
            sources: default_sources(),
            opportunity: Opportunity::default(),
            attribution: Attribution::default(),
            currency: Currency::default(),
            quota: Quota::default(),
            warehouse: WarehouseSettings::default(),
            approval: None,
            mapping: Mapping::default(),
            plan: None,
        }
    }
}

/// `source`, marked with the preset the definitions were laid over, if any.
fn with_preset(config: &Config, source: ConfigSource) -> ConfigSource {
    match config.mapping.preset.as_deref() {
        Some(p) if p != "native" => ConfigSource::Preset(Box::new(source), p.to_string()),
        _ => source,
    }
}

/// Where the definitions came from, for messages and the manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigSource {
    File(PathBuf),
    BuiltIn,
    /// A file (or the defaults) laid over a CRM preset's definitions.
    Preset(Box<ConfigSource>, String),
}

impl std::fmt::Display for ConfigSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConfigSource::File(path) => write!(f, "{}", path.display()),
            ConfigSource::BuiltIn => write!(f, "built-in defaults"),
            ConfigSource::Preset(base, preset) => write!(f, "{base} + {preset} preset"),
        }
    }
}

impl Config {
    /// Loads the definitions: `explicit` must exist; otherwise `./funnel.toml` is used
    /// when present, else the built-in defaults.
    pub fn load(explicit: Option<&Path>) -> Result<(Config, ConfigSource)> {
        Config::load_with_preset(explicit, None)
    }

    /// Loads the definitions; `preset` (from `--preset` or the warehouse's last
    /// ingest) applies when the file does not name one itself.
    pub fn load_with_preset(
        explicit: Option<&Path>,
        preset: Option<&str>,
    ) -> Result<(Config, ConfigSource)> {
        let path = match explicit {
            Some(path) => path.to_path_buf(),
            None => {
                let default = PathBuf::from("funnel.toml");
                if !default.exists() {
                    let config =
                        Config::parse_with_preset("", preset).map_err(|message| Error::Config {
                            file: PathBuf::from("(built-in defaults)"),
                            message,
                        })?;
                    let source = with_preset(&config, ConfigSource::BuiltIn);
                    return Ok((config, source));
                }
                default
            }
        };
        let text = std::fs::read_to_string(&path).map_err(|e| Error::Config {
            file: path.clone(),
            message: e.to_string(),
        })?;
        let config = Config::parse_with_preset(&text, preset).map_err(|message| Error::Config {
            file: path.clone(),
            message,
        })?;
        let source = with_preset(&config, ConfigSource::File(path));
        Ok((config, source))
    }

    /// Parses a definitions file laid over a preset's defaults. The file's own
    /// `mapping.preset` wins over `hint`; `native` or none means no preset.
    pub fn parse_with_preset(
        text: &str,
        hint: Option<&str>,
    ) -> std::result::Result<Config, String> {
        // The file alone first: its mistakes are reported with line numbers.
        let own = Config::parse(text)?;
        let preset = own.mapping.preset.as_deref().or(hint);
        let Some(mut base) = preset.and_then(presets::table) else {
            return Ok(own);
        };
        let user: toml::Table = toml::from_str(text).map_err(|e| e.to_string())?;
        presets::overlay(&mut base, &user, "");
        let config: Config = toml::Value::Table(base)
            .try_into()
            .map_err(|e: toml::de::Error| e.to_string().trim_end().replace("\n\n", "\n"))?;
        config.validate()?;
        Ok(config)
    }

    /// Parses and validates a definitions file's text. The error is a one-paragraph
    /// message naming the key.
    pub fn parse(text: &str) -> std::result::Result<Config, String> {
        let config: Config = toml::from_str(text).map_err(|e| {
            // toml's message carries the line, the caret and the key; keep it compact.
            e.to_string().trim_end().replace("\n\n", "\n")
        })?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> std::result::Result<(), String> {
        if self.calendar.timezone.parse::<Tz>().is_err() {
            return Err(format!(
                "key `calendar.timezone`: unknown time zone `{}` (use an IANA name such as `Europe/Paris` or `UTC`)",
                self.calendar.timezone
            ));
        }
        if !(1..=12).contains(&self.calendar.fiscal_year_start_month) {
            return Err(format!(
                "key `calendar.fiscal_year_start_month`: {} is not a month (1-12)",
                self.calendar.fiscal_year_start_month
            ));
        }
        if self.mql.sla_hours < 0.0 || !self.mql.sla_hours.is_finite() {
            return Err("key `mql.sla_hours`: must be a non-negative number".into());
        }
        if self.attribution.half_life_days <= 0.0 || !self.attribution.half_life_days.is_finite() {
            return Err("key `attribution.half_life_days`: must be a positive number".into());
        }
        for (currency, rate) in &self.currency.rates {
            if *rate <= 0.0 || !rate.is_finite() {
                return Err(format!(
                    "key `currency.rates.{currency}`: rate {rate} must be a positive number"
                ));
            }
        }
        if self.opportunity.stages.is_empty() {
            return Err("key `opportunity.stages`: the list of opportunity stages is empty".into());
        }
        let stage_set: Vec<String> = self.opportunity.stages.iter().map(|s| norm(s)).collect();
        for (key, list) in [
            ("won_stages", &self.opportunity.won_stages),
            ("lost_stages", &self.opportunity.lost_stages),
        ] {
            for stage in list {
                if !stage_set.contains(&norm(stage)) {
                    return Err(format!(
                        "key `opportunity.{key}`: `{stage}` is not in `opportunity.stages`"
                    ));
                }
            }
        }
        self.mapping.validate()?;
        if self.warehouse.keep_versions == 0 {
            return Err("key `warehouse.keep_versions`: keep at least 1 version".into());
        }
        if let Some(plan) = &self.plan {
            plan.validate(self.calendar.fiscal_year_start_month)?;
        }
        Ok(())
    }

    /// Every source value `[sources]` assigns to a team, normalised as data is
    /// matched against it (trimmed, lowercase).
    pub fn listed_sources(&self) -> Vec<String> {
        self.sources.values().flatten().map(|s| norm(s)).collect()
    }

    /// The touch actions that count (`[touches] count_actions`), normalised.
    pub fn counted_actions(&self) -> Vec<String> {
        self.touches.count_actions.iter().map(|a| norm(a)).collect()
    }

    /// The definitions hash: SHA-256 of the effective definitions without
    /// `[approval]` and `[warehouse]`, as canonical JSON (sorted keys). Comments and
    /// layout do not change it; neither does spelling out a default.
    pub fn definitions_hash(&self) -> String {
        let mut value = serde_json::to_value(self).expect("config serialises");
        if let Some(map) = value.as_object_mut() {
            map.remove("approval");
            map.remove("warehouse");
            // Ingest machinery, recorded per run in the manifest; the preset's stage
            // lists are part of the effective definitions above.
            map.remove("mapping");
        }
        let canonical = serde_json::to_string(&value).expect("json serialises");
        hex(&Sha256::digest(canonical.as_bytes()))
    }

    /// The hash of what the derived tables depend on: the definitions without the
    /// plan (targets change no frame), so that signing a new target keeps them.
    /// Equal to [`Config::definitions_hash`] when there is no plan.
    pub fn frames_hash(&self) -> String {
        Config {
            plan: None,
            ..self.clone()
        }
        .definitions_hash()
    }
}

/// How raw values are compared with the definitions' lists: trimmed, lowercase.
pub fn norm(value: &str) -> String {
    value.trim().to_lowercase()
}

pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_equals_defaults() {
        let parsed = Config::parse(TEMPLATE).expect("template parses");
        assert_eq!(parsed, Config::default());
    }

    #[test]
    fn empty_file_is_defaults() {
        assert_eq!(Config::parse("").unwrap(), Config::default());
    }

    #[test]
    fn hash_ignores_comments_and_approval() {
        let a = Config::parse("[mql]\nsla_hours = 48\n").unwrap();
        let b = Config::parse(
            "# a comment\n[approval]\nversion = 2\nsales = { by = \"Ann\", on = 2026-11-26 }\n",
        )
        .unwrap();
        assert_eq!(a.definitions_hash(), b.definitions_hash());
        let c = Config::parse("[mql]\nsla_hours = 72\n").unwrap();
        assert_ne!(a.definitions_hash(), c.definitions_hash());
    }

    #[test]
    fn unknown_key_is_named() {
        let err = Config::parse("[mql]\nsla_hour = 48\n").unwrap_err();
        assert!(err.contains("sla_hour"), "{err}");
    }

    #[test]
    fn unknown_time_zone_is_named() {
        let err = Config::parse("[calendar]\ntimezone = \"Mars/Olympus\"\n").unwrap_err();
        assert!(
            err.contains("calendar.timezone") && err.contains("Mars/Olympus"),
            "{err}"
        );
    }
}
