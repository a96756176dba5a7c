//! What every verb shares: the pipeline arguments (`PIPELINE --set --sweep
//! --json`), the error type that carries an exit code, and small helpers.

use std::path::PathBuf;

use anyhow::Context;

use crate::pipeline::load::{DEFAULT_MAX_VARIANTS, load_sweep_with};
use crate::pipeline::model::{Override, Pipeline};
use crate::pipeline::sweep::Axis;

/// Exit code: a stage failed, or `verify`/`lineage --verify` found damage.
pub const EXIT_FAILED: i32 = 1;
/// Exit code: a bad pipeline file or bad usage.
pub const EXIT_USAGE: i32 = 2;

/// An error with the exit code it should produce.
#[derive(Debug)]
pub struct Exit(pub i32, pub String);

impl<E: Into<anyhow::Error>> From<E> for Exit {
    fn from(e: E) -> Self {
        Exit(EXIT_FAILED, format!("{:#}", e.into()))
    }
}

impl Exit {
    /// A usage error (exit code 2).
    pub fn usage(message: impl std::fmt::Display) -> Exit {
        Exit(EXIT_USAGE, message.to_string())
    }
}

/// The pipeline a verb works on, with its overrides, sweep axes and output form.
#[derive(clap::Args, Debug)]
pub struct PipelineArgs {
    /// Pipeline file.
    pub pipeline: PathBuf,
    /// Override a parameter: STAGE.PARAM=VALUE (repeatable; `vars.NAME=VALUE`
    /// sets a pipeline variable).
    #[arg(long = "set", value_name = "STAGE.PARAM=VALUE")]
    pub set: Vec<String>,
    /// Sweep a parameter: STAGE.PARAM=V1,V2 or STAGE.PARAM=[V1, "V,2"]
    /// (repeatable; adds to or replaces an axis of the file's `sweep: grid:`).
    #[arg(long = "sweep", value_name = "STAGE.PARAM=V1,V2")]
    pub sweep: Vec<String>,
    /// Print JSON on stdout instead of text.
    #[arg(long)]
    pub json: bool,
    /// Refuse sweeps of more variants than this.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_VARIANTS)]
    pub max_variants: usize,
}

impl PipelineArgs {
    /// Loads the pipeline with the `--set` overrides and `--sweep` axes.
    pub fn load(&self) -> Result<Pipeline, Exit> {
        let overrides = self.set.iter().map(|s| Override::parse(s)).collect::<Result<Vec<_>, _>>().map_err(Exit::usage)?;
        let axes = self.sweep.iter().map(|s| Axis::parse(s)).collect::<Result<Vec<_>, _>>().map_err(Exit::usage)?;
        load_sweep_with(&self.pipeline, &overrides, &axes, self.max_variants).map_err(Exit::usage)
    }
}

/// Worker threads when `--jobs` is not given: the number of cores.
pub fn default_jobs() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

/// The directory relative paths in pipelines are resolved against.
pub fn work_dir() -> Result<PathBuf, Exit> {
    Ok(std::env::current_dir().context("cannot read the working directory")?)
}

/// Prints `value` as pretty JSON on stdout.
pub fn print_json<T: serde::Serialize>(value: &T) -> Result<(), Exit> {
    println!("{}", serde_json::to_string_pretty(value).context("cannot encode JSON")?);
    Ok(())
}
