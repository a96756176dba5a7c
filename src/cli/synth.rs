//! `lungflow synth`: write a synthetic cohort of phantom chest CTs (the
//! `synthetic_cohort` kind run by hand).

use std::path::PathBuf;

use crate::cli::args::Exit;
use crate::cli::exec::run_kind;

/// Arguments of `lungflow synth`.
#[derive(clap::Args, Debug)]
pub struct SynthArgs {
    /// Number of patients.
    #[arg(long, default_value_t = 12)]
    patients: u32,
    /// Random seed (same seed, same bytes).
    #[arg(long, default_value_t = 2017)]
    seed: u64,
    /// Output folder (created; must be empty if it exists).
    #[arg(long)]
    out: PathBuf,
}

/// Writes the cohort.
pub fn synth(args: SynthArgs) -> Result<i32, Exit> {
    let set = [format!("patients={}", args.patients), format!("seed={}", args.seed)];
    run_kind("synthetic_cohort", &[], &set, None, &args.out)
}
