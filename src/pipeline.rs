//! The pipeline's steps joined in order, above the layers that do them: an ingest
//! stages and merges the inputs ([`crate::ingest`]), computes the derived tables of
//! the new version ([`crate::metrics::derived`]) and only then commits it. Ingest
//! never calls metrics itself.

use crate::config::Config;
use crate::error::Result;
use crate::ingest::{IngestOptions, IngestSummary};
use crate::model::warehouse::Warehouse;
use crate::observe::{MeterKind, Observer};

/// Ingests `options.inputs` into `warehouse` under `config`'s definitions: a new
/// version with its derived tables, or, on error, the warehouse as it was.
pub fn ingest(
    warehouse: &Warehouse,
    config: &Config,
    options: &IngestOptions,
    progress: &dyn Observer,
) -> Result<IngestSummary> {
    let staged = crate::ingest::stage(warehouse, config, options, progress)?;
    let step = progress.meter(MeterKind::Step, 0, "deriving shared tables");
    let built = crate::metrics::derived::build(staged.writer(), config, staged.partitioned())?;
    step.finish();
    staged.commit(config, &built)
}
