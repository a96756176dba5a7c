//! The README's demo, as shipped in pipelines/demo.yaml: DICOM to submission
//! on the synthetic cohort, meeting the classifier's quality bar, then
//! rerunning only what a change touches. Takes several minutes on 2 cores.

mod common;
use common::*;

#[test]
fn the_demo_beats_the_class_prior_and_reruns_only_what_changed() {
    let p = Project::new();
    let demo = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/pipelines/demo.yaml")).unwrap();
    p.write("demo.yaml", &demo);
    let (code, first) = p.json(&["run", "demo.yaml"]);
    assert_eq!(code, 0, "{first}");

    let (_, metrics) = p.json(&["metrics", "demo.yaml"]);
    let (auc, loss, prior) = (
        metric(&metrics, "classifier", "val_auc"),
        metric(&metrics, "classifier", "val_log_loss"),
        metric(&metrics, "classifier", "prior_val_log_loss"),
    );
    // 22 validation and 30 test patients, a third of the nodules on the
    // pleura: the AUCs' standard errors are about 0.05, and the machines of
    // this kind differ by about that much (issue #14). The bars are the
    // issue's; this machine gives 1.0 and 0.96 (BENCHMARKS.md).
    assert!(auc >= 0.93, "validation AUC {auc} (metrics: {metrics})");
    let test_auc = metric(&metrics, "evaluate", "auc");
    assert!(test_auc >= 0.90, "held-out test AUC {test_auc} (metrics: {metrics})");
    assert!(loss < prior / 2.0, "validation log loss {loss} is not under half the class prior's {prior}");
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

    let (code, third) = p.json(&["run", "demo.yaml", "--set", "classifier.lr=0.001"]);
    assert_eq!(code, 0, "{third}");
    let mut stages: Vec<String> = instances(&third, "executed").into_iter().map(|(s, _)| s).collect();
    stages.dedup();
    assert_eq!(stages, ["classifier", "evaluate", "predict", "submission"]);
    assert_eq!(instances(&third, "executed").len(), 1 + 120 + 1 + 1);
}
