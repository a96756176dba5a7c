//! The extension against burn's own convolutions, forward and backward,
//! through autodiff on burn flex.

use burn::backend::{Autodiff, Flex};
use burn::module::Param;
use burn::nn::PaddingConfig3d;
use burn::nn::conv::{Conv3d, Conv3dConfig, ConvTranspose3d, ConvTranspose3dConfig};
use burn::prelude::*;
use burn::tensor::Distribution;

use super::*;

type AD = Autodiff<Flex>;

/// max |a − b| / max |b| over two tensors' elements.
fn relative(a: Tensor<Flex, 5>, b: Tensor<Flex, 5>) -> f64 {
    let (a, b) = (a.into_data().to_vec::<f32>().unwrap(), b.into_data().to_vec::<f32>().unwrap());
    assert_eq!(a.len(), b.len());
    let scale = b.iter().fold(0.0f64, |m, v| m.max(v.abs() as f64));
    a.iter().zip(&b).map(|(x, y)| (x - y).abs() as f64).fold(0.0, f64::max) / scale.max(1e-30)
}

/// y, ∂x, ∂W, ∂b of one layer under a random linear loss, by `run`.
fn passes(
    x: &Tensor<AD, 5>,
    r: &Tensor<AD, 5>,
    weight: &Param<Tensor<AD, 5>>,
    bias: &Param<Tensor<AD, 1>>,
    run: impl Fn(Tensor<AD, 5>) -> Tensor<AD, 5>,
) -> [Tensor<Flex, 5>; 4] {
    let x = x.clone().require_grad();
    let y = run(x.clone());
    assert_eq!(y.dims(), r.dims());
    let grads = (y.clone() * r.clone()).sum().backward();
    let db = bias.val().grad(&grads).unwrap();
    let c = db.dims()[0];
    [y.inner(), x.grad(&grads).unwrap(), weight.val().grad(&grads).unwrap(), db.reshape([1, 1, 1, 1, c])]
}

fn random(dims: [usize; 5]) -> Tensor<AD, 5> {
    Tensor::random(dims, Distribution::Uniform(-1.0, 1.0), &Default::default())
}

fn assert_close(ours: [Tensor<Flex, 5>; 4], burns: [Tensor<Flex, 5>; 4], what: &str) {
    let errors: Vec<f64> = ours.into_iter().zip(burns).map(|(a, b)| relative(a, b)).collect();
    assert!(errors.iter().all(|&e| e <= 1e-5), "{what}: relative differences (y, dx, dW, db) {errors:?}");
}

#[test]
fn convolutions_and_their_gradients_equal_burns() {
    let cases = [
        // (batch, c_in, c_out, input, stride, padding)
        (1, 1, 8, [9, 7, 11], 1, 1),
        (2, 3, 8, [8, 8, 8], 2, 1),
        (1, 8, 64, [7, 5, 9], 2, 1),
        (2, 64, 3, [5, 6, 7], 1, 1),
        (1, 64, 64, [8, 8, 8], 2, 0),
        (3, 8, 1, [4, 4, 4], 1, 0),
    ];
    for (batch, c_in, c_out, [d, h, w], stride, pad) in cases {
        let conv: Conv3d<AD> = Conv3dConfig::new([c_in, c_out], [3, 3, 3])
            .with_stride([stride; 3])
            .with_padding(PaddingConfig3d::Explicit(pad, pad, pad))
            .init(&Default::default());
        let x = random([batch, c_in, d, h, w]);
        let out = |n: usize| (n + 2 * pad - 3) / stride + 1;
        let r = random([batch, c_out, out(d), out(h), out(w)]);
        let bias = conv.bias.as_ref().unwrap();
        let ours = passes(&x, &r, &conv.weight, bias, |x| conv3d(&conv, x));
        let burns = passes(&x, &r, &conv.weight, bias, |x| conv.forward(x));
        assert_close(ours, burns, &format!("conv {batch}x{c_in}->{c_out} {d}x{h}x{w} stride {stride} pad {pad}"));
    }
}

