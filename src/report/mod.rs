//! The shared report (described in the README): every metric computed once, its
//! charts (SVG and PNG), its tables (CSV and Parquet), `summary.json`,
//! `definitions.md`, `lint.csv` and one self-contained `index.html`, written to
//! `<out>/<as-of date>/` with `<out>/latest` pointing at it.

pub mod chart;
pub mod figures;
pub mod html;
pub mod plan;
pub mod reconcile;
pub mod theme;
pub mod trend;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use polars::prelude::*;

use crate::config::{Config, ConfigSource};
use crate::error::{Error, PolarsContext, Result};
use crate::metrics;
use crate::metrics::model::Tables;
use crate::metrics::params::{local_date, Params};
use crate::metrics::profile::Profile;
use crate::metrics::registry::{self, Figure, Metric, Unit, METRICS};
use crate::model::warehouse::Manifest;
use crate::observe::{timed, MeterKind, Observer};
use crate::output::{write_frame, Format};
use crate::time::format_timestamp;
use figures::{Frames, Notes};

/// What a report is built from.
pub struct Inputs<'a> {
    pub tables: &'a Tables,
    pub params: &'a Params,
    pub config: &'a Config,
    pub source: &'a ConfigSource,
    pub manifest: Option<&'a Manifest>,
    pub is_sample: bool,
}

/// The tables of `inputs` with what every part of a report shares held in memory:
/// the lead funnel and the modelled opportunities, computed (or read, when derived
/// at ingest) once.
fn in_memory(inputs: &Inputs<'_>) -> Result<Tables> {
    let p = inputs.params;
    let mut tables = inputs.tables.clone();
    let funnel = crate::metrics::model::lead_funnel(&tables, p);
    tables.funnel = Some(
        timed("lead funnel", || {
            crate::metrics::model::collect(funnel, "lead funnel")
        })?
        .lazy(),
    );
    let opportunities = crate::metrics::model::opportunities(&tables, p);
    tables.opportunity_model = Some(
        timed("opportunities", || {
            crate::metrics::model::collect(opportunities, "opportunities")
        })?
        .lazy(),
    );
    Ok(tables)
}

/// Every metric's frame (default parameters), plus the variants the figures draw,
/// from the tables [`in_memory`] gives. Metrics whose tables are missing are
/// reported with the reason.
fn compute_frames(
    inputs: &Inputs<'_>,
    progress: &dyn Observer,
) -> Result<(Frames, BTreeMap<String, String>)> {
    let p = inputs.params;
    let mut frames = Frames::new();
    let mut skipped = BTreeMap::new();
    // A memo for the frames a metric and its variant share, for the metrics only:
    // an entry stays until its second reader takes it, and the page's later parts
    // (the trend's earlier periods) would leave theirs behind.
    let mut tables = inputs.tables.clone();
    tables.memo = Some(Default::default());
    let tables = &tables;
    let bar = progress.meter(MeterKind::Count, METRICS.len() as u64, "metrics");
    // Metrics side by side, one per worker: each alone leaves part of the machine
    // idle (planning, steps that run on one thread). The slowest start first, so
    // that the workers finish together.
    let mut order: Vec<usize> = (0..METRICS.len()).collect();
    order.sort_by_key(|&i| METRICS[i].cost);
    let computed = crate::parallel::map(order.len(), |k| {
        let m = &METRICS[order[k]];
        bar.set_message(m.name);
        let out = metric_frames(m, tables, p, inputs.manifest);
        bar.inc(1);
        out
    });
    // Back in registry order, so that the frames, the skipped metrics and the first
    // error are those of computing them one at a time.
    let mut by_metric: Vec<Option<MetricFrames>> = METRICS.iter().map(|_| None).collect();
    for (&i, out) in order.iter().zip(computed) {
        by_metric[i] = Some(out);
    }
    for (m, slot) in METRICS.iter().zip(by_metric) {
        let (frame, variant) = slot.expect("every metric computed");
        match frame {
            Ok(df) => {
                frames.insert(m.name.to_string(), df);
                if let Some((key, df)) = variant {
                    frames.insert(key, df?);
                }
            }
            Err(e @ (Error::Data(_) | Error::MissingTables { .. })) => {
                skipped.insert(m.name.to_string(), e.to_string());
            }
            Err(e) => return Err(e),
        }
    }
    bar.finish();
    Ok((frames, skipped))
}

