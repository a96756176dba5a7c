//! An instance that cannot be computed ends alone: a parameter that asks for
//! more memory than a buffer may have is the instance's error, and a kind
//! whose process dies (an abort, the out-of-memory killer) fails only that
//! instance. Under `--keep-going` the other instances finish, the failure
//! has its error record, and no staging folder is left behind.

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{Project, cohort_pipeline, inst, instances};

/// A cohort, its HU volumes resampled with `spacing_mm`, and an
/// independent command stage that takes a second.
fn pipeline(cohort: &str, spacing_mm: &str) -> String {
    format!(
        "{}  hu:\n    kind: hu_volume\n    foreach: patients\n    inputs: {{dicom: \"@cohort/dicom/{{item}}\"}}\n  iso:\n    kind: resample\n    foreach: patients\n    inputs: {{volume: \"@hu\"}}\n    params: {{spacing_mm: {spacing_mm}}}\n  beside:\n    kind: command\n    params:\n      cmd: \"sleep 1; echo done > {{out}}/done.txt\"\n      outputs: [done.txt]\n",
        cohort_pipeline(cohort)
    )
}

/// Entries in the cache's staging folder (`cache/tmp`).
fn staging_left(p: &Project) -> Vec<PathBuf> {
    std::fs::read_dir(p.path().join("cache/tmp")).map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect()).unwrap_or_default()
}

/// The error of the failed instance of `stage`, checked to be the one its
/// error record (`cache/logs/KEY.error`) keeps.
fn error_record(p: &Project, doc: &serde_json::Value, stage: &str) -> String {
    let failed = doc["failed"].as_array().expect("failed list");
    let row = failed.iter().find(|r| r["stage"] == stage).unwrap_or_else(|| panic!("{stage} did not fail: {doc}"));
    let error = row["error"].as_str().expect("an error").to_owned();
    let records: Vec<String> = std::fs::read_dir(p.path().join("cache/logs"))
        .expect("cache/logs")
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "error"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .collect();
    assert!(records.iter().any(|r| error.starts_with(r.as_str())), "no error record holds {error:?}: {records:?}");
    error
}

#[test]
fn a_spacing_that_asks_for_too_much_memory_fails_its_instance_and_the_run_goes_on() {
    let p = Project::new();
    // 60 slices of 160 x 160 at 2.5 x 2 x 2 mm, at 0.1 mm: 1,476 x 3,181 x
    // 3,181 voxels, 30 GB of int16 (in range: the spacing alone is fine).
    p.write("pipe.yaml", &pipeline("patients: 1, seed: 3", "0.1"));
    let (code, doc) = p.json(&["run", "pipe.yaml", "--keep-going", "--jobs", "2"]);
    assert_eq!(code, 1, "{doc}");
    assert_eq!(instances(&doc, "failed").len(), 1, "{doc}");
    assert!(instances(&doc, "executed").contains(&inst("beside", None)), "the independent stage finished: {doc}");
    let error = error_record(&p, &doc, "iso");
    assert!(error.contains("spacing_mm 0.1 on a 60 x 160 x 160 volume"), "{error}");
    assert!(error.contains("the resampled volume: 1476 x 3181 x 3181 values of 2 bytes"), "{error}");
    assert!(error.contains("over the cap of 4294967296 bytes for one buffer"), "{error}");
    assert_eq!(staging_left(&p), Vec::<PathBuf>::new());

    // exec says the same, as an error, without aborting.
    let hu = p.path().join("cache/results/pipe/hu");
    let item = std::fs::read_dir(&hu).unwrap().next().unwrap().unwrap().path();
    let out = p.run(&["exec", "resample", "--input", &format!("volume={}", item.display()), "--set", "spacing_mm=0.1", "--out", "r"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("over the cap of 4294967296 bytes for one buffer"), "{stderr}");
}

/// The pid of the `lungflow task` process computing an instance under
/// `cache`, once one runs.
fn worker_under(cache: &Path, deadline: Instant) -> Option<i32> {
    while Instant::now() < deadline {
        for entry in std::fs::read_dir("/proc").ok()?.flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else { continue };
            let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else { continue };
            let args: Vec<String> = cmdline.split(|b| *b == 0).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
            if args.get(1).map(String::as_str) == Some("task") && args.get(2).is_some_and(|s| Path::new(s).starts_with(cache)) {
                return Some(pid);
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

#[test]
fn a_kind_whose_process_dies_fails_alone_and_the_run_goes_on() {
    let p = Project::new();
    // 40 patients take the cohort a few seconds: time to find its process.
    p.write("pipe.yaml", &pipeline("patients: 40, seed: 3", "2.0"));
    let child = p
        .cmd(&["run", "pipe.yaml", "--keep-going", "--jobs", "2", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let cache = p.path().join("cache");
    let worker = worker_under(&cache, Instant::now() + Duration::from_secs(60));
    let Some(worker) = worker else {
        let out = child.wait_with_output().unwrap();
        panic!("no `lungflow task` process ran the cohort; stderr:\n{}", String::from_utf8_lossy(&out.stderr));
    };
    // An abort, as a failed allocation ends a process.
    assert_eq!(send_signal(worker, "ABRT"), Some(0));
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let doc: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    assert_eq!(out.status.code(), Some(1), "{doc}");
    assert!(instances(&doc, "executed").contains(&inst("beside", None)), "the independent stage finished: {doc}");
    assert_eq!(instances(&doc, "failed"), vec![inst("cohort", None)]);
    let error = error_record(&p, &doc, "cohort");
    assert!(error.contains("stage kind synthetic_cohort died in its own process: it was killed by signal 6 (SIGABRT"), "{error}");
    assert_eq!(staging_left(&p), Vec::<PathBuf>::new());

    // Nothing computed was lost, and the next run computes the rest.
    let (code, again) = p.json(&["run", "pipe.yaml", "--keep-going", "--jobs", "2"]);
    assert_eq!(code, 0, "{again}");
    assert_eq!(instances(&again, "cached"), vec![inst("beside", None)]);
}

/// `kill -s SIGNAL PID`'s exit code.
fn send_signal(pid: i32, signal: &str) -> Option<i32> {
    std::process::Command::new("kill").args(["-s", signal, &pid.to_string()]).status().ok()?.code()
}
