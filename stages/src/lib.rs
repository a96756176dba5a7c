//! lungflow's stage kinds: *how* each step computes its outputs.
//!
//! A stage kind is a pure function of its parameters and its input files: it
//! reads the paths it is given, writes files under one output directory, and
//! knows nothing of caches, keys, scheduling or other stages. The engine (the
//! `lungflow` crate) decides *when* a kind runs; this crate is what it runs.
//! It is not a place for orchestration logic.
//!
//! The modules, and the one direction their imports go:
//!
//! ```text
//! kinds ──> formats    the files kinds write and read (one file per format)
//!   │  ──> models     GMCAE, classifier, symmetries, backends (no files)
//!   │        └──> lungflow-kernels (its own crate): convolutions, ReLU and
//!   │             distances on float slices (no burn), through models::kernels
//!   │  ──> dicom      reading and writing DICOM series
//!   │  ──> phantom    synthetic chests
//!   │  ──> segment    lung segmentation
//!   └───> plot, params, contract
//! ```
//!
//! `kinds` holds one file per kind, named like the kind; no kind imports
//! another, and `formats` and `models` never import `kinds`.

#![warn(missing_docs)]
// No unsafe code but a few libc calls, each allowed on its own item
// (`#[allow(unsafe_code)]`, with a SAFETY comment at the call). The
// kernels' SIMD code is unsafe, and lives in the lungflow-kernels crate.
#![deny(unsafe_code)]

pub mod contract;
pub mod dicom;
pub mod formats;
pub mod kinds;
pub mod limits;
pub mod logs;
pub mod models;
pub mod params;
pub mod phantom;
pub mod plot;
pub mod process_groups;
pub mod segment;
pub mod supervised;
pub mod watchdog;

pub use contract::{Input, ParamRange, ParamSpec, ParamType, Producer, RowProvenance, RunContext, StageError, StageKind, StageShape};
pub use kinds::{all_kinds, find_kind};

#[cfg(test)]
mod tests {
    /// The file names other programs (the engine, users' scripts) read are
    /// part of the on-disk format: renaming one is a format change.
    #[test]
    fn the_shared_file_names_are_stable() {
        use crate::formats::sources::SOURCES_FILE;
        use crate::formats::training::{METRICS_JSON, METRICS_TABLE, SPLIT_FILE};
        use crate::formats::volume::VOLUME_FILE;
        use crate::plot::PALETTE;
        assert_eq!(
            [METRICS_JSON, METRICS_TABLE, SPLIT_FILE, SOURCES_FILE, VOLUME_FILE],
            ["metrics.json", "metrics.parquet", "split.json", "sources.parquet", "volume.arrow"]
        );
        assert_eq!(PALETTE.len(), 10);
        assert_eq!(crate::find_kind("evaluate").map(|k| k.name()), Some("evaluate"));
        assert_eq!(crate::all_kinds().len(), 14);
    }
}
