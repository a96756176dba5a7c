//! What to do about a task whose job Slurm reports ended but that wrote no
//! exit file: wait for a late file, submit it again, or fail with a reason
//! the user can act on.

use std::time::Duration;

use crate::pipeline::resources::{Resources, slurm_time};
use crate::pipeline::slurm_settings::SlurmSettings;
use crate::slurm::squeue::JobState;

/// The monitor's next step for such a task.
#[derive(Debug, PartialEq)]
pub enum Decision {
    /// Keep looking for the exit file (a shared filesystem may show it late).
    Wait,
    /// Submit the task again.
    Retry,
    /// Fail the instance with this message.
    Fail(String),
}

/// Decides for job `job` (its `attempts`-th submission, asking for
/// `resources`), which ended in `state` `waited` ago without an exit file:
///
/// - TIMEOUT and OUT_OF_MEMORY fail at once, naming the request: the same
///   request would fail the same way;
/// - states Slurm ends a job in for reasons of its own (NODE_FAIL,
///   PREEMPTED, BOOT_FAIL, CANCELLED from outside) are retried while
///   `attempts <= retries`;
/// - COMPLETED, FAILED and unknown ends wait `exit_file_grace` for the file;
/// - anything else fails.
pub fn decide(job: &str, attempts: u32, resources: &Resources, state: &JobState, waited: Duration, settings: &SlurmSettings) -> Decision {
    let asked = |value: Option<String>| value.unwrap_or_else(|| "the partition's default".into());
    match state {
        JobState::Timeout => Decision::Fail(format!(
            "Slurm job {job} hit its time limit (TIMEOUT; it asked for time={}): raise the stage's resources.time",
            asked(resources.time_seconds.map(slurm_time))
        )),
        JobState::OutOfMemory => Decision::Fail(format!(
            "Slurm job {job} ran out of memory (OUT_OF_MEMORY; it asked for mem={}): raise the stage's resources.mem",
            asked(resources.mem_mb.map(|m| format!("{m}M")))
        )),
        s if s.retryable() && attempts <= settings.retries => Decision::Retry,
        JobState::Completed | JobState::Failed | JobState::Other(_)
            if waited < Duration::from_secs_f64(settings.exit_file_grace_seconds) =>
        {
            Decision::Wait
        }
        s => Decision::Fail(format!(
            "Slurm job {job} ended {} without an exit file after {} attempt(s){}",
            s.name(),
            attempts.max(1),
            if matches!(s, JobState::Completed | JobState::Other(_)) {
                " (is the cache on a filesystem every node sees, and the same lungflow binary on every node?)"
            } else {
                ""
            }
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(state: &str, attempts: u32, waited_s: u64) -> Decision {
        let resources = Resources { time_seconds: Some(90), mem_mb: Some(512), ..Resources::default() };
        decide("42_3", attempts, &resources, &JobState::parse(state), Duration::from_secs(waited_s), &SlurmSettings::default())
    }

    #[test]
    fn limits_fail_at_once_naming_the_request() {
        let Decision::Fail(m) = at("TIMEOUT", 1, 0) else { panic!() };
        assert_eq!(m, "Slurm job 42_3 hit its time limit (TIMEOUT; it asked for time=00:01:30): raise the stage's resources.time");
        let Decision::Fail(m) = at("OUT_OF_MEMORY", 1, 0) else { panic!() };
        assert!(m.contains("OUT_OF_MEMORY; it asked for mem=512M") && m.contains("resources.mem"), "{m}");
        let none = decide("7", 1, &Resources::default(), &JobState::Timeout, Duration::ZERO, &SlurmSettings::default());
        assert!(matches!(none, Decision::Fail(m) if m.contains("time=the partition's default")));
    }

    #[test]
    fn lost_jobs_are_retried_up_to_the_limit() {
        for state in ["NODE_FAIL", "PREEMPTED", "BOOT_FAIL", "CANCELLED"] {
            assert_eq!(at(state, 1, 0), Decision::Retry, "{state}");
            assert_eq!(at(state, 2, 0), Decision::Retry, "{state}: retries 2 allows a third attempt");
            let Decision::Fail(m) = at(state, 3, 0) else { panic!("{state}") };
            assert!(m.contains(&format!("ended {state} without an exit file after 3 attempt(s)")), "{m}");
        }
    }

    #[test]
    fn a_completed_job_waits_for_a_late_exit_file_then_fails_with_the_likely_causes() {
        assert_eq!(at("COMPLETED", 1, 10), Decision::Wait);
        assert_eq!(at("FAILED", 1, 59), Decision::Wait);
        let Decision::Fail(m) = at("COMPLETED", 1, 61) else { panic!() };
        assert!(m.contains("ended COMPLETED without an exit file") && m.contains("same lungflow binary"), "{m}");
        let Decision::Fail(m) = at("FAILED", 1, 61) else { panic!() };
        assert!(!m.contains("same lungflow binary"), "{m}");
    }
}
