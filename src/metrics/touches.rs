//! Marketing touches before milestones (`touches`) and the MQL service level (`sla`),
//! The exact rules are in docs/metrics.md.

use polars::prelude::*;

use super::model::{
    collect, counting, in_range, lead_events, lead_funnel, null_of, quantile, rate_columns, split,
    us, Tables, DISQUALIFIED, RECYCLED,
};
use super::params::Params;
use super::stats::{aggregate, histogram};
use crate::error::Result;
use crate::model::columns::{OPPORTUNITIES, TOUCHES};

/// The `touches` milestones and their cutoff columns in the lead funnel.
const MILESTONES: [(&str, &str); 3] = [
    ("lead", "created_at"),
    ("mql", "reached_mql"),
    ("sql", "reached_sql"),
];

/// Per lead of `funnel` (lead funnel rows) with at least one counted marketing touch
/// at or before one of its cutoffs (a lead missing here counts none):
/// `__n<k>` = its counted touches with team `marketing` and `occurred_at ≤` the cutoff
/// of milestone k (0 lead, 1 mql, 2 sql; a null cutoff counts none).
pub fn touch_counts(tables: &Tables, p: &Params, funnel: LazyFrame) -> Result<LazyFrame> {
    let cutoffs = funnel
        .select(
            std::iter::once(col("lead_id"))
                .chain(
                    MILESTONES
                        .iter()
                        .enumerate()
                        .map(|(k, (_, c))| us(c).alias(format!("__c{k}"))),
                )
                .collect::<Vec<_>>(),
        )
        .cache();
    // A touch after all of its lead's cutoffs counts towards none of them: dropped
    // before the grouping, which holds every row it has not yet folded in (a third
    // of the joined touches in the generated data, and as much of the memory).
    let count = |touches: LazyFrame, cutoffs: LazyFrame| -> LazyFrame {
        // One join both keeps the touches of known leads in `funnel` and brings
        // their cutoffs; then the counting rule.
        let touches = touches.join(
            cutoffs,
            [col("lead_id")],
            [col("lead_id")],
            JoinArgs::new(JoinType::Inner),
        );
        let last_cutoff = polars::lazy::dsl::max_horizontal(
            (0..MILESTONES.len())
                .map(|k| col(format!("__c{k}")))
                .collect::<Vec<_>>(),
        )
        .expect("three cutoffs");
        counting(touches, p)
            .filter(col("team").eq(lit("marketing")))
            .filter(us("occurred_at").lt_eq(last_cutoff))
            .group_by([col("lead_id")])
            .agg(
                (0..MILESTONES.len())
                    .map(|k| {
                        us("occurred_at")
                            .lt_eq(col(format!("__c{k}")))
                            .cast(DataType::Int64)
                            .sum()
                            .alias(format!("__n{k}"))
                    })
                    .collect::<Vec<_>>(),
            )
    };
    if let Some(lf) = tables.by_lead_partition(cutoffs.clone(), "touches", count)? {
        return Ok(lf);
    }
    Ok(count(tables.get(&TOUCHES)?, cutoffs))
}

