//! `lungflow sweep run|status|show`: the sweep verbs of the command line.

use std::path::{Path, PathBuf};

use clap::Subcommand;
use polars::prelude::DataFrame;

use crate::cli::after_run::{inspect, record_last_run, record_lineage};
use crate::cli::args::{EXIT_FAILED, Exit, PipelineArgs, print_json, work_dir};
use crate::cli::executor_choice::ExecutorChoice;
use crate::pipeline::model::Pipeline;
use crate::report::run_report::RunReport;
use crate::report::sweep_ranking::{add_cv_auc, reference_index};
use crate::report::sweep_results::{VariantResult, VariantState, variant_results};
use crate::report::sweep_table::{select, sorted, table, to_json, write_csv, write_parquet};
use crate::report::sweep_view::{ViewOptions, narrow_view};
use crate::run::driver::run_pipeline;
use crate::run::options::{Mode, Options};
use crate::run::outcome::{Outcome, RunResult};
use crate::store::cache::{Cache, now_rfc3339};

/// What `lungflow sweep` does.
#[derive(Subcommand, Debug)]
pub enum SweepVerb {
    /// Run every variant; instances the variants share run once.
    Run {
        /// The pipeline, its overrides and sweep axes.
        #[command(flatten)]
        target: PipelineArgs,
        /// Instances computed at once (default: number of cores; with
        /// `--executor slurm`, the settings' `max_jobs`).
        #[arg(long, short)]
        jobs: Option<usize>,
        /// Where missing instances are computed (as for `run`).
        #[arg(long, value_enum, default_value_t = ExecutorChoice::Local)]
        executor: ExecutorChoice,
    },
    /// Each variant's state (done, failed, missing) and its instances in the cache.
    Status {
        /// The pipeline, its overrides and sweep axes.
        #[command(flatten)]
        target: PipelineArgs,
    },
    /// The sweep table (variant x swept parameters x final metrics, with each
    /// cross-validating stage's AUC and its paired difference to a reference
    /// variant, whose p-value is Holm-corrected over every pair of variants)
    /// and the validation curves of all variants as PNG. Prints a narrow view
    /// unless --all.
    Show {
        /// The pipeline, its overrides and sweep axes.
        #[command(flatten)]
        target: PipelineArgs,
        /// Sort by this column (ascending; see --desc).
        #[arg(long)]
        sort: Option<String>,
        /// Sort in descending order.
        #[arg(long)]
        desc: bool,
        /// Show only metric columns starting with these prefixes, e.g.
        /// `classifier.val_,seconds` (variant, swept parameters and state
        /// stay); also limits --csv, --parquet and --json to them.
        #[arg(long, visible_alias = "metrics", value_delimiter = ',', value_name = "PREFIX,...")]
        columns: Vec<String>,
        /// Print the wide table, every column as it is, instead of the
        /// narrow view (variant, swept values, state, a few metrics with
        /// their intervals).
        #[arg(long)]
        all: bool,
        /// The variant that `STAGE.cv_auc_diff` is taken against (default:
        /// the first variant in the sweep's order).
        #[arg(long, value_name = "VARIANT")]
        reference: Option<String>,
        /// Also write the table as CSV.
        #[arg(long, value_name = "FILE")]
        csv: Option<PathBuf>,
        /// Also write the table as Parquet.
        #[arg(long, value_name = "FILE")]
        parquet: Option<PathBuf>,
    },
}

/// How `sweep show` prints its table.
struct ShowOptions {
    sort: Option<String>,
    desc: bool,
    columns: Vec<String>,
    all: bool,
    reference: Option<String>,
    csv: Option<PathBuf>,
    parquet: Option<PathBuf>,
}

/// Runs one sweep verb; returns the exit code.
pub fn sweep(cache_root: &Path, action: SweepVerb) -> Result<i32, Exit> {
    match action {
        SweepVerb::Run { target, jobs, executor } => run(cache_root, &target, jobs, executor),
        SweepVerb::Status { target } => status(cache_root, &target),
        SweepVerb::Show { target, sort, desc, columns, all, reference, csv, parquet } => {
            show(cache_root, &target, ShowOptions { sort, desc, columns, all, reference, csv, parquet })
        }
    }
}

