//! The story of one lead: its touches, lifecycle, and opportunity if it gets that far.
//!
//! Conversion chances depend on the source's quality and the segment; response times,
//! stage durations and amounts are lognormal. A few stories carry the defects real CRM
//! data has: skipped stages, out-of-order events, unmapped values, events without a
//! known lead.

use std::collections::BTreeMap;

use super::catalog::{Catalog, REGIONS, REGION_WEIGHTS, SEGMENTS, SEGMENT_WEIGHTS, SOURCES};
use super::rng::Rng;
use super::write::{LeadRow, OpportunityRow, Tally, Writers};
use super::{quarter_of, DAY};
use crate::error::Result;

const HOUR: i64 = 3600;

struct Touch {
    t: i64,
    channel: &'static str,
    action: &'static str,
    team: &'static str,
    campaign: Option<usize>,
}

/// Who a lead is, drawn first.
struct Lead {
    id: String,
    created: i64,
    source: &'static super::catalog::Source,
    segment: usize,
    region: usize,
    owner: usize,
    quality: f64,
    campaign: Option<usize>,
    account_id: String,
}

/// A lead's lifecycle events, and what the later steps need to know of it.
struct Lifecycle {
    events: Vec<(i64, &'static str)>,
    /// Until when marketing nurtures it (sales took it, or it is out).
    nurture_until: i64,
    opportunity_at: Option<i64>,
    first_mql: Option<i64>,
}

pub struct Simulation<'a> {
    catalog: &'a Catalog,
    seed: u64,
    start: i64,
    end: i64,
    next_opportunity: u64,
    next_touch: u64,
    tally: Tally,
}

/// Per-segment: (median amount USD, median days per opportunity stage, quality).
fn segment_profile(segment: usize) -> (f64, f64, f64) {
    match segment {
        0 => (12_000.0, 6.0, 1.05),
        1 => (45_000.0, 12.0, 1.0),
        _ => (150_000.0, 20.0, 0.9),
    }
}

const OPPORTUNITY_PATH: &[&str] = &["Prospecting", "Qualification", "Proposal", "Negotiation"];

impl<'a> Simulation<'a> {
    pub fn new(catalog: &'a Catalog, seed: u64, start: i64, end: i64) -> Simulation<'a> {
        Simulation {
            catalog,
            seed,
            start,
            end,
            next_opportunity: 0,
            next_touch: 0,
            tally: Tally {
                won: BTreeMap::new(),
                wins: BTreeMap::new(),
                leads: BTreeMap::new(),
                mqls: BTreeMap::new(),
                campaign_leads: vec![0; catalog.campaigns.len()],
            },
        }
    }

    pub fn into_tally(self) -> Tally {
        self.tally
    }

    fn campaign_id(&self, campaign: Option<usize>) -> Option<&'a str> {
        campaign.map(|c| self.catalog.campaigns[c].id.as_str())
    }

    /// Generates lead number `index` (0-based) and everything that follows from it.
    /// Each step draws from the lead's own random stream in a fixed order, so the same
    /// seed gives the same export.
    pub fn lead(&mut self, index: u64, w: &mut Writers) -> Result<()> {
        let mut rng = Rng::new(self.seed, index);
        let lead = self.profile(index, &mut rng);
        let mut touches = self.first_touches(&lead, &mut rng);
        let mut life = self.lifecycle(&lead, &mut rng, &mut touches);
        self.nurture_touches(&lead, &life, &mut rng, &mut touches);
        if let Some(t_opp) = life.opportunity_at {
            let source_name = (!rng.chance(0.3)).then_some(lead.source.name);
            let closed = self.opportunity(
                w,
                &mut rng,
                Some(&lead.id),
                &lead.account_id,
                lead.owner,
                lead.segment,
                lead.region,
                t_opp,
                source_name,
            )?;
            if let Some((closed_at, true)) = closed {
                if !rng.chance(0.2) {
                    life.events.push((closed_at, "customer"));
                }
            }
        }
        self.write(w, &lead, &life.events, touches, &mut rng)?;
        // Reps also open opportunities without a lead (outbound, partner deals).
        if rng.chance(0.012) {
            self.leadless_opportunity(w, lead.created, &mut rng)?;
        }
        Ok(())
    }

