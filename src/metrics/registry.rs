//! The metric registry: one row per metric, and everything else derives from it —
//! `funnel metrics --list` and its dispatch, the flags a metric accepts, the report's
//! sections, their order and the variants their figures draw, the headline numbers
//! and the order the report computes them in. Adding a metric is its function, its
//! row here, its test and its row in `docs/metrics.md` (tests below fail without the
//! last two, and the report's figure table fails to build without a decision on its
//! chart).

use polars::prelude::DataFrame;

use super::model::Tables;
use super::params::{Dim, Params, Period};
pub use super::profile::Need;
use super::{changes, cycle, funnel, lint, pipeline, plan, revenue, touches};
use crate::error::Result;
use crate::model::warehouse::Manifest;

/// Which split dimensions a metric accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dims {
    All,
    OwnerFilterOnly,
    ChannelOnly,
    /// `--by` splits the result; no `--where` (the plan: a commitment's slice is
    /// its filter).
    ByOnly,
    None,
}

/// How a metric is computed.
#[derive(Clone, Copy)]
pub enum Compute {
    /// From the tables and the parameters.
    Tables(fn(&Tables, &Params) -> Result<DataFrame>),
    /// Also from the warehouse's manifest (what the latest ingest recorded).
    WithManifest(fn(&Tables, &Params, Option<&Manifest>) -> Result<DataFrame>),
}

/// The second frame a metric's figure draws besides the metric's own, stored under
/// `<metric>:<suffix>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// Histogram bins (`--histogram`).
    Histogram,
    /// By quarter (`--period quarter`).
    Quarter,
    /// By channel (`--by channel`).
    Channel,
}

impl Variant {
    pub fn suffix(self) -> &'static str {
        match self {
            Variant::Histogram => "histogram",
            Variant::Quarter => "quarter",
            Variant::Channel => "channel",
        }
    }

    /// The parameters of the variant of a frame computed with `p`.
    pub fn params(self, p: &Params) -> Params {
        match self {
            Variant::Histogram => Params {
                histogram: true,
                ..p.clone()
            },
            Variant::Quarter => Params {
                period: Some(Period::Quarter),
                ..p.clone()
            },
            Variant::Channel => Params {
                by: Some(Dim::Channel),
                ..p.clone()
            },
        }
    }
}

/// The chart a metric has in the report and as `funnel chart NAME`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Figure {
    /// A figure of this name (its builder lives in the report's figure table).
    Chart(&'static str),
    /// Deliberately none: the table says it all.
    None,
}

/// How a number reads.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Unit {
    Count,
    Rate,
    Money,
    Days,
}

/// A headline number of the report: one cell of its metric's default frame.
#[derive(Debug, Clone, Copy)]
pub struct Headline {
    /// The key in `summary.json`.
    pub key: &'static str,
    /// What the report's tile says under the number.
    pub label: &'static str,
    /// The row holding it (column = value), or the first row.
    pub row: Option<(&'static str, &'static str)>,
    pub column: &'static str,
    pub unit: Unit,
    /// Place among the report's tiles (ascending).
    pub rank: u8,
    /// A count column of the same row that says what the number leaves out, and
    /// the sentence said beside the number when it is not 0 (`{n}` the count).
    pub caveat: Option<(&'static str, &'static str)>,
    /// What the number needs the data to hold: without it the tile says "not in
    /// your data" and why, never a number.
    pub data: &'static [Need],
}

/// The sentence beside a duration that leaves out deals closed before they were
/// created.
const NEGATIVE_CYCLES: (&str, &str) = (
    "left_out_negative",
    "{n} won deal(s) closed before they were created are left out (imported history?); `--include-negative` keeps them",
);

/// How long a metric takes at a million leads, for the report's scheduling: the
/// heavy ones start first, slowest first, so that the workers finish together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Cost {
    /// Rank among the heavy metrics, 0 the slowest.
    Heavy(u8),
    Light,
}

/// One metric.
pub struct Metric {
    pub name: &'static str,
    /// Its one-line definition (the exact rules are in `docs/metrics.md`).
    pub summary: &'static str,
    /// The tables it cannot do without.
    pub needs: &'static [&'static str],
    /// What its section needs the data to hold (a stage recorded, touches, …):
    /// without it the report says "not in your data" instead of chart and table.
    pub data: &'static [Need],
    pub dims: Dims,
    /// Whether it takes `--period`.
    pub period: bool,
    /// Whether it has a `--histogram` form.
    pub histogram: bool,
    pub compute: Compute,
    pub variant: Option<Variant>,
    pub figure: Figure,
    pub headlines: &'static [Headline],
    pub cost: Cost,
    /// Whether the report gives it a section of its own (lint has its own place).
    pub section: bool,
}

