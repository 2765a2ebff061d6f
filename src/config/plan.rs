//! `[plan]`: the targets sales and marketing build and sign together — one period,
//! a bookings target, the assumptions behind it and one commitment per promise,
//! each owned by a team. Part of the definitions (the approval covers it).

use std::collections::BTreeMap;

use chrono::{Datelike, Duration, NaiveDate};
use serde::{Deserialize, Serialize};

/// The dimensions a commitment's `split` may name (the `--by` dimensions).
pub const SPLIT_DIMS: [&str; 7] = [
    "source",
    "source_team",
    "segment",
    "region",
    "owner_id",
    "campaign_id",
    "channel",
];

/// The consecutive funnel steps an assumption's rate may name (`"lead>mql"`, …).
pub const STEPS: [(&str, &str); 5] = [
    ("lead", "mql"),
    ("mql", "sal"),
    ("sal", "sql"),
    ("sql", "opportunity"),
    ("opportunity", "customer"),
];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// `YYYY-Qn`, `FYyyyy-Qn`, `YYYY-MM`; or `start` and `end`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<toml::value::Datetime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<toml::value::Datetime>,
    /// Won amount in the base currency, closed in the period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bookings: Option<f64>,
    #[serde(default, skip_serializing_if = "Assumptions::is_empty")]
    pub assumptions: Assumptions,
    #[serde(default, rename = "commitment", skip_serializing_if = "Vec::is_empty")]
    pub commitments: Vec<Commitment>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Assumptions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avg_deal: Option<f64>,
    /// Step rates keyed `"from>to"`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub rates: BTreeMap<String, f64>,
}

impl Assumptions {
    pub fn is_empty(&self) -> bool {
        self.avg_deal.is_none() && self.rates.is_empty()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Commitment {
    pub team: Team,
    pub measure: Measure,
    pub target: f64,
    /// Count only this slice: dimension → value.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub split: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Team {
    Marketing,
    Sales,
    Both,
}

impl Team {
    pub fn name(self) -> &'static str {
        match self {
            Team::Marketing => "marketing",
            Team::Sales => "sales",
            Team::Both => "both",
        }
    }

    fn subject(self) -> &'static str {
        match self {
            Team::Marketing => "Marketing commits",
            Team::Sales => "Sales commits",
            Team::Both => "Marketing and sales commit",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Measure {
    Bookings,
    WonDeals,
    PipelineCreated,
    Leads,
    Mqls,
    Sals,
    Sqls,
    Opportunities,
    Customers,
    SlaWithinRate,
    MqlToSqlRate,
    SqlToWinRate,
    WinRate,
}

/// What kind of number a measure is: it decides pacing and forecasting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An amount in the base currency.
    Amount,
    /// A count.
    Volume,
    /// A ratio between 0 and 1.
    Rate,
}

impl Measure {
    pub const ALL: [Measure; 13] = [
        Measure::Bookings,
        Measure::WonDeals,
        Measure::PipelineCreated,
        Measure::Leads,
        Measure::Mqls,
        Measure::Sals,
        Measure::Sqls,
        Measure::Opportunities,
        Measure::Customers,
        Measure::SlaWithinRate,
        Measure::MqlToSqlRate,
        Measure::SqlToWinRate,
        Measure::WinRate,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Measure::Bookings => "bookings",
            Measure::WonDeals => "won_deals",
            Measure::PipelineCreated => "pipeline_created",
            Measure::Leads => "leads",
            Measure::Mqls => "mqls",
            Measure::Sals => "sals",
            Measure::Sqls => "sqls",
            Measure::Opportunities => "opportunities",
            Measure::Customers => "customers",
            Measure::SlaWithinRate => "sla_within_rate",
            Measure::MqlToSqlRate => "mql_to_sql_rate",
            Measure::SqlToWinRate => "sql_to_win_rate",
            Measure::WinRate => "win_rate",
        }
    }

    pub fn kind(self) -> Kind {
        match self {
            Measure::Bookings | Measure::PipelineCreated => Kind::Amount,
            Measure::SlaWithinRate
            | Measure::MqlToSqlRate
            | Measure::SqlToWinRate
            | Measure::WinRate => Kind::Rate,
            _ => Kind::Volume,
        }
    }

    /// The funnel stage a volume counts leads reaching, if it is one.
    pub fn stage(self) -> Option<&'static str> {
        Some(match self {
            Measure::Leads => "lead",
            Measure::Mqls => "mql",
            Measure::Sals => "sal",
            Measure::Sqls => "sql",
            Measure::Opportunities => "opportunity",
            Measure::Customers => "customer",
            _ => return None,
        })
    }

