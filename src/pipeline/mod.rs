//! The pipeline model: what a pipeline file says, checked against the stage
//! kinds. Loading ([`load`]), the checked types ([`model`]), the stage graph
//! ([`graph`]) and sweeps folded into one graph ([`sweep`]); what a stage
//! asks an executor for ([`resources`]) and the pipeline's
//! `executor: slurm:` block ([`slurm_settings`]); `${NAME}` variables (`vars`).
//!
//! Arrows: `load` -> `check` -> `raw`, `graph`, `model`, `vars`; `sweep` -> `graph`,
//! `model`. Nothing here runs anything or touches the cache.

pub(crate) mod check;
pub mod graph;
pub mod load;
pub mod model;
pub(crate) mod raw;
pub mod resources;
pub mod slurm_settings;
pub mod sweep;
pub(crate) mod vars;
