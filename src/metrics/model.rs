//! The shared derived frames every metric builds on, with the definitions applied at
//! query time: stage mapping, linked opportunities, amounts in the base currency,
//! counted touches, and the lead funnel (one row per lead with its reach times).

use std::collections::BTreeMap;

use chrono::{Duration, NaiveDate};
use polars::prelude::*;

use super::params::{local_midnight, Dim, Params, Period};
use crate::config::{norm, Config, SkippedStages};
use crate::error::{Error, PolarsContext, Result};
use crate::model::columns::{
    TableSchema, CAMPAIGNS, LEADS, LEAD_STAGE_EVENTS, OPPORTUNITIES, TOUCHES,
};

/// Funnel stages in order, then the side states (their tie order at one instant).
pub const STAGES: [&str; 8] = [
    "lead",
    "mql",
    "sal",
    "sql",
    "opportunity",
    "customer",
    "recycled",
    "disqualified",
];
pub const FUNNEL: usize = 6;
pub const RECYCLED: i32 = 6;
pub const DISQUALIFIED: i32 = 7;

/// The warehouse tables as lazy scans, and the derived frames computed ahead.
///
/// A table is read through [`Tables::get`] (an error naming the table when the
/// warehouse lacks it) or [`Tables::or_empty`] (no rows when it lacks it: for
/// optional joins and for checks that find nothing in an absent table).
#[derive(Clone, Default)]
pub struct Tables {
    /// The tables the warehouse has.
    raw: BTreeMap<&'static str, LazyFrame>,
    /// The lead funnel, when computed ahead for one set of definitions (at ingest,
    /// see [`super::derived`], or once by a report for all its metrics). Never set on
    /// tables shared between definitions.
    pub funnel: Option<LazyFrame>,
    /// Per lead, its counted marketing touches up to each `touches` milestone,
    /// computed ahead the same way.
    pub lead_touches: Option<LazyFrame>,
    /// Every MQL episode with its decision sightings
    /// ([`super::touches::mql_episodes`]), computed ahead the same way.
    pub mql_episodes: Option<LazyFrame>,
    /// The modelled opportunities (amounts in base currency, lead dimensions), cached
    /// the same way.
    pub opportunity_model: Option<LazyFrame>,
    /// Counted touches of the leads that opportunities link to (all columns),
    /// computed ahead the same way: what attribution reads.
    pub opportunity_touches: Option<LazyFrame>,
    /// The touches whose lead the leads table lacks, `touch_id` and `lead_id`
    /// ([`super::lint::unknown_lead_touches`]), computed ahead the same way; none at
    /// an earlier moment (a lead created later is unknown then).
    pub unknown_lead_touches: Option<LazyFrame>,
    /// The touches' partitions when they are stored by lead (part `i` holds the
    /// touches of the leads whose id hashes to `i` among as many partitions), so that
    /// joins onto leads run one partition at a time with a cache-sized table; empty
    /// otherwise (then the touches table is read whole).
    pub touch_parts: Vec<LazyFrame>,
    /// Frames one report's metrics share (see [`Tables::shared`]); none elsewhere.
    pub memo: Option<Memo>,
    /// The tables as the warehouse holds them, when `raw` shows them at an earlier
    /// moment ([`super::visible::cut`]).
    uncut: Option<BTreeMap<&'static str, LazyFrame>>,
    /// The warehouse as an earlier version held it, at `changes --since vNNNNNN`
    /// (cut at that version's own as-of); none when the earlier moment is read from
    /// these tables cut at `--since`.
    pub earlier: Option<std::sync::Arc<Tables>>,
    /// Frames computed once from these tables and kept for every later reader (the
    /// opportunity stage history each point-in-time cut reads): shared by clones,
    /// replaced by a fresh one whenever a table is ([`Tables::replace`]).
    kept: Memo,
}

/// Per-item frames computed once for a report, keyed by metric and parameters.
pub type Memo = std::sync::Arc<std::sync::Mutex<BTreeMap<String, DataFrame>>>;

impl Tables {
    /// The tables of `map` (canonical table name → scan).
    pub fn from_map(map: BTreeMap<&'static str, LazyFrame>) -> Tables {
        Tables {
            raw: map,
            ..Tables::default()
        }
    }

    /// Every table the warehouse has, by name (as seen at the tables' moment).
    pub fn scans(&self) -> impl Iterator<Item = (&'static str, &LazyFrame)> {
        self.raw.iter().map(|(k, v)| (*k, v))
    }

    /// Whether the warehouse has the table called `table`.
    pub fn has(&self, table: &str) -> bool {
        self.raw.contains_key(table)
    }

    /// The table `t`, or an error naming it when the warehouse lacks it.
    pub fn get(&self, t: &TableSchema) -> Result<LazyFrame> {
        self.raw
            .get(t.name)
            .cloned()
            .ok_or_else(|| Error::MissingTables {
                needed_by: "this command".into(),
                tables: vec![t.name],
            })
    }

