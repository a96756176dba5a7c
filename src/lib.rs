//! lungflow: declarative, content-keyed dataflow pipelines for lung-CT
//! machine learning.
//!
//! This crate decides *when* things run. It is layered, each layer using only
//! those below it:
//!
//! - [`cli`]: one file per verb.
//! - [`report`], [`lineage`], [`maintenance`]: what a run or the cache says.
//! - [`run`]: scheduling, executing and the outcome of every instance.
//! - [`pipeline`] (what a pipeline file says) and [`store`] (the
//!   content-addressed cache, keys, manifests, the state database).
//!
//! *How* each stage computes lives in the `lungflow-stages` crate, reached
//! only through its `StageKind` contract; this crate never does domain work.
#![warn(missing_docs)]
// No unsafe code but a few libc calls and one `set_var`, each allowed on its
// own item (`#[allow(unsafe_code)]`, with a SAFETY comment at the call).
#![deny(unsafe_code)]

pub mod cli;
pub mod lineage;
pub mod maintenance;
pub mod pipeline;
pub mod report;
pub mod run;
pub mod slurm;
pub mod store;
