//! Training the classifier: AdamW on binary cross-entropy with a linear
//! warm-up of the learning rate, a random cube symmetry per patient per step
//! (optional), global-norm clipping, per-epoch scores on training patients
//! (running: each scored by its own step's forward pass, so no second pass)
//! and on validation patients, and early stopping on validation log loss once the
//! training log loss is a real margin below the class prior's. A run that
//! never gets there within `restart_after` epochs starts again from the
//! next prepared start (its own initial weights), saying so in the log.

use std::time::Instant;

use burn::module::AutodiffModule;
use burn::optim::{AdamWConfig, GradientsParams, Optimizer};
use burn::prelude::*;
use rand::SeedableRng;
use rand::seq::{IndexedRandom, SliceRandom};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::Serialize;

use super::data::Sample;
use super::dropout::MaskStream;
use super::model::{Classifier, Input, bce_with_logits, sigmoid};
use super::normalise::inverse_sd;
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
    /// AdamW's decoupled weight decay.
    pub weight_decay: f64,
    /// Epochs over which the learning rate rises linearly from
    /// `learning_rate / steps` to `learning_rate` (0: none).
    pub warmup_epochs: usize,
    /// How far (nats) the training log loss must fall below the class
    /// prior's before the model counts as learning (and patience counts).
    pub learn_margin: f64,
    /// Epochs a start may take to count as learning before the next start
    /// replaces it (0: never restart).
    pub restart_after: usize,
    /// Centre and scale the pooled vector on the training patients at the
    /// start of every epoch.
    pub head_norm: bool,
    /// The extra numbers' spread after centring (1: one standard deviation
    /// per unit). Adam moves each weight by about the learning rate a step,
    /// so a score that needs a weight of several units gets there within
    /// the epochs only when its inputs are this much wider.
    pub extra_gain: f64,
}

/// One epoch's numbers.
#[derive(Clone, Debug, Serialize)]
pub struct EpochScores {
    /// 1-based epoch.
    pub epoch: usize,
    /// Running scores on the training patients: each patient's probability
    /// from the forward pass of its own step (the weights of that step, its
    /// augmentation and dropout), as Keras and PyTorch loops report them.
    pub train: Scores,
    /// Scores on the validation patients.
    pub val: Scores,
    /// Wall time of the epoch, seconds (a timing, not an output).
    pub seconds: f64,
}

/// The optimiser every classifier trains with (PyTorch's Adam epsilon).
fn adam(weight_decay: f64) -> AdamWConfig {
    AdamWConfig::new().with_epsilon(1e-8).with_weight_decay(weight_decay as f32)
}

/// The learning rate of step `step` (from 0) of `steps_per_epoch`: linear
/// warm-up over the first `o.warmup_epochs` epochs, then `o.learning_rate`.
pub fn learning_rate(o: &TrainOptions, step: usize, steps_per_epoch: usize) -> f64 {
    let warmup = o.warmup_epochs * steps_per_epoch;
    if step >= warmup {
        return o.learning_rate;
    }
    o.learning_rate * (step + 1) as f64 / warmup as f64
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
    /// Starts abandoned because they never learned (0: the first one did).
    pub restarts: usize,
}

/// Probabilities of cancer for some samples, one forward pass each (sizes
/// differ), several at once: a pass has no random part, so the values do
/// not depend on how the passes share the threads.
pub fn predict<B: KernelBackend>(model: &Classifier<B>, samples: &[&Sample], device: &B::Device) -> Vec<f64> {
    samples.par_iter().map(|s| model.probability(&s.features, s.region.as_deref(), &s.extra, Symmetry::IDENTITY, device)).collect()
}

/// [`predict`] from inputs made ready by [`inputs_of`].
fn predict_inputs<B: KernelBackend>(model: &Classifier<B>, inputs: &[Input<B>]) -> Vec<f64> {
    inputs.par_iter().map(|input| model.probability_of(input.clone())).collect()
}

/// Each sample's input tensors as `model` reads them, seen as they are.
fn inputs_of<B: KernelBackend>(model: &Classifier<B>, set: &[&Sample], device: &B::Device) -> Vec<Input<B>> {
    set.iter().map(|s| model.input(&s.features, s.region.as_deref(), &s.extra, Symmetry::IDENTITY, device)).collect()
}

