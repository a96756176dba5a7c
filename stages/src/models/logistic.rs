//! Logistic regression on one score: `P(cancer) = σ(a + b·z)`, `z` the
//! score standardized over the patients fitted (mean 0, standard deviation 1;
//! a score that does not vary is only centred), so that the fit and its
//! penalty do not depend on the score's unit.
//!
//! The fit minimizes the penalized negative log-likelihood
//! `Σᵢ [log(1 + e^ηᵢ) − yᵢ·ηᵢ] + (RIDGE/2)·(a² + b²)`, `ηᵢ = a + b·zᵢ`, by
//! Newton's method with step halving. The objective is strictly convex, so
//! the minimum is unique; the tiny ridge keeps it finite when the classes
//! are separable (there the likelihood alone keeps rising as `b` grows) and
//! barely moves it otherwise. It stops when a full Newton step would move
//! neither coefficient by more than [`TOLERANCE`].

/// The ridge penalty's weight `λ` (on both coefficients, in standardized units).
pub const RIDGE: f64 = 1e-4;
/// Newton stops when no coefficient moves more than this.
pub const TOLERANCE: f64 = 1e-12;
/// The most Newton steps.
pub const MAX_STEPS: usize = 200;

/// A fitted one-score logistic model.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Logistic {
    /// Mean of the fitted scores.
    pub mean: f64,
    /// Their standard deviation (population), or 1 when it is 0.
    pub scale: f64,
    /// Intercept `a`.
    pub intercept: f64,
    /// Slope `b` per standard deviation of the score.
    pub slope: f64,
}

impl Logistic {
    /// The probability of cancer at `score`.
    pub fn probability(&self, score: f64) -> f64 {
        sigmoid(self.intercept + self.slope * (score - self.mean) / self.scale)
    }
}

/// The logistic function, without overflow for large |t|.
fn sigmoid(t: f64) -> f64 {
    if t >= 0.0 { 1.0 / (1.0 + (-t).exp()) } else { t.exp() / (1.0 + t.exp()) }
}

/// `log(1 + e^t)` without overflow.
fn softplus(t: f64) -> f64 {
    t.max(0.0) + (-t.abs()).exp().ln_1p()
}

/// Fits the model to scores and labels (the same, non-zero length).
pub fn fit(scores: &[f64], labels: &[bool]) -> Logistic {
    assert_eq!(scores.len(), labels.len(), "one label per score");
    let n = scores.len() as f64;
    let mean = scores.iter().sum::<f64>() / n;
    let sd = (scores.iter().map(|s| (s - mean).powi(2)).sum::<f64>() / n).sqrt();
    let scale = if sd > 0.0 { sd } else { 1.0 };
    let z: Vec<f64> = scores.iter().map(|s| (s - mean) / scale).collect();
    let objective = |a: f64, b: f64| -> f64 {
        let nll: f64 = z.iter().zip(labels).map(|(&z, &y)| softplus(a + b * z) - if y { a + b * z } else { 0.0 }).sum();
        nll + RIDGE / 2.0 * (a * a + b * b)
    };
    let (mut a, mut b) = (0.0, 0.0);
    for _ in 0..MAX_STEPS {
        // Gradient and Hessian of the objective.
        let (mut g, mut h) = ([RIDGE * a, RIDGE * b], [RIDGE, 0.0, RIDGE]);
        for (&z, &y) in z.iter().zip(labels) {
            let p = sigmoid(a + b * z);
            let r = p - if y { 1.0 } else { 0.0 };
            let w = p * (1.0 - p);
            g[0] += r;
            g[1] += r * z;
            h[0] += w;
            h[1] += w * z;
            h[2] += w * z * z;
        }
        let det = h[0] * h[2] - h[1] * h[1];
        let step = [(h[2] * g[0] - h[1] * g[1]) / det, (h[0] * g[1] - h[1] * g[0]) / det];
        // Halve the step while the objective rises by more than rounding
        // (far from the minimum a full step may overshoot).
        let (before, mut t) = (objective(a, b), 1.0);
        let slack = 1e-12 * before.abs().max(1.0);
        while objective(a - t * step[0], b - t * step[1]) > before + slack && t > 1e-10 {
            t /= 2.0;
        }
        a -= t * step[0];
        b -= t * step[1];
        if step[0].abs().max(step[1].abs()) <= TOLERANCE {
            break;
        }
    }
    Logistic { mean, scale, intercept: a, slope: b }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_the_fit_the_penalized_gradient_vanishes() {
        let scores = [0.0, 1.0, 2.0, 2.5, 3.0, 4.0, 5.5, 6.0];
        let labels = [false, false, true, false, true, false, true, true];
        let m = fit(&scores, &labels);
        let (mut ga, mut gb) = (RIDGE * m.intercept, RIDGE * m.slope);
        for (&s, &y) in scores.iter().zip(&labels) {
            let r = m.probability(s) - y as u8 as f64;
            ga += r;
            gb += r * (s - m.mean) / m.scale;
        }
        assert!(ga.abs() < 1e-10 && gb.abs() < 1e-10, "{ga} {gb}");
        assert!(m.slope > 0.0);
        // The unpenalized fit puts the mean probability at the cancer rate; the ridge barely moves it.
        let mean_p: f64 = scores.iter().map(|&s| m.probability(s)).sum::<f64>() / 8.0;
        assert!((mean_p - 0.5).abs() < 1e-4, "{mean_p}");
    }

    #[test]
    fn separable_classes_give_a_finite_fit_that_ranks_them() {
        let m = fit(&[1.0, 2.0, 3.0, 10.0, 11.0, 12.0], &[false, false, false, true, true, true]);
        assert!(m.slope.is_finite() && m.slope > 5.0, "{m:?}");
        assert!(m.probability(2.0) < 0.01 && m.probability(11.0) > 0.99, "{m:?}");
        // A score that does not vary predicts the cancer rate, about.
        let flat = fit(&[4.0; 4], &[true, false, false, false]);
        assert!((flat.probability(4.0) - 0.25).abs() < 1e-3, "{flat:?}");
        assert!(sigmoid(-800.0) == 0.0 && sigmoid(800.0) == 1.0 && softplus(800.0) == 800.0);
    }
}
