//! The classifier: optional fine-tuned encoder blocks, 3-D convolutions,
//! spatial pyramid pooling (over the whole map, or over the lungs alone:
//! see [`lung_pool`](super::lung_pool)), two dense layers and a logit.
//!
//! The features are first centred and scaled per channel with constants
//! measured on the training patients (kept in `model.json`), and so is the
//! pooled vector before the dense layers: training sets its centring and
//! scaling from the training patients' pooled vectors at the start of every
//! epoch ([`Classifier::with_head_norm`]; saved with the weights). The new
//! layers draw Glorot-uniform weights and start with zero biases, the
//! output's at logit(prior) once training sets it: the first steps then
//! start from the class prior with every unit partly on.
//!
//! A model may also read numbers per patient beside the features
//! (`extra_inputs`, such as a detector's score): appended to the pooled
//! vector, centred and scaled with it, they skip the hidden layer and
//! dropout and reach the logit through weights that start at 0.

use burn::module::Module;
use burn::module::Param;
use burn::nn::conv::Conv3d;
use burn::nn::conv::Conv3dConfig;
use burn::nn::{Dropout, DropoutConfig, Initializer, Linear, LinearConfig, PaddingConfig3d};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use super::data::{ChannelMap, tensor, tensor_scaled};
use super::dropout::{MaskStream, dropout};
use super::lung_pool::strided_region;
use super::spp::{pooled_len, spatial_pyramid_pool};
use crate::models::gmcae::features::FeatureMap;
use crate::models::gmcae::model::encoder_blocks;
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
    /// Units of the hidden dense layer (0: none, the logit reads the pooled
    /// vector directly).
    pub hidden: usize,
    /// Dropout before each dense layer while training.
    pub dropout: f64,
    /// Pool over the lung region only (`lung.arrow` beside the features).
    #[serde(default)]
    pub pool_lung: bool,
    /// Code voxels the lung region is grown by (negative: shrunk).
    #[serde(default)]
    pub pool_grow: i64,
    /// Per-channel value subtracted from the features (empty: none).
    #[serde(default)]
    pub input_mean: Vec<f32>,
    /// Per-channel factor applied after (empty: none; 0 for a channel that
    /// never varied).
    #[serde(default)]
    pub input_scale: Vec<f32>,
    /// The centred and scaled features are clamped to ±this (0: not
    /// clamped): a channel that is almost always 0 has a tiny spread, and
    /// its rare spikes would otherwise come out at a hundred or more.
    #[serde(default)]
    pub input_clip: f32,
    /// Numbers per patient beside the features (such as a detector's
    /// score) that reach the logit directly, centred and scaled on the
    /// training patients (0: none).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub extra_inputs: usize,
}

/// Whether a count is 0 (such a field is left out of `model.json`).
fn is_zero(n: &usize) -> bool {
    *n == 0
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
        crate::limits::checked_len(&[bins, last, self.hidden.max(1)], f32s, what)?;
        Ok(())
    }

    /// Builds the network with fresh weights: Glorot-uniform, biases zero.
    pub fn init<B: Backend>(&self, device: &B::Device) -> Classifier<B> {
        let tail = encoder_blocks(self.in_channels, &self.tail_widths, device);
        let mut channels = self.tail_widths.last().copied().unwrap_or(self.in_channels);
        let mut convs = Vec::with_capacity(self.widths.len());
        let glorot = Initializer::XavierUniform { gain: 1.0 };
        for (i, &w) in self.widths.iter().enumerate() {
            let stride = if i == 0 { self.stride } else { 1 };
            let conv = Conv3dConfig::new([channels, w], [3, 3, 3])
                .with_stride([stride; 3])
                .with_padding(PaddingConfig3d::Explicit(1, 1, 1))
                .with_initializer(glorot.clone())
                .init(device);
            convs.push(Conv3d { bias: conv.bias.as_ref().map(|b| zeros(b, device)), ..conv });
            channels = w;
        }
        let pooled = pooled_len(channels, &self.levels);
        let linear = |i: usize, o: usize| {
            let l: Linear<B> = LinearConfig::new(i, o).with_initializer(glorot.clone()).init(device);
            Linear { bias: l.bias.as_ref().map(|b| zeros(b, device)), ..l }
        };
        // Strides of every convolution, the fine-tuned blocks' (stride 1
        // then 2) first.
        let strides =
            self.tail_widths.iter().flat_map(|_| [1, 2]).chain((0..self.widths.len()).map(|i| if i == 0 { self.stride } else { 1 }));
        let (mean, scale) = (&self.input_mean, &self.input_scale);
        let head = pooled + self.extra_inputs;
        Classifier {
            tail,
            convs,
            hidden: (self.hidden > 0).then(|| linear(pooled, self.hidden)),
            out: with_silent_extras(linear(if self.hidden > 0 { self.hidden } else { pooled } + self.extra_inputs, 1), self.extra_inputs),
            dropout: DropoutConfig::new(self.dropout).init(),
            levels: self.levels.clone(),
            strides: strides.collect(),
            head_mean: constant(Tensor::zeros([head], device)),
            head_scale: constant(Tensor::ones([head], device)),
            pool_lung: self.pool_lung,
            input_mean: mean.clone(),
            input_scale: scale.clone(),
            input_clip: self.input_clip,
        }
    }
}

