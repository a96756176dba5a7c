//! The mixture negative log-likelihood of a patch.
//!
//! With c voxels per patch and component k of mean cube μ_k, variance σ²_k
//! and prior α_k:
//!   E_k = log α_k − (c/2)·ln(2π σ²_k) − ‖t − μ_k‖² / (2 σ²_k)
//!   NLL = −logsumexp_k E_k,
//! computed stably as −(max_k E_k + ln Σ_k exp(E_k − max)) with the max held
//! constant for the gradient. Reported per voxel (NLL / c), in nats.

use burn::prelude::*;

use super::model::Mixture;
use crate::models::kernels::{KernelBackend, squared_distances};

/// NLL per patch, `[n]`, for targets `[n, 1, e, e, e]`.
pub fn nll_per_patch<B: KernelBackend>(mixture: &Mixture<B>, target: Tensor<B, 5>) -> Tensor<B, 1> {
    let [n, _, e1, e2, e3] = mixture.means.dims();
    let c = (e1 * e2 * e3) as f64;
    // ‖t − μ_k‖²: [n, m]
    let sq = squared_distances(mixture.means.clone(), target);
    let var = mixture.variances.clone();
    let energy = mixture.log_priors.clone()
        - var.clone().mul_scalar(2.0 * std::f64::consts::PI).log().mul_scalar(c / 2.0)
        - sq / var.mul_scalar(2.0);
    let max = energy.clone().max_dim(1).detach(); // [n, 1]
    let lse = (energy - max.clone()).exp().sum_dim(1).log() + max; // [n, 1]
    lse.neg().reshape([n])
}

