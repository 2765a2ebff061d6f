//! `funnel report`, `funnel chart`, `funnel run` and `funnel definitions`: the shared
//! report and what feeds it.

use super::query::{prepare_numbers, Prepared, QueryFlags};
use super::{ChartArgs, Context, IngestArgs, ReportArgs, RunArgs};
use crate::error::{Error, Result};
use crate::metrics::registry::{Dims, Figure, METRICS};
use crate::report::{self, chart, figures, Inputs};

fn inputs(prep: &Prepared) -> Inputs<'_> {
    Inputs {
        tables: &prep.tables,
        params: &prep.params,
        config: &prep.config,
        source: &prep.source,
        manifest: prep.manifest.as_ref(),
        is_sample: prep.opened.is_sample,
    }
}

pub fn report(args: &ReportArgs, ctx: &Context) -> Result<()> {
    let prep = prepare_numbers(ctx, &args.query)?;
    let inputs = inputs(&prep);
    let dir = report::build(&inputs, &args.out, &ctx.progress)?;
    ctx.progress
        .info(format!("wrote `{}`", dir.join("index.html").display()));
    crate::output::print(&format!("{}\n", dir.join("index.html").display()))?;
    Ok(())
}

/// The figure a name refers to: a figure name, or the metric it is drawn from.
fn figure_name(name: &str) -> Option<&'static str> {
    METRICS.iter().find_map(|m| match m.figure {
        Figure::Chart(f) if f == name || m.name == name => Some(f),
        _ => None,
    })
}

pub fn chart(args: &ChartArgs, ctx: &Context) -> Result<()> {
    let figure = figure_name(&args.name).ok_or_else(|| {
        Error::Usage(format!(
            "no chart `{}`; charts: {}",
            args.name,
            figures::names().join(", ")
        ))
    })?;
    let ext = args
        .out
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_lowercase);
    if !matches!(ext.as_deref(), Some("svg") | Some("png")) {
        return Err(Error::Usage(format!(
            "--out `{}` must end in .svg or .png",
            args.out.display()
        )));
    }
    if let Some(by) = args.query.by {
        let metric = METRICS
            .iter()
            .find(|m| matches!(m.figure, Figure::Chart(f) if f == figure));
        let how = match metric.map(|m| (m.name, m.dims)) {
            Some((_, Dims::OwnerFilterOnly)) => "pick one rep with --where owner_id=VALUE".into(),
            Some((name, Dims::ChannelOnly)) => {
                format!("see every channel with `funnel metrics {name} --by channel`")
            }
            Some((name, Dims::All | Dims::ByOnly)) => format!(
                "pick one with --where {by}=VALUE, or see every group with `funnel metrics {name} --by {by}`",
                by = by.name()
            ),
            _ => "it draws the whole company".into(),
        };
        return Err(Error::Usage(format!(
            "chart `{figure}` draws one group: `--by {}` is not drawn; {how}",
            by.name(),
        )));
    }
    let prep = prepare_numbers(ctx, &args.query)?;
    let inputs = inputs(&prep);
    // A chart of what the data does not hold would draw made-up numbers (a breached
    // SLA where no lead is ever recorded as accepted): refused, with the reason.
    let metric = METRICS
        .iter()
        .find(|m| matches!(m.figure, Figure::Chart(f) if f == figure));
    if let Some(m) = metric.filter(|m| !m.data.is_empty()) {
        let profile = crate::metrics::profile::Profile::of(inputs.tables, inputs.params)?;
        if let Some(why) = profile.first_lack(m.data) {
            return Err(Error::Data(format!(
                "chart `{figure}`: not in your data: {why}"
            )));
        }
    }
    let frames = report::frames_for(figure, &inputs)?;
    let c = figures::figure(figure, &frames, &report::notes(&inputs))
        .ok_or_else(|| Error::Data(format!("chart `{figure}` has no data to draw")))?;
    let bytes = if ext.as_deref() == Some("svg") {
        chart::to_svg(&c)?.into_bytes()
    } else {
        chart::to_png(&c)?
    };
    if let Some(dir) = args.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| Error::io("cannot create", dir, e))?;
    }
    std::fs::write(&args.out, bytes).map_err(|e| Error::io("cannot write", &args.out, e))?;
    ctx.progress.info(format!("wrote `{}`", args.out.display()));
    Ok(())
}

pub fn run(args: &RunArgs, ctx: &Context) -> Result<()> {
    // Before the ingest: a run whose report would be refused writes nothing.
    crate::contract::check::refuse_contradictions(&ctx.config()?.0)?;
    super::ingest::run(
        &IngestArgs {
            inputs: args.inputs.clone(),
            replace: args.replace,
            allow_empty: args.allow_empty,
            lock_timeout: args.lock_timeout,
            preset: args.preset.clone(),
        },
        ctx,
    )?;
    crate::memory::return_freed_memory();
    report(
        &ReportArgs {
            out: args.out.clone(),
            query: QueryFlags::default(),
        },
        ctx,
    )
}
