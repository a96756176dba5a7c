//! One batched `squeue` call per poll cycle: its arguments, Slurm's job
//! states, and the parsed queue.

use std::fmt;

/// The arguments for one `squeue` call listing every job of `user`, in every
/// state, one line per array task: `ID|STATE|REASON|NAME`.
///
/// `--all` is there because without it squeue hides jobs in hidden
/// partitions and partitions the user's group cannot see, which would make
/// such jobs look vanished. Finished jobs stay listed only for the cluster's
/// `MinJobAge` (300 s by default), so a job missing from the list has not
/// necessarily failed: ask `scontrol show job`, or read its exit file.
pub fn squeue_args(user: &str) -> Vec<String> {
    ["--noheader", "--all", "--array", "--states=all", &format!("--user={user}"), "--format=%i|%T|%r|%j"]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

/// A job's state as squeue (`%T`) and scontrol (`JobState=`) name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobState {
    /// PENDING: waiting for resources.
    Pending,
    /// CONFIGURING: allocated, nodes getting ready (booting).
    Configuring,
    /// RUNNING.
    Running,
    /// COMPLETING: ended, processes being cleaned up.
    Completing,
    /// COMPLETED: exit code zero.
    Completed,
    /// FAILED: non-zero exit code or another failure.
    Failed,
    /// CANCELLED: by the user, an administrator or lungflow.
    Cancelled,
    /// TIMEOUT: reached its time limit.
    Timeout,
    /// OUT_OF_MEMORY: exceeded its memory.
    OutOfMemory,
    /// NODE_FAIL: a node it ran on failed.
    NodeFail,
    /// PREEMPTED: stopped to make room for another job.
    Preempted,
    /// BOOT_FAIL: its node could not be booted.
    BootFail,
    /// DEADLINE: its `--deadline` passed.
    Deadline,
    /// SUSPENDED: allocation kept, execution suspended.
    Suspended,
    /// REQUEUED or REQUEUE_FED: being put back in the queue.
    Requeued,
    /// Any other state, by its Slurm name in upper case (`STOPPED`,
    /// `REQUEUE_HOLD`, `RESIZING`, `SIGNALING`, `STAGE_OUT`,
    /// `SPECIAL_EXIT`, `RESV_DEL_HOLD`, `REVOKED`, or one a newer Slurm adds).
    Other(String),
}

/// States in [`JobState::Other`] in which a job is still queued, held or
/// running; every other `Other` state (`REVOKED`, or a name this code does
/// not know) counts as ended.
const OTHER_ACTIVE: &[&str] = &["STOPPED", "REQUEUE_HOLD", "RESIZING", "SIGNALING", "STAGE_OUT", "SPECIAL_EXIT", "RESV_DEL_HOLD"];

impl JobState {
    /// Reads a state name: squeue's long names (`OUT_OF_MEMORY`) or short
    /// codes (`OOM`), in any case; anything after whitespace (sacct's and
    /// older scontrol's `CANCELLED by 1000`) and a trailing `+` (sacct's
    /// `CANCELLED+`) are ignored.
    pub fn parse(name: &str) -> JobState {
        let word = name.split_whitespace().next().unwrap_or("").trim_end_matches('+').to_ascii_uppercase();
        match word.as_str() {
            "PENDING" | "PD" => JobState::Pending,
            "CONFIGURING" | "CF" => JobState::Configuring,
            "RUNNING" | "R" => JobState::Running,
            "COMPLETING" | "CG" => JobState::Completing,
            "COMPLETED" | "CD" => JobState::Completed,
            "FAILED" | "F" => JobState::Failed,
            "CANCELLED" | "CA" => JobState::Cancelled,
            "TIMEOUT" | "TO" => JobState::Timeout,
            "OUT_OF_MEMORY" | "OOM" => JobState::OutOfMemory,
            "NODE_FAIL" | "NF" => JobState::NodeFail,
            "PREEMPTED" | "PR" => JobState::Preempted,
            "BOOT_FAIL" | "BF" => JobState::BootFail,
            "DEADLINE" | "DL" => JobState::Deadline,
            "SUSPENDED" | "S" => JobState::Suspended,
            "REQUEUED" | "RQ" | "REQUEUE_FED" | "RF" => JobState::Requeued,
            "ST" => JobState::Other("STOPPED".to_owned()),
            "RH" => JobState::Other("REQUEUE_HOLD".to_owned()),
            "RS" => JobState::Other("RESIZING".to_owned()),
            "SI" => JobState::Other("SIGNALING".to_owned()),
            "SO" => JobState::Other("STAGE_OUT".to_owned()),
            "SE" => JobState::Other("SPECIAL_EXIT".to_owned()),
            "RD" => JobState::Other("RESV_DEL_HOLD".to_owned()),
            "RV" => JobState::Other("REVOKED".to_owned()),
            _ => JobState::Other(word),
        }
    }

