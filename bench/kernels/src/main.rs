//! lungflow-kernels' `gemm` against matrixmultiply's `sgemm` on the matrix
//! products of one training step of the demo's GMCAE (widths 8, 16, 32,
//! batch 8, two threads), one thread each, and how many of matrixmultiply's
//! results differ in their bits from the contract's fused multiply-add chain.
//!
//! `cargo run --release` (see run.sh). The crate's `gemm` module is private,
//! so it is compiled in here from its source.

#[allow(dead_code, unsafe_op_in_unsafe_fn)]
#[path = "../../../kernels/src/gemm/mod.rs"]
mod gemm;

use std::time::{Duration, Instant};

use gemm::{Kernel, MatRef};

/// One product of the step: C[m x n] (+)= A[m x k] · B[k x n].
#[derive(Clone, Copy)]
struct Shape {
    /// Calls per training step.
    calls: usize,
    m: usize,
    n: usize,
    k: usize,
    /// A stored transposed (its rows adjacent), as the input gradient's weights.
    a_t: bool,
    /// B stored transposed (its k-steps adjacent), as the weight gradient's ∂L/∂y.
    b_t: bool,
    accumulate: bool,
    /// Where the step makes it.
    what: &'static str,
}

/// The products one demo training step makes, as recorded from the
/// convolution passes (direct kernels do the rest, with no product).
const STEP: [Shape; 15] = [
    Shape { calls: 128, m: 108, n: 32, k: 256, a_t: false, b_t: true, accumulate: true, what: "weight gradient, lowered" },
    Shape { calls: 128, m: 108, n: 32, k: 64, a_t: false, b_t: true, accumulate: true, what: "weight gradient, lowered" },
    Shape { calls: 256, m: 54, n: 32, k: 256, a_t: false, b_t: true, accumulate: true, what: "weight gradient, lowered" },
    Shape { calls: 128, m: 216, n: 256, k: 16, a_t: true, b_t: false, accumulate: false, what: "input gradient, stride 2" },
    Shape { calls: 128, m: 216, n: 256, k: 8, a_t: true, b_t: false, accumulate: false, what: "input gradient, stride 2" },
    Shape { calls: 16, m: 432, n: 256, k: 16, a_t: true, b_t: false, accumulate: false, what: "input gradient, stride 2" },
    Shape { calls: 16, m: 432, n: 256, k: 32, a_t: true, b_t: false, accumulate: false, what: "input gradient, stride 2" },
    Shape { calls: 16, m: 864, n: 64, k: 32, a_t: true, b_t: false, accumulate: false, what: "input gradient, stride 2" },
    Shape { calls: 64, m: 32, n: 16, k: 1, a_t: false, b_t: false, accumulate: false, what: "forward, planes" },
    Shape { calls: 32, m: 32, n: 16, k: 864, a_t: false, b_t: false, accumulate: false, what: "forward, planes" },
    Shape { calls: 32, m: 32, n: 16, k: 864, a_t: false, b_t: false, accumulate: true, what: "forward, planes" },
    Shape { calls: 64, m: 32, n: 64, k: 432, a_t: false, b_t: false, accumulate: false, what: "forward, planes" },
    Shape { calls: 64, m: 32, n: 64, k: 432, a_t: false, b_t: false, accumulate: true, what: "forward, planes" },
    Shape { calls: 64, m: 32, n: 64, k: 864, a_t: false, b_t: false, accumulate: false, what: "forward, planes" },
    Shape { calls: 64, m: 32, n: 64, k: 864, a_t: false, b_t: false, accumulate: true, what: "forward, planes" },
];

