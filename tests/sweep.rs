//! Sweeps through the real binary: variants share what their parameters do
//! not reach, a new value runs only the new variants, the table lists every
//! variant with its metrics, and a failing variant does not stop the others.

mod common;
use common::*;
use serde_json::Value;

/// A small cohort -> preprocessing -> gmcae -> encode -> classifier, with a
/// 2 x 2 sweep of the GMCAE's mixture size and learning rate.
fn swept_chain() -> String {
    format!(
        r#"{}{}  gmcae:
    kind: gmcae_train
    inputs: {{patches: "@patches"}}
    params: {{widths: "4,8", mixtures: 2, epochs: 2, lr: 0.002, seed: 1}}
  encode:
    kind: encode
    foreach: patients
    inputs: {{model: "@gmcae", lungs: "@lungs"}}
  classifier:
    kind: classifier_train
    inputs: {{features: "@encode", labels: "@cohort/stage1_labels.csv"}}
    params: {{widths: 4, hidden: 8, epochs: 3, patience: 3, val_fraction: 0.3}}
sweep:
  grid:
    gmcae.mixtures: [1, 2]
    gmcae.lr: [2.0e-3, 1.0e-3]
"#,
        cohort_pipeline("patients: 8, seed: 3, matrix: 96, pixel_mm: 3.2, slices: 28, slice_mm: 3.0, test_fraction: 0.25"),
        preprocessing("patients", "@cohort/dicom/{item}", 8)
    )
}

/// How many instances of each stage of the pipeline file ran, by base name.
fn executed_per_stage(doc: &Value) -> std::collections::BTreeMap<String, usize> {
    let mut counts = std::collections::BTreeMap::new();
    for (stage, _) in instances(doc, "executed") {
        let base = stage.split('@').next().unwrap().to_owned();
        *counts.entry(base).or_insert(0) += 1;
    }
    counts
}

fn rows(doc: &Value) -> &Vec<Value> {
    doc.as_array().unwrap_or_else(|| panic!("not an array: {doc}"))
}

