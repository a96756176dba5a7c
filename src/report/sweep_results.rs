//! What each variant of a sweep reached: its state (and error), the compute
//! seconds of its own instances, the final metrics, the validation curves
//! and the out-of-fold tables of the stages the sweep varies.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Result;
use serde_json::Value;

use crate::pipeline::model::Pipeline;
use crate::pipeline::model::Variant;
use crate::pipeline::model::instance_label;
use crate::report::metrics::read_metrics;
use crate::run::outcome::{Outcome, RunResult, Skip};
use crate::store::cache::Cache;

/// The table of out-of-fold probabilities a cross-validating stage writes.
pub use lungflow_stages::formats::classifier::CV_PREDICTIONS_TABLE as OUT_OF_FOLD_FILE;
/// The per-epoch table whose first `val_` column is a stage's validation curve.
pub use lungflow_stages::formats::training::METRICS_TABLE as CURVES_FILE;

/// How far a sweep variant got.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VariantState {
    /// Every instance it uses is in the cache.
    Done,
    /// One of its instances failed (see the variant's error).
    Failed,
    /// Some of its instances are not computed yet.
    Missing,
    /// A run stopped before reaching some of its instances.
    Incomplete,
}

impl VariantState {
    /// The word shown in tables: `done`, `failed`, `missing` or `incomplete`.
    pub fn as_str(self) -> &'static str {
        match self {
            VariantState::Done => "done",
            VariantState::Failed => "failed",
            VariantState::Missing => "missing",
            VariantState::Incomplete => "incomplete",
        }
    }
}

/// (epoch, value) points of a per-epoch score.
pub type Points = Vec<(f64, f64)>;

/// One validation curve of a variant.
#[derive(Clone, Debug)]
pub struct Curve {
    /// The stage's name in the pipeline file.
    pub stage: String,
    /// The column it was read from (the first `val_` column).
    pub column: String,
    /// Its points.
    pub points: Points,
}

/// One variant's results (`sweep status --json` shows all but the metrics
/// and curves, which `sweep show` tabulates).
#[derive(Clone, Debug, serde::Serialize)]
pub struct VariantResult {
    /// The variant's name.
    #[serde(rename = "variant")]
    pub name: String,
    /// Its swept values by `STAGE.PARAM`.
    pub params: BTreeMap<String, Value>,
    /// How far it got.
    pub state: VariantState,
    /// The first failure among its instances: `stage[item]: error`.
    pub error: Option<String>,
    /// Instances of every stage the variant uses, shared ones included.
    pub instances: usize,
    /// How many of them are in the cache.
    pub available: usize,
    /// Compute seconds of the instances only this variant's configuration
    /// uses (shared upstream left out).
    pub seconds: f64,
    /// Final metrics of its varied stages that run once, as `STAGE.METRIC`,
    /// in pipeline order (then those [`crate::report::sweep_ranking`] adds).
    #[serde(skip)]
    pub metrics: Vec<(String, f64)>,
    /// Validation curves of its varied stages that run once: (stage, column,
    /// (epoch, value) points).
    #[serde(skip)]
    pub curves: Vec<Curve>,
    /// Out-of-fold tables of its varied stages that run once and
    /// cross-validate: (stage, path of its [`OUT_OF_FOLD_FILE`]).
    #[serde(skip)]
    pub out_of_fold: Vec<(String, PathBuf)>,
}

/// The results of every variant of `p`, from a run or an inspection.
pub fn variant_results(p: &Pipeline, cache: &Cache, eval: &RunResult) -> Result<Vec<VariantResult>> {
    p.variants.iter().map(|v| variant_result(p, cache, eval, v)).collect()
}

fn variant_result(p: &Pipeline, cache: &Cache, eval: &RunResult, v: &Variant) -> Result<VariantResult> {
    let used: Vec<usize> = v.stages.values().copied().collect();
    let mut result = VariantResult {
        name: v.name.clone(),
        params: v.assignments.iter().map(|a| (format!("{}.{}", a.stage, a.param), a.value.clone())).collect(),
        state: VariantState::Done,
        error: None,
        instances: 0,
        available: 0,
        seconds: 0.0,
        metrics: Vec::new(),
        curves: Vec::new(),
        out_of_fold: Vec::new(),
    };
    let mut missing = false;
    let mut incomplete = false;
    if eval.unexpanded.iter().any(|(s, _)| used.contains(s)) {
        missing = true;
    }
    for inst in eval.instances.iter().filter(|i| used.contains(&i.stage)) {
        let stage = &p.stages[inst.stage];
        let label = || instance_label(&stage.name, inst.item.as_deref());
        result.instances += 1;
        match &inst.outcome {
            Outcome::Available(prod) => {
                result.available += 1;
                if stage.variant.is_none() {
                    continue;
                }
                result.seconds += match prod.executed {
                    Some(s) => s,
                    None => cache.manifest(&prod.key)?.map_or(0.0, |m| m.seconds),
                };
                if inst.item.is_none() {
                    let base = stage.base_name();
                    let metrics = read_metrics(&prod.out_dir, &prod.outputs)?;
                    result.metrics.extend(metrics.into_iter().map(|(name, v)| (format!("{base}.{name}"), v)));
                    if prod.outputs.iter().any(|f| f.path == CURVES_FILE)
                        && let Some((column, points)) = read_curve(&prod.out_dir.join(CURVES_FILE))?
                    {
                        result.curves.push(Curve { stage: base.to_owned(), column, points });
                    }
                    if prod.outputs.iter().any(|f| f.path == OUT_OF_FOLD_FILE) {
                        result.out_of_fold.push((base.to_owned(), prod.out_dir.join(OUT_OF_FOLD_FILE)));
                    }
                }
            }
            Outcome::Failed(e) => {
                result.error.get_or_insert_with(|| format!("{}: {e}", label()));
            }
            Outcome::Pending(pending) => {
                let failed = pending.key.as_deref().and_then(|k| cache.failure(k));
                match failed {
                    Some(e) => {
                        result.error.get_or_insert_with(|| format!("{}: {e}", label()));
                    }
                    None => missing = true,
                }
            }
            Outcome::Skipped(Skip::Upstream { .. }) => missing = true,
            Outcome::Skipped(Skip::Stopped) => incomplete = true,
        }
    }
    result.state = if result.error.is_some() {
        VariantState::Failed
    } else if incomplete {
        VariantState::Incomplete
    } else if missing {
        VariantState::Missing
    } else {
        VariantState::Done
    };
    Ok(result)
}

/// The first `val_` column of a per-epoch table against its `epoch` column
/// (none when the table has no such columns).
fn read_curve(path: &std::path::Path) -> Result<Option<(String, Points)>> {
    let columns = lungflow_stages::formats::table::read_numeric_columns(path).map_err(|e| anyhow::anyhow!("{e}"))?;
    let (Some((_, epochs)), Some((name, values))) =
        (columns.iter().find(|(n, _)| n == "epoch"), columns.iter().find(|(n, _)| n.starts_with("val_")))
    else {
        return Ok(None);
    };
    Ok(Some((name.clone(), epochs.iter().copied().zip(values.iter().copied()).collect())))
}
