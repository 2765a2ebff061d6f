//! The figures of the report, each built from computed metric frames only: the
//! report never recomputes a number. Which metric has which figure is the metric
//! registry's word ([`crate::metrics::registry`]).

use std::collections::BTreeMap;

use polars::prelude::DataFrame;

use super::chart::{human, Chart, HBarStyle, Kind, Panel, Reference, Series};
use crate::frame::{filter_eq, first, floats, strings};
use crate::metrics::registry::{Figure, METRICS};

/// What every footnote says: range, as-of and definitions hash.
pub struct Notes {
    pub range: String,
    pub as_of: String,
    pub hash: String,
    pub window_days: u32,
    pub sla_hours: f64,
    pub model: String,
    /// The teams whose touches earn attribution credit, in words ("marketing").
    pub touch_teams: String,
    /// Where `changes` starts.
    pub since: String,
    /// The close-date window `changes` watches, when a range was given.
    pub window: Option<String>,
    /// The `--where` filters in words (`owner_id = R0003`), empty when none: every
    /// chart names them first under its title.
    pub filters: String,
}

impl Notes {
    fn foot(&self, basis: &str) -> String {
        self.note(basis, false)
    }

    /// With `funnel`, the conversion window is part of the basis.
    fn note(&self, basis: &str, funnel: bool) -> String {
        let window = match (funnel, self.window_days) {
            (false, _) => String::new(),
            (true, 0) => " · no conversion window".to_string(),
            (true, d) => format!(" · {d}-day conversion window"),
        };
        format!(
            "Basis: {basis}{window} · range {} · as of {} · definitions {}",
            self.range,
            self.as_of,
            &self.hash[..12.min(self.hash.len())]
        )
    }
}

/// Metric frames keyed by name; `<name>:histogram`, `<name>:quarter`, `<name>:channel`
/// hold the variants figures need.
pub type Frames = BTreeMap<String, DataFrame>;

/// A rate as tiles and tables write it (`crate::text::percent`), or `—`.
fn pct(v: Option<f64>) -> String {
    v.map(crate::text::percent).unwrap_or_else(|| "—".into())
}

/// A count as tiles and tables write it (`1,234`), or `—`.
fn count(v: Option<f64>) -> String {
    v.map(thousands).unwrap_or_else(|| "—".into())
}

/// Days as tiles write them (one decimal), or `—`.
fn days(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.1}")).unwrap_or_else(|| "—".into())
}

fn thousands(v: f64) -> String {
    crate::text::thousands(v.round().max(0.0) as u64)
}

/// Draws a figure from the frames, or None when its metric's frames are missing.
type Builder = fn(&Frames, &Notes) -> Option<Chart>;

/// Every figure of the metric registry ([`Figure::Chart`]) with its builder, and
/// no other: a test holds the two together.
const BUILDERS: &[(&str, Builder)] = &[
    ("waterfall", |f, n| waterfall(f.get("waterfall")?, n)),
    ("conversion", |f, n| conversion(f.get("conversion")?, n)),
    ("funnel-time", |f, n| funnel_time(f.get("funnel-time")?, n)),
    ("sales-cycle", |f, n| {
        sales_cycle(f.get("cycle:histogram")?, f.get("cycle")?, n)
    }),
    ("stage-time", |f, n| stage_time(f.get("stage-time")?, n)),
    ("touches-to-mql", |f, n| {
        touches(f.get("touches:histogram")?, f.get("touches")?, n)
    }),
    ("sla", |f, n| sla(f.get("sla:histogram")?, f.get("sla")?, n)),
    ("quota", |f, n| quota(f.get("quota")?, n)),
    ("reverse-funnel", |f, n| {
        reverse_funnel(f.get("reverse-funnel")?, n)
    }),
    ("revenue-share", |f, n| {
        revenue_share(f.get("revenue-share:quarter")?, n)
    }),
    ("attribution", |f, n| attribution(f.get("attribution")?, n)),
    ("campaign-cost", |f, n| {
        campaign_cost(f.get("campaign-cost:channel")?, n)
    }),
    ("pipeline-bridge", |f, n| {
        pipeline_bridge(f.get("changes")?, n)
    }),
];