#[test]
fn a_sweep_shares_its_upstream_and_runs_only_new_variants() {
    let p = Project::new();
    p.write("sweep.yaml", &swept_chain());

    // 2 x 2: the cohort and preprocessing once, then four of everything else.
    let (code, first) = p.json(&["sweep", "run", "sweep.yaml"]);
    assert_eq!(code, 0, "{first}");
    let ran = executed_per_stage(&first);
    let expected: Vec<(&str, usize)> =
        vec![("classifier", 4), ("cohort", 1), ("encode", 4 * 8), ("gmcae", 4), ("hu", 8), ("iso", 8), ("lungs", 8), ("patches", 8)];
    assert_eq!(ran.iter().map(|(s, n)| (s.as_str(), *n)).collect::<Vec<_>>(), expected);
    let names: Vec<&str> = rows(&first["variants"]).iter().map(|r| r["variant"].as_str().unwrap()).collect();
    // Grid axes vary in STAGE.PARAM order, the last fastest.
    assert_eq!(
        names,
        [
            "gmcae.lr=2e-3,gmcae.mixtures=1",
            "gmcae.lr=2e-3,gmcae.mixtures=2",
            "gmcae.lr=1e-3,gmcae.mixtures=1",
            "gmcae.lr=1e-3,gmcae.mixtures=2"
        ]
    );

    // A third mixture size (on the command line, replacing the file's axis):
    // exactly the two new variants train; nothing upstream reruns.
    let three = ["--sweep", "gmcae.mixtures=1,2,3"];
    let (code, second) = p.json(&[&["sweep", "run", "sweep.yaml"][..], &three].concat());
    assert_eq!(code, 0, "{second}");
    let ran = executed_per_stage(&second);
    assert_eq!(ran.iter().map(|(s, n)| (s.as_str(), *n)).collect::<Vec<_>>(), [("classifier", 2), ("encode", 2 * 8), ("gmcae", 2)]);
    let new: Vec<String> = instances(&second, "executed").into_iter().filter(|(s, _)| s.starts_with("gmcae@")).map(|(s, _)| s).collect();
    assert_eq!(new, ["gmcae@gmcae.lr=1e-3,gmcae.mixtures=3", "gmcae@gmcae.lr=2e-3,gmcae.mixtures=3"]);

    // The table: six variants, each with the swept values, the GMCAE's and
    // the classifier's final metrics, its compute time and its state.
    let (code, table) = p.json(&[&["sweep", "show", "sweep.yaml"][..], &three].concat());
    assert_eq!(code, 0);
    assert_eq!(rows(&table).len(), 6, "{table}");
    for row in rows(&table) {
        assert_eq!(row["state"], "done", "{row}");
        assert_eq!(row["error"], Value::Null);
        let nll = row["gmcae.best_val_nll_per_voxel"].as_f64().unwrap();
        assert!(nll.is_finite(), "{row}");
        assert_eq!(row["gmcae.epochs"], 2.0);
        let (loss, auc) = (row["classifier.val_log_loss"].as_f64().unwrap(), row["classifier.val_auc"].as_f64());
        assert!(loss > 0.0 && auc.is_none_or(|a| (0.0..=1.0).contains(&a)), "{row}");
        assert!(row["seconds"].as_f64().unwrap() > 0.0);
        let m = row["gmcae.mixtures"].as_i64().unwrap();
        assert!(row["variant"].as_str().unwrap().ends_with(&format!("gmcae.mixtures={m}")));
    }
    // Its metrics are the variants' own: each row's NLL is its gmcae's metrics.json.
    let (_, metrics) = p.json(&[&["metrics", "sweep.yaml"][..], &three].concat());
    for row in rows(&table) {
        let variant = row["variant"].as_str().unwrap();
        let m = rows(&metrics)
            .iter()
            .find(|m| m["stage"] == "gmcae" && m["variant"] == variant && m["name"] == "best_val_nll_per_voxel")
            .unwrap();
        assert_eq!(m["value"], row["gmcae.best_val_nll_per_voxel"]);
    }

    // Sorted by a column; exported as CSV and Parquet (read back by pyarrow).
    let sort = ["--sort", "gmcae.best_val_nll_per_voxel", "--csv", "table.csv", "--parquet", "table.parquet"];
    let (_, by_nll) = p.json(&[&["sweep", "show", "sweep.yaml"][..], &three, &sort].concat());
    let nlls: Vec<f64> = rows(&by_nll).iter().map(|r| r["gmcae.best_val_nll_per_voxel"].as_f64().unwrap()).collect();
    assert!(nlls.windows(2).all(|w| w[0] <= w[1]), "{nlls:?}");
    let csv = p.read("table.csv");
    assert!(csv.starts_with("variant,gmcae.lr,gmcae.mixtures,"), "{csv}");
    assert_eq!(csv.lines().count(), 7);
    let parquet = read_parquet_as(&p.path().join("table.parquet"), "to_pylist");
    assert_eq!(rows(&parquet).len(), 6);
    assert_eq!(rows(&parquet)[0]["variant"], rows(&by_nll)[0]["variant"]);
    assert_eq!(rows(&parquet)[0]["gmcae.best_val_nll_per_voxel"], rows(&by_nll)[0]["gmcae.best_val_nll_per_voxel"]);
    for stage in ["gmcae", "classifier"] {
        let png = std::fs::read(p.path().join(format!("cache/results/sweep/sweep/curves-{stage}.png"))).unwrap();
        assert_eq!(&png[1..4], b"PNG", "{stage}");
    }
    let text =
        String::from_utf8(p.run(&[&["sweep", "show", "sweep.yaml", "--columns", "classifier.val_"][..], &three].concat()).stdout).unwrap();
    assert!(text.contains("gmcae.lr=1e-3,gmcae.mixtures=3") && text.contains("classifier.val_auc"), "{text}");
    assert!(!text.contains("classifier.train_auc") && !text.contains("gmcae.epochs"), "{text}");
    assert_eq!(text.lines().filter(|l| l.contains("gmcae.mixtures=")).count(), 6, "{text}");

    // Back to the file's 2 x 2: its four variants are still in place.
    let (_, status) = p.json(&["sweep", "status", "sweep.yaml"]);
    assert_eq!(rows(&status).len(), 4);
    assert!(rows(&status).iter().all(|r| r["state"] == "done" && r["available"] == r["instances"]), "{status}");

    // gc keeps what the file's sweep reaches: only the two variants given
    // on the command line (2 gmcae, 16 encode, 2 classifier entries) go.
    let (code, gc) = p.json(&["gc", "--pipelines", ".", "--dry-run"]);
    assert_eq!(code, 0, "{gc}");
    assert_eq!(gc["removed"].as_array().unwrap().len(), 2 + 2 * 8 + 2, "{gc}");
}

