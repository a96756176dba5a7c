//! The Slurm executor: stage instances run as Slurm jobs on a cluster that
//! shares the project's filesystem, while this process stays the only one
//! that writes the cache's entries and state store.
//!
//! - [`backend`]: what the engine calls (check the cluster, adopt a task a
//!   killed run left, run one staged instance and wait for its end);
//! - [`monitor`]: the thread that batches submissions into job arrays and
//!   follows tasks by their exit files, asking Slurm only about the rest;
//! - [`submit`]: one job array's folder, script and `sbatch` call, retried;
//! - [`task`]: the task and exit files, and `lungflow slurm-task`, the
//!   worker that runs inside each job;
//! - [`ending`]: what to do about a job that ended without an exit file;
//! - [`cancel`]: the jobs in flight, cancelled on Ctrl-C;
//! - [`client`]: calling Slurm's commands, timed and counted;
//! - [`resources`], [`settings`]: a stage's `resources:` and the pipeline's
//!   `executor: slurm:` block;
//! - [`sbatch`], [`squeue`], [`scontrol`]: Slurm's arguments and outputs,
//!   as pure functions.

pub mod backend;
pub mod cancel;
pub mod client;
pub mod ending;
pub mod monitor;
pub mod resources;
pub mod sbatch;
pub mod scontrol;
pub mod settings;
pub mod squeue;
pub mod submit;
pub mod task;
