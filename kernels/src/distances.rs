//! The mixture loss's squared distances between each component's mean cube
//! and the target patch, and their gradient, on both cores.
//!
//! Each value is computed with the same float32 operations in the same order
//! as burn flex's composite (`(means − target)²` summed over the voxels from
//! the first to the last, without burn's optional SIMD kernels), so a model
//! trained with these kernels has the same bits as one trained without them;
//! only the work is spread over rows and no broadcast is iterated element by
//! element.

use rayon::prelude::*;

/// The sizes of one call: `samples` targets of `voxels` values, and
/// `components` means for each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sizes {
    /// Targets in the batch (n).
    pub samples: usize,
    /// Mixture components per target (m).
    pub components: usize,
    /// Voxels per patch (c).
    pub voxels: usize,
}

impl Sizes {
    fn check(&self, means: &[f32], target: &[f32]) {
        let Sizes { samples, components, voxels } = *self;
        assert_eq!(means.len(), samples * components * voxels, "means are not [n, m, c] for {self:?}");
        assert_eq!(target.len(), samples * voxels, "targets are not [n, c] for {self:?}");
    }

    /// The target that row r (sample r / m, component r % m) is compared with.
    fn target_of<'a>(&self, target: &'a [f32], row: usize) -> &'a [f32] {
        &target[row / self.components * self.voxels..][..self.voxels]
    }
}

/// ‖t_i − μ_ik‖² for means `[n, m, c]` and targets `[n, c]`, as `[n, m]`.
pub fn squared_distances(means: &[f32], target: &[f32], sizes: Sizes) -> Vec<f32> {
    sizes.check(means, target);
    means
        .par_chunks_exact(sizes.voxels.max(1))
        .enumerate()
        .map(|(row, mean)| {
            let t = sizes.target_of(target, row);
            mean.iter().zip(t).map(|(&mu, &x)| (mu - x) * (mu - x)).sum::<f32>()
        })
        .collect()
}

/// ∂L/∂μ of [`squared_distances`] given ∂L/∂(distance) `grad` (`[n, m]`):
/// 2 (μ − t) ∂L/∂d, as `[n, m, c]`, rounded as burn's autodiff rounds it
/// (the product with the difference, doubled).
pub fn squared_distances_grad(means: &[f32], target: &[f32], grad: &[f32], sizes: Sizes) -> Vec<f32> {
    sizes.check(means, target);
    assert_eq!(grad.len(), sizes.samples * sizes.components, "the gradient is not [n, m] for {sizes:?}");
    let mut out = vec![0.0f32; means.len()];
    out.par_chunks_exact_mut(sizes.voxels.max(1)).zip(means.par_chunks_exact(sizes.voxels.max(1))).enumerate().for_each(
        |(row, (out, mean))| {
            let (t, g) = (sizes.target_of(target, row), grad[row]);
            for ((o, &mu), &x) in out.iter_mut().zip(mean).zip(t) {
                let part = g * (mu - x);
                *o = part + part;
            }
        },
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic values in [-1, 1) with some exact zeros.
    fn values(len: usize, seed: u32) -> Vec<f32> {
        (0..len as u32)
            .map(|i| {
                let h = i.wrapping_mul(2_654_435_761).wrapping_add(seed.wrapping_mul(40_503)) >> 8;
                if h % 17 == 0 { 0.0 } else { (h % 65_536) as f32 / 32_768.0 - 1.0 }
            })
            .collect()
    }

    #[test]
    fn distances_match_a_float64_sum_and_rows_pair_with_their_sample() {
        let sizes = Sizes { samples: 3, components: 4, voxels: 1001 };
        let (means, target) = (values(3 * 4 * 1001, 1), values(3 * 1001, 2));
        let d = squared_distances(&means, &target, sizes);
        assert_eq!(d.len(), 12);
        for (row, &v) in d.iter().enumerate() {
            let t = &target[row / 4 * 1001..][..1001];
            let exact: f64 = means[row * 1001..][..1001].iter().zip(t).map(|(&a, &b)| (a as f64 - b as f64).powi(2)).sum();
            assert!((v as f64 - exact).abs() <= 1e-5 * exact, "row {row}: {v} vs {exact}");
        }
    }

    #[test]
    fn the_gradient_is_twice_the_difference_times_the_upstream_gradient() {
        let sizes = Sizes { samples: 2, components: 3, voxels: 5 };
        let (means, target, grad) = (values(30, 3), values(10, 4), values(6, 5));
        let g = squared_distances_grad(&means, &target, &grad, sizes);
        for (i, &v) in g.iter().enumerate() {
            let (row, voxel) = (i / 5, i % 5);
            let exact = 2.0 * grad[row] as f64 * (means[i] as f64 - target[row / 3 * 5 + voxel] as f64);
            assert!((v as f64 - exact).abs() <= 1e-6 * exact.abs().max(1e-30), "element {i}: {v} vs {exact}");
        }
    }

    #[test]
    #[should_panic(expected = "targets are not [n, c]")]
    fn mismatched_sizes_are_refused() {
        squared_distances(&[0.0; 8], &[0.0; 3], Sizes { samples: 2, components: 2, voxels: 2 });
    }
}
