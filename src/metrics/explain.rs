//! `funnel explain`: the rows behind one cell of a metric — the leads, MQL episodes
//! or opportunities it counts, with the timestamps and values that placed them. The
//! rows come from the same frames, filters and splits as the metric itself, so for a
//! count they number exactly the cell, and for a sum or a median they carry the
//! values it is computed from.

use polars::prelude::*;

use super::funnel::{converted, default_pairs};
use super::model::{
    as_utc, in_range, lead_funnel, opportunities, split, us, Tables, FUNNEL, STAGES,
};
use super::params::{Params, Period};
use crate::error::{Error, Result};

/// The metrics `explain` covers.
pub const EXPLAINED: [&str; 9] = [
    "waterfall",
    "conversion",
    "funnel-time",
    "cycle",
    "stage-time",
    "sla",
    "win-rate",
    "changes",
    "plan",
];

/// The columns explain shows of an opportunity (win-rate's rows, the plan's).
pub const OPPORTUNITY_COLUMNS: [&str; 9] = [
    "opportunity_id",
    "lead_id",
    "owner_id",
    "status",
    "created_at",
    "closed_at",
    "amount",
    "currency",
    "amount_base",
];

/// The cell to explain: the values of its row's keys (`stage=mql`, `source=webinar`,
/// `period=2026-07-01`, …) and its column.
#[derive(Debug, Clone, Default)]
pub struct Cell {
    pub row: Vec<(String, String)>,
    pub column: Option<String>,
}

/// How the cell is computed from the rows.
#[derive(Debug, Clone, PartialEq)]
pub enum Reading {
    /// The cell is the number of rows.
    Count,
    /// The sum of this column of the rows.
    Sum(String),
    /// The arithmetic mean of this column.
    Mean(String),
    /// The linear-interpolation quantile `q` of this column (0 = its minimum, 1 = its
    /// maximum).
    Quantile(String, f64),
}

/// The rows behind a cell, and how they make it.
pub struct Explained {
    pub rows: DataFrame,
    pub column: String,
    pub reading: Reading,
}

fn usage(m: &str, what: String) -> Error {
    Error::Usage(format!("explain {m}: {what}"))
}

/// Takes the key `key` out of the row's keys.
fn take(cell: &mut Cell, key: &str) -> Option<String> {
    let i = cell.row.iter().position(|(k, _)| k == key)?;
    Some(cell.row.remove(i).1)
}

fn need(cell: &mut Cell, m: &str, key: &str, choices: &[&str]) -> Result<String> {
    take(cell, key).ok_or_else(|| {
        usage(
            m,
            format!(
                "name the row with --row {key}=… ({})",
                if choices.is_empty() {
                    "see the metric's output".to_string()
                } else {
                    choices.join(", ")
                }
            ),
        )
    })
}

fn stage_index(m: &str, key: &str, value: &str) -> Result<usize> {
    STAGES[..FUNNEL]
        .iter()
        .position(|s| *s == value)
        .ok_or_else(|| {
            usage(
                m,
                format!(
                    "{key}={value}: not a funnel stage ({})",
                    STAGES[..FUNNEL].join(", ")
                ),
            )
        })
}

/// Keeps the rows whose split keys (`--by`, `--period`) have the values the cell
/// names; every key the metric's row has must be named, and nothing else.
fn on_keys(m: &str, mut lf: LazyFrame, keys: &[String], cell: &mut Cell) -> Result<LazyFrame> {
    for key in keys {
        let value = take(cell, key).ok_or_else(|| {
            usage(
                m,
                format!("the rows are split by `{key}`: add --row {key}=…"),
            )
        })?;
        let c = col(key.as_str()).cast(DataType::String);
        lf = lf.filter(if value == "null" {
            c.is_null()
        } else {
            c.eq(lit(value))
        });
    }
    if let Some((k, _)) = cell.row.first() {
        return Err(usage(m, format!("the metric's rows have no key `{k}`")));
    }
    Ok(lf)
}

