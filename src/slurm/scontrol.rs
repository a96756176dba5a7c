//! `scontrol show job` (why a job that left the queue ended), `scontrol
//! show config` (limits such as `MaxArraySize`) and `sinfo`'s partitions.

use std::collections::BTreeMap;

use super::squeue::{JobState, expand_indices};

/// The arguments for `scontrol --oneliner show job ID`: one line per job (for
/// an array's job id, one per task). scontrol's options go before its
/// command, as its usage says (`scontrol [<OPTION>] [<COMMAND>]`); glibc's
/// getopt would also find `--oneliner` after it, but other builds need not.
pub fn show_job_args(job_id: &str) -> Vec<String> {
    vec!["--oneliner".to_owned(), "show".to_owned(), "job".to_owned(), job_id.to_owned()]
}

/// One job as `scontrol show job` describes it. Values Slurm prints as
/// `(null)` are `None`.
#[derive(Debug, Clone, PartialEq)]
pub struct JobRecord {
    /// `JobId`: the job's own id (for an array task, its own number, not `123_4`).
    pub job_id: String,
    /// `ArrayJobId`, for an array task.
    pub array_job_id: Option<String>,
    /// `ArrayTaskId`: the task index, or for a pending array not yet split
    /// into tasks, the indices still pending (`4-7%2`).
    pub array_task_id: Option<String>,
    /// `JobState`.
    pub state: JobState,
    /// `Reason` (`None`, `TimeLimit`, `NonZeroExitCode`, ...; spaces in a
    /// reason are printed by Slurm as `_`).
    pub reason: String,
    /// `ExitCode=STATUS:SIGNAL`: the batch script's exit status and the
    /// signal that ended it (0 when none).
    pub exit_code: Option<(i32, i32)>,
    /// `TimeLimit` as Slurm prints it (`00:01:00`, `1-00:00:00`, `UNLIMITED`, `Partition_Limit`).
    pub time_limit: Option<String>,
    /// `StdOut`: the job's log, patterns already replaced.
    pub std_out: Option<String>,
    /// `NodeList`: the nodes it ran on.
    pub node_list: Option<String>,
    /// Every `Key=Value` pair of the record as printed (`(null)` included),
    /// for the fields above and any other (`RunTime`, `Restarts`, `Command`, ...).
    pub fields: BTreeMap<String, String>,
}

impl JobRecord {
    /// The ids squeue would list this record under: `57` for a single job,
    /// `55_2` for an array task, and for a pending array not yet split into
    /// tasks (`ArrayTaskId=4-7%2`) one id per pending task (`55_4` ... `55_7`).
    pub fn queue_ids(&self) -> Vec<String> {
        match (&self.array_job_id, &self.array_task_id) {
            (Some(array), Some(tasks)) => match expand_indices(tasks) {
                Some(indices) => indices.into_iter().map(|t| format!("{array}_{t}")).collect(),
                None => vec![format!("{array}_{tasks}")],
            },
            _ => vec![self.job_id.clone()],
        }
    }
}

/// Parses `scontrol show job` output, with or without `--oneliner`: a record
/// starts at each `JobId=`. Pairs are separated by whitespace, but some
/// values (`JobName`, `Command`, `WorkDir`, `StdOut`, `Comment`) can contain
/// spaces, so a word that does not start with `Key=` (a key being an
/// uppercase letter then letters, digits, `_`, `:` or `/`, as in `MCS_label`,
/// `AllocNode:Sid`, `CPUs/Task`) is part of the previous value; runs of
/// spaces inside a value read as one. Text before the first `JobId=` (such
/// as "No jobs in the system") is ignored; a record without a `JobState` is
/// dropped.
pub fn parse_show_job(stdout: &str) -> Vec<JobRecord> {
    let mut records: Vec<Vec<(String, String)>> = Vec::new();
    for word in stdout.split_whitespace() {
        match split_pair(word) {
            Some((key, value)) => {
                if key == "JobId" {
                    records.push(Vec::new());
                }
                if let Some(record) = records.last_mut() {
                    record.push((key.to_owned(), value.to_owned()));
                }
            }
            None => {
                if let Some((_, value)) = records.last_mut().and_then(|r| r.last_mut()) {
                    value.push(' ');
                    value.push_str(word);
                }
            }
        }
    }
    records.into_iter().filter_map(record).collect()
}

/// `Key=value` when `word` starts with a key.
fn split_pair(word: &str) -> Option<(&str, &str)> {
    let (key, value) = word.split_once('=')?;
    let mut chars = key.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_uppercase());
    (first_ok && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | ':' | '/'))).then_some((key, value))
}

/// The record of one job's pairs; `None` without a job id or state.
fn record(pairs: Vec<(String, String)>) -> Option<JobRecord> {
    let mut fields = BTreeMap::new();
    for (key, value) in pairs {
        fields.entry(key).or_insert(value);
    }
    let get = |key: &str| fields.get(key).filter(|v| !v.is_empty() && v.as_str() != "(null)").cloned();
    let exit_code = get("ExitCode").and_then(|v| {
        let (status, signal) = v.split_once(':')?;
        Some((status.parse().ok()?, signal.parse().ok()?))
    });
    Some(JobRecord {
        job_id: get("JobId")?,
        array_job_id: get("ArrayJobId"),
        array_task_id: get("ArrayTaskId"),
        state: JobState::parse(&get("JobState")?),
        reason: get("Reason").unwrap_or_default(),
        exit_code,
        time_limit: get("TimeLimit"),
        std_out: get("StdOut"),
        node_list: get("NodeList"),
        fields,
    })
}

/// The value of `key` in `scontrol show config` output, whose lines read
/// `MaxArraySize            = 1001`. The key is matched exactly; `None`
/// when it is missing or its value is `(null)`.
pub fn parse_config_value(stdout: &str, key: &str) -> Option<String> {
    stdout.lines().find_map(|line| {
        let (k, v) = line.split_once('=')?;
        let v = v.trim();
        (k.trim() == key && v != "(null)").then(|| v.to_owned())
    })
}

/// The arguments for `sinfo` listing every partition, one name a line.
/// `--all` includes hidden partitions and those the user's group cannot
/// use, so that a partition that exists is never reported missing.
pub fn sinfo_partitions_args() -> Vec<String> {
    vec!["--all".to_owned(), "--noheader".to_owned(), "--format=%P".to_owned()]
}

