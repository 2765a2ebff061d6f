//! The metrics, computed from the canonical tables with the definitions applied at
//! query time. One file per family; each metric is
//! `fn(&Tables, &Params) -> Result<DataFrame>` with its exact definition in its doc
//! comment, and one row in [`registry::METRICS`]. `docs/metrics.md` gives every
//! metric's exact rules.

pub mod changes;
pub mod cycle;
pub mod derived;
pub mod explain;
pub mod funnel;
pub mod lint;
pub mod model;
pub mod params;
pub mod pipeline;
pub mod plan;
pub mod profile;
pub mod registry;
pub mod revenue;
pub mod stats;
pub mod touches;
pub mod visible;

use polars::prelude::*;

use crate::config::UnknownValues;
use crate::error::{Error, Result};
use crate::model::columns::{
    TableSchema, LEADS, LEAD_STAGE_EVENTS, OPPORTUNITIES, OPPORTUNITY_STAGE_EVENTS, TOUCHES,
};
use crate::model::warehouse::Manifest;
use model::{collect, Tables};
use params::{Dim, Params};
use registry::Compute;

pub use registry::{find, Dims, Metric, METRICS};

/// Checks that the flags make sense for this metric, and its tables are present.
pub fn check(metric: &Metric, tables: &Tables, p: &Params) -> Result<()> {
    let bad = |what: String| Err(Error::Usage(format!("`{}` {what}", metric.name)));
    match metric.dims {
        Dims::All => {}
        Dims::OwnerFilterOnly => {
            if p.by.is_some() {
                return bad("is per owner already and takes no --by".into());
            }
            if p.filters.iter().any(|(d, _)| *d != Dim::OwnerId) {
                return bad("takes only --where owner_id=…".into());
            }
        }
        Dims::ChannelOnly => {
            if p.by.is_some_and(|b| b != Dim::Channel) {
                return bad("can only be split --by channel".into());
            }
            if !p.filters.is_empty() {
                return bad("takes no --where filter".into());
            }
        }
        Dims::ByOnly => {
            if !p.filters.is_empty() {
                return bad("takes no --where: a commitment's split is its slice".into());
            }
        }
        Dims::None => {
            if p.by.is_some() || !p.filters.is_empty() {
                return bad("takes no --by or --where".into());
            }
        }
    }
    if p.period.is_some() && !metric.period {
        return bad("takes no --period".into());
    }
    if p.histogram && !metric.histogram {
        return bad("has no histogram".into());
    }
    if p.backtest.is_some() && metric.name != "plan" {
        return bad("takes no --backtest (only `plan` does)".into());
    }
    if p.include_negative && !matches!(metric.name, "cycle" | "velocity") {
        return bad("takes no --include-negative (only `cycle` and `velocity` do)".into());
    }
    if (p.since.is_some() || tables.earlier.is_some()) && metric.name != "changes" {
        return bad("takes no --since (only `changes` does)".into());
    }
    let missing: Vec<&'static str> = metric
        .needs
        .iter()
        .copied()
        .filter(|t| !tables.has(t))
        .collect();
    if !missing.is_empty() {
        return Err(Error::MissingTables {
            needed_by: metric.name.to_string(),
            tables: missing,
        });
    }
    Ok(())
}

/// Computes one metric.
pub fn compute(
    name: &str,
    tables: &Tables,
    p: &Params,
    manifest: Option<&Manifest>,
) -> Result<DataFrame> {
    let metric = find(name).ok_or_else(|| {
        Error::Usage(format!(
            "unknown metric `{name}`; see `funnel metrics --list`"
        ))
    })?;
    check(metric, tables, p)?;
    if name != "lint" && p.config.stages.unknown_values == UnknownValues::Error {
        refuse_unmapped(tables, p)?;
    }
    match metric.compute {
        Compute::Tables(f) => f(tables, p),
        Compute::WithManifest(f) => f(tables, p, manifest),
    }
}

/// The instants that date the data: each table with its columns of events.
pub const EVENT_INSTANTS: [(&TableSchema, &str); 6] = [
    (&LEADS, "created_at"),
    (&LEAD_STAGE_EVENTS, "entered_at"),
    (&TOUCHES, "occurred_at"),
    (&OPPORTUNITIES, "created_at"),
    (&OPPORTUNITIES, "closed_at"),
    (&OPPORTUNITY_STAGE_EVENTS, "entered_at"),
];

/// With `unknown_values = "error"`, metrics refuse to run while a stage value is
/// unmapped (docs/metrics.md, common rules); the message lists the values.
fn refuse_unmapped(tables: &Tables, p: &Params) -> Result<()> {
    // Events of unknown leads count too.
    let mut values = vec![model::mapped_events(tables, p)
        .filter(col("stage_idx").is_null())
        .select([col("stage")])];
    values.push(
        lint::unmapped_opportunity_stages(
            tables.or_empty(&OPPORTUNITY_STAGE_EVENTS),
            tables.or_empty(&OPPORTUNITIES),
            p,
        )
        .select([col("stage")]),
    );
    let df = collect(
        concat(values, UnionArgs::default())
            .expect("same schema")
            .unique(None, UniqueKeepStrategy::First)
            .sort(["stage"], SortMultipleOptions::default()),
        "unmapped values",
    )?;
    if df.height() == 0 {
        return Ok(());
    }
    let list: Vec<String> = (0..df.height())
        .filter_map(|i| {
            df.column("stage")
                .ok()?
                .get(i)
                .ok()?
                .get_str()
                .map(|s| format!("`{s}`"))
        })
        .collect();
    Err(Error::Data(format!(
        "stage value(s) {} are mapped to no stage, and `stages.unknown_values = \"error\"`: add them to `[stages]` or `[opportunity] stages` in funnel.toml",
        list.join(", ")
    )))
}

/// The latest event instant in the warehouse (the default as-of, docs/metrics.md), UTC µs.
///
/// Instants after `not_after` (the ingest's own time) are left out: an event dated
/// 2062 by a typo in its year must not date every number 2062. Lint reports them
/// (`event_in_future`).
pub fn latest_event(tables: &Tables, not_after: i64) -> Result<Option<i64>> {
    Ok(event_instants(tables, not_after)?.0)
}

/// The latest event instant at or before `not_after` ([`latest_event`]), and the
/// earliest one after it (an event dated in the future), UTC µs.
pub fn event_instants(tables: &Tables, not_after: i64) -> Result<(Option<i64>, Option<i64>)> {
    let mut parts: Vec<LazyFrame> = Vec::new();
    for (table, column) in EVENT_INSTANTS {
        if let Ok(lf) = tables.get(table) {
            let t = model::us(column);
            parts.push(
                lf.select([
                    t.clone()
                        .filter(t.clone().lt_eq(lit(not_after)))
                        .max()
                        .alias("t"),
                    t.clone().filter(t.gt(lit(not_after))).min().alias("later"),
                ]),
            );
        }
    }
    if parts.is_empty() {
        return Ok((None, None));
    }
    let df = collect(
        concat(parts, UnionArgs::default())
            .expect("same schema")
            .select([col("t").max(), col("later").min()]),
        "as-of",
    )?;
    let get = |name: &str| {
        df.column(name)
            .ok()
            .and_then(|c| c.get(0).ok())
            .and_then(|v| v.extract::<i64>())
    };
    Ok((get("t"), get("later")))
}
