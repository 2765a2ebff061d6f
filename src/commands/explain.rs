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
    let made = match &e.reading {
        Reading::Count => "counts them".to_string(),
        Reading::Sum(c) => format!("is the sum of their `{c}`, {value}"),
        Reading::Mean(c) => format!("is the mean of their `{c}`, {value}"),
        Reading::Quantile(c, q) => {
            format!("is the {q} quantile (linear) of their `{c}`, {value}")
        }
    };
    let how = format!(
        "{} row(s): the cell's `{}` {made}",
        crate::text::thousands(e.rows.height() as u64),
        e.column
    );
    ctx.progress.info(how);
    Ok(())
}
