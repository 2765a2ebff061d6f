//! **changes** — what moved between an earlier moment and the as-of: the pipeline
//! bridge and the funnel's movement (docs/metrics.md).
//!
//! The pipeline at an instant is the open opportunities then (created by then, not
//! won or lost by then), with their close date in the window `--from`..`--to` when a
//! range is given (all of them otherwise), valued in the base currency — what `quota`
//! (per owner and quota period) and `velocity` (counted) call open pipeline. Each
//! opportunity in the pipeline at either end moves by one step:
//!
//! | step | in at start | in at end | moves by |
//! |---|---|---|---|
//! | created | no | yes, created after the start | + its amount |
//! | added | no | yes, created before but not in the earlier data | + its amount |
//! | pulled in | no, open with its close date outside | yes | + its amount |
//! | reopened | no, closed | yes | + its amount |
//! | increased / decreased | yes | yes | end − start amount |
//! | won / lost | yes | no, closed so | − its start amount |
//! | pushed out | yes | no, open with a close date after the window (or none) | − its start amount |
//! | moved out early | yes | no, open with a close date before the window | − its start amount |
//! | removed | yes | no, gone from the data | − its start amount |
//!
//! An opportunity created and won or lost in between, closing in the window, passed
//! through the pipeline: it is counted as created and as won or lost. So the
//! pipeline at the start plus every step is the pipeline at the end.
//! A close date is not kept in the history of an opportunity, so close-date moves
//! show only when the start is an earlier version of the warehouse (`--since
//! vNNNNNN`); read at an earlier instant of today's data, an opportunity has today's
//! close date at both ends.
//!
//! The funnel's movement counts the leads that reached each stage after the start
//! and by the as-of, and those recycled or disqualified in between.

use polars::prelude::*;

use super::model::{collect, lead_funnel, mapped_events, opportunities, split, us, Tables};
use super::params::{Dim, Params};
use crate::error::{Error, Result};
use crate::time::format_timestamp;

/// The pipeline's steps in bridge order; the optional ones are shown only when some
/// opportunity took them.
pub const PIPELINE_STEPS: [(&str, bool); 13] = [
    ("open at start", true),
    ("created", true),
    ("added", false),
    ("pulled in", true),
    ("reopened", false),
    ("increased", true),
    ("decreased", true),
    ("won", true),
    ("lost", true),
    ("pushed out", true),
    ("moved out early", false),
    ("removed", false),
    ("open at end", true),
];

/// The funnel's movement rows, in funnel order.
pub const FUNNEL_STEPS: [&str; 8] = [
    "became lead",
    "became mql",
    "became sal",
    "became sql",
    "became opportunity",
    "became customer",
    "recycled",
    "disqualified",
];

/// Open at `t`, with the close date in the window when a range is given.
fn in_pipeline(t: i64, p: &Params) -> Expr {
    let open = us("created_at").lt_eq(lit(t)).and(
        col("status")
            .eq(lit("open"))
            .or(us("closed_at").gt(lit(t)).fill_null(lit(false))),
    );
    open.and(in_window(col("close_date"), p))
}

/// Whether a close date lies in the window `--from`..`--to` (always, without a
/// range; an empty close date never, with one).
fn in_window(close: Expr, p: &Params) -> Expr {
    if !p.range_given {
        return lit(true);
    }
    let day = |d: chrono::NaiveDate| lit(d).cast(DataType::Date).cast(DataType::Int32);
    let close = close.cast(DataType::Int32);
    close
        .clone()
        .gt_eq(day(p.from))
        .and(close.lt_eq(day(p.to)))
        .fill_null(lit(false))
}

/// `−e`, and 0 (not −0) for 0.
fn negated(e: Expr) -> Expr {
    when(e.clone().eq(lit(0.0)))
        .then(lit(0.0))
        .otherwise(lit(0.0) - e)
}

/// One side's columns: in the pipeline, amount, status, close date, and its
/// dimensions, each prefixed.
fn side(model: LazyFrame, t: i64, p: &Params, prefix: &str) -> LazyFrame {
    let mut cols = vec![
        col("opportunity_id"),
        in_pipeline(t, p).alias(format!("{prefix}in")),
        col("amount_base")
            .fill_null(lit(0.0))
            .alias(format!("{prefix}amount")),
        col("status").alias(format!("{prefix}status")),
        col("close_date")
            .cast(DataType::Int32)
            .alias(format!("{prefix}close")),
        us("created_at").alias(format!("{prefix}created")),
        us("closed_at").alias(format!("{prefix}closed")),
    ];
    cols.extend(
        Dim::ALL
            .iter()
            .map(|d| col(d.column()).alias(format!("{prefix}{}", d.column()))),
    );
    model.select(cols)
}