/// The rows behind `cell` of metric `name` under `p`.
pub fn explain(name: &str, tables: &Tables, p: &Params, cell: &Cell) -> Result<Explained> {
    let mut cell = cell.clone();
    let (lf, column, reading, order) = match name {
        "waterfall" => waterfall(tables, p, &mut cell)?,
        "conversion" => conversion(tables, p, &mut cell)?,
        "sla" => sla(tables, p, &mut cell)?,
        "cycle" => cycle(tables, p, &mut cell)?,
        "funnel-time" => funnel_time(tables, p, &mut cell)?,
        "stage-time" => stage_time(tables, p, &mut cell)?,
        "win-rate" => win_rate(tables, p, &mut cell)?,
        "changes" => changes(tables, p, &mut cell)?,
        "plan" => {
            let (lf, column, sum, order) =
                super::plan::actual_rows(tables, p, &cell.row, cell.column.as_deref())?;
            let reading = sum.map_or(Reading::Count, Reading::Sum);
            (lf, column, reading, order)
        }
        other => {
            return Err(Error::Usage(format!(
                "explain covers {} so far; `{other}`'s rows are in the views of `funnel sql --tables` (lead_funnel, mql_episodes, counted_touches, opportunity_stays, opportunity_model)",
                EXPLAINED.join(", ")
            )))
        }
    };
    let rows = super::model::collect(
        lf.sort(
            [order.as_str()],
            SortMultipleOptions::default().with_nulls_last(true),
        ),
        "explain",
    )?;
    Ok(Explained {
        rows,
        column,
        reading,
    })
}

type Plan = (LazyFrame, String, Reading, String);

/// The key columns, then `columns` (by name, each once: a split key such as
/// `source` or `owner_id` is not shown twice).
fn shown(keys: &[String], columns: Vec<(String, Expr)>) -> Vec<Expr> {
    let mut out: Vec<Expr> = keys.iter().map(|k| col(k.as_str())).collect();
    let mut names: Vec<String> = keys.to_vec();
    for (name, e) in columns {
        if !names.contains(&name) {
            names.push(name.clone());
            out.push(e.alias(name));
        }
    }
    out
}

fn c(name: &str) -> (String, Expr) {
    (name.to_string(), col(name))
}

fn column_of(m: &str, cell: &Cell, default: &str, choices: &[&str]) -> Result<String> {
    let c = cell.column.clone().unwrap_or_else(|| default.to_string());
    if choices.contains(&c.as_str()) {
        Ok(c)
    } else {
        Err(usage(
            m,
            format!(
                "--column {c}: explain one of {} (a rate is explained by its numerator and denominator)",
                choices.join(", ")
            ),
        ))
    }
}

fn waterfall(tables: &Tables, p: &Params, cell: &mut Cell) -> Result<Plan> {
    let m = "waterfall";
    let stage = need(cell, m, "stage", &STAGES[..FUNNEL])?;
    let i = stage_index(m, "stage", &stage)?;
    let column = column_of(m, cell, "reached", &["reached"])?;
    let lf = lead_funnel(tables, p).filter(in_range(us("reached_lead"), p));
    let (lf, keys) = split(lf, Some("reached_lead"), p)?;
    let lf = on_keys(m, lf, &keys, cell)?.filter(converted(0, i, p));
    let reached = format!("reached_{stage}");
    let show = shown(
        &keys,
        vec![c("lead_id"), c("source"), c("reached_lead"), c(&reached)],
    );
    Ok((
        lf.select(show),
        column,
        Reading::Count,
        "reached_lead".into(),
    ))
}