/// **touches** — For each milestone: the cohort is leads whose reach time is in range
/// (`lead`: `reached_at(lead)`, `mql`, `sql` likewise); for each, the number of
/// counted touches (§5.1) with team `marketing` and `occurred_at ≤` the cutoff
/// (`lead`: `leads.created_at`, so the creating touch counts; `mql`/`sql`: the reach
/// time). No lookback. `leads`, mean, median, p90 of touches, `zero_touch_leads`.
pub fn touches(tables: &Tables, p: &Params) -> Result<DataFrame> {
    // Only the leads in some milestone's cohort.
    let in_any = MILESTONES
        .iter()
        .map(|(name, _)| in_range(us(&format!("reached_{name}")), p))
        .reduce(|a, b| a.or(b))
        .expect("three milestones");
    let funnel = lead_funnel(tables, p).filter(in_any).cache();
    let per_lead = match &tables.lead_touches {
        Some(lf) => lf.clone(),
        None => touch_counts(tables, p, funnel.clone())?,
    };
    // One join brings every lead its counts; each milestone's cohort is a filter.
    let counted = funnel
        .join(
            per_lead,
            [col("lead_id")],
            [col("lead_id")],
            JoinArgs::new(JoinType::Left),
        )
        .cache();
    let mut parts = Vec::new();
    let mut keys = Vec::new();
    for (order, (name, _)) in MILESTONES.iter().enumerate() {
        let reach = format!("reached_{name}");
        let cohort = counted
            .clone()
            .filter(in_range(us(&reach), p))
            .with_column(col(format!("__n{order}")).fill_null(lit(0i64)).alias("__n"));
        let (cohort, k) = split(cohort, Some(&reach), p)?;
        keys = k;
        let mut sel: Vec<Expr> = keys.iter().map(|k| col(k.as_str())).collect();
        sel.extend([
            lit(*name).alias("milestone"),
            lit(order as i32).alias("__order"),
            col("__n"),
        ]);
        parts.push(cohort.select(sel));
    }
    let items = tables.shared(
        "touches",
        p,
        concat(parts, UnionArgs::default())
            .expect("same schema")
            .cache(),
    )?;
    if p.histogram {
        return histogram(items, &keys, &["__order", "milestone"], "__n", "touches")
            .map(|df| df.drop("__order").unwrap_or(df));
    }
    let n = || col("__n").cast(DataType::Float64);
    let aggs = vec![
        len().cast(DataType::Int64).alias("leads"),
        n().mean().alias("mean_touches"),
        quantile(n(), 0.5).alias("median_touches"),
        quantile(n(), 0.9).alias("p90_touches"),
        col("__n")
            .eq(lit(0i64))
            .cast(DataType::Int64)
            .sum()
            .alias("zero_touch_leads"),
    ];
    let mut out = Vec::new();
    for (order, (name, _)) in MILESTONES.iter().enumerate() {
        let part = items.clone().filter(col("__order").eq(lit(order as i32)));
        out.push(aggregate(part, &keys, aggs.clone()).with_columns([
            lit(*name).alias("milestone"),
            lit(order as i32).alias("__order"),
        ]));
    }
    let mut sel: Vec<Expr> = keys.iter().map(|k| col(k.as_str())).collect();
    sel.extend(
        [
            "milestone",
            "leads",
            "mean_touches",
            "median_touches",
            "p90_touches",
            "zero_touch_leads",
        ]
        .map(col),
    );
    let by: Vec<PlSmallStr> = keys
        .iter()
        .map(|k| k.as_str().into())
        .chain(["__order".into()])
        .collect();
    collect(
        concat(out, UnionArgs::default())
            .expect("same schema")
            .sort(by, SortMultipleOptions::default().with_maintain_order(true))
            .select(sel),
        "touches",
    )
}

/// MQL episodes (see [`sla`]) with their first accepting (`__acc`) and rejecting
/// (`__rej`) sighting, UTC µs: `lead_id`, `__start`, `__acc`, `__rej`. All of them,
/// or only those starting in the range.
pub fn mql_episodes(tables: &Tables, p: &Params, only_in_range: bool) -> LazyFrame {
    let funnel = lead_funnel(tables, p);
    let events = lead_events(tables, p)
        .filter(col("stage_idx").is_not_null())
        .sort(
            ["lead_id", "entered_at", "stage_idx"],
            SortMultipleOptions::default().with_maintain_order(true),
        )
        .cache();
    let re_mql = events
        .clone()
        .with_column(
            // Sorted by lead: the previous row is the lead's previous event when it
            // belongs to the same lead (cheaper than a window per lead).
            when(
                col("lead_id")
                    .eq(col("lead_id").shift(lit(1)))
                    .fill_null(lit(false)),
            )
            .then(col("stage_idx").shift(lit(1)))
            .otherwise(null_of(DataType::Int32))
            .alias("__prev"),
        )
        .filter(
            col("stage_idx").eq(lit(1)).and(
                col("__prev")
                    .eq(lit(RECYCLED))
                    .or(col("__prev").eq(lit(DISQUALIFIED))),
            ),
        )
        .select([col("lead_id"), us("entered_at").alias("__start")]);
    let first = funnel
        .clone()
        .filter(col("reached_mql").is_not_null())
        .select([col("lead_id"), us("reached_mql").alias("__start")]);
    let mut episodes = concat([first, re_mql], UnionArgs::default())
        .expect("same schema")
        .unique_stable(None, UniqueKeepStrategy::First);
    if only_in_range {
        episodes = episodes.filter(in_range(col("__start"), p));
    }
    let episodes = episodes.cache();

    // Sightings that decide an episode.
    let mut sightings = vec![events
        .clone()
        .filter(col("stage_idx").gt_eq(lit(2)))
        .select([
            col("lead_id"),
            us("entered_at").alias("__t"),
            col("stage_idx").lt(lit(RECYCLED)).alias("__accept"),
        ])];
    let linked = tables
        .or_empty(&OPPORTUNITIES)
        .filter(col("lead_id").is_not_null());
    sightings.push(linked.clone().select([
        col("lead_id"),
        us("created_at").alias("__t"),
        lit(true).alias("__accept"),
    ]));
    sightings.push(
        linked
            .filter(
                col("status")
                    .eq(lit("won"))
                    .and(col("closed_at").is_not_null()),
            )
            .select([
                col("lead_id"),
                us("closed_at").alias("__t"),
                lit(true).alias("__accept"),
            ]),
    );
    let sightings = concat(sightings, UnionArgs::default()).expect("same schema");
    let decisions = episodes
        .clone()
        .join(
            sightings,
            [col("lead_id")],
            [col("lead_id")],
            JoinArgs::new(JoinType::Inner),
        )
        .filter(col("__t").gt_eq(col("__start")))
        // Conditional columns then plain minimums: polars' fast aggregation path (a
        // filter inside the aggregation runs group by group).
        .with_columns([
            when(col("__accept"))
                .then(col("__t"))
                .otherwise(null_of(DataType::Int64))
                .alias("__acc"),
            when(col("__accept").not())
                .then(col("__t"))
                .otherwise(null_of(DataType::Int64))
                .alias("__rej"),
        ])
        .group_by([col("lead_id"), col("__start")])
        .agg([col("__acc").min(), col("__rej").min()]);
    episodes.join(
        decisions,
        [col("lead_id"), col("__start")],
        [col("lead_id"), col("__start")],
        JoinArgs::new(JoinType::Left),
    )
}

