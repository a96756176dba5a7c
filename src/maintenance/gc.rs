//! `gc`: drops the entries that no pipeline reaches, and what killed runs
//! left behind (staging folders, lock files, unfinished lineage parts, and
//! the notes of entries whose lineage they did not record, recorded first).
//! The leftovers go even when no pipeline can say what it reaches; the
//! entries are then all kept (`GcReport::undecided` says why).
//!
//! An entry is kept when a pipeline reaches its key, and also when a stage
//! of a pipeline cannot say its keys yet because something upstream is
//! missing or damaged: the entries that stage computed before (by their
//! manifest's pipeline and stage) may well be reused once the upstream is
//! computed again, so `gc` never guesses them away.

use std::collections::HashSet;
use std::fs;
use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;

use crate::pipeline::load;
use crate::pipeline::model::Pipeline;
use crate::run::driver::run_pipeline_with;
use crate::run::local::Local;
use crate::run::options::{Mode, Options};
use crate::run::outcome::{Outcome, RunResult};
use crate::store::cache::Cache;
use crate::store::remote::session::RemoteSession;
use crate::store::state::{SlurmTaskRow, StateDb};
use crate::store::unrecorded;

/// What `gc` did or would do.
#[derive(Debug, Serialize)]
pub struct GcReport {
    /// Pipeline files whose fresh entries were kept.
    pub pipelines: Vec<String>,
    /// Keys kept.
    pub kept: usize,
    /// Of those, entries kept because their stage's keys are not known yet.
    pub kept_unresolved: usize,
    /// Keys removed (or that would be, with --dry-run).
    pub removed: Vec<String>,
    /// Bytes those entries held.
    pub removed_bytes: u64,
    /// Entries skipped because a run holds their lock.
    pub busy: Vec<String>,
    /// Leftovers of killed runs removed (staging folders, lock files,
    /// unfinished lineage parts, notes of entries whose lineage they had not
    /// recorded, which are recorded first), or that would be.
    pub leftovers: usize,
    /// Why no entry could be judged, when none could (the pipelines folder
    /// cannot be listed, a pipeline does not load): every entry was kept.
    pub undecided: Option<String>,
}

/// What the pipelines reach: keys, and the stages and instances whose keys
/// are not known (by pipeline id, stage and item).
#[derive(Default)]
pub(crate) struct Reach {
    pub(crate) keys: HashSet<String>,
    unresolved_stages: HashSet<(String, String)>,
    unresolved: HashSet<(String, String, Option<String>)>,
}

impl Reach {
    fn add(&mut self, p: &Pipeline, run: RunResult) {
        for (stage, _) in &run.unexpanded {
            self.unresolved_stages.insert((p.id.clone(), p.stages[*stage].name.clone()));
        }
        for inst in run.instances {
            match inst.outcome {
                // Damaged entries too: the next run repairs them.
                Outcome::Available(prod) => {
                    self.keys.insert(prod.key.clone());
                }
                Outcome::Pending(pending) if pending.key.is_some() => {
                    self.keys.extend(pending.key);
                }
                _ => {
                    self.unresolved.insert((p.id.clone(), p.stages[inst.stage].name.clone(), inst.item));
                }
            }
        }
    }

    /// Whether an entry no key reaches may belong to an unresolved instance.
    fn may_need(&self, cache: &Cache, key: &str) -> bool {
        match cache.manifest(key) {
            Ok(Some(m)) => self.may_need_manifest(&m),
            _ => false,
        }
    }

    /// Whether the entry of `m` belongs to an instance whose key is not known
    /// yet (something upstream must be computed again first).
    pub(crate) fn may_need_manifest(&self, m: &crate::store::manifest::Manifest) -> bool {
        let stage = (m.pipeline.clone(), m.stage.clone());
        self.unresolved_stages.contains(&stage) || self.unresolved.contains(&(stage.0, stage.1, m.material.item.clone()))
    }
}

