//! Helpers for driving the real `lungflow` binary in a scratch project folder.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

// Each test binary uses some of these.
#[allow(unused_imports)]
pub use lungflow_testkit::{ct_data, python};
use serde_json::Value;

/// A scratch project: a temporary work folder with its own cache.
pub struct Project {
    pub dir: lungflow_testkit::TempDir,
}

impl Project {
    pub fn new() -> Project {
        Project { dir: lungflow_testkit::tempdir().expect("temp dir") }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        p
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path().join(rel)).unwrap_or_default()
    }

    /// A `lungflow` command running in the project folder.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_lungflow"));
        c.args(args).current_dir(self.path()).env_remove("LUNGFLOW_CACHE");
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("lungflow runs")
    }

    /// Runs a verb with --json and parses the last line of stdout.
    pub fn json(&self, args: &[&str]) -> (i32, Value) {
        let mut all = args.to_vec();
        all.push("--json");
        let out = self.run(&all);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let doc = serde_json::from_str(stdout.trim())
            .unwrap_or_else(|e| panic!("{args:?}: stdout is not JSON ({e}):\n{stdout}\nstderr:\n{}", String::from_utf8_lossy(&out.stderr)));
        (out.status.code().unwrap_or(-1), doc)
    }

    /// Lines of the executions log that commands append to.
    pub fn executions(&self) -> Vec<String> {
        self.read("runs.log").lines().map(str::to_owned).collect()
    }
}

/// (stage, item) pairs of one list in a run's JSON summary, sorted.
pub fn instances(doc: &Value, list: &str) -> Vec<(String, Option<String>)> {
    let mut v: Vec<_> = doc[list]
        .as_array()
        .unwrap_or_else(|| panic!("no {list} in {doc}"))
        .iter()
        .map(|r| (r["stage"].as_str().unwrap().to_owned(), r["item"].as_str().map(str::to_owned)))
        .collect();
    v.sort();
    v
}

/// The start of a pipeline over a synthetic cohort: item set `patients`
/// from the cohort's DICOM folders, and the `cohort` stage with `params`
/// (YAML flow-mapping body). Further stages follow.
pub fn cohort_pipeline(params: &str) -> String {
    format!("items:\n  patients:\n    dir: \"@cohort/dicom\"\nstages:\n  cohort:\n    kind: synthetic_cohort\n    params: {{{params}}}\n")
}

/// hu -> iso (2 mm) -> lungs -> patches (16³, `count` per item), per item of
/// `set`, reading DICOM folders from `dicom` (a path template with {item}).
pub fn preprocessing(set: &str, dicom: &str, count: usize) -> String {
    let stage = |name: &str, kind: &str, input: &str, params: &str| {
        format!("  {name}:\n    kind: {kind}\n    foreach: {set}\n    inputs: {{{input}}}\n    params: {{{params}}}\n")
    };
    [
        stage("hu", "hu_volume", &format!("dicom: \"{dicom}\""), ""),
        stage("iso", "resample", "volume: \"@hu\"", "spacing_mm: 2.0"),
        stage("lungs", "lung_mask", "volume: \"@iso\"", ""),
        stage("patches", "patches", "lungs: \"@lungs\"", &format!("edge: 16, count: {count}")),
    ]
    .concat()
}

/// [`preprocessing`] (8 patches each) -> gmcae (widths 4,8) ->
/// encode -> classifier -> predict -> submission, over item set `set`. The
/// classifier pools over the whole lung region (`pool_grow: 0`): the
/// default shrinks it by three code voxels, which leaves nothing of the
/// real series' thin slabs (a 5-voxel-deep feature grid; the kind says so).
pub fn chain(set: &str, dicom: &str, labels: &str, ids: &str) -> String {
    let front = preprocessing(set, dicom, 8);
    format!(
        r#"
{front}  gmcae:
    kind: gmcae_train
    inputs: {{patches: "@patches"}}
    params: {{widths: "4,8", mixtures: 2, epochs: 2, lr: 0.002, seed: 1}}
  encode:
    kind: encode
    foreach: {set}
    inputs: {{model: "@gmcae", lungs: "@lungs"}}
  classifier:
    kind: classifier_train
    inputs: {{features: "@encode", labels: "{labels}"}}
    params: {{widths: 4, hidden: 8, epochs: 3, patience: 3, val_fraction: 0.3, pool_grow: 0}}
  predict:
    kind: predict
    foreach: {set}
    inputs: {{model: "@classifier", features: "@encode"}}
  submission:
    kind: submission
    inputs: {{predictions: "@predict", ids: "{ids}"}}
"#
    )
}

