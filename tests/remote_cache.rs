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
    let server = S3Server::shared_seaweedfs();
    server.create_bucket("share");
    let env = server.env();
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

    // No credential in anything either clone wrote.
    let secret = env.iter().find(|(k, _)| k == "AWS_SECRET_ACCESS_KEY").unwrap().1.clone();
    let id = env.iter().find(|(k, _)| k == "AWS_ACCESS_KEY_ID").unwrap().1.clone();
    for p in [&first, &second] {
        let grep = Command::new("grep").args(["-rIl", "-e", &secret, "-e", &id]).arg(p.path().join("cache")).output().unwrap();
        assert!(grep.stdout.is_empty(), "credentials written to {}", String::from_utf8_lossy(&grep.stdout));
    }
}

#[test]
fn a_damaged_remote_blob_is_reported_and_its_instance_computed_here() {
    let server = S3Server::shared_seaweedfs();
    server.create_bucket("poison");
    let env = server.env();
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
    let server = S3Server::shared_seaweedfs();
    server.create_bucket("exists");
    let good = server.env();
    let secret = good.iter().find(|(k, _)| k == "AWS_SECRET_ACCESS_KEY").unwrap().1.clone();
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
    let server = S3Server::shared_seaweedfs();
    server.create_bucket("race");
    let env = server.env();
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
