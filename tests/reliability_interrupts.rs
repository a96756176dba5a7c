//! Interrupts through the real binary: SIGINT, SIGTERM and kill -9 of
//! lungflow while a command runs stop everything the command started, keep
//! nothing half-written, and leave a cache that a rerun completes.

mod common;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// `first` finishes at once; `slow` starts a grandchild (`sleep`) whose pid
/// it writes to the project folder, then waits for it. The delay comes from
/// a file outside the key, so a rerun computes the same key quickly.
const PIPELINE: &str = r#"
stages:
  first:
    kind: command
    params:
      cmd: "echo first >> runs.log; echo done > {out}/first.txt"
  slow:
    kind: command
    inputs:
      first: "@first/first.txt"
    params:
      cmd: "echo slow >> runs.log; sleep $(cat delay) & echo $! > grandchild.pid; wait; cp {inputs.first} {out}/slow.txt"
"#;

/// How long anything asynchronous gets before a test gives up.
const DEADLINE: Duration = Duration::from_secs(10);

/// Polls `f` until it holds or `limit` passes; returns whether it held.
fn eventually(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// Whether `pid` runs: a process that is gone or a zombie does not.
fn running(pid: i32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return false };
    let state = stat.rsplit(')').next().unwrap_or("").trim_start().chars().next();
    !matches!(state, Some('Z' | 'X') | None)
}

/// The grandchild's pid, once the command has written it and it runs.
fn grandchild_of(dir: &Path) -> i32 {
    let mut pid = 0;
    let found = eventually(DEADLINE, || {
        pid = std::fs::read_to_string(dir.join("grandchild.pid")).ok().and_then(|s| s.trim().parse().ok()).unwrap_or(0);
        pid > 0 && running(pid)
    });
    assert!(found, "the command started its grandchild");
    pid
}

/// Sends `signal` to `child`.
fn send(child: &Child, signal: i32) {
    // SAFETY: kill only sends a signal to our own, not yet reaped, child.
    let rc = unsafe { libc::kill(i32::try_from(child.id()).unwrap(), signal) };
    assert_eq!(rc, 0, "signal sent");
}

/// Waits up to [`DEADLINE`] for `child` to exit; returns its status and stderr.
fn finish(mut child: Child) -> (std::process::ExitStatus, String) {
    let mut status = None;
    let exited = eventually(DEADLINE, || {
        status = child.try_wait().unwrap();
        status.is_some()
    });
    if !exited {
        child.kill().ok();
        child.wait().ok();
        panic!("lungflow did not exit within {DEADLINE:?} of the signal");
    }
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    (status.unwrap(), stderr)
}

/// Names in `cache/tmp` that are staging folders of the process `pid`.
fn staging_of(p: &Project, pid: u32) -> Vec<String> {
    let tmp = p.path().join("cache/tmp");
    let names = std::fs::read_dir(tmp).map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect());
    names.unwrap_or_else(|_| Vec::new()).into_iter().filter(|n: &String| n.contains(&format!(".{pid}."))).collect()
}

/// Runs the pipeline, sends `signal` once the grandchild runs, and checks
/// what every interrupt must leave: no grandchild, `first` published and
/// intact, and a rerun that executes `slow` exactly once more.
fn interrupt_mid_command(signal: i32) -> (Option<i32>, String, Vec<String>) {
    let p = Project::new();
    p.write("pipe.yaml", PIPELINE);
    p.write("delay", "30");
    let child = p.cmd(&["run", "pipe.yaml"]).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let pid = child.id();
    let grandchild = grandchild_of(p.path());
    let sent = Instant::now();
    send(&child, signal);
    let gone = eventually(DEADLINE, || !running(grandchild));
    eprintln!("signal {signal}: grandchild gone after {:?}", sent.elapsed());
    assert!(gone, "the grandchild {grandchild} outlived lungflow's signal {signal}");
    let (status, stderr) = finish(child);
    let left = staging_of(&p, pid);
    assert_eq!(p.executions(), ["first", "slow"]);
    let verify = p.run(&["verify"]);
    assert!(verify.status.success(), "published entries are intact: {}", String::from_utf8_lossy(&verify.stdout));
    p.write("delay", "0");
    let rerun = p.run(&["run", "pipe.yaml"]);
    assert!(rerun.status.success(), "the rerun completes: {}", String::from_utf8_lossy(&rerun.stdout));
    assert_eq!(p.executions(), ["first", "slow", "slow"], "only the interrupted instance ran again, once");
    assert_eq!(p.read("cache/results/pipe/slow/slow.txt"), "done\n");
    assert!(staging_of(&p, pid).is_empty(), "the rerun left no staging folder of the interrupted run");
    (status.code(), stderr, left)
}

