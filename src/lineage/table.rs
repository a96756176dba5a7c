//! The whole lineage graph of a cache as one Parquet dataset,
//! `cache/lineage/*.parquet`, built from the entries' manifests: one row per
//! (child entry, parent) edge. A parent is another entry (a stage input, or
//! one item of a gathered input) or an external file. pyarrow, polars and
//! DuckDB read it without lungflow.
//!
//! Each run adds one part with the edges of the entries it reached that the
//! table lacks (those it published, and those of earlier runs killed before
//! their append, which noted them in `store::unrecorded`), so the cost
//! follows the work done, not the size of the cache. The first time (a
//! cache from before the table existed), after a `gc` that removed entries,
//! and once there are many parts, the dataset is rebuilt from every manifest
//! as a single part.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use arrow_array::{ArrayRef, RecordBatch, StringArray, UInt64Array};
use rayon::prelude::*;

use lungflow_stages::formats::table::{ParquetWriter, for_each_text};

use crate::lineage::trace::params_digest;
use crate::store::cache::{Cache, now_rfc3339};
use crate::store::manifest::{InputRecord, Manifest};
use crate::store::unrecorded;

/// The dataset's folder under the cache root.
pub const LINEAGE_DIR: &str = "lineage";
/// Parts beyond which the next run rebuilds the dataset as one part.
const MAX_PARTS: usize = 64;
/// Entries whose edges make one row group of a part.
const KEYS_PER_GROUP: usize = 64;

/// One edge of the lineage graph.
#[derive(Clone, Debug, PartialEq)]
pub struct Edge {
    /// The entry computed from the parent.
    pub child_key: String,
    /// The parent entry's key, or an external file's blake3.
    pub parent_key: String,
    /// The input name under which the child read it.
    pub role: String,
    /// `stage`, `gather` (one item of a gathered input) or `file` (external).
    pub parent_type: &'static str,
    /// The parent's stage, for entries.
    pub parent_stage: Option<String>,
    /// The parent's item, for per-item entries.
    pub parent_item: Option<String>,
    /// The external file's path.
    pub parent_path: Option<String>,
    /// The external file's size.
    pub parent_size: Option<u64>,
    /// The child's stage (without `@VARIANT`).
    pub stage: String,
    /// The child's kind.
    pub kind: String,
    /// The child's kind version.
    pub kind_version: u64,
    /// The child's item.
    pub item: Option<String>,
    /// The child's sweep variant label, for a swept copy.
    pub variant: Option<String>,
    /// blake3 of the child's canonical parameters.
    pub params_digest: String,
    /// When the child finished computing.
    pub created: String,
}

/// The edges of one manifest, in input order.
pub fn edges_of(m: &Manifest) -> Vec<Edge> {
    let (stage, variant) = match m.stage.split_once('@') {
        Some((s, v)) => (s.to_owned(), Some(v.to_owned())),
        None => (m.stage.clone(), None),
    };
    let digest = params_digest(&m.material.params);
    let edge = |role: &str, parent_key: &str, parent_type: &'static str| Edge {
        child_key: m.key.clone(),
        parent_key: parent_key.to_owned(),
        role: role.to_owned(),
        parent_type,
        parent_stage: None,
        parent_item: None,
        parent_path: None,
        parent_size: None,
        stage: stage.clone(),
        kind: m.material.kind.clone(),
        kind_version: u64::from(m.material.kind_version),
        item: m.material.item.clone(),
        variant: variant.clone(),
        params_digest: digest.clone(),
        created: m.finished.clone(),
    };
    let mut out = Vec::new();
    for (role, input) in &m.material.inputs {
        match input {
            InputRecord::Stage { stage, item, key, .. } => {
                out.push(Edge { parent_stage: Some(stage.clone()), parent_item: item.clone(), ..edge(role, key, "stage") });
            }
            InputRecord::Gather { stage, items, .. } => {
                for g in items {
                    out.push(Edge { parent_stage: Some(stage.clone()), parent_item: Some(g.item.clone()), ..edge(role, &g.key, "gather") });
                }
            }
            InputRecord::External { path, files, .. } => {
                for f in files {
                    let full = f.external_path(path).display().to_string();
                    out.push(Edge { parent_path: Some(full), parent_size: Some(f.size), ..edge(role, &f.blake3, "file") });
                }
            }
        }
    }
    out
}