/// The per-component mean and 1/sd (0 for a component that does not vary)
/// of the pooled vectors of `set`, from `model`.
pub fn head_norm<B: KernelBackend>(model: &Classifier<B>, set: &[&Sample], device: &B::Device) -> (Vec<f32>, Vec<f32>) {
    let pooled: Vec<Vec<f32>> = set
        .par_iter()
        .map(|s| {
            let input = model.input(&s.features, s.region.as_deref(), &[], Symmetry::IDENTITY, device);
            model.pooled(input.x, input.region).into_data().to_vec().expect("float pooled vector")
        })
        .collect();
    mean_and_scale(&pooled)
}

/// The per-component mean and 1/sd (0 for a component that does not vary)
/// of `vectors`, all of one length.
fn mean_and_scale(vectors: &[Vec<f32>]) -> (Vec<f32>, Vec<f32>) {
    let n = vectors.len() as f64;
    (0..vectors.first().map_or(0, Vec::len))
        .map(|j| {
            let mean = vectors.iter().map(|p| f64::from(p[j])).sum::<f64>() / n;
            let var = vectors.iter().map(|p| (f64::from(p[j]) - mean).powi(2)).sum::<f64>() / n;
            (mean as f32, inverse_sd(var.sqrt()))
        })
        .unzip()
}

/// The centring and scaling of the head's input from the training
/// patients `set`: the pooled vector's from `model` with `o.head_norm`
/// (else none: mean 0, scale 1), then the extra numbers' (always, as
/// [`head_norm`] computes them).
fn head_input_norm<B: KernelBackend>(model: &Classifier<B>, set: &[&Sample], o: &TrainOptions, device: &B::Device) -> (Vec<f32>, Vec<f32>) {
    let (mut mean, mut scale) = if o.head_norm {
        head_norm(model, set, device)
    } else {
        let len = model.head_len() - set.first().map_or(0, |s| s.extra.len());
        (vec![0.0; len], vec![1.0; len])
    };
    let extra: Vec<Vec<f32>> = set.iter().map(|s| s.extra.clone()).collect();
    let (extra_mean, extra_scale) = mean_and_scale(&extra);
    mean.extend(extra_mean);
    scale.extend(extra_scale.iter().map(|&s| s * o.extra_gain as f32));
    (mean, scale)
}

/// A freshly built `model` made ready to train on `train_len` patients for
/// at most `o.epochs` epochs, with no further use of the backend's random
/// generator (so that it may train beside other trainings): its first
/// forward pass draws its parameters and first dropout masks, interleaved
/// as a training's first pass would, and the rest of its masks are drawn
/// ahead; then its output bias is set to logit(`prior`), the training
/// patients' cancer rate. `example` is any sample of the right channel count.
pub fn prepare<B: KernelAutodiff>(
    model: Classifier<B>,
    example: &Sample,
    o: &TrainOptions,
    (train_len, prior): (usize, f64),
    device: &B::Device,
) -> Start<B> {
    let mut masks = MaskStream::new(model.dropout_prob());
    let _ = model
        .forward_train(model.input(&example.features, example.region.as_deref(), &example.extra, Symmetry::IDENTITY, device), &mut masks);
    // Every pass takes masks of the same sizes (one patient; the pyramid's
    // length does not depend on the volume), and an epoch passes each
    // training patient once.
    let per_pass = masks.drawn();
    masks.draw_ahead::<B>(per_pass * o.epochs * train_len, device);
    let p = prior.clamp(1e-6, 1.0 - 1e-6);
    (model.with_output_bias((p / (1.0 - p)).ln(), device), masks)
}

/// A model made ready by [`prepare`], with its dropout masks.
pub type Start<B> = (Classifier<B>, MaskStream);

/// Trains from the first of `starts` on `samples[train]`, validating on
/// `samples[val]`; a start whose training log loss is not `o.learn_margin`
/// below the prior's after `o.restart_after` epochs, or whose kept epoch's
/// validation log loss is not that margin below the prior's, gives way to
/// the next (the last start is kept whatever it gives). `save_best` is handed the model
/// after every epoch that lowers the validation log loss of the start that
/// runs.
pub fn train<B: KernelAutodiff>(
    starts: Vec<Start<B>>,
    samples: &[Sample],
    (train_idx, val_idx): (&[usize], &[usize]),
    o: &TrainOptions,
    device: &B::Device,
    save_best: SaveBest<'_, Classifier<B::InnerBackend>>,
    log: &mut dyn FnMut(&str),
) -> Result<TrainResult, StageError> {
    let attempts = starts.len();
    assert!(attempts > 0, "at least one start");
    for (a, start) in starts.into_iter().enumerate() {
        let last = a + 1 == attempts;
        let mut result = train_start(start, samples, (train_idx, val_idx), o, device, &mut *save_best, !last, &mut *log)?;
        let kept = &result.run.epochs[result.run.best_epoch - 1];
        let generalised = kept.val.log_loss < result.run.prior_val_log_loss - o.learn_margin;
        if (result.learned && generalised) || last {
            result.run.restarts = a;
            return Ok(result.run);
        }
        let why = if result.learned {
            format!(
                "the kept epoch {}'s validation log loss {:.4} is not {} nats below the prior's {:.4}",
                result.run.best_epoch, kept.val.log_loss, o.learn_margin, result.run.prior_val_log_loss
            )
        } else {
            format!("the training log loss stayed within {} nats of the prior's for {} epochs", o.learn_margin, o.restart_after)
        };
        log(&format!("restart {}/{}: {why}; trying the next initial weights", a + 1, attempts - 1));
    }
    unreachable!("the last start always returns")
}