    /// The table `t` as the warehouse holds it, whatever moment the tables show: for
    /// the checks of the warehouse itself (events dated in the future). No rows when
    /// the warehouse lacks it.
    pub fn uncut(&self, t: &TableSchema) -> LazyFrame {
        match self.uncut.as_ref().and_then(|u| u.get(t.name)) {
            Some(lf) => lf.clone(),
            None => self.or_empty(t),
        }
    }

    /// Replaces table `t` by `f(t)`, when the warehouse has it. The frames kept from
    /// the tables before ([`Tables::kept`]) are forgotten.
    pub fn replace(&mut self, t: &TableSchema, f: impl FnOnce(LazyFrame) -> LazyFrame) {
        if let Some(lf) = self.raw.remove(t.name) {
            self.raw.insert(t.name, f(lf));
            self.kept = Memo::default();
        }
    }

    /// Keeps `frame`, computed from these tables, under `key` ([`Tables::kept`]).
    pub fn keep(&self, key: &str, frame: DataFrame) {
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        kept.insert(key.to_string(), frame);
    }

    /// The frame kept under `key`, or `frame` as it is (not computed) when none is.
    pub fn kept_or(&self, key: &str, frame: LazyFrame) -> LazyFrame {
        let kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        match kept.get(key) {
            Some(df) => df.clone().lazy(),
            None => frame,
        }
    }

    /// `frame` (computed from these tables), collected the first time `key` is asked
    /// for and kept in memory for every later reader of these tables or their
    /// clones. On an error it is returned lazy, for the reader to meet the error.
    pub fn kept(&self, key: &str, frame: LazyFrame) -> LazyFrame {
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(df) = kept.get(key) {
            return df.clone().lazy();
        }
        match frame.clone().collect() {
            Ok(df) => {
                kept.insert(key.to_string(), df.clone());
                df.lazy()
            }
            Err(_) => frame,
        }
    }

    /// Keeps the tables as they are now reachable through [`Tables::uncut`] before
    /// they are replaced (once: the first call wins).
    pub fn keep_uncut(&mut self) {
        if self.uncut.is_none() {
            self.uncut = Some(self.raw.clone());
        }
    }

    /// Forgets the frames computed ahead (the metrics derive what they need).
    pub fn drop_derived(&mut self) {
        self.funnel = None;
        self.lead_touches = None;
        self.mql_episodes = None;
        self.opportunity_model = None;
        self.opportunity_touches = None;
        self.unknown_lead_touches = None;
    }

    /// The table `t`, or no rows (with its canonical columns) when the warehouse
    /// lacks it.
    pub fn or_empty(&self, t: &TableSchema) -> LazyFrame {
        self.raw
            .get(t.name)
            .cloned()
            .unwrap_or_else(|| DataFrame::empty_with_schema(&t.polars_schema()).lazy())
    }

    /// The per-item frame `items` of metric `name` under `p`: with a memo (a report,
    /// where a metric and then its histogram read the same items) it is computed once
    /// and held in memory until the second reader takes it; otherwise it is returned
    /// as it is. The histogram flag is not part of the key; every other parameter is.
    pub fn shared(&self, name: &str, p: &Params, items: LazyFrame) -> Result<LazyFrame> {
        let Some(memo) = &self.memo else {
            return Ok(items);
        };
        let key = format!(
            "{name} {:?}",
            Params {
                histogram: false,
                ..p.clone()
            }
        );
        if let Some(df) = memo.lock().expect("memo lock").remove(&key) {
            return Ok(df.lazy());
        }
        let df = collect(items, name)?;
        memo.lock().expect("memo lock").insert(key, df.clone());
        Ok(df.lazy())
    }

    /// `per_part(touches of part i, rows of `leads` in part i)` for every partition of
    /// the touches stored by lead, as one plan (their union); None when the touches
    /// are not stored by lead. `leads` (with a `lead_id` column) is collected and
    /// split by the same hash.
    pub fn by_lead_partition(
        &self,
        leads: LazyFrame,
        what: &str,
        per_part: impl Fn(LazyFrame, LazyFrame) -> LazyFrame,
    ) -> Result<Option<LazyFrame>> {
        if self.touch_parts.len() < 2 {
            return Ok(None);
        }
        let leads = collect_streaming(leads, what)?;
        let pieces = crate::model::partition::split(&leads, "lead_id", self.touch_parts.len())?;
        let parts: Vec<LazyFrame> = self
            .touch_parts
            .iter()
            .zip(pieces)
            .map(|(touches, leads)| per_part(touches.clone(), leads.lazy()))
            .collect();
        Ok(Some(
            concat(parts, UnionArgs::default()).context(|| what.to_string())?,
        ))
    }
}

/// An instant in UTC µs (i64) as a UTC timestamp column.
pub fn as_utc(e: Expr) -> Expr {
    e.cast(DataType::Datetime(
        TimeUnit::Microseconds,
        Some(TimeZone::UTC),
    ))
}

/// A left join in which null keys match each other (null split groups).
pub fn left_join_nulls_equal() -> JoinArgs {
    JoinArgs {
        nulls_equal: true,
        ..JoinArgs::new(JoinType::Left)
    }
}

