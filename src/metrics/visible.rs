//! The visible world at an as-of instant: the warehouse as it would have been
//! exported then (docs/metrics.md, common rules). Every metric reads the tables
//! through [`cut`] when the as-of hides something, so that "what did this look like
//! on 1 October?" is answered from the data of 1 October, not from today's data
//! filtered by date.
//!
//! - leads, lifecycle stage events, touches and opportunity stage events dated after
//!   the as-of do not exist;
//! - opportunities created after it do not exist; one closed after it is `open`, with
//!   `closed_at` null; one that changed after it (closed, or a later stage event) is
//!   in the stage of its last stage event at or before the as-of (none: null) and
//!   has the amount of the last such event that carries one (none: its current
//!   amount);
//! - quotas, campaigns and owners are plans, not events: they stay as they are.

use polars::prelude::*;

use super::model::{us, Tables};
use super::params::Params;
use crate::model::columns::{
    TableSchema, LEADS, LEAD_STAGE_EVENTS, OPPORTUNITIES, OPPORTUNITY_STAGE_EVENTS, TOUCHES,
};

/// The tables whose rows are events, with the column that dates each row.
const DATED: [(&TableSchema, &str); 4] = [
    (&LEADS, "created_at"),
    (&LEAD_STAGE_EVENTS, "entered_at"),
    (&TOUCHES, "occurred_at"),
    (&OPPORTUNITY_STAGE_EVENTS, "entered_at"),
];

/// Whether the frames computed at ingest (cut at the latest event `latest`, with
/// the first event after it at `later`) describe the world at `as_of`: only when no
/// event lies between the two instants.
pub fn derived_hold(as_of: i64, latest: Option<i64>, later: Option<i64>) -> bool {
    match latest {
        None => false,
        Some(latest) => as_of >= latest && later.is_none_or(|l| as_of < l),
    }
}

/// Whether anything in a warehouse whose events end at `latest` (then one at
/// `later`, dated in the future) happened after `as_of`.
pub fn hides_anything(as_of: i64, latest: Option<i64>, later: Option<i64>) -> bool {
    latest.is_some_and(|l| as_of < l) || later.is_some_and(|l| as_of < l)
}

/// `tables` as exported at `p.as_of`; the tables as they are stay reachable through
/// [`Tables::uncut`] for the checks that look at the warehouse itself.
///
/// The frames computed ahead for a later moment are cut too where that is exact:
/// a reach time is the earliest of its sightings, each visible exactly when it is
/// dated at or before the as-of, so the lead funnel at the as-of is the later
/// funnel without the leads created after it and with every reach time after it
/// emptied; an MQL episode's start and decisions are such minimums too. Touch
/// counts up to a milestone reached by the as-of hold as they are (their touches
/// are dated at or before it), and so do the counted touches of opportunities'
/// leads (every reader keeps those up to an opportunity's creation, at or before
/// the as-of, and a touch's counting looks only at earlier touches). The
/// opportunity model is computed again.
pub fn cut(tables: &Tables, p: &Params) -> Tables {
    let t = p.as_of;
    let mut out = tables.clone();
    out.keep_uncut();
    out.funnel = tables.funnel.clone().map(|f| funnel_at(f, t));
    out.mql_episodes = match (&tables.mql_episodes, &out.funnel) {
        (Some(e), Some(f)) => Some(episodes_at(e.clone(), f.clone(), t)),
        _ => None,
    };
    out.lead_touches = out.funnel.as_ref().and(tables.lead_touches.clone());
    out.opportunity_model = None;
    out.unknown_lead_touches = None;
    for (table, column) in DATED {
        out.replace(table, |lf| lf.filter(us(column).lt_eq(lit(t))));
    }
    out.touch_parts = tables
        .touch_parts
        .iter()
        .map(|lf| lf.clone().filter(us("occurred_at").lt_eq(lit(t))))
        .collect();
    if tables.has(OPPORTUNITIES.name) {
        let names: Vec<String> = OPPORTUNITIES
            .columns
            .iter()
            .map(|c| c.name.to_string())
            .collect();
        // Lazy: a command that never reads the opportunities pays nothing for them.
        let history = tables.kept_or(&history_key(p), stage_history_plan(tables, p));
        let opps = opportunities_at(p, history, tables.or_empty(&OPPORTUNITIES), &names);
        out.replace(&OPPORTUNITIES, |_| opps);
    }
    out
}

