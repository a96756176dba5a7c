//! Calling Slurm's commands (`sbatch`, `squeue`, `scontrol`, `scancel`,
//! `sinfo`): each call has a time limit, its failure carries the command's
//! stderr, and every call is counted so that a run can say how hard it
//! polled the controller.

use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How long one Slurm command may take before it counts as failed (a
/// controller that does not answer: sbatch's "Socket timed out").
pub const CALL_LIMIT: Duration = Duration::from_secs(60);

/// sbatch's input environment variables that lungflow clears for its calls.
pub const SBATCH_OVERRIDES: &[&str] =
    &["SBATCH_ARRAY_INX", "SBATCH_ERROR", "SBATCH_INPUT", "SBATCH_WAIT", "SBATCH_WAIT_ALL_NODES", "SBATCH_EXPORT"];

/// Calls made, by command.
#[derive(Default, Debug)]
pub struct Calls {
    /// `sbatch` calls.
    pub sbatch: AtomicUsize,
    /// `squeue` calls.
    pub squeue: AtomicUsize,
    /// `scontrol` calls.
    pub scontrol: AtomicUsize,
    /// `scancel` calls.
    pub scancel: AtomicUsize,
    /// `sinfo` calls.
    pub sinfo: AtomicUsize,
}

impl Calls {
    fn counter(&self, program: &str) -> Option<&AtomicUsize> {
        Some(match program {
            "sbatch" => &self.sbatch,
            "squeue" => &self.squeue,
            "scontrol" => &self.scontrol,
            "scancel" => &self.scancel,
            "sinfo" => &self.sinfo,
            _ => return None,
        })
    }

    /// One line: `sbatch 3, squeue 12, scontrol 0, scancel 0, sinfo 1`.
    pub fn summary(&self) -> String {
        let n = |a: &AtomicUsize| a.load(Ordering::Relaxed);
        format!(
            "sbatch {}, squeue {}, scontrol {}, scancel {}, sinfo {}",
            n(&self.sbatch),
            n(&self.squeue),
            n(&self.scontrol),
            n(&self.scancel),
            n(&self.sinfo)
        )
    }
}

/// Runs `program args` and returns its stdout; a non-zero exit, a spawn
/// failure or a call over [`CALL_LIMIT`] is an error with its stderr.
pub fn call(calls: &Calls, program: &str, args: &[String]) -> Result<String, String> {
    if let Some(c) = calls.counter(program) {
        c.fetch_add(1, Ordering::Relaxed);
    }
    let shown = || format!("{program} {}", args.join(" "));
    let mut command = Command::new(program);
    if program == "sbatch" {
        // sbatch reads these when the command line does not set the same
        // option; each would change what lungflow submits (a once-stage
        // made an array, stderr moved out of the log, a blocking sbatch).
        for var in SBATCH_OVERRIDES {
            command.env_remove(var);
        }
    }
    let mut child = command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    let mut stdout_pipe = child.stdout.take().expect("piped stdout");
    let mut stderr_pipe = child.stderr.take().expect("piped stderr");
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        stdout_pipe.read_to_string(&mut s).map(|_| s)
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        stderr_pipe.read_to_string(&mut s).map(|_| s)
    });
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() > CALL_LIMIT => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("{} did not answer within {} s", shown(), CALL_LIMIT.as_secs()));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => return Err(format!("cannot wait for {program}: {e}")),
        }
    };
    let stdout = out_reader.join().ok().and_then(Result::ok).unwrap_or_default();
    let stderr = err_reader.join().ok().and_then(Result::ok).unwrap_or_default();
    if status.success() {
        Ok(stdout)
    } else {
        let said = stderr.trim();
        Err(format!("{} failed ({status}){}", shown(), if said.is_empty() { String::new() } else { format!(": {said}") }))
    }
}

/// Whether `program` can be started at all (it is on PATH).
pub fn installed(program: &str) -> bool {
    Command::new(program).arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok()
}
