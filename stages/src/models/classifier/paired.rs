//! Cross-validated AUC with a patient-bootstrap interval, and the paired
//! difference of two models' cross-validated AUCs on the same patients.
//!
//! A model's cross-validated AUC here is the AUC of its pooled out-of-fold
//! probabilities, averaged over the repeats (deals of the folds). The
//! interval resamples patients with replacement (seeded) and recomputes that
//! average on every resample; a paired difference resamples the same
//! patients for both models, so what the patients have in common cancels.

use std::collections::BTreeMap;

use serde::Serialize;

use super::bootstrap::{Interval, central_95, normal_p, resample_indices};
use super::scores::auc;
use crate::StageError;
use crate::formats::classifier::OutOfFold;

/// An estimate with its percentile-bootstrap 95 % interval.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Estimate {
    /// The value on all patients.
    pub value: f64,
    /// The interval; `None` when no resample held both classes.
    pub interval: Option<Interval>,
}

/// One model's out-of-fold probabilities as `[repeat][patient]`, over
/// patients in id order, with their labels.
#[derive(Clone, Debug, PartialEq)]
pub struct OutOfFoldMatrix {
    /// Patient ids, sorted.
    pub ids: Vec<String>,
    /// Their labels.
    pub labels: Vec<bool>,
    /// Probabilities, one row per repeat.
    pub repeats: Vec<Vec<f64>>,
}

impl OutOfFoldMatrix {
    /// Arranges the rows of a `cv_predictions.parquet`: every repeat must
    /// hold every patient once, with one label per patient. `what` names the
    /// table in errors.
    pub fn from_rows(rows: &[OutOfFold], what: &str) -> Result<Self, StageError> {
        let mut labels: BTreeMap<&str, bool> = BTreeMap::new();
        let mut by_repeat: BTreeMap<usize, BTreeMap<&str, f64>> = BTreeMap::new();
        for r in rows {
            if *labels.entry(&r.id).or_insert(r.cancer) != r.cancer {
                return Err(StageError(format!("{what}: patient {} has two labels", r.id)));
            }
            if by_repeat.entry(r.repeat).or_default().insert(&r.id, r.probability).is_some() {
                return Err(StageError(format!("{what}: patient {} appears twice in repeat {}", r.id, r.repeat)));
            }
        }
        if labels.is_empty() {
            return Err(StageError(format!("{what}: no out-of-fold predictions")));
        }
        let mut repeats = Vec::new();
        for (repeat, probs) in by_repeat {
            if probs.len() != labels.len() {
                return Err(StageError(format!("{what}: repeat {repeat} holds {} of the {} patients", probs.len(), labels.len())));
            }
            repeats.push(probs.into_values().collect());
        }
        Ok(Self { ids: labels.keys().map(|s| s.to_string()).collect(), labels: labels.into_values().collect(), repeats })
    }

    /// The mean over repeats of the AUC of the patients at `pick` (indices,
    /// repeats allowed); NaN when they hold one class only.
    fn mean_auc(&self, pick: &[usize]) -> f64 {
        let y: Vec<bool> = pick.iter().map(|&i| self.labels[i]).collect();
        let total: f64 = self.repeats.iter().map(|p| auc(&pick.iter().map(|&i| p[i]).collect::<Vec<_>>(), &y)).sum();
        total / self.repeats.len() as f64
    }
}

/// A paired difference with its interval and the bootstrap p-value of "no
/// difference".
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct PairedTest {
    /// The difference and its 95 % interval.
    pub estimate: Estimate,
    /// Two-sided, the normal approximation with the standard error of the
    /// same resamples (see `bootstrap::normal_p`); `None` when fewer than
    /// two resamples held both classes.
    pub p_value: Option<f64>,
}

/// A statistic of the patients on all of them, and its finite values over
/// `resamples` bootstrap resamples.
fn value_and_draws(n: usize, resamples: usize, seed: u64, stat: impl Fn(&[usize]) -> f64) -> (f64, Vec<f64>) {
    let all: Vec<usize> = (0..n).collect();
    let draws = resample_indices(n, resamples, seed).map(|pick| stat(&pick)).filter(|v| v.is_finite()).collect();
    (stat(&all), draws)
}

/// A statistic of the patients on all of them and over `resamples`
/// bootstrap resamples (those where it is NaN are left out).
fn estimate(n: usize, resamples: usize, seed: u64, stat: impl Fn(&[usize]) -> f64) -> Estimate {
    let (value, draws) = value_and_draws(n, resamples, seed, stat);
    Estimate { value, interval: central_95(draws) }
}

/// One model's cross-validated AUC (pooled out-of-fold, mean over repeats)
/// with its 95 % interval over `resamples` patient resamples.
pub fn cv_auc(m: &OutOfFoldMatrix, resamples: usize, seed: u64) -> Estimate {
    estimate(m.ids.len(), resamples, seed, |pick| m.mean_auc(pick))
}