/// The tables as the metrics saw them at `then.as_of` ([`cut`]), with the
/// opportunity model of that moment computed once (from the later moment's model
/// when there is one, so that the leads are not joined again).
pub fn tables_at(tables: &Tables, then: &Params) -> crate::error::Result<Tables> {
    let mut seen = cut(tables, then);
    if tables.has(OPPORTUNITIES.name) {
        // The history as it was then: the events by then and, when the definitions
        // name pipelines (the history then reads each event's opportunity), only
        // those of the opportunities created by then. What the cut tables would
        // give, without reading and ordering the events again.
        let t = then.as_of;
        let mut history = stage_history(tables, then).filter(us("entered_at").lt_eq(lit(t)));
        if history_reads_opportunities(then) {
            history = history.semi_join(
                tables
                    .or_empty(&OPPORTUNITIES)
                    .filter(us("created_at").lt_eq(lit(t)))
                    .select([col("opportunity_id")]),
                col("opportunity_id"),
                col("opportunity_id"),
            );
        }
        seen.keep(
            &history_key(then),
            super::model::collect(history, "point in time")?,
        );
        let model = match &tables.opportunity_model {
            Some(m) => opportunity_model_at(tables, then, m.clone())?,
            None => super::model::opportunities(&seen, then),
        };
        seen.opportunity_model = Some(super::model::collect(model, "point in time")?.lazy());
    }
    Ok(seen)
}

/// The modelled opportunities ([`super::model::opportunities`]: amounts in the base
/// currency, the lead's dimensions) of a later moment, at `p.as_of`, without joining
/// the leads again: the same cut as [`cut`] gives the opportunities table, then the
/// amount in the base currency of the amount then, and the lead's share emptied for
/// a lead created after the as-of (it does not exist yet: the opportunity is not
/// linked, its source is its own).
pub fn opportunity_model_at(
    tables: &Tables,
    p: &Params,
    model: LazyFrame,
) -> crate::error::Result<LazyFrame> {
    use super::params::Dim;
    let names: Vec<String> = model
        .clone()
        .collect_schema()
        .map_err(|e| crate::error::Error::Runtime(format!("opportunity model: {e}")))?
        .iter_names()
        .map(|n| n.to_string())
        .collect();
    let t = p.as_of;
    let lead_seen = us("__lead_created_at").lt_eq(lit(t)).fill_null(lit(false));
    // Whether a lead of an opportunity that exists then was created after it: only
    // then do the lead's dimensions change (an opportunity without a lead has none,
    // and its own source either way). Mapping every source to its team again costs
    // more than this count.
    let later_leads = super::model::collect(
        model
            .clone()
            .filter(us("created_at").lt_eq(lit(t)))
            .filter(us("__lead_created_at").gt(lit(t)))
            .select([len().cast(DataType::Int64).alias("n")]),
        "point in time",
    )?;
    let later_leads = super::pipeline::i64_at(&later_leads, "n", 0).unwrap_or(0);
    let cut = opportunities_at(p, stage_history(tables, p), model, &names).with_columns([
        super::model::to_base(col("amount"), col("currency"), &p.config).alias("amount_base"),
        col("linked").and(lead_seen.clone()).alias("linked"),
    ]);
    if later_leads == 0 {
        return Ok(cut);
    }
    let of_lead = |d: Dim| {
        when(lead_seen.clone())
            .then(col(d.column()))
            .otherwise(lit(NULL).cast(DataType::String))
            .alias(d.column())
    };
    let source = when(lead_seen.clone())
        .then(col(Dim::Source.column()))
        .otherwise(col("source"));
    Ok(cut
        .with_columns([
            of_lead(Dim::Segment),
            of_lead(Dim::Region),
            of_lead(Dim::CampaignId),
            of_lead(Dim::Channel),
        ])
        .with_column(source.alias(Dim::Source.column()))
        .with_column(
            super::model::source_team(col(Dim::Source.column()), &p.config)
                .alias(Dim::SourceTeam.column()),
        ))
}

