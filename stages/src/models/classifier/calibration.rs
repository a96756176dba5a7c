//! How far predicted probabilities can be taken at their word, and the ROC
//! curve they trace: the Brier score, the reliability table of equal-width
//! probability bins, the expected calibration error over it, and the ROC
//! points at every distinct score.
//!
//! Probability bins: bin `i` of `b` holds `i/b <= p < (i+1)/b`, except that
//! the last also holds `p = 1` (a probability below 0 counts in the first
//! bin and one above 1 in the last, as `numpy.clip` of the bin index would
//! put them).
//!
//! The row types are those of `evaluate`'s tables, whose format owns them.

pub use crate::formats::evaluation::{ReliabilityBin, RocPoint};

/// Mean squared difference between each probability and its 0/1 label (the
/// Brier score: 0 is perfect, 0.25 is always saying 0.5); NaN for no rows.
pub fn brier(probabilities: &[f64], labels: &[bool]) -> f64 {
    let total: f64 = probabilities.iter().zip(labels).map(|(&p, &y)| (p - f64::from(u8::from(y))).powi(2)).sum();
    total / probabilities.len() as f64
}

/// The bin of `bins` equal-width bins over [0, 1] that holds `p` (see the
/// module doc for the edges).
fn bin_of(p: f64, bins: usize) -> usize {
    let i = (p * bins as f64).floor();
    if i >= bins as f64 {
        bins - 1
    } else if i > 0.0 {
        i as usize
    } else {
        0
    }
}

/// The reliability table: every one of `bins` equal-width bins over [0, 1]
/// in order, empty ones kept (patients 0, NaN means) so that the table always
/// has `bins` rows. Needs `bins >= 1`.
pub fn reliability(probabilities: &[f64], labels: &[bool], bins: usize) -> Vec<ReliabilityBin> {
    assert!(bins >= 1, "a reliability table needs at least one bin");
    let (mut count, mut sum_p, mut positives) = (vec![0usize; bins], vec![0.0; bins], vec![0usize; bins]);
    for (&p, &y) in probabilities.iter().zip(labels) {
        let i = bin_of(p, bins);
        count[i] += 1;
        sum_p[i] += p;
        positives[i] += usize::from(y);
    }
    (0..bins)
        .map(|i| {
            let n = count[i] as f64;
            ReliabilityBin {
                low: i as f64 / bins as f64,
                high: (i + 1) as f64 / bins as f64,
                patients: count[i],
                mean_probability: if count[i] == 0 { f64::NAN } else { sum_p[i] / n },
                cancer_rate: if count[i] == 0 { f64::NAN } else { positives[i] as f64 / n },
            }
        })
        .collect()
}

/// The weighted gap between predicted and observed rates over a reliability
/// table: the sum over non-empty bins of `patients / n * |mean_probability -
/// cancer_rate|`; NaN for no rows.
pub fn calibration_error(table: &[ReliabilityBin]) -> f64 {
    let n: usize = table.iter().map(|b| b.patients).sum();
    if n == 0 {
        return f64::NAN;
    }
    table.iter().filter(|b| b.patients > 0).map(|b| b.patients as f64 / n as f64 * (b.mean_probability - b.cancer_rate).abs()).sum()
}

/// Expected calibration error (ECE) over `bins` equal-width bins: see
/// [`calibration_error`]. Needs `bins >= 1`; NaN for no rows.
pub fn expected_calibration_error(probabilities: &[f64], labels: &[bool], bins: usize) -> f64 {
    calibration_error(&reliability(probabilities, labels, bins))
}

/// The ROC curve at every distinct score, highest first, after a first point
/// (0, 0) at threshold `+inf`; tied scores make one point. The same points
/// as scikit-learn's `roc_curve(labels, scores, drop_intermediate=False)`.
/// NaN scores are left out.
pub fn roc_points(scores: &[f64], labels: &[bool]) -> Vec<RocPoint> {
    let mut rows: Vec<(f64, bool)> = scores.iter().copied().zip(labels.iter().copied()).filter(|(s, _)| !s.is_nan()).collect();
    rows.sort_by(|a, b| b.0.total_cmp(&a.0));
    let positives = rows.iter().filter(|r| r.1).count() as f64;
    let negatives = rows.len() as f64 - positives;
    let point =
        |threshold, fp: f64, tp: f64| RocPoint { threshold, false_positive_rate: fp / negatives, true_positive_rate: tp / positives };
    let mut points = vec![point(f64::INFINITY, 0.0, 0.0)];
    let (mut fp, mut tp) = (0.0, 0.0);
    for (i, &(score, positive)) in rows.iter().enumerate() {
        if positive {
            tp += 1.0;
        } else {
            fp += 1.0;
        }
        if rows.get(i + 1).is_none_or(|next| next.0 != score) {
            points.push(point(score, fp, tp));
        }
    }
    points
}

