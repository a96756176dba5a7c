//! The direct kernels: one zmm register holds the 16 output-channel lanes of
//! one output voxel (forward) or of one lowered row (weight gradient), and
//! each input value is broadcast into one fused multiply-add.

use std::arch::x86_64::*;

use super::LANES;

/// Forward, `N` output voxels `step` apart along a line: for each lowered
/// row r, in order, `acc[v] = fma(w[r], x[offsets[r] + v·step], acc[v])`,
/// from `init`; the N vectors go to `out` (N × 16 floats).
///
/// # Safety
/// AVX-512F present; `x + offsets[r] + v·step` readable for every r and
/// v < N; `w` holds `offsets.len()` × 16 floats; `out` N × 16 writable.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn forward_voxels<const N: usize>(
    x: *const f32,
    offsets: &[usize],
    w: *const f32,
    step: usize,
    init: &[f32; LANES],
    out: *mut f32,
) {
    // SAFETY: the caller's promise covers every read and write below.
    unsafe {
        let mut acc = [_mm512_loadu_ps(init.as_ptr()); N];
        for (r, &offset) in offsets.iter().enumerate() {
            let wr = _mm512_loadu_ps(w.add(r * LANES));
            let p = x.add(offset);
            for (v, a) in acc.iter_mut().enumerate() {
                *a = _mm512_fmadd_ps(wr, _mm512_set1_ps(*p.add(v * step)), *a);
            }
        }
        for (v, a) in acc.iter().enumerate() {
            _mm512_storeu_ps(out.add(v * LANES), *a);
        }
    }
}

/// Weight gradient, `R` lowered rows: for each sample and each output voxel,
/// in order, `acc[i] = fma(x[bases[v] + offsets[i]], dy[v], acc[i])`, from
/// zero; the R vectors go to `out` (R × 16 floats).
///
/// # Safety
/// AVX-512F present; for every sample s, `xs[s] + bases[v] + offsets[i]`
/// is readable for all v and i < R, and `dys[s]` holds `bases.len()` × 16
/// floats; `out` R × 16 writable.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn weight_rows<const R: usize>(xs: &[&[f32]], dys: &[&[f32]], bases: &[usize], offsets: &[usize], out: *mut f32) {
    // SAFETY: the caller's promise covers every read and write below.
    unsafe {
        let mut acc = [_mm512_setzero_ps(); R];
        let offsets: [usize; R] = std::array::from_fn(|i| offsets[i]);
        for (x, dy) in xs.iter().zip(dys) {
            let (x, dy) = (x.as_ptr(), dy.as_ptr());
            for (v, &base) in bases.iter().enumerate() {
                let d = _mm512_loadu_ps(dy.add(v * LANES));
                let p = x.add(base);
                for (a, &offset) in acc.iter_mut().zip(&offsets) {
                    *a = _mm512_fmadd_ps(_mm512_set1_ps(*p.add(offset)), d, *a);
                }
            }
        }
        for (i, a) in acc.iter().enumerate() {
            _mm512_storeu_ps(out.add(i * LANES), *a);
        }
    }
}