fn conversion(tables: &Tables, p: &Params, cell: &mut Cell) -> Result<Plan> {
    let m = "conversion";
    let from = need(cell, m, "from_stage", &STAGES[..FUNNEL])?;
    let to = need(cell, m, "to_stage", &STAGES[..FUNNEL])?;
    let (a, b) = (
        stage_index(m, "from_stage", &from)?,
        stage_index(m, "to_stage", &to)?,
    );
    if !default_pairs().contains(&(a, b)) {
        return Err(usage(
            m,
            format!("{from} → {to} is not one of the metric's pairs"),
        ));
    }
    let cohort = need(cell, m, "cohort", &[])?;
    let column = column_of(m, cell, "converted", &["entered", "converted"])?;
    let (rf, rt) = (format!("reached_{from}"), format!("reached_{to}"));
    let by_params = Params {
        period: Some(p.period.unwrap_or(Period::Month)),
        ..p.clone()
    };
    let lf = lead_funnel(tables, p).filter(in_range(us(&rf), p));
    let (lf, keys) = split(lf, Some(&rf), &by_params)?;
    let lf = lf.filter(col("period").cast(DataType::String).eq(lit(cohort)));
    let keys: Vec<String> = keys.into_iter().filter(|k| k != "period").collect();
    let mut lf = on_keys(m, lf, &keys, cell)?;
    if column == "converted" {
        lf = lf.filter(converted(a, b, p));
    }
    let show = shown(
        &keys,
        vec![
            ("cohort".into(), col("period")),
            c("lead_id"),
            c(&rf),
            c(&rt),
        ],
    );
    Ok((lf.select(show), column, Reading::Count, rf))
}

fn sla(tables: &Tables, p: &Params, cell: &mut Cell) -> Result<Plan> {
    let m = "sla";
    let counts = super::touches::episode_counts();
    let mut columns: Vec<&str> = counts.iter().map(|(name, _)| *name).collect();
    columns.push("median_response_hours");
    let column = column_of(m, cell, "mql_episodes", &columns)?;
    let eps =
        super::touches::episode_outcomes(tables, p, true, super::touches::EpisodeDims::AsSplit);
    let (eps, keys) = split(eps, Some("__start_ts"), p)?;
    let eps = on_keys(m, eps, &keys, cell)?;
    let keep = counts
        .into_iter()
        .find(|(name, _)| *name == column)
        .map(|(_, counted)| counted)
        .unwrap_or_else(|| col("__decision").is_not_null());
    let reading = match column.as_str() {
        "median_response_hours" => Reading::Quantile("response_hours".into(), 0.5),
        _ => Reading::Count,
    };
    let show = shown(
        &keys,
        super::touches::episode_columns()
            .into_iter()
            .map(|(name, e)| (name.to_string(), e))
            .collect(),
    );
    Ok((
        eps.filter(keep).select(show),
        column,
        reading,
        "started_at".into(),
    ))
}

fn win_rate(tables: &Tables, p: &Params, cell: &mut Cell) -> Result<Plan> {
    let m = "win-rate";
    let column = column_of(
        m,
        cell,
        "closed",
        &["closed", "won", "lost", "won_amount", "lost_amount"],
    )?;
    let opps = opportunities(tables, p)
        .filter(super::pipeline::closed().and(in_range(us("closed_at"), p)));
    let (opps, keys) = split(opps, Some("closed_at"), p)?;
    let opps = on_keys(m, opps, &keys, cell)?;
    let status = |s: &str| col("status").eq(lit(s.to_string()));
    let (keep, reading) = match column.as_str() {
        "won" => (status("won"), Reading::Count),
        "lost" => (status("lost"), Reading::Count),
        "won_amount" => (status("won"), Reading::Sum("amount_base".into())),
        "lost_amount" => (status("lost"), Reading::Sum("amount_base".into())),
        _ => (lit(true), Reading::Count),
    };
    let show = shown(&keys, OPPORTUNITY_COLUMNS.into_iter().map(c).collect());
    Ok((
        opps.filter(keep).select(show),
        column,
        reading,
        "closed_at".into(),
    ))
}

