//! One instance, from its job to its outcome: resolve its inputs to
//! digests, compute its key, look it up, and on a miss run the stage kind
//! in this process (staged inputs, catch panics, hash, publish).

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use lungflow_stages::{Input, Producer, RunContext};

use crate::pipeline::model::{Pipeline, instance_label};
use crate::run::options::Mode;
use crate::run::outcome::{Outcome, PartialInput, Pending, Produced};
use crate::run::scheduler::{Job, JobInput};
use crate::store::cache::{Cache, EntryOutputs, LOG_FILE, TIMINGS_FILE, host_name, now_rfc3339};
use crate::store::digest::{Digester, hash_tree};
use crate::store::integrity::EntryState;
use crate::store::keys::{key_of, parts_digest, tree_digest};
use crate::store::manifest::{FileRecord, GatheredItem, InputRecord, KeyMaterial, Manifest};

/// What workers share.
pub(crate) struct Shared<'a> {
    pub(crate) cache: &'a Cache,
    pub(crate) work_dir: &'a Path,
    pub(crate) digester: &'a Digester,
    pub(crate) mode: Mode,
    pub(crate) pipeline: &'a Pipeline,
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
            EntryState::Absent | EntryState::Damaged(_) => None,
        })
    }

    fn produced(&self, key: &str, m: EntryOutputs, damaged: Option<String>) -> Result<Arc<Produced>> {
        Ok(Arc::new(Produced {
            key: key.to_owned(),
            out_dir: self.cache.out_dir(key)?,
            outputs: m.outputs,
            output_digest: m.output_digest,
            executed: None,
            damaged,
        }))
    }

    /// Under the key's lock: the entry if another run computed it meanwhile;
    /// a damaged entry is moved aside with a warning.
    fn recheck(&self, key: &str, stage: &str, item: Option<&str>) -> Result<Option<Arc<Produced>>> {
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

    fn compute(&self, job: &Job, material: KeyMaterial, key: &str) -> Result<Arc<Produced>> {
        let stage = &self.pipeline.stages[job.stage];
        let _lock = self.cache.lock(key)?;
        if let Some(p) = self.recheck(key, &stage.name, job.item.as_deref())? {
            return Ok(p); // another run computed it while we waited
        }
        let staging = self.cache.staging(key)?;
        let inputs = self.stage_inputs(job, &staging)?;
        let out_dir = staging.join("out");
        let log_path = staging.join(LOG_FILE);
        let timings_path = staging.join(TIMINGS_FILE);
        let started_at = now_rfc3339();
        let clock = Instant::now();
        let ctx = RunContext {
            params: &stage.params,
            inputs: &inputs,
            item: job.item.as_deref(),
            out_dir: &out_dir,
            log_path: &log_path,
            timings_path: &timings_path,
            work_dir: self.work_dir,
            threads: job.threads,
        };
        let label = instance_label(&stage.name, job.item.as_deref());
        let result = catch_unwind(AssertUnwindSafe(|| lungflow_stages::process_groups::running_as(&label, || stage.kind.run(&ctx))));
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
            out_dir: self.cache.out_dir(key)?,
            outputs,
            output_digest,
            executed: Some(seconds),
            damaged: None,
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

/// The message of a caught panic.
pub(crate) fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "panic".into())
}
