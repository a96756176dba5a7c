//! SIGINT and SIGTERM while stages run: stop what runs, keep nothing
//! half-written, say what was stopped, exit 130 or 143.
//!
//! The signal handler only writes the signal's number to a pipe (a write is
//! async-signal-safe). A watcher thread reads it and does the work:
//!
//! 1. every registered command group ([`lungflow_stages::process_groups`])
//!    gets SIGTERM, then SIGKILL if it is still there after [`GRACE`];
//!    commands started from then on are killed as they register;
//! 2. executors' stop hooks run ([`on_stop`]: the Slurm executor cancels
//!    its jobs with one `scancel` and says how many);
//! 3. this process's staging folders (`CACHE/tmp/KEY.PID.N`) are moved aside
//!    and removed, then the files of the key locks it holds
//!    ([`crate::store::cache::remove_held_lock_files`]) and the folders it
//!    created to write into ([`remove_on_stop`]: `exec`'s `--out`); entries
//!    already published stay, complete by construction;
//! 4. one line on stderr names what was stopped, and the process exits
//!    (128 + the signal number).
//!
//! A run computes instances in child processes in groups of their own
//! (`crate::run::child`), so step 1 stops them too. Stage kinds computing
//! in this process (under `exec`, or a library caller's `Local::IN_PROCESS`)
//! cannot be interrupted mid-way: they end with the process, after step 3. kill -9 of
//! lungflow cannot be caught; there the process's watchdog kills the groups
//! (see the `command` kind), and the next computation of the same key
//! removes the stale staging folder.

use std::os::fd::IntoRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use lungflow_stages::process_groups;

use crate::store::cache::Cache;

/// How long stopped commands get to exit after SIGTERM before SIGKILL.
pub const GRACE: Duration = Duration::from_secs(2);

/// The write end of the self-pipe (-1 until installed).
static WAKE_FD: AtomicI32 = AtomicI32::new(-1);

/// Set once the handler is installed (by the first call of [`install`]).
static INSTALLED: OnceLock<()> = OnceLock::new();

/// Work an executor adds to a stop (cancelling its cluster jobs), each
/// returning a line for the message.
static STOP_HOOKS: Mutex<Vec<fn() -> Option<String>>> = Mutex::new(Vec::new());

/// Folders this process created and fills, removed by a stop (`exec`'s `--out`).
static OWN_FOLDERS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Removes `dir` (moved aside first) if a signal stops the process, until
/// [`keep_on_stop`]: for a folder this process created, never one a user had.
pub fn remove_on_stop(dir: &Path) {
    OWN_FOLDERS.lock().unwrap_or_else(|e| e.into_inner()).push(dir.to_owned());
}

/// Keeps `dir` if a signal stops the process from now on (it is complete).
pub fn keep_on_stop(dir: &Path) {
    OWN_FOLDERS.lock().unwrap_or_else(|e| e.into_inner()).retain(|d| d != dir);
}

/// Runs `hook` when a signal stops the run, before staging folders are
/// removed; its line (if any) is printed with the stop message.
pub fn on_stop(hook: fn() -> Option<String>) {
    let mut hooks = STOP_HOOKS.lock().expect("stop hooks");
    if !hooks.iter().any(|h| std::ptr::fn_addr_eq(*h, hook)) {
        hooks.push(hook);
    }
}

/// Handles SIGINT and SIGTERM from now on: stops running commands, removes
/// this process's staging folders under `cache` (if any) and exits. Call it
/// once a verb knows its cache, before it runs stages; later calls do nothing.
pub fn install(cache: Option<&Cache>) -> Result<()> {
    let tmp = cache.map(|c| c.root().join("tmp"));
    let mut result = Ok(());
    INSTALLED.get_or_init(|| result = start(tmp));
    result
}

