//! **plan** — the shared plan of `funnel.toml` (`[plan]`) against the data: per
//! commitment its actual at the as-of, what the target expects by now, the pace, a
//! forecast for the period's end and a status; with `--backtest N`, how far the same
//! forecast, made at the same point of the N previous periods, landed from what those
//! periods finally reached. docs/metrics.md and docs/planning.md give the rules.

use polars::prelude::*;

use super::model::{
    apply_filters, collect, in_lookback, in_range, lead_funnel, opportunities, us, Tables,
};
use super::params::{local_midnight, Dim, Params, MICROS_PER_DAY};
use super::pipeline::{closed, f64_at, i64_at, RateBook};
use crate::config::plan::{Commitment, Kind, Measure, PlanPeriod};
use crate::error::{Error, Result};

/// The error of a plan command or metric without a `[plan]`.
pub fn no_plan() -> Error {
    Error::Usage(
        "funnel.toml has no [plan]: draft one with `funnel plan draft --period 2027-Q1 --bookings 2500000` (see docs/planning.md)".into(),
    )
}

/// A status below this share of the target is off track; at or above, at risk.
pub const AT_RISK: f64 = 0.9;

/// One commitment at the as-of.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub commitment: Commitment,
    pub actual: Option<f64>,
    pub expected_by_now: Option<f64>,
    pub pace: Option<f64>,
    pub forecast: Option<f64>,
    pub method: &'static str,
    pub status: &'static str,
    /// `met` or `missed` once the period is over.
    pub result: Option<&'static str>,
    /// Backtest: periods compared, and the mean absolute percentage error.
    pub backtest: Option<(i64, Option<f64>)>,
}

/// The plan at the as-of.
#[derive(Debug, Clone)]
pub struct Status {
    pub period: PlanPeriod,
    pub label: String,
    pub elapsed: f64,
    pub lines: Vec<Line>,
}

/// The period's bounds as instants: local midnight of its first day, and of the day
/// after its last (exclusive).
fn bounds(period: &PlanPeriod, p: &Params) -> (i64, i64) {
    (
        local_midnight(period.start, p.tz),
        local_midnight(period.end + chrono::Duration::days(1), p.tz),
    )
}

/// The share of the period behind `as_of`, in [0, 1]: 1 from the period's last
/// microsecond on (so `--as-of` its last day closes it).
pub fn elapsed(period: &PlanPeriod, p: &Params, as_of: i64) -> f64 {
    let (s, e) = bounds(period, p);
    if as_of >= e - 1 {
        return 1.0;
    }
    ((as_of - s) as f64 / (e - s) as f64).clamp(0.0, 1.0)
}

/// The parameters of one commitment: its period as the range, its slice as filters.
fn line_params(p: &Params, period: &PlanPeriod, c: &Commitment, as_of: i64) -> Result<Params> {
    let filters = c
        .split
        .iter()
        .map(|(dim, value)| {
            let dim = Dim::parse(dim)
                .ok_or_else(|| Error::Usage(format!("plan: `{dim}` is not a dimension")))?;
            Ok((dim, vec![value.clone()]))
        })
        .collect::<Result<Vec<_>>>()?;
    let mut q = Params::resolve(
        p.config.clone(),
        as_of,
        Some(period.start),
        Some(period.end),
        None,
        filters,
        None,
        None,
        false,
    )?;
    q.tz = p.tz;
    Ok(q)
}

