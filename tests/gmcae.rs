//! Patches and GMCAE training through the real binary, on the synthetic
//! cohort and on the real chest series.

mod common;

use common::*;

const TRAIN: &str =
    "kind: gmcae_train\n    inputs: {patches: \"@patches\"}\n    params: {widths: \"4,8\", batch_size: 8, lr: 0.002, patience: 20, seed: 1";

#[test]
fn a_mixture_of_four_fits_better_than_one_gaussian() {
    let p = Project::new();
    p.write(
        "pipe.yaml",
        &format!(
            r#"{}{}  m1:
    {TRAIN}, mixtures: 1, epochs: 20}}
  m4:
    {TRAIN}, mixtures: 4, epochs: 20}}
  features:
    kind: encode
    foreach: patients
    inputs: {{model: "@m4", lungs: "@lungs"}}
    params: {{slab: 2}}
"#,
            cohort_pipeline("patients: 6, seed: 3, matrix: 96, pixel_mm: 3.2, slices: 28, slice_mm: 3.0"),
            preprocessing("patients", "@cohort/dicom/{item}", 32)
        ),
    );
    let (code, doc) = p.json(&["run", "pipe.yaml"]);
    assert_eq!(code, 0, "{doc}");
    let (_, metrics) = p.json(&["metrics", "pipe.yaml"]);
    let (m1, m4) = (metric(&metrics, "m1", "best_val_nll_per_voxel"), metric(&metrics, "m4", "best_val_nll_per_voxel"));
    assert!(m4 < m1, "validation NLL per voxel: m=4 {m4} should be below m=1 {m1}");
    assert_eq!(metric(&metrics, "m4", "epochs"), 20.0);
    let results = p.path().join("cache/results/pipe");
    for f in ["model.mpk", "model.json", "metrics.parquet", "split.json"] {
        assert!(results.join("m4").join(f).is_file(), "{f}");
    }
    // The encoder applied to each whole lung crop: 8 code channels, one code
    // voxel per 4³ input voxels (crop edges rounded up).
    for patient in std::fs::read_dir(results.join("lungs")).unwrap() {
        let patient = patient.unwrap().file_name();
        let crop = lungflow_stages::formats::volume::read_volume(&results.join("lungs").join(&patient).join("volume.arrow")).unwrap();
        // pyarrow reads the zstd-compressed file (issue 31) to the values lungflow reads.
        let file = results.join("features").join(&patient).join("features.arrow");
        let out = std::process::Command::new(python())
            .args(["-c", "import sys, json, blake3, pyarrow.ipc as i; t = i.open_file(sys.argv[1]).read_all(); m = json.loads(t.schema.metadata[b'lungflow']); v = b''.join(c.values.to_numpy().astype('<f4').tobytes() for c in t.column('features').chunks); print(json.dumps([m, t.num_rows, t.schema.field('features').type.list_size, blake3.blake3(v).hexdigest()]))"])
            .arg(&file)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let shape: Vec<u64> = crop.meta.shape.iter().map(|&n| n.div_ceil(4) as u64).collect();
        assert_eq!(got[0]["channels"], 8);
        assert_eq!(got[0]["step"], 4);
        assert_eq!(got[0]["shape"], serde_json::json!(shape));
        assert_eq!(got[1], shape[0]);
        assert_eq!(got[2], 8 * shape[1] * shape[2]);
        let (_, values) = lungflow_stages::formats::features::read_features(&file).unwrap();
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        assert_eq!(got[3], blake3::hash(&bytes).to_hex().as_str(), "pyarrow reads the values lungflow reads");
        let stored = std::fs::metadata(&file).unwrap().len() as usize;
        assert!(stored < bytes.len() * 3 / 4, "features.arrow is stored compressed: {stored} bytes for {} of values", bytes.len());
    }
    let split: serde_json::Value = serde_json::from_str(&p.read("cache/results/pipe/m4/split.json")).unwrap();
    let (train, val) = (split["train_patients"].as_array().unwrap(), split["val_patients"].as_array().unwrap());
    assert!(!val.is_empty() && train.iter().all(|t| !val.contains(t)), "validation is split by patient");
}

#[test]
fn training_on_real_chest_patches_lowers_validation_nll_without_nan() {
    let p = Project::new();
    let chest = ct_data().join("chest");
    p.write(
        "pipe.yaml",
        &format!(
            r#"
items:
  series:
    dir: {}
stages:
{}  gmcae:
    {TRAIN}, mixtures: 4, epochs: 3}}
"#,
            chest.display(),
            preprocessing("series", &format!("{}/{{item}}", chest.display()), 32)
        ),
    );
    let (code, doc) = p.json(&["run", "pipe.yaml"]);
    assert_eq!(code, 0, "{doc}");
    let table = p.path().join("cache/results/pipe/gmcae/metrics.parquet");
    let out = std::process::Command::new(python())
        .args(["-c", "import sys, pyarrow.parquet as pq, json; t = pq.read_table(sys.argv[1]).to_pydict(); print(json.dumps(t))"])
        .arg(&table)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let t: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let val: Vec<f64> = t["val_nll_per_voxel"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    let train: Vec<f64> = t["train_nll_per_voxel"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    assert_eq!(val.len(), 3);
    assert!(val.iter().chain(&train).all(|v| v.is_finite()), "{t}");
    assert!(val[2] < val[0], "validation NLL went from {} to {}", val[0], val[2]);
}
