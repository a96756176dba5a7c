//! Running a pipeline: the scheduler expands stages into instances
//! ([`scheduler`]), the driver runs workers over them ([`driver`]), each
//! instance is resolved to a key and looked up or computed ([`instance`])
//! through an [`executor::Executor`] (here, in a child process per
//! instance ([`child`]) or in this one ([`in_process`]), or on Slurm through
//! `crate::slurm`, which implements the same trait; [`task_file`] is what a
//! computation in another process reads and writes), and the
//! outcomes ([`outcome`]) are what every report reads.
//! [`options`] say how; [`progress`] draws bars while it runs; [`usage`]
//! measures what each instance cost.

pub mod child;
pub mod driver;
pub mod executor;
pub mod in_process;
pub mod instance;
pub mod interrupt;
pub mod local;
pub mod options;
pub mod outcome;
pub mod progress;
pub mod remote;
pub mod scheduler;
pub mod task_file;
pub mod usage;