/// Every MQL episode (or those starting in range) with its outcome under `p`:
/// `__start`, `__start_ts`, `__accepted`, `__rejected`, `__decision` (UTC µs),
/// `__hours`, `__due` and `__in_time`, and the split dimensions of its lead when
/// `dims` asks for them. What [`sla`] counts and the `mql_episodes` view of
/// `funnel sql` lists.
pub fn episode_outcomes(
    tables: &Tables,
    p: &Params,
    only_in_range: bool,
    dims: EpisodeDims,
) -> LazyFrame {
    let decided = match &tables.mql_episodes {
        Some(lf) if only_in_range => lf.clone().filter(in_range(col("__start"), p)),
        Some(lf) => lf.clone(),
        None => mql_episodes(tables, p, only_in_range),
    };
    let sla_us = p.config.mql.sla_hours * 3_600_000_000.0;
    let joined = match dims {
        EpisodeDims::AsSplit if p.by.is_none() && p.filters.is_empty() => false,
        EpisodeDims::AsSplit | EpisodeDims::All => true,
    };
    // Joining the lead funnel (a row per lead) costs more than the rest together:
    // only when a split or a list reads the lead's dimensions.
    let decided = if joined {
        let dims: Vec<Expr> = std::iter::once(col("lead_id"))
            .chain(super::params::Dim::ALL.iter().map(|d| col(d.column())))
            .collect();
        decided.join(
            lead_funnel(tables, p).select(dims),
            [col("lead_id")],
            [col("lead_id")],
            JoinArgs::new(JoinType::Left),
        )
    } else {
        decided
    };
    decided
        .with_columns([
            col("__acc")
                .is_not_null()
                .and(col("__rej").is_null().or(col("__acc").lt_eq(col("__rej"))))
                .alias("__accepted"),
            col("__rej")
                .is_not_null()
                .and(col("__acc").is_null().or(col("__rej").lt(col("__acc"))))
                .alias("__rejected"),
        ])
        .with_column(
            when(col("__accepted"))
                .then(col("__acc"))
                .when(col("__rejected"))
                .then(col("__rej"))
                .otherwise(null_of(DataType::Int64))
                .alias("__decision"),
        )
        .with_columns([
            ((col("__decision") - col("__start")).cast(DataType::Float64) / lit(3_600_000_000.0))
                .alias("__hours"),
            ((lit(p.as_of) - col("__start")).cast(DataType::Float64))
                .gt_eq(lit(sla_us))
                .alias("__due"),
            col("__start")
                .cast(DataType::Datetime(
                    TimeUnit::Microseconds,
                    Some(TimeZone::UTC),
                ))
                .alias("__start_ts"),
        ])
        .with_column(
            col("__decision")
                .is_not_null()
                .and(col("__hours").lt_eq(lit(p.config.mql.sla_hours)))
                .fill_null(lit(false))
                .alias("__in_time"),
        )
}

