//! Training the classifier: Adam on binary cross-entropy, a random cube
//! symmetry per patient per step, global-norm clipping, per-epoch scores on
//! training and validation patients, early stopping on validation log loss.

use std::time::Instant;

use burn::module::AutodiffModule;
use burn::optim::{AdamConfig, GradientsParams, Optimizer};
use burn::prelude::*;
use rand::SeedableRng;
use rand::seq::{IndexedRandom, SliceRandom};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::Serialize;

use super::data::{Sample, tensor};
use super::dropout::MaskStream;
use super::model::{Classifier, bce_with_logits};
use super::scores::{Scores, positive_rate, prior_log_loss, score};
use crate::StageError;
use crate::models::SaveBest;
use crate::models::clip::clip_global_norm;
use crate::models::kernels::{KernelAutodiff, KernelBackend};
use crate::models::symmetry::Symmetry;

/// Training settings.
#[derive(Clone, Debug, Serialize)]
pub struct TrainOptions {
    /// Adam learning rate.
    pub learning_rate: f64,
    /// Patients per step.
    pub batch_size: usize,
    /// Most epochs.
    pub epochs: usize,
    /// Stop after this many epochs without a lower validation log loss.
    pub patience: usize,
    /// Global gradient-norm limit; 0 turns clipping off.
    pub clip_norm: f64,
    /// Seed for initialisation, order and augmentation.
    pub seed: u64,
    /// Apply one of the 48 cube symmetries to each training feature map.
    pub augment: bool,
}

/// One epoch's numbers.
#[derive(Clone, Debug, Serialize)]
pub struct EpochScores {
    /// 1-based epoch.
    pub epoch: usize,
    /// Scores on the training patients (no augmentation, no dropout).
    pub train: Scores,
    /// Scores on the validation patients.
    pub val: Scores,
    /// Wall time of the epoch, seconds (a timing, not an output).
    pub seconds: f64,
}

/// The optimiser every classifier trains with (PyTorch's Adam epsilon).
fn adam() -> AdamConfig {
    AdamConfig::new().with_epsilon(1e-8)
}

/// The samples at `idx`.
fn pick<'a>(samples: &'a [Sample], idx: &[usize]) -> Vec<&'a Sample> {
    idx.iter().map(|&i| &samples[i]).collect()
}

/// What training produced.
#[derive(Clone, Debug, Serialize)]
pub struct TrainResult {
    /// Every epoch run.
    pub epochs: Vec<EpochScores>,
    /// Epoch of the lowest validation log loss (the model last handed to `save_best`).
    pub best_epoch: usize,
    /// Training cancer rate.
    pub prior: f64,
    /// Log loss of always predicting `prior` on the validation patients.
    pub prior_val_log_loss: f64,
    /// Validation probabilities of that model, by patient.
    pub val_predictions: Vec<(String, bool, f64)>,
}

/// Probabilities of cancer for some samples, one forward pass each (sizes
/// differ), several at once: a pass has no random part, so the values do
/// not depend on how the passes share the threads.
pub fn predict<B: KernelBackend>(model: &Classifier<B>, samples: &[&Sample], device: &B::Device) -> Vec<f64> {
    samples.par_iter().map(|s| model.probability(&s.features, Symmetry::IDENTITY, device)).collect()
}

/// A freshly built `model` made ready to train on `train_len` patients for
/// at most `o.epochs` epochs, with no further use of the backend's random
/// generator (so that it may train beside other trainings): its first
/// forward pass draws its parameters and first dropout masks, interleaved
/// as a training's first pass would, and the rest of its masks are drawn
/// ahead. `example` is any feature map of the right channel count.
pub fn prepare<B: KernelAutodiff>(
    model: Classifier<B>,
    example: &Sample,
    o: &TrainOptions,
    train_len: usize,
    device: &B::Device,
) -> (Classifier<B>, MaskStream) {
    let mut masks = MaskStream::new(model.dropout_prob());
    let _ = model.forward_train(tensor::<B>(&example.features, Symmetry::IDENTITY, device), &mut masks);
    // Every pass takes masks of the same sizes (one patient; the pyramid's
    // length does not depend on the volume), and an epoch passes each
    // training patient once.
    let per_pass = masks.drawn();
    masks.draw_ahead::<B>(per_pass * o.epochs * train_len, device);
    (model, masks)
}