#[test]
fn sigint_stops_the_command_and_its_grandchild_and_exits_130() {
    let (code, stderr, left) = interrupt_mid_command(libc::SIGINT);
    assert_eq!(code, Some(130), "{stderr}");
    assert!(stderr.contains("interrupted (SIGINT): stopped 1 running instance: "), "{stderr}");
    assert!(stderr.contains("slow") && stderr.contains("nothing half-written was kept"), "{stderr}");
    assert!(left.is_empty(), "no staging folder of the interrupted run is left: {left:?}");
}

#[test]
fn sigterm_stops_the_command_and_its_grandchild_and_exits_143() {
    let (code, stderr, left) = interrupt_mid_command(libc::SIGTERM);
    assert_eq!(code, Some(143), "{stderr}");
    assert!(stderr.contains("interrupted (SIGTERM): stopped 1 running instance: "), "{stderr}");
    assert!(stderr.contains("slow"), "{stderr}");
    assert!(left.is_empty(), "no staging folder of the interrupted run is left: {left:?}");
}

#[test]
fn kill_9_of_lungflow_still_kills_the_grandchild() {
    // The staging folder of a killed run cannot be removed by it; the rerun
    // of the same key removes it (checked in interrupt_mid_command).
    let (code, _, _) = interrupt_mid_command(libc::SIGKILL);
    assert_eq!(code, None, "killed by a signal");
}

#[test]
fn an_interrupted_exec_stops_its_command_and_exits_143() {
    let p = Project::new();
    let cmd = "cmd=sleep 30 & echo $! > grandchild.pid; wait";
    let child = p.cmd(&["exec", "command", "--set", cmd, "--out", "o"]).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let grandchild = grandchild_of(p.path());
    send(&child, libc::SIGTERM);
    assert!(eventually(DEADLINE, || !running(grandchild)), "the grandchild outlived the interrupt");
    let (status, stderr) = finish(child);
    assert_eq!(status.code(), Some(143), "{stderr}");
    assert!(stderr.contains("interrupted (SIGTERM): stopped 1 running instance: sleep 30"), "{stderr}");
}

#[test]
fn a_failing_command_still_reports_its_exit_status_and_log_tail() {
    let p = Project::new();
    p.write("pipe.yaml", "stages:\n  bad:\n    kind: command\n    params:\n      cmd: \"echo first line; echo oops >&2; exit 3\"\n");
    let out = p.run(&["run", "pipe.yaml"]);
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("failed (exit status: 3); last lines of its output:\nfirst line\noops"), "{text}");
}

#[test]
fn a_command_killed_by_a_signal_is_reported_as_such() {
    let p = Project::new();
    p.write("pipe.yaml", "stages:\n  killed:\n    kind: command\n    params:\n      cmd: \"echo before; kill -s KILL $$\"\n");
    let out = p.run(&["run", "pipe.yaml"]);
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("failed (signal: 9 (SIGKILL)); last lines of its output:\nbefore"), "{text}");
}

#[test]
fn an_interrupted_in_process_kind_keeps_nothing_half_written() {
    let p = Project::new();
    // Far more patients than it can write before the signal: it is mid-way.
    p.write("pipe.yaml", "stages:\n  cohort:\n    kind: synthetic_cohort\n    params: {patients: 5000}\n");
    let child = p.cmd(&["run", "pipe.yaml"]).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let pid = child.id();
    let writing = eventually(DEADLINE, || {
        staging_of(&p, pid)
            .iter()
            .any(|s| std::fs::read_dir(p.path().join("cache/tmp").join(s).join("out")).is_ok_and(|mut d| d.next().is_some()))
    });
    assert!(writing, "the kind started writing its outputs");
    send(&child, libc::SIGINT);
    let (status, stderr) = finish(child);
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted (SIGINT): stopped 1 running instance"), "{stderr}");
    assert!(stderr.contains("removed 1 staging folder, nothing half-written was kept"), "{stderr}");
    assert!(staging_of(&p, pid).is_empty(), "no staging folder is left");
    let (code, doc) = p.json(&["status", "pipe.yaml"]);
    assert_eq!((code, doc[0]["state"].as_str()), (0, Some("missing")), "nothing was published: {doc}");
}

