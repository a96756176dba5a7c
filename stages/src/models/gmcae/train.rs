//! The training loop: Adam, global-norm clipping, validation by patient,
//! early stopping, the best model handed to the caller (see
//! [`SaveBest`]), and a hard stop on a non-finite loss.

use std::time::Instant;

use burn::module::AutodiffModule;
use burn::optim::{AdamConfig, GradientsParams, Optimizer};
use burn::prelude::*;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use super::data::{PatchSet, Split, batch, split};
use super::loss::nll_per_voxel;
use super::model::{Gmcae, GmcaeShape};
use super::silent::silent_channels;
use crate::StageError;
use crate::models::SaveBest;
use crate::models::clip::{clip_global_norm, global_norm};
use crate::models::kernels::{KernelAutodiff, KernelBackend};

/// Training settings.
#[derive(Clone, Debug, Serialize)]
pub struct TrainOptions {
    /// Network sizes.
    pub shape: GmcaeShape,
    /// Adam learning rate.
    pub learning_rate: f64,
    /// Adam epsilon (PyTorch's default 1e-8; burn's is 1e-5).
    pub adam_epsilon: f64,
    /// Patches per batch.
    pub batch_size: usize,
    /// Most epochs.
    pub epochs: usize,
    /// Stop after this many epochs without a better validation NLL.
    pub patience: usize,
    /// Global gradient-norm limit; 0 turns clipping off.
    pub clip_norm: f64,
    /// Fraction of patients held out for validation.
    pub val_fraction: f64,
    /// Seed for initialisation, split, shuffling and augmentation.
    pub seed: u64,
    /// Apply a random cube symmetry to each training patch.
    pub augment: bool,
}

/// One epoch's numbers.
#[derive(Clone, Debug, Serialize)]
pub struct EpochMetrics {
    /// 1-based epoch.
    pub epoch: usize,
    /// Mean training NLL per voxel (nats).
    pub train_nll_per_voxel: f64,
    /// Validation NLL per voxel (nats).
    pub val_nll_per_voxel: f64,
    /// Mean global gradient norm before clipping.
    pub grad_norm: f64,
    /// Wall time of the epoch.
    pub seconds: f64,
    /// Training patches per second.
    pub patches_per_second: f64,
}

/// What training produced.
#[derive(Clone, Debug, Serialize)]
pub struct TrainResult {
    /// Every epoch run.
    pub epochs: Vec<EpochMetrics>,
    /// Epoch of the best validation NLL.
    pub best_epoch: usize,
    /// Best validation NLL per voxel.
    pub best_val_nll_per_voxel: f64,
    /// Training patients.
    pub train_patients: Vec<String>,
    /// Validation patients.
    pub val_patients: Vec<String>,
    /// Per encoder block, the channels of the best model that are 0 on every
    /// validation patch (see [`silent_channels`]).
    pub silent_channels: Vec<Vec<usize>>,
    /// Centre slices (edge², z = edge/2) of up to six validation patches and
    /// of the best model's most probable component mean for each.
    #[serde(skip)]
    pub reconstructions: Vec<(Vec<f32>, Vec<f32>)>,
}

/// Centre slices of patches and of their most probable component's mean.
pub fn reconstruct<B: KernelBackend>(model: &Gmcae<B>, set: &PatchSet, idx: &[usize], device: &B::Device) -> Vec<(Vec<f32>, Vec<f32>)> {
    if idx.is_empty() {
        return Vec::new();
    }
    let e = set.edge;
    let out = model.forward(batch::<B>(set, idx, None, device));
    let best: Vec<i64> = out.log_priors.argmax(1).into_data().convert::<i64>().to_vec().unwrap_or_default();
    let means: Vec<f32> = out.means.into_data().convert::<f32>().to_vec().unwrap_or_default();
    let m = means.len() / (idx.len() * e * e * e);
    let plane = e * e;
    idx.iter()
        .enumerate()
        .map(|(n, &i)| {
            let original = set.voxels[i][e / 2 * plane..(e / 2 + 1) * plane].to_vec();
            let k = best.get(n).copied().unwrap_or(0) as usize;
            let start = ((n * m + k) * e + e / 2) * plane;
            (original, means[start..start + plane].to_vec())
        })
        .collect()
}

