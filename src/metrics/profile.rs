//! What the data holds, beyond its tables: which funnel stages are recorded, whether
//! deals carry amounts, whether lost deals, sources and touches are exported. A
//! number that needs what the data lacks would be made up (a win rate of 100 % where
//! no lost deal is exported, MQL → SAL from backfill alone); the report says "not
//! in your data" with the reason instead ([`Need`] in the metric registry).

use polars::prelude::*;

use super::model::{collect, lead_funnel, opportunities, Tables, FUNNEL, STAGES};
use super::params::Params;
use crate::error::Result;
use crate::model::columns::{LEADS, TOUCHES};

/// What a number needs the data to hold, beyond its tables.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Need {
    /// Leads recorded at this funnel stage, not only reached by backfill.
    Stage(&'static str),
    /// Opportunity amounts.
    Amounts,
    /// Lost opportunities.
    LostDeals,
    /// A source on leads or opportunities.
    Sources,
    /// Touches.
    Touches,
}

/// What the visible data holds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Profile {
    /// Per funnel stage, whether any lead is recorded at it.
    pub recorded: Vec<(&'static str, bool)>,
    pub amounts: bool,
    pub lost_deals: bool,
    pub sources: bool,
    pub touches: bool,
    /// The first lead's or opportunity's creation instant.
    pub earliest: Option<i64>,
}

impl Profile {
    /// Reads the profile of the data as the metrics see it (at the as-of). A table
    /// that is missing holds nothing.
    pub fn of(tables: &Tables, p: &Params) -> Result<Profile> {
        let stages = &STAGES[..FUNNEL];
        let mut recorded = vec![false; stages.len()];
        let mut lead_sources = false;
        let mut earliest: Option<i64> = None;
        if tables.has(LEADS.name) {
            let mut counts: Vec<Expr> = stages
                .iter()
                .map(|s| {
                    col(format!("seen_{s}").as_str())
                        .is_not_null()
                        .any(true)
                        .alias(*s)
                })
                .collect();
            counts.push(non_empty("source").any(true).alias("__sources"));
            counts.push(first_instant("created_at"));
            let df = collect(lead_funnel(tables, p).select(counts), "profile")?;
            for (i, s) in stages.iter().enumerate() {
                recorded[i] = flag(&df, s);
            }
            lead_sources = flag(&df, "__sources");
            earliest = instant(&df);
        }
        let (mut amounts, mut lost_deals, mut opportunity_sources) = (false, false, false);
        if tables.has("opportunities") {
            let df = collect(
                opportunities(tables, p).select([
                    col("amount").is_not_null().any(true).alias("amounts"),
                    col("status").eq(lit("lost")).any(true).alias("lost"),
                    non_empty("source").any(true).alias("sources"),
                    first_instant("created_at"),
                ]),
                "profile",
            )?;
            earliest = match (earliest, instant(&df)) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            amounts = flag(&df, "amounts");
            lost_deals = flag(&df, "lost");
            opportunity_sources = flag(&df, "sources");
        }
        let touches = tables.has(TOUCHES.name)
            && collect(
                tables
                    .or_empty(&TOUCHES)
                    .select([len().gt(lit(0)).alias("any")]),
                "profile",
            )
            .map(|df| flag(&df, "any"))?;
        Ok(Profile {
            recorded: stages.iter().copied().zip(recorded).collect(),
            amounts,
            lost_deals,
            sources: lead_sources || opportunity_sources,
            touches,
            earliest,
        })
    }

    /// Why the data cannot support `need`, or None when it can.
    pub fn lacks(&self, need: Need) -> Option<String> {
        let missing = match need {
            Need::Stage(stage) => !self
                .recorded
                .iter()
                .any(|(s, recorded)| *s == stage && *recorded),
            Need::Amounts => !self.amounts,
            Need::LostDeals => !self.lost_deals,
            Need::Sources => !self.sources,
            Need::Touches => !self.touches,
        };
        missing.then(|| reason(need))
    }

    /// The first of `needs` the data lacks, as a sentence.
    pub fn first_lack(&self, needs: &[Need]) -> Option<String> {
        needs.iter().find_map(|n| self.lacks(*n))
    }
}

fn reason(need: Need) -> String {
    match need {
        Need::Stage(stage) => format!(
            "no lead is recorded at the {} stage (it is reached only by backfill)",
            crate::text::stage_label(stage)
        ),
        Need::Amounts => "the opportunities carry no amount".into(),
        Need::LostDeals => "no lost opportunity is in the export".into(),
        Need::Sources => "no lead or opportunity carries a source".into(),
        Need::Touches => "the export holds no touches".into(),
    }
}

fn non_empty(column: &str) -> Expr {
    col(column)
        .str()
        .strip_chars(lit(NULL))
        .str()
        .len_chars()
        .gt(lit(0))
        .fill_null(lit(false))
}

/// The smallest instant of a timestamp column, in microseconds, as `__first`.
fn first_instant(column: &str) -> Expr {
    col(column).min().cast(DataType::Int64).alias("__first")
}

fn instant(df: &DataFrame) -> Option<i64> {
    df.column("__first").ok()?.i64().ok()?.get(0)
}

fn flag(df: &DataFrame, column: &str) -> bool {
    df.column(column)
        .ok()
        .and_then(|c| c.bool().ok()?.get(0))
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_lack_is_a_reason_and_a_held_need_is_none() {
        let profile = Profile {
            recorded: vec![("lead", true), ("mql", true), ("sal", false)],
            amounts: false,
            lost_deals: true,
            sources: true,
            touches: false,
            earliest: None,
        };
        assert_eq!(profile.lacks(Need::Stage("mql")), None);
        assert_eq!(
            profile.lacks(Need::Stage("sal")).as_deref(),
            Some("no lead is recorded at the SAL stage (it is reached only by backfill)")
        );
        assert_eq!(
            profile
                .first_lack(&[Need::LostDeals, Need::Amounts])
                .as_deref(),
            Some("the opportunities carry no amount")
        );
        assert_eq!(
            profile.lacks(Need::Touches).as_deref(),
            Some("the export holds no touches")
        );
        assert_eq!(profile.first_lack(&[Need::Sources, Need::LostDeals]), None);
    }
}
