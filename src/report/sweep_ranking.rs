//! What ranks the variants of a sweep: for every varied stage that
//! cross-validates (writes an out-of-fold table), each variant's
//! cross-validated AUC with its 95 % interval, and its paired difference to
//! a reference variant on the same patients with that interval and its
//! bootstrap p-value, raw and Holm-corrected. They join the variant's
//! metrics as `STAGE.cv_auc[_low|_high]` and
//! `STAGE.cv_auc_diff[_low|_high|_p|_p_holm]`.
//!
//! The correction's family is every pair of variants with out-of-fold
//! tables on the same patients, not only the pairs with the reference: a
//! sweep of k variants invites k (k − 1) / 2 comparisons, and a pair's
//! corrected p-value is then the same whichever variant is the reference.
//! With uncorrected 95 % intervals, a sweep of 6 variants shows about one of
//! its 15 pairs as "different" by chance alone.
//!
//! The statistics are the stages crate's (`models::classifier::paired`);
//! this file only finds the tables, names the columns and fixes the draws.

use anyhow::{Result, anyhow};
use lungflow_stages::StageError;
use lungflow_stages::formats::classifier::read_out_of_fold;
use lungflow_stages::models::classifier::multiplicity::holm_adjusted;
use lungflow_stages::models::classifier::paired::{Estimate, OutOfFoldMatrix, PairedTest, cv_auc, paired_auc_test};

use crate::report::sweep_results::VariantResult;

/// Patient resamples behind every interval of the sweep table.
pub const RESAMPLES: usize = 2000;
/// Their seed: every `sweep show` draws the same resamples.
pub const SEED: u64 = 30;

/// The metric of a variant's cross-validated AUC (after `STAGE.`).
pub const CV_AUC: &str = "cv_auc";
/// The metric of its paired difference to the reference (variant minus
/// reference; after `STAGE.`).
pub const CV_AUC_DIFF: &str = "cv_auc_diff";
/// The suffix of a difference's bootstrap p-value: `STAGE.cv_auc_diff_p`.
pub const P: &str = "_p";
/// The suffix of that p-value after Holm's correction over every pair of
/// variants: `STAGE.cv_auc_diff_p_holm`.
pub const P_HOLM: &str = "_p_holm";
/// The level below which a corrected p-value marks a pair as different.
pub const ALPHA: f64 = 0.05;
/// The suffix of an interval's lower end: `STAGE.cv_auc_low`.
pub const LOW: &str = "_low";
/// The suffix of an interval's upper end: `STAGE.cv_auc_high`.
pub const HIGH: &str = "_high";

/// The index of the reference variant: the one named `name`, else the first
/// in the sweep's order. An unknown name is an error that lists the names.
pub fn reference_index(results: &[VariantResult], name: Option<&str>) -> Result<usize, String> {
    let Some(name) = name else { return Ok(0) };
    results.iter().position(|r| r.name == name).ok_or_else(|| {
        let names: Vec<&str> = results.iter().map(|r| r.name.as_str()).collect();
        format!("no variant {name:?} in the sweep (variants: {})", names.join(", "))
    })
}

/// Adds the cross-validated AUC columns of every cross-validating stage to
/// the variants' metrics, with differences to `results[reference]`. Returns
/// a note for each difference that could not be taken (variants on
/// different patients); an unreadable table is an error.
pub fn add_cv_auc(results: &mut [VariantResult], reference: usize) -> Result<Vec<String>> {
    let mut stages: Vec<String> = Vec::new();
    for (stage, _) in results.iter().flat_map(|r| &r.out_of_fold) {
        if !stages.contains(stage) {
            stages.push(stage.clone());
        }
    }
    let mut notes = Vec::new();
    for stage in &stages {
        let matrices = results.iter().map(|r| out_of_fold(r, stage)).collect::<Result<Vec<_>>>()?;
        let tests = pair_tests(&matrices, reference);
        // Holm's family: every pair tested with a p-value (NaN: not a test).
        let raw: Vec<f64> = tests.iter().map(|(_, t)| t.as_ref().ok().and_then(|t| t.p_value).unwrap_or(f64::NAN)).collect();
        let corrected = holm_adjusted(&raw);
        for (i, m) in matrices.iter().enumerate() {
            let Some(m) = m else { continue };
            let mut added = columns(stage, CV_AUC, cv_auc(m, RESAMPLES, SEED));
            if i == reference {
                // Against itself: 0, an interval of [0, 0], and no pair to correct.
                if let Ok(t) = paired_auc_test(m, m, RESAMPLES, SEED) {
                    added.extend(difference_columns(stage, t, None));
                }
            } else if let Some(k) = tests.iter().position(|(pair, _)| *pair == (i, reference)) {
                match &tests[k].1 {
                    Ok(t) => added.extend(difference_columns(stage, *t, Some(corrected[k]).filter(|p| !p.is_nan()))),
                    Err(e) => notes.push(format!("{}: no {stage}.{CV_AUC_DIFF}: {e}", results[i].name)),
                }
            }
            // A stage's own metrics.json may hold a `cv_auc` of the same
            // meaning (with another bootstrap seed): these replace it.
            results[i].metrics.retain(|(name, _)| !added.iter().any(|(a, _)| a == name));
            results[i].metrics.extend(added);
        }
    }
    Ok(notes)
}

