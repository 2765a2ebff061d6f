//! How long things take: `cycle` (sales cycle, lead to customer) and `stage-time`
//! (opportunity stage durations) (docs/metrics.md).

use polars::prelude::*;

use super::model::{
    collect, days_between, in_range, lead_funnel, opportunities, split, us, Tables,
};
use super::params::Params;
use super::stats::{aggregate, distribution, histogram};
use crate::config::norm;
use crate::error::Result;
use crate::model::columns::OPPORTUNITY_STAGE_EVENTS;

const CYCLE_STATS: &[&str] = &["mean", "median", "p25", "p75", "p90", "min", "max"];

/// **cycle** — `sales_cycle`: won opportunities (status `won`) with `closed_at` in
/// range, `closed_at − created_at` in days. `lead_to_customer`: leads whose
/// `reached_at(customer)` is in range, `reached_at(customer) − reached_at(lead)`.
/// count, mean, median, p25, p75, p90, min, max of the durations that are not
/// negative (all with `--include-negative`), and `left_out_negative`.
pub fn cycle(tables: &Tables, p: &Params) -> Result<DataFrame> {
    // Lost deals carry no duration: they are there so that a group whose deals were
    // all lost shows a count of 0 instead of no row.
    let opps = opportunities(tables, p)
        .filter(super::pipeline::closed().and(in_range(us("closed_at"), p)));
    let (opps, keys) = split(opps, Some("closed_at"), p)?;
    let mut sel: Vec<Expr> = keys.iter().map(|k| col(k.as_str())).collect();
    sel.push(lit("sales_cycle").alias("measure"));
    sel.push(
        when(col("status").eq(lit("won")))
            .then(days_between(us("created_at"), us("closed_at")))
            .otherwise(super::model::null_of(DataType::Float64))
            .alias("__days"),
    );
    let sales_cycle = opps.select(sel);
    let leads = lead_funnel(tables, p)
        .filter(in_range(us("reached_customer"), p).and(col("reached_lead").is_not_null()));
    let (leads, keys) = split(leads, Some("reached_customer"), p)?;
    let mut sel: Vec<Expr> = keys.iter().map(|k| col(k.as_str())).collect();
    sel.push(lit("lead_to_customer").alias("measure"));
    sel.push(days_between(us("reached_lead"), us("reached_customer")).alias("__days"));
    let items = vec![sales_cycle, leads.select(sel)];
    let items = tables.shared(
        "cycle",
        p,
        concat(items, UnionArgs::default())
            .expect("same schema")
            .cache(),
    )?;
    // A duration that ends before it starts (closed before created: history
    // imported after the fact) is left out of the statistics and counted.
    let items = items.with_column(
        when(kept_duration(col("__days"), p))
            .then(col("__days"))
            .otherwise(super::model::null_of(DataType::Float64))
            .alias("__kept"),
    );
    if p.histogram {
        return histogram(
            items.filter(col("__kept").is_not_null()),
            &keys,
            &["measure"],
            "__kept",
            "cycle",
        );
    }
    let mut aggs = vec![col("__kept").count().cast(DataType::Int64).alias("count")];
    aggs.extend(distribution("__kept", "days", CYCLE_STATS));
    aggs.push(left_out_negative(col("__days"), p).alias("left_out_negative"));
    let mut out_parts = Vec::new();
    for measure in ["lead_to_customer", "sales_cycle"] {
        let part = items.clone().filter(col("measure").eq(lit(measure)));
        let agg = aggregate(part, &keys, aggs.clone());
        out_parts.push(agg.with_column(lit(measure).alias("measure")));
    }
    let mut out = concat(out_parts, UnionArgs::default()).expect("same schema");
    if !keys.is_empty() {
        // Every group seen by either measure gets both rows (count 0 when empty).
        let on: Vec<Expr> = keys
            .iter()
            .map(|k| col(k.as_str()))
            .chain([col("measure")])
            .collect();
        let measures = df!("measure" => ["lead_to_customer", "sales_cycle"])
            .expect("one column")
            .lazy();
        out = items
            .clone()
            .select(keys.iter().map(|k| col(k.as_str())).collect::<Vec<_>>())
            .unique(None, UniqueKeepStrategy::Any)
            .cross_join(measures, None)
            .join(
                out,
                on.clone(),
                on,
                JoinArgs {
                    nulls_equal: true,
                    ..JoinArgs::new(JoinType::Left)
                },
            )
            .with_columns([
                col("count").fill_null(lit(0i64)),
                col("left_out_negative").fill_null(lit(0i64)),
            ]);
    }
    let mut order: Vec<Expr> = keys.iter().map(|k| col(k.as_str())).collect();
    order.push(col("measure"));
    order.push(col("count"));
    order.extend(CYCLE_STATS.iter().map(|s| col(format!("{s}_days"))));
    order.push(col("left_out_negative"));
    let by: Vec<PlSmallStr> = keys
        .iter()
        .map(|k| k.as_str().into())
        .chain(["measure".into()])
        .collect();
    collect(
        out.select(order)
            .sort(by, SortMultipleOptions::default().with_maintain_order(true)),
        "cycle",
    )
}

