//! `funnel explain METRIC … --row KEY=VALUE … --column NAME`: the rows behind one
//! cell of a metric, and how they make it.

use super::query::{prepare_numbers, QueryFlags};
use super::Context;
use crate::error::{Error, Result};
use crate::metrics::explain::{explain, recompute, Cell, Reading};
use crate::output::{self, Format};

#[derive(Debug, Clone)]
pub struct ExplainArgs {
    pub metric: String,
    pub query: QueryFlags,
    pub cell: Cell,
    pub format: Format,
}

pub fn run(args: &ExplainArgs, ctx: &Context) -> Result<()> {
    let metric = crate::metrics::find(&args.metric).ok_or_else(|| {
        Error::Usage(format!(
            "unknown metric `{}`; see `funnel metrics --list`",
            args.metric
        ))
    })?;
    let prep = prepare_numbers(ctx, &args.query)?;
    crate::metrics::check(metric, &prep.tables, &prep.params)?;
    let e = explain(metric.name, &prep.tables, &prep.params, &args.cell)?;
    output::write_frame(&e.rows, args.format, &mut std::io::stdout().lock())?;
    let value = recompute(&e)
        .map(|v| format!("{v}"))
        .unwrap_or_else(|| "—".into());
    let how = match &e.reading {
        Reading::Count => format!(
            "{} row(s): the cell's `{}` counts them",
            crate::text::thousands(e.rows.height() as u64),
            e.column
        ),
        Reading::Sum(c) => format!(
            "{} row(s): the cell's `{}` is the sum of their `{c}`, {value}",
            crate::text::thousands(e.rows.height() as u64),
            e.column
        ),
        Reading::Median(c) => format!(
            "{} row(s): the cell's `{}` is the median of their `{c}`, {value}",
            crate::text::thousands(e.rows.height() as u64),
            e.column
        ),
        Reading::Mean(c) => format!(
            "{} row(s): the cell's `{}` is the mean of their `{c}`, {value}",
            crate::text::thousands(e.rows.height() as u64),
            e.column
        ),
        Reading::Quantile(c, q) => format!(
            "{} row(s): the cell's `{}` is the {q} quantile (linear) of their `{c}`, {value}",
            crate::text::thousands(e.rows.height() as u64),
            e.column
        ),
    };
    ctx.progress.info(how);
    Ok(())
}