    /// What one unit of the measure is, in words ("MQLs", "of bookings").
    fn words(self, target: f64, currency: &str, sla_hours: f64) -> String {
        let n = number(target);
        let pct = format!("{} %", number(target * 100.0));
        match self {
            Measure::Bookings => format!("{n} {currency} of bookings (won amount)"),
            Measure::WonDeals => format!("{n} won deals"),
            Measure::PipelineCreated => format!("{n} {currency} of new pipeline"),
            Measure::Leads => format!("{n} new leads"),
            Measure::Mqls => format!("{n} MQLs"),
            Measure::Sals => format!("{n} sales-accepted leads (SALs)"),
            Measure::Sqls => format!("{n} sales-qualified leads (SQLs)"),
            Measure::Opportunities => format!("{n} opportunities"),
            Measure::Customers => format!("{n} new customers"),
            Measure::SlaWithinRate => {
                format!(
                    "decide (accept or reject) {pct} of MQLs within {} h",
                    number(sla_hours)
                )
            }
            Measure::MqlToSqlRate => format!("turn {pct} of MQLs into SQLs"),
            Measure::SqlToWinRate => format!("win {pct} of SQLs"),
            Measure::WinRate => format!("win {pct} of the opportunities closed"),
        }
    }
}

/// A number as people write it: thousands separated, at most two decimals.
fn number(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        crate::text::thousands(x as u64)
    } else {
        let whole = crate::text::thousands(x.trunc() as u64);
        let frac = format!("{:.2}", x.abs().fract());
        format!(
            "{whole}{}",
            frac.trim_start_matches('0').trim_end_matches('0')
        )
    }
}

/// The plan's period: inclusive local days, and its length in months when it is a
/// month or a quarter (previous periods are then the previous months or quarters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanPeriod {
    pub start: NaiveDate,
    pub end: NaiveDate,
    pub months: Option<u32>,
}

fn add_months(d: NaiveDate, months: i32) -> NaiveDate {
    let total = d.year() * 12 + d.month0() as i32 + months;
    NaiveDate::from_ymd_opt(total.div_euclid(12), total.rem_euclid(12) as u32 + 1, 1)
        .expect("valid date")
}

impl PlanPeriod {
    fn months_from(start: NaiveDate, months: u32) -> PlanPeriod {
        PlanPeriod {
            start,
            end: add_months(start, months as i32) - Duration::days(1),
            months: Some(months),
        }
    }

    /// The period `k` periods before this one, of the same length.
    pub fn back(&self, k: u32) -> PlanPeriod {
        match self.months {
            Some(m) => PlanPeriod::months_from(add_months(self.start, -((m * k) as i32)), m),
            None => {
                let days = (self.end - self.start).num_days() + 1;
                let shift = Duration::days(days * i64::from(k));
                PlanPeriod {
                    start: self.start - shift,
                    end: self.end - shift,
                    months: None,
                }
            }
        }
    }

    /// Days in the period.
    pub fn days(&self) -> i64 {
        (self.end - self.start).num_days() + 1
    }
}

/// Reads `YYYY-Qn`, `FYyyyy-Qn` (a fiscal year is named after the calendar year it
/// ends in), or `YYYY-MM`.
pub fn parse_period(text: &str, fiscal_start_month: u32) -> Result<PlanPeriod, String> {
    let bad = || {
        format!("key `plan.period`: `{text}` is not a period (write 2027-Q1, FY2027-Q1 or 2027-01; or give plan.start and plan.end)")
    };
    let t = text.trim();
    let (fiscal, rest) = match t.strip_prefix("FY").or_else(|| t.strip_prefix("fy")) {
        Some(rest) => (true, rest),
        None => (false, t),
    };
    let (year, tail) = rest.split_once('-').ok_or_else(bad)?;
    let year: i32 = year.parse().map_err(|_| bad())?;
    if !(1900..=2199).contains(&year) {
        return Err(bad());
    }
    if let Some(q) = tail.strip_prefix('Q').or_else(|| tail.strip_prefix('q')) {
        let q: u32 = q.parse().map_err(|_| bad())?;
        if !(1..=4).contains(&q) {
            return Err(bad());
        }
        let first = if fiscal {
            let m = fiscal_start_month;
            // FY2027 ends in 2027: with a January start it is 2027 itself.
            let start_year = if m == 1 { year } else { year - 1 };
            NaiveDate::from_ymd_opt(start_year, m, 1).ok_or_else(bad)?
        } else {
            NaiveDate::from_ymd_opt(year, 1, 1).ok_or_else(bad)?
        };
        return Ok(PlanPeriod::months_from(
            add_months(first, 3 * (q as i32 - 1)),
            3,
        ));
    }
    if fiscal {
        return Err(bad());
    }
    let month: u32 = tail.parse().map_err(|_| bad())?;
    let start = NaiveDate::from_ymd_opt(year, month, 1).ok_or_else(bad)?;
    Ok(PlanPeriod::months_from(start, 1))
}

