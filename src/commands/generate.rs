//! `funnel generate`: writes a synthetic export.

use super::{Context, GenerateArgs};
use crate::error::Result;
use crate::generate::{generate, GenerateOptions};
use crate::text::thousands;

pub fn run(args: &GenerateArgs, ctx: &Context) -> Result<()> {
    let options = GenerateOptions {
        leads: args.leads,
        seed: args.seed,
        months: args.months,
    };
    let bar = ctx.progress.count(args.leads, "generating");
    let counts = generate(&args.out, &options, |n| bar.inc(n))?;
    bar.finish();
    for (table, rows) in counts {
        ctx.progress
            .info(format!("{table}: {} rows", thousands(rows)));
    }
    ctx.progress.info(format!("wrote `{}`", args.out.display()));
    Ok(())
}
