//! The whole lineage graph of a cache as one Parquet table,
//! `cache/lineage.parquet`, built from every entry's manifest: one row per
//! (child entry, parent) edge. A parent is another entry (a stage input, or
//! one item of a gathered input) or an external file. pyarrow, polars and
//! DuckDB read it without lungflow.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use arrow_array::{ArrayRef, RecordBatch, StringArray, UInt64Array};
use rayon::prelude::*;

use crate::cache::Cache;
use crate::lineage::params_digest;
use crate::manifest::{InputRecord, Manifest};

/// The table's file name under the cache root.
pub const LINEAGE_TABLE: &str = "lineage.parquet";

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
                    let full = if f.path.is_empty() { path.clone() } else { format!("{path}/{}", f.path) };
                    out.push(Edge { parent_path: Some(full), parent_size: Some(f.size), ..edge(role, &f.blake3, "file") });
                }
            }
        }
    }
    out
}

/// Rebuilds `cache/lineage.parquet` from every manifest; returns its path
/// and the number of edges. Written to a temporary file, then renamed.
pub fn write_lineage_table(cache: &Cache) -> Result<(PathBuf, usize)> {
    let keys = cache.keys()?;
    let per_entry: Vec<Vec<Edge>> = keys
        .par_iter()
        .map(|k| Ok(cache.manifest(k)?.map(|m| edges_of(&m)).unwrap_or_default()))
        .collect::<Result<_>>()?;
    let edges: Vec<Edge> = per_entry.into_iter().flatten().collect();
    let text = |f: &dyn Fn(&Edge) -> String| Arc::new(StringArray::from_iter_values(edges.iter().map(f))) as ArrayRef;
    let opt = |f: &dyn Fn(&Edge) -> Option<String>| Arc::new(edges.iter().map(f).collect::<StringArray>()) as ArrayRef;
    let batch = RecordBatch::try_from_iter([
        ("child_key", text(&|e| e.child_key.clone())),
        ("parent_key", text(&|e| e.parent_key.clone())),
        ("role", text(&|e| e.role.clone())),
        ("parent_type", text(&|e| e.parent_type.to_owned())),
        ("parent_stage", opt(&|e| e.parent_stage.clone())),
        ("parent_item", opt(&|e| e.parent_item.clone())),
        ("parent_path", opt(&|e| e.parent_path.clone())),
        ("parent_size", Arc::new(edges.iter().map(|e| e.parent_size).collect::<UInt64Array>()) as ArrayRef),
        ("stage", text(&|e| e.stage.clone())),
        ("kind", text(&|e| e.kind.clone())),
        ("kind_version", Arc::new(UInt64Array::from_iter_values(edges.iter().map(|e| e.kind_version))) as ArrayRef),
        ("item", opt(&|e| e.item.clone())),
        ("variant", opt(&|e| e.variant.clone())),
        ("params_digest", text(&|e| e.params_digest.clone())),
        ("created", text(&|e| e.created.clone())),
    ])
    .context("cannot build the lineage table")?;
    let path = cache.root().join(LINEAGE_TABLE);
    let tmp = cache.root().join(format!(".{LINEAGE_TABLE}.{}", std::process::id()));
    lungflow_stages::table::write_parquet(&tmp, &batch).map_err(|e| anyhow::anyhow!("{e}"))?;
    std::fs::rename(&tmp, &path).with_context(|| format!("cannot move {} to {}", tmp.display(), path.display()))?;
    Ok((path, edges.len()))
}
