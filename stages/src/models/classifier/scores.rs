//! Scores of probabilistic predictions against binary labels: log loss (as
//! Kaggle computed it for DSB 2017), accuracy, ROC AUC and the class-prior
//! baseline.

/// Probabilities are clipped to `[CLIP, 1 - CLIP]` before taking logs (the
/// DSB 2017 evaluation rule).
pub const CLIP: f64 = 1e-15;

/// Clips a probability to `[CLIP, 1 - CLIP]`.
pub fn clip(p: f64) -> f64 {
    p.clamp(CLIP, 1.0 - CLIP)
}

/// Mean binary log loss (nats); NaN for no rows.
pub fn log_loss(probabilities: &[f64], labels: &[bool]) -> f64 {
    let total: f64 = probabilities
        .iter()
        .zip(labels)
        .map(|(&p, &y)| {
            let p = clip(p);
            -if y { p.ln() } else { (1.0 - p).ln() }
        })
        .sum();
    total / probabilities.len() as f64
}

/// Fraction of rows where `p >= 0.5` agrees with the label.
pub fn accuracy(probabilities: &[f64], labels: &[bool]) -> f64 {
    let right = probabilities.iter().zip(labels).filter(|&(&p, &y)| (p >= 0.5) == y).count();
    right as f64 / probabilities.len() as f64
}

/// Area under the ROC curve: the probability that a random positive scores
/// above a random negative, ties counting half (Mann–Whitney, with average
/// ranks for ties). NaN when either class is absent.
pub fn auc(scores: &[f64], labels: &[bool]) -> f64 {
    let positives = labels.iter().filter(|&&y| y).count();
    let negatives = labels.len() - positives;
    if positives == 0 || negatives == 0 {
        return f64::NAN;
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && scores[order[j + 1]] == scores[order[i]] {
            j += 1;
        }
        let average_rank = (i + j) as f64 / 2.0 + 1.0;
        rank_sum += average_rank * order[i..=j].iter().filter(|&&k| labels[k]).count() as f64;
        i = j + 1;
    }
    let p = positives as f64;
    (rank_sum - p * (p + 1.0) / 2.0) / (p * negatives as f64)
}

/// Fraction of positive labels.
pub fn positive_rate(labels: &[bool]) -> f64 {
    labels.iter().filter(|&&y| y).count() as f64 / labels.len() as f64
}

/// Log loss of always predicting `prior` (the training cancer rate): the
/// baseline a classifier must beat.
pub fn prior_log_loss(prior: f64, labels: &[bool]) -> f64 {
    log_loss(&vec![prior; labels.len()], labels)
}

/// The scores of one set of predictions.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Scores {
    /// Mean log loss.
    pub log_loss: f64,
    /// Accuracy at 0.5.
    pub accuracy: f64,
    /// ROC AUC.
    pub auc: f64,
}

/// Log loss, accuracy and AUC together.
pub fn score(probabilities: &[f64], labels: &[bool]) -> Scores {
    Scores { log_loss: log_loss(probabilities, labels), accuracy: accuracy(probabilities, labels), auc: auc(probabilities, labels) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairwise_auc(scores: &[f64], labels: &[bool]) -> f64 {
        let (mut wins, mut pairs) = (0.0, 0.0);
        for (i, &yi) in labels.iter().enumerate() {
            for (j, &yj) in labels.iter().enumerate() {
                if yi && !yj {
                    pairs += 1.0;
                    wins += if scores[i] > scores[j] {
                        1.0
                    } else if scores[i] == scores[j] {
                        0.5
                    } else {
                        0.0
                    };
                }
            }
        }
        wins / pairs
    }

    #[test]
    fn auc_equals_the_pairwise_definition_with_ties() {
        let scores = [0.1, 0.4, 0.35, 0.8, 0.4, 0.4, 0.9, 0.05, 0.35];
        let labels = [false, false, true, true, true, false, true, false, false];
        let expected = pairwise_auc(&scores, &labels);
        assert!((auc(&scores, &labels) - expected).abs() < 1e-12, "{} vs {expected}", auc(&scores, &labels));
        assert_eq!(auc(&[0.1, 0.9], &[false, true]), 1.0);
        assert_eq!(auc(&[0.9, 0.1], &[false, true]), 0.0);
        assert_eq!(auc(&[0.5, 0.5], &[false, true]), 0.5);
        assert!(auc(&[0.5, 0.7], &[true, true]).is_nan());
    }

    #[test]
    fn log_loss_matches_hand_values_and_clips() {
        let l = log_loss(&[0.8, 0.3], &[true, false]);
        assert!((l - (-(0.8f64.ln()) - 0.7f64.ln()) / 2.0).abs() < 1e-15);
        // A confident wrong answer costs -ln(1e-15), not infinity.
        assert!((log_loss(&[0.0], &[true]) - 34.538776394910684).abs() < 1e-9);
        assert!(log_loss(&[1.0], &[true]) < 1e-14);
    }

    #[test]
    fn the_prior_baseline_is_the_entropy_of_the_rate() {
        // kdsb17's 0.57: always predicting the DSB 2017 training rate (~0.26)
        // on labels with that rate.
        let labels: Vec<bool> = (0..1000).map(|i| i % 100 < 26).collect();
        let rate = positive_rate(&labels);
        let expected = -(rate * rate.ln() + (1.0 - rate) * (1.0 - rate).ln());
        assert!((prior_log_loss(rate, &labels) - expected).abs() < 1e-12);
        assert!((expected - 0.5731).abs() < 1e-3, "{expected}");
        assert_eq!(accuracy(&[0.5, 0.49, 0.9], &[true, true, false]), 1.0 / 3.0);
    }
}
