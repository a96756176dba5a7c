//! `--executor slurm` against a real Slurm cluster (the one
//! `tools/slurm/up.sh` starts; the testkit runs it when no cluster answers).
//! Where it cannot start one, these tests fail naming that script: they are
//! never skipped.
//!
//! The tests share the cluster's two CPUs, so they take turns.

mod common;

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::{CHAIN, Project, cohort_pipeline, preprocessing};
use serde_json::Value;

/// One test on the cluster at a time.
static CLUSTER: Mutex<()> = Mutex::new(());

/// Poll quickly in tests: the cluster is local and idle otherwise.
const FAST: &str = "executor:\n  slurm:\n    poll: 0.3s\n    max_poll: 2s\n    exit_file_grace: 5s\n";

/// Takes the cluster for one test, after making sure it answers: the
/// testkit starts it with `tools/slurm/up.sh --install` when it does not
/// (installing Slurm where the machine allows it), or fails naming that
/// command.
fn cluster() -> std::sync::MutexGuard<'static, ()> {
    let guard = CLUSTER.lock().unwrap_or_else(|e| e.into_inner());
    lungflow_testkit::slurm_cluster();
    guard
}

/// (stage, item) -> key of every executed or cached instance in a run report.
fn keys(doc: &Value) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for list in ["executed", "cached"] {
        for r in doc[list].as_array().unwrap() {
            let label = format!("{}[{}]", r["stage"].as_str().unwrap(), r["item"].as_str().unwrap_or(""));
            out.insert(label, r["key"].as_str().unwrap().to_owned());
        }
    }
    out
}

/// The output digest of every key, from the manifests in `project`'s cache.
fn digests(project: &Project, keys: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    keys.iter()
        .map(|(label, key)| {
            let path = project.path().join("cache/entries").join(&key[..2]).join(key).join("manifest.json");
            let m: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
            (label.clone(), m["output_digest"].as_str().unwrap().to_owned())
        })
        .collect()
}

/// The `slurm calls: ...` line's count for `program`.
fn calls(stderr: &str, program: &str) -> usize {
    let line = stderr.lines().find(|l| l.starts_with("slurm calls:")).unwrap_or_else(|| panic!("no slurm calls line in:\n{stderr}"));
    let at = line.find(&format!("{program} ")).unwrap_or_else(|| panic!("{line}"));
    line[at + program.len() + 1..].split(|c: char| !c.is_ascii_digit()).next().unwrap().parse().unwrap()
}

fn run_json(p: &Project, args: &[&str]) -> (i32, Value, String) {
    let mut all = args.to_vec();
    all.push("--json");
    let out = p.run(&all);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let doc = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}):\n{stdout}\n{stderr}"));
    (out.status.code().unwrap_or(-1), doc, stderr)
}

/// The same project run locally and on Slurm: same keys, same outputs,
/// and a second run on Slurm submits nothing.
fn same_as_local(write: impl Fn(&Project)) -> usize {
    let local = Project::new();
    write(&local);
    let (code, local_doc, stderr) = run_json(&local, &["run", "pipe.yaml"]);
    assert_eq!(code, 0, "{local_doc}\n{stderr}");
    let remote = Project::new();
    write(&remote);
    let (code, doc, stderr) = run_json(&remote, &["run", "pipe.yaml", "--executor", "slurm"]);
    assert_eq!(code, 0, "{doc}\n{stderr}");
    assert!(calls(&stderr, "sbatch") >= 1, "{stderr}");
    let (local_keys, slurm_keys) = (keys(&local_doc), keys(&doc));
    assert_eq!(local_keys, slurm_keys, "the same keys on Slurm as locally");
    assert_eq!(digests(&local, &local_keys), digests(&remote, &slurm_keys), "the same outputs on Slurm as locally");
    let manifest_of = |key: &str| -> Value {
        let path = remote.path().join("cache/entries").join(&key[..2]).join(key).join("manifest.json");
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
    };
    for (label, key) in &slurm_keys {
        let m = manifest_of(key);
        if label.starts_with("merge[") {
            assert!(m["usage"].get("slurm_job").is_none(), "a local: true stage runs in the orchestrator: {m}");
        } else {
            assert!(m["usage"]["slurm_job"].as_str().is_some_and(|j| !j.is_empty()), "{label}: {m}");
            assert!(m["usage"]["peak_rss_kib"].as_u64().is_some_and(|k| k > 0), "{label}: {m}");
        }
    }
    let (code, again, stderr) = run_json(&remote, &["run", "pipe.yaml", "--executor", "slurm"]);
    assert_eq!(code, 0);
    assert!(again["executed"].as_array().unwrap().is_empty(), "{again}");
    assert_eq!(calls(&stderr, "sbatch"), 0, "a second run submits nothing: {stderr}");
    slurm_keys.len()
}

