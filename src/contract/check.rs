//! `funnel definitions check`: the definitions against the data — what a RevOps lead
//! must fix before the numbers can be trusted.

use std::collections::BTreeMap;

use polars::prelude::*;

use crate::config::{norm, Config, UnknownValues, PLACEHOLDER_MARK};
use crate::error::{PolarsContext, Result};
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
    let mut teams_of: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for (team, sources) in &c.sources {
        for s in sources {
            teams_of.entry(norm(s)).or_default().push(team);
        }
    }
    for (source, teams) in teams_of.iter().filter(|(_, t)| t.len() > 1) {
        out.push(Finding {
            severity: Severity::Error,
            check: "source_in_two_teams",
            detail: format!(
                "source `{source}` is listed under the teams {} in `[sources]`; keep it under one",
                teams.join(" and ")
            ),
        });
    }
    if !c.mql.score_threshold.is_finite() {
        out.push(Finding {
            severity: Severity::Error,
            check: "score_threshold_not_a_number",
            detail: format!(
                "`mql.score_threshold` is {}; give a number",
                c.mql.score_threshold
            ),
        });
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

/// Refuses to compute numbers under definitions that contradict themselves (a value
/// under two stages, a stage both won and lost, a source under two teams, a
/// threshold that is not a number): the same errors `definitions check` reports,
/// binding on every command that computes a number.
pub fn refuse_contradictions(c: &Config) -> Result<()> {
    let errors: Vec<String> = config_findings(c)
        .into_iter()
        .filter(|f| f.severity == Severity::Error)
        .map(|f| format!("{}: {}", f.check, f.detail))
        .collect();
    if errors.is_empty() {
        return Ok(());
    }
    Err(crate::error::Error::Usage(format!(
        "the definitions contradict themselves, so no number is computed:\n  {}\nfix funnel.toml (`funnel definitions check` lists every finding)",
        errors.join("\n  ")
    )))
}

/// Every check, config and data.
pub fn check(tables: &Tables, p: &Params) -> Result<Vec<Finding>> {
    let mut out = config_findings(&p.config);
    for check in DATA_CHECKS {
        out.extend(check(tables, p)?);
    }
    out.sort_by(|a, b| (a.severity, a.check).cmp(&(b.severity, b.check)));
    Ok(out)
}

/// A check of the definitions against the data: its finding, if any.
type DataCheck = fn(&Tables, &Params) -> Result<Option<Finding>>;

const DATA_CHECKS: &[DataCheck] = &[
    unmapped_stage_value,
    unmapped_opportunity_stage,
    unlisted_source,
    currency_without_rate,
    no_counted_touches,
    window_unsatisfiable,
    sla_unsatisfiable,
];

/// How serious an unmapped value is: an error when metrics refuse to run with one.
fn unmapped_severity(p: &Params) -> Severity {
    match p.config.stages.unknown_values {
        UnknownValues::Error => Severity::Error,
        UnknownValues::Ignore => Severity::Warning,
    }
}

/// Lifecycle values in the data mapped to nothing (all events, known lead or not).
fn unmapped_stage_value(tables: &Tables, p: &Params) -> Result<Option<Finding>> {
    if !tables.has("lead_stage_events") {
        return Ok(None);
    }
    let unmapped =
        crate::metrics::model::mapped_events(tables, p).filter(col("stage_idx").is_null());
    let values = counts(unmapped, "stage")?;
    Ok((!values.is_empty()).then(|| Finding {
        severity: unmapped_severity(p),
        check: "unmapped_stage_value",
        detail: format!(
            "lifecycle values mapped to no stage in `[stages]`: {}",
            listing(&values)
        ),
    }))
}

/// Opportunity stages not in their pipeline's stage list.
fn unmapped_opportunity_stage(tables: &Tables, p: &Params) -> Result<Option<Finding>> {
    let (Ok(e), Ok(o)) = (
        tables.get(&OPPORTUNITY_STAGE_EVENTS),
        tables.get(&OPPORTUNITIES),
    ) else {
        return Ok(None);
    };
    let values = counts(
        crate::metrics::lint::unmapped_opportunity_stages(e, o, p),
        "stage",
    )?;
    Ok((!values.is_empty()).then(|| Finding {
        severity: unmapped_severity(p),
        check: "unmapped_opportunity_stage",
        detail: format!(
            "opportunity stages not in `[opportunity] stages` (or their pipeline's): {}",
            listing(&values)
        ),
    }))
}

/// Sources nobody assigned to a team.
fn unlisted_source(tables: &Tables, p: &Params) -> Result<Option<Finding>> {
    let listed = lit(Series::new("".into(), p.config.listed_sources())).implode(false);
    let sources: Vec<LazyFrame> = [&LEADS, &OPPORTUNITIES]
        .into_iter()
        .filter_map(|t| tables.get(t).ok())
        .map(|lf| {
            lf.filter(col("source").is_not_null())
                .select([col("source")])
        })
        .collect();
    if sources.is_empty() {
        return Ok(None);
    }
    let all = concat(sources, UnionArgs::default())
        .context(|| "definitions check".to_string())?
        .filter(
            col("source")
                .str()
                .to_lowercase()
                .is_in(listed, false)
                .not(),
        );
    let values = counts(all, "source")?;
    Ok((!values.is_empty()).then(|| Finding {
        severity: Severity::Warning,
        check: "unlisted_source",
        detail: format!(
            "sources in the data that no `[sources]` team lists (they count as `other`): {}",
            listing(&values)
        ),
    }))
}

/// Amounts in currencies without a rate to the base currency.
fn currency_without_rate(tables: &Tables, p: &Params) -> Result<Option<Finding>> {
    let Ok(opps) = tables.get(&OPPORTUNITIES) else {
        return Ok(None);
    };
    let c = &p.config;
    let mut known: Vec<String> = c
        .currency
        .rates
        .keys()
        .map(|k| k.trim().to_uppercase())
        .collect();
    known.push(c.currency.base.trim().to_uppercase());
    let cur = opps
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
    Ok((!values.is_empty()).then(|| Finding {
        severity: Severity::Warning,
        check: "currency_without_rate",
        detail: format!(
            "amounts in currencies without a rate in `[currency] rates` are left out of sums: {}",
            listing(&values)
        ),
    }))
}

/// Touches exist, but none has an action `[touches] count_actions` counts.
fn no_counted_touches(tables: &Tables, p: &Params) -> Result<Option<Finding>> {
    let Ok(touches) = tables.get(&TOUCHES) else {
        return Ok(None);
    };
    let actions = p.config.counted_actions();
    let df = collect(
        touches.select([
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
    Ok((all > 0.0 && counted == 0.0).then(|| Finding {
        severity: Severity::Warning,
        check: "no_counted_touches",
        detail: "no touch in the data has an action listed in `[touches] count_actions`".into(),
    }))
}

/// A conversion window no lead's MQL fell within.
fn window_unsatisfiable(tables: &Tables, p: &Params) -> Result<Option<Finding>> {
    let window = p.config.funnel.conversion_window_days;
    if !tables.has("leads") || window == 0 {
        return Ok(None);
    }
    let df = collect(
        lead_funnel(tables, p)
            .filter(col("reached_mql").is_not_null())
            .select([
                len().cast(DataType::Int64).alias("mqls"),
                (us("reached_mql") - us("reached_lead"))
                    .lt_eq(lit(i64::from(window) * MICROS_PER_DAY))
                    .cast(DataType::Int64)
                    .sum()
                    .alias("within"),
            ]),
        "definitions check",
    )?;
    let mqls = crate::frame::first(&df, "mqls").unwrap_or(0.0);
    let within = crate::frame::first(&df, "within").unwrap_or(0.0);
    Ok((mqls > 0.0 && within == 0.0).then(|| Finding {
        severity: Severity::Warning,
        check: "window_unsatisfiable",
        detail: format!(
            "no lead reached MQL within the {window}-day `conversion_window_days`, though {mqls} reached it later"
        ),
    }))
}

/// An SLA no decided MQL in range met.
fn sla_unsatisfiable(tables: &Tables, p: &Params) -> Result<Option<Finding>> {
    let hours = p.config.mql.sla_hours;
    if !tables.has("leads") || !tables.has("lead_stage_events") || hours <= 0.0 {
        return Ok(None);
    }
    let sla = crate::metrics::touches::sla(tables, p)?;
    let decided = crate::frame::first(&sla, "accepted").unwrap_or(0.0)
        + crate::frame::first(&sla, "rejected").unwrap_or(0.0);
    let due = crate::frame::first(&sla, "due").unwrap_or(0.0);
    let breached = crate::frame::first(&sla, "breached").unwrap_or(0.0);
    Ok(
        (decided > 0.0 && due > 0.0 && breached == due).then(|| Finding {
            severity: Severity::Warning,
            check: "sla_unsatisfiable",
            detail: format!("no MQL in range was decided within the {hours} h `mql.sla_hours`"),
        }),
    )
}
