//! `index.html`: one self-contained page (inline SVG and CSS, nothing fetched) with
//! the headline numbers, one section per metric, lint, glossary and manifest.

//!
//! The markup is a compiled template (maud): every value is escaped where it is put,
//! and only the charts' SVG, which funnel draws itself, goes in as it is.

use maud::{html, Markup, PreEscaped, DOCTYPE};
use polars::prelude::DataFrame;

use crate::config::{Config, PLACEHOLDER_MARK};
use crate::contract::glossary::entries;
use crate::output::{rows, Cell};

/// A headline number with its change since the previous report.
pub struct Headline {
    pub label: String,
    pub value: String,
    pub change: Option<String>,
    /// What was left out of the number, and why (imported history, …).
    pub note: Option<String>,
    /// The value the period before and a year earlier, in words.
    pub earlier: Option<String>,
    /// The value over the last periods, oldest first (None: not reached).
    pub spark: Vec<Option<f64>>,
}

/// One metric section.
pub struct Section {
    pub id: String,
    pub title: String,
    pub definition: String,
    /// Inline SVG charts.
    pub charts: Vec<String>,
    pub table: Option<DataFrame>,
    /// Why the metric is missing, when it is.
    pub skipped: Option<String>,
}

/// One commitment in the plan table, its numbers formatted.
pub struct PlanRow {
    pub team: String,
    pub measure: String,
    pub split: String,
    pub target: String,
    pub actual: String,
    pub pace: String,
    pub forecast: String,
    pub status: String,
    pub result: String,
}

/// The report's opening section: the plan, or how to draft one.
pub struct PlanView {
    pub heading: String,
    pub sentences: Vec<String>,
    pub rows: Vec<PlanRow>,
    /// Inline SVG burn-up charts.
    pub charts: Vec<String>,
    pub backtest: Option<String>,
    /// Why there is no plan to show.
    pub missing: Option<String>,
}

impl PlanView {
    pub fn missing(why: &str) -> PlanView {
        PlanView {
            heading: "The plan".into(),
            sentences: Vec::new(),
            rows: Vec::new(),
            charts: Vec::new(),
            backtest: None,
            missing: Some(why.to_string()),
        }
    }
}

pub struct Page<'a> {
    pub plan: Option<PlanView>,
    /// Numbers that look alike, bridged.
    pub bridges: Vec<crate::report::reconcile::Bridge>,
    pub title: String,
    pub subtitle: String,
    pub warnings: Vec<String>,
    pub headlines: Vec<Headline>,
    pub sections: Vec<Section>,
    pub lint: Option<&'a DataFrame>,
    pub config: &'a Config,
    pub manifest_rows: Vec<(String, String)>,
    pub generated_at: String,
}

