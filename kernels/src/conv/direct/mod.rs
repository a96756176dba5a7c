//! Direct convolution for at most 16 output channels: no lowered tile is
//! written. The input sample is zero-padded once; then each product of a
//! weight and an input value is one lane-wide fused multiply-add whose
//! sixteen lanes are the output channels (AVX-512F).
//!
//! With few output channels, lowering costs more than the product: every
//! lowered value is written, read back and used by one FMA instruction. Here
//! each input value is read straight from the padded sample.
//!
//! Same bits as the lowering path: every output element is the same chain
//! of FMAs over the lowered rows (or the voxels) in the same order, from the
//! same start (the bias or +0.0), and padding enters as +0.0 as it does in a
//! lowered tile.

mod avx512;

use rayon::prelude::*;

use super::Geometry;
use super::padding::{Shared, check_reads, corner, for_each_output_plane, padded_dims, padded_samples, row_offsets, written_by};
use crate::gemm::Kernel;

/// Output channels one register holds.
pub(super) const LANES: usize = 16;
/// Most output voxels one forward kernel call keeps in registers.
const VOXELS: usize = 12;
/// Lowered rows one weight-gradient kernel call keeps in registers.
const ROWS: usize = 24;

/// Whether the direct kernels run this convolution: at most 16 output
/// channels, on a CPU whose chosen kernel is AVX-512.
pub(super) fn fits(g: &Geometry) -> bool {
    g.c_out <= LANES && Kernel::detect() == Kernel::Avx512
}

/// y = W ⋆ x + b, as [`forward`](super::forward) (same bits).
pub(super) fn forward(x: &[f32], weight: &[f32], bias: Option<&[f32]>, g: &Geometry) -> Vec<f32> {
    let (rows, [od_n, oh_n, ow_n], vox) = (g.rows(), g.output, g.output_voxels());
    // Row r's weights side by side: lane c is W[c][r]; lanes past c_out are 0.
    let mut w = vec![0.0; rows * LANES];
    for (c, row) in weight.chunks_exact(rows).enumerate() {
        row.iter().enumerate().for_each(|(r, &v)| w[r * LANES + c] = v);
    }
    let mut init = [0.0; LANES];
    if let Some(b) = bias {
        init[..g.c_out].copy_from_slice(b);
    }
    // One (sample, output depth) plane of every output channel per task.
    let fill = |out: Shared| {
        for_each_output_plane(x, g, |n, od, slab, offsets| {
            let mut line = vec![0.0; ow_n * LANES];
            let chunks = ow_n.div_ceil(VOXELS);
            for oh in 0..oh_n {
                let mut ow = 0;
                for i in 0..chunks {
                    let len = ow_n / chunks + usize::from(i < ow_n % chunks);
                    let x = slab.as_ptr().wrapping_add(corner(g, [0, oh, ow]));
                    // SAFETY: AVX-512F is present (`fits`); reads stay in the
                    // slab (`for_each_output_plane` checks); `w` holds rows × 16 floats
                    // and `line` len × 16 from voxel ow on.
                    unsafe { forward_voxels(len, x, offsets, w.as_ptr(), g.stride[2], &init, line[ow * LANES..].as_mut_ptr()) };
                    ow += len;
                }
                for c in 0..g.c_out {
                    let at = ((n * g.c_out + c) * od_n + od) * oh_n * ow_n + oh * ow_n;
                    for (ow, v) in line.chunks_exact(LANES).enumerate() {
                        // SAFETY: `at + ow` is inside y, and this task alone writes
                        // the (n, od) plane of each channel.
                        unsafe { *out.at(at + ow) = v[c] };
                    }
                }
            }
        })
    };
    // SAFETY: the tasks together write every element of y: one task per
    // (sample, output depth), each storing every row and voxel of that plane
    // of every output channel.
    unsafe { written_by(g.batch * g.c_out * vox, fill) }
}

/// [`avx512::forward_voxels`] for `n` (1..=VOXELS) voxels.
///
/// # Safety
/// As [`avx512::forward_voxels`].
unsafe fn forward_voxels(n: usize, x: *const f32, offsets: &[usize], w: *const f32, step: usize, init: &[f32; LANES], out: *mut f32) {
    // SAFETY: the caller's promise, passed on.
    unsafe {
        match n {
            1 => avx512::forward_voxels::<1>(x, offsets, w, step, init, out),
            2 => avx512::forward_voxels::<2>(x, offsets, w, step, init, out),
            3 => avx512::forward_voxels::<3>(x, offsets, w, step, init, out),
            4 => avx512::forward_voxels::<4>(x, offsets, w, step, init, out),
            5 => avx512::forward_voxels::<5>(x, offsets, w, step, init, out),
            6 => avx512::forward_voxels::<6>(x, offsets, w, step, init, out),
            7 => avx512::forward_voxels::<7>(x, offsets, w, step, init, out),
            8 => avx512::forward_voxels::<8>(x, offsets, w, step, init, out),
            9 => avx512::forward_voxels::<9>(x, offsets, w, step, init, out),
            10 => avx512::forward_voxels::<10>(x, offsets, w, step, init, out),
            11 => avx512::forward_voxels::<11>(x, offsets, w, step, init, out),
            _ => avx512::forward_voxels::<12>(x, offsets, w, step, init, out),
        }
    }
}

