//! Pipeline and quota metrics: `win-rate`, `quota`, `reverse-funnel`, `velocity`
//! (docs/metrics.md).

use std::collections::BTreeMap;

use polars::prelude::*;

use super::model::{
    collect, days_between, in_lookback, in_range, lead_funnel, opportunities, quantile,
    rate_columns, ratio, split, us, Tables, STAGES,
};
use super::params::{local_date, local_midnight, Params, Period, MICROS_PER_DAY};
use super::stats::aggregate;
use crate::error::Result;
use crate::model::columns::{OWNERS, QUOTAS};

/// Status `won` or `lost`.
pub(super) fn closed() -> Expr {
    col("status")
        .eq(lit("won"))
        .or(col("status").eq(lit("lost")))
}

/// **win-rate** — Opportunities with status won/lost and `closed_at` in range:
/// win_rate = won ÷ (won + lost) by count (Wilson bounds), win_rate_amount by amount
/// in the base currency (amounts without a rate count 0).
pub fn win_rate(tables: &Tables, p: &Params) -> Result<DataFrame> {
    let opps = opportunities(tables, p).filter(closed().and(in_range(us("closed_at"), p)));
    let (opps, keys) = split(opps, Some("closed_at"), p)?;
    let won = || col("status").eq(lit("won"));
    let agg = aggregate(
        opps,
        &keys,
        vec![
            len().cast(DataType::Int64).alias("closed"),
            won().cast(DataType::Int64).sum().alias("won"),
            won().not().cast(DataType::Int64).sum().alias("lost"),
            col("amount_base").filter(won()).sum().alias("won_amount"),
            col("amount_base")
                .filter(won().not())
                .sum()
                .alias("lost_amount"),
        ],
    );
    let mut sel: Vec<Expr> = keys.iter().map(|k| col(k.as_str())).collect();
    sel.extend(["closed", "won", "lost"].map(col));
    sel.extend(rate_columns(col("won"), col("closed"), "win_rate"));
    sel.extend([
        col("won_amount").fill_null(lit(0.0)),
        col("lost_amount").fill_null(lit(0.0)),
        ratio(col("won_amount"), col("won_amount") + col("lost_amount")).alias("win_rate_amount"),
    ]);
    let mut out = agg.select(sel);
    if !keys.is_empty() {
        let by: Vec<PlSmallStr> = keys.iter().map(|k| k.as_str().into()).collect();
        out = out.sort(by, SortMultipleOptions::default().with_maintain_order(true));
    }
    collect(out, "win-rate")
}

/// Closed-opportunity figures of one owner, team or the company over the quota
/// lookback.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Closed {
    pub(super) won: i64,
    pub(super) closed: i64,
    pub(super) won_amount: f64,
    pub(super) won_with_amount: i64,
}

impl Closed {
    pub(super) fn win_rate(&self) -> Option<f64> {
        (self.closed > 0).then(|| self.won as f64 / self.closed as f64)
    }
    pub(super) fn avg_deal(&self) -> Option<f64> {
        (self.won_with_amount > 0).then(|| self.won_amount / self.won_with_amount as f64)
    }
}

/// Win rates with the fallbacks of docs/metrics.md: the owner's own with ≥ 10 closed, else
/// the owner's team's (when it has any closed), else the company's.
pub(super) struct RateBook {
    pub(super) company: Closed,
    owners: BTreeMap<String, Closed>,
    teams: BTreeMap<String, Closed>,
    team_of: BTreeMap<String, String>,
}

pub(super) fn str_at(df: &DataFrame, column: &str, i: usize) -> Option<String> {
    df.column(column)
        .ok()?
        .get(i)
        .ok()
        .and_then(|v| v.get_str().map(String::from))
}

pub(super) fn f64_at(df: &DataFrame, column: &str, i: usize) -> Option<f64> {
    df.column(column)
        .ok()?
        .get(i)
        .ok()
        .and_then(|v| v.extract::<f64>())
}

pub(super) fn i64_at(df: &DataFrame, column: &str, i: usize) -> Option<i64> {
    df.column(column)
        .ok()?
        .get(i)
        .ok()
        .and_then(|v| v.extract::<i64>())
}

/// The opportunities closed in the quota lookback: what win rates count.
fn closed_in_lookback(tables: &Tables, p: &Params) -> LazyFrame {
    opportunities(tables, p).filter(closed().and(in_lookback(
        us("closed_at"),
        p,
        p.config.quota.lookback_days,
    )))
}