/// Mean NLL per voxel of a model over some patches, without gradients.
pub fn evaluate<B: KernelBackend>(model: &Gmcae<B>, set: &PatchSet, idx: &[usize], batch_size: usize, device: &B::Device) -> f64 {
    let mut total = 0.0;
    for chunk in idx.chunks(batch_size) {
        let x = batch::<B>(set, chunk, None, device);
        let out = model.forward(x.clone());
        total += nll_per_voxel(&out, x).into_scalar().elem::<f64>() * chunk.len() as f64;
    }
    total / idx.len().max(1) as f64
}

/// Trains a GMCAE on `set`; `save_best` is handed the model after every epoch
/// that lowers the validation NLL.
pub fn train<B: KernelAutodiff>(
    set: &PatchSet,
    o: &TrainOptions,
    device: &B::Device,
    save_best: SaveBest<'_, Gmcae<B::InnerBackend>>,
    log: &mut dyn FnMut(&str),
) -> Result<TrainResult, StageError> {
    let blocks = o.shape.widths.len();
    if o.shape.edge != set.edge || !set.edge.is_multiple_of(1 << blocks) {
        return Err(StageError(format!(
            "patch edge {} must equal the model's edge {} and be divisible by 2^{blocks}",
            set.edge, o.shape.edge
        )));
    }
    let Split { train: mut train_idx, val: val_idx, train_patients, val_patients } = split(set, o.val_fraction, o.seed);
    if train_idx.is_empty() || val_idx.is_empty() {
        return Err(StageError(format!(
            "need patches of at least two patients to split by patient (have {} patients)",
            train_patients.len() + val_patients.len()
        )));
    }
    B::seed(device, o.seed);
    let mut model: Gmcae<B> = o.shape.init(device);
    let mut optim = AdamConfig::new().with_epsilon(o.adam_epsilon as f32).init();
    let mut rng = ChaCha8Rng::seed_from_u64(o.seed);
    let mut result = TrainResult {
        epochs: Vec::new(),
        best_epoch: 0,
        best_val_nll_per_voxel: f64::INFINITY,
        train_patients,
        val_patients,
        silent_channels: Vec::new(),
        reconstructions: Vec::new(),
    };
    let mut best_model = None;
    for epoch in 1..=o.epochs {
        let clock = Instant::now();
        train_idx.shuffle(&mut rng);
        let steps = Steps { set, idx: &train_idx, o, epoch, best_epoch: result.best_epoch };
        let (trained, total, mean_norm) = steps.run(model, &mut optim, &mut rng, device)?;
        model = trained;
        let train_seconds = clock.elapsed().as_secs_f64();
        let val = evaluate(&model.valid(), set, &val_idx, o.batch_size, device);
        let m = EpochMetrics {
            epoch,
            train_nll_per_voxel: total / train_idx.len() as f64,
            val_nll_per_voxel: val,
            grad_norm: mean_norm,
            seconds: clock.elapsed().as_secs_f64(),
            patches_per_second: train_idx.len() as f64 / train_seconds,
        };
        log(&format!(
            "epoch {epoch}: train {:.4} val {:.4} nats/voxel, grad norm {:.3}, {:.1} patches/s",
            m.train_nll_per_voxel, m.val_nll_per_voxel, m.grad_norm, m.patches_per_second
        ));
        if !val.is_finite() {
            return Err(StageError(format!("validation NLL became {val} at epoch {epoch}")));
        }
        result.epochs.push(m);
        if val < result.best_val_nll_per_voxel {
            result.best_val_nll_per_voxel = val;
            result.best_epoch = epoch;
            let best = model.valid();
            save_best(&best)?;
            best_model = Some(best);
        } else if epoch - result.best_epoch >= o.patience {
            log(&format!("early stop: no better validation NLL for {} epochs", o.patience));
            break;
        }
    }
    if let Some(best) = best_model {
        // Only the kept model is looked at: a pass before training would
        // draw burn's lazily initialised parameters in another order, and so
        // train another model (measured: 5 silent channels of block 2 became 2).
        result.silent_channels = silent_channels(&best, blocks, set, &val_idx, o.batch_size, device);
        log(&format!(
            "silent encoder channels of the kept model, per block: {}",
            describe_silent(&result.silent_channels, &o.shape.widths)
        ));
        result.reconstructions = reconstruct(&best, set, &val_idx[..val_idx.len().min(6)], device);
    }
    Ok(result)
}

/// "2/8 [3, 5], 0/16 []": per block, silent channels of its width and which.
fn describe_silent(silent: &[Vec<usize>], widths: &[usize]) -> String {
    silent.iter().zip(widths).map(|(s, w)| format!("{}/{w} {s:?}", s.len())).collect::<Vec<_>>().join(", ")
}