/// Adds the edges of the entries a run reached (computed or reused) that the
/// table lacks, as one new part, with those of every entry published by a
/// process that ended before recording it (`store::unrecorded`: a killed
/// or interrupted run); rebuilds the dataset instead when it is missing,
/// unreadable or has many parts. Returns the part written, if any. With no
/// `reached` keys it only catches up (what `gc` and `verify --repair` do).
pub fn record_run(cache: &Cache, reached: &[String]) -> Result<Option<PathBuf>> {
    let pending = unrecorded::scan(cache.root())?;
    let dir = cache.root().join(LINEAGE_DIR);
    let recorded = if dir.is_dir() && parts(&dir)?.len() < MAX_PARTS { recorded_children(&dir).ok() } else { None };
    let Some(recorded) = recorded else {
        let part = rebuild_all(cache)?;
        pending.recorded(cache.root());
        return Ok(Some(part));
    };
    let mut missing: Vec<String> = reached.iter().chain(&pending.keys).filter(|k| !recorded.contains(k.as_str())).cloned().collect();
    missing.sort();
    missing.dedup();
    let part = write_part(cache, "run", &missing, false)?;
    pending.recorded(cache.root());
    Ok(part)
}

/// The child keys the dataset holds edges for.
fn recorded_children(dir: &Path) -> Result<HashSet<String>> {
    let mut keys = HashSet::new();
    for part in parts(dir)? {
        children_of(&part, &mut keys).map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    Ok(keys)
}

/// Adds the child keys of one part to `keys` (each of its edges names one;
/// a key is copied only the first time it is seen).
fn children_of(part: &Path, keys: &mut HashSet<String>) -> Result<(), lungflow_stages::StageError> {
    for_each_text(part, "child_key", |k| {
        if !keys.contains(k) {
            keys.insert(k.to_owned());
        }
    })
}

/// What [`check`] found.
#[derive(Debug, Default)]
pub struct TableCheck {
    /// Damage: unreadable parts, and entries whose edges the dataset lacks
    /// though no run is yet to record them.
    pub problems: Vec<String>,
    /// Entries without edges that a run published and has not recorded yet:
    /// one still running, or one killed or interrupted first (the next run
    /// records them). Not damage.
    pub unrecorded: usize,
    /// Entries in the cache.
    pub entries: usize,
}

/// Checks the dataset against the entries. An entry whose edges are missing
/// is unrecorded, not damage, exactly when a process noted it before
/// publishing it and has not recorded it since (`store::unrecorded`).
pub fn check(cache: &Cache) -> Result<TableCheck> {
    // In this order: a listed entry was noted before it was listed, and a
    // note goes only after its part is written, so a listed entry is in
    // the notes read next or in the parts read last, or damaged.
    let keys = cache.keys()?;
    let pending = unrecorded::scan(cache.root())?;
    let dir = cache.root().join(LINEAGE_DIR);
    let mut found = TableCheck { entries: keys.len(), ..TableCheck::default() };
    let mut recorded = HashSet::new();
    if dir.is_dir() {
        for part in parts(&dir)? {
            if let Err(e) = children_of(&part, &mut recorded) {
                found.problems.push(format!("unreadable part: {e}"));
            }
        }
    }
    let lacking: Vec<&String> = keys
        .par_iter()
        .filter(|k| !recorded.contains(k.as_str()) && cache.manifest(k).ok().flatten().is_some_and(|m| !edges_of(&m).is_empty()))
        .collect();
    found.unrecorded = lacking.iter().filter(|k| pending.keys.contains(k.as_str())).count();
    let damaged = lacking.len() - found.unrecorded;
    if damaged > 0 {
        found.problems.push(format!("{damaged} of {} entries have no edges in {}", keys.len(), dir.display()));
    }
    Ok(found)
}

/// Rebuilds the dataset from every manifest as one part and removes the
/// parts that were there before; returns the new part. Entries that ended
/// runs left unrecorded are in it, so their notes go.
pub fn rebuild(cache: &Cache) -> Result<PathBuf> {
    let pending = unrecorded::scan(cache.root())?;
    let part = rebuild_all(cache)?;
    pending.recorded(cache.root());
    Ok(part)
}

/// [`rebuild`] without the notes.
fn rebuild_all(cache: &Cache) -> Result<PathBuf> {
    let dir = cache.root().join(LINEAGE_DIR);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let old = parts(&dir)?;
    let part = write_part(cache, "all", &cache.keys()?, true)?.expect("an empty part is kept");
    for p in old {
        std::fs::remove_file(&p).with_context(|| format!("cannot remove {}", p.display()))?;
    }
    Ok(part)
}

/// The dataset's part files.
fn parts(dir: &Path) -> Result<Vec<PathBuf>> {
    let listing = std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))?;
    Ok(listing.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "parquet")).collect())
}

