//! The phases of a strided convolution's input: for stride s, phase φ of
//! an axis holds input voxels φ, φ + s, φ + 2s, ... Where every tap k
//! satisfies k − padding < s (a 3³ kernel with stride 2 and padding 1, for
//! one), tap k reads, from output voxel o, element o + ⌊(k − padding)/s⌋ of
//! phase (k − padding) mod s, a shift of 0 or less: each lowered row is then
//! a shifted copy of one phase volume, as for a stride-1 "same"
//! convolution, instead of a gather of every s-th voxel.

use rayon::prelude::*;

use super::Geometry;

/// Whether `g` is strided and every tap reads its phase at a shift ≤ 0.
pub(super) fn splits_into_phases(g: &Geometry) -> bool {
    g.stride != [1, 1, 1] && (0..3).all(|a| g.kernel[a] <= g.stride[a] + g.padding[a])
}

/// Phases per input channel.
pub(super) fn phase_count(g: &Geometry) -> usize {
    g.stride.iter().product()
}

/// The phase and the shift tap `k` of an axis reads: (k − p) = s·shift + phase.
pub(super) fn phase_of(k: usize, s: usize, p: usize) -> (usize, isize) {
    let t = k as isize - p as isize;
    (t.rem_euclid(s as isize) as usize, t.div_euclid(s as isize))
}

/// The phase volumes of every sample and channel of `x` ([batch, c_in, D,
/// H, W]), each of the output's size, zero where the phase has no voxel:
/// [batch, c_in, phase (z-major), Do, Ho, Wo].
pub(super) fn split_phases(x: &[f32], g: &Geometry) -> Vec<f32> {
    let ([d, h, w], [_, oh, ow], [sd, sh, sw]) = (g.input, g.output, g.stride);
    let (in_vox, out_vox, phases) = (g.input_voxels(), g.output_voxels(), phase_count(g));
    let mut out = vec![0.0; g.batch * g.c_in * phases * out_vox];
    out.par_chunks_mut(phases * out_vox).enumerate().for_each(|(channel, dst)| {
        let src = &x[channel * in_vox..][..in_vox];
        for (phase, vol) in dst.chunks_mut(out_vox).enumerate() {
            let (pd, ph, pw) = (phase / (sh * sw), phase / sw % sh, phase % sw);
            for (jd, plane) in vol.chunks_mut(oh * ow).enumerate() {
                let id = jd * sd + pd;
                if id >= d {
                    break;
                }
                for (jh, line) in plane.chunks_mut(ow).enumerate() {
                    let ih = jh * sh + ph;
                    if ih >= h {
                        break;
                    }
                    let row = &src[(id * h + ih) * w..][..w];
                    for (o, v) in line.iter_mut().zip(row.iter().skip(pw).step_by(sw)) {
                        *o = *v;
                    }
                }
            }
        }
    });
    out
}
