//! What marketing is responsible for: `revenue-share`, `attribution`,
//! `campaign-cost` (docs/metrics.md).

use polars::prelude::*;

use super::model::{
    collect, days_between, in_range, lead_funnel, null_of, opportunities, opportunity_touches,
    ratio, split, to_base, us, Tables,
};
use super::params::{Dim, Params, MICROS_PER_DAY};
use super::stats::aggregate;
use crate::config::AttributionModel;
use crate::error::Result;
use crate::model::columns::CAMPAIGNS;

fn sort_keys(keys: &[String], extra: &[&str]) -> Vec<PlSmallStr> {
    keys.iter()
        .map(|k| k.as_str().into())
        .chain(extra.iter().map(|e| (*e).into()))
        .collect()
}

/// **revenue-share** — Won opportunities with `closed_at` in range, by source team
/// (the opportunity's source, else its lead's, through `[sources]`; unlisted =
/// `other`): opportunities, won_amount, share of all won amount. Then `influenced`:
/// won opportunities whose lead had a marketing touch strictly before the
/// opportunity's `created_at`.
pub fn revenue_share(tables: &Tables, p: &Params) -> Result<DataFrame> {
    let won = opportunities(tables, p).filter(
        col("status")
            .eq(lit("won"))
            .and(in_range(us("closed_at"), p)),
    );
    let (won, keys) = split(won, Some("closed_at"), p)?;
    let won = won
        .with_column(col("amount_base").fill_null(lit(0.0)))
        .cache();
    let mut team_keys = keys.clone();
    team_keys.push(Dim::SourceTeam.column());
    let by_team = aggregate(
        won.clone(),
        &team_keys,
        vec![
            len().cast(DataType::Int64).alias("opportunities"),
            col("amount_base").sum().alias("won_amount"),
        ],
    )
    .rename([Dim::SourceTeam.column()], ["source_team"], true);
    let totals = aggregate(
        won.clone(),
        &keys,
        vec![col("amount_base").sum().alias("__total")],
    );

    let influenced_ids = influenced_ids(tables, p, won.clone())?;
    let influenced = aggregate(
        won.semi_join(influenced_ids, col("opportunity_id"), col("opportunity_id")),
        &keys,
        vec![
            len().cast(DataType::Int64).alias("opportunities"),
            col("amount_base").sum().alias("won_amount"),
        ],
    )
    .with_column(lit("influenced").alias("source_team"));

    let team_frame = team_frame(p);
    let row = |lf: LazyFrame| {
        lf.select(
            keys.iter()
                .map(|k| col(k.as_str()))
                .chain(["source_team", "opportunities", "won_amount"].map(col))
                .collect::<Vec<_>>(),
        )
    };
    let rows = concat([row(by_team), row(influenced)], UnionArgs::default()).expect("same schema");
    let grid = if keys.is_empty() {
        team_frame.cross_join(totals, None)
    } else {
        totals.cross_join(team_frame, None)
    };
    let mut on: Vec<Expr> = keys.iter().map(|k| col(k.as_str())).collect();
    on.push(col("source_team"));
    let mut sel: Vec<Expr> = keys.iter().map(|k| col(k.as_str())).collect();
    sel.extend([
        col("source_team"),
        col("opportunities").fill_null(lit(0i64)),
        col("won_amount").fill_null(lit(0.0)),
        ratio(col("won_amount").fill_null(lit(0.0)), col("__total")).alias("share"),
    ]);
    collect(
        grid.join(rows, on.clone(), on, super::model::left_join_nulls_equal())
            .sort(
                sort_keys(&keys, &["__order"]),
                SortMultipleOptions::default().with_maintain_order(true),
            )
            .select(sel),
        "revenue-share",
    )
}

/// The won opportunities (of `won`) that a marketing touch of their lead came
/// before their creation: influenced.
fn influenced_ids(tables: &Tables, p: &Params, won: LazyFrame) -> Result<LazyFrame> {
    Ok(opportunity_touches(tables, p, won.clone())?
        .filter(col("team").eq(lit("marketing")))
        .select([col("lead_id"), us("occurred_at").alias("__t")])
        .join(
            won.clone().select([
                col("opportunity_id"),
                col("lead_id"),
                us("created_at").alias("__c"),
            ]),
            [col("lead_id")],
            [col("lead_id")],
            JoinArgs::new(JoinType::Inner),
        )
        .filter(col("__t").lt(col("__c")))
        .select([col("opportunity_id")])
        .unique(None, UniqueKeepStrategy::First))
}

