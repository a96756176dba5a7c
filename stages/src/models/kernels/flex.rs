//! [`KernelBackend`] for burn flex: float32 convolutions with one group and
//! no dilation run on [`lungflow_kernels::conv`], float32 ReLUs on
//! [`lungflow_kernels::relu`] and squared distances on
//! [`lungflow_kernels::distances`]; anything else is burn's own.

use burn::backend::Flex;
use burn::backend::flex::FlexTensor;
use burn::tensor::ops::{ActivationOps, ConvOptions, ConvTransposeOptions, ModuleOps};
use burn::tensor::{DType, Shape, TensorData, TensorMetadata};
use lungflow_kernels::conv::{Geometry, forward, input_grad, weight_grad};
use lungflow_kernels::distances::{self, Sizes};
use lungflow_kernels::relu;
use rayon::prelude::*;

use super::{KernelBackend, burns_squared_distances, burns_squared_distances_grad};

/// The five sizes of a 5-D tensor.
fn dims(t: &FlexTensor) -> [usize; 5] {
    t.shape().dims::<5>()
}

/// The tensor's elements in order (a copy only when it is not contiguous).
fn values(t: FlexTensor) -> FlexTensor {
    t.to_contiguous()
}

/// Its float32 elements; the tensor must come from [`values`].
fn floats(t: &FlexTensor) -> &[f32] {
    t.as_slice::<f32>().expect("a contiguous float32 tensor")
}

/// The float32 elements of a tensor nothing else holds, in order, to be
/// overwritten; `None` when it is shared or not laid out contiguously.
fn writable(t: &mut FlexTensor) -> Option<&mut [f32]> {
    let n = t.layout().num_elements();
    if t.layout().contiguous_offsets() != Some((0, n)) {
        return None;
    }
    t.try_storage_mut::<f32>().filter(|s| s.len() == n)
}

/// A float32 tensor of `shape` holding `values` in order.
fn tensor(values: Vec<f32>, shape: impl Into<Shape>) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape))
}

/// Whether our kernels handle these tensors and options.
fn ours(tensors: &[&FlexTensor], dilation: [usize; 3], groups: usize) -> bool {
    groups == 1 && dilation == [1; 3] && tensors.iter().all(|t| t.dtype() == DType::F32) && !burns_only()
}

