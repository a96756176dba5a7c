//! What the tests need from the machine beyond Rust and Python 3, provided
//! the way [`crate::python`] provides its packages: Chromium (for
//! [`crate::browser`]), QEMU's user-mode emulator (the other-CPU check) and
//! a one-node Slurm cluster (`tools/slurm/up.sh`). When one is missing and
//! the machine allows it (root, or passwordless `sudo -n`, and apt-get), the
//! first test that asks installs it, or starts the cluster, and prints one
//! line on stderr; where it cannot, that test fails naming the command to
//! run by hand. Test threads and test binaries that ask at once take turns
//! on one lock file per machine (what they install is machine-wide), and
//! whoever comes second finds the work done.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// The lock every set-up step holds while it checks and installs.
fn lock_file() -> PathBuf {
    std::env::temp_dir().join("lungflow-testkit-setup.lock")
}

/// `name` in a folder of `PATH`, when there.
pub(crate) fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).map(|d| d.join(name)).find(|p| p.is_file())
}

/// What runs a command as root: nothing when this is root, else `sudo -n`
/// when that needs no password; else why neither works.
#[allow(unsafe_code)]
fn as_root() -> Result<&'static [&'static str], String> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        return Ok(&[]);
    }
    let sudo = Command::new("sudo").args(["-n", "true"]).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).status();
    if sudo.is_ok_and(|s| s.success()) { Ok(&["sudo", "-n"]) } else { Err("this is not root and `sudo -n` asks for a password".into()) }
}

/// [`as_root`], for apt-get, which must be there too.
fn apt_as_root() -> Result<&'static [&'static str], String> {
    if on_path("apt-get").is_none() {
        return Err("there is no apt-get here".into());
    }
    as_root()
}

/// Holds the machine's set-up lock until dropped (opened read-only when it
/// exists: another user's file in the sticky temporary folder cannot be
/// opened for writing, and a shared lock needs no more).
fn take_lock(path: &Path) -> Result<File, String> {
    let file = File::open(path).or_else(|_| File::create(path)).map_err(|e| format!("the set-up lock {}: {e}", path.display()))?;
    file.lock().map_err(|e| format!("the set-up lock {}: {e}", path.display()))?;
    Ok(file)
}

/// One line on the real stderr, which `cargo test` does not capture: the
/// person waiting sees why.
pub(crate) fn say(line: &str) {
    let _ = writeln!(std::io::stderr(), "lungflow-testkit: {line}");
}

/// The command that installs `packages` by hand.
fn apt_by_hand(packages: &[&str]) -> String {
    format!("sudo apt-get install -y --no-install-recommends {}", packages.join(" "))
}

/// What `present` finds, after installing the Debian `packages` when it
/// finds nothing (see the module doc). `for_what` names the tests that need
/// them, in the stderr line and in errors; an error names the command.
pub(crate) fn apt_provide<T>(packages: &[&str], for_what: &str, present: impl Fn() -> Option<T>) -> Result<T, String> {
    if let Some(found) = present() {
        return Ok(found);
    }
    let prefix = apt_as_root().map_err(|why| {
        format!("{for_what} need {}, which the tests cannot install ({why}): run `{}`", packages.join(" "), apt_by_hand(packages))
    })?;
    install_with(&lock_file(), prefix, packages, (for_what, say), present)
}

