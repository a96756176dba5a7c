//! The process groups of the commands running now, so that an interrupted
//! run can stop everything it started.
//!
//! A kind that starts programs (`command`) runs each in its own process group
//! and registers the group here for as long as it runs. The engine, on SIGINT
//! or SIGTERM, calls [`stop`]: every registered group is signalled, and any
//! group registered afterwards is killed at once. The engine may also name
//! the instance a thread is computing ([`running_as`]) so that a stop can say
//! what it stopped; kinds read that name with [`current_label`].
//!
//! Nothing here runs in a signal handler: the engine's handler only wakes a
//! thread, and that thread calls these functions.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::Mutex;

/// What is running: process groups by id and instances by a serial number.
struct Registry {
    /// Set once by [`stop`]; never cleared (the process is about to exit).
    stopping: bool,
    /// Registered process groups: group id -> label of the instance.
    groups: BTreeMap<i32, String>,
    /// Instances named by the engine: serial -> label.
    instances: BTreeMap<u64, String>,
    /// The next instance serial.
    next: u64,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry { stopping: false, groups: BTreeMap::new(), instances: BTreeMap::new(), next: 0 });

thread_local! {
    /// The label of the instance this thread computes, if the engine set one.
    static CURRENT: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// The registry, even if a thread panicked while holding it (its data are
/// plain maps, never left half-updated).
fn registry() -> std::sync::MutexGuard<'static, Registry> {
    REGISTRY.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A registered process group; dropping it unregisters the group.
#[must_use = "the group is unregistered when this is dropped"]
pub struct Registration {
    pgid: i32,
}

impl Registration {
    /// The registered group's id.
    pub fn pgid(&self) -> i32 {
        self.pgid
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        registry().groups.remove(&self.pgid);
    }
}

/// Registers the process group `pgid` (a running command) under `label`.
///
/// If a stop was already requested, the group is killed (SIGKILL) at once:
/// a command started while the process shuts down must not outlive it.
pub fn register(pgid: u32, label: &str) -> Registration {
    let pgid = i32::try_from(pgid).expect("process ids fit in pid_t");
    let stopping = {
        let mut r = registry();
        r.groups.insert(pgid, label.to_owned());
        r.stopping
    };
    if stopping {
        signal_group(pgid, libc::SIGKILL);
    }
    Registration { pgid }
}

/// Whether [`stop`] was called: the process is being interrupted.
pub fn stopping() -> bool {
    registry().stopping
}

/// Marks the process as stopping and sends `signal` to every registered
/// group. Returns the groups signalled, with their labels.
pub fn stop(signal: i32) -> Vec<(i32, String)> {
    let groups: Vec<(i32, String)> = {
        let mut r = registry();
        r.stopping = true;
        r.groups.iter().map(|(g, l)| (*g, l.clone())).collect()
    };
    for (pgid, _) in &groups {
        signal_group(*pgid, signal);
    }
    groups
}

/// Sends `signal` to the process group `pgid`; false if no process is in it.
#[allow(unsafe_code)]
pub fn signal_group(pgid: i32, signal: i32) -> bool {
    // SAFETY: killpg takes no pointers and has no memory-safety
    // preconditions. (A group id stays reserved while any member lives, so a
    // group this process started is not confused with a later one.)
    unsafe { libc::killpg(pgid, signal) == 0 }
}

/// Whether any live process is still in the group `pgid`. Zombies do not
/// count: an orphan's zombie waits for init to reap it, which can take a
/// while in a container, yet it no longer runs.
pub fn group_alive(pgid: i32) -> bool {
    if !signal_group(pgid, 0) {
        return false;
    }
    let Ok(procs) = std::fs::read_dir("/proc") else { return true };
    procs.flatten().any(|p| std::fs::read_to_string(p.path().join("stat")).is_ok_and(|stat| live_member(&stat, pgid)))
}

/// Whether a `/proc/PID/stat` line is a process in group `pgid` that runs
/// (its state is not Z, zombie, or X, dead).
fn live_member(stat: &str, pgid: i32) -> bool {
    // "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses.
    let Some((_, rest)) = stat.rsplit_once(')') else { return false };
    let fields: Vec<&str> = rest.split_whitespace().take(3).collect();
    matches!(fields.as_slice(), [state, _, pgrp] if !matches!(*state, "Z" | "X") && pgrp.parse() == Ok(pgid))
}

/// The labels of the instances the engine named with [`running_as`] that
/// are still running, in the order they started.
pub fn running_instances() -> Vec<String> {
    registry().instances.values().cloned().collect()
}

/// Runs `f` as the instance `label` (`train`, `patches/p3`): kinds started
/// from this thread register their processes under that label, and a stop
/// lists it among what was running.
pub fn running_as<T>(label: &str, f: impl FnOnce() -> T) -> T {
    let serial = {
        let mut r = registry();
        r.next += 1;
        let serial = r.next;
        r.instances.insert(serial, label.to_owned());
        serial
    };
    /// Forgets the instance and the thread's label however `f` ends.
    struct Done(u64, Option<String>);
    impl Drop for Done {
        fn drop(&mut self) {
            registry().instances.remove(&self.0);
            CURRENT.with(|c| *c.borrow_mut() = self.1.take());
        }
    }
    let previous = CURRENT.with(|c| c.borrow_mut().replace(label.to_owned()));
    let _done = Done(serial, previous);
    f()
}

/// The label the engine gave the instance this thread computes, if any.
pub fn current_label() -> Option<String> {
    CURRENT.with(|c| c.borrow().clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn running_as_names_the_thread_and_forgets_it_afterwards() {
        assert_eq!(current_label(), None);
        let inside = running_as("train", || (current_label(), running_instances().contains(&"train".to_owned())));
        assert_eq!(inside, (Some("train".to_owned()), true));
        assert_eq!(current_label(), None);
        assert!(!running_instances().contains(&"train".to_owned()));
    }

    #[test]
    fn zombies_are_not_live_members() {
        assert!(live_member("12 (sleep) S 1 12 12 0", 12));
        assert!(live_member("12 (a) b) R 1 12 12 0", 12));
        assert!(!live_member("12 (sleep) Z 1 12 12 0", 12));
        assert!(!live_member("12 (sleep) S 1 13 13 0", 12));
    }

    #[test]
    fn a_registered_group_is_listed_and_can_be_signalled() {
        use std::os::unix::process::CommandExt;
        let mut child = std::process::Command::new("sleep").arg("30").process_group(0).spawn().unwrap();
        let pgid = i32::try_from(child.id()).unwrap();
        let reg = register(child.id(), "probe");
        assert_eq!(registry().groups.get(&pgid).map(String::as_str), Some("probe"));
        assert!(group_alive(pgid));
        assert!(signal_group(pgid, libc::SIGKILL));
        child.wait().unwrap();
        assert!(!group_alive(pgid), "a reaped leader alone leaves no group");
        drop(reg);
        assert!(!registry().groups.contains_key(&pgid));
    }
}