/// Mean NLL per voxel over a batch (a scalar tensor).
pub fn nll_per_voxel<B: KernelBackend>(mixture: &Mixture<B>, target: Tensor<B, 5>) -> Tensor<B, 1> {
    let [_, _, e1, e2, e3] = target.dims();
    nll_per_patch(mixture, target).mean().div_scalar((e1 * e2 * e3) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::{Autodiff, NdArray};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    type F64 = NdArray<f64>;

    /// One random case: means [n][m][c], log priors, variances, target [n][c].
    struct Case {
        n: usize,
        m: usize,
        e: usize,
        means: Vec<f64>,
        log_priors: Vec<f64>,
        variances: Vec<f64>,
        target: Vec<f64>,
    }

    fn case(seed: u64, n: usize, m: usize, e: usize, floor: bool, far: bool) -> Case {
        let mut r = ChaCha8Rng::seed_from_u64(seed);
        let c = e * e * e;
        let target: Vec<f64> = (0..n * c).map(|_| r.random_range(-1.0..1.0)).collect();
        let mut means: Vec<f64> = (0..n * m * c).map(|_| r.random_range(-1.0..1.0)).collect();
        if far {
            // component 0 far away from everything
            for i in 0..n {
                for v in &mut means[i * m * c..i * m * c + c] {
                    *v += 25.0;
                }
            }
        }
        let mut log_priors = Vec::new();
        for _ in 0..n {
            let raw: Vec<f64> = (0..m).map(|_| r.random_range(-3.0..3.0)).collect();
            let lse = raw.iter().map(|x| x.exp()).sum::<f64>().ln();
            log_priors.extend(raw.iter().map(|x| x - lse));
        }
        let variances = (0..n * m).map(|k| if floor && k % 2 == 0 { 1e-4 } else { 1e-4 + r.random_range(0.0..1.5) }).collect();
        Case { n, m, e, means, log_priors, variances, target }
    }

    fn mixture<B: Backend>(c: &Case, device: &B::Device) -> (Mixture<B>, Tensor<B, 5>) {
        let f = |v: &Vec<f64>| v.iter().map(|&x| x as f32).collect::<Vec<f32>>();
        let mix = Mixture {
            means: Tensor::from_data(TensorData::new(f(&c.means), [c.n, c.m, c.e, c.e, c.e]), device),
            log_priors: Tensor::from_data(TensorData::new(f(&c.log_priors), [c.n, c.m]), device),
            variances: Tensor::from_data(TensorData::new(f(&c.variances), [c.n, c.m]), device),
        };
        let target = Tensor::from_data(TensorData::new(f(&c.target), [c.n, 1, c.e, c.e, c.e]), device);
        (mix, target)
    }

    fn mixture_f64(c: &Case, device: &burn::backend::ndarray::NdArrayDevice) -> (Mixture<F64>, Tensor<F64, 5>) {
        let mix = Mixture {
            means: Tensor::from_data(TensorData::new(c.means.clone(), [c.n, c.m, c.e, c.e, c.e]), device),
            log_priors: Tensor::from_data(TensorData::new(c.log_priors.clone(), [c.n, c.m]), device),
            variances: Tensor::from_data(TensorData::new(c.variances.clone(), [c.n, c.m]), device),
        };
        let target = Tensor::from_data(TensorData::new(c.target.clone(), [c.n, 1, c.e, c.e, c.e]), device);
        (mix, target)
    }

    /// The numpy float64 reference (peers/python/gmcae_loss.py) on some cases.
    fn numpy_reference(cases: &[Case]) -> Vec<Vec<f64>> {
        let json: Vec<serde_json::Value> = cases
            .iter()
            .map(|c| {
                let cv = c.e.pow(3);
                serde_json::json!({
                    "means": (0..c.n).map(|i| (0..c.m).map(|k| c.means[(i * c.m + k) * cv..(i * c.m + k + 1) * cv].to_vec()).collect::<Vec<_>>()).collect::<Vec<_>>(),
                    "log_priors": c.log_priors.chunks(c.m).map(<[f64]>::to_vec).collect::<Vec<_>>(),
                    "variances": c.variances.chunks(c.m).map(<[f64]>::to_vec).collect::<Vec<_>>(),
                    "target": c.target.chunks(cv).map(<[f64]>::to_vec).collect::<Vec<_>>(),
                })
            })
            .collect();
        let path = std::env::temp_dir().join(format!("lf-gmcae-cases-{}.json", std::process::id()));
        std::fs::write(&path, serde_json::to_vec(&json).unwrap()).unwrap();
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../peers/python/gmcae_loss.py");
        let out = std::process::Command::new(lungflow_testkit::python()).arg(script).arg(&path).output().expect("the test Python runs");
        std::fs::remove_file(&path).ok();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    }

    fn cases() -> Vec<Case> {
        vec![
            case(1, 3, 4, 4, false, false),
            case(2, 3, 4, 4, true, false), // variances at the floor
            case(3, 2, 4, 4, false, true), // one component far from the data
            case(4, 2, 1, 8, true, false), // a single Gaussian
            case(5, 2, 8, 8, true, true),  // 512 voxels, both extremes
        ]
    }

    #[test]
    fn loss_equals_the_float64_numpy_reference() {
        let cases = cases();
        let want = numpy_reference(&cases);
        let device = Default::default();
        let mut worst_f32: f64 = 0.0;
        for (c, want) in cases.iter().zip(&want) {
            let (mix, target) = mixture_f64(c, &device);
            let got: Vec<f64> = nll_per_patch(&mix, target).into_data().to_vec().unwrap();
            for (g, w) in got.iter().zip(want) {
                assert!(((g - w) / w).abs() <= 1e-6, "float64: {g} vs numpy {w}");
            }
            // The training backend (flex, float32).
            let (mix, target) = mixture::<burn::backend::Flex>(c, &Default::default());
            let got: Vec<f32> = nll_per_patch(&mix, target).into_data().to_vec().unwrap();
            for (g, w) in got.iter().zip(want) {
                worst_f32 = worst_f32.max(((*g as f64 - w) / w).abs());
            }
        }
        assert!(worst_f32 <= 1e-5, "float32 relative error {worst_f32}");
    }

    #[test]
    fn gradients_agree_with_finite_differences() {
        type AD = Autodiff<F64>;
        let device = Default::default();
        let c = case(9, 2, 3, 4, true, false);
        let shape5 = [c.n, c.m, c.e, c.e, c.e];
        let loss_of = |means: &[f64], lp: &[f64], var: &[f64]| -> f64 {
            let mix = Mixture::<F64> {
                means: Tensor::from_data(TensorData::new(means.to_vec(), shape5), &device),
                log_priors: Tensor::from_data(TensorData::new(lp.to_vec(), [c.n, c.m]), &device),
                variances: Tensor::from_data(TensorData::new(var.to_vec(), [c.n, c.m]), &device),
            };
            let t = Tensor::from_data(TensorData::new(c.target.clone(), [c.n, 1, c.e, c.e, c.e]), &device);
            nll_per_patch(&mix, t).sum().into_scalar()
        };
        let means = Tensor::<AD, 5>::from_data(TensorData::new(c.means.clone(), shape5), &device).require_grad();
        let lp = Tensor::<AD, 2>::from_data(TensorData::new(c.log_priors.clone(), [c.n, c.m]), &device).require_grad();
        let var =
            Tensor::<AD, 2>::from_data(TensorData::new(c.variances.iter().map(|v| v + 0.05).collect::<Vec<_>>(), [c.n, c.m]), &device)
                .require_grad();
        let target = Tensor::<AD, 5>::from_data(TensorData::new(c.target.clone(), [c.n, 1, c.e, c.e, c.e]), &device);
        let mix = Mixture { means: means.clone(), log_priors: lp.clone(), variances: var.clone() };
        let grads = nll_per_patch(&mix, target).sum().backward();
        let g_means: Vec<f64> = means.grad(&grads).unwrap().into_data().to_vec().unwrap();
        let g_lp: Vec<f64> = lp.grad(&grads).unwrap().into_data().to_vec().unwrap();
        let g_var: Vec<f64> = var.grad(&grads).unwrap().into_data().to_vec().unwrap();
        let base_var: Vec<f64> = c.variances.iter().map(|v| v + 0.05).collect();
        let h = 1e-6;
        let check = |analytic: f64, plus: f64, minus: f64, what: String| {
            let numeric = (plus - minus) / (2.0 * h);
            let scale = analytic.abs().max(numeric.abs()).max(1e-3);
            assert!((analytic - numeric).abs() / scale < 1e-5, "{what}: autodiff {analytic} vs finite difference {numeric}");
        };
        for i in [0, 5, 77, 130, c.means.len() - 1] {
            let mut p = c.means.clone();
            p[i] += h;
            let mut q = c.means.clone();
            q[i] -= h;
            check(g_means[i], loss_of(&p, &c.log_priors, &base_var), loss_of(&q, &c.log_priors, &base_var), format!("mean {i}"));
        }
        for i in 0..c.n * c.m {
            let (mut p, mut q) = (c.log_priors.clone(), c.log_priors.clone());
            p[i] += h;
            q[i] -= h;
            check(g_lp[i], loss_of(&c.means, &p, &base_var), loss_of(&c.means, &q, &base_var), format!("log prior {i}"));
            let (mut p, mut q) = (base_var.clone(), base_var.clone());
            p[i] += h;
            q[i] -= h;
            check(g_var[i], loss_of(&c.means, &c.log_priors, &p), loss_of(&c.means, &c.log_priors, &q), format!("variance {i}"));
        }
    }
}