/// A metric's frame and, when it has one and the metric could be computed, its
/// variant's ([`variant`]) under its key.
type MetricFrames = (Result<DataFrame>, Option<(String, Result<DataFrame>)>);

/// The frames of metric `m` under `p`.
fn metric_frames(
    m: &Metric,
    tables: &Tables,
    p: &Params,
    manifest: Option<&Manifest>,
) -> MetricFrames {
    // Only `changes` starts from an earlier moment (the previous report's).
    let alone;
    let p = if m.name != "changes" && p.since.is_some() {
        alone = Params {
            since: None,
            ..p.clone()
        };
        &alone
    } else {
        p
    };
    if m.name == "plan" && p.config.plan.is_none() {
        // No plan to track: the report's plan section says how to draft one.
        return (Err(Error::Data("no [plan] in funnel.toml".into())), None);
    }
    let frame = timed(m.name, || metrics::compute(m.name, tables, p, manifest));
    let variant = match (&frame, m.variant, m.variant_key()) {
        (Ok(_), Some(v), Some(key)) => {
            let df = timed(&key, || {
                metrics::compute(m.name, tables, &v.params(p), manifest)
            });
            Some((key, df))
        }
        _ => None,
    };
    (frame, variant)
}

/// Only the frames one figure needs (for `funnel chart`).
pub fn frames_for(figure: &str, inputs: &Inputs<'_>) -> Result<Frames> {
    let m = METRICS
        .iter()
        .find(|m| matches!(m.figure, Figure::Chart(f) if f == figure))
        .ok_or_else(|| Error::Usage(format!("no chart `{figure}`")))?;
    let p = inputs.params;
    let mut frames = Frames::new();
    frames.insert(
        m.name.to_string(),
        metrics::compute(m.name, inputs.tables, p, inputs.manifest)?,
    );
    if let (Some(v), Some(key)) = (m.variant, m.variant_key()) {
        frames.insert(
            key,
            metrics::compute(m.name, inputs.tables, &v.params(p), inputs.manifest)?,
        );
    }
    Ok(frames)
}

/// The notes every chart footnote carries.
pub fn notes(inputs: &Inputs<'_>) -> Notes {
    let p = inputs.params;
    Notes {
        range: format!("{} to {}", p.from, p.to),
        as_of: format_timestamp(p.as_of),
        hash: inputs.config.definitions_hash(),
        window_days: inputs.config.funnel.conversion_window_days,
        sla_hours: inputs.config.mql.sla_hours,
        model: metrics::revenue::model_name(inputs.config.attribution.model).to_string(),
        touch_teams: inputs.config.attribution.touch_teams.join(" or "),
        since: format_timestamp(p.since_or_default()),
        window: p.range_given.then(|| format!("{} to {}", p.from, p.to)),
        filters: p
            .filters
            .iter()
            .map(|(d, v)| format!("{} = {}", d.name(), v.join(" or ")))
            .collect::<Vec<_>>()
            .join(", "),
    }
}

fn write(path: &Path, bytes: impl AsRef<[u8]>) -> Result<()> {
    std::fs::write(path, bytes).map_err(|e| Error::io("cannot write", path, e))
}

fn mkdir(path: &Path) -> Result<()> {
    std::fs::create_dir_all(path).map_err(|e| Error::io("cannot create", path, e))
}

/// The metric frame without its hidden `__` columns.
fn public(df: &DataFrame) -> DataFrame {
    let keep: Vec<PlSmallStr> = df
        .get_column_names()
        .iter()
        .filter(|n| !n.starts_with("__"))
        .map(|n| (*n).clone())
        .collect();
    df.select(keep).unwrap_or_else(|_| df.clone())
}

