//! The whole chain, DICOM to submission, through the real binary: a small
//! synthetic cohort (with the encoder frozen and with its last block
//! fine-tuned), and every real chest series with a labels file written here.

mod common;

use common::*;
use serde_json::Value;

fn executed_stages(doc: &Value) -> Vec<String> {
    let mut stages: Vec<String> = instances(doc, "executed").into_iter().map(|(s, _)| s).collect();
    stages.dedup();
    stages
}

#[test]
fn a_synthetic_cohort_goes_from_dicom_to_a_submission_and_reruns_only_what_changed() {
    let p = Project::new();
    let pipeline = format!(
        r#"{}{}
  evaluate:
    kind: evaluate
    inputs: {{submission: "@submission", labels: "@cohort/labels.csv", train_labels: "@cohort/stage1_labels.csv"}}
  encode_two:
    kind: encode
    foreach: patients
    inputs: {{model: "@gmcae", lungs: "@lungs"}}
    params: {{blocks: 1}}
  tuned:
    kind: classifier_train
    inputs: {{features: "@encode_two", labels: "@cohort/labels.csv", encoder: "@gmcae"}}
    params: {{fine_tune: 1, widths: 4, hidden: 8, epochs: 2, val_fraction: 0.3, folds: 2}}
  tuned_predict:
    kind: predict
    foreach: patients
    inputs: {{model: "@tuned", features: "@encode_two"}}
    params: {{symmetries: 4}}
  detector:
    kind: nodule_score
    foreach: patients
    inputs: {{lungs: "@lungs"}}
  scored:
    kind: classifier_train
    inputs: {{features: "@encode", labels: "@cohort/stage1_labels.csv", scores: "@detector"}}
    params: {{widths: 4, epochs: 2, val_fraction: 0.3, pool_grow: 0}}
  scored_predict:
    kind: predict
    foreach: patients
    inputs: {{model: "@scored", features: "@encode", score: "@detector"}}
"#,
        cohort_pipeline("patients: 12, seed: 5, matrix: 96, pixel_mm: 3.2, slices: 28, slice_mm: 3.0, test_fraction: 0.25"),
        chain("patients", "@cohort/dicom/{item}", "@cohort/stage1_labels.csv", "@cohort/stage1_sample_submission.csv")
    );
    p.write("pipe.yaml", &pipeline);
    let (code, first) = p.json(&["run", "pipe.yaml"]);
    assert_eq!(code, 0, "{first}");
    let results = p.path().join("cache/results/pipe");

    // The submission: the sample submission's patients, in its order, clipped.
    let sample = p.read("cache/results/pipe/cohort/stage1_sample_submission.csv");
    let ids: Vec<&str> = sample.lines().skip(1).map(|l| l.split(',').next().unwrap()).collect();
    assert_eq!(ids.len(), 3, "patients 3, 7 and 11 of 12 are the test patients");
    let csv = p.read("cache/results/pipe/submission/submission.csv");
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("id,cancer"));
    let rows: Vec<(&str, f64)> = lines.map(|l| l.split_once(',').map(|(a, b)| (a, b.parse().unwrap())).unwrap()).collect();
    assert_eq!(rows.iter().map(|r| r.0).collect::<Vec<_>>(), ids);
    assert!(rows.iter().all(|r| (1e-15..=1.0 - 1e-15).contains(&r.1)), "{csv}");
    let labelled = p.read("cache/results/pipe/cohort/stage1_labels.csv");
    assert!(ids.iter().all(|id| !labelled.contains(id)), "test patients have no training label");

    // The sidecar links each row to the predict instance it came from.
    let sidecar = read_parquet(&results.join("submission/submission.parquet"));
    let (_, status) = p.json(&["status", "pipe.yaml"]);
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(sidecar["id"][i], *id);
        assert_eq!(sidecar["cancer"][i].as_f64().unwrap(), rows[i].1);
        let key = status.as_array().unwrap().iter().find(|r| r["stage"] == "predict" && r["item"] == *id).unwrap()["key"].clone();
        assert_eq!(sidecar["prediction_key"][i], key, "row {i}");
        let prediction: Value = serde_json::from_str(&p.read(&format!("cache/results/pipe/predict/{id}/prediction.json"))).unwrap();
        assert_eq!(sidecar["probability"][i], prediction["probability"]);
    }

    // Per-epoch scores with the prior baseline beside them; evaluation metrics.
    let table = read_parquet(&results.join("classifier/metrics.parquet"));
    for column in ["train_log_loss", "train_accuracy", "train_auc", "val_log_loss", "val_accuracy", "val_auc", "prior_val_log_loss"] {
        assert_eq!(table[column].as_array().map(Vec::len), Some(3), "{column}: {table}");
    }
    let (_, metrics) = p.json(&["metrics", "pipe.yaml"]);
    let names: Vec<String> =
        metrics.as_array().unwrap().iter().filter(|r| r["stage"] == "evaluate").map(|r| r["name"].as_str().unwrap().to_owned()).collect();
    for name in ["log_loss", "accuracy", "prior_log_loss"] {
        assert!(names.iter().any(|n| n == name), "evaluate reports {name}: {names:?}");
    }
    // AUC is undefined (null) when the three test patients share one class.
    let evaluation: Value = serde_json::from_str(&p.read("cache/results/pipe/evaluate/metrics.json")).unwrap();
    assert!(evaluation.get("auc").is_some(), "{evaluation}");
    let patients = metrics.as_array().unwrap().iter().find(|r| r["stage"] == "evaluate" && r["name"] == "patients").unwrap();
    assert_eq!(patients["value"], 3.0);
    for f in ["model.mpk", "model.json", "split.json", "validation.parquet", "log_loss.png", "auc.png"] {
        assert!(results.join("classifier").join(f).is_file(), "{f}");
    }

    // The fine-tuned classifier carries the encoder's last block (4 -> 8 channels).
    let tuned: Value = serde_json::from_str(&p.read("cache/results/pipe/tuned/model.json")).unwrap();
    assert_eq!(tuned["tail_widths"], serde_json::json!([8]));
    assert_eq!(tuned["in_channels"], 4);
    // Fine-tuning trains the kept model and both folds side by side, each
    // with its own copy of the encoder's block (on all 12 patients' labels,
    // so that each fold has cancers enough to train on).
    for fold in ["r1f1", "r1f2"] {
        let fold_json: Value = serde_json::from_str(&p.read(&format!("cache/results/pipe/tuned/folds/{fold}/model.json"))).unwrap();
        assert_eq!(fold_json["tail_widths"], serde_json::json!([8]), "{fold}");
    }
    let tta: Value = serde_json::from_str(&p.read(&format!("cache/results/pipe/tuned_predict/{}/prediction.json", ids[0]))).unwrap();
    assert_eq!(tta["symmetries"], 4);

    // The detector's score beside the features: one more input to the logit,
    // which predict then reads too (and refuses to go without).
    let scored: Value = serde_json::from_str(&p.read("cache/results/pipe/scored/model.json")).unwrap();
    assert_eq!(scored["extra_inputs"], 1, "{scored}");
    let plain: Value = serde_json::from_str(&p.read("cache/results/pipe/classifier/model.json")).unwrap();
    assert!(plain.get("extra_inputs").is_none(), "{plain}");
    let with_score: Value =
        serde_json::from_str(&p.read(&format!("cache/results/pipe/scored_predict/{}/prediction.json", ids[0]))).unwrap();
    assert!((0.0..=1.0).contains(&with_score["probability"].as_f64().unwrap()), "{with_score}");

    // Nothing to do the second time; a classifier parameter reruns exactly
    // the classifier and what follows it.
    let (_, second) = p.json(&["run", "pipe.yaml"]);
    assert!(instances(&second, "executed").is_empty(), "{second}");
    let (code, third) = p.json(&["run", "pipe.yaml", "--set", "classifier.lr=0.002"]);
    assert_eq!(code, 0, "{third}");
    assert_eq!(executed_stages(&third), ["classifier", "evaluate", "predict", "submission"]);
    assert_eq!(instances(&third, "executed").len(), 3 + 12);

    // A scored classifier without the score, a plain one with a score, and
    // scores that miss a labelled patient: each refused, naming what to fix.
    p.write("partial/nobody/score.json", r#"{"score": 3.0, "candidates_tested": 1}"#);
    let wrong = format!(
        r#"{pipeline}  unscored_predict:
    kind: predict
    foreach: patients
    inputs: {{model: "@scored", features: "@encode"}}
  stray_score:
    kind: predict
    foreach: patients
    inputs: {{model: "@classifier", features: "@encode", score: "@detector"}}
  partial_scores:
    kind: classifier_train
    inputs: {{features: "@encode", labels: "@cohort/stage1_labels.csv", scores: "partial"}}
    params: {{widths: 4, epochs: 1, val_fraction: 0.3, pool_grow: 0}}
"#
    );
    p.write("wrong.yaml", &wrong);
    let out = p.run(&["run", "wrong.yaml", "--keep-going"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("was trained with 1 score(s) beside the features (classifier_train's input `scores`)"), "{stderr}");
    assert!(stderr.contains("reads 0 score(s) beside the features, but predict was given one"), "{stderr}");
    assert!(stderr.contains("partial: no score for labelled patient"), "{stderr}");
}

#[test]
fn mismatched_labels_and_fine_tuning_give_clear_errors() {
    let p = Project::new();
    p.write("bogus.csv", "id,cancer\nnobody,1\n");
    let pipeline = format!(
        r#"{}{}
  wrong_blocks:
    kind: classifier_train
    inputs: {{features: "@encode", labels: "@cohort/labels.csv", encoder: "@gmcae"}}
    params: {{fine_tune: 1}}
"#,
        cohort_pipeline("patients: 4, seed: 8, matrix: 64, pixel_mm: 4.8, slices: 20, slice_mm: 4.0"),
        chain("patients", "@cohort/dicom/{item}", "bogus.csv", "@cohort/stage1_sample_submission.csv")
    );
    p.write("pipe.yaml", &pipeline);
    let out = p.run(&["run", "pipe.yaml", "--keep-going"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("bogus.csv labels patient nobody, but no features were computed for it"), "{stderr}");
    assert!(stderr.contains("fine_tune 1 needs features from the first 1 of the encoder's 2 blocks, but they come from 2"), "{stderr}");
}

#[test]
fn the_whole_chain_runs_on_every_real_chest_series() {
    let p = Project::new();
    let chest = ct_data().join("chest");
    let mut series: Vec<String> = std::fs::read_dir(&chest).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    series.sort();
    assert_eq!(series.len(), 4, "{series:?}");
    // Two labelled of each class; every series is also a test patient.
    let labels: String = series.iter().enumerate().map(|(i, s)| format!("{s},{}\n", i % 2)).collect();
    p.write("labels.csv", &format!("id,cancer\n{labels}"));
    p.write("sample_submission.csv", &format!("id,cancer\n{}", series.iter().map(|s| format!("{s},0.5\n")).collect::<String>()));
    p.write(
        "pipe.yaml",
        &format!(
            "items:\n  series:\n    dir: {}\nstages:{}  evaluate:\n    kind: evaluate\n    inputs: {{submission: \"@submission\", labels: labels.csv}}\n",
            chest.display(),
            chain("series", &format!("{}/{{item}}", chest.display()), "labels.csv", "sample_submission.csv")
        ),
    );
    let (code, doc) = p.json(&["run", "pipe.yaml"]);
    assert_eq!(code, 0, "{doc}");
    assert_eq!(instances(&doc, "failed").len(), 0);
    let csv = p.read("cache/results/pipe/submission/submission.csv");
    let ids: Vec<&str> = csv.lines().skip(1).map(|l| l.split(',').next().unwrap()).collect();
    assert_eq!(ids, series.iter().map(String::as_str).collect::<Vec<_>>());
    let metrics: Value = serde_json::from_str(&p.read("cache/results/pipe/evaluate/metrics.json")).unwrap();
    assert_eq!(metrics["patients"], 4);
    assert!(metrics["log_loss"].as_f64().unwrap().is_finite(), "{metrics}");

    // The default pool_grow (-3) shrinks a thin slab's lung region to
    // nothing: the classifier says which patient's grid and why, and what
    // was computed stays.
    let (code, doc) = p.json(&["run", "pipe.yaml", "--set", "classifier.pool_grow=-3"]);
    assert_eq!(code, 1, "{doc}");
    assert_eq!(instances(&doc, "failed"), [("classifier".to_owned(), None)], "{doc}");
    let error = doc["failed"][0]["error"].as_str().unwrap();
    assert!(error.contains("lung.arrow: no code voxel is left to pool over") && error.contains("pool_grow -3"), "{error}");
    assert_eq!(instances(&doc, "executed").len(), 0, "{doc}");
    assert!(p.path().join("cache/results/pipe/submission/submission.csv").is_file());
}
