//! What the verbs do around a run: look every instance up without
//! computing ([`inspect`]), and afterwards record what it reached in the
//! lineage table and keep its report for `lungflow report`.

use crate::cli::args::{Exit, default_jobs, work_dir};
use crate::cli::executor_choice::ExecutorChoice;
use crate::lineage::table::{LINEAGE_DIR, record_run};
use crate::pipeline::model::Pipeline;
use crate::report::last_run::LastRun;
use crate::report::run_report::RunReport;
use crate::run::driver::run_pipeline;
use crate::run::local::Local;
use crate::run::options::{Mode, Options};
use crate::run::outcome::RunResult;
use crate::store::cache::{Cache, host_name};

/// Looks every instance up without computing anything.
pub fn inspect(p: &Pipeline, cache: &Cache) -> Result<RunResult, Exit> {
    let opts = Options { jobs: default_jobs(), keep_going: true, mode: Mode::Inspect, progress: false };
    Ok(run_pipeline(p, cache, &work_dir()?, &opts, &Local::IN_PROCESS)?)
}

/// Adds what a run reached to the cache's lineage table (what it computed,
/// and what earlier runs computed but were killed before recording); a
/// failure there is a warning, never a failed run (the table can be rebuilt
/// from manifests).
pub fn record_lineage(cache: &Cache, run: &RunResult) {
    if let Err(e) = record_run(cache, &run.reached_keys()) {
        eprintln!("warning: cannot update the lineage table in {}: {e:#}", cache.root().join(LINEAGE_DIR).display());
    }
}

/// Keeps `report` as the last run of `p` (for `lungflow report`); a failure
/// is a warning, never a failed run.
pub fn record_last_run(cache: &Cache, p: &Pipeline, report: &RunReport, started: String, executor: ExecutorChoice) {
    let last = LastRun {
        pipeline: p.file.display().to_string(),
        started,
        host: host_name(),
        tool_version: env!("CARGO_PKG_VERSION").to_owned(),
        executor: format!("{executor:?}").to_lowercase(),
        report: report.clone(),
    };
    if let Err(e) = last.save(cache, &p.name()) {
        eprintln!("warning: cannot record this run for `lungflow report`: {e:#}");
    }
}