/// `left` joined to `right` on the split keys `keys` with `args`; without keys
/// (no `--by` or `--period`), each side is one row and they are set side by side.
pub fn join_on_keys(
    left: LazyFrame,
    right: LazyFrame,
    keys: &[String],
    args: JoinArgs,
) -> LazyFrame {
    if keys.is_empty() {
        return left.cross_join(right, None);
    }
    let on: Vec<Expr> = keys.iter().map(|k| col(k.as_str())).collect();
    left.join(right, on.clone(), on, args)
}

/// Microseconds of a timestamp column (UTC).
pub fn us(name: &str) -> Expr {
    col(name).cast(DataType::Int64)
}

/// `(b − a)` in days as a float, from microsecond expressions.
pub fn days_between(a: Expr, b: Expr) -> Expr {
    (b - a).cast(DataType::Float64) / lit(86_400_000_000.0)
}

/// `start ≤ t < end` on a microsecond expression.
pub fn in_span(t: Expr, start: i64, end: i64) -> Expr {
    t.clone().gt_eq(lit(start)).and(t.lt(lit(end)))
}

/// In the selected range (whole days `from..to` in the calendar time zone).
pub fn in_range(t: Expr, p: &Params) -> Expr {
    in_span(t, p.range_start, p.range_end)
}

/// In the lookback `as_of − days < t ≤ as_of`.
pub fn in_lookback(t: Expr, p: &Params, days: u32) -> Expr {
    let (start, end) = p.lookback(days);
    t.clone().gt(lit(start)).and(t.lt_eq(lit(end)))
}

/// A null literal of a type.
pub fn null_of(dtype: DataType) -> Expr {
    lit(Null {}).cast(dtype)
}

/// `num ÷ den`, null when the denominator is 0 or null.
pub fn ratio(num: Expr, den: Expr) -> Expr {
    when(den.clone().eq(lit(0.0)).or(den.clone().is_null()))
        .then(null_of(DataType::Float64))
        .otherwise(num.cast(DataType::Float64) / den.cast(DataType::Float64))
}

/// z for a two-sided 95 % interval (the exact 0.975 normal quantile).
pub const Z95: f64 = 1.959_963_984_540_054;

/// Wilson score interval of `k` successes in `n` trials: `(low, high)`, null when n = 0.
pub fn wilson(k: Expr, n: Expr, name: &str) -> [Expr; 2] {
    let z2 = Z95 * Z95;
    let nf = n.clone().cast(DataType::Float64);
    let kf = k.clone().cast(DataType::Float64);
    let p = kf.clone() / nf.clone();
    let denom = lit(1.0) + lit(z2) / nf.clone();
    let center = (p.clone() + lit(z2) / (lit(2.0) * nf.clone())) / denom.clone();
    let half = lit(Z95)
        * ((p.clone() * (lit(1.0) - p.clone()) / nf.clone())
            + lit(z2) / (lit(4.0) * nf.clone() * nf))
            .sqrt()
        / denom;
    let guard = |e: Expr| {
        when(n.clone().eq(lit(0)).or(n.clone().is_null()))
            .then(null_of(DataType::Float64))
            .otherwise(e)
    };
    // In [0, 1] and around the rate itself, whatever floating point rounds to: 0
    // exactly for no successes, 1 exactly for all.
    let low = when(kf.clone().lt_eq(lit(0.0))).then(lit(0.0)).otherwise(
        polars::lazy::dsl::max_horizontal([
            polars::lazy::dsl::min_horizontal([center.clone() - half.clone(), p.clone()])
                .expect("two inputs"),
            lit(0.0),
        ])
        .expect("two inputs"),
    );
    let high = when(kf.gt_eq(n.clone().cast(DataType::Float64)))
        .then(lit(1.0))
        .otherwise(
            polars::lazy::dsl::min_horizontal([
                polars::lazy::dsl::max_horizontal([center + half, p]).expect("two inputs"),
                lit(1.0),
            ])
            .expect("two inputs"),
        );
    [
        guard(low).alias(format!("{name}_low")),
        guard(high).alias(format!("{name}_high")),
    ]
}

/// [`wilson`] for one count: `k` of `n` (None when `n` is 0).
pub fn wilson_bounds(k: i64, n: i64) -> Option<(f64, f64)> {
    let [low, high] = wilson(lit(k), lit(n), "r");
    let df = DataFrame::empty()
        .lazy()
        .select([low, high])
        .collect()
        .ok()?;
    let get = |c: &str| df.column(c).ok()?.get(0).ok()?.extract::<f64>();
    Some((get("r_low")?, get("r_high")?))
}

/// A rate with its Wilson interval and its denominator (for the table's small-n mark).
pub fn rate_columns(k: Expr, n: Expr, name: &str) -> Vec<Expr> {
    let [low, high] = wilson(k.clone(), n.clone(), name);
    vec![
        ratio(k, n.clone()).alias(name),
        low,
        high,
        n.cast(DataType::Int64).alias(format!("__n_{name}")),
    ]
}

/// The linear-interpolation quantile (numpy's default).
pub fn quantile(e: Expr, q: f64) -> Expr {
    e.quantile(lit(q), QuantileMethod::Linear)
}

