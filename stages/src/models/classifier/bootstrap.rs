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

/// The two-sided bootstrap p-value of "the statistic is 0" from its draws
/// on resamples: twice the share of draws on the far side of 0 (at 0
/// counts for both sides), with one added to count and total so that a
/// finite number of draws never gives 0: `min(1, 2 (k + 1) / (B + 1))`,
/// `k = min(#{d <= 0}, #{d >= 0})`. It is below 0.05 about when the
/// central 95 % interval excludes 0. `None` for no draws.
pub(crate) fn two_sided_p(draws: &[f64]) -> Option<f64> {
    if draws.is_empty() {
        return None;
    }
    let below = draws.iter().filter(|&&d| d <= 0.0).count();
    let above = draws.iter().filter(|&&d| d >= 0.0).count();
    let far = below.min(above) as f64;
    Some((2.0 * (far + 1.0) / (draws.len() as f64 + 1.0)).min(1.0))
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
    fn the_p_value_counts_the_draws_beyond_zero_and_is_never_zero() {
        assert_eq!(two_sided_p(&[]), None);
        assert_eq!(two_sided_p(&[0.0; 9]), Some(1.0), "all draws at 0: no evidence");
        assert_eq!(two_sided_p(&[0.1; 9]), Some(0.2), "2 (0 + 1) / 10");
        let mixed = [-0.2, 0.0, 0.1, 0.3, 0.4, 0.2, 0.5, 0.1, 0.2];
        assert_eq!(two_sided_p(&mixed), Some(0.6), "2 (2 + 1) / 10: the 0 counts on both sides");
        assert_eq!(two_sided_p(&mixed.map(|d| -d)), Some(0.6), "symmetric in the sign");
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
