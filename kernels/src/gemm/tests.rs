//! Tests: every kernel equals the naive `mul_add` chain to the bit, and is
//! close to a float64 product, over edge shapes and both layouts.

use super::{Kernel, MatRef, gemm, gemm_with};

/// A small deterministic generator (splitmix64).
struct Rng(u64);

impl Rng {
    /// The next 64 random bits.
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A float in [-1, 1), sometimes exactly zero or negative zero.
    fn float(&mut self) -> f32 {
        match self.next() % 16 {
            0 => 0.0,
            1 => -0.0,
            _ => (self.next() >> 40) as f32 / (1u64 << 23) as f32 - 1.0,
        }
    }

    /// `len` random floats.
    fn floats(&mut self, len: usize) -> Vec<f32> {
        (0..len).map(|_| self.float()).collect()
    }
}

/// One product to check: shapes, layouts, C's initial values.
#[derive(Clone, Copy, Debug)]
struct Case {
    m: usize,
    n: usize,
    k: usize,
    /// A stored transposed (k x m, so its rows are adjacent).
    ta: bool,
    /// B stored transposed (n x k, so its k-steps are adjacent).
    tb: bool,
    accumulate: bool,
    /// Extra floats between C's rows.
    pad: usize,
}

/// The operands of a case: A's data, B's data and C's initial values.
struct Operands {
    a: Vec<f32>,
    b: Vec<f32>,
    c: Vec<f32>,
    ldc: usize,
}

impl Case {
    /// Random operands for this case.
    fn operands(&self, rng: &mut Rng) -> Operands {
        let ldc = self.n + self.pad;
        Operands { a: rng.floats(self.m * self.k), b: rng.floats(self.k * self.n), c: rng.floats(self.m.max(1) * ldc), ldc }
    }

    /// The views of A and B over `ops`.
    fn views<'a>(&self, ops: &'a Operands) -> (MatRef<'a>, MatRef<'a>) {
        let a = if self.ta { MatRef::row_major(&ops.a, self.k, self.m).t() } else { MatRef::row_major(&ops.a, self.m, self.k) };
        let b = if self.tb { MatRef::row_major(&ops.b, self.n, self.k).t() } else { MatRef::row_major(&ops.b, self.k, self.n) };
        (a, b)
    }
}

/// The contract, written out: one sequential `mul_add` chain per element.
fn naive(c: &mut [f32], ldc: usize, a: MatRef, b: MatRef, accumulate: bool) {
    for i in 0..a.rows {
        for j in 0..b.cols {
            let mut acc = if accumulate { c[i * ldc + j] } else { 0.0 };
            for p in 0..a.cols {
                acc = a.at(i, p).mul_add(b.at(p, j), acc);
            }
            c[i * ldc + j] = acc;
        }
    }
}

/// Edge shapes: 1, odd, around every kernel's MR and NR, around KC, on
/// both sides of the driver's choices (A or B read in place or packed,
/// the single-row path, tiles of at most 16 columns).
fn cases() -> Vec<Case> {
    let dims = [
        (1, 1, 1),
        (1, 64, 256),
        (2, 3, 5),
        (5, 7, 1),
        (6, 16, 9),
        (7, 17, 33),
        (8, 32, 256),
        (9, 33, 257),
        (13, 31, 100),
        (16, 48, 8),
        (17, 15, 513),
        (25, 65, 64),
        (4, 100, 300),
        (33, 27, 520),
        (64, 27, 27),
        (150, 40, 70),
        (3, 530, 20),
        (20, 530, 16),
        (1, 300, 37),
        (1, 129, 600),
        (2, 200, 19),
        (70, 12, 300),
    ];
    let mut out = Vec::new();
    for (i, &(m, n, k)) in dims.iter().enumerate() {
        for layout in 0..4 {
            let (ta, tb) = (layout & 1 == 1, layout & 2 == 2);
            let accumulate = (i + layout) % 2 == 0;
            out.push(Case { m, n, k, ta, tb, accumulate, pad: (i * 3 + layout) % 5 });
        }
    }
    out
}

/// Runs every bit check on `kernel`, which this CPU must run: a test of a
/// kernel the CPU lacks is marked ignored when it is built (build.rs), so
/// that none passes without running.
fn keeps_the_contract(kernel: Kernel) {
    assert!(
        Kernel::available().contains(&kernel),
        "this CPU cannot run the {kernel:?} kernel, but the build host could: rebuild on this machine (touch kernels/build.rs)"
    );
    equals_the_sequential_mul_add_chain_bitwise(kernel);
    padding_between_c_rows_is_left_alone(kernel);
    an_empty_inner_dimension_gives_zero_or_keeps_c(kernel);
    strided_views_with_gaps_are_read_correctly(kernel);
}

#[test]
fn the_scalar_kernel_keeps_the_contract() {
    keeps_the_contract(Kernel::Scalar);
}

