//! A child process that an interrupt can stop and that cannot outlive
//! lungflow: how the `command` kind runs a command line, and how the engine
//! runs an instance in a process of its own.
//!
//! [`start`] puts the program in a process group of its own (so that
//! everything it starts can be signalled at once), has the kernel kill it if
//! the thread that started it dies, registers the group with
//! [`crate::process_groups`] (an interrupted run stops it) and with the
//! process's [`crate::watchdog`] (which kills it if lungflow dies, kill -9
//! included). [`Supervised::wait`] undoes both once it has ended.

use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStderr, Command, ExitStatus};

use crate::process_groups::{self, Registration};
use crate::watchdog::{self, Watched};

/// A started, registered and watched child process.
pub struct Supervised {
    child: Child,
    registration: Registration,
    watched: Watched,
}

/// Why a supervised process could not be started.
#[derive(Debug)]
pub enum StartError {
    /// The program itself did not start.
    Spawn(std::io::Error),
    /// The watchdog process did not start (the program was then killed).
    Watchdog(std::io::Error),
}

/// Starts `program` in a process group of its own, registered under `label`
/// for interrupts and watched by the watchdog.
#[allow(unsafe_code)]
pub fn start(mut program: Command, label: &str) -> Result<Supervised, StartError> {
    program.process_group(0);
    // SAFETY: prctl is async-signal-safe; it only asks the kernel to kill the
    // child if the thread that spawned it dies (that thread waits for it).
    unsafe {
        program.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    let mut child = program.spawn().map_err(StartError::Spawn)?;
    let registration = process_groups::register(child.id(), label);
    match watchdog::watch(child.id()) {
        Ok(watched) => Ok(Supervised { child, registration, watched }),
        Err(e) => {
            process_groups::signal_group(registration.pgid(), libc::SIGKILL);
            let _ = child.wait();
            Err(StartError::Watchdog(e))
        }
    }
}

impl Supervised {
    /// The child's stderr, when it was piped (once).
    pub fn take_stderr(&mut self) -> Option<ChildStderr> {
        self.child.stderr.take()
    }

    /// Waits for the process to end and forgets its group. If the run is
    /// being interrupted by then, this never returns: the engine exits the
    /// process, and no failure is recorded for a process it stopped itself.
    pub fn wait(mut self) -> std::io::Result<ExitStatus> {
        let waited = self.child.wait();
        drop(self.watched);
        drop(self.registration);
        while process_groups::stopping() {
            std::thread::park();
        }
        waited
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::process::Stdio;

    use super::*;

    #[test]
    fn a_supervised_program_runs_in_a_group_of_its_own_and_is_waited_for() {
        let mut sh = Command::new("sh");
        sh.arg("-c").arg("cut -d' ' -f5 /proc/$$/stat >&2; echo $$ >&2; exit 3").stderr(Stdio::piped());
        let mut child = start(sh, "test").expect("sh starts");
        let mut text = String::new();
        child.take_stderr().expect("piped").read_to_string(&mut text).unwrap();
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(3));
        let ids: Vec<&str> = text.split_whitespace().collect();
        assert_eq!(ids.len(), 2, "{text}");
        assert_eq!(ids[0], ids[1], "the child leads its own process group");
    }
}