/// Every pair of variants with out-of-fold tables, tested once: a pair with
/// the reference as `(variant, reference)`, the difference its columns
/// show; any other as `(a, b)` with a < b (a pair's p-value does not depend
/// on its order: the draws of `b − a` are those of `a − b` negated).
fn pair_tests(matrices: &[Option<OutOfFoldMatrix>], reference: usize) -> Vec<((usize, usize), Result<PairedTest, StageError>)> {
    let mut tests = Vec::new();
    for (a, ma) in matrices.iter().enumerate() {
        for (b, mb) in matrices.iter().enumerate().skip(a + 1) {
            let (Some(ma), Some(mb)) = (ma, mb) else { continue };
            let test = if a == reference {
                ((b, a), paired_auc_test(mb, ma, RESAMPLES, SEED))
            } else {
                ((a, b), paired_auc_test(ma, mb, RESAMPLES, SEED))
            };
            tests.push(test);
        }
    }
    tests
}

/// `STAGE.cv_auc_diff` with its interval, its p-value and, for a pair of
/// two variants, the corrected one.
fn difference_columns(stage: &str, t: PairedTest, corrected: Option<f64>) -> Vec<(String, f64)> {
    let mut out = columns(stage, CV_AUC_DIFF, t.estimate);
    if let (Some(p), Some(holm)) = (t.p_value, corrected) {
        out.push((format!("{stage}.{CV_AUC_DIFF}{P}"), p));
        out.push((format!("{stage}.{CV_AUC_DIFF}{P_HOLM}"), holm));
    }
    out
}

/// One variant's out-of-fold matrix of `stage`, if it has one.
fn out_of_fold(r: &VariantResult, stage: &str) -> Result<Option<OutOfFoldMatrix>> {
    let Some((_, path)) = r.out_of_fold.iter().find(|(s, _)| s == stage) else { return Ok(None) };
    let what = path.display().to_string();
    let rows = read_out_of_fold(path).map_err(|e| anyhow!("{e}"))?;
    OutOfFoldMatrix::from_rows(&rows, &what).map(Some).map_err(|e| anyhow!("{e}"))
}

