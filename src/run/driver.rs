//! The driver: runs a pipeline's instances on a pool of worker threads,
//! as many at once as `--jobs` allows (a kind that wants every core runs
//! alone), records the result links and the last keys, and returns every
//! instance's outcome.
//!
//! `Mode::Inspect` stops at the cache lookup: it is what `status`, `explain`,
//! `gc` and `run --dry-run` see. `Mode::Execute` is `run`.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::pipeline::model::{Pipeline, Stage, instance_label};
use crate::run::executor::Executor;
use crate::run::in_process::panic_text;
use crate::run::instance::Shared;
use crate::run::options::{Mode, Options};
use crate::run::outcome::{Outcome, RunResult, Skip};
use crate::run::progress::Progress;
use crate::run::scheduler::{Job, Scheduler};
use crate::store::cache::Cache;
use crate::store::digest::Digester;
use crate::store::remote::session::RemoteSession;
use crate::store::state::StateDb;

/// Runs (or, in inspect mode, looks up) every instance of a pipeline,
/// computing missing ones through `executor`.
pub fn run_pipeline(p: &Pipeline, cache: &Cache, work_dir: &Path, opts: &Options, executor: &dyn Executor) -> Result<RunResult> {
    run_pipeline_with(p, cache, work_dir, opts, executor, None)
}

/// Passes a run with a remote may take: one that refused a damaged remote
/// entry and therefore failed an instance goes round again (that entry is
/// then computed here); each pass refuses at least one more entry.
const MAX_PASSES: usize = 4;

/// [`run_pipeline`] with a shared cache: a local miss is looked up on
/// `remote` before it is computed (see `run::remote`).
pub fn run_pipeline_with(
    p: &Pipeline,
    cache: &Cache,
    work_dir: &Path,
    opts: &Options,
    executor: &dyn Executor,
    remote: Option<&RemoteSession>,
) -> Result<RunResult> {
    let mut pass = 1;
    loop {
        let refused = remote.map_or(0, |r| r.refused_count());
        let result = one_pass(p, cache, work_dir, opts, executor, remote)?;
        let refused_more = remote.is_some_and(|r| r.refused_count() > refused);
        if !refused_more || pass == MAX_PASSES || result.instances.iter().all(|i| matches!(i.outcome, Outcome::Available(_))) {
            return Ok(result);
        }
        eprintln!("a damaged remote entry made instances fail: running again, computing it here");
        pass += 1;
    }
}

fn one_pass(
    p: &Pipeline,
    cache: &Cache,
    work_dir: &Path,
    opts: &Options,
    executor: &dyn Executor,
    remote: Option<&RemoteSession>,
) -> Result<RunResult> {
    let started = Instant::now();
    let mut db = StateDb::open(&cache.state_path())?;
    let digester = Digester::new(&cache.state_path());
    let progress = Progress::new(opts.progress && opts.mode == Mode::Execute);
    let jobs = opts.jobs.max(1);
    let mut sched = Scheduler::new(p);
    let (job_tx, job_rx) = mpsc::channel::<Job>();
    let job_rx = Arc::new(Mutex::new(job_rx));
    let (done_tx, done_rx) = mpsc::channel::<(usize, Outcome)>();
    let shared = Shared { cache, work_dir, digester: &digester, mode: opts.mode, pipeline: p, executor, remote };

    std::thread::scope(|scope| -> Result<()> {
        for _ in 0..jobs {
            let rx = Arc::clone(&job_rx);
            let tx = done_tx.clone();
            let shared = &shared;
            scope.spawn(move || work(shared, &rx, &tx));
        }
        drop(done_tx);
        let mut driver = Driver { p, cache, opts, executor, jobs, progress: &progress, db: &mut db, digester: &digester };
        let result = driver.drive(&mut sched, work_dir, &job_tx, &done_rx);
        drop(job_tx);
        result
    })?;
    db.save_stats(&digester.take_fresh())?;
    progress.finish();
    executor.finish();
    sched.skip_unfinished(Skip::Stopped);
    Ok(RunResult { unexpanded: sched.unexpanded(), instances: sched.results(), seconds: started.elapsed().as_secs_f64() })
}