    /// Who the lead is: when it was created, where it came from, whose it is.
    fn profile(&mut self, index: u64, rng: &mut Rng) -> Lead {
        let catalog = self.catalog;
        let (start, end) = (self.start, self.end);
        // Volume grows over the history: density ∝ 1 + g·x on [0, 1).
        let g = 0.6;
        let u = rng.uniform();
        let x = ((1.0 + 2.0 * g * u * (1.0 + g / 2.0)).sqrt() - 1.0) / g;
        let created = (start + (x * (end - start) as f64) as i64).min(end - 1);
        let source = &SOURCES[rng.weighted(&SOURCES.iter().map(|s| s.weight).collect::<Vec<_>>())];
        let segment = rng.weighted(SEGMENT_WEIGHTS);
        let region = rng.weighted(REGION_WEIGHTS);
        let territory = &catalog.territories[segment * REGIONS.len() + region];
        let owner = *rng.pick(territory);
        let (_, _, segment_quality) = segment_profile(segment);
        let campaign = source
            .channel
            .and_then(|ch| catalog.campaign_at(ch, created, rng));
        if let Some(c) = campaign {
            self.tally.campaign_leads[c] += 1;
        }
        Lead {
            id: format!("L{:07}", index + 1),
            created,
            source,
            segment,
            region,
            owner,
            quality: source.quality * segment_quality,
            campaign,
            account_id: format!("A{:06}", index / 3 + 1),
        }
    }

    /// Marketing touches before the lead exists (anonymous visits, later matched),
    /// then the touch that created it.
    fn first_touches(&self, lead: &Lead, rng: &mut Rng) -> Vec<Touch> {
        let (created, source) = (lead.created, lead.source);
        let marketing_sourced = source.channel.is_some() || source.name == "organic";
        let mut touches = Vec::new();
        let pre = rng.count(if marketing_sourced { 5.0 } else { 1.5 });
        for _ in 0..pre {
            let t = created - (rng.uniform() * 60.0 * DAY as f64) as i64 - 60;
            touches.push(self.marketing_touch(t, rng));
        }
        let touch = |channel, action, team, campaign| Touch {
            t: created,
            channel,
            action,
            team,
            campaign,
        };
        match source.name {
            "outbound" | "cold_call" => touches.push(touch("phone", "call", "sales", None)),
            "partner" | "referral" => {}
            "organic" => touches.push(touch("organic", "form", "marketing", None)),
            "trade show" => touches.push(touch("event", "event", "marketing", None)),
            _ => touches.push(touch(
                source.channel.unwrap_or("web"),
                if source.name == "webinar" {
                    "event"
                } else {
                    "form"
                },
                "marketing",
                lead.campaign,
            )),
        }
        touches
    }

