//! The metrics of SPEC §5, computed from the canonical tables with the definitions
//! applied at query time. One file per family; each metric is
//! `fn(&Tables, &Params) -> Result<DataFrame>` with its exact definition in its doc
//! comment. `docs/metrics.md` records the readings where SPEC leaves a choice.

pub mod cycle;
pub mod derived;
pub mod funnel;
pub mod lint;
pub mod model;
pub mod params;
pub mod pipeline;
pub mod revenue;
pub mod stats;
pub mod touches;

use polars::prelude::*;

use crate::config::UnknownValues;
use crate::error::{Error, Result};
use crate::model::warehouse::Manifest;
use model::{collect, Tables};
use params::{Dim, Params};

/// Which split dimensions a metric accepts.
#[derive(Debug, Clone, Copy)]
pub enum Dims {
    All,
    OwnerFilterOnly,
    ChannelOnly,
    None,
}

pub struct MetricInfo {
    pub name: &'static str,
    pub summary: &'static str,
    pub needs: &'static [&'static str],
    pub dims: Dims,
    pub period: bool,
    pub histogram: bool,
}

pub const METRICS: &[MetricInfo] = &[
    MetricInfo {
        name: "waterfall",
        summary:
            "leads reaching each funnel stage, of leads created in range; step and cumulative rates",
        needs: &["leads"],
        dims: Dims::All,
        period: true,
        histogram: false,
    },
    MetricInfo {
        name: "conversion",
        summary: "stage-to-stage conversion by monthly cohort (or --period), with maturity",
        needs: &["leads"],
        dims: Dims::All,
        period: true,
        histogram: false,
    },
    MetricInfo {
        name: "funnel-time",
        summary: "days between consecutive funnel stages, for steps completed in range",
        needs: &["leads"],
        dims: Dims::All,
        period: true,
        histogram: true,
    },
    MetricInfo {
        name: "cycle",
        summary: "sales cycle (won opportunities) and lead-to-customer time, in days",
        needs: &["opportunities"],
        dims: Dims::All,
        period: true,
        histogram: true,
    },
    MetricInfo {
        name: "stage-time",
        summary: "days opportunities spend in each stage; open stays and regressions",
        needs: &["opportunities", "opportunity_stage_events"],
        dims: Dims::All,
        period: false,
        histogram: true,
    },
    MetricInfo {
        name: "touches",
        summary: "marketing touches before becoming a lead, an MQL and an SQL",
        needs: &["leads", "touches"],
        dims: Dims::All,
        period: true,
        histogram: true,
    },
    MetricInfo {
        name: "sla",
        summary: "MQL episodes accepted or rejected within the SLA, and response times",
        needs: &["leads", "lead_stage_events"],
        dims: Dims::All,
        period: true,
        histogram: true,
    },
    MetricInfo {
        name: "win-rate",
        summary: "won ÷ (won + lost) of opportunities closed in range, by count and amount",
        needs: &["opportunities"],
        dims: Dims::All,
        period: true,
        histogram: false,
    },
    MetricInfo {
        name: "quota",
        summary: "per rep and quota period: attainment, open pipeline, coverage vs required",
        needs: &["opportunities", "quotas"],
        dims: Dims::OwnerFilterOnly,
        period: false,
        histogram: false,
    },
    MetricInfo {
        name: "reverse-funnel",
        summary: "wins, opportunities, SQLs, SALs, MQLs and leads each rep still needs",
        needs: &["opportunities", "quotas"],
        dims: Dims::OwnerFilterOnly,
        period: false,
        histogram: false,
    },
    MetricInfo {
        name: "revenue-share",
        summary: "won revenue by source team (marketing, sales, partner, other) and influenced",
        needs: &["opportunities"],
        dims: Dims::All,
        period: true,
        histogram: false,
    },
    MetricInfo {
        name: "attribution",
        summary: "won and pipeline amounts credited to channels by six attribution models",
        needs: &["opportunities", "touches"],
        dims: Dims::All,
        period: true,
        histogram: false,
    },
    MetricInfo {
        name: "campaign-cost",
        summary: "campaign cost per lead, MQL and customer; attributed revenue and ROI",
        needs: &["campaigns", "leads"],
        dims: Dims::ChannelOnly,
        period: false,
        histogram: false,
    },
    MetricInfo {
        name: "velocity",
        summary: "open opportunities × win rate × average deal ÷ median cycle: revenue per day",
        needs: &["opportunities"],
        dims: Dims::All,
        period: false,
        histogram: false,
    },
    MetricInfo {
        name: "lint",
        summary: "data-quality findings with counts and example ids",
        needs: &[],
        dims: Dims::None,
        period: false,
        histogram: false,
    },
];