const CSS: &str = r#"
:root { --ink:#212529; --muted:#6c757d; --line:#dee2e6; --accent:#0072b2; --warn:#d55e00; }
* { box-sizing: border-box; }
body { margin:0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color:var(--ink); background:#fff; }
header, main, footer { max-width: 1180px; margin: 0 auto; padding: 0 24px; }
header { padding-top: 32px; }
h1 { font-size: 32px; margin: 0 0 4px; }
h2 { font-size: 24px; margin: 48px 0 8px; border-top: 1px solid var(--line); padding-top: 24px; }
h3 { font-size: 18px; margin: 20px 0 4px; }
.sub { color: var(--muted); margin: 0 0 16px; }
.warn { background:#fff4e5; border-left: 4px solid var(--warn); padding: 8px 12px; margin: 8px 0; }
.cards { display:grid; grid-template-columns: repeat(auto-fill, minmax(240px, 1fr)); gap: 12px; margin: 24px 0; }
.card { border:1px solid var(--line); border-radius: 8px; padding: 12px 16px; }
.card .v { font-size: 28px; font-weight: 600; }
.card .l { color: var(--muted); font-size: 14px; }
.card .d { font-size: 13px; color: var(--muted); }
.card .n { font-size: 13px; color: #b35900; margin-top: 4px; }
.card svg.spark { display: block; margin-top: 6px; }
nav a { margin-right: 12px; color: var(--accent); text-decoration: none; font-size: 14px; }
.def { color: #343a40; background:#f8f9fa; padding: 8px 12px; border-radius: 6px; }
figure { margin: 16px 0; }
figure svg { width: 100%; height: auto; border:1px solid var(--line); border-radius: 6px; }
table { border-collapse: collapse; font-size: 13px; margin: 8px 0; width: 100%; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 8px; text-align: left; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
th { background: #f8f9fa; position: sticky; top: 0; }
.scroll { max-height: 420px; overflow: auto; }
blockquote { margin: 4px 0 8px; padding-left: 12px; border-left: 3px solid var(--line); }
footer { color: var(--muted); font-size: 13px; padding-bottom: 40px; }
#plan h2 { border-top: none; margin-top: 24px; padding-top: 0; }
#plan ul.promises { margin: 8px 0 16px; padding-left: 20px; }
.status { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 600; white-space: nowrap; }
.s-on_track, .s-met { background: #d7f0e5; color: #00603f; }
.s-at_risk, .s-immature { background: #fff0cc; color: #7a5200; }
.s-off_track, .s-missed { background: #fbdcd0; color: #8f2d00; }
.s-not_started, .s-closed, .s-no_data { background: #e9ecef; color: #495057; }
tr.plan-off_track td { background: #fff7f3; }
table.bridge { width: auto; min-width: 60%; }
table.bridge td.n { width: 90px; }
table.bridge tr.total td { font-weight: 600; border-top: 2px solid var(--ink); }
@media print {
  nav, .scroll { max-height: none; overflow: visible; }
  nav { display: none; }
  h2 { break-before: page; }
  figure, table { break-inside: avoid; }
  body { font-size: 11pt; }
}
"#;

/// Whether a column holds a fraction read as a percentage (`win_rate`,
/// `within_sla_rate_low`, `win_rate_amount`, `share`, `attainment`).
fn is_percent(column: &str) -> bool {
    let base = column
        .strip_suffix("_low")
        .or_else(|| column.strip_suffix("_high"))
        .unwrap_or(column);
    base.split('_').any(|part| part == "rate") || base == "share" || base == "attainment"
}

/// A number of a report table as people read it: percentages with one decimal,
/// thousands separators from 1,000 on, whole numbers without decimals, at most
/// three decimals below 1,000 (`0`, not `0.000`).
fn number(v: f64, column: &str) -> String {
    if is_percent(column) {
        return format!("{:.1} %", v * 100.0);
    }
    let sign = if v < 0.0 { "-" } else { "" };
    if v.abs() >= 1000.0 || v.fract() == 0.0 {
        let whole = v.abs().round();
        if whole == 0.0 {
            return "0".into();
        }
        return format!("{sign}{}", crate::text::thousands(whole as u64));
    }
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".into()
    } else {
        s.to_string()
    }
}

fn cell(c: &Cell) -> (String, bool) {
    match c {
        Cell::Null => ("—".into(), false),
        Cell::Int(v) => {
            let t = crate::text::thousands(v.unsigned_abs());
            (if *v < 0 { format!("-{t}") } else { t }, true)
        }
        Cell::Float(v) => {
            let s = if v.abs() >= 1000.0 {
                format!("{v:.0}")
            } else {
                format!("{v:.3}")
            };
            (s, true)
        }
        Cell::Bool(b) => (b.to_string(), false),
        Cell::Text(t) => (t.clone(), false),
        Cell::List(items) => (
            items
                .iter()
                .map(|i| cell(i).0)
                .collect::<Vec<_>>()
                .join(", "),
            false,
        ),
    }
}

/// An HTML table of a frame (hidden `__` columns left out), at most `limit` rows.
pub fn table(df: &DataFrame, limit: usize) -> Markup {
    let names: Vec<String> = df
        .get_column_names()
        .iter()
        .map(|n| n.to_string())
        .collect();
    let visible: Vec<usize> = (0..names.len())
        .filter(|i| !names[*i].starts_with("__"))
        .collect();
    let all = rows(df);
    html! {
        div.scroll {
            table {
                thead { tr { @for i in &visible { th { (names[*i]) } } } }
                tbody {
                    @for row in all.iter().take(limit) {
                        tr {
                            @for i in &visible {
                                @let (text, num) = match &row[*i] {
                                    Cell::Float(v) => (number(*v, &names[*i]), true),
                                    other => cell(other),
                                };
                                td class=[num.then_some("n")] { (text) }
                            }
                        }
                    }
                }
            }
        }
        @if all.len() > limit {
            p.sub { (limit) " of " (all.len()) " rows shown; all in the table's CSV." }
        }
    }
}

/// The page's `<head>`: title and the inline style sheet.
fn head(title: &str, css: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) }
            style { (PreEscaped(css)) }
        }
    }
}

pub fn render(page: &Page<'_>) -> String {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            (head(&page.title, CSS))
            body {
                header {
                    h1 { (page.title) }
                    p.sub { (page.subtitle) }
                    @for w in &page.warnings { div.warn { (w) } }
                    nav {
                        @if page.plan.is_some() { a href="#plan" { "Plan" } }
                        @if !page.bridges.is_empty() { a href="#reconcile" { "Why numbers differ" } }
                        @for s in &page.sections { a href={ "#" (s.id) } { (s.title) } }
                        a href="#lint" { "Data quality" }
                        a href="#glossary" { "Glossary" }
                        a href="#manifest" { "Manifest" }
                    }
                }
                main {
                    @if let Some(p) = &page.plan { (plan(p)) }
                    div.cards {
                        @for c in &page.headlines {
                            div.card {
                                div.v { (c.value) }
                                div.l { (c.label) }
                                @if let Some(e) = &c.earlier { div.d { (e) } }
                                @if let Some(svg) = sparkline(&c.spark) { (svg) }
                                @if let Some(d) = &c.change { div.d { (d) } }
                                @if let Some(n) = &c.note { div.n { (n) } }
                            }
                        }
                    }
                    @if !page.bridges.is_empty() { (bridges(&page.bridges)) }
                    @for s in &page.sections { (section(s)) }
                    section #lint {
                        h2 { "Data quality" }
                        p.def { "Findings that can explain a surprising number, with example ids to trace them." }
                        @if let Some(l) = page.lint { (table(l, 100)) }
                    }
                    (glossary(page.config))
                    section #manifest {
                        h2 { "Manifest" }
                        table { tbody {
                            @for (k, v) in &page.manifest_rows { tr { th { (k) } td { (v) } } }
                        } }
                    }
                }
                footer { "Generated by funnel " (env!("CARGO_PKG_VERSION")) " at " (page.generated_at) "." }
            }
        }
    };
    markup.into_string() + "\n"
}

/// The plan: who promised what, where each promise stands, the burn-ups.
fn plan(p: &PlanView) -> Markup {
    html! {
        section #plan {
            h2 { (p.heading) }
            @if let Some(why) = &p.missing {
                p.def { (why) }
            } @else {
                ul.promises { @for s in &p.sentences { li { (s) } } }
                table {
                    thead { tr {
                        th { "team" } th { "measure" } th { "slice" } th { "target" }
                        th { "actual" } th { "pace" } th { "forecast" } th { "status" }
                    } }
                    tbody {
                        @for r in &p.rows {
                            tr class={ "plan-" (r.status) } {
                                td { (r.team) } td { (r.measure) } td { (r.split) }
                                td.n { (r.target) } td.n { (r.actual) } td.n { (r.pace) }
                                td.n { (r.forecast) }
                                td {
                                    span class={ "status s-" (r.status) } { (r.status.replace('_', " ")) }
                                    @if !r.result.is_empty() {
                                        " " span class={ "status s-" (r.result) } { (r.result) }
                                    }
                                }
                            }
                        }
                    }
                }
                p.sub { "pace = actual ÷ what the target expects by now; forecast: bookings and won deals add the open pipeline closing in the period weighted by each stage's won share, other volumes extrapolate the run rate, rates are as they stand. on track: the forecast reaches the target; at risk: within 10 %; off track: further." }
                @if let Some(b) = &p.backtest { p.def { (b) } }
                @for svg in &p.charts { figure { (PreEscaped(svg)) } }
            }
        }
    }
}

/// Numbers that look alike, side by side, with the counts that bridge them.
fn bridges(bridges: &[crate::report::reconcile::Bridge]) -> Markup {
    let signed = |k: i64| {
        let n = crate::text::thousands(k.unsigned_abs());
        if k < 0 {
            format!("− {n}")
        } else {
            format!("+ {n}")
        }
    };
    html! {
        section #reconcile {
            h2 { "Why these numbers differ" }
            p.def { "Numbers in this report that look alike count on different bases. Each line below starts from one, adds and removes what the other basis counts differently, and lands on the other; every count is computed from the same data." }
            @for b in bridges {
                h3 { (b.title) }
                table.bridge { tbody {
                    tr { td.n { (crate::text::thousands(b.from.1.unsigned_abs())) } td { (b.from.0) } }
                    @for (k, what) in &b.steps {
                        @if *k != 0 { tr { td.n { (signed(*k)) } td { (what) } } }
                    }
                    tr.total { td.n { "= " (crate::text::thousands(b.to.1.unsigned_abs())) } td { (b.to.0) } }
                } }
            }
        }
    }
}

/// One metric's section: its definition, then why it is missing, or its charts and
/// table.
/// A tile's sparkline: the value over the last periods, oldest first, as a small
/// inline SVG line (gaps where a period was not reached; the last point marked).
/// None when fewer than two periods have a value.
fn sparkline(values: &[Option<f64>]) -> Option<Markup> {
    let known: Vec<f64> = values.iter().flatten().copied().collect();
    if known.len() < 2 {
        return None;
    }
    let (w, h, pad) = (140.0, 30.0, 3.0);
    let (lo, hi) = known
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(*v), b.max(*v)));
    let span = if hi > lo { hi - lo } else { 1.0 };
    let step = (w - 2.0 * pad) / (values.len().max(2) - 1) as f64;
    let point = |i: usize, v: f64| {
        (
            pad + i as f64 * step,
            h - pad - (v - lo) / span * (h - 2.0 * pad),
        )
    };
    let mut runs: Vec<String> = Vec::new();
    let mut run: Vec<String> = Vec::new();
    for (i, v) in values.iter().enumerate() {
        match v {
            Some(v) => {
                let (x, y) = point(i, *v);
                run.push(format!("{x:.1},{y:.1}"));
            }
            None if !run.is_empty() => runs.push(std::mem::take(&mut run).join(" ")),
            None => {}
        }
    }
    if !run.is_empty() {
        runs.push(run.join(" "));
    }
    let last = values
        .iter()
        .enumerate()
        .rev()
        .find_map(|(i, v)| v.map(|v| point(i, v)));
    Some(html! {
        svg.spark width=(w) height=(h) viewBox={ "0 0 " (w) " " (h) } role="img"
            aria-label={ "the last " (values.len()) " periods" } {
            @for r in &runs {
                polyline points=(r) fill="none" stroke="#0072B2" stroke-width="2" {}
            }
            @if let Some((x, y)) = last {
                circle cx=(format!("{x:.1}")) cy=(format!("{y:.1}")) r="3" fill="#0072B2" {}
            }
        }
    })
}