/// A measure's actual in the range of `q` (the period) on the world of `tables`,
/// and for a cohort rate whether the cohort is mature.
fn actual(tables: &Tables, q: &Params, m: Measure) -> Result<(Option<f64>, Option<bool>)> {
    if let Some((items, _, value)) = items(tables, q, m) {
        let df = collect(
            items
                .with_column(value.alias("__v"))
                .select([col("__v").sum().alias("v")]),
            "plan",
        )?;
        return Ok((Some(f64_at(&df, "v", 0).unwrap_or(0.0)), None));
    }
    let opps = || apply_filters(opportunities(tables, q), q);
    let won = || col("status").eq(lit("won"));
    match m {
        Measure::WinRate => {
            let df = collect(
                opps()
                    .filter(closed().and(in_range(us("closed_at"), q)))
                    .select([
                        won().cast(DataType::Int64).sum().alias("won"),
                        len().cast(DataType::Int64).alias("closed"),
                    ]),
                "plan",
            )?;
            let (w, n) = (
                i64_at(&df, "won", 0).unwrap_or(0),
                i64_at(&df, "closed", 0).unwrap_or(0),
            );
            Ok(((n > 0).then(|| w as f64 / n as f64), None))
        }
        Measure::SlaWithinRate => {
            let df = super::touches::sla(tables, q)?;
            Ok((f64_at(&df, "within_sla_rate", 0), None))
        }
        Measure::MqlToSqlRate | Measure::SqlToWinRate => {
            let (from, to) = match m {
                Measure::MqlToSqlRate => ("mql", "sql"),
                _ => ("sql", "customer"),
            };
            let (rf, rt) = (format!("reached_{from}"), format!("reached_{to}"));
            let window = q.config.funnel.conversion_window_days;
            let mut conv = col(rt.as_str()).is_not_null();
            if window > 0 {
                conv = conv.and(us(&rt).lt_eq(us(&rf) + lit(i64::from(window) * MICROS_PER_DAY)));
            }
            let df = collect(
                apply_filters(lead_funnel(tables, q), q)
                    .filter(in_range(us(&rf), q))
                    .select([
                        len().cast(DataType::Int64).alias("entered"),
                        conv.cast(DataType::Int64).sum().alias("converted"),
                    ]),
                "plan",
            )?;
            let (e, c) = (
                i64_at(&df, "entered", 0).unwrap_or(0),
                i64_at(&df, "converted", 0).unwrap_or(0),
            );
            let wait = i64::from(window.max(q.config.funnel.maturity_days)) * MICROS_PER_DAY;
            let mature = q.as_of >= q.range_end + wait;
            Ok(((e > 0).then(|| c as f64 / e as f64), Some(mature)))
        }
        _ => unreachable!("volumes and amounts are summed above"),
    }
}

/// The rows a volume or amount sums in the range of `q` (its slice applied): the
/// frame, the timestamp that places a row in the period, and the value of a row.
/// None for rates.
fn items(tables: &Tables, q: &Params, m: Measure) -> Option<(LazyFrame, String, Expr)> {
    if let Some(stage) = m.stage() {
        let t = format!("reached_{stage}");
        let lf = apply_filters(lead_funnel(tables, q), q).filter(in_range(us(&t), q));
        return Some((lf, t, lit(1.0)));
    }
    let opps = apply_filters(opportunities(tables, q), q);
    let won = col("status").eq(lit("won"));
    let amount = col("amount_base").fill_null(lit(0.0));
    let t = match m {
        Measure::PipelineCreated => "created_at",
        Measure::Bookings | Measure::WonDeals => "closed_at",
        _ => return None,
    };
    let mut lf = opps.filter(in_range(us(t), q));
    if t == "closed_at" {
        lf = lf.filter(won);
    }
    let value = if m == Measure::WonDeals {
        lit(1.0)
    } else {
        amount
    };
    Some((lf, t.to_string(), value))
}

/// A volume's or amount's cumulative actual at the end of each local day of the
/// period up to the as-of's day (the burn-up's line); None for rates.
pub fn daily(
    tables: &Tables,
    p: &Params,
    period: &PlanPeriod,
    c: &Commitment,
) -> Result<Option<Vec<f64>>> {
    let q = line_params(p, period, c, p.as_of)?;
    let Some((lf, t, value)) = items(tables, &q, c.measure) else {
        return Ok(None);
    };
    let df = collect(
        lf.with_column(value.alias("__v"))
            .group_by([super::model::local_date_expr(col(t.as_str()), &q).alias("day")])
            .agg([col("__v").sum().alias("v")]),
        "plan burn-up",
    )?;
    let last = super::params::local_date(p.as_of, p.tz).min(period.end);
    let n = (last - period.start).num_days() + 1;
    if n <= 0 {
        return Ok(Some(Vec::new()));
    }
    let mut per_day = vec![0.0; n as usize];
    let days = df
        .column("day")
        .and_then(|c| c.cast(&DataType::Int32))
        .map_err(|e| Error::Data(format!("plan burn-up: {e}")))?;
    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid");
    let offset = (period.start - epoch).num_days();
    for i in 0..df.height() {
        let day = days.get(i).ok().and_then(|v| v.extract::<i64>());
        let v = f64_at(&df, "v", i).unwrap_or(0.0);
        if let Some(k) = day.map(|d| d - offset).filter(|k| (0..n).contains(k)) {
            per_day[k as usize] += v;
        }
    }
    let mut total = 0.0;
    Ok(Some(
        per_day
            .into_iter()
            .map(|v| {
                total += v;
                total
            })
            .collect(),
    ))
}

/// What the open pipeline at the as-of adds to bookings (`amount`) or won deals by
/// the period's end: Σ over opportunities open at the as-of with `close_date` in the
/// period of (amount in the base currency, or 1) × p(stage), where p(stage) is the
/// share won among the opportunities that entered that stage in the quota lookback
/// and are closed by the as-of; an opportunity without a stage, or in a stage without
/// such history, counts at the company's win rate over the lookback.
/// Open-pipeline expectations already computed, by moment, period and slice: bookings
/// and won deals share one computation.
type Expectations = std::sync::Mutex<std::collections::BTreeMap<String, (f64, f64)>>;

