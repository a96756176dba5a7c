//! The `classifier_train` kind: the 3-D CNN with spatial pyramid pooling on
//! the encoder features of every labelled patient (input `features`,
//! gathered from `encode`; input `labels`, an `id,cancer` CSV). Patients
//! without a label are the test patients and are not read.
//!
//! With `fine_tune: k` the last k GMCAE encoder blocks (input `encoder`, a
//! `gmcae_train` output) are trained inside the classifier; the features must
//! then come from the first blocks only (`encode` with `blocks` = all − k),
//! which is how kdsb17 froze its first two blocks.
//!
//! Outputs: `model.mpk` and `model.json` (the best epoch), `metrics.parquet`
//! (per epoch: log loss, accuracy and AUC on training and validation
//! patients, and the class-prior baseline), `metrics.json`, `split.json`,
//! `validation.parquet` (validation probabilities), `log_loss.png`, `auc.png`.

use std::path::Path;
use std::sync::Arc;

use arrow_array::{ArrayRef, BooleanArray, Float64Array, Int32Array, RecordBatch, StringArray};
use burn::backend::Autodiff;
use burn::prelude::*;
use serde_json::json;

use crate::classifier::data::{Sample, load_labelled, stratified_split};
use crate::classifier::model::{Classifier, ClassifierShape};
use crate::classifier::train::{EpochScores, TrainOptions, TrainResult, train};
use crate::gmcae::checkpoint::{load_gmcae, read_gmcae_shape};
use crate::gmcae_train::{METRICS_JSON, METRICS_TABLE, MODEL_JSON, parse_widths};
use crate::labels::read_labels;
use crate::on_device;
use crate::params::{get_bool, get_f64, get_i64, get_positive, get_str, input_path};
use crate::plot::{BLUE, DARK_GREY, ORANGE, Series, line_chart};
use crate::table::write_parquet;
use crate::{ParamSpec, ParamType, RunContext, StageError, StageKind};

/// Validation probabilities of the saved model.
pub const VALIDATION_TABLE: &str = "validation.parquet";

/// Trains the cancer classifier.
pub struct ClassifierTrain;