/// Removes cache entries that no pipeline in `pipelines_dir` reaches, and
/// the leftovers of killed runs. When the pipelines cannot say what they
/// reach (the folder cannot be listed, a pipeline does not load), every
/// entry is kept, the leftovers still go, and `undecided` says why.
pub fn gc(cache: &Cache, work_dir: &Path, pipelines_dir: &Path, jobs: usize, dry_run: bool) -> Result<GcReport> {
    let mut report = GcReport {
        pipelines: Vec::new(),
        kept: 0,
        kept_unresolved: 0,
        removed: vec![],
        removed_bytes: 0,
        busy: vec![],
        leftovers: 0,
        undecided: None,
    };
    match reach_of(cache, work_dir, pipelines_dir, jobs, None) {
        Ok((reach, pipelines)) => {
            report.pipelines = pipelines;
            remove_unreached(cache, &reach, dry_run, &mut report)?;
        }
        Err(e) => {
            report.kept = cache.keys()?.len();
            report.undecided = Some(format!("{e:#}"));
        }
    }
    report.leftovers = remove_leftovers(cache, dry_run)?;
    if !dry_run && !report.removed.is_empty() {
        crate::lineage::table::rebuild(cache)?;
    }
    Ok(report)
}

/// What the pipelines in `pipelines_dir` reach, and their files.
pub(crate) fn reach_of(
    cache: &Cache,
    work_dir: &Path,
    pipelines_dir: &Path,
    jobs: usize,
    remote: Option<&RemoteSession>,
) -> Result<(Reach, Vec<String>)> {
    let mut reach = Reach::default();
    let mut pipelines = Vec::new();
    let listing = fs::read_dir(pipelines_dir).with_context(|| format!("cannot list pipelines in {}", pipelines_dir.display()))?;
    let mut files: Vec<_> = listing
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")))
        .collect();
    files.sort();
    for file in files {
        let pipeline = load::load(&file, &[]).map_err(|e| anyhow::anyhow!("{e}"))?;
        let opts = Options { jobs, keep_going: true, mode: Mode::Inspect, progress: false };
        let eval = run_pipeline_with(&pipeline, cache, work_dir, &opts, &Local::IN_PROCESS, remote)
            .with_context(|| format!("cannot look up what {} reaches", file.display()))?;
        reach.add(&pipeline, eval);
        pipelines.push(file.display().to_string());
    }
    Ok((reach, pipelines))
}

/// Removes (or lists, on a dry run) the entries `reach` does not need.
fn remove_unreached(cache: &Cache, reach: &Reach, dry_run: bool, report: &mut GcReport) -> Result<()> {
    for key in cache.keys()? {
        if reach.keys.contains(&key) {
            report.kept += 1;
            continue;
        }
        if reach.may_need(cache, &key) {
            report.kept += 1;
            report.kept_unresolved += 1;
            continue;
        }
        let Some(_lock) = cache.try_lock(&key)? else {
            report.busy.push(key);
            continue;
        };
        let dir = cache.entry_dir(&key)?;
        report.removed_bytes += dir_size(&dir);
        if !dry_run {
            fs::remove_dir_all(&dir).with_context(|| format!("cannot remove {}", dir.display()))?;
        }
        report.removed.push(key);
    }
    Ok(())
}