/// [`open_pipeline_expectation`] for the amount (`amount`) or the count, computed
/// once per moment, period and slice.
fn expected_from_pipeline(
    tables: &Tables,
    q: &Params,
    amount: bool,
    memo: &Expectations,
) -> Result<f64> {
    let key = format!("{} {} {} {:?}", q.as_of, q.from, q.to, q.filters);
    let cached = memo
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&key)
        .copied();
    let both = match cached {
        Some(b) => b,
        None => {
            let b = open_pipeline_expectation(tables, q)?;
            memo.lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(key, b);
            b
        }
    };
    Ok(if amount { both.0 } else { both.1 })
}

fn open_pipeline_expectation(tables: &Tables, q: &Params) -> Result<(f64, f64)> {
    let lookback = q.config.quota.lookback_days;
    let overall = super::pipeline::company_win_rate(tables, q)?.unwrap_or(0.0);
    let skey = || {
        col("stage")
            .str()
            .strip_chars(lit(NULL))
            .str()
            .to_lowercase()
    };
    let history = super::visible::stage_history(tables, q)
        .filter(in_lookback(us("entered_at"), q, lookback))
        .select([col("opportunity_id"), col("stage_key").alias("__skey")])
        // Closed ones first: fewer pairs to tell apart.
        .join(
            opportunities(tables, q)
                .filter(closed())
                .select([col("opportunity_id"), col("status")]),
            [col("opportunity_id")],
            [col("opportunity_id")],
            JoinArgs::new(JoinType::Inner),
        )
        .unique(
            Some(cols(["opportunity_id", "__skey"])),
            UniqueKeepStrategy::Any,
        )
        .group_by([col("__skey")])
        .agg([(col("status").eq(lit("won")).cast(DataType::Float64).sum()
            / len().cast(DataType::Float64))
        .alias("__p")]);
    let days = |d: chrono::NaiveDate| {
        (d - chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid")).num_days() as i32
    };
    let close = col("close_date").cast(DataType::Int32);
    let p_won = col("__p").fill_null(lit(overall));
    let df = collect(
        apply_filters(opportunities(tables, q), q)
            .filter(
                col("status").eq(lit("open")).and(
                    close
                        .clone()
                        .gt_eq(lit(days(q.from)))
                        .and(close.lt_eq(lit(days(q.to)))),
                ),
            )
            .with_column(skey().alias("__skey"))
            .join(
                history,
                [col("__skey")],
                [col("__skey")],
                JoinArgs::new(JoinType::Left),
            )
            .select([
                (col("amount_base").fill_null(lit(0.0)) * p_won.clone())
                    .sum()
                    .alias("amount"),
                p_won.sum().alias("count"),
            ]),
        "plan forecast",
    )?;
    Ok((
        f64_at(&df, "amount", 0).unwrap_or(0.0),
        f64_at(&df, "count", 0).unwrap_or(0.0),
    ))
}

/// A commitment's line at `as_of` (the moment `tables` shows) for `period`.
fn line(
    tables: &Tables,
    p: &Params,
    period: &PlanPeriod,
    c: &Commitment,
    as_of: i64,
    memo: &Expectations,
) -> Result<Line> {
    let q = line_params(p, period, c, as_of)?;
    let e = elapsed(period, p, as_of);
    let (actual, mature) = actual(tables, &q, c.measure)?;
    let kind = c.measure.kind();
    let expected_by_now = Some(match kind {
        Kind::Rate => c.target,
        _ => c.target * e,
    });
    let pace = match (actual, expected_by_now) {
        (Some(a), Some(x)) if x != 0.0 => Some(a / x),
        _ => None,
    };
    let (forecast, method) = match c.measure {
        Measure::Bookings | Measure::WonDeals => {
            let add = if e >= 1.0 {
                0.0
            } else {
                expected_from_pipeline(tables, &q, c.measure == Measure::Bookings, memo)?
            };
            (actual.map(|a| a + add), "pipeline")
        }
        _ if kind == Kind::Rate => (actual, "actual"),
        _ => (
            actual.and_then(|a| (e > 0.0).then(|| if e >= 1.0 { a } else { a / e })),
            "run_rate",
        ),
    };
    let status = if e <= 0.0 {
        "not_started"
    } else if e >= 1.0 {
        "closed"
    } else if kind == Kind::Rate {
        match (actual, mature) {
            (_, Some(false)) => "immature",
            (None, _) => "no_data",
            (Some(a), _) if a >= c.target => "on_track",
            _ => "off_track",
        }
    } else {
        match forecast {
            None => "no_data",
            Some(f) if f >= c.target => "on_track",
            Some(f) if f >= AT_RISK * c.target => "at_risk",
            _ => "off_track",
        }
    };
    let met = actual.is_some_and(|a| a >= c.target);
    let result = (e >= 1.0).then_some(if met { "met" } else { "missed" });
    Ok(Line {
        commitment: c.clone(),
        actual,
        expected_by_now,
        pace,
        forecast,
        method,
        status,
        result,
        backtest: None,
    })
}

/// The same forecast made at the same point of each of the `n` previous periods
/// (the world cut at that moment), against what each finally reached (the world at
/// the as-of): per line, the periods compared and the mean absolute percentage
/// error over those whose final value is not 0. Each moment's world is cut once,
/// its opportunities modelled once, for every line.
fn backtests(
    tables: &Tables,
    p: &Params,
    period: &PlanPeriod,
    lines: &[Commitment],
    e: f64,
    n: u32,
) -> Result<Vec<(i64, Option<f64>)>> {
    // The periods side by side (each alone leaves part of the machine idle).
    let per_period = crate::parallel::map(n as usize, |k| -> Result<Vec<Option<f64>>> {
        let past = period.back(k as u32 + 1);
        let (s, end) = bounds(&past, p);
        let at = if e >= 1.0 {
            end - 1
        } else {
            s + ((end - s) as f64 * e) as i64
        };
        if at > p.as_of {
            return Ok(vec![None; lines.len()]);
        }
        let then = Params {
            as_of: at,
            ..p.clone()
        };
        let seen_then = super::visible::tables_at(tables, &then)?;
        let memo = Expectations::default();
        lines
            .iter()
            .map(|c| {
                let forecast = line(&seen_then, p, &past, c, at, &memo)?.forecast;
                let (last, _) = actual(tables, &line_params(p, &past, c, p.as_of)?, c.measure)?;
                Ok(match (forecast, last) {
                    (Some(f), Some(l)) if l != 0.0 => Some(((f - l) / l).abs()),
                    _ => None,
                })
            })
            .collect()
    });
    let mut errors: Vec<Vec<f64>> = vec![Vec::new(); lines.len()];
    for period_errors in per_period {
        for (i, err) in period_errors?.into_iter().enumerate() {
            errors[i].extend(err);
        }
    }
    Ok(errors
        .into_iter()
        .map(|errs| {
            let mape = (!errs.is_empty()).then(|| errs.iter().sum::<f64>() / errs.len() as f64);
            (errs.len() as i64, mape)
        })
        .collect())
}

/// The backtest of one commitment alone (the report's sentence on bookings): what
/// [`backtests`] gives for it, without the cost of the other lines.
pub fn backtest_one(
    tables: &Tables,
    p: &Params,
    c: &Commitment,
    n: u32,
) -> Result<(i64, Option<f64>)> {
    let plan = p.config.plan.as_ref().ok_or_else(no_plan)?;
    let period = plan
        .period(p.config.calendar.fiscal_year_start_month)
        .map_err(Error::Usage)?;
    let e = elapsed(&period, p, p.as_of);
    Ok(
        backtests(tables, p, &period, std::slice::from_ref(c), e, n)?
            .pop()
            .unwrap_or((0, None)),
    )
}

/// The plan at `p.as_of` (the moment `tables` shows), with backtests when asked.
pub fn evaluate(tables: &Tables, p: &Params) -> Result<Status> {
    let plan = p.config.plan.as_ref().ok_or_else(no_plan)?;
    let fiscal = p.config.calendar.fiscal_year_start_month;
    let period = plan.period(fiscal).map_err(Error::Usage)?;
    let e = elapsed(&period, p, p.as_of);
    let commitments = plan.lines();
    let memo = Expectations::default();
    let mut lines = commitments
        .iter()
        .map(|c| line(tables, p, &period, c, p.as_of, &memo))
        .collect::<Result<Vec<Line>>>()?;
    if let Some(n) = p.backtest {
        let tests = backtests(tables, p, &period, &commitments, e, n)?;
        for (l, t) in lines.iter_mut().zip(tests) {
            l.backtest = Some(t);
        }
    }
    Ok(Status {
        period,
        label: plan.label(fiscal),
        elapsed: e,
        lines,
    })
}

/// **plan --by DIM** — each commitment's actual split by a dimension: one row per
/// commitment (in the plan's order) and group, `team, measure, split, <DIM>, actual,
/// share`, where a volume or an amount is the group's sum and `share` its part of
/// the commitment's actual, and a rate is the group's own rate (`share` empty). The
/// plan sets no target per group, so none is shown; `funnel metrics plan` has the
/// targets, pace and forecast.
fn by_group(tables: &Tables, p: &Params, dim: Dim) -> Result<DataFrame> {
    let plan = p.config.plan.as_ref().ok_or_else(no_plan)?;
    let period = plan
        .period(p.config.calendar.fiscal_year_start_month)
        .map_err(Error::Usage)?;
    let key = dim.name();
    let mut parts = Vec::new();
    for (order, c) in plan.lines().iter().enumerate() {
        let q = line_params(p, &period, c, p.as_of)?;
        let grouped = match items(tables, &q, c.measure) {
            // The value a column first: a literal 1 summed per group counts 1.
            Some((lf, _, value)) => with_dim(lf.with_column(value.alias("__v")), key)?
                .group_by([col(key)])
                .agg([col("__v").sum().alias("actual")])
                .with_column(
                    (col("actual") / col("actual").sum())
                        .fill_nan(lit(NULL))
                        .alias("share"),
                ),
            None => {
                let (lf, flag, ..) = rate_rows(tables, &q, c.measure)?;
                let rate = col("__k") / col("__n");
                let actual = if c.measure == Measure::SlaWithinRate {
                    lit(1.0) - rate
                } else {
                    rate
                };
                with_dim(lf, key)?
                    .with_column(flag.cast(DataType::Float64).alias("__f"))
                    .group_by([col(key)])
                    .agg([
                        len().cast(DataType::Float64).alias("__n"),
                        col("__f").sum().alias("__k"),
                    ])
                    .select([
                        col(key),
                        actual.alias("actual"),
                        lit(NULL).cast(DataType::Float64).alias("share"),
                    ])
            }
        };
        parts.push(
            grouped.select([
                lit(order as u32).alias("__order"),
                lit(c.team.name()).alias("team"),
                lit(c.measure.name()).alias("measure"),
                match split_text(c) {
                    Some(text) => lit(text),
                    None => lit(NULL).cast(DataType::String),
                }
                .alias("split"),
                col(key).cast(DataType::String),
                col("actual"),
                col("share"),
            ]),
        );
    }
    let all = concat(parts, UnionArgs::default())
        .map_err(|e| Error::Data(format!("plan --by: {e}")))?
        .sort(
            ["__order", key],
            SortMultipleOptions::default().with_nulls_last(true),
        )
        .select(
            ["team", "measure", "split", key, "actual", "share"]
                .into_iter()
                .map(col)
                .collect::<Vec<_>>(),
        );
    collect(all, "plan")
}

/// `lf` with the dimension `key` as a column of that name: the opportunity model
/// carries a lead's dimensions as `__dim_<key>`, the other frames as `<key>`.
fn with_dim(mut lf: LazyFrame, key: &str) -> Result<LazyFrame> {
    let schema = lf
        .collect_schema()
        .map_err(|e| Error::Data(format!("plan --by: {e}")))?;
    let hidden = format!("__dim_{key}");
    if schema.contains(&hidden) {
        return Ok(lf.with_column(col(hidden.as_str()).alias(key)));
    }
    if schema.contains(key) {
        return Ok(lf);
    }
    Err(Error::Usage(format!(
        "plan --by {key}: these rows carry no {key}"
    )))
}

/// The rows behind one commitment's `actual` (for `funnel explain plan`): the
/// commitment whose row keys (`measure`, and `team`, `split` when several share a
/// measure) are given, in the plan's period and slice at the as-of. A volume is the
/// number of rows, an amount the sum of `value`; a rate is explained by its
/// numerator (`--column converted`, `won`, `breached`) or its denominator
/// (`entered`, `closed`, `due`), flagged per row.
pub fn actual_rows(
    tables: &Tables,
    p: &Params,
    row: &[(String, String)],
    column: Option<&str>,
) -> Result<(LazyFrame, String, Option<String>, String)> {
    let plan = p.config.plan.as_ref().ok_or_else(no_plan)?;
    let fiscal = p.config.calendar.fiscal_year_start_month;
    let period = plan.period(fiscal).map_err(Error::Usage)?;
    let lines = plan.lines();
    let c = chosen(&lines, row)?;
    let q = line_params(p, &period, c, p.as_of)?;
    if let Some((lf, t, value)) = items(tables, &q, c.measure) {
        let column = column.unwrap_or("actual").to_string();
        if column != "actual" {
            return Err(explain_usage(format!(
                "--column {column}: a volume or an amount has one column, actual"
            )));
        }
        let amount = !matches!(c.measure, Measure::WonDeals) && c.measure.stage().is_none();
        let lf = shown(lf.with_column(value.alias("value")), &[t.as_str(), "value"])?;
        return Ok((lf, column, amount.then(|| "value".to_string()), t));
    }
    let (lf, flag, numerator, denominator, t) = rate_rows(tables, &q, c.measure)?;
    let column = column.unwrap_or(denominator).to_string();
    let lf = shown(lf.with_column(flag.alias(numerator)), &[numerator, t])?;
    let lf = if column == numerator {
        lf.filter(col(numerator))
    } else if column == denominator {
        lf
    } else {
        return Err(explain_usage(format!(
            "--column {column}: a rate is explained by its numerator ({numerator}) or its denominator ({denominator})"
        )));
    };
    Ok((lf, column, None, t.to_string()))
}

fn explain_usage(what: String) -> Error {
    Error::Usage(format!("explain plan: {what}"))
}

/// The one commitment `row` names: by `measure`, and `team` and `split` when given.
fn chosen<'a>(lines: &'a [Commitment], row: &[(String, String)]) -> Result<&'a Commitment> {
    let key = |k: &str| row.iter().find(|(x, _)| x == k).map(|(_, v)| v.as_str());
    let measures: Vec<&str> = lines.iter().map(|c| c.measure.name()).collect();
    let measure = key("measure").ok_or_else(|| {
        explain_usage(format!(
            "name the commitment with --row measure=NAME ({})",
            measures.join(", ")
        ))
    })?;
    let matching: Vec<&Commitment> = lines
        .iter()
        .filter(|c| c.measure.name() == measure)
        .filter(|c| key("team").is_none_or(|t| c.team.name() == t))
        .filter(|c| key("split").is_none_or(|s| split_text(c).as_deref().unwrap_or("") == s))
        .collect();
    match matching.as_slice() {
        [one] => Ok(one),
        [] => Err(explain_usage(format!(
            "no commitment matches; the plan's measures are {}",
            measures.join(", ")
        ))),
        _ => Err(explain_usage(format!(
            "{} commitments track {measure}: add --row team=… or --row split=…",
            matching.len()
        ))),
    }
}