/// Which of a lead's dimensions [`episode_outcomes`] adds to its episodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EpisodeDims {
    /// Those `--by` and `--where` read: none without a split.
    AsSplit,
    /// Every dimension (a list people read).
    All,
}

/// `sla`'s count columns, each with the episodes it counts (over
/// [`episode_outcomes`]' columns): what the metric sums and `explain` lists.
pub fn episode_counts() -> [(&'static str, Expr); 7] {
    [
        // Every episode has a start (a column, so that a sum counts rows).
        ("mql_episodes", col("__start").is_not_null()),
        ("accepted", col("__accepted")),
        (
            "accepted_within_sla",
            col("__accepted").and(col("__in_time")),
        ),
        ("rejected", col("__rejected")),
        ("pending", col("__decision").is_null()),
        ("due", col("__due")),
        ("breached", col("__due").and(col("__in_time").not())),
    ]
}

/// An episode as people read it (over [`episode_outcomes`]' columns): `lead_id`,
/// `started_at`, `outcome` (accepted, rejected or pending), `decided_at`,
/// `response_hours`, `due`, `breached`, `accepted_within_sla`. What the
/// `mql_episodes` view and `explain sla` show.
pub fn episode_columns() -> Vec<(&'static str, Expr)> {
    let counted = |name: &str| {
        episode_counts()
            .into_iter()
            .find(|(n, _)| *n == name)
            .map(|(_, e)| e)
            .expect("a count column")
    };
    vec![
        ("lead_id", col("lead_id")),
        ("started_at", col("__start_ts")),
        (
            "outcome",
            when(col("__accepted"))
                .then(lit("accepted"))
                .when(col("__rejected"))
                .then(lit("rejected"))
                .otherwise(lit("pending")),
        ),
        ("decided_at", super::model::as_utc(col("__decision"))),
        ("response_hours", col("__hours")),
        ("due", counted("due")),
        ("breached", counted("breached")),
        ("accepted_within_sla", counted("accepted_within_sla")),
    ]
}

/// **sla** — MQL episodes: one starts at `reached_at(mql)`, and another at every
/// `mql` event whose preceding lifecycle event (by time, then stage order) is
/// `recycled` or `disqualified`. Episodes starting in range count. The decision is the
/// first sighting at or after the start of `sal` or a later funnel stage (accepted;
/// events, linked opportunities' creation, won opportunities' close) or of
/// `recycled`/`disqualified` (rejected); a tie is accepted; neither is pending.
/// response = decision − start in hours. due = start + `sla_hours` ≤ as_of; breached =
/// due and not decided within `sla_hours`. within_sla_rate = (due − breached) ÷ due.
pub fn sla(tables: &Tables, p: &Params) -> Result<DataFrame> {
    let eps = episode_outcomes(tables, p, true, EpisodeDims::AsSplit);
    let (eps, keys) = split(eps, Some("__start_ts"), p)?;
    let eps = tables.shared("sla", p, eps)?;
    if p.histogram {
        return histogram(eps, &keys, &[], "__hours", "sla");
    }
    let mut aggs: Vec<Expr> = episode_counts()
        .into_iter()
        .map(|(name, counted)| counted.cast(DataType::Int64).sum().alias(name))
        .collect();
    aggs.push(
        quantile(col("__hours").filter(col("__decision").is_not_null()), 0.5)
            .alias("median_response_hours"),
    );
    let agg = aggregate(eps, &keys, aggs);
    let mut sel: Vec<Expr> = keys.iter().map(|k| col(k.as_str())).collect();
    sel.extend(episode_counts().into_iter().map(|(name, _)| col(name)));
    sel.extend(rate_columns(
        col("due") - col("breached"),
        col("due"),
        "within_sla_rate",
    ));
    sel.push(col("median_response_hours"));
    let by: Vec<PlSmallStr> = keys.iter().map(|k| k.as_str().into()).collect();
    let mut out = agg.select(sel);
    if !by.is_empty() {
        out = out.sort(by, SortMultipleOptions::default().with_maintain_order(true));
    }
    collect(out, "sla")
}
