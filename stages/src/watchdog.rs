//! One watchdog process per lungflow process, which kills the process groups
//! of the commands still running when lungflow dies, however it dies
//! (kill -9 included).
//!
//! The watchdog is a small `sh` in a process group of its own, started with
//! the first command. It reads `+ PGID` and `- PGID` lines from a socket whose
//! other end only lungflow holds. The kernel closes that end when lungflow
//! ends, the watchdog reads end-of-file and kills every group still listed.
//! One process for the whole run, not one per command: a run of 8,000 short
//! commands would otherwise start 8,000 more processes.
//!
//! A socket rather than a pipe: writing to a socket whose reader is gone
//! fails with an error instead of raising SIGPIPE (std writes with
//! `MSG_NOSIGNAL`), and then a new watchdog is started with every group
//! still watched.

use std::collections::BTreeSet;
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;

/// The watchdog's program. `g` is the list of watched groups, space-delimited
/// on both sides, so that ` PGID ` matches one whole id.
const SCRIPT: &str = r#"g=' '
while read -r op pg; do
  case "$op" in
    +) g="$g$pg " ;;
    -) case "$g" in *" $pg "*) g="${g%% $pg *} ${g#* $pg }" ;; esac ;;
  esac
done
for pg in $g; do kill -s KILL -- "-$pg" 2>/dev/null; done"#;

/// The running watchdog and the groups it watches.
struct State {
    watchdog: Option<(Child, UnixStream)>,
    groups: BTreeSet<u32>,
}

static STATE: Mutex<State> = Mutex::new(State { watchdog: None, groups: BTreeSet::new() });

/// A watched process group; dropping it (the command is over) tells the
/// watchdog to forget the group.
#[must_use = "the group is forgotten when this is dropped"]
pub struct Watched {
    pgid: u32,
}

impl Drop for Watched {
    fn drop(&mut self) {
        let mut state = STATE.lock().unwrap_or_else(|p| p.into_inner());
        state.groups.remove(&self.pgid);
        // A watchdog that is gone cannot kill the group anyway.
        if let Some((_, channel)) = state.watchdog.as_mut() {
            let _ = writeln!(channel, "- {}", self.pgid);
        }
    }
}

/// Has the watchdog kill the process group `pgid` if lungflow dies before
/// the returned value is dropped.
pub fn watch(pgid: u32) -> std::io::Result<Watched> {
    let mut state = STATE.lock().unwrap_or_else(|p| p.into_inner());
    state.groups.insert(pgid);
    let line = format!("+ {pgid}\n");
    let sent = state.watchdog.as_mut().is_some_and(|(_, channel)| channel.write_all(line.as_bytes()).is_ok());
    if !sent {
        // None yet, or it is gone: a new one, told every group watched.
        if let Some((mut old, _)) = state.watchdog.take() {
            let _ = old.kill();
            let _ = old.wait();
        }
        let (child, mut channel) = start()?;
        let all: String = state.groups.iter().map(|g| format!("+ {g}\n")).collect();
        channel.write_all(all.as_bytes())?;
        state.watchdog = Some((child, channel));
    }
    Ok(Watched { pgid })
}

/// Starts a watchdog reading from a new socket; returns it and lungflow's end.
fn start() -> std::io::Result<(Child, UnixStream)> {
    // Both ends are close-on-exec: only the watchdog gets its end, as stdin.
    let (ours, theirs) = UnixStream::pair()?;
    let child = Command::new("sh")
        .arg("-c")
        .arg(SCRIPT)
        .stdin(Stdio::from(std::os::fd::OwnedFd::from(theirs)))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()?;
    Ok((child, ours))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the watchdog's program on `input` (as if lungflow then died).
    fn groups_killed_after(input: &str) -> String {
        let script = SCRIPT.replace("kill -s KILL -- \"-$pg\" 2>/dev/null", "echo $pg");
        let mut sh = Command::new("sh").arg("-c").arg(script).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
        sh.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        String::from_utf8(sh.wait_with_output().unwrap().stdout).unwrap()
    }

    #[test]
    fn the_watchdog_kills_exactly_the_groups_still_watched() {
        assert_eq!(groups_killed_after("+ 10\n+ 20\n+ 30\n- 20\n"), "10\n30\n");
        assert_eq!(groups_killed_after("+ 10\n+ 101\n- 10\n- 10\n- 7\n"), "101\n", "whole ids only; unknown ones ignored");
        assert_eq!(groups_killed_after("+ 5\n- 5\n"), "");
    }
}