/// `sweep show`: the table, sorted and narrowed as asked, and its files.
fn show(cache_root: &Path, target: &PipelineArgs, o: ShowOptions) -> Result<i32, Exit> {
    let p = load_target(target)?;
    let cache = Cache::open(cache_root)?;
    let (results, mut df, reference) = ranked(&p, &cache, &inspect(&p, &cache)?, o.reference.as_deref())?;
    if let Some(column) = &o.sort {
        df = sorted(&df, column, o.desc).map_err(|e| Exit::usage(format!("{e:#}")))?;
    }
    let mut written = write_outputs(&p, &cache, &results, &df)?;
    let swept = swept(&results);
    let picked = if o.columns.is_empty() { df.clone() } else { select(&df, &swept, &o.columns)? };
    if let Some(path) = &o.csv {
        write_csv(&picked, path)?;
        written.push(path.clone());
    }
    if let Some(path) = &o.parquet {
        write_parquet(&picked, path)?;
        written.push(path.clone());
    }
    if target.json {
        print_json(&to_json(&picked)?)?;
    } else if o.all {
        println!("{picked}");
        print_written(&written);
    } else {
        print_view(&df, &ViewOptions { swept: &swept, prefixes: &o.columns, reference })?;
        print_written(&written);
    }
    Ok(0)
}

/// The variants' results with their cross-validated AUCs against the
/// reference (`name`, else the first variant), the table, and the
/// reference's name. Notes on differences that could not be taken go to
/// stderr.
fn ranked<'a>(
    p: &'a Pipeline,
    cache: &Cache,
    eval: &RunResult,
    name: Option<&str>,
) -> Result<(Vec<VariantResult>, DataFrame, &'a str), Exit> {
    let mut results = variant_results(p, cache, eval)?;
    let reference = reference_index(&results, name).map_err(Exit::usage)?;
    for note in add_cv_auc(&mut results, reference)? {
        eprintln!("note: {note}");
    }
    let df = table(&results)?;
    Ok((results, df, &p.variants[reference].name))
}

/// The swept parameters, `STAGE.PARAM`, of all variants, sorted.
fn swept(results: &[VariantResult]) -> Vec<String> {
    let names: std::collections::BTreeSet<&String> = results.iter().flat_map(|r| r.params.keys()).collect();
    names.into_iter().cloned().collect()
}

fn print_view(df: &DataFrame, o: &ViewOptions<'_>) -> Result<(), Exit> {
    for line in narrow_view(df, o)? {
        println!("{line}");
    }
    Ok(())
}

/// `sweep run`: every variant, then the table; exit 1 unless all are done.
fn run(cache_root: &Path, target: &PipelineArgs, jobs: Option<usize>, executor: ExecutorChoice) -> Result<i32, Exit> {
    let p = load_target(target)?;
    let cache = Cache::open(cache_root)?;
    crate::run::interrupt::install(Some(&cache))?;
    let jobs = jobs.unwrap_or_else(|| executor.default_jobs(&p));
    let opts = Options { jobs, keep_going: true, mode: Mode::Execute, progress: !target.json };
    let work_dir = work_dir()?;
    let computing = executor.open(Mode::Execute, &p, &cache, &work_dir)?;
    let started = now_rfc3339();
    let result = run_pipeline(&p, &cache, &work_dir, &opts, computing.as_ref())?;
    record_lineage(&cache, &result);
    record_last_run(&cache, &p, &RunReport::new(&p, &result, &cache.results_dir(&p.name()), false), started, executor);
    let (results, df, reference) = ranked(&p, &cache, &result, None)?;
    let written = write_outputs(&p, &cache, &results, &df)?;
    let mut report = RunReport::new(&p, &result, &cache.results_dir(&p.name()), false);
    if target.json {
        report.variants = Some(to_json(&df)?);
        println!("{}", serde_json::to_string(&report).map_err(anyhow::Error::from)?);
    } else {
        for f in report.failure_lines() {
            println!("{f}");
        }
        println!("{}", report.summary());
        print_sharing(&p, &result);
        print_view(&df, &ViewOptions { swept: &swept(&results), prefixes: &[], reference })?;
        print_written(&written);
    }
    Ok(if results.iter().all(|r| r.state == VariantState::Done) { 0 } else { EXIT_FAILED })
}