/// Maps raw lifecycle values to canonical stage indices (docs/metrics.md, common rules): trimmed,
/// case-insensitive; a value listed under two stages maps to the first in order.
pub fn stage_map(config: &Config) -> DataFrame {
    let mut seen = BTreeMap::new();
    let mut raw = Vec::new();
    let mut idx = Vec::new();
    for (i, (_, list)) in config.stages.lists().iter().enumerate() {
        for value in list.iter() {
            let key = norm(value);
            if seen.insert(key.clone(), i).is_none() {
                raw.push(key);
                idx.push(i as i32);
            }
        }
    }
    let height = raw.len();
    DataFrame::new(
        height,
        vec![
            Column::new("__stage_norm".into(), raw),
            Column::new("stage_idx".into(), idx),
        ],
    )
    .expect("equal lengths")
}

/// Maps a source to its team via `[sources]`; anything unlisted (or null) is `other`.
pub fn source_team(source: Expr, config: &Config) -> Expr {
    let normed = source.str().to_lowercase();
    let mut chain: Option<Then> = None;
    let mut chained: Option<ChainedThen> = None;
    for (team, list) in &config.sources {
        let values: Vec<String> = list.iter().map(|v| norm(v)).collect();
        let series = Series::new("".into(), values);
        let cond = normed.clone().is_in(lit(series).implode(false), false);
        match (chain.take(), chained.take()) {
            (None, None) => chain = Some(when(cond).then(lit(team.clone()))),
            (Some(t), _) => chained = Some(t.when(cond).then(lit(team.clone()))),
            (None, Some(c)) => chained = Some(c.when(cond).then(lit(team.clone()))),
        }
    }
    match (chain, chained) {
        (Some(t), _) => t.otherwise(lit("other")),
        (None, Some(c)) => c.otherwise(lit("other")),
        (None, None) => lit("other"),
    }
}

/// An amount converted to the base currency (docs/metrics.md, common rules): empty currency or the base
/// itself is 1:1, a listed currency uses its rate, any other becomes null.
pub fn to_base(amount: Expr, currency: Expr, config: &Config) -> Expr {
    let cur = currency.str().to_uppercase();
    let base = config.currency.base.trim().to_uppercase();
    let mut chained = when(cur.clone().is_null().or(cur.clone().eq(lit(base))))
        .then(amount.clone())
        .when(lit(false))
        .then(null_of(DataType::Float64));
    for (code, rate) in &config.currency.rates {
        chained = chained
            .when(cur.clone().eq(lit(code.trim().to_uppercase())))
            .then(amount.clone() * lit(*rate));
    }
    chained.otherwise(null_of(DataType::Float64))
}

/// Dates → period start, as a join table over 1900–2199 (a few hundred KB).
pub fn period_table(period: Period, p: &Params) -> LazyFrame {
    let start = NaiveDate::from_ymd_opt(1900, 1, 1).expect("valid");
    let end = NaiveDate::from_ymd_opt(2200, 1, 1).expect("valid");
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid");
    let mut dates = Vec::new();
    let mut starts = Vec::new();
    let mut ends = Vec::new();
    let mut d = start;
    while d < end {
        let s = period.start_of(d, &p.config.calendar.periods());
        let e = period.next(s, &p.config.calendar.periods());
        // Once per period: the zone conversion costs more than the rest together.
        let (start_day, end_us) = ((s - epoch).num_days() as i32, local_midnight(e, p.tz));
        let mut cur = d;
        while cur < e && cur < end {
            dates.push((cur - epoch).num_days() as i32);
            starts.push(start_day);
            ends.push(end_us);
            cur += Duration::days(1);
        }
        d = cur;
    }
    let n = dates.len();
    let df = DataFrame::new(
        n,
        vec![
            Column::new("__date".into(), dates)
                .cast(&DataType::Date)
                .expect("cast"),
            Column::new("period".into(), starts)
                .cast(&DataType::Date)
                .expect("cast"),
            Column::new("__period_end".into(), ends),
        ],
    )
    .expect("equal lengths");
    df.lazy()
}

/// The local date of a UTC timestamp column, in the calendar time zone.
pub fn local_date_expr(t: Expr, p: &Params) -> Expr {
    let tz = TimeZone::opt_try_new(Some(p.config.calendar.timezone.as_str()))
        .ok()
        .flatten()
        .unwrap_or(TimeZone::UTC);
    t.dt().convert_time_zone(tz).dt().date()
}

/// Adds `period` (start date) and `__period_end` (exclusive end, UTC µs) for the
/// timestamp column `t`.
pub fn with_period(lf: LazyFrame, t: &str, period: Period, p: &Params) -> LazyFrame {
    lf.with_column(local_date_expr(col(t), p).alias("__date"))
        .join(
            period_table(period, p),
            [col("__date")],
            [col("__date")],
            JoinArgs::new(JoinType::Left),
        )
        .drop(cols(["__date"]))
}

