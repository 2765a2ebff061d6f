//! Aggregation helpers shared by the metric families: grouped or whole-frame
//! aggregation, distribution statistics, histogram bins.

use polars::prelude::*;

use super::model::{collect, quantile};
use crate::error::Result;

/// Aggregates `aggs` over `keys` (a single row over the whole frame when no keys, so
/// an empty cohort still gives its row of zeros and nulls).
pub fn aggregate(lf: LazyFrame, keys: &[String], aggs: Vec<Expr>) -> LazyFrame {
    if keys.is_empty() {
        lf.select(aggs)
    } else {
        let keys: Vec<Expr> = keys.iter().map(|k| col(k.as_str())).collect();
        lf.group_by(keys).agg(aggs)
    }
}

/// Distribution statistics of `value` (days, hours or counts) with a name suffix.
pub fn distribution(value: &str, suffix: &str, which: &[&str]) -> Vec<Expr> {
    let v = || col(value);
    which
        .iter()
        .map(|w| {
            let name = format!("{w}_{suffix}");
            match *w {
                "mean" => v().mean().alias(name),
                "median" => quantile(v(), 0.5).alias(name),
                "p25" => quantile(v(), 0.25).alias(name),
                "p75" => quantile(v(), 0.75).alias(name),
                "p90" => quantile(v(), 0.9).alias(name),
                "min" => v().min().cast(DataType::Float64).alias(name),
                "max" => v().max().cast(DataType::Float64).alias(name),
                other => unreachable!("unknown statistic {other}"),
            }
        })
        .collect()
}

/// The sum of `e`, the same whatever the order of the rows: rows that come from
/// joins or partitions side by side arrive in another order from run to run, and a
/// float sum in another order differs in the last digits (attribution's did). Each value is split at `1 / scale` into an integer
/// part and a remainder counted in billionths of that unit, and both are summed as
/// integers, which is exact in any order; the result is within 1e-9 / scale of each
/// value (with `scale` 1e4, a ten-thousandth of a cent of a cent).
pub fn order_free_sum(e: Expr, scale: f64) -> Expr {
    let scaled = e.fill_null(lit(0.0)) * lit(scale);
    let whole = scaled.clone().floor();
    let rest = ((scaled - whole.clone()) * lit(1e9))
        .round(0, RoundMode::HalfToEven)
        .cast(DataType::Int64);
    let whole = whole.cast(DataType::Int64);
    (whole.sum().cast(DataType::Float64) + rest.sum().cast(DataType::Float64) / lit(1e9))
        / lit(scale)
}

/// A "nice" bin width (1, 2 or 5 × 10^k) giving about 20 bins over `range`.
pub fn nice_width(range: f64) -> f64 {
    if !(range.is_finite()) || range <= 0.0 {
        return 1.0;
    }
    let raw = range / 20.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|w| *w >= raw)
        .unwrap_or(10.0 * magnitude)
}

/// Histogram bins of `value` per (`keys` + `groups`): one row per non-empty bin with
/// `bin_start`, `bin_end` and `count`. The width is chosen per group: about 20 bins
/// across its 5th to 95th percentile.
pub fn histogram(
    lf: LazyFrame,
    keys: &[String],
    groups: &[&str],
    value: &str,
    metric: &str,
) -> Result<DataFrame> {
    let group_keys: Vec<String> = groups.iter().map(|g| g.to_string()).collect();
    // Two passes (ranges, then bins) over the values: compute them once.
    let needed: Vec<Expr> = keys
        .iter()
        .map(String::as_str)
        .chain(groups.iter().copied())
        .chain(std::iter::once(value))
        .map(col)
        .collect();
    let lf = collect(lf.filter(col(value).is_not_null()).select(needed), metric)?.lazy();
    let ranges = collect(
        aggregate(
            lf.clone(),
            &group_keys,
            vec![
                col(value).min().alias("__min"),
                col(value).max().alias("__max"),
                quantile(col(value).cast(DataType::Float64), 0.05).alias("__q05"),
                quantile(col(value).cast(DataType::Float64), 0.95).alias("__q95"),
            ],
        ),
        metric,
    )?;
    let Some(table) = bins(ranges) else {
        return Ok(DataFrame::empty());
    };
    let joined = if group_keys.is_empty() {
        lf.cross_join(table.lazy(), None)
    } else {
        let on: Vec<Expr> = group_keys.iter().map(|g| col(g.as_str())).collect();
        lf.join(table.lazy(), on.clone(), on, JoinArgs::new(JoinType::Left))
    };
    let bin = ((col(value).cast(DataType::Float64) - col("__o")) / col("__w")).floor();
    let mut all_keys: Vec<String> = keys.to_vec();
    all_keys.extend(group_keys.iter().cloned());
    all_keys.push("bin_start".into());
    all_keys.push("bin_end".into());
    let binned = joined.with_columns([
        (col("__o") + bin.clone() * col("__w")).alias("bin_start"),
        (col("__o") + (bin + lit(1.0)) * col("__w")).alias("bin_end"),
    ]);
    let out = aggregate(
        binned,
        &all_keys,
        vec![len().cast(DataType::Int64).alias("count")],
    );
    let sort_keys: Vec<PlSmallStr> = all_keys.iter().map(|k| k.as_str().into()).collect();
    collect(
        out.sort(
            sort_keys,
            SortMultipleOptions::default().with_maintain_order(true),
        ),
        metric,
    )
}

/// The column `name` of `df` as floats (None when it is missing or not numeric).
fn floats_of(df: &DataFrame, name: &str) -> Option<Float64Chunked> {
    let c = df.column(name).ok()?.cast(&DataType::Float64).ok()?;
    Some(c.f64().ok()?.clone())
}

/// Each group's bins from its value range (`__min`, `__max`, `__q05`, `__q95`): the
/// group's columns with the bin width `__w` and the first bin's start `__o`. None
/// when the ranges are not numbers.
fn bins(ranges: DataFrame) -> Option<DataFrame> {
    let mins = floats_of(&ranges, "__min")?;
    let maxs = floats_of(&ranges, "__max")?;
    let q05 = floats_of(&ranges, "__q05")?;
    let q95 = floats_of(&ranges, "__q95")?;
    let mut widths = Vec::new();
    let mut origins = Vec::new();
    for i in 0..ranges.height() {
        let (lo, hi) = (mins.get(i).unwrap_or(0.0), maxs.get(i).unwrap_or(0.0));
        // The width follows the bulk (5th to 95th percentile), so one outlier does
        // not squeeze everything into a bin; the tail keeps its own bins.
        let bulk = q95.get(i).unwrap_or(hi) - q05.get(i).unwrap_or(lo);
        let w = nice_width(if bulk > 0.0 { bulk } else { hi - lo });
        widths.push(w);
        origins.push((lo / w).floor() * w);
    }
    let mut table = ranges.drop_many(["__min", "__max", "__q05", "__q95"]);
    table
        .with_column(Column::new("__w".into(), widths))
        .expect("same height");
    table
        .with_column(Column::new("__o".into(), origins))
        .expect("same height");
    Some(table)
}

#[cfg(test)]
mod tests {
    #[test]
    fn nice_widths() {
        assert_eq!(super::nice_width(100.0), 5.0);
        assert_eq!(super::nice_width(19.0), 1.0);
        assert_eq!(super::nice_width(30.0), 2.0);
        assert_eq!(super::nice_width(0.0), 1.0);
    }
}
