//! The lead funnel metrics: `waterfall`, `conversion`, `funnel-time` (docs/metrics.md).

use polars::prelude::*;

use super::model::{
    collect, days_between, in_range, lead_funnel, null_of, rate_columns, split, us, Tables, FUNNEL,
    STAGES,
};
use super::params::{local_midnight, Params, Period, MICROS_PER_DAY};
use super::stats::{aggregate, distribution, histogram};
use crate::error::Result;

fn reached(i: usize) -> String {
    format!("reached_{}", STAGES[i])
}

/// `reached_at(to)` counts as a conversion from `reached_at(from)`: it exists and,
/// with a conversion window of W days, `reached(to) ≤ reached(from) + W days`.
pub(super) fn converted(from: usize, to: usize, p: &Params) -> Expr {
    let exists = col(reached(to)).is_not_null();
    let window = p.config.funnel.conversion_window_days;
    if window == 0 {
        exists
    } else {
        exists.and(
            us(&reached(to)).lt_eq(us(&reached(from)) + lit(i64::from(window) * MICROS_PER_DAY)),
        )
    }
}

fn sort_by(keys: &[String], extra: &[&str]) -> (Vec<PlSmallStr>, SortMultipleOptions) {
    let by: Vec<PlSmallStr> = keys
        .iter()
        .map(|k| k.as_str().into())
        .chain(extra.iter().map(|e| (*e).into()))
        .collect();
    (by, SortMultipleOptions::default().with_maintain_order(true))
}

/// **waterfall** — Cohort: leads whose `reached_at(lead)` is in range. For each
/// funnel stage, `reached` = cohort leads that reached it (within
/// `conversion_window_days` of `reached_at(lead)` when set). `step_rate` = reached ÷
/// the previous stage's reached (null for `lead`); `cumulative_rate` = reached ÷ the
/// lead stage's reached. Both with Wilson 95 % bounds; null when the denominator is 0.
pub fn waterfall(tables: &Tables, p: &Params) -> Result<DataFrame> {
    let lf = lead_funnel(tables, p).filter(in_range(us("reached_lead"), p));
    let (lf, keys) = split(lf, Some("reached_lead"), p)?;
    let aggs: Vec<Expr> = (0..FUNNEL)
        .map(|i| {
            converted(0, i, p)
                .cast(DataType::Int64)
                .sum()
                .alias(format!("__r{i}"))
        })
        .collect();
    let counts = aggregate(lf, &keys, aggs).cache();
    let parts: Vec<LazyFrame> = (0..FUNNEL)
        .map(|i| {
            let mut exprs: Vec<Expr> = keys.iter().map(|k| col(k.as_str())).collect();
            exprs.push(lit(STAGES[i]).alias("stage"));
            exprs.push(lit(i as i32).alias("__order"));
            exprs.push(col(format!("__r{i}")).alias("reached"));
            let prev = if i == 0 {
                null_of(DataType::Int64)
            } else {
                col(format!("__r{}", i - 1))
            };
            exprs.extend(rate_columns(col(format!("__r{i}")), prev, "step_rate"));
            exprs.extend(rate_columns(
                col(format!("__r{i}")),
                col("__r0"),
                "cumulative_rate",
            ));
            counts.clone().select(exprs)
        })
        .collect();
    let all = concat(parts, UnionArgs::default()).expect("same schema");
    let (by, opts) = sort_by(&keys, &["__order"]);
    collect(all.sort(by, opts).drop(cols(["__order"])), "waterfall")
}

/// The default conversion pairs: each consecutive funnel pair, plus mql → customer.
pub fn default_pairs() -> Vec<(usize, usize)> {
    let mut pairs: Vec<(usize, usize)> = (0..FUNNEL - 1).map(|i| (i, i + 1)).collect();
    pairs.push((1, 5));
    pairs
}

