//! Checking a cache entry before it is reused, and moving a damaged one
//! aside.
//!
//! The check on every lookup is cheap: the manifest must parse and name the
//! key, and the files under `out/` must be exactly those it lists, with the
//! sizes it lists. A file modified after the manifest was written (its mtime
//! is later: outputs are written first, the manifest last) is rehashed. A
//! byte flipped in place without touching the mtime is found only by the full
//! rehash of `lungflow verify`.
//!
//! A damaged entry is moved to `CACHE/quarantine/KEY.PID.N/` with a
//! `reason.txt`, never deleted, so whatever it held can still be inspected.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result};

use crate::store::cache::{Cache, EntryOutputs};
use crate::store::digest::{hash_file, list_files_with_meta};
use crate::store::keys::tree_digest;

/// The folder damaged entries are moved to, under the cache root.
pub const QUARANTINE_DIR: &str = "quarantine";

/// What a lookup finds for a key.
#[derive(Debug)]
pub enum EntryState {
    /// No entry.
    Absent,
    /// An entry whose outputs match its manifest.
    Intact(EntryOutputs),
    /// An entry that must not be reused, and why.
    Damaged(String),
}

static QUARANTINE_COUNTER: AtomicU64 = AtomicU64::new(0);

impl Cache {
    /// Checks the entry of `key` at lookup cost (see the module notes).
    pub fn check_entry(&self, key: &str) -> Result<EntryState> {
        let dir = self.entry_dir(key)?;
        let manifest_path = dir.join("manifest.json");
        let manifest_meta = match fs::metadata(&manifest_path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(if dir.exists() { EntryState::Damaged("manifest.json is missing".into()) } else { EntryState::Absent });
            }
            Err(e) => return Err(e).with_context(|| format!("cannot stat {}", manifest_path.display())),
        };
        let outputs = match self.outputs(key) {
            Ok(Some(m)) => m,
            Ok(None) => return Ok(EntryState::Absent),
            Err(e) => return Ok(EntryState::Damaged(format!("{e:#}"))),
        };
        Ok(match outputs_problem(&dir.join("out"), &outputs, key, &manifest_meta) {
            Some(problem) => EntryState::Damaged(problem),
            None => EntryState::Intact(outputs),
        })
    }

    /// Moves the entry of `key` (whose lock the caller holds) to the
    /// quarantine folder with a note of `reason`; returns where it went.
    pub fn quarantine(&self, key: &str, reason: &str) -> Result<PathBuf> {
        let dir = self.entry_dir(key)?;
        let target_dir = self.root().join(QUARANTINE_DIR);
        fs::create_dir_all(&target_dir).with_context(|| format!("cannot create {}", target_dir.display()))?;
        let n = QUARANTINE_COUNTER.fetch_add(1, Ordering::Relaxed);
        let target = target_dir.join(format!("{key}.{}.{n}", std::process::id()));
        fs::rename(&dir, &target).with_context(|| format!("cannot move damaged entry {} to {}", dir.display(), target.display()))?;
        let _ = fs::write(target.join("reason.txt"), format!("{reason}\n"));
        Ok(target)
    }
}