/// Removes (or counts, on a dry run) what killed runs left: staging folders
/// and lock files of keys nobody holds, lineage parts never moved into the
/// table by a process that is gone, and Slurm job folders none of whose
/// tasks the state store still remembers. The staging folder of a Slurm
/// task the store remembers is kept, whoever holds its lock: its job may
/// still be running, and the next run re-attaches to it.
fn remove_leftovers(cache: &Cache, dry_run: bool) -> Result<usize> {
    let tasks = StateDb::open(&cache.state_path())?.slurm_tasks()?;
    let mut removed = remove_finished_slurm_jobs(cache, &tasks, dry_run)?;
    // Entries that ended runs published without recording their lineage:
    // recorded now (what their next run would do), then their notes go.
    let ended = unrecorded::scan(cache.root())?.ended_files();
    if ended > 0 && !dry_run {
        crate::lineage::table::record_run(cache, &[])?;
    }
    removed += ended;
    let tmp = cache.root().join("tmp");
    for entry in fs::read_dir(&tmp).with_context(|| format!("cannot list {}", tmp.display()))?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if tasks.iter().any(|t| t.staging == entry.path()) || name.starts_with(unrecorded::PREFIX) {
            continue;
        }
        // A staging folder is abandoned when its key's lock is free (held
        // here while it is removed); a lineage part when its process is gone.
        let (abandoned, _held) = match name.strip_prefix("lineage-") {
            // lineage-PREFIX-TIME-PID.parquet
            Some(rest) => {
                let pid = rest.trim_end_matches(".parquet").rsplit('-').next().and_then(|pid| pid.parse::<u32>().ok());
                (pid.is_some_and(gone), None)
            }
            // What an interrupt moved aside and could not remove: .interrupted.KEY.PID.N
            None if name.starts_with(".interrupted.") => {
                let pid = name.rsplit('.').nth(1).and_then(|pid| pid.parse::<u32>().ok());
                (pid.is_some_and(gone), None)
            }
            None => {
                let key = name.split('.').next().unwrap_or_default();
                let held = if crate::store::cache::check_key(key).is_ok() { cache.try_lock(key)? } else { None };
                (held.is_some(), held)
            }
        };
        if abandoned {
            removed += 1;
            if !dry_run {
                let path = entry.path();
                let _ = if path.is_dir() { fs::remove_dir_all(&path) } else { fs::remove_file(&path) };
            }
        }
    }
    let locks = cache.root().join("locks");
    for entry in fs::read_dir(&locks).with_context(|| format!("cannot list {}", locks.display()))?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(key) = name.strip_suffix(".lock").filter(|k| crate::store::cache::check_key(k).is_ok()) else { continue };
        // Taking a free lock and letting go removes its file.
        if dry_run || cache.try_lock(key)?.is_some() {
            removed += 1;
        }
    }
    Ok(removed)
}

/// Removes the folders under `CACHE/slurm` (scripts, task lists, job logs)
/// of jobs none of whose tasks is in `tasks`; returns how many.
fn remove_finished_slurm_jobs(cache: &Cache, tasks: &[SlurmTaskRow], dry_run: bool) -> Result<usize> {
    let jobs = cache.root().join("slurm");
    let Ok(entries) = fs::read_dir(&jobs) else { return Ok(0) };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if tasks.iter().any(|t| t.job_name == name) {
            continue;
        }
        removed += 1;
        if !dry_run {
            fs::remove_dir_all(entry.path()).with_context(|| format!("cannot remove {}", entry.path().display()))?;
        }
    }
    Ok(removed)
}

/// Whether no process has this id.
fn gone(pid: u32) -> bool {
    !Path::new("/proc").join(pid.to_string()).exists()
}

fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_size(&e.path()),
            Ok(_) => e.metadata().map(|m| m.len()).unwrap_or(0),
            Err(_) => 0,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slurm_leftovers_go_unless_a_remembered_task_may_still_deliver() {
        let dir = lungflow_testkit::tempdir().unwrap();
        let cache = Cache::open(dir.path()).unwrap();
        let key = |c: char| c.to_string().repeat(64);
        let (live, dead) = (cache.root().join(format!("tmp/{}.1.0", key('a'))), cache.root().join(format!("tmp/{}.1.1", key('b'))));
        for d in [&live, &dead] {
            fs::create_dir_all(d.join("out")).unwrap();
        }
        for job in ["lf-r-1-nap", "lf-r-2-nap"] {
            fs::create_dir_all(cache.root().join("slurm").join(job)).unwrap();
            fs::write(cache.root().join("slurm").join(job).join("0.log"), "log").unwrap();
        }
        let mut db = StateDb::open(&cache.state_path()).unwrap();
        db.note_slurm_task(&key('a'), "lf-r-1-nap", 0, &live).unwrap();
        drop(db);
        assert_eq!(remove_leftovers(&cache, true).unwrap(), 2, "dry run: the finished job's folder and the dead staging folder");
        assert!(dead.exists());
        assert_eq!(remove_leftovers(&cache, false).unwrap(), 2);
        assert!(live.exists(), "a task the state store remembers keeps its staging folder");
        assert!(!dead.exists());
        assert!(cache.root().join("slurm/lf-r-1-nap/0.log").exists());
        assert!(!cache.root().join("slurm/lf-r-2-nap").exists());
    }
}
