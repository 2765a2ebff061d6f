//! "Why these numbers differ": the report's reconciliation of the numbers that look
//! alike but count on different bases — customers by cohort, customers reached in
//! range and won opportunities; MQLs by cohort, MQLs reached in range and MQL
//! episodes; the reverse funnel's company row and the sum of its reps. Every count
//! is computed from the same tables and parameters as the metrics, so each line adds
//! up exactly.

use polars::prelude::*;

use super::Inputs;
use crate::error::Result;
use crate::frame::{filter_eq, first, floats, strings};
use crate::metrics::model::{collect, in_range, lead_funnel, opportunities, us};
use crate::report::Frames;
use crate::text::thousands;

/// One reconciliation: two numbers of the report and the counts that bridge them.
#[derive(Debug, Clone, PartialEq)]
pub struct Bridge {
    pub title: String,
    /// (what, value) of the first number, then the second.
    pub from: (String, i64),
    pub to: (String, i64),
    /// The signed steps from the first to the second, each with what it counts.
    pub steps: Vec<(i64, String)>,
}

impl Bridge {
    /// Whether the steps add up (they do by construction; a test holds them to it).
    pub fn adds_up(&self) -> bool {
        self.from.1 + self.steps.iter().map(|s| s.0).sum::<i64>() == self.to.1
    }
}

fn n(x: Option<f64>) -> i64 {
    x.unwrap_or(0.0).round() as i64
}

fn count(df: &DataFrame, column: &str) -> i64 {
    n(first(df, column))
}

/// The bridges, from the report's frames and the tables behind them.
pub fn bridges(inputs: &Inputs<'_>, frames: &Frames) -> Result<Vec<Bridge>> {
    let mut out = Vec::new();
    if let Some(b) = customers(inputs, frames)? {
        out.extend(b);
    }
    if let Some(b) = mqls(inputs, frames)? {
        out.push(b);
    }
    if let Some(b) = reverse_funnel(frames) {
        out.push(b);
    }
    Ok(out.into_iter().map(settle).collect())
}

/// A bridge whose steps do not reach its end (a reading the steps do not cover, such
/// as strict stage order) gets the rest as a step of its own, so that no line of the
/// report adds up wrong.
fn settle(mut b: Bridge) -> Bridge {
    let rest = b.to.1 - b.from.1 - b.steps.iter().map(|s| s.0).sum::<i64>();
    if rest != 0 {
        b.steps.push((
            rest,
            "other differences (strict stage order, data out of order)".into(),
        ));
    }
    b
}

fn cell(frames: &Frames, metric: &str, key: (&str, &str), column: &str) -> Option<i64> {
    let df = frames.get(metric)?;
    let row = filter_eq(df, key.0, key.1);
    (row.height() > 0).then(|| n(first(&row, column)))
}

/// Customers by cohort (waterfall) → reached in range (cycle's lead_to_customer) →
/// won opportunities closed in range (win-rate).
fn customers(inputs: &Inputs<'_>, frames: &Frames) -> Result<Option<Vec<Bridge>>> {
    let (Some(cohort), Some(reached)) = (
        cell(frames, "waterfall", ("stage", "customer"), "reached"),
        cell(frames, "cycle", ("measure", "lead_to_customer"), "count"),
    ) else {
        return Ok(None);
    };
    let mut out = vec![cohort_and_reached(inputs, cohort, reached)?];
    if let Some(won) = cell_first(frames, "win-rate", "won") {
        out.push(reached_and_won(inputs, reached, won)?);
    }
    Ok(Some(out))
}

