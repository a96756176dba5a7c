//! What a cross-validation reports: the folds' spread, the pooled
//! out-of-fold scores with their intervals and calibration, the paired
//! difference to a baseline on the same folds, and, given the cohort's
//! nodules, how each kind of cancer is ranked.

use std::collections::BTreeMap;

use serde_json::json;

use super::calibration::{brier, expected_calibration_error};
use super::cross_validation::{CrossValidation, mean_sd};
use super::paired::{OutOfFoldMatrix, cv_auc, paired_auc_difference};
use super::sensitivity::{PatientNodules, auc_by_group, sensitivity_by_group};
use crate::StageError;

/// Patient resamples of the cross-validation's bootstrap intervals.
const CV_RESAMPLES: usize = 2000;

/// The cross-validation's metrics (see `classifier_train`'s docs), with the
/// paired difference to `baseline` and the scores by nodule group when given.
pub fn cv_metrics(
    cv: &CrossValidation,
    baseline: Option<&OutOfFoldMatrix>,
    nodules: Option<&BTreeMap<String, PatientNodules>>,
    seed: u64,
    log: &mut dyn FnMut(&str),
) -> Result<serde_json::Map<String, serde_json::Value>, StageError> {
    let mut m = serde_json::Map::new();
    let aucs: Vec<f64> = cv.folds.iter().map(|s| s.scores.auc).collect();
    let (auc_mean, auc_sd) = mean_sd(&aucs);
    let (loss_mean, loss_sd) = cv.spread(|s| s.log_loss);
    let pooled = cv.pooled();
    let model = OutOfFoldMatrix::from_rows(&cv.predictions, "the cross-validation")?;
    let estimate = cv_auc(&model, CV_RESAMPLES, seed);
    let p: Vec<f64> = cv.predictions.iter().map(|r| r.probability).collect();
    let y: Vec<bool> = cv.predictions.iter().map(|r| r.cancer).collect();
    let mut put = |name: &str, value: serde_json::Value| m.insert(name.to_owned(), value);
    put("cv_auc", json!(estimate.value));
    put("cv_auc_low", json!(estimate.interval.map(|i| i.low)));
    put("cv_auc_high", json!(estimate.interval.map(|i| i.high)));
    put("cv_auc_mean", json!(auc_mean));
    put("cv_auc_sd", json!(auc_sd));
    put("cv_auc_min", json!(aucs.iter().copied().fold(f64::INFINITY, f64::min)));
    put("cv_log_loss_mean", json!(loss_mean));
    put("cv_log_loss_sd", json!(loss_sd));
    put("cv_pooled_auc", json!(pooled.auc));
    put("cv_pooled_log_loss", json!(pooled.log_loss));
    put("cv_brier", json!(brier(&p, &y)));
    put("cv_ece", json!(expected_calibration_error(&p, &y, CALIBRATION_BINS)));
    put("cv_folds", json!(cv.folds.iter().map(|f| f.fold).max().unwrap_or(0)));
    put("cv_repeats", json!(cv.folds.iter().map(|f| f.repeat).max().unwrap_or(0)));
    put("cv_restarts", json!(cv.folds.iter().map(|f| f.restarts).sum::<usize>()));
    if let Some(nodules) = nodules {
        m.extend(by_nodule_group(&model, nodules));
    }
    if let Some(baseline) = baseline {
        let diff = paired_auc_difference(&model, baseline, CV_RESAMPLES, seed)?;
        let base = cv_auc(baseline, 1, seed).value;
        let beats = diff.interval.is_some_and(|i| i.low > 0.0);
        log(&format!(
            "against the baseline: cross-validated AUC {:.3} vs {base:.3}, paired difference {:+.3} [{:+.3}, {:+.3}]{}",
            estimate.value,
            diff.value,
            diff.interval.map_or(f64::NAN, |i| i.low),
            diff.interval.map_or(f64::NAN, |i| i.high),
            if beats { "" } else { ": the model does NOT beat its baseline" }
        ));
        m.insert("baseline_cv_auc".into(), json!(base));
        m.insert("cv_auc_baseline_diff".into(), json!(diff.value));
        m.insert("cv_auc_baseline_diff_low".into(), json!(diff.interval.map(|i| i.low)));
        m.insert("cv_auc_baseline_diff_high".into(), json!(diff.interval.map(|i| i.high)));
        m.insert("beats_baseline".into(), json!(u8::from(beats)));
    }
    Ok(m)
}

