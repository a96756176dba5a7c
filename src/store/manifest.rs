//! The manifest written beside every cache entry: what was computed, from
//! what, and what came out. Lineage is read from these.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One file with its size and blake3 digest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRecord {
    /// Path relative to the entry's `out/` (or to an external input directory;
    /// empty when the input is a single file).
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// blake3 of the contents, hex.
    pub blake3: String,
}

impl FileRecord {
    /// Where this file of an external input at `input` is: the input itself
    /// for a single file, else the file under the input folder.
    pub fn external_path(&self, input: &str) -> std::path::PathBuf {
        if self.path.is_empty() { input.into() } else { std::path::Path::new(input).join(&self.path) }
    }
}

/// One item's part of an input gathered from a per-item stage.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GatheredItem {
    /// The item id.
    pub item: String,
    /// The producing instance's cache key.
    pub key: String,
    /// Digest of what was read from it.
    pub digest: String,
}

/// Where one input came from, with the digest that entered the key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "source", rename_all = "snake_case")]
pub enum InputRecord {
    /// A file or directory outside the cache.
    External {
        /// Absolute path.
        path: String,
        /// Digest of the file, or the tree digest of the directory.
        digest: String,
        /// Every file read, with its digest.
        files: Vec<FileRecord>,
    },
    /// The output of one instance of another stage.
    Stage {
        /// Producing stage.
        stage: String,
        /// Its item, for per-item producers.
        item: Option<String>,
        /// Its cache key (a parent in the lineage graph).
        key: String,
        /// Path inside its output, if only part of it is read.
        subpath: Option<String>,
        /// Digest of what was read.
        digest: String,
    },
    /// The outputs of every item of a per-item stage.
    Gather {
        /// Producing stage.
        stage: String,
        /// Path inside each item's output, if only part of it is read.
        subpath: Option<String>,
        /// Digest over all items.
        digest: String,
        /// Every item read.
        items: Vec<GatheredItem>,
    },
}

impl InputRecord {
    /// The digest that enters the consumer's key.
    pub fn digest(&self) -> &str {
        match self {
            InputRecord::External { digest, .. } | InputRecord::Stage { digest, .. } | InputRecord::Gather { digest, .. } => digest,
        }
    }
}

/// Everything a cache entry's key is computed from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KeyMaterial {
    /// Stage kind.
    pub kind: String,
    /// Stage kind version.
    pub kind_version: u32,
    /// Resolved parameters.
    pub params: BTreeMap<String, Value>,
    /// Item id, for per-item stages.
    pub item: Option<String>,
    /// Inputs with their provenance.
    pub inputs: BTreeMap<String, InputRecord>,
}

/// The manifest of one cache entry (`manifest.json`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Manifest {
    /// The entry's key.
    pub key: String,
    /// The stage that first computed it.
    pub stage: String,
    /// The pipeline file it was computed for.
    pub pipeline: String,
    /// What the key was computed from.
    #[serde(flatten)]
    pub material: KeyMaterial,
    /// Every output file, sorted by path.
    pub outputs: Vec<FileRecord>,
    /// Tree digest of the outputs: what dependents' keys see.
    pub output_digest: String,
    /// Start time, RFC 3339 UTC.
    pub started: String,
    /// End time, RFC 3339 UTC.
    pub finished: String,
    /// Wall time of the computation in seconds.
    pub seconds: f64,
    /// lungflow version that computed it.
    pub tool_version: String,
    /// Host that computed it.
    pub host: String,
    /// What computing it cost, when measured (entries computed before
    /// lungflow measured have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
}

/// What computing an entry cost, as measured where it ran.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    /// Peak resident memory, KiB (see `run::usage` for how it is measured).
    pub peak_rss_kib: u64,
    /// User plus system CPU seconds.
    pub cpu_seconds: f64,
    /// The Slurm job (`123_4`) that computed it, when one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slurm_job: Option<String>,
}
