//! Lineage through the real binary: a chain over DICOM files outside the
//! cache, audited per prediction down to each file; one changed byte is
//! found by `--verify` and reruns exactly that patient's chain and the models.

mod common;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use common::*;
use serde_json::Value;

/// Writes a small synthetic cohort under `data/` (outside the cache) and a
/// pipeline reading it; returns the test patients (the sample submission's ids).
fn project() -> (Project, Vec<String>) {
    let p = Project::new();
    let out = p.run(&[
        "exec",
        "synthetic_cohort",
        "--out",
        "data",
        "--set",
        "patients=8",
        "--set",
        "seed=5",
        "--set",
        "matrix=96",
        "--set",
        "pixel_mm=3.2",
        "--set",
        "slices=28",
        "--set",
        "slice_mm=3.0",
        "--set",
        "test_fraction=0.25",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let items = "items:\n  patients:\n    dir: data/dicom\nstages:\n";
    p.write(
        "pipe.yaml",
        &format!("{items}{}", chain("patients", "data/dicom/{item}", "data/stage1_labels.csv", "data/stage1_sample_submission.csv")),
    );
    let ids = p.read("data/stage1_sample_submission.csv").lines().skip(1).map(|l| l.split(',').next().unwrap().to_owned()).collect();
    (p, ids)
}

fn entry<'a>(lineage: &'a Value, stage: &str) -> &'a Value {
    lineage["entries"].as_array().unwrap().iter().find(|e| e["stage"] == stage).unwrap_or_else(|| panic!("no {stage} in {lineage}"))
}

fn dicom_files(dir: &Path) -> BTreeSet<PathBuf> {
    std::fs::read_dir(dir).unwrap().map(|e| std::fs::canonicalize(e.unwrap().path()).unwrap()).collect()
}

