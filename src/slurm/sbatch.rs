//! `sbatch`'s argument list for one job or job array, and its `--parsable` answer.

use std::path::Path;

use crate::pipeline::resources::{Resources, slurm_time};
use crate::pipeline::slurm_settings::SlurmSettings;

/// The task indices of one job array, `--array=FIRST-LAST` or `--array=FIRST-LAST%THROTTLE`.
#[derive(Debug, Clone, PartialEq)]
pub struct ArraySpec {
    /// The first task index.
    pub first: usize,
    /// The last task index (inclusive; not before `first`).
    pub last: usize,
    /// At most this many tasks of the array run at once (`%N`); `None` or 0
    /// for no limit. Left out when it would not limit anything (not smaller
    /// than the array).
    pub throttle: Option<usize>,
}

impl ArraySpec {
    /// The array for one chunk of `len` tasks: indices `0..=len-1`, so that
    /// `SLURM_ARRAY_TASK_ID` is the position in the chunk. `len` must be at least 1.
    pub fn zero_based(len: usize, throttle: Option<usize>) -> ArraySpec {
        ArraySpec { first: 0, last: len.saturating_sub(1), throttle }
    }

    /// How many tasks the array has.
    pub fn len(&self) -> usize {
        self.last.saturating_sub(self.first) + 1
    }

    /// Never true: an array has at least one task (for clippy's `len_without_is_empty`).
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The value of `--array`: `0-9`, `0-9%4`, or `0` for a one-task array.
    pub fn value(&self) -> String {
        let mut out = if self.last > self.first { format!("{}-{}", self.first, self.last) } else { self.first.to_string() };
        if let Some(t) = self.throttle.filter(|&t| t > 0 && t < self.len()) {
            out.push_str(&format!("%{t}"));
        }
        out
    }
}

/// Splits `n_tasks` tasks into chunks that each fit one job array: inclusive
/// ranges `(start, end)` of positions in the task list, each of at most
/// `max_array_size` tasks, in order.
///
/// Slurm's `MaxArraySize` N (from `scontrol show config`, default 1001)
/// means task *indices* must be below N, so one array holds indices
/// `0..=N-1`, N tasks at most. Each chunk is submitted as its own array with
/// `--array=0-(len-1)` ([`ArraySpec::zero_based`]): task `SLURM_ARRAY_TASK_ID`
/// of the array for chunk `(start, end)` is task `start + SLURM_ARRAY_TASK_ID`
/// of the list. A `max_array_size` of 0 is taken as 1. `MaxJobCount` also
/// bounds how many tasks can be queued at once; that is `max_jobs`' business.
pub fn array_chunks(n_tasks: usize, max_array_size: usize) -> Vec<(usize, usize)> {
    let size = max_array_size.max(1);
    (0..n_tasks).step_by(size).map(|start| (start, (start + size).min(n_tasks) - 1)).collect()
}

/// One `sbatch` call: a single job (`array: None`) or one job array.
#[derive(Debug, Clone, PartialEq)]
pub struct Submission<'a> {
    /// `--job-name`: lungflow's name for the job, to find it again.
    pub job_name: &'a str,
    /// The batch script, the last argument.
    pub script: &'a Path,
    /// `--output`: the job's log, stdout and stderr together. A filename
    /// pattern: `%A` (array job id), `%a` (task index) and `%j` (job id) are
    /// replaced by Slurm, so a literal `%` must be written `%%` (see
    /// [`escape_pattern`]).
    pub output: &'a Path,
    /// `--chdir`: where the job runs.
    pub chdir: &'a Path,
    /// `--array`, for a job array.
    pub array: Option<ArraySpec>,
    /// What each job (each array task) asks for.
    pub resources: &'a Resources,
    /// Partition, account and extra arguments.
    pub settings: &'a SlurmSettings,
}

/// A literal path for use inside an `--output` pattern: `%` doubled, so that
/// Slurm does not take `%j` in a directory name for a job id.
pub fn escape_pattern(path: &str) -> String {
    path.replace('%', "%%")
}