/// A headline number as people read it.
/// The one way the report writes a number of each unit: tiles, chart subtitles and
/// tables agree (rates `44.3 %`, counts `1,234`, days `14.7`, amounts `1,351,796 USD`).
pub fn format_value(x: f64, unit: Unit, currency: &str) -> String {
    match unit {
        Unit::Rate => crate::text::percent(x),
        Unit::Count => crate::text::thousands(x.round().max(0.0) as u64),
        Unit::Days => format!("{x:.1}"),
        Unit::Money => crate::text::amount(x, currency),
    }
}

/// A headline number: (key, label, value, unit).
pub type HeadlineValue = (&'static str, &'static str, Option<f64>, Unit);

/// The headline keys whose data the export does not hold, each with why.
pub type Lacking = BTreeMap<&'static str, String>;

/// The headline keys the data profile says the export cannot hold (a stage never
/// recorded, amounts, lost deals, sources).
fn lacking(profile: &Profile) -> Lacking {
    registry::headlines()
        .into_iter()
        .filter_map(|(_, h)| Some((h.key, profile.first_lack(h.data)?)))
        .collect()
}

/// The headline numbers computed on their own (an earlier period of the report's
/// trend, `definitions diff`); metrics whose tables are missing, and the keys in
/// `lacking`, give no value.
pub fn headline(inputs: &Inputs<'_>, lacking: &Lacking) -> Result<Vec<HeadlineValue>> {
    let mut frames = Frames::new();
    for m in METRICS.iter().filter(|m| !m.headlines.is_empty()) {
        match metrics::compute(m.name, inputs.tables, inputs.params, inputs.manifest) {
            Ok(df) => {
                frames.insert(m.name.to_string(), df);
            }
            Err(Error::Data(_) | Error::MissingTables { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(headline_values(&frames, lacking))
}

/// The headline numbers as the report's tiles show them: a number whose data the
/// export does not hold (a stage never recorded, amounts, lost deals, sources) is
/// empty, not computed from nothing ([`Profile`]).
pub fn headline_in_data(inputs: &Inputs<'_>) -> Result<Vec<HeadlineValue>> {
    let profile = Profile::of(inputs.tables, inputs.params)?;
    headline(inputs, &lacking(&profile))
}

/// The headline numbers: (key, label, value, unit); none for a key in `lacking`.
fn headline_values(frames: &Frames, lacking: &Lacking) -> Vec<HeadlineValue> {
    registry::headlines()
        .into_iter()
        .map(|(m, h)| {
            let held = frames.get(m.name).filter(|_| !lacking.contains_key(h.key));
            let value = held.and_then(|df| {
                let df = match h.row {
                    Some((k, v)) => crate::frame::filter_eq(df, k, v),
                    None => df.clone(),
                };
                crate::frame::first(&df, h.column)
            });
            (h.key, h.label, value, h.unit)
        })
        .collect()
}

/// The previous report's headline numbers: the newest other dated folder in `root`.
fn previous_summary(root: &Path, current: &str) -> Option<(String, serde_json::Value)> {
    let mut dates: Vec<String> = std::fs::read_dir(root)
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| {
            n.len() == 10 && n.as_bytes()[4] == b'-' && n != current && n.as_str() < current
        })
        .collect();
    dates.sort();
    let date = dates.pop()?;
    let text = std::fs::read_to_string(root.join(&date).join("summary.json")).ok()?;
    Some((date, serde_json::from_str(&text).ok()?))
}

/// Builds the whole report into `root/<as-of date>/`; returns that folder.
///
/// The report is written into a temporary folder beside it and renamed into place
/// only when complete, and `latest` is repointed after that: a killed run or a full
/// disk never leaves a mix of new and old files, nor destroys the previous report of
/// the same date.
pub fn build(inputs: &Inputs<'_>, root: &Path, progress: &dyn Observer) -> Result<PathBuf> {
    let date = local_date(inputs.params.as_of, inputs.params.tz).to_string();
    let previous = previous_summary(root, &date);
    // What changed is counted since the previous report (a week, without one).
    let since = previous
        .as_ref()
        .and_then(|(_, s)| s.get("as_of")?.as_str().map(str::to_string))
        .and_then(|t| crate::time::parse_timestamp(&t, inputs.params.tz).ok())
        .filter(|t| *t < inputs.params.as_of);
    let with_since = Params {
        since: since.or(inputs.params.since),
        ..inputs.params.clone()
    };
    let inputs = &Inputs {
        params: &with_since,
        ..*inputs
    };
    // Every part of the page reads the tables with the shared frames in memory.
    let tables = in_memory(inputs)?;
    let inputs = &Inputs {
        tables: &tables,
        ..*inputs
    };
    let (mut frames, mut skipped) = compute_frames(inputs, progress)?;
    let (lacking, earliest) = fit_to_data(inputs, &mut frames, &mut skipped)?;
    let folder = Unpublished::begin(root, &date)?;
    let dir = folder.path();
    // The plan section (its backtest cuts the data at four earlier moments) reads
    // only the tables and the plan's frame: it is drawn beside the rest of the page,
    // whose tables, charts and bridges leave a core idle.
    let mut page = std::thread::scope(|scope| -> Result<html::Page> {
        let plan = scope.spawn(|| {
            timed("plan", || {
                plan::view(inputs, frames.get("plan"), skipped.get("plan"), dir)
            })
        });
        let mut page = page(
            inputs,
            &frames,
            &skipped,
            (&lacking, earliest),
            previous.as_ref(),
            dir,
            progress,
        )?;
        page.plan = Some(
            plan.join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))?,
        );
        Ok(page)
    })?;
    if let Some(n) = future_events(&frames).filter(|n| *n > 0) {
        page.warnings.push(format!(
            "{} row(s) carry an event dated after the data was ingested (a typo in a year?): the as-of date ignores them; see `event_in_future` under Data quality.",
            crate::text::thousands(n as u64)
        ));
    }
    write(&dir.join("index.html"), html::render(&page))?;
    let dir = folder.publish()?;
    point_latest(root, &date)?;
    Ok(dir)
}

/// The page but its plan section: the tables and charts written into `dir`, the
/// headline tiles with their trend, `summary.json`, the glossary and the bridges.
fn page<'a>(
    inputs: &Inputs<'a>,
    frames: &'a Frames,
    skipped: &BTreeMap<String, String>,
    (lacking, earliest): (&Lacking, Option<chrono::NaiveDate>),
    previous: Option<&(String, serde_json::Value)>,
    dir: &Path,
    progress: &dyn Observer,
) -> Result<html::Page<'a>> {
    let notes = notes(inputs);
    timed("tables", || write_tables(dir, frames))?;
    let svgs = timed("charts", || write_charts(dir, frames, &notes, progress))?;
    let values = headline_values(frames, lacking);
    let mut caveats = headline_caveats(frames);
    for (key, why) in lacking {
        caveats.insert(key, format!("Not in your data: {why}"));
    }
    let trend = timed("trend", || trend::trend(inputs, &values, lacking, earliest))?;
    let generated_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    write_summary(
        dir,
        inputs,
        (&values, &caveats, &trend),
        previous,
        &generated_at,
    )?;
    let hash = inputs.config.definitions_hash();
    write(
        &dir.join("definitions.md"),
        crate::contract::glossary::markdown(inputs.config, &hash),
    )?;
    let date = local_date(inputs.params.as_of, inputs.params.tz).to_string();
    let mut page = html::Page {
        headlines: headline_tiles(
            &values,
            previous,
            &caveats,
            &trend,
            &inputs.config.currency.base,
        ),
        sections: METRICS
            .iter()
            .filter(|m| m.section)
            .map(|m| html::Section {
                id: m.name.to_string(),
                title: m.name.to_string(),
                definition: format!("{} (exact rules: docs/metrics.md)", capitalise(m.summary)),
                charts: svgs.get(m.name).cloned().into_iter().collect(),
                table: frames.get(m.name).cloned(),
                skipped: skipped.get(m.name).cloned(),
            })
            .collect(),
        lint: frames.get("lint"),
        generated_at,
        ..page_frame(inputs, &date, &notes)
    };
    page.bridges = timed("reconciliation", || reconcile::bridges(inputs, frames))?;
    write_bridges(dir, &page.bridges)?;
    Ok(page)
}