/// Creates the self-pipe, starts the watcher and sets the handlers.
#[allow(unsafe_code)]
fn start(tmp: Option<PathBuf>) -> Result<()> {
    let (mut read_end, write_end) = std::io::pipe().context("cannot create the interrupt pipe")?;
    let fd = write_end.into_raw_fd();
    // SAFETY: fd is a pipe end this process owns and keeps open for good;
    // O_NONBLOCK keeps the handler from ever blocking on a full pipe.
    unsafe {
        libc::fcntl(fd, libc::F_SETFL, libc::fcntl(fd, libc::F_GETFL) | libc::O_NONBLOCK);
    }
    WAKE_FD.store(fd, Ordering::SeqCst);
    std::thread::Builder::new()
        .name("lungflow-interrupt".into())
        .spawn(move || {
            let mut byte = [0u8];
            // read_exact retries reads that a signal interrupts.
            if std::io::Read::read_exact(&mut read_end, &mut byte).is_ok() {
                stop_and_exit(i32::from(byte[0]), tmp.as_deref());
            }
        })
        .context("cannot start the interrupt watcher")?;
    for signal in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: the action is zero-initialised then filled in; on_signal
        // only loads an atomic, calls write(2) and restores errno, all
        // async-signal-safe.
        let failed = unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal, &action, std::ptr::null_mut()) != 0
        };
        if failed {
            anyhow::bail!("cannot handle {}: {}", signal_name(signal), std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// The signal handler: wakes the watcher with the signal's number.
#[allow(unsafe_code)]
extern "C" fn on_signal(signal: libc::c_int) {
    let byte = u8::try_from(signal).unwrap_or(u8::MAX);
    // SAFETY: write(2) is async-signal-safe and reads one byte from the
    // stack; errno is saved and restored around it.
    unsafe {
        let errno = *libc::__errno_location();
        libc::write(WAKE_FD.load(Ordering::Relaxed), (&raw const byte).cast(), 1);
        *libc::__errno_location() = errno;
    }
}

/// The watcher's work after `signal`: see the module comment.
fn stop_and_exit(signal: i32, tmp: Option<&Path>) -> ! {
    let groups = process_groups::stop(libc::SIGTERM);
    let engine_named = process_groups::running_instances();
    let pgids: Vec<i32> = groups.iter().map(|(g, _)| *g).collect();
    let stubborn = wait_gone(&pgids, GRACE);
    for g in &stubborn {
        process_groups::signal_group(*g, libc::SIGKILL);
    }
    wait_gone(&stubborn, Duration::from_secs(1));
    let hook_lines: Vec<String> = STOP_HOOKS.lock().map(|h| h.clone()).unwrap_or_default().into_iter().filter_map(|h| h()).collect();
    let removed = tmp.map(remove_own_staging);
    crate::store::cache::remove_held_lock_files();
    let folders = std::mem::take(&mut *OWN_FOLDERS.lock().unwrap_or_else(|e| e.into_inner()));
    let folders: Vec<PathBuf> = folders.into_iter().filter(|d| remove_folder(d)).collect();
    let mut labels: Vec<String> = if engine_named.is_empty() { groups.into_iter().map(|(_, l)| l).collect() } else { engine_named };
    labels.sort();
    eprintln!("{}", message(signal, &labels, removed));
    for line in hook_lines {
        eprintln!("{line}");
    }
    for dir in folders {
        eprintln!("removed {}, which this command had created", dir.display());
    }
    std::process::exit(128 + signal)
}

/// Removes `dir`, renamed aside first so that nothing still writing into it
/// recreates part of it under its name; whether it is gone.
fn remove_folder(dir: &Path) -> bool {
    let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let aside = dir.with_file_name(format!(".{name}.interrupted.{}", std::process::id()));
    let target = if std::fs::rename(dir, &aside).is_ok() { aside } else { dir.to_owned() };
    std::fs::remove_dir_all(&target).is_ok()
}

/// The groups among `pgids` still alive after waiting up to `limit` for them
/// to go (a leader is reaped by the thread that waits for its command).
fn wait_gone(pgids: &[i32], limit: Duration) -> Vec<i32> {
    let deadline = Instant::now() + limit;
    loop {
        let alive: Vec<i32> = pgids.iter().copied().filter(|g| process_groups::group_alive(*g)).collect();
        if alive.is_empty() || Instant::now() >= deadline {
            return alive;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Removes this process's staging folders in `tmp` (`KEY.PID.N`); returns
/// how many. Each is first renamed aside, atomically: a folder that is being
/// published at that moment is either published whole (the rename here
/// fails) or not at all (its publication fails), never half-deleted.
fn remove_own_staging(tmp: &Path) -> usize {
    let pid = std::process::id().to_string();
    let Ok(entries) = std::fs::read_dir(tmp) else { return 0 };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !is_staging_of(&name, &pid) {
            continue;
        }
        let aside = tmp.join(format!(".interrupted.{name}"));
        if std::fs::rename(entry.path(), &aside).is_ok() {
            let _ = std::fs::remove_dir_all(&aside);
            removed += 1;
        }
    }
    removed
}

/// Whether a name in `CACHE/tmp` is a staging folder `KEY.PID.N` of `pid`.
fn is_staging_of(name: &str, pid: &str) -> bool {
    let parts: Vec<&str> = name.split('.').collect();
    matches!(parts.as_slice(), [key, p, n] if !key.is_empty() && *p == pid && n.parse::<u64>().is_ok())
}

/// The line printed after a stop. `stopped` names the instances known to be
/// running; `removed` staging folders (one per instance being computed) may
/// count more, such as in-process kinds the engine did not name.
fn message(signal: i32, stopped: &[String], removed: Option<usize>) -> String {
    let count = stopped.len().max(removed.unwrap_or(0));
    let names = match stopped.len() {
        0 => String::new(),
        n if n == count => format!(": {}", stopped.join(", ")),
        n => format!(": {} and {} more", stopped.join(", "), count - n),
    };
    let what = match count {
        0 => "nothing was running".to_owned(),
        1 => format!("stopped 1 running instance{names}"),
        n => format!("stopped {n} running instances{names}"),
    };
    let kept = match removed {
        Some(0) => "; nothing half-written was kept".to_owned(),
        Some(n) => format!("; removed {n} staging folder{}, nothing half-written was kept", if n == 1 { "" } else { "s" }),
        None => String::new(),
    };
    format!("interrupted ({}): {what}{kept}", signal_name(signal))
}

/// SIGINT or SIGTERM, by name.
fn signal_name(signal: i32) -> String {
    match signal {
        libc::SIGINT => "SIGINT".to_owned(),
        libc::SIGTERM => "SIGTERM".to_owned(),
        other => format!("signal {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_this_process_staging_folders_are_recognised() {
        assert!(is_staging_of("abc.123.0", "123"));
        assert!(!is_staging_of("abc.1234.0", "123"));
        assert!(!is_staging_of("lineage-123.parquet", "123"));
        assert!(!is_staging_of(".interrupted.abc.123.0", "123"));
    }

    #[test]
    fn staging_folders_of_this_process_are_removed_and_others_kept() {
        let dir = lungflow_testkit::tempdir().unwrap();
        let pid = std::process::id();
        std::fs::create_dir_all(dir.path().join(format!("k1.{pid}.0/out"))).unwrap();
        std::fs::write(dir.path().join(format!("k1.{pid}.0/out/a.txt")), "half").unwrap();
        std::fs::create_dir_all(dir.path().join("k2.1.0/out")).unwrap();
        assert_eq!(remove_own_staging(dir.path()), 1);
        let left: Vec<String> =
            std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        assert_eq!(left, vec!["k2.1.0".to_owned()]);
    }

    #[test]
    fn the_message_names_what_was_stopped() {
        let two = ["train".to_owned(), "patches/p3".to_owned()];
        assert_eq!(
            message(libc::SIGINT, &two, Some(2)),
            "interrupted (SIGINT): stopped 2 running instances: train, patches/p3; removed 2 staging folders, nothing half-written was kept"
        );
        assert_eq!(message(libc::SIGTERM, &[], None), "interrupted (SIGTERM): nothing was running");
        assert_eq!(
            message(libc::SIGINT, &two[..1], Some(3)),
            "interrupted (SIGINT): stopped 3 running instances: train and 2 more; removed 3 staging folders, nothing half-written was kept"
        );
        assert_eq!(
            message(libc::SIGINT, &[], Some(1)),
            "interrupted (SIGINT): stopped 1 running instance; removed 1 staging folder, nothing half-written was kept"
        );
    }
}
