//! The glossary: each definition's prose from `[definitions]` beside the rules that
//! implement it, as Markdown (`funnel definitions`, `definitions.md`, the report).

use crate::config::{Config, PLACEHOLDER_MARK};

fn list(values: &[String]) -> String {
    if values.is_empty() {
        "(none)".into()
    } else {
        values
            .iter()
            .map(|v| format!("`{v}`"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// One glossary entry: term, prose, rules.
pub struct Entry {
    pub term: &'static str,
    pub prose: String,
    pub rules: Vec<String>,
}

pub fn entries(c: &Config) -> Vec<Entry> {
    let d = &c.definitions;
    let s = &c.stages;
    let window = if c.funnel.conversion_window_days == 0 {
        "no conversion window".to_string()
    } else {
        format!(
            "conversions count within {} days",
            c.funnel.conversion_window_days
        )
    };
    let skipped = match c.funnel.skipped_stages {
        crate::config::SkippedStages::Backfill => {
            "reaching a stage counts as reaching every earlier one (backfill)"
        }
        crate::config::SkippedStages::Strict => "only stages actually recorded count (strict)",
    };
    vec![
        Entry {
            term: "Lead",
            prose: d.lead.clone(),
            rules: vec![
                format!("lifecycle values {} or a record in `leads` (its `created_at`)", list(&s.lead)),
                format!("{skipped}; {window}"),
            ],
        },
        Entry {
            term: "MQL",
            prose: d.mql.clone(),
            rules: vec![
                format!("lifecycle values {}", list(&s.mql)),
                format!(
                    "score threshold {} — not enforced: the tables carry no lead score, so an MQL is the CRM's own lifecycle value above",
                    c.mql.score_threshold
                ),
                format!(
                    "marketing touches that count: actions {}{}",
                    list(&c.touches.count_actions),
                    if c.touches.dedupe_minutes > 0 {
                        format!(", repeats within {} minutes ignored", c.touches.dedupe_minutes)
                    } else {
                        String::new()
                    }
                ),
            ],
        },
        Entry {
            term: "SAL",
            prose: d.sal.clone(),
            rules: vec![
                format!("lifecycle values {}", list(&s.sal)),
                format!(
                    "SLA: each MQL accepted or rejected within {} hours (a later stage counts as acceptance)",
                    c.mql.sla_hours
                ),
            ],
        },
        Entry { term: "SQL", prose: d.sql.clone(), rules: vec![format!("lifecycle values {}", list(&s.sql))] },
        Entry { term: "Contact", prose: d.contact.clone(), rules: vec!["people in `leads`, whatever their stage".into()] },
        Entry {
            term: "Opportunity",
            prose: d.opportunity.clone(),
            rules: vec![
                format!("lifecycle values {}, or an opportunity linked to the lead", list(&s.opportunity)),
                format!("stages in order: {}", list(&c.opportunity.stages)),
                format!("won: {}; lost: {}", list(&c.opportunity.won_stages), list(&c.opportunity.lost_stages)),
            ],
        },
        Entry {
            term: "Customer",
            prose: d.customer.clone(),
            rules: vec![format!(
                "lifecycle values {}, or a linked opportunity with status `won` and a close time",
                list(&s.customer)
            )],
        },
        Entry {
            term: "Recycled",
            prose: d.recycled.clone(),
            rules: vec![format!(
                "lifecycle values {}: a rejected MQL back in nurture; a later MQL starts a new SLA episode",
                list(&s.recycled)
            )],
        },
        Entry {
            term: "Disqualified",
            prose: d.disqualified.clone(),
            rules: vec![format!("lifecycle values {}: a rejected MQL out of the funnel", list(&s.disqualified))],
        },
    ]
}

/// The glossary and the other rules as Markdown.
pub fn markdown(c: &Config, hash: &str) -> String {
    let mut out = String::from("# Funnel definitions\n\n");
    out.push_str(&format!(
        "Definitions hash `{hash}` · time zone {} · base currency {}\n\n",
        c.calendar.timezone, c.currency.base
    ));
    if let Some(a) = &c.approval {
        let teams: Vec<String> = a
            .teams
            .iter()
            .map(|(t, x)| format!("{t}: {} on {}", x.by, x.on))
            .collect();
        out.push_str(&format!(
            "Approval{}: {}\n\n",
            a.version
                .map(|v| format!(" (version {v})"))
                .unwrap_or_default(),
            if teams.is_empty() {
                "none recorded".into()
            } else {
                teams.join("; ")
            }
        ));
    }
    out.push_str("## Glossary\n\n");
    for e in entries(c) {
        out.push_str(&format!("### {}\n\n", e.term));
        if e.prose.starts_with(PLACEHOLDER_MARK) {
            out.push_str(
                "> **Not reviewed yet** — replace the placeholder in `[definitions]`.\n>\n",
            );
        }
        out.push_str(&format!("> {}\n\n", e.prose));
        for r in &e.rules {
            out.push_str(&format!("- {r}\n"));
        }
        out.push('\n');
    }
    out.push_str("## Other rules\n\n");
    let sources: Vec<String> = c
        .sources
        .iter()
        .map(|(t, v)| format!("{t}: {}", list(v)))
        .collect();
    out.push_str(&format!(
        "- Lead sources by team: {}; anything else is `other`.\n",
        sources.join("; ")
    ));
    out.push_str(&format!(
        "- Attribution: headline model `{}`, touches of teams {}, {}-day lookback, time-decay half-life {} days.\n",
        crate::metrics::revenue::model_name(c.attribution.model),
        list(&c.attribution.touch_teams),
        c.attribution.lookback_days,
        c.attribution.half_life_days
    ));
    out.push_str(&format!(
        "- Cohorts are mature {} days after they end; quota coverage and the reverse funnel use the last {} days.\n",
        c.funnel.maturity_days.max(c.funnel.conversion_window_days),
        c.quota.lookback_days
    ));
    let rates: Vec<String> = c
        .currency
        .rates
        .iter()
        .map(|(k, v)| format!("1 {k} = {v} {}", c.currency.base))
        .collect();
    out.push_str(&format!(
        "- Currency rates: {}.\n",
        if rates.is_empty() {
            "none (amounts in other currencies are left out)".into()
        } else {
            rates.join(", ")
        }
    ));
    out.push_str(&format!(
        "- Unmapped stage values: {}.\n",
        match c.stages.unknown_values {
            crate::config::UnknownValues::Ignore => "left out of metrics and reported by lint",
            crate::config::UnknownValues::Error => "metrics refuse to run",
        }
    ));
    out.push_str(&plan_markdown(c));
    out
}

/// The plan in words, with its assumptions: part of what both teams sign.
pub fn plan_markdown(c: &Config) -> String {
    let mut out = String::from("\n## The plan\n\n");
    let Some(plan) = &c.plan else {
        out.push_str("No plan yet: `funnel plan draft --period 2027-Q1 --bookings 2500000` drafts one from the data for both teams to edit and sign.\n");
        return out;
    };
    let fiscal = c.calendar.fiscal_year_start_month;
    if let Ok(period) = plan.period(fiscal) {
        out.push_str(&format!(
            "Period {}: {} to {} ({} days, {}).\n\n",
            plan.label(fiscal),
            period.start,
            period.end,
            period.days(),
            c.calendar.timezone
        ));
    }
    for sentence in plan.sentences(c) {
        out.push_str(&format!("- {sentence}\n"));
    }
    let a = &plan.assumptions;
    if !a.is_empty() {
        let mut parts = Vec::new();
        if let Some(d) = a.avg_deal {
            parts.push(format!("average deal {d} {}", c.currency.base));
        }
        for (step, rate) in &a.rates {
            parts.push(format!("{} {rate}", step.replace('>', " → ")));
        }
        out.push_str(&format!("\nAssumptions: {}.\n", parts.join("; ")));
    }
    out
}