impl Metric {
    /// The key of its variant's frame, when it has one.
    pub fn variant_key(&self) -> Option<String> {
        self.variant
            .map(|v| format!("{}:{}", self.name, v.suffix()))
    }
}

const fn headline(
    key: &'static str,
    label: &'static str,
    row: Option<(&'static str, &'static str)>,
    column: &'static str,
    unit: Unit,
    rank: u8,
) -> Headline {
    Headline {
        key,
        label,
        row,
        column,
        unit,
        rank,
        caveat: None,
        data: &[],
    }
}

impl Headline {
    const fn with_caveat(mut self, caveat: (&'static str, &'static str)) -> Headline {
        self.caveat = Some(caveat);
        self
    }

    const fn needing(mut self, data: &'static [Need]) -> Headline {
        self.data = data;
        self
    }
}

/// Every metric, in report order.
pub const METRICS: &[Metric] = &[
    Metric {
        name: "waterfall",
        summary:
            "leads reaching each funnel stage, of leads created in range; step and cumulative rates",
        needs: &["leads"],
        data: &[],
        dims: Dims::All,
        period: true,
        histogram: false,
        compute: Compute::Tables(funnel::waterfall),
        variant: None,
        figure: Figure::Chart("waterfall"),
        headlines: &[
            headline(
                "leads",
                "new leads in range",
                Some(("stage", "lead")),
                "reached",
                Unit::Count,
                0,
            ),
            headline(
                "mqls",
                "of them became MQLs",
                Some(("stage", "mql")),
                "reached",
                Unit::Count,
                1,
            ).needing(&[Need::Stage("mql")]),
            headline(
                "mql_to_sal",
                "MQL → SAL (accepted by sales)",
                Some(("stage", "sal")),
                "step_rate",
                Unit::Rate,
                2,
            ).needing(&[Need::Stage("mql"), Need::Stage("sal")]),
        ],
        cost: Cost::Light,
        section: true,
    },
    Metric {
        name: "conversion",
        summary: "stage-to-stage conversion by monthly cohort (or --period), with maturity",
        needs: &["leads"],
        data: &[],
        dims: Dims::All,
        period: true,
        histogram: false,
        compute: Compute::Tables(funnel::conversion),
        variant: None,
        figure: Figure::Chart("conversion"),
        headlines: &[],
        cost: Cost::Light,
        section: true,
    },
    Metric {
        name: "funnel-time",
        summary: "days between consecutive funnel stages, for steps completed in range",
        needs: &["leads"],
        data: &[],
        dims: Dims::All,
        period: true,
        histogram: true,
        compute: Compute::Tables(funnel::funnel_time),
        variant: None,
        figure: Figure::Chart("funnel-time"),
        headlines: &[],
        cost: Cost::Light,
        section: true,
    },
    Metric {
        name: "cycle",
        summary: "sales cycle (won opportunities) and lead-to-customer time, in days",
        needs: &["opportunities"],
        data: &[],
        dims: Dims::All,
        period: true,
        histogram: true,
        compute: Compute::Tables(cycle::cycle),
        variant: Some(Variant::Histogram),
        figure: Figure::Chart("sales-cycle"),
        headlines: &[headline(
            "median_sales_cycle_days",
            "median sales cycle, days",
            Some(("measure", "sales_cycle")),
            "median_days",
            Unit::Days,
            5,
        )
        .with_caveat(NEGATIVE_CYCLES)],
        cost: Cost::Light,
        section: true,
    },
    Metric {
        name: "stage-time",
        summary: "days opportunities spend in each stage; open stays and regressions",
        needs: &["opportunities", "opportunity_stage_events"],
        data: &[],
        dims: Dims::All,
        period: false,
        histogram: true,
        compute: Compute::Tables(cycle::stage_time),
        variant: None,
        figure: Figure::Chart("stage-time"),
        headlines: &[],
        cost: Cost::Heavy(4),
        section: true,
    },
    Metric {
        name: "touches",
        summary: "marketing touches before becoming a lead, an MQL and an SQL",
        needs: &["leads", "touches"],
        data: &[Need::Touches],
        dims: Dims::All,
        period: true,
        histogram: true,
        compute: Compute::Tables(touches::touches),
        variant: Some(Variant::Histogram),
        figure: Figure::Chart("touches-to-mql"),
        headlines: &[],
        cost: Cost::Heavy(2),
        section: true,
    },
    Metric {
        name: "sla",
        summary: "MQL episodes accepted or rejected within the SLA, and response times",
        needs: &["leads", "lead_stage_events"],
        data: &[Need::Stage("mql"), Need::Stage("sal")],
        dims: Dims::All,
        period: true,
        histogram: true,
        compute: Compute::Tables(touches::sla),
        variant: Some(Variant::Histogram),
        figure: Figure::Chart("sla"),
        headlines: &[headline(
            "within_sla",
            "MQLs handled within the SLA",
            None,
            "within_sla_rate",
            Unit::Rate,
            3,
        ).needing(&[Need::Stage("mql"), Need::Stage("sal")])],
        cost: Cost::Heavy(5),
        section: true,
    },
    Metric {
        name: "win-rate",
        summary: "won ÷ (won + lost) of opportunities closed in range, by count and amount",
        needs: &["opportunities"],
        data: &[],
        dims: Dims::All,
        period: true,
        histogram: false,
        compute: Compute::Tables(pipeline::win_rate),
        variant: None,
        figure: Figure::None,
        headlines: &[
            headline(
                "win_rate",
                "win rate (count)",
                None,
                "win_rate",
                Unit::Rate,
                4,
            ).needing(&[Need::LostDeals]),
            headline(
                "won_amount",
                "won revenue",
                None,
                "won_amount",
                Unit::Money,
                6,
            ).needing(&[Need::Amounts]),
        ],
        cost: Cost::Light,
        section: true,
    },
    Metric {
        name: "quota",
        summary: "per rep and quota period: attainment, open pipeline, coverage vs required",
        needs: &["opportunities", "quotas"],
        data: &[],
        dims: Dims::OwnerFilterOnly,
        period: false,
        histogram: false,
        compute: Compute::Tables(pipeline::quota),
        variant: None,
        figure: Figure::Chart("quota"),
        headlines: &[],
        cost: Cost::Light,
        section: true,
    },
    Metric {
        name: "reverse-funnel",
        summary: "wins, opportunities, SQLs, SALs, MQLs and leads each rep still needs",
        needs: &["opportunities", "quotas"],
        data: &[],
        dims: Dims::OwnerFilterOnly,
        period: false,
        histogram: false,
        compute: Compute::Tables(pipeline::reverse_funnel),
        variant: None,
        figure: Figure::Chart("reverse-funnel"),
        headlines: &[],
        cost: Cost::Light,
        section: true,
    },
    Metric {
        name: "revenue-share",
        summary: "won revenue by source team (marketing, sales, partner, other) and influenced",
        needs: &["opportunities"],
        data: &[Need::Sources, Need::Amounts],
        dims: Dims::All,
        period: true,
        histogram: false,
        compute: Compute::Tables(revenue::revenue_share),
        variant: Some(Variant::Quarter),
        figure: Figure::Chart("revenue-share"),
        headlines: &[headline(
            "marketing_sourced_share",
            "won revenue sourced by marketing",
            Some(("source_team", "marketing")),
            "share",
            Unit::Rate,
            7,
        ).needing(&[Need::Sources, Need::Amounts])],
        cost: Cost::Light,
        section: true,
    },
    Metric {
        name: "attribution",
        summary: "won and pipeline amounts credited to channels by six attribution models",
        needs: &["opportunities", "touches"],
        data: &[Need::Touches, Need::Amounts],
        dims: Dims::All,
        period: true,
        histogram: false,
        compute: Compute::Tables(revenue::attribution),
        variant: None,
        figure: Figure::Chart("attribution"),
        headlines: &[],
        cost: Cost::Heavy(1),
        section: true,
    },
    Metric {
        name: "campaign-cost",
        summary: "campaign cost per lead, MQL and customer; attributed revenue and ROI",
        needs: &["campaigns", "leads"],
        data: &[],
        dims: Dims::ChannelOnly,
        period: false,
        histogram: false,
        compute: Compute::Tables(revenue::campaign_cost),
        variant: Some(Variant::Channel),
        figure: Figure::Chart("campaign-cost"),
        headlines: &[],
        cost: Cost::Heavy(3),
        section: true,
    },
    Metric {
        name: "velocity",
        summary: "open opportunities × win rate × average deal ÷ median cycle: revenue per day",
        needs: &["opportunities"],
        data: &[],
        dims: Dims::All,
        period: false,
        histogram: false,
        compute: Compute::Tables(pipeline::velocity),
        variant: None,
        figure: Figure::None,
        headlines: &[headline(
            "velocity_per_day",
            "pipeline velocity per day",
            None,
            "velocity_per_day",
            Unit::Money,
            8,
        ).needing(&[Need::Amounts, Need::LostDeals])
        .with_caveat(NEGATIVE_CYCLES)],
        cost: Cost::Light,
        section: true,
    },
    Metric {
        name: "changes",
        summary:
            "what moved since --since (in the report: since the previous report): pipeline bridge, funnel movement",
        needs: &["opportunities"],
        data: &[],
        dims: Dims::All,
        period: false,
        histogram: false,
        compute: Compute::Tables(changes::changes),
        variant: None,
        figure: Figure::Chart("pipeline-bridge"),
        headlines: &[],
        cost: Cost::Light,
        section: true,
    },
    Metric {
        name: "plan",
        summary: "the shared plan's commitments: actual, pace, forecast and status by now",
        needs: &[],
        data: &[],
        dims: Dims::ByOnly,
        period: false,
        histogram: false,
        compute: Compute::Tables(plan::plan),
        variant: None,
        figure: Figure::None,
        headlines: &[],
        cost: Cost::Heavy(6),
        // The report opens with the plan in a section of its own.
        section: false,
    },
    Metric {
        name: "lint",
        summary: "data-quality findings with counts and example ids",
        needs: &[],
        data: &[],
        dims: Dims::None,
        period: false,
        histogram: false,
        compute: Compute::WithManifest(lint::lint),
        variant: None,
        figure: Figure::None,
        headlines: &[],
        cost: Cost::Heavy(0),
        section: false,
    },
];

