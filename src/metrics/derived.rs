//! Derived tables: the frames most metrics build on, computed once at ingest for the
//! definitions then in force and stored with the version (`_derived/`), so that a
//! single `funnel metrics NAME` reads one small table instead of re-deriving it from
//! the events and the touches.
//!
//! They are a cache, never a second source of truth: a reader uses them only when
//! its `funnel.toml` hashes exactly as the ingest's did (the manifest records the
//! hash) and otherwise computes the same frames itself with the same functions. The
//! tests hold both paths to the same numbers.

use std::collections::BTreeMap;

use polars::prelude::*;

use super::model::{lead_funnel, with_lead_column_dims, without_lead_column_dims, Tables};
use super::params::Params;
use crate::config::Config;
use crate::error::Result;
use crate::model::columns::{LEADS, TOUCHES};
use crate::model::warehouse::{Built, Derived, Manifest, VersionWriter, Warehouse};
use crate::observe::timed;

/// One row per lead with its reach times ([`lead_funnel`]).
pub const LEAD_FUNNEL: &str = "lead_funnel";
/// Per lead, counted marketing touches up to each milestone
/// ([`super::touches::touch_counts`]).
pub const LEAD_TOUCHES: &str = "lead_touches";

/// Every MQL episode with its decision sightings ([`super::touches::mql_episodes`]).
pub const MQL_EPISODES: &str = "mql_episodes";

/// The touches whose lead the leads table lacks (`touch_id`, `lead_id`;
/// [`super::lint::unknown_lead_touches`]): what lint's `touch_unknown_lead` counts.
pub const UNKNOWN_LEAD_TOUCHES: &str = "unknown_lead_touches";

/// Opportunities with amounts in the base currency and their lead's dimensions
/// ([`super::model::opportunities`]).
pub const OPPORTUNITY_MODEL: &str = "opportunity_model";
/// Counted touches of the leads opportunities link to
/// ([`super::model::opportunity_touches`]).
pub const OPPORTUNITY_TOUCHES: &str = "opportunity_touches";

/// Computes the derived tables of the version being written (its tables are all in
/// place) with `config`'s definitions, writes them into it, and returns what the
/// manifest records. A version without leads or events has none.
pub fn build(
    writer: &VersionWriter,
    config: &Config,
    partitioned: &BTreeMap<String, String>,
) -> Result<Built> {
    let mut tables = Tables::from_map(writer.scan_all()?);
    if touches_by_lead(partitioned) {
        tables.touch_parts = writer.part_scans(TOUCHES.name)?;
    }
    let now = chrono::Utc::now().timestamp_micros();
    let (latest_event, later_event) =
        timed("latest event", || super::event_instants(&tables, now))?;
    let Some(as_of) = latest_event else {
        return Ok(Built {
            latest_event,
            later_event,
            derived: None,
        });
    };
    let p = Params::resolve(
        config.clone(),
        as_of,
        None,
        None,
        None,
        Vec::new(),
        None,
        None,
        false,
    )?;
    // Events dated in the future are not visible at the default as-of: the frames
    // are computed from the world at the latest event.
    if later_event.is_some() {
        tables = super::visible::cut(&tables, &p);
    }
    // Two chains side by side (each table alone leaves part of the machine idle): the
    // lead funnel and the MQL episodes; the opportunity model, its touches and then
    // the touch counts per lead, which wait for the lead funnel (sent over `funnel`).
    let (send_funnel, funnel) = std::sync::mpsc::channel::<LazyFrame>();
    let chains = Chains {
        writer,
        tables: &tables,
        p: &p,
    };
    let leads_chain = || chains.leads(send_funnel);
    let opportunities_chain = || chains.opportunities(funnel);
    let (leads_names, opportunities_names) =
        crate::parallel::join(leads_chain, opportunities_chain);
    let mut names = leads_names?;
    names.extend(opportunities_names?);
    Ok(Built {
        latest_event,
        later_event,
        derived: Some(Derived {
            definitions_hash: config.frames_hash(),
            tables: names,
        }),
    })
}

/// What both chains of derived tables read, and where they write.
struct Chains<'a> {
    writer: &'a VersionWriter,
    tables: &'a Tables,
    p: &'a Params,
}

