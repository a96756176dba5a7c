//! Interrupted, concurrent and failing runs, through the real binary.

mod common;
use std::process::Stdio;
use std::time::Duration;

use common::*;

/// Six items, two slow per-item stages and a gather.
const SLOW: &str = r#"
items:
  patients:
    list: [p1, p2, p3, p4, p5, p6]
stages:
  one:
    kind: command
    foreach: patients
    params:
      cmd: "echo one {item} >> runs.log; sleep 0.3; echo {item} > {out}/one.txt"
  two:
    kind: command
    foreach: patients
    inputs:
      one: "@one/one.txt"
    params:
      cmd: "echo two {item} >> runs.log; sleep 0.3; cat {inputs.one} {inputs.one} > {out}/two.txt"
  all:
    kind: command
    inputs:
      twos: "@two"
    params:
      cmd: "echo all >> runs.log; cat {inputs.twos}/*/two.txt > {out}/all.txt"
"#;

fn results_of(p: &Project) -> Vec<(String, Option<String>, String)> {
    let (code, doc) = p.json(&["status", "pipe.yaml"]);
    assert_eq!(code, 0);
    let mut v: Vec<_> = doc
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            assert_eq!(r["state"], "fresh", "{r}");
            (r["stage"].as_str().unwrap().to_owned(), r["item"].as_str().map(str::to_owned), r["key"].as_str().unwrap().to_owned())
        })
        .collect();
    v.sort();
    v
}

#[test]
fn kill_9_mid_run_then_rerun_matches_an_uninterrupted_run() {
    let killed = Project::new();
    killed.write("pipe.yaml", SLOW);
    let mut child = killed.cmd(&["run", "pipe.yaml", "--jobs", "2"]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(900));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let partial = killed.executions().len();
    assert!(partial > 0 && partial < 13, "the kill landed mid-run ({partial} executions)");

    let out = killed.run(&["run", "pipe.yaml", "--jobs", "2"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let verify = killed.run(&["verify"]);
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stdout));

    let clean = Project::new();
    clean.write("pipe.yaml", SLOW);
    assert!(clean.run(&["run", "pipe.yaml"]).status.success());
    assert_eq!(results_of(&killed), results_of(&clean), "same keys, hence the same outputs");
    let all = |p: &Project| std::fs::read_to_string(p.path().join("cache/results/pipe/all/all.txt")).unwrap();
    assert_eq!(all(&killed), all(&clean));
    assert!(std::fs::read_dir(killed.path().join("cache/tmp")).unwrap().next().is_none(), "no staging left behind");
}

#[test]
fn two_concurrent_runs_compute_each_entry_once() {
    let p = Project::new();
    p.write("pipe.yaml", SLOW);
    let spawn = || p.cmd(&["run", "pipe.yaml", "--jobs", "2", "--json"]).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    let (a, b) = (spawn(), spawn());
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    assert!(a.status.success() && b.status.success());
    let mut lines = p.executions();
    lines.sort();
    let mut unique = lines.clone();
    unique.dedup();
    assert_eq!(lines.len(), 13, "every instance computed exactly once: {lines:?}");
    assert_eq!(unique.len(), 13);
    let total = |o: &std::process::Output| {
        let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        (instances(&doc, "executed").len(), instances(&doc, "cached").len())
    };
    let (ea, ca) = total(&a);
    let (eb, cb) = total(&b);
    assert_eq!(ea + eb, 13, "executions split between the two runs");
    assert_eq!((ea + ca, eb + cb), (13, 13), "both runs see every instance");
}

#[test]
fn a_failure_stops_its_branch_and_keep_going_finishes_the_others() {
    let p = Project::new();
    p.write(
        "pipe.yaml",
        r#"
items:
  patients:
    list: [good, bad, fine]
stages:
  one:
    kind: command
    foreach: patients
    params:
      cmd: "echo one {item} >> runs.log; if [ {item} = bad ]; then echo broken input >&2; exit 3; fi; echo ok > {out}/one.txt"
  two:
    kind: command
    foreach: patients
    inputs:
      one: "@one"
    params:
      cmd: "echo two {item} >> runs.log; cp {inputs.one}/one.txt {out}/two.txt"
  all:
    kind: command
    inputs:
      twos: "@two"
    params:
      cmd: "echo all >> runs.log; ls {inputs.twos} > {out}/all.txt"
"#,
    );
    let (code, doc) = p.json(&["run", "pipe.yaml", "--keep-going", "--jobs", "1"]);
    assert_eq!(code, 1);
    let failed = doc["failed"].as_array().unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["stage"], "one");
    assert_eq!(failed[0]["item"], "bad");
    let error = failed[0]["error"].as_str().unwrap();
    assert!(error.contains("exit status: 3") && error.contains("broken input"), "{error}");
    assert_eq!(
        instances(&doc, "executed"),
        vec![inst("one", Some("fine")), inst("one", Some("good")), inst("two", Some("fine")), inst("two", Some("good"))]
    );
    assert_eq!(instances(&doc, "skipped"), vec![inst("all", None), inst("two", Some("bad"))]);

    // Fixing nothing and rerunning keeps what was computed.
    let (code, again) = p.json(&["run", "pipe.yaml", "--keep-going"]);
    assert_eq!(code, 1);
    assert_eq!(instances(&again, "cached").len(), 4);
}

