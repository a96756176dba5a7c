//! Outputs are a function of parameters, inputs and code version: every kind
//! the demo uses, run cold in two projects (one job, two jobs, and one
//! compute thread), gives the same keys and the same output bytes, and a
//! retrained autoencoder that comes out the same stops the rerun at once.

mod common;

use std::collections::BTreeMap;

use common::*;
use serde_json::Value;

/// The demo's chain at toy sizes, with cross-validation and evaluation.
fn pipeline() -> String {
    let chain = chain("patients", "@cohort/dicom/{item}", "@cohort/stage1_labels.csv", "@cohort/stage1_sample_submission.csv")
        .replace("val_fraction: 0.3,", "val_fraction: 0.3, folds: 2,");
    assert!(chain.contains("folds: 2"), "the shared chain's classifier params changed: {chain}");
    format!(
        r#"{}{chain}
  evaluate:
    kind: evaluate
    inputs: {{submission: "@submission", labels: "@cohort/labels.csv", train_labels: "@cohort/stage1_labels.csv"}}
"#,
        cohort_pipeline("patients: 16, seed: 5, matrix: 96, pixel_mm: 3.2, slices: 28, slice_mm: 3.0, test_fraction: 0.25"),
    )
}

/// (stage, item) -> (key, output digest) of every instance, from `status`
/// and the entries' manifests.
fn entries(p: &Project) -> BTreeMap<(String, Option<String>), (String, String)> {
    let (code, status) = p.json(&["status", "pipe.yaml"]);
    assert_eq!(code, 0, "{status}");
    status
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let key = r["key"].as_str().unwrap().to_owned();
            let manifest: Value = serde_json::from_str(&p.read(&format!("cache/entries/{}/{key}/manifest.json", &key[..2])))
                .unwrap_or_else(|e| panic!("{r}: manifest: {e}"));
            let digest = manifest["output_digest"].as_str().unwrap().to_owned();
            ((r["stage"].as_str().unwrap().to_owned(), r["item"].as_str().map(str::to_owned)), (key, digest))
        })
        .collect()
}

/// A project with the pipeline, run cold with `jobs` and, if given,
/// `threads` compute threads.
fn cold_run(jobs: &str, threads: Option<&str>) -> Project {
    let p = Project::new();
    p.write("pipe.yaml", &pipeline());
    let mut cmd = p.cmd(&["run", "pipe.yaml", "--jobs", jobs, "--json"]);
    if let Some(t) = threads {
        cmd.env("RAYON_NUM_THREADS", t);
    }
    finish(cmd);
    p
}

/// Runs `cmd` and checks that it succeeded.
fn finish(mut cmd: std::process::Command) {
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
}

#[test]
fn every_kind_of_the_demo_gives_the_same_bytes_with_one_or_two_jobs_and_one_thread() {
    let one = cold_run("1", None);
    let two = cold_run("2", None);
    let (a, b) = (entries(&one), entries(&two));
    let kinds: Vec<&str> = a.keys().map(|(s, _)| s.as_str()).collect::<std::collections::BTreeSet<_>>().into_iter().collect();
    assert_eq!(
        kinds,
        ["classifier", "cohort", "encode", "evaluate", "gmcae", "hu", "iso", "lungs", "patches", "predict", "submission"],
        "every kind of the demo"
    );
    assert_eq!(a.len(), 1 + 16 * 6 + 4);
    for (instance, (key, digest)) in &a {
        assert_eq!(b.get(instance), Some(&(key.clone(), digest.clone())), "{instance:?} differs between --jobs 1 and --jobs 2");
    }

    // Machine-dependent figures live beside the outputs, not in them.
    let gmcae = &a[&("gmcae".to_owned(), None)].0;
    let timings: Value = serde_json::from_str(&one.read(&format!("cache/entries/{}/{gmcae}/timings.json", &gmcae[..2]))).unwrap();
    assert!(timings["epochs"][0]["patches_per_second"].as_f64().unwrap() > 0.0, "{timings}");
    let table = read_parquet(&one.path().join("cache/results/pipe/gmcae/metrics.parquet"));
    assert!(table.get("seconds").is_none() && table.get("train_nll_per_voxel").is_some(), "{table}");

    // The cross-validation and the bootstrap intervals are there.
    let (_, metrics) = one.json(&["metrics", "pipe.yaml"]);
    assert_eq!(metric(&metrics, "classifier", "cv_folds"), 2.0);
    let folds = read_parquet(&one.path().join("cache/results/pipe/classifier/cv_folds.parquet"));
    assert_eq!(folds["patients"].as_array().unwrap().iter().map(|v| v.as_i64().unwrap()).sum::<i64>(), 12, "{folds}");
    let (low, high) = (metric(&metrics, "evaluate", "log_loss_low"), metric(&metrics, "evaluate", "log_loss_high"));
    let loss = metric(&metrics, "evaluate", "log_loss");
    assert!(low <= loss && loss <= high, "{low} <= {loss} <= {high}");

    // One compute thread: the training kinds' reductions do not depend on
    // how many threads share them.
    let single = cold_run("1", Some("1"));
    for (instance, (key, digest)) in entries(&single) {
        assert_eq!(a.get(&instance), Some(&(key, digest)), "{instance:?} differs with one thread");
    }

    // A retrained autoencoder with the same inputs saves the same bytes, so
    // the rerun stops right after it: no encode instance executes.
    std::fs::remove_dir_all(one.path().join(format!("cache/entries/{}/{gmcae}", &gmcae[..2]))).unwrap();
    let (code, rerun) = one.json(&["run", "pipe.yaml"]);
    assert_eq!(code, 0, "{rerun}");
    assert_eq!(instances(&rerun, "executed"), [inst("gmcae", None)], "{rerun}");
    assert_eq!(entries(&one), a);
}

/// Another CPU: the same binary under QEMU's emulation of a Haswell (AVX2
/// and FMA, no AVX-512) gives the same bytes as this machine. Needs
/// `qemu-x86_64` (Debian's qemu-user), which the testkit installs when
/// missing; where it cannot, the test fails naming the install command.
#[test]
fn a_cpu_without_avx512_gives_the_same_bytes() {
    let qemu = lungflow_testkit::qemu_x86_64();
    let native = cold_run("2", None);
    let emulated = Project::new();
    emulated.write("pipe.yaml", &pipeline());
    let mut cmd = std::process::Command::new(qemu);
    cmd.args(["-cpu", "Haswell", env!("CARGO_BIN_EXE_lungflow"), "run", "pipe.yaml", "--jobs", "2", "--json"])
        .current_dir(emulated.path())
        .env_remove("LUNGFLOW_CACHE");
    finish(cmd);
    let (a, b) = (entries(&native), entries(&emulated));
    assert_eq!(a.len(), 1 + 16 * 6 + 4);
    for (instance, found) in &a {
        assert_eq!(b.get(instance), Some(found), "{instance:?} differs on the emulated Haswell");
    }
}
