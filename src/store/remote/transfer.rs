//! Moving entries: push one (its missing blobs, then its record) and fetch
//! one (every blob rehashed before the entry is published here).

use std::collections::HashSet;
use std::path::Path;
use std::sync::Mutex;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};

use super::client::Remote;
use super::record::{EXTRAS, RECORD_FORMAT, Record};
use crate::store::cache::Cache;
use crate::store::manifest::FileRecord;

/// Blobs and records in flight at once for one entry.
const PER_ENTRY: usize = 8;

/// Why moving an entry failed.
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    /// The remote failed to answer (see [`Remote::explain`]).
    #[error("{0}")]
    Remote(String),
    /// A downloaded blob does not hash to what the record says.
    #[error("the remote entry {key} is damaged: its file {file} has blake3 {actual}, its record says {expected}")]
    Damaged {
        /// The entry's key.
        key: String,
        /// The file, relative to the entry.
        file: String,
        /// The record's digest.
        expected: String,
        /// The downloaded bytes' digest.
        actual: String,
    },
    /// The record names a blob the remote does not have.
    #[error("the remote entry {key} is incomplete: its file {file} (blob {digest}) is missing")]
    MissingBlob {
        /// The entry's key.
        key: String,
        /// The file, relative to the entry.
        file: String,
        /// The missing blob.
        digest: String,
    },
    /// The record cannot be believed.
    #[error("the remote record of {key} is refused: {why}")]
    BadRecord {
        /// The entry's key.
        key: String,
        /// What is wrong with it.
        why: String,
    },
    /// The local side failed (disk, a damaged local entry).
    #[error("{0:#}")]
    Local(anyhow::Error),
}

/// What pushing an entry found.
#[derive(Debug)]
pub enum Pushed {
    /// Its record is new: these blobs and bytes were uploaded.
    New {
        /// Blobs uploaded (those already there are not).
        blobs: u64,
        /// Their bytes.
        bytes: u64,
    },
    /// The remote already had this entry with the same outputs.
    AlreadyThere,
    /// The remote has a record for the key with other outputs.
    Differs(Box<Record>),
}

/// Counts what a transfer moved, for a progress bar.
pub trait Tally: Sync {
    /// One file of `bytes` done: `moved`, or found there already.
    fn file(&self, bytes: u64, moved: bool);
}

impl Tally for () {
    fn file(&self, _: u64, _: bool) {}
}

/// What a bulk push knows of the remote: the records and blobs listed when
/// it started, and the blobs it has claimed since.
pub struct Known {
    /// Keys with a record.
    pub records: HashSet<String>,
    /// Digests of blobs there or being sent.
    pub blobs: Mutex<HashSet<String>>,
}

impl Remote {
    fn failed(&self, e: object_store::Error) -> TransferError {
        TransferError::Remote(self.explain(&e, false).to_string())
    }

    /// The record of `key`, checked, or `None` when the remote has none.
    pub async fn read_record(&self, key: &str) -> Result<Option<Record>, TransferError> {
        let Some(bytes) = self.get(&self.layout().record(key)).await.map_err(|e| self.failed(e))? else { return Ok(None) };
        Record::parse(&bytes, key).map(Some).map_err(|why| TransferError::BadRecord { key: key.to_owned(), why })
    }

    /// Pushes the local entry `key`: each blob that is not in `known` (nor
    /// on the remote, when `known` is `None`; a blob sent is added to
    /// `known`, so bytes several entries hold go once), every file rehashed as it is
    /// read so that damaged bytes never leave; then its record, only if none
    /// is there. A record already there with other outputs is returned.
    pub async fn push_entry(&self, cache: &Cache, key: &str, known: Option<&Known>, tally: &dyn Tally) -> Result<Pushed, TransferError> {
        let local = |e: anyhow::Error| TransferError::Local(e);
        let manifest = cache.manifest(key).map_err(local)?.ok_or_else(|| local(anyhow::anyhow!("no local entry {key}")))?;
        let maybe_there = known.is_none_or(|k| k.records.contains(key));
        if maybe_there && let Some(there) = self.read_record(key).await? {
            return Ok(if there.manifest.output_digest == manifest.output_digest {
                Pushed::AlreadyThere
            } else {
                Pushed::Differs(Box::new(there))
            });
        }
        let entry = cache.entry_dir(key).map_err(local)?;
        let mut extras = Vec::new();
        for name in EXTRAS {
            let path = entry.join(name);
            if let Ok(bytes) = std::fs::read(&path) {
                extras.push(FileRecord {
                    path: name.to_owned(),
                    size: bytes.len() as u64,
                    blake3: blake3::hash(&bytes).to_hex().to_string(),
                });
            }
        }
        let record = Record { format: RECORD_FORMAT, manifest, extras };
        let files: Vec<(String, FileRecord)> = record.files().map(|(rel, f)| (rel, f.clone())).collect();
        let sent: Vec<(u64, Option<(String, FileRecord)>)> = futures::stream::iter(files)
            .map(|(rel, f)| self.push_blob(key, entry.join(&rel), rel, f, known, tally))
            .buffer_unordered(PER_ENTRY)
            .try_collect()
            .await?;
        let path = self.layout().record(key);
        let bytes = Bytes::from(record.to_bytes());
        let written = self.put_new(&path, bytes).await.map_err(|e| self.failed(e))?;
        // A blob found there may have been collected (`gc --remote`) since:
        // check again now that the record names it, and send it if so.
        for (rel, f) in sent.iter().filter_map(|(_, skipped)| skipped.clone()) {
            self.push_blob(key, entry.join(&rel), rel, f, None, &()).await?;
        }
        let uploaded = sent.iter().filter(|(_, skipped)| skipped.is_none()).count() as u64;
        let sent: Vec<u64> = sent.iter().map(|(n, _)| *n).collect();
        if written {
            // Whoever wrote last on a store without conditional writes wins:
            // read back to see whose record stands.
            match self.read_record(key).await? {
                Some(r) if r.manifest.output_digest != record.manifest.output_digest => return Ok(Pushed::Differs(Box::new(r))),
                _ => {}
            }
            return Ok(Pushed::New { blobs: uploaded, bytes: sent.iter().sum() });
        }
        match self.read_record(key).await? {
            Some(r) if r.manifest.output_digest != record.manifest.output_digest => Ok(Pushed::Differs(Box::new(r))),
            _ => Ok(Pushed::AlreadyThere),
        }
    }