/// The company's win rate over the quota lookback ([`RateBook`]'s `company`), without
/// the owners' and teams' rates.
pub(super) fn company_win_rate(tables: &Tables, p: &Params) -> Result<Option<f64>> {
    let df = collect(
        closed_in_lookback(tables, p).select([
            col("status")
                .eq(lit("won"))
                .cast(DataType::Int64)
                .sum()
                .alias("won"),
            len().cast(DataType::Int64).alias("closed"),
        ]),
        "win rates",
    )?;
    Ok(Closed {
        won: i64_at(&df, "won", 0).unwrap_or(0),
        closed: i64_at(&df, "closed", 0).unwrap_or(0),
        ..Closed::default()
    }
    .win_rate())
}

impl RateBook {
    pub(super) fn new(tables: &Tables, p: &Params) -> Result<RateBook> {
        let opps = closed_in_lookback(tables, p);
        let team_of: BTreeMap<String, String> = match tables.get(&OWNERS) {
            Ok(owners) => {
                let df = collect(owners.select([col("owner_id"), col("team")]), "owners")?;
                (0..df.height())
                    .filter_map(|i| Some((str_at(&df, "owner_id", i)?, str_at(&df, "team", i)?)))
                    .collect()
            }
            // No owners table: no team rates.
            Err(_) => BTreeMap::new(),
        };
        let won = || col("status").eq(lit("won"));
        let df = collect(
            opps.group_by([col("owner_id")])
                .agg([
                    won().cast(DataType::Int64).sum().alias("won"),
                    len().cast(DataType::Int64).alias("closed"),
                    col("amount_base").filter(won()).sum().alias("won_amount"),
                    col("amount_base")
                        .filter(won())
                        .count()
                        .cast(DataType::Int64)
                        .alias("won_n"),
                ])
                .sort(["owner_id"], SortMultipleOptions::default()),
            "win rates",
        )?;
        let mut book = RateBook {
            company: Closed::default(),
            owners: BTreeMap::new(),
            teams: BTreeMap::new(),
            team_of,
        };
        for i in 0..df.height() {
            let c = Closed {
                won: i64_at(&df, "won", i).unwrap_or(0),
                closed: i64_at(&df, "closed", i).unwrap_or(0),
                won_amount: f64_at(&df, "won_amount", i).unwrap_or(0.0),
                won_with_amount: i64_at(&df, "won_n", i).unwrap_or(0),
            };
            let add = |into: &mut Closed| {
                into.won += c.won;
                into.closed += c.closed;
                into.won_amount += c.won_amount;
                into.won_with_amount += c.won_with_amount;
            };
            add(&mut book.company);
            if let Some(owner) = str_at(&df, "owner_id", i) {
                if let Some(team) = book.team_of.get(&owner).cloned() {
                    add(book.teams.entry(team).or_default());
                }
                book.owners.insert(owner, c);
            }
        }
        Ok(book)
    }

    fn for_owner(&self, owner: &str) -> Closed {
        if let Some(own) = self.owners.get(owner) {
            if own.closed >= 10 {
                return *own;
            }
        }
        if let Some(team) = self.team_of.get(owner).and_then(|t| self.teams.get(t)) {
            if team.closed > 0 {
                return *team;
            }
        }
        self.company
    }
}

/// A quota row with its period as instants.
struct QuotaRow {
    owner: String,
    start: chrono::NaiveDate,
    end: chrono::NaiveDate,
    amount: f64,
}

fn quota_rows(tables: &Tables) -> Result<Vec<QuotaRow>> {
    let df = collect(tables.get(&QUOTAS)?, "quotas")?;
    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid");
    let date = |c: &str, i: usize| -> Option<chrono::NaiveDate> {
        match df.column(c).ok()?.get(i).ok()? {
            AnyValue::Date(d) => Some(epoch + chrono::Duration::days(i64::from(d))),
            _ => None,
        }
    };
    Ok((0..df.height())
        .filter_map(|i| {
            Some(QuotaRow {
                owner: str_at(&df, "owner_id", i)?,
                start: date("period_start", i)?,
                end: date("period_end", i)?,
                amount: f64_at(&df, "amount", i)?,
            })
        })
        .collect())
}

