//! Computing one staged instance in a child process, `WORKER task STAGING`
//! (the lungflow binary), so that a kind that dies (an allocation the
//! kind's checks missed, a stack overflow, a bug that aborts, the kernel's
//! out-of-memory killer) ends only that process: the run records the failure
//! under the instance's key and goes on with the others.
//!
//! The child reads the staging folder's task file and writes its exit file
//! ([`crate::run::task_file`], what a Slurm task does). It runs in a process
//! group of its own, stopped by an interrupt and killed by the watchdog if
//! lungflow dies ([`lungflow_stages::supervised`]). Its stderr is passed on
//! line by line, and the last lines go into the failure message of a child
//! that ends without an exit file.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::time::Instant;

use lungflow_stages::supervised::{self, StartError};

use crate::run::executor::{ExitRecord, Instance};
use crate::run::in_process::KindCall;
use crate::run::task_file::{ExitFile, TaskFile};
use crate::run::usage;
use crate::store::cache::now_rfc3339;

/// The hidden verb the child runs.
pub const TASK_VERB: &str = "task";

/// How many of the child's last stderr lines a failure quotes.
const TAIL_LINES: usize = 8;

/// Computes `call` in a child process of `worker` and says how it ended.
pub fn compute_in_child(worker: &Path, instance: &Instance<'_>, call: &KindCall<'_>) -> ExitRecord {
    let started = now_rfc3339();
    let clock = Instant::now();
    if let Err(e) = TaskFile::of(call).write(instance.staging) {
        return ExitRecord::not_run(format!("{e:#}"));
    }
    let mut program = Command::new(worker);
    program.arg(TASK_VERB).arg(instance.staging).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
    let mut child = match supervised::start(program, instance.label) {
        Ok(child) => child,
        Err(StartError::Spawn(e)) => return ExitRecord::not_run(format!("cannot start {} for {}: {e}", worker.display(), instance.label)),
        Err(StartError::Watchdog(e)) => {
            return ExitRecord::not_run(format!("cannot start the watchdog process for {}: {e}", instance.label));
        }
    };
    let tail = child.take_stderr().map(pass_on).unwrap_or_default();
    let status = child.wait();
    match ExitFile::read(instance.staging) {
        Ok(Some(file)) => {
            usage::reaped_worker(file.cpu_seconds, file.peak_rss_kib);
            ExitRecord::from(file)
        }
        Err(e) => ExitRecord::not_run(format!("{e:#}")),
        Ok(None) => {
            let why = match status {
                Ok(status) => ended_how(status),
                Err(e) => format!("could not be waited for ({e})"),
            };
            let mut failure = format!("stage kind {} died in its own process: it {why}", call.kind.name());
            if !tail.is_empty() {
                failure.push_str(&format!("; its last words: {}", tail.join(" | ")));
            }
            ExitRecord { started, seconds: clock.elapsed().as_secs_f64(), failure: Some(failure), outputs: None, usage: None, host: None }
        }
    }
}

/// Copies the child's stderr to ours, line by line, and returns its last lines.
fn pass_on(stderr: impl Read) -> Vec<String> {
    let mut reader = BufReader::new(stderr);
    let mut tail = VecDeque::with_capacity(TAIL_LINES);
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                let _ = std::io::stderr().write_all(&line);
                if tail.len() == TAIL_LINES {
                    tail.pop_front();
                }
                let text = String::from_utf8_lossy(&line).trim_end().chars().take(300).collect::<String>();
                tail.push_back(text);
            }
        }
    }
    tail.into_iter().filter(|l| !l.is_empty()).collect()
}

/// How a child that wrote no exit file ended, in words.
fn ended_how(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with status {code} without a result"),
        (None, Some(signal)) => format!("was killed by signal {signal} ({})", signal_meaning(signal)),
        (None, None) => format!("ended without a result ({status})"),
    }
}

/// What a signal usually means for a kind's process.
fn signal_meaning(signal: i32) -> &'static str {
    match signal {
        libc::SIGABRT => "SIGABRT: an abort, such as a memory allocation that failed",
        libc::SIGKILL => "SIGKILL: the kernel's out-of-memory killer, or another process",
        libc::SIGSEGV => "SIGSEGV: a crash, such as a stack overflow",
        libc::SIGBUS => "SIGBUS: a bad memory access, such as a file truncated while mapped",
        libc::SIGILL => "SIGILL: an instruction this CPU does not have",
        libc::SIGFPE => "SIGFPE: an arithmetic fault",
        libc::SIGTERM => "SIGTERM: asked to stop by another process",
        _ => "a signal",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_death_is_told_by_its_signal_or_status() {
        let by = |raw: i32| ended_how(ExitStatus::from_raw(raw));
        assert_eq!(by(6), "was killed by signal 6 (SIGABRT: an abort, such as a memory allocation that failed)");
        assert_eq!(by(9), "was killed by signal 9 (SIGKILL: the kernel's out-of-memory killer, or another process)");
        assert_eq!(by(3 << 8), "exited with status 3 without a result");
    }

    #[test]
    fn the_last_lines_of_stderr_are_kept() {
        let text: String = (0..20).map(|i| format!("line {i}\n")).collect();
        let tail = pass_on(text.as_bytes());
        assert_eq!(tail.len(), TAIL_LINES);
        assert_eq!(tail.first().map(String::as_str), Some("line 12"));
        assert_eq!(tail.last().map(String::as_str), Some("line 19"));
    }
}