/// Two commands that run side by side until stopped; each writes its pid.
const TWO_SLOW: &str = r#"
stages:
  a:
    kind: command
    params:
      cmd: "sleep 30 & echo $! > a.pid; wait"
  b:
    kind: command
    params:
      cmd: "sleep 30 & echo $! > b.pid; wait"
"#;

/// The lock files left in `cache/locks` after `signal` stops a run while
/// two instances hold their locks.
fn lock_files_after(signal: i32) -> (Option<i32>, Vec<String>) {
    let p = Project::new();
    p.write("pipe.yaml", TWO_SLOW);
    let child = p.cmd(&["run", "pipe.yaml", "--jobs", "2"]).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let locks = || -> Vec<String> {
        let names =
            std::fs::read_dir(p.path().join("cache/locks")).map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()));
        names.map(|n| n.collect()).unwrap_or_default()
    };
    let both = eventually(DEADLINE, || p.path().join("a.pid").exists() && p.path().join("b.pid").exists() && locks().len() == 2);
    assert!(both, "both instances run and hold their locks: {:?}", locks());
    send(&child, signal);
    let (status, stderr) = finish(child);
    assert!(stderr.contains("stopped 2 running instances: a, b"), "{stderr}");
    (status.code(), locks())
}

#[test]
fn sigint_leaves_no_lock_files() {
    assert_eq!(lock_files_after(libc::SIGINT), (Some(130), vec![]));
}

#[test]
fn sigterm_leaves_no_lock_files() {
    assert_eq!(lock_files_after(libc::SIGTERM), (Some(143), vec![]));
}

/// Runs `exec command` into `out` until its command runs, then sends `signal`.
fn interrupted_exec(p: &Project, out: &str, signal: i32) -> (std::process::ExitStatus, String) {
    let cmd = "cmd=sleep 30 & echo $! > grandchild.pid; wait";
    let child = p.cmd(&["exec", "command", "--set", cmd, "--out", out]).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    grandchild_of(p.path());
    assert!(p.path().join(out).is_dir(), "exec created {out}");
    send(&child, signal);
    finish(child)
}

#[test]
fn an_interrupted_exec_removes_the_out_folder_it_created() {
    let p = Project::new();
    let (status, stderr) = interrupted_exec(&p, "new/o", libc::SIGINT);
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(!p.path().join("new").exists(), "the folder exec created, parent included, is gone: {stderr}");
    assert!(stderr.contains("new, which this command had created"), "{stderr}");
    let left: Vec<_> = std::fs::read_dir(p.path()).unwrap().flatten().map(|e| e.file_name()).collect();
    assert_eq!(left, ["grandchild.pid"], "nothing else is left beside it");
}

#[test]
fn an_interrupted_exec_keeps_an_out_folder_that_was_there_before() {
    let p = Project::new();
    std::fs::create_dir(p.path().join("mine")).unwrap();
    let (status, stderr) = interrupted_exec(&p, "mine", libc::SIGTERM);
    assert_eq!(status.code(), Some(143), "{stderr}");
    assert!(p.path().join("mine").is_dir(), "a folder the user had stays: {stderr}");
}

