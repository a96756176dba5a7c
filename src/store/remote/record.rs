//! A remote record: one entry's manifest, with the files beside its
//! outputs (log, timings) that travel too. It names every blob the entry
//! needs, by digest; it is checked before anything it says is believed.

use serde::{Deserialize, Serialize};

use super::layout::is_hex64;
use crate::store::keys::{key_of, tree_digest};
use crate::store::manifest::{FileRecord, Manifest};

/// The record format written; readers refuse others.
pub const RECORD_FORMAT: u32 = 1;

/// One entry on the remote (`records/KE/KEY.json`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Record {
    /// [`RECORD_FORMAT`].
    pub format: u32,
    /// The entry's manifest, as published where it was computed.
    pub manifest: Manifest,
    /// Files beside `out/` that travel with it (`log.txt`, `timings.json`),
    /// named relative to the entry's folder.
    #[serde(default)]
    pub extras: Vec<FileRecord>,
}

impl Record {
    /// Parses a record read from `key`'s path and checks that it is
    /// believable: the right format and key, a key that its own material
    /// hashes to, an output digest its outputs give, digests that are
    /// digests and paths that stay inside the entry.
    pub fn parse(bytes: &[u8], key: &str) -> Result<Record, String> {
        let record: Record = serde_json::from_slice(bytes).map_err(|e| format!("not a lungflow record: {e}"))?;
        if record.format != RECORD_FORMAT {
            return Err(format!("record format {} (this lungflow reads {RECORD_FORMAT})", record.format));
        }
        let m = &record.manifest;
        if m.key != key {
            return Err(format!("it names key {} instead", m.key));
        }
        if key_of(&m.material) != key {
            return Err("its key material does not hash to its key".to_owned());
        }
        if tree_digest(&m.outputs) != m.output_digest {
            return Err("its output digest does not match its outputs".to_owned());
        }
        for f in m.outputs.iter().chain(&record.extras) {
            if !is_hex64(&f.blake3) {
                return Err(format!("file {:?} has no blake3 digest", f.path));
            }
            if !safe_relative(&f.path) {
                return Err(format!("file path {:?} leaves the entry", f.path));
            }
        }
        if let Some(bad) = record.extras.iter().find(|f| !EXTRAS.contains(&f.path.as_str())) {
            return Err(format!("extra file {:?} is not one lungflow writes", bad.path));
        }
        Ok(record)
    }

    /// The record's JSON.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).expect("a record encodes")
    }

    /// Every file it names, outputs (under `out/`) then extras, with where
    /// it goes inside the entry's folder.
    pub fn files(&self) -> impl Iterator<Item = (String, &FileRecord)> {
        let outputs = self.manifest.outputs.iter().map(|f| (format!("out/{}", f.path), f));
        outputs.chain(self.extras.iter().map(|f| (f.path.clone(), f)))
    }
}

/// The files beside `out/` that a record may carry.
pub const EXTRAS: [&str; 2] = [crate::store::cache::LOG_FILE, crate::store::cache::TIMINGS_FILE];

/// A relative path of plain components (no `..`, `.`, empty part or root).
fn safe_relative(path: &str) -> bool {
    !path.is_empty() && !path.starts_with('/') && path.split('/').all(|p| !p.is_empty() && p != "." && p != "..") && !path.contains('\0')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::manifest::KeyMaterial;

    fn record() -> Record {
        let material =
            KeyMaterial { kind: "k".into(), kind_version: 1, params: Default::default(), item: None, inputs: Default::default() };
        let outputs = vec![FileRecord { path: "a/b.txt".into(), size: 3, blake3: blake3::hash(b"abc").to_hex().to_string() }];
        let manifest = Manifest {
            key: key_of(&material),
            stage: "s".into(),
            pipeline: "p".into(),
            output_digest: tree_digest(&outputs),
            outputs,
            material,
            started: String::new(),
            finished: String::new(),
            seconds: 0.0,
            tool_version: "0".into(),
            host: "h".into(),
            usage: None,
        };
        Record { format: RECORD_FORMAT, manifest, extras: Vec::new() }
    }

    #[test]
    fn a_true_record_reads_back() {
        let r = record();
        let key = r.manifest.key.clone();
        let back = Record::parse(&r.to_bytes(), &key).unwrap();
        assert_eq!(back.files().map(|(p, _)| p).collect::<Vec<_>>(), ["out/a/b.txt"]);
    }

    #[test]
    fn a_record_that_lies_is_refused_with_the_reason() {
        let good = record();
        let key = good.manifest.key.clone();
        type Edit = Box<dyn Fn(&mut Record)>;
        let cases: Vec<(Edit, &str)> = vec![
            (Box::new(|r| r.manifest.key = "0".repeat(64)), "names key"),
            (Box::new(|r| r.manifest.material.kind_version = 2), "does not hash to its key"),
            (Box::new(|r| r.manifest.outputs[0].blake3 = "0".repeat(64)), "output digest"),
            (Box::new(|r| r.extras.push(FileRecord { path: "../../etc/x".into(), size: 1, blake3: "a".repeat(64) })), "leaves the entry"),
            (
                Box::new(|r| r.extras.push(FileRecord { path: "other.bin".into(), size: 1, blake3: "a".repeat(64) })),
                "not one lungflow writes",
            ),
            (Box::new(|r| r.format = 9), "record format 9"),
        ];
        for (edit, says) in cases {
            let mut r = good.clone();
            edit(&mut r);
            let e = Record::parse(&r.to_bytes(), &key).unwrap_err();
            assert!(e.contains(says), "{e}");
        }
        let mut outside = good.clone();
        outside.manifest.outputs[0].path = "../x".into();
        outside.manifest.output_digest = tree_digest(&outside.manifest.outputs);
        assert!(Record::parse(&outside.to_bytes(), &key).unwrap_err().contains("leaves the entry"));
    }
}
