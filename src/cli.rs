//! The command line (clap derive). The only module that knows clap: it turns the
//! parsed arguments into a plain [`Invocation`].

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::commands::query::QueryFlags;
use crate::commands::{
    ChartArgs, Command, DefinitionsAction, DiffFormat, GenerateArgs, GlobalOptions, IngestArgs,
    InitArgs, Invocation, MetricsArgs, ReportArgs, RunArgs, SqlArgs, WarehouseAction,
};
use crate::config::AttributionModel;
use crate::metrics::params::{Dim, Period};
use crate::output::Format;
use crate::progress::ProgressMode;

const ABOUT: &str =
    "One set of funnel numbers, with one set of definitions, for sales and marketing.";

const LONG_ABOUT: &str = "\
One set of funnel numbers, with one set of definitions, for sales and marketing.

funnel ingests CRM and campaign exports into a versioned Parquet warehouse and \
computes the numbers both teams are accountable for, with the definitions from \
one reviewed file, funnel.toml.

Getting started:
  funnel report                       the shared report on the bundled sample
  funnel init                         write funnel.toml with documented defaults
  funnel generate --out exports       make a realistic synthetic export to try things on
  funnel ingest exports               load an export into ./data/warehouse
  funnel metrics waterfall            one metric, with its definition
  funnel run exports                  the nightly job: ingest, then report

Exit codes: 0 ok, 1 runtime failure, 2 usage or definitions error, 3 invalid input data.";

#[derive(Debug, Parser)]
#[command(name = "funnel", version, about = ABOUT, long_about = LONG_ABOUT)]
pub struct Cli {
    #[command(flatten)]
    global: GlobalArgs,

    #[command(subcommand)]
    command: Commands,
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Global options")]
struct GlobalArgs {
    /// Definitions file [default: ./funnel.toml if present, else built-in defaults]
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,

