//! One module per subcommand, each with `pub fn run(args, &Context) -> Result<()>`.
//! The plain argument structs here are what `cli.rs` fills in.

mod definitions;
pub mod explain;
mod generate;
pub(crate) mod ingest;
mod init;
mod metrics;
pub mod plan;
pub mod query;
mod report;
mod sql;
mod warehouse;

use std::path::PathBuf;

use crate::config::{Config, ConfigSource};
use crate::error::Result;
use crate::model::warehouse::Warehouse;
use crate::output::Format;
use crate::progress::{Progress, ProgressMode};

/// A parsed command line.
#[derive(Debug, Clone)]
pub struct Invocation {
    pub global: GlobalOptions,
    pub command: Command,
}

/// Options every subcommand takes.
#[derive(Debug, Clone)]
pub struct GlobalOptions {
    /// Explicit definitions file; `None` = `./funnel.toml` if present, else defaults.
    pub config: Option<PathBuf>,
    pub warehouse: PathBuf,
    pub quiet: bool,
    pub progress: ProgressMode,
}

#[derive(Debug, Clone)]
pub enum Command {
    Init(InitArgs),
    Generate(GenerateArgs),
    Ingest(IngestArgs),
    Sql(SqlArgs),
    Metrics(MetricsArgs),
    Report(ReportArgs),
    Chart(ChartArgs),
    Run(RunArgs),
    Definitions(Option<DefinitionsAction>),
    Plan(plan::PlanArgs),
    Explain(explain::ExplainArgs),
    Warehouse(WarehouseAction),
}

#[derive(Debug, Clone)]
pub enum WarehouseAction {
    Verify { all: bool },
    Versions,
    Repair { to: Option<String> },
}

#[derive(Debug, Clone)]
pub struct InitArgs {
    pub dir: PathBuf,
    pub force: bool,
    pub preset: Option<String>,
}

#[derive(Debug, Clone)]
pub struct GenerateArgs {
    pub out: PathBuf,
    pub leads: u64,
    pub seed: u64,
    pub months: u32,
}

#[derive(Debug, Clone)]
pub struct IngestArgs {
    pub inputs: Vec<PathBuf>,
    pub replace: bool,
    /// With `replace`, an input without rows may empty a table.
    pub allow_empty: bool,
    /// Seconds to wait for another writer.
    pub lock_timeout: f64,
    /// `native`, `salesforce` or `hubspot`.
    pub preset: Option<String>,
}

#[derive(Debug, Clone)]
pub struct SqlArgs {
    /// None with `--tables`: list the tables and views instead.
    pub query: Option<String>,
    pub as_of: Option<String>,
    pub as_known_at: Option<String>,
    /// The most rows a result may have.
    pub max_rows: u64,
    /// Errors with the engine's whole message (its plan), not its first line.
    pub verbose: bool,
    pub format: Format,
}

#[derive(Debug, Clone)]
pub struct MetricsArgs {
    pub name: Option<String>,
    pub list: bool,
    pub query: query::QueryFlags,
    pub format: Format,
    /// `--rows COL=VALUE`: keep the output rows whose column has one of the values.
    pub rows: Vec<(String, String)>,
    /// `--sort COL` (ascending) or `--sort -COL` (descending).
    pub sort: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ReportArgs {
    /// The reports folder; the report goes into `<out>/<as-of date>/`.
    pub out: PathBuf,
    pub query: query::QueryFlags,
}

#[derive(Debug, Clone)]
pub struct ChartArgs {
    pub name: String,
    pub out: PathBuf,
    pub query: query::QueryFlags,
}

#[derive(Debug, Clone)]
pub struct RunArgs {
    pub inputs: Vec<PathBuf>,
    pub replace: bool,
    pub allow_empty: bool,
    pub lock_timeout: f64,
    pub out: PathBuf,
    pub preset: Option<String>,
}

#[derive(Debug, Clone)]
pub enum DefinitionsAction {
    Check {
        query: query::QueryFlags,
    },
    Diff {
        old: String,
        new: Option<String>,
        format: DiffFormat,
        query: query::QueryFlags,
    },
    Approve {
        team: String,
        by: String,
        on: Option<chrono::NaiveDate>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiffFormat {
    Table,
    Markdown,
    Html,
}

/// What every command may need: the reporter, and on demand the definitions.
pub struct Context {
    pub global: GlobalOptions,
    pub progress: Progress,
}

impl Context {
    /// The definitions; a preset recorded by the warehouse's last ingest supplies the
    /// defaults the file does not set.
    pub fn config(&self) -> Result<(Config, ConfigSource)> {
        let preset = self.warehouse().recorded_preset();
        Config::load_with_preset(self.global.config.as_deref(), preset.as_deref())
    }

    /// The definitions for an ingest with `--preset` (which wins over the warehouse's).
    pub fn config_for_ingest(&self, preset: Option<&str>) -> Result<(Config, ConfigSource)> {
        match preset {
            Some(p) => Config::load_with_preset(self.global.config.as_deref(), Some(p)),
            None => self.config(),
        }
    }

    pub fn warehouse(&self) -> Warehouse {
        Warehouse::new(&self.global.warehouse)
    }
}

pub fn run(invocation: Invocation) -> Result<()> {
    crate::progress::install_timings_from_env();
    let progress = Progress::new(invocation.global.quiet, invocation.global.progress);
    let ctx = Context {
        global: invocation.global,
        progress,
    };
    match &invocation.command {
        Command::Init(args) => init::run(args, &ctx),
        Command::Generate(args) => generate::run(args, &ctx),
        Command::Ingest(args) => ingest::run(args, &ctx),
        Command::Sql(args) => sql::run(args, &ctx),
        Command::Metrics(args) => metrics::run(args, &ctx),
        Command::Report(args) => report::report(args, &ctx),
        Command::Chart(args) => report::chart(args, &ctx),
        Command::Run(args) => report::run(args, &ctx),
        Command::Definitions(action) => definitions::run(action, &ctx),
        Command::Plan(args) => plan::run(args, &ctx),
        Command::Explain(args) => explain::run(args, &ctx),
        Command::Warehouse(action) => warehouse::run(action, &ctx),
    }
}
