//! The content-addressed cache on disk.
//!
//! ```text
//! CACHE/entries/ab/abcdef…/manifest.json   one entry per key, published by rename
//! CACHE/entries/ab/abcdef…/out/            the outputs
//! CACHE/entries/ab/abcdef…/log.txt         what the stage printed
//! CACHE/entries/ab/abcdef…/timings.json    the stage's own wall times (if any)
//! CACHE/tmp/KEY.PID.N/                     entries being computed
//! CACHE/locks/KEY.lock                     flock held while a key is computed (removed on release,
//!                                          and by an interrupt: see [`remove_held_lock_files`])
//! CACHE/logs/KEY.log, CACHE/failed/KEY/    log and partial outputs of a failed attempt
//! CACHE/state.sqlite                       stat cache and last runs
//! CACHE/results/PIPELINE/STAGE[/ITEM]      symlinks to the latest outputs (names encoded)
//! CACHE/quarantine/KEY.PID.N/              damaged entries moved aside, with reason.txt
//! CACHE/tmp/unrecorded-PID-N.keys          entries published, lineage not recorded yet (see unrecorded)
//! ```
//!
//! An entry is either absent or complete: it is written under tmp/, fsynced,
//! then renamed into place. Locks are kernel flocks, released when a process
//! dies, so a killed run never blocks the next one.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result, bail};

use crate::store::bounded::{JSON_CAP, read_capped, read_text_capped};
use crate::store::digest::hash_tree;
use crate::store::keys::{key_of, tree_digest};
use crate::store::manifest::{FileRecord, Manifest};
use crate::store::names::path_component;

pub use crate::store::keys::check_key;

/// The default cache root, relative to the working directory.
pub const DEFAULT_ROOT: &str = "cache";

/// An entry's log, beside its outputs.
pub const LOG_FILE: &str = "log.txt";

/// An entry's timings (per epoch, say), beside its outputs: what depends on
/// the machine stays out of the outputs and their digest.
pub const TIMINGS_FILE: &str = "timings.json";

/// A cache root on disk.
#[derive(Clone, Debug)]
pub struct Cache {
    root: PathBuf,
}

/// The part of a manifest that dependents need.
#[derive(Debug, serde::Deserialize)]
pub struct EntryOutputs {
    /// The key the manifest names.
    #[serde(default)]
    pub key: Option<String>,
    /// Every output file.
    pub outputs: Vec<FileRecord>,
    /// Tree digest of the outputs.
    pub output_digest: String,
}

/// Holds a key's lock until dropped. The lock file is removed by its holder
/// when it lets go, so lock files do not pile up: whoever waited on the old
/// file sees it gone and locks the new one (see `still_at`).
pub struct KeyLock {
    file: File,
    path: PathBuf,
}

impl Drop for KeyLock {
    fn drop(&mut self) {
        // Unlinked while still locked: nobody can lock this file and then
        // believe it is the current one.
        if still_at(&self.file, &self.path) {
            let _ = fs::remove_file(&self.path);
        }
        let id = file_id(&self.file);
        HELD.lock().unwrap_or_else(|e| e.into_inner()).retain(|(path, held)| (path, Some(*held)) != (&self.path, id));
    }
}

/// The lock files this process holds, with their (device, inode), for an
/// interrupt to remove: `process::exit` runs no `Drop`.
static HELD: Mutex<Vec<(PathBuf, (u64, u64))>> = Mutex::new(Vec::new());

/// Removes the files of every lock this process holds, as their `Drop`
/// would; returns how many. For the interrupt handler just before the
/// process exits (its flocks go with it). A process waiting on one of them
/// sees it gone and locks a new file, as after any release (`still_at`).
pub fn remove_held_lock_files() -> usize {
    let held = std::mem::take(&mut *HELD.lock().unwrap_or_else(|e| e.into_inner()));
    let mut removed = 0;
    for (path, id) in held {
        // Only the file this process locked, not a newer one at the same path.
        let now = fs::metadata(&path).ok().map(|m| (std::os::unix::fs::MetadataExt::dev(&m), std::os::unix::fs::MetadataExt::ino(&m)));
        if now == Some(id) && fs::remove_file(&path).is_ok() {
            removed += 1;
        }
    }
    removed
}