/// The arguments for `sbatch`, in this order: `--parsable`, `--job-name`,
/// `--output`, `--chdir`, then those that are set of `--array`,
/// `--partition`, `--account`, `--cpus-per-task`, `--mem`, `--gres`,
/// `--time`, then the extra `sbatch_args` verbatim (sbatch lets a later
/// option override an earlier one, so these win over lungflow's partition,
/// account and resources), and the script last.
///
/// - No `--error`: stderr goes to the `--output` file, one log per job.
/// - GPUs are asked for with `--gres=gpu:N` or `--gres=gpu:TYPE:N`, never
///   `--gpus` and never with `--ntasks-per-gpu`: `--gres` works with every
///   select plugin (`--gpus` needs `select/cons_tres`), and it does not
///   imply a task count or task-to-GPU binding the way `--ntasks-per-gpu`
///   does.
/// - No `--ntasks`: a batch job is one task unless told otherwise, and
///   `--cpus-per-task` gives that task its CPUs; lungflow runs one process
///   per job and starts no job steps.
/// - Paths are passed as text; lungflow's paths are UTF-8 (others are
///   converted lossily).
pub fn sbatch_args(s: &Submission) -> Vec<String> {
    let mut args = vec![
        "--parsable".to_owned(),
        format!("--job-name={}", s.job_name),
        format!("--output={}", s.output.to_string_lossy()),
        format!("--chdir={}", s.chdir.to_string_lossy()),
    ];
    if let Some(array) = &s.array {
        args.push(format!("--array={}", array.value()));
    }
    if let Some(partition) = &s.settings.partition {
        args.push(format!("--partition={partition}"));
    }
    if let Some(account) = &s.settings.account {
        args.push(format!("--account={account}"));
    }
    let r = s.resources;
    if let Some(cpus) = r.cpus {
        args.push(format!("--cpus-per-task={cpus}"));
    }
    if let Some(mb) = r.mem_mb {
        args.push(format!("--mem={mb}M"));
    }
    if let Some(gpus) = &r.gpus {
        args.push(format!("--gres=gpu:{}", gpus.spec()));
    }
    if let Some(seconds) = r.time_seconds {
        args.push(format!("--time={}", slurm_time(seconds)));
    }
    args.extend(s.settings.sbatch_args.iter().cloned());
    args.push(s.script.to_string_lossy().into_owned());
    args
}

