//! The `gmcae_train` kind: trains the Gaussian-mixture convolutional
//! autoencoder on the patches of all patients (input `patches`, gathered).
//!
//! Outputs: `model.mpk` (the best checkpoint), `model.json` (architecture),
//! `metrics.parquet` (one row per epoch), `metrics.json` (final metrics for
//! `lungflow metrics`), `split.json` (training and validation patients),
//! `loss.png` (the curves) and `reconstruction.png` (validation patches beside
//! the most probable component's mean).

use std::sync::Arc;

use arrow_array::{ArrayRef, Float64Array, Int32Array, RecordBatch};
use burn::backend::Autodiff;
use serde_json::json;

use crate::gmcae::data;
use crate::gmcae::model::GmcaeShape;
use crate::gmcae::train::{TrainOptions, TrainResult, train};
use crate::plot::{BLUE, Canvas, ORANGE, Series, line_chart};
use crate::on_device;
use crate::params::{get_bool, get_f64, get_i64, get_positive, get_str, input_path};
use crate::table::write_parquet;
use crate::{ParamSpec, ParamType, RunContext, StageError, StageKind};

/// Per-epoch metrics table.
pub const METRICS_TABLE: &str = "metrics.parquet";
/// Final metrics read by `lungflow metrics`.
pub const METRICS_JSON: &str = "metrics.json";
/// The architecture of the saved model.
pub const MODEL_JSON: &str = "model.json";
/// Training and validation curves.
pub const LOSS_PNG: &str = "loss.png";
/// Validation patches beside their reconstructions.
pub const RECONSTRUCTION_PNG: &str = "reconstruction.png";

/// Trains the GMCAE.
pub struct GmcaeTrain;

/// Parses "64,128,256" (or the preset name "kdsb17") into widths.
pub fn parse_widths(text: &str) -> Result<Vec<usize>, StageError> {
    if text.trim() == "kdsb17" {
        return Ok(crate::gmcae::model::GmcaeShape::KDSB17_WIDTHS.to_vec());
    }
    let widths: Result<Vec<usize>, _> = text.split(',').map(|w| w.trim().parse::<usize>()).collect();
    match widths {
        Ok(w) if !w.is_empty() && w.iter().all(|&x| x > 0) => Ok(w),
        _ => Err(StageError(format!("widths must be positive integers separated by commas, got {text:?}"))),
    }
}

impl StageKind for GmcaeTrain {
    fn name(&self) -> &'static str {
        "gmcae_train"
    }

    fn version(&self) -> u32 {
        1
    }

    fn doc(&self) -> &'static str {
        "trains the Gaussian-mixture conv autoencoder on gathered patches (input `patches`)"
    }

    fn wants_all_cores(&self) -> bool {
        true
    }

    fn params(&self) -> Vec<ParamSpec> {
        vec![
            ParamSpec { name: "widths", ty: ParamType::Str, default: Some(json!("8,16,32")), doc: "encoder channel widths, or the preset kdsb17 (64,128,256)" },
            ParamSpec { name: "mixtures", ty: ParamType::Int, default: Some(json!(4)), doc: "mixture components m" },
            ParamSpec { name: "variance_floor", ty: ParamType::Float, default: Some(json!(1e-4)), doc: "smallest component variance (scaled HU units)" },
            ParamSpec { name: "hidden", ty: ParamType::Int, default: Some(json!(128)), doc: "units of the prior and variance heads' dense layer" },
            ParamSpec { name: "lr", ty: ParamType::Float, default: Some(json!(1e-4)), doc: "Adam learning rate" },
            ParamSpec { name: "adam_epsilon", ty: ParamType::Float, default: Some(json!(1e-8)), doc: "Adam epsilon (PyTorch's default)" },
            ParamSpec { name: "batch_size", ty: ParamType::Int, default: Some(json!(8)), doc: "patches per batch" },
            ParamSpec { name: "epochs", ty: ParamType::Int, default: Some(json!(10)), doc: "most epochs" },
            ParamSpec { name: "patience", ty: ParamType::Int, default: Some(json!(3)), doc: "early stopping patience in epochs" },
            ParamSpec { name: "clip_norm", ty: ParamType::Float, default: Some(json!(1.0)), doc: "global gradient-norm limit; 0 turns clipping off" },
            ParamSpec { name: "val_fraction", ty: ParamType::Float, default: Some(json!(0.25)), doc: "fraction of patients held out for validation" },
            ParamSpec { name: "seed", ty: ParamType::Int, default: Some(json!(0)), doc: "seed for initialisation, split, order and augmentation" },
            ParamSpec { name: "augment", ty: ParamType::Bool, default: Some(json!(true)), doc: "random cube symmetry per training patch" },
            ParamSpec { name: "device", ty: ParamType::Str, default: Some(json!("cpu")), doc: "cpu (burn flex) or cuda (needs --features cuda)" },
        ]
    }

    fn run(&self, ctx: &RunContext<'_>) -> Result<(), StageError> {
        let set = data::load(input_path(ctx, "patches")?)?;
        let count = |name: &str| get_positive(ctx.params, name);
        let o = TrainOptions {
            shape: GmcaeShape {
                widths: parse_widths(get_str(ctx.params, "widths")?)?,
                mixtures: count("mixtures")?,
                edge: set.edge,
                variance_floor: get_f64(ctx.params, "variance_floor")?,
                hidden: count("hidden")?,
            },
            learning_rate: get_f64(ctx.params, "lr")?,
            adam_epsilon: get_f64(ctx.params, "adam_epsilon")?,
            batch_size: count("batch_size")?,
            epochs: count("epochs")?,
            patience: count("patience")?,
            clip_norm: get_f64(ctx.params, "clip_norm")?,
            val_fraction: get_f64(ctx.params, "val_fraction")?,
            seed: get_i64(ctx.params, "seed")? as u64,
            augment: get_bool(ctx.params, "augment")?,
        };
        let mut log_file = std::fs::File::create(ctx.log_path).map_err(StageError::msg)?;
        let mut log = |line: &str| {
            use std::io::Write;
            let _ = writeln!(log_file, "{line}");
        };
        let result = on_device!(get_str(ctx.params, "device")?, train_on(&set, &o, ctx.out_dir, &mut log))?;
        write_outputs(ctx.out_dir, &o, &result)
    }
}

