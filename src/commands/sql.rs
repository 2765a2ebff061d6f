//! `funnel sql`: ad-hoc SQL over the warehouse tables and the `lead_funnel` view.

use polars::prelude::*;
use polars::sql::SQLContext;

use super::{Context, SqlArgs};
use crate::error::{Error, Result};
use crate::metrics::model::{
    as_utc, counted_touches_of, lead_funnel, opportunities, Tables, FUNNEL, STAGES,
};
use crate::metrics::params::{Dim, Params};
use crate::metrics::touches::{episode_outcomes, EpisodeDims};
use crate::model::columns::{OPPORTUNITIES, TOUCHES};
use crate::output;

/// The table functions of polars' SQL that read any file on the machine.
const FILE_READERS: [&str; 5] = [
    "read_csv",
    "read_parquet",
    "read_ipc",
    "read_json",
    "read_ndjson",
];

/// `funnel sql` sees the warehouse's tables and views only: a query that would read
/// a file of the machine (the system's password file, say) is refused.
fn refuse_file_readers(query: &str) -> Result<()> {
    let relations = polars::sql::extract_table_identifiers(query, false, true)
        .map_err(|e| Error::Usage(format!("SQL error: {e}")))?;
    match relations
        .iter()
        .find(|r| FILE_READERS.contains(&r.to_lowercase().as_str()))
    {
        Some(f) => Err(Error::Usage(format!(
            "`{f}(…)`: funnel sql reads the warehouse's tables and views only, not files; ingest the file, or open it with another tool"
        ))),
        None => Ok(()),
    }
}

/// The views `funnel sql` adds to the tables: the frames the metrics count, one row
/// per entity, under the definitions in force and at the as-of.
pub const VIEWS: [(&str, &str); 5] = [
    (
        "lead_funnel",
        "one row per lead: its columns, source_team, channel, and per funnel stage seen_<stage> and reached_<stage>",
    ),
    (
        "mql_episodes",
        "one row per MQL episode (first MQL and every re-MQL): start, outcome, decision time, response hours, due and breached at the as-of",
    ),
    (
        "counted_touches",
        "the touches that count (known lead, action in count_actions, after dedupe_minutes)",
    ),
    (
        "opportunity_stays",
        "one row per opportunity stage stay: stage, start, end, days, whether it is the open opportunity's current stay, and whether the move out of it went to a lower stage",
    ),
    (
        "opportunity_model",
        "one row per opportunity: amount_base in the base currency, linked, and source, source_team from the opportunity or its lead",
    ),
];

pub fn run(args: &SqlArgs, ctx: &Context) -> Result<()> {
    let (config, _) = ctx.config()?;
    let loaded = super::query::load(ctx, &config, args.as_known_at.as_deref())?;
    let tz = config.calendar.tz();
    let as_of = match (&args.as_of, loaded.latest) {
        (Some(text), _) => super::query::as_of_instant(text, tz)?,
        (None, Some(latest)) => latest,
        // No events: nothing to hide, and no episode is due.
        (None, None) => chrono::Utc::now().timestamp_micros(),
    };
    let p = Params::resolve(config, as_of, None, None, None, vec![], None, None, false)?;
    let tables = super::query::at_as_of(loaded.tables, &p, loaded.latest, loaded.later);
    let mut sql = SQLContext::new();
    let mut listed: Vec<(String, &str, LazyFrame)> = Vec::new();
    for (name, lf) in tables.scans() {
        sql.register(name, lf.clone());
        listed.push((name.to_string(), "table", lf.clone()));
    }
    let wanted: Vec<String> = match &args.query {
        Some(q) => {
            refuse_file_readers(q)?;
            polars::sql::extract_table_identifiers(q, false, true)
                .map_err(|e| Error::Usage(format!("SQL error: {e}")))?
                .into_iter()
                .map(|r| r.to_lowercase())
                .collect()
        }
        None => VIEWS.iter().map(|(v, _)| v.to_string()).collect(),
    };
    for (view, _) in VIEWS {
        if !wanted.iter().any(|w| w == view) {
            continue;
        }
        if let Some(lf) = view_frame(view, &tables, &p)? {
            sql.register(view, lf.clone());
            listed.push((view.to_string(), "view", lf));
        }
    }
    let Some(query) = &args.query else {
        return list(listed, args.format);
    };
    let mut names: Vec<String> = listed
        .iter()
        .filter(|(_, kind, _)| *kind == "table")
        .map(|(n, _, _)| n.clone())
        .collect();
    names.extend(VIEWS.iter().map(|(v, _)| v.to_string()));
    let lf = sql
        .execute(query)
        .map_err(|e| sql_error(&e.to_string(), &names, args.verbose))?;
    // Streamed in batches and cut one row past the limit: a cross join of two large
    // tables is counted or refused, never materialised whole (it aborted the
    // process out of memory).
    let cap = args.max_rows.min(u64::from(IdxSize::MAX) - 1);
    let lf = lf.limit(cap as IdxSize + 1);
    let mut df = collect_streaming_or_in_memory(lf)
        .map_err(|e| sql_error(&e.to_string(), &names, args.verbose))?;
    name_counts(&mut df, query);
    if df.height() as u64 > cap {
        return Err(Error::Usage(format!(
            "SQL: the result has more than {} rows; add LIMIT, filter or aggregate (a CROSS JOIN makes every pair of rows), or raise --max-rows",
            crate::text::thousands(cap)
        )));
    }
    output::write_frame(&df, args.format, &mut std::io::stdout().lock())
}

