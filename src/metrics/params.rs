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
    /// `plan --backtest N`: the forecast made at the same point of the N previous
    /// periods, against what they reached.
    pub backtest: Option<u32>,
    /// `changes --since`: the earlier instant the movements start from (UTC
    /// microseconds); `None` = a week before the as-of.
    pub since: Option<i64>,
    /// Whether `--from`/`--to` were given (`changes` then watches the pipeline that
    /// closes in that window; otherwise all of it).
    pub range_given: bool,
    /// `--include-negative`: durations that end before they start (a deal closed
    /// before it was created: imported history) count in `cycle` and `velocity`.
    pub include_negative: bool,
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

/// The most periods a metric cuts its range into (cohorts × groups are computed for
/// each): enough for 38 years of weeks or 166 years of months.
pub const MAX_PERIODS: i64 = 2_000;

/// Refuses a range outside funnel's calendar (1900–2199) or cut into more than
/// [`MAX_PERIODS`] periods (months unless `--period` says otherwise), which would
/// take unbounded time and memory.
fn check_range(from: NaiveDate, to: NaiveDate, period: Option<Period>) -> Result<()> {
    let first = NaiveDate::from_ymd_opt(1900, 1, 1).expect("valid");
    let last = NaiveDate::from_ymd_opt(2199, 12, 31).expect("valid");
    if from < first || to > last {
        return Err(Error::Usage(format!(
            "--from {from} --to {to}: dates before {first} or after {last} are outside funnel's calendar"
        )));
    }
    let period = period.unwrap_or(Period::Month);
    let days_per_period = match period {
        Period::Week => 7.0,
        Period::Month => 30.44,
        Period::Quarter | Period::FiscalQuarter => 91.31,
        Period::Year => 365.25,
    };
    let periods = ((to - from).num_days() as f64 / days_per_period).ceil() as i64;
    if periods > MAX_PERIODS {
        return Err(Error::Usage(format!(
            "--from {from} --to {to} holds about {periods} {}s, more than the {MAX_PERIODS} funnel computes at once: narrow the range or use a longer --period",
            period.name()
        )));
    }
    Ok(())
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
        let explicit = from.is_some() || to.is_some();
        let to = to.unwrap_or_else(|| local_date(as_of, tz));
        let from = from.unwrap_or(to - Duration::days(364));
        if from > to {
            return Err(Error::Usage(format!("--from {from} is after --to {to}")));
        }
        if explicit {
            check_range(from, to, period)?;
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
            backtest: None,
            since: None,
            range_given: explicit,
            include_negative: false,
        })
    }

    /// The instant `changes` starts from: `--since`, or a week before the as-of.
    pub fn since_or_default(&self) -> i64 {
        self.since.unwrap_or(self.as_of - 7 * MICROS_PER_DAY)
    }

    /// The lookback window `as_of − days < t ≤ as_of` as (exclusive start, inclusive end).
    pub fn lookback(&self, days: u32) -> (i64, i64) {
        (self.as_of - i64::from(days) * MICROS_PER_DAY, self.as_of)
    }
}