    /// The lifecycle events: created, then up to three MQL episodes, each accepted by
    /// sales (and maybe on to SQL and an opportunity) or rejected (recycled or
    /// disqualified). Sales' touches after an acceptance go into `touches`.
    fn lifecycle(&self, lead: &Lead, rng: &mut Rng, touches: &mut Vec<Touch>) -> Lifecycle {
        let (created, end) = (lead.created, self.end);
        let mut life = Lifecycle {
            events: Vec::new(),
            nurture_until: end,
            opportunity_at: None,
            first_mql: None,
        };
        if !rng.chance(0.03) {
            // A few leads carry a "lead" event a day before their creation date.
            let t = if rng.chance(0.003) {
                created - DAY
            } else {
                created
            };
            life.events
                .push((t, if rng.chance(0.15) { "New" } else { "lead" }));
        }
        if rng.chance(0.005) && created + HOUR < end {
            life.events.push((created + HOUR, "Working - Contacted"));
        }
        let mut t_mql = created + rng.lognormal(5.0 * DAY as f64, 1.0) as i64;
        let mut mql = rng.chance(lead.source.mql);
        let mut episodes = 0;
        while mql && t_mql < end && episodes < 3 {
            episodes += 1;
            life.first_mql.get_or_insert(t_mql);
            let raw = if rng.chance(0.2) {
                "Marketing Qualified"
            } else {
                "mql"
            };
            life.events.push((t_mql, raw));
            if rng.chance(0.03) {
                break; // never decided: pending
            }
            let decided = t_mql + rng.lognormal(18.0 * HOUR as f64, 1.1) as i64;
            if decided >= end {
                break;
            }
            if rng.chance((0.72 * lead.quality).min(0.95)) {
                self.accepted(lead, decided, rng, &mut life, touches);
                break;
            }
            // Rejected: back to nurture, or out for good.
            let recycled = rng.chance(0.65);
            let raw = match (recycled, rng.chance(0.8)) {
                (true, true) => "recycled",
                (true, false) => "nurture",
                (false, _) => "disqualified",
            };
            life.events.push((decided, raw));
            if !recycled {
                life.nurture_until = decided;
                break;
            }
            mql = rng.chance(0.3);
            t_mql = decided + rng.lognormal(45.0 * DAY as f64, 0.5) as i64;
        }
        life
    }

    /// An MQL accepted by sales at `decided`: SAL (now and then skipped), sales'
    /// touches, and maybe an SQL and an opportunity.
    fn accepted(
        &self,
        lead: &Lead,
        decided: i64,
        rng: &mut Rng,
        life: &mut Lifecycle,
        touches: &mut Vec<Touch>,
    ) {
        let end = self.end;
        let skipped_sal = rng.chance(0.04);
        if !skipped_sal {
            life.events.push((decided, "sal"));
        }
        life.nurture_until = decided;
        for _ in 0..rng.count(2.5) + 1 {
            let t = decided + (rng.uniform() * 25.0 * DAY as f64) as i64;
            let (channel, action) =
                *rng.pick(&[("phone", "call"), ("video", "meeting"), ("email", "reply")]);
            touches.push(Touch {
                t,
                channel,
                action,
                team: "sales",
                campaign: None,
            });
        }
        if !rng.chance((0.55 * lead.quality).min(0.95)) {
            return;
        }
        let t_sql = decided + rng.lognormal(6.0 * DAY as f64, 0.8) as i64;
        if t_sql >= end {
            return;
        }
        if !skipped_sal && rng.chance(0.015) {
            // Recorded before the acceptance it followed.
            let before = decided - (rng.uniform() * 2.0 * DAY as f64) as i64 - HOUR;
            life.events.push((before, "sql"));
        } else {
            life.events.push((t_sql, "sql"));
        }
        if rng.chance((0.65 * lead.quality).min(0.95)) {
            let t_opp = t_sql + rng.lognormal(4.0 * DAY as f64, 0.7) as i64;
            if t_opp < end {
                life.opportunity_at = Some(t_opp);
                if !rng.chance(0.1) {
                    life.events.push((t_opp, "opportunity"));
                }
            }
        }
    }

    /// Marketing keeps touching the lead until sales takes it (or it is out): a few
    /// touches before its first MQL, then a newsletter with opens and clicks.
    fn nurture_touches(
        &self,
        lead: &Lead,
        life: &Lifecycle,
        rng: &mut Rng,
        touches: &mut Vec<Touch>,
    ) {
        let (created, end) = (lead.created, self.end);
        if let Some(t_mql) = life.first_mql {
            for _ in 0..rng.count(2.0) {
                let t = created + (rng.uniform() * (t_mql - created) as f64) as i64;
                touches.push(self.marketing_touch(t, rng));
            }
        }
        let mut t = created + rng.lognormal(5.0 * DAY as f64, 0.5) as i64;
        for _ in 0..rng.count(15.0) + 2 {
            if t >= life.nurture_until.min(end) {
                break;
            }
            let campaign = self.catalog.campaign_at("email", t, rng);
            let email = |t, action| Touch {
                t,
                channel: "email",
                action,
                team: "marketing",
                campaign,
            };
            touches.push(email(t, "send"));
            if rng.chance(0.25) {
                let opened = t + rng.lognormal(3.0 * HOUR as f64, 1.0) as i64;
                touches.push(email(opened, "open"));
                if rng.chance(0.2) {
                    touches.push(email(opened + 60 + rng.below(600) as i64, "click"));
                }
            }
            t += rng.lognormal(7.0 * DAY as f64, 0.3) as i64;
        }
    }

