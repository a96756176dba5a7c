//! ∂L/∂x = col2im(Wᵀ · ∂L/∂y), per tile; each task owns some input
//! channels of one sample, so the overlapping sums of col2im never race.
//! With stride 1 it is a plain convolution instead (no scattered sums).

use rayon::prelude::*;

use super::lowering::col2im_add;
use super::{Geometry, TILE, forward, zeros};
use crate::gemm::{MatRef, gemm};

/// The gradient with respect to the input ([batch, c_in, D, H, W]) of a
/// convolution with `weight` ([c_out, c_in, kD, kH, kW]), given the
/// gradient `grad_out` ([batch, c_out, output]). This is also the forward
/// pass of the transposed convolution whose input is `grad_out`.
pub fn input_grad(grad_out: &[f32], weight: &[f32], g: &Geometry) -> Vec<f32> {
    let [nx, nw, ny] = g.sizes();
    assert_eq!((grad_out.len(), weight.len()), (ny, nw), "conv input gradient: sizes do not match {g:?}");
    if g.stride == [1; 3] && (0..3).all(|a| g.padding[a] < g.kernel[a]) {
        return as_convolution(grad_out, weight, g);
    }
    let (vox, taps, in_vox) = (g.output_voxels(), g.taps(), g.input_voxels());
    // Channel groups per sample: enough tasks for every thread, whole channels each.
    let per = g.c_in.div_ceil((4 * rayon::current_num_threads()).div_ceil(g.batch).clamp(1, g.c_in));
    let mut grad_x = zeros(nx);
    grad_x.par_chunks_mut(g.c_in * in_vox).enumerate().for_each(|(n, sample)| {
        let grads = &grad_out[n * g.c_out * vox..][..g.c_out * vox];
        sample.par_chunks_mut(per * in_vox).enumerate().for_each(|(group, channels)| {
            let c0 = group * per;
            let rows = c0 * taps..(c0 + channels.len() / in_vox) * taps;
            // Wᵀ rows for these channels: a column block of W [c_out, rows].
            let wt = MatRef { data: &weight[rows.start..], rows: rows.len(), cols: g.c_out, row_stride: 1, col_stride: g.rows() };
            let mut lowered = vec![0.0; rows.len() * TILE];
            for v0 in (0..vox).step_by(TILE) {
                let len = TILE.min(vox - v0);
                let lowered = &mut lowered[..rows.len() * len];
                let dy = MatRef { data: &grads[v0..], rows: g.c_out, cols: len, row_stride: vox, col_stride: 1 };
                gemm(lowered, len, wt, dy, false);
                col2im_add(lowered, g, rows.clone(), v0, len, channels);
            }
        });
    });
    grad_x
}

/// With stride 1, ∂L/∂x is the convolution of ∂L/∂y, padded by k − 1 − p,
/// with the kernel flipped and its input and output channels swapped.
fn as_convolution(grad_out: &[f32], weight: &[f32], g: &Geometry) -> Vec<f32> {
    let taps = g.taps();
    let mut flipped = vec![0.0; weight.len()];
    for (r, row) in weight.chunks(taps).enumerate() {
        let (co, ci) = (r / g.c_in, r % g.c_in);
        let to = &mut flipped[(ci * g.c_out + co) * taps..][..taps];
        to.iter_mut().zip(row.iter().rev()).for_each(|(t, &w)| *t = w);
    }
    let padding = std::array::from_fn(|a| g.kernel[a] - 1 - g.padding[a]);
    let h = Geometry::conv(g.batch, g.c_out, g.c_in, g.output, g.kernel, [1; 3], padding);
    assert_eq!(h.output, g.input, "stride-1 input gradient: sizes do not invert");
    forward(grad_out, &flipped, None, &h)
}
