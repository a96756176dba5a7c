//! The scheduler: expands stages into instances (one per item), resolves each
//! instance's inputs to digests and its key, and then either looks it up in
//! the cache or computes it, running independent instances in parallel.
//!
//! `Mode::Inspect` stops at the lookup: it is what `status`, `explain`, `gc`
//! and `run --dry-run` see. `Mode::Execute` is `run`.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use lungflow_stages::{Input, Producer, RunContext};

use crate::cache::{Cache, host_name, now_rfc3339};
use crate::digest::{Digester, hash_tree};
use crate::keys::{key_of, parts_digest, tree_digest};
use crate::manifest::{FileRecord, GatheredItem, InputRecord, KeyMaterial, Manifest};
use crate::progress::Progress;
use crate::spec::{InputRef, ItemSource, Pipeline, is_item_id};
use crate::state::StateDb;

/// Whether instances that are not cached get computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Compute what is missing.
    Execute,
    /// Only look: resolve keys and consult the cache.
    Inspect,
}

/// How a run is carried out.
#[derive(Clone, Debug)]
pub struct Options {
    /// Instances computed at once.
    pub jobs: usize,
    /// Go on with independent branches after a failure.
    pub keep_going: bool,
    /// Execute or inspect.
    pub mode: Mode,
    /// Show progress (bars on a terminal, log lines otherwise).
    pub progress: bool,
}

/// An instance whose outputs exist in the cache.
#[derive(Debug)]
pub struct Produced {
    /// Its key.
    pub key: String,
    /// Its outputs folder.
    pub out_dir: PathBuf,
    /// Its output files.
    pub outputs: Vec<FileRecord>,
    /// Digest over the outputs.
    pub output_digest: String,
    /// Whether this run computed it (with the seconds it took).
    pub executed: Option<f64>,
}

/// One input of an instance that has not been computed yet.
#[derive(Clone, Debug)]
pub enum PartialInput {
    /// Its digest is known.
    Known(InputRecord),
    /// It comes from an instance that must run first.
    Pending {
        /// Producing stage.
        stage: String,
        /// Its item.
        item: Option<String>,
    },
}

/// What is known of an instance that would have to run.
#[derive(Clone, Debug)]
pub struct Pending {
    /// Its key, when every input is known.
    pub key: Option<String>,
    /// Kind, parameters and inputs as far as known.
    pub kind: String,
    /// Kind version.
    pub kind_version: u32,
    /// Resolved parameters.
    pub params: BTreeMap<String, serde_json::Value>,
    /// Inputs as far as known.
    pub inputs: BTreeMap<String, PartialInput>,
}

/// How one instance ended.
#[derive(Clone, Debug)]
pub enum Outcome {
    /// Its outputs are in the cache.
    Available(Arc<Produced>),
    /// (Inspect mode) it would have to run.
    Pending(Box<Pending>),
    /// It ran and failed, or its inputs could not be read.
    Failed(String),
    /// It did not run because something upstream failed.
    Skipped(String),
}

/// One instance and its outcome.
#[derive(Clone, Debug)]
pub struct InstanceResult {
    /// Stage index.
    pub stage: usize,
    /// Item id for per-item stages.
    pub item: Option<String>,
    /// How it ended.
    pub outcome: Outcome,
}

/// The result of evaluating a pipeline.
pub struct Evaluation {
    /// Every instance, in the order they were created (stage order, then items).
    pub instances: Vec<InstanceResult>,
    /// Stages that could not be expanded into instances, with the reason.
    pub unexpanded: Vec<(usize, String)>,
    /// Wall time in seconds.
    pub seconds: f64,
}