/// An open file's (device, inode).
fn file_id(file: &File) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    file.metadata().ok().map(|m| (m.dev(), m.ino()))
}

/// Whether `path` still names the open `file` (not removed or replaced).
fn still_at(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), fs::metadata(path)) {
        (Ok(a), Ok(b)) => (a.dev(), a.ino()) == (b.dev(), b.ino()),
        _ => false,
    }
}

static STAGING_COUNTER: AtomicU64 = AtomicU64::new(0);

impl Cache {
    /// Opens a cache root, creating its folders.
    pub fn open(root: &Path) -> Result<Cache> {
        for sub in ["entries", "tmp", "locks", "results"] {
            fs::create_dir_all(root.join(sub)).with_context(|| format!("cannot create cache folder {}", root.join(sub).display()))?;
        }
        let root = fs::canonicalize(root).with_context(|| format!("cannot resolve {}", root.display()))?;
        Ok(Cache { root })
    }

    /// The cache root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The folder of result links of the pipeline named `pipeline`.
    pub fn results_dir(&self, pipeline: &str) -> PathBuf {
        self.root.join("results").join(path_component(pipeline))
    }

    /// The result link of a stage (and item) of a pipeline: each name is
    /// encoded as one path component, so the link stays inside
    /// `results/PIPELINE/` whatever a sweep value holds.
    pub fn result_link(&self, pipeline: &str, stage: &str, item: Option<&str>) -> PathBuf {
        let link = self.results_dir(pipeline).join(path_component(stage));
        match item {
            Some(item) => link.join(path_component(item)),
            None => link,
        }
    }

    /// The state store's path.
    pub fn state_path(&self) -> PathBuf {
        self.root.join("state.sqlite")
    }

    /// Where the entry for `key` lives (whether or not it exists). A key that
    /// is not 64 hex digits (read from an edited table or database) is an
    /// error, never a path outside the cache.
    pub fn entry_dir(&self, key: &str) -> Result<PathBuf> {
        check_key(key)?;
        Ok(self.root.join("entries").join(&key[..2]).join(key))
    }

    /// Where the outputs of the entry for `key` live.
    pub fn out_dir(&self, key: &str) -> Result<PathBuf> {
        Ok(self.entry_dir(key)?.join("out"))
    }

    /// The manifest of `key`, if the entry exists.
    pub fn manifest(&self, key: &str) -> Result<Option<Manifest>> {
        self.read_manifest(key)
    }

    /// Only the outputs of `key`'s entry, if it exists: what a lookup needs,
    /// without building the rest of the manifest.
    pub fn outputs(&self, key: &str) -> Result<Option<EntryOutputs>> {
        self.read_manifest(key)
    }

