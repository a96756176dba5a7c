//! Submitting a group of tasks (instances of one stage with the same
//! resources) as one job array, or a single job for one task.
//!
//! Each submission gets a folder `CACHE/slurm/JOB_NAME/` with `tasks` (the
//! staging folder of task i on line i), `job.sh` (runs `lungflow
//! slurm-task` on its line) and one log per task (`I.log`). The state store
//! notes every task before `sbatch` runs, so a run killed during the call
//! finds the job by its name afterwards; a failed `sbatch` is retried with
//! backoff, after checking by name that nothing was submitted.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};

use crate::pipeline::resources::Resources;
use crate::slurm::client::call;
use crate::slurm::sbatch::{ArraySpec, Submission, escape_pattern, parse_sbatch_parsable, sbatch_args};
use crate::slurm::squeue::{parse_squeue, squeue_args};
use crate::store::cache::write_atomic;

/// Attempts at `sbatch` before the tasks fail.
pub const SBATCH_ATTEMPTS: u32 = 4;

/// One task to submit: its key and staging folder.
#[derive(Clone, Debug)]
pub struct Pending {
    /// The cache key it computes.
    pub key: String,
    /// Its staging folder (holds `task.json`).
    pub staging: PathBuf,
}

/// A submitted job: its name, id and each task's job id and log.
#[derive(Clone, Debug)]
pub struct Submitted {
    /// The job name.
    pub job_name: String,
    /// The job id `sbatch` printed.
    pub job_id: String,
    /// Per task (in the order given): its job id (`123_4`, or `123` for a
    /// single job) and its log file.
    pub tasks: Vec<(String, PathBuf)>,
}

/// What a submission needs to know of its run.
pub struct Submitter<'a> {
    /// `CACHE/slurm`.
    pub jobs_dir: &'a Path,
    /// The lungflow binary the tasks run.
    pub exe: &'a Path,
    /// The working directory tasks start in.
    pub work_dir: &'a Path,
    /// The user whose queue is listed to find a job by name.
    pub user: &'a str,
    /// Executor settings.
    pub settings: &'a crate::pipeline::slurm_settings::SlurmSettings,
    /// Call counters.
    pub calls: &'a crate::slurm::client::Calls,
}

impl Submitter<'_> {
    /// Writes the job's folder and script for `tasks`, named `job_name`.
    pub fn prepare(&self, job_name: &str, tasks: &[Pending]) -> Result<PathBuf> {
        let dir = self.jobs_dir.join(job_name);
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let list: String = tasks.iter().map(|t| format!("{}\n", t.staging.display())).collect();
        write_atomic(&dir.join("tasks"), list.as_bytes())?;
        let script = format!(
            "#!/bin/sh\n# lungflow: runs line $SLURM_ARRAY_TASK_ID (0 for a single job) of `tasks`.\nexec {} slurm-task {} \"${{SLURM_ARRAY_TASK_ID:-0}}\"\n",
            shell_quote(&self.exe.display().to_string()),
            shell_quote(&dir.join("tasks").display().to_string()),
        );
        write_atomic(&dir.join("job.sh"), script.as_bytes())?;
        Ok(dir)
    }

    /// Submits the prepared job; `Err` carries the last `sbatch` error.
    pub fn submit(&self, job_name: &str, dir: &Path, n_tasks: usize, resources: &Resources) -> Result<Submitted, String> {
        let array = (n_tasks > 1).then(|| ArraySpec::zero_based(n_tasks, Some(self.settings.max_jobs)));
        let output = PathBuf::from(escape_pattern(&dir.display().to_string())).join(if array.is_some() { "%a.log" } else { "0.log" });
        let script = dir.join("job.sh");
        let args = sbatch_args(&Submission {
            job_name,
            script: &script,
            output: &output,
            chdir: self.work_dir,
            array,
            resources,
            settings: self.settings,
        });
        let mut last_error = String::new();
        for attempt in 0..SBATCH_ATTEMPTS {
            if attempt > 0 {
                std::thread::sleep(Duration::from_secs(2u64 << (attempt - 1)));
                if let Some(id) = self.find_by_name(job_name) {
                    return Ok(self.submitted(job_name, id, dir, n_tasks));
                }
            }
            match call(self.calls, "sbatch", &args).and_then(|out| parse_sbatch_parsable(&out)) {
                Ok(id) => return Ok(self.submitted(job_name, id, dir, n_tasks)),
                Err(e) => {
                    eprintln!("warning: sbatch for {job_name} failed (attempt {} of {SBATCH_ATTEMPTS}): {e}", attempt + 1);
                    last_error = e;
                }
            }
        }
        Err(format!("sbatch failed {SBATCH_ATTEMPTS} times; last: {last_error}"))
    }

    /// The id of this user's job named `job_name`, if the queue has one.
    pub fn find_by_name(&self, job_name: &str) -> Option<String> {
        let out = call(self.calls, "squeue", &squeue_args(self.user)).ok()?;
        let (entries, _) = parse_squeue(&out);
        entries.into_iter().find(|e| e.name == job_name).map(|e| e.array_job_id)
    }

    fn submitted(&self, job_name: &str, job_id: String, dir: &Path, n_tasks: usize) -> Submitted {
        let tasks = (0..n_tasks)
            .map(|i| {
                let id = if n_tasks > 1 { format!("{job_id}_{i}") } else { job_id.clone() };
                (id, dir.join(format!("{i}.log")))
            })
            .collect();
        Submitted { job_name: job_name.to_owned(), job_id, tasks }
    }
}

