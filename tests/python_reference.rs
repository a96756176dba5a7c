//! Runs the Python checks (tests/python against the reference peer in
//! peers/python, and the peer's own tests) with this build's binary, so that
//! `cargo test` is the one test command. The interpreter and its packages
//! come from `common::python()` (a virtual environment made on first use).

mod common;
use std::path::Path;
use std::process::Command;

use common::{ct_data, python};

#[test]
fn python_reference_checks_pass() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(python())
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/python", "peers/python"])
        .current_dir(root)
        .env("LUNGFLOW_BIN", env!("CARGO_BIN_EXE_lungflow"))
        .env("LUNGFLOW_CT_DATA", ct_data())
        .output()
        .expect("the test Python runs");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "pytest failed:\n{text}");
    assert!(text.contains(" passed") && !text.contains("skipped"), "every Python check ran:\n{text}");
}
