//! The last run of each pipeline, kept beside the cache as
//! `CACHE/runs/PIPELINE.json`: when it started, where, with which lungflow,
//! and its run report (every instance executed, cached, failed or skipped,
//! with keys and errors). `lungflow report` draws its timeline and summary
//! from it; nothing else reads it, and deleting it loses only that.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::report::run_report::RunReport;
use crate::store::bounded::{JSON_CAP, read_capped};
use crate::store::cache::{Cache, write_atomic};
use crate::store::names::path_component;

/// One run of a pipeline, as `run` and `sweep run` record it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LastRun {
    /// The pipeline file as given.
    pub pipeline: String,
    /// When the run started, RFC 3339 UTC.
    pub started: String,
    /// The machine it ran on.
    pub host: String,
    /// The lungflow version that ran it.
    pub tool_version: String,
    /// `local` or `slurm`.
    pub executor: String,
    /// What it did.
    pub report: RunReport,
}

/// Where the last run of the pipeline named `name` is kept.
pub fn path(cache: &Cache, name: &str) -> PathBuf {
    cache.root().join("runs").join(format!("{}.json", path_component(name)))
}

impl LastRun {
    /// Keeps this run as the last of pipeline `name`, replacing the previous.
    pub fn save(&self, cache: &Cache, name: &str) -> Result<()> {
        let path = path(cache, name);
        let dir = path.parent().expect("runs folder");
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        write_atomic(&path, &serde_json::to_vec(self)?)
    }

    /// The last run of pipeline `name`, if one was recorded.
    pub fn load(cache: &Cache, name: &str) -> Result<Option<LastRun>> {
        read(&path(cache, name))
    }
}

fn read(path: &Path) -> Result<Option<LastRun>> {
    match read_capped(path, JSON_CAP) {
        Ok(bytes) => Ok(Some(serde_json::from_slice(&bytes).with_context(|| format!("unreadable run record {}", path.display()))?)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}