/// Evaluates a pipeline against a cache.
pub fn evaluate(p: &Pipeline, cache: &Cache, work_dir: &Path, opts: &Options) -> Result<Evaluation> {
    let started = Instant::now();
    let mut db = StateDb::open(&cache.state_path())?;
    let digester = Digester::new(db.load_stats()?);
    let progress = Progress::new(opts.progress && opts.mode == Mode::Execute);
    let jobs = opts.jobs.max(1);
    let mut sched = Scheduler::new(p);
    let (job_tx, job_rx) = mpsc::channel::<Job>();
    let job_rx = Arc::new(Mutex::new(job_rx));
    let (done_tx, done_rx) = mpsc::channel::<(usize, Outcome)>();
    let shared = Shared { cache, work_dir, digester: &digester, mode: opts.mode, pipeline: p };

    std::thread::scope(|scope| -> Result<()> {
        for _ in 0..jobs {
            let rx = Arc::clone(&job_rx);
            let tx = done_tx.clone();
            let shared = &shared;
            scope.spawn(move || {
                loop {
                    let job = match rx.lock().expect("job queue").recv() {
                        Ok(job) => job,
                        Err(_) => break,
                    };
                    let node = job.node;
                    let outcome = catch_unwind(AssertUnwindSafe(|| shared.run_job(job)))
                        .unwrap_or_else(|panic| Outcome::Failed(format!("internal error: {}", panic_text(&panic))));
                    if tx.send((node, outcome)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(done_tx);

        let mut running = 0usize;
        let mut slots_used = 0usize;
        let mut stopping = false;
        let mut last_runs = Vec::new();
        let mut last_flush = Instant::now();
        loop {
            for (stage, total) in sched.expand(work_dir) {
                progress.stage_expanded(&p.stages[stage].name, total);
            }
            while let Some(&node) = sched.ready.front().filter(|_| !stopping) {
                let all_cores = opts.mode == Mode::Execute && p.stages[sched.nodes[node].stage].kind.wants_all_cores();
                let need = if all_cores { jobs } else { 1 };
                // Inspecting is cheap per instance: queue everything ready so
                // workers never wait on the scheduler.
                if opts.mode == Mode::Execute && slots_used + need > jobs {
                    break;
                }
                sched.ready.pop_front();
                let job = sched.job(node, need);
                progress.started(&p.stages[job.stage].name, job.item.as_deref());
                job_tx.send(job).expect("workers alive");
                running += 1;
                slots_used += need;
            }
            if running == 0 {
                break;
            }
            let (node, outcome) = done_rx.recv().context("all workers stopped")?;
            running -= 1;
            let stage = sched.nodes[node].stage;
            let all_cores = opts.mode == Mode::Execute && p.stages[stage].kind.wants_all_cores();
            slots_used -= if all_cores { jobs } else { 1 };
            let item = sched.nodes[node].item.clone();
            progress.finished(&p.stages[stage].name, item.as_deref(), &outcome);
            if let Outcome::Available(prod) = &outcome
                && opts.mode == Mode::Execute
            {
                last_runs.push((p.stages[stage].name.clone(), item.clone(), prod.key.clone()));
                let _ = cache.link_result(&pipeline_name(p), &p.stages[stage].name, item.as_deref(), &prod.key);
            }
            if matches!(outcome, Outcome::Failed(_)) && !opts.keep_going {
                stopping = true;
            }
            sched.complete(node, outcome);
            if last_flush.elapsed() > Duration::from_secs(2) {
                db.set_last_keys(&p.id, &std::mem::take(&mut last_runs))?;
                db.save_stats(&digester.take_fresh())?;
                last_flush = Instant::now();
            }
        }
        drop(job_tx);
        db.set_last_keys(&p.id, &last_runs)?;
        Ok(())
    })?;
    db.save_stats(&digester.take_fresh())?;
    progress.finish();
    let computed: Vec<String> = sched
        .nodes
        .iter()
        .filter_map(|n| match &n.outcome {
            Some(Outcome::Available(p)) if p.executed.is_some() => Some(p.key.clone()),
            _ => None,
        })
        .collect();
    if !computed.is_empty()
        && let Err(e) = crate::lineage_table::record_run(cache, &computed)
    {
        eprintln!("warning: cannot update the lineage table in {}: {e:#}", cache.root().join(crate::lineage_table::LINEAGE_DIR).display());
    }
    sched.skip_unfinished("not started: the run stopped after a failure (use --keep-going to continue other branches)");
    Ok(Evaluation { unexpanded: sched.unexpanded(), instances: sched.results(), seconds: started.elapsed().as_secs_f64() })
}

/// How an instance is named in messages: `stage` or `stage[item]`.
pub fn instance_label(stage: &str, item: Option<&str>) -> String {
    match item {
        Some(it) => format!("{stage}[{it}]"),
        None => stage.to_owned(),
    }
}

/// The pipeline's short name (file stem), used for result links.
pub fn pipeline_name(p: &Pipeline) -> String {
    p.file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "pipeline".into())
}

fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "panic".into())
}

/// An instance in the scheduler.
struct Node {
    stage: usize,
    item: Option<String>,
    deps: Vec<usize>,
    dependents: Vec<usize>,
    waiting: usize,
    outcome: Option<Outcome>,
}

/// Where one input of a job comes from, resolved to instances.
enum JobInput {
    External(PathBuf),
    Stage { stage: String, item: Option<String>, subpath: Option<String>, produced: Option<Arc<Produced>> },
    Gather { stage: String, subpath: Option<String>, parts: Vec<(String, Option<Arc<Produced>>)> },
}

/// Work for one instance, handed to a worker.
struct Job {
    node: usize,
    stage: usize,
    item: Option<String>,
    inputs: BTreeMap<String, JobInput>,
    threads: usize,
}

struct Scheduler<'p> {
    p: &'p Pipeline,
    nodes: Vec<Node>,
    by_stage: Vec<Option<Vec<usize>>>,
    unexpanded_reason: Vec<Option<String>>,
    item_cache: HashMap<String, Result<Vec<String>, String>>,
    ready: VecDeque<usize>,
}

impl<'p> Scheduler<'p> {
    fn new(p: &'p Pipeline) -> Self {
        let n = p.stages.len();
        Scheduler {
            p,
            nodes: Vec::new(),
            by_stage: vec![None; n],
            unexpanded_reason: vec![None; n],
            item_cache: HashMap::new(),
            ready: VecDeque::new(),
        }
    }

    /// Expands every stage that can be expanded now; returns (stage, instances).
    fn expand(&mut self, work_dir: &Path) -> Vec<(usize, usize)> {
        let mut expanded = Vec::new();
        let mut progress = true;
        while progress {
            progress = false;
            for &s in &self.p.order {
                if self.by_stage[s].is_some() || self.unexpanded_reason[s].is_some() {
                    continue;
                }
                let stage = &self.p.stages[s];
                let producers_blocked = stage.inputs.values().find_map(|r| match r {
                    InputRef::Stage { stage: q, .. } if self.by_stage[*q].is_none() => Some(*q),
                    _ => None,
                });
                if let Some(q) = producers_blocked {
                    if let Some(reason) = &self.unexpanded_reason[q] {
                        self.unexpanded_reason[s] = Some(reason.clone());
                        progress = true;
                    }
                    continue;
                }
                let items = match &stage.foreach {
                    None => vec![None],
                    Some(set) => match self.items_of(set, work_dir) {
                        ItemsState::Known(ids) => ids.into_iter().map(Some).collect(),
                        ItemsState::Wait => continue,
                        ItemsState::Unavailable(reason) => {
                            self.unexpanded_reason[s] = Some(reason);
                            progress = true;
                            continue;
                        }
                    },
                };
                let ids: Vec<usize> = items.into_iter().map(|item| self.add_node(s, item)).collect();
                expanded.push((s, ids.len()));
                self.by_stage[s] = Some(ids);
                progress = true;
            }
        }
        expanded
    }

    fn items_of(&mut self, set: &str, work_dir: &Path) -> ItemsState {
        if let Some(known) = self.item_cache.get(set) {
            return match known {
                Ok(ids) => ItemsState::Known(ids.clone()),
                Err(e) => ItemsState::Unavailable(e.clone()),
            };
        }
        let listed = match &self.p.item_sets[set] {
            ItemSource::List(ids) => Ok(ids.clone()),
            ItemSource::Dir(dir) => list_item_dirs(&work_dir.join(dir)),
            ItemSource::StageDir { stage, subpath } => {
                let Some(nodes) = &self.by_stage[*stage] else {
                    return match &self.unexpanded_reason[*stage] {
                        Some(r) => ItemsState::Unavailable(r.clone()),
                        None => ItemsState::Wait,
                    };
                };
                let producer = &self.p.stages[*stage].name;
                match &self.nodes[nodes[0]].outcome {
                    None => return ItemsState::Wait,
                    Some(Outcome::Available(prod)) => {
                        let dir = subpath.as_ref().map(|s| prod.out_dir.join(s)).unwrap_or_else(|| prod.out_dir.clone());
                        list_item_dirs(&dir)
                    }
                    Some(Outcome::Pending(_)) => Err(format!("its items are listed from {producer:?}, which must run first")),
                    Some(_) => Err(format!("its items are listed from {producer:?}, which did not complete")),
                }
            }
        };
        let listed = listed.map_err(|e| format!("item set {set:?}: {e}"));
        self.item_cache.insert(set.to_owned(), listed);
        self.items_of(set, work_dir)
    }

    fn add_node(&mut self, s: usize, item: Option<String>) -> usize {
        let id = self.nodes.len();
        let stage = &self.p.stages[s];
        let mut deps = Vec::new();
        for r in stage.inputs.values() {
            if let InputRef::Stage { stage: q, .. } = r {
                let producers = self.by_stage[*q].as_ref().expect("producer expanded");
                match (&self.p.stages[*q].foreach, &item) {
                    (Some(_), Some(it)) => {
                        if let Some(&n) = producers.iter().find(|&&n| self.nodes[n].item.as_deref() == Some(it)) {
                            deps.push(n);
                        }
                    }
                    _ => deps.extend(producers.iter().copied()),
                }
            }
        }
        deps.sort_unstable();
        deps.dedup();
        self.nodes.push(Node { stage: s, item, deps: deps.clone(), dependents: Vec::new(), waiting: 0, outcome: None });
        let mut waiting = 0;
        let mut blocked = None;
        for &d in &deps {
            match &self.nodes[d].outcome {
                None => {
                    waiting += 1;
                    self.nodes[d].dependents.push(id);
                }
                Some(Outcome::Failed(_) | Outcome::Skipped(_)) => blocked = Some(d),
                Some(_) => {}
            }
        }
        self.nodes[id].waiting = waiting;
        if let Some(d) = blocked {
            let why = format!("upstream {} did not complete", self.label(d));
            self.complete(id, Outcome::Skipped(why));
        } else if waiting == 0 {
            self.ready.push_back(id);
        }
        id
    }

    fn label(&self, n: usize) -> String {
        let node = &self.nodes[n];
        instance_label(&self.p.stages[node.stage].name, node.item.as_deref())
    }

    fn complete(&mut self, n: usize, outcome: Outcome) {
        let failed = matches!(outcome, Outcome::Failed(_) | Outcome::Skipped(_));
        self.nodes[n].outcome = Some(outcome);
        let dependents = std::mem::take(&mut self.nodes[n].dependents);
        for d in dependents {
            if self.nodes[d].outcome.is_some() {
                continue;
            }
            if failed {
                let why = format!("upstream {} did not complete", self.label(n));
                self.complete(d, Outcome::Skipped(why));
            } else {
                self.nodes[d].waiting -= 1;
                if self.nodes[d].waiting == 0 {
                    self.ready.push_back(d);
                }
            }
        }
    }

    fn job(&self, n: usize, threads: usize) -> Job {
        let node = &self.nodes[n];
        let stage = &self.p.stages[node.stage];
        let produced = |d: usize| match &self.nodes[d].outcome {
            Some(Outcome::Available(p)) => Some(Arc::clone(p)),
            _ => None,
        };
        let mut inputs = BTreeMap::new();
        for (name, r) in &stage.inputs {
            let input = match r {
                InputRef::External(t) => {
                    JobInput::External(PathBuf::from(t.replace("{item}", node.item.as_deref().unwrap_or(""))))
                }
                InputRef::Stage { stage: q, subpath } => {
                    let qname = self.p.stages[*q].name.clone();
                    let subpath = subpath.as_ref().map(|s| s.replace("{item}", node.item.as_deref().unwrap_or("")));
                    let producers: Vec<usize> =
                        node.deps.iter().copied().filter(|&d| self.nodes[d].stage == *q).collect();
                    if self.p.stages[*q].foreach.is_some() && node.item.is_none() {
                        let parts = producers
                            .iter()
                            .map(|&d| (self.nodes[d].item.clone().unwrap_or_default(), produced(d)))
                            .collect();
                        JobInput::Gather { stage: qname, subpath, parts }
                    } else {
                        let d = producers.first().copied();
                        JobInput::Stage {
                            stage: qname,
                            item: d.and_then(|d| self.nodes[d].item.clone()),
                            subpath,
                            produced: d.and_then(produced),
                        }
                    }
                }
            };
            inputs.insert(name.clone(), input);
        }
        Job { node: n, stage: node.stage, item: node.item.clone(), inputs, threads }
    }

    fn skip_unfinished(&mut self, why: &str) {
        for node in &mut self.nodes {
            if node.outcome.is_none() {
                node.outcome = Some(Outcome::Skipped(why.to_owned()));
            }
        }
    }

    fn unexpanded(&self) -> Vec<(usize, String)> {
        (0..self.p.stages.len())
            .filter(|&s| self.by_stage[s].is_none())
            .map(|s| {
                let why = self.unexpanded_reason[s].clone().unwrap_or_else(|| "upstream did not complete".into());
                (s, why)
            })
            .collect()
    }

    fn results(self) -> Vec<InstanceResult> {
        self.nodes
            .into_iter()
            .map(|n| InstanceResult { stage: n.stage, item: n.item, outcome: n.outcome.expect("every node finished") })
            .collect()
    }
}

enum ItemsState {
    Known(Vec<String>),
    Wait,
    Unavailable(String),
}

/// The sorted names of the subdirectories of `dir` (hidden ones skipped).
fn list_item_dirs(dir: &Path) -> Result<Vec<String>, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
    let mut ids = Vec::new();
    for e in entries {
        let e = e.map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || !e.path().is_dir() {
            continue;
        }
        if !is_item_id(&name) {
            return Err(format!("{}: {name:?} is not a usable item id", dir.display()));
        }
        ids.push(name);
    }
    ids.sort();
    Ok(ids)
}

