//! The CSV files of a generated export, written row by row as the story unfolds.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use super::catalog::Catalog;
use super::{civil, DAY};
use crate::error::{Error, Result};

struct Table {
    name: &'static str,
    path: PathBuf,
    out: BufWriter<File>,
    rows: u64,
}

impl Table {
    fn create(dir: &Path, name: &'static str, header: &str) -> Result<Table> {
        let path = dir.join(format!("{name}.csv"));
        let file = File::create(&path).map_err(|e| Error::io("cannot create", &path, e))?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        writeln!(out, "{header}").map_err(|e| Error::io("cannot write", &path, e))?;
        Ok(Table {
            name,
            path,
            out,
            rows: 0,
        })
    }

    fn row(&mut self, line: std::fmt::Arguments<'_>) -> Result<()> {
        self.rows += 1;
        self.out
            .write_fmt(line)
            .and_then(|_| self.out.write_all(b"\n"))
            .map_err(|e| Error::io("cannot write", &self.path, e))
    }
}

pub struct Writers {
    leads: Table,
    lead_stage_events: Table,
    touches: Table,
    campaigns: Table,
    opportunities: Table,
    opportunity_stage_events: Table,
    quotas: Table,
    owners: Table,
}

/// What the simulation tallied for the catalog files written at the end.
pub struct Tally {
    /// Won amount (USD) per (owner index, quarter).
    pub won: BTreeMap<(usize, i64), f64>,
    /// Won deals per quarter.
    pub wins: BTreeMap<i64, u64>,
    /// Leads created, and leads first reaching MQL, per quarter.
    pub leads: BTreeMap<i64, u64>,
    pub mqls: BTreeMap<i64, u64>,
    /// Leads per campaign index.
    pub campaign_leads: Vec<u64>,
}

/// `2025-03-01T09:30:00Z`.
pub fn ts(t: i64) -> Ts {
    Ts(t)
}

pub struct Ts(i64);

impl std::fmt::Display for Ts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (y, m, d) = civil(self.0.div_euclid(DAY));
        let s = self.0.rem_euclid(DAY);
        write!(
            f,
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
            s / 3600,
            s / 60 % 60,
            s % 60
        )
    }
}

/// `2025-03-01`.
pub struct Day(pub i64);

impl std::fmt::Display for Day {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (y, m, d) = civil(self.0.div_euclid(DAY));
        write!(f, "{y:04}-{m:02}-{d:02}")
    }
}

/// An optional text field.
pub fn opt(v: &Option<impl std::fmt::Display>) -> String {
    v.as_ref().map(|v| v.to_string()).unwrap_or_default()
}

/// CSV-quotes a free-text value when it needs it.
fn quote(v: &str) -> String {
    if v.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v.to_string()
    }
}

pub struct LeadRow<'a> {
    pub id: &'a str,
    pub created_at: i64,
    pub source: &'a str,
    pub campaign_id: Option<&'a str>,
    pub owner_id: &'a str,
    pub segment: &'a str,
    pub region: &'a str,
    pub account_id: &'a str,
    pub updated_at: i64,
}

pub struct OpportunityRow<'a> {
    pub id: &'a str,
    pub lead_id: Option<&'a str>,
    pub account_id: &'a str,
    pub owner_id: &'a str,
    pub created_at: i64,
    pub close_date: i64,
    pub closed_at: Option<i64>,
    pub status: &'a str,
    pub stage: &'a str,
    pub amount: f64,
    pub currency: &'a str,
    pub source: Option<&'a str>,
    pub updated_at: i64,
}

impl Writers {
    pub fn create(dir: &Path) -> Result<Writers> {
        Ok(Writers {
            leads: Table::create(dir, "leads", "lead_id,created_at,source,campaign_id,owner_id,segment,region,account_id,updated_at")?,
            lead_stage_events: Table::create(dir, "lead_stage_events", "lead_id,stage,entered_at")?,
            touches: Table::create(dir, "touches", "touch_id,lead_id,occurred_at,channel,action,team,campaign_id")?,
            campaigns: Table::create(dir, "campaigns", "campaign_id,name,channel,started_at,ended_at,cost,currency")?,
            opportunities: Table::create(dir, "opportunities", "opportunity_id,lead_id,account_id,owner_id,pipeline,created_at,close_date,closed_at,status,stage,amount,currency,source,updated_at")?,
            opportunity_stage_events: Table::create(dir, "opportunity_stage_events", "opportunity_id,stage,entered_at,amount")?,
            quotas: Table::create(dir, "quotas", "owner_id,period_start,period_end,amount")?,
            owners: Table::create(dir, "owners", "owner_id,name,team,manager_id,region")?,
        })
    }

    pub fn lead(&mut self, r: &LeadRow<'_>) -> Result<()> {
        self.leads.row(format_args!(
            "{},{},{},{},{},{},{},{},{}",
            r.id,
            ts(r.created_at),
            quote(r.source),
            r.campaign_id.unwrap_or(""),
            r.owner_id,
            r.segment,
            r.region,
            r.account_id,
            ts(r.updated_at)
        ))
    }

    pub fn stage_event(&mut self, lead_id: &str, stage: &str, t: i64) -> Result<()> {
        self.lead_stage_events
            .row(format_args!("{lead_id},{},{}", quote(stage), ts(t)))
    }