/// splitmix64 floats in [-1, 1).
fn floats(len: usize, seed: u64) -> Vec<f32> {
    let mut s = seed;
    (0..len)
        .map(|_| {
            s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = s;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            ((z ^ (z >> 31)) >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        })
        .collect()
}

/// A shape's operands: A, B and C's start, with their strides.
struct Operands {
    a: Vec<f32>,
    b: Vec<f32>,
    c0: Vec<f32>,
    /// (row, column) strides of A and B.
    sa: (usize, usize),
    sb: (usize, usize),
}

impl Operands {
    fn new(s: &Shape, seed: u64) -> Operands {
        let sa = if s.a_t { (1, s.m) } else { (s.k, 1) };
        let sb = if s.b_t { (1, s.k) } else { (s.n, 1) };
        Operands { a: floats(s.m * s.k, seed), b: floats(s.k * s.n, seed + 1), c0: floats(s.m * s.n, seed + 2), sa, sb }
    }

    fn lungflow(&self, s: &Shape, c: &mut [f32]) {
        let a = MatRef { data: &self.a, rows: s.m, cols: s.k, row_stride: self.sa.0, col_stride: self.sa.1 };
        let b = MatRef { data: &self.b, rows: s.k, cols: s.n, row_stride: self.sb.0, col_stride: self.sb.1 };
        gemm::gemm(c, s.n, a, b, s.accumulate);
    }

    fn matrixmultiply(&self, s: &Shape, c: &mut [f32]) {
        let beta = if s.accumulate { 1.0 } else { 0.0 };
        let (sa, sb) = ((self.sa.0 as isize, self.sa.1 as isize), (self.sb.0 as isize, self.sb.1 as isize));
        // SAFETY: the strides describe A, B and C inside their vectors.
        unsafe {
            let (a, b) = (self.a.as_ptr(), self.b.as_ptr());
            matrixmultiply::sgemm(s.m, s.k, s.n, 1.0, a, sa.0, sa.1, b, sb.0, sb.1, beta, c.as_mut_ptr(), s.n as isize, 1);
        }
    }
}

/// The fastest of several rounds of repeated calls, in microseconds a call.
fn time(mut f: impl FnMut()) -> f64 {
    let mut best = f64::INFINITY;
    for _ in 0..7 {
        let (start, mut calls) = (Instant::now(), 0u32);
        while start.elapsed() < Duration::from_millis(40) {
            f();
            calls += 1;
        }
        best = best.min(start.elapsed().as_secs_f64() * 1e6 / calls as f64);
    }
    best
}

/// FNV-1a over the results' bits, to compare builds and kernels.
fn digest(v: &[f32]) -> u64 {
    v.iter().fold(0xcbf2_9ce4_8422_2325, |h, x| (h ^ x.to_bits() as u64).wrapping_mul(0x100_0000_01b3))
}

fn main() {
    println!("lungflow gemm kernel: {:?}", Kernel::detect());
    println!(
        "| m x n x k | A, B | C | calls | what | lungflow µs | matrixmultiply µs | ratio | bits differ | lungflow digest | mm digest |"
    );
    println!("|---|---|---|---:|---|---:|---:|---:|---:|---|---|");
    let (mut ours, mut theirs) = (0.0, 0.0);
    for (i, s) in STEP.iter().enumerate() {
        let ops = Operands::new(s, 10 * i as u64);
        let (mut c1, mut c2) = (ops.c0.clone(), ops.c0.clone());
        ops.lungflow(s, &mut c1);
        ops.matrixmultiply(s, &mut c2);
        let differ = c1.iter().zip(&c2).filter(|(x, y)| x.to_bits() != y.to_bits()).count();
        let (ours_bits, bits) = (digest(&c1), digest(&c2));
        let t1 = time(|| ops.lungflow(s, &mut c1));
        let t2 = time(|| ops.matrixmultiply(s, &mut c2));
        ours += t1 * s.calls as f64;
        theirs += t2 * s.calls as f64;
        let layout = format!("{}, {}", if s.a_t { "Aᵀ" } else { "A" }, if s.b_t { "Bᵀ" } else { "B" });
        let c = if s.accumulate { "C +=" } else { "C =" };
        let pct = 100.0 * differ as f64 / c1.len() as f64;
        println!(
            "| {}x{}x{} | {layout} | {c} | {} | {} | {t1:.2} | {t2:.2} | {:.2} | {pct:.0} % | {ours_bits:016x} | {bits:016x} |",
            s.m,
            s.n,
            s.k,
            s.calls,
            s.what,
            t2 / t1,
        );
    }
    println!(
        "one step's products, one thread: lungflow {:.1} ms, matrixmultiply {:.1} ms ({:.2}x)",
        ours / 1e3,
        theirs / 1e3,
        theirs / ours
    );
}