#[test]
fn a_prediction_is_traced_to_its_dicom_files_and_a_changed_byte_is_found() {
    let (p, ids) = project();
    let (code, first) = p.json(&["run", "pipe.yaml"]);
    assert_eq!(code, 0, "{first}");
    let patient = ids[0].clone();
    let (code, before) = p.json(&["lineage", "pipe.yaml", &patient]);
    assert_eq!(code, 0, "{before}");

    // The root is the submission row's prediction.
    let sidecar = read_parquet(&p.path().join("cache/results/pipe/submission/submission.parquet"));
    let row = sidecar["id"].as_array().unwrap().iter().position(|id| *id == patient.as_str()).unwrap();
    assert_eq!(before["root"], sidecar["prediction_key"][row]);
    assert_eq!(before["row"]["cancer"], sidecar["cancer"][row]);

    // The patient's own path, and both models with their training sets.
    let (_, status) = p.json(&["status", "pipe.yaml"]);
    let key_of = |stage: &str, item: Option<&str>| {
        status.as_array().unwrap().iter().find(|r| r["stage"] == stage && r["item"].as_str() == item).unwrap()["key"].clone()
    };
    for stage in ["predict", "encode", "lungs", "iso", "hu", "patches"] {
        let e = entry(&before, stage);
        assert_eq!(e["item"], patient.as_str(), "{stage}");
        assert_eq!(e["key"], key_of(stage, Some(&patient)), "{stage}");
    }
    for (stage, role, gathered) in [("classifier", "features", "encode"), ("gmcae", "patches", "patches")] {
        let e = entry(&before, stage);
        assert_eq!(e["key"], key_of(stage, None));
        assert!(e["params"].is_object() && e["params_digest"].as_str().unwrap().len() == 64);
        let input = e["inputs"].as_array().unwrap().iter().find(|i| i["role"] == role).unwrap();
        assert_eq!(input["source"], "gather");
        let items = input["items"].as_array().unwrap();
        assert_eq!(items.len(), 8, "{stage} trained on every patient's {gathered}");
        for pair in items {
            assert_eq!(pair[1], key_of(gathered, pair[0].as_str()), "{stage}: {pair}");
        }
    }
    // The classifier read only the labelled patients: its split names them all.
    let split = &entry(&before, "classifier")["split"];
    let mut trained: Vec<String> = ["train_patients", "val_patients"]
        .iter()
        .flat_map(|k| split[k].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()))
        .collect();
    trained.sort();
    let mut labelled: Vec<String> =
        p.read("data/stage1_labels.csv").lines().skip(1).map(|l| l.split(',').next().unwrap().to_owned()).collect();
    labelled.sort();
    assert_eq!(trained, labelled);
    assert!(!trained.contains(&patient), "a test patient is not a training patient");

    // Every DICOM file of the patient, with a digest that matches the file now.
    let dir = p.path().join("data/dicom").join(&patient);
    let listed: Vec<&Value> = before["source_files"].as_array().unwrap().iter().collect();
    let paths: BTreeSet<PathBuf> = listed.iter().map(|f| PathBuf::from(f["path"].as_str().unwrap())).collect();
    assert_eq!(paths, dicom_files(&dir));
    for f in &listed {
        let path = Path::new(f["path"].as_str().unwrap());
        let bytes = std::fs::read(path).unwrap();
        assert_eq!(f["blake3"], blake3::hash(&bytes).to_hex().as_str(), "{}", path.display());
        assert_eq!(f["size"], bytes.len());
        let uid = dicom::object::open_file(path)
            .unwrap()
            .element_by_name("SOPInstanceUID")
            .unwrap()
            .to_str()
            .unwrap()
            .trim_end_matches('\0')
            .to_owned();
        assert_eq!(f["sop_instance_uid"], uid.as_str());
    }
    let (code, clean) = p.json(&["lineage", "pipe.yaml", &patient, "--verify"]);
    assert_eq!((code, clean["drift"].as_array().map(Vec::len)), (0, Some(0)), "{}", clean["drift"]);

    // The whole graph as Parquet: the classifier's training set and the DICOM files.
    let edges = read_parquet_as(&p.path().join("cache/lineage"), "to_pylist");
    let edges = edges.as_array().unwrap();
    let classifier = key_of("classifier", None);
    let features: Vec<&Value> = edges.iter().filter(|e| e["child_key"] == classifier && e["role"] == "features").collect();
    assert_eq!(features.len(), 8);
    assert!(features.iter().all(|e| e["parent_type"] == "gather" && e["parent_stage"] == "encode" && e["stage"] == "classifier"));
    let hu = key_of("hu", Some(&patient));
    let files: BTreeSet<PathBuf> = edges
        .iter()
        .filter(|e| e["child_key"] == hu && e["parent_type"] == "file")
        .map(|e| PathBuf::from(e["parent_path"].as_str().unwrap()))
        .collect();
    assert_eq!(files, dicom_files(&dir));

    // One changed byte in one DICOM file: the middle slice's rescale
    // intercept, -1024 -> -1025, shifts that slice by 1 HU.
    // --verify names exactly that file.
    let instance =
        |path: &PathBuf| dicom::object::open_file(path).unwrap().element_by_name("InstanceNumber").unwrap().to_int::<i32>().unwrap();
    let victim = paths.iter().find(|path| instance(path) == 14).unwrap().clone();
    let mut bytes = std::fs::read(&victim).unwrap();
    let at = bytes.windows(5).position(|w| w == b"-1024").expect("the rescale intercept");
    bytes[at + 4] = b'5';
    std::fs::write(&victim, &bytes).unwrap();
    let (code, drift) = p.json(&["lineage", "pipe.yaml", &patient, "--verify"]);
    assert_eq!(code, 1);
    let drift = drift["drift"].as_array().unwrap();
    assert_eq!(drift.len(), 1, "{drift:?}");
    assert_eq!((drift[0]["problem"].as_str(), drift[0]["target"].as_str()), (Some("file changed"), victim.to_str()));

    // The next run: that patient's chain and the models, nothing else upstream.
    let (code, rerun) = p.json(&["run", "pipe.yaml"]);
    assert_eq!(code, 0, "{rerun}");
    let ran = instances(&rerun, "executed");
    for stage in ["hu", "iso", "lungs", "patches"] {
        let items: Vec<&Option<String>> = ran.iter().filter(|(s, _)| s == stage).map(|(_, i)| i).collect();
        assert_eq!(items, [&Some(patient.clone())], "{stage}");
    }
    for (stage, count) in [("gmcae", 1), ("classifier", 1), ("encode", 8), ("predict", 8), ("submission", 1)] {
        assert_eq!(ran.iter().filter(|(s, _)| s == stage).count(), count, "{stage}");
    }
    let (_, after) = p.json(&["lineage", "pipe.yaml", &patient, "--verify"]);
    assert_ne!(after["root"], before["root"]);
    for stage in ["hu", "gmcae", "classifier", "predict"] {
        assert_ne!(entry(&after, stage)["key"], entry(&before, stage)["key"], "{stage}");
    }
    assert_eq!(entry(&after, "hu")["key"], key_of_now(&p, "hu", &patient));
    assert_eq!(after["drift"].as_array().map(Vec::len), Some(0), "{}", after["drift"]);
    let changed = after["source_files"].as_array().unwrap().iter().find(|f| f["path"] == victim.to_str().unwrap()).unwrap();
    assert_eq!(changed["blake3"], blake3::hash(&bytes).to_hex().as_str());

    // The rerun added a part with the new entries' edges; gc drops the old
    // entries and rebuilds the dataset as one part without them.
    let children = |edges: &Value| -> BTreeSet<String> {
        edges.as_array().unwrap().iter().map(|e| e["child_key"].as_str().unwrap().to_owned()).collect()
    };
    let parts = || std::fs::read_dir(p.path().join("cache/lineage")).unwrap().count();
    let new_hu = entry(&after, "hu")["key"].as_str().unwrap().to_owned();
    let old_hu = entry(&before, "hu")["key"].as_str().unwrap().to_owned();
    let both = children(&read_parquet_as(&p.path().join("cache/lineage"), "to_pylist"));
    assert_eq!(parts(), 2);
    assert!(both.contains(&new_hu) && both.contains(&old_hu));
    let out = p.run(&["gc", "--pipelines", "."]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let kept = children(&read_parquet_as(&p.path().join("cache/lineage"), "to_pylist"));
    assert_eq!(parts(), 1);
    assert!(kept.contains(&new_hu) && !kept.contains(&old_hu));
}