/// The step each opportunity takes between `t0` and the end (null: none).
fn step(t0: i64, p: &Params) -> Expr {
    let s_in = col("__s_in").fill_null(lit(false));
    let e_in = col("__e_in").fill_null(lit(false));
    let (s_amt, e_amt) = (col("__s_amount"), col("__e_amount"));
    let to = lit(p.to).cast(DataType::Date).cast(DataType::Int32);
    let both = when(e_amt.clone().gt(s_amt.clone()))
        .then(lit("increased"))
        .when(e_amt.lt(s_amt))
        .then(lit("decreased"))
        .otherwise(lit(NULL).cast(DataType::String));
    let left = when(col("__e_status").is_null())
        .then(lit("removed"))
        .when(col("__e_status").eq(lit("won")))
        .then(lit("won"))
        .when(col("__e_status").eq(lit("lost")))
        .then(lit("lost"))
        .when(col("__e_close").is_null().or(col("__e_close").gt(to)))
        .then(lit("pushed out"))
        .otherwise(lit("moved out early"));
    let entered = when(col("__e_created").gt(lit(t0)))
        .then(lit("created"))
        .when(col("__s_status").is_null())
        .then(lit("added"))
        .when(col("__s_status").eq(lit("open")))
        .then(lit("pulled in"))
        .otherwise(lit("reopened"));
    when(s_in.clone().and(e_in.clone()))
        .then(both)
        .when(s_in.clone())
        .then(left)
        .when(e_in)
        .then(entered)
        .otherwise(lit(NULL).cast(DataType::String))
}

/// The opportunity model at the start: the earlier version's, or these tables' at `t0`.
fn start_model(tables: &Tables, p: &Params, t0: i64, end: LazyFrame) -> Result<LazyFrame> {
    let at = Params {
        as_of: t0,
        ..p.clone()
    };
    match &tables.earlier {
        Some(earlier) => Ok(opportunities(earlier, &at)),
        None => super::visible::opportunity_model_at(tables, &at, end),
    }
}

/// Per opportunity in the pipeline at either end: its step, its signed amount, its
/// amounts at both ends, and its dimensions (at the end, else at the start).
pub fn opportunity_moves(tables: &Tables, p: &Params) -> Result<LazyFrame> {
    let t0 = p.since_or_default();
    if t0 >= p.as_of {
        return Err(Error::Usage(format!(
            "`changes --since {}` is not before the as-of {}: pick an earlier moment",
            format_timestamp(t0),
            format_timestamp(p.as_of)
        )));
    }
    let end = opportunities(tables, p);
    let start = start_model(tables, p, t0, end.clone())?;
    let joined = side(start, t0, p, "__s_").join(
        side(end, p.as_of, p, "__e_"),
        [col("opportunity_id")],
        [col("opportunity_id")],
        JoinArgs::new(JoinType::Full).with_coalesce(JoinCoalesce::CoalesceColumns),
    );
    let dims: Vec<Expr> = Dim::ALL
        .iter()
        .map(|d| {
            let c = d.column();
            coalesce(&[col(format!("__e_{c}")), col(format!("__s_{c}"))]).alias(c.as_str())
        })
        .collect();
    let signed = when(
        col("__step")
            .eq(lit("increased"))
            .or(col("__step").eq(lit("decreased"))),
    )
    .then(col("__e_amount") - col("__s_amount"))
    .when(col("__s_in").fill_null(lit(false)))
    .then(negated(col("__s_amount")))
    .otherwise(col("__e_amount"));
    // Created and closed in between, closing in the window: it passed through the
    // pipeline, created and then won or lost.
    let window_end = in_window(col("__e_close"), p);
    let through = col("__s_in")
        .fill_null(lit(false))
        .not()
        .and(col("__e_in").fill_null(lit(false)).not())
        .and(col("__e_created").gt(lit(t0)))
        .and(col("__e_closed").gt(lit(t0)))
        .and(col("__e_closed").lt_eq(lit(p.as_of)))
        .and(
            col("__e_status")
                .eq(lit("won"))
                .or(col("__e_status").eq(lit("lost"))),
        )
        .and(window_end)
        .fill_null(lit(false));
    Ok(joined
        .with_column(through.alias("__through"))
        .filter(
            col("__s_in")
                .fill_null(lit(false))
                .or(col("__e_in").fill_null(lit(false)))
                .or(col("__through")),
        )
        .with_column(step(t0, p).alias("__step"))
        .with_columns(dims)
        .with_column(signed.alias("__move")))
}

