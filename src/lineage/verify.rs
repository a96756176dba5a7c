//! `lineage --verify`: rehashes the files and cache entries a prediction's
//! lineage recorded and reports every drift since it was computed.

use rayon::prelude::*;
use serde::Serialize;

use crate::lineage::trace::{Lineage, named_keys, recorded_files};
use crate::store::cache::Cache;

/// One difference between what the lineage recorded and what is there now.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Drift {
    /// `file changed`, `file missing`, `entry missing` or `entry corrupt`.
    pub problem: &'static str,
    /// The file's path or the entry's key.
    pub target: String,
    /// Details: the digests, or what is wrong with the entry.
    pub detail: String,
}

/// What `verify` checked and found.
pub struct Verification {
    /// Files rehashed.
    pub files: usize,
    /// Cache entries checked.
    pub entries: usize,
    /// Every drift, files first, each sorted.
    pub drift: Vec<Drift>,
}

/// Checks the lineage's files and entries against what it recorded.
pub fn verify(cache: &Cache, lineage: &Lineage) -> Verification {
    let files = recorded_files(lineage);
    let keys = named_keys(lineage);
    let mut drifts: Vec<Drift> = files
        .par_iter()
        .filter_map(|(path, size, digest)| {
            let target = path.display().to_string();
            let now = match std::fs::metadata(path) {
                Err(e) => return Some(Drift { problem: "file missing", target, detail: e.to_string() }),
                Ok(m) => m.len(),
            };
            let fresh = match crate::store::digest::hash_file(path, now) {
                Ok(d) => d,
                Err(e) => return Some(Drift { problem: "file missing", target, detail: format!("{e:#}") }),
            };
            (fresh != *digest || now != *size).then(|| Drift {
                problem: "file changed",
                target,
                detail: format!("blake3 was {digest} ({size} bytes), now {fresh} ({now} bytes)"),
            })
        })
        .collect();
    let mut entries: Vec<Drift> = keys
        .par_iter()
        .filter_map(|(key, label)| {
            if !cache.entry_dir(key).is_ok_and(|dir| dir.exists()) {
                return Some(Drift { problem: "entry missing", target: key.clone(), detail: format!("{label} is not in the cache") });
            }
            cache.verify_entry(key).map(|why| Drift { problem: "entry corrupt", target: key.clone(), detail: format!("{label}: {why}") })
        })
        .collect();
    drifts.sort_by(|a, b| a.target.cmp(&b.target));
    entries.sort_by(|a, b| a.target.cmp(&b.target));
    drifts.extend(entries);
    Verification { files: files.len(), entries: keys.len(), drift: drifts }
}
