//! What a run did, as `lungflow run` prints it and as its `--json` object:
//! every instance sorted by how it ended, with its key, error or reason.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::pipeline::model::{Pipeline, instance_label};
use crate::run::outcome::{Outcome, RunResult};

/// One instance in a run report.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct InstanceRow {
    /// Stage name (`STAGE@VARIANT` for a swept copy).
    pub stage: String,
    /// Item id; null for a stage that runs once or could not be expanded.
    pub item: Option<String>,
    /// Its cache key (executed, cached and would-run instances whose key is known).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Why it failed (failed instances).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Why it did not run (skipped instances).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl InstanceRow {
    /// `stage` or `stage[item]`.
    pub fn label(&self) -> String {
        instance_label(&self.stage, self.item.as_deref())
    }
}

/// The `--json` object of `lungflow run` and `lungflow sweep run`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct RunReport {
    /// Instances this run computed.
    pub executed: Vec<InstanceRow>,
    /// Instances found in the cache.
    pub cached: Vec<InstanceRow>,
    /// Instances that failed.
    pub failed: Vec<InstanceRow>,
    /// Instances (and stages not expanded into instances) that did not run.
    pub skipped: Vec<InstanceRow>,
    /// With `--dry-run`: instances that would run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub would_run: Option<Vec<InstanceRow>>,
    /// Wall time in seconds.
    pub seconds: f64,
    /// The pipeline's results folder (links to every stage's outputs).
    pub results: String,
    /// `sweep run` only: the sweep table, one object per variant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variants: Option<serde_json::Value>,
    /// With a remote: what moved to and from it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote: Option<crate::store::remote::session::RemoteStats>,
}

impl RunReport {
    /// Sorts a run's instances by how they ended.
    pub fn new(p: &Pipeline, run: &RunResult, results: &Path, dry_run: bool) -> RunReport {
        let mut r = RunReport { seconds: run.seconds, results: results.display().to_string(), ..RunReport::default() };
        let mut would_run = Vec::new();
        for inst in &run.instances {
            let mut row =
                InstanceRow { stage: p.stages[inst.stage].name.clone(), item: inst.item.clone(), key: None, error: None, reason: None };
            match &inst.outcome {
                Outcome::Available(prod) => {
                    row.key = Some(prod.key.clone());
                    match (&prod.executed, &prod.damaged) {
                        (Some(_), _) => r.executed.push(row),
                        // (dry run) the next run recomputes a damaged entry.
                        (None, Some(_)) => would_run.push(row),
                        (None, None) => r.cached.push(row),
                    }
                }
                Outcome::Pending(pending) => {
                    row.key = pending.key.clone();
                    would_run.push(row);
                }
                Outcome::Failed(e) => {
                    row.error = Some(e.clone());
                    r.failed.push(row);
                }
                Outcome::Skipped(why) => {
                    row.reason = Some(why.to_string());
                    r.skipped.push(row);
                }
            }
        }
        for (s, why) in &run.unexpanded {
            let reason = Some(why.clone());
            r.skipped.push(InstanceRow { stage: p.stages[*s].name.clone(), item: None, key: None, error: None, reason });
        }
        if dry_run {
            r.would_run = Some(would_run);
        }
        r
    }

    /// Whether every instance is available (nothing failed or was skipped).
    pub fn complete(&self) -> bool {
        self.failed.is_empty() && self.skipped.is_empty()
    }

    /// `FAILED stage[item]: error`, one per failed instance.
    pub fn failure_lines(&self) -> Vec<String> {
        self.failed.iter().map(|r| format!("FAILED {}: {}", r.label(), r.error.as_deref().unwrap_or(""))).collect()
    }

    /// The last line of a run: `executed N, cached N, failed N, skipped N (S s)`,
    /// or for a dry run `would run N, fresh N, failed N (S s)`.
    pub fn summary(&self) -> String {
        match &self.would_run {
            Some(would) => {
                format!("would run {}, fresh {}, failed {} ({:.2}s)", would.len(), self.cached.len(), self.failed.len(), self.seconds)
            }
            None => format!(
                "executed {}, cached {}, failed {}, skipped {} ({:.2}s)",
                self.executed.len(),
                self.cached.len(),
                self.failed.len(),
                self.skipped.len(),
                self.seconds
            ),
        }
    }
}
