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
    pub fn lead(&mut self, index: u64, w: &mut Writers) -> Result<()> {
        let catalog = self.catalog;
        let mut rng = Rng::new(self.seed, index);
        let id = format!("L{:07}", index + 1);
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
        let quality = source.quality * segment_quality;
        let campaign = source
            .channel
            .and_then(|ch| catalog.campaign_at(ch, created, &mut rng));
        if let Some(c) = campaign {
            self.tally.campaign_leads[c] += 1;
        }
        let account_id = format!("A{:06}", index / 3 + 1);
        let marketing_sourced = source.channel.is_some() || source.name == "organic";

        let mut events: Vec<(i64, &'static str)> = Vec::new();
        let mut touches: Vec<Touch> = Vec::new();

        // Marketing touches before the lead exists (anonymous visits, later matched).
        let pre = rng.count(if marketing_sourced { 5.0 } else { 1.5 });
        for _ in 0..pre {
            let t = created - (rng.uniform() * 60.0 * DAY as f64) as i64 - 60;
            touches.push(self.marketing_touch(t, &mut rng));
        }
        // The touch that created the lead.
        match source.name {
            "outbound" | "cold_call" => touches.push(Touch {
                t: created,
                channel: "phone",
                action: "call",
                team: "sales",
                campaign: None,
            }),
            "partner" | "referral" => {}
            "organic" => touches.push(Touch {
                t: created,
                channel: "organic",
                action: "form",
                team: "marketing",
                campaign: None,
            }),
            "trade show" => touches.push(Touch {
                t: created,
                channel: "event",
                action: "event",
                team: "marketing",
                campaign: None,
            }),
            _ => touches.push(Touch {
                t: created,
                channel: source.channel.unwrap_or("web"),
                action: if source.name == "webinar" {
                    "event"
                } else {
                    "form"
                },
                team: "marketing",
                campaign,
            }),
        }

        // Lifecycle.
        if !rng.chance(0.03) {
            // A few leads carry a "lead" event a day before their creation date.
            let t = if rng.chance(0.003) {
                created - DAY
            } else {
                created
            };
            events.push((t, if rng.chance(0.15) { "New" } else { "lead" }));
        }
        if rng.chance(0.005) && created + HOUR < end {
            events.push((created + HOUR, "Working - Contacted"));
        }
        let mut nurture_until = end;
        let mut opportunity_at = None;
        let mut t_mql = created + rng.lognormal(5.0 * DAY as f64, 1.0) as i64;
        let mut first_mql = None;
        let mut mql = rng.chance(source.mql);
        let mut episodes = 0;
        while mql && t_mql < end && episodes < 3 {
            episodes += 1;
            first_mql.get_or_insert(t_mql);
            events.push((
                t_mql,
                if rng.chance(0.2) {
                    "Marketing Qualified"
                } else {
                    "mql"
                },
            ));
            if rng.chance(0.03) {
                break; // never decided: pending
            }
            let decided = t_mql + rng.lognormal(18.0 * HOUR as f64, 1.1) as i64;
            if decided >= end {
                break;
            }
            if rng.chance((0.72 * quality).min(0.95)) {
                // Accepted by sales.
                let skipped_sal = rng.chance(0.04);
                if !skipped_sal {
                    events.push((decided, "sal"));
                }
                nurture_until = decided;
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
                if rng.chance((0.55 * quality).min(0.95)) {
                    let t_sql = decided + rng.lognormal(6.0 * DAY as f64, 0.8) as i64;
                    if t_sql < end {
                        if !skipped_sal && rng.chance(0.015) {
                            // Recorded before the acceptance it followed.
                            events.push((
                                decided - (rng.uniform() * 2.0 * DAY as f64) as i64 - HOUR,
                                "sql",
                            ));
                        } else {
                            events.push((t_sql, "sql"));
                        }
                        if rng.chance((0.65 * quality).min(0.95)) {
                            let t_opp = t_sql + rng.lognormal(4.0 * DAY as f64, 0.7) as i64;
                            if t_opp < end {
                                opportunity_at = Some(t_opp);
                                if !rng.chance(0.1) {
                                    events.push((t_opp, "opportunity"));
                                }
                            }
                        }
                    }
                }
                break;
            }
            // Rejected: back to nurture, or out for good.
            let recycled = rng.chance(0.65);
            let raw = match (recycled, rng.chance(0.8)) {
                (true, true) => "recycled",
                (true, false) => "nurture",
                (false, _) => "disqualified",
            };
            events.push((decided, raw));
            if !recycled {
                nurture_until = decided;
                break;
            }
            mql = rng.chance(0.3);
            t_mql = decided + rng.lognormal(45.0 * DAY as f64, 0.5) as i64;
        }

        // Marketing keeps touching the lead until sales takes it (or it is out).
        if let Some(t_mql) = first_mql {
            for _ in 0..rng.count(2.0) {
                let t = created + (rng.uniform() * (t_mql - created) as f64) as i64;
                touches.push(self.marketing_touch(t, &mut rng));
            }
        }
        let mut t = created + rng.lognormal(5.0 * DAY as f64, 0.5) as i64;
        for _ in 0..rng.count(15.0) + 2 {
            if t >= nurture_until.min(end) {
                break;
            }
            let campaign = catalog.campaign_at("email", t, &mut rng);
            touches.push(Touch {
                t,
                channel: "email",
                action: "send",
                team: "marketing",
                campaign,
            });
            if rng.chance(0.25) {
                let opened = t + rng.lognormal(3.0 * HOUR as f64, 1.0) as i64;
                touches.push(Touch {
                    t: opened,
                    channel: "email",
                    action: "open",
                    team: "marketing",
                    campaign,
                });
                if rng.chance(0.2) {
                    touches.push(Touch {
                        t: opened + 60 + rng.below(600) as i64,
                        channel: "email",
                        action: "click",
                        team: "marketing",
                        campaign,
                    });
                }
            }
            t += rng.lognormal(7.0 * DAY as f64, 0.3) as i64;
        }

        // The opportunity.
        if let Some(t_opp) = opportunity_at {
            let source_name = (!rng.chance(0.3)).then_some(source.name);
            let closed = self.opportunity(
                w,
                &mut rng,
                Some(&id),
                &account_id,
                owner,
                segment,
                region,
                t_opp,
                source_name,
            )?;
            if let Some((closed_at, true)) = closed {
                if !rng.chance(0.2) {
                    events.push((closed_at, "customer"));
                }
            }
        }

        let updated_at = events
            .iter()
            .map(|e| e.0)
            .chain([created])
            .max()
            .unwrap_or(created)
            .min(end - 1);
        w.lead(&LeadRow {
            id: &id,
            created_at: created,
            source: source.name,
            campaign_id: self.campaign_id(campaign),
            owner_id: &catalog.owners[owner].id,
            segment: SEGMENTS[segment],
            region: REGIONS[region],
            account_id: &account_id,
            updated_at,
        })?;
        for (t, stage) in &events {
            w.stage_event(&id, stage, *t)?;
        }
        touches.retain(|t| t.t < end);
        touches.sort_by_key(|t| t.t);
        for touch in &touches {
            self.next_touch += 1;
            // Some exports carry no touch id; ingest derives one.
            let touch_id = (!rng.chance(0.05)).then_some(self.next_touch);
            w.touch(
                touch_id,
                &id,
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
            w.touch(
                Some(self.next_touch),
                &format!("{id}-X"),
                created,
                "email",
                "open",
                "marketing",
                None,
            )?;
        }

        // Reps also open opportunities without a lead (outbound, partner deals).
        if rng.chance(0.012) {
            let t0 = created + (rng.uniform() * 30.0 * DAY as f64) as i64;
            if t0 < end {
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
                self.opportunity(w, &mut rng, None, &account, rep, seg, reg, t0, Some(src))?;
            }
        }
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
        }
        Ok(closed_at.map(|t| (t, won)))
    }
}