/// Every `[sources]` team, then `other` and `influenced`, present or not, in the
/// order the rows are shown (`__order`).
fn team_frame(p: &Params) -> LazyFrame {
    let mut teams: Vec<String> = p.config.sources.keys().cloned().collect();
    teams.retain(|t| t != "other");
    teams.push("other".into());
    teams.push("influenced".into());
    let n = teams.len();
    DataFrame::new(
        n,
        vec![
            Column::new("source_team".into(), teams),
            Column::new("__order".into(), (0..n as i32).collect::<Vec<_>>()),
        ],
    )
    .expect("equal lengths")
    .lazy()
}

pub const MODELS: [AttributionModel; 6] = [
    AttributionModel::FirstTouch,
    AttributionModel::LastTouch,
    AttributionModel::Linear,
    AttributionModel::TimeDecay,
    AttributionModel::UShaped,
    AttributionModel::WShaped,
];

pub fn model_name(m: AttributionModel) -> &'static str {
    match m {
        AttributionModel::FirstTouch => "first_touch",
        AttributionModel::LastTouch => "last_touch",
        AttributionModel::Linear => "linear",
        AttributionModel::UShaped => "u_shaped",
        AttributionModel::WShaped => "w_shaped",
        AttributionModel::TimeDecay => "time_decay",
    }
}

/// The `campaign_id` of credit earned by touches without a campaign.
pub const NO_CAMPAIGN: &str = "(no campaign)";

/// A model's name in words, for readers of charts and the report ("W-shaped").
pub fn model_words(name: &str) -> &str {
    match name {
        "first_touch" => "first touch",
        "last_touch" => "last touch",
        "linear" => "linear",
        "u_shaped" => "U-shaped",
        "w_shaped" => "W-shaped",
        "time_decay" => "time decay",
        other => other,
    }
}

/// The weight of each path touch under `model`, from its position `__i` (0-based) in a
/// path of `__n` touches, the lead-creation touch position `__lc`, and `__decay`.
fn weight(model: AttributionModel) -> Expr {
    let i = || col("__i");
    let n = || col("__n");
    let f = |e: Expr| e.cast(DataType::Float64);
    match model {
        AttributionModel::FirstTouch => f(i().eq(lit(0))),
        AttributionModel::LastTouch => f(i().eq(n() - lit(1))),
        AttributionModel::Linear => lit(1.0) / f(n()),
        AttributionModel::UShaped => when(n().eq(lit(1)))
            .then(lit(1.0))
            .when(n().eq(lit(2)))
            .then(lit(0.5))
            .when(i().eq(lit(0)).or(i().eq(n() - lit(1))))
            .then(lit(0.4))
            .otherwise(lit(0.2) / f(n() - lit(2))),
        AttributionModel::WShaped => {
            let last = || n() - lit(1);
            let milestone = lit(0.3) * f(i().eq(lit(0)))
                + lit(0.3) * f(i().eq(col("__lc")))
                + lit(0.3) * f(i().eq(last()));
            // Distinct milestone positions among {0, lc, last}.
            let distinct = lit(1)
                + f(col("__lc").neq(lit(0)).and(col("__lc").neq(last()))).cast(DataType::Int64)
                + f(last().neq(lit(0))).cast(DataType::Int64);
            let others = f(n() - distinct);
            when(others.clone().eq(lit(0.0)))
                .then(milestone.clone() / lit(0.9))
                .when(milestone.clone().gt(lit(0.0)))
                .then(milestone)
                .otherwise(lit(0.1) / others)
        }
        AttributionModel::TimeDecay => {
            col("__decay")
                / col("__decay")
                    .sum()
                    .over([col("opportunity_id")])
                    .expect("partitioned")
        }
    }
}