    /// Slurm's name for the state (`OUT_OF_MEMORY`).
    pub fn name(&self) -> &str {
        match self {
            JobState::Pending => "PENDING",
            JobState::Configuring => "CONFIGURING",
            JobState::Running => "RUNNING",
            JobState::Completing => "COMPLETING",
            JobState::Completed => "COMPLETED",
            JobState::Failed => "FAILED",
            JobState::Cancelled => "CANCELLED",
            JobState::Timeout => "TIMEOUT",
            JobState::OutOfMemory => "OUT_OF_MEMORY",
            JobState::NodeFail => "NODE_FAIL",
            JobState::Preempted => "PREEMPTED",
            JobState::BootFail => "BOOT_FAIL",
            JobState::Deadline => "DEADLINE",
            JobState::Suspended => "SUSPENDED",
            JobState::Requeued => "REQUEUED",
            JobState::Other(name) => name,
        }
    }

    /// The job is queued, held, running or finishing: its exit file may
    /// still come. Pending, configuring, running, completing, suspended,
    /// requeued, and the `Other` states Slurm 22.05 documents for jobs still
    /// in the queue (`STOPPED`, `REQUEUE_HOLD`, `RESIZING`, `SIGNALING`,
    /// `STAGE_OUT`, `SPECIAL_EXIT`, `RESV_DEL_HOLD`). Any other name, such
    /// as `REVOKED` or one this code does not know, is not active: a caller
    /// that waits on active jobs must not wait for ever on a name it made up
    /// or one a newer Slurm added.
    pub fn is_active(&self) -> bool {
        match self {
            JobState::Pending
            | JobState::Configuring
            | JobState::Running
            | JobState::Completing
            | JobState::Suspended
            | JobState::Requeued => true,
            JobState::Completed
            | JobState::Failed
            | JobState::Cancelled
            | JobState::Timeout
            | JobState::OutOfMemory
            | JobState::NodeFail
            | JobState::Preempted
            | JobState::BootFail
            | JobState::Deadline => false,
            JobState::Other(name) => OTHER_ACTIVE.contains(&name.as_str()),
        }
    }

    /// The job is over and will not run again by itself (not [`is_active`](Self::is_active)).
    pub fn ended(&self) -> bool {
        !self.is_active()
    }