/// `out` with the weights that read the last `extra` inputs set to 0: a
/// score starts with no say and earns it by gradient, rather than from a
/// weight drawn for one of many inputs.
fn with_silent_extras<B: Backend>(out: Linear<B>, extra: usize) -> Linear<B> {
    if extra == 0 {
        return out;
    }
    // Rebuilt from host values, so that it is a leaf (a tracked tensor).
    let w = out.weight.val();
    let ([inputs, outputs], device) = (w.dims(), w.device());
    let mut values: Vec<f32> = w.into_data().to_vec().expect("float weights");
    values[(inputs - extra) * outputs..].fill(0.0);
    let w = Tensor::from_data(TensorData::new(values, [inputs, outputs]), &device);
    Linear { weight: Param::from_tensor(w), ..out }
}

/// A parameter that training does not change by gradient.
fn constant<B: Backend>(t: Tensor<B, 1>) -> Param<Tensor<B, 1>> {
    Param::from_tensor(t).set_require_grad(false)
}

/// A zero bias of `b`'s length.
fn zeros<B: Backend>(b: &Param<Tensor<B, 1>>, device: &B::Device) -> Param<Tensor<B, 1>> {
    Param::from_tensor(Tensor::zeros(b.dims(), device))
}

/// One patient's (or a batch's) tensors as the network reads them: see
/// [`Classifier::input`].
#[derive(Clone, Debug)]
pub struct Input<B: Backend> {
    /// The feature map `[n, c, z, y, x]`.
    pub x: Tensor<B, 5>,
    /// The pooling region on the last convolution's grid `[n, 1, z', y', x']`,
    /// when the model pools over the lungs.
    pub region: Option<Tensor<B, 5>>,
    /// The numbers beside the features `[n, extra_inputs]`, when the model
    /// has any.
    pub extra: Option<Tensor<B, 2>>,
}

#[cfg(test)]
impl<B: Backend> Input<B> {
    /// A feature map alone (no region, no extra numbers).
    pub fn map(x: Tensor<B, 5>) -> Self {
        Input { x, region: None, extra: None }
    }
}

/// The classifier network.
#[derive(Module, Debug)]
pub struct Classifier<B: Backend> {
    tail: Vec<Conv3d<B>>,
    convs: Vec<Conv3d<B>>,
    hidden: Option<Linear<B>>,
    out: Linear<B>,
    dropout: Dropout,
    levels: Vec<usize>,
    /// Strides of the fine-tuned blocks' and the new convolutions.
    strides: Vec<usize>,
    /// Subtracted from the pooled vector (set by training, not by gradient).
    head_mean: Param<Tensor<B, 1>>,
    /// Then multiplied with it.
    head_scale: Param<Tensor<B, 1>>,
    /// Whether pooling reads the lung region only.
    pool_lung: bool,
    input_mean: Vec<f32>,
    input_scale: Vec<f32>,
    input_clip: f32,
}