/// Trains on backend `B` with autodiff.
fn train_on<B: burn::prelude::Backend>(device: &B::Device, set: &data::PatchSet, o: &TrainOptions, out: &std::path::Path, log: &mut dyn FnMut(&str)) -> Result<TrainResult, StageError> {
    train::<Autodiff<B>>(set, o, device, out, log)
}

fn write_outputs(out: &std::path::Path, o: &TrainOptions, r: &TrainResult) -> Result<(), StageError> {
    let col = |f: &dyn Fn(&crate::gmcae::train::EpochMetrics) -> f64| Arc::new(Float64Array::from_iter_values(r.epochs.iter().map(f))) as ArrayRef;
    let batch = RecordBatch::try_from_iter([
        ("epoch", Arc::new(Int32Array::from_iter_values(r.epochs.iter().map(|m| m.epoch as i32))) as ArrayRef),
        ("train_nll_per_voxel", col(&|m| m.train_nll_per_voxel)),
        ("val_nll_per_voxel", col(&|m| m.val_nll_per_voxel)),
        ("grad_norm", col(&|m| m.grad_norm)),
        ("seconds", col(&|m| m.seconds)),
        ("patches_per_second", col(&|m| m.patches_per_second)),
    ])
    .map_err(StageError::msg)?;
    write_parquet(&out.join(METRICS_TABLE), &batch)?;
    let write = |name: &str, v: serde_json::Value| {
        std::fs::write(out.join(name), serde_json::to_string_pretty(&v).expect("JSON")).map_err(StageError::msg)
    };
    write(
        METRICS_JSON,
        json!({
            "best_val_nll_per_voxel": r.best_val_nll_per_voxel,
            "best_epoch": r.best_epoch,
            "epochs": r.epochs.len(),
            "final_train_nll_per_voxel": r.epochs.last().map(|m| m.train_nll_per_voxel),
        }),
    )?;
    write(MODEL_JSON, serde_json::to_value(&o.shape).expect("JSON"))?;
    write("split.json", json!({"train_patients": r.train_patients, "val_patients": r.val_patients}))?;
    let curve = |name, color, f: &dyn Fn(&crate::gmcae::train::EpochMetrics) -> f64| Series {
        name,
        color,
        points: r.epochs.iter().map(|m| (m.epoch as f64, f(m))).collect(),
    };
    line_chart(
        &out.join(LOSS_PNG),
        &format!("GMCAE, m = {}", o.shape.mixtures),
        "epoch",
        "NLL per voxel (nats)",
        &[curve("train", BLUE, &|m| m.train_nll_per_voxel), curve("validation", ORANGE, &|m| m.val_nll_per_voxel)],
    )?;
    reconstruction_png(&out.join(RECONSTRUCTION_PNG), o.shape.edge, &r.reconstructions)
}

/// Original centre slices (left) beside the most probable component's mean
/// (right), one validation patch per row, as in the kdsb17 README.
fn reconstruction_png(path: &std::path::Path, edge: usize, rows: &[(Vec<f32>, Vec<f32>)]) -> Result<(), StageError> {
    let scale = (128 / edge).max(1);
    let side = edge * scale;
    let mut c = Canvas::new(2 * side + 30, (rows.len().max(1)) * (side + 10) + 24);
    c.text(10, 6, "patch", [0, 0, 0]);
    c.text((side + 20) as i64, 6, "mean", [0, 0, 0]);
    for (k, (original, mean)) in rows.iter().enumerate() {
        let y = 20 + k * (side + 10);
        c.tile(10, y, original, edge, (-1.0, 1.0), scale);
        c.tile(side + 20, y, mean, edge, (-1.0, 1.0), scale);
    }
    c.save(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_parse_and_the_kdsb17_preset() {
        assert_eq!(parse_widths("8, 16,32").unwrap(), vec![8, 16, 32]);
        assert_eq!(parse_widths("kdsb17").unwrap(), vec![64, 128, 256]);
        assert!(parse_widths("8,,16").is_err());
        assert!(parse_widths("0").is_err());
    }
}
