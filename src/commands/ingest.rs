//! `funnel ingest`: loads exports into the warehouse.

use super::{Context, IngestArgs};
use crate::error::{Error, Result};
use crate::ingest::IngestOptions;
use crate::pipeline::ingest;

pub fn run(args: &IngestArgs, ctx: &Context) -> Result<()> {
    let (config, source) = ctx.config_for_ingest(args.preset.as_deref())?;
    let native = args.preset.as_deref() == Some("native");
    if let (Some(flag), Some(file)) = (args.preset.as_deref(), config.mapping.preset.as_deref()) {
        if !native && flag != file {
            return Err(Error::Usage(format!(
                "--preset {flag} contradicts `mapping.preset = \"{file}\"` in {source}; drop one of them"
            )));
        }
    }
    let warehouse = ctx.warehouse();
    ctx.progress.info(format!(
        "ingesting into `{}` (definitions: {source})",
        warehouse.root().display()
    ));
    let summary = ingest(
        &warehouse,
        &config,
        &IngestOptions {
            inputs: args.inputs.clone(),
            replace: args.replace,
            allow_empty: args.allow_empty,
            lock_timeout: std::time::Duration::from_secs_f64(args.lock_timeout),
            native,
        },
        &ctx.progress,
    )?;
    for line in summary.lines() {
        ctx.progress.info(line);
    }
    let quarantined: u64 = summary.tables.values().map(|c| c.quarantined).sum();
    if quarantined > 0 {
        ctx.progress.warn(format!(
            "{quarantined} row(s) quarantined, with the reason, in `{}`",
            warehouse.quarantine_dir().display()
        ));
    }
    ctx.progress
        .info(format!("warehouse version {} is current", summary.version));
    Ok(())
}