/// The figure names, in report order.
pub fn names() -> Vec<&'static str> {
    METRICS
        .iter()
        .filter_map(|m| match m.figure {
            Figure::Chart(name) => Some(name),
            Figure::None => None,
        })
        .collect()
}

/// Builds figure `name`, or None when its metric was not computed.
pub fn figure(name: &str, frames: &Frames, n: &Notes) -> Option<Chart> {
    let (_, build) = BUILDERS.iter().find(|(f, _)| *f == name)?;
    let mut chart = build(frames, n)?;
    // Named first under the title (the title itself is full at slide size).
    if !n.filters.is_empty() {
        chart.subtitle = format!("Only {} · {}", n.filters, chart.subtitle);
    }
    Some(chart)
}

fn waterfall(df: &DataFrame, n: &Notes) -> Option<Chart> {
    let stages = strings(df, "stage");
    let reached = floats(df, "reached");
    let step = floats(df, "step_rate");
    let labels = reached
        .iter()
        .zip(&step)
        .map(|(r, s)| match (r, s) {
            (Some(r), Some(s)) => format!("{} ({} of previous)", thousands(*r), pct(Some(*s))),
            (Some(r), None) => thousands(*r),
            _ => String::new(),
        })
        .collect();
    let leads = reached.first().copied().flatten().unwrap_or(0.0);
    let customers = reached.last().copied().flatten().unwrap_or(0.0);
    Some(Chart {
        title: "Funnel: how far this period's leads got".into(),
        subtitle: format!(
            "{} leads; {} became customers ({} overall)",
            thousands(leads),
            thousands(customers),
            pct(floats(df, "cumulative_rate").last().copied().flatten())
        ),
        x_desc: "funnel stage".into(),
        y_desc: "leads reaching the stage".into(),
        footnote: n.note("cohort of leads created in range", true),
        percent: false,
        kind: Kind::Bars {
            categories: stages,
            series: vec![Series::new("leads", reached).labelled(labels)],
            reference: None,
        },
    })
}

/// One panel per stage pair (small multiples on one rate axis each), cohorts along
/// x; an immature cohort, still converting, is an open marker on a dashed line.
fn conversion(df: &DataFrame, n: &Notes) -> Option<Chart> {
    let cohorts: Vec<String> = {
        let mut c = strings(df, "cohort");
        c.dedup();
        c
    };
    let from = strings(df, "from_stage");
    let to = strings(df, "to_stage");
    let rate = floats(df, "rate");
    let mature = strings(df, "mature");
    let cohort_col = strings(df, "cohort");
    let mut pairs: Vec<(String, String)> = Vec::new();
    for (a, b) in from.iter().zip(&to) {
        if !pairs.iter().any(|(x, y)| x == a && y == b) {
            pairs.push((a.clone(), b.clone()));
        }
    }
    if pairs.is_empty() {
        return None;
    }
    let labels: Vec<String> = cohorts
        .iter()
        .map(|c| c.get(..7).unwrap_or(c).to_string())
        .collect();
    let row = |c: &str, a: &str, b: &str| {
        (0..df.height()).find(|i| cohort_col[*i] == c && from[*i] == a && to[*i] == b)
    };
    let panels = pairs
        .iter()
        .map(|(a, b)| {
            let values = cohorts
                .iter()
                .map(|c| row(c, a, b).and_then(|i| rate[i]))
                .collect();
            let hollow = cohorts
                .iter()
                .map(|c| row(c, a, b).is_some_and(|i| mature[i] == "false"))
                .collect();
            Panel {
                title: format!(
                    "{} → {}",
                    crate::text::stage_label(a),
                    crate::text::stage_label(b)
                ),
                x_desc: String::new(),
                kind: Kind::Lines {
                    categories: labels.clone(),
                    series: vec![Series::new(format!("{a}→{b}"), values)],
                    hollow,
                },
            }
        })
        .collect();
    Some(Chart {
        title: "Conversion by monthly cohort, one panel per step".into(),
        subtitle: "Share of each month's cohort that reached the next stage · open markers, dashed: immature cohorts, still converting".into(),
        x_desc: String::new(),
        y_desc: "converted".into(),
        footnote: n.note("monthly cohorts by reach time of the first stage", true),
        percent: true,
        kind: Kind::Panels { panels },
    })
}

