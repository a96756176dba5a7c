//! The Slurm executor as the engine sees it, an [`Executor`]:
//! [`SlurmBackend::connect`] checks the cluster before anything is
//! submitted, `adopt` finds the task a killed run left for a key, and
//! `compute` writes the task file, hands the staged instance to the monitor
//! thread ([`crate::slurm::monitor`]) and blocks until its exit file (or
//! Slurm) says how it ended.
//!
//! The engine keeps doing everything else: keys, the cache lookup, the key's
//! lock, staging inputs, publishing, lineage. So keys, early cutoff, sweeps
//! and `--keep-going` behave exactly as in a local run.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};

use anyhow::{Context, Result};

use crate::pipeline::resources::Resources;
use crate::pipeline::slurm_settings::SlurmSettings;
use crate::run::executor::{Adopted, Executor, ExitRecord, Instance, Work};
use crate::run::local::Local;
use crate::run::task_file::{EXIT_FILE, ExitFile, TASK_FILE, TaskFile};
use crate::slurm::client::{Calls, call, installed};
use crate::slurm::scontrol::{parse_config_value, parse_partitions, sinfo_partitions_args};
use crate::slurm::squeue::{QueueEntry, parse_squeue, squeue_args};
use crate::store::cache::Cache;
use crate::store::state::StateDb;

/// Slurm's default `MaxArraySize`, used when `scontrol show config` does not say.
const DEFAULT_MAX_ARRAY_SIZE: usize = 1001;

/// One instance handed to the executor.
#[derive(Clone, Debug)]
pub struct Request {
    /// Its cache key.
    pub key: String,
    /// `stage[item]`.
    pub label: String,
    /// The stage's name: tasks of one stage with the same resources go
    /// together as one job array.
    pub stage: String,
    /// What each task asks Slurm for.
    pub resources: Resources,
    /// Its staging folder, holding `task.json`.
    pub staging: PathBuf,
    /// The job id and log of a task a killed run left (re-attaching);
    /// `None` to submit.
    pub adopted: Option<(String, PathBuf)>,
}

/// A request waiting for its end, as the monitor holds it.
pub(crate) struct Waiter {
    pub(crate) request: Request,
    pub(crate) reply: mpsc::Sender<Result<ExitFile, String>>,
}

/// What the monitor thread takes new work from.
#[derive(Default)]
pub(crate) struct Inbox {
    pub(crate) new: Vec<Waiter>,
    pub(crate) closed: bool,
}

/// A connection to a Slurm cluster for one run.
pub struct SlurmBackend {
    pub(crate) settings: SlurmSettings,
    pub(crate) calls: Calls,
    pub(crate) exe: PathBuf,
    pub(crate) jobs_dir: PathBuf,
    pub(crate) work_dir: PathBuf,
    pub(crate) run_tag: String,
    pub(crate) user: String,
    pub(crate) max_array_size: usize,
    pub(crate) db: Mutex<StateDb>,
    pub(crate) inbox: Mutex<Inbox>,
    pub(crate) wake: Condvar,
    /// This user's queue when the run started: what `adopt` looks in.
    queue_at_start: Vec<QueueEntry>,
    /// What computes the stages marked `local: true`.
    local: Local,
}

impl SlurmBackend {
    /// Checks that Slurm answers and the partition exists, then starts the
    /// monitor thread. Nothing is submitted yet.
    pub fn connect(settings: SlurmSettings, cache: &Cache, work_dir: &Path) -> Result<Arc<SlurmBackend>, String> {
        for program in ["sbatch", "squeue", "scontrol", "sinfo", "scancel"] {
            if !installed(program) {
                return Err(format!(
                    "--executor slurm: `{program}` is not on PATH; install Slurm's client commands (Debian: slurm-client) or run without --executor slurm"
                ));
            }
        }
        let calls = Calls::default();
        let partitions =
            call(&calls, "sinfo", &sinfo_partitions_args()).map_err(|e| format!("--executor slurm: the cluster does not answer: {e}"))?;
        let partitions = parse_partitions(&partitions);
        if let Some(p) = &settings.partition
            && !partitions.contains(p)
        {
            return Err(format!("executor.slurm.partition: the cluster has no partition {p:?} (it has: {})", partitions.join(", ")));
        }
        let config = call(&calls, "scontrol", &["show".into(), "config".into()]).unwrap_or_default();
        let max_array_size = parse_config_value(&config, "MaxArraySize").and_then(|v| v.parse().ok()).unwrap_or(DEFAULT_MAX_ARRAY_SIZE);
        let user = current_user();
        let queue = call(&calls, "squeue", &squeue_args(&user)).map_err(|e| format!("--executor slurm: {e}"))?;
        let fail = |e: anyhow::Error| format!("{e:#}");
        let db = StateDb::open(&cache.state_path()).map_err(fail)?;
        let jobs_dir = cache.root().join("slurm");
        std::fs::create_dir_all(&jobs_dir).with_context(|| format!("cannot create {}", jobs_dir.display())).map_err(fail)?;
        let exe = std::env::current_exe().context("cannot find the lungflow binary").map_err(fail)?;
        let backend = Arc::new(SlurmBackend {
            settings,
            calls,
            exe: exe.clone(),
            jobs_dir,
            work_dir: work_dir.to_path_buf(),
            run_tag: run_tag(),
            user,
            max_array_size: max_array_size.max(2),
            db: Mutex::new(db),
            inbox: Mutex::new(Inbox::default()),
            wake: Condvar::new(),
            queue_at_start: parse_squeue(&queue).0,
            local: Local::isolated(exe.clone()),
        });
        let monitor = Arc::clone(&backend);
        std::thread::Builder::new()
            .name("lungflow-slurm".into())
            .spawn(move || monitor.monitor())
            .map_err(|e| format!("cannot start the Slurm monitor: {e}"))?;
        Ok(backend)
    }