    #[allow(clippy::too_many_arguments)]
    pub fn touch(
        &mut self,
        id: Option<u64>,
        lead_id: &str,
        t: i64,
        channel: &str,
        action: &str,
        team: &str,
        campaign_id: Option<&str>,
    ) -> Result<()> {
        let id = id.map(|n| format!("T{n:08}")).unwrap_or_default();
        self.touches.row(format_args!(
            "{id},{lead_id},{},{channel},{action},{team},{}",
            ts(t),
            campaign_id.unwrap_or("")
        ))
    }

    pub fn opportunity(&mut self, r: &OpportunityRow<'_>) -> Result<()> {
        self.opportunities.row(format_args!(
            "{},{},{},{},New Business,{},{},{},{},{},{},{},{},{}",
            r.id,
            r.lead_id.unwrap_or(""),
            r.account_id,
            r.owner_id,
            ts(r.created_at),
            Day(r.close_date),
            opt(&r.closed_at.map(ts)),
            r.status,
            r.stage,
            r.amount,
            r.currency,
            r.source.unwrap_or(""),
            ts(r.updated_at)
        ))
    }

    pub fn opportunity_stage_event(
        &mut self,
        id: &str,
        stage: &str,
        t: i64,
        amount: f64,
    ) -> Result<()> {
        self.opportunity_stage_events
            .row(format_args!("{id},{stage},{},{amount}", ts(t)))
    }

    pub fn write_owners(&mut self, catalog: &Catalog) -> Result<()> {
        for o in &catalog.owners {
            self.owners.row(format_args!(
                "{},{},{},{},{}",
                o.id,
                quote(&o.name),
                o.team,
                opt(&o.manager_id),
                o.region
            ))?;
        }
        Ok(())
    }

    pub fn write_campaigns(&mut self, catalog: &Catalog, tally: &Tally) -> Result<()> {
        for (i, c) in catalog.campaigns.iter().enumerate() {
            let cost = catalog.cost_of(i, tally.campaign_leads[i]);
            self.campaigns.row(format_args!(
                "{},{},{},{},{},{cost},{}",
                c.id,
                quote(&c.name),
                c.channel,
                ts(c.started_at),
                ts(c.ended_at),
                c.currency
            ))?;
        }
        Ok(())
    }

    /// Quarterly quotas per rep: the team's average won per rep-quarter over full
    /// quarters, raised by a stretch factor, so attainment spreads around 85 %.
    /// Writes every rep's quota per quarter; returns the quotas' sum per quarter.
    pub fn write_quotas(
        &mut self,
        catalog: &Catalog,
        tally: &Tally,
        end: i64,
    ) -> Result<BTreeMap<i64, f64>> {
        let mut sums: BTreeMap<i64, f64> = BTreeMap::new();
        use super::quarter_of;
        let first = quarter_of(catalog.start);
        let last = quarter_of(end - 1);
        // Full quarters lie entirely inside the history.
        let full: Vec<i64> = (first..=last)
            .filter(|q| quarter_start(*q) >= catalog.start && quarter_start(q + 1) <= end)
            .collect();
        let mut team_avg = BTreeMap::new();
        for team in super::catalog::TEAMS {
            let reps: Vec<usize> = (0..catalog.owners.len())
                .filter(|i| {
                    catalog.owners[*i].team == *team && catalog.owners[*i].segment.is_some()
                })
                .collect();
            let won: f64 = tally
                .won
                .iter()
                .filter(|((o, q), _)| reps.contains(o) && full.contains(q))
                .map(|(_, v)| v)
                .sum();
            let slots = (reps.len() * full.len()).max(1) as f64;
            let fallback = match *team {
                "SMB" => 30_000.0,
                "Mid-Market" => 60_000.0,
                _ => 150_000.0,
            };
            let avg = if won > 0.0 { won / slots } else { fallback };
            team_avg.insert(*team, avg);
        }
        for (i, o) in catalog.owners.iter().enumerate() {
            if o.segment.is_none() {
                continue;
            }
            let mut rng = super::rng::Rng::new(i as u64, 0xC0FFEE);
            for q in first..=last {
                let quota = team_avg[o.team] * rng.lognormal(1.2, 0.2);
                let quota = ((quota / 1000.0).round() * 1000.0).max(1000.0);
                *sums.entry(q).or_insert(0.0) += quota;
                self.quotas.row(format_args!(
                    "{},{},{},{quota}",
                    o.id,
                    Day(quarter_start(q)),
                    Day(quarter_start(q + 1) - DAY)
                ))?;
            }
        }
        Ok(sums)
    }

    pub fn finish(self) -> Result<BTreeMap<&'static str, u64>> {
        let mut counts = BTreeMap::new();
        for mut t in [
            self.leads,
            self.lead_stage_events,
            self.touches,
            self.campaigns,
            self.opportunities,
            self.opportunity_stage_events,
            self.quotas,
            self.owners,
        ] {
            t.out
                .flush()
                .map_err(|e| Error::io("cannot write", &t.path, e))?;
            counts.insert(t.name, t.rows);
        }
        Ok(counts)
    }
}

/// The first instant of quarter `q` (index since year 0).
fn quarter_start(q: i64) -> i64 {
    let (y, m) = (q.div_euclid(4), (q.rem_euclid(4) * 3 + 1) as u32);
    chrono::NaiveDate::from_ymd_opt(y as i32, m, 1)
        .expect("valid date")
        .and_hms_opt(0, 0, 0)
        .expect("valid")
        .and_utc()
        .timestamp()
}
