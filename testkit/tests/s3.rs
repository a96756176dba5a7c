//! The test S3 servers do what the shared-cache tests will rely on, on both
//! programs: buckets, put / get / list, data kept over a stop and a start,
//! credentials checked, a counting proxy that keeps signatures valid; and
//! what differs between them: `If-None-Match: *` on `PUT`.

use lungflow_testkit::s3::{CountingProxy, S3Kind, S3Server};

/// Each check, once per server program.
macro_rules! on_both {
    ($check:ident) => {
        mod $check {
            use super::*;
            #[test]
            fn seaweedfs() {
                super::$check(&mut S3Server::seaweedfs());
            }
            #[test]
            fn rclone() {
                super::$check(&mut S3Server::rclone());
            }
        }
    };
}

/// Bytes that are not all the same, so a misplaced range shows.
fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 + i / 251) as u8).collect()
}

/// The stderr and status of `rclone args` against `server`, with `env` set.
fn rclone_fails(server: &S3Server, env: &[(&str, &str)], args: &[&str]) -> String {
    let mut cmd = server.rclone_command();
    cmd.envs(env.iter().copied()).args(args);
    let out = cmd.output().expect("rclone runs");
    assert!(!out.status.success(), "{cmd:?} succeeded: {}", String::from_utf8_lossy(&out.stdout));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

on_both!(bucket_put_get_list_and_delete);
fn bucket_put_get_list_and_delete(s3: &mut S3Server) {
    s3.create_bucket("cache");
    s3.create_bucket("cache"); // again: nothing
    let blob = pattern(300_000);
    s3.put("cache", "blobs/ab/abcdef", &blob);
    s3.put("cache", "blobs/cd/cdef01", b"x");
    s3.put("cache", "refs/main", b"");
    s3.put("cache", "blobsy", b"yz");
    assert_eq!(s3.get("cache", "blobs/ab/abcdef"), blob);
    assert_eq!(s3.get("cache", "refs/main"), b"");
    let all = s3.list("cache", "");
    let keys: Vec<&str> = all.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["blobs/ab/abcdef", "blobs/cd/cdef01", "blobsy", "refs/main"]);
    assert_eq!(all[0].1, 300_000);
    assert_eq!(s3.list("cache", "blobs/"), [("blobs/ab/abcdef".to_owned(), 300_000), ("blobs/cd/cdef01".to_owned(), 1)]);
    assert_eq!(s3.list("cache", "blobs"), [&all[..3]].concat());
    assert_eq!(s3.list("cache", "blobs/ab/abc"), [("blobs/ab/abcdef".to_owned(), 300_000)]);
    assert!(s3.list("cache", "nothing/here").is_empty());

    // What a corruption test does: flip one byte in place, same size.
    let mut flipped = blob.clone();
    flipped[12_345] ^= 0x40;
    s3.put("cache", "blobs/ab/abcdef", &flipped);
    assert_eq!(s3.get("cache", "blobs/ab/abcdef"), flipped);
    assert_eq!(s3.list("cache", "blobs/ab/")[0].1, 300_000);

    let mut rm = s3.rclone_command();
    assert!(rm.args(["deletefile", "s3:cache/blobsy"]).status().unwrap().success());
    assert!(!s3.list("cache", "").iter().any(|(k, _)| k == "blobsy"));

    // Other buckets are apart; a missing bucket is an error, not created.
    s3.create_bucket("other-bucket");
    assert!(s3.list("other-bucket", "").is_empty());
    let e = rclone_fails(s3, &[], &["copyto", "Cargo.toml", "s3:no-such-bucket/k"]);
    assert!(e.contains("NoSuchBucket") || e.contains("404"), "{e}");
}

on_both!(stop_and_start_keep_ports_and_data);
fn stop_and_start_keep_ports_and_data(s3: &mut S3Server) {
    s3.create_bucket("kept");
    s3.put("kept", "a/b", b"before the stop");
    let endpoint = s3.endpoint().to_owned();
    s3.stop();
    s3.stop(); // again: nothing
    let e = rclone_fails(s3, &[], &["lsjson", "s3:kept"]);
    assert!(e.contains("connection refused"), "{e}");
    s3.start();
    assert_eq!(s3.endpoint(), endpoint);
    assert_eq!(s3.get("kept", "a/b"), b"before the stop");
    s3.put("kept", "a/c", b"after");
    assert_eq!(s3.list("kept", "a/").len(), 2);
}

