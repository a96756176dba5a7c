//! A remote as one run uses it: records looked up once, entries fetched or
//! pushed on demand, the entries refused this run (damaged on the remote:
//! computed here instead), what moved, and the remote going away in the
//! middle (a warning once, then the run goes on locally, unless it is required).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use super::client::Remote;
use super::record::Record;
use super::transfer::{Pushed, Tally, TransferError};
use crate::store::cache::Cache;

/// A remote and what one run did with it.
pub struct RemoteSession {
    remote: Remote,
    push: bool,
    required: bool,
    records: Mutex<HashMap<String, Option<Arc<Record>>>>,
    refused: Mutex<HashSet<String>>,
    gone: Mutex<Option<String>>,
    moved: Moved,
}

/// What a run moved to and from its remote (`run --json`'s `remote`).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct RemoteStats {
    /// The remote's address.
    pub remote: String,
    /// Records found on the remote for keys missing here.
    pub records_found: u64,
    /// Entries downloaded (and rehashed).
    pub entries_fetched: u64,
    /// Bytes of blobs downloaded.
    pub bytes_fetched: u64,
    /// Entries whose records this run wrote.
    pub entries_pushed: u64,
    /// Blobs uploaded.
    pub blobs_pushed: u64,
    /// Bytes of blobs uploaded.
    pub bytes_pushed: u64,
    /// Keys whose outputs here differed from the remote's (the remote's were adopted).
    pub disagreements: u64,
    /// Remote entries refused (damaged, incomplete or unbelievable): computed here.
    pub refused: u64,
    /// Why the run went on without the remote, if it did.
    pub lost: Option<String>,
}

#[derive(Default)]
struct Moved {
    records_found: AtomicU64,
    entries_fetched: AtomicU64,
    bytes_fetched: AtomicU64,
    entries_pushed: AtomicU64,
    blobs_pushed: AtomicU64,
    bytes_pushed: AtomicU64,
    disagreements: AtomicU64,
}

impl RemoteSession {
    /// A session over an opened, checked remote; `push` uploads every entry
    /// the run makes available; `required` makes a remote failure an error.
    pub fn new(remote: Remote, push: bool, required: bool) -> RemoteSession {
        RemoteSession {
            remote,
            push,
            required,
            records: Mutex::default(),
            refused: Mutex::default(),
            gone: Mutex::default(),
            moved: Moved::default(),
        }
    }

    /// The remote.
    pub fn remote(&self) -> &Remote {
        &self.remote
    }

    /// Whether the run pushes what it makes available.
    pub fn pushes(&self) -> bool {
        self.push && self.gone.lock().unwrap_or_else(|e| e.into_inner()).is_none()
    }

