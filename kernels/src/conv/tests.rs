//! The three passes against a float64 reference written from the
//! definition, and their independence from the number of threads.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::*;

/// y, ∂L/∂x and ∂L/∂W in float64 by brute force, and for each element the
/// sum of |terms| (the scale of its rounding error).
struct Reference {
    y: Vec<(f64, f64)>,
    dx: Vec<(f64, f64)>,
    dw: Vec<(f64, f64)>,
}

fn reference(g: &Geometry, x: &[f32], w: &[f32], b: &[f32], dy: &[f32]) -> Reference {
    let [nx, nw, ny] = g.sizes();
    let (mut y, mut dx, mut dw) = (vec![(0.0, 0.0); ny], vec![(0.0, 0.0); nx], vec![(0.0, 0.0); nw]);
    let [od, oh, ow] = g.output;
    let [d, h, wd] = g.input;
    for n in 0..g.batch {
        for (co, &bias) in b.iter().enumerate() {
            for o in 0..od * oh * ow {
                let yi = (n * g.c_out + co) * od * oh * ow + o;
                y[yi] = (bias as f64, (bias as f64).abs());
                let pos = [o / (oh * ow), o / ow % oh, o % ow];
                for r in 0..g.rows() {
                    let (ci, k) = g.split_row(r);
                    let at: [isize; 3] = std::array::from_fn(|a| (pos[a] * g.stride[a] + k[a]) as isize - g.padding[a] as isize);
                    if at.iter().zip([d, h, wd]).any(|(&i, n)| i < 0 || i >= n as isize) {
                        continue;
                    }
                    let xi = ((n * g.c_in + ci) * d + at[0] as usize) * h * wd + at[1] as usize * wd + at[2] as usize;
                    let wi = co * g.rows() + r;
                    let (xv, wv, gv) = (x[xi] as f64, w[wi] as f64, dy[yi] as f64);
                    y[yi].0 += wv * xv;
                    y[yi].1 += (wv * xv).abs();
                    dx[xi].0 += wv * gv;
                    dx[xi].1 += (wv * gv).abs();
                    dw[wi].0 += gv * xv;
                    dw[wi].1 += (gv * xv).abs();
                }
            }
        }
    }
    Reference { y, dx, dw }
}

fn random(rng: &mut ChaCha8Rng, n: usize) -> Vec<f32> {
    (0..n).map(|_| rng.random_range(-1.0f32..1.0)).collect()
}

/// Largest |got − want| / scale, with the scale the sum of |terms|.
fn worst(got: &[f32], want: &[(f64, f64)]) -> f64 {
    assert_eq!(got.len(), want.len());
    got.iter().zip(want).map(|(&g, &(v, s))| (g as f64 - v).abs() / s.max(1e-30)).fold(0.0, f64::max)
}

fn shapes() -> Vec<Geometry> {
    let c = |batch, c_in, c_out, input, kernel, stride, padding| Geometry::conv(batch, c_in, c_out, input, kernel, stride, padding);
    vec![
        c(2, 1, 8, [9, 7, 11], [3, 3, 3], [1, 1, 1], [1, 1, 1]),
        c(1, 3, 8, [8, 8, 8], [3, 3, 3], [2, 2, 2], [1, 1, 1]),
        c(2, 8, 3, [7, 5, 9], [3, 3, 3], [2, 2, 2], [1, 1, 1]),
        c(1, 64, 8, [6, 5, 7], [3, 3, 3], [1, 1, 1], [1, 1, 1]),
        c(3, 8, 64, [5, 9, 6], [3, 3, 3], [2, 2, 2], [1, 1, 1]),
        c(1, 8, 1, [4, 4, 4], [1, 1, 1], [1, 1, 1], [0, 0, 0]),
        c(2, 3, 3, [9, 10, 11], [2, 3, 1], [2, 1, 3], [0, 1, 0]),
        c(1, 1, 1, [3, 17, 4], [3, 3, 3], [1, 2, 1], [2, 1, 2]),
        c(1, 64, 64, [8, 8, 8], [3, 3, 3], [2, 2, 2], [1, 1, 1]),
        c(2, 3, 5, [40, 9, 33], [3, 3, 3], [1, 1, 1], [1, 1, 1]),
    ]
}

#[test]
fn the_three_passes_equal_a_float64_reference() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    for g in shapes() {
        let [nx, nw, ny] = g.sizes();
        let (x, w, b, dy) = (random(&mut rng, nx), random(&mut rng, nw), random(&mut rng, g.c_out), random(&mut rng, ny));
        let want = reference(&g, &x, &w, &b, &dy);
        let errors = [
            worst(&forward(&x, &w, Some(&b), &g), &want.y),
            worst(&input_grad(&dy, &w, &g), &want.dx),
            worst(&weight_grad(&x, &dy, &g), &want.dw),
        ];
        assert!(errors.iter().all(|&e| e <= 1e-5), "{g:?}: relative errors (y, dx, dW) {errors:?}");
    }
}