    /// The job ended for a reason outside it, so the same request can
    /// succeed if submitted again: NODE_FAIL, PREEMPTED, BOOT_FAIL, and
    /// CANCELLED (from outside lungflow; lungflow does not retry the jobs it
    /// cancels itself). TIMEOUT and OUT_OF_MEMORY are not retryable: the same
    /// request would hit the same limit. FAILED is the program's own failure.
    pub fn retryable(&self) -> bool {
        matches!(self, JobState::NodeFail | JobState::Preempted | JobState::BootFail | JobState::Cancelled)
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One job, or one array task, in squeue's list.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueEntry {
    /// `123` for a single job, `123_4` for task 4 of array job 123.
    pub job_id: String,
    /// The array's job id (`%A`, `123`); the job id itself for a single job.
    pub array_job_id: String,
    /// The array task index, for an array task.
    pub task: Option<u32>,
    /// The state.
    pub state: JobState,
    /// Why it is in that state (`None`, `Priority`, `Resources`,
    /// `JobArrayTaskLimit`, `NonZeroExitCode`, ...).
    pub reason: String,
    /// The job name.
    pub name: String,
}

/// Most tasks one `123_[...]` line may expand into: Slurm's largest allowed `MaxArraySize`.
const MAX_EXPANDED_TASKS: usize = 4_000_001;

/// Parses the output of [`squeue_args`]: the entries, and the lines that
/// could not be read (to log, not to fail on). A pending array that squeue
/// still prints on one line (`123_[4-7%2]`, `123_[1,3,5-6]`, `123_[0-15:4]`)
/// is expanded into one entry per task; a line whose index list squeue cut
/// short (it does past 64 characters unless `SLURM_BITSTR_LEN` is set) is
/// returned as unreadable rather than guessed at. The name is the last
/// field, so a `|` in a job name is kept.
pub fn parse_squeue(stdout: &str) -> (Vec<QueueEntry>, Vec<String>) {
    let mut entries = Vec::new();
    let mut skipped = Vec::new();
    for line in stdout.lines() {
        if line.trim().is_empty() {
            continue;
        }
        if !parse_line(line, &mut entries) {
            skipped.push(line.to_owned());
        }
    }
    (entries, skipped)
}

/// Adds the entries of one line; false when the line is not readable.
fn parse_line(line: &str, entries: &mut Vec<QueueEntry>) -> bool {
    let mut fields = line.splitn(4, '|');
    let (Some(id), Some(state), Some(reason), Some(name)) = (fields.next(), fields.next(), fields.next(), fields.next()) else {
        return false;
    };
    let (id, state) = (id.trim(), state.trim());
    if state.is_empty() {
        return false;
    }
    let state = JobState::parse(state);
    let entry = |job_id: String, array_job_id: &str, task: Option<u32>| QueueEntry {
        job_id,
        array_job_id: array_job_id.to_owned(),
        task,
        state: state.clone(),
        reason: reason.trim().to_owned(),
        name: name.trim_end_matches(['\r', '\n']).to_owned(),
    };
    let Some((base, index)) = id.split_once('_') else {
        if !is_job_id(id) {
            return false;
        }
        entries.push(entry(id.to_owned(), id, None));
        return true;
    };
    if !is_job_id(base) {
        return false;
    }
    if let Some(list) = index.strip_prefix('[').and_then(|rest| rest.strip_suffix(']')) {
        let Some(tasks) = expand_indices(list) else {
            return false;
        };
        entries.extend(tasks.into_iter().map(|t| entry(format!("{base}_{t}"), base, Some(t))));
        return true;
    }
    match index.parse::<u32>() {
        Ok(t) if index.bytes().all(|b| b.is_ascii_digit()) => {
            entries.push(entry(id.to_owned(), base, Some(t)));
            true
        }
        _ => false,
    }
}

/// `123`, or a heterogeneous job's component `123+0`.
fn is_job_id(id: &str) -> bool {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    match id.split_once('+') {
        Some((leader, offset)) => digits(leader) && digits(offset),
        None => digits(id),
    }
}

/// The task indices in squeue's `4-7%2`, `1,3,5-6` or `0-15:4`; `None` when malformed or too many.
pub(crate) fn expand_indices(list: &str) -> Option<Vec<u32>> {
    let list =
        list.split_once('%').map_or(list, |(indices, throttle)| if throttle.bytes().all(|b| b.is_ascii_digit()) { indices } else { "" });
    let number = |s: &str| -> Option<u32> { if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) { s.parse().ok() } else { None } };
    let mut tasks = Vec::new();
    for part in list.split(',') {
        let (range, step) = match part.split_once(':') {
            Some((range, step)) => (range, number(step).filter(|&s| s > 0)?),
            None => (part, 1),
        };
        let (lo, hi) = match range.split_once('-') {
            Some((lo, hi)) => (number(lo)?, number(hi)?),
            None => (number(range)?, number(range)?),
        };
        if hi < lo || tasks.len() + ((hi - lo) / step) as usize >= MAX_EXPANDED_TASKS {
            return None;
        }
        tasks.extend((lo..=hi).step_by(step as usize));
    }
    Some(tasks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn args() {
        assert_eq!(squeue_args("alice"), ["--noheader", "--all", "--array", "--states=all", "--user=alice", "--format=%i|%T|%r|%j"]);
    }

    #[test]
    fn every_state_name() {
        use JobState::*;
        for (name, state) in [
            ("PENDING", Pending),
            ("CONFIGURING", Configuring),
            ("RUNNING", Running),
            ("COMPLETING", Completing),
            ("COMPLETED", Completed),
            ("FAILED", Failed),
            ("CANCELLED", Cancelled),
            ("TIMEOUT", Timeout),
            ("OUT_OF_MEMORY", OutOfMemory),
            ("NODE_FAIL", NodeFail),
            ("PREEMPTED", Preempted),
            ("BOOT_FAIL", BootFail),
            ("DEADLINE", Deadline),
            ("SUSPENDED", Suspended),
            ("REQUEUED", Requeued),
        ] {
            assert_eq!(JobState::parse(name), state);
            assert_eq!(state.name(), name);
            assert_eq!(state.to_string(), name);
        }
        assert_eq!(JobState::parse("REQUEUE_FED"), Requeued);
        for other in ["REQUEUE_HOLD", "RESIZING", "STOPPED", "SIGNALING", "STAGE_OUT", "SPECIAL_EXIT", "REVOKED", "RESV_DEL_HOLD"] {
            assert_eq!(JobState::parse(other), Other(other.to_owned()));
            assert_eq!(JobState::parse(other).name(), other);
        }
        assert_eq!(JobState::parse("CANCELLED by 1000"), Cancelled);
        assert_eq!(JobState::parse("CANCELLED+"), Cancelled);
        assert_eq!(JobState::parse(" running "), Running);
        assert_eq!(JobState::parse("OOM"), OutOfMemory);
        assert_eq!(JobState::parse("CA"), Cancelled);
        assert_eq!(JobState::parse("ST"), Other("STOPPED".into()));
        assert_eq!(JobState::parse("SOMETHING_NEW"), Other("SOMETHING_NEW".into()));
    }

    #[test]
    fn classification() {
        use JobState::*;
        let active = [Pending, Configuring, Running, Completing, Suspended, Requeued];
        let ended = [Completed, Failed, Cancelled, Timeout, OutOfMemory, NodeFail, Preempted, BootFail, Deadline];
        for s in &active {
            assert!(s.is_active() && !s.ended() && !s.retryable(), "{s}");
        }
        for s in &ended {
            assert!(!s.is_active() && s.ended(), "{s}");
        }
        let retryable: Vec<_> = ended.iter().filter(|s| s.retryable()).cloned().collect();
        assert_eq!(retryable, [Cancelled, NodeFail, Preempted, BootFail]);
        for held in ["REQUEUE_HOLD", "STOPPED", "RESIZING", "SIGNALING", "STAGE_OUT", "SPECIAL_EXIT", "RESV_DEL_HOLD"] {
            assert!(JobState::parse(held).is_active(), "{held}");
        }
        for gone in [JobState::parse("REVOKED"), JobState::parse("NEW_STATE"), JobState::Other("vanished".into())] {
            assert!(gone.ended() && !gone.retryable(), "{gone}");
        }
    }

    fn entry(job_id: &str, array_job_id: &str, task: Option<u32>, state: JobState, reason: &str, name: &str) -> QueueEntry {
        QueueEntry { job_id: job_id.into(), array_job_id: array_job_id.into(), task, state, reason: reason.into(), name: name.into() }
    }

    #[test]
    fn single_jobs_and_array_tasks() {
        let out = "\
41|COMPLETED|None|lf-r1-once-aa11
42_0|RUNNING|None|lf-r1-segment-bb22
42_1|PENDING|Resources|lf-r1-segment-bb22
42_2|PENDING|JobArrayTaskLimit|lf-r1-segment-bb22
43|FAILED|NonZeroExitCode|name|with|bars
44_3|OUT_OF_MEMORY|OutOfMemory|lf-r1-train-cc33
45|CANCELLED|None|x
";
        let (entries, skipped) = parse_squeue(out);
        assert!(skipped.is_empty(), "{skipped:?}");
        use JobState::*;
        assert_eq!(
            entries,
            [
                entry("41", "41", None, Completed, "None", "lf-r1-once-aa11"),
                entry("42_0", "42", Some(0), Running, "None", "lf-r1-segment-bb22"),
                entry("42_1", "42", Some(1), Pending, "Resources", "lf-r1-segment-bb22"),
                entry("42_2", "42", Some(2), Pending, "JobArrayTaskLimit", "lf-r1-segment-bb22"),
                entry("43", "43", None, Failed, "NonZeroExitCode", "name|with|bars"),
                entry("44_3", "44", Some(3), OutOfMemory, "OutOfMemory", "lf-r1-train-cc33"),
                entry("45", "45", None, Cancelled, "None", "x"),
            ]
        );
    }

    // Recorded on the one-node Slurm 22.05.8 cluster of tools/slurm/up.sh
    // (tools/slurm/observed.md): `squeue -h -r -t all -o "%i|%T|%r|%j"`
    // while array 11 (`--array=0-9%3`) ran next to job 10.
    const RECORDED_MIXED: &str = "\
1|COMPLETED|None|lungflow-smoke
7|COMPLETED|None|ok
11_0|COMPLETED|None|arr
8|FAILED|NonZeroExitCode|fail3
11_2|PENDING|Resources|arr
11_3|PENDING|Resources|arr
10|RUNNING|None|timeout1
11_1|RUNNING|None|arr
";

    #[test]
    fn recorded_queue() {
        use JobState::*;
        let (entries, skipped) = parse_squeue(RECORDED_MIXED);
        assert!(skipped.is_empty());
        assert_eq!(
            entries,
            [
                entry("1", "1", None, Completed, "None", "lungflow-smoke"),
                entry("7", "7", None, Completed, "None", "ok"),
                entry("11_0", "11", Some(0), Completed, "None", "arr"),
                entry("8", "8", None, Failed, "NonZeroExitCode", "fail3"),
                entry("11_2", "11", Some(2), Pending, "Resources", "arr"),
                entry("11_3", "11", Some(3), Pending, "Resources", "arr"),
                entry("10", "10", None, Running, "None", "timeout1"),
                entry("11_1", "11", Some(1), Running, "None", "arr"),
            ]
        );

        // Without -r (recorded): the pending tasks folded into one line.
        let (entries, _) = parse_squeue("23_[2-9%3]|PENDING|Resources|arr3\n23_1|RUNNING|None|arr3\n23_0|RUNNING|None|arr3\n");
        let ids: Vec<_> = entries.iter().map(|e| e.job_id.as_str()).collect();
        assert_eq!(ids, ["23_2", "23_3", "23_4", "23_5", "23_6", "23_7", "23_8", "23_9", "23_1", "23_0"]);
        assert!(entries[..8].iter().all(|e| e.state == Pending && e.reason == "Resources"));

        // Recorded after `scancel 23`: pending tasks keep their reason.
        let (entries, _) = parse_squeue("23_4|CANCELLED|Resources|arr3\n23_3|CANCELLED|None|arr3\n23_1|COMPLETED|None|arr3\n");
        assert_eq!(
            entries.iter().map(|e| (e.task, e.state.clone(), e.reason.as_str())).collect::<Vec<_>>(),
            [(Some(4), Cancelled, "Resources"), (Some(3), Cancelled, "None"), (Some(1), Completed, "None")]
        );

        // Recorded: array 28, tasks exiting with their index; and a TIMEOUT.
        let (entries, _) =
            parse_squeue("28_0|COMPLETED|None|arrfail\n28_3|FAILED|NonZeroExitCode|arrfail\n10|TIMEOUT|TimeLimit|timeout1\n");
        assert_eq!(
            entries.iter().map(|e| (e.job_id.as_str(), e.state.clone(), e.reason.as_str())).collect::<Vec<_>>(),
            [("28_0", Completed, "None"), ("28_3", Failed, "NonZeroExitCode"), ("10", Timeout, "TimeLimit")]
        );
    }

    #[test]
    fn pending_arrays_on_one_line_are_expanded() {
        let (entries, skipped) = parse_squeue("123_[4-7%2]|PENDING|JobArrayTaskLimit|lf\n124_[1,3,5-6]|PENDING|Priority|lf\n");
        assert!(skipped.is_empty());
        let ids: Vec<_> = entries.iter().map(|e| (e.job_id.as_str(), e.array_job_id.as_str(), e.task)).collect();
        assert_eq!(
            ids,
            [
                ("123_4", "123", Some(4)),
                ("123_5", "123", Some(5)),
                ("123_6", "123", Some(6)),
                ("123_7", "123", Some(7)),
                ("124_1", "124", Some(1)),
                ("124_3", "124", Some(3)),
                ("124_5", "124", Some(5)),
                ("124_6", "124", Some(6)),
            ]
        );
        assert!(entries.iter().all(|e| e.state == JobState::Pending));
        assert_eq!(entries[0].reason, "JobArrayTaskLimit");
        let (entries, _) = parse_squeue("9_[0-15:4]|PENDING|Priority|lf\n");
        assert_eq!(entries.iter().map(|e| e.task.unwrap()).collect::<Vec<_>>(), [0, 4, 8, 12]);
    }

    #[test]
    fn unreadable_lines_are_returned_not_guessed() {
        let out = "\
12|RUNNING|None|ok
garbage
13_[1-3,5-|PENDING|Priority|cut short by SLURM_BITSTR_LEN
abc|RUNNING|None|x
14_x|RUNNING|None|x
15||None|x
16_[7-3]|PENDING|None|x
17+0|RUNNING|None|het

";
        let (entries, skipped) = parse_squeue(out);
        assert_eq!(entries.iter().map(|e| e.job_id.as_str()).collect::<Vec<_>>(), ["12", "17+0"]);
        assert_eq!(
            skipped,
            [
                "garbage",
                "13_[1-3,5-|PENDING|Priority|cut short by SLURM_BITSTR_LEN",
                "abc|RUNNING|None|x",
                "14_x|RUNNING|None|x",
                "15||None|x",
                "16_[7-3]|PENDING|None|x"
            ]
        );
        assert_eq!(parse_squeue(""), (vec![], vec![]));
    }
}