/// The paired difference `a − b` of two models' cross-validated AUCs over
/// the same patients, with its 95 % interval over `resamples` resamples of
/// the patients (the same draw for both). The models must hold the same
/// patients with the same labels; their repeats may differ in number.
pub fn paired_auc_difference(a: &OutOfFoldMatrix, b: &OutOfFoldMatrix, resamples: usize, seed: u64) -> Result<Estimate, StageError> {
    paired_auc_test(a, b, resamples, seed).map(|t| t.estimate)
}

/// [`paired_auc_difference`] with the bootstrap p-value of "the two models'
/// cross-validated AUCs are equal", from the same resamples.
pub fn paired_auc_test(a: &OutOfFoldMatrix, b: &OutOfFoldMatrix, resamples: usize, seed: u64) -> Result<PairedTest, StageError> {
    if a.ids != b.ids || a.labels != b.labels {
        let only = |x: &OutOfFoldMatrix, y: &OutOfFoldMatrix| x.ids.iter().filter(|i| !y.ids.contains(i)).count();
        return Err(StageError(format!(
            "the two models' out-of-fold predictions are not on the same labelled patients ({} only in the first, {} only in the second{})",
            only(a, b),
            only(b, a),
            if a.ids == b.ids { ", or the labels differ" } else { "" }
        )));
    }
    let (value, draws) = value_and_draws(a.ids.len(), resamples, seed, |pick| a.mean_auc(pick) - b.mean_auc(pick));
    let p_value = normal_p(value, &draws);
    Ok(PairedTest { estimate: Estimate { value, interval: central_95(draws) }, p_value })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(probs: &[&[f64]], labels: &[bool]) -> Vec<OutOfFold> {
        let mut out = Vec::new();
        for (r, p) in probs.iter().enumerate() {
            for (i, (&p, &y)) in p.iter().zip(labels).enumerate() {
                out.push(OutOfFold { id: format!("p{i:02}"), cancer: y, repeat: r + 1, fold: 1 + i % 2, probability: p });
            }
        }
        out
    }

    #[test]
    fn the_matrix_refuses_a_repeat_missing_a_patient_or_a_patient_twice() {
        let y = [true, false, true];
        let mut r = rows(&[&[0.9, 0.1, 0.8], &[0.7, 0.2, 0.6]], &y);
        let m = OutOfFoldMatrix::from_rows(&r, "t").unwrap();
        assert_eq!(m.repeats, vec![vec![0.9, 0.1, 0.8], vec![0.7, 0.2, 0.6]]);
        r.pop();
        assert!(OutOfFoldMatrix::from_rows(&r, "t").unwrap_err().0.contains("t: repeat 2 holds 2 of the 3 patients"));
        r.push(r[0].clone());
        assert!(OutOfFoldMatrix::from_rows(&r, "t").unwrap_err().0.contains("patient p00 appears twice in repeat 1"));
    }

    #[test]
    fn the_cv_auc_averages_repeats_and_the_difference_of_a_model_with_itself_is_zero() {
        let y: Vec<bool> = (0..40).map(|i| i % 2 == 0).collect();
        let a: Vec<f64> = (0..40).map(|i| if y[i] { 0.6 } else { 0.4 } + ((i * 37 % 11) as f64 - 5.0) / 20.0).collect();
        let b: Vec<f64> = (0..40).map(|i| ((i * 13 % 17) as f64) / 17.0).collect();
        let ma = OutOfFoldMatrix::from_rows(&rows(&[&a, &b], &y), "a").unwrap();
        let e = cv_auc(&ma, 500, 3);
        assert!((e.value - (auc(&a, &y) + auc(&b, &y)) / 2.0).abs() < 1e-12);
        let i = e.interval.unwrap();
        assert!(i.low < e.value && e.value < i.high, "{e:?}");
        let self_diff = paired_auc_difference(&ma, &ma, 500, 3).unwrap();
        assert_eq!((self_diff.value, self_diff.interval.unwrap()), (0.0, Interval { low: 0.0, high: 0.0 }));
        let good = OutOfFoldMatrix::from_rows(&rows(&[&a], &y), "good").unwrap();
        let poor = OutOfFoldMatrix::from_rows(&rows(&[&b], &y), "poor").unwrap();
        let d = paired_auc_difference(&good, &poor, 500, 3).unwrap();
        assert!((d.value - (auc(&a, &y) - auc(&b, &y))).abs() < 1e-12);
        assert!(d.interval.unwrap().low < d.value && d.value < d.interval.unwrap().high);
        let fewer = OutOfFoldMatrix::from_rows(&rows(&[&a[..39]], &y[..39]), "fewer").unwrap();
        assert!(paired_auc_difference(&good, &fewer, 10, 3).unwrap_err().0.contains("1 only in the first, 0 only in the second"));
    }
}
