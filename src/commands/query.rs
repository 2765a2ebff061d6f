//! What the reading commands share: the definitions, the warehouse (or the bundled
//! sample), the tables, and the parameters resolved from the flags.

use super::Context;
use crate::config::{AttributionModel, Config, ConfigSource};
use crate::error::{Error, Result};
use crate::metrics::model::Tables;
use crate::metrics::params::{local_midnight, AsOf, Dim, Params, Period};
use crate::model::warehouse::Manifest;
use crate::sample::Opened;

/// The metric flags of `metrics`, `chart` and `report`.
#[derive(Debug, Clone, Default)]
pub struct QueryFlags {
    pub from: Option<chrono::NaiveDate>,
    pub to: Option<chrono::NaiveDate>,
    /// `YYYY-MM-DD`, `now` or an ISO timestamp; `None` = the latest event.
    pub as_of: Option<String>,
    pub by: Option<Dim>,
    pub filters: Vec<(Dim, String)>,
    pub period: Option<Period>,
    pub model: Option<AttributionModel>,
    pub histogram: bool,
    /// `plan --backtest N`.
    pub backtest: Option<u32>,
    /// `--as-known-at vNNNNNN|YYYY-MM-DD`: the version that was current then.
    pub as_known_at: Option<String>,
    /// `changes --since WHEN|vNNNNNN`.
    pub since: Option<String>,
    /// `cycle`/`velocity --include-negative`.
    pub include_negative: bool,
}

pub struct Prepared {
    pub config: Config,
    pub source: ConfigSource,
    pub opened: Opened,
    pub manifest: Option<Manifest>,
    pub tables: Tables,
    pub params: Params,
}

