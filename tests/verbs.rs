//! The smaller verbs: dag, exec, kinds, dynamic item sets.

mod common;
use common::*;

#[test]
fn dag_draws_mermaid_dot_and_json() {
    let p = chain_project();
    let out = p.run(&["dag", "pipe.yaml"]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("flowchart TD\n"));
    assert!(text.contains("  prep -->|clean| first\n") && text.contains("  first -->|firsts| merge\n"), "{text}");
    let dot = String::from_utf8(p.run(&["dag", "pipe.yaml", "--format", "dot"]).stdout).unwrap();
    assert!(dot.contains("\"prep\" -> \"first\" [label=\"clean\"];"), "{dot}");
    let (_, doc) = p.json(&["dag", "pipe.yaml"]);
    assert_eq!(doc["edges"].as_array().unwrap().len(), 2);
}

#[test]
fn exec_runs_one_kind_outside_the_cache() {
    let p = Project::new();
    p.write("in.txt", "hello\n");
    let out =
        p.run(&["exec", "command", "--input", "src=in.txt", "--set", "cmd=tr a-z A-Z < {inputs.src} > {out}/up.txt", "--out", "outdir"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(p.read("outdir/up.txt"), "HELLO\n");
    assert!(!p.path().join("cache").exists(), "exec does not touch the cache");
    let bad = p.run(&["exec", "nope", "--out", "x"]);
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn items_can_come_from_a_stage_output() {
    let p = Project::new();
    p.write(
        "pipe.yaml",
        r#"
items:
  patients:
    dir: "@make/cohort"
stages:
  make:
    kind: command
    params:
      cmd: "mkdir -p {out}/cohort/x1 {out}/cohort/x2 && echo 1 > {out}/cohort/x1/v && echo 2 > {out}/cohort/x2/v"
  per:
    kind: command
    foreach: patients
    inputs:
      cohort: "@make/cohort"
    params:
      cmd: "cat {inputs.cohort}/{item}/v > {out}/v.txt"
"#,
    );
    let (_, status) = p.json(&["status", "pipe.yaml"]);
    let per = status.as_array().unwrap().iter().find(|r| r["stage"] == "per").unwrap();
    assert!(per["reasons"][0].as_str().unwrap().contains("listed from \"make\", which must run first"), "{per}");
    let (code, doc) = p.json(&["run", "pipe.yaml"]);
    assert_eq!(code, 0, "{doc}");
    assert_eq!(instances(&doc, "executed"), vec![inst("make", None), inst("per", Some("x1")), inst("per", Some("x2"))]);
    assert_eq!(p.read("cache/results/pipe/per/x2/v.txt"), "2\n");
}

#[test]
fn kinds_lists_the_command_kind() {
    let p = Project::new();
    let (_, doc) = p.json(&["kinds"]);
    let command = doc.as_array().unwrap().iter().find(|k| k["kind"] == "command").unwrap();
    assert_eq!(command["params"][0]["name"], "cmd");
}