/// Runs on the streaming engine (batches, so the row limit bounds the memory); a
/// plan that engine cannot run (polars 0.55 panics on some cross joins with a
/// filter) runs again on the in-memory engine instead of aborting the process.
fn collect_streaming_or_in_memory(lf: LazyFrame) -> PolarsResult<DataFrame> {
    let streaming = lf.clone();
    let quiet = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let attempt = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        streaming
            .collect_with_engine(Engine::Streaming)
            .map(|r| r.unwrap_single())
    }));
    std::panic::set_hook(quiet);
    match attempt {
        Ok(result) => result,
        Err(_) => lf.collect(),
    }
}

/// `count(*)` comes out of polars as a column named `len`; it is named `count`, as
/// in other SQL engines, unless the query itself names a column `len`.
fn name_counts(df: &mut DataFrame, query: &str) {
    let lower = query.to_lowercase();
    let counts = lower.contains("count(*)") || lower.contains("count( * )");
    let names_len = regex::Regex::new(r"\blen\b")
        .map(|re| re.is_match(&lower))
        .unwrap_or(true);
    if counts && !names_len && !df.get_column_names().iter().any(|c| c.as_str() == "count") {
        let _ = df.rename("len", "count".into());
    }
}

/// A query's error on one line, with the fix when the mistake is a common one.
fn sql_error(message: &str, relations: &[String], verbose: bool) -> Error {
    let first = message.lines().next().unwrap_or(message).trim();
    let hint = sql_hint(first, relations);
    if verbose {
        return Error::Usage(format!("SQL error: {}{hint}", message.trim_end()));
    }
    Error::Usage(format!(
        "SQL error: {first}{hint}{}",
        if message.trim().contains('\n') {
            " (-v shows the engine's whole message)"
        } else {
            ""
        }
    ))
}

/// The fix for the mistakes a newcomer to this dialect makes first
/// (docs/sql.md, "The dialect, and what trips people up").
fn sql_hint(first: &str, relations: &[String]) -> String {
    const TIME: &str = "; compare timestamps with a plain string in UTC, a date or a date and time without T or Z: created_at >= '2026-07-01' or created_at <= '2026-10-01 23:47:22'";
    if first.contains("relation") && first.contains("not found") {
        format!(
            "; the tables and views are {} (`funnel sql --tables` lists their columns)",
            relations.join(", ")
        )
    } else if first.contains("TIMESTAMP literal")
        || first.contains("cannot compare")
        || (first.contains("conversion from `str` to `datetime"))
        || first.contains("with timezone is not (yet) supported")
    {
        TIME.into()
    } else if first.contains("unsupported function 'datediff'")
        || first.contains("unsupported function 'date_diff'")
        || first.contains("unsupported function 'epoch'")
        || first.contains("operation not supported for dtype `duration")
    {
        "; for a duration in days write (date_part('epoch', closed_at) - date_part('epoch', created_at)) / 86400.0".into()
    } else if first.contains("subquery") {
        "; put the inner query in a WITH clause and JOIN (or CROSS JOIN) it: WITH m AS (SELECT max(created_at) AS latest FROM leads) SELECT … FROM leads CROSS JOIN m WHERE …".into()
    } else {
        String::new()
    }
}

