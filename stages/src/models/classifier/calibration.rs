//! Calibration scores of predicted probabilities.

/// Mean squared difference between probability and outcome.
pub fn brier(probabilities: &[f64], labels: &[bool]) -> f64 {
    probabilities.iter().zip(labels).map(|(&p, &y)| (p - f64::from(u8::from(y))).powi(2)).sum::<f64>() / probabilities.len() as f64
}

/// Expected calibration error over `bins` equal-width bins.
pub fn expected_calibration_error(probabilities: &[f64], labels: &[bool], bins: usize) -> f64 {
    let mut acc = vec![(0.0, 0.0, 0usize); bins];
    for (&p, &y) in probabilities.iter().zip(labels) {
        let b = ((p * bins as f64) as usize).min(bins - 1);
        acc[b] = (acc[b].0 + p, acc[b].1 + f64::from(u8::from(y)), acc[b].2 + 1);
    }
    let n = probabilities.len() as f64;
    acc.iter().filter(|a| a.2 > 0).map(|&(p, y, c)| (c as f64 / n) * ((p - y) / c as f64).abs()).sum()
}