fn section(s: &Section) -> Markup {
    html! {
        section id=(s.id) {
            h2 { (s.title) }
            p.def { (s.definition) }
            @if let Some(why) = &s.skipped {
                div.warn { (why) }
            } @else {
                // The charts' SVG is funnel's own drawing, its text escaped when drawn.
                @for svg in &s.charts { figure { (PreEscaped(svg)) } }
                @if let Some(t) = &s.table { (table(t, 60)) }
            }
        }
    }
}

/// Each definition's prose beside the rules that compute it.
fn glossary(config: &Config) -> Markup {
    html! {
        section #glossary {
            h2 { "Glossary" }
            p.def { "What each word means, as signed off in funnel.toml, beside the rules that compute it." }
            @for e in entries(config) {
                h3 { (e.term) }
                @if e.prose.starts_with(PLACEHOLDER_MARK) {
                    div.warn { "Not reviewed yet: replace the placeholder text in [definitions]." }
                }
                blockquote { (e.prose) }
                ul { @for r in &e.rules { li { (r) } } }
            }
        }
    }
}

/// `funnel definitions diff --format html`: the changed rules, then the headline
/// numbers before and after (`rows`: metric, before, after, change).
pub fn definitions_change(
    old_name: &str,
    new_name: &str,
    changes: &[String],
    scope: &str,
    rows: &[[String; 4]],
) -> String {
    const CSS: &str = "body{font:16px/1.5 system-ui,sans-serif;max-width:900px;margin:32px auto;padding:0 16px;color:#212529}table{border-collapse:collapse}td,th{border-bottom:1px solid #dee2e6;padding:4px 12px;text-align:right}td:first-child,th:first-child{text-align:left}";
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            (head("Definitions change", CSS))
            body {
                h1 { "Definitions change" }
                p { (old_name) " → " (new_name) }
                h2 { "Changed rules" }
                ul { @for c in changes { li { (c) } } }
                h2 { "Headline numbers" }
                p { (scope) }
                table {
                    tr { th { "metric" } th { "before" } th { "after" } th { "change" } }
                    @for r in rows { tr { @for v in r { td { (v) } } } }
                }
            }
        }
    };
    markup.into_string() + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped_and_charts_are_not() {
        let config = Config::default();
        let page = Page {
            bridges: vec![],
            plan: Some(PlanView {
                heading: "plan <h>".into(),
                sentences: vec!["<i>promise</i>".into()],
                rows: vec![],
                charts: vec![],
                backtest: None,
                missing: None,
            }),
            title: "a <b> & \"c\"".into(),
            subtitle: String::new(),
            warnings: vec!["<script>x</script>".into()],
            headlines: vec![],
            sections: vec![Section {
                id: "m".into(),
                title: "m".into(),
                definition: "x < y".into(),
                charts: vec!["<svg><text>1 &lt; 2</text></svg>".into()],
                table: None,
                skipped: None,
            }],
            lint: None,
            config: &config,
            manifest_rows: vec![("k".into(), "<v>".into())],
            generated_at: "now".into(),
        };
        let out = render(&page);
        assert!(out.contains("a &lt;b&gt; &amp; &quot;c&quot;"), "{out}");
        assert!(!out.contains("<script>x"));
        assert!(out.contains("&lt;script&gt;x&lt;/script&gt;"));
        assert!(out.contains("x &lt; y"));
        assert!(out.contains("<figure><svg><text>1 &lt; 2</text></svg></figure>"));
        assert!(out.contains("<th>k</th><td>&lt;v&gt;</td>"));
        assert!(out.contains("plan &lt;h&gt;") && out.contains("&lt;i&gt;promise"));
        assert!(out.starts_with("<!DOCTYPE html><html lang=\"en\">"));
    }

    /// One rule for the report's table numbers (the tables mixed `0.000`, `19950`
    /// and `29386.9`, and printed rates as fractions).
    #[test]
    fn table_numbers_read_as_people_read_them() {
        assert_eq!(number(0.0, "amount"), "0");
        assert_eq!(number(-0.0, "amount"), "0");
        assert_eq!(number(19950.0, "amount"), "19,950");
        assert_eq!(number(29386.9, "avg_deal_size"), "29,387");
        assert_eq!(number(-157450.0, "amount"), "-157,450");
        assert_eq!(number(14.7, "median_days"), "14.7");
        assert_eq!(number(0.25, "coverage"), "0.25");
        assert_eq!(number(4.56789, "mean_days"), "4.568");
        assert_eq!(number(0.2857142857, "win_rate"), "28.6 %");
        assert_eq!(number(0.1172, "win_rate_low"), "11.7 %");
        assert_eq!(number(0.278, "share"), "27.8 %");
        assert_eq!(number(1.05, "attainment"), "105.0 %");
        assert_eq!(number(0.166, "win_rate_amount"), "16.6 %");
        assert_eq!(number(3.75, "required_coverage"), "3.75");
    }
}
