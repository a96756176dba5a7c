//! The GMCAE network (shapes for edge 32 and widths (64, 128, 256)).

use burn::module::Module;
use burn::nn::conv::{Conv3d, Conv3dConfig, ConvTranspose3d, ConvTranspose3dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig3d};
use burn::prelude::*;
use burn::tensor::activation::{elu, log_softmax};

use crate::models::kernels::{KernelBackend, conv_transpose3d, conv3d, relu};
use serde::{Deserialize, Serialize};

/// The architecture's sizes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GmcaeShape {
    /// Channel widths of the encoder blocks (the decoder mirrors them).
    pub widths: Vec<usize>,
    /// Mixture components m.
    pub mixtures: usize,
    /// Patch edge; must be divisible by 2^(number of blocks).
    pub edge: usize,
    /// Smallest variance the variance head can output.
    pub variance_floor: f64,
    /// Hidden units of the prior and variance heads.
    pub hidden: usize,
}

impl GmcaeShape {
    /// The widths kdsb17 used.
    pub const KDSB17_WIDTHS: [usize; 3] = [64, 128, 256];

    /// Refuses a shape whose largest layer, for `batch` patches, would need
    /// a buffer over [`crate::limits::MAX_BUFFER_BYTES`] (the first block's
    /// activations, or the heads' dense weights).
    pub fn check_size(&self, batch: usize) -> Result<(), crate::StageError> {
        let widest = self.widths.iter().copied().max().unwrap_or(1);
        let e = self.edge;
        let f32s = std::mem::size_of::<f32>();
        let what = format!("batch_size {batch} x widths {:?} on patches of edge {e}: one layer's activations", self.widths);
        crate::limits::checked_len(&[batch, widest, e, e, e], f32s, what)?;
        let code = self.code_edge().max(1);
        let last = self.widths.last().copied().unwrap_or(1);
        let what = format!("hidden {} x the code of {last} channels of edge {code}: the heads' weights", self.hidden);
        crate::limits::checked_len(&[self.hidden.max(self.mixtures), last, code, code, code], f32s, what)?;
        Ok(())
    }

    /// Edge of the code (the encoder's output cube).
    pub fn code_edge(&self) -> usize {
        self.edge >> self.widths.len()
    }

    /// Builds the network.
    pub fn init<B: Backend>(&self, device: &B::Device) -> Gmcae<B> {
        let encoder = encoder_blocks(1, &self.widths, device);
        let mut channels = self.widths[self.widths.len() - 1];
        let mut up = Vec::new();
        let mut decoder = Vec::new();
        for &w in self.widths.iter().rev() {
            up.push(
                ConvTranspose3dConfig::new([channels, w], [3, 3, 3])
                    .with_stride([2, 2, 2])
                    .with_padding([1, 1, 1])
                    .with_padding_out([1, 1, 1])
                    .init(device),
            );
            decoder.push(conv3(w, w, 1, device));
            channels = w;
        }
        let code = self.code_edge().pow(3);
        let head = |out| {
            (
                conv1(self.widths[self.widths.len() - 1], device),
                LinearConfig::new(code, self.hidden).init(device),
                LinearConfig::new(self.hidden, out).init(device),
            )
        };
        let (prior_conv, prior_hidden, prior_out) = head(self.mixtures);
        let (var_conv, var_hidden, var_out) = head(self.mixtures);
        Gmcae {
            encoder,
            up,
            decoder,
            mean_head: conv3(channels, self.mixtures, 1, device),
            prior_conv,
            prior_hidden,
            prior_out,
            var_conv,
            var_hidden,
            var_out,
            variance_floor: self.variance_floor,
        }
    }
}

/// Encoder blocks of the given widths on `in_channels` input channels: per
/// block a 3³ convolution, then a 3³ convolution of stride 2 (both padded).
pub fn encoder_blocks<B: Backend>(in_channels: usize, widths: &[usize], device: &B::Device) -> Vec<Conv3d<B>> {
    let mut convs = Vec::with_capacity(2 * widths.len());
    let mut channels = in_channels;
    for &w in widths {
        convs.push(conv3(channels, w, 1, device));
        convs.push(conv3(w, w, 2, device));
        channels = w;
    }
    convs
}

/// A padded 3³ convolution.
pub fn conv3<B: Backend>(i: usize, o: usize, stride: usize, device: &B::Device) -> Conv3d<B> {
    Conv3dConfig::new([i, o], [3, 3, 3]).with_stride([stride; 3]).with_padding(PaddingConfig3d::Explicit(1, 1, 1)).init(device)
}