/// What is wrong with the outputs under `out` given the manifest, if anything.
fn outputs_problem(out: &Path, m: &EntryOutputs, key: &str, manifest_meta: &fs::Metadata) -> Option<String> {
    if m.key.as_deref().is_some_and(|k| k != key) {
        return Some(format!("manifest.json names another key ({})", m.key.as_deref().unwrap_or_default()));
    }
    if tree_digest(&m.outputs) != m.output_digest {
        return Some("manifest.json's output digest does not match its file list".into());
    }
    let files = match list_files_with_meta(out) {
        Ok(files) => files,
        Err(_) if !out.is_dir() => Vec::new(),
        Err(e) => return Some(format!("cannot list out/: {e:#}")),
    };
    let written = manifest_meta.modified().ok();
    let (mut listed, mut found) = (m.outputs.iter().peekable(), files.iter().peekable());
    loop {
        match (listed.peek(), found.peek()) {
            (None, None) => return None,
            (Some(want), Some((path, _))) if want.path < *path => return Some(format!("{} is missing", want.path)),
            (Some(want), None) => return Some(format!("{} is missing", want.path)),
            (Some(want), Some((path, meta))) if want.path == *path => {
                if meta.len() != want.size {
                    return Some(format!("{} has {} bytes, the manifest says {}", want.path, meta.len(), want.size));
                }
                let touched = written.is_none_or(|w| meta.modified().is_ok_and(|t| t > w));
                if touched && hash_file(&out.join(path), meta.len()).ok().as_deref() != Some(want.blake3.as_str()) {
                    return Some(format!("{} changed (modified after the entry was written)", want.path));
                }
                listed.next();
                found.next();
            }
            (_, Some((path, _))) => return Some(format!("{path} was added")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::digest::hash_tree;
    use crate::store::manifest::Manifest;

    /// A cache with one published entry holding `a.txt` and `sub/b.txt`.
    fn entry() -> (lungflow_testkit::TempDir, Cache, String) {
        let dir = lungflow_testkit::tempdir().unwrap();
        let cache = Cache::open(dir.path()).unwrap();
        let key = "cd".repeat(32);
        let staging = cache.staging(&key).unwrap();
        fs::write(staging.join("out/a.txt"), "alpha").unwrap();
        fs::create_dir_all(staging.join("out/sub")).unwrap();
        fs::write(staging.join("out/sub/b.txt"), "beta").unwrap();
        let outputs = hash_tree(&staging.join("out")).unwrap();
        let manifest = Manifest {
            key: key.clone(),
            stage: "s".into(),
            pipeline: "p".into(),
            material: crate::store::manifest::KeyMaterial {
                kind: "k".into(),
                kind_version: 1,
                params: Default::default(),
                item: None,
                inputs: Default::default(),
            },
            output_digest: tree_digest(&outputs),
            outputs,
            started: String::new(),
            finished: String::new(),
            seconds: 0.0,
            tool_version: String::new(),
            host: String::new(),
            usage: None,
        };
        cache.publish(&staging, &manifest).unwrap();
        (dir, cache, key)
    }

    fn problem(cache: &Cache, key: &str) -> String {
        match cache.check_entry(key).unwrap() {
            EntryState::Damaged(p) => p,
            other => panic!("not damaged: {other:?}"),
        }
    }

    #[test]
    fn an_intact_entry_passes_and_an_absent_one_is_absent() {
        let (_dir, cache, key) = entry();
        assert!(matches!(cache.check_entry(&key).unwrap(), EntryState::Intact(m) if m.outputs.len() == 2));
        assert!(matches!(cache.check_entry(&"ef".repeat(32)).unwrap(), EntryState::Absent));
    }

    #[test]
    fn each_kind_of_damage_is_named() {
        let (_dir, cache, key) = entry();
        let out = cache.out_dir(&key).unwrap();
        // Same size, later mtime: rehashed and found.
        std::thread::sleep(std::time::Duration::from_millis(20));
        fs::write(out.join("a.txt"), "alphA").unwrap();
        assert_eq!(problem(&cache, &key), "a.txt changed (modified after the entry was written)");
        fs::write(out.join("a.txt"), "alp").unwrap();
        assert_eq!(problem(&cache, &key), "a.txt has 3 bytes, the manifest says 5");
        fs::write(out.join("a.txt"), "alpha").unwrap();
        assert!(matches!(cache.check_entry(&key).unwrap(), EntryState::Intact(_)), "rewriting the same bytes is no damage");
        fs::remove_file(out.join("sub/b.txt")).unwrap();
        assert_eq!(problem(&cache, &key), "sub/b.txt is missing");
        fs::write(out.join("sub/b.txt"), "beta").unwrap();
        fs::write(out.join("extra"), "x").unwrap();
        assert_eq!(problem(&cache, &key), "extra was added");
        fs::remove_file(out.join("extra")).unwrap();
        fs::remove_dir_all(&out).unwrap();
        assert_eq!(problem(&cache, &key), "a.txt is missing");
        let manifest = cache.entry_dir(&key).unwrap().join("manifest.json");
        fs::write(&manifest, "{ not json").unwrap();
        assert!(problem(&cache, &key).contains("corrupt manifest"));
        fs::remove_file(&manifest).unwrap();
        assert_eq!(problem(&cache, &key), "manifest.json is missing");
    }

    #[test]
    fn quarantine_moves_the_entry_aside_with_its_reason() {
        let (_dir, cache, key) = entry();
        let moved = cache.quarantine(&key, "a.txt changed").unwrap();
        assert!(matches!(cache.check_entry(&key).unwrap(), EntryState::Absent));
        assert_eq!(fs::read_to_string(moved.join("out/a.txt")).unwrap(), "alpha");
        assert_eq!(fs::read_to_string(moved.join("reason.txt")).unwrap(), "a.txt changed\n");
        assert!(moved.starts_with(cache.root().join(QUARANTINE_DIR)));
    }
}