/// Won amount per (owner, quota period) and open pipeline at as_of by close date.
fn won_and_open(tables: &Tables, p: &Params, rows: &[QuotaRow]) -> Result<(Vec<f64>, Vec<f64>)> {
    let n = rows.len();
    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid");
    let q = DataFrame::new(
        n,
        vec![
            Column::new("__row".into(), (0..n as i64).collect::<Vec<_>>()),
            Column::new(
                "owner_id".into(),
                rows.iter().map(|r| r.owner.clone()).collect::<Vec<_>>(),
            ),
            Column::new(
                "__ps".into(),
                rows.iter()
                    .map(|r| local_midnight(r.start, p.tz))
                    .collect::<Vec<_>>(),
            ),
            Column::new(
                "__pe".into(),
                rows.iter()
                    .map(|r| local_midnight(r.end + chrono::Duration::days(1), p.tz))
                    .collect::<Vec<_>>(),
            ),
            Column::new(
                "__ds".into(),
                rows.iter()
                    .map(|r| (r.start - epoch).num_days() as i32)
                    .collect::<Vec<_>>(),
            ),
            Column::new(
                "__de".into(),
                rows.iter()
                    .map(|r| (r.end - epoch).num_days() as i32)
                    .collect::<Vec<_>>(),
            ),
        ],
    )
    .expect("equal lengths")
    .lazy();
    let opps = opportunities(tables, p).select([
        col("owner_id"),
        col("status"),
        us("created_at").alias("__created"),
        us("closed_at").alias("__closed"),
        col("close_date")
            .cast(DataType::Int32)
            .alias("__close_date"),
        col("amount_base").fill_null(lit(0.0)),
    ]);
    let joined = q
        .join(
            opps,
            [col("owner_id")],
            [col("owner_id")],
            JoinArgs::new(JoinType::Inner),
        )
        .cache();
    let won = joined
        .clone()
        .filter(
            col("status")
                .eq(lit("won"))
                .and(col("__closed").gt_eq(col("__ps")))
                .and(col("__closed").lt(col("__pe"))),
        )
        .group_by([col("__row")])
        .agg([col("amount_base").sum().alias("__v")]);
    let open_at = col("__created").lt_eq(lit(p.as_of)).and(
        col("status")
            .eq(lit("open"))
            .or(col("__closed").gt(lit(p.as_of))),
    );
    let open = joined
        .filter(
            open_at
                .and(col("__close_date").gt_eq(col("__ds")))
                .and(col("__close_date").lt_eq(col("__de"))),
        )
        .group_by([col("__row")])
        .agg([col("amount_base").sum().alias("__v")]);
    let to_vec = |lf: LazyFrame| -> Result<Vec<f64>> {
        let df = collect(lf, "quota")?;
        let mut out = vec![0.0; n];
        for i in 0..df.height() {
            if let (Some(r), Some(v)) = (i64_at(&df, "__row", i), f64_at(&df, "__v", i)) {
                out[r as usize] = v;
            }
        }
        Ok(out)
    };
    Ok((to_vec(won)?, to_vec(open)?))
}

fn opt_col(name: &str, values: Vec<Option<f64>>) -> Column {
    Column::new(name.into(), values)
}