/// The metric called `name`.
pub fn find(name: &str) -> Option<&'static Metric> {
    METRICS.iter().find(|m| m.name == name)
}

/// Every headline number, in tile order, with its metric.
pub fn headlines() -> Vec<(&'static Metric, &'static Headline)> {
    let mut all: Vec<_> = METRICS
        .iter()
        .flat_map(|m| m.headlines.iter().map(move |h| (m, h)))
        .collect();
    all.sort_by_key(|(_, h)| h.rank);
    all
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn project_file(path: &str) -> String {
        let full = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
        std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
    }

    #[test]
    fn names_figures_and_headline_keys_are_unique() {
        let names: BTreeSet<_> = METRICS.iter().map(|m| m.name).collect();
        assert_eq!(names.len(), METRICS.len());
        let figures: Vec<_> = METRICS
            .iter()
            .filter_map(|m| match m.figure {
                Figure::Chart(f) => Some(f),
                Figure::None => None,
            })
            .collect();
        assert_eq!(figures.iter().collect::<BTreeSet<_>>().len(), figures.len());
        let keys: Vec<_> = headlines().iter().map(|(_, h)| h.key).collect();
        assert_eq!(keys.iter().collect::<BTreeSet<_>>().len(), keys.len());
        let ranks: Vec<_> = headlines().iter().map(|(_, h)| h.rank).collect();
        assert_eq!(ranks, (0..ranks.len() as u8).collect::<Vec<_>>());
    }

    #[test]
    fn heavy_ranks_are_distinct() {
        let mut heavy: Vec<u8> = METRICS
            .iter()
            .filter_map(|m| match m.cost {
                Cost::Heavy(r) => Some(r),
                Cost::Light => None,
            })
            .collect();
        heavy.sort();
        assert_eq!(heavy, (0..heavy.len() as u8).collect::<Vec<_>>());
    }

    #[test]
    fn every_metric_has_a_row_in_the_metrics_docs() {
        let docs = project_file("docs/metrics.md");
        for m in METRICS {
            assert!(
                docs.lines()
                    .any(|l| l.starts_with(&format!("| {} |", m.name))),
                "docs/metrics.md has no row `| {} | … |` in its per-metric table",
                m.name
            );
        }
    }

    #[test]
    fn every_metric_has_an_integration_test() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/integration");
        let tests: String = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
            .collect();
        // A test named after the metric: `fn <name>_…` with `-` as `_`.
        for m in METRICS {
            let head = format!("#[test]\nfn {}", m.name.replace('-', "_"));
            assert!(
                tests.contains(&head),
                "no integration test is named after `{}` (`fn {}_…` in tests/integration)",
                m.name,
                m.name.replace('-', "_")
            );
        }
    }
}