/// Whether a duration in days counts in the statistics: not negative, unless
/// `--include-negative`.
pub(super) fn kept_duration(days: Expr, p: &Params) -> Expr {
    if p.include_negative {
        days.is_not_null()
    } else {
        days.gt_eq(lit(0.0))
    }
}

/// The rows [`left_out_negative`] counts.
pub(super) fn left_out_rows(days: Expr, p: &Params) -> Expr {
    days.lt(lit(0.0))
        .and(lit(!p.include_negative))
        .fill_null(lit(false))
}

/// How many durations were left out for ending before they start (0 with
/// `--include-negative`).
pub(super) fn left_out_negative(days: Expr, p: &Params) -> Expr {
    left_out_rows(days, p).cast(DataType::Int64).sum()
}

/// The configured opportunity stages: (pipeline key, stage key, index, terminal) rows
/// and the report's row order (default list, then stages only other pipelines have).
pub(super) fn stage_table(p: &Params) -> (DataFrame, Vec<String>) {
    let o = &p.config.opportunity;
    let mut pipelines: Vec<(String, &Vec<String>, Vec<String>)> = vec![(
        String::new(),
        &o.stages,
        o.won_stages
            .iter()
            .chain(&o.lost_stages)
            .map(|s| norm(s))
            .collect(),
    )];
    for (name, pl) in &o.pipelines {
        pipelines.push((
            norm(name),
            &pl.stages,
            pl.won_stages
                .iter()
                .chain(&pl.lost_stages)
                .map(|s| norm(s))
                .collect(),
        ));
    }
    let (mut pk, mut sk, mut idx, mut term) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut rows: Vec<String> = Vec::new();
    for (key, stages, terminal) in &pipelines {
        for (i, stage) in stages.iter().enumerate() {
            let s = norm(stage);
            if sk
                .iter()
                .zip(&pk)
                .any(|(a, b): (&String, &String)| a == &s && b == key)
            {
                continue; // listed twice in one pipeline: the first position counts
            }
            pk.push(key.clone());
            sk.push(s.clone());
            idx.push(i as i32);
            term.push(terminal.contains(&s));
            if !rows.iter().any(|r| norm(r) == s) {
                rows.push(stage.clone());
            }
        }
    }
    let n = pk.len();
    let df = DataFrame::new(
        n,
        vec![
            Column::new("__pkey".into(), pk),
            Column::new("__skey".into(), sk),
            Column::new("stage_idx".into(), idx),
            Column::new("__terminal".into(), term),
        ],
    )
    .expect("equal lengths");
    (df, rows)
}

/// The pipeline key of an opportunity: its pipeline when configured, else the default.
pub(super) fn pipeline_key(p: &Params) -> Expr {
    let names: Vec<String> = p
        .config
        .opportunity
        .pipelines
        .keys()
        .map(|k| norm(k))
        .collect();
    let pl = col("pipeline").str().to_lowercase();
    if names.is_empty() {
        lit("")
    } else {
        let series = Series::new("".into(), names);
        when(pl.clone().is_in(lit(series).implode(false), false))
            .then(pl)
            .otherwise(lit(""))
    }
}