#[test]
#[cfg_attr(not(host_avx2), ignore = "this CPU has no AVX2 and FMA: the AVX2 kernel cannot run here")]
fn the_avx2_kernel_keeps_the_contract() {
    keeps_the_contract(Kernel::Avx2);
}

#[test]
#[cfg_attr(not(host_avx512), ignore = "this CPU has no AVX-512F: the AVX-512 kernel cannot run here")]
fn the_avx512_kernel_keeps_the_contract() {
    keeps_the_contract(Kernel::Avx512);
}

fn equals_the_sequential_mul_add_chain_bitwise(kernel: Kernel) {
    let mut rng = Rng(7);
    for case in cases() {
        let ops = case.operands(&mut rng);
        let (a, b) = case.views(&ops);
        let mut want = ops.c.clone();
        naive(&mut want, ops.ldc, a, b, case.accumulate);
        let mut got = ops.c.clone();
        gemm_with(kernel, &mut got, ops.ldc, a, b, case.accumulate);
        let same = got.iter().zip(&want).all(|(x, y)| x.to_bits() == y.to_bits());
        assert!(same, "{kernel:?} differs from the chain on {case:?}");
    }
}

#[test]
fn results_are_within_1e_5_of_a_float64_product() {
    let mut rng = Rng(11);
    for case in cases() {
        let ops = case.operands(&mut rng);
        let (a, b) = case.views(&ops);
        let mut got = ops.c.clone();
        gemm(&mut got, ops.ldc, a, b, case.accumulate);
        for i in 0..case.m {
            for j in 0..case.n {
                let c0 = if case.accumulate { ops.c[i * ops.ldc + j] as f64 } else { 0.0 };
                let terms = (0..case.k).map(|p| (a.at(i, p) as f64, b.at(p, j) as f64));
                let (exact, scale) = terms.fold((c0, c0.abs()), |(s, t), (x, y)| (s + x * y, t + (x * y).abs()));
                let err = (got[i * ops.ldc + j] as f64 - exact).abs();
                assert!(err <= 1e-5 * scale.max(f64::MIN_POSITIVE), "{case:?} at ({i}, {j}): error {err}, scale {scale}");
            }
        }
    }
}

fn padding_between_c_rows_is_left_alone(kernel: Kernel) {
    let mut rng = Rng(3);
    let case = Case { m: 9, n: 33, k: 300, ta: false, tb: false, accumulate: false, pad: 7 };
    let ops = case.operands(&mut rng);
    let (a, b) = case.views(&ops);
    let mut got = ops.c.clone();
    gemm_with(kernel, &mut got, ops.ldc, a, b, false);
    for i in 0..case.m {
        let pad = i * ops.ldc + case.n..(i + 1) * ops.ldc;
        assert_eq!(got[pad.clone()], ops.c[pad], "{kernel:?} wrote between rows");
    }
}

fn an_empty_inner_dimension_gives_zero_or_keeps_c(kernel: Kernel) {
    let a = MatRef::row_major(&[], 3, 0);
    let b = MatRef::row_major(&[], 0, 4);
    let mut c = vec![2.0; 12];
    gemm_with(kernel, &mut c, 4, a, b, true);
    assert_eq!(c, vec![2.0; 12], "{kernel:?}");
    gemm_with(kernel, &mut c, 4, a, b, false);
    assert_eq!(c, vec![0.0; 12], "{kernel:?}");
}

fn strided_views_with_gaps_are_read_correctly(kernel: Kernel) {
    let mut rng = Rng(5);
    let (m, n, k) = (11, 37, 40);
    let a_data = rng.floats(m * 50);
    let b_data = rng.floats(k * 3 * n);
    let a = MatRef { data: &a_data, rows: m, cols: k, row_stride: 50, col_stride: 1 };
    let b = MatRef { data: &b_data, rows: k, cols: n, row_stride: 1, col_stride: 3 * k };
    let mut want = vec![0.0; m * n];
    naive(&mut want, n, a, b, false);
    let mut got = vec![1.0; m * n];
    gemm_with(kernel, &mut got, n, a, b, false);
    assert!(got.iter().zip(&want).all(|(x, y)| x.to_bits() == y.to_bits()), "{kernel:?}");
}

#[test]
#[should_panic(expected = "reaches past")]
fn a_view_past_its_data_is_refused() {
    let data = [0.0; 8];
    let a = MatRef::row_major(&data, 3, 3);
    let b = MatRef::row_major(&data, 3, 1);
    gemm(&mut [0.0; 3], 1, a, b, false);
}

#[test]
fn kernels_are_named_as_the_environment_variable_spells_them() {
    assert_eq!(Kernel::from_name("avx512"), Some(Kernel::Avx512));
    assert_eq!(Kernel::from_name(" AVX2 "), Some(Kernel::Avx2));
    assert_eq!(Kernel::from_name("scalar"), Some(Kernel::Scalar));
    assert_eq!(Kernel::from_name("sse"), None);
    assert_eq!(Kernel::available().last(), Some(&Kernel::Scalar));
    assert!(Kernel::available().contains(&Kernel::detect()));
}