/// What one start gave.
struct StartResult {
    run: TrainResult,
    learned: bool,
}

/// The log's line for one epoch's scores.
fn epoch_line(scores: &EpochScores, prior_val_log_loss: f64) -> String {
    let (t, v) = (&scores.train, &scores.val);
    format!(
        "epoch {}: train log loss {:.4} acc {:.3} AUC {:.3} | validation log loss {:.4} acc {:.3} AUC {:.3} (prior {:.4})",
        scores.epoch, t.log_loss, t.accuracy, t.auc, v.log_loss, v.accuracy, v.auc, prior_val_log_loss
    )
}

/// One start's training; with `may_give_up`, it stops after
/// `o.restart_after` epochs when it has not learned by then.
#[allow(clippy::too_many_arguments)]
fn train_start<B: KernelAutodiff>(
    (mut model, mut masks): Start<B>,
    samples: &[Sample],
    (train_idx, val_idx): (&[usize], &[usize]),
    o: &TrainOptions,
    device: &B::Device,
    save_best: SaveBest<'_, Classifier<B::InnerBackend>>,
    may_give_up: bool,
    log: &mut dyn FnMut(&str),
) -> Result<StartResult, StageError> {
    let mut optim = adam(o.weight_decay).init();
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
        restarts: 0,
    };
    let mut best = f64::INFINITY;
    // Early stopping waits until the model has learned something: a
    // network can sit at the class prior for several epochs before its
    // loss starts to fall, and stopping it there keeps a useless model.
    let learned_below = prior_log_loss(prior, &train_labels) - o.learn_margin;
    let mut learned = false;
    let mut order: Vec<usize> = (0..train_set.len()).collect();
    let mut step = 0;
    // The extra numbers' centring does not change with the weights: set
    // once; the pooled vector's, at every epoch's start.
    let with_extra = train_set.first().is_some_and(|s| !s.extra.is_empty());
    // A patient's tensors (its centred map, its pooling region) do not
    // change with the weights: built once, not at every step, unless each
    // step draws a new symmetry.
    let train_inputs = (!o.augment).then(|| inputs_of(&model, &train_set, device));
    let val_inputs = inputs_of(&model.valid(), &val_set, device);
    for epoch in 1..=o.epochs {
        let clock = Instant::now();
        if o.head_norm || (with_extra && epoch == 1) {
            let (mean, scale) = head_input_norm(&model.valid(), &train_set, o, device);
            model = model.with_head_norm(mean, scale, device);
        }
        order.shuffle(&mut rng);
        let train_p;
        (model, train_p) = epoch_steps(
            model,
            &mut optim,
            (&train_set, train_inputs.as_deref()),
            &order,
            o,
            (epoch, &mut step),
            (&mut rng, &mut masks),
            device,
        )?;
        let inference = model.valid();
        let val_p = predict_inputs(&inference, &val_inputs);
        let scores = EpochScores {
            epoch,
            train: score(&train_p, &train_labels),
            val: score(&val_p, &val_labels),
            seconds: clock.elapsed().as_secs_f64(),
        };
        log(&epoch_line(&scores, result.prior_val_log_loss));
        let val_loss = scores.val.log_loss;
        learned |= scores.train.log_loss < learned_below;
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
        if may_give_up && !learned && o.restart_after > 0 && epoch >= o.restart_after {
            break;
        }
    }
    if result.best_epoch == 0 {
        return Err(StageError("no epoch gave a finite validation log loss".into()));
    }
    Ok(StartResult { run: result, learned })
}

