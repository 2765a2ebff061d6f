//! `funnel definitions diff OLD NEW`: the changed rules in plain words, then the
//! headline numbers recomputed on the same warehouse under both files. Possible
//! without a re-ingest because the warehouse stores exported values.

use std::collections::BTreeSet;

use crate::config::{norm, Config};
use crate::metrics::revenue::model_name;

fn set(values: &[String]) -> BTreeSet<String> {
    values.iter().map(|v| v.trim().to_string()).collect()
}

fn num(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v}")
    }
}

/// The rule changes from `old` to `new`, one sentence each.
pub fn changes(old: &Config, new: &Config) -> Vec<String> {
    let mut out = Vec::new();
    calendar_changes(old, new, &mut out);
    stage_changes(old, new, &mut out);
    funnel_changes(old, new, &mut out);
    opportunity_changes(old, new, &mut out);
    attribution_changes(old, new, &mut out);
    currency_changes(old, new, &mut out);
    out.extend(plan_changes(old, new));
    wording_changes(old, new, &mut out);
    out
}

/// The time zone, the fiscal year and the week.
fn calendar_changes(old: &Config, new: &Config, out: &mut Vec<String>) {
    if old.calendar.timezone != new.calendar.timezone {
        out.push(format!(
            "Time zone: {} → {} (naive timestamps are read in it: this change needs a re-ingest)",
            old.calendar.timezone, new.calendar.timezone
        ));
    }
    if old.calendar.fiscal_year_start_month != new.calendar.fiscal_year_start_month {
        out.push(format!(
            "Fiscal year starts in month {} → {}",
            old.calendar.fiscal_year_start_month, new.calendar.fiscal_year_start_month
        ));
    }
    if old.calendar.week_start != new.calendar.week_start {
        out.push(format!(
            "Weeks start on {:?} → {:?}",
            old.calendar.week_start, new.calendar.week_start
        ));
    }
}