/// [`prepare`] for a command that computes numbers: definitions that contradict
/// themselves are refused first (`definitions check` reads them as they are).
pub fn prepare_numbers(ctx: &Context, flags: &QueryFlags) -> Result<Prepared> {
    let (config, _) = ctx.config()?;
    crate::contract::check::refuse_contradictions(&config)?;
    let prep = prepare(ctx, flags)?;
    // A --where value that matches nothing gives empty numbers: say so, with the
    // values the user may have meant.
    for (dim, value, near) in crate::metrics::model::unmatched_filters(&prep.tables, &prep.params)?
    {
        let hint = if near.is_empty() {
            String::new()
        } else {
            format!(
                " (closest: {})",
                near.iter()
                    .map(|v| format!("`{}`", crate::text::terminal_safe(v)))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        ctx.progress.warn(format!(
            "--where {}={}: no lead or opportunity has this value{hint}",
            dim.name(),
            crate::text::terminal_safe(&value)
        ));
    }
    Ok(prep)
}

pub fn prepare(ctx: &Context, flags: &QueryFlags) -> Result<Prepared> {
    let (mut config, source) = ctx.config()?;
    let loaded = load(ctx, &config, flags.as_known_at.as_deref())?;
    // The bundled sample comes with its company's plan, tracked when the definitions
    // bring none (the repository's funnel.toml, or one `funnel init` just wrote).
    if loaded.opened.is_sample && config.plan.is_none() {
        config.plan = crate::sample::plan();
    }
    let tz = config.calendar.tz();
    let as_of = match (flags.as_of.as_deref(), loaded.latest) {
        (None, None) => {
            return Err(Error::Data(
                "the warehouse holds no events to date the numbers by; pass --as-of".into(),
            ))
        }
        (None, Some(latest)) => latest,
        (Some(text), _) => as_of_instant(text, tz)?,
    };
    let Loaded {
        opened,
        manifest,
        tables,
        latest,
        later,
    } = loaded;
    let params = Params::resolve(
        config.clone(),
        as_of,
        flags.from,
        flags.to,
        flags.by,
        group_filters(&flags.filters),
        flags.period,
        flags.model,
        flags.histogram,
    )?;
    let mut params = Params {
        backtest: flags.backtest,
        include_negative: flags.include_negative,
        ..params
    };
    let mut tables = at_as_of(tables, &params, latest, later);
    if let Some(text) = flags.since.as_deref() {
        let (since, earlier) = since(ctx, &config, text, tz)?;
        params.since = Some(since);
        tables.earlier = earlier.map(std::sync::Arc::new);
    }
    Ok(Prepared {
        config,
        source,
        opened,
        manifest,
        tables,
        params,
    })
}

/// The warehouse (or the bundled sample) opened, its tables with the frames computed
/// ahead, and the event instants that date it.
pub struct Loaded {
    pub opened: Opened,
    pub manifest: Option<Manifest>,
    pub tables: Tables,
    /// The latest event (the default as-of), and the first one after it.
    pub latest: Option<i64>,
    pub later: Option<i64>,
}

pub fn load(ctx: &Context, config: &Config, known_at: Option<&str>) -> Result<Loaded> {
    let warehouse = match known_at {
        None => ctx.warehouse(),
        Some(text) => known_version(ctx.warehouse(), text, config.calendar.tz())?,
    };
    let opened = crate::sample::open_or_sample(warehouse, config, &ctx.progress)?;
    let manifest = opened.manifest.clone();
    let mut tables = Tables::from_map(opened.warehouse.scan_all()?);
    crate::metrics::derived::attach(
        &mut tables,
        &opened.warehouse,
        manifest.as_ref(),
        &config.frames_hash(),
    )?;
    let (latest, later) = match manifest.as_ref().and_then(|m| m.latest_event) {
        Some(t) => (Some(t), manifest.as_ref().and_then(|m| m.later_event)),
        None => crate::metrics::event_instants(&tables, chrono::Utc::now().timestamp_micros())?,
    };
    Ok(Loaded {
        opened,
        manifest,
        tables,
        latest,
        later,
    })
}

/// The moment `changes --since TEXT` names, and the earlier tables when it names a
/// kept version (read at that version's own as-of, its latest event).
fn since(
    ctx: &Context,
    config: &Config,
    text: &str,
    tz: chrono_tz::Tz,
) -> Result<(i64, Option<Tables>)> {
    let text = text.trim();
    let is_id =
        text.len() > 1 && text.starts_with('v') && text[1..].bytes().all(|b| b.is_ascii_digit());
    if !is_id {
        return Ok((
            as_of_instant(text, tz)
                .map_err(|e| Error::Usage(e.to_string().replace("--as-of", "--since")))?,
            None,
        ));
    }
    let loaded = load(ctx, config, Some(text))?;
    let Some(t0) = loaded.latest else {
        return Err(Error::Data(format!(
            "--since {text}: that version holds no events to date it by"
        )));
    };
    Ok((t0, Some(loaded.tables)))
}

/// The warehouse read as the version `--as-known-at TEXT` names: `vNNNNNN`, or the
/// latest version committed by the end of local day `YYYY-MM-DD` — what a report
/// said then, before the corrections that came later.
fn known_version(
    warehouse: crate::model::warehouse::Warehouse,
    text: &str,
    tz: chrono_tz::Tz,
) -> Result<crate::model::warehouse::Warehouse> {
    let text = text.trim();
    let kept = warehouse.version_times();
    let listing = || {
        let first = kept.first().map(|(id, t)| {
            let when = t
                .map(|t| crate::time::local_date(t, tz).to_string())
                .unwrap_or_else(|| "an unknown date".into());
            format!("the oldest kept is {id}, committed {when}")
        });
        first.unwrap_or_else(|| "the warehouse holds no version".into())
    };
    let is_id =
        text.len() > 1 && text.starts_with('v') && text[1..].bytes().all(|b| b.is_ascii_digit());
    if is_id {
        if !kept.iter().any(|(id, _)| id == text) {
            return Err(Error::Usage(format!(
                "--as-known-at {text}: no such version ({}; `funnel warehouse versions` lists them)",
                listing()
            )));
        }
        return Ok(warehouse.pinned(text));
    }
    let day = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| {
        Error::Usage(format!(
            "--as-known-at `{text}`: expected a version (v000012) or a date (YYYY-MM-DD)"
        ))
    })?;
    let end = local_midnight(day + chrono::Duration::days(1), tz) - 1;
    match warehouse.version_at(end)? {
        Some(id) => Ok(warehouse.pinned(&id)),
        None => Err(Error::Usage(format!(
            "--as-known-at {day}: no version of the warehouse kept from that day or before ({}; `[warehouse] keep_daily` keeps one per day)",
            listing()
        ))),
    }
}

/// The instant `--as-of TEXT` names: `YYYY-MM-DD` (the last microsecond of that local
/// day), `now`, or an ISO timestamp.
pub fn as_of_instant(text: &str, tz: chrono_tz::Tz) -> Result<i64> {
    Ok(match AsOf::parse(text, tz)? {
        AsOf::Now => chrono::Utc::now().timestamp_micros(),
        AsOf::Date(d) => local_midnight(d + chrono::Duration::days(1), tz) - 1,
        AsOf::Instant(t) => t,
    })
}

/// The tables as they were at `p.as_of` (docs/metrics.md: nothing after it is
/// visible), for a warehouse whose events end at `latest` (then `later`, dated in
/// the future): the frames computed at ingest serve only when they describe that
/// moment.
pub fn at_as_of(mut tables: Tables, p: &Params, latest: Option<i64>, later: Option<i64>) -> Tables {
    use crate::metrics::visible;
    if visible::hides_anything(p.as_of, latest, later) {
        // Cuts the frames computed ahead where that is exact, drops the rest.
        tables = visible::cut(&tables, p);
    } else if !visible::derived_hold(p.as_of, latest, later) {
        tables.drop_derived();
    }
    tables
}

/// `--where source=a --where source=b` is one filter accepting either value.
fn group_filters(filters: &[(Dim, String)]) -> Vec<(Dim, Vec<String>)> {
    let mut out: Vec<(Dim, Vec<String>)> = Vec::new();
    for (dim, value) in filters {
        match out.iter_mut().find(|(d, _)| d == dim) {
            Some((_, values)) => values.push(value.clone()),
            None => out.push((*dim, vec![value.clone()])),
        }
    }
    out
}
