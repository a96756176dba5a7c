//! One instance, from its job to its outcome: resolve its inputs to
//! digests, compute its key, look it up, and on a miss stage its inputs,
//! hand it to the run's [`Executor`] and publish what it wrote.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use lungflow_stages::{Input, Producer};

use crate::pipeline::model::{Pipeline, instance_label};
use crate::run::executor::{Executor, ExitRecord, Instance, Work};
use crate::run::in_process::KindCall;
use crate::run::options::Mode;
use crate::run::outcome::{Outcome, PartialInput, Pending, Produced};
use crate::run::scheduler::{Job, JobInput};
use crate::store::cache::{Cache, EntryOutputs, host_name, now_rfc3339};
use crate::store::digest::{Digester, hash_tree};
use crate::store::integrity::EntryState;
use crate::store::keys::{key_of, parts_digest, tree_digest};
use crate::store::manifest::{FileRecord, GatheredItem, InputRecord, KeyMaterial, Manifest};
use crate::store::remote::session::RemoteSession;

/// What workers share.
pub(crate) struct Shared<'a> {
    pub(crate) cache: &'a Cache,
    pub(crate) work_dir: &'a Path,
    pub(crate) digester: &'a Digester,
    pub(crate) mode: Mode,
    pub(crate) pipeline: &'a Pipeline,
    /// Where missing instances are computed (stages marked `local: true`
    /// always compute here).
    pub(crate) executor: &'a dyn Executor,
    /// The shared cache, when the run has one.
    pub(crate) remote: Option<&'a RemoteSession>,
}

