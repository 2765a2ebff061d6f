//! `index.html`: one self-contained page (inline SVG and CSS, nothing fetched) with
//! the headline numbers, one section per metric, lint, glossary and manifest.

use polars::prelude::DataFrame;

use crate::config::{Config, PLACEHOLDER_MARK};
use crate::contract::glossary::entries;
use crate::output::{rows, Cell};

pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A headline number with its change since the previous report.
pub struct Headline {
    pub label: String,
    pub value: String,
    pub change: Option<String>,
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

pub struct Page<'a> {
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
.cards { display:grid; grid-template-columns: repeat(auto-fill, minmax(200px, 1fr)); gap: 12px; margin: 24px 0; }
.card { border:1px solid var(--line); border-radius: 8px; padding: 12px 16px; }
.card .v { font-size: 28px; font-weight: 600; }
.card .l { color: var(--muted); font-size: 14px; }
.card .d { font-size: 13px; color: var(--muted); }
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
@media print {
  nav, .scroll { max-height: none; overflow: visible; }
  nav { display: none; }
  h2 { break-before: page; }
  figure, table { break-inside: avoid; }
  body { font-size: 11pt; }
}
"#;

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
pub fn table(df: &DataFrame, limit: usize) -> String {
    let names: Vec<String> = df
        .get_column_names()
        .iter()
        .map(|n| n.to_string())
        .collect();
    let visible: Vec<usize> = (0..names.len())
        .filter(|i| !names[*i].starts_with("__"))
        .collect();
    let all = rows(df);
    let mut out = String::from("<div class=\"scroll\"><table><thead><tr>");
    for i in &visible {
        out.push_str(&format!("<th>{}</th>", escape(&names[*i])));
    }
    out.push_str("</tr></thead><tbody>");
    for row in all.iter().take(limit) {
        out.push_str("<tr>");
        for i in &visible {
            let (text, num) = cell(&row[*i]);
            out.push_str(&format!(
                "<td{}>{}</td>",
                if num { " class=\"n\"" } else { "" },
                escape(&text)
            ));
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table></div>");
    if all.len() > limit {
        out.push_str(&format!(
            "<p class=\"sub\">{} of {} rows shown; all in the table's CSV.</p>",
            limit,
            all.len()
        ));
    }
    out
}

pub fn render(page: &Page<'_>) -> String {
    let mut h = String::new();
    h.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    h.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">");
    h.push_str(&format!(
        "<title>{}</title><style>{CSS}</style></head><body>\n",
        escape(&page.title)
    ));
    h.push_str(&format!(
        "<header><h1>{}</h1><p class=\"sub\">{}</p>",
        escape(&page.title),
        escape(&page.subtitle)
    ));
    for w in &page.warnings {
        h.push_str(&format!("<div class=\"warn\">{}</div>", escape(w)));
    }
    h.push_str("<nav>");
    for s in &page.sections {
        h.push_str(&format!("<a href=\"#{}\">{}</a>", s.id, escape(&s.title)));
    }
    h.push_str("<a href=\"#lint\">Data quality</a><a href=\"#glossary\">Glossary</a><a href=\"#manifest\">Manifest</a></nav></header>\n<main>");
    h.push_str("<div class=\"cards\">");
    for c in &page.headlines {
        h.push_str(&format!(
            "<div class=\"card\"><div class=\"v\">{}</div><div class=\"l\">{}</div>{}</div>",
            escape(&c.value),
            escape(&c.label),
            c.change
                .as_ref()
                .map(|d| format!("<div class=\"d\">{}</div>", escape(d)))
                .unwrap_or_default()
        ));
    }
    h.push_str("</div>\n");
    for s in &page.sections {
        h.push_str(&format!(
            "<section id=\"{}\"><h2>{}</h2>",
            s.id,
            escape(&s.title)
        ));
        h.push_str(&format!("<p class=\"def\">{}</p>", escape(&s.definition)));
        if let Some(why) = &s.skipped {
            h.push_str(&format!(
                "<div class=\"warn\">{}</div></section>\n",
                escape(why)
            ));
            continue;
        }
        for svg in &s.charts {
            h.push_str(&format!("<figure>{svg}</figure>"));
        }
        if let Some(t) = &s.table {
            h.push_str(&table(t, 60));
        }
        h.push_str("</section>\n");
    }
    h.push_str("<section id=\"lint\"><h2>Data quality</h2><p class=\"def\">Findings that can explain a surprising number, with example ids to trace them.</p>");
    if let Some(l) = page.lint {
        h.push_str(&table(l, 100));
    }
    h.push_str("</section>\n<section id=\"glossary\"><h2>Glossary</h2><p class=\"def\">What each word means, as signed off in funnel.toml, beside the rules that compute it.</p>");
    for e in entries(page.config) {
        h.push_str(&format!("<h3>{}</h3>", e.term));
        if e.prose.starts_with(PLACEHOLDER_MARK) {
            h.push_str("<div class=\"warn\">Not reviewed yet: replace the placeholder text in [definitions].</div>");
        }
        h.push_str(&format!(
            "<blockquote>{}</blockquote><ul>",
            escape(&e.prose)
        ));
        for r in &e.rules {
            h.push_str(&format!("<li>{}</li>", escape(r)));
        }
        h.push_str("</ul>");
    }
    h.push_str("</section>\n<section id=\"manifest\"><h2>Manifest</h2><table><tbody>");
    for (k, v) in &page.manifest_rows {
        h.push_str(&format!(
            "<tr><th>{}</th><td>{}</td></tr>",
            escape(k),
            escape(v)
        ));
    }
    h.push_str("</tbody></table></section></main>\n");
    h.push_str(&format!(
        "<footer>Generated by funnel {} at {}.</footer></body></html>\n",
        env!("CARGO_PKG_VERSION"),
        escape(&page.generated_at)
    ));
    h
}
