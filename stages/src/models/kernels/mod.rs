//! The models' heavy operations through one backend extension,
//! [`KernelBackend`]: the 3-D convolutions, the ReLUs after them and the
//! mixture loss's squared distances. On the CPU (burn flex) they run
//! lungflow's own kernels ([`lungflow_kernels`]), with their own backward passes
//! under autodiff; on any other backend (CUDA) they are burn's own
//! operations, unchanged.
//!
//! Models keep burn's `Conv3d` and `ConvTranspose3d` modules (so saved
//! weights do not change) and call [`conv3d`], [`conv_transpose3d`] and
//! [`relu`] instead of their `forward` and burn's `relu`; the loss calls
//! [`squared_distances`].

mod autodiff;
mod distances_node;
mod flex;
mod relu_node;

#[cfg(test)]
mod distance_tests;
#[cfg(test)]
mod tests;

use burn::nn::PaddingConfig3d;
use burn::nn::conv::{Conv3d, ConvTranspose3d};
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions, FloatTensor};
use burn::tensor::{TensorMetadata, TensorPrimitive};

/// A backend whose 3-D convolutions, ReLU, the mixture loss's squared
/// distances and their gradients can be replaced. Every method defaults to burn's own
/// operations.
pub trait KernelBackend: Backend {
    /// y = W ⋆ x + b.
    fn conv3d_forward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: Option<FloatTensor<Self>>,
        options: ConvOptions<3>,
    ) -> FloatTensor<Self> {
        Self::conv3d(x, weight, bias, options)
    }

    /// ∂L/∂x of [`KernelBackend::conv3d_forward`].
    fn conv3d_input_grad(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        options: ConvOptions<3>,
    ) -> FloatTensor<Self> {
        Self::conv3d_x_backward(x, weight, grad, options)
    }

    /// ∂L/∂W of [`KernelBackend::conv3d_forward`].
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

    /// ∂L/∂x of [`KernelBackend::conv_transpose3d_forward`].
    fn conv_transpose3d_input_grad(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        options: ConvTransposeOptions<3>,
    ) -> FloatTensor<Self> {
        let _ = x;
        Self::conv_transpose3d_x_backward(weight, grad, options)
    }

    /// max(x, 0), elementwise.
    fn kernel_relu(x: FloatTensor<Self>) -> FloatTensor<Self> {
        Self::relu(x)
    }

    /// ∂L/∂x of [`KernelBackend::kernel_relu`]: `grad` where `x` > 0, else 0.
    fn kernel_relu_grad(x: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        Self::relu_backward(x, grad)
    }

    /// ‖t_i − μ_ik‖² of each component's mean (`means`, [n, m, d, h, w]) to
    /// its sample's target (`target`, [n, 1, d, h, w]), as [n, m].
    fn squared_distances(means: FloatTensor<Self>, target: FloatTensor<Self>) -> FloatTensor<Self> {
        burns_squared_distances::<Self>(means, target)
    }

    /// ∂L/∂μ of [`KernelBackend::squared_distances`] given ∂L/∂(distance)
    /// `grad` ([n, m]): 2 (μ − t) ∂L/∂d, rounded as burn's autodiff rounds
    /// the composite above (the product with the difference, doubled).
    fn squared_distances_grad(means: FloatTensor<Self>, target: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        burns_squared_distances_grad::<Self>(means, target, grad)
    }

    /// ∂L/∂W of [`KernelBackend::conv_transpose3d_forward`].
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
impl KernelBackend for burn::backend::Cuda {}

/// A training backend: autodiff over a [`KernelBackend`], itself one.
pub trait KernelAutodiff: AutodiffBackend<InnerBackend: KernelBackend> + KernelBackend {}

impl<B: AutodiffBackend<InnerBackend: KernelBackend> + KernelBackend> KernelAutodiff for B {}

/// `conv.forward(x)` through [`KernelBackend`].
pub fn conv3d<B: KernelBackend>(conv: &Conv3d<B>, x: Tensor<B, 5>) -> Tensor<B, 5> {
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

/// [`KernelBackend::squared_distances`] with burn's operations: the
/// difference, squared, summed over the voxels.
fn burns_squared_distances<B: Backend>(means: FloatTensor<B>, target: FloatTensor<B>) -> FloatTensor<B> {
    let [n, m, d, h, w] = means.shape().dims::<5>();
    let diff = B::float_sub(means, target);
    let squares = B::float_mul(diff.clone(), diff);
    let sums = B::float_sum_dim(B::float_reshape(squares, [n, m, d * h * w].into()), 2);
    B::float_reshape(sums, [n, m].into())
}

/// [`KernelBackend::squared_distances_grad`] with burn's operations.
fn burns_squared_distances_grad<B: Backend>(means: FloatTensor<B>, target: FloatTensor<B>, grad: FloatTensor<B>) -> FloatTensor<B> {
    let [n, m, ..] = means.shape().dims::<5>();
    let diff = B::float_sub(means, target);
    let part = B::float_mul(B::float_reshape(grad, [n, m, 1, 1, 1].into()), diff);
    B::float_add(part.clone(), part)
}

/// max(x, 0) through [`KernelBackend`].
pub fn relu<B: KernelBackend, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    Tensor::from_primitive(TensorPrimitive::Float(B::kernel_relu(x.into_primitive().tensor())))
}

/// ‖t_i − μ_ik‖² through [`KernelBackend`]: `means` [n, m, d, h, w],
/// `target` [n, 1, d, h, w], the distances [n, m].
pub fn squared_distances<B: KernelBackend>(means: Tensor<B, 5>, target: Tensor<B, 5>) -> Tensor<B, 2> {
    let d = B::squared_distances(means.into_primitive().tensor(), target.into_primitive().tensor());
    Tensor::from_primitive(TensorPrimitive::Float(d))
}

/// `up.forward(x)` through [`KernelBackend`].
pub fn conv_transpose3d<B: KernelBackend>(up: &ConvTranspose3d<B>, x: Tensor<B, 5>) -> Tensor<B, 5> {
    let options = ConvTransposeOptions::new(up.stride, up.padding, up.padding_out, up.dilation, up.groups);
    let bias = up.bias.as_ref().map(|b| b.val().into_primitive().tensor());
    let y = B::conv_transpose3d_forward(x.into_primitive().tensor(), up.weight.val().into_primitive().tensor(), bias, options);
    Tensor::from_primitive(TensorPrimitive::Float(y))
}

/// The float64 reference backend of the tests: burn's own operations.
#[cfg(test)]
impl KernelBackend for burn::backend::NdArray<f64> {}
