//! A cohort that grows by one patient folder, as bench/dsb/run.sh does at
//! DSB's size (issue 33): the DICOM sits outside the cache, the pipeline's
//! items are its patient folders, and adding one folder runs that patient's
//! chain and the stage that gathers every patient, nothing else.

mod common;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::*;

/// Small patients: a few seconds for the whole chain.
const GRID: [&str; 5] = ["seed=33", "matrix=64", "pixel_mm=4.8", "slices=20", "slice_mm=4.0"];

/// Writes a cohort of `patients` with [`GRID`] into `out` with `lungflow exec`.
fn write_cohort(p: &Project, patients: usize, out: &str) {
    let count = format!("patients={patients}");
    let mut args = vec!["exec", "synthetic_cohort", "--out", out, "--set", &count];
    for s in GRID {
        args.extend(["--set", s]);
    }
    let done = p.run(&args);
    assert!(done.status.success(), "{}", String::from_utf8_lossy(&done.stderr));
}

/// Every file under `dir`, by path relative to it, with its bytes.
fn files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut found = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                found.insert(e.path().strip_prefix(dir).unwrap().to_path_buf(), std::fs::read(e.path()).unwrap());
            }
        }
    }
    found
}

fn patient_folders(dir: &Path) -> Vec<String> {
    let mut ids: Vec<String> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    ids.sort();
    ids
}

/// (stage, item, state) of every instance `status --json` does not call fresh.
fn not_fresh(status: &serde_json::Value) -> Vec<(String, Option<String>, String)> {
    let mut rows: Vec<_> = status
        .as_array()
        .unwrap_or_else(|| panic!("status is not a list: {status}"))
        .iter()
        .filter(|r| r["state"] != "fresh")
        .map(|r| (r["stage"].as_str().unwrap().to_owned(), r["item"].as_str().map(str::to_owned), r["state"].as_str().unwrap().to_owned()))
        .collect();
    rows.sort();
    rows
}

#[test]
fn adding_one_patient_folder_runs_only_its_chain_and_the_gather() {
    let p = Project::new();
    write_cohort(&p, 3, "gen3");
    write_cohort(&p, 4, "gen4");
    // The lab's data folder: the three patients, outside the cache.
    std::fs::create_dir_all(p.path().join("data")).unwrap();
    std::fs::rename(p.path().join("gen3/dicom"), p.path().join("data/dicom")).unwrap();
    let old = patient_folders(&p.path().join("data/dicom"));
    assert_eq!(old.len(), 3);
    let all = patient_folders(&p.path().join("gen4/dicom"));
    let new: Vec<&String> = all.iter().filter(|id| !old.contains(id)).collect();
    assert_eq!(new.len(), 1, "{all:?} against {old:?}");
    let new = new[0].clone();
    // Patient i does not depend on the cohort's size: the first three are the same bytes.
    for id in &old {
        let (a, b) = (files(&p.path().join("data/dicom").join(id)), files(&p.path().join("gen4/dicom").join(id)));
        assert_eq!(a.len(), 20, "{id}: one file a slice");
        assert!(a == b, "patient {id} differs between a cohort of 3 and one of 4");
    }

    let pipeline = format!(
        "items:\n  patients:\n    dir: data/dicom\nstages:\n{}{}",
        preprocessing("patients", "data/dicom/{item}", 4),
        "  census:\n    kind: command\n    inputs: {patches: \"@patches\"}\n    params: {cmd: \"ls {inputs.patches} > {out}/ids.txt\", outputs: [ids.txt]}\n"
    );
    p.write("pipe.yaml", &pipeline);
    let (code, first) = p.json(&["run", "pipe.yaml", "--jobs", "2"]);
    assert_eq!(code, 0, "{first}");
    assert_eq!(instances(&first, "executed").len(), 3 * 4 + 1, "{first}");
    let (_, fresh) = p.json(&["status", "pipe.yaml"]);
    assert_eq!(fresh.as_array().unwrap().len(), 13, "{fresh}");
    assert!(not_fresh(&fresh).is_empty(), "{fresh}");

    // The new patient's folder arrives.
    std::fs::rename(p.path().join("gen4/dicom").join(&new), p.path().join("data/dicom").join(&new)).unwrap();
    let per_patient = ["hu", "iso", "lungs", "patches"];
    let (code, status) = p.json(&["status", "pipe.yaml"]);
    assert_eq!(code, 0, "{status}");
    assert_eq!(status.as_array().unwrap().len(), 4 * 4 + 1, "{status}");
    let mut expected: Vec<_> = per_patient.iter().map(|s| (s.to_string(), Some(new.clone()), "missing".to_owned())).collect();
    expected.push(("census".to_owned(), None, "stale".to_owned()));
    expected.sort();
    assert_eq!(not_fresh(&status), expected, "status names exactly the new patient's chain and the gather");

    let (code, grown) = p.json(&["run", "pipe.yaml", "--jobs", "2"]);
    assert_eq!(code, 0, "{grown}");
    let mut ran: Vec<_> = per_patient.iter().map(|s| inst(s, Some(&new))).collect();
    ran.push(inst("census", None));
    ran.sort();
    assert_eq!(instances(&grown, "executed"), ran, "the run executes exactly the new patient's chain and the gather");
    let cached = instances(&grown, "cached");
    assert_eq!(cached.len(), 3 * 4, "{grown}");
    assert!(cached.iter().all(|(stage, item)| per_patient.contains(&stage.as_str()) && item.as_ref().is_some_and(|i| old.contains(i))));
    assert_eq!(p.read("cache/results/pipe/census/ids.txt"), all.join("\n") + "\n", "the gather sees all four patients");
    let (_, after) = p.json(&["status", "pipe.yaml"]);
    assert!(not_fresh(&after).is_empty(), "{after}");
}