/// A section or a tile whose number needs what the data does not hold (a stage
/// never recorded, amounts, lost deals, sources, touches) says so, with no chart,
/// table or number: it would be made up. Removes those sections' frames, says why
/// in `skipped`, and returns the headline keys that lack their data, with why.
fn fit_to_data(
    inputs: &Inputs<'_>,
    frames: &mut Frames,
    skipped: &mut BTreeMap<String, String>,
) -> Result<(Lacking, Option<chrono::NaiveDate>)> {
    let profile = timed("profile", || Profile::of(inputs.tables, inputs.params))?;
    for m in METRICS.iter() {
        if let Some(why) = profile.first_lack(m.data) {
            frames.remove(m.name);
            if let Some(key) = m.variant_key() {
                frames.remove(&key);
            }
            skipped.insert(m.name.to_string(), format!("Not in your data: {why}."));
        }
    }
    let lacking = lacking(&profile);
    let earliest = profile.earliest.map(|t| local_date(t, inputs.params.tz));
    Ok((lacking, earliest))
}

/// `tables/reconciliation.csv`: each bridge's start, steps and end.
fn write_bridges(dir: &Path, bridges: &[reconcile::Bridge]) -> Result<()> {
    let mut csv = String::from("bridge,step,count\n");
    let quote = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    for b in bridges {
        csv.push_str(&format!(
            "{},{},{}\n",
            quote(&b.title),
            quote(&b.from.0),
            b.from.1
        ));
        for (k, what) in &b.steps {
            csv.push_str(&format!("{},{},{k}\n", quote(&b.title), quote(what)));
        }
        csv.push_str(&format!(
            "{},{},{}\n",
            quote(&b.title),
            quote(&b.to.0),
            b.to.1
        ));
    }
    write(&dir.join("tables").join("reconciliation.csv"), csv)
}

