//! The one integration test binary: runs the real `funnel` on tiny fixtures.
#![allow(clippy::print_stdout, clippy::print_stderr)] // tests report what they measured

mod fixture;
mod workdir;

mod test_as_of;
mod test_changes;
mod test_cli;
mod test_crash;
mod test_definitions;
mod test_derived;
mod test_explain;
mod test_fitted;
mod test_generate;
mod test_hostile;
mod test_ingest;
mod test_init;
mod test_integrity;
mod test_lead_layout;
mod test_mapping;
mod test_metrics_funnel;
mod test_metrics_pipeline;
mod test_plan;
mod test_report;
mod test_sql;