/// The edges of these entries (keys without a manifest add none).
fn edges_of_keys(cache: &Cache, keys: &[String]) -> Result<Vec<Edge>> {
    let per_entry: Vec<Vec<Edge>> =
        keys.par_iter().map(|k| Ok(cache.manifest(k)?.map(|m| edges_of(&m)).unwrap_or_default())).collect::<Result<_>>()?;
    Ok(per_entry.into_iter().flatten().collect())
}

/// Writes the edges of these entries as one part, `PREFIX-TIME-PID.parquet`,
/// a row group per [`KEYS_PER_GROUP`] entries (so only their edges are in
/// memory at once): into `cache/tmp/` first, then renamed into the dataset,
/// so readers (and globs) never see half a part. A part without edges is
/// kept only when `keep_empty` is set.
fn write_part(cache: &Cache, prefix: &str, keys: &[String], keep_empty: bool) -> Result<Option<PathBuf>> {
    let stamp = now_rfc3339().replace([':', '.'], "");
    let name = format!("{prefix}-{stamp}-{}.parquet", std::process::id());
    let (tmp, path) = (cache.root().join("tmp").join(format!("lineage-{name}")), cache.root().join(LINEAGE_DIR).join(&name));
    let rows = fill_part(cache, &tmp, keys).inspect_err(|_| {
        std::fs::remove_file(&tmp).ok();
    })?;
    if rows == 0 && !keep_empty {
        std::fs::remove_file(&tmp).with_context(|| format!("cannot remove {}", tmp.display()))?;
        return Ok(None);
    }
    std::fs::rename(&tmp, &path).with_context(|| format!("cannot move {} to {}", tmp.display(), path.display()))?;
    Ok(Some(path))
}

