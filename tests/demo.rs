//! The README's demo, as shipped in pipelines/demo.yaml: DICOM to submission
//! on the synthetic cohort, meeting the classifier's quality bar, then
//! rerunning only what a change touches. Takes several minutes on 2 cores.

mod common;
use common::*;

/// Issue 30's bars, which the demo meets: the mean over the 15 folds (5
/// folds x 3 repeats) of the cross-validated AUC (the demo, with the
/// detector's score beside the features: 0.996, sd 0.008), its worst fold
/// (0.975), the expected calibration error of the pooled out-of-fold
/// probabilities (0.043) and the held-out test AUC of the average of the
/// kept model and the fifteen fold models (1.000). The numbers are the
/// same to the last bit on every run and on every machine of this kind
/// (x86-64 with AVX2, FMA and the same L1 data cache: README,
/// Reproducibility; tests/reproducible.rs checks an emulated Haswell on
/// every run), so the margins (0.026, 0.075, 0.007, 0.050) need not cover
/// run-to-run or machine spread. They do not cover a change of seed: over
/// seeds of the chain the ECE moves by more (two of seven cohorts give
/// 0.060 and 0.065, within what a calibrated model shows on 90 patients;
/// BENCHMARKS.md, "The detector's score beside the features").
const CV_AUC_BAR: f64 = 0.97;
/// The lowest single fold's AUC accepted.
const FOLD_AUC_BAR: f64 = 0.90;
/// The highest out-of-fold expected calibration error accepted.
const CV_ECE_BAR: f64 = 0.05;
/// The lowest held-out test AUC accepted.
const TEST_AUC_BAR: f64 = 0.95;

#[test]
fn the_demo_beats_the_class_prior_and_reruns_only_what_changed() {
    let p = Project::new();
    let demo = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/pipelines/demo.yaml")).unwrap();
    p.write("demo.yaml", &demo);
    let (code, first) = p.json(&["run", "demo.yaml"]);
    assert_eq!(code, 0, "{first}");

    let (_, metrics) = p.json(&["metrics", "demo.yaml"]);
    let m = |stage: &str, name: &str| metric(&metrics, stage, name);
    // One split holds 22 validation patients and the test 30: too few to
    // judge alone. The bars sit on the AUC cross-validated over all 90
    // labelled patients (its mean and its worst fold) and on the held-out
    // test: issue 30's bars.
    let cv_auc = m("classifier", "cv_auc_mean");
    assert!(cv_auc >= CV_AUC_BAR, "cross-validated AUC {cv_auc} (metrics: {metrics})");
    let worst = m("classifier", "cv_auc_min");
    assert!(worst >= FOLD_AUC_BAR, "worst fold's AUC {worst} (metrics: {metrics})");
    // The GMCAE reports its silent encoder channels; the 16 that encode
    // passes on are not all silent (the demo's: 5).
    let silent = m("gmcae", "silent_channels_block2");
    assert!((0.0..16.0).contains(&silent), "silent channels of encoder block 2: {silent}");
    let ece = m("classifier", "cv_ece");
    assert!(ece <= CV_ECE_BAR, "out-of-fold expected calibration error {ece} (metrics: {metrics})");
    let (cv_low, cv_pooled, cv_high) = (m("classifier", "cv_auc_low"), m("classifier", "cv_auc"), m("classifier", "cv_auc_high"));
    assert!(cv_low < cv_pooled && cv_pooled < cv_high, "pooled out-of-fold AUC {cv_pooled} in [{cv_low}, {cv_high}]");
    // The baseline is compared on the same patients: the paired interval
    // holds its estimate, and the verdict follows the interval.
    let (d_low, d, d_high) = (
        m("classifier", "cv_auc_baseline_diff_low"),
        m("classifier", "cv_auc_baseline_diff"),
        m("classifier", "cv_auc_baseline_diff_high"),
    );
    assert!(d_low <= d && d <= d_high, "paired difference {d} in [{d_low}, {d_high}]");
    assert_eq!(m("classifier", "beats_baseline"), f64::from(u8::from(d_low > 0.0)));
    // Every fold's model is kept and averaged into every prediction.
    let ids = p.read("cache/results/demo/cohort/stage1_sample_submission.csv");
    let first = ids.lines().nth(1).unwrap().split(',').next().unwrap();
    let prediction: serde_json::Value =
        serde_json::from_str(&p.read(&format!("cache/results/demo/predict/{first}/prediction.json"))).unwrap();
    assert_eq!(prediction["models"].as_array().map(Vec::len), Some(16), "{prediction}");
    let test_auc = m("evaluate", "auc");
    assert!(test_auc >= TEST_AUC_BAR, "held-out test AUC {test_auc} (metrics: {metrics})");
    let (loss, prior) = (m("evaluate", "log_loss"), m("evaluate", "prior_log_loss"));
    assert!(loss < prior, "held-out log loss {loss} is not under the class prior's {prior}");
    // The interval holds the estimate and is no wider than 30 patients allow.
    let (low, high) = (m("evaluate", "auc_low"), m("evaluate", "auc_high"));
    assert!(low <= test_auc && test_auc <= high && high - low < 0.3, "AUC {test_auc} in [{low}, {high}]");
    assert_eq!(metric(&metrics, "evaluate", "patients"), 30.0);

    let csv = p.read("cache/results/demo/submission/submission.csv");
    assert_eq!(csv.lines().next(), Some("id,cancer"));
    assert_eq!(csv.lines().count(), 31);

    let (_, second) = p.json(&["run", "demo.yaml"]);
    assert!(instances(&second, "executed").is_empty(), "{second}");

    // pipelines/sweep.yaml is the demo chain swept over m and lr: its
    // variant m = 4, lr = 1e-3 is the demo, already computed to the end.
    let sweep = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/pipelines/sweep.yaml")).unwrap();
    p.write("sweep.yaml", &sweep);
    let (code, variants) = p.json(&["sweep", "status", "sweep.yaml"]);
    assert_eq!(code, 0, "{variants}");
    let states: Vec<(String, String)> = variants
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["variant"].as_str().unwrap().to_owned(), v["state"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(states.len(), 6, "{variants}");
    for (name, state) in &states {
        let expected = if name == "gmcae.lr=1e-3,gmcae.mixtures=4" { "done" } else { "missing" };
        assert_eq!(state, expected, "{name}: {variants}");
    }

    // The lineage of a submitted prediction reaches its DICOM files, which
    // the cohort wrote into its cache entry, and verifies clean.
    let patient = csv.lines().nth(1).unwrap().split(',').next().unwrap();
    let (code, lineage) = p.json(&["lineage", "demo.yaml", patient, "--verify"]);
    assert_eq!(code, 0, "{}", lineage["drift"]);
    let files = lineage["source_files"].as_array().unwrap();
    assert!(!files.is_empty() && files.iter().all(|f| f["path"].as_str().unwrap().contains(&format!("/dicom/{patient}/"))), "{files:?}");

    // Skipping the cross-validation for a quick try is a classifier
    // parameter too.
    let (code, third) = p.json(&["run", "demo.yaml", "--set", "classifier.lr=0.001", "--set", "classifier.folds=0"]);
    assert_eq!(code, 0, "{third}");
    let mut stages: Vec<String> = instances(&third, "executed").into_iter().map(|(s, _)| s).collect();
    stages.dedup();
    assert_eq!(stages, ["classifier", "evaluate", "predict", "submission"]);
    assert_eq!(instances(&third, "executed").len(), 1 + 120 + 1 + 1);
}
