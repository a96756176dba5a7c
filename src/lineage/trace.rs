//! Lineage of one prediction: from a patient's submission row, through the
//! cache entries it was computed from (read from their manifests), down to
//! the DICOM files. Entries are expanded along the patient's own path;
//! gathered inputs (a model's training set) are listed item by item with
//! their keys, and only the patient's own item is followed further.

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use lungflow_stages::RowProvenance;
use lungflow_stages::formats::table::read_rows;
use serde::Serialize;
use serde_json::Value;

use crate::store::bounded::{JSON_CAP, read_text_capped};
use crate::store::cache::Cache;
use crate::store::keys::canonical;
use crate::store::manifest::{FileRecord, InputRecord};
use crate::store::remote::session::RemoteSession;

/// The table in which a stage lists the source files it read (`hu_volume`
/// lists DICOM files: path, sop_instance_uid, size, blake3).
pub use lungflow_stages::formats::sources::SOURCES_FILE;
/// The file in which a training stage records its training and validation items.
pub use lungflow_stages::formats::training::SPLIT_FILE;

/// The output row a lineage starts from: one row of a table that a kind
/// declares through [`RowProvenance`] (a submission's sidecar, for example).
#[derive(Clone, Debug, Serialize)]
pub struct StartRow {
    /// The stage whose output holds the table.
    pub table_stage: String,
    /// That stage's cache key.
    pub table_key: String,
    /// The row's item.
    pub item: String,
    /// The key of the entry the row was computed from: the lineage's root.
    pub producer_key: String,
    /// Every column of the row as written (for a submission: `id`, `cancer`
    /// and `prediction_key`).
    #[serde(flatten)]
    pub values: BTreeMap<String, Value>,
}

/// One input of an entry.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "source", rename_all = "snake_case")]
pub enum InputNode {
    /// The output of one instance, itself in [`Lineage::entries`].
    Stage {
        /// Input name.
        role: String,
        /// Producing stage.
        stage: String,
        /// Its item.
        item: Option<String>,
        /// Its key.
        key: String,
    },
    /// The outputs of every item of a stage (a training set).
    Gather {
        /// Input name.
        role: String,
        /// Producing stage.
        stage: String,
        /// Each item with the key of its instance.
        items: Vec<(String, String)>,
    },
    /// Files outside the cache.
    External {
        /// Input name.
        role: String,
        /// The path given.
        path: String,
        /// Its digest.
        digest: String,
        /// Every file read.
        files: Vec<FileRecord>,
    },
}

/// One cache entry of the lineage.
#[derive(Clone, Debug, Serialize)]
pub struct EntryNode {
    /// Its key.
    pub key: String,
    /// The stage that computed it (`STAGE@VARIANT` for a swept copy).
    pub stage: String,
    /// Stage kind and version.
    pub kind: String,
    /// Kind version (the code version in the key).
    pub kind_version: u32,
    /// Item, for per-item stages.
    pub item: Option<String>,
    /// Parameters.
    pub params: BTreeMap<String, Value>,
    /// blake3 of the canonical parameters.
    pub params_digest: String,
    /// When it finished computing.
    pub created: String,
    /// lungflow version that computed it.
    pub tool_version: String,
    /// Its inputs.
    pub inputs: Vec<InputNode>,
    /// For a trained model, the patients it was trained and validated on, as
    /// the stage recorded them in `split.json` (`train_patients`, `val_patients`).
    pub split: Option<Value>,
}

/// One source file a stage read (a DICOM file for `hu_volume`).
#[derive(Clone, Debug, Serialize)]
pub struct SourceFile {
    /// The entry that read it.
    pub entry: String,
    /// Its path when read.
    pub path: String,
    /// The DICOM SOP Instance UID, when the stage records it.
    pub sop_instance_uid: Option<String>,
    /// Size in bytes when read.
    pub size: u64,
    /// blake3 when read.
    pub blake3: String,
}

/// The lineage of one patient's prediction.
#[derive(Clone, Debug, Serialize)]
pub struct Lineage {
    /// The output row it starts from.
    pub row: StartRow,
    /// The key of the entry the row was computed from.
    pub root: String,
    /// Every expanded entry by key, in the order found (root first).
    pub entries: Vec<EntryNode>,
    /// Keys on the patient's path that are not in the cache (any longer).
    pub missing: Vec<String>,
    /// The source files of the patient's path.
    pub source_files: Vec<SourceFile>,
}