/// Per opportunity and step of the bridge (split by `--by`, filtered by `--where`):
/// the keys, `opportunity_id`, `step`, `amount` (what it moves the bridge by; the
/// total for `open at start` and `open at end`), its `status` and amount at each
/// end, and its close date at the end. An opportunity in the pipeline at both ends
/// has three rows (start, its step if any, end). What `changes` sums and `funnel
/// explain changes` lists.
pub fn pipeline_items(tables: &Tables, p: &Params) -> Result<(LazyFrame, Vec<String>)> {
    let moves = opportunity_moves(tables, p)?;
    let (moves, keys) = split(moves, None, p)?;
    let moves = moves.cache();
    let pick = |filter: Expr, step: Expr, amount: Expr| {
        let mut sel: Vec<Expr> = keys.iter().map(|k| col(k.as_str())).collect();
        sel.extend([
            col("opportunity_id"),
            step.alias("step"),
            amount.alias("amount"),
            col("__s_status").alias("status_at_start"),
            col("__e_status").alias("status_at_end"),
            col("__s_amount").alias("amount_at_start"),
            col("__e_amount").alias("amount_at_end"),
            col("__e_close")
                .cast(DataType::Date)
                .alias("close_date_at_end"),
        ]);
        moves.clone().filter(filter).select(sel)
    };
    let items = concat(
        [
            pick(
                col("__s_in").fill_null(lit(false)),
                lit("open at start"),
                col("__s_amount"),
            ),
            pick(col("__step").is_not_null(), col("__step"), col("__move")),
            pick(col("__through"), lit("created"), col("__e_amount")),
            pick(
                col("__through"),
                col("__e_status"),
                negated(col("__e_amount")),
            ),
            pick(
                col("__e_in").fill_null(lit(false)),
                lit("open at end"),
                col("__e_amount"),
            ),
        ],
        UnionArgs::default(),
    )
    .map_err(|e| Error::Runtime(format!("changes: {e}")))?;
    Ok((items, keys))
}

/// **changes** — the pipeline bridge and the funnel's movement between `--since`
/// (default: a week before the as-of) and the as-of: one row per step with its
/// count (opportunities or leads) and, for the pipeline, its amount in the base
/// currency.
pub fn changes(tables: &Tables, p: &Params) -> Result<DataFrame> {
    let (items, keys) = pipeline_items(tables, p)?;
    let pipeline = collect(aggregate(items, &keys), "changes")?;
    let funnel = collect(aggregate(funnel_items(tables, p, &keys)?, &keys), "changes")?;
    let taken = crate::frame::strings(&pipeline, "step");
    let shown: Vec<&str> = PIPELINE_STEPS
        .iter()
        .filter(|(name, always)| *always || taken.iter().any(|s| s == name))
        .map(|(name, _)| *name)
        .collect();
    complete(pipeline, funnel, &keys, &shown, p.by.is_some())
}

/// Count and sum per group and step.
fn aggregate(lf: LazyFrame, keys: &[String]) -> LazyFrame {
    let mut by: Vec<Expr> = keys.iter().map(|k| col(k.as_str())).collect();
    by.push(col("step"));
    lf.group_by(by).agg([
        len().cast(DataType::Int64).alias("count"),
        super::stats::order_free_sum(col("amount"), 1e4).alias("amount"),
    ])
}

