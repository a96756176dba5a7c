//! `lungflow run PIPELINE`: compute every instance that is not in the cache.

use std::path::Path;

use anyhow::Context;

use crate::cli::after_run::{record_last_run, record_lineage};
use crate::cli::args::{EXIT_FAILED, Exit, PipelineArgs, work_dir};
use crate::cli::executor_choice::ExecutorChoice;
use crate::cli::remote_args::RemoteArgs;
use crate::cli::report::write_report;
use crate::pipeline::model::Pipeline;
use crate::report::html::build::ReportOptions;
use crate::report::metrics::rows as metric_rows;
use crate::report::run_report::RunReport;
use crate::run::driver::run_pipeline_with;
use crate::run::options::{Mode, Options};
use crate::run::outcome::{Outcome, RunResult};
use crate::store::cache::Cache;
use crate::store::cache::now_rfc3339;
use crate::store::names::path_component;
use crate::store::remote::session::{RemoteSession, RemoteStats};

/// Arguments of `lungflow run`.
#[derive(clap::Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    target: PipelineArgs,
    /// Instances computed at once (default: number of cores).
    #[arg(long, short)]
    jobs: Option<usize>,
    /// Show what would run, run nothing.
    #[arg(long)]
    dry_run: bool,
    /// After a failure, go on with branches that do not depend on it.
    #[arg(long, short)]
    keep_going: bool,
    /// Where missing instances are computed: here, or as Slurm jobs (with
    /// the pipeline's `executor: slurm:` settings). With slurm, `--jobs` is
    /// the number of tasks in flight (default: the settings' `max_jobs`).
    #[arg(long, value_enum, default_value_t = ExecutorChoice::Local)]
    executor: ExecutorChoice,
    /// Write the HTML report (`lungflow report`) at the end of the run.
    #[arg(long)]
    report: bool,
    #[command(flatten)]
    remote: RemoteArgs,
    /// Push every entry the run makes available to the remote (the
    /// pipeline's `cache: push: true` does the same).
    #[arg(long)]
    push: bool,
}

/// Runs the pipeline; exit code 1 when an instance failed or was skipped.
pub fn run(cache_root: &Path, args: RunArgs) -> Result<i32, Exit> {
    let p = args.target.load()?;
    // Before the cache is touched: a remote that cannot be used stops here.
    let remote = args.remote.open(Some(&p))?.map(|r| RemoteSession::new(r, args.push || p.cache.push, p.cache.remote_required));
    if args.push && remote.is_none() {
        return Err(Exit::usage("--push needs a remote: give --remote s3://BUCKET/PREFIX or write cache: {remote: ...} in the pipeline"));
    }
    let cache = Cache::open(cache_root)?;
    crate::run::interrupt::install(Some(&cache))?;
    let mode = if args.dry_run { Mode::Inspect } else { Mode::Execute };
    // A failing variant of a sweep does not stop the other variants.
    let keep_going = args.keep_going || !p.variants.is_empty();
    let jobs = args.jobs.unwrap_or_else(|| args.executor.default_jobs(&p));
    let opts = Options { jobs, keep_going, mode, progress: !args.target.json };
    let work_dir = work_dir()?;
    let executor = args.executor.open(mode, &p, &cache, &work_dir)?;
    let started = now_rfc3339();
    let result = run_pipeline_with(&p, &cache, &work_dir, &opts, executor.as_ref(), remote.as_ref())?;
    let results = cache.results_dir(&p.name());
    let mut report = RunReport::new(&p, &result, &results, args.dry_run);
    report.remote = remote.as_ref().map(|r| r.stats());
    if !args.dry_run {
        record_lineage(&cache, &result);
        record_last_run(&cache, &p, &report, started, args.executor);
    }
    let page = if args.report && !args.dry_run { Some(write_report(&p, &cache, None, &ReportOptions::default())?.0) } else { None };
    if args.target.json {
        for f in report.failure_lines() {
            eprintln!("{f}");
        }
        eprintln!("{}", report.summary());
        if let Some(page) = &page {
            eprintln!("report: {}", page.display());
        }
        println!("{}", serde_json::to_string(&report).context("cannot encode JSON")?);
    } else {
        for r in report.would_run.iter().flatten() {
            println!("would run {}", r.label());
        }
        for f in report.failure_lines() {
            println!("{f}");
        }
        for r in &report.skipped {
            println!("skipped {}: {}", r.stage, r.reason.as_deref().unwrap_or(""));
        }
        println!("{}", report.summary());
        if let Some(r) = &report.remote {
            println!("{}", remote_line(r));
        }
        if !args.dry_run {
            println!("results: {}", results.display());
            print_once_stages(&p, &result, &results);
        }
        if let Some(page) = &page {
            println!("report: {}", page.display());
        }
    }
    Ok(if report.complete() { 0 } else { EXIT_FAILED })
}

/// One line per stage that runs once and is available: its results folder,
/// its `.csv` outputs and its final metrics.
fn print_once_stages(p: &Pipeline, result: &RunResult, results: &Path) {
    let metrics = metric_rows(p, result).unwrap_or_default();
    for &s in &p.order {
        let stage = &p.stages[s];
        let available = result.instances.iter().find(|i| i.stage == s && i.item.is_none()).and_then(|i| match &i.outcome {
            Outcome::Available(prod) => Some(prod),
            _ => None,
        });
        let (None, Some(prod)) = (&stage.foreach, available) else { continue };
        let link = results.join(path_component(&stage.name));
        let mut line = format!("  {:<12} {}", stage.name, link.display());
        for f in prod.outputs.iter().filter(|f| f.path.ends_with(".csv") && !f.path.contains('/')) {
            line.push_str(&format!(" {}", f.path));
        }
        let values: Vec<String> = metrics
            .iter()
            .filter(|m| m.stage == stage.base_name() && m.variant == stage.variant && m.item.is_none())
            .map(|m| format!("{} {}", m.name, short_number(m.value)))
            .collect();
        if !values.is_empty() {
            line.push_str(&format!("\n  {:<12} {}", "", values.join(", ")));
        }
        println!("{line}");
    }
}

/// One line on what moved to and from the remote.
fn remote_line(r: &RemoteStats) -> String {
    let mut line = format!(
        "remote {}: {} found there, {} fetched ({} bytes), {} pushed ({} blobs, {} bytes)",
        r.remote, r.records_found, r.entries_fetched, r.bytes_fetched, r.entries_pushed, r.blobs_pushed, r.bytes_pushed
    );
    if r.refused > 0 {
        line.push_str(&format!(", {} refused (damaged there, computed here)", r.refused));
    }
    if r.disagreements > 0 {
        line.push_str(&format!(", {} adopted from the remote (outputs differed)", r.disagreements));
    }
    if let Some(why) = &r.lost {
        line.push_str(&format!("; lost during the run: {why}"));
    }
    line
}

/// A number with four significant digits, integers as integers.
fn short_number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e9 { format!("{v:.0}") } else { format!("{v:.4}") }
}