/// Every opportunity stage stay (docs/metrics.md, `stage-time`), one row each:
/// `opportunity_id`, `__skey` (the stage, normalised), `stage_idx`, `__start`,
/// `__end` (UTC µs; none for an open stay or a last won/lost stay), `__days`,
/// `__open` (the open opportunity's current stay), `__done` (ended in range),
/// `__regression` (left in range for a lower stage), `status`, `closed_at` and the
/// split dimensions; and the report's row order of stages. What `stage-time` counts
/// and the `opportunity_stays` view lists.
pub fn stays(tables: &Tables, p: &Params) -> Result<(LazyFrame, Vec<String>)> {
    let (stage_df, rows) = stage_table(p);
    let ev = ordered_events(tables, p, stage_df)?;
    let mut firsts = vec![
        col("stage_idx").first(),
        col("__skey").first(),
        col("__terminal").first(),
        col("entered_at").min().alias("__start"),
        col("status").first(),
        col("closed_at").first(),
    ];
    firsts.extend(
        super::params::Dim::ALL
            .iter()
            .map(|d| col(d.column()).first()),
    );
    // Rows are sorted by opportunity: neighbours of the same opportunity are found by
    // comparing ids with the row before or after (cheaper than windows per id).
    let same_opp = |offset: i64| {
        col("opportunity_id")
            .eq(col("opportunity_id").shift(lit(offset)))
            .fill_null(lit(false))
    };
    let stays = ev
        .with_column(
            when(same_opp(1))
                .then(col("stage_idx").shift(lit(1)))
                .otherwise(super::model::null_of(DataType::Int32))
                .alias("__prev"),
        )
        .with_column(
            // A stay starts at an opportunity's first event and at every change of
            // stage; numbering them through the whole frame keeps them in order.
            col("__prev")
                .is_null()
                .or(col("__prev").neq(col("stage_idx")))
                .cast(DataType::Int64)
                .cum_sum(false)
                .alias("__stay"),
        )
        .group_by([col("opportunity_id"), col("__stay")])
        .agg(firsts)
        .sort(["__stay"], SortMultipleOptions::default())
        .with_columns([
            when(same_opp(-1))
                .then(us("__start").shift(lit(-1)))
                .otherwise(super::model::null_of(DataType::Int64))
                .alias("__next"),
            when(same_opp(-1))
                .then(col("stage_idx").shift(lit(-1)))
                .otherwise(super::model::null_of(DataType::Int32))
                .alias("__next_idx"),
        ]);
    Ok((with_ends(stays, p).cache(), rows))
}

/// The stage events of known opportunities, mapped through the stage list of the
/// opportunity's pipeline (unmapped ones left out), with the opportunity's status,
/// close and dimensions, in order: by opportunity, time and stage index.
fn ordered_events(tables: &Tables, p: &Params, stage_df: DataFrame) -> Result<LazyFrame> {
    let opps = opportunities(tables, p).with_column(pipeline_key(p).alias("__pkey"));
    let events = tables
        .get(&OPPORTUNITY_STAGE_EVENTS)?
        .with_column(col("stage").str().to_lowercase().alias("__skey"));
    let mut opp_cols: Vec<Expr> = vec![
        col("opportunity_id"),
        col("status"),
        col("closed_at"),
        col("__pkey"),
    ];
    opp_cols.extend(super::params::Dim::ALL.iter().map(|d| col(d.column())));
    Ok(events
        .join(
            opps.select(opp_cols),
            [col("opportunity_id")],
            [col("opportunity_id")],
            JoinArgs::new(JoinType::Inner),
        )
        .join(
            stage_df.lazy(),
            [col("__pkey"), col("__skey")],
            [col("__pkey"), col("__skey")],
            JoinArgs::new(JoinType::Inner),
        )
        .sort(
            ["opportunity_id", "entered_at", "stage_idx"],
            SortMultipleOptions::default().with_maintain_order(true),
        ))
}