/// **quota** — Per owner and quota period overlapping the range: won_amount = won
/// opportunities of the owner with `closed_at` in the whole period; attainment = won
/// ÷ quota (null when quota is 0); open_pipeline = opportunities open at as_of
/// (`created_at ≤ as_of` and status open or `closed_at > as_of`) with `close_date` in
/// the period; remaining = max(quota − won, 0); coverage = open_pipeline ÷ remaining
/// (null when remaining is 0); required_coverage = 1 ÷ win_rate, the owner's win rate
/// by count over `quota.lookback_days` before as_of with the §5.1 fallbacks.
pub fn quota(tables: &Tables, p: &Params) -> Result<DataFrame> {
    let mut rows = quota_rows(tables)?;
    rows.retain(|r| r.start <= p.to && r.end >= p.from);
    for (dim, values) in &p.filters {
        if dim.name() == "owner_id" {
            rows.retain(|r| values.contains(&r.owner));
        }
    }
    rows.sort_by(|a, b| (&a.owner, a.start).cmp(&(&b.owner, b.start)));
    let (won, open) = won_and_open(tables, p, &rows)?;
    let book = RateBook::new(tables, p)?;
    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid");
    let mut cols = Vec::new();
    let n = rows.len();
    cols.push(Column::new(
        "owner_id".into(),
        rows.iter().map(|r| r.owner.clone()).collect::<Vec<_>>(),
    ));
    for (name, f) in [("period_start", 0), ("period_end", 1)] {
        let days: Vec<i32> = rows
            .iter()
            .map(|r| ((if f == 0 { r.start } else { r.end }) - epoch).num_days() as i32)
            .collect();
        cols.push(
            Column::new(name.into(), days)
                .cast(&DataType::Date)
                .expect("cast"),
        );
    }
    let quota: Vec<f64> = rows.iter().map(|r| r.amount).collect();
    let remaining: Vec<f64> = quota
        .iter()
        .zip(&won)
        .map(|(q, w)| (q - w).max(0.0))
        .collect();
    let rates: Vec<Option<f64>> = rows
        .iter()
        .map(|r| book.for_owner(&r.owner).win_rate())
        .collect();
    cols.push(Column::new("quota".into(), quota.clone()));
    cols.push(Column::new("won_amount".into(), won.clone()));
    cols.push(opt_col(
        "attainment",
        quota
            .iter()
            .zip(&won)
            .map(|(q, w)| (*q != 0.0).then(|| w / q))
            .collect(),
    ));
    cols.push(Column::new("open_pipeline".into(), open.clone()));
    cols.push(Column::new("remaining".into(), remaining.clone()));
    cols.push(opt_col(
        "coverage",
        remaining
            .iter()
            .zip(&open)
            .map(|(r, o)| (*r > 0.0).then(|| o / r))
            .collect(),
    ));
    cols.push(opt_col(
        "required_coverage",
        rates
            .iter()
            .map(|r| r.filter(|r| *r > 0.0).map(|r| 1.0 / r))
            .collect(),
    ));
    cols.push(opt_col("win_rate", rates));
    // The rate's Wilson interval, as every count ratio has, over the closed deals of
    // the group the rate was taken from (owner, team or company).
    let used: Vec<Closed> = rows.iter().map(|r| book.for_owner(&r.owner)).collect();
    let counts = DataFrame::new(
        n,
        vec![
            Column::new("k".into(), used.iter().map(|c| c.won).collect::<Vec<_>>()),
            Column::new(
                "n".into(),
                used.iter().map(|c| c.closed).collect::<Vec<_>>(),
            ),
        ],
    )
    .expect("equal lengths");
    let [low, high] = super::model::wilson(col("k"), col("n"), "win_rate");
    let bounds = collect(
        counts
            .lazy()
            .select([low, high, col("n").alias("__n_win_rate")]),
        "quota",
    )?;
    cols.extend(bounds.columns().iter().cloned());
    Ok(DataFrame::new(n, cols).expect("equal lengths"))
}

/// Step rates for the reverse funnel, in one pass over the lead funnel: company-wide,
/// leads whose `reached_at(from)` is in the quota lookback, monthly cohorts, mature
/// cohorts only (Σ converted ÷ Σ entered) — and the median mql → customer days over
/// leads reaching customer in the lookback.
///
/// A monthly cohort is mature when `as_of ≥ its end + wait`, that is when its month
/// ends by `as_of − wait`: exactly when `reached_at(from)` is before the start of the
/// local month containing `as_of − wait`.
fn step_rates(
    tables: &Tables,
    p: &Params,
    pairs: &[(usize, usize)],
) -> Result<(Vec<Option<f64>>, Option<f64>)> {
    let (counts, median) = step_counts(tables, p, pairs)?;
    let rates = counts
        .iter()
        .map(|&(e, c)| (e > 0).then(|| c as f64 / e as f64))
        .collect();
    Ok((rates, median))
}

/// Per funnel step, how many leads entered its cohorts and how many converted.
pub(super) type StepCounts = Vec<(i64, i64)>;