/// How many rows lint found with an event after the ingest.
fn future_events(frames: &Frames) -> Option<i64> {
    let lint = frames.get("lint")?;
    let df = crate::frame::filter_eq(lint, "check", "event_in_future");
    crate::frame::first(&df, "count").map(|n| n as i64)
}

/// A report folder being written: `root/.tmp-<date>-<pid>` until [`publish`]
/// renames it to `root/<date>`. Dropped unpublished, it is removed.
///
/// [`publish`]: Unpublished::publish
struct Unpublished {
    tmp: PathBuf,
    target: PathBuf,
    published: bool,
    _on_signal: crate::interrupt::Registered,
}

impl Unpublished {
    fn begin(root: &Path, date: &str) -> Result<Unpublished> {
        mkdir(root)?;
        // What killed runs left: their temporary folders, or a previous report moved
        // aside but not yet removed. Reports take no lock, so another one may be
        // writing into the same folder right now: only leftovers a day old go.
        let stale = |e: &std::fs::DirEntry| {
            e.metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > std::time::Duration::from_secs(24 * 3600))
        };
        if let Ok(entries) = std::fs::read_dir(root) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().to_string();
                let leftover = name.starts_with(".tmp-") || name.starts_with(".old-");
                if leftover && stale(&entry) {
                    let _ = std::fs::remove_dir_all(entry.path());
                }
            }
        }
        let tmp = root.join(format!(".tmp-{date}-{}", std::process::id()));
        for sub in ["charts", "tables"] {
            mkdir(&tmp.join(sub))?;
        }
        Ok(Unpublished {
            _on_signal: crate::interrupt::register(tmp.clone()),
            tmp,
            target: root.join(date),
            published: false,
        })
    }

    fn path(&self) -> &Path {
        &self.tmp
    }

    /// Moves the finished report into place (a previous one of the same date aside
    /// first, removed after).
    fn publish(mut self) -> Result<PathBuf> {
        let aside = self.target.with_file_name(format!(
            ".old-{}-{}",
            self.target
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default(),
            std::process::id()
        ));
        let had = self.target.exists();
        if had {
            std::fs::rename(&self.target, &aside)
                .map_err(|e| Error::io("cannot move aside", &self.target, e))?;
        }
        std::fs::rename(&self.tmp, &self.target)
            .map_err(|e| Error::io("cannot publish", &self.target, e))?;
        self.published = true;
        if had {
            let _ = std::fs::remove_dir_all(&aside);
        }
        Ok(self.target.clone())
    }
}

