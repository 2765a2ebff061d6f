//! `funnel ingest`: loads exports into the warehouse.

use super::{Context, IngestArgs};
use crate::error::Result;
use crate::ingest::{ingest, IngestOptions};

pub fn run(args: &IngestArgs, ctx: &Context) -> Result<()> {
    let (config, source) = ctx.config()?;
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
            lock_timeout: std::time::Duration::from_secs_f64(args.lock_timeout),
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