#[cfg(test)]
thread_local! {
    static BURNS_ONLY: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether this thread asked for burn's own operations (tests only).
fn burns_only() -> bool {
    #[cfg(test)]
    return BURNS_ONLY.with(|b| b.get());
    #[cfg(not(test))]
    false
}

/// Runs `f` with burn's own convolutions, ReLUs and squared distances on
/// this thread: the implementation before lungflow's kernels, for tests that
/// compare the two.
#[cfg(test)]
pub(crate) fn with_burns_operations<R>(f: impl FnOnce() -> R) -> R {
    BURNS_ONLY.with(|b| b.set(true));
    let r = f();
    BURNS_ONLY.with(|b| b.set(false));
    r
}

/// The geometry of `x` convolved with `weight` ([c_out, c_in, k...]).
fn conv_geometry(x: [usize; 5], weight: [usize; 5], stride: [usize; 3], padding: [usize; 3]) -> Geometry {
    let [n, c_in, d, h, w] = x;
    let [c_out, _, kd, kh, kw] = weight;
    Geometry::conv(n, c_in, c_out, [d, h, w], [kd, kh, kw], stride, padding)
}

/// A transposed convolution of `x` ([n, c_in, ...]) with `weight`
/// ([c_in, c_out, k...]) is the input gradient of the convolution from its
/// output back to `x`: this is that convolution's geometry.
fn transposed_geometry(x: [usize; 5], weight: [usize; 5], o: &ConvTransposeOptions<3>) -> Geometry {
    let [n, c_in, ..] = x;
    let [_, c_out, kd, kh, kw] = weight;
    let kernel = [kd, kh, kw];
    let out = std::array::from_fn(|a| (x[2 + a] - 1) * o.stride[a] + kernel[a] + o.padding_out[a] - 2 * o.padding[a]);
    let g = Geometry::conv(n, c_out, c_in, out, kernel, o.stride, o.padding);
    assert_eq!(g.output, [x[2], x[3], x[4]], "transposed convolution sizes do not invert");
    g
}

/// Adds `bias[c]` to every voxel of channel c of `y` ([n, c, voxels]).
fn add_bias(y: &mut [f32], bias: &[f32], voxels: usize) {
    y.par_chunks_mut(voxels).enumerate().for_each(|(i, channel)| {
        let b = bias[i % bias.len()];
        channel.iter_mut().for_each(|v| *v += b);
    });
}

impl KernelBackend for Flex {
    fn conv3d_forward(x: FlexTensor, weight: FlexTensor, bias: Option<FlexTensor>, options: ConvOptions<3>) -> FlexTensor {
        if !ours(&[&x, &weight], options.dilation, options.groups) {
            return Self::conv3d(x, weight, bias, options);
        }
        let g = conv_geometry(dims(&x), dims(&weight), options.stride, options.padding);
        let (x, weight, bias) = (values(x), values(weight), bias.map(values));
        let y = forward(floats(&x), floats(&weight), bias.as_ref().map(floats), &g);
        tensor(y, [g.batch, g.c_out, g.output[0], g.output[1], g.output[2]])
    }

    fn conv3d_input_grad(x: FlexTensor, weight: FlexTensor, grad: FlexTensor, options: ConvOptions<3>) -> FlexTensor {
        if !ours(&[&x, &weight, &grad], options.dilation, options.groups) {
            return Self::conv3d_x_backward(x, weight, grad, options);
        }
        let g = conv_geometry(dims(&x), dims(&weight), options.stride, options.padding);
        let (weight, grad) = (values(weight), values(grad));
        tensor(input_grad(floats(&grad), floats(&weight), &g), dims(&x))
    }

    fn conv3d_weight_grad(x: FlexTensor, weight: FlexTensor, grad: FlexTensor, options: ConvOptions<3>) -> FlexTensor {
        if !ours(&[&x, &weight, &grad], options.dilation, options.groups) {
            return Self::conv3d_weight_backward(x, weight, grad, options);
        }
        let g = conv_geometry(dims(&x), dims(&weight), options.stride, options.padding);
        let (x, grad) = (values(x), values(grad));
        tensor(weight_grad(floats(&x), floats(&grad), &g), dims(&weight))
    }

    fn conv_bias_grad(x: FlexTensor, bias: FlexTensor, grad: FlexTensor) -> FlexTensor {
        if !ours(&[&bias, &grad], [1; 3], 1) {
            return Self::conv3d_bias_backward(x, bias, grad);
        }
        let [n, c, d, h, w] = dims(&grad);
        let grad = values(grad);
        let g = floats(&grad);
        let sums = (0..c)
            .into_par_iter()
            .map(|ci| (0..n).flat_map(|s| &g[(s * c + ci) * d * h * w..][..d * h * w]).map(|&v| v as f64).sum::<f64>() as f32)
            .collect();
        tensor(sums, [c])
    }

    fn conv_transpose3d_forward(
        x: FlexTensor,
        weight: FlexTensor,
        bias: Option<FlexTensor>,
        options: ConvTransposeOptions<3>,
    ) -> FlexTensor {
        if !ours(&[&x, &weight], options.dilation, options.groups) {
            return Self::conv_transpose3d(x, weight, bias, options);
        }
        let g = transposed_geometry(dims(&x), dims(&weight), &options);
        let (x, weight) = (values(x), values(weight));
        let mut y = input_grad(floats(&x), floats(&weight), &g);
        if let Some(bias) = bias.map(values) {
            add_bias(&mut y, floats(&bias), g.input_voxels());
        }
        tensor(y, [g.batch, g.c_in, g.input[0], g.input[1], g.input[2]])
    }

    fn conv_transpose3d_input_grad(x: FlexTensor, weight: FlexTensor, grad: FlexTensor, options: ConvTransposeOptions<3>) -> FlexTensor {
        if !ours(&[&x, &weight, &grad], options.dilation, options.groups) {
            return Self::conv_transpose3d_x_backward(weight, grad, options);
        }
        let g = transposed_geometry(dims(&x), dims(&weight), &options);
        let (weight, grad) = (values(weight), values(grad));
        tensor(forward(floats(&grad), floats(&weight), None, &g), dims(&x))
    }

    fn conv_transpose3d_weight_grad(x: FlexTensor, weight: FlexTensor, grad: FlexTensor, options: ConvTransposeOptions<3>) -> FlexTensor {
        if !ours(&[&x, &weight, &grad], options.dilation, options.groups) {
            return Self::conv_transpose3d_weight_backward(x, weight, grad, options);
        }
        let g = transposed_geometry(dims(&x), dims(&weight), &options);
        let (x, grad) = (values(x), values(grad));
        tensor(weight_grad(floats(&grad), floats(&x), &g), dims(&weight))
    }

    fn kernel_relu(mut x: FlexTensor) -> FlexTensor {
        if x.dtype() != DType::F32 || burns_only() {
            return Self::relu(x);
        }
        if let Some(own) = writable(&mut x) {
            relu::relu_in_place(own);
            return x;
        }
        let shape = x.shape();
        let x = values(x);
        tensor(relu::relu(floats(&x)), shape)
    }

    fn kernel_relu_grad(x: FlexTensor, mut grad: FlexTensor) -> FlexTensor {
        if x.dtype() != DType::F32 || grad.dtype() != DType::F32 || x.shape() != grad.shape() || burns_only() {
            return Self::relu_backward(x, grad);
        }
        let x = values(x);
        if let Some(own) = writable(&mut grad) {
            relu::relu_grad_in_place(floats(&x), own);
            return grad;
        }
        let shape = grad.shape();
        let grad = values(grad);
        tensor(relu::relu_grad(floats(&x), floats(&grad)), shape)
    }

    fn squared_distances(means: FlexTensor, target: FlexTensor) -> FlexTensor {
        let Some(sizes) = distance_sizes(&means, &target) else {
            return burns_squared_distances::<Self>(means, target);
        };
        let (means, target) = (values(means), values(target));
        tensor(distances::squared_distances(floats(&means), floats(&target), sizes), [sizes.samples, sizes.components])
    }

    fn squared_distances_grad(means: FlexTensor, target: FlexTensor, grad: FlexTensor) -> FlexTensor {
        let shape = dims(&means);
        let sizes = match distance_sizes(&means, &target) {
            Some(sizes) if grad.dtype() == DType::F32 => sizes,
            _ => return burns_squared_distances_grad::<Self>(means, target, grad),
        };
        let (means, target, grad) = (values(means), values(target), values(grad));
        tensor(distances::squared_distances_grad(floats(&means), floats(&target), floats(&grad), sizes), shape)
    }
}

/// The sizes of means [n, m, d, h, w] and a target [n, 1, d, h, w] our
/// distance kernels take (float32, matching shapes), or `None` for burn's.
fn distance_sizes(means: &FlexTensor, target: &FlexTensor) -> Option<Sizes> {
    let ([n, m, d, h, w], [tn, one, td, th, tw]) = (dims(means), dims(target));
    let ours = means.dtype() == DType::F32 && target.dtype() == DType::F32 && !burns_only();
    (ours && [tn, one, td, th, tw] == [n, 1, d, h, w]).then_some(Sizes { samples: n, components: m, voxels: d * h * w })
}