/// What workers share.
struct Shared<'a> {
    cache: &'a Cache,
    work_dir: &'a Path,
    digester: &'a Digester,
    mode: Mode,
    pipeline: &'a Pipeline,
}

impl Shared<'_> {
    fn run_job(&self, job: Job) -> Outcome {
        let stage = &self.pipeline.stages[job.stage];
        let mut inputs = BTreeMap::new();
        for (name, input) in &job.inputs {
            match self.resolve_input(input) {
                Ok(r) => {
                    inputs.insert(name.clone(), r);
                }
                Err(e) => return Outcome::Failed(format!("input {name:?}: {e:#}")),
            }
        }
        let known: Option<BTreeMap<String, InputRecord>> = inputs
            .iter()
            .map(|(n, r)| match r {
                PartialInput::Known(rec) => Some((n.clone(), rec.clone())),
                PartialInput::Pending { .. } => None,
            })
            .collect();
        let pending = |key: Option<String>| {
            Outcome::Pending(Box::new(Pending {
                key,
                kind: stage.kind.name().to_owned(),
                kind_version: stage.kind.version(),
                params: stage.params.clone(),
                inputs: inputs.clone(),
            }))
        };
        let Some(known) = known else { return pending(None) };
        let material = KeyMaterial {
            kind: stage.kind.name().to_owned(),
            kind_version: stage.kind.version(),
            params: stage.params.clone(),
            item: job.item.clone(),
            inputs: known,
        };
        let key = key_of(&material);
        match self.lookup(&key) {
            Ok(Some(p)) => return Outcome::Available(p),
            Ok(None) => {}
            Err(e) => return Outcome::Failed(format!("{e:#}")),
        }
        if self.mode == Mode::Inspect {
            return pending(Some(key));
        }
        match self.compute(&job, material, &key) {
            Ok(p) => Outcome::Available(p),
            Err(e) => Outcome::Failed(format!("{e:#}")),
        }
    }

    fn lookup(&self, key: &str) -> Result<Option<Arc<Produced>>> {
        Ok(self.cache.outputs(key)?.map(|m| {
            Arc::new(Produced {
                key: key.to_owned(),
                out_dir: self.cache.out_dir(key),
                outputs: m.outputs,
                output_digest: m.output_digest,
                executed: None,
            })
        }))
    }

    fn resolve_input(&self, input: &JobInput) -> Result<PartialInput> {
        Ok(match input {
            JobInput::External(rel) => {
                let path = self.work_dir.join(rel);
                let (digest, files) = self.digester.path(&path)?;
                PartialInput::Known(InputRecord::External { path: path.display().to_string(), digest, files })
            }
            JobInput::Stage { stage, item, subpath, produced } => match produced {
                None => PartialInput::Pending { stage: stage.clone(), item: item.clone() },
                Some(p) => PartialInput::Known(InputRecord::Stage {
                    stage: stage.clone(),
                    item: item.clone(),
                    key: p.key.clone(),
                    subpath: subpath.clone(),
                    digest: part_digest(p, subpath.as_deref(), stage)?,
                }),
            },
            JobInput::Gather { stage, subpath, parts } => {
                let mut items = Vec::with_capacity(parts.len());
                for (item, produced) in parts {
                    let Some(p) = produced else {
                        return Ok(PartialInput::Pending { stage: stage.clone(), item: Some(item.clone()) });
                    };
                    let digest = part_digest(p, subpath.as_deref(), stage)?;
                    items.push(GatheredItem { item: item.clone(), key: p.key.clone(), digest });
                }
                let digest = parts_digest(items.iter().map(|g| (g.item.as_str(), g.digest.as_str())));
                PartialInput::Known(InputRecord::Gather { stage: stage.clone(), subpath: subpath.clone(), digest, items })
            }
        })
    }

    fn compute(&self, job: &Job, material: KeyMaterial, key: &str) -> Result<Arc<Produced>> {
        let stage = &self.pipeline.stages[job.stage];
        let _lock = self.cache.lock(key)?;
        if let Some(p) = self.lookup(key)? {
            return Ok(p); // another run computed it while we waited
        }
        let staging = self.cache.staging(key)?;
        let mut inputs = BTreeMap::new();
        for (name, input) in &job.inputs {
            let (path, producers) = match input {
                JobInput::External(rel) => (self.work_dir.join(rel), Vec::new()),
                JobInput::Stage { produced, subpath, item, .. } => {
                    let p = produced.as_ref().expect("inputs are available when executing");
                    (join_sub(&p.out_dir, subpath.as_deref()), vec![Producer { item: item.clone(), key: p.key.clone() }])
                }
                JobInput::Gather { subpath, parts, .. } => {
                    let dir = staging.join("inputs").join(name);
                    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
                    let mut producers = Vec::with_capacity(parts.len());
                    for (item, produced) in parts {
                        let p = produced.as_ref().expect("inputs are available when executing");
                        std::os::unix::fs::symlink(join_sub(&p.out_dir, subpath.as_deref()), dir.join(item))
                            .with_context(|| format!("cannot link {item} into {}", dir.display()))?;
                        producers.push(Producer { item: Some(item.clone()), key: p.key.clone() });
                    }
                    (dir, producers)
                }
            };
            inputs.insert(name.clone(), Input { path, producers });
        }
        let out_dir = staging.join("out");
        let log_path = staging.join("log.txt");
        let started_at = now_rfc3339();
        let clock = Instant::now();
        let ctx = RunContext {
            params: &stage.params,
            inputs: &inputs,
            item: job.item.as_deref(),
            out_dir: &out_dir,
            log_path: &log_path,
            work_dir: self.work_dir,
            threads: job.threads,
        };
        let result = catch_unwind(AssertUnwindSafe(|| stage.kind.run(&ctx)));
        let seconds = clock.elapsed().as_secs_f64();
        let failure = match result {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e.0),
            Err(panic) => Some(format!("stage kind {} panicked: {}", stage.kind.name(), panic_text(&panic))),
        };
        if let Some(message) = failure {
            let kept = self.cache.keep_failed(key, &staging, &message);
            anyhow::bail!("{message}{kept}");
        }
        let outputs = hash_tree(&out_dir)?;
        let output_digest = tree_digest(&outputs);
        let manifest = Manifest {
            key: key.to_owned(),
            stage: stage.name.clone(),
            pipeline: self.pipeline.id.clone(),
            material,
            outputs: outputs.clone(),
            output_digest: output_digest.clone(),
            started: started_at,
            finished: now_rfc3339(),
            seconds,
            tool_version: env!("CARGO_PKG_VERSION").to_owned(),
            host: host_name(),
        };
        std::fs::remove_dir_all(staging.join("inputs")).ok();
        self.cache.publish(&staging, &manifest)?;
        Ok(Arc::new(Produced {
            key: key.to_owned(),
            out_dir: self.cache.out_dir(key),
            outputs,
            output_digest,
            executed: Some(seconds),
        }))
    }
}

