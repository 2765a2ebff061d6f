//! The parameters every metric is computed with: as-of instant, date range, split,
//! filters, period. Resolved once from flags and the definitions (docs/metrics.md).

use chrono::{Duration, NaiveDate};
use chrono_tz::Tz;

use crate::config::{AttributionModel, Config};
use crate::error::{Error, Result};

pub use crate::time::{local_date, local_midnight, Period, MICROS_PER_DAY};

/// A dimension rows can be split by (`--by`) or filtered on (`--where`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Dim {
    Source,
    SourceTeam,
    Segment,
    Region,
    OwnerId,
    CampaignId,
    Channel,
}

impl Dim {
    pub const ALL: [Dim; 7] = [
        Dim::Source,
        Dim::SourceTeam,
        Dim::Segment,
        Dim::Region,
        Dim::OwnerId,
        Dim::CampaignId,
        Dim::Channel,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Dim::Source => "source",
            Dim::SourceTeam => "source_team",
            Dim::Segment => "segment",
            Dim::Region => "region",
            Dim::OwnerId => "owner_id",
            Dim::CampaignId => "campaign_id",
            Dim::Channel => "channel",
        }
    }

    pub fn parse(text: &str) -> Option<Dim> {
        Dim::ALL.into_iter().find(|d| d.name() == text)
    }

    /// The column holding this dimension in metric item frames.
    pub fn column(self) -> String {
        format!("__dim_{}", self.name())
    }
}

/// Everything a metric needs besides the tables.
#[derive(Debug, Clone)]
pub struct Params {
    pub config: Config,
    pub tz: Tz,
    /// The as-of instant, UTC microseconds.
    pub as_of: i64,
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// `from` 00:00 local, UTC microseconds.
    pub range_start: i64,
    /// `to` + 1 day 00:00 local, UTC microseconds (exclusive).
    pub range_end: i64,
    pub by: Option<Dim>,
    /// `--where` filters: each dimension with its accepted values (OR within a dim).
    pub filters: Vec<(Dim, Vec<String>)>,
    pub period: Option<Period>,
    pub model: Option<AttributionModel>,
    pub histogram: bool,
}

/// How `--as-of` was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AsOf {
    Now,
    /// A date: its last microsecond in the calendar time zone.
    Date(NaiveDate),
    /// An exact instant (UTC microseconds).
    Instant(i64),
}

impl AsOf {
    pub fn parse(text: &str, tz: Tz) -> Result<AsOf> {
        if text == "now" {
            return Ok(AsOf::Now);
        }
        if text.len() == 10 {
            return NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .map(AsOf::Date)
                .map_err(|_| {
                    Error::Usage(format!(
                        "--as-of `{text}`: expected YYYY-MM-DD, `now` or an ISO timestamp"
                    ))
                });
        }
        crate::time::parse_timestamp(text, tz)
            .map(AsOf::Instant)
            .map_err(|e| Error::Usage(format!("--as-of: {e}")))
    }
}

impl Params {
    #[allow(clippy::too_many_arguments)]
    pub fn resolve(
        config: Config,
        as_of: i64,
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
        by: Option<Dim>,
        filters: Vec<(Dim, Vec<String>)>,
        period: Option<Period>,
        model: Option<AttributionModel>,
        histogram: bool,
    ) -> Result<Params> {
        let tz = config.calendar.tz();
        let to = to.unwrap_or_else(|| local_date(as_of, tz));
        let from = from.unwrap_or(to - Duration::days(364));
        if from > to {
            return Err(Error::Usage(format!("--from {from} is after --to {to}")));
        }
        Ok(Params {
            range_start: local_midnight(from, tz),
            range_end: local_midnight(to + Duration::days(1), tz),
            config,
            tz,
            as_of,
            from,
            to,
            by,
            filters,
            period,
            model,
            histogram,
        })
    }

    /// The lookback window `as_of − days < t ≤ as_of` as (exclusive start, inclusive end).
    pub fn lookback(&self, days: u32) -> (i64, i64) {
        (self.as_of - i64::from(days) * MICROS_PER_DAY, self.as_of)
    }
}