/// [`step_rates`]' cohorts: (entered, converted) per pair, and the median.
pub(super) fn step_counts(
    tables: &Tables,
    p: &Params,
    pairs: &[(usize, usize)],
) -> Result<(StepCounts, Option<f64>)> {
    let window = p.config.funnel.conversion_window_days;
    let wait = i64::from(window.max(p.config.funnel.maturity_days)) * MICROS_PER_DAY;
    let last = local_date(p.as_of - wait, p.tz);
    let mature_before = local_midnight(
        Period::Month.start_of(last, &p.config.calendar.periods()),
        p.tz,
    );
    let mut aggs = Vec::new();
    for (k, (from, to)) in pairs.iter().enumerate() {
        let (rf, rt) = (
            format!("reached_{}", STAGES[*from]),
            format!("reached_{}", STAGES[*to]),
        );
        let cohort = in_lookback(us(&rf), p, p.config.quota.lookback_days)
            .and(us(&rf).lt(lit(mature_before)));
        let mut conv = col(rt.as_str()).is_not_null();
        if window > 0 {
            conv = conv.and(us(&rt).lt_eq(us(&rf) + lit(i64::from(window) * MICROS_PER_DAY)));
        }
        aggs.push(
            cohort
                .clone()
                .cast(DataType::Int64)
                .sum()
                .alias(format!("e{k}")),
        );
        aggs.push(
            cohort
                .and(conv)
                .cast(DataType::Int64)
                .sum()
                .alias(format!("c{k}")),
        );
    }
    let to_customer = in_lookback(us("reached_customer"), p, p.config.quota.lookback_days)
        .and(col("reached_mql").is_not_null());
    aggs.push(
        quantile(
            days_between(us("reached_mql"), us("reached_customer")).filter(to_customer),
            0.5,
        )
        .alias("median"),
    );
    let df = collect(lead_funnel(tables, p).select(aggs), "reverse-funnel")?;
    let counts = (0..pairs.len())
        .map(|k| {
            let e = i64_at(&df, &format!("e{k}"), 0).unwrap_or(0);
            let c = i64_at(&df, &format!("c{k}"), 0).unwrap_or(0);
            (e, c)
        })
        .collect();
    Ok((counts, f64_at(&df, "median", 0)))
}

/// `ceil(previous ÷ rate − 1e-9)`; a need of 0 is 0; a missing or zero rate gives null.
pub(super) fn need(previous: Option<f64>, rate: Option<f64>) -> Option<f64> {
    let previous = previous?;
    if previous == 0.0 {
        return Some(0.0);
    }
    let rate = rate.filter(|r| *r > 0.0)?;
    Some((previous / rate - 1e-9).ceil())
}

/// **reverse-funnel** — Per owner with a quota period containing as_of (the latest
/// `period_start` if several) and `all`: remaining quota, then wins, opportunities,
/// SQLs, SALs, MQLs and leads needed, each `ceil(next ÷ rate − 1e-9)` with the average
/// won amount and win rate of quota (same fallbacks) and company-wide mature monthly
/// cohort step rates over the lookback; `mql_deadline` = date(period end + 1 day −
/// median mql→customer days over leads reaching customer in the lookback).
pub fn reverse_funnel(tables: &Tables, p: &Params) -> Result<DataFrame> {
    let today = local_date(p.as_of, p.tz);
    let mut current: BTreeMap<String, QuotaRow> = BTreeMap::new();
    for r in quota_rows(tables)? {
        if r.start <= today && today <= r.end {
            let replace = current.get(&r.owner).is_none_or(|c| r.start > c.start);
            if replace {
                current.insert(r.owner.clone(), r);
            }
        }
    }
    for (dim, values) in &p.filters {
        if dim.name() == "owner_id" {
            current.retain(|o, _| values.contains(o));
        }
    }
    let rows: Vec<QuotaRow> = current.into_values().collect();
    let (won, _) = won_and_open(tables, p, &rows)?;
    let book = RateBook::new(tables, p)?;
    // sql → opportunity, sal → sql, mql → sal, lead → mql.
    let (steps, median) = step_rates(tables, p, &[(3, 4), (2, 3), (1, 2), (0, 1)])?;
    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid");
    let deadline = |end: chrono::NaiveDate| -> Option<i32> {
        let m = median?;
        let exclusive = local_midnight(end + chrono::Duration::days(1), p.tz);
        let t = exclusive - (m * MICROS_PER_DAY as f64).round() as i64;
        Some((local_date(t, p.tz) - epoch).num_days() as i32)
    };
    // (owner, remaining, average deal, win rate, MQL deadline)
    type Need = (String, f64, Option<f64>, Option<f64>, Option<i32>);
    let mut out: Vec<Need> = Vec::new();
    for (r, w) in rows.iter().zip(&won) {
        let c = book.for_owner(&r.owner);
        out.push((
            r.owner.clone(),
            (r.amount - w).max(0.0),
            c.avg_deal(),
            c.win_rate(),
            deadline(r.end),
        ));
    }
    let total: f64 = out.iter().map(|o| o.1).sum();
    let latest_end = rows.iter().map(|r| r.end).max();
    out.push((
        "all".into(),
        total,
        book.company.avg_deal(),
        book.company.win_rate(),
        latest_end.and_then(deadline),
    ));
    let n = out.len();
    let mut needs: Vec<[Option<f64>; 6]> = Vec::with_capacity(n);
    for (_, remaining, avg, rate, _) in &out {
        let wins = need(Some(*remaining), *avg);
        let opps = need(wins, *rate);
        let sqls = need(opps, steps[0]);
        let sals = need(sqls, steps[1]);
        let mqls = need(sals, steps[2]);
        let leads = need(mqls, steps[3]);
        needs.push([wins, opps, sqls, sals, mqls, leads]);
    }
    let as_int = |v: Option<f64>| v.map(|x| x as i64);
    let mut cols = vec![
        Column::new(
            "owner_id".into(),
            out.iter().map(|o| o.0.clone()).collect::<Vec<_>>(),
        ),
        Column::new(
            "remaining".into(),
            out.iter().map(|o| o.1).collect::<Vec<_>>(),
        ),
        opt_col("avg_deal_size", out.iter().map(|o| o.2).collect()),
    ];
    for (i, name) in [
        "wins_needed",
        "opportunities_needed",
        "sqls_needed",
        "sals_needed",
        "mqls_needed",
        "leads_needed",
    ]
    .iter()
    .enumerate()
    {
        cols.push(Column::new(
            (*name).into(),
            needs.iter().map(|n| as_int(n[i])).collect::<Vec<_>>(),
        ));
    }
    cols.push(
        Column::new(
            "mql_deadline".into(),
            out.iter().map(|o| o.4).collect::<Vec<_>>(),
        )
        .cast(&DataType::Date)
        .expect("cast"),
    );
    Ok(DataFrame::new(n, cols).expect("equal lengths"))
}