/// The partition names in the output of [`sinfo_partitions_args`], in order,
/// each once (sinfo can print a partition on several lines), without the
/// `*` that marks the default one.
pub fn parse_partitions(sinfo_stdout: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for line in sinfo_stdout.lines() {
        let name = line.trim().trim_end_matches('*');
        if !name.is_empty() && !names.iter().any(|n| n == name) {
            names.push(name.to_owned());
        }
    }
    names
}

/// The default partition (the one sinfo marks with `*`), if any.
pub fn parse_default_partition(sinfo_stdout: &str) -> Option<String> {
    sinfo_stdout.lines().map(str::trim).find_map(|l| l.strip_suffix('*')).filter(|n| !n.is_empty()).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn args() {
        assert_eq!(show_job_args("4242_3"), ["--oneliner", "show", "job", "4242_3"]);
        assert_eq!(sinfo_partitions_args(), ["--all", "--noheader", "--format=%P"]);
    }

    // Recorded on the one-node Slurm 22.05.8 cluster of tools/slurm/up.sh
    // (tools/slurm/observed.md), byte for byte: each line ends with a space.

    /// `scontrol show job -o 7`.
    const COMPLETED_7: &str = "JobId=7 JobName=ok UserId=root(0) GroupId=root(0) MCS_label=N/A Priority=4294901753 Nice=0 Account=(null) QOS=(null) \
JobState=COMPLETED Reason=None Dependency=(null) Requeue=1 Restarts=0 BatchFlag=1 Reboot=0 ExitCode=0:0 \
RunTime=00:00:00 TimeLimit=UNLIMITED TimeMin=N/A SubmitTime=2026-11-30T07:06:27 EligibleTime=2026-11-30T07:06:27 \
AccrueTime=2026-11-30T07:06:27 StartTime=2026-11-30T07:06:27 EndTime=2026-11-30T07:06:27 Deadline=N/A SuspendTime=None \
SecsPreSuspend=0 LastSchedEval=2026-11-30T07:06:27 Scheduler=Main Partition=debug AllocNode:Sid=localhost:21497 \
ReqNodeList=(null) ExcNodeList=(null) NodeList=vm BatchHost=vm NumNodes=1 NumCPUs=1 NumTasks=1 CPUs/Task=1 \
ReqB:S:C:T=0:0:*:* TRES=cpu=1,node=1,billing=1 Socks/Node=* NtasksPerN:B:S:C=0:0:*:* CoreSpec=* MinCPUsNode=1 \
MinMemoryNode=0 MinTmpDiskNode=0 Features=(null) DelayBoot=00:00:00 OverSubscribe=OK Contiguous=0 Licenses=(null) \
Network=(null) Command=(null) WorkDir=/tmp/slurmobs StdErr=/tmp/slurmobs/slurm-7.out StdIn=/dev/null \
StdOut=/tmp/slurmobs/slurm-7.out Power= \n";

    /// `scontrol show job -o 8`.
    const FAILED_8: &str = "JobId=8 JobName=fail3 UserId=root(0) GroupId=root(0) MCS_label=N/A Priority=4294901752 Nice=0 Account=(null) QOS=(null) \
JobState=FAILED Reason=NonZeroExitCode Dependency=(null) Requeue=1 Restarts=0 BatchFlag=1 Reboot=0 ExitCode=3:0 \
RunTime=00:00:00 TimeLimit=UNLIMITED TimeMin=N/A SubmitTime=2026-11-30T07:06:27 EligibleTime=2026-11-30T07:06:27 \
AccrueTime=2026-11-30T07:06:27 StartTime=2026-11-30T07:06:27 EndTime=2026-11-30T07:06:27 Deadline=N/A SuspendTime=None \
SecsPreSuspend=0 LastSchedEval=2026-11-30T07:06:27 Scheduler=Main Partition=debug AllocNode:Sid=localhost:21497 \
ReqNodeList=(null) ExcNodeList=(null) NodeList=vm BatchHost=vm NumNodes=1 NumCPUs=1 NumTasks=1 CPUs/Task=1 \
ReqB:S:C:T=0:0:*:* TRES=cpu=1,node=1,billing=1 Socks/Node=* NtasksPerN:B:S:C=0:0:*:* CoreSpec=* MinCPUsNode=1 \
MinMemoryNode=0 MinTmpDiskNode=0 Features=(null) DelayBoot=00:00:00 OverSubscribe=OK Contiguous=0 Licenses=(null) \
Network=(null) Command=(null) WorkDir=/tmp/slurmobs StdErr=/tmp/slurmobs/slurm-8.out StdIn=/dev/null \
StdOut=/tmp/slurmobs/slurm-8.out Power= \n";

    /// `scontrol show job -o 10`.
    const TIMEOUT_10: &str = "JobId=10 JobName=timeout1 UserId=root(0) GroupId=root(0) MCS_label=N/A Priority=4294901750 Nice=0 Account=(null) \
QOS=(null) JobState=TIMEOUT Reason=TimeLimit Dependency=(null) Requeue=1 Restarts=0 BatchFlag=1 Reboot=0 ExitCode=143:0 \
RunTime=00:01:05 TimeLimit=00:01:00 TimeMin=N/A SubmitTime=2026-11-30T07:06:38 EligibleTime=2026-11-30T07:06:38 \
AccrueTime=2026-11-30T07:06:38 StartTime=2026-11-30T07:06:39 EndTime=2026-11-30T07:07:44 Deadline=N/A SuspendTime=None \
SecsPreSuspend=0 LastSchedEval=2026-11-30T07:06:39 Scheduler=Main Partition=debug AllocNode:Sid=localhost:21497 \
ReqNodeList=(null) ExcNodeList=(null) NodeList=vm BatchHost=vm NumNodes=1 NumCPUs=1 NumTasks=1 CPUs/Task=1 \
ReqB:S:C:T=0:0:*:* TRES=cpu=1,node=1,billing=1 Socks/Node=* NtasksPerN:B:S:C=0:0:*:* CoreSpec=* MinCPUsNode=1 \
MinMemoryNode=0 MinTmpDiskNode=0 Features=(null) DelayBoot=00:00:00 OverSubscribe=OK Contiguous=0 Licenses=(null) \
Network=(null) Command=(null) WorkDir=/tmp/slurmobs StdErr=/tmp/slurmobs/to.out StdIn=/dev/null \
StdOut=/tmp/slurmobs/to.out Power= \n";

    /// `scontrol show job -o 21`.
    const CANCELLED_RUNNING_21: &str = "JobId=21 JobName=cancel-running UserId=root(0) GroupId=root(0) MCS_label=N/A Priority=4294901748 Nice=0 Account=(null) \
QOS=(null) JobState=CANCELLED Reason=None Dependency=(null) Requeue=1 Restarts=0 BatchFlag=1 Reboot=0 ExitCode=0:15 \
RunTime=00:00:01 TimeLimit=UNLIMITED TimeMin=N/A SubmitTime=2026-11-30T07:07:00 EligibleTime=2026-11-30T07:07:00 \
AccrueTime=2026-11-30T07:07:00 StartTime=2026-11-30T07:07:01 EndTime=2026-11-30T07:07:02 Deadline=N/A SuspendTime=None \
SecsPreSuspend=0 LastSchedEval=2026-11-30T07:07:01 Scheduler=Main Partition=debug AllocNode:Sid=localhost:21497 \
ReqNodeList=(null) ExcNodeList=(null) NodeList=vm BatchHost=vm NumNodes=1 NumCPUs=1 NumTasks=1 CPUs/Task=1 \
ReqB:S:C:T=0:0:*:* TRES=cpu=1,node=1,billing=1 Socks/Node=* NtasksPerN:B:S:C=0:0:*:* CoreSpec=* MinCPUsNode=1 \
MinMemoryNode=0 MinTmpDiskNode=0 Features=(null) DelayBoot=00:00:00 OverSubscribe=OK Contiguous=0 Licenses=(null) \
Network=(null) Command=(null) WorkDir=/tmp/slurmobs StdErr=/dev/null StdIn=/dev/null StdOut=/dev/null Power= \n";

    /// `scontrol show job -o 22`.
    const CANCELLED_PENDING_22: &str = "JobId=22 JobName=cancel-pending UserId=root(0) GroupId=root(0) MCS_label=N/A Priority=4294901747 Nice=0 Account=(null) \
QOS=(null) JobState=CANCELLED Reason=BeginTime Dependency=(null) Requeue=1 Restarts=0 BatchFlag=1 Reboot=0 ExitCode=0:0 \
RunTime=00:00:00 TimeLimit=UNLIMITED TimeMin=N/A SubmitTime=2026-11-30T07:07:03 EligibleTime=2026-11-30T08:07:03 \
AccrueTime=Unknown StartTime=2026-11-30T07:07:03 EndTime=2026-11-30T07:07:03 Deadline=N/A SuspendTime=None \
SecsPreSuspend=0 LastSchedEval=2026-11-30T07:07:03 Scheduler=Main Partition=debug AllocNode:Sid=localhost:21497 \
ReqNodeList=(null) ExcNodeList=(null) NodeList= NumNodes=1 NumCPUs=1 NumTasks=N/A CPUs/Task=1 ReqB:S:C:T=0:0:*:* \
TRES=cpu=1,mem=24105M,node=1,billing=1 Socks/Node=* NtasksPerN:B:S:C=0:0:*:* CoreSpec=* MinCPUsNode=1 MinMemoryNode=0 \
MinTmpDiskNode=0 Features=(null) DelayBoot=00:00:00 OverSubscribe=OK Contiguous=0 Licenses=(null) Network=(null) \
Command=(null) WorkDir=/tmp/slurmobs StdErr=/dev/null StdIn=/dev/null StdOut=/dev/null Power= \n";

    /// `scontrol show job -o 23`.
    const PENDING_ARRAY_23: &str = "JobId=23 ArrayJobId=23 ArrayTaskId=0-9%3 ArrayTaskThrottle=3 JobName=arr3 UserId=root(0) GroupId=root(0) MCS_label=N/A \
Priority=4294901746 Nice=0 Account=(null) QOS=(null) JobState=PENDING Reason=None Dependency=(null) Requeue=1 \
Restarts=0 BatchFlag=1 Reboot=0 ExitCode=0:0 RunTime=00:00:00 TimeLimit=UNLIMITED TimeMin=N/A \
SubmitTime=2026-11-30T07:07:57 EligibleTime=Unknown AccrueTime=Unknown StartTime=Unknown EndTime=Unknown Deadline=N/A \
SuspendTime=None SecsPreSuspend=0 LastSchedEval=2026-11-30T07:07:57 Scheduler=Main Partition=debug \
AllocNode:Sid=localhost:21497 ReqNodeList=(null) ExcNodeList=(null) NodeList= NumNodes=1 NumCPUs=1 NumTasks=1 \
CPUs/Task=1 ReqB:S:C:T=0:0:*:* TRES=cpu=1,mem=24105M,node=1,billing=1 Socks/Node=* NtasksPerN:B:S:C=0:0:*:* CoreSpec=* \
MinCPUsNode=1 MinMemoryNode=0 MinTmpDiskNode=0 Features=(null) DelayBoot=00:00:00 OverSubscribe=OK Contiguous=0 \
Licenses=(null) Network=(null) Command=(null) WorkDir=/tmp/slurmobs StdErr=/dev/null StdIn=/dev/null StdOut=/dev/null \
Power= \n";

    /// `scontrol show job -o 23_9`.
    const CANCELLED_TASK_23_9: &str = "JobId=23 ArrayJobId=23 ArrayTaskId=9 ArrayTaskThrottle=3 JobName=arr3 UserId=root(0) GroupId=root(0) MCS_label=N/A \
Priority=4294901746 Nice=0 Account=(null) QOS=(null) JobState=CANCELLED Reason=Resources Dependency=(null) Requeue=1 \
Restarts=0 BatchFlag=1 Reboot=0 ExitCode=0:0 RunTime=00:00:00 TimeLimit=UNLIMITED TimeMin=N/A \
SubmitTime=2026-11-30T07:07:57 EligibleTime=2026-11-30T07:07:58 AccrueTime=2026-11-30T07:07:58 \
StartTime=2026-11-30T07:08:01 EndTime=2026-11-30T07:08:01 Deadline=N/A SuspendTime=None SecsPreSuspend=0 \
LastSchedEval=2026-11-30T07:08:00 Scheduler=Main Partition=debug AllocNode:Sid=localhost:21497 ReqNodeList=(null) \
ExcNodeList=(null) NodeList= NumNodes=1 NumCPUs=1 NumTasks=N/A CPUs/Task=1 ReqB:S:C:T=0:0:*:* \
TRES=cpu=1,mem=24105M,node=1,billing=1 Socks/Node=* NtasksPerN:B:S:C=0:0:*:* CoreSpec=* MinCPUsNode=1 MinMemoryNode=0 \
MinTmpDiskNode=0 Features=(null) DelayBoot=00:00:00 OverSubscribe=OK Contiguous=0 Licenses=(null) Network=(null) \
Command=(null) WorkDir=/tmp/slurmobs StdErr=/dev/null StdIn=/dev/null StdOut=/dev/null Power= \n";

    /// `scontrol show job -o 28_2`.
    const FAILED_TASK_28_2: &str = "JobId=31 ArrayJobId=28 ArrayTaskId=2 JobName=arrfail UserId=root(0) GroupId=root(0) MCS_label=N/A Priority=4294901745 \
Nice=0 Account=(null) QOS=(null) JobState=FAILED Reason=NonZeroExitCode Dependency=(null) Requeue=1 Restarts=0 \
BatchFlag=1 Reboot=0 ExitCode=2:0 RunTime=00:00:00 TimeLimit=UNLIMITED TimeMin=N/A SubmitTime=2026-11-30T07:08:02 \
EligibleTime=2026-11-30T07:08:02 AccrueTime=2026-11-30T07:08:02 StartTime=2026-11-30T07:08:02 \
EndTime=2026-11-30T07:08:02 Deadline=N/A SuspendTime=None SecsPreSuspend=0 LastSchedEval=2026-11-30T07:08:02 \
Scheduler=Main Partition=debug AllocNode:Sid=localhost:21497 ReqNodeList=(null) ExcNodeList=(null) NodeList=vm \
BatchHost=vm NumNodes=1 NumCPUs=1 NumTasks=1 CPUs/Task=1 ReqB:S:C:T=0:0:*:* TRES=cpu=1,node=1,billing=1 Socks/Node=* \
NtasksPerN:B:S:C=0:0:*:* CoreSpec=* MinCPUsNode=1 MinMemoryNode=0 MinTmpDiskNode=0 Features=(null) DelayBoot=00:00:00 \
OverSubscribe=OK Contiguous=0 Licenses=(null) Network=(null) Command=(null) WorkDir=/tmp/slurmobs StdErr=/dev/null \
StdIn=/dev/null StdOut=/dev/null Power= \n";

    /// `scontrol show job -o 11`.
    const FINISHED_ARRAY_11: &str = "JobId=11 ArrayJobId=11 ArrayTaskId=9 ArrayTaskThrottle=3 JobName=arr UserId=root(0) GroupId=root(0) MCS_label=N/A \
Priority=4294901749 Nice=0 Account=(null) QOS=(null) JobState=COMPLETED Reason=None Dependency=(null) Requeue=1 \
Restarts=0 BatchFlag=1 Reboot=0 ExitCode=0:0 RunTime=00:00:02 TimeLimit=UNLIMITED TimeMin=N/A \
SubmitTime=2026-11-30T07:06:39 EligibleTime=2026-11-30T07:06:40 AccrueTime=2026-11-30T07:06:40 \
StartTime=2026-11-30T07:06:58 EndTime=2026-11-30T07:07:00 Deadline=N/A SuspendTime=None SecsPreSuspend=0 \
LastSchedEval=2026-11-30T07:06:58 Scheduler=Main Partition=debug AllocNode:Sid=localhost:21497 ReqNodeList=(null) \
ExcNodeList=(null) NodeList=vm BatchHost=vm NumNodes=1 NumCPUs=1 NumTasks=1 CPUs/Task=1 ReqB:S:C:T=0:0:*:* \
TRES=cpu=1,node=1,billing=1 Socks/Node=* NtasksPerN:B:S:C=0:0:*:* CoreSpec=* MinCPUsNode=1 MinMemoryNode=0 \
MinTmpDiskNode=0 Features=(null) DelayBoot=00:00:00 OverSubscribe=OK Contiguous=0 Licenses=(null) Network=(null) \
Command=(null) WorkDir=/tmp/slurmobs StdErr=/tmp/slurmobs/arr-11_9.out StdIn=/dev/null \
StdOut=/tmp/slurmobs/arr-11_9.out Power= \n\
JobId=20 ArrayJobId=11 ArrayTaskId=8 ArrayTaskThrottle=3 JobName=arr UserId=root(0) GroupId=root(0) MCS_label=N/A \
Priority=4294901749 Nice=0 Account=(null) QOS=(null) JobState=COMPLETED Reason=None Dependency=(null) Requeue=1 \
Restarts=0 BatchFlag=1 Reboot=0 ExitCode=0:0 RunTime=00:00:02 TimeLimit=UNLIMITED TimeMin=N/A \
SubmitTime=2026-11-30T07:06:39 EligibleTime=2026-11-30T07:06:40 AccrueTime=2026-11-30T07:06:40 \
StartTime=2026-11-30T07:06:56 EndTime=2026-11-30T07:06:58 Deadline=N/A SuspendTime=None SecsPreSuspend=0 \
LastSchedEval=2026-11-30T07:06:56 Scheduler=Main Partition=debug AllocNode:Sid=localhost:21497 ReqNodeList=(null) \
ExcNodeList=(null) NodeList=vm BatchHost=vm NumNodes=1 NumCPUs=1 NumTasks=1 CPUs/Task=1 ReqB:S:C:T=0:0:*:* \
TRES=cpu=1,node=1,billing=1 Socks/Node=* NtasksPerN:B:S:C=0:0:*:* CoreSpec=* MinCPUsNode=1 MinMemoryNode=0 \
MinTmpDiskNode=0 Features=(null) DelayBoot=00:00:00 OverSubscribe=OK Contiguous=0 Licenses=(null) Network=(null) \
Command=(null) WorkDir=/tmp/slurmobs StdErr=/tmp/slurmobs/arr-11_8.out StdIn=/dev/null \
StdOut=/tmp/slurmobs/arr-11_8.out Power= \n\
JobId=19 ArrayJobId=11 ArrayTaskId=7 ArrayTaskThrottle=3 JobName=arr UserId=root(0) GroupId=root(0) MCS_label=N/A \
Priority=4294901749 Nice=0 Account=(null) QOS=(null) JobState=COMPLETED Reason=None Dependency=(null) Requeue=1 \
Restarts=0 BatchFlag=1 Reboot=0 ExitCode=0:0 RunTime=00:00:02 TimeLimit=UNLIMITED TimeMin=N/A \
SubmitTime=2026-11-30T07:06:39 EligibleTime=2026-11-30T07:06:40 AccrueTime=2026-11-30T07:06:40 \
StartTime=2026-11-30T07:06:54 EndTime=2026-11-30T07:06:56 Deadline=N/A SuspendTime=None SecsPreSuspend=0 \
LastSchedEval=2026-11-30T07:06:54 Scheduler=Main Partition=debug AllocNode:Sid=localhost:21497 ReqNodeList=(null) \
ExcNodeList=(null) NodeList=vm BatchHost=vm NumNodes=1 NumCPUs=1 NumTasks=1 CPUs/Task=1 ReqB:S:C:T=0:0:*:* \
TRES=cpu=1,node=1,billing=1 Socks/Node=* NtasksPerN:B:S:C=0:0:*:* CoreSpec=* MinCPUsNode=1 MinMemoryNode=0 \
MinTmpDiskNode=0 Features=(null) DelayBoot=00:00:00 OverSubscribe=OK Contiguous=0 Licenses=(null) Network=(null) \
Command=(null) WorkDir=/tmp/slurmobs StdErr=/tmp/slurmobs/arr-11_7.out StdIn=/dev/null \
StdOut=/tmp/slurmobs/arr-11_7.out Power= \n\
JobId=18 ArrayJobId=11 ArrayTaskId=6 ArrayTaskThrottle=3 JobName=arr UserId=root(0) GroupId=root(0) MCS_label=N/A \
Priority=4294901749 Nice=0 Account=(null) QOS=(null) JobState=COMPLETED Reason=None Dependency=(null) Requeue=1 \
Restarts=0 BatchFlag=1 Reboot=0 ExitCode=0:0 RunTime=00:00:02 TimeLimit=UNLIMITED TimeMin=N/A \
SubmitTime=2026-11-30T07:06:39 EligibleTime=2026-11-30T07:06:40 AccrueTime=2026-11-30T07:06:40 \
StartTime=2026-11-30T07:06:52 EndTime=2026-11-30T07:06:54 Deadline=N/A SuspendTime=None SecsPreSuspend=0 \
LastSchedEval=2026-11-30T07:06:52 Scheduler=Main Partition=debug AllocNode:Sid=localhost:21497 ReqNodeList=(null) \
ExcNodeList=(null) NodeList=vm BatchHost=vm NumNodes=1 NumCPUs=1 NumTasks=1 CPUs/Task=1 ReqB:S:C:T=0:0:*:* \
TRES=cpu=1,node=1,billing=1 Socks/Node=* NtasksPerN:B:S:C=0:0:*:* CoreSpec=* MinCPUsNode=1 MinMemoryNode=0 \
MinTmpDiskNode=0 Features=(null) DelayBoot=00:00:00 OverSubscribe=OK Contiguous=0 Licenses=(null) Network=(null) \
Command=(null) WorkDir=/tmp/slurmobs StdErr=/tmp/slurmobs/arr-11_6.out StdIn=/dev/null \
StdOut=/tmp/slurmobs/arr-11_6.out Power= \n\
JobId=17 ArrayJobId=11 ArrayTaskId=5 ArrayTaskThrottle=3 JobName=arr UserId=root(0) GroupId=root(0) MCS_label=N/A \
Priority=4294901749 Nice=0 Account=(null) QOS=(null) JobState=COMPLETED Reason=None Dependency=(null) Requeue=1 \
Restarts=0 BatchFlag=1 Reboot=0 ExitCode=0:0 RunTime=00:00:02 TimeLimit=UNLIMITED TimeMin=N/A \
SubmitTime=2026-11-30T07:06:39 EligibleTime=2026-11-30T07:06:40 AccrueTime=2026-11-30T07:06:40 \
StartTime=2026-11-30T07:06:50 EndTime=2026-11-30T07:06:52 Deadline=N/A SuspendTime=None SecsPreSuspend=0 \
LastSchedEval=2026-11-30T07:06:50 Scheduler=Main Partition=debug AllocNode:Sid=localhost:21497 ReqNodeList=(null) \
ExcNodeList=(null) NodeList=vm BatchHost=vm NumNodes=1 NumCPUs=1 NumTasks=1 CPUs/Task=1 ReqB:S:C:T=0:0:*:* \
TRES=cpu=1,node=1,billing=1 Socks/Node=* NtasksPerN:B:S:C=0:0:*:* CoreSpec=* MinCPUsNode=1 MinMemoryNode=0 \
MinTmpDiskNode=0 Features=(null) DelayBoot=00:00:00 OverSubscribe=OK Contiguous=0 Licenses=(null) Network=(null) \
Command=(null) WorkDir=/tmp/slurmobs StdErr=/tmp/slurmobs/arr-11_5.out StdIn=/dev/null \
StdOut=/tmp/slurmobs/arr-11_5.out Power= \n\
JobId=16 ArrayJobId=11 ArrayTaskId=4 ArrayTaskThrottle=3 JobName=arr UserId=root(0) GroupId=root(0) MCS_label=N/A \
Priority=4294901749 Nice=0 Account=(null) QOS=(null) JobState=COMPLETED Reason=None Dependency=(null) Requeue=1 \
Restarts=0 BatchFlag=1 Reboot=0 ExitCode=0:0 RunTime=00:00:02 TimeLimit=UNLIMITED TimeMin=N/A \
SubmitTime=2026-11-30T07:06:39 EligibleTime=2026-11-30T07:06:40 AccrueTime=2026-11-30T07:06:40 \
StartTime=2026-11-30T07:06:48 EndTime=2026-11-30T07:06:50 Deadline=N/A SuspendTime=None SecsPreSuspend=0 \
LastSchedEval=2026-11-30T07:06:48 Scheduler=Main Partition=debug AllocNode:Sid=localhost:21497 ReqNodeList=(null) \
ExcNodeList=(null) NodeList=vm BatchHost=vm NumNodes=1 NumCPUs=1 NumTasks=1 CPUs/Task=1 ReqB:S:C:T=0:0:*:* \
TRES=cpu=1,node=1,billing=1 Socks/Node=* NtasksPerN:B:S:C=0:0:*:* CoreSpec=* MinCPUsNode=1 MinMemoryNode=0 \
MinTmpDiskNode=0 Features=(null) DelayBoot=00:00:00 OverSubscribe=OK Contiguous=0 Licenses=(null) Network=(null) \
Command=(null) WorkDir=/tmp/slurmobs StdErr=/tmp/slurmobs/arr-11_4.out StdIn=/dev/null \
StdOut=/tmp/slurmobs/arr-11_4.out Power= \n\
JobId=15 ArrayJobId=11 ArrayTaskId=3 ArrayTaskThrottle=3 JobName=arr UserId=root(0) GroupId=root(0) MCS_label=N/A \
Priority=4294901749 Nice=0 Account=(null) QOS=(null) JobState=COMPLETED Reason=None Dependency=(null) Requeue=1 \
Restarts=0 BatchFlag=1 Reboot=0 ExitCode=0:0 RunTime=00:00:02 TimeLimit=UNLIMITED TimeMin=N/A \
SubmitTime=2026-11-30T07:06:39 EligibleTime=2026-11-30T07:06:40 AccrueTime=2026-11-30T07:06:40 \
StartTime=2026-11-30T07:06:46 EndTime=2026-11-30T07:06:48 Deadline=N/A SuspendTime=None SecsPreSuspend=0 \
LastSchedEval=2026-11-30T07:06:46 Scheduler=Main Partition=debug AllocNode:Sid=localhost:21497 ReqNodeList=(null) \
ExcNodeList=(null) NodeList=vm BatchHost=vm NumNodes=1 NumCPUs=1 NumTasks=1 CPUs/Task=1 ReqB:S:C:T=0:0:*:* \
TRES=cpu=1,node=1,billing=1 Socks/Node=* NtasksPerN:B:S:C=0:0:*:* CoreSpec=* MinCPUsNode=1 MinMemoryNode=0 \
MinTmpDiskNode=0 Features=(null) DelayBoot=00:00:00 OverSubscribe=OK Contiguous=0 Licenses=(null) Network=(null) \
Command=(null) WorkDir=/tmp/slurmobs StdErr=/tmp/slurmobs/arr-11_3.out StdIn=/dev/null \
StdOut=/tmp/slurmobs/arr-11_3.out Power= \n\
JobId=14 ArrayJobId=11 ArrayTaskId=2 ArrayTaskThrottle=3 JobName=arr UserId=root(0) GroupId=root(0) MCS_label=N/A \
Priority=4294901749 Nice=0 Account=(null) QOS=(null) JobState=COMPLETED Reason=None Dependency=(null) Requeue=1 \
Restarts=0 BatchFlag=1 Reboot=0 ExitCode=0:0 RunTime=00:00:02 TimeLimit=UNLIMITED TimeMin=N/A \
SubmitTime=2026-11-30T07:06:39 EligibleTime=2026-11-30T07:06:40 AccrueTime=2026-11-30T07:06:40 \
StartTime=2026-11-30T07:06:44 EndTime=2026-11-30T07:06:46 Deadline=N/A SuspendTime=None SecsPreSuspend=0 \
LastSchedEval=2026-11-30T07:06:44 Scheduler=Main Partition=debug AllocNode:Sid=localhost:21497 ReqNodeList=(null) \
ExcNodeList=(null) NodeList=vm BatchHost=vm NumNodes=1 NumCPUs=1 NumTasks=1 CPUs/Task=1 ReqB:S:C:T=0:0:*:* \
TRES=cpu=1,node=1,billing=1 Socks/Node=* NtasksPerN:B:S:C=0:0:*:* CoreSpec=* MinCPUsNode=1 MinMemoryNode=0 \
MinTmpDiskNode=0 Features=(null) DelayBoot=00:00:00 OverSubscribe=OK Contiguous=0 Licenses=(null) Network=(null) \
Command=(null) WorkDir=/tmp/slurmobs StdErr=/tmp/slurmobs/arr-11_2.out StdIn=/dev/null \
StdOut=/tmp/slurmobs/arr-11_2.out Power= \n\
JobId=13 ArrayJobId=11 ArrayTaskId=1 ArrayTaskThrottle=3 JobName=arr UserId=root(0) GroupId=root(0) MCS_label=N/A \
Priority=4294901749 Nice=0 Account=(null) QOS=(null) JobState=COMPLETED Reason=None Dependency=(null) Requeue=1 \
Restarts=0 BatchFlag=1 Reboot=0 ExitCode=0:0 RunTime=00:00:02 TimeLimit=UNLIMITED TimeMin=N/A \
SubmitTime=2026-11-30T07:06:39 EligibleTime=2026-11-30T07:06:40 AccrueTime=2026-11-30T07:06:40 \
StartTime=2026-11-30T07:06:42 EndTime=2026-11-30T07:06:44 Deadline=N/A SuspendTime=None SecsPreSuspend=0 \
LastSchedEval=2026-11-30T07:06:42 Scheduler=Main Partition=debug AllocNode:Sid=localhost:21497 ReqNodeList=(null) \
ExcNodeList=(null) NodeList=vm BatchHost=vm NumNodes=1 NumCPUs=1 NumTasks=1 CPUs/Task=1 ReqB:S:C:T=0:0:*:* \
TRES=cpu=1,node=1,billing=1 Socks/Node=* NtasksPerN:B:S:C=0:0:*:* CoreSpec=* MinCPUsNode=1 MinMemoryNode=0 \
MinTmpDiskNode=0 Features=(null) DelayBoot=00:00:00 OverSubscribe=OK Contiguous=0 Licenses=(null) Network=(null) \
Command=(null) WorkDir=/tmp/slurmobs StdErr=/tmp/slurmobs/arr-11_1.out StdIn=/dev/null \
StdOut=/tmp/slurmobs/arr-11_1.out Power= \n\
JobId=12 ArrayJobId=11 ArrayTaskId=0 ArrayTaskThrottle=3 JobName=arr UserId=root(0) GroupId=root(0) MCS_label=N/A \
Priority=4294901749 Nice=0 Account=(null) QOS=(null) JobState=COMPLETED Reason=None Dependency=(null) Requeue=1 \
Restarts=0 BatchFlag=1 Reboot=0 ExitCode=0:0 RunTime=00:00:02 TimeLimit=UNLIMITED TimeMin=N/A \
SubmitTime=2026-11-30T07:06:39 EligibleTime=2026-11-30T07:06:40 AccrueTime=2026-11-30T07:06:40 \
StartTime=2026-11-30T07:06:40 EndTime=2026-11-30T07:06:42 Deadline=N/A SuspendTime=None SecsPreSuspend=0 \
LastSchedEval=2026-11-30T07:06:40 Scheduler=Main Partition=debug AllocNode:Sid=localhost:21497 ReqNodeList=(null) \
ExcNodeList=(null) NodeList=vm BatchHost=vm NumNodes=1 NumCPUs=1 NumTasks=1 CPUs/Task=1 ReqB:S:C:T=0:0:*:* \
TRES=cpu=1,node=1,billing=1 Socks/Node=* NtasksPerN:B:S:C=0:0:*:* CoreSpec=* MinCPUsNode=1 MinMemoryNode=0 \
MinTmpDiskNode=0 Features=(null) DelayBoot=00:00:00 OverSubscribe=OK Contiguous=0 Licenses=(null) Network=(null) \
Command=(null) WorkDir=/tmp/slurmobs StdErr=/tmp/slurmobs/arr-11_0.out StdIn=/dev/null \
StdOut=/tmp/slurmobs/arr-11_0.out Power= \n";

    fn one(out: &str) -> JobRecord {
        let mut records = parse_show_job(out);
        assert_eq!(records.len(), 1, "{out}");
        records.remove(0)
    }

    #[test]
    fn recorded_single_jobs() {
        let r = one(COMPLETED_7);
        assert_eq!((r.job_id.as_str(), r.array_job_id.clone(), r.array_task_id.clone()), ("7", None, None));
        assert_eq!((r.state.clone(), r.reason.as_str(), r.exit_code), (JobState::Completed, "None", Some((0, 0))));
        assert_eq!(r.time_limit.as_deref(), Some("UNLIMITED"));
        assert_eq!(r.std_out.as_deref(), Some("/tmp/slurmobs/slurm-7.out"));
        assert_eq!(r.node_list.as_deref(), Some("vm"));
        assert_eq!(r.queue_ids(), ["7"]);
        assert_eq!(r.fields["AllocNode:Sid"], "localhost:21497");
        assert_eq!(r.fields["CPUs/Task"], "1");
        assert_eq!(r.fields["ReqB:S:C:T"], "0:0:*:*");
        assert_eq!(r.fields["TRES"], "cpu=1,node=1,billing=1");
        assert_eq!(r.fields["Command"], "(null)");
        assert_eq!(r.fields["Power"], "");

        let r = one(FAILED_8);
        assert_eq!((r.state.clone(), r.reason.as_str(), r.exit_code), (JobState::Failed, "NonZeroExitCode", Some((3, 0))));

        // A script that traps SIGTERM and exits 143 reports 143:0, a plain one 0:15.
        let r = one(TIMEOUT_10);
        assert_eq!((r.state.clone(), r.reason.as_str(), r.exit_code), (JobState::Timeout, "TimeLimit", Some((143, 0))));
        assert_eq!(r.time_limit.as_deref(), Some("00:01:00"));
        assert_eq!(r.fields["RunTime"], "00:01:05");
        assert_eq!(r.std_out.as_deref(), Some("/tmp/slurmobs/to.out"));

        let r = one(CANCELLED_RUNNING_21);
        assert_eq!((r.state.clone(), r.reason.as_str(), r.exit_code), (JobState::Cancelled, "None", Some((0, 15))));
        assert_eq!(r.std_out.as_deref(), Some("/dev/null"));

        // Cancelled while pending: keeps its pending reason, never had nodes (`NodeList=`).
        let r = one(CANCELLED_PENDING_22);
        assert_eq!((r.state.clone(), r.reason.as_str(), r.exit_code), (JobState::Cancelled, "BeginTime", Some((0, 0))));
        assert_eq!(r.node_list, None);
    }

    #[test]
    fn recorded_array_tasks() {
        // The whole array still pending: one record for every task.
        let r = one(PENDING_ARRAY_23);
        assert_eq!((r.job_id.as_str(), r.array_job_id.as_deref(), r.array_task_id.as_deref()), ("23", Some("23"), Some("0-9%3")));
        assert_eq!((r.state.clone(), r.node_list.clone()), (JobState::Pending, None));
        assert_eq!(r.fields["ArrayTaskThrottle"], "3");
        assert_eq!(r.queue_ids(), (0..10).map(|t| format!("23_{t}")).collect::<Vec<_>>());

        // A task cancelled before it started keeps the array's job id.
        let r = one(CANCELLED_TASK_23_9);
        assert_eq!((r.job_id.as_str(), r.state.clone(), r.reason.as_str()), ("23", JobState::Cancelled, "Resources"));
        assert_eq!(r.queue_ids(), ["23_9"]);

        // A task that ran has its own job id.
        let r = one(FAILED_TASK_28_2);
        assert_eq!((r.job_id.as_str(), r.array_job_id.as_deref(), r.array_task_id.as_deref()), ("31", Some("28"), Some("2")));
        assert_eq!((r.state.clone(), r.exit_code), (JobState::Failed, Some((2, 0))));
        assert_eq!(r.queue_ids(), ["28_2"]);

        // The array's id: one line per task, the last task first under the array's own id.
        let records = parse_show_job(FINISHED_ARRAY_11);
        assert_eq!(
            records.iter().map(|r| r.job_id.as_str()).collect::<Vec<_>>(),
            ["11", "20", "19", "18", "17", "16", "15", "14", "13", "12"]
        );
        assert_eq!(
            records.iter().flat_map(|r| r.queue_ids()).collect::<Vec<_>>(),
            (0..10).rev().map(|t| format!("11_{t}")).collect::<Vec<_>>()
        );
        assert!(records.iter().all(|r| r.state == JobState::Completed && r.exit_code == Some((0, 0))));
        assert_eq!(records[5].std_out.as_deref(), Some("/tmp/slurmobs/arr-11_4.out"));
    }

    // Not recorded (the test cluster's jobs had no spaces in names or
    // paths): values with spaces, a node range, a reason with `,_`.
    #[test]
    fn values_with_spaces_and_several_jobs() {
        let out = "JobId=60 JobName=my job name UserId=alice(1000) JobState=FAILED Reason=NonZeroExitCode Dependency=(null) \
ExitCode=3:0 TimeLimit=UNLIMITED NodeList=(null) Command=/my dir/run it.sh --flag x WorkDir=/my dir StdOut=/my dir/slurm-60.out
JobId=61 JobName=lf JobState=CANCELLED Reason=None ExitCode=0:9 NodeList=node[1-2] StdOut=(null)
JobId=62 JobName=lf JobState=PENDING Reason=ReqNodeNotAvail,_UnavailableNodes:node3 ExitCode=0:0 NodeList=(null)
";
        let records = parse_show_job(out);
        assert_eq!(records.iter().map(|r| r.job_id.as_str()).collect::<Vec<_>>(), ["60", "61", "62"]);
        assert_eq!(records[0].queue_ids(), ["60"]);
        let r = &records[0];
        assert_eq!(r.fields["JobName"], "my job name");
        assert_eq!(r.fields["Command"], "/my dir/run it.sh --flag x");
        assert_eq!(r.std_out.as_deref(), Some("/my dir/slurm-60.out"));
        assert_eq!(
            (r.state.clone(), r.exit_code, r.time_limit.as_deref(), r.node_list.as_deref()),
            (JobState::Failed, Some((3, 0)), Some("UNLIMITED"), None)
        );
        assert_eq!(r.array_job_id, None);
        let r = &records[1];
        assert_eq!((r.state.clone(), r.exit_code, r.std_out.clone()), (JobState::Cancelled, Some((0, 9)), None));
        assert_eq!(r.node_list.as_deref(), Some("node[1-2]"));
        assert_eq!(records[2].reason, "ReqNodeNotAvail,_UnavailableNodes:node3");
    }

    #[test]
    fn the_multi_line_form_and_a_pending_array() {
        let out = "JobId=70 ArrayJobId=70 ArrayTaskId=4-7%2 ArrayTaskThrottle=2 JobName=lf-r2-crop
   UserId=alice(1000) GroupId=alice(1000) MCS_label=N/A
   JobState=PENDING Reason=JobArrayTaskLimit Dependency=(null)
   Requeue=1 Restarts=0 BatchFlag=1 Reboot=0 ExitCode=0:0
   RunTime=00:00:00 TimeLimit=1-00:00:00 TimeMin=N/A

JobId=71 ArrayJobId=70 ArrayTaskId=3 JobName=lf-r2-crop
   JobState=OUT_OF_MEMORY Reason=OutOfMemory Dependency=(null)
   ExitCode=0:125
";
        let records = parse_show_job(out);
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].array_task_id.as_deref(), Some("4-7%2"));
        assert_eq!(records[0].queue_ids(), ["70_4", "70_5", "70_6", "70_7"]);
        assert_eq!(records[1].queue_ids(), ["70_3"]);
        assert_eq!(records[0].state, JobState::Pending);
        assert_eq!(records[0].fields["JobName"], "lf-r2-crop");
        assert_eq!(records[0].time_limit.as_deref(), Some("1-00:00:00"));
        assert_eq!((records[1].state.clone(), records[1].exit_code), (JobState::OutOfMemory, Some((0, 125))));
    }

    #[test]
    fn nothing_to_show() {
        assert_eq!(parse_show_job(""), vec![]);
        assert_eq!(parse_show_job("No jobs in the system\n"), vec![]);
        // A record without a state is dropped rather than given one.
        assert_eq!(parse_show_job("JobId=5 JobName=x\n"), vec![]);
    }

    // The MaxArraySize, MaxJobCount and MinJobAge lines as recorded in
    // tools/slurm/observed.md; the rest in 22.05's layout.
    const CONFIG: &str = "Configuration data as of 2026-11-30T07:06:00
