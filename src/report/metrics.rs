//! `lungflow metrics`: the final metrics of every fresh instance whose stage
//! reports some (a `metrics.json` among its outputs), as rows of stage,
//! variant, name and value (the DVC convention).

use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;

use crate::pipeline::model::Pipeline;
use crate::run::outcome::{Outcome, RunResult};
use crate::store::bounded::{JSON_CAP, read_text_capped};
use crate::store::manifest::FileRecord;

/// The file a stage writes its final metrics to (a JSON object of numbers).
pub use lungflow_stages::formats::training::METRICS_JSON as METRICS_FILE;

/// One metric of one instance.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct MetricRow {
    /// Stage name in the pipeline file.
    pub stage: String,
    /// Item, for per-item stages.
    pub item: Option<String>,
    /// For a stage a sweep varies: the swept values of this copy.
    pub variant: Option<String>,
    /// Metric name.
    pub name: String,
    /// Value.
    pub value: f64,
}

/// The numbers of an entry's `metrics.json`, in file order; none when the
/// entry has no such output.
pub fn read_metrics(out_dir: &Path, outputs: &[FileRecord]) -> Result<Vec<(String, f64)>> {
    if !outputs.iter().any(|f| f.path == METRICS_FILE) {
        return Ok(Vec::new());
    }
    let path = out_dir.join(METRICS_FILE);
    let text = read_text_capped(&path, JSON_CAP).with_context(|| format!("cannot read {}", path.display()))?;
    let doc: serde_json::Value = serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    let Some(map) = doc.as_object() else { return Ok(Vec::new()) };
    Ok(map.iter().filter_map(|(name, value)| value.as_f64().map(|v| (name.clone(), v))).collect())
}

/// Metric rows of the fresh instances of an inspection.
pub fn rows(p: &Pipeline, eval: &RunResult) -> Result<Vec<MetricRow>> {
    let mut out = Vec::new();
    for inst in &eval.instances {
        let Outcome::Available(prod) = &inst.outcome else { continue };
        for (name, value) in read_metrics(&prod.out_dir, &prod.outputs)? {
            out.push(MetricRow {
                stage: p.stages[inst.stage].base_name().to_owned(),
                item: inst.item.clone(),
                variant: p.stages[inst.stage].variant.clone(),
                name,
                value,
            });
        }
    }
    Ok(out)
}
