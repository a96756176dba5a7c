//! Damage in the cache is found, set aside and recomputed, never reused or
//! copied downstream; `verify --repair` mends what a lookup cannot see;
//! `gc` cleans what killed runs left and never drops an entry it merely
//! cannot place; the lineage table catches up with runs that died before
//! recording it.

mod common;
use std::path::PathBuf;

use common::*;
use serde_json::Value;

/// CHAIN run once from `pipelines/pipe.yaml`; returns the project and the
/// output folder of `prep[a]`.
fn ran_chain() -> (Project, PathBuf) {
    let p = chain_project();
    std::fs::create_dir_all(p.path().join("pipelines")).unwrap();
    std::fs::rename(p.path().join("pipe.yaml"), p.path().join("pipelines/pipe.yaml")).unwrap();
    let out = p.run(&["run", "pipelines/pipe.yaml"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(p.executions().len(), 7);
    let (_, status) = p.json(&["status", "pipelines/pipe.yaml"]);
    let row = status.as_array().unwrap().iter().find(|r| r["stage"] == "prep" && r["item"] == "a").unwrap().clone();
    (p, PathBuf::from(row["outputs"].as_str().unwrap()))
}

/// Reruns the pipeline; returns what executed and stderr.
fn rerun(p: &Project) -> (Vec<String>, String) {
    let before = p.executions().len();
    let out = p.run(&["run", "pipelines/pipe.yaml"]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    (p.executions()[before..].to_vec(), stderr)
}

fn verify(p: &Project, extra: &[&str]) -> (i32, Value) {
    let mut args = vec!["verify"];
    args.extend_from_slice(extra);
    p.json(&args)
}

fn quarantined(p: &Project) -> Vec<String> {
    let dir = p.path().join("cache/quarantine");
    let mut reasons: Vec<String> = std::fs::read_dir(dir)
        .map(|d| d.flatten().filter_map(|e| std::fs::read_to_string(e.path().join("reason.txt")).ok()).collect())
        .unwrap_or_default();
    reasons.sort();
    reasons
}

#[test]
fn each_kind_of_damage_is_set_aside_and_recomputed_on_the_next_run() {
    let (p, prep_a) = ran_chain();
    let clean = prep_a.join("clean.txt");
    let original = std::fs::read_to_string(&clean).unwrap();
    let entry = prep_a.parent().unwrap().to_path_buf();
    let flip = |text: &str| text.replacen('v', "V", 1);
    // A manifest grown to 1 TiB (sparse: it costs no disk) is refused at its cap, never read.
    let huge = || std::fs::OpenOptions::new().write(true).open(entry.join("manifest.json")).unwrap().set_len(1 << 40).unwrap();
    let damages: [(&str, &dyn Fn()); 5] = [
        ("clean.txt changed", &|| std::fs::write(&clean, flip(&original)).unwrap()),
        ("clean.txt has 5 bytes, the manifest says", &|| std::fs::write(&clean, "trunc").unwrap()),
        ("clean.txt is missing", &|| std::fs::remove_dir_all(&prep_a).unwrap()),
        ("manifest.json is missing", &|| std::fs::remove_file(entry.join("manifest.json")).unwrap()),
        ("manifest.json: 1099511627776 bytes, over the cap of 268435456 bytes", &huge),
    ];
    for (n, (reason, damage)) in damages.iter().enumerate() {
        std::thread::sleep(std::time::Duration::from_millis(20)); // a later mtime than the manifest's
        damage();
        if *reason == "manifest.json is missing" {
            // gc cannot place prep[a]'s dependents until it is computed again: it keeps them.
            let (_, dry) = p.json(&["gc", "--dry-run"]);
            assert_eq!(dry["removed"].as_array().unwrap().len(), 0, "{dry}");
        }
        let (_, status) = p.json(&["status", "pipelines/pipe.yaml"]);
        let row = status.as_array().unwrap().iter().find(|r| r["stage"] == "prep" && r["item"] == "a").unwrap().clone();
        assert_eq!(row["state"], "stale", "{row}");
        let why = row["reasons"][0].as_str().unwrap();
        assert!(why.contains("its cache entry is damaged (") && why.contains(reason), "{row}");
        let (ran, stderr) = rerun(&p);
        // Recomputed once; its output is the same, so nothing downstream reran.
        assert_eq!(ran, ["prep a"], "{reason}: {stderr}");
        assert!(stderr.contains("warning: the cache entry of prep[a] is damaged") && stderr.contains(reason), "{reason}: {stderr}");
        assert_eq!(std::fs::read_to_string(&clean).unwrap(), original, "{reason}");
        assert_eq!(verify(&p, &[]).0, 0, "{reason}");
        let reasons = quarantined(&p);
        assert_eq!(reasons.len(), n + 1, "{reasons:?}");
        assert!(reasons.iter().any(|r| r.contains(reason)), "{reasons:?}");
    }
    assert_eq!(rerun(&p).0, Vec::<String>::new(), "all fresh again");
}

#[test]
fn a_damaged_entry_is_never_copied_downstream() {
    let (p, prep_a) = ran_chain();
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::write(prep_a.join("clean.txt"), "forged\nscale=2\n").unwrap();
    // A change that makes `first` run again: it must read prep[a]'s real output.
    let text = p.read("pipelines/pipe.yaml").replace("head -n 1", "head -n 2");
    p.write("pipelines/pipe.yaml", &text);
    let (mut ran, _) = rerun(&p);
    ran.sort();
    assert_eq!(ran, ["first a", "first b", "first c", "merge", "prep a"]);
    let merged = p.read("cache/results/pipe/merge/all.txt");
    assert!(merged.contains("value of a") && !merged.contains("forged"), "{merged}");
    assert_eq!(verify(&p, &[]).0, 0);
}

#[test]
fn a_flip_that_keeps_size_and_mtime_is_found_by_verify_and_repaired() {
    let (p, prep_a) = ran_chain();
    let clean = prep_a.join("clean.txt");
    let mtime = std::fs::metadata(&clean).unwrap().modified().unwrap();
    let text = std::fs::read_to_string(&clean).unwrap();
    std::fs::write(&clean, text.replacen('v', "V", 1)).unwrap();
    std::fs::File::options().write(true).open(&clean).unwrap().set_modified(mtime).unwrap();

    let (code, report) = verify(&p, &[]);
    assert_eq!(code, 1);
    assert!(report["problems"][0]["problem"].as_str().unwrap().contains("clean.txt changed"), "{report}");
    assert!(report["problems"][0]["repaired"].is_null(), "{report}");
    let (code, report) = verify(&p, &["--repair"]);
    assert_eq!(code, 1, "damage was found, even though it is now repaired");
    assert!(report["problems"][0]["repaired"].as_str().unwrap().starts_with("moved to"), "{report}");
    assert_eq!(rerun(&p).0, ["prep a"]);
    let (code, report) = verify(&p, &[]);
    assert_eq!(code, 0, "{report}");
}

#[test]
fn a_damaged_state_store_is_a_clear_error_that_verify_repair_mends() {
    let (p, _) = ran_chain();
    let state = p.path().join("cache/state.sqlite");
    std::fs::write(&state, vec![0x5au8; 8192]).unwrap();
    for side in ["state.sqlite-wal", "state.sqlite-shm"] {
        let _ = std::fs::remove_file(p.path().join("cache").join(side));
    }
    let out = p.run(&["run", "pipelines/pipe.yaml"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(err.contains("state.sqlite is damaged") && err.contains("verify --repair"), "{err}");

    let (code, report) = verify(&p, &["--repair"]);
    assert_eq!(code, 1);
    assert_eq!(report["store_problems"][0]["part"], "state", "{report}");
    assert!(report["store_problems"][0]["repaired"].as_str().unwrap().contains("moved to"), "{report}");
    assert_eq!(rerun(&p).0, Vec::<String>::new(), "the entries were intact: nothing recomputed");
    assert_eq!(verify(&p, &[]).0, 0);
}

#[test]
fn the_lineage_table_catches_up_with_a_run_killed_before_recording_it() {
    let (p, _) = ran_chain();
    let parts = |p: &Project| -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(p.path().join("cache/lineage")).unwrap().flatten().map(|e| e.path()).collect();
        v.sort();
        v
    };
    let before = parts(&p);
    let out = p.run(&["run", "pipelines/pipe.yaml", "--set", "prep.scale=3"]);
    assert!(out.status.success());
    // As if that run had been killed between publishing and recording.
    for part in parts(&p).into_iter().filter(|x| !before.contains(x)) {
        std::fs::remove_file(part).unwrap();
    }
    let (code, report) = verify(&p, &[]);
    assert_eq!(code, 1);
    let problem = report["store_problems"][0]["problem"].as_str().unwrap();
    assert!(problem.contains("6 of 13 entries have no edges"), "{report}");

    let out = p.run(&["run", "pipelines/pipe.yaml", "--set", "prep.scale=3"]);
    assert!(out.status.success());
    assert_eq!(p.executions().len(), 13, "everything was cached");
    let (code, report) = verify(&p, &[]);
    assert_eq!(code, 0, "{report}");
    let table = read_parquet(&p.path().join("cache/lineage"));
    let children: std::collections::BTreeSet<&str> = table["child_key"].as_array().unwrap().iter().map(|k| k.as_str().unwrap()).collect();
    assert_eq!(children.len(), 13);
}

#[test]
fn gc_removes_what_killed_runs_left_and_no_lock_files_pile_up() {
    let (p, _) = ran_chain();
    let cache = p.path().join("cache");
    let count = |dir: &str| std::fs::read_dir(cache.join(dir)).unwrap().count();
    assert_eq!(count("locks"), 0, "a run leaves no lock files");
    std::fs::write(cache.join("locks").join(format!("{}.lock", "cd".repeat(32))), "").unwrap();
    std::fs::create_dir_all(cache.join("tmp").join(format!("{}.4000000.0/out", "ab".repeat(32)))).unwrap();
    // A lineage part whose writer (no such process) died before moving it.
    std::fs::write(cache.join("tmp/lineage-run-2026-11-30T000000000Z-4000000.parquet"), "half").unwrap();
    std::fs::write(cache.join("tmp").join(format!("lineage-run-2026-11-30T000000000Z-{}.parquet", std::process::id())), "live").unwrap();

    let (_, dry) = p.json(&["gc", "--dry-run"]);
    assert_eq!(dry["leftovers"], 3, "{dry}");
    assert_eq!(count("tmp"), 3, "a dry run removes nothing");
    let (_, gc) = p.json(&["gc"]);
    assert_eq!((gc["leftovers"].as_u64(), gc["removed"].as_array().unwrap().len()), (Some(3), 0), "{gc}");
    assert_eq!(count("locks"), 0);
    let left: Vec<String> =
        std::fs::read_dir(cache.join("tmp")).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(left, [format!("lineage-run-2026-11-30T000000000Z-{}.parquet", std::process::id())], "a live writer's part stays");
    assert_eq!(verify(&p, &[]).0, 0);
}

#[test]
fn gc_without_a_pipelines_folder_cleans_the_leftovers_and_keeps_every_entry() {
    let (p, _) = ran_chain();
    std::fs::rename(p.path().join("pipelines"), p.path().join("elsewhere")).unwrap();
    let cache = p.path().join("cache");
    let names = |dir: &str| -> Vec<String> {
        let mut v: Vec<String> =
            std::fs::read_dir(cache.join(dir)).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
        v.sort();
        v
    };
    // What killed runs leave: a lock file, a staging folder, half a lineage
    // part, and the note of entries published but not recorded (the table's
    // parts are gone as if the run that wrote them had been killed first).
    std::fs::write(cache.join("locks").join(format!("{}.lock", "cd".repeat(32))), "").unwrap();
    std::fs::create_dir_all(cache.join("tmp").join(format!("{}.4000000.0/out", "ab".repeat(32)))).unwrap();
    std::fs::write(cache.join("tmp/lineage-run-2026-11-30T000000000Z-4000000.parquet"), "half").unwrap();
    let (_, status) = p.json(&["status", "elsewhere/pipe.yaml"]);
    let keys: Vec<&str> = status.as_array().unwrap().iter().map(|r| r["key"].as_str().unwrap()).collect();
    std::fs::write(cache.join("tmp/unrecorded-4000000-1.keys"), keys.join("\n") + "\n").unwrap();
    for part in names("lineage") {
        std::fs::remove_file(cache.join("lineage").join(part)).unwrap();
    }
    assert_eq!(verify(&p, &[]).0, 0, "a table that is behind is not damage");

    let (_, dry) = p.json(&["gc", "--dry-run"]);
    assert_eq!(dry["leftovers"], 4, "{dry}");
    assert_eq!(names("tmp").len(), 3, "a dry run removes nothing");
    let out = p.run(&["gc", "--json"]);
    assert_eq!(out.status.code(), Some(1), "the entries could not be judged");
    let gc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (gc["leftovers"].as_u64(), gc["removed"].as_array().map(Vec::len), gc["kept"].as_u64()),
        (Some(4), Some(0), Some(7)),
        "{gc}"
    );
    assert!(gc["undecided"].as_str().unwrap().contains("cannot list pipelines in pipelines"), "{gc}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("kept all 7 entries") && stderr.contains("--pipelines DIR"), "{stderr}");
    assert_eq!((names("locks"), names("tmp")), (vec![], vec![]), "every leftover is gone");
    let (code, report) = verify(&p, &[]);
    assert_eq!((code, report["warnings"].as_array().map(Vec::len)), (0, Some(0)), "gc recorded the lineage first: {report}");
    assert_eq!(p.json(&["gc", "--pipelines", "elsewhere"]).1["removed"].as_array().map(Vec::len), Some(0), "all 7 are reached");
}
