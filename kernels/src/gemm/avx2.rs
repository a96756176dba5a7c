//! The AVX2+FMA microkernel (6 x 16 tiles, 12 ymm accumulators) and the
//! 8 x 8 transposing packer that the AVX-512 kernel shares.

use std::arch::x86_64::*;

use super::driver::{Micro, Tile};
use super::pack::{self, Block};

/// Rows of a tile.
const MR: usize = 6;
/// Columns of a tile.
const NR: usize = 16;

/// Whether this CPU has AVX2 and FMA.
pub(super) fn supported() -> bool {
    is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")
}

/// The AVX2+FMA kernel.
pub(super) struct Avx2;

impl Micro for Avx2 {
    const MR: usize = MR;
    const NR: usize = NR;

    unsafe fn tile(t: &Tile) {
        let packed = t.a_row == 1 && t.a_step == MR;
        // SAFETY: the caller's promise, passed on.
        unsafe {
            match (packed, t.cols <= 8) {
                (true, false) => by_rows::<true, 2>(t),
                (true, true) => by_rows::<true, 1>(t),
                (false, false) => by_rows::<false, 2>(t),
                (false, true) => by_rows::<false, 1>(t),
            }
        }
    }

    unsafe fn pack_a(p: &Block) {
        // SAFETY: the caller's promise, passed on.
        unsafe { pack_block::<MR>(p) }
    }

    unsafe fn pack_b(p: &Block) {
        // SAFETY: the caller's promise, passed on.
        unsafe { pack_block::<NR>(p) }
    }

    fn prefetch(p: &Block) {
        // SAFETY: AVX2 is present (the caller chose this kernel).
        unsafe { prefetch_block(p) }
    }
}

/// A tile of at most 8 rows and 8 columns, A at any strides, in 8-lane
/// vectors: the AVX-512 kernel's narrow tiles, where 16 lanes would be half idle.
///
/// # Safety
/// As [`Micro::tile`], with `t.rows <= 8` and `t.cols <= 8`.
pub(super) unsafe fn narrow_tile(t: &Tile) {
    // SAFETY: the caller's promise, passed on.
    unsafe {
        match t.rows {
            1 => tile_rows::<1, false, 1>(t),
            2 => tile_rows::<2, false, 1>(t),
            3 => tile_rows::<3, false, 1>(t),
            4 => tile_rows::<4, false, 1>(t),
            5 => tile_rows::<5, false, 1>(t),
            6 => tile_rows::<6, false, 1>(t),
            7 => tile_rows::<7, false, 1>(t),
            _ => tile_rows::<8, false, 1>(t),
        }
    }
}

/// Lane masks for the first `cols` of 16 columns (all ones below `cols`).
#[target_feature(enable = "avx2")]
fn masks(cols: usize) -> [__m256i; 2] {
    let n = _mm256_set1_epi32(cols as i32);
    let lo = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    let hi = _mm256_setr_epi32(8, 9, 10, 11, 12, 13, 14, 15);
    [_mm256_cmpgt_epi32(n, lo), _mm256_cmpgt_epi32(n, hi)]
}

/// One tile, by its number of rows; `P`: A is packed (rows 1, k-steps `MR`
/// apart); `H`: 8-column halves to compute (1 when `cols <= 8`).
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
            _ => tile_rows::<6, P, H>(t),
        }
    }
}

/// One tile of `R` rows.
///
/// # Safety
/// As [`Micro::tile`], with `t.rows == R`.
#[target_feature(enable = "avx2,fma")]
unsafe fn tile_rows<const R: usize, const P: bool, const H: usize>(t: &Tile) {
    let (a_row, a_step) = if P { (1, MR) } else { (t.a_row, t.a_step) };
    let full = t.cols == 8 * H;
    let mask = masks(t.cols);
    let mut acc = [[_mm256_setzero_ps(); H]; R];
    if t.load {
        for (r, row) in acc.iter_mut().enumerate() {
            let c = t.c.wrapping_add(r * t.ldc);
            for (h, x) in row.iter_mut().enumerate() {
                let ch = c.wrapping_add(8 * h);
                // SAFETY: the tile's columns of row r are inside C; masked
                // lanes are not read.
                *x = unsafe { if full { _mm256_loadu_ps(ch) } else { _mm256_maskload_ps(ch, mask[h]) } };
            }
        }
    }
    // One pointer per row of A: no chain of address additions between rows.
    let mut a: [*const f32; R] = std::array::from_fn(|r| t.a.wrapping_add(r * a_row));
    let mut b = t.b;
    for _ in 0..t.kc {
        // SAFETY: each k-step of B holds NR floats and of A R floats.
        unsafe {
            let bv: [__m256; H] = std::array::from_fn(|h| _mm256_loadu_ps(b.add(8 * h)));
            for (ar, row) in a.iter_mut().zip(&mut acc) {
                let x = _mm256_broadcast_ss(&**ar);
                for (y, &bh) in row.iter_mut().zip(&bv) {
                    *y = _mm256_fmadd_ps(x, bh, *y);
                }
                *ar = ar.wrapping_add(a_step);
            }
        }
        b = b.wrapping_add(t.b_step);
    }
    for (r, row) in acc.iter().enumerate() {
        let c = t.c.wrapping_add(r * t.ldc);
        for (h, &x) in row.iter().enumerate() {
            let ch = c.wrapping_add(8 * h);
            // SAFETY: as for the loads.
            unsafe {
                if full {
                    _mm256_storeu_ps(ch, x);
                } else {
                    _mm256_maskstore_ps(ch, mask[h], x);
                }
            }
        }
    }
}