    /// Uploads one file unless its blob is there; returns the bytes sent,
    /// and the file when it was skipped as there.
    async fn push_blob(
        &self,
        key: &str,
        path: std::path::PathBuf,
        rel: String,
        f: FileRecord,
        known: Option<&Known>,
        tally: &dyn Tally,
    ) -> Result<(u64, Option<(String, FileRecord)>), TransferError> {
        let blob = self.layout().blob(&f.blake3);
        let there = match known {
            // Claimed by the first entry that holds it (and checked again
            // after this entry's record is written, should that upload fail).
            Some(k) => !k.blobs.lock().unwrap_or_else(|e| e.into_inner()).insert(f.blake3.clone()),
            None => self.exists(&blob).await.map_err(|e| self.failed(e))?,
        };
        if there {
            tally.file(0, false);
            return Ok((0, Some((rel, f))));
        }
        let bytes =
            tokio::fs::read(&path).await.map_err(|e| TransferError::Local(anyhow::anyhow!("cannot read {}: {e}", path.display())))?;
        let actual = blake3::hash(&bytes).to_hex().to_string();
        if actual != f.blake3 {
            return Err(TransferError::Local(anyhow::anyhow!(
                "the local entry {key} is damaged: its file {rel} has blake3 {actual}, its manifest says {}; nothing of it was pushed (run `lungflow verify --repair`)",
                f.blake3
            )));
        }
        let size = bytes.len() as u64;
        self.put(&blob, Bytes::from(bytes)).await.map_err(|e| self.failed(e))?;
        tally.file(size, true);
        Ok((size, None))
    }

    /// Downloads `record`'s entry into a staging folder of `cache`, rehashing
    /// every blob, and publishes it; the caller holds `key`'s lock. Nothing is
    /// published when a blob is missing or damaged. Returns the bytes moved.
    pub async fn fetch_entry(&self, cache: &Cache, key: &str, record: &Record, tally: &dyn Tally) -> Result<u64, TransferError> {
        let staging = cache.staging(key).map_err(TransferError::Local)?;
        let files: Vec<(String, FileRecord)> = record.files().map(|(rel, f)| (rel, f.clone())).collect();
        let got: Result<Vec<u64>, TransferError> = futures::stream::iter(files)
            .map(|(rel, f)| self.fetch_blob(key, &staging, rel, f, tally))
            .buffer_unordered(PER_ENTRY)
            .try_collect()
            .await;
        let published = match got {
            Ok(sizes) => {
                // Publishing syncs every file: off the thread that drives the transfers.
                let (cache, dir, manifest) = (cache.clone(), staging.clone(), record.manifest.clone());
                match tokio::task::spawn_blocking(move || cache.publish(&dir, &manifest)).await {
                    Ok(done) => done.map(|()| sizes.iter().sum()).map_err(TransferError::Local),
                    Err(e) => Err(TransferError::Local(anyhow::anyhow!("publishing {key} stopped: {e}"))),
                }
            }
            Err(e) => Err(e),
        };
        if published.is_err() {
            std::fs::remove_dir_all(&staging).ok();
        }
        published
    }

    async fn fetch_blob(&self, key: &str, staging: &Path, rel: String, f: FileRecord, tally: &dyn Tally) -> Result<u64, TransferError> {
        let Some(bytes) = self.get(&self.layout().blob(&f.blake3)).await.map_err(|e| self.failed(e))? else {
            return Err(TransferError::MissingBlob { key: key.to_owned(), file: rel, digest: f.blake3 });
        };
        let actual = blake3::hash(&bytes).to_hex().to_string();
        if actual != f.blake3 {
            return Err(TransferError::Damaged { key: key.to_owned(), file: rel, expected: f.blake3, actual });
        }
        let path = staging.join(&rel);
        let local = |e: std::io::Error| TransferError::Local(anyhow::anyhow!("cannot write {}: {e}", path.display()));
        if let Some(parent) = path.parent() {
            tokio::fs::create_dir_all(parent).await.map_err(local)?;
        }
        tokio::fs::write(&path, &bytes).await.map_err(local)?;
        tally.file(bytes.len() as u64, true);
        Ok(bytes.len() as u64)
    }
}
