//! `gc --remote`: delete the remote's records that no pipeline in the
//! folder reaches (looked up with the remote, so a pipeline reaches what
//! only the remote holds), then the blobs no remaining record names; what
//! is younger than the grace period stays, so a push in progress is never broken.

use std::path::Path;

use anyhow::{Result, anyhow};

use crate::maintenance::gc::reach_of;
use crate::store::cache::Cache;
use crate::store::remote::session::RemoteSession;
use crate::store::remote::upkeep::RemoteGcReport;

/// Collects the remote's garbage (or lists it, on a dry run). When the
/// pipelines cannot say what they reach, nothing is deleted.
pub fn gc_remote(
    cache: &Cache,
    work_dir: &Path,
    pipelines_dir: &Path,
    jobs: usize,
    session: &RemoteSession,
    grace_seconds: f64,
    dry_run: bool,
) -> Result<RemoteGcReport> {
    let (mut reach, _) = reach_of(cache, work_dir, pipelines_dir, jobs, Some(session))?;
    let remote = session.remote();
    let (records, _) = remote.aged().map_err(|e| anyhow!("{e}"))?;
    // Entries of instances whose keys are not known yet stay, as locally.
    let unreached: Vec<String> = records.into_iter().map(|r| r.name).filter(|k| !reach.keys.contains(k)).collect();
    for record in remote.records_of(&unreached).map_err(|e| anyhow!("{e}"))? {
        if reach.may_need_manifest(&record.manifest) {
            reach.keys.insert(record.manifest.key.clone());
        }
    }
    remote.collect_garbage(&reach.keys, grace_seconds, dry_run).map_err(|e| anyhow!("{e}"))
}
