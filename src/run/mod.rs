//! Running a pipeline: the scheduler expands stages into instances
//! ([`scheduler`]), the driver runs workers over them ([`driver`]), each
//! instance is resolved to a key and looked up or computed ([`instance`])
//! through an [`executor::Executor`] (here through [`in_process`], or on
//! Slurm through `crate::slurm`, which implements the same trait), and the
//! outcomes ([`outcome`]) are what every report reads.
//! [`options`] say how; [`progress`] draws bars while it runs; [`usage`]
//! measures what each instance cost.

pub mod driver;
pub mod executor;
pub mod in_process;
pub mod instance;
pub mod interrupt;
pub mod options;
pub mod outcome;
pub mod progress;
pub mod scheduler;
pub mod usage;
