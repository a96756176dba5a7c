//! Bootstrap confidence intervals for scores on a small test set: patients
//! are resampled with replacement (seeded), each score is recomputed on
//! every resample, and the interval is the 2.5th to 97.5th percentile.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use super::scores::{auc, log_loss};

/// A two-sided percentile interval.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Interval {
    /// Lower end.
    pub low: f64,
    /// Upper end.
    pub high: f64,
}

/// 95 % intervals of the scores of one set of predictions.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Intervals {
    /// Of the log loss.
    pub log_loss: Interval,
    /// Of the AUC, over the resamples that hold both classes; `None` when
    /// there are none (a single class in the data).
    pub auc: Option<Interval>,
    /// Resamples drawn.
    pub resamples: usize,
}

/// The `q`-quantile of sorted values (linear between neighbours, as numpy's
/// default).
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// The central 95 % of some values; `None` for none.
pub(crate) fn central_95(mut values: Vec<f64>) -> Option<Interval> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    Some(Interval { low: quantile(&values, 0.025), high: quantile(&values, 0.975) })
}

/// The two-sided p-value of "the statistic is 0" from its `value` on all
/// rows and its `draws` on resamples, by the normal approximation to the
/// bootstrap distribution: `z = value / sd(draws)`, `p = erfc(|z| / √2)`.
/// Unlike counting the draws beyond 0, it has no floor of `2 / B`, so a
/// correction over many pairs can still mark a clear difference. A
/// statistic that never varies gives 1 at 0 and 0 elsewhere; `None` for
/// fewer than two draws.
pub(crate) fn normal_p(value: f64, draws: &[f64]) -> Option<f64> {
    if draws.len() < 2 {
        return None;
    }
    let n = draws.len() as f64;
    let mean = draws.iter().sum::<f64>() / n;
    let sd = (draws.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
    if sd == 0.0 {
        return Some(if value == 0.0 { 1.0 } else { 0.0 });
    }
    Some(libm::erfc((value / sd).abs() / std::f64::consts::SQRT_2))
}

/// `resamples` draws of `n` row indices with replacement, seeded by `seed`
/// (every bootstrap here draws its resamples this way).
pub(crate) fn resample_indices(n: usize, resamples: usize, seed: u64) -> impl Iterator<Item = Vec<usize>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..resamples).map(move |_| (0..n).map(|_| rng.random_range(0..n)).collect())
}

/// Percentile-bootstrap 95 % intervals of log loss and AUC from `resamples`
/// resamples of the rows, seeded by `seed`. Needs at least one row and one
/// resample.
pub fn bootstrap(probabilities: &[f64], labels: &[bool], resamples: usize, seed: u64) -> Intervals {
    let n = probabilities.len();
    let (mut losses, mut aucs) = (Vec::with_capacity(resamples), Vec::with_capacity(resamples));
    let (mut p, mut y) = (vec![0.0; n], vec![false; n]);
    for pick in resample_indices(n, resamples, seed) {
        for (j, &i) in pick.iter().enumerate() {
            p[j] = probabilities[i];
            y[j] = labels[i];
        }
        losses.push(log_loss(&p, &y));
        let a = auc(&p, &y);
        if a.is_finite() {
            aucs.push(a);
        }
    }
    Intervals { log_loss: central_95(losses).expect("at least one resample"), auc: central_95(aucs), resamples }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate_like_numpy() {
        let v = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(quantile(&v, 0.0), 1.0);
        assert_eq!(quantile(&v, 0.5), 3.0);
        assert!((quantile(&v, 0.975) - 4.9).abs() < 1e-12);
        assert!((quantile(&v, 0.025) - 1.1).abs() < 1e-12);
    }

    #[test]
    fn the_p_value_is_the_normal_tail_at_the_bootstraps_standard_error() {
        assert_eq!(normal_p(0.3, &[0.3]), None);
        assert_eq!(normal_p(0.0, &[0.0; 9]), Some(1.0), "never varies, at 0: no evidence");
        assert_eq!(normal_p(0.1, &[0.1; 9]), Some(0.0), "never varies, not at 0");
        // Draws -1 and 1 have a standard deviation of sqrt(4/3) (n - 1).
        let draws = [-1.0, 1.0, -1.0, 1.0];
        let sd = (4.0f64 / 3.0).sqrt();
        // 2 (1 - Phi(z)) at z = 1.96 sd is 0.0499958 (tables of the normal).
        assert!((normal_p(1.96 * sd, &draws).unwrap() - 0.0499958).abs() < 1e-6);
        assert!((normal_p(-sd, &draws).unwrap() - 0.3173105).abs() < 1e-6, "z = -1: symmetric");
    }

    #[test]
    fn intervals_hold_the_estimate_and_narrow_with_more_patients() {
        // Scores that separate the classes imperfectly, 30 and 300 patients.
        let make = |n: usize| -> (Vec<f64>, Vec<bool>) {
            let y: Vec<bool> = (0..n).map(|i| i % 2 == 0).collect();
            let p = (0..n).map(|i| if y[i] { 0.6 } else { 0.4 } + ((i * 37 % 11) as f64 - 5.0) / 25.0).collect();
            (p, y)
        };
        let (p, y) = make(30);
        let small = bootstrap(&p, &y, 2000, 1);
        let (a, l) = (auc(&p, &y), log_loss(&p, &y));
        let ai = small.auc.unwrap();
        assert!(ai.low < a && a < ai.high, "{a} in {ai:?}");
        assert!(small.log_loss.low < l && l < small.log_loss.high, "{l} in {:?}", small.log_loss);
        assert_eq!(bootstrap(&p, &y, 2000, 1), small, "seeded");
        let (p, y) = make(300);
        let large = bootstrap(&p, &y, 2000, 1);
        let width = |i: Interval| i.high - i.low;
        assert!(width(large.auc.unwrap()) < 0.6 * width(ai), "{large:?} vs {small:?}");
        // One class only: no AUC interval, a log-loss interval still.
        let one = bootstrap(&[0.2, 0.3], &[false, false], 100, 1);
        assert_eq!(one.auc, None);
        assert!(one.log_loss.low <= one.log_loss.high);
    }
}