fn funnel_time(df: &DataFrame, n: &Notes) -> Option<Chart> {
    let from = strings(df, "from_stage");
    let to = strings(df, "to_stage");
    let categories = from
        .iter()
        .zip(&to)
        .map(|(a, b)| format!("{a}→{b}"))
        .collect();
    Some(Chart {
        title: "Days between funnel stages".into(),
        subtitle: "Median and 90th percentile, for steps completed in range".into(),
        x_desc: "funnel step".into(),
        y_desc: "days".into(),
        footnote: n.foot("leads reaching the later stage in range"),
        percent: false,
        kind: Kind::Bars {
            categories,
            series: vec![
                Series::new("median", floats(df, "median_days")),
                Series::new("90th percentile", floats(df, "p90_days")),
            ],
            reference: None,
        },
    })
}

fn bins(df: &DataFrame) -> Vec<(f64, f64, f64)> {
    let a = floats(df, "bin_start");
    let b = floats(df, "bin_end");
    let c = floats(df, "count");
    (0..df.height())
        .filter_map(|i| Some((a[i]?, b[i]?, c[i]?)))
        .collect()
}

fn sales_cycle(hist: &DataFrame, stats: &DataFrame, n: &Notes) -> Option<Chart> {
    let hist = filter_eq(hist, "measure", "sales_cycle");
    let s = filter_eq(stats, "measure", "sales_cycle");
    Some(Chart {
        title: "Sales cycle: days from opportunity to win".into(),
        subtitle: format!(
            "{} won opportunities · median {} days · 90 % close within {} days",
            count(first(&s, "count")),
            days(first(&s, "median_days")),
            days(first(&s, "p90_days")),
        ),
        x_desc: "days from created to won".into(),
        y_desc: "won opportunities".into(),
        footnote: n.foot("won opportunities closed in range"),
        percent: false,
        kind: Kind::Histogram {
            bins: bins(&hist),
            reference: None,
        },
    })
}

fn stage_time(df: &DataFrame, n: &Notes) -> Option<Chart> {
    // Terminal stages have no durations: the chart shows the stages with stays.
    let stays = floats(df, "stays");
    let keep: Vec<usize> = (0..df.height())
        .filter(|i| stays[*i].unwrap_or(0.0) > 0.0)
        .collect();
    let pick = |v: Vec<Option<f64>>| keep.iter().map(|i| v[*i]).collect::<Vec<_>>();
    let stages = strings(df, "stage");
    Some(Chart {
        title: "Days opportunities spend in each stage".into(),
        subtitle: format!(
            "Median and 90th percentile of completed stays · {} regressions to an earlier stage",
            human(floats(df, "regressions").iter().flatten().sum(), false)
        ),
        x_desc: "opportunity stage".into(),
        y_desc: "days in stage".into(),
        footnote: n.foot("stays that ended in range"),
        percent: false,
        kind: Kind::Bars {
            categories: keep.iter().map(|i| stages[*i].clone()).collect(),
            series: vec![
                Series::new("median", pick(floats(df, "median_days"))),
                Series::new("90th percentile", pick(floats(df, "p90_days"))),
            ],
            reference: None,
        },
    })
}

fn touches(hist: &DataFrame, stats: &DataFrame, n: &Notes) -> Option<Chart> {
    let hist = filter_eq(hist, "milestone", "mql");
    let s = filter_eq(stats, "milestone", "mql");
    Some(Chart {
        title: "Marketing touches before becoming an MQL".into(),
        subtitle: format!(
            "{} MQLs · median {} touches · {} with none",
            count(first(&s, "leads")),
            first(&s, "median_touches")
                .map(|v| human(v, false))
                .unwrap_or_else(|| "—".into()),
            count(first(&s, "zero_touch_leads"))
        ),
        x_desc: "marketing touches up to the MQL".into(),
        y_desc: "MQLs".into(),
        footnote: n.foot("leads reaching MQL in range"),
        percent: false,
        kind: Kind::Histogram {
            bins: bins(&hist),
            reference: None,
        },
    })
}