/// Packs a block into panels of `W` lanes; a source with adjacent k-steps
/// (a transpose) goes 8 x 8 blocks at a time.
///
/// # Safety
/// As [`pack::block`], and the CPU has AVX2.
pub(super) unsafe fn pack_block<const W: usize>(b: &Block) {
    // SAFETY: the caller's promise, passed on.
    unsafe {
        if b.lane_stride == 1 {
            rows_prefetched::<W>(b);
        } else if b.k_stride == 1 && W.is_multiple_of(8) {
            transpose_block::<W>(b);
        } else {
            pack::block::<W>(b);
        }
    }
}

/// [`pack::rows`], fetching each k-step's lanes a few k-steps ahead: rows
/// far apart defeat the hardware prefetchers, which stop at page ends.
///
/// # Safety
/// As [`pack::rows`], and the CPU has AVX2.
#[target_feature(enable = "avx2")]
unsafe fn rows_prefetched<const W: usize>(b: &Block) {
    const AHEAD: usize = 4;
    for k in 0..b.kc.min(AHEAD) {
        prefetch_lanes(b, k);
    }
    for k in 0..b.kc {
        if k + AHEAD < b.kc {
            prefetch_lanes(b, k + AHEAD);
        }
        // SAFETY: the caller's promise, passed on.
        unsafe { pack::rows::<W>(b, k..k + 1) };
    }
}

/// Asks for the cache lines of k-step `k`'s lanes (a hint: never faults).
#[target_feature(enable = "avx2")]
fn prefetch_lanes(b: &Block, k: usize) {
    let row = b.src.wrapping_add(k * b.k_stride);
    for l in (0..b.lanes).step_by(16) {
        _mm_prefetch::<_MM_HINT_T0>(row.wrapping_add(l).cast());
    }
}

/// Asks for the cache lines of a block's source, when its lanes or its
/// k-steps are adjacent (a hint: never faults).
#[target_feature(enable = "avx2")]
pub(super) fn prefetch_block(b: &Block) {
    let (stride, lines, len) = match (b.lane_stride, b.k_stride) {
        (1, k_stride) => (k_stride, b.kc, b.lanes),
        (lane_stride, 1) => (lane_stride, b.lanes, b.kc),
        _ => return,
    };
    for i in 0..lines {
        let line = b.src.wrapping_add(i * stride);
        for j in (0..len).step_by(16) {
            _mm_prefetch::<_MM_HINT_T0>(line.wrapping_add(j).cast());
        }
    }
}

/// Packs 8 lanes x 8 k-steps at a time by register transposes (missing
/// lanes read as zeros), the k-steps left one element at a time.
///
/// # Safety
/// As [`pack_block`], with `k_stride == 1` and `W` a multiple of 8.
#[target_feature(enable = "avx2")]
unsafe fn transpose_block<const W: usize>(b: &Block) {
    let k0 = b.kc / 8 * 8;
    for l in (0..b.lanes.next_multiple_of(W)).step_by(8) {
        let live = b.lanes.saturating_sub(l).min(8);
        let src = b.src.wrapping_add(l * b.lane_stride);
        for k in (0..k0).step_by(8) {
            let rows: [__m256; 8] = std::array::from_fn(|i| {
                // SAFETY: lanes below `lanes` at k-steps k..k+8 < kc are
                // inside the source.
                if i < live { unsafe { _mm256_loadu_ps(src.add(i * b.lane_stride + k)) } } else { _mm256_setzero_ps() }
            });
            for (i, col) in transpose(rows).into_iter().enumerate() {
                // SAFETY: lanes l..l+8 of one panel (W is a multiple of 8)
                // at k-step k + i < kc.
                unsafe { _mm256_storeu_ps(b.dst_at::<W>(l, k + i), col) };
            }
        }
        for k in k0..b.kc {
            for i in 0..8 {
                // SAFETY: as above, one element at a time.
                unsafe { *b.dst_at::<W>(l + i, k) = if i < live { *src.add(i * b.lane_stride + k) } else { 0.0 } };
            }
        }
    }
}

/// The transpose of an 8 x 8 block held as 8 rows.
#[target_feature(enable = "avx2")]
fn transpose(r: [__m256; 8]) -> [__m256; 8] {
    // Interleave pairs of rows, then pairs of pairs, then swap 128-bit halves.
    let t: [__m256; 8] = std::array::from_fn(|i| {
        let (x, y) = (r[i / 2 * 2], r[i / 2 * 2 + 1]);
        if i % 2 == 0 { _mm256_unpacklo_ps(x, y) } else { _mm256_unpackhi_ps(x, y) }
    });
    let s = [
        _mm256_shuffle_ps::<0x44>(t[0], t[2]),
        _mm256_shuffle_ps::<0xEE>(t[0], t[2]),
        _mm256_shuffle_ps::<0x44>(t[1], t[3]),
        _mm256_shuffle_ps::<0xEE>(t[1], t[3]),
        _mm256_shuffle_ps::<0x44>(t[4], t[6]),
        _mm256_shuffle_ps::<0xEE>(t[4], t[6]),
        _mm256_shuffle_ps::<0x44>(t[5], t[7]),
        _mm256_shuffle_ps::<0xEE>(t[5], t[7]),
    ];
    std::array::from_fn(|i| {
        let (x, y) = (s[i % 4], s[i % 4 + 4]);
        if i < 4 { _mm256_permute2f128_ps::<0x20>(x, y) } else { _mm256_permute2f128_ps::<0x31>(x, y) }
    })
}
