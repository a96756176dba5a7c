//! Hashing files and directories, with a stat cache so that a file whose
//! path, size, mtime and inode are unchanged is never read again.
//!
//! Symbolic links inside a folder are followed: a link to a file counts as
//! that file, a link to a folder as that folder. A link that leads nowhere
//! (its target is missing, or links form a loop) is refused with an error
//! naming the link and its target, so an input folder holding one fails its
//! instance before the kind runs (an external input is passed to the kind as
//! the folder itself, so what is digested is what the kind reads).

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{Context, Result, bail};

use crate::store::keys::tree_digest;
use crate::store::manifest::FileRecord;
use crate::store::state::{StatRow, StateDb};

/// Files at least this large are hashed through mmap with rayon.
const MMAP_THRESHOLD: u64 = 4 << 20;

/// blake3 of a file's contents (of `size` bytes, already stat'ed), hex.
pub fn hash_file(path: &Path, size: u64) -> Result<String> {
    let mut h = blake3::Hasher::new();
    if size >= MMAP_THRESHOLD {
        h.update_mmap_rayon(path).with_context(|| format!("cannot read {}", path.display()))?;
    } else {
        let bytes = fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        h.update(&bytes);
    }
    Ok(h.finalize().to_hex().to_string())
}

/// Every regular file under `dir` with its metadata, sorted by relative path.
/// Each file is stat'ed once; folders are recognised from the directory
/// entry's type, so only symlinks cost an extra stat.
pub fn list_files_with_meta(dir: &Path) -> Result<Vec<(String, fs::Metadata)>> {
    let mut out = Vec::new();
    walk(dir, "", &mut out)?;
    out.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

fn walk(dir: &Path, prefix: &str, out: &mut Vec<(String, fs::Metadata)>) -> Result<()> {
    let entries = fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot list {}", dir.display()))?;
        let name = entry.file_name().into_string().map_err(|n| anyhow::anyhow!("{}: file name {:?} is not UTF-8", dir.display(), n))?;
        let rel = if prefix.is_empty() { name } else { format!("{prefix}/{name}") };
        let stat_failed = |e| anyhow::Error::new(e).context(format!("cannot stat {}", entry.path().display()));
        // Regular files are stat'ed relative to the open folder (their full
        // path is never built); symlinks are followed.
        let meta = match entry.file_type() {
            Ok(t) if t.is_dir() => None,
            Ok(t) if t.is_file() => Some(entry.metadata().map_err(stat_failed)?),
            _ => {
                let path = entry.path();
                Some(fs::metadata(&path).map_err(|e| broken_link(&path).unwrap_or_else(|| stat_failed(e)))?).filter(|m| !m.is_dir())
            }
        };
        match meta {
            Some(meta) => out.push((rel, meta)),
            None => walk(&entry.path(), &rel, out)?,
        }
    }
    Ok(())
}

/// The error for `path` when it is a symbolic link that leads nowhere.
fn broken_link(path: &Path) -> Option<anyhow::Error> {
    let what = leads_nowhere(path)?;
    Some(anyhow::anyhow!("{} is {what}; remove the link or restore its target (links in an input folder are followed)", path.display()))
}

/// `a symbolic link to TARGET, WHY` when `path` is a link that leads
/// nowhere (a missing target, or a loop of links); `None` for anything else.
pub fn leads_nowhere(path: &Path) -> Option<String> {
    fs::symlink_metadata(path).ok().filter(|m| m.file_type().is_symlink())?;
    let why = match fs::metadata(path) {
        Ok(_) => return None,
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => "symbolic links that form a loop",
        Err(_) => "a target that does not exist",
    };
    let target = fs::read_link(path).map_or_else(|e| format!("(unreadable: {e})"), |t| t.display().to_string());
    Some(format!("a symbolic link to {target}, {why}"))
}

/// Hashes every file under `dir` without a stat cache (for fresh outputs).
pub fn hash_tree(dir: &Path) -> Result<Vec<FileRecord>> {
    list_files_with_meta(dir)?
        .into_iter()
        .map(|(rel, meta)| Ok(FileRecord { blake3: hash_file(&dir.join(&rel), meta.len())?, path: rel, size: meta.len() }))
        .collect()
}

