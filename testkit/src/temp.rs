//! Throw-away folders that clean up after themselves: what the tests used the
//! `tempfile` crate for. Kept here because `tempfile` as a dev-dependency
//! changed the features of rustix and fastrand, so that `cargo test`
//! rebuilt polars and burn after `cargo run` had built them.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// An empty folder made for one test under [`std::env::temp_dir`], removed
/// with everything in it when dropped.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// The folder.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// A new empty [`TempDir`], `lungflow-test-<pid>-<n>-<nanoseconds>` under
/// the system's temporary folder: the process id and a counter keep names
/// apart within a machine's run, and the folder is created, never reused.
pub fn tempdir() -> std::io::Result<TempDir> {
    static N: AtomicU64 = AtomicU64::new(0);
    let base = std::env::temp_dir();
    loop {
        let n = N.fetch_add(1, Ordering::Relaxed);
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
        let path = base.join(format!("lungflow-test-{}-{n}-{nanos}", std::process::id()));
        match std::fs::create_dir(&path) {
            Ok(()) => return Ok(TempDir { path }),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_folder_is_new_and_empty_and_goes_away_with_its_contents() {
        let (a, b) = (tempdir().unwrap(), tempdir().unwrap());
        assert_ne!(a.path(), b.path());
        assert!(a.path().starts_with(std::env::temp_dir()));
        assert_eq!(std::fs::read_dir(a.path()).unwrap().count(), 0);
        std::fs::create_dir_all(a.path().join("x/y")).unwrap();
        std::fs::write(a.path().join("x/y/z.txt"), "z").unwrap();
        let kept = a.path().to_path_buf();
        drop(a);
        assert!(!kept.exists(), "{} is still there", kept.display());
        assert!(b.path().is_dir(), "dropping one leaves the other");
    }

    #[test]
    fn threads_asking_at_once_get_different_folders() {
        let dirs: Vec<TempDir> = std::thread::scope(|s| {
            (0..8).map(|_| s.spawn(|| tempdir().unwrap())).collect::<Vec<_>>().into_iter().map(|h| h.join().unwrap()).collect()
        });
        let mut paths: Vec<&Path> = dirs.iter().map(TempDir::path).collect();
        paths.sort();
        paths.dedup();
        assert_eq!(paths.len(), 8);
    }
}
