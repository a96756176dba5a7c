//! y = W ⋆ x + b one output plane at a time, with the lowered input written
//! straight into the product's packed panels: for wide layers (more than
//! 16 output channels), where the product is most of the work.
//!
//! A task pads the kernel-depth input planes its output plane reads (a
//! small, reused buffer), and the product, [`gemm_source`], asks a
//! [`PanelSource`] for each panel of lowered values it needs: each is copied
//! from the padded planes, one run per output line. Nothing lowered is
//! written whole and packed again, and the product writes the output plane
//! in place. Same bits as [`lowered`](super::forward::lowered): the same
//! chains over the same lowered values, padding as +0.0.

use std::ops::Range;

use super::Geometry;
use super::padding::{Shared, for_each_output_plane, padded_dims, written_by};
use crate::gemm::{MatRef, PanelSource, gemm_source};

/// The lowered input of one output plane, read from its padded planes.
struct PlaneLowering<'a> {
    /// The padded planes, [c_in][kernel depth][Hp][Wp].
    slab: &'a [f32],
    /// Where each lowered row's tap reads, relative to a voxel's corner.
    offsets: &'a [usize],
    /// Output height and width.
    lines: [usize; 2],
    /// Distance in the slab between output lines, and between voxels of a line.
    steps: [usize; 2],
}

impl PanelSource for PlaneLowering<'_> {
    fn fill(&self, dst: &mut [f32], width: usize, ks: Range<usize>, cols: Range<usize>) {
        let [_, ow_n] = self.lines;
        let [line_step, step] = self.steps;
        let depth = ks.len();
        for (i, panel) in dst.chunks_exact_mut(depth * width).take(cols.len().div_ceil(width)).enumerate() {
            let first = cols.start + i * width;
            let end = (first + width).min(cols.end);
            if end - first < width {
                panel.fill(0.0);
            }
            // One run per output line the panel's voxels lie on.
            let mut v = first;
            while v < end {
                let (oh, ow) = (v / ow_n, v % ow_n);
                let len = (ow_n - ow).min(end - v);
                let corner = oh * line_step + ow * step;
                let lane = v - first;
                for (p, &offset) in self.offsets[ks.clone()].iter().enumerate() {
                    let to = &mut panel[p * width + lane..][..len];
                    let from = &self.slab[corner + offset..];
                    if step == 1 {
                        to.copy_from_slice(&from[..len]);
                    } else {
                        to.iter_mut().enumerate().for_each(|(j, t)| *t = from[j * step]);
                    }
                }
                v += len;
            }
        }
    }
}

/// The convolution of `x` with `weight` plus `bias`, as
/// [`forward`](super::forward), one output plane per task.
pub(super) fn forward(x: &[f32], weight: &[f32], bias: Option<&[f32]>, g: &Geometry) -> Vec<f32> {
    let ([_, oh_n, ow_n], vox) = (g.output, g.output_voxels());
    let wp = padded_dims(g)[2];
    let w = MatRef::row_major(weight, g.c_out, g.rows());
    let plane_len = oh_n * ow_n;
    let fill = |out: Shared| {
        for_each_output_plane(x, g, |n, od, slab, offsets| {
            let lowering = PlaneLowering { slab, offsets, lines: [oh_n, ow_n], steps: [g.stride[1] * wp, g.stride[2]] };
            let c = out.at(n * g.c_out * vox + od * plane_len);
            if let Some(b) = bias {
                for (co, &b) in b.iter().enumerate() {
                    // SAFETY: output channel co's part of this plane lies in y,
                    // and only this task touches it (stores only: y is not
                    // initialised yet).
                    (0..plane_len).for_each(|i| unsafe { c.add(co * vox + i).write(b) });
                }
            }
            // SAFETY: C is this task's plane of every output channel (rows
            // `vox` apart, `plane_len` long), inside y and touched by no other
            // task; the lowering reads inside the slab (`for_each_output_plane`).
            unsafe { gemm_source(c, vox, w, &lowering, plane_len, bias.is_some()) };
        })
    };
    // SAFETY: the tasks together write every element of y: one task per
    // (sample, output depth), the bias stored first where there is one, and
    // the product writes C without reading it unless asked to accumulate.
    unsafe { written_by(g.batch * g.c_out * vox, fill) }
}