/// **velocity** — open opportunities at as_of × win rate × average won amount ÷
/// median sales cycle days, the last three over won/lost opportunities closed in
/// range. Null when a factor is null or the median is 0.
pub fn velocity(tables: &Tables, p: &Params) -> Result<DataFrame> {
    let opps = opportunities(tables, p).cache();
    let open_at = us("created_at").lt_eq(lit(p.as_of)).and(
        col("status")
            .eq(lit("open"))
            .or(us("closed_at").gt(lit(p.as_of))),
    );
    let (open, keys) = split(opps.clone().filter(open_at), None, p)?;
    let open = aggregate(
        open,
        &keys,
        vec![len().cast(DataType::Int64).alias("open_opportunities")],
    );
    let closed = opps.filter(closed().and(in_range(us("closed_at"), p)));
    let (closed, _) = split(closed, None, p)?;
    let won = || col("status").eq(lit("won"));
    let closed = aggregate(
        closed,
        &keys,
        vec![
            won().cast(DataType::Int64).sum().alias("__won"),
            len().cast(DataType::Int64).alias("__closed"),
            col("amount_base")
                .filter(won())
                .mean()
                .alias("avg_deal_size"),
            quantile(
                days_between(us("created_at"), us("closed_at")).filter(won().and(
                    super::cycle::kept_duration(days_between(us("created_at"), us("closed_at")), p),
                )),
                0.5,
            )
            .alias("median_cycle_days"),
            super::cycle::left_out_negative(
                days_between(us("created_at"), us("closed_at")).filter(won()),
                p,
            )
            .alias("__left_out"),
        ],
    );
    let joined = super::model::join_on_keys(
        open,
        closed,
        &keys,
        JoinArgs {
            nulls_equal: true,
            ..JoinArgs::new(JoinType::Full).with_coalesce(JoinCoalesce::CoalesceColumns)
        },
    );
    let mut sel: Vec<Expr> = keys.iter().map(|k| col(k.as_str())).collect();
    sel.push(col("open_opportunities").fill_null(lit(0i64)));
    sel.extend(rate_columns(
        col("__won").fill_null(lit(0i64)),
        col("__closed").fill_null(lit(0i64)),
        "win_rate",
    ));
    sel.extend([col("avg_deal_size"), col("median_cycle_days")]);
    sel.push(
        col("__left_out")
            .fill_null(lit(0i64))
            .alias("left_out_negative"),
    );
    let win_rate = ratio(col("__won"), col("__closed"));
    let v = col("open_opportunities")
        .fill_null(lit(0i64))
        .cast(DataType::Float64)
        * win_rate
        * col("avg_deal_size")
        / col("median_cycle_days");
    sel.push(
        when(col("median_cycle_days").eq(lit(0.0)))
            .then(super::model::null_of(DataType::Float64))
            .otherwise(v)
            .alias("velocity_per_day"),
    );
    let mut out = joined.select(sel);
    if !keys.is_empty() {
        let by: Vec<PlSmallStr> = keys.iter().map(|k| k.as_str().into()).collect();
        out = out.sort(by, SortMultipleOptions::default().with_maintain_order(true));
    }
    collect(out, "velocity")
}
