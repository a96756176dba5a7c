//! What passes between the engine and a process that computes one staged
//! instance elsewhere (a Slurm task, or a local run's child process), as
//! files in the instance's staging folder:
//!
//! - `task.json` ([`TaskFile`]), written by the engine before it starts the
//!   process: the kind, its parameters, the staged inputs, the item;
//! - `exit.json` ([`ExitFile`]), written by the process when the kind has
//!   finished, atomically (a temporary file renamed into place): success or
//!   the error, seconds, peak RSS, CPU time and the output files' digests.
//!
//! The exit file is the truth about a computation; how the process ended is
//! consulted only for one that ends without one. The process never touches
//! the cache's entries, locks or state store: the engine publishes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use lungflow_stages::{Input, Producer, StageKind, find_kind};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::run::in_process::KindCall;
use crate::store::bounded::{JSON_CAP, read_capped};
use crate::store::cache::{host_name, write_atomic};
use crate::store::manifest::FileRecord;

/// The orchestrator's description of one task.
pub const TASK_FILE: &str = "task.json";
/// The task's report.
pub const EXIT_FILE: &str = "exit.json";

/// One staged input as the task sees it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TaskInput {
    /// The file or folder.
    pub path: PathBuf,
    /// The producing entries: (item, key).
    pub producers: Vec<(Option<String>, String)>,
}

/// What a task runs.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TaskFile {
    /// `stage[item]`, for messages.
    pub label: String,
    /// The stage kind's name.
    pub kind: String,
    /// The kind's version the key was computed with; a task whose binary
    /// has another refuses to run.
    pub kind_version: u32,
    /// Resolved parameters.
    pub params: BTreeMap<String, Value>,
    /// The item, for per-item stages.
    pub item: Option<String>,
    /// Inputs by name.
    pub inputs: BTreeMap<String, TaskInput>,
    /// Where relative paths resolve.
    pub work_dir: PathBuf,
    /// Threads the kind may use (the CPUs the job asked for).
    pub threads: usize,
}

impl TaskFile {
    /// The task file of `call`, whose inputs the orchestrator has staged.
    pub fn of(call: &KindCall<'_>) -> TaskFile {
        let inputs = call
            .inputs
            .iter()
            .map(|(name, i)| {
                let producers = i.producers.iter().map(|p| (p.item.clone(), p.key.clone())).collect();
                (name.clone(), TaskInput { path: i.path.clone(), producers })
            })
            .collect();
        TaskFile {
            label: call.label.unwrap_or(call.kind.name()).to_owned(),
            kind: call.kind.name().to_owned(),
            kind_version: call.kind.version(),
            params: call.params.clone(),
            item: call.item.map(str::to_owned),
            inputs,
            work_dir: call.work_dir.to_path_buf(),
            threads: call.threads,
        }
    }

    /// Reads the task file in `staging`.
    pub fn read(staging: &Path) -> Result<TaskFile> {
        let path = staging.join(TASK_FILE);
        let bytes = read_capped(&path, JSON_CAP).with_context(|| format!("cannot read {}", path.display()))?;
        serde_json::from_slice(&bytes).with_context(|| format!("unreadable task file {}", path.display()))
    }

    /// The stage kind it names, checked to be the version the key was computed with.
    pub fn kind(&self) -> Result<&'static dyn StageKind> {
        let kind = find_kind(&self.kind)
            .with_context(|| format!("this lungflow has no stage kind {:?}: is every node running the same binary?", self.kind))?;
        if kind.version() != self.kind_version {
            anyhow::bail!(
                "stage kind {} is version {} here but {} in the orchestrator: every node must run the same lungflow binary",
                self.kind,
                kind.version(),
                self.kind_version
            );
        }
        Ok(kind)
    }

    /// Its inputs as the stage kind sees them.
    pub fn kind_inputs(&self) -> BTreeMap<String, Input> {
        self.inputs
            .iter()
            .map(|(name, i)| {
                let producers = i.producers.iter().map(|(item, key)| Producer { item: item.clone(), key: key.clone() }).collect();
                (name.clone(), Input { path: i.path.clone(), producers })
            })
            .collect()
    }

    /// Writes it into `staging`.
    pub fn write(&self, staging: &Path) -> Result<()> {
        write_atomic(&staging.join(TASK_FILE), &serde_json::to_vec_pretty(self)?)
    }
}

/// A task's report.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ExitFile {
    /// The kind's error; `None` on success.
    pub error: Option<String>,
    /// Start time, RFC 3339 UTC.
    pub started: String,
    /// Wall seconds of the kind.
    pub seconds: f64,
    /// Output files, sorted by path (empty after a failure).
    pub outputs: Vec<FileRecord>,
    /// Tree digest of the outputs.
    pub output_digest: String,
    /// Peak resident memory of the task and its children, KiB.
    pub peak_rss_kib: u64,
    /// User plus system CPU seconds of the task and its children.
    pub cpu_seconds: f64,
    /// The node it ran on.
    pub host: String,
    /// Its Slurm job id (`123_4`, or `123` for a single job), from the
    /// environment Slurm gives it.
    pub job: Option<String>,
}

impl ExitFile {
    /// The exit file in `staging`, if the task has written it.
    pub fn read(staging: &Path) -> Result<Option<ExitFile>> {
        let path = staging.join(EXIT_FILE);
        match read_capped(&path, JSON_CAP) {
            Ok(bytes) => serde_json::from_slice(&bytes).map(Some).with_context(|| format!("unreadable exit file {}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
    }
}

impl ExitFile {
    /// The exit file of a task that ran here, with this process's usage.
    pub fn new(
        error: Option<String>,
        started: String,
        seconds: f64,
        outputs: Vec<FileRecord>,
        output_digest: String,
        usage: (u64, f64),
    ) -> ExitFile {
        let (peak_rss_kib, cpu_seconds) = usage;
        ExitFile { error, started, seconds, outputs, output_digest, peak_rss_kib, cpu_seconds, host: host_name(), job: job_id() }
    }

    /// Writes it into `staging`, atomically.
    pub fn write(&self, staging: &Path) -> Result<()> {
        write_atomic(&staging.join(EXIT_FILE), &serde_json::to_vec_pretty(self)?)
    }
}

/// This task's job id as Slurm's environment gives it.
fn job_id() -> Option<String> {
    let var = |name| std::env::var(name).ok().filter(|v: &String| !v.is_empty());
    match (var("SLURM_ARRAY_JOB_ID"), var("SLURM_ARRAY_TASK_ID")) {
        (Some(array), Some(task)) => Some(format!("{array}_{task}")),
        _ => var("SLURM_JOB_ID"),
    }
}
