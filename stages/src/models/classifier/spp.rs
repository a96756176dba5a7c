//! Spatial pyramid max pooling: a fixed-length vector from a feature map of
//! any size.

use std::ops::Range;

use burn::prelude::*;

/// Bin `i` of `levels` along an axis of `n` voxels: `floor(i·n/L)` up to
/// `ceil((i+1)·n/L)`, so bins are never empty and cover the axis (adjacent
/// bins overlap by a voxel when `L` does not divide `n`).
pub fn bin(i: usize, levels: usize, n: usize) -> Range<usize> {
    (i * n / levels)..((i + 1) * n).div_ceil(levels)
}

/// Length of the pooled vector for `channels` channels.
pub fn pooled_len(channels: usize, levels: &[usize]) -> usize {
    channels * levels.iter().map(|l| l * l * l).sum::<usize>()
}

/// Max-pools `[n, c, z, y, x]` into `L³` bins per level: `[n, c·Σ L³]`,
/// level by level, bins z-major, channels innermost.
///
/// The max over a box is taken one axis at a time (x, then y, then z), so
/// a level costs 3·L slices of ever smaller tensors instead of L³ slices of
/// the whole map, each of whose gradients would be a full-size tensor.
pub fn spatial_pyramid_pool<B: Backend>(x: Tensor<B, 5>, levels: &[usize]) -> Tensor<B, 2> {
    let [n, c, ..] = x.dims();
    let parts = levels
        .iter()
        .map(|&l| {
            let cells = pool_axis(pool_axis(pool_axis(x.clone(), 4, l), 3, l), 2, l); // [n, c, l, l, l]
            cells.permute([0, 2, 3, 4, 1]).reshape([n, l * l * l * c])
        })
        .collect();
    Tensor::cat(parts, 1)
}

/// The max over each of `levels` bins along `axis`: that axis becomes `levels` long.
fn pool_axis<B: Backend>(x: Tensor<B, 5>, axis: usize, levels: usize) -> Tensor<B, 5> {
    let size = x.dims()[axis];
    let bins = (0..levels)
        .map(|i| {
            let b = bin(i, levels, size);
            x.clone().narrow(axis, b.start, b.len()).max_dim(axis)
        })
        .collect();
    Tensor::cat(bins, axis)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;

    #[test]
    fn bins_cover_every_axis_and_are_never_empty() {
        for n in 1..20 {
            for l in [1, 2, 3, 4] {
                let bins: Vec<_> = (0..l).map(|i| bin(i, l, n)).collect();
                assert_eq!(bins[0].start, 0);
                assert_eq!(bins[l - 1].end, n);
                for w in bins.windows(2) {
                    assert!(w[1].start <= w[0].end, "n {n} l {l}: gap between {:?} and {:?}", w[0], w[1]);
                }
                assert!(bins.iter().all(|b| b.end > b.start), "n {n} l {l}: {bins:?}");
            }
        }
    }

    #[test]
    fn pooling_matches_a_plain_loop_for_odd_sizes() {
        let dims = [2, 3, 5, 3, 7];
        let count: usize = dims.iter().product();
        let values: Vec<f32> = (0..count).map(|i| ((i * 7919) % 1009) as f32 / 100.0 - 5.0).collect();
        let x = Tensor::<Flex, 5>::from_data(TensorData::new(values.clone(), dims), &Default::default());
        let levels = [1, 2, 4];
        let got: Vec<f32> = spatial_pyramid_pool(x, &levels).into_data().to_vec().unwrap();
        let [n, c, d0, d1, d2] = dims;
        assert_eq!(got.len(), n * pooled_len(c, &levels));
        let mut expected = Vec::new();
        for s in 0..n {
            for &l in &levels {
                for i in 0..l {
                    for j in 0..l {
                        for k in 0..l {
                            for ch in 0..c {
                                let mut m = f32::NEG_INFINITY;
                                for z in bin(i, l, d0) {
                                    for y in bin(j, l, d1) {
                                        for xx in bin(k, l, d2) {
                                            m = m.max(values[(((s * c + ch) * d0 + z) * d1 + y) * d2 + xx]);
                                        }
                                    }
                                }
                                expected.push(m);
                            }
                        }
                    }
                }
            }
        }
        assert_eq!(got, expected);
    }
}
