//! The seam between the engine and the places instances compute. The
//! engine keeps everything else (keys, the cache lookup, the key's lock,
//! staging inputs, publishing, lineage); an [`Executor`] only turns one
//! staged instance into an [`ExitRecord`]. `Local` runs the kind on this
//! machine, in a child process or in this one (`crate::run::local`);
//! `crate::slurm` runs it as a Slurm task.

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::pipeline::resources::Resources;
use crate::run::in_process::{KindCall, Ran};
use crate::run::task_file::ExitFile;
use crate::store::manifest::{FileRecord, Usage};

/// A computation of a key that a killed run left running elsewhere and
/// that may still deliver.
#[derive(Clone, Debug)]
pub struct Adopted {
    /// Its staging folder.
    pub staging: PathBuf,
    /// The executor's id for it (a Slurm job id).
    pub id: String,
    /// How messages name it (`Slurm job 123_4`).
    pub name: String,
    /// Its log.
    pub log: PathBuf,
}

/// What an instance's computation is: a fresh one with its inputs staged,
/// or one a killed run left.
pub enum Work<'a> {
    /// Run the kind on inputs staged in the instance's staging folder.
    Fresh(KindCall<'a>),
    /// Wait for an adopted computation.
    Adopted(Adopted),
}

/// One staged instance handed to an executor.
pub struct Instance<'a> {
    /// Its cache key.
    pub key: &'a str,
    /// `stage[item]`, for messages.
    pub label: &'a str,
    /// The stage's name: executors may batch the instances of one stage.
    pub stage: &'a str,
    /// What the stage asks an executor for.
    pub resources: &'a Resources,
    /// The staging folder: the kind writes `out/`, its log and timings here.
    pub staging: &'a Path,
    /// What to compute.
    pub work: Work<'a>,
}

/// How a computation ended, wherever it ran.
#[derive(Clone, Debug)]
pub struct ExitRecord {
    /// Start time, RFC 3339 UTC.
    pub started: String,
    /// Wall seconds.
    pub seconds: f64,
    /// The failure's message; `None` when the kind succeeded.
    pub failure: Option<String>,
    /// The output files, when the executor hashed them already.
    pub outputs: Option<Vec<FileRecord>>,
    /// What it cost, when known.
    pub usage: Option<Usage>,
    /// The machine it ran on, when not this one.
    pub host: Option<String>,
}

impl ExitRecord {
    /// A computation that never started, for `message`.
    pub fn not_run(message: String) -> ExitRecord {
        ExitRecord {
            started: crate::store::cache::now_rfc3339(),
            seconds: 0.0,
            failure: Some(message),
            outputs: None,
            usage: None,
            host: None,
        }
    }
}

impl From<ExitFile> for ExitRecord {
    fn from(exit: ExitFile) -> ExitRecord {
        ExitRecord {
            started: exit.started,
            seconds: exit.seconds,
            failure: exit.error,
            outputs: Some(exit.outputs),
            usage: Some(Usage { peak_rss_kib: exit.peak_rss_kib, cpu_seconds: exit.cpu_seconds, slurm_job: exit.job }),
            host: Some(exit.host),
        }
    }
}

impl From<Ran> for ExitRecord {
    fn from(ran: Ran) -> ExitRecord {
        ExitRecord { started: ran.started, seconds: ran.seconds, failure: ran.failure, outputs: None, usage: Some(ran.usage), host: None }
    }
}

/// Where missing instances are computed.
pub trait Executor: Sync {
    /// Whether instances run on this machine, in this process or its
    /// children (a kind that wants every core then takes every worker slot).
    fn on_this_machine(&self) -> bool;

    /// The executor for the stages marked `local: true`, which always
    /// compute on this machine.
    fn for_local_stages(&self) -> &dyn Executor;

    /// The computation of `key` that a killed run left, if it may still
    /// deliver. The engine then waits for it instead of staging inputs.
    fn adopt(&self, _key: &str) -> Result<Option<Adopted>> {
        Ok(None)
    }

    /// Computes one staged instance and says how it ended; blocks until then.
    fn compute(&self, instance: Instance<'_>) -> ExitRecord;

    /// Files of its own the executor leaves in a staging folder, removed
    /// before the entry is published or kept as a failure.
    fn scratch_files(&self) -> &'static [&'static str] {
        &[]
    }

    /// Forgets `key` once its result is published or has failed.
    fn forget(&self, _key: &str) {}

    /// Called once when the run ends.
    fn finish(&self) {}
}
