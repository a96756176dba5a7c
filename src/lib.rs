//! lungflow: declarative, content-keyed dataflow pipelines for lung-CT
//! machine learning.
//!
//! This crate decides *when* things run: it reads pipeline files ([`spec`]),
//! orders stages ([`graph`]), keys every instance by content ([`keys`],
//! [`digest`]), keeps results in a content-addressed cache ([`cache`],
//! [`manifest`], [`state`]) and runs what is missing ([`evaluate`]). *How* each
//! stage computes lives in the `lungflow-stages` crate; this crate never does
//! domain work itself.

pub mod cache;
pub mod cli;
pub mod digest;
pub mod evaluate;
pub mod explain;
pub mod graph;
pub mod keys;
pub mod lineage;
pub(crate) mod lineage_cli;
pub mod lineage_render;
pub mod lineage_table;
pub mod lineage_verify;
pub mod maintenance;
pub mod manifest;
pub mod metrics;
pub mod progress;
pub mod spec;
pub mod state;
pub mod status;
pub mod sweep;
pub(crate) mod sweep_cli;
pub mod sweep_curves;
pub mod sweep_results;
pub mod sweep_table;
