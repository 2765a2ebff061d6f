//! `funnel sql`: ad-hoc SQL over the warehouse tables.

use polars::sql::SQLContext;

use super::{Context, SqlArgs};
use crate::error::{Error, Result};
use crate::output;

pub fn run(args: &SqlArgs, ctx: &Context) -> Result<()> {
    let (config, _) = ctx.config()?;
    let opened = crate::sample::open_or_sample(ctx.warehouse(), &config, &ctx.progress)?;
    let mut sql = SQLContext::new();
    for (name, lf) in opened.warehouse.scan_all()? {
        sql.register(name, lf);
    }
    let df = sql
        .execute(&args.query)
        .and_then(|lf| lf.collect())
        .map_err(|e| Error::Usage(format!("SQL error: {e}")))?;
    output::write_frame(&df, args.format, &mut std::io::stdout().lock())
}
