//! The AVX-512F microkernel: 8 x 32 tiles, 16 zmm accumulators, partial
//! tiles by lane masks (no wasted rows: one kernel per row count; tiles of
//! at most 8 columns go to 8-lane AVX2 code), and a one-pass kernel for
//! single-row products (8 zmm chains across 128 columns).

use std::arch::x86_64::*;

use super::avx2;
use super::driver::{Micro, Row, Tile};
use super::pack::Block;

/// Rows of a tile.
const MR: usize = 8;
/// Columns of a tile.
const NR: usize = 32;
/// Columns of C one pass of the single-row kernel computes (8 zmm chains).
const ROW_COLS: usize = 128;

/// Whether this CPU has AVX-512F (and the AVX2 the packers use).
pub(super) fn supported() -> bool {
    is_x86_feature_detected!("avx512f") && avx2::supported()
}

/// The AVX-512F kernel.
pub(super) struct Avx512;

impl Micro for Avx512 {
    const MR: usize = MR;
    const NR: usize = NR;

    unsafe fn tile(t: &Tile) {
        let packed = t.a_row == 1 && t.a_step == MR;
        // SAFETY: the caller's promise (with AVX2 and FMA, which `supported`
        // requires), passed on.
        unsafe {
            if t.cols <= 8 {
                return avx2::narrow_tile(t);
            }
            match (packed, t.cols <= 16) {
                (true, false) => by_rows::<true, 2>(t),
                (true, true) => by_rows::<true, 1>(t),
                (false, false) => by_rows::<false, 2>(t),
                (false, true) => by_rows::<false, 1>(t),
            }
        }
    }

    unsafe fn row(r: &Row) -> bool {
        for j in (0..r.n).step_by(ROW_COLS) {
            let cols = (r.n - j).min(ROW_COLS);
            // SAFETY: the caller's promise; columns j..j+cols are inside the row.
            unsafe {
                match cols.div_ceil(16) {
                    1 => row_chunk::<1>(r, j, cols),
                    2 => row_chunk::<2>(r, j, cols),
                    3 => row_chunk::<3>(r, j, cols),
                    4 => row_chunk::<4>(r, j, cols),
                    5 => row_chunk::<5>(r, j, cols),
                    6 => row_chunk::<6>(r, j, cols),
                    7 => row_chunk::<7>(r, j, cols),
                    _ => row_chunk::<8>(r, j, cols),
                }
            }
        }
        true
    }

    unsafe fn pack_a(p: &Block) {
        // SAFETY: the caller's promise (AVX2 present), passed on.
        unsafe { avx2::pack_block::<MR>(p) }
    }

    unsafe fn pack_b(p: &Block) {
        // SAFETY: the caller's promise (AVX2 present), passed on.
        unsafe { avx2::pack_block::<NR>(p) }
    }

    fn prefetch(p: &Block) {
        // SAFETY: AVX2 is present (the caller chose this kernel).
        unsafe { avx2::prefetch_block(p) }
    }
}

/// One tile, by its number of rows; `P`: A is packed (rows 1, k-steps `MR`
/// apart); `H`: 16-column halves to compute (1 when `cols <= 16`).
///
/// # Safety
/// As [`Micro::tile`].
unsafe fn by_rows<const P: bool, const H: usize>(t: &Tile) {
    // SAFETY: the caller's promise (the kernel's instructions present), passed on.
    unsafe {
        match t.rows {
            1 => tile_rows::<1, P, H>(t),
            2 => tile_rows::<2, P, H>(t),
            3 => tile_rows::<3, P, H>(t),
            4 => tile_rows::<4, P, H>(t),
            5 => tile_rows::<5, P, H>(t),
            6 => tile_rows::<6, P, H>(t),
            7 => tile_rows::<7, P, H>(t),
            _ => tile_rows::<8, P, H>(t),
        }
    }
}

/// One tile of `R` rows.
///
/// # Safety
/// As [`Micro::tile`], with `t.rows == R`.
#[target_feature(enable = "avx512f")]
unsafe fn tile_rows<const R: usize, const P: bool, const H: usize>(t: &Tile) {
    let (a_row, a_step) = if P { (1, MR) } else { (t.a_row, t.a_step) };
    let bits = (1u32 << (t.cols - 1) << 1).wrapping_sub(1);
    let mask = [bits as u16, (bits >> 16) as u16];
    let mut acc = [[_mm512_setzero_ps(); H]; R];
    if t.load {
        for (r, row) in acc.iter_mut().enumerate() {
            let c = t.c.wrapping_add(r * t.ldc);
            for (h, x) in row.iter_mut().enumerate() {
                // SAFETY: the tile's columns of row r are inside C; masked
                // lanes are not read.
                *x = unsafe { _mm512_maskz_loadu_ps(mask[h], c.wrapping_add(16 * h)) };
            }
        }
    }
    // One pointer per row of A: no chain of address additions between rows.
    let mut a: [*const f32; R] = std::array::from_fn(|r| t.a.wrapping_add(r * a_row));
    let mut b = t.b;
    for _ in 0..t.kc {
        // SAFETY: each k-step of B holds NR floats and of A R floats.
        unsafe {
            let bv: [__m512; H] = std::array::from_fn(|h| _mm512_loadu_ps(b.add(16 * h)));
            for (ar, row) in a.iter_mut().zip(&mut acc) {
                let x = _mm512_set1_ps(**ar);
                for (y, &bh) in row.iter_mut().zip(&bv) {
                    *y = _mm512_fmadd_ps(x, bh, *y);
                }
                *ar = ar.wrapping_add(a_step);
            }
        }
        b = b.wrapping_add(t.b_step);
    }
    for (r, row) in acc.iter().enumerate() {
        let c = t.c.wrapping_add(r * t.ldc);
        for (h, &x) in row.iter().enumerate() {
            // SAFETY: as for the loads.
            unsafe { _mm512_mask_storeu_ps(c.wrapping_add(16 * h), mask[h], x) };
        }
    }
}

/// Columns j..j+cols of a single-row product, in `V` zmm chains.
///
/// # Safety
/// As [`Micro::row`], with `cols <= 16 * V` and columns j..j+cols inside.
#[target_feature(enable = "avx512f")]
unsafe fn row_chunk<const V: usize>(r: &Row, j: usize, cols: usize) {
    let mask: [u16; V] = std::array::from_fn(|v| {
        let lanes = cols.saturating_sub(16 * v).min(16);
        ((1u32 << lanes) - 1) as u16
    });
    let (c, b0) = (r.c.wrapping_add(j), r.b.wrapping_add(j));
    let mut acc: [__m512; V] = std::array::from_fn(|v| {
        // SAFETY: unmasked lanes are columns of C's row; masked ones are not read.
        if r.load { unsafe { _mm512_maskz_loadu_ps(mask[v], c.wrapping_add(16 * v)) } } else { _mm512_setzero_ps() }
    });
    let (mut a, mut b) = (r.a, b0);
    for _ in 0..r.k {
        // SAFETY: A's k-step and B's row at this k-step, unmasked lanes only.
        unsafe {
            let x = _mm512_set1_ps(*a);
            for (v, y) in acc.iter_mut().enumerate() {
                *y = _mm512_fmadd_ps(x, _mm512_maskz_loadu_ps(mask[v], b.wrapping_add(16 * v)), *y);
            }
        }
        a = a.wrapping_add(r.a_step);
        b = b.wrapping_add(r.b_step);
    }
    for (v, &y) in acc.iter().enumerate() {
        // SAFETY: as for the loads.
        unsafe { _mm512_mask_storeu_ps(c.wrapping_add(16 * v), mask[v], y) };
    }
}
