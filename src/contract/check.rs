//! `funnel definitions check`: the definitions against the data — what a RevOps lead
//! must fix before the numbers can be trusted.

use std::collections::BTreeMap;

use polars::prelude::*;

use crate::config::{norm, Config, UnknownValues, PLACEHOLDER_MARK};
use crate::error::Result;
use crate::metrics::model::{collect, lead_funnel, us, Tables};
use crate::metrics::params::{Params, MICROS_PER_DAY};
use crate::model::columns::{LEADS, OPPORTUNITIES, OPPORTUNITY_STAGE_EVENTS, TOUCHES};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
}

impl Severity {
    pub fn name(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Finding {
    pub severity: Severity,
    pub check: &'static str,
    pub detail: String,
}

/// `(value, rows)` pairs of a string column, most frequent first.
fn counts(lf: LazyFrame, column: &str) -> Result<Vec<(String, i64)>> {
    let df = collect(
        lf.group_by([col(column)])
            .agg([len().cast(DataType::Int64).alias("n")])
            .sort(
                ["n", column],
                SortMultipleOptions::default().with_order_descending_multi([true, false]),
            ),
        "definitions check",
    )?;
    let values = crate::frame::strings(&df, column);
    let n = crate::frame::floats(&df, "n");
    Ok(values
        .into_iter()
        .zip(n)
        .map(|(v, n)| (v, n.unwrap_or(0.0) as i64))
        .collect())
}

fn listing(values: &[(String, i64)]) -> String {
    values
        .iter()
        .take(10)
        .map(|(v, n)| format!("`{v}` ({n} rows)"))
        .collect::<Vec<_>>()
        .join(", ")
        + if values.len() > 10 { ", …" } else { "" }
}

/// Checks that need no data: ambiguous mappings, unwritten prose.
pub fn config_findings(c: &Config) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut seen: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for (stage, list) in c.stages.lists() {
        for v in list.iter() {
            let stages = seen.entry(norm(v)).or_default();
            if !stages.contains(&stage) {
                stages.push(stage);
            }
        }
    }
    for (value, stages) in seen.iter().filter(|(_, s)| s.len() > 1) {
        out.push(Finding {
            severity: Severity::Error,
            check: "value_in_two_stages",
            detail: format!(
                "`{value}` is listed under {}; it counts as {} only. Keep it in one list.",
                stages.join(" and "),
                stages[0]
            ),
        });
    }
    let o = &c.opportunity;
    for v in &o.won_stages {
        if o.lost_stages.iter().any(|l| norm(l) == norm(v)) {
            out.push(Finding {
                severity: Severity::Error,
                check: "stage_won_and_lost",
                detail: format!("opportunity stage `{v}` is both won and lost"),
            });
        }
    }
    for e in crate::contract::glossary::entries(c) {
        if e.prose.trim().is_empty() {
            out.push(Finding {
                severity: Severity::Warning,
                check: "empty_definition",
                detail: format!("`[definitions] {}` is empty", e.term.to_lowercase()),
            });
        } else if e.prose.starts_with(PLACEHOLDER_MARK) {
            out.push(Finding {
                severity: Severity::Warning,
                check: "placeholder_definition",
                detail: format!(
                    "`[definitions] {}` still holds funnel init's placeholder",
                    e.term.to_lowercase()
                ),
            });
        }
    }
    if c.mql.sla_hours == 0.0 {
        out.push(Finding {
            severity: Severity::Warning,
            check: "sla_unsatisfiable",
            detail: "`mql.sla_hours` is 0: only an instant acceptance meets it".into(),
        });
    }
    out
}

/// Every check, config and data.
pub fn check(tables: &Tables, p: &Params) -> Result<Vec<Finding>> {
    let c = &p.config;
    let mut out = config_findings(c);
    let unmapped_severity = match c.stages.unknown_values {
        UnknownValues::Error => Severity::Error,
        UnknownValues::Ignore => Severity::Warning,
    };

    // Lifecycle values in the data mapped to nothing (all events, known lead or not).
    if tables.has("lead_stage_events") {
        let unmapped =
            crate::metrics::model::mapped_events(tables, p).filter(col("stage_idx").is_null());
        let values = counts(unmapped, "stage")?;
        if !values.is_empty() {
            out.push(Finding {
                severity: unmapped_severity,
                check: "unmapped_stage_value",
                detail: format!(
                    "lifecycle values mapped to no stage in `[stages]`: {}",
                    listing(&values)
                ),
            });
        }
    }
    if let (Ok(e), Ok(o)) = (
        tables.get(&OPPORTUNITY_STAGE_EVENTS),
        tables.get(&OPPORTUNITIES),
    ) {
        let values = counts(
            crate::metrics::lint::unmapped_opportunity_stages(e, o, p),
            "stage",
        )?;
        if !values.is_empty() {
            out.push(Finding {
                severity: unmapped_severity,
                check: "unmapped_opportunity_stage",
                detail: format!(
                    "opportunity stages not in `[opportunity] stages` (or their pipeline's): {}",
                    listing(&values)
                ),
            });
        }
    }

    // Sources nobody assigned to a team.
    let listed: Vec<String> = c.sources.values().flatten().map(|s| norm(s)).collect();
    let listed = lit(Series::new("".into(), listed)).implode(false);
    let mut sources = Vec::new();
    for table in [&LEADS, &OPPORTUNITIES] {
        if let Ok(lf) = tables.get(table) {
            sources.push(
                lf.filter(col("source").is_not_null())
                    .select([col("source")]),
            );
        }
    }
    if !sources.is_empty() {
        let all = concat(sources, UnionArgs::default())
            .expect("same schema")
            .filter(
                col("source")
                    .str()
                    .to_lowercase()
                    .is_in(listed, false)
                    .not(),
            );
        let values = counts(all, "source")?;
        if !values.is_empty() {
            out.push(Finding {
                severity: Severity::Warning,
                check: "unlisted_source",
                detail: format!(
                    "sources in the data that no `[sources]` team lists (they count as `other`): {}",
                    listing(&values)
                ),
            });
        }
    }

    // Currencies without a rate.
    if tables.has("opportunities") {
        let base = c.currency.base.trim().to_uppercase();
        let mut known: Vec<String> = c
            .currency
            .rates
            .keys()
            .map(|k| k.trim().to_uppercase())
            .collect();
        known.push(base);
        let cur = tables
            .get(&OPPORTUNITIES)?
            .filter(
                col("currency")
                    .is_not_null()
                    .and(col("amount").is_not_null()),
            )
            .with_column(col("currency").str().to_uppercase().alias("currency"))
            .filter(
                col("currency")
                    .is_in(lit(Series::new("".into(), known)).implode(false), false)
                    .not(),
            );
        let values = counts(cur, "currency")?;
        if !values.is_empty() {
            out.push(Finding {
                severity: Severity::Warning,
                check: "currency_without_rate",
                detail: format!(
                    "amounts in currencies without a rate in `[currency] rates` are left out of sums: {}",
                    listing(&values)
                ),
            });
        }
    }

    // Touch actions: does any counted action occur at all?
    if tables.has("touches") {
        let actions: Vec<String> = c.touches.count_actions.iter().map(|a| norm(a)).collect();
        let df = collect(
            tables.get(&TOUCHES)?.select([
                len().cast(DataType::Int64).alias("all"),
                col("action")
                    .str()
                    .to_lowercase()
                    .is_in(lit(Series::new("".into(), actions)).implode(false), false)
                    .cast(DataType::Int64)
                    .sum()
                    .alias("counted"),
            ]),
            "definitions check",
        )?;
        let all = crate::frame::first(&df, "all").unwrap_or(0.0);
        let counted = crate::frame::first(&df, "counted").unwrap_or(0.0);
        if all > 0.0 && counted == 0.0 {
            out.push(Finding {
                severity: Severity::Warning,
                check: "no_counted_touches",
                detail: "no touch in the data has an action listed in `[touches] count_actions`"
                    .into(),
            });
        }
    }

    // A window or SLA no data can satisfy.
    if tables.has("leads") {
        let f = lead_funnel(tables, p);
        let window = c.funnel.conversion_window_days;
        if window > 0 {
            let df = collect(
                f.filter(col("reached_mql").is_not_null()).select([
                    len().cast(DataType::Int64).alias("mqls"),
                    (us("reached_mql") - us("reached_lead"))
                        .lt_eq(lit(i64::from(window) * MICROS_PER_DAY))
                        .cast(DataType::Int64)
                        .sum()
                        .alias("within"),
                ]),
                "definitions check",
            )?;
            let (mqls, within) = (
                crate::frame::first(&df, "mqls").unwrap_or(0.0),
                crate::frame::first(&df, "within").unwrap_or(0.0),
            );
            if mqls > 0.0 && within == 0.0 {
                out.push(Finding {
                    severity: Severity::Warning,
                    check: "window_unsatisfiable",
                    detail: format!(
                        "no lead reached MQL within the {window}-day `conversion_window_days`, though {mqls} reached it later"
                    ),
                });
            }
        }
        if tables.has("lead_stage_events") && c.mql.sla_hours > 0.0 {
            let sla = crate::metrics::touches::sla(tables, p)?;
            let decided = crate::frame::first(&sla, "accepted").unwrap_or(0.0)
                + crate::frame::first(&sla, "rejected").unwrap_or(0.0);
            let due = crate::frame::first(&sla, "due").unwrap_or(0.0);
            let breached = crate::frame::first(&sla, "breached").unwrap_or(0.0);
            if decided > 0.0 && due > 0.0 && breached == due {
                out.push(Finding {
                    severity: Severity::Warning,
                    check: "sla_unsatisfiable",
                    detail: format!(
                        "no MQL in range was decided within the {} h `mql.sla_hours`",
                        c.mql.sla_hours
                    ),
                });
            }
        }
    }
    out.sort_by(|a, b| (a.severity, a.check).cmp(&(b.severity, b.check)));
    Ok(out)
}