fn changes(tables: &Tables, p: &Params, cell: &mut Cell) -> Result<Plan> {
    let m = "changes";
    let part = need(cell, m, "part", &["pipeline", "funnel"])?;
    let step = need(cell, m, "step", &[])?;
    let pipeline = match part.as_str() {
        "pipeline" => true,
        "funnel" => false,
        other => return Err(usage(m, format!("part={other}: pipeline or funnel"))),
    };
    let steps: Vec<&str> = if pipeline {
        super::changes::PIPELINE_STEPS
            .iter()
            .map(|(s, _)| *s)
            .collect()
    } else {
        super::changes::FUNNEL_STEPS.to_vec()
    };
    if !steps.contains(&step.as_str()) {
        return Err(usage(
            m,
            format!("step={step}: not a {part} step ({})", steps.join(", ")),
        ));
    }
    let choices: &[&str] = if pipeline {
        &["count", "amount"]
    } else {
        &["count"]
    };
    let column = column_of(m, cell, "count", choices)?;
    let reading = match column.as_str() {
        "amount" => Reading::Sum("amount".into()),
        _ => Reading::Count,
    };
    let (items, keys, order) = if pipeline {
        let (items, keys) = super::changes::pipeline_items(tables, p)?;
        (items, keys, "opportunity_id")
    } else {
        let (_, keys) = split(lead_funnel(tables, p), None, p)?;
        (
            super::changes::funnel_items(tables, p, &keys)?,
            keys,
            "lead_id",
        )
    };
    let items = on_keys(m, items, &keys, cell)?.filter(col("step").eq(lit(step)));
    let items = if pipeline {
        items
    } else {
        items.drop(cols(["amount"]))
    };
    Ok((items, column, reading, order.into()))
}

/// How a duration column of `cycle` or `funnel-time` is read from the rows' `days`.
fn duration_reading(column: &str) -> Reading {
    let days = || "days".to_string();
    match column {
        "mean_days" => Reading::Mean(days()),
        "median_days" => Reading::Quantile(days(), 0.5),
        "p25_days" => Reading::Quantile(days(), 0.25),
        "p75_days" => Reading::Quantile(days(), 0.75),
        "p90_days" => Reading::Quantile(days(), 0.9),
        "min_days" => Reading::Quantile(days(), 0.0),
        "max_days" => Reading::Quantile(days(), 1.0),
        _ => Reading::Count,
    }
}

fn cycle(tables: &Tables, p: &Params, cell: &mut Cell) -> Result<Plan> {
    let m = "cycle";
    let measure = need(cell, m, "measure", &["lead_to_customer", "sales_cycle"])?;
    let columns = [
        "count",
        "mean_days",
        "median_days",
        "p25_days",
        "p75_days",
        "p90_days",
        "min_days",
        "max_days",
        "left_out_negative",
    ];
    let column = column_of(m, cell, "count", &columns)?;
    let reading = duration_reading(&column);
    // The statistics read the durations kept; `left_out_negative` lists the others.
    let kept = |days: Expr| {
        if column == "left_out_negative" {
            super::cycle::left_out_rows(days, p)
        } else {
            super::cycle::kept_duration(days, p)
        }
    };
    let days = super::model::days_between;
    let (lf, t, show) = match measure.as_str() {
        "sales_cycle" => {
            let opps = opportunities(tables, p).filter(
                col("status")
                    .eq(lit("won"))
                    .and(in_range(us("closed_at"), p)),
            );
            let (opps, keys) = split(opps, Some("closed_at"), p)?;
            let show = shown(
                &keys,
                vec![
                    c("opportunity_id"),
                    c("lead_id"),
                    c("created_at"),
                    c("closed_at"),
                    ("days".into(), days(us("created_at"), us("closed_at"))),
                ],
            );
            let opps = on_keys(m, opps, &keys, cell)?
                .filter(kept(days(us("created_at"), us("closed_at"))));
            (opps, "closed_at", show)
        }
        "lead_to_customer" => {
            let leads = lead_funnel(tables, p)
                .filter(in_range(us("reached_customer"), p).and(col("reached_lead").is_not_null()));
            let (leads, keys) = split(leads, Some("reached_customer"), p)?;
            let show = shown(
                &keys,
                vec![
                    c("lead_id"),
                    c("reached_lead"),
                    c("reached_customer"),
                    (
                        "days".into(),
                        days(us("reached_lead"), us("reached_customer")),
                    ),
                ],
            );
            let leads = on_keys(m, leads, &keys, cell)?
                .filter(kept(days(us("reached_lead"), us("reached_customer"))));
            (leads, "reached_customer", show)
        }
        other => {
            return Err(usage(
                m,
                format!("measure={other}: one of lead_to_customer, sales_cycle"),
            ))
        }
    };
    Ok((lf.select(show), column, reading, t.into()))
}

