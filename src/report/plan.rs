//! The report's opening section: the shared plan — each commitment with its status,
//! burn-up charts for bookings and for each team's volume commitments, and how far
//! the forecast can be trusted (its backtest). Without a `[plan]`, how to draft one.

use std::path::Path;

use polars::prelude::DataFrame;

use super::chart::{self, Chart, Kind, Series};
use super::html::{PlanRow, PlanView};
use super::Inputs;
use crate::config::plan::{Commitment, Kind as MeasureKind, Measure, PlanPeriod, Team};
use crate::error::Result;
use crate::metrics::plan::daily;

/// Backtests the report runs: the forecast at this point of the last 4 periods.
pub const BACKTEST_PERIODS: u32 = 4;

const HOW_TO: &str = "No shared plan yet. Draft one from this data with `funnel plan draft --period 2027-Q1 --bookings 2500000` (it writes [plan] into funnel.toml with the assumptions and their evidence), argue the targets out together, and sign it with `funnel definitions approve`: the report then opens with where the plan stands.";

fn f64_at(df: &DataFrame, column: &str, i: usize) -> Option<f64> {
    crate::frame::floats(df, column).get(i).copied().flatten()
}

fn str_at(df: &DataFrame, column: &str, i: usize) -> Option<String> {
    crate::frame::strings(df, column)
        .get(i)
        .filter(|s| !s.is_empty())
        .cloned()
}

/// A number as the plan table shows it.
fn show(x: Option<f64>, kind: MeasureKind) -> String {
    match (x, kind) {
        (None, _) => "—".into(),
        (Some(v), MeasureKind::Rate) => crate::text::percent(v),
        (Some(v), MeasureKind::Amount) => crate::text::thousands(v.round().max(0.0) as u64),
        (Some(v), MeasureKind::Volume) if v.fract() == 0.0 => {
            crate::text::thousands(v.max(0.0) as u64)
        }
        (Some(v), MeasureKind::Volume) => format!("{v:.1}"),
    }
}

/// The plan section, its charts written into `dir/charts` as `plan-*.svg|png`.
pub fn view(
    inputs: &Inputs<'_>,
    frame: Option<&DataFrame>,
    skipped: Option<&String>,
    dir: &Path,
) -> Result<PlanView> {
    let config = inputs.config;
    let Some(plan) = &config.plan else {
        return Ok(PlanView::missing(HOW_TO));
    };
    let Some(df) = frame else {
        return Ok(PlanView::missing(
            skipped.map(String::as_str).unwrap_or(HOW_TO),
        ));
    };
    let fiscal = config.calendar.fiscal_year_start_month;
    let period = plan.period(fiscal).map_err(crate::error::Error::Usage)?;
    let lines = plan.lines();
    let elapsed = f64_at(df, "elapsed", 0).unwrap_or(0.0);
    let label = plan.label(fiscal);
    let hash = config.definitions_hash();
    let as_of_day = crate::time::local_date(inputs.params.as_of, inputs.params.tz);
    let burn = BurnUps {
        inputs,
        df,
        lines: &lines,
        days: (0..period.days())
            .map(|k| {
                (period.start + chrono::Duration::days(k))
                    .format("%b %d")
                    .to_string()
            })
            .collect(),
        foot: format!(
            "plan {label}: {} to {} · {:.0} % of the period elapsed · as of {as_of_day} · definitions {}",
            period.start,
            period.end,
            elapsed * 100.0,
            &hash[..12]
        ),
        period,
        label: label.clone(),
        dir,
    };
    let mut charts: Vec<String> = burn.bookings()?.into_iter().collect();
    for team in [Team::Marketing, Team::Sales, Team::Both] {
        charts.extend(burn.team(team)?);
    }
    Ok(PlanView {
        heading: format!(
            "The plan for {label} — {:.0} % of the period behind us",
            elapsed * 100.0
        ),
        sentences: plan.sentences(config),
        rows: rows(&lines, df),
        charts,
        backtest: backtest_sentence(inputs, &lines)?,
        missing: None,
    })
}

/// The commitment table's rows, in the plan's order.
fn rows(lines: &[Commitment], df: &DataFrame) -> Vec<PlanRow> {
    lines
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let kind = c.measure.kind();
            PlanRow {
                team: c.team.name().to_string(),
                measure: c.measure.name().to_string(),
                split: crate::metrics::plan::split_text(c).unwrap_or_default(),
                target: show(Some(c.target), kind),
                actual: show(f64_at(df, "actual", i), kind),
                pace: f64_at(df, "pace", i)
                    .map(crate::text::percent)
                    .unwrap_or_else(|| "—".into()),
                forecast: show(f64_at(df, "forecast", i), kind),
                status: str_at(df, "status", i).unwrap_or_default(),
                result: str_at(df, "result", i).unwrap_or_default(),
            }
        })
        .collect()
}

