//! Instance states for `status` and `explain`: fresh, stale or missing, with
//! reasons.

use anyhow::Result;
use serde::Serialize;

use crate::cache::Cache;
use crate::evaluate::{Evaluation, Outcome};
use crate::explain::differences;
use crate::spec::Pipeline;
use crate::state::StateDb;

/// One row of `lungflow status`.
#[derive(Clone, Debug, Serialize)]
pub struct StatusRow {
    /// Stage name.
    pub stage: String,
    /// Item id, or null for stages that run once (or could not be expanded).
    pub item: Option<String>,
    /// `fresh`, `stale` or `missing`.
    pub state: &'static str,
    /// Current key, when it can be computed.
    pub key: Option<String>,
    /// Output folder, for fresh instances.
    pub outputs: Option<String>,
    /// Why a stale or missing instance must run.
    pub reasons: Vec<String>,
}

/// Turns an inspection into status rows.
pub fn rows(p: &Pipeline, cache: &Cache, eval: &Evaluation) -> Result<Vec<StatusRow>> {
    let db = StateDb::open(&cache.state_path())?;
    let last = db.last_keys(&p.id)?;
    let mut rows = Vec::with_capacity(eval.instances.len());
    for inst in &eval.instances {
        let stage = p.stages[inst.stage].name.clone();
        let last_key = last.get(&(stage.clone(), inst.item.clone().unwrap_or_default()));
        let mut row = StatusRow { stage, item: inst.item.clone(), state: "missing", key: None, outputs: None, reasons: vec![] };
        match &inst.outcome {
            Outcome::Available(prod) => {
                row.state = "fresh";
                row.key = Some(prod.key.clone());
                row.outputs = Some(prod.out_dir.display().to_string());
            }
            Outcome::Pending(pending) => {
                row.key = pending.key.clone();
                if let Some(lk) = last_key {
                    row.state = "stale";
                    match cache.manifest(lk)? {
                        Some(m) => row.reasons = differences(&m.material, pending),
                        None => row.reasons.push(format!("its last cache entry {} was removed", crate::explain::short(lk))),
                    }
                    if row.reasons.is_empty() {
                        row.reasons.push("its cache entry is missing".into());
                    }
                } else {
                    row.reasons.push("never computed for this pipeline".into());
                }
            }
            Outcome::Failed(e) | Outcome::Skipped(e) => {
                row.state = if last_key.is_some() { "stale" } else { "missing" };
                row.reasons.push(e.clone());
            }
        }
        rows.push(row);
    }
    for (s, why) in &eval.unexpanded {
        let stage = p.stages[*s].name.clone();
        let seen = last.keys().any(|(st, _)| *st == stage);
        rows.push(StatusRow {
            stage,
            item: None,
            state: if seen { "stale" } else { "missing" },
            key: None,
            outputs: None,
            reasons: vec![format!("instances not known yet: {why}")],
        });
    }
    Ok(rows)
}
