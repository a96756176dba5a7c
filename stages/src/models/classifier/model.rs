//! The classifier: optional fine-tuned encoder blocks, 3-D convolutions,
//! spatial pyramid pooling, two dense layers and a logit.

use burn::module::Module;
use burn::nn::conv::Conv3d;
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use super::data::tensor;
use super::dropout::{MaskStream, dropout};
use super::spp::{pooled_len, spatial_pyramid_pool};
use crate::models::gmcae::features::FeatureMap;
use crate::models::gmcae::model::{conv3, encoder_blocks};
use crate::models::kernels::{KernelBackend, conv3d, relu};
use crate::models::symmetry::Symmetry;

/// The classifier's sizes (saved beside the weights as `model.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassifierShape {
    /// Channels of the feature maps it reads.
    pub in_channels: usize,
    /// Widths of the GMCAE encoder blocks trained inside the classifier
    /// (fine-tuned); empty when the encoder is frozen.
    pub tail_widths: Vec<usize>,
    /// Widths of the 3³ convolutions after the encoder (ReLU).
    pub widths: Vec<usize>,
    /// Stride of the first of them (the others have stride 1).
    pub stride: usize,
    /// Spatial pyramid levels (bins per axis).
    pub levels: Vec<usize>,
    /// Units of the hidden dense layer.
    pub hidden: usize,
    /// Dropout before each dense layer while training.
    pub dropout: f64,
}

impl ClassifierShape {
    /// Refuses a shape whose dense layer, or whose largest layer for `batch`
    /// feature maps of `spatial` code voxels, would need a buffer over
    /// [`crate::limits::MAX_BUFFER_BYTES`].
    pub fn check_size(&self, batch: usize, spatial: [usize; 3]) -> Result<(), crate::StageError> {
        let widest = self.widths.iter().chain(&self.tail_widths).copied().max().unwrap_or(1).max(self.in_channels);
        let f32s = std::mem::size_of::<f32>();
        let [z, y, x] = spatial;
        let what = format!("batch_size {batch} x widths {:?} on features of {z} x {y} x {x}: one layer's activations", self.widths);
        crate::limits::checked_len(&[batch, widest, z, y, x], f32s, what)?;
        let bins: usize = self.levels.iter().map(|l| l * l * l).sum();
        let last = self.widths.last().copied().unwrap_or(self.in_channels);
        let what = format!("levels {:?} x {last} channels x hidden {}: the dense layer's weights", self.levels, self.hidden);
        crate::limits::checked_len(&[bins, last, self.hidden], f32s, what)?;
        Ok(())
    }

    /// Builds the network with fresh weights.
    pub fn init<B: Backend>(&self, device: &B::Device) -> Classifier<B> {
        let tail = encoder_blocks(self.in_channels, &self.tail_widths, device);
        let mut channels = self.tail_widths.last().copied().unwrap_or(self.in_channels);
        let mut convs = Vec::with_capacity(self.widths.len());
        for (i, &w) in self.widths.iter().enumerate() {
            convs.push(conv3(channels, w, if i == 0 { self.stride } else { 1 }, device));
            channels = w;
        }
        let pooled = pooled_len(channels, &self.levels);
        Classifier {
            tail,
            convs,
            hidden: LinearConfig::new(pooled, self.hidden).init(device),
            out: LinearConfig::new(self.hidden, 1).init(device),
            dropout: DropoutConfig::new(self.dropout).init(),
            levels: self.levels.clone(),
        }
    }
}

/// The classifier network.
#[derive(Module, Debug)]
pub struct Classifier<B: Backend> {
    tail: Vec<Conv3d<B>>,
    convs: Vec<Conv3d<B>>,
    hidden: Linear<B>,
    out: Linear<B>,
    dropout: Dropout,
    levels: Vec<usize>,
}

impl<B: Backend> Classifier<B> {
    /// Replaces the fine-tuned encoder blocks with trained ones (from the
    /// GMCAE); their number and shapes must match `tail_widths`.
    pub fn with_tail(mut self, tail: Vec<Conv3d<B>>) -> Self {
        assert_eq!(tail.len(), self.tail.len(), "encoder tail has the wrong number of convolutions");
        self.tail = tail;
        self
    }
}