fn toml_date(d: &toml::value::Datetime, key: &str) -> Result<NaiveDate, String> {
    match (&d.date, &d.time) {
        (Some(date), None) => NaiveDate::from_ymd_opt(
            i32::from(date.year),
            u32::from(date.month),
            u32::from(date.day),
        )
        .ok_or_else(|| format!("key `plan.{key}`: `{d}` is not a date")),
        _ => Err(format!(
            "key `plan.{key}`: `{d}` must be a plain date such as 2027-01-01"
        )),
    }
}

impl Plan {
    /// The period's days.
    pub fn period(&self, fiscal_start_month: u32) -> Result<PlanPeriod, String> {
        match (&self.period, &self.start, &self.end) {
            (Some(p), None, None) => parse_period(p, fiscal_start_month),
            (None, Some(s), Some(e)) => {
                let (start, end) = (toml_date(s, "start")?, toml_date(e, "end")?);
                if end < start {
                    return Err(format!("key `plan.end`: {end} is before plan.start {start}"));
                }
                if (end - start).num_days() > 3 * 366 {
                    return Err("key `plan.end`: a plan covers at most three years".into());
                }
                Ok(PlanPeriod {
                    start,
                    end,
                    months: None,
                })
            }
            (None, None, None) => Err(
                "key `plan.period`: the plan has no period (write period = \"2027-Q1\", or plan.start and plan.end)".into(),
            ),
            _ => Err(
                "key `plan.period`: give either `period` or both `start` and `end`".into(),
            ),
        }
    }

    /// How the period is written for people: its name, or its first and last day.
    pub fn label(&self, fiscal_start_month: u32) -> String {
        match (&self.period, self.period(fiscal_start_month)) {
            (Some(p), _) => p.trim().to_string(),
            (None, Ok(p)) => format!("{} to {}", p.start, p.end),
            (None, Err(_)) => "(no period)".into(),
        }
    }

    /// The commitments the plan tracks: its own, with the bookings target first
    /// when no commitment already tracks bookings over the whole company.
    pub fn lines(&self) -> Vec<Commitment> {
        let mut out = Vec::new();
        if let Some(b) = self.bookings {
            if !self
                .commitments
                .iter()
                .any(|c| c.measure == Measure::Bookings && c.split.is_empty())
            {
                out.push(Commitment {
                    team: Team::Both,
                    measure: Measure::Bookings,
                    target: b,
                    split: BTreeMap::new(),
                });
            }
        }
        out.extend(self.commitments.iter().cloned());
        out
    }

    pub fn validate(&self, fiscal_start_month: u32) -> Result<(), String> {
        self.period(fiscal_start_month)?;
        let positive = |x: f64| x.is_finite() && x >= 0.0;
        if let Some(b) = self.bookings {
            if !positive(b) {
                return Err("key `plan.bookings`: must be a non-negative amount".into());
            }
        }
        if let Some(a) = self.assumptions.avg_deal {
            if !(a.is_finite() && a > 0.0) {
                return Err("key `plan.assumptions.avg_deal`: must be a positive amount".into());
            }
        }
        for (step, rate) in &self.assumptions.rates {
            let known = STEPS.iter().any(|(a, b)| format!("{a}>{b}") == *step);
            if !known {
                let steps: Vec<String> =
                    STEPS.iter().map(|(a, b)| format!("\"{a}>{b}\"")).collect();
                return Err(format!(
                    "key `plan.assumptions.rates`: `{step}` is not a funnel step (use {})",
                    steps.join(", ")
                ));
            }
            if !(rate.is_finite() && *rate > 0.0 && *rate <= 1.0) {
                return Err(format!(
                    "key `plan.assumptions.rates.\"{step}\"`: {rate} is not a rate between 0 and 1"
                ));
            }
        }
        for (i, c) in self.commitments.iter().enumerate() {
            let key = format!("plan.commitment[{}]", i + 1);
            if !positive(c.target) {
                return Err(format!("key `{key}.target`: must be a non-negative number"));
            }
            if c.measure.kind() == Kind::Rate && c.target > 1.0 {
                return Err(format!(
                    "key `{key}.target`: {} is a rate: write 0.9 for 90 %",
                    c.measure.name()
                ));
            }
            for (dim, value) in &c.split {
                if !SPLIT_DIMS.contains(&dim.as_str()) {
                    return Err(format!(
                        "key `{key}.split`: `{dim}` is not a dimension (use one of {})",
                        SPLIT_DIMS.join(", ")
                    ));
                }
                if value.trim().is_empty() {
                    return Err(format!("key `{key}.split.{dim}`: the value is empty"));
                }
            }
        }
        Ok(())
    }