#[test]
fn a_failed_exec_removes_the_empty_out_folder_it_created_and_keeps_one_that_was_there() {
    let p = Project::new();
    let out = p.run(&["exec", "command", "--set", "cmd=exit 3", "--out", "o"]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!p.path().join("o").exists(), "the empty folder exec created is gone");
    std::fs::create_dir(p.path().join("mine")).unwrap();
    let out = p.run(&["exec", "command", "--set", "cmd=exit 3", "--out", "mine"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(p.path().join("mine").is_dir(), "a folder the user had stays");
    let out = p.run(&["exec", "command", "--set", "cmd=echo part > {out}/half.txt; exit 3", "--out", "o"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("partial outputs kept in") && p.read("o/half.txt") == "part\n", "{stderr}");
}

/// `first` reads a file, so its entry has lineage edges; `slow` waits on a
/// grandchild until killed.
const FIRST_THEN_SLOW: &str = r#"
stages:
  first:
    kind: command
    inputs: {src: in.txt}
    params:
      cmd: "cp {inputs.src} {out}/first.txt"
  slow:
    kind: command
    inputs: {first: "@first/first.txt"}
    params:
      cmd: "sleep $(cat delay) & echo $! > grandchild.pid; wait; cp {inputs.first} {out}/slow.txt"
"#;

#[test]
fn verify_right_after_kill_9_warns_that_the_lineage_is_behind_and_exits_0() {
    let p = Project::new();
    p.write("pipe.yaml", FIRST_THEN_SLOW);
    p.write("in.txt", "x\n");
    p.write("delay", "30");
    let mut child = p.cmd(&["run", "pipe.yaml"]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let grandchild = grandchild_of(p.path());
    child.kill().unwrap(); // SIGKILL: `first` is published, its lineage not recorded
    child.wait().unwrap();
    assert!(eventually(DEADLINE, || !running(grandchild)));

    let out = p.run(&["verify"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(!stdout.contains("DAMAGED"), "{stdout}");
    assert!(stdout.contains("warning: lineage: 1 of 1 entries are not in the lineage table yet"), "{stdout}");
    assert!(stdout.contains("the next run records them"), "{stdout}");
    let (code, doc) = p.json(&["verify"]);
    assert_eq!((code, doc["warnings"].as_array().map(Vec::len)), (0, Some(1)), "{doc}");

    // The next run, of any pipeline, records them.
    p.write("other.yaml", "stages:\n  other:\n    kind: command\n    params:\n      cmd: \"echo > {out}/o\"\n");
    assert!(p.run(&["run", "other.yaml"]).status.success());
    let (code, doc) = p.json(&["verify"]);
    assert_eq!((code, doc["warnings"].as_array().map(Vec::len)), (0, Some(0)), "{doc}");

    // Real damage still fails: the lineage table's parts are gone.
    p.write("delay", "0");
    assert!(p.run(&["run", "pipe.yaml"]).status.success());
    for part in std::fs::read_dir(p.path().join("cache/lineage")).unwrap().flatten() {
        std::fs::remove_file(part.path()).unwrap();
    }
    let out = p.run(&["verify"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("DAMAGED lineage: 2 of 3 entries have no edges"), "{stdout}");
    assert!(!stdout.contains("warning"), "{stdout}");
}

#[test]
fn a_command_line_too_long_for_the_kernel_fails_with_a_short_message() {
    let p = Project::new();
    let cmd = format!("echo {} > {{out}}/x", "y".repeat(3 << 20));
    p.write("pipe.yaml", &format!("stages:\n  big:\n    kind: command\n    params:\n      cmd: \"{cmd}\"\n"));
    let out = p.run(&["run", "pipe.yaml"]);
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let errors: Vec<PathBuf> = std::fs::read_dir(p.path().join("cache/logs"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|f| f.extension().is_some_and(|x| x == "error"))
        .collect();
    let [error_file] = errors.as_slice() else { panic!("one error file: {errors:?}") };
    let kept = std::fs::read_to_string(error_file).unwrap();
    // The rendered line: {out} became the staging folder's path.
    let length = |text: &str| text.split(" bytes in all").next().and_then(|t| t.rsplit(", ").next()).and_then(|n| n.parse::<usize>().ok());
    for (name, text, limit) in [("stdout", &*stdout, 4096), ("stderr", &*stderr, 4096), ("the .error file", &*kept, 2048)] {
        assert!(text.len() < limit, "{name} holds {} bytes", text.len());
        assert_eq!(text.matches("bytes in all").count(), 1, "{name} quotes the command once: {text}");
        assert!(length(text).is_some_and(|n| n > 3 << 20), "{name} names the command's length: {text}");
        assert!(text.contains("\"echo yyy") && text.contains("yyy > "), "{name} quotes both ends: {text}");
        assert!(text.contains("Argument list too long"), "{name}: {text}");
    }
}