    /// Remote entries refused so far (a run that refused one goes round again).
    pub fn refused_count(&self) -> usize {
        self.refused.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// What moved.
    pub fn stats(&self) -> RemoteStats {
        let n = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let m = &self.moved;
        RemoteStats {
            remote: self.remote.url().to_string(),
            records_found: n(&m.records_found),
            entries_fetched: n(&m.entries_fetched),
            bytes_fetched: n(&m.bytes_fetched),
            entries_pushed: n(&m.entries_pushed),
            blobs_pushed: n(&m.blobs_pushed),
            bytes_pushed: n(&m.bytes_pushed),
            disagreements: n(&m.disagreements),
            refused: self.refused_count() as u64,
            lost: self.gone.lock().unwrap_or_else(|e| e.into_inner()).clone(),
        }
    }

    /// The remote's record of `key`, when it has a believable one that was
    /// not refused this run. A remote that stopped answering is a miss (with
    /// one warning), or an error when it is required.
    pub fn lookup(&self, key: &str) -> Result<Option<Arc<Record>>, String> {
        if self.is_gone() || self.refused.lock().unwrap_or_else(|e| e.into_inner()).contains(key) {
            return Ok(None);
        }
        if let Some(known) = self.records.lock().unwrap_or_else(|e| e.into_inner()).get(key) {
            return Ok(known.clone());
        }
        let found = match self.remote.block_on(self.remote.read_record(key)) {
            Ok(r) => r.map(Arc::new),
            Err(TransferError::Remote(message)) => return self.lost(message).map(|()| None),
            Err(e) => {
                self.refuse(key, &e);
                None
            }
        };
        if found.is_some() {
            self.moved.records_found.fetch_add(1, Ordering::Relaxed);
        }
        self.records.lock().unwrap_or_else(|e| e.into_inner()).insert(key.to_owned(), found.clone());
        Ok(found)
    }

    /// Downloads the entry of `key` (looked up before) into `cache`; the
    /// caller holds the key's lock. A damaged or incomplete remote entry is
    /// refused for the rest of the run and reported once.
    pub fn fetch(&self, cache: &Cache, key: &str) -> Result<(), String> {
        let Some(record) = self.lookup(key)? else {
            return Err(format!("the remote no longer offers entry {key}"));
        };
        match self.remote.block_on(self.remote.fetch_entry(cache, key, &record, &())) {
            Ok(bytes) => {
                self.moved.entries_fetched.fetch_add(1, Ordering::Relaxed);
                self.moved.bytes_fetched.fetch_add(bytes, Ordering::Relaxed);
                Ok(())
            }
            Err(TransferError::Remote(message)) => {
                self.lost(message.clone())?;
                Err(message)
            }
            Err(e @ TransferError::Local(_)) => Err(e.to_string()),
            Err(e) => {
                self.refuse(key, &e);
                Err(e.to_string())
            }
        }
    }

    /// Pushes the local entry `key` unless the remote has it; returns the
    /// remote's record when it holds other outputs for the key.
    pub fn push(&self, cache: &Cache, key: &str) -> Result<Option<Arc<Record>>, String> {
        if !self.pushes() {
            return Ok(None);
        }
        let tally = Counted { moved: &self.moved };
        match self.remote.block_on(self.remote.push_entry(cache, key, None, &tally)) {
            Ok(Pushed::New { .. }) => {
                self.moved.entries_pushed.fetch_add(1, Ordering::Relaxed);
                Ok(None)
            }
            Ok(Pushed::AlreadyThere) => Ok(None),
            Ok(Pushed::Differs(record)) => {
                self.moved.disagreements.fetch_add(1, Ordering::Relaxed);
                let record = Arc::new(*record);
                self.records.lock().unwrap_or_else(|e| e.into_inner()).insert(key.to_owned(), Some(Arc::clone(&record)));
                Ok(Some(record))
            }
            Err(TransferError::Remote(message)) => self.lost(message).map(|()| None),
            Err(e) => Err(e.to_string()),
        }
    }

    /// One output file of the remote entry `key`, rehashed, written to a
    /// temporary file of `cache` (for reading a small table the entry holds
    /// without downloading the entry); returns its path.
    pub fn output_file(&self, cache: &Cache, key: &str, path: &str) -> Result<std::path::PathBuf, String> {
        let record = self.lookup(key)?.ok_or_else(|| format!("the remote has no entry {key}"))?;
        let file = record
            .manifest
            .outputs
            .iter()
            .find(|f| f.path == path)
            .ok_or_else(|| format!("the remote entry {key} has no output {path}"))?;
        let blob = self.remote.layout().blob(&file.blake3);
        let bytes = self.remote.block_on(self.remote.get(&blob)).map_err(|e| self.remote.explain(&e, false).to_string())?;
        let bytes =
            bytes.ok_or_else(|| format!("the remote entry {key} is incomplete: its file out/{path} (blob {}) is missing", file.blake3))?;
        let actual = blake3::hash(&bytes).to_hex().to_string();
        if actual != file.blake3 {
            return Err(format!(
                "the remote entry {key} is damaged: its file out/{path} has blake3 {actual}, its record says {}",
                file.blake3
            ));
        }
        let name = std::path::Path::new(path).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let target = cache.root().join("tmp").join(format!("remote-{key}-{}-{name}", std::process::id()));
        std::fs::write(&target, &bytes).map_err(|e| format!("cannot write {}: {e}", target.display()))?;
        Ok(target)
    }

    fn is_gone(&self) -> bool {
        self.gone.lock().unwrap_or_else(|e| e.into_inner()).is_some()
    }

    /// The remote failed: an error when required, else a warning (once) and
    /// the run goes on without it.
    fn lost(&self, message: String) -> Result<(), String> {
        if self.required {
            return Err(format!("{message} (the pipeline's cache has remote_required: true)"));
        }
        let mut gone = self.gone.lock().unwrap_or_else(|e| e.into_inner());
        if gone.is_none() {
            eprintln!(
                "warning: {message}; going on without the remote (nothing computed is lost: `lungflow push` uploads what is missing later)"
            );
            *gone = Some(message);
        }
        Ok(())
    }

    /// Reports a refused remote entry (once) and keeps its key off the remote for this run.
    fn refuse(&self, key: &str, why: &TransferError) {
        if self.refused.lock().unwrap_or_else(|e| e.into_inner()).insert(key.to_owned()) {
            eprintln!("warning: {why}; nothing of it is used, it is computed here");
        }
        self.records.lock().unwrap_or_else(|e| e.into_inner()).remove(key);
    }
}

/// Counts uploads into a session's totals.
struct Counted<'a> {
    moved: &'a Moved,
}

impl Tally for Counted<'_> {
    fn file(&self, bytes: u64, moved: bool) {
        if moved {
            self.moved.blobs_pushed.fetch_add(1, Ordering::Relaxed);
            self.moved.bytes_pushed.fetch_add(bytes, Ordering::Relaxed);
        }
    }
}
