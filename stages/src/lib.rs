//! lungflow's stage kinds: *how* each step computes its outputs.
//!
//! A stage kind is a pure function of its parameters and its input files: it
//! reads the paths it is given, writes files under one output directory, and
//! knows nothing of caches, keys, scheduling or other stages. The engine (the
//! `lungflow` crate) decides *when* a kind runs; this crate is what it runs.
//! It is not a place for orchestration logic.

pub mod classifier;
pub mod classifier_train;
pub mod command;
pub mod components;
pub mod contract;
pub mod dicom_guard;
pub mod dicom_series;
pub mod device;
pub mod dicom_writer;
pub mod encode;
pub mod evaluate_predictions;
pub mod gmcae;
pub mod gmcae_train;
pub mod hu_volume;
pub mod labels;
pub mod lung_mask;
pub mod params;
pub mod patches;
pub mod phantom;
pub mod plot;
pub mod predict;
pub mod resample;
pub mod submission;
pub mod symmetry;
pub mod synthetic_cohort;
pub mod table;
pub mod volume;

pub use contract::{Input, ParamSpec, Producer, ParamType, RunContext, StageError, StageKind};

/// Every stage kind lungflow knows, in a fixed order.
pub fn all_kinds() -> Vec<&'static dyn StageKind> {
    vec![
        &command::Command, &hu_volume::HuVolume, &resample::Resample, &lung_mask::LungMask, &synthetic_cohort::SyntheticCohort, &patches::Patches, &gmcae_train::GmcaeTrain,
        &encode::Encode,
        &classifier_train::ClassifierTrain,
        &predict::Predict,
        &submission::Submission,
        &evaluate_predictions::EvaluatePredictions,
    ]
}

/// The stage kind with this name, if there is one.
pub fn find_kind(name: &str) -> Option<&'static dyn StageKind> {
    all_kinds().into_iter().find(|k| k.name() == name)
}