/// Hashes external inputs through the stat cache. Shared by worker threads:
/// each reads the rows of the folder it digests (one range of the table, on
/// a connection of its own), so nothing is loaded up front.
pub struct Digester {
    state: PathBuf,
    readers: Mutex<Vec<StateDb>>,
    fresh: Mutex<Vec<(String, StatRow)>>,
}

impl Digester {
    /// A digester over the stat cache of the state store at `state` (which
    /// [`StateDb::open`] has set up).
    pub fn new(state: &Path) -> Digester {
        Digester { state: state.to_owned(), readers: Mutex::new(Vec::new()), fresh: Mutex::new(Vec::new()) }
    }

    /// Rows hashed since the last call, to be saved in the stat cache.
    pub fn take_fresh(&self) -> Vec<(String, StatRow)> {
        std::mem::take(&mut *self.fresh.lock().expect("stat cache lock"))
    }

    /// Runs `read` on a connection no other thread is using.
    fn with_reader<T>(&self, read: impl FnOnce(&StateDb) -> Result<T>) -> Result<T> {
        let idle = self.readers.lock().expect("stat cache readers").pop();
        let db = match idle {
            Some(db) => db,
            None => StateDb::open_reader(&self.state)?,
        };
        let result = read(&db);
        self.readers.lock().expect("stat cache readers").push(db);
        result
    }

    /// Digest of a file: its stat-cache row's when `known` still describes
    /// it (same size, mtime and inode), else read (from `path()`, built only
    /// then) and hashed again.
    fn file_digest(&self, meta: &fs::Metadata, known: Option<StatRow>, path: impl FnOnce() -> PathBuf) -> Result<String> {
        let mtime_ns = meta.mtime() * 1_000_000_000 + meta.mtime_nsec();
        if let Some(row) = known
            && row.size == meta.len()
            && row.mtime_ns == mtime_ns
            && row.inode == meta.ino()
        {
            return Ok(row.digest);
        }
        let path = path();
        let digest = hash_file(&path, meta.len())?;
        let row = StatRow { size: meta.len(), mtime_ns, inode: meta.ino(), digest: digest.clone() };
        self.fresh.lock().expect("stat cache lock").push((path.to_string_lossy().into_owned(), row));
        Ok(digest)
    }

    /// Every file under the folder `dir` with its digest, sorted by path.
    fn folder(&self, dir: &Path) -> Result<Vec<FileRecord>> {
        let listed = list_files_with_meta(dir)?;
        let mut known: Vec<Option<StatRow>> = vec![None; listed.len()];
        self.with_reader(|db| {
            db.stats_under(&dir.join("").to_string_lossy(), |rel, row| {
                if let Ok(i) = listed.binary_search_by(|(path, _)| path.as_str().cmp(rel)) {
                    known[i] = Some(row);
                }
            })
        })?;
        listed
            .into_iter()
            .zip(known)
            .map(|((rel, meta), known)| {
                let blake3 = self.file_digest(&meta, known, || dir.join(&rel))?;
                Ok(FileRecord { path: rel, size: meta.len(), blake3 })
            })
            .collect()
    }