/// The dimensions of a lead that are one of its columns under another name.
const LEAD_COLUMN_DIMS: [(Dim, &str); 5] = [
    (Dim::Source, "source"),
    (Dim::Segment, "segment"),
    (Dim::Region, "region"),
    (Dim::OwnerId, "owner_id"),
    (Dim::CampaignId, "campaign_id"),
];

/// A frame of leads (with their columns) given the dimensions that copy a column.
pub fn with_lead_column_dims(lf: LazyFrame) -> LazyFrame {
    lf.with_columns(
        LEAD_COLUMN_DIMS
            .iter()
            .map(|(dim, column)| col(*column).alias(dim.column()))
            .collect::<Vec<_>>(),
    )
}

/// A frame of leads without the dimensions that copy a column (as the derived lead
/// funnel stores it: [`with_lead_column_dims`] restores them).
pub fn without_lead_column_dims(lf: LazyFrame) -> LazyFrame {
    lf.drop(cols(
        LEAD_COLUMN_DIMS
            .iter()
            .map(|(dim, _)| dim.column())
            .collect::<Vec<_>>(),
    ))
}

/// The leads table with its dimensions (`__dim_*` columns).
pub fn leads(tables: &Tables, p: &Params) -> LazyFrame {
    let leads = tables.or_empty(&LEADS);
    // A null source is `other` too.
    let lf = map_distinct(with_lead_column_dims(leads), "source", |sources| {
        sources.with_column(source_team(col("source"), &p.config).alias(Dim::SourceTeam.column()))
    });
    lf.join(
        tables.or_empty(&CAMPAIGNS).select([
            col("campaign_id").alias("__cid"),
            col("channel").alias(Dim::Channel.column()),
        ]),
        [col("campaign_id")],
        [col("__cid")],
        JoinArgs::new(JoinType::Left),
    )
}

/// Lifecycle events of known leads with `stage_idx` (null when unmapped), ordered
/// within a lead by (time, stage order).
pub fn lead_events(tables: &Tables, p: &Params) -> LazyFrame {
    mapped_events(tables, p).semi_join(
        tables.or_empty(&LEADS).select([col("lead_id")]),
        col("lead_id"),
        col("lead_id"),
    )
}

/// Lifecycle events with `stage_idx` (null when unmapped), of any lead, known or not
/// (callers that join onto `leads` drop unknown leads themselves, and save a join).
pub fn mapped_events(tables: &Tables, p: &Params) -> LazyFrame {
    let events = tables.or_empty(&LEAD_STAGE_EVENTS);
    // A null stage maps to nothing, as a value listed nowhere.
    map_distinct(events, "stage", |stages| {
        stages
            .with_column(col("stage").str().to_lowercase().alias("__stage_norm"))
            .join(
                stage_map(&p.config).lazy(),
                [col("__stage_norm")],
                [col("__stage_norm")],
                JoinArgs::new(JoinType::Left),
            )
            .drop(cols(["__stage_norm"]))
    })
}

/// `lf` with the columns `map` adds to the distinct values of its column `column`
/// (given as a frame of that one column, returned with one row per value): the
/// mapping runs once per distinct value, not once per row, and is joined back on the
/// value (null matching null). For few-valued text columns (stages, sources), where
/// normalizing every row cost more than the join.
fn map_distinct(
    lf: LazyFrame,
    column: &str,
    map: impl FnOnce(LazyFrame) -> LazyFrame,
) -> LazyFrame {
    const VALUE: &str = "__distinct_value";
    let values = map(lf
        .clone()
        .select([col(column)])
        .unique(None, UniqueKeepStrategy::Any))
    .rename([column], [VALUE], true);
    lf.join(values, [col(column)], [col(VALUE)], left_join_nulls_equal())
}

/// Opportunities with `amount_base`, `linked` (its lead exists), the split dimensions
/// (owner and source from the opportunity, falling back to the lead's source; the
/// rest from the linked lead), and the lead's `__lead_created_at`.
pub fn opportunities(tables: &Tables, p: &Params) -> LazyFrame {
    if let Some(lf) = &tables.opportunity_model {
        return lf.clone();
    }
    let opps = tables.or_empty(&OPPORTUNITIES);
    let lf = opps
        .with_column(to_base(col("amount"), col("currency"), &p.config).alias("amount_base"))
        .join(
            leads(tables, p).select([
                col("lead_id").alias("__lid"),
                lit(true).alias("linked"),
                col("created_at").alias("__lead_created_at"),
                col("source").alias("__lead_source"),
                col(Dim::Segment.column()),
                col(Dim::Region.column()),
                col(Dim::CampaignId.column()),
                col(Dim::Channel.column()),
            ]),
            [col("lead_id")],
            [col("__lid")],
            JoinArgs::new(JoinType::Left),
        );
    let source = coalesce(&[col("source"), col("__lead_source")]);
    lf.with_columns([
        col("linked").fill_null(lit(false)),
        source.clone().alias(Dim::Source.column()),
        source_team(source, &p.config).alias(Dim::SourceTeam.column()),
        col("owner_id").alias(Dim::OwnerId.column()),
    ])
}