impl<B: Backend> Classifier<B> {
    /// Replaces the fine-tuned encoder blocks with trained ones (from the
    /// GMCAE); their number and shapes must match `tail_widths`.
    pub fn with_tail(mut self, tail: Vec<Conv3d<B>>) -> Self {
        assert_eq!(tail.len(), self.tail.len(), "encoder tail has the wrong number of convolutions");
        self.tail = tail;
        self
    }

    /// Sets the centring and scaling of the head's input: the pooled vector
    /// (from the training patients' pooled vectors), then the extra numbers.
    pub fn with_head_norm(mut self, mean: Vec<f32>, scale: Vec<f32>, device: &B::Device) -> Self {
        self.head_mean = constant(Tensor::from_data(TensorData::new(mean.clone(), [mean.len()]), device));
        self.head_scale = constant(Tensor::from_data(TensorData::new(scale.clone(), [scale.len()]), device));
        self
    }

    /// The length of the head's input: the pooled vector, then the extra
    /// numbers.
    pub fn head_len(&self) -> usize {
        self.head_mean.dims()[0]
    }

    /// Sets the output's bias (the logit before any evidence), e.g. to
    /// logit(prior) before training.
    pub fn with_output_bias(mut self, logit: f64, device: &B::Device) -> Self {
        self.out.bias = Some(Param::from_tensor(Tensor::from_floats([logit as f32], device)));
        self
    }
}

impl<B: KernelBackend> Classifier<B> {
    /// The probability of cancer for one patient's feature map (with its
    /// pooling region, when the model pools over the lungs, and its extra
    /// numbers) seen through `symmetry`.
    pub fn probability(&self, features: &FeatureMap, region: Option<&[f32]>, extra: &[f32], symmetry: Symmetry, device: &B::Device) -> f64 {
        self.probability_of(self.input(features, region, extra, symmetry, device))
    }

    /// The probability of cancer for one patient's input tensors (see [`Self::input`]).
    pub fn probability_of(&self, input: Input<B>) -> f64 {
        sigmoid(self.forward(input).into_scalar().elem::<f64>())
    }

    /// One patient's input tensors: the feature map `[1, c, z, y, x]`; when
    /// the model pools over the lungs, the pooling region `region` (on the
    /// feature grid) carried onto the last convolution's grid,
    /// `[1, 1, z', y', x']`, both seen through `symmetry`; and the extra
    /// numbers `[1, n]` when `extra` is not empty.
    ///
    /// # Panics
    /// When the model pools over the lungs and `region` is `None` (the
    /// callers load it whenever the shape says so).
    pub fn input(&self, features: &FeatureMap, region: Option<&[f32]>, extra: &[f32], symmetry: Symmetry, device: &B::Device) -> Input<B> {
        let x = self.normalised(features, symmetry, device);
        let extra = (!extra.is_empty()).then(|| Tensor::from_data(TensorData::new(extra.to_vec(), [1, extra.len()]), device));
        if !self.pool_lung {
            return Input { x, region: None, extra };
        }
        let region = region.expect("a model that pools over the lungs needs the lung region");
        let grid = FeatureMap { channels: 1, shape: features.shape, data: region.to_vec() };
        let seen = tensor::<B>(&grid, symmetry, device);
        let [_, _, z, y, x_len] = seen.dims();
        let (mut values, mut shape): (Vec<f32>, [usize; 3]) = (seen.into_data().to_vec().expect("float region"), [z, y, x_len]);
        for &stride in self.strides.iter().filter(|&&s| s > 1) {
            (values, shape) = strided_region(&values, shape, stride);
        }
        let [z, y, x_len] = shape;
        Input { x, region: Some(Tensor::from_data(TensorData::new(values, [1, 1, z, y, x_len]), device)), extra }
    }

    /// The logit of one feature map or a batch of equal-sized ones:
    /// `[n, c, z, y, x]` to `[n, 1]`, without dropout; the input as
    /// [`Classifier::input`] makes it.
    pub fn forward(&self, input: Input<B>) -> Tensor<B, 2> {
        self.forward_with(input, None)
    }

