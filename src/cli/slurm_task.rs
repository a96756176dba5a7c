//! `lungflow slurm-task TASKS INDEX` (hidden): the worker each Slurm job
//! runs. It reads line INDEX of the task list the orchestrator wrote, runs
//! that staging folder's `task.json` and writes its `exit.json`.

use std::path::PathBuf;

use crate::cli::args::Exit;

/// Arguments of `lungflow slurm-task`.
#[derive(clap::Args, Debug)]
pub struct SlurmTaskArgs {
    /// The job's task list: one staging folder per line.
    tasks: PathBuf,
    /// The line to run (Slurm's array task id; 0 for a single job).
    index: usize,
}

/// Runs the task; exit code 0 once its exit file is written.
pub fn slurm_task(args: SlurmTaskArgs) -> Result<i32, Exit> {
    Ok(crate::slurm::task::run_task(&args.tasks, args.index))
}
