//! The portable microkernel: 4 x 8 tiles of `f32::mul_add` chains, and a
//! one-pass single-row kernel (compilers may vectorise both across columns,
//! which keeps every chain as it is).

use super::driver::{Micro, Row, Tile};
use super::pack::{self, Block};

/// Rows of a tile.
const MR: usize = 4;
/// Columns of a tile.
const NR: usize = 8;

/// The portable kernel.
pub(super) struct Scalar;

impl Micro for Scalar {
    const MR: usize = MR;
    const NR: usize = NR;

    unsafe fn tile(t: &Tile) {
        // SAFETY: the caller's promise, passed on.
        unsafe {
            match t.rows {
                1 => tile_rows::<1>(t),
                2 => tile_rows::<2>(t),
                3 => tile_rows::<3>(t),
                _ => tile_rows::<4>(t),
            }
        }
    }

    unsafe fn row(r: &Row) -> bool {
        for j in (0..r.n).step_by(NR) {
            // SAFETY: the caller's promise; columns j..j+NR, cut at n, are
            // inside the row.
            unsafe { row_chunk(r, j, (r.n - j).min(NR)) };
        }
        true
    }

    unsafe fn pack_a(p: &Block) {
        // SAFETY: the caller's promise, passed on.
        unsafe { pack::block::<MR>(p) }
    }

    unsafe fn pack_b(p: &Block) {
        // SAFETY: the caller's promise, passed on.
        unsafe { pack::block::<NR>(p) }
    }
}

/// One tile of `R` rows.
///
/// # Safety
/// As [`Micro::tile`], with `t.rows == R`.
unsafe fn tile_rows<const R: usize>(t: &Tile) {
    let mut acc = [[0.0f32; NR]; R];
    if t.load {
        for (r, row) in acc.iter_mut().enumerate() {
            for (j, x) in row.iter_mut().enumerate().take(t.cols) {
                // SAFETY: (r, j) is inside the tile, so inside C.
                *x = unsafe { *t.c.add(r * t.ldc + j) };
            }
        }
    }
    for p in 0..t.kc {
        // SAFETY: B's k-step p holds NR readable floats.
        let b: [f32; NR] = unsafe { std::ptr::read_unaligned(t.b.add(p * t.b_step).cast()) };
        for (r, row) in acc.iter_mut().enumerate() {
            // SAFETY: A holds R rows at each k-step.
            let a = unsafe { *t.a.add(r * t.a_row + p * t.a_step) };
            for (x, &bj) in row.iter_mut().zip(&b) {
                *x = a.mul_add(bj, *x);
            }
        }
    }
    for (r, row) in acc.iter().enumerate() {
        for (j, &x) in row.iter().enumerate().take(t.cols) {
            // SAFETY: as for the loads.
            unsafe { *t.c.add(r * t.ldc + j) = x };
        }
    }
}

/// Columns j..j+cols (cols <= NR) of a one-row product, in one pass over k.
///
/// # Safety
/// As [`Micro::row`], with columns j..j+cols inside.
unsafe fn row_chunk(r: &Row, j: usize, cols: usize) {
    let mut acc = [0.0f32; NR];
    if r.load {
        for (l, x) in acc.iter_mut().enumerate().take(cols) {
            // SAFETY: column j + l < n of C's row.
            *x = unsafe { *r.c.add(j + l) };
        }
    }
    for p in 0..r.k {
        // SAFETY: A's k-step p and B's row p, columns j..j+cols.
        unsafe {
            let a = *r.a.add(p * r.a_step);
            let b = r.b.add(p * r.b_step + j);
            if cols == NR {
                let b: [f32; NR] = std::ptr::read_unaligned(b.cast());
                acc.iter_mut().zip(&b).for_each(|(x, &bj)| *x = a.mul_add(bj, *x));
            } else {
                acc.iter_mut().take(cols).enumerate().for_each(|(l, x)| *x = a.mul_add(*b.add(l), *x));
            }
        }
    }
    for (l, &x) in acc.iter().enumerate().take(cols) {
        // SAFETY: as for the loads.
        unsafe { *r.c.add(j + l) = x };
    }
}
