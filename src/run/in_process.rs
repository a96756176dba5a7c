//! Running a stage kind in this process on staged inputs: the one step that
//! a local run (itself or a child, `lungflow task`), a Slurm task (`lungflow slurm-task`) and `lungflow exec` share. Panics become
//! failures; the process group registry learns which instance runs.

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::time::Instant;

use lungflow_stages::{Input, RunContext, StageKind};
use serde_json::Value;

use crate::run::usage::Meter;
use crate::store::cache::{LOG_FILE, TIMINGS_FILE, now_rfc3339};
use crate::store::manifest::Usage;

/// One stage instance to run: everything but the staging folder.
pub struct KindCall<'a> {
    /// The stage kind.
    pub kind: &'a dyn StageKind,
    /// Resolved parameters.
    pub params: &'a BTreeMap<String, Value>,
    /// Inputs by name.
    pub inputs: &'a BTreeMap<String, Input>,
    /// The item, for per-item stages.
    pub item: Option<&'a str>,
    /// Where relative paths in parameters resolve.
    pub work_dir: &'a Path,
    /// Threads the kind may use.
    pub threads: usize,
    /// `stage[item]`, for messages and the process group registry; `None`
    /// outside a pipeline (`exec`), where kinds name their processes by what
    /// they run.
    pub label: Option<&'a str>,
}

/// What running a kind gave.
#[derive(Clone, Debug)]
pub struct Ran {
    /// Start time, RFC 3339 UTC.
    pub started: String,
    /// Wall seconds.
    pub seconds: f64,
    /// The failure's message, `None` when the kind succeeded.
    pub failure: Option<String>,
    /// CPU time and peak memory ([`crate::run::usage`]).
    pub usage: Usage,
}

/// Where a kind writes: its output folder, its log and its timings file.
pub struct Places<'a> {
    /// The output folder.
    pub out_dir: &'a Path,
    /// The log file.
    pub log_path: &'a Path,
    /// The timings file.
    pub timings_path: &'a Path,
}

/// Runs `call` with `staging/out` as its output folder and the log and
/// timings files in `staging`.
pub fn run_in(call: &KindCall<'_>, staging: &Path) -> Ran {
    let (out_dir, log_path, timings_path) = (staging.join("out"), staging.join(LOG_FILE), staging.join(TIMINGS_FILE));
    run_at(call, &Places { out_dir: &out_dir, log_path: &log_path, timings_path: &timings_path })
}

/// Runs `call` writing to `places`: what a run, a Slurm task and `exec` share.
pub fn run_at(call: &KindCall<'_>, places: &Places<'_>) -> Ran {
    let started = now_rfc3339();
    let clock = Instant::now();
    let meter = Meter::start();
    let ctx = RunContext {
        params: call.params,
        inputs: call.inputs,
        item: call.item,
        out_dir: places.out_dir,
        log_path: places.log_path,
        timings_path: places.timings_path,
        work_dir: call.work_dir,
        threads: call.threads,
    };
    let run = || match call.label {
        Some(label) => lungflow_stages::process_groups::running_as(label, || call.kind.run(&ctx)),
        None => call.kind.run(&ctx),
    };
    let result = catch_unwind(AssertUnwindSafe(run));
    let seconds = clock.elapsed().as_secs_f64();
    let usage = meter.stop();
    let failure = match result {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(e.0),
        Err(panic) => Some(format!("stage kind {} panicked: {}", call.kind.name(), panic_text(&panic))),
    };
    Ran { started, seconds, failure, usage }
}

/// The message of a caught panic.
pub fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "panic".into())
}