/// Reads `item`'s row of the table that `provenance` names, in the output
/// of entry `table_key` of stage `table_stage`.
pub fn start_row(cache: &Cache, table_stage: &str, table_key: &str, provenance: &RowProvenance, item: &str) -> Result<StartRow> {
    let path = cache.out_dir(table_key)?.join(provenance.table);
    let rows = read_rows(&path).map_err(|e| anyhow::anyhow!("{e}"))?;
    let row = rows
        .into_iter()
        .find(|r| r.get(provenance.item_column).and_then(Value::as_str) == Some(item))
        .with_context(|| format!("{item:?} has no row in {} (only the items the stage wrote a row for have a lineage)", path.display()))?;
    let producer_key = row
        .get(provenance.key_column)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .with_context(|| format!("{}: the row of {item:?} has no {}", path.display(), provenance.key_column))?;
    Ok(StartRow {
        table_stage: table_stage.to_owned(),
        table_key: table_key.to_owned(),
        item: item.to_owned(),
        producer_key,
        values: row.into_iter().collect(),
    })
}

/// Follows the manifests from the row's prediction down to its source files;
/// an entry that only `remote` holds is read from its record (and its small
/// `sources.parquet` and `split.json` from their blobs, rehashed), without
/// downloading the entry.
pub fn trace(cache: &Cache, row: StartRow, remote: Option<&RemoteSession>) -> Result<Lineage> {
    let patient = row.item.clone();
    let mut lineage = Lineage { root: row.producer_key.clone(), row, entries: Vec::new(), missing: Vec::new(), source_files: Vec::new() };
    let mut queue = VecDeque::from([lineage.root.clone()]);
    let mut seen = std::collections::HashSet::new();
    while let Some(key) = queue.pop_front() {
        if !seen.insert(key.clone()) {
            continue;
        }
        let (m, remote_only) = match cache.manifest(&key)? {
            Some(m) => (m, false),
            None => match remote.map(|r| r.lookup(&key)).transpose().map_err(|e| anyhow::anyhow!(e))?.flatten() {
                Some(record) => (record.manifest.clone(), true),
                None => {
                    lineage.missing.push(key);
                    continue;
                }
            },
        };
        let output = |name: &str| -> Result<PathBuf> {
            match remote.filter(|_| remote_only) {
                Some(r) => r.output_file(cache, &key, name).map_err(|e| anyhow::anyhow!(e)),
                None => Ok(cache.out_dir(&key)?.join(name)),
            }
        };
        let mut inputs = Vec::new();
        for (role, input) in &m.material.inputs {
            inputs.push(match input {
                InputRecord::Stage { stage, item, key, .. } => {
                    queue.push_back(key.clone());
                    InputNode::Stage { role: role.clone(), stage: stage.clone(), item: item.clone(), key: key.clone() }
                }
                InputRecord::Gather { stage, items, .. } => {
                    queue.extend(items.iter().filter(|g| g.item == patient).map(|g| g.key.clone()));
                    let items = items.iter().map(|g| (g.item.clone(), g.key.clone())).collect();
                    InputNode::Gather { role: role.clone(), stage: stage.clone(), items }
                }
                InputRecord::External { path, digest, files } => {
                    InputNode::External { role: role.clone(), path: path.clone(), digest: digest.clone(), files: files.clone() }
                }
            });
        }
        if m.outputs.iter().any(|f| f.path == SOURCES_FILE) {
            let path = output(SOURCES_FILE)?;
            let read = read_sources(&path, &key, &|input| input_location(cache, &m.material.inputs, input));
            if remote_only {
                std::fs::remove_file(&path).ok();
            }
            lineage.source_files.extend(read?);
        }
        let split = if m.outputs.iter().any(|f| f.path == SPLIT_FILE) {
            let path = output(SPLIT_FILE)?;
            let text = read_text_capped(&path, JSON_CAP).with_context(|| format!("cannot read {}", path.display()));
            if remote_only {
                std::fs::remove_file(&path).ok();
            }
            let text = text?;
            Some(serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?)
        } else {
            None
        };
        lineage.entries.push(EntryNode {
            params_digest: params_digest(&m.material.params),
            key,
            stage: m.stage,
            kind: m.material.kind,
            kind_version: m.material.kind_version,
            item: m.material.item,
            params: m.material.params,
            created: m.finished,
            tool_version: m.tool_version,
            inputs,
            split,
        });
    }
    Ok(lineage)
}