#[test]
fn without_keep_going_the_run_stops_after_a_failure() {
    let p = Project::new();
    p.write(
        "pipe.yaml",
        r#"
items:
  patients:
    list: [a, b, c, d]
stages:
  one:
    kind: command
    foreach: patients
    params:
      cmd: "echo one {item} >> runs.log; [ {item} != a ]"
"#,
    );
    let (code, doc) = p.json(&["run", "pipe.yaml", "--jobs", "1"]);
    assert_eq!(code, 1);
    assert_eq!(instances(&doc, "failed"), vec![inst("one", Some("a"))]);
    assert_eq!(p.executions(), vec!["one a"], "nothing started after the failure");
    assert_eq!(instances(&doc, "skipped").len(), 3);
}

#[test]
fn missing_declared_output_and_missing_input_are_clear_errors() {
    let p = Project::new();
    p.write(
        "pipe.yaml",
        r#"
stages:
  lazy:
    kind: command
    params:
      cmd: "true"
      outputs: [result.csv]
  reader:
    kind: command
    inputs:
      table: data/nowhere.csv
    params:
      cmd: "cat {inputs.table}"
"#,
    );
    let (code, doc) = p.json(&["run", "pipe.yaml", "--keep-going"]);
    assert_eq!(code, 1);
    let errors: Vec<String> = doc["failed"].as_array().unwrap().iter().map(|f| f["error"].as_str().unwrap().to_owned()).collect();
    assert!(errors.iter().any(|e| e.contains("did not create its declared outputs: result.csv")), "{errors:?}");
    assert!(errors.iter().any(|e| e.contains("input \"table\"") && e.contains("data/nowhere.csv")), "{errors:?}");
}

#[test]
fn verify_reports_a_damaged_entry_and_gc_drops_unreachable_ones() {
    let p = chain_project();
    std::fs::create_dir_all(p.path().join("pipelines")).unwrap();
    std::fs::rename(p.path().join("pipe.yaml"), p.path().join("pipelines/pipe.yaml")).unwrap();
    assert!(p.run(&["run", "pipelines/pipe.yaml"]).status.success());
    assert!(p.run(&["run", "pipelines/pipe.yaml", "--set", "prep.scale=9"]).status.success());
    let (code, v) = p.json(&["verify"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["checked"], 13);

    let (_, status) = p.json(&["status", "pipelines/pipe.yaml"]);
    let key = status[0]["key"].as_str().unwrap().to_owned();
    let out = status[0]["outputs"].as_str().unwrap().to_owned();
    std::fs::write(format!("{out}/clean.txt"), "tampered\n").unwrap();
    let (code, v) = p.json(&["verify"]);
    assert_eq!(code, 1);
    assert_eq!(v["problems"][0]["key"], key.as_str());
    assert!(v["problems"][0]["problem"].as_str().unwrap().contains("clean.txt changed"), "{v}");

    // The --set run's three prep and three first entries are not reached by
    // the pipeline as written (merge's entry is shared thanks to early cutoff).
    let (_, dry) = p.json(&["gc", "--dry-run"]);
    assert_eq!(dry["removed"].as_array().unwrap().len(), 6, "{dry}");
    assert_eq!(p.json(&["verify"]).1["checked"], 13, "dry run removed nothing");
    let (_, gc) = p.json(&["gc"]);
    assert_eq!(gc["kept"], 7, "{gc}");
    assert_eq!(p.json(&["verify"]).1["checked"], 7);
}

#[test]
fn a_failed_attempt_keeps_its_partial_outputs_and_log() {
    let p = Project::new();
    p.write(
        "pipe.yaml",
        "stages:\n  half:\n    kind: command\n    params:\n      cmd: \"echo epoch 1 > {out}/checkpoint.txt; echo diverged >&2; exit 4\"\n",
    );
    let (code, doc) = p.json(&["run", "pipe.yaml"]);
    assert_eq!(code, 1);
    let error = doc["failed"][0]["error"].as_str().unwrap();
    let kept = error.split("partial outputs kept in ").nth(1).expect(error).trim_end_matches(')');
    assert_eq!(std::fs::read_to_string(std::path::Path::new(kept).join("checkpoint.txt")).unwrap(), "epoch 1\n");
    let log = error.split("log: ").nth(1).unwrap().split(';').next().unwrap();
    assert!(std::fs::read_to_string(log).unwrap().contains("diverged"));
    assert!(std::fs::read_dir(p.path().join("cache/tmp")).unwrap().next().is_none());
}