#[test]
fn the_toy_pipeline_gives_the_same_keys_and_outputs_on_slurm_and_a_rerun_submits_nothing() {
    let _c = cluster();
    let n = same_as_local(|p| {
        let merge_here = CHAIN.replace("  merge:\n    kind: command\n", "  merge:\n    kind: command\n    local: true\n");
        assert_ne!(merge_here, CHAIN);
        p.write("pipe.yaml", &format!("{merge_here}{FAST}"));
        for item in ["a", "b", "c"] {
            p.write(&format!("data/{item}/x.txt"), &format!("value of {item}\n"));
        }
    });
    assert!(n >= 4, "{n} instances");
}

#[test]
fn eight_synthetic_ct_patients_through_patches_match_the_local_run() {
    let _c = cluster();
    let yaml = format!(
        "{}{}{FAST}",
        cohort_pipeline("patients: 8, seed: 8, matrix: 64, pixel_mm: 4.8, slices: 20, slice_mm: 4.0"),
        preprocessing("patients", "@cohort/dicom/{item}", 4)
    );
    let n = same_as_local(|p| {
        p.write("pipe.yaml", &yaml);
    });
    assert_eq!(n, 1 + 8 * 4, "cohort + 8 patients x 4 stages");
}

/// A pipeline of `n` items whose command logs each start to runs.log,
/// sleeps `seconds`, and writes its item.
fn sleepers(n: usize, seconds: f64, extra: &str) -> String {
    let ids: Vec<String> = (0..n).map(|i| format!("i{i}")).collect();
    format!(
        "items:\n  n:\n    list: [{}]\nstages:\n  nap:\n    kind: command\n    foreach: n\n{extra}    params:\n      cmd: \"echo {{item}} >> runs.log; sleep {seconds}; echo {{item}} > {{out}}/x.txt\"\n      outputs: [x.txt]\n{FAST}",
        ids.join(", ")
    )
}