fn sla(hist: &DataFrame, stats: &DataFrame, n: &Notes) -> Option<Chart> {
    Some(Chart {
        title: format!(
            "MQL response time vs the {} h SLA",
            human(n.sla_hours, false)
        ),
        subtitle: format!(
            "{} within SLA · {} of {} due episodes breached · {} pending",
            pct(first(stats, "within_sla_rate")),
            count(first(stats, "breached")),
            count(first(stats, "due")),
            count(first(stats, "pending")),
        ),
        x_desc: "hours from MQL to acceptance or rejection".into(),
        y_desc: "MQL episodes".into(),
        footnote: n.foot("MQL episodes starting in range"),
        percent: false,
        kind: Kind::Histogram {
            bins: bins(hist),
            reference: Some(Reference {
                value: n.sla_hours,
                label: format!("SLA {} h", human(n.sla_hours, false)),
            }),
        },
    })
}

/// The most reps the quota chart draws (the lowest attainment first in, so that
/// the reps who need attention are never the ones left out).
const QUOTA_REPS: usize = 20;

/// The coverage axis ends here: a rep with 6× the quota still open in pipeline is
/// labelled, not drawn to scale.
const COVERAGE_CAP: f64 = 3.0;

/// Three panels over the same reps, sorted by attainment in the current quota
/// period: that period's attainment against the share of it elapsed (pacing), the
/// previous period's attainment against quota, and the current coverage (open
/// pipeline ÷ quota still open) on a capped axis.
fn quota(df: &DataFrame, n: &Notes) -> Option<Chart> {
    let starts = strings(df, "period_start");
    let current = starts.iter().max()?.clone();
    let previous = starts.iter().filter(|s| **s < current).max().cloned();
    let cur = filter_eq(df, "period_start", &current);
    let end = strings(&cur, "period_end")
        .first()
        .cloned()
        .unwrap_or_default();
    let (idx, total) = quota_reps(&cur);
    let reps: Vec<String> = {
        let owners = strings(&cur, "owner_id");
        idx.iter().map(|i| owners[*i].clone()).collect()
    };
    let pick = |v: Vec<Option<f64>>| idx.iter().map(|i| v[*i]).collect::<Vec<_>>();
    let now = pick(floats(&cur, "attainment"));
    // Coverage is undefined once the quota is met: nothing is left to cover.
    let remaining = pick(floats(&cur, "remaining"));
    let coverage: Vec<Option<f64>> = pick(floats(&cur, "coverage"))
        .into_iter()
        .zip(remaining)
        .map(|(c, r)| if r == Some(0.0) { None } else { c })
        .collect();
    let pace = elapsed_share(&current, &end, &n.as_of).map(|e| Reference {
        value: e,
        label: format!("on pace: {} of the period gone", crate::text::percent(e)),
    });
    let mut panels = vec![rep_panel(
        format!("This period, from {current}"),
        "attainment (won ÷ quota)",
        &reps,
        now,
        pace,
        "no quota",
    )];
    if let Some(p) = &previous {
        let prev = filter_eq(df, "period_start", p);
        let (who, a) = (strings(&prev, "owner_id"), floats(&prev, "attainment"));
        let earlier = reps
            .iter()
            .map(|r| who.iter().position(|w| w == r).and_then(|i| a[i]))
            .collect();
        let quota = Reference {
            value: 1.0,
            label: "quota".into(),
        };
        panels.push(rep_panel(
            format!("Previous period, from {p}"),
            "attainment (won ÷ quota)",
            &reps,
            earlier,
            Some(quota),
            "no quota then",
        ));
    }
    let open = Reference {
        value: 1.0,
        label: "pipeline = quota open".into(),
    };
    panels.push(rep_panel(
        "Coverage of the quota still open".into(),
        "open pipeline ÷ quota still open",
        &reps,
        coverage,
        Some(open),
        "quota met",
    ));
    Some(Chart {
        title: match reps.as_slice() {
            [one] => format!("Quota attainment, pace and coverage, {one}"),
            _ => "Quota attainment, pace and coverage".into(),
        },
        subtitle: quota_subtitle(total),
        x_desc: String::new(),
        y_desc: String::new(),
        footnote: n.foot("won deals closed in each quota period; pipeline open at the as-of"),
        percent: true,
        kind: Kind::Panels { panels },
    })
}