/// Up to this many leads, touches are narrowed by a set test in the scan; beyond,
/// by a join. A set test costs per touch more as the set grows: on 19 M touches it
/// took 0.26 s with 10 k leads (the join 0.30 s), 0.47 s with 30 k (0.38 s) and
/// 1.4 s with 100 k (0.4 s).
pub const NARROW_SET_MAX: usize = 15_000;

/// The distinct non-null `lead_id`s of a frame.
fn lead_ids(frame: LazyFrame) -> LazyFrame {
    frame
        .select([col("lead_id")])
        .filter(col("lead_id").is_not_null())
        .unique(None, UniqueKeepStrategy::First)
}

/// Counted touches (docs/metrics.md: rows of known leads whose action is in `count_actions`,
/// after `dedupe_minutes`) of the leads in `only` (a frame with `lead_id`), or of all
/// leads.
/// Narrowing first saves work on large touch tables; dedupe groups lie within one
/// lead, so narrowing does not change which touches count.
pub fn counted_touches_of(
    tables: &Tables,
    p: &Params,
    only: Option<LazyFrame>,
) -> Result<LazyFrame> {
    let touches = tables.or_empty(&TOUCHES);
    let leads = tables.or_empty(&LEADS).select([col("lead_id")]);
    let keep = |touches: LazyFrame, ids: LazyFrame| {
        counting(touches.semi_join(ids, col("lead_id"), col("lead_id")), p)
    };
    match only {
        Some(only) => {
            let ids = leads
                .semi_join(lead_ids(only), col("lead_id"), col("lead_id"))
                .collect()
                .context(|| "selecting the leads whose touches count".to_string())?;
            if ids.height() > NARROW_SET_MAX {
                if let Some(lf) = tables.by_lead_partition(ids.clone().lazy(), "touches", keep)? {
                    return Ok(lf);
                }
            }
            let column = ids
                .column("lead_id")
                .context(|| "selecting leads".to_string())?;
            Ok(counting(narrow(touches, column, NARROW_SET_MAX), p))
        }
        None => match tables.by_lead_partition(leads.clone(), "touches", keep)? {
            Some(lf) => Ok(lf),
            None => Ok(keep(touches, leads)),
        },
    }
}

/// The touches of the leads `ids` (distinct, non-null): by a set test up to `set_max`
/// leads, otherwise by a join.
fn narrow(touches: LazyFrame, ids: &Column, set_max: usize) -> LazyFrame {
    if ids.len() <= set_max {
        // A few leads, as a set the Parquet scan tests batch by batch: only their
        // touches are read into memory (a join would read them all).
        let ids = ids.as_materialized_series().clone();
        touches.filter(col("lead_id").is_in(lit(ids).implode(false), false))
    } else {
        let ids = ids.clone().into_frame().lazy();
        touches.semi_join(ids, col("lead_id"), col("lead_id"))
    }
}

/// The counting rule of §5.1 applied to touches of known leads: the action is in
/// `count_actions`, and of touches of one (lead, action, campaign) within
/// `dedupe_minutes` of the previous one only the first counts.
pub fn counting(touches: LazyFrame, p: &Params) -> LazyFrame {
    let actions = lit(Series::new("".into(), p.config.counted_actions())).implode(false);
    let mut lf = touches.filter(col("action").str().to_lowercase().is_in(actions, false));
    let minutes = p.config.touches.dedupe_minutes;
    if minutes > 0 {
        let group = [col("lead_id"), col("action"), col("campaign_id")];
        lf = lf
            .sort(
                ["occurred_at", "touch_id"],
                SortMultipleOptions::default().with_maintain_order(true),
            )
            .with_column(
                us("occurred_at")
                    .shift(lit(1))
                    .over(group)
                    .expect("partitioned")
                    .alias("__prev"),
            )
            .filter(
                col("__prev")
                    .is_null()
                    .or((us("occurred_at") - col("__prev"))
                        .gt(lit(i64::from(minutes) * 60_000_000))),
            )
            .drop(cols(["__prev"]));
    }
    lf
}

/// Counted touches of the leads in `only`, all of which opportunities link to
/// (opportunity frames): read from the derived table when there is one.
pub fn opportunity_touches(tables: &Tables, p: &Params, only: LazyFrame) -> Result<LazyFrame> {
    match &tables.opportunity_touches {
        Some(lf) => Ok(lf
            .clone()
            .semi_join(lead_ids(only), col("lead_id"), col("lead_id"))),
        None => counted_touches_of(tables, p, Some(only)),
    }
}