/// A job name Slurm shows whole: `lf-RUN-N-STAGE`, the stage reduced to
/// letters, digits, `_` and `-`, at most 64 characters in all.
pub fn job_name(run: &str, n: usize, stage: &str) -> String {
    let stage: String = stage.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '_' }).collect();
    let mut name = format!("lf-{run}-{n}-{stage}");
    name.truncate(64);
    name
}

/// `text` quoted for sh.
fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

/// Line `index` of a job's task list (what [`Submitter::prepare`] wrote): the staging folder the task runs.
pub fn staging_of(tasks: &Path, index: usize) -> Result<PathBuf> {
    let text = std::fs::read_to_string(tasks).with_context(|| format!("cannot read task list {}", tasks.display()))?;
    let line = text.lines().nth(index).with_context(|| format!("task list {} has no line {index}", tasks.display()))?;
    Ok(PathBuf::from(line))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_names_keep_run_number_and_a_readable_stage() {
        assert_eq!(job_name("3f2a9c", 7, "patches@lr=0.1"), "lf-3f2a9c-7-patches_lr_0_1");
        assert_eq!(job_name("r", 1, &"x".repeat(100)).len(), 64);
    }

    #[test]
    fn the_job_script_runs_its_line_of_the_task_list() {
        let dir = lungflow_testkit::tempdir().unwrap();
        let settings = crate::pipeline::slurm_settings::SlurmSettings::default();
        let calls = crate::slurm::client::Calls::default();
        let s = Submitter {
            jobs_dir: dir.path(),
            exe: Path::new("/opt/it's/lungflow"),
            work_dir: dir.path(),
            user: "me",
            settings: &settings,
            calls: &calls,
        };
        let tasks =
            vec![Pending { key: "a".into(), staging: "/c/tmp/a.1.0".into() }, Pending { key: "b".into(), staging: "/c/tmp/b.1.1".into() }];
        let job_dir = s.prepare("lf-r-1-x", &tasks).unwrap();
        assert_eq!(std::fs::read_to_string(job_dir.join("tasks")).unwrap(), "/c/tmp/a.1.0\n/c/tmp/b.1.1\n");
        let script = std::fs::read_to_string(job_dir.join("job.sh")).unwrap();
        assert!(script.starts_with("#!/bin/sh\n"), "{script}");
        assert!(script.contains("exec '/opt/it'\\''s/lungflow' slurm-task '"), "{script}");
        assert!(script.ends_with("\"${SLURM_ARRAY_TASK_ID:-0}\"\n"), "{script}");
    }
}
