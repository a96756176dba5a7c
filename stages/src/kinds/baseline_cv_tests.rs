use super::*;
use crate::Input;
use crate::formats::baseline::{CV_FOLDS_TABLE, PREDICTIONS_TABLE};
use crate::formats::classifier::{CV_PREDICTIONS_TABLE, read_out_of_fold};
use crate::formats::nodule_score::{PatientScore, write_score};
use crate::formats::table::read_rows;
use lungflow_testkit::tempdir;

/// `n` labelled patients `p00`… whose score rises with the label, plus the
/// unlabelled `t0`; returns the scores folder and the labels file.
fn cohort(dir: &Path, n: usize) -> (std::path::PathBuf, std::path::PathBuf) {
    let scores = dir.join("scores");
    let mut labels = String::from("id,cancer\n");
    for i in 0..=n {
        let (id, score) = if i == n { ("t0".to_owned(), 7.0) } else { (format!("p{i:02}"), (i % 3) as f64 * 4.0 + (i % 5) as f64) };
        if i < n {
            labels.push_str(&format!("{id},{}\n", (i % 3 == 0) as u8));
        }
        std::fs::create_dir_all(scores.join(&id)).unwrap();
        let s = PatientScore { score, centre_voxel: None, centre_mm: None, air_fraction: None, candidates_tested: 0 };
        write_score(&scores.join(&id).join(SCORE_FILE), &s).unwrap();
    }
    std::fs::write(dir.join("labels.csv"), labels).unwrap();
    (scores, dir.join("labels.csv"))
}

fn run_in(dir: &Path, scores: &Path, labels: &Path, set: &[(&str, i64)]) -> Result<std::path::PathBuf, StageError> {
    let mut params: BTreeMap<String, serde_json::Value> =
        Params::specs().into_iter().filter_map(|p| Some((p.name.to_owned(), p.default?))).collect();
    params.extend(set.iter().map(|(k, v)| (k.to_string(), json!(v))));
    let mut inputs = BTreeMap::new();
    inputs.insert("scores".to_owned(), Input { path: scores.to_owned(), producers: Vec::new() });
    inputs.insert("labels".to_owned(), Input { path: labels.to_owned(), producers: Vec::new() });
    let out = dir.join("out");
    std::fs::create_dir_all(&out).unwrap();
    let ctx = RunContext {
        params: &params,
        inputs: &inputs,
        item: None,
        out_dir: &out,
        log_path: &dir.join("log"),
        timings_path: &dir.join("timings.json"),
        work_dir: dir,
        threads: 1,
    };
    BaselineCv.run(&ctx).map(|_| out)
}

#[test]
fn the_folds_are_those_of_repeated_folds_over_the_labelled_patients_by_id() {
    let labelled: Vec<(String, f64, bool)> = (0..23).map(|i| (format!("p{i:02}"), i as f64, i % 3 == 0)).collect();
    let y: Vec<bool> = labelled.iter().map(|l| l.2).collect();
    let (rows, fits) = cross_validate(&labelled, 4, 3, 9).unwrap();
    let deals = repeated_folds(&y, 4, 3, 9).unwrap();
    assert_eq!(rows.len(), 23 * 3);
    assert_eq!(fits.len(), 4 * 3);
    for (r, deal) in deals.iter().enumerate() {
        for (f, held) in deal.iter().enumerate() {
            let ids: Vec<&str> = rows.iter().filter(|o| o.repeat == r + 1 && o.fold == f + 1).map(|o| o.id.as_str()).collect();
            let want: Vec<&str> = held.iter().map(|&i| labelled[i].0.as_str()).collect();
            assert_eq!(ids, want, "repeat {r} fold {f}");
        }
    }
    // The held-out patients' probabilities come from a model that did not see them.
    let fold = &deals[0][0];
    let train: Vec<usize> = (0..23).filter(|i| !fold.contains(i)).collect();
    let model = fit(&train.iter().map(|&i| labelled[i].1).collect::<Vec<_>>(), &train.iter().map(|&i| y[i]).collect::<Vec<_>>());
    assert_eq!(rows[0].probability, model.probability(labelled[fold[0]].1));
}

#[test]
fn it_writes_out_of_fold_and_all_patient_predictions_and_the_metrics() {
    let dir = tempdir().unwrap();
    let (scores, labels) = cohort(dir.path(), 30);
    let out = run_in(dir.path(), &scores, &labels, &[("folds", 3), ("repeats", 2)]).unwrap();
    let oof = read_out_of_fold(&out.join(CV_PREDICTIONS_TABLE)).unwrap();
    assert_eq!(oof.len(), 60);
    assert!(oof.iter().all(|o| o.id != "t0"), "the unlabelled patient is not cross-validated");
    let predictions = read_rows(&out.join(PREDICTIONS_TABLE)).unwrap();
    assert_eq!(predictions.len(), 31);
    assert_eq!(predictions[30]["id"], "t0");
    let metrics: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("metrics.json")).unwrap()).unwrap();
    for key in ["cv_auc_mean", "cv_auc_sd", "cv_pooled_auc", "cv_pooled_auc_low", "cv_pooled_auc_high", "cv_log_loss_mean"] {
        assert!(metrics[key].as_f64().is_some_and(f64::is_finite), "{key}: {metrics}");
    }
    assert_eq!((metrics["patients"].clone(), metrics["scored"].clone(), metrics["cv_repeats"].clone()), (json!(30), json!(31), json!(2)));
    assert_eq!(read_rows(&out.join(CV_FOLDS_TABLE)).unwrap().len(), 6);
}

#[test]
fn errors_name_the_file_and_the_reason() {
    let dir = tempdir().unwrap();
    let (scores, labels) = cohort(dir.path(), 12);
    // Four patients with cancer cannot fill five folds.
    let err = run_in(dir.path(), &scores, &labels, &[("folds", 5)]).unwrap_err().0;
    assert!(err.starts_with(&labels.display().to_string()) && err.contains("folds = 5 needs at least 5"), "{err}");
    // A labelled patient without a score.
    std::fs::remove_dir_all(scores.join("p03")).unwrap();
    let err = run_in(dir.path(), &scores, &labels, &[("folds", 2)]).unwrap_err().0;
    assert!(
        err.starts_with(&labels.display().to_string()) && err.contains("labels patient p03, but the scores input has no score.json"),
        "{err}"
    );
    // A score that is no finite number.
    std::fs::create_dir_all(scores.join("p03")).unwrap();
    let bad = scores.join("p03").join(SCORE_FILE);
    std::fs::write(&bad, r#"{"score": null, "candidates_tested": 0}"#).unwrap();
    let err = run_in(dir.path(), &scores, &labels, &[("folds", 2)]).unwrap_err().0;
    assert!(err.starts_with(&bad.display().to_string()), "{err}");
    std::fs::write(&bad, r#"{"score": 3.0, "candidates_tested": 0}"#).unwrap();
    std::fs::write(dir.path().join("none.csv"), "id,cancer\n").unwrap();
    let err = run_in(dir.path(), &scores, &dir.path().join("none.csv"), &[]).unwrap_err().0;
    assert!(err.contains("none.csv: the file labels no patient"), "{err}");
}
