//! `funnel metrics`: computes one metric and prints it with its parameters.

use super::{Context, MetricsArgs};
use crate::error::{Error, Result};
use crate::ingest::parse::format_timestamp;
use crate::metrics::model::Tables;
use crate::metrics::params::{local_midnight, AsOf, Params};
use crate::metrics::revenue::model_name;
use crate::metrics::{self, METRICS};
use crate::output::{self, MetricHeader};

pub fn run(args: &MetricsArgs, ctx: &Context) -> Result<()> {
    if args.list {
        let width = METRICS.iter().map(|m| m.name.len()).max().unwrap_or(0);
        let mut text = String::new();
        for m in METRICS {
            text.push_str(&format!("{:width$}  {}\n", m.name, m.summary));
        }
        print!("{text}");
        return Ok(());
    }
    let Some(name) = args.name.as_deref() else {
        return Err(Error::Usage(
            "name a metric (`funnel metrics waterfall`), or list them with `funnel metrics --list`"
                .into(),
        ));
    };
    let info = metrics::info(name).ok_or_else(|| {
        Error::Usage(format!(
            "unknown metric `{name}`; see `funnel metrics --list`"
        ))
    })?;
    let (config, source) = ctx.config()?;
    let opened = crate::sample::open_or_sample(ctx.warehouse(), &config, &ctx.progress)?;
    let manifest = opened.warehouse.manifest()?;
    let tables = Tables::from_map(opened.warehouse.scan_all()?);
    let tz = config.calendar.tz();
    let as_of = match AsOf::parse(args.as_of.as_deref().unwrap_or("latest"), tz) {
        _ if args.as_of.is_none() => metrics::latest_event(&tables)?.ok_or_else(|| {
            Error::Data("the warehouse holds no events to date the report by; pass --as-of".into())
        })?,
        Ok(AsOf::Now) => chrono::Utc::now().timestamp_micros(),
        Ok(AsOf::Date(d)) => local_midnight(d + chrono::Duration::days(1), tz) - 1,
        Ok(AsOf::Instant(t)) => t,
        Ok(AsOf::Latest) => unreachable!("not parsed from text"),
        Err(e) => return Err(e),
    };
    let p = Params::resolve(
        config.clone(),
        as_of,
        args.from,
        args.to,
        args.by,
        group_filters(&args.filters),
        args.period,
        args.model,
        args.histogram,
    )?;
    let step = ctx.progress.step(&format!("computing {name}"));
    let df = metrics::compute(name, &tables, &p, manifest.as_ref())?;
    step.finish();
    let hash = config.definitions_hash();
    let params = serde_json::json!({
        "by": p.by.map(|d| d.name()),
        "where": p.filters.iter().map(|(d, v)| (d.name().to_string(), serde_json::json!(v))).collect::<serde_json::Map<_, _>>(),
        "period": p.period.map(|x| x.name()),
        "model": p.model.map(model_name),
        "histogram": p.histogram,
        "timezone": config.calendar.timezone,
        "skipped_stages": serde_json::to_value(config.funnel.skipped_stages).expect("serialises"),
        "conversion_window_days": config.funnel.conversion_window_days,
        "maturity_days": config.funnel.maturity_days,
        "sla_hours": config.mql.sla_hours,
        "base_currency": config.currency.base,
        "attribution_model": model_name(config.attribution.model),
        "definitions_hash": hash,
        "definitions": source.to_string(),
        "data": if opened.is_sample { "bundled sample" } else { "warehouse" },
    });
    let header = MetricHeader {
        metric: name.to_string(),
        as_of: format_timestamp(as_of),
        from: p.from.to_string(),
        to: p.to.to_string(),
        params,
        footer: vec![
            format!("{name}: {}", info.summary),
            format!(
                "range {} to {} ({}) · as of {} · definitions {} ({source})",
                p.from,
                p.to,
                config.calendar.timezone,
                format_timestamp(as_of),
                &hash[..12]
            ),
        ],
    };
    output::write_metric(&df, args.format, &header, &mut std::io::stdout().lock())
}

/// `--where source=a --where source=b` is one filter accepting either value.
fn group_filters(
    filters: &[(crate::metrics::params::Dim, String)],
) -> Vec<(crate::metrics::params::Dim, Vec<String>)> {
    let mut out: Vec<(crate::metrics::params::Dim, Vec<String>)> = Vec::new();
    for (dim, value) in filters {
        match out.iter_mut().find(|(d, _)| d == dim) {
            Some((_, values)) => values.push(value.clone()),
            None => out.push((*dim, vec![value.clone()])),
        }
    }
    out
}