/// The rows of the reps drawn, highest attainment first (the lowest
/// [`QUOTA_REPS`] when there are more), and how many reps there are.
fn quota_reps(cur: &DataFrame) -> (Vec<usize>, usize) {
    let owners = strings(cur, "owner_id");
    let att = floats(cur, "attainment");
    let mut idx: Vec<usize> = (0..cur.height()).collect();
    idx.sort_by(|a, b| {
        let key = |i: usize| att[i].unwrap_or(f64::MAX);
        key(*a)
            .total_cmp(&key(*b))
            .then(owners[*a].cmp(&owners[*b]))
    });
    let total = idx.len();
    idx.truncate(QUOTA_REPS);
    idx.reverse();
    (idx, total)
}

fn quota_subtitle(total: usize) -> String {
    format!(
        "{total} rep{}{} · axes end at {:.0} % (a longer bar is marked ›)",
        if total == 1 {
            ""
        } else {
            "s, highest attainment first"
        },
        if total > QUOTA_REPS {
            format!(" ({QUOTA_REPS} lowest attainment shown)")
        } else {
            String::new()
        },
        COVERAGE_CAP * 100.0,
    )
}

/// One panel of the quota chart: a rate per rep, in percent, on an axis capped at
/// [`COVERAGE_CAP`], against `line`.
fn rep_panel(
    title: String,
    x_desc: &str,
    reps: &[String],
    values: Vec<Option<f64>>,
    line: Option<Reference>,
    missing: &str,
) -> Panel {
    let labels = values
        .iter()
        .map(|x| x.map(crate::text::percent).unwrap_or_default())
        .collect();
    Panel {
        title,
        x_desc: x_desc.into(),
        kind: Kind::HBars {
            categories: reps.to_vec(),
            series: Series::new("value", values).labelled(labels),
            bars: HBarStyle {
                reference: line,
                cap: Some(COVERAGE_CAP),
                missing: missing.into(),
                one_colour: true,
            },
        },
    }
}

/// The share of a quota period's days (`start`..=`end`, dates) up to and including
/// the as-of's date; None when a date does not parse.
fn elapsed_share(start: &str, end: &str, as_of: &str) -> Option<f64> {
    let date = |s: &str| chrono::NaiveDate::parse_from_str(s.get(..10)?, "%Y-%m-%d").ok();
    let (start, end, today) = (date(start)?, date(end)?, date(as_of)?);
    let days = (end - start).num_days() + 1;
    let gone = ((today - start).num_days() + 1).clamp(0, days);
    (days > 0).then(|| gone as f64 / days as f64)
}

fn reverse_funnel(df: &DataFrame, n: &Notes) -> Option<Chart> {
    // One rep's frame (`--where owner_id=…`) is drawn for that rep, not the company.
    let owners: Vec<String> = strings(df, "owner_id")
        .into_iter()
        .filter(|o| o != "all")
        .collect();
    let (all, whose) = match owners.as_slice() {
        [one] => (filter_eq(df, "owner_id", one), format!("{one}'s")),
        _ => (filter_eq(df, "owner_id", "all"), "the".to_string()),
    };
    if all.height() == 0 {
        return None;
    }
    let steps = [
        ("wins", "wins_needed"),
        ("opportunities", "opportunities_needed"),
        ("SQLs", "sqls_needed"),
        ("SALs", "sals_needed"),
        ("MQLs", "mqls_needed"),
        ("leads", "leads_needed"),
    ];
    let values: Vec<Option<f64>> = steps.iter().map(|(_, c)| first(&all, c)).collect();
    let deadline = strings(&all, "mql_deadline")
        .first()
        .cloned()
        .unwrap_or_default();
    Some(Chart {
        title: format!(
            "What closing {whose} gap takes: {} of quota still open",
            human(first(&all, "remaining").unwrap_or(0.0), false)
        ),
        subtitle: if deadline.is_empty() {
            "Working back from the average deal, win rate and cohort conversion rates".into()
        } else {
            format!(
                "MQLs must arrive by {deadline} to close in the period (median MQL→customer time)"
            )
        },
        x_desc: "needed this quota period".into(),
        y_desc: String::new(),
        footnote: n.foot("reps' current quota periods; rates over the quota lookback"),
        percent: false,
        kind: Kind::HBars {
            categories: steps.iter().map(|(l, _)| l.to_string()).collect(),
            series: Series::new("needed", values.clone()).labelled(
                values
                    .iter()
                    .map(|v| v.map(thousands).unwrap_or_default())
                    .collect(),
            ),
            bars: HBarStyle {
                missing: "no rate to compute it".into(),
                ..HBarStyle::default()
            },
        },
    })
}