    /// [`Classifier::forward`] while training: dropout before each dense
    /// layer (not on the extra numbers), its masks taken from `masks`.
    pub fn forward_train(&self, input: Input<B>, masks: &mut MaskStream) -> Tensor<B, 2> {
        self.forward_with(input, Some(masks))
    }

    /// The dropout probability.
    pub fn dropout_prob(&self) -> f64 {
        self.dropout.prob
    }

    /// The last convolution's activations (ReLU: never negative).
    pub fn activations(&self, x: Tensor<B, 5>) -> Tensor<B, 5> {
        let x = self.tail.iter().fold(x, |x, conv| relu(conv3d(conv, x)));
        self.convs.iter().fold(x, |x, conv| relu(conv3d(conv, x)))
    }

    /// The pyramid-pooled activations `[n, len]`, over the region alone
    /// when one is given: activations are never negative, so zeroing those
    /// outside it leaves each bin's maximum over its voxels (0 for none).
    pub fn pooled(&self, x: Tensor<B, 5>, region: Option<Tensor<B, 5>>) -> Tensor<B, 2> {
        let x = self.activations(x);
        let x = match region {
            // The region repeated for every channel: a product of equal
            // shapes, which burn-flex (and its gradient) runs as one
            // contiguous loop rather than a broadcast walked index by index.
            Some(region) => {
                let channels = x.dims()[1];
                x * region.repeat_dim(1, channels)
            }
            None => x,
        };
        spatial_pyramid_pool(x, &self.levels)
    }

    /// The features as `[1, c, z, y, x]` with `(x − mean)·scale` applied per
    /// channel, when the shape gives them, clamped to ±`input_clip` when
    /// that is above 0 (on the host, while they are reordered: burn's
    /// broadcast arithmetic on a whole map cost more than the convolutions
    /// here).
    fn normalised(&self, f: &FeatureMap, symmetry: Symmetry, device: &B::Device) -> Tensor<B, 5> {
        if self.input_scale.is_empty() {
            return tensor::<B>(f, symmetry, device);
        }
        // Clamping to ±∞ changes no finite value: one expression for both.
        let clip = if self.input_clip > 0.0 { self.input_clip } else { f32::INFINITY };
        let map = |c: usize| ChannelMap { mean: self.input_mean[c], scale: self.input_scale[c], clip };
        tensor_scaled::<B>(f, map, symmetry, device)
    }

    /// The logit, with dropout when `masks` are given. The head's input
    /// (the pooled vector, then the extra numbers) is centred and scaled as
    /// one; the extra numbers then skip the hidden layer and dropout.
    fn forward_with(&self, input: Input<B>, mut masks: Option<&mut MaskStream>) -> Tensor<B, 2> {
        let mut drop = |t: Tensor<B, 2>| match masks.as_deref_mut() {
            Some(masks) => dropout(t, self.dropout.prob, masks),
            None => t,
        };
        let pooled = self.pooled(input.x, input.region);
        let [n, len] = pooled.dims();
        let head = match input.extra {
            Some(extra) => Tensor::cat(vec![pooled, extra], 1),
            None => pooled,
        };
        let width = head.dims()[1];
        let head = (head - self.head_mean.val().reshape([1, width])) * self.head_scale.val().reshape([1, width]);
        let (pooled, extra) =
            if width > len { (head.clone().slice([0..n, 0..len]), Some(head.slice([0..n, len..width]))) } else { (head, None) };
        let pooled = drop(pooled);
        let body = match &self.hidden {
            Some(hidden) => drop(relu(hidden.forward(pooled))),
            None => pooled,
        };
        match extra {
            Some(extra) => self.out.forward(Tensor::cat(vec![body, extra], 1)),
            None => self.out.forward(body),
        }
    }
}

/// The probability of a logit.
pub fn sigmoid(logit: f64) -> f64 {
    1.0 / (1.0 + (-logit).exp())
}