impl Shared<'_> {
    /// Resolves the job's inputs and key, then looks it up or computes it.
    pub(crate) fn run_job(&self, job: Job) -> Outcome {
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
        let pending = |key: Option<String>, inputs: BTreeMap<String, PartialInput>| {
            Outcome::Pending(Box::new(Pending {
                key,
                kind: stage.kind.name().to_owned(),
                kind_version: stage.kind.version(),
                params: stage.params.clone(),
                inputs,
            }))
        };
        let known = match all_known(inputs) {
            Ok(known) => known,
            Err(inputs) => return pending(None, inputs),
        };
        let material = KeyMaterial {
            kind: stage.kind.name().to_owned(),
            kind_version: stage.kind.version(),
            params: stage.params.clone(),
            item: job.item.clone(),
            inputs: known,
        };
        let key = key_of(&material);
        let label = instance_label(&stage.name, job.item.as_deref());
        match self.lookup(&key).and_then(|found| self.settle(found, job.stage, &label)) {
            Ok(Some(p)) => return Outcome::Available(p),
            Ok(None) => {}
            Err(e) => return Outcome::Failed(format!("{e:#}")),
        }
        if self.mode == Mode::Inspect {
            return pending(Some(key), material.inputs.into_iter().map(|(n, r)| (n, PartialInput::Known(r))).collect());
        }
        match self.compute(&job, material, &key).and_then(|p| self.share(p, &label)) {
            Ok(p) => Outcome::Available(p),
            Err(e) => Outcome::Failed(format!("{e:#}")),
        }
    }

    /// The entry of `key` if it exists and passes the lookup check. In
    /// execute mode a damaged entry is reported and recomputed by
    /// [`Shared::compute`]; inspecting reports it as damaged, with the
    /// outputs its manifest lists when it still has one.
    fn lookup(&self, key: &str) -> Result<Option<Arc<Produced>>> {
        Ok(match self.cache.check_entry(key)? {
            EntryState::Intact(m) => Some(self.produced(key, m, None)?),
            EntryState::Damaged(reason) if self.mode == Mode::Inspect => match self.cache.outputs(key) {
                Ok(Some(m)) => Some(self.produced(key, m, Some(reason))?),
                _ => None,
            },
            EntryState::Absent | EntryState::Damaged(_) => self.on_remote(key)?,
        })
    }

    pub(crate) fn produced(&self, key: &str, m: EntryOutputs, damaged: Option<String>) -> Result<Arc<Produced>> {
        Ok(Arc::new(Produced {
            key: key.to_owned(),
            out_dir: self.cache.out_dir(key)?,
            outputs: m.outputs,
            output_digest: m.output_digest,
            executed: None,
            damaged,
            remote_only: false,
        }))
    }

    /// Under the key's lock: the entry if another run computed it meanwhile;
    /// a damaged entry is moved aside with a warning.
    pub(crate) fn recheck(&self, key: &str, stage: &str, item: Option<&str>) -> Result<Option<Arc<Produced>>> {
        match self.cache.check_entry(key)? {
            EntryState::Intact(m) => Ok(Some(self.produced(key, m, None)?)),
            EntryState::Absent => Ok(None),
            EntryState::Damaged(reason) => {
                let moved = self.cache.quarantine(key, &reason)?;
                let what = instance_label(stage, item);
                eprintln!("warning: the cache entry of {what} is damaged ({reason}); moved to {} and computing it again", moved.display());
                Ok(None)
            }
        }
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

    /// Computes a missing entry under its key's lock, through the run's
    /// executor (or here, for a `local: true` stage), then publishes it here.
    /// A computation a killed run left for the key is waited for instead.
    fn compute(&self, job: &Job, material: KeyMaterial, key: &str) -> Result<Arc<Produced>> {
        let stage = &self.pipeline.stages[job.stage];
        let _lock = self.cache.lock(key)?;
        if let Some(p) = self.recheck(key, &stage.name, job.item.as_deref())? {
            return Ok(p); // another run computed it while we waited
        }
        let label = instance_label(&stage.name, job.item.as_deref());
        let executor: &dyn Executor = if stage.local { self.executor.for_local_stages() } else { self.executor };
        let adopted = executor.adopt(key)?;
        let staging = match &adopted {
            Some(a) => a.staging.clone(),
            None => self.cache.staging(key)?,
        };
        let inputs = if adopted.is_none() {
            self.fetch_inputs(job)?;
            self.stage_inputs(job, &staging)?
        } else {
            BTreeMap::new()
        };
        let work = match adopted {
            Some(a) => {
                eprintln!("{label}: re-attached to {}, left running by an earlier run", a.name);
                Work::Adopted(a)
            }
            None => Work::Fresh(KindCall {
                kind: stage.kind,
                params: &stage.params,
                inputs: &inputs,
                item: job.item.as_deref(),
                work_dir: self.work_dir,
                threads: job.threads,
                label: Some(&label),
            }),
        };
        let instance = Instance { key, label: &label, stage: &stage.name, resources: &stage.resources, staging: &staging, work };
        let done = executor.compute(instance);
        let published = self.publish(job, material, key, &staging, done, executor.scratch_files());
        executor.forget(key);
        published
    }

    /// Keeps a failure's log and partial outputs, or hashes the outputs
    /// (unless the executor did), writes the manifest and publishes the entry.
    fn publish(
        &self,
        job: &Job,
        material: KeyMaterial,
        key: &str,
        staging: &Path,
        done: ExitRecord,
        scratch: &[&str],
    ) -> Result<Arc<Produced>> {
        let stage = &self.pipeline.stages[job.stage];
        if let Some(message) = done.failure {
            for f in scratch {
                std::fs::remove_file(staging.join(f)).ok();
            }
            let kept = self.cache.keep_failed(key, staging, &message);
            anyhow::bail!("{message}{kept}");
        }
        let outputs = match done.outputs {
            Some(o) => o,
            None => hash_tree(&staging.join("out"))?,
        };
        let output_digest = tree_digest(&outputs);
        let manifest = Manifest {
            key: key.to_owned(),
            stage: stage.name.clone(),
            pipeline: self.pipeline.id.clone(),
            material,
            outputs: outputs.clone(),
            output_digest: output_digest.clone(),
            started: done.started,
            finished: now_rfc3339(),
            seconds: done.seconds,
            tool_version: env!("CARGO_PKG_VERSION").to_owned(),
            host: done.host.unwrap_or_else(host_name),
            usage: done.usage,
        };
        for leftover in std::iter::once(&"inputs").chain(scratch) {
            let path = staging.join(leftover);
            if path.is_dir() {
                std::fs::remove_dir_all(path).ok()
            } else {
                std::fs::remove_file(path).ok()
            };
        }
        self.cache.publish(staging, &manifest)?;
        Ok(Arc::new(Produced {
            key: key.to_owned(),
            out_dir: self.cache.out_dir(key)?,
            outputs,
            output_digest,
            executed: Some(done.seconds),
            damaged: None,
            remote_only: false,
        }))
    }

    /// The inputs as the stage kind sees them: paths of external files and
    /// of producers' outputs, and a folder of links per gathered input
    /// (under `staging/inputs/NAME/ITEM`).
    fn stage_inputs(&self, job: &Job, staging: &Path) -> Result<BTreeMap<String, Input>> {
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
        Ok(inputs)
    }
}

/// The inputs' records when every one is known (moved, not copied: an
/// external folder's record lists every file in it), else the inputs as
/// they were.
fn all_known(inputs: BTreeMap<String, PartialInput>) -> Result<BTreeMap<String, InputRecord>, BTreeMap<String, PartialInput>> {
    if inputs.values().any(|r| matches!(r, PartialInput::Pending { .. })) {
        return Err(inputs);
    }
    Ok(inputs
        .into_iter()
        .filter_map(|(n, r)| match r {
            PartialInput::Known(rec) => Some((n, rec)),
            PartialInput::Pending { .. } => None,
        })
        .collect())
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
