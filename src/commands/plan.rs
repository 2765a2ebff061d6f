//! `funnel plan`: the shared plan in words with its status, and `funnel plan draft`,
//! which writes a plan drafted from the data into funnel.toml.

use std::path::PathBuf;

use super::query::{prepare_numbers, QueryFlags};
use super::Context;
use crate::config::plan::{parse_period, Commitment, Measure};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::metrics::params::Params;
use crate::metrics::plan::{self as planning, Draft};
use crate::output::{self, Format};

#[derive(Debug, Clone)]
pub struct PlanArgs {
    pub query: QueryFlags,
    pub format: Format,
    pub draft: Option<DraftArgs>,
}

#[derive(Debug, Clone)]
pub struct DraftArgs {
    pub period: String,
    pub bookings: f64,
    pub by_source_team: bool,
    pub lookback_days: Option<u32>,
    pub force: bool,
}

pub fn run(args: &PlanArgs, ctx: &Context) -> Result<()> {
    match &args.draft {
        Some(d) => draft(d, &args.query, ctx),
        None => show(args, ctx),
    }
}

/// The plan in words, who signed it, and where it stands at the as-of.
fn show(args: &PlanArgs, ctx: &Context) -> Result<()> {
    let prep = prepare_numbers(ctx, &args.query)?;
    let config = &prep.config;
    let plan = config.plan.as_ref().ok_or_else(planning::no_plan)?;
    let df = crate::metrics::compute("plan", &prep.tables, &prep.params, prep.manifest.as_ref())?;
    let mut out = std::io::stdout().lock();
    if args.format == Format::Table {
        let mut text = format!(
            "The plan for {}\n{}\n\n",
            plan.label(config.calendar.fiscal_year_start_month),
            approval_words(config)
        );
        for s in plan.sentences(config) {
            text.push_str(&format!("- {s}\n"));
        }
        text.push_str(&format!(
            "\nWhere it stands as of {}:\n\n",
            crate::time::format_timestamp(prep.params.as_of)
        ));
        output::print(&text)?;
    }
    output::write_frame(&df, args.format, &mut out)
}

/// Who approved the definitions, plan included, and what is missing.
fn approval_words(config: &Config) -> String {
    let status = crate::contract::approval::status(config, &config.definitions_hash());
    let mut words = format!("Approval: {}", status.headline);
    for w in status.warnings {
        words.push_str("\n  ");
        words.push_str(&w);
    }
    words
}

/// The evidence comment of a rate: `n` converted of `e` entered, with its Wilson
/// 95 % interval.
fn evidence(step: &str, e: i64, c: i64, lookback: u32) -> String {
    let plural = |stage: &str| match stage {
        "lead" => "leads",
        "mql" => "MQLs",
        "sal" => "SALs",
        "sql" => "SQLs",
        "opportunity" => "opportunities",
        _ => "customers",
    };
    let (from, to) = step.split_once('>').unwrap_or((step, step));
    if e == 0 || c == 0 {
        return format!(
            "# no {} in mature monthly cohorts of the last {lookback} days went on to {to}: write the rate you expect",
            plural(from)
        );
    }
    let (lo, hi) = crate::metrics::model::wilson_bounds(c, e).unwrap_or((0.0, 1.0));
    format!(
        "# {} of {} {} reached {to} (mature monthly cohorts, last {lookback} days); 95 % Wilson {lo:.4}–{hi:.4}",
        crate::text::thousands(c as u64),
        crate::text::thousands(e as u64),
        plural(from),
    )
}

/// A number as TOML writes it: whole numbers without a fraction.
fn toml_number(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        format!("{x}")
    }
}

/// Why a commitment's target is what it is.
fn reason(c: &Commitment, d: &Draft, previous: Option<&Commitment>) -> String {
    let rate_of = |step: &str| {
        d.rates
            .iter()
            .find(|(s, ..)| s == step)
            .and_then(|r| r.3)
            .map(|r| format!("{r}"))
            .unwrap_or_default()
    };
    let prev = || previous.map(|p| toml_number(p.target)).unwrap_or_default();
    match c.measure {
        Measure::Bookings => "# won amount closed in the period, base currency".into(),
        Measure::WonDeals => format!(
            "# bookings ÷ avg_deal ({}), rounded up",
            d.avg_deal.map(toml_number).unwrap_or_default()
        ),
        Measure::Opportunities => format!(
            "# {} won deals ÷ opportunity>customer {}, rounded up",
            prev(),
            rate_of("opportunity>customer")
        ),
        Measure::Sqls => format!(
            "# {} opportunities ÷ sql>opportunity {}, rounded up",
            prev(),
            rate_of("sql>opportunity")
        ),
        Measure::Sals => format!(
            "# {} SQLs ÷ sal>sql {}, rounded up",
            prev(),
            rate_of("sal>sql")
        ),
        Measure::Mqls => format!(
            "# {} SALs ÷ mql>sal {}, rounded up",
            prev(),
            rate_of("mql>sal")
        ),
        Measure::Leads => format!(
            "# {} MQLs ÷ lead>mql {}, rounded up",
            prev(),
            rate_of("lead>mql")
        ),
        Measure::SlaWithinRate => format!(
            "# share of MQLs decided within the SLA; the last {} days: {}",
            d.lookback_days,
            d.sla_rate
                .map(|r| format!("{r:.4}"))
                .unwrap_or_else(|| "no episodes".into())
        ),
        _ => String::new(),
    }
}