/// **conversion** — Cohorts by period (default month) of `reached_at(from)` in range:
/// `entered` = leads reaching `from` in the period (edge periods: only inside the
/// range), `converted` = those that reached `to` at any time (within the window if
/// set), `rate` = converted ÷ entered with Wilson bounds, `mature` = as_of ≥ period
/// end (exclusive) + max(window, maturity_days) days. A full grid of periods
/// overlapping the range × pairs; empty cells are 0, 0, null.
pub fn conversion(tables: &Tables, p: &Params) -> Result<DataFrame> {
    let period = p.period.unwrap_or(Period::Month);
    let funnel = lead_funnel(tables, p).cache();
    let by_params = Params {
        period: Some(period),
        ..p.clone()
    };
    let mut parts = Vec::new();
    let pairs = default_pairs();
    for (order, (a, b)) in pairs.iter().enumerate() {
        let lf = funnel.clone().filter(in_range(us(&reached(*a)), p));
        let (lf, keys) = split(lf, Some(&reached(*a)), &by_params)?;
        let counts = aggregate(
            lf,
            &keys,
            vec![
                len().cast(DataType::Int64).alias("entered"),
                converted(*a, *b, p)
                    .cast(DataType::Int64)
                    .sum()
                    .alias("converted"),
            ],
        )
        .with_column(lit(order as i32).alias("__order"));
        parts.push(counts);
    }
    let counts = collect(
        concat(parts, UnionArgs::default()).expect("same schema"),
        "conversion",
    )?;

    // The grid: every period overlapping the range × pairs (× groups seen).
    let periods = period_frame(period, p);
    let pair_frame = pair_frame(&pairs);
    let mut grid = periods.lazy().cross_join(pair_frame.lazy(), None);
    let mut keys = vec!["period".to_string(), "__order".to_string()];
    if let Some(by) = p.by {
        let groups = counts
            .clone()
            .lazy()
            .select([col(by.name())])
            .unique(None, UniqueKeepStrategy::First);
        grid = groups.cross_join(grid, None);
        keys.insert(0, by.name().to_string());
    }
    let on: Vec<Expr> = keys.iter().map(|k| col(k.as_str())).collect();
    let select = conversion_columns(p);
    let out = grid
        .join(
            counts.lazy(),
            on.clone(),
            on,
            super::model::left_join_nulls_equal(),
        )
        .sort(
            keys.iter()
                .map(|k| PlSmallStr::from(k.as_str()))
                .collect::<Vec<_>>(),
            SortMultipleOptions::default().with_maintain_order(true),
        )
        .select(select);
    collect(out, "conversion")
}

/// The columns of `conversion`'s rows, from the grid joined with the counts: a
/// cohort is mature once the conversion window (or the maturity, if longer) has
/// passed since its period's end.
fn conversion_columns(p: &Params) -> Vec<Expr> {
    let wait = i64::from(
        p.config
            .funnel
            .conversion_window_days
            .max(p.config.funnel.maturity_days),
    ) * MICROS_PER_DAY;
    let mut select: Vec<Expr> = Vec::new();
    if let Some(by) = p.by {
        select.push(col(by.name()));
    }
    select.extend([
        col("period").alias("cohort"),
        col("from_stage"),
        col("to_stage"),
        col("entered").fill_null(lit(0i64)),
        col("converted").fill_null(lit(0i64)),
    ]);
    select.extend(rate_columns(
        col("converted").fill_null(lit(0i64)),
        col("entered").fill_null(lit(0i64)),
        "rate",
    ));
    select.push(lit(p.as_of).gt_eq(col("__end") + lit(wait)).alias("mature"));
    select
}

/// Every period of `period` overlapping the range: its first day (`period`) and
/// the instant it ends (`__end`).
fn period_frame(period: Period, p: &Params) -> DataFrame {
    let mut starts = Vec::new();
    let mut ends = Vec::new();
    let mut s = period.start_of(p.from, &p.config.calendar.periods());
    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid");
    while s <= p.to {
        let e = period.next(s, &p.config.calendar.periods());
        starts.push((s - epoch).num_days() as i32);
        ends.push(local_midnight(e, p.tz));
        s = e;
    }
    let n = starts.len();
    DataFrame::new(
        n,
        vec![
            Column::new("period".into(), starts)
                .cast(&DataType::Date)
                .expect("cast"),
            Column::new("__end".into(), ends),
        ],
    )
    .expect("equal lengths")
}