impl StageKind for ClassifierTrain {
    fn name(&self) -> &'static str {
        "classifier_train"
    }

    fn version(&self) -> u32 {
        1
    }

    fn doc(&self) -> &'static str {
        "trains the 3-D CNN + spatial pyramid pooling classifier on gathered encoder features (inputs `features`, `labels`, optional `encoder`)"
    }

    fn wants_all_cores(&self) -> bool {
        true
    }

    fn params(&self) -> Vec<ParamSpec> {
        vec![
            ParamSpec { name: "widths", ty: ParamType::Str, default: Some(json!("16,16")), doc: "widths of the 3³ convolutions after the encoder" },
            ParamSpec { name: "stride", ty: ParamType::Int, default: Some(json!(2)), doc: "stride of the first convolution (2 halves each axis: 8x less work)" },
            ParamSpec { name: "levels", ty: ParamType::Str, default: Some(json!("1,2,4")), doc: "spatial pyramid levels (bins per axis)" },
            ParamSpec { name: "hidden", ty: ParamType::Int, default: Some(json!(32)), doc: "units of the hidden dense layer" },
            ParamSpec { name: "dropout", ty: ParamType::Float, default: Some(json!(0.3)), doc: "dropout before the dense layers" },
            ParamSpec { name: "fine_tune", ty: ParamType::Int, default: Some(json!(0)), doc: "last GMCAE encoder blocks trained with the classifier (0 = encoder frozen)" },
            ParamSpec { name: "lr", ty: ParamType::Float, default: Some(json!(1e-3)), doc: "Adam learning rate" },
            ParamSpec { name: "batch_size", ty: ParamType::Int, default: Some(json!(4)), doc: "patients per step" },
            ParamSpec { name: "epochs", ty: ParamType::Int, default: Some(json!(30)), doc: "most epochs" },
            ParamSpec { name: "patience", ty: ParamType::Int, default: Some(json!(8)), doc: "early stopping patience in epochs" },
            ParamSpec { name: "clip_norm", ty: ParamType::Float, default: Some(json!(1.0)), doc: "global gradient-norm limit; 0 turns clipping off" },
            ParamSpec { name: "val_fraction", ty: ParamType::Float, default: Some(json!(0.25)), doc: "fraction of each class's patients held out for validation" },
            ParamSpec { name: "seed", ty: ParamType::Int, default: Some(json!(0)), doc: "seed for initialisation, split, order and augmentation" },
            ParamSpec { name: "augment", ty: ParamType::Bool, default: Some(json!(true)), doc: "random cube symmetry (of 48) per patient per step" },
            ParamSpec { name: "device", ty: ParamType::Str, default: Some(json!("cpu")), doc: "cpu (burn flex) or cuda (needs --features cuda)" },
        ]
    }

    fn run(&self, ctx: &RunContext<'_>) -> Result<(), StageError> {
        let labels_path = input_path(ctx, "labels")?;
        let labels = read_labels(labels_path)?;
        let samples = load_labelled(input_path(ctx, "features")?, &labels, labels_path)?;
        // The whole architecture is checked before any data-dependent step.
        let first = &samples[0];
        let shape = ClassifierShape {
            in_channels: first.features.channels,
            tail_widths: tail_widths(ctx, first)?,
            widths: parse_widths(get_str(ctx.params, "widths")?)?,
            stride: get_positive(ctx.params, "stride")?,
            levels: parse_widths(get_str(ctx.params, "levels")?)?,
            hidden: get_positive(ctx.params, "hidden")?,
            dropout: get_f64(ctx.params, "dropout")?,
        };
        let split = stratified_split(&samples, get_f64(ctx.params, "val_fraction")?, seed(ctx)?)?;
        let count = |name: &str| get_positive(ctx.params, name);
        let o = TrainOptions {
            learning_rate: get_f64(ctx.params, "lr")?,
            batch_size: count("batch_size")?,
            epochs: count("epochs")?,
            patience: count("patience")?,
            clip_norm: get_f64(ctx.params, "clip_norm")?,
            seed: seed(ctx)?,
            augment: get_bool(ctx.params, "augment")?,
        };
        let mut log_file = std::fs::File::create(ctx.log_path).map_err(StageError::msg)?;
        let mut log = |line: &str| {
            use std::io::Write;
            let _ = writeln!(log_file, "{line}");
        };
        let result = on_device!(get_str(ctx.params, "device")?, fit(ctx, &shape, &samples, &split, &o, &mut log))?;
        write_outputs(ctx.out_dir, &shape, &samples, &split, &result)
    }
}

fn seed(ctx: &RunContext<'_>) -> Result<u64, StageError> {
    Ok(get_i64(ctx.params, "seed")? as u64)
}

/// Builds the network (with the GMCAE's blocks when fine-tuning) and trains it.
fn fit<B: Backend>(
    device: &B::Device,
    ctx: &RunContext<'_>,
    shape: &ClassifierShape,
    samples: &[Sample],
    (train_idx, val_idx): &(Vec<usize>, Vec<usize>),
    o: &TrainOptions,
    log: &mut dyn FnMut(&str),
) -> Result<TrainResult, StageError> {
    let tail = if shape.tail_widths.is_empty() {
        None
    } else {
        let (_, gmcae) = load_gmcae::<Autodiff<B>>(input_path(ctx, "encoder")?, device)?;
        Some(gmcae.encoder_tail(samples[0].blocks))
    };
    // Seeded after loading, so the classifier's weights do not depend on it.
    Autodiff::<B>::seed(device, o.seed);
    let mut model: Classifier<Autodiff<B>> = shape.init(device);
    if let Some(tail) = tail {
        model = model.with_tail(tail);
    }
    train(model, samples, (train_idx, val_idx), o, device, ctx.out_dir, log)
}