/// [`apt_provide`]'s work once it may install: under the lock at `lock`,
/// `present` again, else `prefix apt-get install` (after `apt-get update`
/// when the package lists are missing or stale), announced through `tell`.
fn install_with<T>(
    lock: &Path,
    prefix: &[&str],
    packages: &[&str],
    (for_what, tell): (&str, fn(&str)),
    present: impl Fn() -> Option<T>,
) -> Result<T, String> {
    let _held = take_lock(lock)?;
    if let Some(found) = present() {
        return Ok(found);
    }
    tell(&format!("installing {} with apt-get for {for_what} (once per machine)", packages.join(" ")));
    let log = crate::target_dir().join("tmp").join(format!("apt-{}.log", packages[0]));
    let apt = |args: &[&str]| {
        let mut argv = prefix.to_vec();
        argv.extend(["env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "-q", "-y", "-o", "DPkg::Lock::Timeout=600"]);
        argv.extend(args);
        run_logged(Command::new(argv[0]).args(&argv[1..]), &log)
    };
    let install: Vec<&str> = ["install", "--no-install-recommends"].iter().chain(packages).copied().collect();
    let done = apt(&install).or_else(|_| apt(&["update"]).and_then(|()| apt(&install)));
    if let Err(e) = done {
        return Err(format!("installing {} for {for_what} failed ({e}): run `{}`", packages.join(" "), apt_by_hand(packages)));
    }
    present().ok_or_else(|| format!("apt-get installed {} but {for_what} still do not find it (see {})", packages.join(" "), log.display()))
}

/// Runs `cmd` with its output going to the file `log` (not a pipe: a daemon
/// it starts would hold a pipe open), and errs with the log's end.
fn run_logged(cmd: &mut Command, log: &Path) -> Result<(), String> {
    std::fs::create_dir_all(log.parent().expect("a folder")).map_err(|e| format!("{}: {e}", log.display()))?;
    let out = File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
    let err = out.try_clone().map_err(|e| format!("{}: {e}", log.display()))?;
    let status = cmd.stdin(Stdio::null()).stdout(out).stderr(err).status().map_err(|e| format!("cannot start {cmd:?}: {e}"))?;
    if status.success() {
        return Ok(());
    }
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    Err(format!("{cmd:?} {status}; {} ends:\n{}", log.display(), lines[lines.len().saturating_sub(15)..].join("\n")))
}

/// QEMU's x86-64 user-mode emulator, `qemu-x86_64` (Debian's `qemu-user`),
/// installed when missing (see the module doc). Panics naming the install
/// command when it is missing and cannot be installed.
pub fn qemu_x86_64() -> PathBuf {
    static FOUND: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let found = FOUND.get_or_init(|| apt_provide(&["qemu-user"], "the other-CPU tests", || on_path("qemu-x86_64")));
    found.clone().unwrap_or_else(|e| panic!("{e}"))
}

/// Whether a Slurm cluster answers and its node can take jobs.
fn slurm_answers() -> bool {
    let Ok(out) = Command::new("sinfo").args(["-h", "-o", "%T"]).stderr(Stdio::null()).output() else { return false };
    let state = String::from_utf8_lossy(&out.stdout);
    out.status.success() && matches!(state.lines().next().map(str::trim), Some("idle" | "mixed" | "allocated" | "completing"))
}

/// Makes sure the one-node Slurm cluster of `tools/slurm/up.sh` answers,
/// running `up.sh --install` (which installs slurm-wlm and munge when
/// missing, and starts munged, slurmctld and slurmd) when it does not; once
/// per test binary. Panics naming the command when it cannot.
pub fn slurm_cluster() {
    static UP: OnceLock<Result<(), String>> = OnceLock::new();
    if let Err(e) = UP.get_or_init(start_slurm) {
        panic!("{e}");
    }
}

/// [`slurm_cluster`]'s work.
fn start_slurm() -> Result<(), String> {
    if slurm_answers() {
        return Ok(());
    }
    let script = crate::workspace().join("tools/slurm/up.sh");
    let script = script.canonicalize().unwrap_or(script);
    let by_hand = format!("sudo bash {} --install", script.display());
    let cannot = |why: String| format!("no Slurm cluster answers `sinfo`, and the tests cannot start one ({why}): run `{by_hand}`");
    // up.sh uses sudo -n itself; it needs apt-get only for missing packages.
    as_root().map_err(cannot)?;
    let _held = take_lock(&lock_file()).map_err(cannot)?;
    if slurm_answers() {
        return Ok(());
    }
    say("starting a one-node Slurm cluster with tools/slurm/up.sh --install (apt-installs slurm-wlm and munge when missing)");
    let log = crate::target_dir().join("tmp/slurm-up.log");
    run_logged(Command::new("bash").arg(&script).arg("--install"), &log).map_err(|e| cannot(format!("up.sh failed: {e}")))?;
    if !slurm_answers() {
        return Err(cannot(format!("up.sh ran, yet `sinfo` shows no idle node; see {}", log.display())));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// A stand-in for `sudo -n` that records each command it is given, one
    /// line each, and "installs" (creates `installed`) unless `update_first`
    /// and no `apt-get update` was recorded yet.
    fn fake_root(dir: &Path, update_first: bool) -> PathBuf {
        let script = dir.join("fake-sudo");
        let gate = if update_first { r#"grep -q ' update$' "$D/calls" || exit 100"# } else { "" };
        let body = format!(
            "#!/bin/sh\nD='{}'\necho \"$*\" >> \"$D/calls\"\ncase \"$*\" in *\" install \"*) {gate}\n sleep 0.2; touch \"$D/installed\";; esac\n",
            dir.display()
        );
        std::fs::write(&script, body).unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        script
    }

    fn calls(dir: &Path) -> Vec<String> {
        std::fs::read_to_string(dir.join("calls")).unwrap_or_default().lines().map(str::to_owned).collect()
    }

    #[test]
    fn eight_threads_asking_at_once_install_once_under_the_lock() {
        let dir = crate::scratch("setup-once");
        let fake = fake_root(&dir, false);
        let fake = fake.to_str().unwrap();
        let present = || dir.join("installed").exists().then_some("found");
        let results: Vec<Result<&str, String>> = std::thread::scope(|s| {
            let asks: Vec<_> = (0..8)
                .map(|_| s.spawn(|| install_with(&dir.join("lock"), &[fake], &["fake-a", "fake-b"], ("the tests", |_| {}), present)))
                .collect();
            asks.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(results.iter().all(|r| r.as_deref() == Ok("found")), "{results:?}");
        let expected =
            "env DEBIAN_FRONTEND=noninteractive apt-get -q -y -o DPkg::Lock::Timeout=600 install --no-install-recommends fake-a fake-b";
        assert_eq!(calls(&dir), [expected]);
    }

    #[test]
    fn stale_package_lists_are_updated_and_the_install_tried_again() {
        let dir = crate::scratch("setup-update");
        let fake = fake_root(&dir, true);
        let present = || dir.join("installed").exists().then_some(());
        install_with(&dir.join("lock"), &[fake.to_str().unwrap()], &["fake-u"], ("the tests", |_| {}), present).unwrap();
        let verbs: Vec<String> = calls(&dir).iter().map(|c| c.split(' ').nth(7).unwrap_or_default().to_owned()).collect();
        assert_eq!(verbs, ["install", "update", "install"], "{:?}", calls(&dir));
    }

    #[test]
    fn a_failed_install_names_the_command_to_run_by_hand() {
        let dir = crate::scratch("setup-fails");
        let e = install_with(&dir.join("lock"), &["false"], &["fake-f", "fake-g"], ("the frobnication tests", |_| {}), || None::<()>)
            .unwrap_err();
        assert!(e.starts_with("installing fake-f fake-g for the frobnication tests failed"), "{e}");
        assert!(e.ends_with("run `sudo apt-get install -y --no-install-recommends fake-f fake-g`"), "{e}");
    }

    #[test]
    fn what_is_there_is_used_without_asking_for_root() {
        let e = apt_provide(&["pkg-a"], "the tests", || Some(7));
        assert_eq!(e, Ok(7));
    }
}