    /// Digest of a file (its content digest) or a directory (its tree digest),
    /// with every file read.
    pub fn path(&self, path: &Path) -> Result<(String, Vec<FileRecord>)> {
        let meta = match fs::metadata(path) {
            Ok(meta) => meta,
            Err(e) => {
                return Err(
                    broken_link(path).unwrap_or_else(|| anyhow::Error::new(e).context(format!("input {} does not exist", path.display())))
                );
            }
        };
        if meta.is_dir() {
            let files = self.folder(path)?;
            Ok((tree_digest(&files), files))
        } else if meta.is_file() {
            let known = self.with_reader(|db| db.stat_of(&path.to_string_lossy()))?;
            let blake3 = self.file_digest(&meta, known, || path.to_owned())?;
            Ok((blake3.clone(), vec![FileRecord { path: String::new(), size: meta.len(), blake3 }]))
        } else {
            bail!("input {} is neither a file nor a directory", path.display())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_that_leads_nowhere_is_refused_naming_the_link_and_its_target() {
        let dir = lungflow_testkit::tempdir().unwrap();
        let input = dir.path().join("input");
        fs::create_dir_all(input.join("sub")).unwrap();
        fs::write(input.join("a.txt"), "a").unwrap();
        std::os::unix::fs::symlink("../a.txt", input.join("sub/to-a")).unwrap();
        let listed: Vec<String> = list_files_with_meta(&input).unwrap().into_iter().map(|(rel, _)| rel).collect();
        assert_eq!(listed, ["a.txt", "sub/to-a"], "a link to a file counts as the file");
        std::os::unix::fs::symlink("/nowhere/b.dcm", input.join("sub/b.dcm")).unwrap();
        let e = format!("{:#}", list_files_with_meta(&input).unwrap_err());
        let link = input.join("sub/b.dcm");
        assert!(e.starts_with(&format!("{} is a symbolic link to /nowhere/b.dcm, a target that does not exist;", link.display())), "{e}");
        fs::remove_file(&link).unwrap();
        std::os::unix::fs::symlink("loop", input.join("loop")).unwrap();
        let e = format!("{:#}", Digester::new(&dir.path().join("state.sqlite")).path(&input).unwrap_err());
        assert!(e.contains("loop is a symbolic link to loop, symbolic links that form a loop;"), "{e}");
        let e = format!("{:#}", Digester::new(&dir.path().join("state.sqlite")).path(&input.join("loop")).unwrap_err());
        assert!(e.contains("loop is a symbolic link to loop, symbolic links that form a loop;"), "{e}");
    }

    /// Digests `input` through the stat cache in `state`, saving what it hashed;
    /// returns the digest and how many files were hashed (not found unchanged).
    fn digest(state: &Path, input: &Path) -> (String, usize) {
        let mut db = StateDb::open(state).unwrap();
        let digester = Digester::new(state);
        let (digest, _) = digester.path(input).unwrap();
        let fresh = digester.take_fresh();
        db.save_stats(&fresh).unwrap();
        (digest, fresh.len())
    }

    #[test]
    fn the_stat_cache_answers_for_unchanged_files_of_the_folder_and_only_those() {
        let dir = lungflow_testkit::tempdir().unwrap();
        let state = dir.path().join("state.sqlite");
        let data = dir.path().join("data");
        for (rel, text) in [("p1/a.txt", "aaaa"), ("p1/sub/b.txt", "bbbb"), ("p10/a.txt", "other"), ("p1.txt", "single")] {
            fs::create_dir_all(data.join(rel).parent().unwrap()).unwrap();
            fs::write(data.join(rel), text).unwrap();
        }
        let first = digest(&state, &data.join("p1"));
        assert_eq!(first.1, 2, "a cold stat cache hashes every file");
        assert_eq!(digest(&state, &data.join("p1")), (first.0.clone(), 0), "a warm one hashes none");
        assert_eq!(digest(&state, &data.join("p10")).1, 1, "a folder whose name extends another's has rows of its own");
        assert_eq!(digest(&state, &data.join("p1.txt")).1, 1);
        assert_eq!(digest(&state, &data.join("p1.txt")).1, 0, "a single file is found by its path");

        // Same size, same mtime, same inode: the row still describes the file,
        // so the old digest is what the cache answers (the rehash of
        // `lungflow verify` is what finds such a flip).
        let a = data.join("p1/a.txt");
        let mtime = fs::metadata(&a).unwrap().modified().unwrap();
        fs::write(&a, "AAAA").unwrap();
        fs::File::options().write(true).open(&a).unwrap().set_modified(mtime).unwrap();
        assert_eq!(digest(&state, &data.join("p1")), (first.0.clone(), 0));
        // Same size, another mtime: hashed again, and the digest changes.
        fs::File::options().write(true).open(&a).unwrap().set_modified(mtime + std::time::Duration::from_secs(1)).unwrap();
        let changed = digest(&state, &data.join("p1"));
        assert_eq!(changed.1, 1, "only the touched file is hashed again");
        assert_ne!(changed.0, first.0);
        // Back to the old bytes (and yet another mtime): the first digest again.
        fs::write(&a, "aaaa").unwrap();
        assert_eq!(digest(&state, &data.join("p1")), (first.0, 1));
    }
}