    fn read_manifest<T: serde::de::DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        let path = self.entry_dir(key)?.join("manifest.json");
        match read_capped(&path, JSON_CAP) {
            Ok(bytes) => serde_json::from_slice(&bytes).map(Some).with_context(|| format!("corrupt manifest {}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
    }

    /// Blocks until this process holds the lock for `key`.
    pub fn lock(&self, key: &str) -> Result<KeyLock> {
        Ok(self.acquire(key, true)?.expect("a blocking lock is always taken"))
    }

    /// Takes the lock for `key` if nobody holds it.
    pub fn try_lock(&self, key: &str) -> Result<Option<KeyLock>> {
        self.acquire(key, false)
    }

    /// Opens and locks the lock file, again if its previous holder removed
    /// it while this process waited; `None` when busy and not `blocking`.
    fn acquire(&self, key: &str, blocking: bool) -> Result<Option<KeyLock>> {
        let path = self.lock_path(key)?;
        loop {
            let file = File::create(&path).with_context(|| format!("cannot create lock {}", path.display()))?;
            if blocking {
                file.lock().with_context(|| format!("cannot lock {}", path.display()))?;
            } else if file.try_lock().is_err() {
                return Ok(None);
            }
            if still_at(&file, &path) {
                if let Some(id) = file_id(&file) {
                    HELD.lock().unwrap_or_else(|e| e.into_inner()).push((path.clone(), id));
                }
                return Ok(Some(KeyLock { file, path }));
            }
        }
    }

    /// The lock file of `key`.
    fn lock_path(&self, key: &str) -> Result<PathBuf> {
        check_key(key)?;
        Ok(self.root.join("locks").join(format!("{key}.lock")))
    }

    /// A fresh, empty staging folder for computing `key`; the caller must hold
    /// its lock. Leftovers of killed runs for the same key are removed.
    pub fn staging(&self, key: &str) -> Result<PathBuf> {
        let tmp = self.root.join("tmp");
        for entry in fs::read_dir(&tmp).with_context(|| format!("cannot list {}", tmp.display()))?.flatten() {
            if entry.file_name().to_string_lossy().starts_with(&format!("{key}.")) {
                let _ = fs::remove_dir_all(entry.path());
            }
        }
        let n = STAGING_COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = tmp.join(format!("{key}.{}.{n}", std::process::id()));
        fs::create_dir_all(dir.join("out")).with_context(|| format!("cannot create {}", dir.display()))?;
        Ok(dir)
    }

    /// Writes the manifest into `staging`, makes everything durable and moves
    /// it into place as the entry for `manifest.key`.
    pub fn publish(&self, staging: &Path, manifest: &Manifest) -> Result<()> {
        let path = staging.join("manifest.json");
        fs::write(&path, serde_json::to_vec_pretty(manifest)?).with_context(|| format!("cannot write {}", path.display()))?;
        sync_tree(staging)?;
        let target = self.entry_dir(&manifest.key)?;
        let parent = target.parent().expect("entry has a parent");
        fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
        if target.exists() {
            // Published by another run; a damaged entry was moved aside
            // under the lock before computing (`Cache::quarantine`).
            fs::remove_dir_all(staging).ok();
            return Ok(());
        }
        // Before it appears: until its lineage is recorded, `verify` knows
        // it for an entry a run is yet to record, not a damaged table.
        crate::store::unrecorded::note(&self.root, &manifest.key)?;
        fs::rename(staging, &target).with_context(|| format!("cannot move {} to {}", staging.display(), target.display()))?;
        File::open(parent).and_then(|d| d.sync_all()).ok();
        Ok(())
    }

    /// Keeps what a failed attempt left: its error as `logs/KEY.error`, its
    /// log as `logs/KEY.log` and, when it wrote any outputs (a last good
    /// checkpoint, say), the outputs as `failed/KEY/`; removes the staging
    /// folder. Returns a note for the error.
    pub fn keep_failed(&self, key: &str, staging: &Path, error: &str) -> String {
        let mut notes = Vec::new();
        let logs = self.root.join("logs");
        if fs::create_dir_all(&logs).is_ok() {
            let _ = fs::write(logs.join(format!("{key}.error")), error);
        }
        let log = staging.join(LOG_FILE);
        if log.exists() {
            let kept = self.root.join("logs").join(format!("{key}.log"));
            if fs::create_dir_all(kept.parent().expect("logs folder")).is_ok() && fs::rename(&log, &kept).is_ok() {
                notes.push(format!("log: {}", kept.display()));
            }
        }
        let out = staging.join("out");
        if fs::read_dir(&out).is_ok_and(|mut d| d.next().is_some()) {
            let kept = self.root.join("failed").join(key);
            let _ = fs::remove_dir_all(&kept);
            if fs::create_dir_all(kept.parent().expect("failed folder")).is_ok() && fs::rename(&out, &kept).is_ok() {
                notes.push(format!("partial outputs kept in {}", kept.display()));
            }
        }
        fs::remove_dir_all(staging).ok();
        if notes.is_empty() { String::new() } else { format!(" ({})", notes.join("; ")) }
    }

    /// The error of the last failed attempt at `key`, if it failed and has
    /// not been computed since.
    pub fn failure(&self, key: &str) -> Option<String> {
        let entry = self.entry_dir(key).ok()?;
        if entry.join("manifest.json").exists() {
            return None;
        }
        read_text_capped(&self.root.join("logs").join(format!("{key}.error")), JSON_CAP).ok()
    }

    /// Every key with an entry.
    pub fn keys(&self) -> Result<Vec<String>> {
        let mut keys = Vec::new();
        let entries = self.root.join("entries");
        for shard in fs::read_dir(&entries).with_context(|| format!("cannot list {}", entries.display()))? {
            let shard = shard?.path();
            if !shard.is_dir() {
                continue;
            }
            for e in fs::read_dir(&shard)? {
                let name = e?.file_name().to_string_lossy().into_owned();
                // Anything else in the folder is not an entry.
                if check_key(&name).is_ok() {
                    keys.push(name);
                }
            }
        }
        keys.sort();
        Ok(keys)
    }

    /// Rehashes an entry's outputs and checks them and its key against the
    /// manifest; returns what is wrong, or `None` when it is intact.
    pub fn verify_entry(&self, key: &str) -> Option<String> {
        let manifest = match self.manifest(key) {
            Ok(Some(m)) => m,
            Ok(None) => return Some("manifest.json is missing".into()),
            Err(e) => return Some(format!("{e:#}")),
        };
        if manifest.key != key {
            return Some(format!("manifest names key {}", manifest.key));
        }
        if key_of(&manifest.material) != key {
            return Some("key does not match the manifest's kind, parameters and inputs".into());
        }
        let actual = match self.out_dir(key).and_then(|dir| hash_tree(&dir)) {
            Ok(files) => files,
            Err(e) => return Some(format!("cannot rehash outputs: {e:#}")),
        };
        if actual == manifest.outputs && tree_digest(&actual) == manifest.output_digest {
            return None;
        }
        let mut problems = Vec::new();
        for want in &manifest.outputs {
            match actual.iter().find(|f| f.path == want.path) {
                None => problems.push(format!("{} is missing", want.path)),
                Some(got) if got != want => problems.push(format!("{} changed", want.path)),
                Some(_) => {}
            }
        }
        for got in &actual {
            if !manifest.outputs.iter().any(|f| f.path == got.path) {
                problems.push(format!("{} was added", got.path));
            }
        }
        if problems.is_empty() {
            problems.push("output digest differs from the manifest".into());
        }
        Some(problems.join("; "))
    }

    /// Points `results/PIPELINE/STAGE[/ITEM]` at an entry's outputs (a link
    /// that already does, as after a run that computed nothing, is left as
    /// it is).
    pub fn link_result(&self, pipeline: &str, stage: &str, item: Option<&str>, key: &str) -> Result<()> {
        let link = self.result_link(pipeline, stage, item);
        let target = self.out_dir(key)?;
        if fs::read_link(&link).is_ok_and(|to| to == target) {
            return Ok(());
        }
        let parent = link.parent().expect("link has a parent");
        fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
        let tmp = parent.join(format!(".{}.{}", link.file_name().unwrap().to_string_lossy(), std::process::id()));
        let _ = fs::remove_file(&tmp);
        std::os::unix::fs::symlink(&target, &tmp).with_context(|| format!("cannot create link {}", tmp.display()))?;
        if link.is_dir() && !link.is_symlink() {
            bail!("{} is a folder, not a result link", link.display());
        }
        fs::rename(&tmp, &link).with_context(|| format!("cannot update link {}", link.display()))
    }

    /// Removes the result link of a stage (and item), if it is a link: the
    /// latest outputs are not here (they are on a remote).
    pub fn unlink_result(&self, pipeline: &str, stage: &str, item: Option<&str>) {
        let link = self.result_link(pipeline, stage, item);
        if link.is_symlink() {
            let _ = fs::remove_file(&link);
        }
    }
}

/// fsyncs every file and folder under `dir`, then `dir` itself.
fn sync_tree(dir: &Path) -> Result<()> {
    for entry in fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let entry = entry?;
        let ft = entry.file_type()?;
        if ft.is_dir() {
            sync_tree(&entry.path())?;
        } else if ft.is_file() {
            File::open(entry.path()).and_then(|f| f.sync_all()).with_context(|| format!("cannot sync {}", entry.path().display()))?;
        }
    }
    File::open(dir).and_then(|d| d.sync_all()).with_context(|| format!("cannot sync {}", dir.display()))
}

/// Now as RFC 3339 UTC with milliseconds.
pub fn now_rfc3339() -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let secs = now.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z", rem / 3600, rem % 3600 / 60, rem % 60, now.subsec_millis())
}