/// A rate's rows in the range of `q`: the frame of its denominator, the flag of its
/// numerator, their names, and the timestamp that places a row.
fn rate_rows(
    tables: &Tables,
    q: &Params,
    m: Measure,
) -> Result<(LazyFrame, Expr, &'static str, &'static str, &'static str)> {
    Ok(match m {
        Measure::WinRate => (
            apply_filters(opportunities(tables, q), q)
                .filter(closed().and(in_range(us("closed_at"), q))),
            col("status").eq(lit("won")),
            "won",
            "closed",
            "closed_at",
        ),
        Measure::SlaWithinRate => {
            let eps =
                super::touches::episode_outcomes(tables, q, true, super::touches::EpisodeDims::All);
            let (eps, _) = super::model::split(eps, Some("__start_ts"), q)?;
            let counts = super::touches::episode_counts();
            let count = |name: &str| {
                counts
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, e)| e.clone())
                    .expect("sla counts due and breached")
            };
            // Every column kept (the dimensions too), the readable ones added.
            let readable: Vec<Expr> = super::touches::episode_columns()
                .into_iter()
                .map(|(name, e)| e.alias(name))
                .chain([count("breached").alias("breached_flag")])
                .collect();
            let eps = eps.filter(count("due")).with_columns(readable);
            (eps, col("breached_flag"), "breached", "due", "started_at")
        }
        _ => {
            let (from, to, t) = match m {
                Measure::MqlToSqlRate => ("mql", "sql", "reached_mql"),
                _ => ("sql", "customer", "reached_sql"),
            };
            let (rf, rt) = (format!("reached_{from}"), format!("reached_{to}"));
            let window = q.config.funnel.conversion_window_days;
            let mut conv = col(rt.as_str()).is_not_null();
            if window > 0 {
                conv = conv.and(us(&rt).lt_eq(us(&rf) + lit(i64::from(window) * MICROS_PER_DAY)));
            }
            let lf = apply_filters(lead_funnel(tables, q), q).filter(in_range(us(&rf), q));
            (lf, conv, "converted", "entered", t)
        }
    })
}

