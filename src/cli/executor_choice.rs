//! `--executor local|slurm`: which [`Executor`] a run computes missing
//! instances with, and how many it keeps in flight by default.

use std::path::Path;
use std::sync::Arc;

use crate::cli::args::{EXIT_FAILED, Exit, default_jobs};
use crate::pipeline::model::Pipeline;
use crate::run::executor::Executor;
use crate::run::local::Local;
use crate::run::options::Mode;
use crate::slurm::backend::SlurmBackend;
use crate::store::cache::Cache;

/// Where missing instances are computed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ExecutorChoice {
    /// On this machine: each instance of a kind that computes in its own
    /// code in a child process, so that one that dies cannot end the run.
    #[default]
    Local,
    /// As Slurm jobs (the pipeline's `executor: slurm:` block gives the
    /// defaults); stages marked `local: true` still run here.
    Slurm,
}

impl ExecutorChoice {
    /// Instances in flight when `--jobs` is not given: the cores here, or
    /// the Slurm settings' `max_jobs`.
    pub fn default_jobs(self, p: &Pipeline) -> usize {
        match self {
            ExecutorChoice::Local => default_jobs(),
            ExecutorChoice::Slurm => p.slurm.max_jobs,
        }
    }

    /// The executor for a run in `mode`: only executing on Slurm connects
    /// to the cluster (and cancels its jobs on Ctrl-C); inspecting computes
    /// nothing, so it never needs one.
    pub fn open(self, mode: Mode, p: &Pipeline, cache: &Cache, work_dir: &Path) -> Result<Arc<dyn Executor>, Exit> {
        match (self, mode) {
            (ExecutorChoice::Slurm, Mode::Execute) => {
                let slurm = SlurmBackend::connect(p.slurm.clone(), cache, work_dir).map_err(|e| Exit(EXIT_FAILED, e))?;
                crate::run::interrupt::on_stop(crate::slurm::cancel::cancel_all);
                Ok(slurm)
            }
            (ExecutorChoice::Local, Mode::Execute) => {
                let worker = std::env::current_exe().map_err(|e| Exit(EXIT_FAILED, format!("cannot find the lungflow binary: {e}")))?;
                Ok(Arc::new(Local::isolated(worker)))
            }
            _ => Ok(Arc::new(Local::IN_PROCESS)),
        }
    }
}
