//! The bundled sample export (`data/sample`, made by `funnel generate` with its
//! defaults), compiled into the binary so a fresh clone can query and report with no
//! data of its own. It is ingested into a temporary warehouse, never `./data/warehouse`.

use std::path::PathBuf;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::ingest::IngestOptions;
use crate::model::warehouse::{Manifest, Warehouse};
use crate::observe::{Observer, Silent};
use crate::pipeline::ingest;

const FILES: &[(&str, &[u8])] = &[
    ("leads.csv", include_bytes!("../data/sample/leads.csv")),
    (
        "lead_stage_events.csv",
        include_bytes!("../data/sample/lead_stage_events.csv"),
    ),
    ("touches.csv", include_bytes!("../data/sample/touches.csv")),
    (
        "campaigns.csv",
        include_bytes!("../data/sample/campaigns.csv"),
    ),
    (
        "opportunities.csv",
        include_bytes!("../data/sample/opportunities.csv"),
    ),
    (
        "opportunity_stage_events.csv",
        include_bytes!("../data/sample/opportunity_stage_events.csv"),
    ),
    ("quotas.csv", include_bytes!("../data/sample/quotas.csv")),
    ("owners.csv", include_bytes!("../data/sample/owners.csv")),
];

/// The plan the sample company's teams signed (`funnel generate` writes it beside
/// the export): what the sample's report tracks when no funnel.toml says otherwise.
pub const PLAN: &str = include_str!("../data/sample/plan.toml");

/// The sample's plan, parsed.
pub fn plan() -> Option<crate::config::plan::Plan> {
    Config::parse(PLAN).ok().and_then(|c| c.plan)
}

/// A warehouse to read from: the user's, or the sample's in a temporary folder that
/// lives as long as this value.
pub struct Opened {
    pub warehouse: Warehouse,
    /// Its current version's manifest, its files verified against it.
    pub manifest: Option<Manifest>,
    /// Keeps the version from being pruned while this process reads it.
    _lease: Option<std::fs::File>,
    /// Removes the sample's temporary folder if the process is stopped by a signal.
    _on_signal: Option<crate::interrupt::Registered>,
    pub is_sample: bool,
    _temp: Option<tempfile::TempDir>,
}

/// Writes the bundled export's CSV files into `dir`.
pub fn write_sample(dir: &std::path::Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io("cannot create", dir, e))?;
    for (name, bytes) in FILES {
        let path = dir.join(name);
        std::fs::write(&path, bytes).map_err(|e| Error::io("cannot write", &path, e))?;
    }
    Ok(())
}

/// Opens `warehouse` if it has a current version; if it holds no version at all (no
/// folder, or nothing ingested yet), ingests the bundled sample into a temporary
/// warehouse and says so on stderr. A warehouse with versions but no usable
/// `current` is an error, never a silent switch to the sample.
pub fn open_or_sample(
    warehouse: Warehouse,
    config: &Config,
    progress: &dyn Observer,
) -> Result<Opened> {
    if let Some((manifest, lease)) = warehouse.open_current()? {
        return Ok(Opened {
            warehouse,
            manifest: Some(manifest),
            _lease: Some(lease),
            _on_signal: None,
            is_sample: false,
            _temp: None,
        });
    }
    let what = match warehouse.root().exists() {
        true => "holds no ingested version yet",
        false => "does not exist",
    };
    progress.warn(&format!(
        "the warehouse `{}` {what}: using the bundled sample export (synthetic data); run `funnel ingest EXPORT` to use your own",
        warehouse.root().display()
    ));
    let temp = tempfile::Builder::new()
        .prefix("funnel-sample-")
        .tempdir()
        .map_err(|e| Error::io("cannot create", std::env::temp_dir(), e))?;
    let on_signal = crate::interrupt::register(temp.path().to_path_buf());
    let export: PathBuf = temp.path().join("export");
    write_sample(&export)?;
    let sample = Warehouse::new(temp.path().join("warehouse"));
    ingest(
        &sample,
        config,
        &IngestOptions {
            inputs: vec![export],
            replace: false,
            allow_empty: false,
            lock_timeout: std::time::Duration::ZERO,
            native: true,
        },
        &Silent,
    )?;
    // The inputs were written to a temporary folder that goes with this process:
    // name them by what they are, not by a path that will not exist.
    let mut manifest = sample.manifest(crate::model::warehouse::Check::Quick)?;
    for run in manifest.iter_mut().flat_map(|m| m.runs.iter_mut()) {
        for input in &mut run.inputs {
            let name = std::path::Path::new(&input.path)
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            input.path = format!("bundled sample: {name}");
        }
    }
    Ok(Opened {
        manifest,
        _lease: None,
        _on_signal: Some(on_signal),
        warehouse: sample,
        is_sample: true,
        _temp: Some(temp),
    })
}