/// Weights per path touch (or `(no touch)` opportunity) for the opportunities of
/// `basis`: the split keys, `channel`, `campaign_id`, `amount_base` and one
/// `__w_<model>` column per model (credit = weight × amount). Paths: counted touches of the linked lead whose team is
/// in `touch_teams`, `created − lookback < occurred_at ≤ created`, ordered by
/// (occurred_at, touch_id).
pub fn credits(
    tables: &Tables,
    p: &Params,
    basis: LazyFrame,
    keys: &[String],
    models: &[AttributionModel],
) -> Result<LazyFrame> {
    let basis = basis.cache();
    let touches = attributed_touches(tables, p, basis.clone())?;
    let mut opp_cols: Vec<Expr> = keys.iter().map(|k| col(k.as_str())).collect();
    opp_cols.extend([
        col("opportunity_id"),
        col("lead_id"),
        col("created_at"),
        col("__lead_created_at"),
        col("amount_base").fill_null(lit(0.0)),
    ]);
    let basis = basis.select(opp_cols).cache();
    let paths = paths(basis.clone(), touches, p).cache();
    let no_touch = basis
        .anti_join(
            paths.clone().select([col("opportunity_id")]),
            col("opportunity_id"),
            col("opportunity_id"),
        )
        .with_columns([
            lit("(no touch)").alias("__channel"),
            lit("(no touch)").alias("__touch_campaign"),
        ]);
    // One row per path touch (or touchless opportunity), one weight per model.
    let mut sel: Vec<Expr> = keys.iter().map(|k| col(k.as_str())).collect();
    sel.extend([
        col("__channel").alias("channel"),
        col("__touch_campaign").alias("campaign_id"),
        col("amount_base"),
    ]);
    let mut touchless = sel.clone();
    for model in models {
        sel.push(weight(*model).alias(format!("__w_{}", model_name(*model))));
        touchless.push(lit(1.0).alias(format!("__w_{}", model_name(*model))));
    }
    Ok(concat(
        [paths.select(sel), no_touch.select(touchless)],
        UnionArgs::default(),
    )
    .expect("same schema"))
}

/// The touches of the basis' leads that attribution credits (of the configured
/// teams), with the campaign (`__touch_campaign`) and the channel (the touch's, else
/// its campaign's, else `(unknown)`).
fn attributed_touches(tables: &Tables, p: &Params, basis: LazyFrame) -> Result<LazyFrame> {
    let teams = Series::new(
        "".into(),
        p.config
            .attribution
            .touch_teams
            .iter()
            .map(|t| crate::config::norm(t))
            .collect::<Vec<_>>(),
    );
    let mut touches = opportunity_touches(tables, p, basis.clone())?.filter(
        col("team")
            .str()
            .to_lowercase()
            .is_in(lit(teams).implode(false), false),
    );
    touches = touches.join(
        tables.or_empty(&CAMPAIGNS).select([
            col("campaign_id").alias("__cid"),
            col("channel").alias("__cch"),
        ]),
        [col("campaign_id")],
        [col("__cid")],
        JoinArgs::new(JoinType::Left),
    );
    Ok(touches.select([
        col("lead_id"),
        col("touch_id"),
        col("occurred_at"),
        col("campaign_id").alias("__touch_campaign"),
        coalesce(&[col("channel"), col("__cch"), lit("(unknown)")]).alias("__channel"),
    ]))
}

/// Each opportunity's path: its lead's touches within the lookback up to its
/// creation, in order, with the touch's index (`__i`), the path's length (`__n`), the
/// time-decay weight (`__decay`) and the index of the lead-creating touch (`__lc`).
fn paths(basis: LazyFrame, touches: LazyFrame, p: &Params) -> LazyFrame {
    let lookback = i64::from(p.config.attribution.lookback_days) * MICROS_PER_DAY;
    let opp = || [col("opportunity_id")];
    basis
        .join(
            touches,
            [col("lead_id")],
            [col("lead_id")],
            JoinArgs::new(JoinType::Inner),
        )
        .filter(
            us("occurred_at")
                .lt_eq(us("created_at"))
                .and(us("occurred_at").gt(us("created_at") - lit(lookback))),
        )
        .sort(
            ["opportunity_id", "occurred_at", "touch_id"],
            SortMultipleOptions::default().with_maintain_order(true),
        )
        .with_columns([
            (col("opportunity_id")
                .cum_count(false)
                .over(opp())
                .expect("partitioned")
                .cast(DataType::Int64)
                - lit(1i64))
            .alias("__i"),
            len()
                .over(opp())
                .expect("partitioned")
                .cast(DataType::Int64)
                .alias("__n"),
            lit(2.0)
                .pow(
                    -days_between(us("occurred_at"), us("created_at"))
                        / lit(p.config.attribution.half_life_days),
                )
                .alias("__decay"),
        ])
        .with_column(
            col("__i")
                .filter(us("occurred_at").lt_eq(us("__lead_created_at")))
                .max()
                .over(opp())
                .expect("partitioned")
                .fill_null(lit(0i64))
                .alias("__lc"),
        )
}