/// `sweep status`: each variant's state and how much of it is cached.
fn status(cache_root: &Path, target: &PipelineArgs) -> Result<i32, Exit> {
    let p = load_target(target)?;
    let cache = Cache::open(cache_root)?;
    let results = variant_results(&p, &cache, &inspect(&p, &cache)?)?;
    if target.json {
        return print_json(&results).map(|()| 0);
    }
    let width = results.iter().map(|r| r.name.len()).max().unwrap_or(7).max(7);
    println!("{:<width$}  {:<10}  {:>11}  error", "variant", "state", "in cache");
    for r in &results {
        let cached = format!("{}/{}", r.available, r.instances);
        println!("{:<width$}  {:<10}  {cached:>11}  {}", r.name, r.state.as_str(), r.error.as_deref().unwrap_or(""));
    }
    Ok(0)
}

/// Loads the target pipeline; a pipeline with no variants is a usage error.
fn load_target(target: &PipelineArgs) -> Result<Pipeline, Exit> {
    let p = target.load()?;
    if p.variants.is_empty() {
        return Err(Exit::usage(format!(
            "{} sweeps nothing: add a `sweep:` block or --sweep STAGE.PARAM=V1,V2",
            target.pipeline.display()
        )));
    }
    Ok(p)
}

/// Writes `results/PIPELINE/sweep/table.parquet` and the curve PNGs beside it.
fn write_outputs(
    p: &Pipeline,
    cache: &crate::store::cache::Cache,
    results: &[VariantResult],
    df: &DataFrame,
) -> Result<Vec<PathBuf>, Exit> {
    let dir = cache.results_dir(&p.name()).join("sweep");
    std::fs::create_dir_all(&dir).map_err(|e| Exit(EXIT_FAILED, format!("cannot create {}: {e}", dir.display())))?;
    let table_path = dir.join("table.parquet");
    write_parquet(df, &table_path)?;
    let mut written = vec![table_path];
    written.extend(crate::report::sweep_curves::write_curves(results, &dir)?);
    Ok(written)
}

fn print_written(paths: &[PathBuf]) {
    for path in paths {
        println!("wrote {}", path.display());
    }
}

/// One line per stage of the pipeline file: shared by every variant (and
/// so computed once) or copied per configuration, with what ran.
fn print_sharing(p: &Pipeline, eval: &RunResult) {
    let variants = p.variants.len();
    let mut bases: Vec<&str> = Vec::new();
    for &s in &p.order {
        let base = p.stages[s].base_name();
        if !bases.contains(&base) {
            bases.push(base);
        }
    }
    for base in bases {
        let copies = p.stages.iter().filter(|s| s.base_name() == base).count();
        let (mut executed, mut cached, mut other) = (0, 0, 0);
        for inst in eval.instances.iter().filter(|i| p.stages[i.stage].base_name() == base) {
            match &inst.outcome {
                Outcome::Available(prod) if prod.executed.is_some() => executed += 1,
                Outcome::Available(_) => cached += 1,
                _ => other += 1,
            }
        }
        let sharing = if copies == 1 { format!("shared by all {variants} variants") } else { format!("{copies} configurations") };
        let rest = if other > 0 { format!(", not done {other}") } else { String::new() };
        println!("  {base:<14} {sharing:<26} executed {executed}, cached {cached}{rest}");
    }
}