/// The lead funnel ([`super::model::lead_funnel`]) of a later moment, at `t`.
fn funnel_at(funnel: LazyFrame, t: i64) -> LazyFrame {
    let stages = &super::model::STAGES[..super::model::FUNNEL];
    let cut: Vec<Expr> = stages
        .iter()
        .flat_map(|s| [format!("seen_{s}"), format!("reached_{s}")])
        .map(|name| {
            when(us(&name).lt_eq(lit(t)))
                .then(col(name.as_str()))
                .otherwise(lit(NULL).cast(DataType::Datetime(
                    TimeUnit::Microseconds,
                    Some(TimeZone::UTC),
                )))
                .alias(name.as_str())
        })
        .collect();
    funnel
        .filter(us("created_at").lt_eq(lit(t)))
        .with_columns(cut)
}

/// The MQL episodes ([`super::touches::mql_episodes`]) of a later moment, at `t`:
/// those started by then, of leads that exist then, with the decisions made by then.
fn episodes_at(episodes: LazyFrame, funnel_at_t: LazyFrame, t: i64) -> LazyFrame {
    let undecided = |name: &str| {
        when(col(name).lt_eq(lit(t)))
            .then(col(name))
            .otherwise(super::model::null_of(DataType::Int64))
            .alias(name)
    };
    episodes
        .filter(col("__start").lt_eq(lit(t)))
        .join(
            funnel_at_t.select([col("lead_id")]),
            [col("lead_id")],
            [col("lead_id")],
            JoinArgs::new(JoinType::Semi),
        )
        .with_columns([undecided("__acc"), undecided("__rej")])
}

/// The opportunities of `base` (the table, or the model with its extra columns
/// `names`) as they stood at `p.as_of`.
/// Every opportunity stage event with its stage's index in its pipeline and its
/// trimmed, lowercase `stage_key`, ordered as the events of one instant are (by
/// time, then stage index, unmapped stages first); with pipelines defined, only the
/// events of opportunities in the table. Computed once per set of tables and
/// definitions, and kept for each moment a report or a backtest cuts them at.
pub(super) fn stage_history(tables: &Tables, p: &Params) -> LazyFrame {
    tables.kept(&history_key(p), stage_history_plan(tables, p))
}

/// [`stage_history`] as a plan, not computed.
fn stage_history_plan(tables: &Tables, p: &Params) -> LazyFrame {
    let (stage_df, _) = super::cycle::stage_table(p);
    let events = tables.or_empty(&OPPORTUNITY_STAGE_EVENTS);
    // An opportunity's pipeline orders its stages only when the definitions name
    // pipelines; otherwise every stage is of the one default pipeline.
    let events = if !history_reads_opportunities(p) {
        events.with_column(lit("").alias("__pkey"))
    } else {
        events
            .join(
                tables
                    .or_empty(&OPPORTUNITIES)
                    .select([col("opportunity_id"), col("pipeline")]),
                [col("opportunity_id")],
                [col("opportunity_id")],
                JoinArgs::new(JoinType::Inner),
            )
            .with_column(super::cycle::pipeline_key(p).alias("__pkey"))
    };
    // The few distinct (pipeline, stage) values mapped once, joined back.
    let mapped = events
        .clone()
        .select([col("__pkey"), col("stage")])
        .unique(None, UniqueKeepStrategy::Any)
        .with_columns([
            col("stage").str().to_lowercase().alias("__skey"),
            col("stage")
                .str()
                .strip_chars(lit(NULL))
                .str()
                .to_lowercase()
                .alias("stage_key"),
        ])
        .join(
            stage_df
                .lazy()
                .select([col("__pkey"), col("__skey"), col("stage_idx")]),
            [col("__pkey"), col("__skey")],
            [col("__pkey"), col("__skey")],
            JoinArgs::new(JoinType::Left),
        )
        .select([
            col("__pkey"),
            col("stage"),
            col("stage_idx"),
            col("stage_key"),
        ]);
    events
        .join(
            mapped,
            [col("__pkey"), col("stage")],
            [col("__pkey"), col("stage")],
            super::model::left_join_nulls_equal(),
        )
        .select([
            col("opportunity_id"),
            col("entered_at"),
            col("stage"),
            col("amount"),
            col("stage_idx"),
            col("stage_key"),
        ])
        .sort(
            ["opportunity_id", "entered_at", "stage_idx"],
            SortMultipleOptions::default()
                .with_nulls_last(false)
                .with_maintain_order(true),
        )
}