/// A Parquet file as read by pyarrow: `to_pydict` (column name to values)
/// or `to_pylist` (one object per row).
pub fn read_parquet_as(path: &Path, method: &str) -> Value {
    let code = format!("import sys, json, pyarrow.parquet as pq; print(json.dumps(pq.read_table(sys.argv[1]).{method}()))");
    let out = Command::new(python()).args(["-c", &code]).arg(path).output().expect("python3 runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A Parquet file's columns as read by pyarrow.
pub fn read_parquet(path: &Path) -> Value {
    read_parquet_as(path, "to_pydict")
}

/// The value of one row of `lungflow metrics --json`.
pub fn metric(rows: &Value, stage: &str, name: &str) -> f64 {
    rows.as_array()
        .unwrap()
        .iter()
        .find(|r| r["stage"] == stage && r["name"] == name)
        .unwrap_or_else(|| panic!("no metric {stage}.{name} in {rows}"))["value"]
        .as_f64()
        .unwrap()
}

/// Shorthand for an expected (stage, item) pair.
pub fn inst(stage: &str, item: Option<&str>) -> (String, Option<String>) {
    (stage.to_owned(), item.map(str::to_owned))
}

/// A three-level pipeline over items a, b, c: `prep` per item (reads
/// data/ITEM), `first` per item (first line of prep's output), `merge` once
/// (gathers every `first`). Every command appends to runs.log.
pub const CHAIN: &str = r#"
items:
  patients:
    dir: data
stages:
  prep:
    kind: command
    foreach: patients
    inputs:
      raw: data/{item}
    params:
      cmd: "echo prep {item} >> runs.log; cat {inputs.raw}/*.txt > {out}/clean.txt; echo scale={params.scale} >> {out}/clean.txt"
      outputs: [clean.txt]
      scale: 2
  first:
    kind: command
    foreach: patients
    inputs:
      clean: "@prep/clean.txt"
    params:
      cmd: "echo first {item} >> runs.log; head -n 1 {inputs.clean} > {out}/first.txt"
      outputs: [first.txt]
  merge:
    kind: command
    inputs:
      firsts: "@first"
    params:
      cmd: "echo merge >> runs.log; cat {inputs.firsts}/*/first.txt > {out}/all.txt"
      outputs: [all.txt]
"#;

/// Writes CHAIN and its data for items a, b, c.
pub fn chain_project() -> Project {
    let p = Project::new();
    p.write("pipe.yaml", CHAIN);
    for item in ["a", "b", "c"] {
        p.write(&format!("data/{item}/x.txt"), &format!("value of {item}\n"));
    }
    p
}

/// A folder outside any project with one file in it, to show that nothing
/// outside the project was written, replaced or linked.
pub struct Canary {
    pub dir: lungflow_testkit::TempDir,
}

impl Canary {
    pub fn new() -> Canary {
        let dir = lungflow_testkit::tempdir().expect("temp dir");
        std::fs::create_dir_all(dir.path().join("x")).unwrap();
        std::fs::write(dir.path().join("x/victim.txt"), "precious\n").unwrap();
        Canary { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Panics unless the folder holds exactly `x/victim.txt`, a regular file
    /// with its original content.
    pub fn assert_untouched(&self) {
        let mut found = Vec::new();
        let mut stack = vec![self.path().to_path_buf()];
        while let Some(dir) = stack.pop() {
            for e in std::fs::read_dir(&dir).unwrap().flatten() {
                let t = e.file_type().unwrap();
                if t.is_dir() {
                    stack.push(e.path());
                }
                found.push((e.path().strip_prefix(self.path()).unwrap().display().to_string(), t.is_symlink()));
            }
        }
        found.sort();
        assert_eq!(found, [("x".to_owned(), false), ("x/victim.txt".to_owned(), false)], "something was written outside the project");
        assert_eq!(std::fs::read_to_string(self.path().join("x/victim.txt")).unwrap(), "precious\n");
    }
}
