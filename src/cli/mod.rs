//! The command line: one file per verb, over the shared arguments in
//! [`args`]. `main` parses, dispatches and turns errors into exit codes.
//!
//! Exit codes: 0 success; 1 a stage failed or was skipped, `verify` or
//! `lineage --verify` found damage, or the cache could not be read; 2 a bad
//! pipeline file or bad usage (unknown stage, kind, item, variant or a
//! malformed option); 130 interrupted by SIGINT, 143 by SIGTERM (`run`,
//! `sweep run`, `exec`).

pub mod after_run;
pub mod args;
pub mod dag;
pub mod exec;
pub mod executor_choice;
pub mod explain;
pub mod gc;
pub mod kinds;
pub mod lineage;
pub mod metrics;
pub mod pull;
pub mod push;
pub mod remote_args;
pub mod report;
pub mod run;
pub mod status;
pub mod sweep;
pub mod synth;
pub mod task;
pub mod transfer_bar;
pub mod transfer_choice;
pub mod verify;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::cli::args::{EXIT_USAGE, Exit, PipelineArgs};
use crate::store::cache::DEFAULT_ROOT;

#[derive(Parser)]
#[command(name = "lungflow", version, about = "Declarative, content-keyed pipelines for lung-CT machine learning")]
struct Cli {
    /// Cache root.
    #[arg(long, global = true, env = "LUNGFLOW_CACHE", default_value = DEFAULT_ROOT)]
    cache: PathBuf,
    #[command(subcommand)]
    verb: Verb,
}

#[derive(Subcommand)]
enum Verb {
    /// Run a pipeline: compute every instance that is not in the cache.
    Run(run::RunArgs),
    /// Every instance's state: fresh, stale or missing, with reasons.
    Status(PipelineArgs),
    /// Why a stage (or one item of it) would rerun, field by field.
    Explain(explain::ExplainArgs),
    /// Final metrics of every stage that reports some: stage, variant, name, value.
    Metrics(PipelineArgs),
    /// Draw the stage graph.
    Dag(dag::DagArgs),
    /// Run one stage kind by hand, outside any pipeline and cache.
    Exec(exec::ExecArgs),
    /// Drop cache entries that no pipeline file in pipelines/ reaches.
    Gc(gc::GcArgs),
    /// Upload the pipeline's entries that the remote (shared cache) lacks.
    Push(push::PushArgs),
    /// Download the pipeline's entries that only the remote holds, rehashing every file.
    Pull(pull::PullArgs),
    /// Rehash every cache entry and report any that differ from their manifest.
    Verify(verify::VerifyArgs),
    /// Write a synthetic cohort of phantom chest CTs (DICOM + labels.csv).
    Synth(synth::SynthArgs),
    /// The lineage of one patient's prediction: its submission row, the models
    /// and their training patients, down to each DICOM file; --verify rehashes it.
    Lineage(lineage::LineageArgs),
    /// One self-contained HTML page: summary, graph, timeline, resources,
    /// models, data, predictions with their lineage, sweep, failures.
    Report(report::ReportArgs),
    /// Sweeps: run every variant, show their states, or tabulate their metrics.
    Sweep {
        #[command(subcommand)]
        action: sweep::SweepVerb,
    },
    /// List stage kinds and their parameters.
    Kinds(kinds::KindsArgs),
    /// Run one task of a Slurm job (what `--executor slurm` submits).
    #[command(hide = true)]
    SlurmTask(task::SlurmTaskArgs),
    /// Compute one staged instance (what a local run starts in a child process).
    #[command(hide = true)]
    Task(task::TaskArgs),
}

/// Parses arguments, runs the verb and returns the exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { EXIT_USAGE } else { 0 };
        }
    };
    match dispatch(cli) {
        Ok(code) => code,
        Err(Exit(code, message)) => {
            eprintln!("error: {message}");
            code
        }
    }
}

fn dispatch(cli: Cli) -> Result<i32, Exit> {
    let cache = cli.cache.as_path();
    match cli.verb {
        Verb::Run(args) => run::run(cache, args),
        Verb::Status(args) => status::status(cache, args),
        Verb::Explain(args) => explain::explain(cache, args),
        Verb::Metrics(args) => metrics::metrics(cache, args),
        Verb::Dag(args) => dag::dag(args),
        Verb::Exec(args) => exec::exec(args),
        Verb::Gc(args) => gc::gc(cache, args),
        Verb::Verify(args) => verify::verify(cache, args),
        Verb::Push(args) => push::push(cache, args),
        Verb::Pull(args) => pull::pull(cache, args),
        Verb::Synth(args) => synth::synth(args),
        Verb::Lineage(args) => lineage::lineage(cache, args),
        Verb::Report(args) => report::report_verb(cache, args),
        Verb::Sweep { action } => sweep::sweep(cache, action),
        Verb::Kinds(args) => kinds::kinds(args),
        Verb::SlurmTask(args) => task::slurm_task(args),
        Verb::Task(args) => task::task(args),
    }
}