    /// Writes the lead, its lifecycle events and its touches (a few without an id,
    /// now and then one whose lead is missing from the export).
    fn write(
        &mut self,
        w: &mut Writers,
        lead: &Lead,
        events: &[(i64, &'static str)],
        mut touches: Vec<Touch>,
        rng: &mut Rng,
    ) -> Result<()> {
        let (created, end) = (lead.created, self.end);
        let updated_at = events
            .iter()
            .map(|e| e.0)
            .chain([created])
            .max()
            .unwrap_or(created)
            .min(end - 1);
        w.lead(&LeadRow {
            id: &lead.id,
            created_at: created,
            source: lead.source.name,
            campaign_id: self.campaign_id(lead.campaign),
            owner_id: &self.catalog.owners[lead.owner].id,
            segment: SEGMENTS[lead.segment],
            region: REGIONS[lead.region],
            account_id: &lead.account_id,
            updated_at,
        })?;
        for (t, stage) in events {
            w.stage_event(&lead.id, stage, *t)?;
        }
        if created < end {
            *self.tally.leads.entry(quarter_of(created)).or_insert(0) += 1;
        }
        let first_mql = events
            .iter()
            .filter(|(t, s)| *s == "mql" && *t < end)
            .map(|(t, _)| *t)
            .min();
        if let Some(t) = first_mql {
            *self.tally.mqls.entry(quarter_of(t)).or_insert(0) += 1;
        }
        touches.retain(|t| t.t < end);
        touches.sort_by_key(|t| t.t);
        for touch in &touches {
            self.next_touch += 1;
            // Some exports carry no touch id; ingest derives one.
            let touch_id = (!rng.chance(0.05)).then_some(self.next_touch);
            w.touch(
                touch_id,
                &lead.id,
                touch.t,
                touch.channel,
                touch.action,
                touch.team,
                self.campaign_id(touch.campaign),
            )?;
        }
        if rng.chance(0.001) {
            // A touch whose lead never made it into the export.
            self.next_touch += 1;
            let unknown = format!("{}-X", lead.id);
            w.touch(
                Some(self.next_touch),
                &unknown,
                created,
                "email",
                "open",
                "marketing",
                None,
            )?;
        }
        Ok(())
    }

    /// An opportunity a rep opens without a lead (outbound, partner deals), within
    /// 30 days of `after`.
    fn leadless_opportunity(&mut self, w: &mut Writers, after: i64, rng: &mut Rng) -> Result<()> {
        let catalog = self.catalog;
        let t0 = after + (rng.uniform() * 30.0 * DAY as f64) as i64;
        if t0 >= self.end {
            return Ok(());
        }
        let territory = rng.below(catalog.territories.len() as u64) as usize;
        let rep = *rng.pick(&catalog.territories[territory]);
        let o = &catalog.owners[rep];
        let seg = o.segment.unwrap_or(0);
        let reg = REGIONS.iter().position(|r| *r == o.region).unwrap_or(0);
        let src = if rng.chance(0.6) {
            "outbound"
        } else {
            "partner"
        };
        let account = format!("A9{:05}", rng.below(100_000));
        self.opportunity(w, rng, None, &account, rep, seg, reg, t0, Some(src))?;
        Ok(())
    }

    fn marketing_touch(&self, t: i64, rng: &mut Rng) -> Touch {
        let (channel, action) = *rng.pick(&[
            ("organic", "visit"),
            ("organic", "visit"),
            ("paid_search", "click"),
            ("email", "open"),
            ("email", "click"),
            ("content", "download"),
            ("social", "click"),
            ("webinar", "event"),
        ]);
        let campaign = match channel {
            "organic" | "social" => None,
            ch => self.catalog.campaign_at(ch, t, rng),
        };
        Touch {
            t,
            channel,
            action,
            team: "marketing",
            campaign,
        }
    }

    /// Writes one opportunity and its stage history; returns (closed_at, won) if closed.
    #[allow(clippy::too_many_arguments)]
    fn opportunity(
        &mut self,
        w: &mut Writers,
        rng: &mut Rng,
        lead_id: Option<&str>,
        account_id: &str,
        owner: usize,
        segment: usize,
        region: usize,
        created: i64,
        source: Option<&str>,
    ) -> Result<Option<(i64, bool)>> {
        self.next_opportunity += 1;
        let id = format!("O{:07}", self.next_opportunity);
        let (median_amount, stage_days, quality) = segment_profile(segment);
        let mut usd = (rng.lognormal(median_amount, 0.55) / 10.0).round() * 10.0;
        let eur = REGIONS[region] == "EMEA" && rng.chance(0.4);
        let local = |usd: f64| {
            if eur {
                (usd / 1.08 / 10.0).round() * 10.0
            } else {
                usd
            }
        };
        let won = rng.chance((0.3 * quality).clamp(0.05, 0.65));
        let stages = if won {
            OPPORTUNITY_PATH.len()
        } else {
            1 + rng.below(4) as usize
        };
        let stay = |rng: &mut Rng| rng.lognormal(stage_days * DAY as f64, 0.7) as i64 + HOUR;

        let mut history: Vec<(&str, i64, f64)> = vec![("Prospecting", created, local(usd))];
        let mut t = created;
        let mut open = false;
        let mut path: Vec<&str> = OPPORTUNITY_PATH[1..stages].to_vec();
        if stages >= 3 && rng.chance(0.06) {
            // A regression: back from Proposal to Qualification, then forward again.
            path.splice(2..2, ["Qualification", "Proposal"]);
        }
        for stage in path {
            t += stay(rng);
            if t >= self.end {
                open = true;
                break;
            }
            if stage == "Proposal" {
                usd = (usd * (0.85 + 0.25 * rng.uniform()) / 10.0).round() * 10.0;
            }
            history.push((stage, t, local(usd)));
            if stage == "Negotiation" && rng.chance(0.08) {
                // The amount changes while the stage stays: same stage, new event.
                let t2 = t + stay(rng) / 3;
                if t2 < self.end {
                    usd = (usd * 0.95 / 10.0).round() * 10.0;
                    history.push((stage, t2, local(usd)));
                    t = t2;
                }
            }
        }
        let mut closed_at = None;
        if !open {
            t += stay(rng);
            if t < self.end {
                history.push((
                    if won { "Closed Won" } else { "Closed Lost" },
                    t,
                    local(usd),
                ));
                closed_at = Some(t);
            }
        }
        let expected = created + (stage_days * 5.0 * rng.lognormal(1.0, 0.35) * DAY as f64) as i64;
        let close_date = closed_at.unwrap_or(expected);
        let (last_stage, last_t, amount) = *history.last().expect("history has a first stage");
        let status = match closed_at {
            Some(_) if won => "won",
            Some(_) => "lost",
            None => "open",
        };
        w.opportunity(&OpportunityRow {
            id: &id,
            lead_id,
            account_id,
            owner_id: &self.catalog.owners[owner].id,
            created_at: created,
            close_date,
            closed_at,
            status,
            stage: last_stage,
            amount,
            currency: if eur { "EUR" } else { "USD" },
            source,
            updated_at: last_t,
        })?;
        for (stage, t, amount) in &history {
            w.opportunity_stage_event(&id, stage, *t, *amount)?;
        }
        if let (Some(t), true) = (closed_at, won) {
            *self.tally.won.entry((owner, quarter_of(t))).or_insert(0.0) += usd;
            *self.tally.wins.entry(quarter_of(t)).or_insert(0) += 1;
        }
        Ok(closed_at.map(|t| (t, won)))
    }
}
