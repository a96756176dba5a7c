//! What the tests of both lungflow crates share, so that `cargo test` needs
//! nothing but Rust and Python 3 (and, to install the rest, root or
//! passwordless sudo with apt-get): the location of the real CT data, a
//! Python interpreter with the reference packages, Chromium, QEMU and a
//! one-node Slurm cluster set up on first use ([`qemu_x86_64`],
//! [`slurm_cluster`], [`browser`]), real S3 servers started on free ports
//! ([`s3`]), throw-away folders ([`tempdir`]),
//! hand-built (and broken) DICOM bytes ([`dicom`]) and a fuzzing driver
//! ([`fuzz`]). Not for production code.
#![warn(missing_docs)]
// No unsafe code but the fuzz driver's capped allocator and a few libc
// calls, each allowed on its own item (`#[allow(unsafe_code)]`, with a
// SAFETY comment at the call).
#![deny(unsafe_code)]

pub mod browser;
pub mod counting_proxy;
pub mod dicom;
pub mod fuzz;
pub mod s3;
mod setup;
mod temp;

pub use setup::{qemu_x86_64, slurm_cluster};
pub use temp::{TempDir, tempdir};

use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace root.
fn workspace() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// The folder of real CT data (`chest/`, `syntaxes/`, `oddities/`,
/// `annotations/`): `$LUNGFLOW_CT_DATA`, else `../shared/data/ct` beside the
/// checkout. Panics with what to do when it is not there.
pub fn ct_data() -> PathBuf {
    checked_ct_data(std::env::var_os("LUNGFLOW_CT_DATA").map(PathBuf::from).unwrap_or_else(|| workspace().join("../shared/data/ct")))
}

/// `dir`, when it holds the CT data.
fn checked_ct_data(dir: PathBuf) -> PathBuf {
    assert!(
        dir.join("chest").is_dir(),
        "the real CT data is not at {}: set LUNGFLOW_CT_DATA to the folder that holds chest/, syntaxes/ and oddities/ (see its README)",
        dir.display()
    );
    dir
}

/// The build folder the running test binary lives in (`TARGET/release/deps/test-HASH`).
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    exe.ancestors().nth(3).map(Path::to_path_buf).unwrap_or_else(std::env::temp_dir)
}

/// A fresh empty folder `TARGET/tmp/<name>-<pid>-<n>` for a test's files
/// (left behind for inspection; `TARGET/tmp` is build output).
pub fn scratch(name: &str) -> PathBuf {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = target_dir().join("tmp").join(format!("{name}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("the build folder is writable");
    dir
}

/// A Python 3 interpreter with the packages of peers/python/requirements.txt:
/// `$LUNGFLOW_PYTHON` when set, else a virtual environment at
/// `TARGET/tmp/python-venv`, made once (on top of the system's packages) and
/// remade when the requirements change. Test binaries running at once share
/// it under a file lock.
pub fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("LUNGFLOW_PYTHON") {
        return PathBuf::from(p);
    }
    let requirements_file = workspace().join("peers/python/requirements.txt");
    let requirements = std::fs::read(&requirements_file).expect("peers/python/requirements.txt");
    let tmp = target_dir().join("tmp");
    std::fs::create_dir_all(&tmp).expect("the build folder is writable");
    let (venv, stamp) = (tmp.join("python-venv"), tmp.join("python-venv.blake3"));
    let bin = venv.join("bin/python3");
    let want = blake3::hash(&requirements).to_hex().to_string();
    let lock = std::fs::File::create(tmp.join("python-venv.lock")).expect("a lock file");
    lock.lock().expect("the lock");
    if bin.exists() && std::fs::read_to_string(&stamp).ok().as_deref() == Some(want.as_str()) {
        return bin;
    }
    setup::say(&format!("making the test Python environment {} from peers/python/requirements.txt", venv.display()));
    run(
        Command::new("python3").args(["-m", "venv", "--clear", "--system-site-packages"]).arg(&venv),
        "creating the test virtual environment",
    );
    run(
        Command::new(&bin).args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r"]).arg(&requirements_file),
        "installing peers/python/requirements.txt into the test virtual environment",
    );
    std::fs::write(&stamp, want).expect("the stamp");
    bin
}

fn run(cmd: &mut Command, what: &str) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: cannot start it ({e}); is Python 3 installed?"));
    assert!(out.status.success(), "{what} failed:\n{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[should_panic(expected = "set LUNGFLOW_CT_DATA to the folder that holds chest/")]
    fn missing_ct_data_says_where_it_looked_and_what_to_set() {
        checked_ct_data(std::env::temp_dir().join("no-such-ct-data"));
    }
}