/// The columns explain shows of a lead's or an opportunity's row (those the frame
/// has), then `last`.
fn shown(lf: LazyFrame, last: &[&str]) -> Result<LazyFrame> {
    let mut lf = lf;
    let schema = lf
        .collect_schema()
        .map_err(|e| Error::Data(format!("explain plan: {e}")))?;
    // An opportunity's columns, then a lead's or an MQL episode's.
    let mut names: Vec<&str> = super::explain::OPPORTUNITY_COLUMNS
        .into_iter()
        .chain([
            "source",
            "source_team",
            "segment",
            "started_at",
            "outcome",
            "decided_at",
            "response_hours",
        ])
        .filter(|n| schema.contains(n) && !last.contains(n))
        .collect();
    names.extend(last.iter().filter(|n| schema.contains(n)));
    Ok(lf.select(names.into_iter().map(col).collect::<Vec<_>>()))
}

/// The split of a commitment as written (`source_team=marketing`), or null.
pub fn split_text(c: &Commitment) -> Option<String> {
    (!c.split.is_empty()).then(|| {
        c.split
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(", ")
    })
}

/// **plan** — one row per commitment, in the plan's order (the bookings target first
/// when no commitment tracks it): `team, measure, split, target, actual,
/// expected_by_now, pace, forecast, forecast_method, status, result, period_start,
/// period_end, elapsed`, and with `--backtest N` `backtest_periods, backtest_mape`.
pub fn plan(tables: &Tables, p: &Params) -> Result<DataFrame> {
    if let Some(dim) = p.by {
        return by_group(tables, p, dim);
    }
    let status = evaluate(tables, p)?;
    let ls = &status.lines;
    let n = ls.len();
    let f = |g: &dyn Fn(&Line) -> Option<f64>| ls.iter().map(g).collect::<Vec<_>>();
    let s = |g: &dyn Fn(&Line) -> Option<String>| ls.iter().map(g).collect::<Vec<_>>();
    let date = |d: chrono::NaiveDate| vec![d; n];
    let mut columns = vec![
        Column::new(
            "team".into(),
            s(&|l| Some(l.commitment.team.name().to_string())),
        ),
        Column::new(
            "measure".into(),
            s(&|l| Some(l.commitment.measure.name().to_string())),
        ),
        Column::new("split".into(), s(&|l| split_text(&l.commitment))),
        Column::new("target".into(), f(&|l| Some(l.commitment.target))),
        Column::new("actual".into(), f(&|l| l.actual)),
        Column::new("expected_by_now".into(), f(&|l| l.expected_by_now)),
        Column::new("pace".into(), f(&|l| l.pace)),
        Column::new("forecast".into(), f(&|l| l.forecast)),
        Column::new("forecast_method".into(), s(&|l| Some(l.method.to_string()))),
        Column::new("status".into(), s(&|l| Some(l.status.to_string()))),
        Column::new("result".into(), s(&|l| l.result.map(String::from))),
        Column::new("period_start".into(), date(status.period.start)),
        Column::new("period_end".into(), date(status.period.end)),
        Column::new("elapsed".into(), vec![status.elapsed; n]),
    ];
    if p.backtest.is_some() {
        columns.push(Column::new(
            "backtest_periods".into(),
            ls.iter()
                .map(|l| l.backtest.map(|b| b.0))
                .collect::<Vec<_>>(),
        ));
        columns.push(Column::new(
            "backtest_mape".into(),
            f(&|l| l.backtest.and_then(|b| b.1)),
        ));
    }
    DataFrame::new(n, columns).map_err(|e| Error::Data(format!("plan: {e}")))
}