/// Per lead that reached a funnel stage after the start and by the as-of, or was
/// recycled or disqualified then: the keys, `lead_id`, the step (`amount` null).
pub fn funnel_items(tables: &Tables, p: &Params, keys: &[String]) -> Result<LazyFrame> {
    if !tables.has("leads") {
        let mut cols: Vec<Expr> = keys
            .iter()
            .map(|k| lit(NULL).cast(DataType::String).alias(k.as_str()))
            .collect();
        cols.push(lit(NULL).cast(DataType::String).alias("lead_id"));
        cols.push(lit(NULL).cast(DataType::String).alias("step"));
        cols.push(lit(NULL).cast(DataType::Float64).alias("amount"));
        return Ok(DataFrame::empty().lazy().select(cols).limit(0));
    }
    let (t0, t1) = (p.since_or_default(), p.as_of);
    let between = |e: Expr| {
        e.clone()
            .gt(lit(t0))
            .and(e.lt_eq(lit(t1)))
            .fill_null(lit(false))
    };
    let (funnel, _) = split(lead_funnel(tables, p), None, p)?;
    let funnel = funnel.cache();
    // The lead id keeps one row per lead: a selection of literals alone is one row.
    let keep = |step: &str, rows: LazyFrame| {
        let mut sel: Vec<Expr> = keys.iter().map(|k| col(k.as_str())).collect();
        sel.push(col("lead_id"));
        rows.select(sel).with_columns([
            lit(step.to_string()).alias("step"),
            lit(NULL).cast(DataType::Float64).alias("amount"),
        ])
    };
    let mut parts: Vec<LazyFrame> = super::model::STAGES[..super::model::FUNNEL]
        .iter()
        .zip(FUNNEL_STEPS)
        .map(|(stage, step)| {
            keep(
                step,
                funnel
                    .clone()
                    .filter(between(us(&format!("reached_{stage}")))),
            )
        })
        .collect();
    for (idx, step) in [
        (super::model::RECYCLED, FUNNEL_STEPS[6]),
        (super::model::DISQUALIFIED, FUNNEL_STEPS[7]),
    ] {
        let leads = mapped_events(tables, p)
            .filter(col("stage_idx").eq(lit(idx)).and(between(us("entered_at"))))
            .select([col("lead_id")])
            .unique(None, UniqueKeepStrategy::Any);
        parts.push(keep(
            step,
            funnel
                .clone()
                .semi_join(leads, col("lead_id"), col("lead_id")),
        ));
    }
    concat(parts, UnionArgs::default()).map_err(|e| Error::Runtime(format!("changes: {e}")))
}

/// Both parts in one frame, every step of each group shown (0 when nothing took
/// it), groups sorted, steps in bridge and funnel order.
fn complete(
    pipeline: DataFrame,
    funnel: DataFrame,
    keys: &[String],
    pipeline_steps: &[&str],
    by: bool,
) -> Result<DataFrame> {
    let steps = |part: &str, names: &[&str]| {
        df!(
            "part" => vec![part; names.len()],
            "step" => names.to_vec(),
            "__order" => (0..names.len() as i64).collect::<Vec<_>>(),
        )
        .expect("equal lengths")
    };
    let all_steps = steps("pipeline", pipeline_steps)
        .vstack(&steps("funnel", &FUNNEL_STEPS))
        .expect("same columns");
    let with_part =
        |df: DataFrame, part: &str| df.lazy().with_column(lit(part.to_string()).alias("part"));
    let found = concat(
        [with_part(pipeline, "pipeline"), with_part(funnel, "funnel")],
        UnionArgs::default(),
    )
    .map_err(|e| Error::Runtime(format!("changes: {e}")))?;
    let key_cols: Vec<Expr> = keys.iter().map(|k| col(k.as_str())).collect();
    let grid = if by {
        found
            .clone()
            .select(key_cols.clone())
            .unique_stable(None, UniqueKeepStrategy::Any)
            .cross_join(all_steps.lazy(), None)
    } else {
        all_steps.lazy()
    };
    let mut on = key_cols.clone();
    on.extend([col("part"), col("step")]);
    let mut sort: Vec<PlSmallStr> = keys.iter().map(|k| k.as_str().into()).collect();
    sort.extend(["__part_order".into(), "__order".into()]);
    let mut out: Vec<Expr> = key_cols;
    out.extend([
        col("part"),
        col("step"),
        col("count").fill_null(lit(0i64)),
        when(col("part").eq(lit("pipeline")))
            // No -0 from a subtraction of nothing.
            .then(
                when(col("amount").fill_null(lit(0.0)).eq(lit(0.0)))
                    .then(lit(0.0))
                    .otherwise(col("amount")),
            )
            .otherwise(lit(NULL).cast(DataType::Float64))
            .alias("amount"),
    ]);
    let joined = grid
        .join(
            found,
            on.clone(),
            on,
            JoinArgs {
                nulls_equal: true,
                ..JoinArgs::new(JoinType::Left)
            },
        )
        .with_column(
            when(col("part").eq(lit("pipeline")))
                .then(lit(0i64))
                .otherwise(lit(1i64))
                .alias("__part_order"),
        )
        .sort(
            sort,
            SortMultipleOptions::default().with_maintain_order(true),
        )
        .select(out);
    collect(joined, "changes")
}
