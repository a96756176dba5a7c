//! y = W ⋆ x + b: directly for few output channels (AVX-512), else one gemm
//! per tile: y[:, tile] = W[c_out, c_in·k³] · im2col(x)[:, tile].

use rayon::prelude::*;

use super::lowering::im2col;
use super::{Geometry, TILE, with_scratch, zeros};
use crate::gemm::{MatRef, gemm};

/// Above this many output channels the product packs its lowered input, so
/// lowering straight into its panels ([`super::planes`]) saves a pass; at
/// or below it, the product reads the lowered tile in place.
const PLANES_MIN_CHANNELS: usize = 16;

/// The convolution of `x` ([batch, c_in, D, H, W]) with `weight`
/// (`[c_out, c_in, kD, kH, kW]`) plus `bias` (`[c_out]`), as
/// [batch, c_out, output].
pub fn forward(x: &[f32], weight: &[f32], bias: Option<&[f32]>, g: &Geometry) -> Vec<f32> {
    let [nx, nw, _] = g.sizes();
    assert_eq!((x.len(), weight.len()), (nx, nw), "conv forward: input or weight size does not match {g:?}");
    #[cfg(target_arch = "x86_64")]
    if super::direct::fits(g) {
        return super::direct::forward(x, weight, bias, g);
    }
    if g.c_out > PLANES_MIN_CHANNELS {
        return super::planes::forward(x, weight, bias, g);
    }
    lowered(x, weight, bias, g)
}

/// [`forward`] through lowered tiles and [`gemm`] (any CPU, any width).
pub(super) fn lowered(x: &[f32], weight: &[f32], bias: Option<&[f32]>, g: &Geometry) -> Vec<f32> {
    let ny = g.sizes()[2];
    let vox = g.output_voxels();
    let tiles = vox.div_ceil(TILE);
    let w = MatRef::row_major(weight, g.c_out, g.rows());
    let blocks: Vec<Vec<f32>> = (0..g.batch * tiles)
        .into_par_iter()
        .map(|task| {
            let (n, v0) = (task / tiles, task % tiles * TILE);
            let len = TILE.min(vox - v0);
            let sample = &x[n * g.c_in * g.input_voxels()..][..g.c_in * g.input_voxels()];
            let mut out = vec![0.0; g.c_out * len];
            if let Some(b) = bias {
                for (row, &b) in out.chunks_mut(len).zip(b) {
                    row.fill(b);
                }
            }
            with_scratch(g.rows() * len, |lowered| {
                im2col(sample, g, 0..g.rows(), v0, len, lowered);
                gemm(&mut out, len, w, MatRef::row_major(lowered, g.rows(), len), bias.is_some());
            });
            out
        })
        .collect();
    let mut y = zeros(ny);
    y.par_chunks_mut(g.c_out * vox).enumerate().for_each(|(n, sample)| {
        for (t, block) in blocks[n * tiles..(n + 1) * tiles].iter().enumerate() {
            let len = block.len() / g.c_out;
            for (c, row) in block.chunks(len).enumerate() {
                sample[c * vox + t * TILE..][..len].copy_from_slice(row);
            }
        }
    });
    y
}