impl Drop for Unpublished {
    fn drop(&mut self) {
        if !self.published {
            let _ = std::fs::remove_dir_all(&self.tmp);
        }
    }
}

/// Every metric's table as CSV and Parquet in `tables/`, and lint's as `lint.csv`.
fn write_tables(dir: &Path, frames: &Frames) -> Result<()> {
    for m in METRICS {
        let Some(df) = frames.get(m.name) else {
            continue;
        };
        let mut df = public(df);
        let mut csv = Vec::new();
        write_frame(&df, Format::Csv, &mut csv)?;
        write(&dir.join("tables").join(format!("{}.csv", m.name)), &csv)?;
        let path = dir.join("tables").join(format!("{}.parquet", m.name));
        let file =
            std::fs::File::create(&path).map_err(|e| Error::io("cannot create", &path, e))?;
        ParquetWriter::new(file)
            .finish(&mut df)
            .context(|| format!("cannot write `{}`", path.display()))?;
        if m.name == "lint" {
            write(&dir.join("lint.csv"), &csv)?;
        }
    }
    Ok(())
}

/// Every figure as SVG and PNG in `charts/`; the SVGs by metric, for the page.
fn write_charts(
    dir: &Path,
    frames: &Frames,
    notes: &Notes,
    progress: &dyn Observer,
) -> Result<BTreeMap<&'static str, String>> {
    let charted: Vec<(&Metric, &str)> = METRICS
        .iter()
        .filter_map(|m| match m.figure {
            Figure::Chart(name) => Some((m, name)),
            Figure::None => None,
        })
        .collect();
    let bar = progress.meter(MeterKind::Count, charted.len() as u64, "charts");
    let mut svgs = BTreeMap::new();
    for (m, name) in &charted {
        bar.set_message(name);
        if let Some(c) = figures::figure(name, frames, notes) {
            let svg = chart::to_svg(&c)?;
            write(&dir.join("charts").join(format!("{name}.svg")), &svg)?;
            write(
                &dir.join("charts").join(format!("{name}.png")),
                chart::to_png(&c)?,
            )?;
            svgs.insert(m.name, svg);
        }
        bar.inc(1);
    }
    bar.finish();
    Ok(svgs)
}

/// `summary.json`: the headline numbers, the range and the definitions.
fn write_summary(
    dir: &Path,
    inputs: &Inputs<'_>,
    (values, caveats, trend): (
        &[HeadlineValue],
        &BTreeMap<&'static str, String>,
        &trend::Trend,
    ),
    previous: Option<&(String, serde_json::Value)>,
    generated_at: &str,
) -> Result<()> {
    let p = inputs.params;
    let mut headline = serde_json::Map::new();
    for (key, _, v, unit) in values {
        let json = match (v, unit) {
            (Some(x), Unit::Count) => serde_json::Value::from(x.round() as i64),
            (Some(x), _) => serde_json::Value::from(*x),
            (None, _) => serde_json::Value::Null,
        };
        headline.insert(key.to_string(), json);
    }
    let mut explain = serde_json::Map::new();
    let mut csv = String::from("key,label,value,explain\n");
    for (key, label, v, _) in values {
        let commands = explain_commands(key, p);
        explain.insert(key.to_string(), serde_json::json!(commands));
        let quote = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
        csv.push_str(&format!(
            "{},{},{},{}\n",
            key,
            quote(label),
            v.map(|x| x.to_string()).unwrap_or_default(),
            quote(&commands.join(" ; "))
        ));
    }
    write(&dir.join("tables").join("headlines.csv"), csv)?;
    let summary = serde_json::json!({
        "as_of": format_timestamp(p.as_of),
        "from": p.from.to_string(),
        "to": p.to.to_string(),
        "definitions_hash": inputs.config.definitions_hash(),
        "headline": headline,
        "caveats": caveats,
        "trend": trend_json(values, trend),
        "explain": explain,
        "previous_report": previous.map(|(d, _)| d.clone()),
        "changes_since": format_timestamp(p.since_or_default()),
        "generated_at": generated_at,
    });
    write(
        &dir.join("summary.json"),
        serde_json::to_string_pretty(&summary).expect("json") + "\n",
    )
}

