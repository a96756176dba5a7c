//! The squared distances against burn's composite on burn flex: the same
//! bits forward and backward, with and without autodiff.

use burn::backend::{Autodiff, Flex};
use burn::prelude::*;
use burn::tensor::Distribution;

use super::*;

type AD = Autodiff<Flex>;

/// The loss's distances as they were written with burn's operations.
fn composite<B: Backend>(means: Tensor<B, 5>, target: Tensor<B, 5>) -> Tensor<B, 2> {
    let [n, m, d, h, w] = means.dims();
    (means - target).powf_scalar(2.0).reshape([n, m, d * h * w]).sum_dim(2).reshape([n, m])
}

fn bits<B: Backend, const D: usize>(t: Tensor<B, D>) -> Vec<u32> {
    t.into_data().to_vec::<f32>().unwrap().into_iter().map(f32::to_bits).collect()
}

/// The distances and ∂/∂means of Σ r ⊙ distances, by `distances`.
fn with_gradient(
    means: &Tensor<AD, 5>,
    target: &Tensor<AD, 5>,
    r: &Tensor<AD, 2>,
    distances: impl Fn(Tensor<AD, 5>, Tensor<AD, 5>) -> Tensor<AD, 2>,
) -> (Vec<u32>, Vec<u32>) {
    let means = means.clone().require_grad();
    let d = distances(means.clone(), target.clone());
    let grads = (d.clone() * r.clone()).sum().backward();
    (bits(d), bits(means.grad(&grads).unwrap()))
}

const SHAPES: [(usize, usize, [usize; 3]); 4] = [(1, 1, [1, 1, 1]), (3, 5, [3, 4, 5]), (2, 4, [16, 16, 16]), (8, 4, [7, 9, 11])];

#[test]
fn distances_and_their_gradient_are_burns_bits() {
    let device = Default::default();
    for (n, m, [d, h, w]) in SHAPES {
        let means = Tensor::<AD, 5>::random([n, m, d, h, w], Distribution::Normal(0.0, 1.0), &device);
        let target = Tensor::<AD, 5>::random([n, 1, d, h, w], Distribution::Normal(0.0, 1.0), &device);
        let r = Tensor::<AD, 2>::random([n, m], Distribution::Uniform(-2.0, 2.0), &device);
        let ours = with_gradient(&means, &target, &r, squared_distances);
        let burns = with_gradient(&means, &target, &r, composite);
        assert_eq!(ours.0, burns.0, "distances differ for {n}x{m}x{d}x{h}x{w}");
        assert_eq!(ours.1, burns.1, "gradients differ for {n}x{m}x{d}x{h}x{w}");
        let inference = squared_distances(means.clone().inner(), target.clone().inner());
        assert_eq!(bits(inference), burns.0, "without autodiff, {n}x{m}x{d}x{h}x{w}");
    }
}

#[test]
fn a_tracked_target_gets_burns_gradient() {
    let device = Default::default();
    let means = Tensor::<AD, 5>::random([3, 4, 5, 6, 7], Distribution::Normal(0.0, 1.0), &device);
    let target = Tensor::<AD, 5>::random([3, 1, 5, 6, 7], Distribution::Normal(0.0, 1.0), &device);
    let r = Tensor::<AD, 2>::random([3, 4], Distribution::Uniform(-2.0, 2.0), &device);
    let grad_of = |distances: fn(Tensor<AD, 5>, Tensor<AD, 5>) -> Tensor<AD, 2>| {
        let target = target.clone().require_grad();
        let grads = (distances(means.clone(), target.clone()) * r.clone()).sum().backward();
        target.grad(&grads).unwrap().into_data().to_vec::<f32>().unwrap()
    };
    let (ours, burns) = (grad_of(squared_distances), grad_of(composite));
    let scale = burns.iter().fold(0.0f32, |a, b| a.max(b.abs()));
    let worst = ours.iter().zip(&burns).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(worst <= 1e-6 * scale, "target gradients differ by {worst} (scale {scale})");
}

#[test]
fn a_target_per_component_falls_back_to_burns_composite() {
    // Our kernels take one target per sample ([n, 1, ...]); a target per
    // component ([n, m, ...]) is left to burn, with burn's result.
    let device = Default::default();
    let means = Tensor::<Flex, 5>::random([2, 3, 2, 3, 4], Distribution::Normal(0.0, 1.0), &device);
    let target = Tensor::<Flex, 5>::random([2, 3, 2, 3, 4], Distribution::Normal(0.0, 1.0), &device);
    let ours = squared_distances(means.clone(), target.clone());
    assert_eq!(ours.dims(), [2, 3]);
    assert_eq!(bits(ours), bits(composite(means, target)));
}
