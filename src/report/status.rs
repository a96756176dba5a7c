//! Instance states for `status` and `explain`: fresh, stale or missing, with
//! reasons.

use anyhow::Result;
use serde::Serialize;

use crate::pipeline::model::Pipeline;
use crate::report::explain::differences;
use crate::run::outcome::{Outcome, RunResult};
use crate::store::cache::Cache;
use crate::store::integrity::EntryState;
use crate::store::state::StateDb;

/// Where an instance stands against the cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InstanceState {
    /// Its current key is in the cache.
    Fresh,
    /// It was computed for this pipeline before, but its current key is not
    /// in the cache (an input, parameter or kind version changed).
    Stale,
    /// It was never computed for this pipeline.
    Missing,
}

impl InstanceState {
    /// The word shown in tables: `fresh`, `stale` or `missing`.
    pub fn as_str(self) -> &'static str {
        match self {
            InstanceState::Fresh => "fresh",
            InstanceState::Stale => "stale",
            InstanceState::Missing => "missing",
        }
    }

    /// Stale when the pipeline computed it before, missing otherwise.
    fn not_fresh(seen_before: bool) -> InstanceState {
        if seen_before { InstanceState::Stale } else { InstanceState::Missing }
    }
}

/// One row of `lungflow status`.
#[derive(Clone, Debug, Serialize)]
pub struct StatusRow {
    /// Stage name.
    pub stage: String,
    /// Item id, or null for stages that run once (or could not be expanded).
    pub item: Option<String>,
    /// `fresh`, `stale` or `missing`.
    pub state: InstanceState,
    /// Current key, when it can be computed.
    pub key: Option<String>,
    /// Output folder, for fresh instances.
    pub outputs: Option<String>,
    /// Why a stale or missing instance must run.
    pub reasons: Vec<String>,
}

/// Turns an inspection into status rows.
pub fn rows(p: &Pipeline, cache: &Cache, eval: &RunResult) -> Result<Vec<StatusRow>> {
    let db = StateDb::open(&cache.state_path())?;
    let last = db.last_keys(&p.id)?;
    let mut rows = Vec::with_capacity(eval.instances.len());
    for inst in &eval.instances {
        let stage = p.stages[inst.stage].name.clone();
        let last_key = last.get(&(stage.clone(), inst.item.clone().unwrap_or_default()));
        let mut row =
            StatusRow { stage, item: inst.item.clone(), state: InstanceState::Missing, key: None, outputs: None, reasons: vec![] };
        match &inst.outcome {
            Outcome::Available(prod) => {
                row.state = InstanceState::Fresh;
                row.key = Some(prod.key.clone());
                row.outputs = Some(prod.out_dir.display().to_string());
                if let Some(reason) = &prod.damaged {
                    row.state = InstanceState::Stale;
                    row.reasons.push(damaged_reason(reason));
                }
            }
            Outcome::Pending(pending) => {
                row.key = pending.key.clone();
                let damage = match pending.key.as_deref().map(|k| cache.check_entry(k)).transpose()? {
                    Some(EntryState::Damaged(reason)) => Some(reason),
                    _ => None,
                };
                if let Some(reason) = damage {
                    row.state = InstanceState::Stale;
                    row.reasons.push(damaged_reason(&reason));
                } else if let Some(lk) = last_key {
                    row.state = InstanceState::Stale;
                    match cache.manifest(lk)? {
                        Some(m) => row.reasons = differences(&m.material, pending),
                        None => row.reasons.push(format!("its last cache entry {} was removed", crate::store::keys::short(lk))),
                    }
                    if row.reasons.is_empty() {
                        row.reasons.push("its cache entry is missing".into());
                    }
                } else {
                    row.reasons.push("never computed for this pipeline".into());
                }
            }
            Outcome::Failed(e) => {
                row.state = InstanceState::not_fresh(last_key.is_some());
                row.reasons.push(e.clone());
            }
            Outcome::Skipped(why) => {
                row.state = InstanceState::not_fresh(last_key.is_some());
                row.reasons.push(why.to_string());
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
            state: InstanceState::not_fresh(seen),
            key: None,
            outputs: None,
            reasons: vec![format!("instances not known yet: {why}")],
        });
    }
    Ok(rows)
}

/// The reason a status row gives for a damaged entry.
fn damaged_reason(problem: &str) -> String {
    format!("its cache entry is damaged ({problem}); the next run moves it aside and computes it again")
}