impl<B: KernelBackend> Classifier<B> {
    /// The probability of cancer for one patient's feature map seen through
    /// `symmetry`.
    pub fn probability(&self, features: &FeatureMap, symmetry: Symmetry, device: &B::Device) -> f64 {
        let logit = self.forward(tensor::<B>(features, symmetry, device)).into_scalar().elem::<f64>();
        1.0 / (1.0 + (-logit).exp())
    }

    /// The logit of one feature map or a batch of equal-sized ones:
    /// `[n, c, z, y, x]` to `[n, 1]`, without dropout.
    pub fn forward(&self, x: Tensor<B, 5>) -> Tensor<B, 2> {
        self.forward_with(x, None)
    }

    /// [`Classifier::forward`] while training: dropout before each dense
    /// layer, its masks taken from `masks`.
    pub fn forward_train(&self, x: Tensor<B, 5>, masks: &mut MaskStream) -> Tensor<B, 2> {
        self.forward_with(x, Some(masks))
    }

    /// The dropout probability.
    pub fn dropout_prob(&self) -> f64 {
        self.dropout.prob
    }

    /// The logit, with dropout when `masks` are given.
    fn forward_with(&self, x: Tensor<B, 5>, mut masks: Option<&mut MaskStream>) -> Tensor<B, 2> {
        let mut drop = |t: Tensor<B, 2>| match masks.as_deref_mut() {
            Some(masks) => dropout(t, self.dropout.prob, masks),
            None => t,
        };
        let x = self.tail.iter().fold(x, |x, conv| relu(conv3d(conv, x)));
        let x = self.convs.iter().fold(x, |x, conv| relu(conv3d(conv, x)));
        let pooled = drop(spatial_pyramid_pool(x, &self.levels));
        let hidden = drop(relu(self.hidden.forward(pooled)));
        self.out.forward(hidden)
    }
}

/// Binary cross-entropy of logits `[n, 1]` against labels (0 or 1) `[n, 1]`,
/// averaged, computed stably as max(l, 0) − l·y + ln(1 + e^−|l|).
pub fn bce_with_logits<B: Backend>(logits: Tensor<B, 2>, labels: Tensor<B, 2>) -> Tensor<B, 1> {
    let softplus = logits.clone().abs().neg().exp().add_scalar(1.0).log();
    (logits.clone().clamp_min(0.0) - logits * labels + softplus).mean()
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;

    fn shape() -> ClassifierShape {
        ClassifierShape { in_channels: 3, tail_widths: vec![], widths: vec![4], stride: 2, levels: vec![1, 2, 4], hidden: 5, dropout: 0.0 }
    }

    #[test]
    fn any_volume_size_gives_one_logit() {
        let device = Default::default();
        let model: Classifier<Flex> = shape().init(&device);
        for dims in [[1, 3, 3, 5, 7], [2, 3, 9, 4, 4], [1, 3, 1, 1, 1]] {
            let out = model.forward(Tensor::ones(dims, &device));
            assert_eq!(out.dims(), [dims[0], 1]);
        }
        let tuned = ClassifierShape { tail_widths: vec![6], ..shape() }.init::<Flex>(&device);
        assert_eq!(tuned.forward(Tensor::ones([1, 3, 6, 6, 6], &device)).dims(), [1, 1]);
    }

    #[test]
    fn bce_matches_the_float64_formula_at_extreme_logits() {
        let device = Default::default();
        let logits = [-40.0f32, -2.0, 0.0, 3.0, 40.0];
        let labels = [1.0f32, 0.0, 1.0, 1.0, 0.0];
        let got = bce_with_logits::<Flex>(
            Tensor::from_data(TensorData::new(logits.to_vec(), [5, 1]), &device),
            Tensor::from_data(TensorData::new(labels.to_vec(), [5, 1]), &device),
        )
        .into_scalar();
        let expected: f64 = logits
            .iter()
            .zip(&labels)
            .map(|(&l, &y)| {
                let (l, y) = (l as f64, y as f64);
                let p = 1.0 / (1.0 + (-l).exp());
                // -[y ln p + (1-y) ln(1-p)], with ln(1-p) = -l - ln(1+e^-l) for large l.
                -(y * p.ln() + (1.0 - y) * if l > 20.0 { -l - (-l).exp().ln_1p() } else { (1.0 - p).ln() })
            })
            .sum::<f64>()
            / 5.0;
        assert!(((got as f64) - expected).abs() < 1e-5 * expected, "{got} vs {expected}");
    }
}