/// ∂L/∂W, as [`weight_grad`](super::weight_grad) (same bits).
pub(super) fn weight_grad(x: &[f32], grad_out: &[f32], g: &Geometry) -> Vec<f32> {
    let (rows, [od_n, oh_n, ow_n], vox) = (g.rows(), g.output, g.output_voxels());
    let offsets = row_offsets(g, padded_dims(g)[0]);
    check_reads(g, &offsets, od_n.saturating_sub(1), g.c_in * padded_dims(g).iter().product::<usize>());
    let bases: Vec<usize> = (0..vox).map(|v| corner(g, [v / (oh_n * ow_n), v / ow_n % oh_n, v % ow_n])).collect();
    debug_assert_eq!(bases.len(), od_n * oh_n * ow_n);
    let padded = padded_samples(x, g);
    // ∂L/∂y per sample as [voxel][lane]; lanes past c_out are 0.
    let dys: Vec<Vec<f32>> = grad_out
        .par_chunks_exact(g.c_out * vox)
        .map(|sample| {
            let mut t = vec![0.0; vox * LANES];
            for (c, channel) in sample.chunks_exact(vox).enumerate() {
                channel.iter().enumerate().for_each(|(v, &d)| t[v * LANES + c] = d);
            }
            t
        })
        .collect();
    let (xs, ds): (Vec<&[f32]>, Vec<&[f32]>) = (padded.iter().map(|p| &p[..]).collect(), dys.iter().map(|d| &d[..]).collect());
    let blocks = row_blocks(rows, rayon::current_num_threads());
    let sums: Vec<Vec<f32>> = blocks
        .par_iter()
        .map(|&(r0, n)| {
            let mut sum = vec![0.0; n * LANES];
            // SAFETY: AVX-512F is present (`fits`); reads stay in the padded
            // samples (`check_reads`); each ∂L/∂y holds vox × 16 floats;
            // `sum` holds n × 16.
            unsafe { weight_rows(n, &xs, &ds, &bases, &offsets[r0..r0 + n], sum.as_mut_ptr()) };
            sum
        })
        .collect();
    let mut grad_w = vec![0.0; g.c_out * rows];
    for (&(r0, n), sum) in blocks.iter().zip(&sums) {
        for i in 0..n {
            for c in 0..g.c_out {
                grad_w[c * rows + r0 + i] = sum[i * LANES + c];
            }
        }
    }
    grad_w
}

/// The lowered rows cut into blocks for `threads` threads: (first row,
/// rows). Blocks of `ROWS` rows read each ∂L/∂y vector once for the most
/// rows, but few rows (a 1-channel input has 27) would leave a thread idle,
/// so smaller first blocks are taken where they finish sooner. Every row's
/// sum is the same whatever its block (same bits).
fn row_blocks(rows: usize, threads: usize) -> Vec<(usize, usize)> {
    [ROWS, 16, 8].into_iter().map(|first| blocks_from(rows, first)).min_by_key(|blocks| finish(blocks, threads)).expect("three candidates")
}

/// `rows` cut into blocks of `first` rows, the rest into blocks of 16, 8,
/// 4, 2 and 1 rows.
fn blocks_from(rows: usize, first: usize) -> Vec<(usize, usize)> {
    let mut blocks = Vec::new();
    let mut r = 0;
    for size in [first, 16, 8, 4, 2, 1].into_iter().filter(|&s| s <= first) {
        while rows - r >= size {
            blocks.push((r, size));
            r += size;
        }
    }
    blocks
}

/// When the last of `threads` threads would finish `blocks`, largest first
/// each to the least loaded thread, counting a block as its rows plus 4
/// (the ∂L/∂y it reads again).
fn finish(blocks: &[(usize, usize)], threads: usize) -> usize {
    let mut sizes: Vec<usize> = blocks.iter().map(|&(_, n)| n + 4).collect();
    sizes.sort_unstable_by(|a, b| b.cmp(a));
    let mut load = vec![0; threads.max(1)];
    for s in sizes {
        let least = load.iter_mut().min().expect("one thread at least");
        *least += s;
    }
    load.into_iter().max().unwrap_or(0)
}

/// [`avx512::weight_rows`] for `n` rows, one of the sizes of [`row_blocks`].
///
/// # Safety
/// As [`avx512::weight_rows`].
unsafe fn weight_rows(n: usize, xs: &[&[f32]], dys: &[&[f32]], bases: &[usize], offsets: &[usize], out: *mut f32) {
    // SAFETY: the caller's promise, passed on.
    unsafe {
        match n {
            ROWS => avx512::weight_rows::<ROWS>(xs, dys, bases, offsets, out),
            16 => avx512::weight_rows::<16>(xs, dys, bases, offsets, out),
            8 => avx512::weight_rows::<8>(xs, dys, bases, offsets, out),
            4 => avx512::weight_rows::<4>(xs, dys, bases, offsets, out),
            2 => avx512::weight_rows::<2>(xs, dys, bases, offsets, out),
            _ => avx512::weight_rows::<1>(xs, dys, bases, offsets, out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_blocks_cover_every_row_once_and_balance_few_rows() {
        for rows in [1, 27, 54, 216, 432, 864, 1000] {
            for threads in [1, 2, 3, 16] {
                let blocks = row_blocks(rows, threads);
                let mut next = 0;
                for &(r0, n) in &blocks {
                    assert_eq!(r0, next, "{rows} rows, {threads} threads: {blocks:?}");
                    assert!([ROWS, 16, 8, 4, 2, 1].contains(&n));
                    next += n;
                }
                assert_eq!(next, rows);
            }
        }
        // Alone, the widest blocks; 27 rows on 2 threads: not 24 + 2 + 1.
        assert_eq!(row_blocks(216, 1), blocks_from(216, ROWS));
        assert_eq!(row_blocks(27, 2), [(0, 16), (16, 8), (24, 2), (26, 1)]);
        assert!(finish(&row_blocks(27, 2), 2) < finish(&blocks_from(27, ROWS), 2));
    }
}