/// This user's lungflow jobs Slurm lists as running, pending or done.
fn our_jobs(state: &str) -> usize {
    let out = Command::new("squeue").args(["-h", "-r", "-t", state, "-o", "%j"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).lines().filter(|l| l.starts_with("lf-")).count()
}

/// Waits until `done` holds, for at most `limit`.
fn wait_for(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "waited {limit:?} for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn an_orchestrator_killed_mid_run_is_rerun_without_executing_any_instance_twice() {
    let _c = cluster();
    let p = Project::new();
    p.write("pipe.yaml", &sleepers(6, 4.0, ""));
    let mut child = p.cmd(&["run", "pipe.yaml", "--executor", "slurm"]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    wait_for(Duration::from_secs(60), "two tasks to start", || p.executions().len() >= 2);
    child.kill().unwrap(); // SIGKILL: nothing is cleaned up, nothing cancelled
    child.wait().unwrap();
    let (code, doc, stderr) = run_json(&p, &["run", "pipe.yaml", "--executor", "slurm"]);
    assert_eq!(code, 0, "{doc}\n{stderr}");
    assert!(stderr.contains("re-attached to Slurm job"), "{stderr}");
    let mut runs = p.executions();
    runs.sort();
    assert_eq!(runs, ["i0", "i1", "i2", "i3", "i4", "i5"], "every instance executed exactly once");
    for i in 0..6 {
        assert_eq!(p.read(&format!("cache/results/pipe/nap/i{i}/x.txt")), format!("i{i}\n"));
    }
    let (_, again, _) = run_json(&p, &["run", "pipe.yaml", "--executor", "slurm"]);
    assert!(again["executed"].as_array().unwrap().is_empty(), "{again}");
}

#[test]
fn a_job_cancelled_from_outside_is_submitted_again() {
    let _c = cluster();
    let p = Project::new();
    p.write("pipe.yaml", &sleepers(1, 3.0, ""));
    let child =
        p.cmd(&["run", "pipe.yaml", "--executor", "slurm", "--json"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    wait_for(Duration::from_secs(60), "the task to start", || !p.executions().is_empty());
    let ids = Command::new("squeue").args(["-h", "-r", "-t", "running", "-o", "%i %j"]).output().unwrap();
    let ids = String::from_utf8_lossy(&ids.stdout).into_owned();
    let id =
        ids.lines().find(|l| l.contains(" lf-")).and_then(|l| l.split_whitespace().next()).unwrap_or_else(|| panic!("{ids}")).to_owned();
    assert!(Command::new("scancel").arg(&id).status().unwrap().success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains(&format!("Slurm job {id} of nap[i0] ended CANCELLED")), "{stderr}");
    assert!(stderr.contains("submitting it again (attempt 2 of 3)"), "{stderr}");
    assert_eq!(p.executions(), ["i0", "i0"], "started twice, finished once");
    assert_eq!(p.read("cache/results/pipe/nap/i0/x.txt"), "i0\n");
}

#[test]
fn a_job_over_its_time_limit_fails_with_slurms_reason_and_the_request() {
    let _c = cluster();
    let p = Project::new();
    p.write("pipe.yaml", &sleepers(1, 600.0, "    resources: {time: 1m}\n"));
    let started = Instant::now();
    let (code, doc, stderr) = run_json(&p, &["run", "pipe.yaml", "--executor", "slurm"]);
    assert_eq!(code, 1, "{doc}\n{stderr}");
    let error = doc["failed"][0]["error"].as_str().unwrap_or_else(|| panic!("{doc}"));
    assert!(error.contains("TIMEOUT") && error.contains("time=00:01:00") && error.contains("resources.time"), "{error}");
    assert!(started.elapsed() < Duration::from_secs(240), "{:?}", started.elapsed());
    assert_eq!(p.executions(), ["i0"], "a time limit is not retried");
}

#[test]
fn with_keep_going_a_failing_task_leaves_the_others_to_finish() {
    let _c = cluster();
    let p = Project::new();
    let yaml = sleepers(4, 0.2, "")
        .replace("echo {item} >> runs.log;", "echo {item} >> runs.log; test {item} != i2 || { echo broken input >&2; exit 3; };");
    p.write("pipe.yaml", &yaml);
    let (code, doc, stderr) = run_json(&p, &["run", "pipe.yaml", "--executor", "slurm", "--keep-going"]);
    assert_eq!(code, 1, "{doc}\n{stderr}");
    assert_eq!(doc["executed"].as_array().unwrap().len(), 3, "{doc}");
    let failed = &doc["failed"][0];
    assert_eq!(failed["item"], "i2");
    assert!(failed["error"].as_str().unwrap().contains("exit status: 3"), "{failed}");
}

#[test]
fn ctrl_c_cancels_this_runs_jobs_and_says_how_many() {
    let _c = cluster();
    let p = Project::new();
    p.write("pipe.yaml", &sleepers(3, 30.0, ""));
    let child = p.cmd(&["run", "pipe.yaml", "--executor", "slurm"]).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    wait_for(Duration::from_secs(60), "the tasks to start", || p.executions().len() >= 2);
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("cancelled 3 Slurm task(s)"), "{stderr}");
    wait_for(Duration::from_secs(20), "the jobs to end", || our_jobs("pending,running") == 0);
}

#[test]
fn slurm_problems_are_clear_errors_before_anything_is_submitted() {
    let _c = cluster();
    let p = Project::new();
    p.write("pipe.yaml", &sleepers(1, 0.1, ""));
    let out = p.cmd(&["run", "pipe.yaml", "--executor", "slurm"]).env("PATH", "/nonexistent").output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("`sbatch` is not on PATH"), "{stderr}");

    p.write("pipe.yaml", &sleepers(1, 0.1, "").replace("    poll: 0.3s\n", "    poll: 0.3s\n    partition: nope\n"));
    let out = p.run(&["run", "pipe.yaml", "--executor", "slurm"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("no partition \"nope\" (it has: debug)"), "{stderr}");

    p.write("pipe.yaml", &sleepers(1, 0.1, "    resources: {mem: 8 gigs}\n"));
    let out = p.run(&["run", "pipe.yaml", "--executor", "slurm"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("pipe.yaml:8:") && stderr.contains("resources.mem"), "{stderr}");
    assert!(p.executions().is_empty(), "nothing ran");
}

/// A `sbatch` first on PATH that fails its first submission with the
/// controller's timeout message; with `lost`, that call did submit (the answer was lost).
fn flaky_sbatch(p: &Project, lost: bool) -> String {
    let real = Command::new("sh").args(["-c", "command -v sbatch"]).output().unwrap();
    let real = String::from_utf8_lossy(&real.stdout).trim().to_owned();
    let submit = if lost { format!("{real} \"$@\" > /dev/null\n") } else { String::new() };
    let script = format!(
        "#!/bin/sh\nif [ \"$1\" = --parsable ] && [ ! -e \"$0.failed\" ]; then\n  touch \"$0.failed\"\n{submit}  echo 'sbatch: error: Batch job submission failed: Socket timed out on send/recv operation' >&2\n  exit 1\nfi\nexec {real} \"$@\"\n"
    );
    let path = p.write("fakebin/sbatch", &script);
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    format!("{}:{}", p.path().join("fakebin").display(), std::env::var("PATH").unwrap())
}

#[test]
fn a_failed_sbatch_is_retried_and_one_that_did_submit_is_not_submitted_twice() {
    let _c = cluster();
    for lost in [false, true] {
        let p = Project::new();
        p.write("pipe.yaml", &sleepers(2, 0.2, ""));
        let path = flaky_sbatch(&p, lost);
        let out = p.cmd(&["run", "pipe.yaml", "--executor", "slurm", "--json"]).env("PATH", path).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "lost={lost}: {stderr}");
        assert!(stderr.contains("failed (attempt 1 of 4)") && stderr.contains("Socket timed out"), "{stderr}");
        let mut runs = p.executions();
        runs.sort();
        assert_eq!(runs, ["i0", "i1"], "lost={lost}: each instance ran once");
        assert_eq!(calls(&stderr, "sbatch"), if lost { 1 } else { 2 }, "lost={lost}: found by name instead of submitted again: {stderr}");
    }
}

#[test]
fn a_sweep_runs_on_slurm_with_its_shared_upstream_once_and_the_local_keys() {
    let _c = cluster();
    let write = |p: &Project| {
        p.write("pipe.yaml", &format!("{CHAIN}{FAST}sweep:\n  grid:\n    first.tag: [x, y]\n"));
        for item in ["a", "b", "c"] {
            p.write(&format!("data/{item}/x.txt"), &format!("value of {item}\n"));
        }
    };
    let (local, remote) = (Project::new(), Project::new());
    write(&local);
    write(&remote);
    let (code, local_doc, stderr) = run_json(&local, &["sweep", "run", "pipe.yaml"]);
    assert_eq!(code, 0, "{local_doc}\n{stderr}");
    let (code, doc, stderr) = run_json(&remote, &["sweep", "run", "pipe.yaml", "--executor", "slurm"]);
    assert_eq!(code, 0, "{doc}\n{stderr}");
    assert_eq!(keys(&local_doc), keys(&doc));
    let mut runs = remote.executions();
    runs.sort();
    assert_eq!(runs.iter().filter(|r| r.starts_with("prep ")).count(), 3, "the shared stage ran once per item: {runs:?}");
    assert_eq!(runs.iter().filter(|r| r.starts_with("first ")).count(), 6, "each variant's copy ran: {runs:?}");
    assert_eq!(doc["variants"].as_array().map(Vec::len), Some(2), "{doc}");
}

#[test]
fn a_job_slurm_would_never_start_is_cancelled_and_fails_with_the_request() {
    let _c = cluster();
    let p = Project::new();
    p.write("pipe.yaml", &sleepers(1, 0.1, "    resources: {cpus: 64}\n"));
    let (code, doc, stderr) = run_json(&p, &["run", "pipe.yaml", "--executor", "slurm"]);
    assert_eq!(code, 1, "{doc}\n{stderr}");
    let error = doc["failed"][0]["error"].as_str().unwrap_or_else(|| panic!("{doc}"));
    assert!(error.contains("Slurm will never start job") && error.contains("PartitionConfig") && error.contains("cpus=64"), "{error}");
    wait_for(Duration::from_secs(20), "the job to leave the queue", || our_jobs("pending,running") == 0);
    assert!(p.executions().is_empty());
}