    /// Warehouse folder (versioned Parquet tables)
    #[arg(
        long,
        global = true,
        value_name = "DIR",
        default_value = "data/warehouse"
    )]
    warehouse: PathBuf,

    /// Print nothing on stderr but errors
    #[arg(short, long, global = true)]
    quiet: bool,

    /// Progress bars on stderr: `auto` shows them only on a terminal
    #[arg(long, global = true, value_enum, default_value_t = ProgressArg::Auto, value_name = "WHEN")]
    progress: ProgressArg,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ProgressArg {
    Auto,
    On,
    Off,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum FormatArg {
    /// Aligned columns for people
    Table,
    /// Comma-separated values with a header
    Csv,
    /// One JSON document
    Json,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
#[value(rename_all = "snake_case")]
enum DimArg {
    Source,
    SourceTeam,
    Segment,
    Region,
    OwnerId,
    CampaignId,
    Channel,
}

impl DimArg {
    fn dim(self) -> Dim {
        match self {
            DimArg::Source => Dim::Source,
            DimArg::SourceTeam => Dim::SourceTeam,
            DimArg::Segment => Dim::Segment,
            DimArg::Region => Dim::Region,
            DimArg::OwnerId => Dim::OwnerId,
            DimArg::CampaignId => Dim::CampaignId,
            DimArg::Channel => Dim::Channel,
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
#[value(rename_all = "snake_case")]
enum PeriodArg {
    Week,
    Month,
    Quarter,
    FiscalQuarter,
    Year,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
#[value(rename_all = "snake_case")]
enum ModelArg {
    FirstTouch,
    LastTouch,
    Linear,
    UShaped,
    WShaped,
    TimeDecay,
}

/// `DIM=VALUE` for `--where`.
fn parse_row(text: &str) -> Result<(String, String), String> {
    let (column, value) = text
        .split_once('=')
        .ok_or_else(|| format!("`{text}`: expected COL=VALUE, e.g. basis=won"))?;
    Ok((column.trim().to_string(), value.trim().to_string()))
}

fn parse_filter(text: &str) -> Result<(Dim, String), String> {
    let (dim, value) = text
        .split_once('=')
        .ok_or_else(|| format!("`{text}`: expected DIM=VALUE, e.g. source=webinar"))?;
    let dim = Dim::parse(dim.trim()).ok_or_else(|| {
        format!(
            "`{dim}` is not a dimension (one of: {}); to keep rows of a metric's output by a column, use `--rows {}`",
            Dim::ALL.map(|d| d.name()).join(", "),
            text.trim()
        )
    })?;
    Ok((dim, value.trim().to_string()))
}

const METRICS_LONG: &str = "\
Compute one metric on the warehouse, with the definitions of funnel.toml \
applied now: changing the definitions never needs a re-ingest. `funnel metrics --list` \
names them all with their one-line definitions; docs/metrics.md has the exact rules.

Dates: --from/--to select whole days in calendar.timezone (default: the 365 days \
ending on the as-of date). --as-of is the instant rules like \"open at as-of\" use: \
a date (its last microsecond), `now`, or an ISO timestamp; default: the latest event \
in the warehouse, so a report on an old export is reproducible.

Rates come with Wilson 95 % bounds (<rate>_low, <rate>_high) in CSV and JSON; the \
table marks rates over fewer than 30 with *.

Examples:
  funnel metrics waterfall
  funnel metrics conversion --from 2025-01-01 --to 2025-06-30 --by source
  funnel metrics win-rate --period quarter --where segment=Enterprise --format json
  funnel metrics attribution --model w_shaped --by campaign_id";

/// The mappings shipped with the tool.
#[derive(Debug, Clone, Copy, ValueEnum)]
#[value(rename_all = "snake_case")]
enum PresetArg {
    /// CSV files named after the tables, with the canonical column names
    Native,
    /// A Salesforce Data Export or Data Loader dump (Lead.csv, Opportunity.csv, …)
    Salesforce,
    /// HubSpot CRM exports of contacts, deals and activities
    Hubspot,
}

impl PresetArg {
    fn name(self) -> String {
        match self {
            PresetArg::Native => "native",
            PresetArg::Salesforce => "salesforce",
            PresetArg::Hubspot => "hubspot",
        }
        .to_string()
    }
}

#[derive(Debug, Subcommand)]
enum Commands {
    /// Write a documented funnel.toml with the default definitions
    #[command(long_about = "\
Write funnel.toml into DIR (default: the current folder) with every key of the \
definitions documented and set to its default. Review it with both teams: replace \
the TODO(review) prose in [definitions], map your CRM's stage values in [stages], \
and commit it.")]
    Init {
        /// Folder to write funnel.toml into
        #[arg(value_name = "DIR", default_value = ".")]
        dir: PathBuf,

        /// Overwrite an existing funnel.toml
        #[arg(long)]
        force: bool,

        /// Start from a CRM's preset: its mapping and its standard picklists
        #[arg(long, value_enum, value_name = "PRESET")]
        preset: Option<PresetArg>,
    },

    /// Write a realistic synthetic export in the native CSV format
    #[command(long_about = "\
Write a realistic synthetic CRM and campaign export into DIR, one CSV file per table \
in the native format: owners with quarterly quotas, campaigns with costs, leads from \
sources of different quality, lifecycle events with rejected and recycled MQLs, \
marketing and sales touches, opportunities with stage histories. The same seed \
always gives byte-identical files.")]
    Generate {
        /// Output folder (created if missing)
        #[arg(long, value_name = "DIR")]
        out: PathBuf,

        /// Number of leads
        #[arg(long, default_value_t = 2000, value_name = "N")]
        leads: u64,

        /// Random seed
        #[arg(long, default_value_t = 42, value_name = "S")]
        seed: u64,

        /// Months of history, ending on the last day of October 2026
        #[arg(long, default_value_t = 18, value_name = "M", value_parser = clap::value_parser!(u32).range(1..=120))]
        months: u32,
    },

    /// Load exports into the warehouse (merging by key)
    #[command(long_about = "\
Load exports into the warehouse. Each INPUT is a folder of CSV files named after the \
tables (leads.csv, lead_stage_events.csv, touches.csv, campaigns.csv, \
opportunities.csv, opportunity_stage_events.csv, quotas.csv, owners.csv) or one such \
file. Rows are merged into the warehouse by each table's key: the latest updated_at \
wins, else the later row. Rows that cannot be loaded are kept in \
<warehouse>/quarantine/<table>.csv with their line number and the reason. A run \
either lands completely or leaves the warehouse exactly as it was.

Exports in other shapes are read through a mapping: --preset salesforce (a Data \
Export of Lead.csv, Contact.csv, Opportunity.csv, …), --preset hubspot (contacts, \
deals and activities exports), or a [mapping] section in funnel.toml for any CSV \
(separators, encodings, date formats, value maps). See docs/mapping.md.")]
    Ingest {
        /// Export folders or table CSV files
        #[arg(required = true, value_name = "INPUT")]
        inputs: Vec<PathBuf>,

        /// Replace the tables present in the input instead of merging into them
        #[arg(long)]
        replace: bool,

        /// With --replace, let an input without rows empty a table that has rows
        #[arg(long, requires = "replace")]
        allow_empty: bool,

        /// Seconds to wait while another process writes the warehouse
        #[arg(long, default_value_t = 0.0, value_name = "SECONDS")]
        lock_timeout: f64,

        /// Read the inputs through a shipped mapping (default: funnel.toml's
        /// [mapping], else the native format)
        #[arg(long, value_enum, value_name = "PRESET")]
        preset: Option<PresetArg>,
    },

    /// Run SQL over the warehouse tables and the metrics' views
    #[command(long_about = "\
Run a SQL query over the warehouse tables (leads, lead_stage_events, touches, \
campaigns, opportunities, opportunity_stage_events, quotas, owners) and the views the \
metrics count (lead_funnel, mql_episodes, counted_touches, opportunity_stays, \
opportunity_model). \
`--tables` lists them all with their columns. Timestamps are UTC. With --as-of, every \
table and view shows the warehouse as it was exported then. With no warehouse, the \
query runs on the bundled sample.

Examples:
  funnel sql \"SELECT source, count(*) AS leads FROM leads GROUP BY source ORDER BY leads DESC\"
  funnel sql \"SELECT lead_id, started_at, outcome, response_hours FROM mql_episodes WHERE breached\"
  funnel sql --tables")]
    Sql {
        /// The query
        #[arg(value_name = "QUERY", required_unless_present = "tables")]
        query: Option<String>,

        /// List the tables and views with their columns and types
        #[arg(long, conflicts_with = "query")]
        tables: bool,

        /// Show the warehouse as exported at this instant: YYYY-MM-DD, `now`, or an ISO
        /// timestamp [default: latest event]
        #[arg(long, value_name = "WHEN")]
        as_of: Option<String>,

        /// Read the version of the warehouse current then: v000012 or a date
        #[arg(long, value_name = "VERSION|DATE")]
        as_known_at: Option<String>,

        /// The most rows a result may have (a larger one is refused, not printed):
        /// add LIMIT or aggregate instead
        #[arg(long, value_name = "N", default_value_t = 10_000_000)]
        max_rows: u64,

        /// On an error, print the engine's whole message with its query plan, not
        /// only its first line
        #[arg(short, long)]
        verbose: bool,

        /// Output format
        #[arg(long, value_enum, default_value_t = FormatArg::Table)]
        format: FormatArg,
    },

    /// Compute a metric: waterfall, conversion, sla, attribution, …
    #[command(long_about = METRICS_LONG)]
    Metrics(MetricsCmd),

    /// Write the shared report: every metric, chart and table, one HTML page
    #[command(long_about = "\
Write the shared report into <OUT>/<as-of date>/ and point <OUT>/latest at it: \
index.html (one self-contained page: headline numbers and their change since the \
previous report, a section per metric with its chart, table and definition, data \
quality, the glossary, the manifest), charts/*.svg and *.png (1600×900, for slides), \
tables/*.csv and *.parquet, summary.json, definitions.md and lint.csv. With no \
warehouse it reports on the bundled sample.")]
    Report {
        /// The reports folder
        #[arg(long, value_name = "DIR", default_value = "reports")]
        out: PathBuf,

        #[command(flatten)]
        range: RangeArgs,
    },

    /// Draw one chart for a slide (SVG or PNG, 1600×900)
    #[command(long_about = "\
Draw one of the report's charts into FILE (.svg or .png, 1600×900): waterfall, \
conversion, funnel-time, sales-cycle, stage-time, touches-to-mql, sla, quota, \
reverse-funnel, revenue-share, attribution, campaign-cost, pipeline-bridge. A metric \
name selects its chart (cycle → sales-cycle, touches → touches-to-mql, changes → \
pipeline-bridge). The metric flags apply; a chart draws one group, so `--by` is \
refused (use `--where DIM=VALUE` to pick the group, named under the title).")]
    Chart {
        /// The chart (or its metric)
        #[arg(value_name = "NAME")]
        name: String,

        /// Output file, .svg or .png
        #[arg(long, value_name = "FILE")]
        out: PathBuf,

        #[command(flatten)]
        query: QueryArgs,
    },

    /// The nightly job: ingest, then write the report
    #[command(long_about = "\
Ingest INPUT... into the warehouse, then write the report. If the ingest fails, \
nothing is written and the exit code says why (3 for bad input data).")]
    Run {
        /// Export folders or table CSV files
        #[arg(required = true, value_name = "INPUT")]
        inputs: Vec<PathBuf>,

        /// Replace the tables present in the input instead of merging into them
        #[arg(long)]
        replace: bool,

        /// With --replace, let an input without rows empty a table that has rows
        #[arg(long, requires = "replace")]
        allow_empty: bool,

        /// Seconds to wait while another process writes the warehouse
        #[arg(long, default_value_t = 0.0, value_name = "SECONDS")]
        lock_timeout: f64,

        /// The reports folder
        #[arg(long, value_name = "DIR", default_value = "reports")]
        out: PathBuf,

        /// Read the inputs through a shipped mapping (default: funnel.toml's
        /// [mapping], else the native format)
        #[arg(long, value_enum, value_name = "PRESET")]
        preset: Option<PresetArg>,
    },

    /// The definitions: print the glossary, check it, diff two versions, approve
    #[command(long_about = "\
With no subcommand, print the glossary from [definitions] beside the rules that \
implement each definition, as Markdown. `check` validates the definitions against the \
warehouse; `diff` shows what a change of funnel.toml does to the numbers; `approve` \
records a team's sign-off in funnel.toml.")]
    Definitions {
        #[command(subcommand)]
        action: Option<DefinitionsCmd>,
    },

    /// The rows behind one number: the leads, episodes or deals a cell counts
    #[command(long_about = "\
The rows behind one cell of a metric: the leads, MQL episodes or opportunities it \
counts, with the timestamps and values that placed them, computed with the metric's \
own flags (range, as-of, --by, --where, --period). Name the cell's row with --row \
KEY=VALUE (the metric's row keys: stage for waterfall; cohort, from_stage and \
to_stage for conversion; from_stage and to_stage for funnel-time; measure for cycle; \
stage for stage-time; \
and the split column of --by or --period) and its column \
with --column. For a count the rows number the cell; for a sum or a median they carry \
the values it is computed from. Covers waterfall, conversion, funnel-time, cycle, \
stage-time, sla and win-rate.

Examples:
  funnel explain sla --column breached
  funnel explain waterfall --row stage=customer
  funnel explain conversion --by source --row source=partner --row cohort=2026-07-01 \\
      --row from_stage=sal --row to_stage=sql --period quarter
  funnel explain win-rate --column won_amount --format csv")]
    Explain(ExplainCmd),

    /// The shared plan: targets both teams sign, where they stand, a draft
    #[command(long_about = "\
The shared plan lives in funnel.toml's [plan]: a period, a bookings target, the \
assumptions behind it and one commitment per promise, each owned by marketing, sales \
or both. `funnel plan` prints it in words with who approved it, then each commitment's \
actual, pace, forecast and status at the as-of. `funnel plan draft` writes a plan drafted \
from the data (assumptions with their evidence, volumes by the reverse funnel) for both \
teams to edit and sign.

Examples:
  funnel plan draft --period 2027-Q1 --bookings 2500000
  funnel plan
  funnel plan --as-of 2027-02-15 --backtest 4")]
    Plan(PlanCmd),

    /// Check the warehouse's files, list its versions, repoint a damaged one
    #[command(long_about = "\
Every version of the warehouse records each of its files with its size and BLAKE3 \
hash. `verify` checks the current version (or every version with --all) against its \
manifest; `versions` lists the versions with their dates and inputs; `repair` points \
`current` at the newest intact version (or the one given), after verifying it.")]
    Warehouse {
        #[command(subcommand)]
        action: WarehouseCmd,
    },
}

#[derive(Debug, Args)]
struct ExplainCmd {
    /// The metric (waterfall, conversion, funnel-time, cycle, stage-time, sla, win-rate)
    #[arg(value_name = "METRIC")]
    metric: String,

    #[command(flatten)]
    query: QueryArgs,

    /// A key of the cell's row, KEY=VALUE (repeatable): stage=mql, source=webinar, …
    #[arg(long = "row", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    row: Vec<(String, String)>,

    /// The cell's column [default: the metric's main count]
    #[arg(long, value_name = "NAME")]
    column: Option<String>,

    /// Output format
    #[arg(long, value_enum, default_value_t = FormatArg::Table)]
    format: FormatArg,
}

fn parse_key_value(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.trim().to_string())),
        _ => Err(format!("`{text}`: expected KEY=VALUE, such as stage=mql")),
    }
}

#[derive(Debug, Args)]
struct PlanCmd {
    #[command(subcommand)]
    action: Option<PlanAction>,

    #[command(flatten)]
    range: RangeArgs,

    /// Also make the same forecast at the same point of the N previous periods and
    /// say how far it landed from what they reached
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=12))]
    backtest: Option<u32>,

    /// Output format of the status table
    #[arg(long, value_enum, default_value_t = FormatArg::Table)]
    format: FormatArg,
}

#[derive(Debug, Subcommand)]
enum PlanAction {
    /// Draft [plan] from the data and write it into funnel.toml, keeping its comments
    Draft {
        /// The period: 2027-Q1, FY2027-Q1 (fiscal, named after the year it ends in) or 2027-01
        #[arg(long, value_name = "P")]
        period: String,

        /// The bookings target: won amount in the base currency
        #[arg(long, value_name = "AMOUNT")]
        bookings: f64,

        /// One set of commitments per source team, splitting the bookings by each
        /// team's share of the won amount in the lookback
        #[arg(long, value_name = "DIM", value_parser = ["source_team"])]
        by: Option<String>,

        /// Days of history the assumptions are computed from [default: quota.lookback_days]
        #[arg(long, value_name = "N")]
        lookback_days: Option<u32>,

        /// Replace a plan the teams already approved
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Subcommand)]
enum WarehouseCmd {
    /// Check the current version's files against its manifest (exit 1 on damage)
    Verify {
        /// Check every version, not only the current one
        #[arg(long)]
        all: bool,
    },
    /// List the versions: date, inputs, rows, and whether intact
    Versions,
    /// Point `current` at the newest intact version, or at VERSION once verified
    Repair {
        /// A version id such as v000041 [default: the newest intact one]
        #[arg(value_name = "VERSION")]
        to: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum DefinitionsCmd {
    /// Check the definitions against the data (exit 0 with warnings, 3 with errors)
    #[command(long_about = "\
Check the definitions against the warehouse: raw stage values in the data mapped to \
nothing (with counts), a raw value mapped to two stages, sources missing from \
[sources], currencies without a rate, empty or placeholder definitions, an SLA or a \
conversion window no data satisfies. Exit 0 with warnings only, 3 with errors.")]
    Check {
        #[command(flatten)]
        range: RangeArgs,
    },
    /// Show a change of definitions and its effect on the headline numbers
    #[command(long_about = "\
Compare two definitions files: the changed rules in plain words, then the headline \
numbers recomputed on the same warehouse under both (no re-ingest needed). OLD and NEW \
are paths or git revisions such as HEAD~1:funnel.toml; NEW defaults to the current \
definitions (--config or ./funnel.toml).

Example:
  funnel definitions diff HEAD~1:funnel.toml funnel.toml --format markdown")]
    Diff {
        /// The definitions before the change (path or REV:path)
        #[arg(value_name = "OLD")]
        old: String,

        /// The definitions after the change [default: the current definitions]
        #[arg(value_name = "NEW")]
        new: Option<String>,

        /// Output format
        #[arg(long, value_enum, default_value_t = DiffFormatArg::Table)]
        format: DiffFormatArg,

        #[command(flatten)]
        range: RangeArgs,
    },
    /// Record a team's approval in funnel.toml (comments and layout kept)
    Approve {
        /// The team approving (marketing, sales, …)
        #[arg(long)]
        team: String,

        /// Who approves
        #[arg(long)]
        by: String,

        /// The approval date [default: today]
        #[arg(long, value_name = "DATE")]
        on: Option<chrono::NaiveDate>,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum DiffFormatArg {
    Table,
    Markdown,
    Html,
}

fn format_of(format: FormatArg) -> Format {
    match format {
        FormatArg::Table => Format::Table,
        FormatArg::Csv => Format::Csv,
        FormatArg::Json => Format::Json,
    }
}

/// The flags that shape a metric: range, as-of, split, filters, period.
#[derive(Debug, Args, Clone)]
struct QueryArgs {
    #[command(flatten)]
    range: RangeArgs,

    /// Split rows by a dimension (adds a first column)
    #[arg(long, value_enum, value_name = "DIM")]
    by: Option<DimArg>,

    /// Keep only rows where DIM=VALUE (repeatable; values of one DIM are alternatives)
    #[arg(long = "where", value_name = "DIM=VALUE", value_parser = parse_filter)]
    filters: Vec<(Dim, String)>,

    /// Group rows by period (for `conversion`: the cohort length, default month)
    #[arg(long, value_enum, value_name = "P")]
    period: Option<PeriodArg>,

    /// Attribution: only this model (default: all six)
    #[arg(long, value_enum)]
    model: Option<ModelArg>,

    /// changes: the earlier moment to compare with: a date, an ISO timestamp, or
    /// a kept warehouse version (v000012, which also shows close-date moves)
    /// [default: a week before the as-of]
    #[arg(long, value_name = "WHEN|VERSION")]
    since: Option<String>,

    /// cycle, velocity: keep durations that end before they start (deals closed
    /// before they were created) in the statistics [default: left out, counted]
    #[arg(long)]
    include_negative: bool,
}

/// Range and as-of only (the report computes every metric with its defaults).
#[derive(Debug, Args, Clone)]
struct RangeArgs {
    /// First day of the range (YYYY-MM-DD, in calendar.timezone)
    #[arg(long, value_name = "DATE")]
    from: Option<chrono::NaiveDate>,

    /// Last day of the range, inclusive
    #[arg(long, value_name = "DATE")]
    to: Option<chrono::NaiveDate>,

    /// The as-of instant: YYYY-MM-DD, `now`, or an ISO timestamp [default: latest event]
    #[arg(long, value_name = "WHEN")]
    as_of: Option<String>,

    /// Read the warehouse as it was known then: a version (v000012) or a date
    /// (the latest version committed by the end of that day), before later corrections
    #[arg(long, value_name = "VERSION|DATE")]
    as_known_at: Option<String>,
}

impl QueryArgs {
    fn flags(self, histogram: bool) -> QueryFlags {
        QueryFlags {
            by: self.by.map(DimArg::dim),
            filters: self.filters,
            period: self.period.map(|p| match p {
                PeriodArg::Week => Period::Week,
                PeriodArg::Month => Period::Month,
                PeriodArg::Quarter => Period::Quarter,
                PeriodArg::FiscalQuarter => Period::FiscalQuarter,
                PeriodArg::Year => Period::Year,
            }),
            model: self.model.map(|x| match x {
                ModelArg::FirstTouch => AttributionModel::FirstTouch,
                ModelArg::LastTouch => AttributionModel::LastTouch,
                ModelArg::Linear => AttributionModel::Linear,
                ModelArg::UShaped => AttributionModel::UShaped,
                ModelArg::WShaped => AttributionModel::WShaped,
                ModelArg::TimeDecay => AttributionModel::TimeDecay,
            }),
            histogram,
            since: self.since,
            include_negative: self.include_negative,
            ..self.range.flags()
        }
    }
}

impl RangeArgs {
    fn flags(self) -> QueryFlags {
        QueryFlags {
            from: self.from,
            to: self.to,
            as_of: self.as_of,
            as_known_at: self.as_known_at,
            ..QueryFlags::default()
        }
    }
}

#[derive(Debug, Args)]
struct MetricsCmd {
    /// The metric (see --list)
    #[arg(value_name = "NAME", required_unless_present = "list")]
    name: Option<String>,

    /// List the metrics with their one-line definitions
    #[arg(long)]
    list: bool,

    #[command(flatten)]
    query: QueryArgs,

    /// Distribution metrics: histogram bins instead of statistics
    #[arg(long)]
    histogram: bool,

    /// plan: also make the same forecast at the same point of the N previous
    /// periods and say how far it landed from what they reached
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=12))]
    backtest: Option<u32>,

    /// Keep the output rows whose column COL has this value (repeatable; values of
    /// one column are alternatives), e.g. `--rows basis=won` for attribution
    #[arg(long = "rows", value_name = "COL=VALUE", value_parser = parse_row)]
    rows: Vec<(String, String)>,

    /// Sort the output rows by a column, ascending; `-COL` for descending
    #[arg(long, value_name = "COL", allow_hyphen_values = true)]
    sort: Option<String>,

    /// Output format
    #[arg(long, value_enum, default_value_t = FormatArg::Table)]
    format: FormatArg,
}

impl Cli {
    /// Converts parsed arguments into the library's plain invocation.
    pub fn into_invocation(self) -> Invocation {
        let global = global_options(self.global);
        let command = match self.command {
            Commands::Init { dir, force, preset } => Command::Init(InitArgs {
                dir,
                force,
                preset: preset.map(PresetArg::name),
            }),
            Commands::Generate {
                out,
                leads,
                seed,
                months,
            } => Command::Generate(GenerateArgs {
                out,
                leads,
                seed,
                months,
            }),
            Commands::Ingest {
                inputs,
                replace,
                allow_empty,
                lock_timeout,
                preset,
            } => Command::Ingest(IngestArgs {
                inputs,
                replace,
                allow_empty,
                lock_timeout,
                preset: preset.map(PresetArg::name),
            }),
            Commands::Sql {
                query,
                tables: _,
                as_of,
                as_known_at,
                max_rows,
                verbose,
                format,
            } => Command::Sql(SqlArgs {
                query,
                as_of,
                as_known_at,
                max_rows,
                verbose,
                format: format_of(format),
            }),
            Commands::Metrics(m) => Command::Metrics(MetricsArgs {
                name: m.name,
                list: m.list,
                query: QueryFlags {
                    backtest: m.backtest,
                    ..m.query.flags(m.histogram)
                },
                format: format_of(m.format),
                rows: m.rows,
                sort: m.sort,
            }),
            Commands::Report { out, range } => Command::Report(ReportArgs {
                out,
                query: range.flags(),
            }),
            Commands::Chart { name, out, query } => Command::Chart(ChartArgs {
                name,
                out,
                query: query.flags(false),
            }),
            Commands::Run {
                inputs,
                replace,
                allow_empty,
                lock_timeout,
                out,
                preset,
            } => Command::Run(RunArgs {
                inputs,
                replace,
                allow_empty,
                lock_timeout,
                out,
                preset: preset.map(PresetArg::name),
            }),
            Commands::Definitions { action } => {
                Command::Definitions(action.map(definitions_action))
            }
            Commands::Explain(cmd) => Command::Explain(crate::commands::explain::ExplainArgs {
                metric: cmd.metric,
                query: cmd.query.flags(false),
                cell: crate::metrics::explain::Cell {
                    row: cmd.row,
                    column: cmd.column,
                },
                format: format_of(cmd.format),
            }),
            Commands::Plan(cmd) => Command::Plan(plan_args(cmd)),
            Commands::Warehouse { action } => Command::Warehouse(match action {
                WarehouseCmd::Verify { all } => WarehouseAction::Verify { all },
                WarehouseCmd::Versions => WarehouseAction::Versions,
                WarehouseCmd::Repair { to } => WarehouseAction::Repair { to },
            }),
        };
        Invocation { global, command }
    }
}

fn global_options(g: GlobalArgs) -> GlobalOptions {
    GlobalOptions {
        config: g.config,
        warehouse: g.warehouse,
        quiet: g.quiet,
        progress: match g.progress {
            ProgressArg::Auto => ProgressMode::Auto,
            ProgressArg::On => ProgressMode::On,
            ProgressArg::Off => ProgressMode::Off,
        },
    }
}

fn definitions_action(a: DefinitionsCmd) -> DefinitionsAction {
    match a {
        DefinitionsCmd::Check { range } => DefinitionsAction::Check {
            query: range.flags(),
        },
        DefinitionsCmd::Diff {
            old,
            new,
            format,
            range,
        } => DefinitionsAction::Diff {
            old,
            new,
            format: match format {
                DiffFormatArg::Table => DiffFormat::Table,
                DiffFormatArg::Markdown => DiffFormat::Markdown,
                DiffFormatArg::Html => DiffFormat::Html,
            },
            query: range.flags(),
        },
        DefinitionsCmd::Approve { team, by, on } => DefinitionsAction::Approve { team, by, on },
    }
}

fn plan_args(cmd: PlanCmd) -> crate::commands::plan::PlanArgs {
    crate::commands::plan::PlanArgs {
        query: QueryFlags {
            backtest: cmd.backtest,
            ..cmd.range.flags()
        },
        format: format_of(cmd.format),
        draft: cmd.action.map(|a| match a {
            PlanAction::Draft {
                period,
                bookings,
                by,
                lookback_days,
                force,
            } => crate::commands::plan::DraftArgs {
                period,
                bookings,
                by_source_team: by.is_some(),
                lookback_days,
                force,
            },
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    /// `funnel chart --help` names every chart of the metric registry.
    #[test]
    fn chart_help_names_every_chart() {
        let cli = Cli::command();
        let chart = cli.find_subcommand("chart").expect("chart");
        let help = chart.get_long_about().expect("long about").to_string();
        for name in crate::report::figures::names() {
            assert!(help.contains(name), "`funnel chart --help` lacks {name}");
        }
    }
}
