//! The zero-padded input the lowering-free paths read: whole samples, or
//! the few depth planes one output plane needs; where each lowered row's tap
//! reads in them; and an output that parallel tasks write at disjoint places.

use rayon::prelude::*;

use super::{Geometry, with_scratch};

/// The padded input's depth, height and width.
pub(super) fn padded_dims(g: &Geometry) -> [usize; 3] {
    std::array::from_fn(|a| g.input[a] + 2 * g.padding[a])
}

/// Writes `planes` depth planes of one zero-padded sample ([c_in, D, H, W]),
/// from padded depth `z0` on, to `out` as [c_in][planes][Hp][Wp]; every
/// element is written once (input values, or zeros in the padding).
pub(super) fn fill_planes(sample: &[f32], g: &Geometry, z0: usize, planes: usize, out: &mut [f32]) {
    let ([d, h, w], [pd, ph, pw], [_, hp, wp]) = (g.input, g.padding, padded_dims(g));
    for (i, plane) in out[..g.c_in * planes * hp * wp].chunks_exact_mut(hp * wp).enumerate() {
        let (c, z) = (i / planes, z0 + i % planes);
        if z < pd || z - pd >= d {
            plane.fill(0.0);
            continue;
        }
        let src = &sample[(c * d + z - pd) * h * w..][..h * w];
        plane[..ph * wp].fill(0.0);
        plane[(ph + h) * wp..].fill(0.0);
        for (row, line) in plane[ph * wp..(ph + h) * wp].chunks_exact_mut(wp).zip(src.chunks_exact(w)) {
            row[..pw].fill(0.0);
            row[pw..pw + w].copy_from_slice(line);
            row[pw + w..].fill(0.0);
        }
    }
}

/// Every sample of `x`, padded whole.
pub(super) fn padded_samples(x: &[f32], g: &Geometry) -> Vec<Vec<f32>> {
    let planes = padded_dims(g)[0];
    x.par_chunks_exact(g.c_in * g.input_voxels())
        .map(|s| {
            let mut out = vec![0.0; g.c_in * padded_dims(g).iter().product::<usize>()];
            fill_planes(s, g, 0, planes, &mut out);
            out
        })
        .collect()
}

/// Where each lowered row's tap reads, relative to an output voxel's corner,
/// in row order, in padded planes stored [c_in][planes][Hp][Wp].
pub(super) fn row_offsets(g: &Geometry, planes: usize) -> Vec<usize> {
    let [_, hp, wp] = padded_dims(g);
    (0..g.rows())
        .map(|r| {
            let (ci, [kd, kh, kw]) = g.split_row(r);
            ((ci * planes + kd) * hp + kh) * wp + kw
        })
        .collect()
}

/// The corner in the padded sample of output voxel (od, oh, ow).
pub(super) fn corner(g: &Geometry, [od, oh, ow]: [usize; 3]) -> usize {
    let [_, hp, wp] = padded_dims(g);
    (od * g.stride[0] * hp + oh * g.stride[1]) * wp + ow * g.stride[2]
}

/// Panics unless the last output voxel's last read (its corner, with depth
/// `last_depth`, plus the largest offset) lies inside `len` floats.
pub(super) fn check_reads(g: &Geometry, offsets: &[usize], last_depth: usize, len: usize) {
    let [_, oh, ow] = g.output.map(|o| o.saturating_sub(1));
    let reach = corner(g, [last_depth, oh, ow]) + offsets.iter().max().copied().unwrap_or(0);
    assert!(reach < len, "convolution reads outside the padded input: {g:?}");
}

/// Calls `f(n, od, slab, offsets)` for every sample n and output depth od,
/// spread over rayon's threads: `slab` holds the padded input planes that
/// output plane reads ([c_in][kernel depth][Hp][Wp], in the thread's
/// reused scratch buffer), `offsets` where each lowered row's tap reads in
/// it from a voxel's corner (depth 0). Every read is checked once to stay
/// inside the slab.
pub(super) fn for_each_output_plane(x: &[f32], g: &Geometry, f: impl Fn(usize, usize, &[f32], &[usize]) + Sync) {
    let (planes, [_, hp, wp]) = (g.kernel[0], padded_dims(g));
    let (slab_len, sample_len) = (g.c_in * planes * hp * wp, g.c_in * g.input_voxels());
    let offsets = row_offsets(g, planes);
    check_reads(g, &offsets, 0, slab_len);
    let od_n = g.output[0];
    (0..g.batch * od_n).into_par_iter().for_each(|task| {
        let (n, od) = (task / od_n, task % od_n);
        with_scratch(slab_len, |slab| {
            fill_planes(&x[n * sample_len..][..sample_len], g, od * g.stride[0], planes, slab);
            f(n, od, slab, &offsets);
        })
    });
}

/// `len` floats that `fill` writes through the [`Shared`] pointer it is
/// given, with no zeroing first (tasks that write every element of an
/// output need none; zeroing a large one is a pass over memory, serial when
/// the heap hands back used memory).
///
/// # Safety
/// `fill` must write every one of the `len` elements before it returns and
/// read none before writing it.
pub(super) unsafe fn written_by(len: usize, fill: impl FnOnce(Shared)) -> Vec<f32> {
    let mut y = Vec::with_capacity(len);
    fill(Shared(y.as_mut_ptr()));
    // SAFETY: the caller's promise: `fill` initialised all `len` elements.
    unsafe { y.set_len(len) };
    y
}

/// The output, written by several tasks at disjoint places.
#[derive(Clone, Copy)]
pub(super) struct Shared(pub(super) *mut f32);

impl Shared {
    /// Element `i`'s address.
    pub(super) fn at(self, i: usize) -> *mut f32 {
        self.0.wrapping_add(i)
    }
}

// SAFETY: the tasks that share it write disjoint elements (each user says why).
unsafe impl Send for Shared {}
// SAFETY: as above.
unsafe impl Sync for Shared {}