fn revenue_share(df: &DataFrame, n: &Notes) -> Option<Chart> {
    let periods: Vec<String> = {
        let mut p = strings(df, "period");
        p.dedup();
        p
    };
    let period = strings(df, "period");
    let team = strings(df, "source_team");
    let amount = floats(df, "won_amount");
    let mut teams: Vec<String> = team
        .iter()
        .filter(|t| *t != "influenced")
        .cloned()
        .collect();
    teams.sort();
    teams.dedup();
    let series = teams
        .iter()
        .map(|t| {
            let values = periods
                .iter()
                .map(|p| {
                    (0..df.height())
                        .find(|i| &period[*i] == p && &team[*i] == t)
                        .and_then(|i| amount[i])
                })
                .collect();
            Series::new(t.clone(), values)
        })
        .collect();
    Some(Chart {
        title: "Won revenue by source team, per quarter".into(),
        subtitle: "Source: the opportunity's, else its lead's, mapped by [sources]".into(),
        x_desc: "quarter".into(),
        y_desc: "won amount (base currency)".into(),
        footnote: n.foot("won opportunities closed in range"),
        percent: false,
        kind: Kind::Stacked {
            categories: periods.iter().map(|p| quarter_label(p)).collect(),
            series,
        },
    })
}

/// `2026-04-01` → `2026 Q2` (calendar quarters).
fn quarter_label(date: &str) -> String {
    match (
        date.get(..4),
        date.get(5..7).and_then(|m| m.parse::<u32>().ok()),
    ) {
        (Some(y), Some(m)) => format!("{y} Q{}", (m - 1) / 3 + 1),
        _ => date.to_string(),
    }
}

/// The most channel groups the attribution chart draws; past that, the channels
/// the headline model credits least are summed as "other".
const ATTRIBUTION_GROUPS: usize = 7;

/// Won revenue per channel under each model: channels ranked by the headline model,
/// the smallest summed as "other", and the share no touch can explain said in words
/// instead of drawn as a channel (it is the same under every model).
fn attribution(df: &DataFrame, n: &Notes) -> Option<Chart> {
    use crate::metrics::revenue::model_words;
    let won = filter_eq(df, "basis", "won");
    let model = strings(&won, "model");
    let channel = strings(&won, "channel");
    let share = floats(&won, "share");
    let share_of = |m: &str, c: &str| {
        (0..won.height())
            .filter(|i| model[*i] == m && channel[*i] == c)
            .filter_map(|i| share[i])
            .sum::<f64>()
    };
    let headline = if model.contains(&n.model) {
        n.model.clone()
    } else {
        model.first()?.clone()
    };
    let mut channels: Vec<String> = channel.iter().filter(|c| *c != NO_TOUCH).cloned().collect();
    channels.sort();
    channels.dedup();
    channels.sort_by(|a, b| share_of(&headline, b).total_cmp(&share_of(&headline, a)));
    let rest = if channels.len() > ATTRIBUTION_GROUPS {
        channels.split_off(ATTRIBUTION_GROUPS - 1)
    } else {
        Vec::new()
    };
    let models = [
        "first_touch",
        "last_touch",
        "linear",
        "u_shaped",
        "w_shaped",
        "time_decay",
    ];
    let series = models
        .iter()
        .filter(|m| model.iter().any(|x| x == *m))
        .map(|m| {
            let mut values: Vec<Option<f64>> =
                channels.iter().map(|c| Some(share_of(m, c))).collect();
            if !rest.is_empty() {
                values.push(Some(rest.iter().map(|c| share_of(m, c)).sum()));
            }
            Series::new(model_words(m), values).labelled(vec![
                String::new();
                channels.len()
                    + usize::from(!rest.is_empty())
            ])
        })
        .collect();
    let mut categories = channels;
    if !rest.is_empty() {
        categories.push(format!("other ({})", rest.len()));
    }
    let untouched = share_of(&headline, NO_TOUCH);
    let untouched = if untouched > 0.0 {
        format!(
            " · {} of won revenue had no {} touch before its opportunity (not drawn)",
            crate::text::percent(untouched),
            n.touch_teams
        )
    } else {
        String::new()
    };
    Some(Chart {
        title: "Won revenue credited to channels, by attribution model".into(),
        subtitle: format!(
            "Share of won revenue · channels ranked by the headline model, {}{untouched}",
            model_words(&headline)
        ),
        x_desc: "channel".into(),
        y_desc: "share of won revenue".into(),
        footnote: n.foot("won opportunities closed in range; touches before creation"),
        percent: true,
        kind: Kind::Bars {
            categories,
            series,
            reference: None,
        },
    })
}

