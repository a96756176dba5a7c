//! Silent ("dead") encoder channels: ReLU channels whose output is 0 at
//! every voxel of every patch looked at. Such a channel carries nothing to
//! the features `encode` writes, and no gradient reaches its weights, so
//! training cannot revive it.

use super::data::{PatchSet, batch};
use super::model::Gmcae;
use crate::models::kernels::KernelBackend;

/// For each encoder block (1-based position = index + 1), the channels of
/// its output that are 0 everywhere on the patches `idx` of `set`, looked
/// at `batch_size` patches at a time.
pub fn silent_channels<B: KernelBackend>(
    model: &Gmcae<B>,
    blocks: usize,
    set: &PatchSet,
    idx: &[usize],
    batch_size: usize,
    device: &B::Device,
) -> Vec<Vec<usize>> {
    (1..=blocks)
        .map(|b| {
            let mut loudest: Vec<f32> = Vec::new();
            for chunk in idx.chunks(batch_size.max(1)) {
                let out = model.encode_first(batch::<B>(set, chunk, None, device), b); // [n, C, z, y, x]
                let [n, c, z, y, x] = out.dims();
                let per_channel = out.swap_dims(0, 1).reshape([c, n * z * y * x]).max_dim(1);
                let values: Vec<f32> = per_channel.into_data().convert::<f32>().to_vec().expect("float maxima");
                if loudest.is_empty() {
                    loudest = values;
                } else {
                    loudest.iter_mut().zip(values).for_each(|(l, v)| *l = l.max(v));
                }
            }
            loudest.iter().enumerate().filter(|&(_, &v)| v <= 0.0).map(|(c, _)| c).collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::gmcae::model::GmcaeShape;

    type B = burn::backend::Flex;

    fn patches(edge: usize) -> PatchSet {
        let n = edge * edge * edge;
        // Air with a solid ball, and a ramp: some voxels of each sign.
        let ball: Vec<f32> = (0..n)
            .map(|i| {
                let (z, y, x) = (i / (edge * edge), i / edge % edge, i % edge);
                let d = [z, y, x].iter().map(|&v| (v as f32 - edge as f32 / 2.0).powi(2)).sum::<f32>();
                if d < 16.0 { 0.1 } else { -0.85 }
            })
            .collect();
        let ramp: Vec<f32> = (0..n).map(|i| i as f32 / n as f32 * 2.0 - 1.0).collect();
        PatchSet::new(edge, vec![("a".to_string(), ball), ("b".to_string(), ramp)])
    }

    /// A plain loop over the same outputs: the channels never above 0.
    fn by_loop(model: &Gmcae<B>, blocks: usize, set: &PatchSet, device: &burn::backend::flex::FlexDevice) -> Vec<usize> {
        let out = model.encode_first(batch::<B>(set, &[0, 1], None, device), blocks);
        let [n, c, z, y, x] = out.dims();
        let v: Vec<f32> = out.into_data().convert::<f32>().to_vec().unwrap();
        let per = z * y * x;
        (0..c).filter(|&ch| (0..n).all(|k| v[(k * c + ch) * per..(k * c + ch + 1) * per].iter().all(|&a| a <= 0.0))).collect()
    }

    #[test]
    fn a_channel_whose_bias_is_far_below_zero_is_silent_and_the_others_match_a_plain_loop() {
        let device = Default::default();
        let shape = GmcaeShape { widths: vec![4, 6], mixtures: 2, edge: 8, variance_floor: 1e-4, hidden: 4 };
        // Silence channel 2 of block 2's last convolution: a bias of -1e6.
        let model: Gmcae<B> = shape.init(&device).with_encoder_bias(3, 2, -1.0e6);
        let set = patches(8);
        let silent = silent_channels(&model, 2, &set, &[0, 1], 1, &device);
        assert_eq!(silent.len(), 2);
        assert!(silent[1].contains(&2), "{silent:?}");
        assert_eq!(silent[0], by_loop(&model, 1, &set, &device));
        assert_eq!(silent[1], by_loop(&model, 2, &set, &device));
    }
}