/// Seconds since the epoch of an RFC 3339 UTC time as lungflow writes them
/// (`2026-11-30T07:06:27.123Z`); `None` for anything else.
pub fn epoch_seconds(text: &str) -> Option<f64> {
    let (date, time) = text.strip_suffix('Z')?.split_once('T')?;
    let mut d = date.split('-').map(|v| v.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let mut t = time.split(':');
    let (h, min, s) = (t.next()?.parse::<i64>().ok()?, t.next()?.parse::<i64>().ok()?, t.next()?.parse::<f64>().ok()?);
    // Days from civil (Howard Hinnant's algorithm), the inverse of [`now_rfc3339`].
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((days * 86_400 + h * 3600 + min * 60) as f64 + s)
}

/// Writes `bytes` to `path` through a temporary file beside it (named
/// after this process, so concurrent writers do not share one), synced and
/// renamed: a reader sees all of it or nothing.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    let mut f = File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    f.write_all(bytes).and_then(|()| f.sync_all()).with_context(|| format!("cannot write {}", tmp.display()))?;
    fs::rename(&tmp, path).with_context(|| format!("cannot move {} to {}", tmp.display(), path.display()))
}

/// This machine's host name.
pub fn host_name() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname").map(|s| s.trim().to_owned()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_damaged_key_is_an_error_not_a_panic_or_a_path_outside_the_cache() {
        let dir = lungflow_testkit::tempdir().unwrap();
        let cache = Cache::open(dir.path()).unwrap();
        for bad in ["", "a", "../../../../etc/passwd", &"A".repeat(64), &format!("{}é", "a".repeat(62))] {
            let err = cache.manifest(bad).unwrap_err().to_string();
            assert!(err.contains("is not a cache key"), "{bad:?}: {err}");
            assert!(cache.out_dir(bad).is_err() && cache.failure(bad).is_none(), "{bad:?}");
        }
        let good = "0123456789abcdef".repeat(4);
        assert_eq!(cache.out_dir(&good).unwrap(), cache.root().join("entries/01").join(&good).join("out"));
        assert!(cache.manifest(&good).unwrap().is_none());
    }

    #[test]
    fn stray_folders_among_the_entries_are_not_keys() {
        let dir = lungflow_testkit::tempdir().unwrap();
        let cache = Cache::open(dir.path()).unwrap();
        let good = "ab".repeat(32);
        fs::create_dir_all(cache.root().join("entries/ab").join(&good)).unwrap();
        fs::create_dir_all(cache.root().join("entries/ab/notes")).unwrap();
        assert_eq!(cache.keys().unwrap(), vec![good]);
    }

    #[test]
    fn times_written_by_lungflow_read_back_to_the_second() {
        assert_eq!(epoch_seconds("1970-01-01T00:00:00.000Z"), Some(0.0));
        assert_eq!(epoch_seconds("2000-03-01T00:00:01.500Z"), Some(951_868_801.5));
        let now = crate::store::cache::now_rfc3339();
        let back = epoch_seconds(&now).unwrap();
        let sys = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
        assert!((sys - back).abs() < 5.0, "{now} -> {back} vs {sys}");
        assert_eq!(epoch_seconds("yesterday"), None);
    }
}