fn key_of_now(p: &Project, stage: &str, item: &str) -> Value {
    let (_, status) = p.json(&["status", "pipe.yaml"]);
    status.as_array().unwrap().iter().find(|r| r["stage"] == stage && r["item"] == item).unwrap()["key"].clone()
}

#[test]
fn lineage_draws_mermaid_and_text_and_refuses_what_it_cannot_trace() {
    let (p, ids) = project();
    let out = p.run(&["lineage", "pipe.yaml", &ids[0]]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("has produced stage \"submission\" yet: run the pipeline first"));
    let (code, _) = p.json(&["run", "pipe.yaml"]);
    assert_eq!(code, 0);

    let text = String::from_utf8(p.run(&["lineage", "pipe.yaml", &ids[1]]).stdout).unwrap();
    assert!(text.starts_with(&format!("{}: cancer ", ids[1])), "{text}");
    for needle in [
        format!("hu[{}]", ids[1]),
        "features <- encode, 8 items".into(),
        "source files (28):".into(),
        "(shown above)".into(),
        "4 train_patients, 2 val_patients (split.json)".into(),
    ] {
        assert!(text.contains(&needle), "{needle}:\n{text}");
    }
    let chart = String::from_utf8(p.run(&["lineage", "pipe.yaml", &ids[1], "--format", "mermaid"]).stdout).unwrap();
    assert!(
        chart.starts_with("flowchart TD\n") && chart.contains(&format!("hu[{}]", ids[1])) && chart.contains("-->|features|"),
        "{chart}"
    );

    let labelled = p.read("data/stage1_labels.csv").lines().nth(1).unwrap().split(',').next().unwrap().to_owned();
    let out = p.run(&["lineage", "pipe.yaml", &labelled]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("has no row in"), "{}", String::from_utf8_lossy(&out.stderr));

    // Damaged keys, in the submission's table or in the state database, are
    // errors that say what is wrong (exit 1), never a panic or a path outside the cache.
    let table = std::fs::canonicalize(p.path().join("cache/results/pipe/submission/submission.parquet")).unwrap();
    let code = "import sys, pyarrow as pa, pyarrow.parquet as pq\nt = pq.read_table(sys.argv[1])\nt = t.set_column(t.schema.get_field_index('prediction_key'), 'prediction_key', pa.array(['a'] * t.num_rows))\npq.write_table(t, sys.argv[1], compression='zstd')";
    let out = std::process::Command::new(python()).args(["-c", code]).arg(&table).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = p.run(&["lineage", "pipe.yaml", &ids[1]]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("\"a\" is not a cache key"), "{}", String::from_utf8_lossy(&out.stderr));
    let code = "import sys, sqlite3\nc = sqlite3.connect(sys.argv[1])\nc.execute(\"UPDATE last_run SET key = '../x' WHERE stage = 'submission'\")\nc.commit()";
    let out = std::process::Command::new(python()).args(["-c", code]).arg(p.path().join("cache/state.sqlite")).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = p.run(&["lineage", "pipe.yaml", &ids[1]]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("\"../x\" is not a cache key"), "{}", String::from_utf8_lossy(&out.stderr));
}
