//! Applying a trained encoder to a whole (cropped) lung volume, in z-slabs
//! with a halo so that the result equals encoding the volume in one piece.

use burn::prelude::*;

use super::model::Gmcae;
use crate::models::kernels::KernelBackend;

/// A feature map: `channels` × `shape` code voxels, z-major per channel
/// inside each z-slice (`[z][c][y][x]`).
#[derive(Clone, Debug, PartialEq)]
pub struct FeatureMap {
    /// Code channels.
    pub channels: usize,
    /// Code voxels `[z, y, x]`.
    pub shape: [usize; 3],
    /// `shape[0] * channels * shape[1] * shape[2]` values.
    pub data: Vec<f32>,
}

/// Input voxels a code voxel's value can depend on, on each side, for an
/// encoder of `blocks` blocks of two 3³ convolutions (the second strided).
pub fn receptive_radius(blocks: usize) -> usize {
    // Each block adds one voxel per convolution at its own scale 2^b.
    (0..blocks).map(|b| 2 << b).sum()
}

/// Encodes a volume `[z, y, x]` of scaled values with the first `blocks`
/// encoder blocks (edges must be multiples of 2^blocks), `slab` code slices
/// at a time.
pub fn encode_volume<B: KernelBackend>(
    model: &Gmcae<B>,
    blocks: usize,
    volume: &[f32],
    shape: [usize; 3],
    slab: usize,
    device: &B::Device,
) -> FeatureMap {
    let step = 1usize << blocks;
    let [nz, ny, nx] = shape;
    let code = [nz / step, ny / step, nx / step];
    // The halo, rounded up to whole code voxels so strides stay aligned.
    let halo = receptive_radius(blocks).div_ceil(step);
    let mut channels = 0;
    let mut data = Vec::new();
    let plane = ny * nx;
    for c0 in (0..code[0]).step_by(slab.max(1)) {
        let c1 = (c0 + slab.max(1)).min(code[0]);
        let (h0, h1) = (c0.saturating_sub(halo), (c1 + halo).min(code[0]));
        let (z0, z1) = (h0 * step, h1 * step);
        let input = Tensor::<B, 5>::from_data(TensorData::new(volume[z0 * plane..z1 * plane].to_vec(), [1, 1, z1 - z0, ny, nx]), device);
        let out = model.encode_first(input, blocks); // [1, C, h1 - h0, code_y, code_x]
        let [_, c, _, cy, cx] = out.dims();
        channels = c;
        let values: Vec<f32> = out.into_data().convert::<f32>().to_vec().expect("float features");
        let per_channel = (h1 - h0) * cy * cx;
        for z in c0..c1 {
            let local = z - h0;
            for ch in 0..c {
                let start = ch * per_channel + local * cy * cx;
                data.extend_from_slice(&values[start..start + cy * cx]);
            }
        }
    }
    FeatureMap { channels, shape: code, data }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::gmcae::model::GmcaeShape;
    use burn::backend::Flex;

    #[test]
    fn slabs_with_a_halo_give_the_same_features_as_one_piece() {
        let device = Default::default();
        let shape = GmcaeShape { widths: vec![3, 5], mixtures: 2, edge: 8, variance_floor: 1e-4, hidden: 4 };
        let model: Gmcae<Flex> = shape.init(&device);
        let dims = [40, 12, 8];
        let volume: Vec<f32> = (0..dims.iter().product::<usize>()).map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0).collect();
        let whole = encode_volume(&model, 2, &volume, dims, 1000, &device);
        assert_eq!(whole.shape, [10, 3, 2]);
        assert_eq!(whole.channels, 5);
        for slab in [1, 3, 4] {
            let tiled = encode_volume(&model, 2, &volume, dims, slab, &device);
            let worst = whole.data.iter().zip(&tiled.data).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
            assert_eq!(tiled.data.len(), whole.data.len());
            assert!(worst < 1e-5, "slab {slab}: max difference {worst}");
        }
    }

    #[test]
    fn the_halo_covers_the_receptive_field() {
        assert_eq!(receptive_radius(3), 2 + 4 + 8);
        assert_eq!(receptive_radius(1), 2);
    }
}