on_both!(wrong_credentials_are_refused);
fn wrong_credentials_are_refused(s3: &mut S3Server) {
    s3.create_bucket("guarded");
    s3.put("guarded", "k", b"secret");
    let e = rclone_fails(s3, &[("RCLONE_CONFIG_S3_SECRET_ACCESS_KEY", "not-the-secret")], &["lsjson", "s3:guarded"]);
    assert!(e.contains("StatusCode: 403") && e.contains("SignatureDoesNotMatch"), "{e}");
    let e = rclone_fails(s3, &[("RCLONE_CONFIG_S3_ACCESS_KEY_ID", "nobody")], &["cat", "s3:guarded/k"]);
    assert!(e.contains("StatusCode: 403"), "{e}");
    let e = rclone_fails(s3, &[("RCLONE_CONFIG_S3_SECRET_ACCESS_KEY", "not-the-secret")], &["copyto", "Cargo.toml", "s3:guarded/k"]);
    assert!(e.contains("StatusCode: 403"), "{e}");
    assert_eq!(s3.get("guarded", "k"), b"secret");
}

on_both!(a_counting_proxy_counts_and_keeps_signatures_valid);
fn a_counting_proxy_counts_and_keeps_signatures_valid(s3: &mut S3Server) {
    s3.create_bucket("proxied");
    let blob = pattern(1 << 20);
    s3.put("proxied", "big", &blob);
    let proxy = CountingProxy::start(s3.endpoint());
    assert_ne!(proxy.endpoint(), s3.endpoint());
    let through = [("RCLONE_CONFIG_S3_ENDPOINT", proxy.endpoint())];

    let mut get = s3.rclone_command();
    let out = get.envs(through.clone()).args(["cat", "s3:proxied/big"]).output().unwrap();
    assert!(out.status.success(), "a signed GET through the proxy: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.stdout, blob);
    let (down, up) = (proxy.bytes_down(), proxy.bytes_up());
    assert!(down >= blob.len() as u64 && down < blob.len() as u64 + 64 * 1024, "down {down}");
    assert!(up > 0 && up < 16 * 1024, "up {up}");

    proxy.reset();
    assert_eq!((proxy.bytes_down(), proxy.bytes_up()), (0, 0));
    let dir = lungflow_testkit::tempdir().unwrap();
    std::fs::write(dir.path().join("up"), &blob[..500_000]).unwrap();
    let mut put = s3.rclone_command();
    let status = put.envs(through).args(["copyto", dir.path().join("up").to_str().unwrap(), "s3:proxied/up"]).status().unwrap();
    assert!(status.success(), "a signed PUT through the proxy");
    assert!(proxy.bytes_up() >= 500_000, "up {}", proxy.bytes_up());
    assert!(proxy.bytes_down() < 16 * 1024, "down {}", proxy.bytes_down());
    assert_eq!(s3.get("proxied", "up"), &blob[..500_000]);
}

on_both!(if_none_match_star_on_put);
fn if_none_match_star_on_put(s3: &mut S3Server) {
    s3.create_bucket("conditional");
    assert!(s3.put_if_absent("conditional", "once", b"first"));
    let second = s3.put_if_absent("conditional", "once", b"second");
    match s3.kind() {
        // SeaweedFS answers 412 Precondition Failed and keeps the first.
        S3Kind::SeaweedFs => {
            assert!(!second, "SeaweedFS overwrote despite If-None-Match: *");
            assert_eq!(s3.get("conditional", "once"), b"first");
        }
        // rclone serve s3 ignores the header: last writer wins.
        S3Kind::Rclone => {
            assert!(second);
            assert_eq!(s3.get("conditional", "once"), b"second");
        }
    }
}

#[test]
fn the_shared_server_is_one_per_process_and_gives_the_client_environment() {
    let (a, b) = (S3Server::shared_seaweedfs(), S3Server::shared_seaweedfs());
    assert!(std::ptr::eq(a, b));
    assert_eq!(a.kind(), S3Kind::SeaweedFs);
    let env = a.env();
    let names: Vec<&str> = env.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(names, ["AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION", "AWS_ALLOW_HTTP"]);
    assert_eq!(env[0].1, a.endpoint());
    assert!(a.endpoint().starts_with("http://127.0.0.1:"));
    a.create_bucket("shared-one");
    a.put("shared-one", "k", b"v");
    assert_eq!(b.get("shared-one", "k"), b"v");
}

#[test]
#[should_panic(expected = "there is no object \"missing\" in bucket \"shared-two\"")]
fn getting_a_missing_key_panics_instead_of_returning_nothing() {
    let s3 = S3Server::shared_seaweedfs();
    s3.create_bucket("shared-two");
    s3.get("shared-two", "missing");
}

#[test]
fn two_seaweedfs_servers_run_side_by_side() {
    let (a, b) = (S3Server::seaweedfs(), S3Server::seaweedfs());
    assert_ne!(a.endpoint(), b.endpoint());
    a.create_bucket("side");
    b.create_bucket("side");
    a.put("side", "k", b"a");
    b.put("side", "k", b"b");
    assert_eq!((a.get("side", "k"), b.get("side", "k")), (b"a".to_vec(), b"b".to_vec()));
}
