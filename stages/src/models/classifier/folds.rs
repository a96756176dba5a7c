//! Dealing labelled patients into cross-validation folds, once or repeated:
//! every kind that cross-validates on the same labels with the same `folds`,
//! `repeats` and `seed` (the classifier, the baselines) gets the same deal,
//! so their out-of-fold predictions can be compared patient by patient.

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::StageError;

/// Indices of `labels` dealt into `k` folds, stratified by label: each class
/// is shuffled (seeded) and dealt in turn, so fold sizes differ by at most
/// one and every fold holds both classes. Each fold is sorted.
pub fn stratified_folds(labels: &[bool], k: usize, seed: u64) -> Result<Vec<Vec<usize>>, StageError> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut folds = vec![Vec::new(); k];
    let mut next = 0;
    for class in [false, true] {
        let mut idx: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] == class).collect();
        if idx.len() < k {
            return Err(StageError(format!(
                "folds = {k} needs at least {k} labelled patients with cancer = {} (have {})",
                class as u8,
                idx.len()
            )));
        }
        idx.shuffle(&mut rng);
        for i in idx {
            folds[next % k].push(i);
            next += 1;
        }
    }
    for f in &mut folds {
        f.sort_unstable();
    }
    Ok(folds)
}

/// The seed of repeat `repeat` (from 0) of a cross-validation seeded by
/// `seed`: the first repeat uses `seed` itself, so one repeat deals as a
/// plain k-fold run does; the others are spread by SplitMix64's mixer.
pub fn repeat_seed(seed: u64, repeat: usize) -> u64 {
    if repeat == 0 {
        return seed;
    }
    let mut z = seed.wrapping_add((repeat as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// `repeats` deals of `labels` into `k` stratified folds, each from its own
/// [`repeat_seed`]: `[repeat][fold]` → sorted indices.
pub fn repeated_folds(labels: &[bool], k: usize, repeats: usize, seed: u64) -> Result<Vec<Vec<Vec<usize>>>, StageError> {
    (0..repeats).map(|r| stratified_folds(labels, k, repeat_seed(seed, r))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(n: usize, every: usize) -> Vec<bool> {
        (0..n).map(|i| i % every == 0).collect()
    }

    #[test]
    fn folds_cover_every_patient_once_balanced_by_class() {
        let y = labels(23, 3); // 8 with cancer, 15 without
        let folds = stratified_folds(&y, 4, 7).unwrap();
        let mut all: Vec<usize> = folds.concat();
        all.sort_unstable();
        assert_eq!(all, (0..23).collect::<Vec<_>>());
        let sizes: Vec<usize> = folds.iter().map(Vec::len).collect();
        assert!(sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 1, "{sizes:?}");
        for f in &folds {
            assert_eq!(f.iter().filter(|&&i| y[i]).count(), 2, "{folds:?}");
        }
        assert_eq!(stratified_folds(&y, 4, 7).unwrap(), folds, "seeded");
        assert_ne!(stratified_folds(&y, 4, 8).unwrap(), folds, "another seed deals otherwise");
        let err = stratified_folds(&y, 9, 7).unwrap_err();
        assert!(err.0.contains("folds = 9 needs at least 9 labelled patients with cancer = 1 (have 8)"), "{err}");
    }

    #[test]
    fn repeats_deal_differently_and_the_first_deals_as_a_single_run() {
        let y = labels(30, 2);
        let deals = repeated_folds(&y, 5, 3, 11).unwrap();
        assert_eq!(deals.len(), 3);
        assert_eq!(deals[0], stratified_folds(&y, 5, 11).unwrap());
        assert_ne!(deals[0], deals[1]);
        assert_ne!(deals[1], deals[2]);
        assert_eq!(repeated_folds(&y, 5, 3, 11).unwrap(), deals, "seeded");
        let seeds: std::collections::BTreeSet<u64> = (0..100).map(|r| repeat_seed(0, r)).collect();
        assert_eq!(seeds.len(), 100);
    }
}