/// The job id from `sbatch --parsable`'s stdout, which is `JOBID` or
/// `JOBID;CLUSTER` on one line (warnings and errors go to stderr). For a job
/// array it is the array's job id (`%A`).
pub fn parse_sbatch_parsable(stdout: &str) -> Result<String, String> {
    let lines: Vec<&str> = stdout.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    let shown = || {
        let text = stdout.trim();
        if text.chars().count() > 200 { format!("{}...", text.chars().take(200).collect::<String>()) } else { text.to_owned() }
    };
    match lines.as_slice() {
        [] => Err("sbatch printed no job id (nothing on stdout); the job may or may not have been submitted".to_owned()),
        [line] => {
            let id = line.split_once(';').map_or(*line, |(id, _cluster)| id);
            if !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) {
                Ok(id.to_owned())
            } else {
                Err(format!("sbatch printed \"{}\", not a job id (expected JOBID or JOBID;CLUSTER)", shown()))
            }
        }
        _ => Err(format!("sbatch printed several lines, not one job id (expected JOBID or JOBID;CLUSTER): \"{}\"", shown())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::resources::Gpus;

    fn args(array: Option<ArraySpec>, resources: &Resources, settings: &SlurmSettings) -> Vec<String> {
        sbatch_args(&Submission {
            job_name: "lf-run7-segment-ab12cd",
            script: Path::new("/proj/.lungflow/jobs/ab12cd.sh"),
            output: Path::new("/proj/.lungflow/logs/%A_%a.log"),
            chdir: Path::new("/proj"),
            array,
            resources,
            settings,
        })
    }

    const HEAD: [&str; 4] = ["--parsable", "--job-name=lf-run7-segment-ab12cd", "--output=/proj/.lungflow/logs/%A_%a.log", "--chdir=/proj"];
    const SCRIPT: &str = "/proj/.lungflow/jobs/ab12cd.sh";

    fn expect(middle: &[&str]) -> Vec<String> {
        HEAD.iter().chain(middle).chain([&SCRIPT]).map(|s| s.to_string()).collect()
    }

    #[test]
    fn plain_once_stage() {
        assert_eq!(args(None, &Resources::default(), &SlurmSettings::default()), expect(&[]));
    }

    #[test]
    fn array_with_throttle() {
        let a = args(Some(ArraySpec::zero_based(10, Some(4))), &Resources::default(), &SlurmSettings::default());
        assert_eq!(a, expect(&["--array=0-9%4"]));
    }

    #[test]
    fn array_without_throttle_when_it_limits_nothing() {
        let d = (Resources::default(), SlurmSettings::default());
        assert_eq!(args(Some(ArraySpec::zero_based(10, Some(10))), &d.0, &d.1), expect(&["--array=0-9"]));
        assert_eq!(args(Some(ArraySpec::zero_based(10, Some(50))), &d.0, &d.1), expect(&["--array=0-9"]));
        assert_eq!(args(Some(ArraySpec::zero_based(10, Some(0))), &d.0, &d.1), expect(&["--array=0-9"]));
        assert_eq!(args(Some(ArraySpec::zero_based(10, None)), &d.0, &d.1), expect(&["--array=0-9"]));
        assert_eq!(args(Some(ArraySpec::zero_based(1, Some(4))), &d.0, &d.1), expect(&["--array=0"]));
        let spec = ArraySpec { first: 1000, last: 1999, throttle: Some(8) };
        assert_eq!((spec.len(), spec.value()), (1000, "1000-1999%8".to_owned()));
    }

    #[test]
    fn all_resources() {
        let r = Resources {
            cpus: Some(4),
            mem_mb: Some(16_384),
            gpus: Some(Gpus { kind: None, count: 2 }),
            time_seconds: Some(2 * 86_400 + 5400),
        };
        assert_eq!(
            args(None, &r, &SlurmSettings::default()),
            expect(&["--cpus-per-task=4", "--mem=16384M", "--gres=gpu:2", "--time=2-01:30:00"])
        );
    }

    #[test]
    fn gpus_with_type() {
        let r = Resources { gpus: Some(Gpus { kind: Some("a100".into()), count: 2 }), ..Resources::default() };
        assert_eq!(args(None, &r, &SlurmSettings::default()), expect(&["--gres=gpu:a100:2"]));
    }

    #[test]
    fn partition_and_account() {
        let s = SlurmSettings { partition: Some("gpu".into()), account: Some("lab42".into()), ..SlurmSettings::default() };
        assert_eq!(args(None, &Resources::default(), &s), expect(&["--partition=gpu", "--account=lab42"]));
    }

    #[test]
    fn extra_args_after_lungflow_s_own_and_before_the_script() {
        let s = SlurmSettings {
            partition: Some("cpu".into()),
            sbatch_args: vec!["--qos=high".into(), "--constraint".into(), "skylake".into()],
            ..SlurmSettings::default()
        };
        let r = Resources { cpus: Some(2), time_seconds: Some(600), ..Resources::default() };
        assert_eq!(
            args(Some(ArraySpec::zero_based(3, Some(2))), &r, &s),
            expect(&["--array=0-2%2", "--partition=cpu", "--cpus-per-task=2", "--time=00:10:00", "--qos=high", "--constraint", "skylake"])
        );
    }

    #[test]
    fn escaping_a_literal_percent() {
        assert_eq!(escape_pattern("/data/100%done/logs"), "/data/100%%done/logs");
    }

    #[test]
    fn chunks_fit_max_array_size() {
        assert_eq!(array_chunks(0, 1001), vec![]);
        assert_eq!(array_chunks(1, 1001), vec![(0, 0)]);
        assert_eq!(array_chunks(1001, 1001), vec![(0, 1000)]);
        assert_eq!(array_chunks(1002, 1001), vec![(0, 1000), (1001, 1001)]);
        assert_eq!(array_chunks(2500, 1000), vec![(0, 999), (1000, 1999), (2000, 2499)]);
        assert_eq!(array_chunks(3, 1), vec![(0, 0), (1, 1), (2, 2)]);
        assert_eq!(array_chunks(2, 0), vec![(0, 0), (1, 1)]);
        // Each chunk's own array stays below MaxArraySize.
        for (start, end) in array_chunks(2500, 1000) {
            assert!(ArraySpec::zero_based(end - start + 1, None).last < 1000);
        }
    }

    #[test]
    fn parsable_answer() {
        // Recorded (tools/slurm/observed.md): `sbatch --parsable -J ok --wrap true`.
        assert_eq!(parse_sbatch_parsable("7\n"), Ok("7".to_owned()));
        // A refused submission prints nothing on stdout (the error is on stderr).
        assert!(parse_sbatch_parsable("").unwrap_err().contains("nothing on stdout"));
        assert_eq!(parse_sbatch_parsable("4242\n"), Ok("4242".to_owned()));
        assert_eq!(parse_sbatch_parsable("4242;cluster1\n"), Ok("4242".to_owned()));
        assert_eq!(parse_sbatch_parsable("\n  17  \n"), Ok("17".to_owned()));
        assert!(parse_sbatch_parsable("").unwrap_err().contains("no job id"));
        let e = parse_sbatch_parsable("Submitted batch job 12\n").unwrap_err();
        assert_eq!(e, "sbatch printed \"Submitted batch job 12\", not a job id (expected JOBID or JOBID;CLUSTER)");
        assert!(parse_sbatch_parsable(";cluster").is_err());
        assert!(parse_sbatch_parsable("12\n13\n").unwrap_err().contains("several lines"));
    }
}
