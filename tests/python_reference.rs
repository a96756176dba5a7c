//! Runs the Python checks (tests/python against the reference peer in
//! peers/python, and the peer's own tests) with this build's binary, so that
//! `cargo test` is the one test command. Needs the packages in
//! peers/python/requirements.txt.

use std::path::Path;
use std::process::Command;

#[test]
fn python_reference_checks_pass() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let data = root.join("../shared/data/ct");
    assert!(data.is_dir(), "the real CT data is expected at {}", data.display());
    let out = Command::new("python3")
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/python", "peers/python"])
        .current_dir(root)
        .env("LUNGFLOW_BIN", env!("CARGO_BIN_EXE_lungflow"))
        .env("LUNGFLOW_CT_DATA", &data)
        .output()
        .expect("python3 runs (install peers/python/requirements.txt)");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "pytest failed:\n{text}");
    assert!(text.contains(" passed") && !text.contains("skipped"), "every Python check ran:\n{text}");
}