#[test]
fn results_do_not_depend_on_the_number_of_threads() {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    for stride in [1, 2] {
        let g = Geometry::conv(2, 8, 16, [13, 12, 11], [3, 3, 3], [stride; 3], [1, 1, 1]);
        let [nx, nw, ny] = g.sizes();
        let (x, w, b, dy) = (random(&mut rng, nx), random(&mut rng, nw), random(&mut rng, g.c_out), random(&mut rng, ny));
        let run = |threads| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            pool.install(|| [forward(&x, &w, Some(&b), &g), input_grad(&dy, &w, &g), weight_grad(&x, &dy, &g)])
        };
        let bits = |v: [Vec<f32>; 3]| v.map(|v| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>());
        let one = bits(run(1));
        for threads in [2, 3, 5] {
            assert!(bits(run(threads)) == one, "stride {stride}: {threads} threads gave other bits than 1");
        }
    }
}

/// Whatever kernel `LUNGFLOW_GEMM_KERNEL` forces: the direct kernels need
/// only a CPU with AVX-512F (build.rs marks the test ignored without it).
#[cfg(target_arch = "x86_64")]
#[test]
#[cfg_attr(not(host_avx512), ignore = "this CPU has no AVX-512F: the direct convolution kernels cannot run here")]
fn direct_kernels_give_the_lowering_paths_bits() {
    use crate::gemm::Kernel;
    assert!(
        Kernel::available().contains(&Kernel::Avx512),
        "this CPU has no AVX-512F, but the build host had: rebuild on this machine (touch kernels/build.rs)"
    );
    let mut rng = ChaCha8Rng::seed_from_u64(13);
    let c = |batch, c_in, c_out, input, kernel, stride, padding| Geometry::conv(batch, c_in, c_out, input, kernel, stride, padding);
    let mut cases: Vec<Geometry> = shapes().into_iter().filter(|g| g.c_out <= direct::LANES).collect();
    cases.extend([
        c(1, 16, 16, [38, 34, 50], [3, 3, 3], [2, 2, 2], [1, 1, 1]), // the demo classifier's first convolution
        c(2, 16, 16, [19, 17, 25], [3, 3, 3], [1, 1, 1], [1, 1, 1]),
        c(1, 5, 13, [6, 7, 31], [3, 3, 3], [1, 1, 1], [1, 1, 1]),
        c(2, 2, 4, [5, 6, 7], [3, 3, 3], [2, 1, 2], [0, 1, 1]),
        c(1, 1, 16, [3, 3, 3], [3, 3, 3], [1, 1, 1], [2, 2, 2]),
    ]);
    assert!(cases.len() >= 10);
    let bits = |v: Vec<f32>| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
    for g in cases {
        let [nx, nw, ny] = g.sizes();
        let (mut x, w, b, dy) = (random(&mut rng, nx), random(&mut rng, nw), random(&mut rng, g.c_out), random(&mut rng, ny));
        x[0] = -0.0; // signed zeros and exact zeros take the same path
        x[nx / 2] = 0.0;
        for bias in [Some(&b[..]), None] {
            assert!(bits(direct::forward(&x, &w, bias, &g)) == bits(forward::lowered(&x, &w, bias, &g)), "forward {g:?}");
        }
        assert!(bits(direct::weight_grad(&x, &dy, &g)) == bits(weight_grad::lowered(&x, &dy, &g)), "weight gradient {g:?}");
    }
}

#[test]
fn lowering_into_the_products_panels_gives_the_lowering_paths_bits() {
    let mut rng = ChaCha8Rng::seed_from_u64(17);
    let c = |batch, c_in, c_out, input, kernel, stride, padding| Geometry::conv(batch, c_in, c_out, input, kernel, stride, padding);
    let mut cases = shapes();
    cases.extend([
        c(2, 64, 64, [10, 10, 10], [3, 3, 3], [1, 1, 1], [1, 1, 1]), // a long k: several k-blocks
        c(1, 4, 40, [7, 33, 40], [3, 3, 3], [1, 1, 1], [1, 1, 1]),   // lines longer than a panel
        c(1, 3, 17, [5, 4, 3], [3, 3, 3], [1, 1, 1], [1, 1, 1]),     // lines much shorter than a panel
        c(2, 5, 33, [9, 8, 7], [3, 3, 3], [2, 2, 2], [1, 1, 1]),
    ]);
    let bits = |v: Vec<f32>| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
    for g in cases {
        let [nx, nw, _] = g.sizes();
        let (mut x, w, b) = (random(&mut rng, nx), random(&mut rng, nw), random(&mut rng, g.c_out));
        x[0] = -0.0;
        for bias in [Some(&b[..]), None] {
            assert!(bits(planes::forward(&x, &w, bias, &g)) == bits(forward::lowered(&x, &w, bias, &g)), "{g:?}");
        }
    }
}