fn join_sub(dir: &Path, sub: Option<&str>) -> PathBuf {
    sub.map(|s| dir.join(s)).unwrap_or_else(|| dir.to_path_buf())
}

/// Digest of the whole output of `p`, or of the file or folder `sub` in it.
fn part_digest(p: &Produced, sub: Option<&str>, stage: &str) -> Result<String> {
    let Some(sub) = sub else { return Ok(p.output_digest.clone()) };
    if let Some(f) = p.outputs.iter().find(|f| f.path == sub) {
        return Ok(f.blake3.clone());
    }
    let prefix = format!("{sub}/");
    let inner: Vec<FileRecord> = p
        .outputs
        .iter()
        .filter_map(|f| f.path.strip_prefix(&prefix).map(|rest| FileRecord { path: rest.to_owned(), ..f.clone() }))
        .collect();
    if inner.is_empty() {
        anyhow::bail!("stage {stage:?} has no output {sub:?}");
    }
    Ok(tree_digest(&inner))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    use lungflow_stages::{ParamSpec, StageError, StageKind};

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
        let yaml = "items:\n  p:\n    list: [a, b, c, d, e, f]\nstages:\n  before:\n    kind: command\n    foreach: p\n    params: {cmd: x}\n  train:\n    kind: command\n    params: {cmd: x}\n  after:\n    kind: command\n    foreach: p\n    params: {cmd: other}\n";
        let (item_sets, mut stages, order) = crate::spec::parse(yaml, "t.yaml", &[]).unwrap();
        for s in &mut stages {
            s.kind = if s.name == "train" { &ALL_CORES } else { &NORMAL };
        }
        let p = Pipeline { file: "t.yaml".into(), id: "t".into(), item_sets, stages, order, variants: Vec::new() };
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(&dir.path().join("cache")).unwrap();
        let opts = Options { jobs: 2, keep_going: false, mode: Mode::Execute, progress: false };
        let eval = evaluate(&p, &cache, dir.path(), &opts).unwrap();
        let executed = eval.instances.iter().filter(|i| matches!(&i.outcome, Outcome::Available(p) if p.executed.is_some())).count();
        assert_eq!(executed, 13);
        assert_eq!(MAX_RUNNING.load(Ordering::SeqCst), 2, "ordinary instances run two at a time");
        assert!(!SHARED_WITH_EXCLUSIVE.load(Ordering::SeqCst), "the all-cores instance ran alone, with 2 threads");
    }
}
