//! Entries published whose lineage is not recorded yet.
//!
//! A run adds its entries' edges to the lineage table when it ends
//! (`lineage::table::record_run`); one killed or interrupted before that
//! leaves entries without edges, which is not damage. So that `verify` can
//! tell the two apart, a process notes each key in a file of its own just
//! before the entry moves into place:
//!
//! ```text
//! CACHE/tmp/unrecorded-PID-NANOS.keys   one key a line, synced; flocked while its process lives
//! ```
//!
//! The file goes once the keys are recorded. A file whose lock is free
//! belongs to a process that ended without recording: the next run records
//! its keys and removes it (so does `gc`, and a rebuild of the table).

use std::collections::{HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{Context, Result};

use crate::store::keys::check_key;

/// How the files' names start, in `CACHE/tmp`.
pub const PREFIX: &str = "unrecorded-";
/// How the files' names end.
const SUFFIX: &str = ".keys";

/// This process's file per cache root, open and locked.
static OWN: Mutex<Option<HashMap<PathBuf, (File, PathBuf)>>> = Mutex::new(None);

/// Notes, in this process's file under `root` (created and locked on first
/// use), that `key` is about to be published.
pub fn note(root: &Path, key: &str) -> Result<()> {
    let mut own = OWN.lock().unwrap_or_else(|e| e.into_inner());
    let own = own.get_or_insert_with(HashMap::new);
    if !own.contains_key(root) {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
        let path = root.join("tmp").join(format!("{PREFIX}{}-{nanos}{SUFFIX}", std::process::id()));
        let file =
            OpenOptions::new().append(true).create_new(true).open(&path).with_context(|| format!("cannot create {}", path.display()))?;
        file.lock().with_context(|| format!("cannot lock {}", path.display()))?;
        own.insert(root.to_owned(), (file, path));
    }
    let (file, path) = &own[root];
    let mut file: &File = file;
    file.write_all(format!("{key}\n").as_bytes())
        .and_then(|()| file.sync_data())
        .with_context(|| format!("cannot write {}", path.display()))
}

/// The keys every process noted under a cache root, with the files of the
/// processes that ended, locked here until [`Unrecorded::recorded`].
pub struct Unrecorded {
    /// Keys noted by processes still running (this one included) or ended.
    pub keys: HashSet<String>,
    /// Of those, how many were noted by processes that ended.
    pub ended_keys: usize,
    /// The files of ended processes, with their lock held.
    ended: Vec<(File, PathBuf)>,
}

/// Reads every process's file under `root`.
pub fn scan(root: &Path) -> Result<Unrecorded> {
    let tmp = root.join("tmp");
    let mut found = Unrecorded { keys: HashSet::new(), ended_keys: 0, ended: Vec::new() };
    let listing = match fs::read_dir(&tmp) {
        Ok(listing) => listing,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(found),
        Err(e) => return Err(e).with_context(|| format!("cannot list {}", tmp.display())),
    };
    for entry in listing.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !(name.starts_with(PREFIX) && name.ends_with(SUFFIX)) {
            continue;
        }
        let path = entry.path();
        // Gone since the listing: its process recorded it.
        let Ok(file) = File::open(&path) else { continue };
        let text = fs::read_to_string(&path).unwrap_or_default();
        let keys: Vec<&str> = text.lines().filter(|k| check_key(k).is_ok()).collect();
        if file.try_lock().is_ok() {
            found.ended_keys += keys.len();
            found.ended.push((file, path));
        }
        found.keys.extend(keys.into_iter().map(str::to_owned));
    }
    Ok(found)
}

impl Unrecorded {
    /// How many processes that ended left keys unrecorded.
    pub fn ended_files(&self) -> usize {
        self.ended.len()
    }

    /// Removes the files of the ended processes and this process's own
    /// file under `root`: call it once every key in `keys` is recorded.
    pub fn recorded(self, root: &Path) {
        for (_file, path) in self.ended {
            let _ = fs::remove_file(&path);
        }
        let own = OWN.lock().unwrap_or_else(|e| e.into_inner()).as_mut().and_then(|own| own.remove(root));
        if let Some((_file, path)) = own {
            let _ = fs::remove_file(&path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_live_process_keys_are_unrecorded_and_an_ended_one_is_recorded_away() {
        let dir = lungflow_testkit::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("tmp")).unwrap();
        let (a, b, c) = ("a".repeat(64), "b".repeat(64), "c".repeat(64));
        note(root, &a).unwrap();
        note(root, &b).unwrap();
        // A process that ended: nobody holds its file's lock.
        let dead = root.join("tmp").join(format!("{PREFIX}1-2{SUFFIX}"));
        fs::write(&dead, format!("{c}\nnot a key\n")).unwrap();
        let found = scan(root).unwrap();
        assert_eq!(found.keys, HashSet::from([a.clone(), b.clone(), c.clone()]));
        assert_eq!((found.ended_keys, found.ended_files()), (1, 1), "only the dead file's key is of an ended process");
        found.recorded(root);
        let left: Vec<_> = fs::read_dir(root.join("tmp")).unwrap().flatten().collect();
        assert!(left.is_empty(), "{left:?}");
        assert!(scan(root).unwrap().keys.is_empty());
    }
}
