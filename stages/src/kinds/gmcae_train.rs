//! The `gmcae_train` kind: trains the Gaussian-mixture convolutional
//! autoencoder on the patches of all patients (input `patches`, gathered).
//!
//! Outputs: `model.mpk` (the best checkpoint), `model.json` (architecture),
//! `metrics.parquet` (one row per epoch; the epochs' wall times and
//! patches per second go to the run's timings file), `metrics.json` (final metrics for
//! `lungflow metrics`), `split.json` (training and validation patients), all
//! as in [`formats::training`](crate::formats::training), and `loss.png`
//! (the curves) and `reconstruction.png` (validation patches beside the most
//! probable component's mean).

use std::path::Path;
use std::sync::Arc;

use arrow_array::{ArrayRef, Float64Array, Int32Array, RecordBatch};
use burn::backend::Autodiff;
use serde_json::json;

use crate::formats::patches::read_gathered;
use crate::formats::table::write_parquet;
use crate::formats::training::{METRICS_TABLE, save_weights, write_metrics, write_model_json, write_split, write_timings};
use crate::logs::line_log;
use crate::models::gmcae::data::PatchSet;
use crate::models::gmcae::model::GmcaeShape;
use crate::models::gmcae::train::{EpochMetrics, TrainOptions, TrainResult, train};
use crate::models::parse_widths;
use crate::models::pool::inside_the_pool;
use crate::params::{input_path, positive};
use crate::plot::{BLUE, Canvas, ORANGE, Series, line_chart};
use crate::{ParamSpec, RunContext, StageError, StageKind, on_device, training_params};

/// Training and validation curves.
pub const LOSS_PNG: &str = "loss.png";
/// Validation patches beside their reconstructions.
pub const RECONSTRUCTION_PNG: &str = "reconstruction.png";

training_params! {
    /// The parameters of `gmcae_train`.
    pub struct Params {
        /// encoder channel widths, or the preset kdsb17 (64,128,256)
        widths: String = "8,16,32",
        /// mixture components m
        #[range(1..=64)]
        mixtures: i64 = 4,
        /// smallest component variance (scaled HU units)
        #[range(1e-12..=1.0)]
        variance_floor: f64 = 1e-4,
        /// units of the prior and variance heads' dense layer
        #[range(1..=4096)]
        hidden: i64 = 128,
        /// Adam learning rate
        #[range(1e-8..=1.0)]
        lr: f64 = 1e-4,
        /// Adam epsilon (PyTorch's default)
        #[range(1e-15..=1.0)]
        adam_epsilon: f64 = 1e-8,
    }
    training {
        /// patches per batch
        batch_size = 8,
        epochs = 10,
        /// early stopping patience in epochs
        patience = 3,
        /// fraction of patients held out for validation
        val_fraction,
        /// random cube symmetry per training patch
        augment,
    }
}

impl Params {
    /// The training options for patches of `edge` voxels, checked.
    fn options(&self, edge: usize) -> Result<TrainOptions, StageError> {
        Ok(TrainOptions {
            shape: GmcaeShape {
                widths: parse_widths(&self.widths)?,
                mixtures: positive("mixtures", self.mixtures)?,
                edge,
                variance_floor: self.variance_floor,
                hidden: positive("hidden", self.hidden)?,
            },
            learning_rate: self.lr,
            adam_epsilon: self.adam_epsilon,
            batch_size: positive("batch_size", self.batch_size)?,
            epochs: positive("epochs", self.epochs)?,
            patience: positive("patience", self.patience)?,
            clip_norm: self.clip_norm,
            val_fraction: self.val_fraction,
            seed: self.seed as u64,
            augment: self.augment,
        })
    }
}

/// Trains the GMCAE.
pub struct GmcaeTrain;

impl StageKind for GmcaeTrain {
    fn name(&self) -> &'static str {
        "gmcae_train"
    }

    fn version(&self) -> u32 {
        4
    }

    fn doc(&self) -> &'static str {
        "trains the Gaussian-mixture conv autoencoder on gathered patches (input `patches`)"
    }

    fn wants_all_cores(&self) -> bool {
        true
    }

    fn params(&self) -> Vec<ParamSpec> {
        Params::specs()
    }

    fn run(&self, ctx: &RunContext<'_>) -> Result<(), StageError> {
        // Runs alone (all cores), so it may tune the process's allocator.
        let _heap = crate::models::heap::ReuseFreedMemory::start();
        let p = Params::parse(ctx.params)?;
        let (edge, patches) = read_gathered(input_path(ctx, "patches")?)?;
        let set = PatchSet::new(edge, patches.into_iter().map(|(patient, patch)| (patient, patch.voxels)));
        let o = p.options(set.edge)?;
        o.shape.check_size(o.batch_size)?;
        let mut log = line_log(ctx.log_path)?;
        // The training threads share the main heap, which keeps tensors
        // over 64 MiB (kdsb17's widths) for reuse.
        crate::models::heap::one_arena();
        let result = inside_the_pool(|| on_device!(p.device.as_str(), train_on(&set, &o, ctx.out_dir, &mut log)))?;
        let timings =
            result.epochs.iter().map(|m| json!({"epoch": m.epoch, "seconds": m.seconds, "patches_per_second": m.patches_per_second}));
        write_timings(ctx.timings_path, timings.collect())?;
        write_outputs(ctx.out_dir, &o, &result)
    }
}

/// Trains on backend `B` with autodiff, saving each better model in `out`.
fn train_on<B: crate::models::kernels::KernelBackend>(
    device: &B::Device,
    set: &PatchSet,
    o: &TrainOptions,
    out: &Path,
    log: &mut dyn FnMut(&str),
) -> Result<TrainResult, StageError> {
    train::<Autodiff<B>>(set, o, device, &mut |model| save_weights(model, out), log)
}

fn write_outputs(out: &Path, o: &TrainOptions, r: &TrainResult) -> Result<(), StageError> {
    let col = |f: &dyn Fn(&EpochMetrics) -> f64| Arc::new(Float64Array::from_iter_values(r.epochs.iter().map(f))) as ArrayRef;
    let batch = RecordBatch::try_from_iter([
        ("epoch", Arc::new(Int32Array::from_iter_values(r.epochs.iter().map(|m| m.epoch as i32))) as ArrayRef),
        ("train_nll_per_voxel", col(&|m| m.train_nll_per_voxel)),
        ("val_nll_per_voxel", col(&|m| m.val_nll_per_voxel)),
        ("grad_norm", col(&|m| m.grad_norm)),
    ])
    .map_err(StageError::msg)?;
    write_parquet(&out.join(METRICS_TABLE), &batch)?;
    let mut metrics = json!({
        "best_val_nll_per_voxel": r.best_val_nll_per_voxel,
        "best_epoch": r.best_epoch,
        "epochs": r.epochs.len(),
        "final_train_nll_per_voxel": r.epochs.last().map(|m| m.train_nll_per_voxel),
    });
    // Encoder channels of the kept model that are 0 on every validation
    // patch: what `encode` with that many blocks passes on is dead weight.
    for (b, silent) in r.silent_channels.iter().enumerate() {
        metrics[format!("silent_channels_block{}", b + 1)] = json!(silent.len());
    }
    write_metrics(out, &metrics)?;
    write_model_json(out, &o.shape)?;
    write_split(out, &r.train_patients, &r.val_patients)?;
    let curve = |name, color, f: &dyn Fn(&EpochMetrics) -> f64| Series {
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
fn reconstruction_png(path: &Path, edge: usize, rows: &[(Vec<f32>, Vec<f32>)]) -> Result<(), StageError> {
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