AccountingStorageType   = accounting_storage/none
ClusterName             = lungflow
MaxArraySize            = 1001
MaxJobCount             = 10000
MinJobAge               = 3600 sec
ProctrackType           = proctrack/linuxproc
SlurmctldParameters     = (null)
SLURM_VERSION           = 22.05.8

Cgroup Support Configuration:
AllowedRAMSpace         = 100.0%

Slurmctld(primary) at node1 is UP
";

    #[test]
    fn config_values() {
        assert_eq!(parse_config_value(CONFIG, "MaxArraySize").as_deref(), Some("1001"));
        assert_eq!(parse_config_value(CONFIG, "MinJobAge").as_deref(), Some("3600 sec"));
        assert_eq!(parse_config_value(CONFIG, "AccountingStorageType").as_deref(), Some("accounting_storage/none"));
        assert_eq!(parse_config_value(CONFIG, "SLURM_VERSION").as_deref(), Some("22.05.8"));
        assert_eq!(parse_config_value(CONFIG, "SlurmctldParameters"), None);
        assert_eq!(parse_config_value(CONFIG, "MaxArray"), None);
        assert_eq!(parse_config_value(CONFIG, "NoSuchKey"), None);
    }

    #[test]
    fn partitions() {
        // Recorded: `sinfo -h -o %P` on the test cluster prints `debug*`.
        assert_eq!(parse_partitions("debug*\n"), ["debug"]);
        assert_eq!(parse_default_partition("debug*\n").as_deref(), Some("debug"));
        let out = "debug*\ngpu\ngpu\nlong\n\n";
        assert_eq!(parse_partitions(out), ["debug", "gpu", "long"]);
        assert_eq!(parse_default_partition(out).as_deref(), Some("debug"));
        assert_eq!(parse_default_partition("gpu\n"), None);
        assert_eq!(parse_partitions(""), Vec::<String>::new());
    }
}