/// What `funnel plan draft` derives from the data: the assumptions with their
/// evidence, and the commitments the reverse funnel gives for the bookings target.
#[derive(Debug, Clone)]
pub struct Draft {
    pub lookback_days: u32,
    /// The average won amount (rounded to cents) and the won deals it averages.
    pub avg_deal: Option<f64>,
    pub won_with_amount: i64,
    /// Per funnel step `from>to`: entered, converted, and the rate written (4
    /// decimals), or none without history.
    pub rates: Vec<(String, i64, i64, Option<f64>)>,
    /// The share of MQL episodes decided within the SLA over the lookback.
    pub sla_rate: Option<f64>,
    pub commitments: Vec<Commitment>,
}

/// The volumes one bookings target needs (docs/planning.md): won deals =
/// `ceil(bookings ÷ avg_deal − 1e-9)`, then each earlier stage `ceil(next ÷ rate −
/// 1e-9)` with the rates `lead>mql` … `opportunity>customer`; a missing figure
/// leaves that volume and the earlier ones out.
pub fn volumes(
    bookings: f64,
    avg_deal: Option<f64>,
    rates: &[Option<f64>; 5],
) -> Vec<(Measure, Option<f64>)> {
    let won = match avg_deal {
        _ if bookings == 0.0 => Some(0.0),
        Some(a) if a > 0.0 => Some((bookings / a - 1e-9).ceil()),
        _ => None,
    };
    let opportunities = super::pipeline::need(won, rates[4]);
    let sqls = super::pipeline::need(opportunities, rates[3]);
    let sals = super::pipeline::need(sqls, rates[2]);
    let mqls = super::pipeline::need(sals, rates[1]);
    let leads = super::pipeline::need(mqls, rates[0]);
    vec![
        (Measure::WonDeals, won),
        (Measure::Opportunities, opportunities),
        (Measure::Sqls, sqls),
        (Measure::Sals, sals),
        (Measure::Mqls, mqls),
        (Measure::Leads, leads),
    ]
}

