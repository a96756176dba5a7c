//! C = C₀ + A·B in float32, single-threaded, bitwise reproducible.
//!
//! Contract: every element `C[i][j]` is the chain
//! `c = fma(a[i][0], b[0][j], c₀); c = fma(a[i][1], b[1][j], c); ...` over
//! k = 0..K in order, where c₀ is C's value (`accumulate`) or 0. Blocking,
//! packing and the ISA change only the speed, never a bit of the result.
//!
//! How: Goto-style blocking (the `driver` module) around one microkernel
//! per ISA ([`Kernel`]). Each SIMD lane holds a different C element and runs
//! that element's chain alone; a k-block stores C and the next reloads it, which
//! is exact. So the AVX-512, AVX2+FMA and scalar `mul_add` kernels agree to
//! the bit, and the result does not depend on the tile sizes.

use std::sync::OnceLock;

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
mod driver;
mod pack;
mod scalar;
#[cfg(test)]
mod tests;

/// A read-only strided view of a float32 matrix: element (r, c) is
/// `data[r * row_stride + c * col_stride]`.
#[derive(Clone, Copy, Debug)]
pub struct MatRef<'a> {
    /// The elements.
    pub data: &'a [f32],
    /// Number of rows.
    pub rows: usize,
    /// Number of columns.
    pub cols: usize,
    /// Distance between rows.
    pub row_stride: usize,
    /// Distance between columns.
    pub col_stride: usize,
}

impl<'a> MatRef<'a> {
    /// A row-major matrix of `rows` x `cols`.
    pub fn row_major(data: &'a [f32], rows: usize, cols: usize) -> Self {
        MatRef { data, rows, cols, row_stride: cols, col_stride: 1 }
    }

    /// The transpose (a view, no copy; tests build their operands with it).
    #[cfg(test)]
    pub fn t(self) -> Self {
        MatRef { data: self.data, rows: self.cols, cols: self.rows, row_stride: self.col_stride, col_stride: self.row_stride }
    }

    /// Element (r, c) (tests read their references with it).
    #[cfg(test)]
    pub fn at(&self, r: usize, c: usize) -> f32 {
        self.data[r * self.row_stride + c * self.col_stride]
    }
}

/// The right operand B of a product, written into the product's packed
/// panels on demand instead of read from a matrix in memory (a convolution's
/// lowered input, straight from the input).
pub trait PanelSource: Sync {
    /// Writes B's k-steps `ks` of columns `cols` into `dst` as panels of
    /// `width` columns, one after another, each `ks.len()` k-steps of `width`
    /// floats: column `cols.start + i·width + j` at k-step `ks.start + p` goes
    /// to `dst[i·ks.len()·width + p·width + j]`; the last panel's lanes past
    /// `cols.end` are set to zero.
    fn fill(&self, dst: &mut [f32], width: usize, ks: std::ops::Range<usize>, cols: std::ops::Range<usize>);
}

/// The microkernels; all give bitwise-identical results.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kernel {
    /// x86-64 with AVX-512F, AVX2 and FMA (8 x 32 tiles in zmm registers).
    Avx512,
    /// x86-64 with AVX2 and FMA (6 x 16 tiles in ymm registers).
    Avx2,
    /// Portable `f32::mul_add` (4 x 8 tiles); any target.
    Scalar,
}

impl Kernel {
    /// The fastest kernel this CPU runs, chosen once per process.
    ///
    /// The environment variable `LUNGFLOW_GEMM_KERNEL=avx512|avx2|scalar`
    /// forces a kernel (for benchmarks and tests); a name this CPU cannot
    /// run, or an unknown name, is ignored. The choice never changes results.
    pub fn detect() -> Kernel {
        static CHOSEN: OnceLock<Kernel> = OnceLock::new();
        *CHOSEN.get_or_init(|| {
            let forced = std::env::var("LUNGFLOW_GEMM_KERNEL").ok().and_then(|name| Kernel::from_name(&name));
            forced.filter(|k| k.is_supported()).unwrap_or_else(|| Kernel::available()[0])
        })
    }

    /// The kernels this CPU runs, fastest first (always ends with `Scalar`).
    pub fn available() -> Vec<Kernel> {
        [Kernel::Avx512, Kernel::Avx2, Kernel::Scalar].into_iter().filter(|k| k.is_supported()).collect()
    }

    /// The kernel named `avx512`, `avx2` or `scalar` (any case).
    fn from_name(name: &str) -> Option<Kernel> {
        match name.trim().to_ascii_lowercase().as_str() {
            "avx512" => Some(Kernel::Avx512),
            "avx2" => Some(Kernel::Avx2),
            "scalar" => Some(Kernel::Scalar),
            _ => None,
        }
    }

    /// Whether this CPU has the instructions the kernel uses.
    fn is_supported(self) -> bool {
        match self {
            Kernel::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => avx2::supported(),
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512 => avx512::supported(),
            #[cfg(not(target_arch = "x86_64"))]
            Kernel::Avx2 | Kernel::Avx512 => false,
        }
    }
}

/// C[m x n] (row-major, rows `ldc` apart) = (C if `accumulate` else 0) + A·B.
///
/// Uses [`Kernel::detect`]. Panics if the shapes do not match or a view
/// reaches past its data.
pub fn gemm(c: &mut [f32], ldc: usize, a: MatRef, b: MatRef, accumulate: bool) {
    gemm_with(Kernel::detect(), c, ldc, a, b, accumulate);
}

/// C[m x n] (rows `ldc` apart) = (C if `accumulate` else 0) + A·B, with B
/// ([A's columns x n]) written by `b` panel by panel; the same bits as
/// [`gemm`] of the matrix `b` describes.
///
/// # Safety
/// `c` is valid for reads and writes of C's m rows of n floats, `ldc`
/// apart (m ≥ 1 and n ≥ 1, or nothing is touched), and nothing else
/// accesses those elements during the call.
pub unsafe fn gemm_source(c: *mut f32, ldc: usize, a: MatRef, b: &dyn PanelSource, n: usize, accumulate: bool) {
    let kernel = Kernel::detect();
    // SAFETY: the caller's promise, passed on.
    unsafe {
        match kernel {
            Kernel::Scalar => driver::run_source::<scalar::Scalar>(c, ldc, a, b, n, accumulate),
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => driver::run_source::<avx2::Avx2>(c, ldc, a, b, n, accumulate),
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512 => driver::run_source::<avx512::Avx512>(c, ldc, a, b, n, accumulate),
            #[cfg(not(target_arch = "x86_64"))]
            Kernel::Avx2 | Kernel::Avx512 => unreachable!("not supported off x86-64"),
        }
    }
}

/// [`gemm`] with a given kernel; panics if this CPU cannot run it.
pub fn gemm_with(kernel: Kernel, c: &mut [f32], ldc: usize, a: MatRef, b: MatRef, accumulate: bool) {
    assert!(kernel.is_supported(), "gemm: this CPU cannot run the {kernel:?} kernel");
    match kernel {
        Kernel::Scalar => driver::run::<scalar::Scalar>(c, ldc, a, b, accumulate),
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx2 => driver::run::<avx2::Avx2>(c, ldc, a, b, accumulate),
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx512 => driver::run::<avx512::Avx512>(c, ldc, a, b, accumulate),
        #[cfg(not(target_arch = "x86_64"))]
        Kernel::Avx2 | Kernel::Avx512 => unreachable!("not supported off x86-64"),
    }
}
