//! How instances end: available in the cache, pending (inspect only),
//! failed or skipped, and the result of a whole run. Every report reads these
//! types; only the executor makes them.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use serde::Serialize;

use crate::store::manifest::{FileRecord, InputRecord};

/// An instance whose outputs exist in the cache.
#[derive(Debug)]
pub struct Produced {
    /// Its key.
    pub key: String,
    /// Its outputs folder.
    pub out_dir: PathBuf,
    /// Its output files.
    pub outputs: Vec<FileRecord>,
    /// Digest over the outputs.
    pub output_digest: String,
    /// Whether this run computed it (with the seconds it took).
    pub executed: Option<f64>,
    /// (Inspect mode) why its entry is damaged: its manifest still says what
    /// it should hold, so dependents' keys are known, but the next run moves
    /// it aside and computes it again.
    pub damaged: Option<String>,
    /// Whether only the remote holds it (its record is known, its bytes are
    /// fetched when a computation needs them or they are a final result).
    pub remote_only: bool,
}

/// One input of an instance that has not been computed yet.
#[derive(Clone, Debug)]
pub enum PartialInput {
    /// Its digest is known.
    Known(InputRecord),
    /// It comes from an instance that must run first.
    Pending {
        /// Producing stage.
        stage: String,
        /// Its item.
        item: Option<String>,
    },
}

/// What is known of an instance that would have to run.
#[derive(Clone, Debug)]
pub struct Pending {
    /// Its key, when every input is known.
    pub key: Option<String>,
    /// Kind, parameters and inputs as far as known.
    pub kind: String,
    /// Kind version.
    pub kind_version: u32,
    /// Resolved parameters.
    pub params: BTreeMap<String, serde_json::Value>,
    /// Inputs as far as known.
    pub inputs: BTreeMap<String, PartialInput>,
}

/// Why an instance did not run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "why", rename_all = "snake_case")]
pub enum Skip {
    /// An instance it depends on failed or was skipped.
    Upstream {
        /// That instance, as `stage` or `stage[item]`.
        instance: String,
    },
    /// The run stopped after a failure before reaching it (no `--keep-going`).
    Stopped,
}

impl std::fmt::Display for Skip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Skip::Upstream { instance } => write!(f, "upstream {instance} did not complete"),
            Skip::Stopped => f.write_str("not started: the run stopped after a failure (use --keep-going to continue other branches)"),
        }
    }
}

/// How one instance ended.
#[derive(Clone, Debug)]
pub enum Outcome {
    /// Its outputs are in the cache.
    Available(Arc<Produced>),
    /// (Inspect mode) it would have to run.
    Pending(Box<Pending>),
    /// It ran and failed, or its inputs could not be read.
    Failed(String),
    /// It did not run.
    Skipped(Skip),
}

impl Outcome {
    /// Whether dependents cannot run (it failed or was skipped).
    pub fn blocks_dependents(&self) -> bool {
        matches!(self, Outcome::Failed(_) | Outcome::Skipped(_))
    }
}

/// One instance and its outcome.
#[derive(Clone, Debug)]
pub struct InstanceResult {
    /// Stage index.
    pub stage: usize,
    /// Item id for per-item stages.
    pub item: Option<String>,
    /// How it ended.
    pub outcome: Outcome,
}

/// The result of running (or inspecting) a pipeline.
pub struct RunResult {
    /// Every instance, in the order they were created (stage order, then items).
    pub instances: Vec<InstanceResult>,
    /// Stages that could not be expanded into instances, with the reason.
    pub unexpanded: Vec<(usize, String)>,
    /// Wall time in seconds.
    pub seconds: f64,
}

impl RunResult {
    /// The keys of every instance whose outputs are in the cache.
    pub fn reached_keys(&self) -> Vec<String> {
        self.instances
            .iter()
            .filter_map(|i| match &i.outcome {
                Outcome::Available(p) if !p.remote_only => Some(p.key.clone()),
                _ => None,
            })
            .collect()
    }
}