/// Equal-width probability bins of the expected calibration error.
const CALIBRATION_BINS: usize = 10;

/// `cv_sensitivity_GROUP` and `cv_auc_GROUP` (every group but `all`, whose
/// AUC is near `cv_auc`): the groups of
/// [`sensitivity`](super::sensitivity), over each patient's out-of-fold
/// probability averaged over the repeats. A cancer whose id `nodules` does
/// not list counts as `unlisted`.
fn by_nodule_group(oof: &OutOfFoldMatrix, nodules: &BTreeMap<String, PatientNodules>) -> serde_json::Map<String, serde_json::Value> {
    let (mut healthy, mut cancers) = (Vec::new(), Vec::new());
    for (i, (id, &cancer)) in oof.ids.iter().zip(&oof.labels).enumerate() {
        let mean = oof.repeats.iter().map(|r| r[i]).sum::<f64>() / oof.repeats.len() as f64;
        if cancer {
            cancers.push((mean, nodules.get(id).copied()));
        } else {
            healthy.push(mean);
        }
    }
    let mut m = serde_json::Map::new();
    for g in sensitivity_by_group(&cancers) {
        m.insert(format!("cv_sensitivity_{}", g.group), json!(g.sensitivity));
    }
    for (group, auc) in auc_by_group(&healthy, &cancers).into_iter().filter(|(g, _)| g != "all") {
        m.insert(format!("cv_auc_{group}"), json!(auc));
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::classifier::OutOfFold;

    fn row(id: &str, cancer: bool, repeat: usize, probability: f64) -> OutOfFold {
        OutOfFold { id: id.into(), cancer, repeat, fold: 1, probability }
    }

    #[test]
    fn groups_score_each_patient_s_mean_over_the_repeats() {
        // a: pleural 12 mm, mean 0.45 (missed at 0.5); b: inner 25 mm, mean
        // 0.8; c: unlisted, mean 0.55; h1, h2 healthy, means 0.5 and 0.2.
        let rows = [
            row("a", true, 1, 0.3),
            row("a", true, 2, 0.6),
            row("b", true, 1, 0.8),
            row("b", true, 2, 0.8),
            row("c", true, 1, 0.5),
            row("c", true, 2, 0.6),
            row("h1", false, 1, 0.4),
            row("h1", false, 2, 0.6),
            row("h2", false, 1, 0.2),
            row("h2", false, 2, 0.2),
        ];
        let nodules = BTreeMap::from([
            ("a".to_owned(), PatientNodules { largest_mm: 12.0, pleural: true }),
            ("b".to_owned(), PatientNodules { largest_mm: 25.0, pleural: false }),
        ]);
        let m = by_nodule_group(&OutOfFoldMatrix::from_rows(&rows, "the test").unwrap(), &nodules);
        let get = |k: &str| m[k].as_f64();
        assert_eq!(get("cv_sensitivity_all"), Some(2.0 / 3.0));
        assert_eq!(get("cv_sensitivity_pleural"), Some(0.0));
        assert_eq!(get("cv_sensitivity_inner"), Some(1.0));
        assert_eq!(get("cv_sensitivity_unlisted"), Some(1.0));
        assert_eq!(get("cv_auc_10_to_15mm"), Some(0.5), "0.45 is above 0.2 and below 0.5");
        assert_eq!(get("cv_auc_20mm_and_over"), Some(1.0));
        assert_eq!(get("cv_auc_unlisted"), Some(1.0));
        assert!(m["cv_auc_under_10mm"].is_null(), "an empty group has no AUC");
        assert!(!m.contains_key("cv_auc_all"));
    }
}
