//! The shared cache on a real S3 server (SeaweedFS's `weed mini`, and
//! `rclone serve s3` for the protocol), through the real binary: two
//! clones share one bucket, a damaged blob is refused, a push survives the
//! server dying, concurrent pushes store each blob once, and a remote that
//! cannot be used stops the run before it touches anything.

mod common;

use std::collections::BTreeSet;
use std::process::{Command, Output};

use common::*;
use lungflow_testkit::s3::{CountingProxy, S3Server};
use serde_json::Value;

/// The small synthetic chain: 8 patients, DICOM to submission.
fn chain_pipeline() -> String {
    cohort_pipeline("patients: 8, seed: 3, matrix: 64, pixel_mm: 4.5, slices: 22, slice_mm: 4.0, test_fraction: 0.25")
        + &chain("patients", "@cohort/dicom/{item}", "@cohort/stage1_labels.csv", "@cohort/stage1_sample_submission.csv")
}

/// `lungflow ARGS` in `p` with the server's endpoint and credentials.
fn with_remote(p: &Project, env: &[(String, String)], args: &[&str]) -> Command {
    let mut c = p.cmd(args);
    c.env_remove("LUNGFLOW_REMOTE").envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    c
}

fn json_of(out: &Output) -> Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{stdout}\nstderr:\n{}", String::from_utf8_lossy(&out.stderr)))
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A fresh bucket on the test process's SeaweedFS, and its environment.
fn shared_bucket(name: &str) -> (&'static S3Server, Vec<(String, String)>) {
    let server = S3Server::shared_seaweedfs();
    server.create_bucket(name);
    (server, server.env())
}

/// The value of `name` in a server's environment.
fn env_value(env: &[(String, String)], name: &str) -> String {
    env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap_or_else(|| panic!("no {name}"))
}

/// How many entries a project's cache holds.
fn entries(p: &Project) -> usize {
    std::fs::read_dir(p.path().join("cache/entries")).unwrap().flat_map(|d| std::fs::read_dir(d.unwrap().path()).unwrap()).count()
}

/// Every record on the bucket names only blobs that are there.
fn assert_no_record_names_a_missing_blob(server: &S3Server, bucket: &str) {
    let objects = server.list(bucket, "");
    let blobs: BTreeSet<String> =
        objects.iter().filter(|(k, _)| k.contains("blobs/")).map(|(k, _)| k.rsplit('/').next().unwrap().to_owned()).collect();
    let records: Vec<&String> = objects.iter().map(|(k, _)| k).filter(|k| k.contains("records/")).collect();
    assert!(!records.is_empty(), "no records on the bucket");
    for r in records {
        let doc: Value = serde_json::from_slice(&server.get(bucket, r)).unwrap();
        let files = doc["manifest"]["outputs"].as_array().unwrap().iter().chain(doc["extras"].as_array().unwrap());
        for f in files {
            let digest = f["blake3"].as_str().unwrap();
            assert!(blobs.contains(digest), "record {r} names blob {digest}, which the bucket lacks");
        }
    }
}