/// Trains `model` on `samples[train]`, validating on `samples[val]`, with
/// the dropout masks of `masks` (see [`prepare`]); `save_best` is handed
/// the model after every epoch that lowers the validation log loss.
pub fn train<B: KernelAutodiff>(
    (mut model, mut masks): (Classifier<B>, MaskStream),
    samples: &[Sample],
    (train_idx, val_idx): (&[usize], &[usize]),
    o: &TrainOptions,
    device: &B::Device,
    save_best: SaveBest<'_, Classifier<B::InnerBackend>>,
    log: &mut dyn FnMut(&str),
) -> Result<TrainResult, StageError> {
    let mut optim = adam().init();
    let mut rng = ChaCha8Rng::seed_from_u64(o.seed);
    let (train_set, val_set) = (pick(samples, train_idx), pick(samples, val_idx));
    let labels = |set: &[&Sample]| set.iter().map(|s| s.label).collect::<Vec<bool>>();
    let (train_labels, val_labels) = (labels(&train_set), labels(&val_set));
    let prior = positive_rate(&train_labels);
    let mut result = TrainResult {
        epochs: Vec::new(),
        best_epoch: 0,
        prior,
        prior_val_log_loss: prior_log_loss(prior, &val_labels),
        val_predictions: Vec::new(),
    };
    let mut best = f64::INFINITY;
    // Early stopping waits until the model has learned something: a ReLU
    // network can sit at the class prior for several epochs before its
    // loss starts to fall, and stopping it there keeps a useless model.
    let prior_train_log_loss = prior_log_loss(prior, &train_labels);
    let mut learned = false;
    let mut order: Vec<usize> = (0..train_set.len()).collect();
    for epoch in 1..=o.epochs {
        let clock = Instant::now();
        order.shuffle(&mut rng);
        model = epoch_steps(model, &mut optim, &train_set, &order, o, epoch, (&mut rng, &mut masks), device)?;
        let inference = model.valid();
        let train_p = predict(&inference, &train_set, device);
        let val_p = predict(&inference, &val_set, device);
        let scores = EpochScores {
            epoch,
            train: score(&train_p, &train_labels),
            val: score(&val_p, &val_labels),
            seconds: clock.elapsed().as_secs_f64(),
        };
        log(&format!(
            "epoch {epoch}: train log loss {:.4} acc {:.3} AUC {:.3} | validation log loss {:.4} acc {:.3} AUC {:.3} (prior {:.4})",
            scores.train.log_loss,
            scores.train.accuracy,
            scores.train.auc,
            scores.val.log_loss,
            scores.val.accuracy,
            scores.val.auc,
            result.prior_val_log_loss
        ));
        let val_loss = scores.val.log_loss;
        learned |= scores.train.log_loss < prior_train_log_loss;
        result.epochs.push(scores);
        if val_loss < best {
            best = val_loss;
            result.best_epoch = epoch;
            result.val_predictions = val_set.iter().zip(&val_p).map(|(s, &p)| (s.id.clone(), s.label, p)).collect();
            save_best(&inference)?;
        } else if learned && epoch - result.best_epoch >= o.patience {
            log(&format!("early stop: no lower validation log loss for {} epochs", o.patience));
            break;
        }
    }
    if result.best_epoch == 0 {
        return Err(StageError("no epoch gave a finite validation log loss".into()));
    }
    Ok(result)
}

/// One pass over the training patients in `order`, in batches; `rng`
/// picks the symmetries, `masks` hands out the dropout masks.
#[allow(clippy::too_many_arguments)]
fn epoch_steps<B: KernelAutodiff, O: Optimizer<Classifier<B>, B>>(
    mut model: Classifier<B>,
    optim: &mut O,
    train_set: &[&Sample],
    order: &[usize],
    o: &TrainOptions,
    epoch: usize,
    (rng, masks): (&mut ChaCha8Rng, &mut MaskStream),
    device: &B::Device,
) -> Result<Classifier<B>, StageError> {
    let symmetries = Symmetry::all();
    for (b, chunk) in order.chunks(o.batch_size).enumerate() {
        let mut logits = Vec::with_capacity(chunk.len());
        for &i in chunk {
            let symmetry = if o.augment { *symmetries.choose(rng).expect("48 symmetries") } else { Symmetry::IDENTITY };
            logits.push(model.forward_train(tensor::<B>(&train_set[i].features, symmetry, device), masks));
        }
        let y: Vec<f32> = chunk.iter().map(|&i| train_set[i].label as u8 as f32).collect();
        let targets = Tensor::<B, 2>::from_data(TensorData::new(y, [chunk.len(), 1]), device);
        let loss = bce_with_logits(Tensor::cat(logits, 0), targets);
        let value = loss.clone().into_scalar().elem::<f64>();
        if !value.is_finite() {
            return Err(StageError(format!("loss became {value} at epoch {epoch}, batch {}; lower the learning rate", b + 1)));
        }
        let mut grads = GradientsParams::from_grads(loss.backward(), &model);
        if o.clip_norm > 0.0 {
            clip_global_norm::<B, _>(&model, &mut grads, o.clip_norm);
        }
        model = optim.step(o.learning_rate, model, grads);
    }
    Ok(model)
}