    /// Runs one staged instance on the cluster (or waits for the adopted
    /// task) and returns its exit file, or why it has none.
    pub fn run(&self, request: Request) -> Result<ExitFile, String> {
        let (reply, answer) = mpsc::channel();
        {
            let mut inbox = self.inbox.lock().expect("slurm inbox");
            if inbox.closed {
                return Err("the Slurm executor has stopped".into());
            }
            inbox.new.push(Waiter { request, reply });
        }
        self.wake.notify_all();
        answer.recv().unwrap_or_else(|_| Err("the Slurm monitor stopped".into()))
    }

    /// Stops the monitor once nothing is in flight.
    fn close(&self) {
        self.inbox.lock().expect("slurm inbox").closed = true;
        self.wake.notify_all();
    }

    /// How many calls of each Slurm command this run made.
    fn calls(&self) -> &Calls {
        &self.calls
    }
}

impl Executor for SlurmBackend {
    fn on_this_machine(&self) -> bool {
        false
    }

    fn for_local_stages(&self) -> &dyn Executor {
        &self.local
    }

    /// The task a killed run left computing `key`, when it may still
    /// deliver: its exit file is there, or its job is still queued or
    /// running. A task that can no longer deliver is forgotten.
    fn adopt(&self, key: &str) -> Result<Option<Adopted>> {
        let mut db = self.db.lock().expect("state store");
        let Some(row) = db.slurm_task(key)? else { return Ok(None) };
        let log = self.jobs_dir.join(&row.job_name).join(format!("{}.log", row.task));
        let in_queue = |e: &QueueEntry| match &row.job_id {
            Some(id) => &e.job_id == id,
            None => e.name == row.job_name && e.task.map_or(row.task == 0, |t| t as usize == row.task),
        };
        let found = self.queue_at_start.iter().find(|e| in_queue(e));
        let delivered = row.staging.join(EXIT_FILE).exists();
        let id = match (found, &row.job_id) {
            (Some(e), _) if e.state.is_active() || delivered => e.job_id.clone(),
            (None, Some(id)) if delivered => id.clone(),
            _ => {
                db.forget_slurm_task(key)?;
                return Ok(None);
            }
        };
        Ok(Some(Adopted { staging: row.staging, name: format!("Slurm job {id}"), id, log }))
    }

    /// Writes the task file of a fresh instance, then runs it as a task.
    fn compute(&self, instance: Instance<'_>) -> ExitRecord {
        let adopted = match instance.work {
            Work::Adopted(a) => Some((a.id, a.log)),
            Work::Fresh(call) => {
                let task = TaskFile::of(&call);
                if let Err(e) = task.write(instance.staging) {
                    return ExitRecord::not_run(format!("{e:#}"));
                }
                None
            }
        };
        let request = Request {
            key: instance.key.to_owned(),
            label: instance.label.to_owned(),
            stage: instance.stage.to_owned(),
            resources: instance.resources.clone(),
            staging: instance.staging.to_path_buf(),
            adopted,
        };
        match self.run(request) {
            Ok(exit) => ExitRecord::from(exit),
            Err(message) => ExitRecord::not_run(message),
        }
    }

    fn scratch_files(&self) -> &'static [&'static str] {
        &[TASK_FILE, EXIT_FILE]
    }

    /// Forgets the task of `key` once its result is published or failed.
    fn forget(&self, key: &str) {
        if let Err(e) = self.db.lock().expect("state store").forget_slurm_task(key) {
            eprintln!("warning: cannot update the state store: {e:#}");
        }
    }

    /// Stops the monitor and says how many calls of each Slurm command the run made.
    fn finish(&self) {
        self.close();
        eprintln!("slurm calls: {}", self.calls().summary());
    }
}

/// The user whose queue is listed.
fn current_user() -> String {
    if let Ok(u) = std::env::var("USER").or_else(|_| std::env::var("LOGNAME"))
        && !u.is_empty()
    {
        return u;
    }
    std::process::Command::new("id")
        .arg("-un")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "root".into())
}

/// A short tag naming this run in job names: from the process id and the
/// start time (job names are not outputs; they only need to differ between
/// runs).
fn run_tag() -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let seed = format!("{}-{}", std::process::id(), now.as_nanos());
    blake3::hash(seed.as_bytes()).to_hex()[..6].to_owned()
}