/// **attribution** — Bases: `won` (won opportunities with `closed_at` in range) and
/// `pipeline` (opportunities of any status created in range). Each model splits each
/// opportunity's amount over its path touches (§5.1); opportunities without a path
/// credit `(no touch)`, so credits sum to the basis total. Per channel (or campaign
/// with `--by campaign_id`): credited_amount, credited_opportunities (Σ weights),
/// share of the basis total. Only rows with credited_opportunities > 0.
pub fn attribution(tables: &Tables, p: &Params) -> Result<DataFrame> {
    let models: Vec<AttributionModel> = match p.model {
        Some(m) => vec![m],
        None => MODELS.to_vec(),
    };
    let by_campaign = p.by == Some(Dim::CampaignId);
    let group_col = if by_campaign {
        "campaign_id"
    } else {
        "channel"
    };
    let split_params = Params {
        by: p
            .by
            .filter(|b| !matches!(b, Dim::CampaignId | Dim::Channel)),
        ..p.clone()
    };
    let opps = opportunities(tables, p).cache();
    let mut parts = Vec::new();
    let mut keys = Vec::new();
    for (basis, filter, t) in [
        ("pipeline", in_range(us("created_at"), p), "created_at"),
        (
            "won",
            col("status")
                .eq(lit("won"))
                .and(in_range(us("closed_at"), p)),
            "closed_at",
        ),
    ] {
        let (b, k) = split(opps.clone().filter(filter), Some(t), &split_params)?;
        keys = k;
        let b = b.cache();
        let totals = aggregate(
            b.clone(),
            &keys,
            vec![col("amount_base")
                .fill_null(lit(0.0))
                .sum()
                .alias("__total")],
        );
        let mut group: Vec<String> = keys.clone();
        group.push(group_col.to_string());
        let mut aggs = Vec::new();
        for m in &models {
            let w = format!("__w_{}", model_name(*m));
            aggs.push(super::stats::order_free_sum(col(w.as_str()), 1e6).alias(format!("{w}_n")));
            aggs.push(
                super::stats::order_free_sum(col(w.as_str()) * col("amount_base"), 1e4)
                    .alias(format!("{w}_a")),
            );
        }
        let mut credited = credits(tables, p, b, &keys, &models)?;
        if by_campaign {
            // A touch without a campaign is credited to one, named, row.
            credited = credited.with_column(col("campaign_id").fill_null(lit(NO_CAMPAIGN)));
        }
        let joined = credited_per_model(credited, &group, aggs, &models, totals, &keys);
        let mut sel: Vec<Expr> = keys.iter().map(|k| col(k.as_str())).collect();
        sel.extend([
            lit(basis).alias("basis"),
            col("model"),
            col(group_col),
            col("credited_amount"),
            col("credited_opportunities"),
            ratio(col("credited_amount"), col("__total")).alias("share"),
        ]);
        parts.push(joined.select(sel));
    }
    collect(
        concat(parts, UnionArgs::default())
            .expect("same schema")
            .sort(
                sort_keys(&keys, &["basis", "model", group_col]),
                SortMultipleOptions::default().with_maintain_order(true),
            ),
        "attribution",
    )
}

/// The credited rows summed per group (`aggs`, one amount and one count per model),
/// as one row per group and model (`model`, `credited_amount`,
/// `credited_opportunities`, rows without credit left out) with the basis total of
/// its split group (`__total`).
fn credited_per_model(
    credited: LazyFrame,
    group: &[String],
    aggs: Vec<Expr>,
    models: &[AttributionModel],
    totals: LazyFrame,
    keys: &[String],
) -> LazyFrame {
    let wide = credited
        .group_by(group.iter().map(|g| col(g.as_str())).collect::<Vec<_>>())
        .agg(aggs)
        .cache();
    let per_model: Vec<LazyFrame> = models
        .iter()
        .map(|m| {
            let w = format!("__w_{}", model_name(*m));
            let mut sel: Vec<Expr> = group.iter().map(|g| col(g.as_str())).collect();
            sel.extend([
                lit(model_name(*m)).alias("model"),
                col(format!("{w}_a")).alias("credited_amount"),
                col(format!("{w}_n")).alias("credited_opportunities"),
            ]);
            wide.clone().select(sel)
        })
        .collect();
    let agg = concat(per_model, UnionArgs::default())
        .expect("same schema")
        .filter(col("credited_opportunities").gt(lit(1e-12)));
    super::model::join_on_keys(agg, totals, keys, super::model::left_join_nulls_equal())
}