impl Chains<'_> {
    /// Streams `lf` into the derived table `name` (never held whole; read back from
    /// its file) and adds it to `names`.
    fn derive(&self, names: &mut Vec<String>, name: &'static str, lf: LazyFrame) -> Result<()> {
        timed(&format!("derived {name}"), || {
            self.writer.sink_derived(name, lf)
        })?;
        names.push(name.to_string());
        Ok(())
    }

    /// The lead funnel (sent to the other chain once written), the MQL episodes and
    /// the touches of unknown leads.
    fn leads(&self, send_funnel: std::sync::mpsc::Sender<LazyFrame>) -> Result<Vec<String>> {
        let (tables, p) = (self.tables, self.p);
        let mut names = Vec::new();
        let funnel = lead_funnel(tables, p);
        // Stored without the dimensions that copy a lead column (restored on reading).
        self.derive(&mut names, LEAD_FUNNEL, without_lead_column_dims(funnel))?;
        let funnel = with_lead_column_dims(self.writer.scan_derived(LEAD_FUNNEL)?);
        // The other chain may have failed and gone.
        let _ = send_funnel.send(funnel.clone());
        if tables.has("lead_stage_events") {
            let mut funnel_tables = tables.clone();
            funnel_tables.funnel = Some(funnel);
            let episodes = super::touches::mql_episodes(&funnel_tables, p, false);
            self.derive(&mut names, MQL_EPISODES, episodes)?;
        }
        // This chain ends first: it also compares the touches' leads with the leads.
        if tables.has("touches") {
            let known = tables.or_empty(&LEADS).select([col("lead_id")]);
            let unknown = super::lint::unknown_lead_touches(tables, known)?;
            self.derive(&mut names, UNKNOWN_LEAD_TOUCHES, unknown)?;
        }
        Ok(names)
    }

    /// The opportunity model, the counted touches of its leads, then the touch
    /// counts per lead once the lead funnel arrives over `funnel`.
    fn opportunities(&self, funnel: std::sync::mpsc::Receiver<LazyFrame>) -> Result<Vec<String>> {
        let (tables, p) = (self.tables, self.p);
        let mut names = Vec::new();
        self.derive(
            &mut names,
            OPPORTUNITY_MODEL,
            super::model::opportunities(tables, p),
        )?;
        if tables.has("touches") && tables.has("leads") {
            let linked = self
                .writer
                .scan_derived(OPPORTUNITY_MODEL)?
                .filter(col("lead_id").is_not_null());
            let touches = super::model::counted_touches_of(tables, p, Some(linked))?;
            self.derive(&mut names, OPPORTUNITY_TOUCHES, touches)?;
        }
        // No lead funnel (no leads, or its chain failed): no counts.
        if !tables.has("touches") {
            return Ok(names);
        }
        if let Ok(funnel) = funnel.recv() {
            let counts = super::touches::touch_counts(tables, p, funnel)?;
            self.derive(&mut names, LEAD_TOUCHES, counts)?;
        }
        Ok(names)
    }
}

/// Whether a version whose tables are partitioned off their key as `partitioned`
/// records ([`Manifest::partitioned`]) stores its touches by lead (format 2 and
/// later), so that its readers may join them to leads one partition at a time.
fn touches_by_lead(partitioned: &BTreeMap<String, String>) -> bool {
    partitioned.get(TOUCHES.name).map(String::as_str) == Some(TOUCHES.partition)
}

/// Sets the derived frames of `tables` for the definitions hashing as
/// `definitions_hash`: the current version's derived tables when they were computed
/// for exactly these definitions, otherwise none (the metrics then derive what they
/// need). Call it again before using the same tables under other definitions.
pub fn attach(
    tables: &mut Tables,
    warehouse: &Warehouse,
    manifest: Option<&Manifest>,
    definitions_hash: &str,
) -> Result<()> {
    // The touches' partitions, when the manifest says they are stored by lead.
    tables.touch_parts = match manifest {
        Some(m) if touches_by_lead(&m.partitioned) => warehouse.part_scans(TOUCHES.name)?,
        _ => Vec::new(),
    };
    tables.funnel = warehouse
        .scan_derived(manifest, definitions_hash, LEAD_FUNNEL)?
        .map(with_lead_column_dims);
    let also = |name| match tables.funnel {
        Some(_) => warehouse.scan_derived(manifest, definitions_hash, name),
        None => Ok(None),
    };
    tables.lead_touches = also(LEAD_TOUCHES)?;
    tables.mql_episodes = also(MQL_EPISODES)?;
    // Opportunities do not need the lead funnel.
    tables.opportunity_model =
        warehouse.scan_derived(manifest, definitions_hash, OPPORTUNITY_MODEL)?;
    tables.unknown_lead_touches =
        warehouse.scan_derived(manifest, definitions_hash, UNKNOWN_LEAD_TOUCHES)?;
    tables.opportunity_touches = match tables.opportunity_model {
        Some(_) => warehouse.scan_derived(manifest, definitions_hash, OPPORTUNITY_TOUCHES)?,
        None => None,
    };
    Ok(())
}