/// The `[plan]` text of a draft, with its evidence as comments.
fn plan_text(args: &DraftArgs, d: &Draft, as_of_day: chrono::NaiveDate) -> String {
    let mut t = String::new();
    t.push_str("[plan]\n");
    t.push_str(&format!(
        "# Drafted by `funnel plan draft` from the data up to {as_of_day} ({} days of history).\n# Argue the targets out together, then both teams sign with `funnel definitions approve`.\n",
        d.lookback_days
    ));
    t.push_str(&format!("period = \"{}\"\n", args.period.trim()));
    t.push_str(&format!("bookings = {}\n", toml_number(args.bookings)));
    t.push_str("\n[plan.assumptions]\n");
    match d.avg_deal {
        Some(a) => t.push_str(&format!(
            "# average won amount of {} won deals closed in the last {} days\navg_deal = {}\n",
            crate::text::thousands(d.won_with_amount as u64),
            d.lookback_days,
            toml_number(a)
        )),
        None => t.push_str(&format!(
            "# no won deal with an amount in the last {} days: write the average deal you expect\n# avg_deal = 25000\n",
            d.lookback_days
        )),
    }
    t.push_str("\n[plan.assumptions.rates]\n");
    for (step, e, c, rate) in &d.rates {
        t.push_str(&evidence(step, *e, *c, d.lookback_days));
        t.push('\n');
        match rate {
            Some(r) => t.push_str(&format!("\"{step}\" = {r}\n")),
            None => t.push_str(&format!("# \"{step}\" = 0.5\n")),
        }
    }
    let mut previous: Option<&Commitment> = None;
    for c in &d.commitments {
        t.push_str("\n[[plan.commitment]]\n");
        let why = reason(c, d, previous);
        if !why.is_empty() {
            t.push_str(&why);
            t.push('\n');
        }
        t.push_str(&format!("team = \"{}\"\n", c.team.name()));
        t.push_str(&format!("measure = \"{}\"\n", c.measure.name()));
        t.push_str(&format!("target = {}\n", toml_number(c.target)));
        if !c.split.is_empty() {
            let parts: Vec<String> = c
                .split
                .iter()
                .map(|(k, v)| format!("{k} = \"{v}\""))
                .collect();
            t.push_str(&format!("split = {{ {} }}\n", parts.join(", ")));
        }
        previous = Some(c);
    }
    t
}

fn draft(args: &DraftArgs, flags: &QueryFlags, ctx: &Context) -> Result<()> {
    let path = ctx
        .global
        .config
        .clone()
        .unwrap_or_else(|| PathBuf::from("funnel.toml"));
    let (config, _) = ctx.config()?;
    parse_period(&args.period, config.calendar.fiscal_year_start_month)
        .map_err(|m| Error::Usage(m.replace("key `plan.period`", "--period")))?;
    if !(args.bookings.is_finite() && args.bookings >= 0.0) {
        return Err(Error::Usage(
            "--bookings: must be a non-negative amount".into(),
        ));
    }
    let approved = config
        .approval
        .as_ref()
        .is_some_and(|a| !a.teams.is_empty());
    if config.plan.is_some() && approved && !args.force {
        return Err(Error::Usage(format!(
            "{} holds a plan the teams approved: it is not replaced without --force (and then needs both approvals again)",
            path.display()
        )));
    }
    let prep = prepare_numbers(ctx, flags)?;
    let mut p: Params = prep.params.clone();
    if let Some(days) = args.lookback_days {
        p.config.quota.lookback_days = days;
    }
    let d = planning::draft(&prep.tables, &p, args.bookings, args.by_source_team)?;
    let text = if path.exists() {
        std::fs::read_to_string(&path).map_err(|e| Error::io("cannot read", &path, e))?
    } else {
        String::new()
    };
    let mut doc: toml_edit::DocumentMut =
        text.parse()
            .map_err(|e: toml_edit::TomlError| Error::Config {
                file: path.clone(),
                message: e.to_string(),
            })?;
    doc.remove("plan");
    let mut out = doc.to_string().trim_end().to_string();
    if !out.is_empty() {
        out.push_str("\n\n");
    }
    out.push_str(&plan_text(args, &d, crate::time::local_date(p.as_of, p.tz)));
    // The edited file must still be a valid definitions file.
    let written = Config::parse(&out).map_err(|message| Error::Config {
        file: path.clone(),
        message,
    })?;
    let tmp = path.with_extension("toml.draft-tmp");
    std::fs::write(&tmp, &out).map_err(|e| Error::io("cannot write", &tmp, e))?;
    std::fs::rename(&tmp, &path).map_err(|e| Error::io("cannot write", &path, e))?;
    let mut text = String::new();
    for s in written
        .plan
        .as_ref()
        .map(|pl| pl.sentences(&written))
        .unwrap_or_default()
    {
        text.push_str(&format!("- {s}\n"));
    }
    output::print(&text)?;
    ctx.progress.info(format!(
        "wrote [plan] for {} into {}: {} commitments drafted from the data; edit them together, then `funnel definitions approve --team marketing|sales`",
        args.period.trim(),
        path.display(),
        d.commitments.len()
    ));
    Ok(())
}