/// `funnel sql --tables`: every table and view with its columns and their types.
fn list(mut listed: Vec<(String, &str, LazyFrame)>, format: output::Format) -> Result<()> {
    let (mut names, mut kinds, mut columns, mut types) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (name, kind, lf) in &mut listed {
        let schema = lf
            .collect_schema()
            .map_err(|e| Error::Usage(format!("SQL error: {e}")))?;
        for (column, dtype) in schema.iter() {
            names.push(name.clone());
            kinds.push(kind.to_string());
            columns.push(column.to_string());
            types.push(type_name(dtype));
        }
    }
    let n = names.len();
    let df = DataFrame::new(
        n,
        vec![
            Column::new("relation".into(), names),
            Column::new("kind".into(), kinds),
            Column::new("column".into(), columns),
            Column::new("type".into(), types),
        ],
    )
    .map_err(|e| Error::Usage(format!("SQL error: {e}")))?;
    output::write_frame(&df, format, &mut std::io::stdout().lock())
}

/// A column type as SQL users know it.
fn type_name(dtype: &DataType) -> String {
    match dtype {
        DataType::String => "text".into(),
        DataType::Datetime(_, _) => "timestamp (UTC)".into(),
        DataType::Date => "date".into(),
        DataType::Float64 | DataType::Float32 => "double".into(),
        DataType::Boolean => "boolean".into(),
        d if d.is_integer() => "integer".into(),
        d => d.to_string(),
    }
}

/// The view called `name`, when the warehouse has the tables it reads.
fn view_frame(name: &str, tables: &Tables, p: &Params) -> Result<Option<LazyFrame>> {
    let has = |t: &str| tables.has(t);
    Ok(match name {
        "lead_funnel" if has("leads") => Some(lead_funnel_view(tables, p)),
        "mql_episodes" if has("leads") && has("lead_stage_events") => {
            Some(mql_episodes_view(tables, p))
        }
        "counted_touches" if has("leads") && has("touches") => {
            let names: Vec<Expr> = TOUCHES.columns.iter().map(|c| col(c.name)).collect();
            Some(counted_touches_of(tables, p, None)?.select(names))
        }
        "opportunity_stays" if has("opportunities") && has("opportunity_stage_events") => {
            let (stays, _) = crate::metrics::cycle::stays(tables, p)?;
            let mut cols = vec![
                col("opportunity_id"),
                col("__skey").alias("stage"),
                col("stage_idx"),
                as_utc(col("__start")).alias("started_at"),
                as_utc(col("__end")).alias("ended_at"),
                col("__days").alias("days"),
                col("__open").alias("open"),
                col("__next_idx")
                    .lt(col("stage_idx"))
                    .fill_null(lit(false))
                    .alias("left_for_a_lower_stage"),
                col("status"),
            ];
            cols.extend(Dim::ALL.iter().map(|d| col(d.column()).alias(d.name())));
            Some(stays.select(cols).sort(
                ["opportunity_id", "started_at"],
                SortMultipleOptions::default(),
            ))
        }
        "opportunity_model" if has("opportunities") => {
            let mut cols: Vec<Expr> = OPPORTUNITIES
                .columns
                .iter()
                .filter(|c| c.name != "source")
                .map(|c| col(c.name))
                .collect();
            cols.extend([
                col("amount_base"),
                col("linked"),
                col(Dim::Source.column()).alias("source"),
                col(Dim::SourceTeam.column()).alias("source_team"),
            ]);
            Some(opportunities(tables, p).select(cols))
        }
        _ => None,
    })
}

/// One row per MQL episode with its outcome at the as-of (docs/metrics.md, `sla`).
fn mql_episodes_view(tables: &Tables, p: &Params) -> LazyFrame {
    let mut cols: Vec<Expr> = crate::metrics::touches::episode_columns()
        .into_iter()
        .map(|(name, e)| e.alias(name))
        .collect();
    cols.extend(Dim::ALL.iter().map(|d| col(d.column()).alias(d.name())));
    episode_outcomes(tables, p, false, EpisodeDims::All)
        .select(cols)
        .sort(["started_at", "lead_id"], SortMultipleOptions::default())
}

/// One row per lead: its columns, `source_team` and campaign `channel` under the
/// definitions, and per funnel stage `seen_<stage>` (first exact sighting) and
/// `reached_<stage>` (reach time, docs/metrics.md).
fn lead_funnel_view(tables: &Tables, p: &Params) -> LazyFrame {
    let mut cols: Vec<Expr> = [
        "lead_id",
        "created_at",
        "source",
        "campaign_id",
        "owner_id",
        "segment",
        "region",
        "account_id",
    ]
    .map(col)
    .to_vec();
    cols.push(col(Dim::SourceTeam.column()).alias("source_team"));
    cols.push(col(Dim::Channel.column()).alias("channel"));
    for stage in &STAGES[..FUNNEL] {
        cols.push(col(format!("seen_{stage}")));
    }
    for stage in &STAGES[..FUNNEL] {
        cols.push(col(format!("reached_{stage}")));
    }
    lead_funnel(tables, p).select(cols)
}