/// Whether [`stage_history`] reads each event's opportunity (for its pipeline): only
/// when the definitions name pipelines. Then, and only then, an event of an
/// opportunity not in the table is left out, and a cut must leave it out too.
fn history_reads_opportunities(p: &Params) -> bool {
    !p.config.opportunity.pipelines.is_empty()
}

fn history_key(p: &Params) -> String {
    format!("opportunity stage history {}", p.config.frames_hash())
}

/// `base` (opportunities with `names`) as they stood at `p.as_of`, from their stage
/// `history` ([`stage_history`]).
fn opportunities_at(
    p: &Params,
    history: LazyFrame,
    base: LazyFrame,
    names: &[String],
) -> LazyFrame {
    let t = p.as_of;
    let then = us("entered_at").lt_eq(lit(t));
    // Per opportunity: whether a stage event came after the instant, and the stage
    // and the amount of its last event at or before it.
    let at = history.group_by([col("opportunity_id")]).agg([
        us("entered_at").gt(lit(t)).any(true).alias("__moved"),
        col("stage").filter(then.clone()).last().alias("__stage_at"),
        col("amount")
            .filter(then.and(col("amount").is_not_null()))
            .last()
            .alias("__amount_at"),
    ]);
    let names: Vec<Expr> = names.iter().map(|n| col(n.as_str())).collect();
    let closed_later = us("closed_at").gt(lit(t)).fill_null(lit(false));
    let changed = closed_later
        .clone()
        .or(col("__moved").fill_null(lit(false)));
    base.filter(us("created_at").lt_eq(lit(t)))
        .join(
            at,
            [col("opportunity_id")],
            [col("opportunity_id")],
            JoinArgs::new(JoinType::Left),
        )
        .with_columns([
            when(closed_later.clone())
                .then(lit("open"))
                .otherwise(col("status"))
                .alias("status"),
            when(closed_later)
                .then(super::model::null_of(DataType::Datetime(
                    TimeUnit::Microseconds,
                    Some(TimeZone::UTC),
                )))
                .otherwise(col("closed_at"))
                .alias("closed_at"),
            when(changed.clone())
                .then(col("__stage_at"))
                .otherwise(col("stage"))
                .alias("stage"),
            when(changed.and(col("__amount_at").is_not_null()))
                .then(col("__amount_at"))
                .otherwise(col("amount"))
                .alias("amount"),
        ])
        .select(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_frames_hold_only_between_the_latest_event_and_the_next() {
        assert!(derived_hold(10, Some(10), None));
        assert!(derived_hold(99, Some(10), None));
        assert!(!derived_hold(9, Some(10), None));
        assert!(derived_hold(19, Some(10), Some(20)));
        assert!(!derived_hold(20, Some(10), Some(20)));
        assert!(!derived_hold(10, None, None));
        assert!(hides_anything(9, Some(10), None));
        assert!(!hides_anything(10, Some(10), None));
        assert!(hides_anything(10, Some(10), Some(20)));
        assert!(!hides_anything(20, Some(10), Some(20)));
    }
}