pub fn info(name: &str) -> Option<&'static MetricInfo> {
    METRICS.iter().find(|m| m.name == name)
}

/// Checks that the flags make sense for this metric, and its tables are present.
pub fn check(metric: &MetricInfo, tables: &Tables, p: &Params) -> Result<()> {
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
    let missing: Vec<&str> = metric
        .needs
        .iter()
        .copied()
        .filter(|t| !tables.has(t))
        .collect();
    if !missing.is_empty() {
        return Err(Error::Data(format!(
            "`{}` needs the table(s) {} which the warehouse does not have; ingest {}",
            metric.name,
            missing
                .iter()
                .map(|t| format!("`{t}`"))
                .collect::<Vec<_>>()
                .join(", "),
            missing
                .iter()
                .map(|t| format!("{t}.csv"))
                .collect::<Vec<_>>()
                .join(", ")
        )));
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
    let metric = info(name).ok_or_else(|| {
        Error::Usage(format!(
            "unknown metric `{name}`; see `funnel metrics --list`"
        ))
    })?;
    check(metric, tables, p)?;
    if name != "lint" && p.config.stages.unknown_values == UnknownValues::Error {
        refuse_unmapped(tables, p)?;
    }
    match name {
        "waterfall" => funnel::waterfall(tables, p),
        "conversion" => funnel::conversion(tables, p),
        "funnel-time" => funnel::funnel_time(tables, p),
        "cycle" => cycle::cycle(tables, p),
        "stage-time" => cycle::stage_time(tables, p),
        "touches" => touches::touches(tables, p),
        "sla" => touches::sla(tables, p),
        "win-rate" => pipeline::win_rate(tables, p),
        "quota" => pipeline::quota(tables, p),
        "reverse-funnel" => pipeline::reverse_funnel(tables, p),
        "revenue-share" => revenue::revenue_share(tables, p),
        "attribution" => revenue::attribution(tables, p),
        "campaign-cost" => revenue::campaign_cost(tables, p),
        "velocity" => pipeline::velocity(tables, p),
        "lint" => lint::lint(tables, p, manifest),
        _ => unreachable!("registry and dispatch agree"),
    }
}

/// With `unknown_values = "error"`, metrics refuse to run while a stage value is
/// unmapped (SPEC §5.1); the message lists the values.
fn refuse_unmapped(tables: &Tables, p: &Params) -> Result<()> {
    let mut values = Vec::new();
    // Events of unknown leads count too.
    if let Some(e) = model::mapped_events(tables, p) {
        values.push(e.filter(col("stage_idx").is_null()).select([col("stage")]));
    }
    if let (Some(e), Some(o)) = (
        tables.opportunity_stage_events.clone(),
        tables.opportunities.clone(),
    ) {
        values.push(lint::unmapped_opportunity_stages(e, o, p).select([col("stage")]));
    }
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

/// The latest event instant in the warehouse (SPEC §5 as_of default), UTC µs.
pub fn latest_event(tables: &Tables) -> Result<Option<i64>> {
    let mut parts: Vec<LazyFrame> = Vec::new();
    let mut add = |lf: &Option<LazyFrame>, c: &str| {
        if let Some(lf) = lf {
            parts.push(lf.clone().select([model::us(c).max().alias("t")]));
        }
    };
    add(&tables.leads, "created_at");
    add(&tables.lead_stage_events, "entered_at");
    add(&tables.touches, "occurred_at");
    add(&tables.opportunities, "created_at");
    add(&tables.opportunities, "closed_at");
    add(&tables.opportunity_stage_events, "entered_at");
    if parts.is_empty() {
        return Ok(None);
    }
    let df = collect(
        concat(parts, UnionArgs::default())
            .expect("same schema")
            .select([col("t").max()]),
        "as-of",
    )?;
    Ok(df
        .column("t")
        .ok()
        .and_then(|c| c.get(0).ok())
        .and_then(|v| v.extract::<i64>()))
}
