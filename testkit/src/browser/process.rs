//! The Chromium process: started with a throw-away profile in its own
//! process group, its DevTools pipe on fds 3 and 4 read by a thread, and the
//! whole group killed when it is dropped.

use std::io::{BufRead, BufReader, PipeReader, PipeWriter, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::events::PageState;

/// Chromium's flags: headless, no sandbox (root in a container), no GPU,
/// and nothing that reaches the network or Google on its own.
const FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    // Every helper process a direct child of the browser, which reaps them
    // on close (a zygote's would be orphaned, and wait as zombies for init).
    "--no-zygote",
    "--disable-gpu",
    "--no-first-run",
    "--no-default-browser-check",
    "--remote-debugging-pipe",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--mute-audio",
    "--disable-extensions",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-domain-reliability",
    "--disable-client-side-phishing-detection",
    "--disable-breakpad",
    "--disable-crash-reporter",
    "--no-pings",
    "--metrics-recording-only",
    "--safebrowsing-disable-auto-update",
    "--password-store=basic",
    "--use-mock-keychain",
    "--disable-features=Translate,OptimizationHints,MediaRouter,DialMediaRouteProvider,AutofillServerCommunication,InterestFeedContentSuggestions,CertificateTransparencyComponentUpdater",
    // No name resolves (IP literals are blocked by the DevTools rules below).
    "--host-resolver-rules=MAP * ~NOTFOUND",
];

/// A running browser, killed (its whole process group) on drop.
pub(super) struct Browser {
    pub(super) child: Child,
    pub(super) pgid: i32,
    pub(super) to_chrome: PipeWriter,
    pub(super) from_chrome: Receiver<Value>,
    stderr: Arc<Mutex<Vec<u8>>>,
    profile: PathBuf,
    pub(super) deadline: Instant,
    pub(super) next_id: u64,
    /// The page's session, once attached: events of other sessions are ignored.
    pub(super) session: Option<String>,
    pub(super) page: PageState,
}

