//! `funnel generate`: a realistic synthetic CRM and campaign export in the native
//! format (docs/tables.md), for trying the tool, the bundled sample and benchmarks.
//!
//! The story of each lead is drawn from its own random stream (seed, lead number), and
//! leads are written in order, so the same seed gives byte-identical files. The
//! history ends on 2026-10-31, whatever today is.

mod catalog;
mod lead;
mod rng;
mod write;

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::{Error, Result};
use catalog::Catalog;
use lead::Simulation;
use write::Writers;

#[derive(Debug, Clone)]
pub struct GenerateOptions {
    pub leads: u64,
    pub seed: u64,
    pub months: u32,
}

/// First instant after the generated history: 2026-11-01T00:00:00Z.
pub const END: i64 = 1_793_491_200;
const DAY: i64 = 86_400;

/// Writes the export into `out`; returns the rows written per table.
pub fn generate(
    out: &Path,
    options: &GenerateOptions,
    mut on_progress: impl FnMut(u64),
) -> Result<BTreeMap<&'static str, u64>> {
    if options.leads == 0 {
        return Err(Error::Usage("--leads must be at least 1".into()));
    }
    std::fs::create_dir_all(out).map_err(|e| Error::io("cannot create", out, e))?;
    let start = months_before(END, options.months);
    let catalog = Catalog::new(options.seed, options.leads, start, END);
    let mut writers = Writers::create(out)?;
    let mut sim = Simulation::new(&catalog, options.seed, start, END);
    let step = (options.leads / 200).max(1);
    for index in 0..options.leads {
        sim.lead(index, &mut writers)?;
        if (index + 1) % step == 0 {
            on_progress(step);
        }
    }
    let tally = sim.into_tally();
    writers.write_owners(&catalog)?;
    writers.write_campaigns(&catalog, &tally)?;
    let quotas = writers.write_quotas(&catalog, &tally, END)?;
    let plan = out.join("plan.toml");
    std::fs::write(&plan, plan_text(&tally, &quotas, END))
        .map_err(|e| Error::io("cannot write", &plan, e))?;
    writers.finish()
}

/// The plan the synthetic company's teams signed for the quarter the history ends
/// in (`plan.toml`, a `[plan]` for funnel.toml): bookings are the reps' quotas for
/// that quarter; won deals, MQLs and leads grow the average of the four quarters
/// before by as much as bookings grow their average won amount; sales answers 85 % of
/// MQLs within the SLA.
fn plan_text(tally: &write::Tally, quotas: &BTreeMap<i64, f64>, end: i64) -> String {
    let q = quarter_of(end - 1);
    let before = (q - 4)..q;
    let bookings = quotas.get(&q).copied().unwrap_or(0.0);
    let won: f64 = tally
        .won
        .iter()
        .filter(|((_, quarter), _)| before.contains(quarter))
        .map(|(_, v)| v)
        .sum::<f64>()
        / 4.0;
    let growth = if won > 0.0 { bookings / won } else { 1.0 };
    let grown = |m: &BTreeMap<i64, u64>| {
        let avg = before
            .clone()
            .map(|k| m.get(&k).copied().unwrap_or(0))
            .sum::<u64>() as f64
            / 4.0;
        ((avg * growth).ceil() as u64).max(1)
    };
    let (year, quarter) = (q.div_euclid(4), q.rem_euclid(4) + 1);
    let commitment = |team: &str, measure: &str, target: String| {
        format!("\n[[plan.commitment]]\nteam = \"{team}\"\nmeasure = \"{measure}\"\ntarget = {target}\n")
    };
    let mut t = format!(
        "# The plan the sample company's marketing and sales teams signed for {year}-Q{quarter}\n\
         # (written by `funnel generate`). Bookings are the reps' quotas for the quarter; won\n\
         # deals, MQLs and leads grow the last four quarters' average as bookings grow theirs.\n\
         [plan]\nperiod = \"{year}-Q{quarter}\"\nbookings = {bookings}\n"
    );
    t.push_str(&commitment(
        "both",
        "won_deals",
        grown(&tally.wins).to_string(),
    ));
    t.push_str(&commitment(
        "marketing",
        "mqls",
        grown(&tally.mqls).to_string(),
    ));
    t.push_str(&commitment(
        "marketing",
        "leads",
        grown(&tally.leads).to_string(),
    ));
    t.push_str(&commitment("sales", "sla_within_rate", "0.85".into()));
    t
}

/// The first day of the month `months` months before `end` (itself a month start).
fn months_before(end: i64, months: u32) -> i64 {
    use chrono::{Datelike, NaiveDate};
    let d = chrono::DateTime::from_timestamp(end, 0)
        .expect("valid")
        .date_naive();
    let total = d.year() * 12 + d.month0() as i32 - months as i32;
    let first = NaiveDate::from_ymd_opt(total.div_euclid(12), total.rem_euclid(12) as u32 + 1, 1)
        .expect("valid date");
    first
        .and_hms_opt(0, 0, 0)
        .expect("valid")
        .and_utc()
        .timestamp()
}

/// Days since the epoch to (year, month, day), proleptic Gregorian (H. Hinnant).
pub(crate) fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// The calendar quarter (index since year 0) of an instant.
pub(crate) fn quarter_of(t: i64) -> i64 {
    let (y, m, _) = civil(t.div_euclid(DAY));
    y * 4 + i64::from((m - 1) / 3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar_helpers() {
        assert_eq!(civil(0), (1970, 1, 1));
        assert_eq!(civil(END / DAY), (2026, 11, 1));
        assert_eq!(civil(END / DAY - 1), (2026, 10, 31));
        assert_eq!(civil(months_before(END, 18) / DAY), (2025, 5, 1));
        assert_eq!(quarter_of(END - 1), 2026 * 4 + 3);
    }
}