/// Customers by cohort (the waterfall's, leads created in range) against customers
/// reached in range (the cycle's): leads created before the range, the conversion
/// window, and cohort customers reached after the range.
fn cohort_and_reached(inputs: &Inputs<'_>, cohort: i64, reached: i64) -> Result<Bridge> {
    let p = inputs.params;
    let funnel = lead_funnel(inputs.tables, p);
    let created_in = in_range(us("reached_lead"), p);
    let customer_in = in_range(us("reached_customer"), p);
    let window = p.config.funnel.conversion_window_days;
    let df = collect(
        funnel.clone().select([
            // Reached customer in range from a lead created before the range.
            customer_in
                .clone()
                .and(us("reached_lead").lt(lit(p.range_start)))
                .cast(DataType::Int64)
                .sum()
                .alias("earlier"),
            // Cohort customers that the cohort does not count in range: reached after
            // the range's end, or outside the conversion window.
            created_in
                .clone()
                .and(col("reached_customer").is_not_null())
                .and(customer_in.clone().not())
                .cast(DataType::Int64)
                .sum()
                .alias("later"),
            // Every cohort customer, window or not.
            created_in
                .clone()
                .and(col("reached_customer").is_not_null())
                .cast(DataType::Int64)
                .sum()
                .alias("cohort_all"),
        ]),
        "reconciliation",
    )?;
    let mut steps = vec![(
        count(&df, "earlier"),
        "converted in range from leads created before it".to_string(),
    )];
    let later = count(&df, "later");
    // The waterfall's own window leaves cohort customers out; the difference between
    // all cohort customers and the waterfall's shows as one step.
    let outside_window = count(&df, "cohort_all") - cohort;
    if outside_window != 0 {
        steps.push((
            outside_window,
            format!("cohort customers beyond the {window}-day conversion window"),
        ));
    }
    steps.push((
        -later,
        "leads of the cohort that became customers after the range".to_string(),
    ));
    Ok(Bridge {
        title: "Customers".into(),
        from: (
            "customers from leads created in range (waterfall)".into(),
            cohort,
        ),
        to: (
            "leads that became customers in range (cycle)".into(),
            reached,
        ),
        steps,
    })
}

/// Leads that became customers in range (the cycle's) against won opportunities
/// closed in range (win-rate's): unlinked wins, repeat wins, wins of earlier
/// customers, and customers by a lifecycle event alone.
fn reached_and_won(inputs: &Inputs<'_>, reached: i64, won: i64) -> Result<Bridge> {
    let p = inputs.params;
    let funnel = lead_funnel(inputs.tables, p);
    let customer_in = in_range(us("reached_customer"), p);
    // Won opportunities closed in range against leads reaching customer in range.
    let opps = opportunities(inputs.tables, p)
        .filter(
            col("status")
                .eq(lit("won"))
                .and(in_range(us("closed_at"), p)),
        )
        .select([col("lead_id"), col("linked")]);
    let leads_won = opps
        .clone()
        .filter(col("linked"))
        .group_by([col("lead_id")])
        .agg([len().alias("wins")]);
    let df = collect(
        leads_won
            .clone()
            .join(
                funnel
                    .clone()
                    .select([col("lead_id"), us("reached_customer").alias("__rc")]),
                [col("lead_id")],
                [col("lead_id")],
                JoinArgs::new(JoinType::Left),
            )
            .select([
                (col("wins").cast(DataType::Int64) - lit(1i64))
                    .sum()
                    .alias("repeat"),
                col("__rc")
                    .lt(lit(p.range_start))
                    .fill_null(lit(false))
                    .cast(DataType::Int64)
                    .sum()
                    .alias("before"),
            ]),
        "reconciliation",
    )?;
    let unlinked = rows_of(opps.filter(col("linked").not()))?;
    let no_win = rows_of(funnel.filter(customer_in).join(
        leads_won,
        [col("lead_id")],
        [col("lead_id")],
        JoinArgs::new(JoinType::Anti),
    ))?;
    Ok(Bridge {
        title: "Customers and won deals".into(),
        from: (
            "leads that became customers in range (cycle)".into(),
            reached,
        ),
        to: ("won opportunities closed in range (win-rate)".into(), won),
        steps: vec![
            (
                unlinked,
                "won opportunities without a lead in the data".into(),
            ),
            (
                count(&df, "repeat"),
                "second and later wins of the same lead".into(),
            ),
            (
                count(&df, "before"),
                "wins of leads that were customers before the range".into(),
            ),
            (
                -no_win,
                "customers by a lifecycle event, with no won opportunity in range".into(),
            ),
        ],
    })
}

/// How many rows `lf` has.
fn rows_of(lf: LazyFrame) -> Result<i64> {
    let df = collect(
        lf.select([len().cast(DataType::Int64).alias("n")]),
        "reconciliation",
    )?;
    Ok(count(&df, "n"))
}

