//! Cache upkeep: `gc` drops entries no pipeline reaches; `verify` rehashes
//! entries against their manifests.

use std::collections::HashSet;
use std::fs;
use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;

use crate::pipeline::load;
use crate::run::executor::run_pipeline;
use crate::run::options::{Mode, Options};
use crate::run::outcome::Outcome;
use crate::store::cache::Cache;

/// What `gc` did or would do.
#[derive(Debug, Serialize)]
pub struct GcReport {
    /// Pipeline files whose fresh entries were kept.
    pub pipelines: Vec<String>,
    /// Keys kept.
    pub kept: usize,
    /// Keys removed (or that would be, with --dry-run).
    pub removed: Vec<String>,
    /// Bytes those entries held.
    pub removed_bytes: u64,
    /// Entries skipped because a run holds their lock.
    pub busy: Vec<String>,
}

/// Removes cache entries that no pipeline in `pipelines_dir` reaches.
pub fn gc(cache: &Cache, work_dir: &Path, pipelines_dir: &Path, jobs: usize, dry_run: bool) -> Result<GcReport> {
    let mut reachable = HashSet::new();
    let mut pipelines = Vec::new();
    let listing = fs::read_dir(pipelines_dir).with_context(|| format!("cannot list {}", pipelines_dir.display()))?;
    let mut files: Vec<_> = listing
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")))
        .collect();
    files.sort();
    for file in files {
        let pipeline = load::load(&file, &[]).map_err(|e| anyhow::anyhow!("{e}"))?;
        let opts = Options { jobs, keep_going: true, mode: Mode::Inspect, progress: false };
        let eval = run_pipeline(&pipeline, cache, work_dir, &opts)?;
        for inst in eval.instances {
            if let Outcome::Available(p) = inst.outcome {
                reachable.insert(p.key.clone());
            }
        }
        pipelines.push(file.display().to_string());
    }
    let mut report = GcReport { pipelines, kept: 0, removed: vec![], removed_bytes: 0, busy: vec![] };
    for key in cache.keys()? {
        if reachable.contains(&key) {
            report.kept += 1;
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
    if !dry_run {
        remove_abandoned_staging(cache)?;
        if !report.removed.is_empty() {
            crate::lineage::table::rebuild(cache)?;
        }
    }
    Ok(report)
}

/// Removes staging folders left by killed runs (their key's lock is free).
fn remove_abandoned_staging(cache: &Cache) -> Result<()> {
    let tmp = cache.root().join("tmp");
    for entry in fs::read_dir(&tmp).with_context(|| format!("cannot list {}", tmp.display()))?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let key = name.split('.').next().unwrap_or_default();
        if key.len() == 64
            && let Some(_lock) = cache.try_lock(key)?
        {
            fs::remove_dir_all(entry.path()).ok();
        }
    }
    Ok(())
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

/// One entry that failed verification.
#[derive(Debug, Serialize)]
pub struct VerifyProblem {
    /// The entry's key.
    pub key: String,
    /// What is wrong.
    pub problem: String,
}

/// Rehashes every entry; returns the number checked and the problems found.
pub fn verify(cache: &Cache) -> Result<(usize, Vec<VerifyProblem>)> {
    use rayon::prelude::*;
    let keys = cache.keys()?;
    let problems: Vec<VerifyProblem> =
        keys.par_iter().filter_map(|k| cache.verify_entry(k).map(|problem| VerifyProblem { key: k.clone(), problem })).collect();
    Ok((keys.len(), problems))
}
