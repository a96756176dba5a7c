//! `verify`: rehashes every entry against its manifest, checks the state
//! store and the lineage table, and with `repair` moves damaged entries to
//! the quarantine (the next run computes them again), sets a corrupt state
//! store aside and rebuilds an incomplete lineage table.
//!
//! A lineage table that is only behind is not damage: entries that a run
//! published and has not recorded yet (it is still running, or was killed
//! or interrupted first; `store::unrecorded`) give a warning, and the next
//! run records them (`--repair` records those of ended runs at once).

use anyhow::Result;
use rayon::prelude::*;
use serde::Serialize;

use crate::store::cache::Cache;
use crate::store::state::StateDb;

/// One entry that failed verification.
#[derive(Debug, Serialize)]
pub struct VerifyProblem {
    /// The entry's key.
    pub key: String,
    /// What is wrong.
    pub problem: String,
    /// What `--repair` did about it (`None` without `--repair`).
    pub repaired: Option<String>,
}

/// A problem with the state store or the lineage table.
#[derive(Debug, Serialize)]
pub struct StoreProblem {
    /// `state` or `lineage`.
    pub part: &'static str,
    /// What is wrong.
    pub problem: String,
    /// What `--repair` did about it.
    pub repaired: Option<String>,
}

/// What `verify` found (and did).
#[derive(Debug, Serialize)]
pub struct VerifyReport {
    /// Entries rehashed.
    pub checked: usize,
    /// Damaged entries.
    pub problems: Vec<VerifyProblem>,
    /// Problems of the state store and the lineage table.
    pub store_problems: Vec<StoreProblem>,
    /// What is not damage but worth saying: entries the lineage table does
    /// not hold yet because their run has not recorded them.
    pub warnings: Vec<String>,
}

impl VerifyReport {
    /// Whether anything was found damaged.
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty() && self.store_problems.is_empty()
    }
}

/// Checks (and with `repair`, mends) the whole cache.
pub fn verify(cache: &Cache, repair: bool) -> Result<VerifyReport> {
    let keys = cache.keys()?;
    let mut problems: Vec<VerifyProblem> = keys
        .par_iter()
        .filter_map(|k| cache.verify_entry(k).map(|problem| VerifyProblem { key: k.clone(), problem, repaired: None }))
        .collect();
    if repair {
        for p in &mut problems {
            p.repaired = Some(match cache.try_lock(&p.key)? {
                None => "busy: a run is computing it; left alone".into(),
                Some(_lock) => match cache.quarantine(&p.key, &p.problem) {
                    Ok(to) => format!("moved to {}; the next run computes it again", to.display()),
                    Err(e) => format!("not moved: {e:#}"),
                },
            });
        }
    }
    let mut store_problems = Vec::new();
    let state = cache.state_path();
    if let Some(problem) = StateDb::check(&state) {
        let repaired = repair.then(|| match StateDb::set_aside(&state) {
            Ok(to) => format!("moved to {}; the next run starts a new one (only the stat cache and last keys are lost)", to.display()),
            Err(e) => format!("not moved: {e:#}"),
        });
        store_problems.push(StoreProblem { part: "state", problem, repaired });
    }
    // After the entries are repaired, so the rebuilt table leaves them out.
    let mut lineage = crate::lineage::table::check(cache)?;
    if !lineage.problems.is_empty() {
        let repaired = repair.then(|| match crate::lineage::table::rebuild(cache) {
            Ok(part) => format!("rebuilt from the manifests as {}", part.display()),
            Err(e) => format!("not rebuilt: {e:#}"),
        });
        store_problems.push(StoreProblem { part: "lineage", problem: lineage.problems.join("; "), repaired });
    } else if lineage.unrecorded > 0 && repair {
        // Those of ended runs; a running one records its own.
        match crate::lineage::table::record_run(cache, &[]) {
            Ok(_) => lineage = crate::lineage::table::check(cache)?,
            Err(e) => store_problems.push(StoreProblem { part: "lineage", problem: format!("cannot catch up: {e:#}"), repaired: None }),
        }
    }
    let warnings = unrecorded_warning(lineage.unrecorded, lineage.entries).into_iter().collect();
    Ok(VerifyReport { checked: keys.len(), problems, store_problems, warnings })
}

/// The warning for entries a run has not recorded in the lineage table yet.
fn unrecorded_warning(unrecorded: usize, entries: usize) -> Option<String> {
    (unrecorded > 0).then(|| {
        format!(
            "lineage: {unrecorded} of {entries} entries are not in the lineage table yet: the run that published them \
             was stopped (or is still running) before recording them; the next run records them"
        )
    })
}