/// One pass over the training patients in `order`, in batches; `rng`
/// picks the symmetries, `masks` hands out the dropout masks. Gives the
/// trained model and each training patient's probability (by position in
/// `train_set`) from the forward pass of its step.
#[allow(clippy::too_many_arguments)]
fn epoch_steps<B: KernelAutodiff, O: Optimizer<Classifier<B>, B>>(
    mut model: Classifier<B>,
    optim: &mut O,
    (train_set, ready): (&[&Sample], Option<&[Input<B>]>),
    order: &[usize],
    o: &TrainOptions,
    (epoch, step): (usize, &mut usize),
    (rng, masks): (&mut ChaCha8Rng, &mut MaskStream),
    device: &B::Device,
) -> Result<(Classifier<B>, Vec<f64>), StageError> {
    let symmetries = Symmetry::all();
    let mut probabilities = vec![f64::NAN; train_set.len()];
    let steps_per_epoch = order.len().div_ceil(o.batch_size);
    for (b, chunk) in order.chunks(o.batch_size).enumerate() {
        let mut logits = Vec::with_capacity(chunk.len());
        for &i in chunk {
            let symmetry = if o.augment { *symmetries.choose(rng).expect("48 symmetries") } else { Symmetry::IDENTITY };
            let s = train_set[i];
            let input = match ready {
                Some(ready) => ready[i].clone(),
                None => model.input(&s.features, s.region.as_deref(), &s.extra, symmetry, device),
            };
            logits.push(model.forward_train(input, masks));
        }
        let y: Vec<f32> = chunk.iter().map(|&i| train_set[i].label as u8 as f32).collect();
        let targets = Tensor::<B, 2>::from_data(TensorData::new(y, [chunk.len(), 1]), device);
        let logits = Tensor::cat(logits, 0);
        let values: Vec<f32> = logits.clone().into_data().to_vec().expect("float logits");
        for (&i, &logit) in chunk.iter().zip(&values) {
            probabilities[i] = sigmoid(f64::from(logit));
        }
        let loss = bce_with_logits(logits, targets);
        let value = loss.clone().into_scalar().elem::<f64>();
        if !value.is_finite() {
            return Err(StageError(format!("loss became {value} at epoch {epoch}, batch {}; lower the learning rate", b + 1)));
        }
        let mut grads = GradientsParams::from_grads(loss.backward(), &model);
        if o.clip_norm > 0.0 {
            clip_global_norm::<B, _>(&model, &mut grads, o.clip_norm);
        }
        model = optim.step(learning_rate(o, *step, steps_per_epoch), model, grads);
        *step += 1;
    }
    Ok((model, probabilities))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::classifier::model::ClassifierShape;
    use crate::models::classifier::model::tests as model_tests;
    use crate::models::gmcae::features::FeatureMap;
    use burn::backend::{Autodiff, Flex};

    type AD = Autodiff<Flex>;

    /// Eight patients of two channels on a 4³ grid, cancers brighter.
    fn samples() -> Vec<Sample> {
        (0..8)
            .map(|i| {
                let data = (0..128).map(|v| ((v * 7 + i * 13) % 11) as f32 / 10.0 + if i % 2 == 0 { 0.5 } else { 0.0 }).collect();
                let features = FeatureMap { channels: 2, shape: [4, 4, 4], data };
                Sample { id: format!("p{i}"), label: i % 2 == 0, features, blocks: 2, region: None, extra: vec![] }
            })
            .collect()
    }

    fn options(batch_size: usize) -> TrainOptions {
        TrainOptions {
            learning_rate: 0.05,
            batch_size,
            epochs: 1,
            patience: 5,
            clip_norm: 0.0,
            seed: 3,
            augment: false,
            weight_decay: 0.0,
            warmup_epochs: 0,
            learn_margin: 0.05,
            restart_after: 0,
            head_norm: false,
            extra_gain: 1.0,
        }
    }

    fn start(s: &[Sample], o: &TrainOptions, device: &burn::tensor::Device<AD>) -> Start<AD> {
        AD::seed(device, 11);
        let shape = ClassifierShape { in_channels: 2, widths: vec![3], stride: 1, levels: vec![1], hidden: 0, ..model_tests::shape() };
        prepare(shape.init(device), &s[0], o, (6, 0.5), device)
    }

    #[test]
    fn an_epoch_s_training_scores_are_those_of_its_own_steps_forward_passes() {
        let device = Default::default();
        let s = samples();
        let (train_idx, val_idx) = ([0usize, 1, 2, 3, 4, 5], [6usize, 7]);
        let train_set: Vec<&Sample> = train_idx.iter().map(|&i| &s[i]).collect();
        let labels: Vec<bool> = train_set.iter().map(|s| s.label).collect();
        // One step over all six: its forward pass sees the initial weights.
        let whole = options(6);
        let first = start(&s, &whole, &device);
        let before = predict(&first.0.valid(), &train_set, &device);
        let run = train(vec![first], &s, (&train_idx, &val_idx), &whole, &device, &mut |_| Ok(()), &mut |_| {}).unwrap();
        let want = score(&before, &labels);
        let got = &run.epochs[0].train;
        assert!((got.log_loss - want.log_loss).abs() < 1e-6, "{got:?} against {want:?}");
        assert_eq!((got.accuracy, got.auc), (want.accuracy, want.auc));
        // Steps of two: later patients are scored by weights already moved,
        // so the running log loss is not the initial model's.
        let pairs = options(2);
        let run =
            train(vec![start(&s, &pairs, &device)], &s, (&train_idx, &val_idx), &pairs, &device, &mut |_| Ok(()), &mut |_| {}).unwrap();
        assert!((run.epochs[0].train.log_loss - want.log_loss).abs() > 1e-4, "{:?}", run.epochs[0].train);
    }

    #[test]
    fn inputs_made_ready_once_train_and_predict_as_those_built_at_every_step() {
        let device = Default::default();
        let s = samples();
        let o = options(4);
        let set: Vec<&Sample> = s[..6].iter().collect();
        let order = [4usize, 1, 5, 0, 3, 2];
        let run = |ready: bool| {
            let (model, mut masks) = start(&s, &o, &device);
            let inputs = ready.then(|| inputs_of(&model, &set, &device));
            let mut optim = adam(o.weight_decay).init();
            let mut rng = ChaCha8Rng::seed_from_u64(o.seed);
            let (model, p) =
                epoch_steps(model, &mut optim, (&set, inputs.as_deref()), &order, &o, (1, &mut 0), (&mut rng, &mut masks), &device)
                    .unwrap();
            let model = model.valid();
            let val = if ready { predict_inputs(&model, &inputs_of(&model, &set, &device)) } else { predict(&model, &set, &device) };
            (p, val)
        };
        let (each_step, ready) = (run(false), run(true));
        assert!(each_step.1.iter().zip(&each_step.0).any(|(a, b)| a != b), "the step moved the weights");
        assert_eq!(ready, each_step, "same probabilities, bit for bit");
    }

    #[test]
    fn the_extra_numbers_are_centred_on_the_training_patients_beside_the_pooled_vector_s_norm() {
        let device = Default::default();
        let mut s = samples();
        for (i, sample) in s.iter_mut().enumerate() {
            sample.extra = vec![(i * i) as f32];
        }
        let set: Vec<&Sample> = s[..6].iter().collect();
        let shape = ClassifierShape {
            in_channels: 2,
            widths: vec![3],
            stride: 1,
            levels: vec![1, 2],
            hidden: 0,
            extra_inputs: 1,
            ..model_tests::shape()
        };
        let model: Classifier<Flex> = shape.init(&device);
        // Extra numbers 0, 1, 4, 9, 16, 25 on the six training patients.
        let values = [0.0f64, 1.0, 4.0, 9.0, 16.0, 25.0];
        let m = values.iter().sum::<f64>() / 6.0;
        let sd = (values.iter().map(|v| (v - m).powi(2)).sum::<f64>() / 6.0).sqrt();
        let plain = TrainOptions { head_norm: false, ..options(2) };
        let (mean, scale) = head_input_norm(&model, &set, &plain, &device);
        assert_eq!(mean.len(), 3 * 9 + 1);
        assert!(mean[..27].iter().all(|&v| v == 0.0) && scale[..27].iter().all(|&v| v == 1.0), "{mean:?} {scale:?}");
        assert!((f64::from(mean[27]) - m).abs() < 1e-5 && (f64::from(scale[27]) - 1.0 / sd).abs() < 1e-6, "{mean:?} {scale:?}");
        let normed = TrainOptions { head_norm: true, ..options(2) };
        let (mean2, scale2) = head_input_norm(&model, &set, &normed, &device);
        let (pooled_mean, pooled_scale) = head_norm(&model, &set, &device);
        assert_eq!((&mean2[..27], &scale2[..27]), (&pooled_mean[..], &pooled_scale[..]));
        assert_eq!((mean2[27], scale2[27]), (mean[27], scale[27]));
    }
}