/// Per headline key, its value in each of the last periods of the report's length
/// (oldest first, the report's own last; null where the data does not reach back),
/// the previous period's and the year-earlier period's.
fn trend_json(values: &[HeadlineValue], trend: &trend::Trend) -> serde_json::Value {
    let starts: Vec<String> = trend.periods.iter().map(|(d, _)| d.to_string()).collect();
    let mut out = serde_json::Map::new();
    out.insert("period_starts".into(), serde_json::json!(starts));
    for (i, (key, ..)) in values.iter().enumerate() {
        out.insert(
            key.to_string(),
            serde_json::json!({
                "periods": trend.series(i),
                "previous_period": trend.previous(i),
                "year_earlier": trend.year_earlier(i),
            }),
        );
    }
    serde_json::Value::Object(out)
}

/// The `funnel explain` command lines that list the rows behind a headline number
/// (for a rate, its numerator's and its denominator's), pinned to the report's
/// range and as-of; none for a number `explain` does not cover.
fn explain_commands(key: &str, p: &Params) -> Vec<String> {
    let cell = |metric: &str, rest: &str| {
        format!(
            "funnel explain {metric} --from {} --to {} --as-of {} {rest}",
            p.from,
            p.to,
            format_timestamp(p.as_of)
        )
    };
    match key {
        "leads" => vec![cell("waterfall", "--row stage=lead")],
        "mqls" => vec![cell("waterfall", "--row stage=mql")],
        "mql_to_sal" => vec![
            cell("waterfall", "--row stage=sal"),
            cell("waterfall", "--row stage=mql"),
        ],
        "within_sla" => vec![
            cell("sla", "--column breached"),
            cell("sla", "--column due"),
        ],
        "win_rate" => vec![
            cell("win-rate", "--column won"),
            cell("win-rate", "--column closed"),
        ],
        "won_amount" => vec![cell("win-rate", "--column won_amount")],
        _ => Vec::new(),
    }
}

/// The headline tiles, each with its change since the previous report.
fn headline_tiles(
    values: &[HeadlineValue],
    previous: Option<&(String, serde_json::Value)>,
    notes: &BTreeMap<&'static str, String>,
    trend: &trend::Trend,
    currency: &str,
) -> Vec<html::Headline> {
    values
        .iter()
        .enumerate()
        .map(|(i, (key, label, v, unit))| {
            let then = |value: Option<f64>, when: &str| {
                value.map(|x| format!("{} {when}", format_value(x, *unit, currency)))
            };
            let earlier: Vec<String> = [
                then(trend.previous(i), "the period before"),
                then(trend.year_earlier(i), "a year earlier"),
            ]
            .into_iter()
            .flatten()
            .collect();
            let change = previous.and_then(|(d, prev)| {
                let before = prev["headline"][*key].as_f64()?;
                let now = (*v)?;
                let delta = match unit {
                    Unit::Rate => format!("{:+.1} pts", (now - before) * 100.0),
                    _ => format!("{:+}", chart::human(now - before, false)),
                };
                Some(format!("{delta} since {d}"))
            });
            html::Headline {
                label: label.to_string(),
                value: v
                    .map(|x| format_value(x, *unit, currency))
                    .unwrap_or_else(|| "—".into()),
                change,
                note: notes.get(key).cloned(),
                earlier: (!earlier.is_empty()).then(|| earlier.join(" · ")),
                spark: trend.series(i),
            }
        })
        .collect()
}

