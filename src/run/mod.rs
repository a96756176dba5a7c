//! Running a pipeline: the scheduler expands stages into instances
//! ([`scheduler`]), the executor drives workers over them ([`executor`]),
//! each instance is resolved to a key and looked up or computed
//! ([`instance`]: here through [`in_process`], or on Slurm through
//! [`crate::slurm`]), and the outcomes ([`outcome`]) are what every report reads.
//! [`options`] say how; [`progress`] draws bars while it runs; [`usage`]
//! measures what each instance cost.

pub mod executor;
pub mod in_process;
pub mod instance;
pub mod interrupt;
pub mod options;
pub mod outcome;
pub mod progress;
pub mod scheduler;
pub mod usage;
