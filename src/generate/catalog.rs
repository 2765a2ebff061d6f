//! The fixed cast of a generated export: sources and their quality, owners and their
//! territories, campaigns per channel and month.

use super::rng::Rng;
use super::DAY;

/// A lead source with its share of leads and its quality.
pub struct Source {
    pub name: &'static str,
    pub weight: f64,
    /// Chance that a lead from this source becomes an MQL.
    pub mql: f64,
    /// Multiplies every later conversion chance.
    pub quality: f64,
    /// The campaign channel leads of this source come through, if marketing's.
    pub channel: Option<&'static str>,
}

pub const SOURCES: &[Source] = &[
    Source {
        name: "webinar",
        weight: 0.14,
        mql: 0.45,
        quality: 1.0,
        channel: Some("webinar"),
    },
    Source {
        name: "paid_search",
        weight: 0.18,
        mql: 0.30,
        quality: 0.8,
        channel: Some("paid_search"),
    },
    Source {
        name: "organic",
        weight: 0.15,
        mql: 0.35,
        quality: 1.0,
        channel: None,
    },
    Source {
        name: "content",
        weight: 0.13,
        mql: 0.25,
        quality: 0.8,
        channel: Some("content"),
    },
    Source {
        name: "event",
        weight: 0.08,
        mql: 0.50,
        quality: 1.1,
        channel: Some("event"),
    },
    Source {
        name: "email",
        weight: 0.08,
        mql: 0.20,
        quality: 0.7,
        channel: Some("email"),
    },
    Source {
        name: "outbound",
        weight: 0.10,
        mql: 0.55,
        quality: 0.9,
        channel: None,
    },
    Source {
        name: "cold_call",
        weight: 0.04,
        mql: 0.40,
        quality: 0.7,
        channel: None,
    },
    Source {
        name: "partner",
        weight: 0.05,
        mql: 0.60,
        quality: 1.3,
        channel: None,
    },
    Source {
        name: "referral",
        weight: 0.03,
        mql: 0.70,
        quality: 1.4,
        channel: None,
    },
    // A value nobody mapped in [sources]: revenue from it counts as "other".
    Source {
        name: "trade show",
        weight: 0.01,
        mql: 0.40,
        quality: 1.0,
        channel: None,
    },
];

pub const CHANNELS: &[&str] = &["webinar", "paid_search", "content", "event", "email"];

/// Cost per lead by channel, in USD, for sizing campaign budgets.
fn cost_per_lead(channel: &str) -> f64 {
    match channel {
        "webinar" => 120.0,
        "paid_search" => 90.0,
        "content" => 60.0,
        "event" => 300.0,
        _ => 25.0,
    }
}

pub const SEGMENTS: &[&str] = &["SMB", "Mid-Market", "Enterprise"];
pub const SEGMENT_WEIGHTS: &[f64] = &[0.55, 0.30, 0.15];
pub const REGIONS: &[&str] = &["NA", "EMEA", "APAC"];
pub const REGION_WEIGHTS: &[f64] = &[0.55, 0.30, 0.15];

const FIRST: &[&str] = &[
    "Ava", "Ben", "Chloe", "Diego", "Emma", "Farah", "Gus", "Hana", "Ivan", "Jade", "Kofi", "Lena",
    "Marco", "Nina", "Omar", "Priya", "Quinn", "Rosa", "Sam", "Tara", "Uma", "Victor", "Wen",
    "Yara", "Zoe",
];
const LAST: &[&str] = &[
    "Adams", "Berg", "Costa", "Dubois", "Evans", "Fischer", "Garcia", "Haddad", "Ito", "Jensen",
    "Kim", "Lopez", "Moreau", "Novak", "Okafor", "Patel", "Rossi", "Silva", "Tanaka", "Weber",
];

pub struct Owner {
    pub id: String,
    pub name: String,
    pub team: &'static str,
    pub manager_id: Option<String>,
    pub region: &'static str,
    /// Index into SEGMENTS; managers have none.
    pub segment: Option<usize>,
}

pub struct Campaign {
    pub id: String,
    pub name: String,
    pub channel: &'static str,
    pub started_at: i64,
    pub ended_at: i64,
    pub currency: &'static str,
    /// Budget beyond what its leads cost, so a campaign without leads still costs.
    pub base_cost: f64,
}

pub struct Catalog {
    pub owners: Vec<Owner>,
    /// Rep indices (into `owners`) per (segment, region) territory.
    pub territories: Vec<Vec<usize>>,
    pub campaigns: Vec<Campaign>,
    /// Campaign indices per (month since start, channel).
    pub campaigns_by_month: Vec<Vec<Vec<usize>>>,
    pub start: i64,
    pub months: usize,
}

