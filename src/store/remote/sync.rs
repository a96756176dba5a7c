//! Many entries at once, for `push` and `pull`: the remote's records and
//! blobs are listed once, only what is missing on the other side moves,
//! many transfers in flight.

use std::sync::{Arc, Mutex};

use futures::StreamExt;
use serde::Serialize;

use super::client::Remote;
use super::record::Record;
use super::transfer::{Known, Pushed, Tally, TransferError};
use crate::store::cache::Cache;

/// Entries moved at once.
const ENTRIES_IN_FLIGHT: usize = 16;

/// What a push or pull of many entries did.
#[derive(Debug, Default, Serialize)]
pub struct SyncReport {
    /// Entries moved.
    pub moved: u64,
    /// Entries the other side already had.
    pub already: u64,
    /// Blobs (files) moved.
    pub files: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Keys the remote holds with other outputs than this machine (push).
    pub differ: Vec<String>,
    /// Entries that failed, with why.
    pub failed: Vec<(String, String)>,
    /// Entries left alone because another process held their lock (pull).
    pub busy: Vec<String>,
    /// Entries not moved because the remote stopped answering.
    pub cut_off: u64,
    /// What the remote said when it stopped answering (the first time).
    pub lost: Option<String>,
}

impl SyncReport {
    /// Counts a failed entry: the remote going away once, anything else per entry.
    fn failed(&mut self, key: &str, e: TransferError) {
        match e {
            TransferError::Remote(message) => {
                self.cut_off += 1;
                self.lost.get_or_insert(message);
            }
            e => self.failed.push((key.to_owned(), e.to_string())),
        }
    }

    /// Whether every entry moved or was there.
    pub fn complete(&self) -> bool {
        self.failed.is_empty() && self.cut_off == 0
    }
}

impl Remote {
    /// Lists every blob and record under the prefix.
    pub fn listing(&self) -> Result<Known, TransferError> {
        let layout = self.layout();
        let fail = |e| TransferError::Remote(self.explain(&e, false).to_string());
        let blobs = self.block_on(self.list(&layout.blobs())).map_err(fail)?;
        let records = self.block_on(self.list(&layout.records())).map_err(fail)?;
        Ok(Known {
            blobs: Mutex::new(blobs.iter().filter_map(|m| layout.digest_of(&m.location)).collect()),
            records: records.iter().filter_map(|m| layout.key_of(&m.location)).collect(),
        })
    }

    /// Pushes the local entries `keys`: those whose record is listed are
    /// only checked to hold the same outputs; the others send their missing blobs.
    pub fn push_many(&self, cache: &Cache, keys: &[String], known: &Known, tally: &dyn Tally) -> SyncReport {
        let results = self.block_on(
            futures::stream::iter(keys)
                .map(|key| async move { (key, self.push_entry(cache, key, Some(known), tally).await) })
                .buffer_unordered(ENTRIES_IN_FLIGHT)
                .collect::<Vec<_>>(),
        );
        let mut report = SyncReport::default();
        for (key, result) in results {
            match result {
                Ok(Pushed::New { blobs, bytes }) => {
                    report.moved += 1;
                    report.files += blobs;
                    report.bytes += bytes;
                }
                Ok(Pushed::AlreadyThere) => report.already += 1,
                Ok(Pushed::Differs(_)) => report.differ.push(key.clone()),
                Err(e) => report.failed(key, e),
            }
        }
        report.differ.sort();
        report.failed.sort();
        report
    }

    /// Fetches the entries of `records` that this cache lacks, each under
    /// its key's lock (one another process holds is left alone).
    pub fn pull_many(&self, cache: &Cache, records: &[Arc<Record>], tally: &dyn Tally) -> SyncReport {
        let results = self.block_on(
            futures::stream::iter(records)
                .map(|record| async move {
                    let key = &record.manifest.key;
                    let lock = match cache.try_lock(key) {
                        Ok(Some(lock)) => lock,
                        Ok(None) => return (record, Ok(PullOne::Busy)),
                        Err(e) => return (record, Err(TransferError::Local(e))),
                    };
                    if cache.manifest(key).ok().flatten().is_some() {
                        return (record, Ok(PullOne::Here));
                    }
                    let got = self.fetch_entry(cache, key, record, tally).await;
                    drop(lock);
                    (record, got.map(PullOne::Fetched))
                })
                .buffer_unordered(ENTRIES_IN_FLIGHT)
                .collect::<Vec<_>>(),
        );
        let mut report = SyncReport::default();
        for (record, result) in results {
            let key = &record.manifest.key;
            match result {
                Ok(PullOne::Busy) => report.busy.push(key.clone()),
                Ok(PullOne::Here) => report.already += 1,
                Ok(PullOne::Fetched(bytes)) => {
                    report.moved += 1;
                    report.files += record.files().count() as u64;
                    report.bytes += bytes;
                }
                Err(e) => report.failed(key, e),
            }
        }
        report
    }
}

/// How pulling one entry ended.
enum PullOne {
    /// Another process held its lock.
    Busy,
    /// It was here already.
    Here,
    /// Fetched, with its bytes.
    Fetched(u64),
}