/// The channel of an opportunity no touch reached (`attribution`'s own row).
const NO_TOUCH: &str = "(no touch)";

fn campaign_cost(df: &DataFrame, n: &Notes) -> Option<Chart> {
    let channels = strings(df, "channel");
    let roi = floats(df, "roi");
    let cpm = floats(df, "cost_per_mql");
    let labels = roi
        .iter()
        .zip(&cpm)
        .map(|(r, c)| {
            format!(
                "ROI {} · {} per MQL",
                r.map(|r| format!("{r:.1}×")).unwrap_or_else(|| "—".into()),
                c.map(|c| human(c, false)).unwrap_or_else(|| "—".into())
            )
        })
        .collect();
    Some(Chart {
        title: "Return on campaign spend by channel".into(),
        subtitle: format!(
            "ROI = won revenue credited by the {} model ÷ cost; label: cost per MQL",
            crate::metrics::revenue::model_words(&n.model)
        ),
        x_desc: "channel".into(),
        y_desc: "ROI (× cost)".into(),
        footnote: n.foot("campaigns started in range"),
        percent: false,
        kind: Kind::Bars {
            categories: channels,
            series: vec![Series::new("ROI", roi).labelled(labels)],
            reference: Some(Reference {
                value: 1.0,
                label: "break-even".into(),
            }),
        },
    })
}

/// The pipeline bridge of `changes` (one pipeline: the frame is not split).
fn pipeline_bridge(df: &DataFrame, n: &Notes) -> Option<Chart> {
    let pipeline = filter_eq(df, "part", "pipeline");
    let steps = strings(&pipeline, "step");
    let amounts = floats(&pipeline, "amount");
    let counts = floats(&pipeline, "count");
    if steps.len() < 2 || steps.len() != pipeline.height() {
        return None;
    }
    let at = |i: usize| amounts[i].unwrap_or(0.0);
    let last = steps.len() - 1;
    let moved: Vec<String> = (1..last)
        .filter(|&i| counts[i].unwrap_or(0.0) > 0.0)
        .map(|i| format!("{} {}", thousands(counts[i].unwrap_or(0.0)), steps[i]))
        .collect();
    Some(Chart {
        title: format!(
            "Open pipeline: {} → {} since {}",
            human(at(0), false),
            human(at(last), false),
            n.since.get(..10).unwrap_or(&n.since)
        ),
        subtitle: if moved.is_empty() {
            "Nothing moved".into()
        } else {
            format!("Opportunities: {}", moved.join(", "))
        },
        x_desc: String::new(),
        y_desc: "amount (base currency)".into(),
        footnote: format!(
            "Basis: open opportunities{} from {} to {} · definitions {}",
            n.window
                .as_ref()
                .map(|w| format!(" closing {w}"))
                .unwrap_or_default(),
            n.since,
            n.as_of,
            &n.hash[..12.min(n.hash.len())]
        ),
        percent: false,
        kind: Kind::Bridge {
            steps: steps
                .iter()
                .enumerate()
                .map(|(i, s)| (s.clone(), at(i)))
                .collect(),
        },
    })
}

#[cfg(test)]
mod registry_tests {
    use super::*;

    #[test]
    fn every_registry_figure_has_a_builder_and_no_builder_is_orphaned() {
        let named = names();
        for name in &named {
            assert!(
                BUILDERS.iter().any(|(f, _)| f == name),
                "figure `{name}` of the metric registry has no builder"
            );
        }
        for (f, _) in BUILDERS {
            assert!(named.contains(f), "builder `{f}` is named by no metric");
        }
    }
}