/// One row per lead: its dimensions, `created_at`, the first sighting of each funnel
/// stage (`seen_<stage>`) and its reach time (`reached_<stage>`) (docs/metrics.md).
pub fn lead_funnel(tables: &Tables, p: &Params) -> LazyFrame {
    if let Some(lf) = &tables.funnel {
        return lf.clone();
    }
    let lf = leads(tables, p);
    let lf = with_event_sightings(lf, mapped_events(tables, p));
    let lf = with_opportunity_sightings(lf, tables.or_empty(&OPPORTUNITIES));
    let min2 =
        |a: &str, b: &str| polars::lazy::dsl::min_horizontal([col(a), col(b)]).expect("two inputs");
    let seen: Vec<Expr> = (0..FUNNEL)
        .map(|i| {
            let name = format!("seen_{}", STAGES[i]);
            let ev = format!("__ev_{}", STAGES[i]);
            match i {
                0 => min2(&ev, "created_at").alias(name),
                4 => min2(&ev, "__opp_created").alias(name),
                5 => min2(&ev, "__won_closed").alias(name),
                _ => col(ev).alias(name),
            }
        })
        .collect();
    let reached: Vec<Expr> = (0..FUNNEL)
        .map(|i| {
            let name = format!("reached_{}", STAGES[i]);
            match p.config.funnel.skipped_stages {
                SkippedStages::Strict => col(format!("seen_{}", STAGES[i])).alias(name),
                SkippedStages::Backfill => polars::lazy::dsl::min_horizontal(
                    (i..FUNNEL)
                        .map(|j| col(format!("seen_{}", STAGES[j])))
                        .collect::<Vec<_>>(),
                )
                .expect("non-empty")
                .alias(name),
            }
        })
        .collect();
    let drop: Vec<String> = (0..FUNNEL)
        .map(|i| format!("__ev_{}", STAGES[i]))
        .chain(["__opp_created".to_string(), "__won_closed".to_string()])
        .collect();
    lf.with_columns(seen).with_columns(reached).drop(cols(drop))
}

/// `leads` with the first lifecycle event of each exact funnel stage
/// (`__ev_<stage>`). Unknown leads' events fall away in the left join.
fn with_event_sightings(leads: LazyFrame, events: LazyFrame) -> LazyFrame {
    // Conditional columns then plain minimums: polars' fast aggregation path (a
    // filter inside the aggregation runs group by group).
    let ts = DataType::Datetime(TimeUnit::Microseconds, Some(TimeZone::UTC));
    let when_stage: Vec<Expr> = (0..FUNNEL)
        .map(|i| {
            when(col("stage_idx").eq(lit(i as i32)))
                .then(col("entered_at"))
                .otherwise(null_of(ts.clone()))
                .alias(format!("__ev_{}", STAGES[i]))
        })
        .collect();
    let aggs: Vec<Expr> = (0..FUNNEL)
        .map(|i| col(format!("__ev_{}", STAGES[i])).min())
        .collect();
    leads.join(
        events
            .filter(col("stage_idx").lt(lit(FUNNEL as i32)))
            .with_columns(when_stage)
            .group_by([col("lead_id")])
            .agg(aggs),
        [col("lead_id")],
        [col("lead_id")],
        JoinArgs::new(JoinType::Left),
    )
}

/// `leads` with the first creation of a linked opportunity (`__opp_created`) and the
/// first close of a won one (`__won_closed`).
fn with_opportunity_sightings(leads: LazyFrame, opps: LazyFrame) -> LazyFrame {
    let ts = DataType::Datetime(TimeUnit::Microseconds, Some(TimeZone::UTC));
    let by_lead = opps
        .filter(col("lead_id").is_not_null())
        .with_column(
            when(col("status").eq(lit("won")))
                .then(col("closed_at"))
                .otherwise(null_of(ts))
                .alias("__won_closed"),
        )
        .group_by([col("lead_id")])
        .agg([
            col("created_at").min().alias("__opp_created"),
            col("__won_closed").min(),
        ]);
    leads.join(
        by_lead,
        [col("lead_id")],
        [col("lead_id")],
        JoinArgs::new(JoinType::Left),
    )
}

/// Keeps the rows matching every `--where` filter.
pub fn apply_filters(mut lf: LazyFrame, p: &Params) -> LazyFrame {
    for (dim, values) in &p.filters {
        // Trimmed and case-insensitive, as the definitions' lists are matched.
        let wanted: Vec<String> = values.iter().map(|v| norm(v)).collect();
        let series = Series::new("".into(), wanted);
        lf = lf.filter(
            col(dim.column())
                .str()
                .strip_chars(lit(NULL))
                .str()
                .to_lowercase()
                .is_in(lit(series).implode(false), false),
        );
    }
    lf
}

/// The `--where` values that match no lead's or opportunity's value of their
/// dimension, each with the closest values there are (for a warning).
pub fn unmatched_filters(tables: &Tables, p: &Params) -> Result<Vec<(Dim, String, Vec<String>)>> {
    let mut out = Vec::new();
    for (dim, values) in &p.filters {
        let mut parts = Vec::new();
        if tables.has("leads") {
            parts.push(lead_funnel(tables, p).select([col(dim.column()).alias("v")]));
        }
        if tables.has("opportunities") {
            parts.push(opportunities(tables, p).select([col(dim.column()).alias("v")]));
        }
        if parts.is_empty() {
            continue;
        }
        let df = collect(
            concat(parts, UnionArgs::default())
                .context(|| "--where".to_string())?
                .select([col("v").cast(DataType::String)])
                .drop_nulls(None)
                .unique(None, UniqueKeepStrategy::Any),
            "--where",
        )?;
        let seen: Vec<String> = df
            .column("v")
            .ok()
            .and_then(|c| {
                c.str()
                    .ok()
                    .map(|s| s.iter().flatten().map(String::from).collect())
            })
            .unwrap_or_default();
        for v in values {
            if seen.iter().any(|s| norm(s) == norm(v)) {
                continue;
            }
            let mut near: Vec<(usize, &String)> = seen
                .iter()
                .map(|s| (crate::text::edit_distance(&norm(s), &norm(v)), s))
                .collect();
            near.sort();
            out.push((
                *dim,
                v.clone(),
                near.into_iter().take(3).map(|(_, s)| s.clone()).collect(),
            ));
        }
    }
    Ok(out)
}

