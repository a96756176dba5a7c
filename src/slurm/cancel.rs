//! The Slurm jobs this process has in flight, so that Ctrl-C (or SIGTERM)
//! can cancel exactly them: one `scancel` with every job id, and a count
//! for the interrupt message.

use std::collections::BTreeMap;
use std::sync::Mutex;

use crate::slurm::client::{Calls, call};

/// Job id (an array's or a single job's) -> tasks of it still in flight.
static IN_FLIGHT: Mutex<BTreeMap<String, usize>> = Mutex::new(BTreeMap::new());

/// Notes `tasks` more tasks of job `job_id` in flight.
pub fn add(job_id: &str, tasks: usize) {
    *IN_FLIGHT.lock().expect("in-flight jobs").entry(job_id.to_owned()).or_default() += tasks;
}

/// Notes that one task of job `job_id` is no longer in flight.
pub fn done(job_id: &str) {
    let mut jobs = IN_FLIGHT.lock().expect("in-flight jobs");
    if let Some(n) = jobs.get_mut(job_id) {
        *n = n.saturating_sub(1);
        if *n == 0 {
            jobs.remove(job_id);
        }
    }
}

/// The job id an array task belongs to (`123_4` -> `123`).
pub fn base_id(job_id: &str) -> &str {
    job_id.split_once('_').map_or(job_id, |(base, _)| base)
}

/// Cancels every job in flight; the interrupt handler's hook. Returns a
/// line for the interrupt message, or `None` when no job was in flight.
pub fn cancel_all() -> Option<String> {
    let jobs = std::mem::take(&mut *IN_FLIGHT.lock().ok()?);
    if jobs.is_empty() {
        return None;
    }
    let tasks: usize = jobs.values().sum();
    let ids: Vec<String> = jobs.into_keys().collect();
    Some(match call(&Calls::default(), "scancel", &ids) {
        Ok(_) => format!("cancelled {tasks} Slurm task(s) in {} job(s): {}", ids.len(), ids.join(" ")),
        Err(e) => format!("could not cancel {tasks} Slurm task(s) ({e}); cancel them with: scancel {}", ids.join(" ")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tasks_are_counted_per_job_and_a_finished_job_leaves_the_set() {
        add("900001", 3);
        add("900002", 1);
        done("900001");
        done("900002");
        let jobs = IN_FLIGHT.lock().unwrap().clone();
        assert_eq!(jobs.get("900001"), Some(&2));
        assert!(!jobs.contains_key("900002"));
        assert_eq!(base_id("900001_7"), "900001");
        assert_eq!(base_id("900001"), "900001");
        done("900001");
        done("900001");
    }
}
