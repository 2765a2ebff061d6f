//! The parameters every metric is computed with: as-of instant, date range, split,
//! filters, period. Resolved once from flags and the definitions (SPEC §5).

use chrono::{Datelike, Duration, LocalResult, NaiveDate, TimeZone};
use chrono_tz::Tz;

use crate::config::{AttributionModel, Config};
use crate::error::{Error, Result};

pub const MICROS_PER_DAY: i64 = 86_400_000_000;

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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Week,
    Month,
    Quarter,
    FiscalQuarter,
    Year,
}

impl Period {
    pub fn name(self) -> &'static str {
        match self {
            Period::Week => "week",
            Period::Month => "month",
            Period::Quarter => "quarter",
            Period::FiscalQuarter => "fiscal_quarter",
            Period::Year => "year",
        }
    }

    pub fn parse(text: &str) -> Option<Period> {
        [
            Period::Week,
            Period::Month,
            Period::Quarter,
            Period::FiscalQuarter,
            Period::Year,
        ]
        .into_iter()
        .find(|p| p.name() == text)
    }

    /// The first day of the period containing `date`.
    pub fn start_of(self, date: NaiveDate, config: &Config) -> NaiveDate {
        let month_start = |y: i32, m0: i32| {
            let total = y * 12 + m0;
            NaiveDate::from_ymd_opt(total.div_euclid(12), total.rem_euclid(12) as u32 + 1, 1)
                .expect("valid date")
        };
        match self {
            Period::Week => {
                let start = config.calendar.week_start as i64; // monday = 0
                let weekday = date.weekday().num_days_from_monday() as i64;
                date - Duration::days((weekday - start).rem_euclid(7))
            }
            Period::Month => month_start(date.year(), date.month0() as i32),
            Period::Quarter => month_start(date.year(), date.month0() as i32 / 3 * 3),
            Period::FiscalQuarter => {
                let offset = config.calendar.fiscal_year_start_month as i32 - 1;
                let m = date.year() * 12 + date.month0() as i32 - offset;
                let q = m.div_euclid(3) * 3 + offset;
                month_start(0, q)
            }
            Period::Year => month_start(date.year(), 0),
        }
    }

    /// The first day of the period after the one starting at `start`.
    pub fn next(self, start: NaiveDate, config: &Config) -> NaiveDate {
        let probe = match self {
            Period::Week => start + Duration::days(7),
            Period::Month => start + Duration::days(32),
            Period::Quarter | Period::FiscalQuarter => start + Duration::days(95),
            Period::Year => start + Duration::days(370),
        };
        self.start_of(probe, config)
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
        crate::ingest::parse::parse_timestamp(text, tz)
            .map(AsOf::Instant)
            .map_err(|e| Error::Usage(format!("--as-of: {e}")))
    }
}

/// UTC microseconds of local midnight starting `date` in `tz`. A midnight skipped by
/// a DST change starts at the first instant that exists (an hour later).
pub fn local_midnight(date: NaiveDate, tz: Tz) -> i64 {
    let naive = date.and_hms_opt(0, 0, 0).expect("valid time");
    let t = match tz.from_local_datetime(&naive) {
        LocalResult::Single(t) => t,
        LocalResult::Ambiguous(t, _) => t,
        LocalResult::None => {
            let later = naive + Duration::hours(1);
            tz.from_local_datetime(&later)
                .earliest()
                .expect("an hour later exists")
        }
    };
    t.timestamp() * 1_000_000
}

/// The local calendar date of an instant.
pub fn local_date(micros: i64, tz: Tz) -> NaiveDate {
    let utc = chrono::DateTime::from_timestamp_micros(micros).expect("timestamp in range");
    utc.with_timezone(&tz).date_naive()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn period_starts() {
        let mut c = Config::default();
        assert_eq!(Period::Week.start_of(d("2025-05-15"), &c), d("2025-05-12")); // Thursday -> Monday
        assert_eq!(Period::Month.start_of(d("2025-05-15"), &c), d("2025-05-01"));
        assert_eq!(
            Period::Quarter.start_of(d("2025-05-15"), &c),
            d("2025-04-01")
        );
        assert_eq!(Period::Year.start_of(d("2025-05-15"), &c), d("2025-01-01"));
        assert_eq!(
            Period::FiscalQuarter.start_of(d("2025-05-15"), &c),
            d("2025-04-01")
        );
        c.calendar.fiscal_year_start_month = 2;
        assert_eq!(
            Period::FiscalQuarter.start_of(d("2025-05-15"), &c),
            d("2025-05-01")
        );
        assert_eq!(
            Period::FiscalQuarter.start_of(d("2025-01-15"), &c),
            d("2024-11-01")
        );
        c.calendar.week_start = crate::config::Weekday::Sunday;
        assert_eq!(Period::Week.start_of(d("2025-05-15"), &c), d("2025-05-11"));
        assert_eq!(Period::Month.next(d("2025-12-01"), &c), d("2026-01-01"));
        assert_eq!(Period::Week.next(d("2025-05-11"), &c), d("2025-05-18"));
    }

    #[test]
    fn midnights_in_zones() {
        let paris: Tz = "Europe/Paris".parse().unwrap();
        assert_eq!(
            local_midnight(d("2025-07-01"), paris),
            1_751_320_800_000_000
        ); // 2025-06-30T22:00Z
        assert_eq!(local_date(1_751_320_800_000_000, paris), d("2025-07-01"));
        assert_eq!(
            local_date(1_751_320_800_000_000 - 1, paris),
            d("2025-06-30")
        );
    }
}