/// The stage pairs in order: `__order`, `from_stage`, `to_stage`.
fn pair_frame(pairs: &[(usize, usize)]) -> DataFrame {
    let orders: Vec<i32> = (0..pairs.len() as i32).collect();
    let from: Vec<&str> = pairs.iter().map(|(a, _)| STAGES[*a]).collect();
    let to: Vec<&str> = pairs.iter().map(|(_, b)| STAGES[*b]).collect();
    DataFrame::new(
        pairs.len(),
        vec![
            Column::new("__order".into(), orders),
            Column::new("from_stage".into(), from),
            Column::new("to_stage".into(), to),
        ],
    )
    .expect("equal lengths")
}

/// **funnel-time** — For consecutive funnel pairs A → B: `reached_at(B) −
/// reached_at(A)` in days, for leads whose `reached_at(B)` is in range (and that
/// have a reach time for A). count, mean, median, p90 (linear interpolation).
pub fn funnel_time(tables: &Tables, p: &Params) -> Result<DataFrame> {
    let funnel = lead_funnel(tables, p).cache();
    let mut items = Vec::new();
    let mut keys = Vec::new();
    for i in 0..FUNNEL - 1 {
        let lf = funnel
            .clone()
            .filter(in_range(us(&reached(i + 1)), p).and(col(reached(i)).is_not_null()));
        let (lf, k) = split(lf, Some(&reached(i + 1)), p)?;
        keys = k;
        let mut sel: Vec<Expr> = keys.iter().map(|k| col(k.as_str())).collect();
        sel.extend([
            lit(STAGES[i]).alias("from_stage"),
            lit(STAGES[i + 1]).alias("to_stage"),
            lit(i as i32).alias("__order"),
            days_between(us(&reached(i)), us(&reached(i + 1))).alias("__days"),
        ]);
        items.push(lf.select(sel));
    }
    let items = concat(items, UnionArgs::default()).expect("same schema");
    if p.histogram {
        return histogram(
            items,
            &keys,
            &["__order", "from_stage", "to_stage"],
            "__days",
            "funnel-time",
        )
        .map(|df| df.drop("__order").unwrap_or(df));
    }
    let mut group = keys.clone();
    group.extend(["__order".into(), "from_stage".into(), "to_stage".into()]);
    let mut aggs = vec![len().cast(DataType::Int64).alias("count")];
    aggs.extend(distribution("__days", "days", &["mean", "median", "p90"]));
    let grouped = items
        .group_by(group.iter().map(|g| col(g.as_str())).collect::<Vec<_>>())
        .agg(aggs);
    // Every pair appears even when no lead made the step (without a split).
    let out = if keys.is_empty() {
        let pairs = DataFrame::new(
            FUNNEL - 1,
            vec![
                Column::new("__order".into(), (0..FUNNEL as i32 - 1).collect::<Vec<_>>()),
                Column::new("from_stage".into(), STAGES[..FUNNEL - 1].to_vec()),
                Column::new("to_stage".into(), STAGES[1..FUNNEL].to_vec()),
            ],
        )
        .expect("equal lengths");
        pairs
            .lazy()
            .join(
                grouped.drop(cols(["from_stage", "to_stage"])),
                [col("__order")],
                [col("__order")],
                JoinArgs::new(JoinType::Left),
            )
            .with_column(col("count").fill_null(lit(0i64)))
    } else {
        grouped
    };
    let (by, opts) = sort_by(&keys, &["__order"]);
    collect(out.sort(by, opts).drop(cols(["__order"])), "funnel-time")
}