impl Browser {
    /// Starts Chromium with a fresh profile and the DevTools pipe.
    pub(super) fn start(binary: &Path, size: (u32, u32), deadline: Instant) -> Result<Browser, String> {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let profile = std::env::temp_dir().join(format!("lungflow-chromium-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&profile);
        std::fs::create_dir_all(&profile).map_err(|e| format!("{}: {e}", profile.display()))?;
        let (mut child, to_chrome, from_chrome) = spawn(binary, &profile, size)?;
        let pgid = child.id() as i32;
        let stderr = keep_stderr(&mut child);
        Ok(Browser {
            child,
            pgid,
            to_chrome,
            from_chrome: read_messages(from_chrome),
            stderr,
            profile,
            deadline,
            next_id: 0,
            session: None,
            page: PageState::default(),
        })
    }

    /// The end of Chromium's stderr, for error messages.
    pub(super) fn stderr_tail(&self) -> String {
        std::thread::sleep(Duration::from_millis(50)); // let the reader catch up
        let all = self.stderr.lock().unwrap_or_else(|e| e.into_inner());
        let text = String::from_utf8_lossy(&all);
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(20)..].join("\n");
        if tail.is_empty() { String::new() } else { format!("; Chromium's stderr ends:\n{tail}") }
    }

    /// Asks Chromium to close (so it reaps its own children), waits up to a
    /// second for it, then kills its process group anyway.
    pub(super) fn close(&mut self) {
        self.session = None;
        self.next_id += 1;
        let mut bytes = serde_json::to_vec(&json!({"id": self.next_id, "method": "Browser.close"})).expect("JSON");
        bytes.push(0);
        if self.to_chrome.write_all(&bytes).is_ok() {
            let until = Instant::now() + Duration::from_secs(1);
            while Instant::now() < until && matches!(self.child.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

/// Starts `binary` with [`FLAGS`], the profile `profile` and a `size`
/// window, in a process group of its own; gives the child and our ends of
/// its command (fd 3) and answer (fd 4) pipes.
#[allow(unsafe_code)]
fn spawn(binary: &Path, profile: &Path, (width, height): (u32, u32)) -> Result<(Child, PipeWriter, PipeReader), String> {
    let (cmd_read, to_chrome) = std::io::pipe().map_err(|e| format!("pipe: {e}"))?;
    let (from_chrome, resp_write) = std::io::pipe().map_err(|e| format!("pipe: {e}"))?;
    let (cmd_fd, resp_fd) = (cmd_read.as_raw_fd(), resp_write.as_raw_fd());
    let mut command = Command::new(binary);
    command
        .args(FLAGS)
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--window-size={width},{height}"))
        .arg("about:blank")
        // Nothing written outside the profile (~/.pki, ~/.cache, fontconfig's cache).
        .env("HOME", profile)
        .env("XDG_CONFIG_HOME", profile.join(".config"))
        .env("XDG_CACHE_HOME", profile.join(".cache"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    // SAFETY: only async-signal-safe calls between fork and exec. The
    // pipe ends are first copied above 10 so that placing them on 3 and
    // 4 cannot overwrite one with the other; dup2 clears close-on-exec.
    unsafe {
        command.pre_exec(move || {
            let cmd = libc::fcntl(cmd_fd, libc::F_DUPFD_CLOEXEC, 10);
            let resp = libc::fcntl(resp_fd, libc::F_DUPFD_CLOEXEC, 10);
            if cmd < 0
                || resp < 0
                || libc::dup2(cmd, 3) < 0
                || libc::dup2(resp, 4) < 0
                || libc::setpgid(0, 0) < 0
                || libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) < 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = command.spawn().map_err(|e| format!("could not start {}: {e}", binary.display()))?;
    drop((cmd_read, resp_write, command));
    Ok((child, to_chrome, from_chrome))
}

/// The last 16 KiB of `child`'s stderr, kept up to date by a thread.
fn keep_stderr(child: &mut Child) -> Arc<Mutex<Vec<u8>>> {
    let stderr = Arc::new(Mutex::new(Vec::new()));
    let (mut pipe, kept) = (child.stderr.take().expect("piped"), Arc::clone(&stderr));
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        while let Ok(n @ 1..) = pipe.read(&mut buf) {
            let mut all = kept.lock().unwrap_or_else(|e| e.into_inner());
            all.extend_from_slice(&buf[..n]);
            let over = all.len().saturating_sub(16 << 10);
            all.drain(..over);
        }
    });
    stderr
}

/// The messages Chromium writes to `from_chrome` (JSON, each ended by a NUL
/// byte), parsed by a thread that stops when the pipe or the receiver closes.
fn read_messages(from_chrome: PipeReader) -> Receiver<Value> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(from_chrome);
        let mut message = Vec::new();
        while let Ok(1..) = reader.read_until(0, &mut message) {
            if message.last() == Some(&0) {
                message.pop();
            }
            if let Ok(v) = serde_json::from_slice::<Value>(&message)
                && tx.send(v).is_err()
            {
                break;
            }
            message.clear();
        }
    });
    rx
}

impl Drop for Browser {
    #[allow(unsafe_code)]
    fn drop(&mut self) {
        // The group outlives its leader while any member lives, and the
        // leader's pid is not reused before it is waited for: this kill
        // reaches only this browser's processes (none, after a clean close).
        // SAFETY: plain syscall.
        unsafe { libc::kill(-self.pgid, libc::SIGKILL) };
        let _ = self.child.wait();
        // A helper that outlived the browser by a moment is init's to reap:
        // give init a moment (this VM's reaps about every 1.5 s) so that
        // nothing of this browser, not even a zombie, is listed after us.
        let until = Instant::now() + Duration::from_secs(2);
        while Instant::now() < until && group_listed(self.pgid) {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// Whether any process, zombies included, is in process group `pgid`.
fn group_listed(pgid: i32) -> bool {
    let Ok(procs) = std::fs::read_dir("/proc") else { return false };
    procs.flatten().any(|p| {
        let Ok(stat) = std::fs::read_to_string(p.path().join("stat")) else { return false };
        // pid (comm) state ppid pgrp ...: comm may hold spaces and parentheses.
        let Some((_, rest)) = stat.rsplit_once(')') else { return false };
        rest.split_whitespace().nth(2) == Some(pgid.to_string().as_str())
    })
}