#[test]
fn a_second_clone_reuses_the_first_clones_results_and_downloads_only_the_final_ones() {
    let (server, env) = shared_bucket("share");
    let url = "s3://share/team";

    let first = Project::new();
    first.write("pipe.yaml", &chain_pipeline());
    let out = with_remote(&first, &env, &["run", "pipe.yaml", "--remote", url, "--push", "--json"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let doc = json_of(&out);
    let available = doc["executed"].as_array().unwrap().len() + doc["cached"].as_array().unwrap().len();
    assert_eq!(doc["remote"]["entries_pushed"].as_u64(), Some(available as u64), "{}", doc["remote"]);
    assert_no_record_names_a_missing_blob(server, "share");

    // The second clone talks to the server through a proxy that counts bytes.
    let proxy = CountingProxy::start(server.endpoint());
    let mut env2 = env.clone();
    env2.retain(|(k, _)| !k.starts_with("AWS_ENDPOINT"));
    env2.push(("AWS_ENDPOINT_URL".into(), proxy.endpoint()));
    let second = Project::new();
    second.write("pipe.yaml", &chain_pipeline());
    let out = with_remote(&second, &env2, &["run", "pipe.yaml", "--remote", url, "--json"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let doc = json_of(&out);
    assert_eq!(doc["executed"].as_array().unwrap().len(), 0, "{doc}");
    assert_eq!(doc["cached"].as_array().unwrap().len(), available);
    // Only the submission is final: its files are what was downloaded.
    let final_bytes: u64 =
        std::fs::read_dir(second.path().join("cache/results/pipe/submission")).unwrap().map(|e| e.unwrap().metadata().unwrap().len()).sum();
    let fetched = doc["remote"]["bytes_fetched"].as_u64().unwrap();
    let log = std::fs::metadata(second.path().join("cache/results/pipe/submission/../log.txt")).map(|m| m.len()).unwrap_or(0);
    assert_eq!(fetched, final_bytes + log, "{}", doc["remote"]);
    assert!(!second.path().join("cache/results/pipe/iso").exists(), "intermediate results stay on the remote");
    let record_bytes: u64 = server.list("share", "team/records").iter().map(|(_, s)| s).sum();
    let down = proxy.bytes_down();
    let requests = (available + 40) as u64;
    assert!(
        down >= fetched && down <= fetched + record_bytes + 1_500 * requests,
        "{down} bytes through the proxy for {fetched} of results"
    );
    assert_eq!(first.read("cache/results/pipe/submission/submission.csv"), second.read("cache/results/pipe/submission/submission.csv"));

    // The lineage of a prediction reads the remote's records: nothing is downloaded.
    let before = entries(&second);
    let csv = second.read("cache/results/pipe/submission/submission.csv");
    let patient = csv.lines().nth(1).unwrap().split(',').next().unwrap().to_owned();
    let (_, theirs) = first.json(&["lineage", "pipe.yaml", &patient]);
    let out = with_remote(&second, &env, &["lineage", "pipe.yaml", &patient, "--remote", url, "--json"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let ours = json_of(&out);
    assert_eq!(ours["entries"].as_array().map(Vec::len), theirs["entries"].as_array().map(Vec::len), "{ours}");
    let files = |doc: &Value| -> Vec<(String, String)> {
        doc["source_files"].as_array().unwrap().iter().map(|f| (f["entry"].to_string(), f["blake3"].to_string())).collect()
    };
    assert!(!files(&ours).is_empty() && files(&ours) == files(&theirs), "the same DICOM files, read from the remote's records");
    assert!(ours["missing"].as_array().unwrap().is_empty());
    assert_eq!(entries(&second), before, "a lineage downloads no entry");
    let out = with_remote(&second, &env, &["lineage", "pipe.yaml", &patient, "--remote", url, "--verify", "--json"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(json_of(&out)["drift"].as_array().unwrap().is_empty());
    assert!(entries(&second) > before, "--verify downloads what it checks");

    // No credential in anything either clone wrote.
    let (secret, id) = (env_value(&env, "AWS_SECRET_ACCESS_KEY"), env_value(&env, "AWS_ACCESS_KEY_ID"));
    for p in [&first, &second] {
        let grep = Command::new("grep").args(["-rIl", "-e", &secret, "-e", &id]).arg(p.path().join("cache")).output().unwrap();
        assert!(grep.stdout.is_empty(), "credentials written to {}", String::from_utf8_lossy(&grep.stdout));
    }
}

#[test]
fn a_damaged_remote_blob_is_reported_and_its_instance_computed_here() {
    let (server, env) = shared_bucket("poison");
    let url = "s3://poison";
    let first = chain_project();
    let out = with_remote(&first, &env, &["run", "pipe.yaml", "--remote", url, "--push"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let all = first.read("cache/results/pipe/merge/all.txt");
    let digest = blake3::hash(all.as_bytes()).to_hex().to_string();
    let blob = format!("blobs/{}/{digest}", &digest[..2]);
    let mut bytes = server.get("poison", &blob);
    bytes[0] ^= 1;
    server.put("poison", &blob, &bytes);

    let second = chain_project();
    let out = with_remote(&second, &env, &["run", "pipe.yaml", "--remote", url, "--json"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    let actual = blake3::hash(&bytes).to_hex().to_string();
    assert!(err.contains("out/all.txt") && err.contains(&digest) && err.contains(&actual), "{err}");
    let doc = json_of(&out);
    assert_eq!(instances(&doc, "executed"), vec![inst("merge", None)], "only the damaged entry is computed here");
    assert_eq!(doc["remote"]["refused"].as_u64(), Some(1));
    assert_eq!(second.read("cache/results/pipe/merge/all.txt"), all);
    assert_eq!(second.executions(), vec!["merge"]);
    let verify = second.run(&["verify"]);
    assert!(verify.status.success(), "nothing damaged was published: {}", stderr(&verify));
}

#[test]
fn a_remote_that_cannot_be_used_stops_the_run_with_exit_2_before_anything_is_touched() {
    let (_, good) = shared_bucket("exists");
    let secret = env_value(&good, "AWS_SECRET_ACCESS_KEY");
    let mut wrong = good.clone();
    for (k, v) in wrong.iter_mut() {
        if k == "AWS_SECRET_ACCESS_KEY" {
            *v = "not-the-secret-at-all".into();
        }
    }
    let mut nowhere = good.clone();
    nowhere.retain(|(k, _)| !k.starts_with("AWS_ENDPOINT"));
    nowhere.push(("AWS_ENDPOINT_URL".into(), "http://127.0.0.1:9".into()));
    let cases = [
        (&wrong, "s3://exists/x", "refused the credentials"),
        (&good, "s3://no-such-bucket-here/x", "does not exist"),
        (&nowhere, "s3://exists/x", "cannot reach the remote"),
    ];
    for (env, url, says) in cases {
        let p = chain_project();
        let out = with_remote(&p, env, &["run", "pipe.yaml", "--remote", url]).output().unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{url}: {err}");
        assert!(err.contains(says) && err.contains(url), "{url}: {err}");
        assert!(!err.contains(&secret) && !err.contains("not-the-secret"), "{err}");
        assert!(!p.path().join("cache").exists() && !p.path().join("runs.log").exists(), "{url}: the run touched the project");
    }
}

#[test]
fn two_pushes_of_the_same_entries_at_once_store_each_blob_once_and_one_record_per_key() {
    let (server, env) = shared_bucket("race");
    let (a, b) = (chain_project(), chain_project());
    for p in [&a, &b] {
        assert!(p.run(&["run", "pipe.yaml"]).status.success());
    }
    let push = |p: &Project| with_remote(p, &env, &["push", "pipe.yaml", "--remote", "s3://race/r"]).spawn().unwrap();
    let (mut x, mut y) = (push(&a), push(&b));
    assert!(x.wait().unwrap().success() && y.wait().unwrap().success());
    let objects = server.list("race", "r/");
    let records = objects.iter().filter(|(k, _)| k.contains("/records/")).count();
    let blobs: Vec<&String> = objects.iter().map(|(k, _)| k).filter(|k| k.contains("/blobs/")).collect();
    let (_, status) = a.json(&["status", "pipe.yaml"]);
    assert_eq!(records, status.as_array().unwrap().len(), "one record per key");
    let distinct: BTreeSet<&String> = blobs.iter().copied().collect();
    assert_eq!(blobs.len(), distinct.len());
    assert_no_record_names_a_missing_blob(server, "race");
}

#[test]
fn a_push_cut_off_by_the_server_dying_completes_after_it_restarts() {
    let mut server = S3Server::seaweedfs();
    server.create_bucket("cut");
    let env = server.env();
    let p = Project::new();
    // 24 entries of 6 MB each: long enough a push to cut.
    p.write(
        "pipe.yaml",
        "items:\n  n:\n    list: [a, b, c, d, e, f, g, h, i, j, k, l, m, n, o, p, q, r, s, t, u, v, w, x]\nstages:\n  big:\n    kind: command\n    foreach: n\n    params:\n      cmd: \"head -c 6000000 /dev/urandom > {out}/big.bin\"\n      outputs: [big.bin]\n",
    );
    assert!(p.run(&["run", "pipe.yaml"]).status.success());
    let mut pushing = with_remote(&p, &env, &["push", "pipe.yaml", "--remote", "s3://cut"]).spawn().unwrap();
    let started = std::time::Instant::now();
    while server.list("cut", "blobs/").len() < 2 && started.elapsed().as_secs() < 60 {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    server.stop();
    let cut = pushing.wait().unwrap();
    server.start();
    let out = with_remote(&p, &env, &["push", "pipe.yaml", "--remote", "s3://cut", "--json"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let doc = json_of(&out);
    assert!(cut.success() || doc["moved"].as_u64().unwrap() > 0, "the first push was cut off: {doc}");
    assert_eq!(server.list("cut", "records/").len(), 24);
    assert_no_record_names_a_missing_blob(&server, "cut");
}

#[test]
fn the_protocol_works_against_rclone_serve_s3_too() {
    let server = S3Server::rclone();
    server.create_bucket("other");
    let env = server.env();
    let first = chain_project();
    let out = with_remote(&first, &env, &["run", "pipe.yaml", "--remote", "s3://other/p", "--push"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let second = chain_project();
    let out = with_remote(&second, &env, &["run", "pipe.yaml", "--remote", "s3://other/p", "--json"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let doc = json_of(&out);
    assert!(instances(&doc, "executed").is_empty(), "{doc}");
    assert_eq!(second.read("cache/results/pipe/merge/all.txt"), first.read("cache/results/pipe/merge/all.txt"));
    assert!(second.executions().is_empty());
    // pull brings the intermediate entries too.
    let out = with_remote(&second, &env, &["pull", "pipe.yaml", "--remote", "s3://other/p", "--json"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(json_of(&out)["moved"].as_u64(), Some(6), "prep and first for a, b, c");
    assert_eq!(second.read("cache/results/pipe/first/a/first.txt"), "value of a\n");
    assert!(second.run(&["verify"]).status.success());
}

/// CHAIN with `prep`'s scale set to `scale`, as pipelines/pipe.yaml.
fn chain_with_scale(p: &Project, scale: u32) {
    std::fs::create_dir_all(p.path().join("pipelines")).unwrap();
    p.write("pipelines/pipe.yaml", &CHAIN.replace("scale: 2", &format!("scale: {scale}")));
}

#[test]
fn gc_of_the_remote_keeps_what_a_pipeline_reaches_and_deletes_the_rest_without_breaking_a_push() {
    let (server, env) = shared_bucket("gc-remote");
    let url = "s3://gc-remote/g";
    let p = chain_project();
    for scale in [2, 3] {
        chain_with_scale(&p, scale);
        let out = with_remote(&p, &env, &["run", "pipelines/pipe.yaml", "--remote", url, "--push"]).output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
    }
    // scale 3 is what the folder's pipeline reaches: scale 2's prep and first are not.
    let dry = with_remote(&p, &env, &["gc", "--remote", url, "--grace", "0", "--dry-run", "--json"]).output().unwrap();
    assert!(dry.status.success(), "{}", stderr(&dry));
    assert_eq!(json_of(&dry)["records_deleted"].as_array().unwrap().len(), 6, "{}", json_of(&dry));
    assert_eq!(server.list("gc-remote", "g/records/").len(), 13, "a dry run deletes nothing");

    // A push of another variant beside a gc with the default grace period.
    chain_with_scale(&p, 4);
    assert!(p.run(&["run", "pipelines/pipe.yaml"]).status.success());
    chain_with_scale(&p, 3);
    let mut pushing = with_remote(&p, &env, &["push", "pipelines/pipe.yaml", "--remote", url, "--set", "prep.scale=4"]).spawn().unwrap();
    let beside = with_remote(&p, &env, &["gc", "--remote", url, "--json"]).output().unwrap();
    assert!(pushing.wait().unwrap().success());
    assert!(beside.status.success(), "{}", stderr(&beside));
    assert!(json_of(&beside)["records_deleted"].as_array().unwrap().is_empty(), "everything is younger than an hour");
    assert_no_record_names_a_missing_blob(server, "gc-remote");

    let out = with_remote(&p, &env, &["gc", "--remote", url, "--grace", "0", "--json"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let doc = json_of(&out);
    assert_eq!(doc["records_deleted"].as_array().unwrap().len(), 12, "scale 2's and scale 4's prep and first: {doc}");
    assert!(doc["blobs_deleted"].as_u64().unwrap() >= 6, "their clean.txt blobs: {doc}");
    assert_eq!(server.list("gc-remote", "g/records/").len(), 7);
    assert_no_record_names_a_missing_blob(server, "gc-remote");
    let fresh = chain_project();
    chain_with_scale(&fresh, 3);
    let out = with_remote(&fresh, &env, &["run", "pipelines/pipe.yaml", "--remote", url, "--json"]).output().unwrap();
    assert!(instances(&json_of(&out), "executed").is_empty(), "what the pipeline reaches is all still there");
}

#[test]
fn verify_of_the_remote_rehashes_its_blobs_and_names_a_damaged_one() {
    let (server, env) = shared_bucket("verify-remote");
    let url = "s3://verify-remote";
    let p = chain_project();
    assert!(with_remote(&p, &env, &["run", "pipe.yaml", "--remote", url, "--push"]).output().unwrap().status.success());
    let clean = with_remote(&p, &env, &["verify", "--remote", url, "--json"]).output().unwrap();
    assert!(clean.status.success(), "{}", stderr(&clean));
    assert_eq!(json_of(&clean)["checked"].as_u64(), Some(server.list("verify-remote", "blobs/").len() as u64));
    let sampled = with_remote(&p, &env, &["verify", "--remote", url, "--sample", "2", "--json"]).output().unwrap();
    assert_eq!(json_of(&sampled)["checked"].as_u64(), Some(2));
    let first = p.read("cache/results/pipe/first/b/first.txt");
    let digest = blake3::hash(first.as_bytes()).to_hex().to_string();
    server.put("verify-remote", &format!("blobs/{}/{digest}", &digest[..2]), b"tampered\n");
    let out = with_remote(&p, &env, &["verify", "--remote", url]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("DAMAGED") && text.contains("out/first.txt") && text.contains(&digest), "{text}");
}

/// A stage whose outputs differ every time it runs, and one that copies them.
const RANDOM: &str = "stages:\n  rand:\n    kind: command\n    params:\n      cmd: \"head -c 16 /dev/urandom > {out}/r.bin\"\n      outputs: [r.bin]\n  copy:\n    kind: command\n    inputs:\n      r: \"@rand/r.bin\"\n    params:\n      cmd: \"cp {inputs.r} {out}/c.bin\"\n      outputs: [c.bin]\n";

#[test]
fn when_this_machine_computed_other_outputs_for_a_key_the_run_adopts_the_remotes() {
    let (_, env) = shared_bucket("disagree");
    let url = "s3://disagree";
    let (a, b) = (Project::new(), Project::new());
    a.write("pipe.yaml", RANDOM);
    b.write("pipe.yaml", RANDOM);
    assert!(with_remote(&a, &env, &["run", "pipe.yaml", "--remote", url, "--push"]).output().unwrap().status.success());
    assert!(b.run(&["run", "pipe.yaml"]).status.success());
    let theirs = std::fs::read(a.path().join("cache/results/pipe/copy/c.bin")).unwrap();
    assert_ne!(std::fs::read(b.path().join("cache/results/pipe/copy/c.bin")).unwrap(), theirs);
    let out = with_remote(&b, &env, &["run", "pipe.yaml", "--remote", url, "--push", "--json"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("rand: this machine's outputs") && err.contains("adopting the remote's"), "{err}");
    let doc = json_of(&out);
    assert_eq!(doc["remote"]["disagreements"].as_u64(), Some(1), "{doc}");
    assert!(instances(&doc, "executed").is_empty(), "copy is keyed on the remote's digest, which the remote has");
    assert_eq!(std::fs::read(b.path().join("cache/results/pipe/copy/c.bin")).unwrap(), theirs);
    assert_eq!(
        std::fs::read(b.path().join("cache/results/pipe/rand/r.bin")).unwrap(),
        std::fs::read(a.path().join("cache/results/pipe/rand/r.bin")).unwrap()
    );
    assert!(b.run(&["verify"]).status.success());
}

/// A slow first stage, so that the server can go away while it runs.
const SLOW: &str = "stages:\n  slow:\n    kind: command\n    params:\n      cmd: \"sleep 3; echo x > {out}/x.txt\"\n      outputs: [x.txt]\n  after:\n    kind: command\n    inputs:\n      x: \"@slow/x.txt\"\n    params:\n      cmd: \"cat {inputs.x} > {out}/y.txt\"\n      outputs: [y.txt]\n";

#[test]
fn a_remote_that_goes_away_during_a_run_is_a_warning_unless_it_is_required() {
    let mut server = S3Server::seaweedfs();
    server.create_bucket("away");
    let env = server.env();
    let p = Project::new();
    p.write("pipe.yaml", SLOW);
    let running = with_remote(&p, &env, &["run", "pipe.yaml", "--remote", "s3://away", "--push", "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    server.stop();
    let out = running.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(err.matches("going on without the remote").count(), 1, "one warning: {err}");
    assert_eq!(instances(&json_of(&out), "executed").len(), 2);
    assert!(json_of(&out)["remote"]["lost"].is_string());
    server.start();
    let pushed = with_remote(&p, &env, &["push", "pipe.yaml", "--remote", "s3://away", "--json"]).output().unwrap();
    assert!(pushed.status.success(), "{}", stderr(&pushed));
    assert_eq!(json_of(&pushed)["moved"].as_u64(), Some(2), "the next push uploads what is missing");

    let q = Project::new();
    q.write("pipe.yaml", &format!("cache:\n  remote: s3://away/req\n  remote_required: true\n{SLOW}"));
    let running = with_remote(&q, &env, &["run", "pipe.yaml", "--push"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    server.stop();
    let out = running.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("remote_required"), "{}", String::from_utf8_lossy(&out.stdout));
    let kept = entries(&q);
    assert_eq!(kept, 1, "what was computed is kept");
}
