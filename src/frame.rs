//! Reading values out of computed metric frames by column name (figures, tables,
//! definition checks).

use polars::prelude::*;

/// A column as floats (missing, null or non-numeric = None).
pub fn floats(df: &DataFrame, name: &str) -> Vec<Option<f64>> {
    match df
        .column(name)
        .ok()
        .and_then(|c| c.cast(&DataType::Float64).ok())
    {
        Some(c) => c.f64().map(|ca| ca.iter().collect()).unwrap_or_default(),
        None => vec![None; df.height()],
    }
}

/// A column as text (dates as YYYY-MM-DD); null = empty string.
pub fn strings(df: &DataFrame, name: &str) -> Vec<String> {
    let Ok(c) = df.column(name) else {
        return vec![String::new(); df.height()];
    };
    let s = c.as_materialized_series();
    (0..df.height())
        .map(|i| match s.get(i) {
            Ok(AnyValue::Null) | Err(_) => String::new(),
            Ok(AnyValue::String(v)) => v.to_string(),
            Ok(AnyValue::StringOwned(v)) => v.to_string(),
            Ok(AnyValue::Date(d)) => crate::time::format_date(d),
            Ok(AnyValue::Boolean(b)) => b.to_string(),
            Ok(other) => other.to_string(),
        })
        .collect()
}

/// Rows where `column == value`.
pub fn filter_eq(df: &DataFrame, column: &str, value: &str) -> DataFrame {
    df.clone()
        .lazy()
        .filter(col(column).cast(DataType::String).eq(lit(value)))
        .collect()
        .unwrap_or_else(|_| df.clear())
}

/// The first value of a numeric column.
pub fn first(df: &DataFrame, name: &str) -> Option<f64> {
    floats(df, name).first().copied().flatten()
}