/// Each stage value that maps elsewhere, newly or no more, and the rule for unmapped ones.
fn stage_changes(old: &Config, new: &Config, out: &mut Vec<String>) {
    let (before, after) = (old.stages.lists(), new.stages.lists());
    fn find(list: &[(&'static str, &Vec<String>)], value: &str) -> Option<&'static str> {
        list.iter()
            .find(|(_, vs)| vs.iter().any(|v| norm(v) == norm(value)))
            .map(|(s, _)| *s)
    }
    let mut values: BTreeSet<String> = BTreeSet::new();
    for (_, vs) in before.iter().chain(after.iter()) {
        values.extend(vs.iter().cloned());
    }
    let mut reported = BTreeSet::new();
    for v in values {
        if !reported.insert(norm(&v)) {
            continue;
        }
        match (find(&before, &v), find(&after, &v)) {
            (Some(a), Some(b)) if a != b => out.push(format!("'{v}' now maps to {b} (was {a})")),
            (None, Some(b)) => out.push(format!("'{v}' now maps to {b}")),
            (Some(a), None) => out.push(format!("'{v}' no longer maps to a stage (was {a})")),
            _ => {}
        }
    }
    if old.stages.unknown_values != new.stages.unknown_values {
        out.push(format!(
            "Unmapped stage values: {:?} → {:?}",
            old.stages.unknown_values, new.stages.unknown_values
        ));
    }
}

/// The funnel's windows, the MQL rules, which touches count and which sources count for a team.
fn funnel_changes(old: &Config, new: &Config, out: &mut Vec<String>) {
    let f = (&old.funnel, &new.funnel);
    if f.0.skipped_stages != f.1.skipped_stages {
        out.push(format!(
            "Skipped stages: {:?} → {:?}",
            f.0.skipped_stages, f.1.skipped_stages
        ));
    }
    if f.0.conversion_window_days != f.1.conversion_window_days {
        out.push(format!(
            "Conversion window: {} → {} days (0 = unlimited)",
            f.0.conversion_window_days, f.1.conversion_window_days
        ));
    }
    if f.0.maturity_days != f.1.maturity_days {
        out.push(format!(
            "Cohort maturity: {} → {} days",
            f.0.maturity_days, f.1.maturity_days
        ));
    }
    if old.mql.score_threshold != new.mql.score_threshold {
        out.push(format!(
            "MQL score threshold: {} → {}",
            num(old.mql.score_threshold),
            num(new.mql.score_threshold)
        ));
    }
    if old.mql.sla_hours != new.mql.sla_hours {
        out.push(format!(
            "MQL SLA: {} h → {} h",
            num(old.mql.sla_hours),
            num(new.mql.sla_hours)
        ));
    }
    let (a, b) = (
        set(&old.touches.count_actions),
        set(&new.touches.count_actions),
    );
    for x in b.difference(&a) {
        out.push(format!("Touch action '{x}' now counts"));
    }
    for x in a.difference(&b) {
        out.push(format!("Touch action '{x}' no longer counts"));
    }
    if old.touches.dedupe_minutes != new.touches.dedupe_minutes {
        out.push(format!(
            "Touch dedupe: {} → {} minutes",
            old.touches.dedupe_minutes, new.touches.dedupe_minutes
        ));
    }
    let mut teams: BTreeSet<&String> = old.sources.keys().collect();
    teams.extend(new.sources.keys());
    for team in teams {
        let empty = Vec::new();
        let a = set(old.sources.get(team).unwrap_or(&empty));
        let b = set(new.sources.get(team).unwrap_or(&empty));
        for x in b.difference(&a) {
            out.push(format!("Source '{x}' now counts for {team}"));
        }
        for x in a.difference(&b) {
            out.push(format!("Source '{x}' no longer counts for {team}"));
        }
    }
}

/// The opportunity stages, won and lost stages and pipelines.
fn opportunity_changes(old: &Config, new: &Config, out: &mut Vec<String>) {
    let (o, n) = (&old.opportunity, &new.opportunity);
    if o.stages != n.stages {
        out.push(format!(
            "Opportunity stages: {} → {}",
            o.stages.join(", "),
            n.stages.join(", ")
        ));
    }
    if o.won_stages != n.won_stages || o.lost_stages != n.lost_stages {
        out.push(format!(
            "Won/lost stages: {} / {} → {} / {}",
            o.won_stages.join(", "),
            o.lost_stages.join(", "),
            n.won_stages.join(", "),
            n.lost_stages.join(", ")
        ));
    }
    if o.pipelines != n.pipelines {
        out.push("Pipeline stage lists changed".into());
    }
}

/// The attribution model, teams, lookback and half-life.
fn attribution_changes(old: &Config, new: &Config, out: &mut Vec<String>) {
    let (a, b) = (&old.attribution, &new.attribution);
    if a.model != b.model {
        out.push(format!(
            "Headline attribution model: {} → {}",
            model_name(a.model),
            model_name(b.model)
        ));
    }
    if a.touch_teams != b.touch_teams {
        out.push(format!(
            "Attributed touch teams: {} → {}",
            a.touch_teams.join(", "),
            b.touch_teams.join(", ")
        ));
    }
    if a.lookback_days != b.lookback_days {
        out.push(format!(
            "Attribution lookback: {} → {} days",
            a.lookback_days, b.lookback_days
        ));
    }
    if a.half_life_days != b.half_life_days {
        out.push(format!(
            "Time-decay half-life: {} → {} days",
            num(a.half_life_days),
            num(b.half_life_days)
        ));
    }
}

/// The base currency, each rate, and the quota lookback.
fn currency_changes(old: &Config, new: &Config, out: &mut Vec<String>) {
    if old.currency.base != new.currency.base {
        out.push(format!(
            "Base currency: {} → {}",
            old.currency.base, new.currency.base
        ));
    }
    let mut codes: BTreeSet<&String> = old.currency.rates.keys().collect();
    codes.extend(new.currency.rates.keys());
    for code in codes {
        match (old.currency.rates.get(code), new.currency.rates.get(code)) {
            (Some(x), Some(y)) if x != y => {
                out.push(format!("Rate {code}: {} → {}", num(*x), num(*y)))
            }
            (None, Some(y)) => out.push(format!("Rate {code}: none → {}", num(*y))),
            (Some(x), None) => out.push(format!("Rate {code}: {} → none", num(*x))),
            _ => {}
        }
    }
    if old.quota.lookback_days != new.quota.lookback_days {
        out.push(format!(
            "Quota lookback: {} → {} days",
            old.quota.lookback_days, new.quota.lookback_days
        ));
    }
}

/// Each definition whose prose changed.
fn wording_changes(old: &Config, new: &Config, out: &mut Vec<String>) {
    let (x, y) = (
        crate::contract::glossary::entries(old),
        crate::contract::glossary::entries(new),
    );
    for (e, f) in x.iter().zip(&y) {
        if e.prose != f.prose {
            out.push(format!("The {} definition was reworded", e.term));
        }
    }
}

/// The plan's changes, one sentence each: its period, each promise made or
/// withdrawn, and its assumptions.
fn plan_changes(old: &Config, new: &Config) -> Vec<String> {
    let sentences =
        |c: &Config| -> Vec<String> { c.plan.as_ref().map(|p| p.sentences(c)).unwrap_or_default() };
    let (before, after) = (sentences(old), sentences(new));
    let mut out = Vec::new();
    match (&old.plan, &new.plan) {
        (None, Some(_)) => out.push("Plan: added".to_string()),
        (Some(_), None) => out.push("Plan: removed".to_string()),
        _ => {}
    }
    for s in before.iter().filter(|s| !after.contains(s)) {
        out.push(format!("Plan, withdrawn: {s}"));
    }
    for s in after.iter().filter(|s| !before.contains(s)) {
        out.push(format!("Plan, now: {s}"));
    }
    if let (Some(a), Some(b)) = (&old.plan, &new.plan) {
        if a.assumptions != b.assumptions {
            out.push("Plan: the assumptions changed".to_string());
        }
    }
    out
}