/// Each stay with its end (`__end`: the next stay's start; none while open or in a
/// terminal stage; else the close), whether it is open, done in range, a regression
/// in range, and its length in days.
fn with_ends(stays: LazyFrame, p: &Params) -> LazyFrame {
    stays
        .with_column(
            when(col("__next").is_not_null())
                .then(col("__next"))
                .when(col("status").eq(lit("open")).or(col("__terminal")))
                .then(super::model::null_of(DataType::Int64))
                .otherwise(us("closed_at"))
                .alias("__end"),
        )
        .with_columns([
            col("__next")
                .is_null()
                .and(col("status").eq(lit("open")))
                .alias("__open"),
            col("__end")
                .is_not_null()
                .and(in_range(col("__end"), p))
                .alias("__done"),
            col("__next_idx")
                .lt(col("stage_idx"))
                .fill_null(lit(false))
                .and(in_range(col("__next"), p))
                .alias("__regression"),
            days_between(us("__start"), col("__end")).alias("__days"),
        ])
}

/// **stage-time** — Opportunity stays from `opportunity_stage_events` (of known
/// opportunities, mapped through the stage list of the opportunity's pipeline),
/// ordered by (time, stage index); consecutive events of one stage are one stay. A
/// stay lasts until the next stay starts. The last stay: of an open opportunity it is
/// open (counted in `open_stays`, not in the statistics); of a closed one it has no
/// duration when its stage is won/lost, else ends at `closed_at` (none without one).
/// `stays` = completed stays ending in range; a move to a lower stage index is a
/// regression of the stage left, counted when the move is in range. One row per
/// configured stage, in stage order.
pub fn stage_time(tables: &Tables, p: &Params) -> Result<DataFrame> {
    let (stays, rows) = stays(tables, p)?;
    let (stays, keys) = split(stays, None, p)?;
    if p.histogram {
        let done = stays
            .filter(col("__done"))
            .with_column(col("__skey").alias("stage"));
        return histogram(done, &keys, &["stage"], "__days", "stage-time");
    }
    let done = || col("__days").filter(col("__done"));
    let aggs = vec![
        col("__done").cast(DataType::Int64).sum().alias("stays"),
        done().mean().alias("mean_days"),
        super::model::quantile(done(), 0.5).alias("median_days"),
        super::model::quantile(done(), 0.9).alias("p90_days"),
        col("__open")
            .cast(DataType::Int64)
            .sum()
            .alias("open_stays"),
        col("__regression")
            .cast(DataType::Int64)
            .sum()
            .alias("regressions"),
    ];
    let mut group = keys.clone();
    group.push("__skey".into());
    let agg = aggregate(stays, &group, aggs);
    // One row per configured stage (per group when split).
    let order: Vec<i32> = (0..rows.len() as i32).collect();
    let skeys: Vec<String> = rows.iter().map(|r| norm(r)).collect();
    let n = rows.len();
    let row_frame = DataFrame::new(
        n,
        vec![
            Column::new("stage".into(), rows),
            Column::new("__skey".into(), skeys),
            Column::new("__order".into(), order),
        ],
    )
    .expect("equal lengths")
    .lazy();
    let grid = if keys.is_empty() {
        row_frame
    } else {
        let sel: Vec<Expr> = keys.iter().map(|k| col(k.as_str())).collect();
        agg.clone()
            .select(sel)
            .unique(None, UniqueKeepStrategy::First)
            .cross_join(row_frame, None)
    };
    let on: Vec<Expr> = group.iter().map(|k| col(k.as_str())).collect();
    let mut sel: Vec<Expr> = keys.iter().map(|k| col(k.as_str())).collect();
    sel.extend([
        col("stage"),
        col("stays").fill_null(lit(0i64)),
        col("mean_days"),
        col("median_days"),
        col("p90_days"),
        col("open_stays").fill_null(lit(0i64)),
        col("regressions").fill_null(lit(0i64)),
    ]);
    let by: Vec<PlSmallStr> = keys
        .iter()
        .map(|k| k.as_str().into())
        .chain(["__order".into()])
        .collect();
    collect(
        grid.join(agg, on.clone(), on, super::model::left_join_nulls_equal())
            .sort(by, SortMultipleOptions::default().with_maintain_order(true))
            .select(sel),
        "stage-time",
    )
}
