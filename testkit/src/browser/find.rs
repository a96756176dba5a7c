//! Which Chromium binary the harness starts, installing Debian's when there
//! is none (through [`crate::setup`], as the other tools the tests need).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::setup::{apt_provide, on_path};

/// The Chromium binary: `$LUNGFLOW_CHROMIUM`, else `chromium`,
/// `chromium-browser` or `google-chrome` on `PATH` (for a launcher script,
/// such as Debian's `/usr/bin/chromium`, the binary it starts). When there
/// is none, Debian's `chromium` and a font (`fonts-dejavu-core`) are
/// installed once, where the machine allows it; the error names the command
/// to run where it does not.
pub fn chromium() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("LUNGFLOW_CHROMIUM") {
        let p = PathBuf::from(p);
        return if p.is_file() { Ok(p) } else { Err(format!("LUNGFLOW_CHROMIUM is {}, which is not a file", p.display())) };
    }
    static FOUND: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let found = FOUND.get_or_init(|| {
        apt_provide(&["chromium", "fonts-dejavu-core"], "the browser tests", on_path_chromium)
            .map_err(|e| format!("{e}, or set LUNGFLOW_CHROMIUM to a Chromium or Chrome binary"))
    });
    found.clone()
}

/// The first of `chromium`, `chromium-browser` and `google-chrome` on `PATH`.
fn on_path_chromium() -> Option<PathBuf> {
    ["chromium", "chromium-browser", "google-chrome"].into_iter().find_map(|name| on_path(name).map(|found| behind_launcher(&found, name)))
}

/// The browser binary a launcher script starts, when `found` is one whose
/// binary sits where Debian (`/usr/lib/chromium/chromium`) or Google
/// (`chrome` beside the script) puts it; else `found`. Debian's launcher
/// sources `/etc/chromium.d` (extension and GPU flags, Google API keys, a
/// `/dev/shm` check that misreads some mounts and says so on stderr): the
/// binary alone takes only our flags.
fn behind_launcher(found: &Path, name: &str) -> PathBuf {
    let mut head = [0u8; 2];
    let script = std::fs::File::open(found).and_then(|mut f| f.read_exact(&mut head)).is_ok() && &head == b"#!";
    if script {
        let real = std::fs::canonicalize(found).unwrap_or_else(|_| found.to_path_buf());
        let beside = real.parent().map(|d| d.join("chrome"));
        for candidate in [Some(PathBuf::from("/usr/lib").join(name).join(name)), beside].into_iter().flatten() {
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    found.to_path_buf()
}
