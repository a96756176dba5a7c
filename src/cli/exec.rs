//! `lungflow exec KIND`: run one stage kind by hand, outside any pipeline and
//! cache, into an empty folder.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use lungflow_stages::logs::{quote, shorten};
use lungflow_stages::{Input, StageKind, find_kind};

use crate::cli::args::{EXIT_FAILED, Exit, default_jobs, work_dir};
use crate::pipeline::check::resolve_params_for_exec;
use crate::pipeline::model::parse_scalar;
use crate::run::in_process::{KindCall, Places, run_at};

/// Arguments of `lungflow exec`.
#[derive(clap::Args, Debug)]
pub struct ExecArgs {
    /// Stage kind.
    kind: String,
    /// An input: NAME=PATH (repeatable).
    #[arg(long = "input", value_name = "NAME=PATH")]
    inputs: Vec<String>,
    /// A parameter: PARAM=VALUE (repeatable).
    #[arg(long = "set", value_name = "PARAM=VALUE")]
    set: Vec<String>,
    /// Item id, for per-item kinds.
    #[arg(long)]
    item: Option<String>,
    /// Output folder (created; must be empty if it exists).
    #[arg(long)]
    out: PathBuf,
}

/// Runs the kind named in `args`.
pub fn exec(args: ExecArgs) -> Result<i32, Exit> {
    run_kind(&args.kind, &args.inputs, &args.set, args.item.as_deref(), &args.out)
}

/// Runs one kind with `NAME=PATH` inputs and `PARAM=VALUE` parameters into
/// `out`, which must be empty or absent, through the same in-process call
/// as `run`. A kind that panics is a failure (exit 1) with the panic's
/// message, not a crash.
pub fn run_kind(kind_name: &str, inputs: &[String], set: &[String], item: Option<&str>, out: &Path) -> Result<i32, Exit> {
    let kind = find_kind(kind_name).ok_or_else(|| Exit::usage(format!("unknown kind {}", quote(kind_name))))?;
    run_found(kind, inputs, set, item, out)
}

fn run_found(kind: &dyn StageKind, inputs: &[String], set: &[String], item: Option<&str>, out: &Path) -> Result<i32, Exit> {
    let mut given = BTreeMap::new();
    for s in set {
        let (k, v) = s.split_once('=').ok_or_else(|| Exit::usage(format!("--set {}: expected PARAM=VALUE", quote(s))))?;
        given.insert(k.to_owned(), parse_scalar(v));
    }
    let params = resolve_params_for_exec(kind, given).map_err(Exit::usage)?;
    let mut input_map = BTreeMap::new();
    for i in inputs {
        let (k, v) = i.split_once('=').ok_or_else(|| Exit::usage(format!("--input {}: expected NAME=PATH", quote(i))))?;
        let path = std::fs::canonicalize(v).map_err(|e| Exit::usage(format!("--input {}: {}: {e}", shorten(k), shorten(v))))?;
        input_map.insert(k.to_owned(), Input { path, producers: Vec::new() });
    }
    crate::run::interrupt::install(None)?;
    // What exec creates (the folder, and parents it lacked) goes on a stop or a failure.
    let created = first_missing(&work_dir()?.join(out));
    if let Some(dir) = &created {
        crate::run::interrupt::remove_on_stop(dir);
    }
    let out = empty_out_dir(out)?;
    let log_path = std::env::temp_dir().join(format!("lungflow-exec-{}.log", std::process::id()));
    let timings_path = std::env::temp_dir().join(format!("lungflow-exec-{}.timings.json", std::process::id()));
    // A file left by an earlier process with this id must not pass for this run's.
    for stale in [&log_path, &timings_path] {
        std::fs::remove_file(stale).ok();
    }
    let wd = work_dir()?;
    let call = KindCall { kind, params: &params, inputs: &input_map, item, work_dir: &wd, threads: default_jobs(), label: None };
    let ran = run_at(&call, &Places { out_dir: &out, log_path: &log_path, timings_path: &timings_path });
    // What the kind warned of (files it left out, say): a run keeps it in the entry's log.
    for line in lungflow_stages::logs::warnings(&log_path) {
        eprintln!("{line}");
    }
    if let Some(dir) = &created {
        crate::run::interrupt::keep_on_stop(dir);
    }
    let Some(failure) = ran.failure else {
        let timings = if timings_path.exists() { format!(" (timings: {})", timings_path.display()) } else { String::new() };
        println!("{} wrote {}{timings}", kind.name(), out.display());
        return Ok(0);
    };
    let log = if log_path.exists() { format!(" (log: {})", log_path.display()) } else { String::new() };
    let kept = match created {
        Some(dir) if std::fs::read_dir(&out).is_ok_and(|mut d| d.next().is_none()) => {
            std::fs::remove_dir_all(&dir).ok();
            String::new()
        }
        _ if std::fs::read_dir(&out).is_ok_and(|mut d| d.next().is_some()) => format!(" (partial outputs kept in {})", out.display()),
        _ => String::new(),
    };
    Err(Exit(EXIT_FAILED, format!("{} failed: {failure}{log}{kept}", kind.name())))
}