/// Area under an ROC curve's points by the trapezoid rule (the AUC with ties
/// counting half, when the points are [`roc_points`]'); NaN when a rate is.
pub fn area_under(points: &[RocPoint]) -> f64 {
    points
        .windows(2)
        .map(|w| (w[1].false_positive_rate - w[0].false_positive_rate) * (w[1].true_positive_rate + w[0].true_positive_rate) / 2.0)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::classifier::scores::auc;

    #[test]
    fn brier_is_the_mean_squared_gap_to_the_label() {
        // (0.9-1)^2 = 0.01, (0.2-0)^2 = 0.04, (0.6-0)^2 = 0.36, (0.5-1)^2 = 0.25.
        let b = brier(&[0.9, 0.2, 0.6, 0.5], &[true, false, false, true]);
        assert!((b - 0.66 / 4.0).abs() < 1e-15, "{b}");
        assert_eq!(brier(&[1.0, 0.0], &[true, false]), 0.0);
        assert!(brier(&[], &[]).is_nan());
    }

    #[test]
    fn reliability_bins_are_equal_width_keep_empty_bins_and_put_one_in_the_last() {
        let p = [0.05, 0.15, 0.25, 0.7, 0.75, 1.0, 0.5];
        let y = [false, false, true, true, false, true, true];
        let t = reliability(&p, &y, 4);
        assert_eq!(t.len(), 4);
        assert_eq!(
            t.iter().map(|b| (b.low, b.high, b.patients)).collect::<Vec<_>>(),
            [(0.0, 0.25, 2), (0.25, 0.5, 1), (0.5, 0.75, 2), (0.75, 1.0, 2)]
        );
        assert!((t[0].mean_probability - 0.1).abs() < 1e-15 && t[0].cancer_rate == 0.0);
        assert_eq!((t[1].mean_probability, t[1].cancer_rate), (0.25, 1.0));
        assert!((t[2].mean_probability - 0.6).abs() < 1e-15 && t[2].cancer_rate == 1.0);
        assert_eq!((t[3].mean_probability, t[3].cancer_rate), (0.875, 0.5));
        let empty = reliability(&[0.1], &[true], 3);
        assert_eq!(empty[1].patients, 0);
        assert!(empty[1].mean_probability.is_nan() && empty[1].cancer_rate.is_nan());
        assert_eq!((bin_of(-0.2, 4), bin_of(1.7, 4), bin_of(0.25, 4), bin_of(0.2499, 4)), (0, 3, 1, 0));
    }

    #[test]
    fn the_calibration_error_weighs_each_bin_s_gap_by_its_rows() {
        // The table above: 2/7*|0.1-0| + 1/7*|0.25-1| + 2/7*|0.6-1| + 2/7*|0.875-0.5|.
        let p = [0.05, 0.15, 0.25, 0.7, 0.75, 1.0, 0.5];
        let y = [false, false, true, true, false, true, true];
        let expected = (2.0 * 0.1 + 0.75 + 2.0 * 0.4 + 2.0 * 0.375) / 7.0;
        let e = expected_calibration_error(&p, &y, 4);
        assert!((e - expected).abs() < 1e-15, "{e} vs {expected}");
        // Perfectly calibrated: each bin's rate is its mean probability.
        assert_eq!(expected_calibration_error(&[0.5, 0.5, 0.0], &[true, false, false], 2), 0.0);
        assert!(expected_calibration_error(&[], &[], 10).is_nan());
    }

    #[test]
    fn roc_points_group_ties_and_start_at_the_origin_like_scikit_learn() {
        // sklearn.metrics.roc_curve([1,0,1,0,1], [.9,.8,.8,.3,.1], drop_intermediate=False):
        // fpr [0, 0, .5, 1, 1], tpr [0, 1/3, 2/3, 2/3, 1], thresholds [inf, .9, .8, .3, .1].
        let s = [0.9, 0.8, 0.8, 0.3, 0.1];
        let y = [true, false, true, false, true];
        let r = roc_points(&s, &y);
        let got: Vec<(f64, f64, f64)> = r.iter().map(|p| (p.threshold, p.false_positive_rate, p.true_positive_rate)).collect();
        assert_eq!(got, [(f64::INFINITY, 0.0, 0.0), (0.9, 0.0, 1.0 / 3.0), (0.8, 0.5, 2.0 / 3.0), (0.3, 1.0, 2.0 / 3.0), (0.1, 1.0, 1.0)]);
        assert!((area_under(&r) - auc(&s, &y)).abs() < 1e-15, "{} vs {}", area_under(&r), auc(&s, &y));
        let one_class = roc_points(&[0.2, 0.4], &[true, true]);
        assert!(one_class[1].false_positive_rate.is_nan() && one_class[1].true_positive_rate == 0.5);
    }
}
