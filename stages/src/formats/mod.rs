//! The files kinds write and read, one module per format: each owns its file
//! names and its reader and writer, so that no file name is spelled twice.
//!
//! Tables are Parquet ([`table`]); volumes, masks and feature maps are Arrow
//! IPC files of one row per slice ([`slices`]); small summaries are JSON.

pub mod baseline;
pub mod classifier;
pub mod evaluation;
pub mod features;
pub mod labels;
pub mod nodule_score;
pub mod nodules;
pub mod patches;
pub mod prediction;
pub mod slices;
pub mod sources;
pub mod submission;
pub mod table;
pub mod training;
pub mod volume;