    /// The plan in words, one sentence per commitment ("Marketing commits to 1,350
    /// MQLs in 2027-Q1 (source_team marketing).").
    pub fn sentences(&self, c: &super::Config) -> Vec<String> {
        let period = self.label(c.calendar.fiscal_year_start_month);
        self.lines()
            .iter()
            .map(|line| {
                let slice = if line.split.is_empty() {
                    String::new()
                } else {
                    let parts: Vec<String> =
                        line.split.iter().map(|(k, v)| format!("{k} {v}")).collect();
                    format!(" ({})", parts.join(", "))
                };
                format!(
                    "{} to {} in {period}{slice}.",
                    line.team.subject(),
                    line.measure
                        .words(line.target, &c.currency.base, c.mql.sla_hours)
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn periods_read_as_written() {
        let p = parse_period("2027-Q1", 1).unwrap();
        assert_eq!((p.start, p.end), (d("2027-01-01"), d("2027-03-31")));
        let p = parse_period("2027-Q4", 1).unwrap();
        assert_eq!((p.start, p.end), (d("2027-10-01"), d("2027-12-31")));
        // A fiscal year starting in February is named after the year it ends in.
        let p = parse_period("FY2027-Q1", 2).unwrap();
        assert_eq!((p.start, p.end), (d("2026-02-01"), d("2026-04-30")));
        let p = parse_period("FY2027-Q4", 2).unwrap();
        assert_eq!((p.start, p.end), (d("2026-11-01"), d("2027-01-31")));
        let p = parse_period("FY2027-Q2", 1).unwrap();
        assert_eq!((p.start, p.end), (d("2027-04-01"), d("2027-06-30")));
        let p = parse_period("2028-02", 1).unwrap();
        assert_eq!((p.start, p.end), (d("2028-02-01"), d("2028-02-29")));
        for bad in [
            "2027",
            "2027-Q5",
            "FY2027-03",
            "27-Q1",
            "2027-13",
            "Q1-2027",
        ] {
            assert!(parse_period(bad, 1).is_err(), "{bad}");
        }
    }

    #[test]
    fn previous_periods_have_the_same_length() {
        let q = parse_period("2027-Q1", 1).unwrap();
        let b = q.back(1);
        assert_eq!((b.start, b.end), (d("2026-10-01"), d("2026-12-31")));
        let b = q.back(4);
        assert_eq!((b.start, b.end), (d("2026-01-01"), d("2026-03-31")));
        let m = parse_period("2027-03", 1).unwrap().back(1);
        assert_eq!((m.start, m.end), (d("2027-02-01"), d("2027-02-28")));
        let free = PlanPeriod {
            start: d("2027-01-10"),
            end: d("2027-01-19"),
            months: None,
        };
        let b = free.back(2);
        assert_eq!((b.start, b.end), (d("2026-12-21"), d("2026-12-30")));
    }

    #[test]
    fn sentences_say_who_promises_what() {
        let plan: Plan = toml::from_str(
            "period = \"FY2027-Q1\"\nbookings = 2500000\n[[commitment]]\nteam = \"marketing\"\nmeasure = \"mqls\"\ntarget = 1350\nsplit = { source_team = \"marketing\" }\n[[commitment]]\nteam = \"sales\"\nmeasure = \"sla_within_rate\"\ntarget = 0.9\n",
        )
        .unwrap();
        assert_eq!(
            plan.sentences(&super::super::Config::default()),
            vec![
                "Marketing and sales commit to 2,500,000 USD of bookings (won amount) in FY2027-Q1.",
                "Marketing commits to 1,350 MQLs in FY2027-Q1 (source_team marketing).",
                "Sales commits to decide (accept or reject) 90 % of MQLs within 48 h in FY2027-Q1.",
            ]
        );
    }
}