/// Per headline key, what its number leaves out (the registry's caveat), when it
/// leaves out anything; "not in your data" when nothing was left to count.
fn headline_caveats(frames: &Frames) -> BTreeMap<&'static str, String> {
    let mut out = BTreeMap::new();
    for (m, h) in registry::headlines() {
        let (Some((column, sentence)), Some(df)) = (h.caveat, frames.get(m.name)) else {
            continue;
        };
        let df = match h.row {
            Some((k, v)) => crate::frame::filter_eq(df, k, v),
            None => df.clone(),
        };
        let n = crate::frame::first(&df, column).unwrap_or(0.0);
        if n > 0.0 {
            let text = sentence.replace("{n}", &crate::text::thousands(n as u64));
            let none_left = crate::frame::first(&df, h.column).is_none();
            out.insert(
                h.key,
                if none_left {
                    format!("Not in your data: {text}")
                } else {
                    text
                },
            );
        }
    }
    out
}

/// The page around the numbers: title, subtitle, warnings, glossary, manifest.
fn page_frame<'a>(inputs: &Inputs<'a>, date: &str, notes: &Notes) -> html::Page<'a> {
    let hash = inputs.config.definitions_hash();
    let mut warnings = Vec::new();
    if inputs.is_sample {
        warnings.push(
            "This report is built on the bundled synthetic sample, not your data.".to_string(),
        );
    }
    if matches!(inputs.source, crate::config::ConfigSource::BuiltIn) {
        warnings.push(
            "Built with funnel's built-in default definitions, not a funnel.toml both teams reviewed: amounts in currencies without a rate count 0, and stage values are read with the defaults. Run `funnel init`, review the file together, and report again.".to_string(),
        );
    }
    let approval = crate::contract::approval::status(inputs.config, &hash);
    warnings.extend(approval.warnings.iter().cloned());
    let as_of = match inputs.params.as_of == latest_as_of(inputs) {
        true => format!("as of {date} (the data's latest event)"),
        false => format!("as of {date}"),
    };
    html::Page {
        title: format!("Funnel report — {as_of}"),
        subtitle: format!(
            "{} · range {} · definitions {} · time zone {} · amounts in {}",
            approval.headline,
            notes.range,
            &hash[..12],
            inputs.config.calendar.timezone,
            inputs.config.currency.base
        ),
        warnings,
        headlines: Vec::new(),
        sections: Vec::new(),
        lint: None,
        config: inputs.config,
        plan: None,
        bridges: Vec::new(),
        manifest_rows: manifest_rows(inputs, &hash, notes),
        generated_at: String::new(),
    }
}

/// The default as-of: the latest event the ingest recorded, when it did.
fn latest_as_of(inputs: &Inputs<'_>) -> i64 {
    inputs
        .manifest
        .and_then(|m| m.latest_event)
        .unwrap_or(i64::MIN)
}

/// The manifest table at the foot of the page.
fn manifest_rows(inputs: &Inputs<'_>, hash: &str, notes: &Notes) -> Vec<(String, String)> {
    let mut rows = vec![
        (
            "definitions".to_string(),
            format!("{hash} ({})", inputs.source),
        ),
        ("as of".to_string(), format_timestamp(inputs.params.as_of)),
        ("range".to_string(), notes.range.clone()),
    ];
    let Some(m) = inputs.manifest else {
        return rows;
    };
    for (t, n) in &m.tables {
        rows.push((
            format!("table {t}"),
            format!("{} rows", crate::text::thousands(*n)),
        ));
    }
    if let Some(run) = m.runs.last() {
        rows.push((
            "last ingest".into(),
            format!("{} ({})", run.finished_at, run.version),
        ));
        for input in &run.inputs {
            rows.push((
                format!("input {}", input.table),
                format!(
                    "{} · {} rows · blake3 {}",
                    input.path,
                    crate::text::thousands(input.rows),
                    &input.blake3[..16]
                ),
            ));
        }
    }
    rows
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

/// `root/latest` → the newest report folder (a symlink, replaced atomically).
fn point_latest(root: &Path, date: &str) -> Result<()> {
    let tmp = root.join(format!(".latest-{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    #[cfg(unix)]
    std::os::unix::fs::symlink(date, &tmp).map_err(|e| Error::io("cannot create", &tmp, e))?;
    let latest = root.join("latest");
    std::fs::rename(&tmp, &latest).map_err(|e| Error::io("cannot repoint", &latest, e))
}