/// A worker: takes jobs until the queue closes, sends back each outcome.
fn work(shared: &Shared<'_>, jobs: &Mutex<mpsc::Receiver<Job>>, done: &mpsc::Sender<(usize, Outcome)>) {
    loop {
        let job = match jobs.lock().expect("job queue").recv() {
            Ok(job) => job,
            Err(_) => break,
        };
        let node = job.node;
        let outcome = catch_unwind(AssertUnwindSafe(|| shared.run_job(job)))
            .unwrap_or_else(|panic| Outcome::Failed(format!("internal error: {}", panic_text(&panic))));
        if done.send((node, outcome)).is_err() {
            break;
        }
    }
}

/// The scheduling loop's state: what it hands out and what it records.
struct Driver<'a> {
    p: &'a Pipeline,
    cache: &'a Cache,
    opts: &'a Options,
    executor: &'a dyn Executor,
    jobs: usize,
    progress: &'a Progress,
    db: &'a mut StateDb,
    digester: &'a Digester,
}

impl Driver<'_> {
    /// Worker slots an instance of `stage` takes: one computed elsewhere
    /// takes one (the executor places it), a local kind that wants every
    /// core all.
    fn slots(&self, stage: usize) -> usize {
        let stage = &self.p.stages[stage];
        let all_cores = self.opts.mode == Mode::Execute && stage.kind.wants_all_cores() && !self.elsewhere(stage);
        if all_cores { self.jobs } else { 1 }
    }

    /// Whether instances of `stage` are computed on other machines.
    fn elsewhere(&self, stage: &Stage) -> bool {
        !self.executor.on_this_machine() && !stage.local
    }

    /// Hands out ready instances and records finished ones until nothing runs.
    fn drive(
        &mut self,
        sched: &mut Scheduler<'_>,
        work_dir: &Path,
        job_tx: &mpsc::Sender<Job>,
        done_rx: &mpsc::Receiver<(usize, Outcome)>,
    ) -> Result<()> {
        let (mut running, mut slots_used, mut stopping) = (0usize, 0usize, false);
        let mut last_runs = Vec::new();
        let mut last_flush = Instant::now();
        loop {
            for (stage, total) in sched.expand(work_dir) {
                self.progress.stage_expanded(&self.p.stages[stage].name, total);
            }
            while let Some(&node) = sched.ready.front().filter(|_| !stopping) {
                let need = self.slots(sched.nodes[node].stage);
                // Inspecting is cheap per instance: queue everything ready so
                // workers never wait on the scheduler.
                if self.opts.mode == Mode::Execute && slots_used + need > self.jobs {
                    break;
                }
                sched.ready.pop_front();
                let mut job = sched.job(node, need);
                let stage = &self.p.stages[job.stage];
                if self.elsewhere(stage) {
                    job.threads = stage.resources.cpus.map_or(1, |c| c as usize);
                }
                self.progress.started(&self.p.stages[job.stage].name, job.item.as_deref());
                job_tx.send(job).expect("workers alive");
                running += 1;
                slots_used += need;
            }
            if running == 0 {
                break;
            }
            let (node, outcome) = done_rx.recv().context("all workers stopped")?;
            running -= 1;
            slots_used -= self.slots(sched.nodes[node].stage);
            self.record(sched, node, &outcome, &mut last_runs);
            stopping |= matches!(outcome, Outcome::Failed(_)) && !self.opts.keep_going;
            sched.complete(node, outcome);
            if last_flush.elapsed() > Duration::from_secs(2) {
                self.flush(&mut last_runs)?;
                last_flush = Instant::now();
            }
        }
        self.flush(&mut last_runs)
    }

    /// Shows a finished instance and, when it is available, links it into
    /// the results folder and notes its key as the stage's last.
    fn record(&self, sched: &Scheduler<'_>, node: usize, outcome: &Outcome, last_runs: &mut Vec<(String, Option<String>, String)>) {
        let stage = &self.p.stages[sched.nodes[node].stage];
        let item = sched.nodes[node].item.clone();
        self.progress.finished(&stage.name, item.as_deref(), outcome);
        if let Outcome::Available(prod) = outcome
            && self.opts.mode == Mode::Execute
        {
            if prod.remote_only {
                // Its bytes stay on the remote until something needs them.
                self.cache.unlink_result(&self.p.name(), &stage.name, item.as_deref());
            } else if let Err(e) = self.cache.link_result(&self.p.name(), &stage.name, item.as_deref(), &prod.key) {
                // The entry is complete; only the convenience link is missing.
                eprintln!("warning: no result link for {}: {e:#}", instance_label(&stage.name, item.as_deref()));
            }
            last_runs.push((stage.name.clone(), item, prod.key.clone()));
        }
    }

    /// Writes the last keys and the fresh stat-cache entries to the state database.
    fn flush(&mut self, last_runs: &mut Vec<(String, Option<String>, String)>) -> Result<()> {
        self.db.set_last_keys(&self.p.id, &std::mem::take(last_runs))?;
        self.db.save_stats(&self.digester.take_fresh())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    use lungflow_stages::{ParamSpec, RunContext, StageError, StageKind};

    static RUNNING: AtomicUsize = AtomicUsize::new(0);
    static MAX_RUNNING: AtomicUsize = AtomicUsize::new(0);
    static EXCLUSIVE_RUNNING: AtomicBool = AtomicBool::new(false);
    static SHARED_WITH_EXCLUSIVE: AtomicBool = AtomicBool::new(false);

    /// A kind that records how many instances run at once.
    struct Probe {
        exclusive: bool,
    }

    impl StageKind for Probe {
        fn name(&self) -> &'static str {
            if self.exclusive { "probe_all_cores" } else { "probe" }
        }
        fn version(&self) -> u32 {
            1
        }
        fn doc(&self) -> &'static str {
            "test probe"
        }
        fn params(&self) -> Vec<ParamSpec> {
            Vec::new()
        }
        fn wants_all_cores(&self) -> bool {
            self.exclusive
        }
        fn run(&self, ctx: &RunContext<'_>) -> Result<(), StageError> {
            let now = RUNNING.fetch_add(1, Ordering::SeqCst) + 1;
            MAX_RUNNING.fetch_max(now, Ordering::SeqCst);
            if self.exclusive {
                EXCLUSIVE_RUNNING.store(true, Ordering::SeqCst);
                if now > 1 || ctx.threads != 2 {
                    SHARED_WITH_EXCLUSIVE.store(true, Ordering::SeqCst);
                }
            } else if EXCLUSIVE_RUNNING.load(Ordering::SeqCst) {
                SHARED_WITH_EXCLUSIVE.store(true, Ordering::SeqCst);
            }
            std::thread::sleep(Duration::from_millis(60));
            EXCLUSIVE_RUNNING.store(false, Ordering::SeqCst);
            RUNNING.fetch_sub(1, Ordering::SeqCst);
            std::fs::write(ctx.out_dir.join("done"), ctx.item.unwrap_or("once")).map_err(StageError::msg)
        }
    }

    static NORMAL: Probe = Probe { exclusive: false };
    static ALL_CORES: Probe = Probe { exclusive: true };

    #[test]
    fn a_kind_that_wants_all_cores_runs_alone_with_every_thread() {
        let _alone = crate::run::usage::alone();
        let yaml = "items:\n  p:\n    list: [a, b, c, d, e, f]\nstages:\n  before:\n    kind: command\n    foreach: p\n    params: {cmd: x}\n  train:\n    kind: command\n    params: {cmd: x}\n  after:\n    kind: command\n    foreach: p\n    params: {cmd: other}\n";
        let (item_sets, mut stages, order) = crate::pipeline::load::parse(yaml, "t.yaml", &[]).unwrap();
        for s in &mut stages {
            s.kind = if s.name == "train" { &ALL_CORES } else { &NORMAL };
        }
        let p = Pipeline {
            file: "t.yaml".into(),
            id: "t".into(),
            item_sets,
            stages,
            order,
            variants: Vec::new(),
            slurm: Default::default(),
            cache: Default::default(),
        };
        let dir = lungflow_testkit::tempdir().unwrap();
        let cache = Cache::open(&dir.path().join("cache")).unwrap();
        let opts = Options { jobs: 2, keep_going: false, mode: Mode::Execute, progress: false };
        let eval = run_pipeline(&p, &cache, dir.path(), &opts, &crate::run::local::Local::IN_PROCESS).unwrap();
        let executed = eval.instances.iter().filter(|i| matches!(&i.outcome, Outcome::Available(p) if p.executed.is_some())).count();
        assert_eq!(executed, 13);
        assert_eq!(MAX_RUNNING.load(Ordering::SeqCst), 2, "ordinary instances run two at a time");
        assert!(!SHARED_WITH_EXCLUSIVE.load(Ordering::SeqCst), "the all-cores instance ran alone, with 2 threads");
    }
}