/// Binary cross-entropy of logits `[n, 1]` against labels (0 or 1) `[n, 1]`,
/// averaged, computed stably as max(l, 0) − l·y + ln(1 + e^−|l|).
pub fn bce_with_logits<B: Backend>(logits: Tensor<B, 2>, labels: Tensor<B, 2>) -> Tensor<B, 1> {
    let softplus = logits.clone().abs().neg().exp().add_scalar(1.0).log();
    (logits.clone().clamp_min(0.0) - logits * labels + softplus).mean()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use burn::backend::Flex;

    /// A small whole-crop shape the classifier's tests start from.
    pub(crate) fn shape() -> ClassifierShape {
        ClassifierShape {
            in_channels: 3,
            tail_widths: vec![],
            widths: vec![4],
            stride: 2,
            levels: vec![1, 2, 4],
            hidden: 5,
            dropout: 0.0,
            pool_lung: false,
            pool_grow: 0,
            input_mean: vec![],
            input_scale: vec![],
            input_clip: 0.0,
            extra_inputs: 0,
        }
    }

    #[test]
    fn the_input_is_centred_scaled_and_clamped_per_channel_as_a_plain_loop_does_it() {
        let device = Default::default();
        let dims = [3, 4, 5];
        let n: usize = dims.iter().product();
        // [z][c][y][x], as encode writes it.
        let data: Vec<f32> = (0..3 * n).map(|i| ((i * 37 % 23) as f32 - 11.0) / 2.0).collect();
        let f = FeatureMap { channels: 3, shape: dims, data: data.clone() };
        let (mean, scale) = (vec![0.5, -1.0, 2.0], vec![4.0, 1.0, 0.0]);
        for clip in [0.0f32, 3.0] {
            let shape = ClassifierShape { input_mean: mean.clone(), input_scale: scale.clone(), input_clip: clip, ..shape() };
            let model: Classifier<Flex> = shape.init(&device);
            let x = model.input(&f, None, &[], Symmetry::IDENTITY, &device).x;
            let got: Vec<f32> = x.into_data().to_vec().unwrap(); // [1][c][z][y][x]
            let plane = dims[1] * dims[2];
            for c in 0..3 {
                for z in 0..dims[0] {
                    for k in 0..plane {
                        let v = (data[(z * 3 + c) * plane + k] - mean[c]) * scale[c];
                        let want = if clip > 0.0 { v.clamp(-clip, clip) } else { v };
                        assert_eq!(got[(c * dims[0] + z) * plane + k], want, "clip {clip}, channel {c}");
                    }
                }
            }
        }
    }

    #[test]
    fn pooling_over_the_lungs_is_the_maximum_over_the_region_s_voxels_of_a_plain_loop() {
        let device = Default::default();
        let lungs =
            ClassifierShape { pool_lung: true, levels: vec![1, 2], input_mean: vec![0.5; 3], input_scale: vec![2.0, 0.0, 1.0], ..shape() };
        let model: Classifier<Flex> = lungs.init(&device);
        let dims = [7, 6, 9];
        let n: usize = dims.iter().product();
        let data: Vec<f32> = (0..3 * n).map(|i| ((i * 31 % 17) as f32 / 8.0) - 1.0).collect();
        let f = FeatureMap { channels: 3, shape: dims, data };
        // z < 2, y < 2, x > 4: on the stride-2 grid (4 x 3 x 5) it reaches
        // z 0-1 only, so level 2's bins at z 2-3 hold none of it (0 there
        // whatever the drawn weights).
        let region: Vec<f32> = (0..n).map(|i| if i / 54 < 2 && (i / 9) % 6 < 2 && i % 9 > 4 { 1.0 } else { 0.0 }).collect();
        let Input { x, region: r, .. } = model.input(&f, Some(&region), &[], Symmetry::IDENTITY, &device);
        let r = r.unwrap();
        let act = model.activations(x.clone());
        let [_, c, z, y, w] = act.dims();
        assert_eq!(r.dims(), [1, 1, z, y, w]);
        let (a, m): (Vec<f32>, Vec<f32>) = (act.into_data().to_vec().unwrap(), r.into_data().to_vec().unwrap());
        let got: Vec<f32> =
            model.pooled(x, Some(Tensor::from_data(TensorData::new(m.clone(), [1, 1, z, y, w]), &device))).into_data().to_vec().unwrap();
        // Level 1, then level 2's eight bins z-major, channels innermost.
        let mut expected = Vec::new();
        for l in [1usize, 2] {
            for (bz, by, bx) in (0..l).flat_map(|a| (0..l).flat_map(move |b| (0..l).map(move |d| (a, b, d)))) {
                for ch in 0..c {
                    let mut best = 0.0f32;
                    for iz in super::super::spp::bin(bz, l, z) {
                        for iy in super::super::spp::bin(by, l, y) {
                            for ix in super::super::spp::bin(bx, l, w) {
                                let at = (iz * y + iy) * w + ix;
                                if m[at] > 0.0 {
                                    best = best.max(a[ch * z * y * w + at]);
                                }
                            }
                        }
                    }
                    expected.push(best);
                }
            }
        }
        assert_eq!(got, expected);
        assert!(expected.iter().any(|&v| v > 0.0) && expected.contains(&0.0), "{expected:?}");
    }

    #[test]
    fn any_volume_size_gives_one_logit() {
        let device = Default::default();
        let model: Classifier<Flex> = shape().init(&device);
        for dims in [[1, 3, 3, 5, 7], [2, 3, 9, 4, 4], [1, 3, 1, 1, 1]] {
            let out = model.forward(Input::map(Tensor::ones(dims, &device)));
            assert_eq!(out.dims(), [dims[0], 1]);
        }
        let tuned = ClassifierShape { tail_widths: vec![6], ..shape() }.init::<Flex>(&device);
        assert_eq!(tuned.forward(Input::map(Tensor::ones([1, 3, 6, 6, 6], &device))).dims(), [1, 1]);
    }

    #[test]
    fn an_extra_number_starts_silent_and_reaches_the_logit_past_the_hidden_layer_centred_and_scaled() {
        let device = Default::default();
        // hidden 5 with dropout: the extra number skips both.
        let model: Classifier<Flex> = ClassifierShape { extra_inputs: 1, dropout: 0.5, ..shape() }.init(&device);
        let w: Vec<f32> = model.out.weight.val().into_data().to_vec().unwrap();
        assert_eq!(w.len(), 5 + 1, "the output layer reads the hidden units, then the extra number");
        assert_eq!(w[5], 0.0, "the extra number starts with no say");
        assert!(w[..5].iter().all(|&v| v != 0.0), "the hidden units' weights are drawn: {w:?}");
        let pooled = model.head_len() - 1;
        let (mut mean, mut scale) = (vec![0.0; pooled], vec![1.0; pooled]);
        mean.push(10.0);
        scale.push(0.25);
        let mut model = model.with_head_norm(mean, scale, &device);
        let mut weights = w.clone();
        weights[5] = 1.5;
        model.out.weight = Param::from_tensor(Tensor::from_data(TensorData::new(weights, [6, 1]), &device));
        let f = FeatureMap { channels: 3, shape: [4, 5, 6], data: (0..360).map(|i| (i % 7) as f32 / 7.0).collect() };
        let logit = |e: f32| model.forward(model.input(&f, None, &[e], Symmetry::IDENTITY, &device)).into_scalar().elem::<f64>();
        for (a, b) in [(10.0f32, 14.0f32), (0.0, 30.0), (12.5, -3.0)] {
            let want = 1.5 * 0.25 * f64::from(b - a);
            let got = logit(b) - logit(a);
            assert!((got - want).abs() < 1e-5, "{a} -> {b}: {got} against {want}");
        }
    }

    #[test]
    fn model_json_names_the_extra_inputs_only_when_there_are_some() {
        let plain = serde_json::to_value(shape()).unwrap();
        assert!(plain.get("extra_inputs").is_none(), "{plain}: the bytes of a model without them stay as they were");
        let scored = serde_json::to_value(ClassifierShape { extra_inputs: 1, ..shape() }).unwrap();
        assert_eq!(scored["extra_inputs"], 1);
        let read: ClassifierShape = serde_json::from_value(plain).unwrap();
        assert_eq!(read.extra_inputs, 0);
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
