//! The headline numbers over time: each tile beside its value for the previous
//! period of the same length and for the same period a year earlier, and a
//! sparkline of the last eight periods. An earlier period is computed as the report
//! would have been then: its range, and the data cut at its own as-of (the same
//! moment of its last day), so that a young cohort is compared with a cohort as
//! young. A period the data does not reach back to (it starts before the earliest
//! lead or opportunity) is left out, never drawn as 0.

use chrono::{Datelike, Duration, Months, NaiveDate};

use super::{headline, HeadlineValue, Inputs, Lacking};
use crate::error::Result;
use crate::metrics::params::{local_midnight, Params, MICROS_PER_DAY};
use crate::metrics::visible::tables_at;

/// How many periods the sparkline shows, the current one included.
pub const PERIODS: usize = 8;

/// The earlier periods' headline values, in the order of the report's tiles.
#[derive(Debug, Clone, Default)]
pub struct Trend {
    /// Per period, oldest first, the current one last: its first day, and its
    /// values (None where the data does not reach back).
    pub periods: Vec<(NaiveDate, Option<Vec<Option<f64>>>)>,
    /// The same period a year earlier: its first day and values.
    pub year_earlier: Option<(NaiveDate, Vec<Option<f64>>)>,
}

impl Trend {
    /// The value of tile `i` in the previous period, when it was computed.
    pub fn previous(&self, i: usize) -> Option<f64> {
        let n = self.periods.len();
        let (_, values) = self.periods.get(n.checked_sub(2)?)?;
        values.as_ref()?.get(i).copied().flatten()
    }

    pub fn year_earlier(&self, i: usize) -> Option<f64> {
        self.year_earlier.as_ref()?.1.get(i).copied().flatten()
    }

    /// Tile `i` over the periods, oldest first.
    pub fn series(&self, i: usize) -> Vec<Option<f64>> {
        self.periods
            .iter()
            .map(|(_, v)| v.as_ref().and_then(|v| v.get(i).copied().flatten()))
            .collect()
    }
}

/// A range moved back: by whole months when it is whole months (a quarter stays
/// a calendar quarter), else by days; None before the calendar's start.
fn back(from: NaiveDate, to: NaiveDate, months: u32, days: i64) -> Option<(NaiveDate, NaiveDate)> {
    let whole_months = from.day() == 1 && (to + Duration::days(1)).day() == 1;
    if months > 0 || whole_months {
        let span = if months > 0 {
            months
        } else {
            month_count(from, to + Duration::days(1))
        };
        let from = from.checked_sub_months(Months::new(span))?;
        let end = (to + Duration::days(1)).checked_sub_months(Months::new(span))?;
        return Some((from, end - Duration::days(1)));
    }
    Some((from - Duration::days(days), to - Duration::days(days)))
}

fn month_count(from: NaiveDate, end: NaiveDate) -> u32 {
    let months = |d: NaiveDate| i64::from(d.year()) * 12 + i64::from(d.month0());
    (months(end) - months(from)).max(1) as u32
}

/// The report's parameters moved to an earlier range, its as-of moved back by as
/// many days as the range's end.
fn moved(p: &Params, from: NaiveDate, to: NaiveDate) -> Params {
    let shift = (p.to - to).num_days();
    Params {
        from,
        to,
        range_start: local_midnight(from, p.tz),
        range_end: local_midnight(to + Duration::days(1), p.tz),
        as_of: p.as_of - shift * MICROS_PER_DAY,
        since: None,
        ..p.clone()
    }
}

/// The headline values of the last [`PERIODS`] periods and of the year-earlier
/// one, each on the data cut at its as-of; `current` are the report's own. A key
/// the export lacks the data for (`lacking`, from the report's profile) has no
/// earlier values either. `earliest` is the first day the data holds.
pub fn trend(
    inputs: &Inputs<'_>,
    current: &[HeadlineValue],
    lacking: &Lacking,
    earliest: Option<NaiveDate>,
) -> Result<Trend> {
    let p = inputs.params;
    let days = (p.to - p.from).num_days() + 1;
    let reached = |from: NaiveDate| earliest.is_some_and(|e| e <= from);
    let mut ranges: Vec<(NaiveDate, NaiveDate)> = Vec::new();
    let (mut from, mut to) = (p.from, p.to);
    for _ in 1..PERIODS {
        match back(from, to, 0, days) {
            Some(r) => (from, to) = r,
            None => break,
        }
        ranges.push((from, to));
    }
    let year = back(p.from, p.to, 12, 0).filter(|r| reached(r.0));
    let mut wanted: Vec<(NaiveDate, NaiveDate)> =
        ranges.iter().copied().filter(|r| reached(r.0)).collect();
    if let Some(y) = year.filter(|y| !wanted.contains(y)) {
        wanted.push(y);
    }
    let computed = crate::parallel::map(wanted.len(), |i| -> Result<Vec<Option<f64>>> {
        let (from, to) = wanted[i];
        let then = moved(p, from, to);
        let seen = tables_at(inputs.tables, &then)?;
        let values = headline(
            &Inputs {
                tables: &seen,
                params: &then,
                ..*inputs
            },
            lacking,
        )?;
        Ok(values.into_iter().map(|(_, _, v, _)| v).collect())
    });
    let mut by_range = std::collections::BTreeMap::new();
    for (range, values) in wanted.iter().zip(computed) {
        by_range.insert(*range, values?);
    }
    let mut periods: Vec<(NaiveDate, Option<Vec<Option<f64>>>)> = ranges
        .iter()
        .rev()
        .map(|r| (r.0, by_range.get(r).cloned()))
        .collect();
    periods.push((
        p.from,
        Some(current.iter().map(|(_, _, v, _)| *v).collect()),
    ));
    Ok(Trend {
        periods,
        year_earlier: year.and_then(|y| Some((y.0, by_range.get(&y)?.clone()))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn a_quarter_moves_by_a_quarter_and_a_trailing_span_by_its_days() {
        assert_eq!(
            back(d("2026-07-01"), d("2026-09-30"), 0, 92),
            Some((d("2026-04-01"), d("2026-06-30")))
        );
        assert_eq!(
            back(d("2026-07-01"), d("2026-09-30"), 12, 0),
            Some((d("2025-07-01"), d("2025-09-30")))
        );
        assert_eq!(
            back(d("2025-11-01"), d("2026-10-31"), 0, 365),
            Some((d("2024-11-01"), d("2025-10-31")))
        );
        assert_eq!(
            back(d("2026-07-15"), d("2026-08-14"), 0, 31),
            Some((d("2026-06-14"), d("2026-07-14")))
        );
        // February's end is the month's end a year earlier too.
        assert_eq!(
            back(d("2024-02-01"), d("2024-02-29"), 12, 0),
            Some((d("2023-02-01"), d("2023-02-28")))
        );
    }
}
