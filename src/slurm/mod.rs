//! The Slurm executor: stage instances run as Slurm jobs on a cluster that
//! shares the project's filesystem, while this process stays the only one
//! that writes the cache's entries and state store.
//!
//! - [`backend`]: the engine's [`crate::run::executor::Executor`] for Slurm
//!   (check the cluster, adopt a task a killed run left, run one staged
//!   instance and wait for its end);
//! - [`monitor`]: the thread that batches submissions into job arrays and
//!   follows tasks by their exit files, asking Slurm only about the rest;
//! - [`submit`]: one job array's folder, script and `sbatch` call, retried;
//! - the task and exit files that `lungflow slurm-task`, the worker inside
//!   each job, reads and writes are the engine's
//!   ([`crate::run::task_file`]): a local run's child processes use them too;
//! - [`ending`]: what to do about a job that ended without an exit file;
//! - [`cancel`]: the jobs in flight, cancelled on Ctrl-C;
//! - [`client`]: calling Slurm's commands, timed and counted;
//! - what a stage asks for and the pipeline's `executor: slurm:` block are
//!   part of the checked pipeline ([`crate::pipeline::resources`],
//!   [`crate::pipeline::slurm_settings`]);
//! - [`sbatch`], [`squeue`], [`scontrol`]: Slurm's arguments and outputs,
//!   as pure functions.

pub mod backend;
pub mod cancel;
pub mod client;
pub mod ending;
pub mod monitor;
pub mod sbatch;
pub mod scontrol;
pub mod squeue;
pub mod submit;
