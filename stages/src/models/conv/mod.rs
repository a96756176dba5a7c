//! The models' 3-D convolutions through one backend extension,
//! [`ConvBackend`]: on the CPU (burn flex) they run lungflow's own kernels
//! ([`crate::cpu::conv`]), with their own backward pass under autodiff; on
//! any other backend (CUDA) they are burn's own operations, unchanged.
//!
//! Models keep burn's `Conv3d` and `ConvTranspose3d` modules (so saved
//! weights do not change) and call [`conv3d`] and [`conv_transpose3d`]
//! instead of their `forward`.

mod autodiff;
mod flex;

#[cfg(test)]
mod tests;

use burn::nn::PaddingConfig3d;
use burn::nn::conv::{Conv3d, ConvTranspose3d};
use burn::prelude::*;
use burn::tensor::TensorPrimitive;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions, FloatTensor};

/// A backend whose 3-D convolutions and their gradients can be replaced.
/// Every method defaults to burn's own operation.
pub trait ConvBackend: Backend {
    /// y = W ⋆ x + b.
    fn conv3d_forward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: Option<FloatTensor<Self>>,
        options: ConvOptions<3>,
    ) -> FloatTensor<Self> {
        Self::conv3d(x, weight, bias, options)
    }

    /// ∂L/∂x of [`ConvBackend::conv3d_forward`].
    fn conv3d_input_grad(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        options: ConvOptions<3>,
    ) -> FloatTensor<Self> {
        Self::conv3d_x_backward(x, weight, grad, options)
    }

    /// ∂L/∂W of [`ConvBackend::conv3d_forward`].
    fn conv3d_weight_grad(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        options: ConvOptions<3>,
    ) -> FloatTensor<Self> {
        Self::conv3d_weight_backward(x, weight, grad, options)
    }

    /// ∂L/∂b of either convolution: `grad` summed over samples and voxels.
    fn conv_bias_grad(x: FloatTensor<Self>, bias: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        Self::conv3d_bias_backward(x, bias, grad)
    }

    /// The transposed convolution.
    fn conv_transpose3d_forward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: Option<FloatTensor<Self>>,
        options: ConvTransposeOptions<3>,
    ) -> FloatTensor<Self> {
        Self::conv_transpose3d(x, weight, bias, options)
    }

    /// ∂L/∂x of [`ConvBackend::conv_transpose3d_forward`].
    fn conv_transpose3d_input_grad(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        options: ConvTransposeOptions<3>,
    ) -> FloatTensor<Self> {
        let _ = x;
        Self::conv_transpose3d_x_backward(weight, grad, options)
    }

    /// ∂L/∂W of [`ConvBackend::conv_transpose3d_forward`].
    fn conv_transpose3d_weight_grad(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        options: ConvTransposeOptions<3>,
    ) -> FloatTensor<Self> {
        Self::conv_transpose3d_weight_backward(x, weight, grad, options)
    }
}

#[cfg(feature = "cuda")]
impl ConvBackend for burn::backend::Cuda {}

/// A training backend: autodiff over a [`ConvBackend`], itself one.
pub trait ConvAutodiff: AutodiffBackend<InnerBackend: ConvBackend> + ConvBackend {}

impl<B: AutodiffBackend<InnerBackend: ConvBackend> + ConvBackend> ConvAutodiff for B {}

/// `conv.forward(x)` through [`ConvBackend`].
pub fn conv3d<B: ConvBackend>(conv: &Conv3d<B>, x: Tensor<B, 5>) -> Tensor<B, 5> {
    let padding = match conv.padding {
        PaddingConfig3d::Explicit(d, h, w) => [d, h, w],
        PaddingConfig3d::Valid => [0; 3],
        // burn works out "same" padding from the input size.
        PaddingConfig3d::Same => return conv.forward(x),
    };
    let options = ConvOptions::new(conv.stride, padding, conv.dilation, conv.groups);
    let bias = conv.bias.as_ref().map(|b| b.val().into_primitive().tensor());
    let y = B::conv3d_forward(x.into_primitive().tensor(), conv.weight.val().into_primitive().tensor(), bias, options);
    Tensor::from_primitive(TensorPrimitive::Float(y))
}

/// `up.forward(x)` through [`ConvBackend`].
pub fn conv_transpose3d<B: ConvBackend>(up: &ConvTranspose3d<B>, x: Tensor<B, 5>) -> Tensor<B, 5> {
    let options = ConvTransposeOptions::new(up.stride, up.padding, up.padding_out, up.dilation, up.groups);
    let bias = up.bias.as_ref().map(|b| b.val().into_primitive().tensor());
    let y = B::conv_transpose3d_forward(x.into_primitive().tensor(), up.weight.val().into_primitive().tensor(), bias, options);
    Tensor::from_primitive(TensorPrimitive::Float(y))
}