/// The grouping keys for `--by` and `--period` (period from the timestamp `t`),
/// after applying the filters. Returns the frame and the key column names.
pub fn split(lf: LazyFrame, t: Option<&str>, p: &Params) -> Result<(LazyFrame, Vec<String>)> {
    let mut lf = apply_filters(lf, p);
    let mut keys = Vec::new();
    if let (Some(period), Some(t)) = (p.period, t) {
        lf = with_period(lf, t, period, p).drop(cols(["__period_end"]));
        keys.push("period".to_string());
    }
    if let Some(by) = p.by {
        lf = lf.with_column(col(by.column()).alias(by.name()));
        keys.insert(0, by.name().to_string());
    }
    Ok((lf, keys))
}

/// Collects a frame, naming the metric in errors.
pub fn collect(lf: LazyFrame, metric: &str) -> Result<DataFrame> {
    lf.collect().context(|| format!("computing `{metric}`"))
}

/// Collects a frame on polars' streaming engine, which reads its sources in batches:
/// for scans of large tables whose result does not depend on the order of summation
/// (selections, counts, minimums). The in-memory engine computes the metrics
/// themselves, because it sums floats in the same order every time and a report is
/// the same byte for byte on the same warehouse; streaming sums may differ in the last
/// digit between runs.
pub fn collect_streaming(lf: LazyFrame, what: &str) -> Result<DataFrame> {
    lf.collect_with_engine(Engine::Streaming)
        .map(|r| r.unwrap_single())
        .context(|| format!("computing `{what}`"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Wilson bounds stay in [0, 1] around their rate: 0 and 1 exactly at the ends
    /// (floating point gave 1.0000000000000002, and 0.9999999999999998 below a rate of
    /// 1), the textbook values elsewhere, null without a denominator.
    #[test]
    fn wilson_bounds_are_clamped_around_the_rate() {
        let df = df!(
            "k" => [0i64, 15, 1, 3, 0],
            "n" => [10i64, 15, 1, 10, 0],
        )
        .unwrap();
        let [low, high] = wilson(col("k"), col("n"), "r");
        let out = df.lazy().select([low, high]).collect().unwrap();
        let get = |c: &str| -> Vec<Option<f64>> {
            out.column(c).unwrap().f64().unwrap().iter().collect()
        };
        let (low, high) = (get("r_low"), get("r_high"));
        assert_eq!(low[0], Some(0.0));
        assert_eq!(high[1], Some(1.0));
        assert_eq!(high[2], Some(1.0));
        assert!((low[1].unwrap() - 0.7961166989641515).abs() < 1e-12);
        // 3 of 10: 0.1078 to 0.6032 (Wilson, z = 1.96).
        assert!(
            (low[3].unwrap() - 0.10779126740630197).abs() < 1e-9,
            "{low:?}"
        );
        assert!(
            (high[3].unwrap() - 0.6032218525388546).abs() < 1e-9,
            "{high:?}"
        );
        assert_eq!((low[4], high[4]), (None, None));
        let (l, h) = wilson_bounds(3, 10).unwrap();
        assert!((l - low[3].unwrap()).abs() < 1e-15 && (h - high[3].unwrap()).abs() < 1e-15);
        assert_eq!(wilson_bounds(0, 0), None);
        for (l, h) in low.iter().zip(&high).take(4) {
            let (l, h) = (l.unwrap(), h.unwrap());
            assert!((0.0..=1.0).contains(&l) && (0.0..=1.0).contains(&h) && l <= h);
        }
    }

    #[test]
    fn a_set_test_and_a_join_narrow_touches_alike() {
        let touches = df!(
            "touch_id" => ["t1", "t2", "t3", "t4", "t5"],
            "lead_id" => [Some("a"), Some("b"), None, Some("a"), Some("c")],
        )
        .unwrap()
        .lazy();
        let ids = Column::new("lead_id".into(), ["a", "c", "z"]);
        let touch_ids = |set_max| {
            let df = narrow(touches.clone(), &ids, set_max)
                .sort(["touch_id"], SortMultipleOptions::default())
                .collect()
                .unwrap();
            let ids = df.column("touch_id").unwrap().str().unwrap().clone();
            ids.iter().flatten().map(str::to_string).collect::<Vec<_>>()
        };
        assert_eq!(touch_ids(usize::MAX), ["t1", "t4", "t5"]);
        assert_eq!(touch_ids(0), ["t1", "t4", "t5"]);
    }
}
