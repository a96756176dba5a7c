//! Upkeep of a remote: what `gc --remote` deletes (records nobody reaches,
//! then blobs no record names, all older than a grace period) and what
//! `verify --remote` rehashes.

use std::collections::{HashMap, HashSet};
use std::time::{SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use serde::Serialize;

use super::client::Remote;
use super::record::Record;
use super::transfer::TransferError;

/// Requests in flight at once.
const IN_FLIGHT: usize = 16;

/// An object on the remote and its age in seconds.
#[derive(Clone, Debug)]
pub struct Aged {
    /// The record's key or the blob's digest.
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
    /// Seconds since it was written.
    pub age: f64,
}

/// What `gc --remote` did (or would do).
#[derive(Debug, Default, Serialize)]
pub struct RemoteGcReport {
    /// Records deleted.
    pub records_deleted: Vec<String>,
    /// Blobs deleted.
    pub blobs_deleted: u64,
    /// Their bytes.
    pub bytes_deleted: u64,
    /// Records kept.
    pub records_kept: u64,
    /// Blobs kept.
    pub blobs_kept: u64,
    /// Unreached records and unnamed blobs kept because they are younger
    /// than the grace period (a push may be writing them).
    pub young_kept: u64,
}

/// One damaged or missing blob `verify --remote` found.
#[derive(Debug, Serialize)]
pub struct RemoteProblem {
    /// The record naming it.
    pub key: String,
    /// The file, relative to the entry.
    pub file: String,
    /// What is wrong.
    pub problem: String,
}

impl Remote {
    fn fail(&self, e: object_store::Error) -> TransferError {
        TransferError::Remote(self.explain(&e, false).to_string())
    }

    /// Every record and every blob, with ages.
    pub fn aged(&self) -> Result<(Vec<Aged>, Vec<Aged>), TransferError> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0);
        let layout = self.layout();
        let age = |m: &object_store::ObjectMeta, name: String| Aged {
            name,
            size: m.size,
            age: now - m.last_modified.timestamp_millis() as f64 / 1000.0,
        };
        let records = self.block_on(self.list(&layout.records())).map_err(|e| self.fail(e))?;
        let blobs = self.block_on(self.list(&layout.blobs())).map_err(|e| self.fail(e))?;
        Ok((
            records.iter().filter_map(|m| layout.key_of(&m.location).map(|k| age(m, k))).collect(),
            blobs.iter().filter_map(|m| layout.digest_of(&m.location).map(|d| age(m, d))).collect(),
        ))
    }

    /// The records of `keys` (those that read and check; others are skipped).
    pub fn records_of(&self, keys: &[String]) -> Result<Vec<Record>, TransferError> {
        let got: Vec<Result<Option<Record>, TransferError>> =
            self.block_on(futures::stream::iter(keys).map(|k| self.read_record(k)).buffer_unordered(IN_FLIGHT).collect());
        let mut records = Vec::new();
        for r in got {
            match r {
                Ok(Some(r)) => records.push(r),
                Ok(None) | Err(TransferError::BadRecord { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(records)
    }

    /// Deletes unreached records (older than `grace` seconds), then the
    /// blobs that no remaining record names (older than `grace`). Records
    /// written since the listing are read again before any blob goes, so a
    /// push that finished meanwhile keeps its blobs.
    pub fn collect_garbage(&self, reached: &HashSet<String>, grace: f64, dry_run: bool) -> Result<RemoteGcReport, TransferError> {
        let mut report = RemoteGcReport::default();
        let (records, blobs) = self.aged()?;
        let mut kept = Vec::new();
        for r in records {
            if reached.contains(&r.name) {
                kept.push(r.name);
            } else if r.age < grace {
                report.young_kept += 1;
                kept.push(r.name);
            } else {
                report.records_deleted.push(r.name);
            }
        }
        report.records_kept = kept.len() as u64;
        if !dry_run {
            self.delete_all(report.records_deleted.iter().map(|k| self.layout().record(k)).collect())?;
        }
        // Read the records kept and any written since the listing.
        let (now_records, _) = self.aged()?;
        let deleted: HashSet<&String> = report.records_deleted.iter().collect();
        let kept_now: Vec<String> = now_records.into_iter().map(|r| r.name).filter(|k| !deleted.contains(k)).collect();
        let named: HashSet<String> =
            self.records_of(&kept_now)?.iter().flat_map(|r| r.files().map(|(_, f)| f.blake3.clone()).collect::<Vec<_>>()).collect();
        let mut doomed = Vec::new();
        for b in blobs {
            if named.contains(&b.name) {
                report.blobs_kept += 1;
            } else if b.age < grace {
                report.young_kept += 1;
                report.blobs_kept += 1;
            } else {
                report.blobs_deleted += 1;
                report.bytes_deleted += b.size;
                doomed.push(self.layout().blob(&b.name));
            }
        }
        if !dry_run {
            self.delete_all(doomed)?;
        }
        Ok(report)
    }

    fn delete_all(&self, paths: Vec<object_store::path::Path>) -> Result<(), TransferError> {
        let done: Vec<Result<(), object_store::Error>> =
            self.block_on(futures::stream::iter(&paths).map(|p| self.delete(p)).buffer_unordered(IN_FLIGHT).collect());
        done.into_iter().collect::<Result<(), _>>().map_err(|e| self.fail(e))
    }

    /// Rehashes the blobs the records name (every one, or `sample` of them
    /// spread evenly over their digests); returns how many were checked and
    /// what is damaged or missing.
    pub fn verify_blobs(&self, sample: Option<usize>) -> Result<(u64, Vec<RemoteProblem>), TransferError> {
        let (records, _) = self.aged()?;
        let keys: Vec<String> = records.into_iter().map(|r| r.name).collect();
        let mut named: HashMap<String, (String, String)> = HashMap::new();
        for r in self.records_of(&keys)? {
            for (file, f) in r.files() {
                named.entry(f.blake3.clone()).or_insert_with(|| (r.manifest.key.clone(), file));
            }
        }
        let mut digests: Vec<&String> = named.keys().collect();
        digests.sort();
        if let Some(n) = sample.filter(|&n| n > 0 && n < digests.len()) {
            let step = digests.len() as f64 / n as f64;
            digests = (0..n).map(|i| digests[(i as f64 * step) as usize]).collect();
        }
        let checked = digests.len() as u64;
        let results: Vec<(String, Result<Option<bytes::Bytes>, object_store::Error>)> = self.block_on(
            futures::stream::iter(digests)
                .map(|d| async move { (d.clone(), self.get(&self.layout().blob(d)).await) })
                .buffer_unordered(IN_FLIGHT)
                .collect(),
        );
        let mut problems = Vec::new();
        for (digest, got) in results {
            let (key, file) = named[&digest].clone();
            let problem = match got.map_err(|e| self.fail(e))? {
                None => format!("blob {digest} is missing"),
                Some(bytes) => {
                    let actual = blake3::hash(&bytes).to_hex().to_string();
                    if actual == digest {
                        continue;
                    }
                    format!("blob {digest} holds bytes with blake3 {actual}")
                }
            };
            problems.push(RemoteProblem { key, file, problem });
        }
        problems.sort_by(|a, b| (&a.key, &a.file).cmp(&(&b.key, &b.file)));
        Ok((checked, problems))
    }
}