/// `STAGE.METRIC` with its interval's ends (when there is an interval).
fn columns(stage: &str, metric: &str, e: Estimate) -> Vec<(String, f64)> {
    let name = format!("{stage}.{metric}");
    let mut out = vec![(name.clone(), e.value)];
    if let Some(i) = e.interval {
        out.push((format!("{name}{LOW}"), i.low));
        out.push((format!("{name}{HIGH}"), i.high));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::sweep_results::VariantState;
    use lungflow_stages::formats::classifier::{OutOfFold, write_cv_predictions};
    use std::path::Path;

    /// A variant whose out-of-fold table (if `strength` is given) separates
    /// 30 patients the more the larger `strength` is.
    fn variant(dir: &Path, name: &str, strength: Option<f64>) -> VariantResult {
        let mut r = VariantResult {
            name: name.into(),
            params: Default::default(),
            state: VariantState::Done,
            error: None,
            instances: 1,
            available: 1,
            seconds: 0.0,
            metrics: vec![("classifier.val_auc".into(), 0.5)],
            curves: Vec::new(),
            out_of_fold: Vec::new(),
        };
        if let Some(s) = strength {
            let out = dir.join(name);
            std::fs::create_dir_all(&out).unwrap();
            let rows: Vec<OutOfFold> = (0..2)
                .flat_map(|repeat| {
                    (0..30).map(move |i| {
                        let cancer = i % 3 == 0;
                        let noise = ((i * 7 + repeat * 5) % 11) as f64 / 11.0;
                        let probability = noise + if cancer { s } else { 0.0 };
                        OutOfFold { id: format!("p{i:02}"), cancer, repeat: repeat + 1, fold: 1 + i % 3, probability }
                    })
                })
                .collect();
            write_cv_predictions(&out, &rows).unwrap();
            r.out_of_fold.push(("classifier".into(), out.join(crate::report::sweep_results::OUT_OF_FOLD_FILE)));
        }
        r
    }

    fn metric(r: &VariantResult, name: &str) -> Option<f64> {
        r.metrics.iter().find(|(n, _)| n == name).map(|(_, v)| *v)
    }

    #[test]
    fn each_variant_gets_its_cv_auc_and_the_paired_difference_to_the_reference() {
        let dir = std::env::temp_dir().join(format!("lf-sweep-ranking-{}", std::process::id()));
        let mut results = vec![
            variant(&dir, "weak", Some(0.1)),
            variant(&dir, "strong", Some(0.5)),
            variant(&dir, "unfinished", None),
            variant(&dir, "middle", Some(0.25)),
        ];
        let notes = add_cv_auc(&mut results, 0).unwrap();
        assert!(notes.is_empty(), "{notes:?}");
        let matrix = |r: &VariantResult| out_of_fold(r, "classifier").unwrap().unwrap();
        let (weak, strong, middle) = (matrix(&results[0]), matrix(&results[1]), matrix(&results[3]));
        let auc = cv_auc(&strong, RESAMPLES, SEED);
        let test = paired_auc_test(&strong, &weak, RESAMPLES, SEED).unwrap();
        let diff = test.estimate;
        let r = &results[1];
        assert_eq!(metric(r, "classifier.cv_auc"), Some(auc.value));
        assert_eq!(metric(r, "classifier.cv_auc_low"), Some(auc.interval.unwrap().low));
        assert_eq!(metric(r, "classifier.cv_auc_high"), Some(auc.interval.unwrap().high));
        assert_eq!(metric(r, "classifier.cv_auc_diff"), Some(diff.value));
        assert_eq!(metric(r, "classifier.cv_auc_diff_low"), Some(diff.interval.unwrap().low));
        assert_eq!(metric(r, "classifier.cv_auc_diff_high"), Some(diff.interval.unwrap().high));
        assert_eq!(metric(r, "classifier.cv_auc_diff_p"), test.p_value);
        assert!(diff.value > 0.0, "the stronger variant ranks above the reference: {diff:?}");

        // Holm's family is the three pairs of the three tables, whichever
        // variant is the reference; its order is the variants'.
        let p = |a: &OutOfFoldMatrix, b: &OutOfFoldMatrix| paired_auc_test(a, b, RESAMPLES, SEED).unwrap().p_value.unwrap();
        let holm = holm_adjusted(&[p(&weak, &strong), p(&weak, &middle), p(&strong, &middle)]);
        assert_eq!(metric(r, "classifier.cv_auc_diff_p_holm"), Some(holm[0]));
        assert_eq!(metric(&results[3], "classifier.cv_auc_diff_p_holm"), Some(holm[1]));
        assert!(holm[0] >= p(&weak, &strong), "a correction never lowers a p-value");
        let mut against_middle = results.clone();
        add_cv_auc(&mut against_middle, 3).unwrap();
        assert_eq!(metric(&against_middle[1], "classifier.cv_auc_diff_p_holm"), Some(holm[2]));
        assert_eq!(metric(&against_middle[0], "classifier.cv_auc_diff_p_holm"), Some(holm[1]), "the same pair, the same value");

        assert_eq!(metric(&results[0], "classifier.cv_auc_diff"), Some(0.0));
        assert_eq!(metric(&results[0], "classifier.cv_auc_diff_p_holm"), None, "the reference is not a pair");
        assert_eq!(metric(&results[0], "classifier.val_auc"), Some(0.5), "the stage's own metrics stay");
        assert_eq!(results[2].metrics.len(), 1, "a variant without a table gets no columns");

        // Against the unfinished variant there is nothing to difference.
        let mut again = vec![variant(&dir, "weak", Some(0.1)), variant(&dir, "unfinished", None)];
        add_cv_auc(&mut again, 1).unwrap();
        assert!(metric(&again[0], "classifier.cv_auc").is_some() && metric(&again[0], "classifier.cv_auc_diff").is_none());
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn the_reference_defaults_to_the_first_variant_and_an_unknown_one_lists_the_names() {
        let dir = std::env::temp_dir();
        let results = vec![variant(&dir, "a=1", None), variant(&dir, "a=2", None)];
        assert_eq!(reference_index(&results, None), Ok(0));
        assert_eq!(reference_index(&results, Some("a=2")), Ok(1));
        assert_eq!(reference_index(&results, Some("a=3")).unwrap_err(), "no variant \"a=3\" in the sweep (variants: a=1, a=2)");
    }
}
