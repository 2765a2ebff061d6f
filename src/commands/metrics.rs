//! `funnel metrics`: computes one metric and prints it with its parameters.

use super::query::prepare_numbers;
use super::{Context, MetricsArgs};
use crate::error::{Error, Result};
use crate::metrics::revenue::model_name;
use crate::metrics::{self, METRICS};
use crate::output::{self, MetricHeader};
use crate::time::format_timestamp;

pub fn run(args: &MetricsArgs, ctx: &Context) -> Result<()> {
    if args.list {
        let width = METRICS.iter().map(|m| m.name.len()).max().unwrap_or(0);
        let mut text = String::new();
        for m in METRICS {
            text.push_str(&format!("{:width$}  {}\n", m.name, m.summary));
        }
        return output::print(&text);
    }
    let Some(name) = args.name.as_deref() else {
        return Err(Error::Usage(
            "name a metric (`funnel metrics waterfall`), or list them with `funnel metrics --list`"
                .into(),
        ));
    };
    let info = metrics::find(name).ok_or_else(|| {
        Error::Usage(format!(
            "unknown metric `{name}`; see `funnel metrics --list`"
        ))
    })?;
    let prep = prepare_numbers(ctx, &args.query)?;
    let (config, p) = (&prep.config, &prep.params);
    let step = ctx.progress.step(&format!("computing {name}"));
    let df = metrics::compute(name, &prep.tables, p, prep.manifest.as_ref())?;
    let df = shaped(df, &args.rows, args.sort.as_deref())?;
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
        "definitions": prep.source.to_string(),
        "data": if prep.opened.is_sample { "bundled sample" } else { "warehouse" },
    });
    let header = MetricHeader {
        metric: name.to_string(),
        as_of: format_timestamp(p.as_of),
        from: p.from.to_string(),
        to: p.to.to_string(),
        params,
        footer: vec![
            format!("{name}: {}", info.summary),
            format!(
                "range {} to {} ({}) · as of {} · definitions {} ({})",
                p.from,
                p.to,
                config.calendar.timezone,
                format_timestamp(p.as_of),
                &hash[..12],
                prep.source
            ),
        ],
    };
    output::write_metric(&df, args.format, &header, &mut std::io::stdout().lock())
}

/// The output rows kept by `--rows COL=VALUE` (values of one column are
/// alternatives; compared as text) and sorted by `--sort [-]COL`.
fn shaped(
    df: polars::prelude::DataFrame,
    rows: &[(String, String)],
    sort: Option<&str>,
) -> Result<polars::prelude::DataFrame> {
    use polars::prelude::*;
    let known = |c: &str| -> Result<()> {
        if df.get_column_names().iter().any(|n| n.as_str() == c) && !c.starts_with("__") {
            return Ok(());
        }
        let names: Vec<String> = df
            .get_column_names()
            .iter()
            .filter(|n| !n.starts_with("__"))
            .map(|n| n.to_string())
            .collect();
        Err(Error::Usage(format!(
            "the output has no column `{c}` (it has: {})",
            names.join(", ")
        )))
    };
    let mut lf = df.clone().lazy();
    let mut columns: Vec<&str> = rows.iter().map(|(c, _)| c.as_str()).collect();
    columns.dedup();
    for column in columns {
        known(column)?;
        let values: Vec<String> = rows
            .iter()
            .filter(|(c, _)| c == column)
            .map(|(_, v)| v.clone())
            .collect();
        let series = Series::new("".into(), values);
        lf = lf.filter(
            col(column)
                .cast(DataType::String)
                .is_in(lit(series).implode(false), false),
        );
    }
    if let Some(spec) = sort {
        let (column, descending) = match spec.strip_prefix('-') {
            Some(c) => (c, true),
            None => (spec, false),
        };
        known(column)?;
        lf = lf.sort(
            [column],
            SortMultipleOptions::default()
                .with_order_descending(descending)
                .with_nulls_last(true)
                .with_maintain_order(true),
        );
    }
    lf.collect()
        .map_err(|e| Error::Runtime(format!("shaping the output: {e}")))
}