fn funnel_time(tables: &Tables, p: &Params, cell: &mut Cell) -> Result<Plan> {
    let m = "funnel-time";
    let from = need(cell, m, "from_stage", &STAGES[..FUNNEL - 1])?;
    let to = need(cell, m, "to_stage", &STAGES[1..FUNNEL])?;
    let (a, b) = (
        stage_index(m, "from_stage", &from)?,
        stage_index(m, "to_stage", &to)?,
    );
    if b != a + 1 {
        return Err(usage(m, format!("{from} → {to} is not a consecutive step")));
    }
    let column = column_of(
        m,
        cell,
        "count",
        &["count", "mean_days", "median_days", "p90_days"],
    )?;
    let (ra, rb) = (format!("reached_{from}"), format!("reached_{to}"));
    let lf =
        lead_funnel(tables, p).filter(in_range(us(&rb), p).and(col(ra.as_str()).is_not_null()));
    let (lf, keys) = split(lf, Some(&rb), p)?;
    let lf = on_keys(m, lf, &keys, cell)?;
    let show = shown(
        &keys,
        vec![
            c("lead_id"),
            c(&ra),
            c(&rb),
            ("days".into(), super::model::days_between(us(&ra), us(&rb))),
        ],
    );
    Ok((
        lf.select(show),
        column.clone(),
        duration_reading(&column),
        rb,
    ))
}

fn stage_time(tables: &Tables, p: &Params, cell: &mut Cell) -> Result<Plan> {
    let m = "stage-time";
    let (stays, rows) = super::cycle::stays(tables, p)?;
    let names: Vec<&str> = rows.iter().map(String::as_str).collect();
    let stage = need(cell, m, "stage", &names)?;
    let column = column_of(
        m,
        cell,
        "stays",
        &[
            "stays",
            "mean_days",
            "median_days",
            "p90_days",
            "open_stays",
            "regressions",
        ],
    )?;
    let (stays, keys) = split(stays, None, p)?;
    let stays =
        on_keys(m, stays, &keys, cell)?.filter(col("__skey").eq(lit(crate::config::norm(&stage))));
    let keep = match column.as_str() {
        "open_stays" => col("__open"),
        "regressions" => col("__regression"),
        _ => col("__done"),
    };
    let reading = match column.as_str() {
        "mean_days" | "median_days" | "p90_days" => duration_reading(&column),
        _ => Reading::Count,
    };
    let show = shown(
        &keys,
        vec![
            c("opportunity_id"),
            ("stage".into(), col("__skey")),
            ("started_at".into(), as_utc(col("__start"))),
            ("ended_at".into(), as_utc(col("__end"))),
            ("days".into(), col("__days")),
            c("status"),
        ],
    );
    Ok((
        stays.filter(keep).select(show),
        column,
        reading,
        "started_at".into(),
    ))
}

/// The linear-interpolation quantile `q` of `v` (numpy's default).
fn quantile(mut v: Vec<f64>, q: f64) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let at = (v.len() - 1) as f64 * q;
    let (lo, hi) = (v[at.floor() as usize], v[at.ceil() as usize]);
    Some(lo + (hi - lo) * (at - at.floor()))
}

/// The cell as the rows make it: their number, sum, mean or quantile.
pub fn recompute(e: &Explained) -> Option<f64> {
    let values = |c: &str| -> Vec<f64> {
        crate::frame::floats(&e.rows, c)
            .into_iter()
            .flatten()
            .collect()
    };
    match &e.reading {
        Reading::Count => Some(e.rows.height() as f64),
        Reading::Sum(c) => Some(values(c).into_iter().sum()),
        Reading::Quantile(c, q) => quantile(values(c), *q),
        Reading::Mean(c) => {
            let v = values(c);
            (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
        }
    }
}