/// What the plan's burn-up charts share: the plan metric's frame, the period's
/// days, and the footnote.
struct BurnUps<'a> {
    inputs: &'a Inputs<'a>,
    df: &'a DataFrame,
    lines: &'a [Commitment],
    period: PlanPeriod,
    label: String,
    days: Vec<String>,
    foot: String,
    dir: &'a Path,
}

impl BurnUps<'_> {
    /// Bookings in the base currency against the plan line and the forecast (the
    /// unsplit bookings commitment; None without one).
    fn bookings(&self) -> Result<Option<String>> {
        let config = self.inputs.config;
        let Some(i) = self
            .lines
            .iter()
            .position(|c| c.measure == Measure::Bookings && c.split.is_empty())
        else {
            return Ok(None);
        };
        let Some(values) = daily(
            self.inputs.tables,
            self.inputs.params,
            &self.period,
            &self.lines[i],
        )?
        else {
            return Ok(None);
        };
        let c = Chart {
            title: format!("Bookings against the plan, {}", self.label),
            subtitle: format!(
                "won amount in {} to date, the plan's straight line to {}, and the forecast",
                config.currency.base,
                chart::human(self.lines[i].target, false)
            ),
            x_desc: String::new(),
            y_desc: format!("bookings ({})", config.currency.base),
            footnote: self.foot.clone(),
            percent: false,
            kind: Kind::BurnUp {
                days: self.days.clone(),
                series: vec![Series::new(
                    "bookings",
                    values.into_iter().map(Some).collect(),
                )],
                forecasts: vec![f64_at(self.df, "forecast", i)],
                target: self.lines[i].target,
            },
        };
        Ok(Some(write_chart(self.dir, "plan-bookings", &c)?))
    }

    /// One team's volume commitments, in % of their targets (None when it has none).
    fn team(&self, team: Team) -> Result<Option<String>> {
        let mut series = Vec::new();
        let mut forecasts = Vec::new();
        for (i, c) in self.lines.iter().enumerate() {
            let volume = c.measure.kind() != MeasureKind::Rate && c.measure != Measure::Bookings;
            if c.team != team || !volume || c.target <= 0.0 {
                continue;
            }
            let Some(values) = daily(self.inputs.tables, self.inputs.params, &self.period, c)?
            else {
                continue;
            };
            let name = match crate::metrics::plan::split_text(c) {
                Some(s) => format!("{} ({s})", c.measure.name()),
                None => c.measure.name().to_string(),
            };
            series.push(Series::new(
                name,
                values.into_iter().map(|v| Some(v / c.target)).collect(),
            ));
            forecasts.push(f64_at(self.df, "forecast", i).map(|f| f / c.target));
        }
        if series.is_empty() {
            return Ok(None);
        }
        let who = match team {
            Team::Marketing => "Marketing's",
            Team::Sales => "Sales'",
            Team::Both => "Shared",
        };
        let c = Chart {
            title: format!("{who} commitments against the plan, {}", self.label),
            subtitle: "each volume to date in % of its target, the plan's straight line to 100 %, and the forecast".into(),
            x_desc: String::new(),
            y_desc: "% of target".into(),
            footnote: self.foot.clone(),
            percent: true,
            kind: Kind::BurnUp {
                days: self.days.clone(),
                series,
                forecasts,
                target: 1.0,
            },
        };
        Ok(Some(write_chart(
            self.dir,
            &format!("plan-{}", team.name()),
            &c,
        )?))
    }
}

/// The backtest of the bookings forecast in one sentence: the same forecast made at
/// this point of each of the last [`BACKTEST_PERIODS`] periods, on the data as it was
/// then, against what they finally booked.
fn backtest_sentence(inputs: &Inputs<'_>, lines: &[Commitment]) -> Result<Option<String>> {
    let Some(c) = lines.iter().find(|c| c.measure == Measure::Bookings) else {
        return Ok(None);
    };
    let (periods, mape) =
        crate::metrics::plan::backtest_one(inputs.tables, inputs.params, c, BACKTEST_PERIODS)?;
    Ok(Some(match mape {
        Some(m) if periods > 0 => format!(
            "How far to trust the forecast: made at this point of each of the last {periods} period(s), the bookings forecast was {:.0} % off what they finally booked, on average (`funnel metrics plan --backtest {BACKTEST_PERIODS}` tests every line).",
            m * 100.0
        ),
        _ => "How far to trust the forecast: no earlier period in the data to test it against yet.".into(),
    }))
}

fn write_chart(dir: &Path, name: &str, c: &Chart) -> Result<String> {
    let svg = chart::to_svg(c)?;
    let charts = dir.join("charts");
    std::fs::write(charts.join(format!("{name}.svg")), &svg)
        .map_err(|e| crate::error::Error::io("cannot write", &charts, e))?;
    std::fs::write(charts.join(format!("{name}.png")), chart::to_png(c)?)
        .map_err(|e| crate::error::Error::io("cannot write", &charts, e))?;
    Ok(svg)
}