#[test]
fn transposed_convolutions_and_their_gradients_equal_burns() {
    let cases = [
        // (batch, c_in, c_out, input, stride, padding, output padding)
        (2, 8, 8, [4, 4, 4], 2, 1, 1),
        (1, 64, 3, [3, 5, 4], 2, 1, 1),
        (1, 3, 64, [5, 3, 6], 1, 1, 0),
        (2, 1, 8, [4, 5, 3], 2, 0, 1),
    ];
    for (batch, c_in, c_out, [d, h, w], stride, pad, out_pad) in cases {
        let up: ConvTranspose3d<AD> = ConvTranspose3dConfig::new([c_in, c_out], [3, 3, 3])
            .with_stride([stride; 3])
            .with_padding([pad; 3])
            .with_padding_out([out_pad; 3])
            .init(&Default::default());
        let x = random([batch, c_in, d, h, w]);
        let out = |n: usize| (n - 1) * stride + 3 + out_pad - 2 * pad;
        let r = random([batch, c_out, out(d), out(h), out(w)]);
        let bias = up.bias.as_ref().unwrap();
        let ours = passes(&x, &r, &up.weight, bias, |x| conv_transpose3d(&up, x));
        let burns = passes(&x, &r, &up.weight, bias, |x| up.forward(x));
        assert_close(ours, burns, &format!("transposed {batch}x{c_in}->{c_out} {d}x{h}x{w} stride {stride} pad {pad}/{out_pad}"));
    }
}

/// The GMCAE's loss before and after each of 3 Adam steps on one batch.
fn three_losses(mut model: crate::models::gmcae::model::Gmcae<AD>, x: Tensor<AD, 5>) -> Vec<f64> {
    use crate::models::gmcae::loss::nll_per_voxel;
    use crate::models::gmcae::model::Gmcae;
    use burn::optim::{AdamConfig, GradientsParams, Optimizer};

    let mut optim = AdamConfig::new().with_epsilon(1e-8).init::<AD, Gmcae<AD>>();
    let mut losses = Vec::new();
    for _ in 0..3 {
        let loss = nll_per_voxel(&model.forward(x.clone()), x.clone());
        losses.push(loss.clone().into_scalar().elem::<f64>());
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(1e-3, model, grads);
    }
    losses.push(nll_per_voxel(&model.forward(x.clone()), x).into_scalar().elem::<f64>());
    losses
}

#[test]
fn gmcae_loss_after_three_steps_equals_burns() {
    use crate::models::gmcae::model::GmcaeShape;
    use rand::SeedableRng;
    use rand_distr::{Distribution as _, StandardNormal};

    // The demo's widths; one model (burn's generator is shared by every
    // test thread, so it is not reseeded here but copied as values).
    let shape = GmcaeShape { widths: vec![8, 16, 32], mixtures: 4, edge: 32, variance_floor: 1e-4, hidden: 16 };
    // Parameters are drawn lazily, on first use: fix them through a record.
    let record = shape.init::<AD>(&Default::default()).into_record();
    let model = shape.init::<AD>(&Default::default()).load_record(record);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
    let voxels: Vec<f32> = (0..4 * 32 * 32 * 32).map(|_| StandardNormal.sample(&mut rng)).collect();
    let x = Tensor::<AD, 5>::from_data(TensorData::new(voxels, [4, 1, 32, 32, 32]), &Default::default());
    let ours = three_losses(model.clone(), x.clone());
    let burns = super::flex::with_burns_operations(|| three_losses(model, x));
    assert!(ours.iter().zip(&burns).all(|(a, b)| (a - b).abs() <= 1e-4 * b.abs()), "ours {ours:?}, burn's {burns:?}");
    assert!(burns[3] < burns[0], "the loss should fall over 3 steps: {burns:?}");
}