fn conv1<B: Backend>(channels: usize, device: &B::Device) -> Conv3d<B> {
    Conv3dConfig::new([channels, 1], [1, 1, 1]).init(device)
}

/// The network's output for a batch of n patches.
pub struct Mixture<B: Backend> {
    /// Component means [n, m, e, e, e].
    pub means: Tensor<B, 5>,
    /// Log mixture weights [n, m] (log-softmax).
    pub log_priors: Tensor<B, 2>,
    /// Component variances [n, m] (> floor).
    pub variances: Tensor<B, 2>,
}

/// The GMCAE.
#[derive(Module, Debug)]
pub struct Gmcae<B: Backend> {
    encoder: Vec<Conv3d<B>>,
    up: Vec<ConvTranspose3d<B>>,
    decoder: Vec<Conv3d<B>>,
    mean_head: Conv3d<B>,
    prior_conv: Conv3d<B>,
    prior_hidden: Linear<B>,
    prior_out: Linear<B>,
    var_conv: Conv3d<B>,
    var_hidden: Linear<B>,
    var_out: Linear<B>,
    variance_floor: f64,
}

impl<B: Backend> Gmcae<B> {
    /// Copies of the encoder's convolutions from block `from` on (two per
    /// block), for a classifier that fine-tunes them.
    pub fn encoder_tail(&self, from: usize) -> Vec<Conv3d<B>> {
        self.encoder.iter().skip(2 * from).cloned().collect()
    }

    /// This model with the bias of output channel `channel` of encoder
    /// convolution `conv` (0-based, two per block) set to `value`.
    #[cfg(test)]
    pub fn with_encoder_bias(mut self, conv: usize, channel: usize, value: f32) -> Self {
        let c = &mut self.encoder[conv];
        let bias = c.bias.take().expect("the encoder's convolutions have biases");
        let device = bias.val().device();
        let mut values: Vec<f32> = bias.val().into_data().convert::<f32>().to_vec().expect("float bias");
        values[channel] = value;
        c.bias = Some(burn::module::Param::from_tensor(Tensor::from_data(TensorData::new(values.clone(), [values.len()]), &device)));
        self
    }
}

impl<B: KernelBackend> Gmcae<B> {
    /// The code: [n, w_last, e/2^k, e/2^k, e/2^k].
    pub fn encode(&self, x: Tensor<B, 5>) -> Tensor<B, 5> {
        // [n, 1, 32³] -> [n, 64, 16³] -> [n, 128, 8³] -> [n, 256, 4³]
        self.encode_first(x, self.encoder.len() / 2)
    }

    /// The output of the first `blocks` encoder blocks (each two convolutions).
    pub fn encode_first(&self, x: Tensor<B, 5>, blocks: usize) -> Tensor<B, 5> {
        self.encoder.iter().take(2 * blocks).fold(x, |x, conv| relu(conv3d(conv, x)))
    }

    /// The mixture for a batch [n, 1, e, e, e].
    pub fn forward(&self, x: Tensor<B, 5>) -> Mixture<B> {
        let code = self.encode(x);
        // [n, 256, 4³] -> [n, 128, 8³] -> [n, 64, 16³] -> ... -> [n, w0, 32³]
        let mut h = code.clone();
        for (up, conv) in self.up.iter().zip(&self.decoder) {
            h = relu(conv3d(conv, relu(conv_transpose3d(up, h))));
        }
        let means = conv3d(&self.mean_head, h); // [n, m, 32³], linear
        let log_priors = log_softmax(self.head(&code, &self.prior_conv, &self.prior_hidden, &self.prior_out), 1);
        let variances = elu(self.head(&code, &self.var_conv, &self.var_hidden, &self.var_out), 1.0).add_scalar(1.0 + self.variance_floor);
        Mixture { means, log_priors, variances }
    }

    /// conv 1 channel -> flatten -> dense ReLU -> dense: [n, m].
    fn head(&self, code: &Tensor<B, 5>, conv: &Conv3d<B>, hidden: &Linear<B>, out: &Linear<B>) -> Tensor<B, 2> {
        let c = conv3d(conv, code.clone()); // [n, 1, 4³]
        let [n, _, a, b, d] = c.dims();
        out.forward(relu(hidden.forward(c.reshape([n, a * b * d]))))
    }
}
