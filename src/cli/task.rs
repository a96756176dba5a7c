//! The workers that compute one staged instance in a process of their own
//! (both hidden): `lungflow slurm-task TASKS INDEX`, which each Slurm job
//! runs (line INDEX of the task list the orchestrator wrote names the staging
//! folder), and `lungflow task STAGING`, which a local run starts for each
//! instance ([`crate::run::child`]). Either runs the staging folder's
//! `task.json` in this process and writes its `exit.json`.

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::cli::args::Exit;
use crate::run::in_process::{KindCall, run_in};
use crate::run::task_file::{ExitFile, TaskFile};
use crate::run::usage::rusage;
use crate::slurm::submit::staging_of;
use crate::store::cache::now_rfc3339;
use crate::store::digest::hash_tree;
use crate::store::keys::tree_digest;

/// Arguments of `lungflow slurm-task`.
#[derive(clap::Args, Debug)]
pub struct SlurmTaskArgs {
    /// The job's task list: one staging folder per line.
    tasks: PathBuf,
    /// The line to run (Slurm's array task id; 0 for a single job).
    index: usize,
}

/// Arguments of `lungflow task`.
#[derive(clap::Args, Debug)]
pub struct TaskArgs {
    /// The instance's staging folder, holding its task file.
    staging: PathBuf,
}

/// Runs the Slurm task; exit code 0 once its exit file is written.
pub fn slurm_task(args: SlurmTaskArgs) -> Result<i32, Exit> {
    Ok(run_task(staging_of(&args.tasks, args.index)))
}

/// Runs the task in a staging folder; exit code 0 once its exit file is written.
pub fn task(args: TaskArgs) -> Result<i32, Exit> {
    Ok(run_task(Ok(args.staging)))
}

/// Runs the task in `staging` and writes its exit file. Returns the
/// process's exit code: 0 whenever an exit file was written (a failed kind
/// is reported there), 1 when even that was impossible.
fn run_task(staging: Result<PathBuf>) -> i32 {
    let written = staging.and_then(|staging| {
        let exit = run_staged(&staging)
            .unwrap_or_else(|e| ExitFile::new(Some(format!("{e:#}")), now_rfc3339(), 0.0, Vec::new(), String::new(), usage()));
        exit.write(&staging)
    });
    match written {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e:#}");
            1
        }
    }
}

/// Reads the task file in `staging`, runs the kind, hashes its outputs.
fn run_staged(staging: &Path) -> Result<ExitFile> {
    let task = TaskFile::read(staging)?;
    let kind = task.kind()?;
    let inputs = task.kind_inputs();
    let call = KindCall {
        kind,
        params: &task.params,
        inputs: &inputs,
        item: task.item.as_deref(),
        work_dir: &task.work_dir,
        threads: task.threads.max(1),
        label: Some(&task.label),
    };
    let ran = run_in(&call, staging);
    let (outputs, output_digest) = match &ran.failure {
        None => {
            let outputs = hash_tree(&staging.join("out"))?;
            let digest = tree_digest(&outputs);
            (outputs, digest)
        }
        Some(_) => (Vec::new(), String::new()),
    };
    Ok(ExitFile::new(ran.failure, ran.started, ran.seconds, outputs, output_digest, usage()))
}

/// Peak RSS (KiB) and CPU seconds of this process and its waited-for
/// children: the task is alone in its process, so both are its own.
fn usage() -> (u64, f64) {
    let (own_cpu, own_rss) = rusage(libc::RUSAGE_SELF);
    let (child_cpu, child_rss) = rusage(libc::RUSAGE_CHILDREN);
    (own_rss.max(child_rss), own_cpu + child_cpu)
}