/// blake3 of a parameter set's canonical JSON.
pub fn params_digest(params: &BTreeMap<String, Value>) -> String {
    let doc = canonical(&serde_json::to_value(params).expect("JSON"));
    blake3::hash(doc.to_string().as_bytes()).to_hex().to_string()
}

/// Where the input `name` of an entry was read from: an external path, or
/// the (part of the) producing entry's outputs.
fn input_location(cache: &Cache, inputs: &BTreeMap<String, InputRecord>, name: &str) -> Result<PathBuf> {
    match inputs.get(name) {
        Some(InputRecord::External { path, .. }) => Ok(PathBuf::from(path)),
        Some(InputRecord::Stage { key, subpath, .. }) => Ok(cache.out_dir(key)?.join(subpath.as_deref().unwrap_or(""))),
        Some(InputRecord::Gather { .. }) => anyhow::bail!("input {name:?} is gathered, so its source paths cannot be resolved"),
        None => anyhow::bail!("the entry has no input {name:?}"),
    }
}

/// The rows of a stage's `sources.parquet`, each path joined onto the
/// location of the input it was read from (`locate`).
fn read_sources(path: &Path, entry: &str, locate: &dyn Fn(&str) -> Result<PathBuf>) -> Result<Vec<SourceFile>> {
    let rows = read_rows(path).map_err(|e| anyhow::anyhow!("{e}"))?;
    rows.iter()
        .map(|r| {
            let text = |name: &str| r.get(name).and_then(Value::as_str).map(str::to_owned);
            let relative = text("path").with_context(|| format!("{}: a row has no path", path.display()))?;
            let full = match text("input") {
                Some(input) => locate(&input).with_context(|| format!("{}", path.display()))?.join(&relative),
                None => PathBuf::from(&relative),
            };
            Ok(SourceFile {
                entry: entry.to_owned(),
                path: full.display().to_string(),
                sop_instance_uid: text("sop_instance_uid"),
                size: r.get("size").and_then(Value::as_u64).unwrap_or(0),
                blake3: text("blake3").with_context(|| format!("{}: a row has no blake3", path.display()))?,
            })
        })
        .collect()
}

/// Every file outside the cache the lineage read, with its recorded size and
/// digest: source files and the files of external inputs, once per path.
pub fn recorded_files(lineage: &Lineage) -> Vec<(PathBuf, u64, String)> {
    let mut files: BTreeMap<PathBuf, (u64, String)> = BTreeMap::new();
    for f in &lineage.source_files {
        files.entry(PathBuf::from(&f.path)).or_insert((f.size, f.blake3.clone()));
    }
    for e in &lineage.entries {
        for input in &e.inputs {
            if let InputNode::External { path, files: read, .. } = input {
                for f in read {
                    files.entry(f.external_path(path)).or_insert((f.size, f.blake3.clone()));
                }
            }
        }
    }
    files.into_iter().map(|(p, (size, digest))| (p, size, digest)).collect()
}

/// Every key the lineage names: expanded entries, their stage inputs and
/// every gathered item.
pub fn named_keys(lineage: &Lineage) -> Vec<(String, String)> {
    let mut keys: BTreeMap<String, String> = BTreeMap::new();
    keys.insert(lineage.row.table_key.clone(), lineage.row.table_stage.clone());
    for e in &lineage.entries {
        keys.insert(e.key.clone(), crate::pipeline::model::instance_label(&e.stage, e.item.as_deref()));
        for input in &e.inputs {
            match input {
                InputNode::Stage { stage, item, key, .. } => {
                    keys.entry(key.clone()).or_insert_with(|| crate::pipeline::model::instance_label(stage, item.as_deref()));
                }
                InputNode::Gather { stage, items, .. } => {
                    for (item, key) in items {
                        keys.entry(key.clone()).or_insert_with(|| crate::pipeline::model::instance_label(stage, Some(item)));
                    }
                }
                InputNode::External { .. } => {}
            }
        }
    }
    for key in &lineage.missing {
        keys.entry(key.clone()).or_insert_with(|| "?".into());
    }
    keys.into_iter().collect()
}