/// Per campaign, the leads whose `campaign_id` it is, and the MQLs and customers
/// among them (reached ever).
fn leads_per_campaign(funnel: LazyFrame) -> LazyFrame {
    funnel
        .filter(col("campaign_id").is_not_null())
        .group_by([col("campaign_id")])
        .agg([
            len().cast(DataType::Int64).alias("leads"),
            col("reached_mql")
                .is_not_null()
                .cast(DataType::Int64)
                .sum()
                .alias("mqls"),
            col("reached_customer")
                .is_not_null()
                .cast(DataType::Int64)
                .sum()
                .alias("customers"),
        ])
}

/// Per campaign, the `won`-basis credit of the headline model to its path touches
/// (`attributed_won`).
fn attributed_won_per_campaign(tables: &Tables, p: &Params) -> Result<LazyFrame> {
    let won = opportunities(tables, p).filter(
        col("status")
            .eq(lit("won"))
            .and(in_range(us("closed_at"), p)),
    );
    Ok(credits(tables, p, won, &[], &[p.config.attribution.model])?
        .filter(
            col("campaign_id")
                .is_not_null()
                .and(col("campaign_id").neq(lit("(no touch)"))),
        )
        .group_by([col("campaign_id")])
        .agg([
            (col(format!("__w_{}", model_name(p.config.attribution.model))) * col("amount_base"))
                .sum()
                .alias("attributed_won"),
        ]))
}

/// The campaigns' rows summed per channel; `attributed_won` is empty when any of
/// the channel's campaigns has none.
fn per_channel(lf: LazyFrame) -> LazyFrame {
    lf.group_by([col("channel")])
        .agg([
            col("cost").sum(),
            col("leads").sum(),
            col("mqls").sum(),
            col("customers").sum(),
            col("attributed_won").sum(),
            col("attributed_won").null_count().alias("__nulls"),
        ])
        .with_column(
            when(col("__nulls").gt(lit(0)))
                .then(null_of(DataType::Float64))
                .otherwise(col("attributed_won"))
                .alias("attributed_won"),
        )
}

/// **campaign-cost** — Per campaign with `started_at` in range (per channel with
/// `--by channel`): cost in the base currency; leads whose `campaign_id` is the
/// campaign (whatever their dates), and the MQLs and customers among them (reached
/// ever); cost per lead, MQL and customer; attributed_won = `won`-basis credit of the
/// report's model to path touches of the campaign; roi = attributed_won ÷ cost.
pub fn campaign_cost(tables: &Tables, p: &Params) -> Result<DataFrame> {
    let campaigns = tables
        .get(&CAMPAIGNS)?
        .filter(in_range(us("started_at"), p))
        .with_column(to_base(col("cost"), col("currency"), &p.config).alias("cost_base"));
    let funnel = lead_funnel(tables, p);
    let leads = leads_per_campaign(funnel);
    let attributed = if tables.has("opportunities") && tables.has("touches") {
        Some(attributed_won_per_campaign(tables, p)?)
    } else {
        None
    };
    let mut lf = campaigns
        .select([
            col("campaign_id"),
            col("channel"),
            col("cost_base").alias("cost"),
        ])
        .join(
            leads,
            [col("campaign_id")],
            [col("campaign_id")],
            JoinArgs::new(JoinType::Left),
        );
    lf = match attributed {
        Some(a) => lf
            .join(
                a,
                [col("campaign_id")],
                [col("campaign_id")],
                JoinArgs::new(JoinType::Left),
            )
            .with_column(col("attributed_won").fill_null(lit(0.0))),
        None => lf.with_column(null_of(DataType::Float64).alias("attributed_won")),
    };
    lf = lf.with_columns([
        col("leads").fill_null(lit(0i64)),
        col("mqls").fill_null(lit(0i64)),
        col("customers").fill_null(lit(0i64)),
    ]);
    let mut first: Vec<Expr> = vec![col("campaign_id"), col("channel")];
    if p.by == Some(Dim::Channel) {
        lf = per_channel(lf);
        first = vec![col("channel")];
    }
    let mut sel = first;
    sel.extend([
        col("cost"),
        col("leads"),
        col("mqls"),
        col("customers"),
        ratio(col("cost"), col("leads")).alias("cost_per_lead"),
        ratio(col("cost"), col("mqls")).alias("cost_per_mql"),
        ratio(col("cost"), col("customers")).alias("cost_per_customer"),
        col("attributed_won"),
        ratio(col("attributed_won"), col("cost")).alias("roi"),
    ]);
    let sort = if p.by == Some(Dim::Channel) {
        "channel"
    } else {
        "campaign_id"
    };
    collect(
        lf.select(sel).sort(
            [sort],
            SortMultipleOptions::default().with_maintain_order(true),
        ),
        "campaign-cost",
    )
}
