//! Reruns compute exactly what changed, through the real binary.

mod common;
use common::*;

#[test]
fn second_run_executes_nothing() {
    let p = chain_project();
    let (code, first) = p.json(&["run", "pipe.yaml"]);
    assert_eq!(code, 0, "{first}");
    assert_eq!(instances(&first, "executed").len(), 7);
    assert_eq!(p.executions().len(), 7);
    let (code, second) = p.json(&["run", "pipe.yaml"]);
    assert_eq!(code, 0);
    assert!(instances(&second, "executed").is_empty(), "{second}");
    assert_eq!(instances(&second, "cached").len(), 7);
    assert_eq!(p.executions().len(), 7, "nothing ran a second time");
    let all = std::fs::read_to_string(p.path().join("cache/results/pipe/merge/all.txt")).unwrap();
    assert_eq!(all, "value of a\nvalue of b\nvalue of c\n");
}

#[test]
fn parameter_change_reruns_stage_and_stops_where_outputs_are_unchanged() {
    let p = chain_project();
    assert_eq!(p.json(&["run", "pipe.yaml"]).0, 0);
    // scale only changes the second line of clean.txt, which `first` ignores:
    // prep reruns, first reruns (its input changed) and produces the same
    // first line, so merge is not rerun (early cutoff).
    let (code, doc) = p.json(&["run", "pipe.yaml", "--set", "prep.scale=3"]);
    assert_eq!(code, 0, "{doc}");
    assert_eq!(
        instances(&doc, "executed"),
        vec![
            inst("first", Some("a")),
            inst("first", Some("b")),
            inst("first", Some("c")),
            inst("prep", Some("a")),
            inst("prep", Some("b")),
            inst("prep", Some("c")),
        ]
    );
    assert_eq!(instances(&doc, "cached"), vec![inst("merge", None)]);
}

#[test]
fn changing_one_items_file_reruns_that_chain_and_the_gather() {
    let p = chain_project();
    assert_eq!(p.json(&["run", "pipe.yaml"]).0, 0);
    p.write("data/b/x.txt", "new value of b\n");
    let (code, doc) = p.json(&["run", "pipe.yaml"]);
    assert_eq!(code, 0, "{doc}");
    assert_eq!(instances(&doc, "executed"), vec![inst("first", Some("b")), inst("merge", None), inst("prep", Some("b"))]);
    let all = std::fs::read_to_string(p.path().join("cache/results/pipe/merge/all.txt")).unwrap();
    assert_eq!(all, "value of a\nnew value of b\nvalue of c\n");
}

#[test]
fn a_new_item_runs_only_its_chain_and_the_gather() {
    let p = chain_project();
    assert_eq!(p.json(&["run", "pipe.yaml"]).0, 0);
    p.write("data/d/x.txt", "value of d\n");
    let (_, doc) = p.json(&["run", "pipe.yaml"]);
    assert_eq!(instances(&doc, "executed"), vec![inst("first", Some("d")), inst("merge", None), inst("prep", Some("d"))]);
}

#[test]
fn touching_a_file_without_changing_it_reruns_nothing() {
    let p = chain_project();
    assert_eq!(p.json(&["run", "pipe.yaml"]).0, 0);
    p.write("data/a/x.txt", "value of a\n"); // new mtime, same content
    let (_, doc) = p.json(&["run", "pipe.yaml"]);
    assert!(instances(&doc, "executed").is_empty(), "{doc}");
}

#[test]
fn status_and_explain_name_the_changed_parameter_and_file() {
    let p = chain_project();
    let (_, before) = p.json(&["status", "pipe.yaml"]);
    assert!(before.as_array().unwrap().iter().all(|r| r["state"] == "missing"), "{before}");
    assert_eq!(p.json(&["run", "pipe.yaml"]).0, 0);
    let (_, fresh) = p.json(&["status", "pipe.yaml"]);
    let rows = fresh.as_array().unwrap();
    assert_eq!(rows.len(), 7);
    for r in rows {
        assert_eq!(r["state"], "fresh", "{r}");
        let out = r["outputs"].as_str().unwrap();
        assert!(std::path::Path::new(out).is_dir(), "{out}");
    }

    p.write("data/c/x.txt", "changed\n");
    let (_, doc) = p.json(&["explain", "pipe.yaml", "prep", "--item", "c", "--set", "prep.scale=5"]);
    let row = &doc.as_array().unwrap()[0];
    assert_eq!(row["state"], "stale");
    let reasons: Vec<&str> = row["reasons"].as_array().unwrap().iter().map(|r| r.as_str().unwrap()).collect();
    assert!(reasons.contains(&"parameter scale changed from 2 to 5"), "{reasons:?}");
    assert!(reasons.iter().any(|r| r.starts_with("input raw: file ") && r.contains("data/c/x.txt changed")), "{reasons:?}");

    let (_, status) = p.json(&["status", "pipe.yaml"]);
    let by = |stage: &str, item: Option<&str>| {
        status.as_array().unwrap().iter().find(|r| r["stage"] == stage && r["item"].as_str() == item).unwrap().clone()
    };
    assert_eq!(by("prep", Some("a"))["state"], "fresh");
    assert_eq!(by("prep", Some("c"))["state"], "stale");
    assert_eq!(by("first", Some("c"))["state"], "stale");
    assert!(by("first", Some("c"))["reasons"][0].as_str().unwrap().contains("upstream prep[c] must run first"));
    assert_eq!(by("merge", None)["state"], "stale");
}

#[test]
fn an_input_rewritten_with_the_same_size_is_hashed_again_and_reruns_its_chain() {
    let p = chain_project();
    assert_eq!(p.json(&["run", "pipe.yaml"]).0, 0);
    // Same length as "value of b\n", another mtime: only the stat cache's
    // mtime (and inode) tell it from the file the stat cache has a row for.
    let b = p.path().join("data/b/x.txt");
    let mtime = std::fs::metadata(&b).unwrap().modified().unwrap();
    p.write("data/b/x.txt", "VALUE OF B\n");
    std::fs::File::options().write(true).open(&b).unwrap().set_modified(mtime + std::time::Duration::from_secs(1)).unwrap();
    let (_, status) = p.json(&["status", "pipe.yaml"]);
    let state = |stage: &str, item: &str| {
        status.as_array().unwrap().iter().find(|r| r["stage"] == stage && r["item"] == item).unwrap()["state"].clone()
    };
    assert_eq!((state("prep", "b"), state("prep", "a")), ("stale".into(), "fresh".into()), "{status}");
    let (code, doc) = p.json(&["run", "pipe.yaml"]);
    assert_eq!(code, 0, "{doc}");
    assert_eq!(instances(&doc, "executed"), vec![inst("first", Some("b")), inst("merge", None), inst("prep", Some("b"))]);
    let all = std::fs::read_to_string(p.path().join("cache/results/pipe/merge/all.txt")).unwrap();
    assert_eq!(all, "value of a\nVALUE OF B\nvalue of c\n");
}
