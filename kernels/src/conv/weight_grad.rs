//! ∂L/∂W = Σ over samples and voxels of ∂L/∂y · im2col(x)ᵀ: one product
//! whose inner dimension runs over every output voxel of the batch (for few
//! output channels on AVX-512, the same sums without lowering).

use rayon::prelude::*;

use super::lowering::im2col;
use super::{Geometry, TILE};
use crate::gemm::{MatRef, gemm};

/// The gradient with respect to the weight ([c_out, c_in, kD, kH, kW]) of
/// a convolution of `x` ([batch, c_in, D, H, W]), given the gradient
/// `grad_out` ([batch, c_out, output]).
pub fn weight_grad(x: &[f32], grad_out: &[f32], g: &Geometry) -> Vec<f32> {
    let [nx, _, ny] = g.sizes();
    assert_eq!((x.len(), grad_out.len()), (nx, ny), "conv weight gradient: sizes do not match {g:?}");
    #[cfg(target_arch = "x86_64")]
    if super::direct::fits(g) {
        return super::direct::weight_grad(x, grad_out, g);
    }
    lowered(x, grad_out, g)
}

/// [`weight_grad`] through lowered tiles and [`gemm`] (any CPU, any width).
pub(super) fn lowered(x: &[f32], grad_out: &[f32], g: &Geometry) -> Vec<f32> {
    let nw = g.sizes()[1];
    let (vox, in_vox, k) = (g.output_voxels(), g.input_voxels(), g.rows());
    // Blocks of (lowered rows x output channels), enough for every thread.
    let want = 4 * rayon::current_num_threads();
    let row_blocks = want.min(k.div_ceil(16)).max(1);
    let rows_per = k.div_ceil(row_blocks);
    let out_per = g.c_out.div_ceil(want.div_ceil(k.div_ceil(rows_per)).min(g.c_out));
    let blocks: Vec<(usize, usize)> = (0..k).step_by(rows_per).flat_map(|r| (0..g.c_out).step_by(out_per).map(move |c| (r, c))).collect();
    let sums: Vec<Vec<f32>> = blocks
        .par_iter()
        .map(|&(r0, c0)| {
            let (rows, outs) = (r0..(r0 + rows_per).min(k), c0..(c0 + out_per).min(g.c_out));
            // ∂L/∂Wᵀ block [rows, outs] += im2col(x)[rows, tile] · (∂L/∂y)[outs, tile]ᵀ
            let mut sum = vec![0.0; rows.len() * outs.len()];
            let mut lowered = vec![0.0; rows.len() * TILE];
            for n in 0..g.batch {
                let sample = &x[n * g.c_in * in_vox..][..g.c_in * in_vox];
                for v0 in (0..vox).step_by(TILE) {
                    let len = TILE.min(vox - v0);
                    let lowered = &mut lowered[..rows.len() * len];
                    im2col(sample, g, rows.clone(), v0, len, lowered);
                    let dy = &grad_out[(n * g.c_out + outs.start) * vox + v0..];
                    let dyt = MatRef { data: dy, rows: len, cols: outs.len(), row_stride: 1, col_stride: vox };
                    gemm(&mut sum, outs.len(), MatRef::row_major(lowered, rows.len(), len), dyt, true);
                }
            }
            sum
        })
        .collect();
    let mut grad_w = vec![0.0; nw];
    for (&(r0, c0), sum) in blocks.iter().zip(&sums) {
        let cols = out_per.min(g.c_out - c0);
        for (i, row) in sum.chunks(cols).enumerate() {
            for (j, &v) in row.iter().enumerate() {
                grad_w[(c0 + j) * k + r0 + i] = v;
            }
        }
    }
    grad_w
}
