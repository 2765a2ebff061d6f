//! `funnel`: one set of funnel numbers, with one set of definitions, for sales and
//! marketing.
//!
//! The pipeline, in module order:
//! - [`cli`] turns the command line into an [`Invocation`] (the only clap code);
//! - [`config`] loads the definitions file `funnel.toml`;
//! - [`ingest`] reads CRM and campaign exports, validates and quarantines rows, and
//!   merges them into a new version of the Parquet warehouse ([`model::warehouse`]);
//! - [`metrics`] computes the metrics (docs/metrics.md) from the tables, applying the
//!   definitions at query time;
//! - [`report`] draws the charts and writes the shared HTML report from computed
//!   metric frames;
//! - [`commands`] holds one module per subcommand;
//! - [`output`] writes result frames as tables, CSV or JSON on stdout;
//! - [`progress`] is everything printed for people on stderr;
//! - [`memory`] tunes glibc's malloc for a process that runs polars.

pub mod cli;
pub mod commands;
pub mod config;
pub mod contract;
pub mod error;
pub mod frame;
pub mod generate;
pub mod ingest;
pub mod interrupt;
pub mod memory;
pub mod metrics;
pub mod model;
pub mod observe;
pub mod output;
pub mod parallel;
pub mod pipeline;
pub mod progress;
pub mod report;
pub mod sample;
pub mod text;
pub mod time;

pub use commands::{Command, GlobalOptions, Invocation};

/// Runs one invocation of the tool.
pub fn run(invocation: Invocation) -> error::Result<()> {
    commands::run(invocation)
}