/// Widths of the encoder blocks to fine-tune (empty when frozen), checked
/// against the blocks that produced the features.
fn tail_widths(ctx: &RunContext<'_>, features: &Sample) -> Result<Vec<usize>, StageError> {
    let fine_tune = usize::try_from(get_i64(ctx.params, "fine_tune")?).map_err(|_| StageError::msg("fine_tune must be 0 or more"))?;
    if fine_tune == 0 {
        return Ok(Vec::new());
    }
    let dir = input_path(ctx, "encoder").map_err(|e| StageError(format!("fine_tune > 0 needs the GMCAE: {e}")))?;
    let shape = read_gmcae_shape(dir)?;
    let total = shape.widths.len();
    if features.blocks + fine_tune != total {
        let wanted = total.saturating_sub(fine_tune);
        return Err(StageError(format!(
            "fine_tune {fine_tune} needs features from the first {wanted} of the encoder's {total} blocks, but they come from {} (set the encode stage's blocks to {wanted})",
            features.blocks
        )));
    }
    Ok(shape.widths[features.blocks..].to_vec())
}

fn write_outputs(out: &Path, shape: &ClassifierShape, samples: &[Sample], (train_idx, val_idx): &(Vec<usize>, Vec<usize>), r: &TrainResult) -> Result<(), StageError> {
    let col = |f: &dyn Fn(&EpochScores) -> f64| Arc::new(Float64Array::from_iter_values(r.epochs.iter().map(f))) as ArrayRef;
    let batch = RecordBatch::try_from_iter([
        ("epoch", Arc::new(Int32Array::from_iter_values(r.epochs.iter().map(|m| m.epoch as i32))) as ArrayRef),
        ("train_log_loss", col(&|m| m.train.log_loss)),
        ("train_accuracy", col(&|m| m.train.accuracy)),
        ("train_auc", col(&|m| m.train.auc)),
        ("val_log_loss", col(&|m| m.val.log_loss)),
        ("val_accuracy", col(&|m| m.val.accuracy)),
        ("val_auc", col(&|m| m.val.auc)),
        ("prior_val_log_loss", col(&|_| r.prior_val_log_loss)),
        ("seconds", col(&|m| m.seconds)),
    ])
    .map_err(StageError::msg)?;
    write_parquet(&out.join(METRICS_TABLE), &batch)?;
    let v = &r.val_predictions;
    let validation = RecordBatch::try_from_iter([
        ("id", Arc::new(StringArray::from_iter_values(v.iter().map(|p| p.0.as_str()))) as ArrayRef),
        ("cancer", Arc::new(BooleanArray::from(v.iter().map(|p| p.1).collect::<Vec<_>>())) as ArrayRef),
        ("probability", Arc::new(Float64Array::from_iter_values(v.iter().map(|p| p.2))) as ArrayRef),
    ])
    .map_err(StageError::msg)?;
    write_parquet(&out.join(VALIDATION_TABLE), &validation)?;
    let best = &r.epochs[r.best_epoch - 1];
    let write = |name: &str, v: serde_json::Value| std::fs::write(out.join(name), serde_json::to_string_pretty(&v).expect("JSON")).map_err(StageError::msg);
    write(
        METRICS_JSON,
        json!({
            "val_log_loss": best.val.log_loss,
            "val_accuracy": best.val.accuracy,
            "val_auc": best.val.auc,
            "prior_val_log_loss": r.prior_val_log_loss,
            "train_log_loss": best.train.log_loss,
            "train_auc": best.train.auc,
            "best_epoch": r.best_epoch,
            "epochs": r.epochs.len(),
            "training_cancer_rate": r.prior,
        }),
    )?;
    write(MODEL_JSON, serde_json::to_value(shape).expect("JSON"))?;
    let ids = |idx: &[usize]| idx.iter().map(|&i| samples[i].id.clone()).collect::<Vec<_>>();
    write("split.json", json!({"train_patients": ids(train_idx), "val_patients": ids(val_idx)}))?;
    let curve = |name, color, f: &dyn Fn(&EpochScores) -> f64| Series { name, color, points: r.epochs.iter().map(|m| (m.epoch as f64, f(m))).collect() };
    line_chart(
        &out.join("log_loss.png"),
        "classifier log loss",
        "epoch",
        "log loss (nats)",
        &[curve("train", BLUE, &|m| m.train.log_loss), curve("validation", ORANGE, &|m| m.val.log_loss), curve("class prior", DARK_GREY, &|_| r.prior_val_log_loss)],
    )?;
    line_chart(&out.join("auc.png"), "classifier ROC AUC", "epoch", "AUC", &[curve("train", BLUE, &|m| m.train.auc), curve("validation", ORANGE, &|m| m.val.auc)])
}