/// Writes the edges of these entries into the part at `path`; returns how many.
fn fill_part(cache: &Cache, path: &Path, keys: &[String]) -> Result<usize> {
    let mut writer = ParquetWriter::create(path, batch_of(&[])?.schema()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut rows = 0;
    for chunk in keys.chunks(KEYS_PER_GROUP) {
        let edges = edges_of_keys(cache, chunk)?;
        if !edges.is_empty() {
            writer.write(&batch_of(&edges)?).map_err(|e| anyhow::anyhow!("{e}"))?;
            rows += edges.len();
        }
    }
    writer.finish().map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(rows)
}

/// The edges as one record batch, a column per field; the optional fields'
/// columns are nullable in every batch, so that all batches of a part share
/// one schema.
fn batch_of(edges: &[Edge]) -> Result<RecordBatch> {
    let text = |f: &dyn Fn(&Edge) -> &str| (Arc::new(StringArray::from_iter_values(edges.iter().map(f))) as ArrayRef, false);
    let opt = |f: &dyn Fn(&Edge) -> Option<&str>| (Arc::new(edges.iter().map(f).collect::<StringArray>()) as ArrayRef, true);
    let columns = [
        ("child_key", text(&|e| &e.child_key)),
        ("parent_key", text(&|e| &e.parent_key)),
        ("role", text(&|e| &e.role)),
        ("parent_type", text(&|e| e.parent_type)),
        ("parent_stage", opt(&|e| e.parent_stage.as_deref())),
        ("parent_item", opt(&|e| e.parent_item.as_deref())),
        ("parent_path", opt(&|e| e.parent_path.as_deref())),
        ("parent_size", (Arc::new(edges.iter().map(|e| e.parent_size).collect::<UInt64Array>()) as ArrayRef, true)),
        ("stage", text(&|e| &e.stage)),
        ("kind", text(&|e| &e.kind)),
        ("kind_version", (Arc::new(UInt64Array::from_iter_values(edges.iter().map(|e| e.kind_version))) as ArrayRef, false)),
        ("item", opt(&|e| e.item.as_deref())),
        ("variant", opt(&|e| e.variant.as_deref())),
        ("params_digest", text(&|e| &e.params_digest)),
        ("created", text(&|e| &e.created)),
    ];
    RecordBatch::try_from_iter_with_nullable(columns.into_iter().map(|(name, (array, nullable))| (name, array, nullable)))
        .context("cannot build the lineage table")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::manifest::{FileRecord, GatheredItem, KeyMaterial};
    use std::collections::BTreeMap;

    #[test]
    fn every_parent_becomes_one_edge_with_the_childs_identity() {
        let file = |path: &str, digest: &str| FileRecord { path: path.into(), size: 7, blake3: digest.into() };
        let inputs = BTreeMap::from([
            (
                "dicom".to_owned(),
                InputRecord::External {
                    path: "/data/P1".into(),
                    digest: "d".into(),
                    files: vec![file("a.dcm", "fa"), file("b.dcm", "fb")],
                },
            ),
            (
                "labels".to_owned(),
                InputRecord::External { path: "/data/labels.csv".into(), digest: "fl".into(), files: vec![file("", "fl")] },
            ),
            (
                "model".to_owned(),
                InputRecord::Stage { stage: "gmcae@gmcae.lr=1e-3".into(), item: None, key: "km".into(), subpath: None, digest: "x".into() },
            ),
            (
                "features".to_owned(),
                InputRecord::Gather {
                    stage: "encode".into(),
                    subpath: None,
                    digest: "g".into(),
                    items: vec![
                        GatheredItem { item: "P1".into(), key: "k1".into(), digest: "1".into() },
                        GatheredItem { item: "P2".into(), key: "k2".into(), digest: "2".into() },
                    ],
                },
            ),
        ]);
        let params = BTreeMap::from([("lr".to_owned(), serde_json::json!(0.002))]);
        let m = Manifest {
            key: "child".into(),
            stage: "classifier@gmcae.lr=1e-3".into(),
            pipeline: "/p.yaml".into(),
            material: KeyMaterial { kind: "classifier_train".into(), kind_version: 2, params: params.clone(), item: None, inputs },
            outputs: vec![],
            output_digest: "o".into(),
            started: "s".into(),
            finished: "2026-11-25T00:00:00Z".into(),
            seconds: 1.0,
            tool_version: "0.1.0".into(),
            host: "h".into(),
            usage: None,
        };
        let edges = edges_of(&m);
        let summary: Vec<(&str, &str, &str, Option<&str>, Option<&str>)> = edges
            .iter()
            .map(|e| (e.role.as_str(), e.parent_type, e.parent_key.as_str(), e.parent_item.as_deref(), e.parent_path.as_deref()))
            .collect();
        assert_eq!(
            summary,
            [
                ("dicom", "file", "fa", None, Some("/data/P1/a.dcm")),
                ("dicom", "file", "fb", None, Some("/data/P1/b.dcm")),
                ("features", "gather", "k1", Some("P1"), None),
                ("features", "gather", "k2", Some("P2"), None),
                ("labels", "file", "fl", None, Some("/data/labels.csv")),
                ("model", "stage", "km", None, None),
            ]
        );
        for e in &edges {
            assert_eq!((e.child_key.as_str(), e.stage.as_str(), e.variant.as_deref()), ("child", "classifier", Some("gmcae.lr=1e-3")));
            assert_eq!((e.kind.as_str(), e.kind_version, e.created.as_str()), ("classifier_train", 2, "2026-11-25T00:00:00Z"));
            assert_eq!(e.params_digest, params_digest(&params));
        }
        assert_eq!(edges[5].parent_stage.as_deref(), Some("gmcae@gmcae.lr=1e-3"));
        assert_ne!(params_digest(&params), params_digest(&BTreeMap::new()));
    }

    #[test]
    fn every_batch_of_a_part_has_one_schema_whatever_its_nulls() {
        let file = |child: &str| Edge {
            child_key: child.into(),
            parent_key: "f".into(),
            role: "raw".into(),
            parent_type: "file",
            parent_stage: None,
            parent_item: None,
            parent_path: Some("/data/a".into()),
            parent_size: Some(3),
            stage: "s1".into(),
            kind: "command".into(),
            kind_version: 1,
            item: Some("a".into()),
            variant: None,
            params_digest: "p".into(),
            created: "t".into(),
        };
        let stage = Edge { parent_type: "stage", parent_stage: Some("s1".into()), parent_path: None, parent_size: None, ..file("k2") };
        let schemas = [batch_of(&[]), batch_of(&[file("k1")]), batch_of(&[stage])].map(|b| b.unwrap().schema());
        assert_eq!(schemas[0], schemas[1]);
        assert_eq!(schemas[0], schemas[2]);
    }
}