fn cell_first(frames: &Frames, metric: &str, column: &str) -> Option<i64> {
    frames.get(metric).map(|df| count(df, column))
}

/// MQLs by cohort (the headline) → leads reaching MQL in range (touches) → MQL
/// episodes starting in range (sla).
fn mqls(inputs: &Inputs<'_>, frames: &Frames) -> Result<Option<Bridge>> {
    let p = inputs.params;
    let (Some(cohort), Some(episodes)) = (
        cell(frames, "waterfall", ("stage", "mql"), "reached"),
        cell_first(frames, "sla", "mql_episodes"),
    ) else {
        return Ok(None);
    };
    let funnel = lead_funnel(inputs.tables, p);
    let created_in = in_range(us("reached_lead"), p);
    let mql_in = in_range(us("reached_mql"), p);
    let df = collect(
        funnel.select([
            mql_in.clone().cast(DataType::Int64).sum().alias("reached"),
            mql_in
                .clone()
                .and(us("reached_lead").lt(lit(p.range_start)))
                .cast(DataType::Int64)
                .sum()
                .alias("earlier"),
            created_in
                .clone()
                .and(col("reached_mql").is_not_null())
                .cast(DataType::Int64)
                .sum()
                .alias("cohort_all"),
            created_in
                .and(col("reached_mql").is_not_null())
                .and(mql_in.not())
                .cast(DataType::Int64)
                .sum()
                .alias("later"),
        ]),
        "reconciliation",
    )?;
    let reached = count(&df, "reached");
    let window = p.config.funnel.conversion_window_days;
    let mut steps = vec![(
        count(&df, "earlier"),
        "MQLs in range from leads created before it".to_string(),
    )];
    let outside_window = count(&df, "cohort_all") - cohort;
    if outside_window != 0 {
        steps.push((
            outside_window,
            format!("cohort MQLs beyond the {window}-day conversion window"),
        ));
    }
    steps.push((
        -count(&df, "later"),
        "leads of the cohort that became MQLs after the range".to_string(),
    ));
    steps.push((
        episodes - reached,
        "re-MQL episodes (a recycled or disqualified lead qualifying again)".to_string(),
    ));
    Ok(Some(Bridge {
        title: "MQLs".into(),
        from: (
            "MQLs from leads created in range (the headline, waterfall)".into(),
            cohort,
        ),
        to: ("MQL episodes starting in range (sla)".into(), episodes),
        steps,
    }))
}

/// The reverse funnel's `all` row against the sum of its reps' rows, for leads.
fn reverse_funnel(frames: &Frames) -> Option<Bridge> {
    let df = frames.get("reverse-funnel")?;
    let owners = strings(df, "owner_id");
    let leads = floats(df, "leads_needed");
    let all = owners.iter().position(|o| o == "all")?;
    let company = leads[all]?.round() as i64;
    let reps: i64 = owners
        .iter()
        .zip(&leads)
        .filter(|(o, _)| o.as_str() != "all")
        .map(|(_, v)| v.unwrap_or(0.0).round() as i64)
        .sum();
    Some(Bridge {
        title: "Leads needed".into(),
        from: ("the company row of the reverse funnel (all)".into(), company),
        to: ("the reps' rows added up".into(), reps),
        steps: vec![(
            reps - company,
            "the company row divides the summed remaining quota by the company's average deal and win rate, and rounds up once; each rep's row uses the rep's own rate (or the team's) and rounds up on its own, so reps with lower rates or smaller deals need more".into(),
        )],
    })
}

/// The bridge as one sentence for the report ("37 customers … +6 converted in range
/// from leads created before it … = 43 leads that became customers in range").
pub fn sentence(b: &Bridge) -> String {
    let mut s = format!("{} {}", thousands_signed(b.from.1), b.from.0);
    for (k, what) in &b.steps {
        if *k == 0 {
            continue;
        }
        let sign = if *k > 0 { "+" } else { "−" };
        s.push_str(&format!(" {sign} {} {what}", thousands(k.unsigned_abs())));
    }
    s.push_str(&format!(" = {} {}.", thousands_signed(b.to.1), b.to.0));
    s
}

fn thousands_signed(x: i64) -> String {
    if x < 0 {
        format!("−{}", thousands(x.unsigned_abs()))
    } else {
        thousands(x as u64)
    }
}
