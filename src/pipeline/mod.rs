//! The pipeline model: what a pipeline file says, checked against the stage
//! kinds. Loading ([`load`]), the checked types ([`model`]), the stage graph
//! ([`graph`]) and sweeps folded into one graph ([`sweep`]).
//!
//! Arrows: `load` -> `check` -> `raw`, `graph`, `model`; `sweep` -> `graph`,
//! `model`. Nothing here runs anything or touches the cache.

pub(crate) mod check;
pub mod graph;
pub mod load;
pub mod model;
pub(crate) mod raw;
pub mod sweep;