pub const TEAMS: &[&str] = &["SMB", "Mid-Market", "Enterprise"];

impl Catalog {
    pub fn new(seed: u64, leads: u64, start: i64, end: i64) -> Catalog {
        let mut rng = Rng::new(seed, u64::MAX);
        let mut owners = Vec::new();
        for (s, team) in TEAMS.iter().enumerate() {
            owners.push(Owner {
                id: format!("M{:02}", s + 1),
                name: format!("{} {}", rng.pick(FIRST), rng.pick(LAST)),
                team,
                manager_id: None,
                region: "NA",
                segment: None,
            });
        }
        let reps = (leads / 150).clamp(9, 2000) as usize;
        let mut territories = vec![Vec::new(); SEGMENTS.len() * REGIONS.len()];
        for r in 0..reps {
            // Every territory gets a rep first, then reps follow lead volume.
            let t = if r < territories.len() {
                r
            } else {
                let s = rng.weighted(SEGMENT_WEIGHTS);
                let g = rng.weighted(REGION_WEIGHTS);
                s * REGIONS.len() + g
            };
            let (s, g) = (t / REGIONS.len(), t % REGIONS.len());
            territories[t].push(owners.len());
            owners.push(Owner {
                id: format!("R{:04}", r + 1),
                name: format!("{} {}", rng.pick(FIRST), rng.pick(LAST)),
                team: TEAMS[s],
                manager_id: Some(format!("M{:02}", s + 1)),
                region: REGIONS[g],
                segment: Some(s),
            });
        }

        let months = (((end - start) / DAY) as f64 / 30.44).round() as usize;
        let per_month = (2 + leads / 40_000).min(20) as usize;
        let mut campaigns = Vec::new();
        let mut by_month = Vec::with_capacity(months);
        for month in 0..months {
            let month_start = start + (month as f64 * 30.44 * DAY as f64) as i64;
            let mut lists = vec![Vec::new(); CHANNELS.len()];
            for (c, channel) in CHANNELS.iter().enumerate() {
                for _ in 0..per_month {
                    let started_at = month_start + rng.below(25) as i64 * DAY + 9 * 3600;
                    let days = match *channel {
                        "webinar" => 1,
                        "event" => 3,
                        "email" => 7,
                        "paid_search" => 30,
                        _ => 60,
                    };
                    let n = campaigns.len() + 1;
                    let currency = if *channel == "event" && rng.chance(0.3) {
                        "EUR"
                    } else {
                        "USD"
                    };
                    lists[c].push(campaigns.len());
                    campaigns.push(Campaign {
                        id: format!("CMP-{n:04}"),
                        name: campaign_name(channel, n, &mut rng),
                        channel,
                        started_at,
                        ended_at: started_at + days * DAY - 3600,
                        currency,
                        base_cost: (rng.lognormal(2000.0, 0.5) / 10.0).round() * 10.0,
                    });
                }
            }
            by_month.push(lists);
        }
        Catalog {
            owners,
            territories,
            campaigns,
            campaigns_by_month: by_month,
            start,
            months,
        }
    }

    /// A campaign of `channel` running around `t` (this month's, else last month's).
    pub fn campaign_at(&self, channel: &str, t: i64, rng: &mut Rng) -> Option<usize> {
        let c = CHANNELS.iter().position(|ch| *ch == channel)?;
        let month = ((t - self.start) as f64 / (30.44 * DAY as f64)).floor();
        if month < 0.0 {
            return None;
        }
        let month = (month as usize).min(self.months - 1);
        let list = &self.campaigns_by_month[month][c];
        (!list.is_empty()).then(|| *rng.pick(list))
    }

    pub fn cost_of(&self, campaign: usize, leads: u64) -> f64 {
        let c = &self.campaigns[campaign];
        let usd = c.base_cost + leads as f64 * cost_per_lead(c.channel);
        let amount = if c.currency == "EUR" { usd / 1.08 } else { usd };
        (amount / 10.0).round() * 10.0
    }
}

fn campaign_name(channel: &str, n: usize, rng: &mut Rng) -> String {
    const TOPICS: &[&str] = &[
        "Pipeline Planning",
        "Forecasting 101",
        "RevOps Summit",
        "Data Quality",
        "Q-End Push",
        "Attribution Deep Dive",
        "Customer Stories",
        "Product Launch",
        "ROI Calculator",
    ];
    let label = match channel {
        "webinar" => "Webinar",
        "paid_search" => "Search",
        "content" => "Guide",
        "event" => "Event",
        _ => "Newsletter",
    };
    format!("{label}: {} #{n}", rng.pick(TOPICS))
}