/// Three variants of a command, one of which fails.
const FLAKY: &str = r#"
items:
  p:
    list: [a, b]
stages:
  prep:
    kind: command
    foreach: p
    params: {cmd: "echo {item} >> runs.log; echo {item} > {out}/x.txt", outputs: [x.txt]}
  train:
    kind: command
    inputs: {x: "@prep"}
    params:
      cmd: "test {params.lr} != 3 || {{ echo diverged >&2; exit 7; }}; echo '{{\"loss\": {params.lr}}}' > {out}/metrics.json"
      outputs: [metrics.json]
      lr: 1
sweep:
  list:
    - {train.lr: 1}
    - {train.lr: 3}
    - {train.lr: 2}
"#;

#[test]
fn a_failing_variant_is_shown_failed_and_the_others_finish() {
    let p = Project::new();
    p.write("flaky.yaml", FLAKY);
    let (code, run) = p.json(&["sweep", "run", "flaky.yaml"]);
    assert_eq!(code, 1, "a failed variant makes the run fail: {run}");
    let by_name = |doc: &Value, name: &str| rows(doc).iter().find(|r| r["variant"] == name).cloned().unwrap();
    for doc in [run["variants"].clone(), p.json(&["sweep", "show", "flaky.yaml"]).1] {
        assert_eq!(by_name(&doc, "train.lr=1")["state"], "done");
        assert_eq!(by_name(&doc, "train.lr=2")["train.loss"], 2.0);
        let failed = by_name(&doc, "train.lr=3");
        assert_eq!(failed["state"], "failed");
        let error = failed["error"].as_str().unwrap();
        assert!(error.starts_with("train@train.lr=3:") && error.contains("exit status: 7"), "{error}");
        assert_eq!(failed["train.loss"], Value::Null);
    }
    assert_eq!(p.executions().len(), 2, "the shared prep ran once per item");

    // `lungflow run` also runs every variant, and a sweep needs variants.
    let (code, again) = p.json(&["run", "flaky.yaml"]);
    assert_eq!(code, 1);
    assert_eq!(instances(&again, "cached").len(), 4);
    p.write("plain.yaml", FLAKY.split("sweep:").next().unwrap());
    let out = p.run(&["sweep", "show", "plain.yaml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("sweeps nothing: add a `sweep:` block or --sweep"));
    let out = p.run(&["sweep", "show", "plain.yaml", "--sweep", "train.lr=1,2", "--sort", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no column \"nope\" in the sweep table"));
}

/// The demo sweep's six variants (the names of pipelines/sweep.yaml) over
/// command stages: `gmcae` writes its values, and `classifier` copies the
/// out-of-fold table the test wrote for them, as a cross-validating
/// classifier writes it.
const RANKED: &str = r#"
stages:
  gmcae:
    kind: command
    params:
      cmd: "echo m{params.mixtures}-lr{params.lr} > {out}/name.txt; echo '{{\"best_val_nll_per_voxel\": {params.mixtures}}}' > {out}/metrics.json"
      outputs: [name.txt, metrics.json]
      mixtures: 4
      lr: 0.001
  classifier:
    kind: command
    inputs: {model: "@gmcae"}
    params:
      cmd: "cp oof/$(cat {inputs.model}/name.txt)/cv_predictions.parquet {out}/; echo '{{\"val_auc\": 0.5}}' > {out}/metrics.json"
      outputs: [cv_predictions.parquet, metrics.json]
sweep:
  grid:
    gmcae.mixtures: [1, 2, 4]
    gmcae.lr: [1.0e-3, 3.0e-4]
"#;

/// Writes `oof/m{M}-lr{LR}/cv_predictions.parquet` for each variant: 40
/// patients, two repeats, probabilities that separate the classes the more
/// the larger the mixture size (m = 4 clearly best).
fn write_out_of_fold(p: &Project) {
    use lungflow_stages::formats::classifier::{OutOfFold, write_cv_predictions};
    for (m, strength) in [(1, 0.05), (2, 0.15), (4, 0.6)] {
        for (lr, shift) in [("0.001", 0), ("0.0003", 3)] {
            let rows: Vec<OutOfFold> = (0..2)
                .flat_map(|repeat| {
                    (0..40).map(move |i| {
                        let cancer = i % 3 == 0;
                        let noise = ((i * 7 + repeat * 5 + shift) % 13) as f64 / 13.0;
                        let probability = (noise + if cancer { strength } else { 0.0 }) / 1.6;
                        OutOfFold { id: format!("p{i:02}"), cancer, repeat: repeat + 1, fold: 1 + i % 3, probability }
                    })
                })
                .collect();
            let dir = p.path().join(format!("oof/m{m}-lr{lr}"));
            std::fs::create_dir_all(&dir).unwrap();
            write_cv_predictions(&dir, &rows).unwrap();
        }
    }
}

/// The out-of-fold matrix the test wrote for a variant.
fn matrix(p: &Project, variant: &str) -> lungflow_stages::models::classifier::paired::OutOfFoldMatrix {
    let (lr, m) = variant.split_once(',').unwrap();
    let lr = if lr.ends_with("1e-3") { "0.001" } else { "0.0003" };
    let dir = format!("oof/m{}-lr{lr}/cv_predictions.parquet", m.rsplit('=').next().unwrap());
    let rows = lungflow_stages::formats::classifier::read_out_of_fold(&p.path().join(dir)).unwrap();
    lungflow_stages::models::classifier::paired::OutOfFoldMatrix::from_rows(&rows, variant).unwrap()
}

/// Asserts that a row's `NAME`, `NAME_low` and `NAME_high` are `e`'s.
fn assert_estimate(row: &Value, name: &str, e: lungflow_stages::models::classifier::paired::Estimate) {
    let i = e.interval.unwrap();
    for (column, expected) in [(name.to_owned(), e.value), (format!("{name}_low"), i.low), (format!("{name}_high"), i.high)] {
        let got = row[&column].as_f64().unwrap_or_else(|| panic!("no {column} in {row}"));
        assert!((got - expected).abs() < 1e-12, "{column}: {got} != {expected} in {row}");
    }
}

#[test]
fn the_table_ranks_variants_by_their_cross_validated_auc_against_a_reference() {
    use lungflow::report::sweep_ranking::{RESAMPLES, SEED};
    use lungflow_stages::models::classifier::paired::{cv_auc, paired_auc_difference};
    let p = Project::new();
    p.write("ranked.yaml", RANKED);
    write_out_of_fold(&p);
    let (code, run) = p.json(&["sweep", "run", "ranked.yaml"]);
    assert_eq!(code, 0, "{run}");

    // Every variant's AUC and its difference to the first variant, as the
    // stages crate computes them on the same files.
    let (code, table) = p.json(&["sweep", "show", "ranked.yaml"]);
    assert_eq!(code, 0);
    assert_eq!(rows(&table).len(), 6);
    let first = rows(&table)[0]["variant"].as_str().unwrap().to_owned();
    assert_eq!(first, "gmcae.lr=1e-3,gmcae.mixtures=1");
    for row in rows(&table) {
        let m = matrix(&p, row["variant"].as_str().unwrap());
        assert_estimate(row, "classifier.cv_auc", cv_auc(&m, RESAMPLES, SEED));
        assert_estimate(row, "classifier.cv_auc_diff", paired_auc_difference(&m, &matrix(&p, &first), RESAMPLES, SEED).unwrap());
        assert_eq!((row["gmcae.best_val_nll_per_voxel"].as_f64(), row["classifier.val_auc"].as_f64()), (Some(m_of(row)), Some(0.5)));
    }
    let strong = rows(&table).iter().find(|r| r["variant"] == "gmcae.lr=1e-3,gmcae.mixtures=4").unwrap();
    assert!(strong["classifier.cv_auc_diff_low"].as_f64().unwrap() > 0.0, "m = 4 is clearly better: {strong}");
    assert!(strong["classifier.cv_auc_diff_p_holm"].as_f64().unwrap() < 0.05, "even after Holm over 15 pairs: {strong}");

    // table.parquet keeps every column of --json.
    let parquet = read_parquet_as(&p.path().join("cache/results/ranked/sweep/table.parquet"), "to_pylist");
    let keys = |row: &Value| row.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&rows(&parquet)[0]), keys(&rows(&table)[0]));
    assert_eq!(
        keys(&rows(&table)[1]).len(),
        3 + 2 + 8 + 3,
        "variant, 2 swept, 2 metrics, 8 ranking (with 2 p-values), seconds, state, error"
    );

    // Another reference: its own difference is 0, the others are against it.
    let reference = "gmcae.lr=3e-4,gmcae.mixtures=4";
    let (code, against) = p.json(&["sweep", "show", "ranked.yaml", "--reference", reference]);
    assert_eq!(code, 0);
    for row in rows(&against) {
        let m = matrix(&p, row["variant"].as_str().unwrap());
        assert_estimate(row, "classifier.cv_auc_diff", paired_auc_difference(&m, &matrix(&p, reference), RESAMPLES, SEED).unwrap());
    }
    assert_eq!(rows(&against).iter().find(|r| r["variant"] == reference).unwrap()["classifier.cv_auc_diff"], 0.0);
    let out = p.run(&["sweep", "show", "ranked.yaml", "--reference", "gmcae.mixtures=3"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no variant \"gmcae.mixtures=3\" in the sweep (variants: gmcae.lr=1e-3,gmcae.mixtures=1, "), "{err}");

    // The narrow view: a header and six rows within 120 characters, the
    // intervals in one cell each, the reference and the better variants marked.
    let text = String::from_utf8(p.run(&["sweep", "show", "ranked.yaml"]).stdout).unwrap();
    let lines: Vec<&str> = text.lines().take(7).collect();
    assert!(lines.iter().all(|l| l.len() <= 120), "{text}");
    assert!(lines[0].starts_with("variant") && lines[0].contains("classifier.cv_auc_diff"), "{text}");
    assert!(lines[1].starts_with(&first) && lines[1].contains("reference"), "{text}");
    let strong = lines.iter().find(|l| l.starts_with("gmcae.lr=1e-3,gmcae.mixtures=4")).unwrap();
    assert!(strong.ends_with(" *") && strong.contains(" [0.") && strong.contains(" +0."), "{strong}");
    assert!(!text.contains("classifier.cv_auc_low") && !text.contains("seconds"), "{text}");
    assert!(text.lines().nth(7).unwrap().starts_with(&format!("cv_auc_diff: minus {first}")), "{text}");
    assert!(text.lines().nth(8).unwrap().starts_with("*: p < 0.05 after Holm's correction"), "{text}");

    // --metrics picks others; --all is the wide table with every column.
    let picked = String::from_utf8(p.run(&["sweep", "show", "ranked.yaml", "--metrics", "gmcae."]).stdout).unwrap();
    assert!(picked.contains("gmcae.best_val_nll_per_voxel") && !picked.contains("cv_auc"), "{picked}");
    let all = String::from_utf8(p.run(&["sweep", "show", "ranked.yaml", "--all"]).stdout).unwrap();
    assert!(all.contains("classifier.cv_auc_diff_high") && all.contains("classifier.val_auc") && all.contains("seconds"), "{all}");
}

/// The mixture size of a row, as its variant names it.
fn m_of(row: &Value) -> f64 {
    row["gmcae.mixtures"].as_f64().unwrap()
}
