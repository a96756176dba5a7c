//! The stage kinds, one file per kind, each file named like the kind's
//! `kind:` in pipeline files.
//!
//! A kind parses its parameters once (see [`kind_params!`](crate::kind_params)),
//! reads its inputs through [`formats`](crate::formats), computes with
//! [`models`](crate::models), [`dicom`](crate::dicom),
//! [`phantom`](crate::phantom) or [`segment`](crate::segment), and writes its
//! outputs through [`formats`](crate::formats) again. No kind imports another.

use crate::StageKind;

pub mod baseline_cv;
pub mod classifier_train;
pub mod command;
pub mod encode;
pub mod evaluate;
pub mod gmcae_train;
pub mod hu_volume;
pub mod lung_mask;
pub mod nodule_score;
pub mod patches;
pub mod predict;
pub mod resample;
pub mod submission;
pub mod synthetic_cohort;

/// Every stage kind lungflow knows, in a fixed order.
pub fn all_kinds() -> Vec<&'static dyn StageKind> {
    vec![
        &command::Command,
        &hu_volume::HuVolume,
        &resample::Resample,
        &lung_mask::LungMask,
        &nodule_score::NoduleScore,
        &synthetic_cohort::SyntheticCohort,
        &patches::Patches,
        &gmcae_train::GmcaeTrain,
        &encode::Encode,
        &classifier_train::ClassifierTrain,
        &predict::Predict,
        &submission::Submission,
        &evaluate::Evaluate,
        &baseline_cv::BaselineCv,
    ]
}

/// The stage kind with this name, if there is one.
pub fn find_kind(name: &str) -> Option<&'static dyn StageKind> {
    all_kinds().into_iter().find(|k| k.name() == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_lives_in_the_file_named_after_it() {
        for kind in all_kinds() {
            let path = concat!(env!("CARGO_MANIFEST_DIR"), "/src/kinds/");
            let file = std::path::Path::new(path).join(format!("{}.rs", kind.name()));
            assert!(file.is_file(), "kind {} has no file {}", kind.name(), file.display());
            assert!(find_kind(kind.name()).is_some());
        }
    }

    /// Names, types and defaults feed every cache key: a change here
    /// invalidates users' caches, so it must be deliberate.
    #[test]
    fn parameters_match_the_snapshot() {
        let mut text = String::new();
        for k in all_kinds() {
            let specs: Vec<serde_json::Value> = k
                .params()
                .iter()
                .map(|p| serde_json::json!({"name": p.name, "ty": format!("{:?}", p.ty), "default": p.default, "doc": p.doc}))
                .collect();
            let specs = serde_json::to_string(&specs).unwrap();
            text.push_str(&format!("{} open={} cores={} {specs}\n", k.name(), k.open_params(), k.wants_all_cores()));
        }
        if std::env::var_os("LUNGFLOW_UPDATE_SNAPSHOT").is_some() {
            std::fs::write(concat!(env!("CARGO_MANIFEST_DIR"), "/src/kinds/params.snapshot"), &text).unwrap();
            return;
        }
        assert_eq!(
            text,
            include_str!("params.snapshot"),
            "parameters changed: if on purpose, rerun with LUNGFLOW_UPDATE_SNAPSHOT=1 to update kinds/params.snapshot"
        );
    }

    #[test]
    fn only_submission_declares_row_provenance() {
        let with: Vec<&str> = all_kinds().into_iter().filter(|k| k.row_provenance().is_some()).map(|k| k.name()).collect();
        assert_eq!(with, ["submission"]);
    }

    /// The report's pictures and curves come from these declarations
    /// only, so each must name a file the kind writes.
    #[test]
    fn the_lung_masks_the_classifier_s_validation_table_and_the_evaluation_s_curves_are_what_the_report_shows() {
        let nothing = crate::contract::ReportView::default();
        let declaring: Vec<_> = all_kinds().into_iter().map(|k| (k.name(), k.report_view())).filter(|(_, v)| *v != nothing).collect();
        let names: Vec<&str> = declaring.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, ["lung_mask", "classifier_train", "evaluate"]);
        let picture = declaring[0].1.item_picture.expect("lung_mask shows a picture");
        assert_eq!(picture.file, lung_mask::PICTURE_FILE);
        assert!(find_kind("lung_mask").unwrap().doc().contains(picture.file));
        let scores = declaring[1].1.scored_labels.expect("classifier_train shows scores");
        // The declared columns are the ones the writer of the declared table writes.
        let dir = std::env::temp_dir().join(format!("lf-report-view-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let row = crate::formats::classifier::HeldOut { id: "p1".into(), cancer: true, probability: 0.75 };
        crate::formats::classifier::write_validation(&dir, &[row]).unwrap();
        let columns = crate::formats::table::read_numeric_columns(&dir.join(scores.table)).unwrap();
        assert_eq!(columns, [(scores.label_column.to_owned(), vec![1.0]), (scores.score_column.to_owned(), vec![0.75])]);
        // evaluate's curves name columns its writers write.
        let (roc, bins) = (declaring[2].1.roc_curve.expect("an ROC curve"), declaring[2].1.reliability.expect("a reliability diagram"));
        let calibration = crate::models::classifier::calibration::reliability(&[0.25], &[true], 2);
        crate::formats::evaluation::write_reliability(&dir, &calibration).unwrap();
        crate::formats::evaluation::write_roc(&dir, &crate::models::classifier::calibration::roc_points(&[0.25, 0.5], &[true, false]))
            .unwrap();
        let names = |table: &str| -> Vec<String> {
            crate::formats::table::read_numeric_columns(&dir.join(table)).unwrap().into_iter().map(|c| c.0).collect()
        };
        let (roc_columns, bin_columns) = (names(roc.table), names(bins.table));
        std::fs::remove_dir_all(&dir).ok();
        assert!(roc_columns.iter().any(|c| c == roc.false_positive_column) && roc_columns.iter().any(|c| c == roc.true_positive_column));
        for column in [bins.predicted_column, bins.observed_column, bins.count_column] {
            assert!(bin_columns.iter().any(|c| c == column), "{column} in {bin_columns:?}");
        }
    }
}
