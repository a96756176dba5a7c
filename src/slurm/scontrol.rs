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

    // Slurm 22.05's format (src/api/job_info.c), one line per job.
    const TIMEOUT_TASK: &str = "JobId=57 ArrayJobId=55 ArrayTaskId=2 JobName=lf-r1-segment-ab12 UserId=alice(1000) \
GroupId=alice(1000) MCS_label=N/A Priority=4294901757 Nice=0 Account=(null) QOS=normal JobState=TIMEOUT Reason=TimeLimit \
Dependency=(null) Requeue=1 Restarts=0 BatchFlag=1 Reboot=0 ExitCode=0:15 RunTime=00:01:09 TimeLimit=00:01:00 TimeMin=N/A \
SubmitTime=2024-05-01T10:00:00 EligibleTime=2024-05-01T10:00:00 AccrueTime=2024-05-01T10:00:00 StartTime=2024-05-01T10:00:01 \
EndTime=2024-05-01T10:01:10 Deadline=N/A SuspendTime=None SecsPreSuspend=0 LastSchedEval=2024-05-01T10:00:01 Scheduler=Main \
Partition=debug AllocNode:Sid=node1:4021 ReqNodeList=(null) ExcNodeList=(null) NodeList=node1 BatchHost=node1 NumNodes=1 \
NumCPUs=1 NumTasks=1 CPUs/Task=1 ReqB:S:C:T=0:0:*:* TRES=cpu=1,mem=100M,node=1,billing=1 Socks/Node=* \
NtasksPerN:B:S:C=0:0:*:* CoreSpec=* MinCPUsNode=1 MinMemoryNode=100M MinTmpDiskNode=0 Features=(null) DelayBoot=00:00:00 \
OverSubscribe=OK Contiguous=0 Licenses=(null) Network=(null) Command=/proj/.lungflow/jobs/ab12.sh WorkDir=/proj \
StdErr=/proj/.lungflow/logs/55_2.log StdIn=/dev/null StdOut=/proj/.lungflow/logs/55_2.log Power=";

    #[test]
    fn a_timed_out_array_task() {
        let records = parse_show_job(&format!("{TIMEOUT_TASK}\n"));
        assert_eq!(records.len(), 1);
        let r = &records[0];
        assert_eq!(r.job_id, "57");
        assert_eq!(r.array_job_id.as_deref(), Some("55"));
        assert_eq!(r.array_task_id.as_deref(), Some("2"));
        assert_eq!(r.state, JobState::Timeout);
        assert_eq!(r.reason, "TimeLimit");
        assert_eq!(r.exit_code, Some((0, 15)));
        assert_eq!(r.time_limit.as_deref(), Some("00:01:00"));
        assert_eq!(r.std_out.as_deref(), Some("/proj/.lungflow/logs/55_2.log"));
        assert_eq!(r.node_list.as_deref(), Some("node1"));
        assert_eq!(r.fields["AllocNode:Sid"], "node1:4021");
        assert_eq!(r.fields["CPUs/Task"], "1");
        assert_eq!(r.fields["TRES"], "cpu=1,mem=100M,node=1,billing=1");
        assert_eq!(r.fields["Account"], "(null)");
        assert_eq!(r.fields["Power"], "");
    }

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

    const CONFIG: &str = "Configuration data as of 2024-05-01T10:00:00
AccountingStorageType   = accounting_storage/none
ClusterName             = lungflow
MaxArraySize            = 1001
MaxJobCount             = 10000
MinJobAge               = 300 sec
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
        assert_eq!(parse_config_value(CONFIG, "MinJobAge").as_deref(), Some("300 sec"));
        assert_eq!(parse_config_value(CONFIG, "AccountingStorageType").as_deref(), Some("accounting_storage/none"));
        assert_eq!(parse_config_value(CONFIG, "SLURM_VERSION").as_deref(), Some("22.05.8"));
        assert_eq!(parse_config_value(CONFIG, "SlurmctldParameters"), None);
        assert_eq!(parse_config_value(CONFIG, "MaxArray"), None);
        assert_eq!(parse_config_value(CONFIG, "NoSuchKey"), None);
    }

    #[test]
    fn partitions() {
        let out = "debug*\ngpu\ngpu\nlong\n\n";
        assert_eq!(parse_partitions(out), ["debug", "gpu", "long"]);
        assert_eq!(parse_default_partition(out).as_deref(), Some("debug"));
        assert_eq!(parse_default_partition("gpu\n"), None);
        assert_eq!(parse_partitions(""), Vec::<String>::new());
    }
}