/// The team that owns a measure by default: leads and MQLs marketing, SALs and the
/// SLA sales, the rest both (or, split by source team, the team the source is
/// assigned to when that is marketing or sales).
fn default_owner(m: Measure, source_team: Option<&str>) -> crate::config::plan::Team {
    use crate::config::plan::Team;
    match m {
        Measure::Leads | Measure::Mqls => Team::Marketing,
        Measure::Sals | Measure::SlaWithinRate => Team::Sales,
        _ => match source_team {
            Some("marketing") => Team::Marketing,
            Some("sales") => Team::Sales,
            _ => Team::Both,
        },
    }
}

/// Drafts a plan for `bookings` from the data at `p.as_of` over `p`'s quota
/// lookback; with `by_source_team`, one set of volume commitments per source team,
/// splitting the bookings by each team's share of the won amount in the lookback.
pub fn draft(tables: &Tables, p: &Params, bookings: f64, by_source_team: bool) -> Result<Draft> {
    let lookback = p.config.quota.lookback_days;
    let company = RateBook::new(tables, p)?.company;
    let avg_deal = company.avg_deal().map(|a| (a * 100.0).round() / 100.0);
    let pairs: Vec<(usize, usize)> = (0..5).map(|i| (i, i + 1)).collect();
    let (counts, _) = super::pipeline::step_counts(tables, p, &pairs)?;
    let mut rates = Vec::new();
    let mut used: [Option<f64>; 5] = [None; 5];
    for (k, (e, c)) in counts.iter().enumerate() {
        let (from, to) = crate::config::plan::STEPS[k];
        let rate = (*e > 0 && *c > 0).then(|| (*c as f64 / *e as f64 * 1e4).round() / 1e4);
        used[k] = rate;
        rates.push((format!("{from}>{to}"), *e, *c, rate));
    }
    let today = super::params::local_date(p.as_of, p.tz);
    let sla_params = Params::resolve(
        p.config.clone(),
        p.as_of,
        Some(today - chrono::Duration::days(i64::from(lookback) - 1)),
        Some(today),
        None,
        Vec::new(),
        None,
        None,
        false,
    )?;
    let sla_rate = if tables.has("lead_stage_events") && tables.has("leads") {
        f64_at(
            &super::touches::sla(tables, &sla_params)?,
            "within_sla_rate",
            0,
        )
    } else {
        None
    };
    let mut slices: Vec<(Option<String>, f64)> = vec![(None, bookings)];
    if by_source_team {
        slices = won_shares(tables, p)?
            .into_iter()
            .map(|(team, share)| (Some(team), (bookings * share).round()))
            .collect();
    }
    let mut commitments = Vec::new();
    let mut push = |m: Measure, target: f64, slice: &Option<String>| {
        let split = slice
            .iter()
            .map(|t| ("source_team".to_string(), t.clone()))
            .collect();
        commitments.push(Commitment {
            team: default_owner(m, slice.as_deref()),
            measure: m,
            target,
            split,
        });
    };
    for (slice, amount) in &slices {
        push(Measure::Bookings, *amount, slice);
        for (m, v) in volumes(*amount, avg_deal, &used) {
            if let Some(v) = v {
                push(m, v, slice);
            }
        }
    }
    push(Measure::SlaWithinRate, 0.9, &None);
    Ok(Draft {
        lookback_days: lookback,
        avg_deal,
        won_with_amount: company.won_with_amount,
        rates,
        sla_rate,
        commitments,
    })
}

/// Each source team's share of the won amount closed in the lookback, largest
/// first (teams with none left out).
fn won_shares(tables: &Tables, p: &Params) -> Result<Vec<(String, f64)>> {
    let team = col(Dim::SourceTeam.column());
    let df = collect(
        opportunities(tables, p)
            .filter(col("status").eq(lit("won")).and(in_lookback(
                us("closed_at"),
                p,
                p.config.quota.lookback_days,
            )))
            .group_by([team.clone().fill_null(lit("other")).alias("team")])
            .agg([col("amount_base").fill_null(lit(0.0)).sum().alias("won")])
            .sort(
                ["won", "team"],
                SortMultipleOptions::default().with_order_descending_multi([true, false]),
            ),
        "plan draft",
    )?;
    let total: f64 = (0..df.height()).filter_map(|i| f64_at(&df, "won", i)).sum();
    Ok((0..df.height())
        .filter_map(|i| {
            let team = super::pipeline::str_at(&df, "team", i)?;
            let won = f64_at(&df, "won", i)?;
            (won > 0.0 && total > 0.0).then(|| (team, won / total))
        })
        .collect())
}
