//! `funnel sql`: ad-hoc SQL over the warehouse tables and the `lead_funnel` view.

use polars::prelude::*;
use polars::sql::SQLContext;

use super::{Context, SqlArgs};
use crate::error::{Error, Result};
use crate::metrics::model::{lead_funnel, Tables, FUNNEL, STAGES};
use crate::metrics::params::{Dim, Params};
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

pub fn run(args: &SqlArgs, ctx: &Context) -> Result<()> {
    refuse_file_readers(&args.query)?;
    let (config, _) = ctx.config()?;
    let opened = crate::sample::open_or_sample(ctx.warehouse(), &config, &ctx.progress)?;
    let scans = opened.warehouse.scan_all()?;
    let mut sql = SQLContext::new();
    for (name, lf) in &scans {
        sql.register(name, lf.clone());
    }
    if scans.contains_key("leads") {
        let tables = Tables::from_map(scans);
        let p = Params::resolve(config, 0, None, None, None, vec![], None, None, false)?;
        sql.register("lead_funnel", lead_funnel_view(&tables, &p));
    }
    let df = sql
        .execute(&args.query)
        .and_then(|lf| lf.collect())
        .map_err(|e| Error::Usage(format!("SQL error: {e}")))?;
    output::write_frame(&df, args.format, &mut std::io::stdout().lock())
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