/// The outermost folder of `path` (itself or an ancestor) that does not
/// exist yet: what creating `path` creates. `None` when it exists.
fn first_missing(path: &Path) -> Option<PathBuf> {
    let mut missing = None;
    let mut at = Some(path);
    while let Some(p) = at.filter(|p| std::fs::symlink_metadata(p).is_err()) {
        missing = Some(p.to_owned());
        at = p.parent();
    }
    missing
}

/// Creates `out` (or checks that it is an empty folder) and returns its
/// absolute path; anything already in it is a usage error, never overwritten.
fn empty_out_dir(out: &Path) -> Result<PathBuf, Exit> {
    if out.exists() {
        let mut entries = std::fs::read_dir(out).map_err(|e| Exit::usage(format!("--out {}: {e}", out.display())))?;
        if entries.next().is_some() {
            return Err(Exit::usage(format!("--out {}: the folder is not empty; give a new or empty folder", out.display())));
        }
    }
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    Ok(std::fs::canonicalize(out).with_context(|| format!("cannot resolve {}", out.display()))?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use lungflow_stages::{ParamSpec, RunContext, StageError};

    /// A kind with a bug: it panics on any input.
    struct Panics;

    impl StageKind for Panics {
        fn name(&self) -> &'static str {
            "panics"
        }
        fn version(&self) -> u32 {
            1
        }
        fn doc(&self) -> &'static str {
            "test kind that panics"
        }
        fn params(&self) -> Vec<ParamSpec> {
            Vec::new()
        }
        fn run(&self, _: &RunContext<'_>) -> Result<(), StageError> {
            let rows: Vec<u8> = Vec::new();
            panic!("no first row: {}", rows.len())
        }
    }

    #[test]
    fn a_kind_that_panics_fails_with_its_message_and_exit_code_1() {
        let _alone = crate::run::usage::alone();
        let dir = lungflow_testkit::tempdir().unwrap();
        let Err(Exit(code, message)) = run_found(&Panics, &[], &[], None, &dir.path().join("out")) else { panic!("it failed") };
        assert_eq!(code, EXIT_FAILED);
        assert!(message.contains("panics failed: stage kind panics panicked: no first row: 0"), "{message}");
    }

    #[test]
    fn an_out_folder_that_is_not_empty_is_refused_and_left_alone() {
        let dir = lungflow_testkit::tempdir().unwrap();
        std::fs::write(dir.path().join("keep.txt"), "mine").unwrap();
        let Err(Exit(code, message)) = run_found(&Panics, &[], &[], None, dir.path()) else { panic!("it was refused") };
        assert_eq!(code, crate::cli::args::EXIT_USAGE);
        assert!(message.contains("is not empty"), "{message}");
        assert_eq!(std::fs::read_to_string(dir.path().join("keep.txt")).unwrap(), "mine");
    }
}