/// The optimisation steps of one epoch.
struct Steps<'a> {
    set: &'a PatchSet,
    idx: &'a [usize],
    o: &'a TrainOptions,
    epoch: usize,
    best_epoch: usize,
}

impl Steps<'_> {
    /// One pass over `idx` in batches: the updated model, the summed training
    /// NLL (per voxel, times patches) and the mean gradient norm.
    fn run<B: KernelAutodiff, O: Optimizer<Gmcae<B>, B>>(
        &self,
        mut model: Gmcae<B>,
        optim: &mut O,
        rng: &mut ChaCha8Rng,
        device: &B::Device,
    ) -> Result<(Gmcae<B>, f64, f64), StageError> {
        let o = self.o;
        let (mut total, mut norms, mut steps) = (0.0, 0.0, 0usize);
        for (b, chunk) in self.idx.chunks(o.batch_size).enumerate() {
            let x = batch::<B>(self.set, chunk, o.augment.then_some(&mut *rng), device);
            let out = model.forward(x.clone());
            let loss = nll_per_voxel(&out, x);
            let value = loss.clone().into_scalar().elem::<f64>();
            if !value.is_finite() {
                return Err(self.diverged(value, b + 1));
            }
            let mut grads = GradientsParams::from_grads(loss.backward(), &model);
            let norm = if o.clip_norm > 0.0 {
                clip_global_norm::<B, _>(&model, &mut grads, o.clip_norm)
            } else {
                global_norm::<B, _>(&model, &grads)
            };
            model = optim.step(o.learning_rate, model, grads);
            total += value * chunk.len() as f64;
            norms += norm;
            steps += 1;
        }
        Ok((model, total, norms / steps.max(1) as f64))
    }

    /// The error for a non-finite loss at batch `b`.
    fn diverged(&self, value: f64, b: usize) -> StageError {
        let kept = if self.best_epoch > 0 {
            format!("the best model so far (epoch {}) is kept", self.best_epoch)
        } else {
            "no epoch finished, so there is no checkpoint".into()
        };
        StageError(format!("loss became {value} at epoch {}, batch {b}; {kept}. Lower the learning rate or the clipping norm", self.epoch))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::{Autodiff, Flex};

    fn set(edge: usize) -> PatchSet {
        let n = edge.pow(3);
        let patients = (0..8).map(|i| format!("p{}", i % 4)).collect();
        let voxels = (0..8).map(|i| (0..n).map(|v| ((v * 7 + i * 13) % 17) as f32 / 17.0 - 0.5).collect()).collect();
        PatchSet { edge, patients, voxels }
    }

    fn options(edge: usize) -> TrainOptions {
        TrainOptions {
            shape: GmcaeShape { widths: vec![2, 4], mixtures: 2, edge, variance_floor: 1e-4, hidden: 8 },
            learning_rate: 1e-3,
            adam_epsilon: 1e-8,
            batch_size: 4,
            epochs: 2,
            patience: 2,
            clip_norm: 1.0,
            val_fraction: 0.25,
            seed: 3,
            augment: true,
        }
    }

    #[test]
    fn a_non_finite_loss_stops_training_with_a_clear_error() {
        let mut s = set(8);
        for v in &mut s.voxels {
            v[3] = f32::NAN;
        }
        let err = train::<Autodiff<Flex>>(&s, &options(8), &Default::default(), &mut |_| Ok(()), &mut |_| {}).unwrap_err();
        assert!(err.0.contains("loss became NaN at epoch 1, batch 1") && err.0.contains("no epoch finished"), "{err}");
    }

    #[test]
    fn training_hands_over_the_best_model_and_records_every_epoch() {
        let mut saved: Vec<Gmcae<Flex>> = Vec::new();
        let r = train::<Autodiff<Flex>>(
            &set(8),
            &options(8),
            &Default::default(),
            &mut |m| {
                saved.push(m.clone());
                Ok(())
            },
            &mut |_| {},
        )
        .unwrap();
        assert_eq!(r.epochs.len(), 2);
        assert!(r.best_epoch >= 1 && r.best_val_nll_per_voxel.is_finite());
        let loaded = saved.pop().expect("a best model");
        let idx: Vec<usize> = (0..8).filter(|i| r.val_patients.contains(&format!("p{}", i % 4))).collect();
        let again = evaluate(&loaded, &set(8), &idx, 4, &Default::default());
        assert!(
            (again - r.best_val_nll_per_voxel).abs() < 1e-5 * again.abs(),
            "the last saved model gives {again}, best was {}",
            r.best_val_nll_per_voxel
        );
    }
}
