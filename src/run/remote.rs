//! What a run does with a shared cache (see `store::remote`): on a local
//! miss it looks the key up on the remote, and a record there makes the
//! instance available without a byte moved; the bytes are fetched only
//! when a computation here needs them as input or they are a final result
//! (a stage nothing consumes). With pushing on, every entry the run makes
//! available goes up unless the remote has it, and when the remote holds
//! other outputs for the same key, they are adopted here so that every
//! dependent's key agrees across machines.

use std::sync::Arc;

use anyhow::{Result, anyhow};

use crate::pipeline::model::{InputRef, ItemSource};
use crate::run::instance::Shared;
use crate::run::options::Mode;
use crate::run::outcome::Produced;
use crate::run::scheduler::{Job, JobInput};
use crate::store::cache::EntryOutputs;

impl Shared<'_> {
    /// The remote's record of `key` as an instance available there only.
    pub(crate) fn on_remote(&self, key: &str) -> Result<Option<Arc<Produced>>> {
        let Some(remote) = self.remote else { return Ok(None) };
        let Some(record) = remote.lookup(key).map_err(|e| anyhow!(e))? else { return Ok(None) };
        Ok(Some(Arc::new(Produced {
            key: key.to_owned(),
            out_dir: self.cache.out_dir(key)?,
            outputs: record.manifest.outputs.clone(),
            output_digest: record.manifest.output_digest.clone(),
            executed: None,
            damaged: None,
            remote_only: true,
        })))
    }

    /// What a lookup found, made ready: a final result that only the remote
    /// holds is fetched (when that fails it is computed here: `None`); a
    /// local entry is pushed when the run pushes.
    pub(crate) fn settle(&self, found: Option<Arc<Produced>>, stage: usize, label: &str) -> Result<Option<Arc<Produced>>> {
        let Some(p) = found else { return Ok(None) };
        if self.mode == Mode::Inspect {
            return Ok(Some(p));
        }
        if !p.remote_only {
            return self.share(p, label).map(Some);
        }
        if !self.is_final(stage) {
            return Ok(Some(p));
        }
        Ok(self.materialize(&p, label).ok())
    }

    /// Pushes an entry that is here when the run pushes; when the remote
    /// holds other outputs for its key, says so and adopts them.
    pub(crate) fn share(&self, p: Arc<Produced>, label: &str) -> Result<Arc<Produced>> {
        let Some(remote) = self.remote.filter(|r| r.pushes()) else { return Ok(p) };
        let Some(theirs) = remote.push(self.cache, &p.key).map_err(|e| anyhow!("{label}: cannot push its entry: {e}"))? else {
            return Ok(p);
        };
        eprintln!(
            "warning: {label}: this machine's outputs (digest {}) differ from the remote's for the same key {} (digest {}, computed on {}); adopting the remote's, so that every dependent's key agrees",
            p.output_digest, p.key, theirs.manifest.output_digest, theirs.manifest.host
        );
        let _lock = self.cache.lock(&p.key)?;
        let moved =
            self.cache.quarantine(&p.key, "this machine's outputs differ from the shared cache's record; replaced by the remote's")?;
        if let Err(e) = remote.fetch(self.cache, &p.key) {
            // Keep ours rather than nothing.
            std::fs::rename(&moved, self.cache.entry_dir(&p.key)?).ok();
            eprintln!("warning: {label}: the remote's outputs could not be fetched ({e}); keeping this machine's");
            return Ok(p);
        }
        let m = self.cache.outputs(&p.key)?.ok_or_else(|| anyhow!("{label}: the adopted entry is missing"))?;
        self.produced(&p.key, m, None)
    }

    /// Fetches every input of `job` that only the remote holds.
    pub(crate) fn fetch_inputs(&self, job: &Job) -> Result<()> {
        for (name, input) in &job.inputs {
            let parts: Vec<&Arc<Produced>> = match input {
                JobInput::External(_) => Vec::new(),
                JobInput::Stage { produced, .. } => produced.iter().collect(),
                JobInput::Gather { parts, .. } => parts.iter().filter_map(|(_, p)| p.as_ref()).collect(),
            };
            for p in parts.into_iter().filter(|p| p.remote_only) {
                self.materialize(p, &format!("the entry {} of input {name:?}", p.key)).map_err(|e| anyhow!("input {name:?}: {e:#}"))?;
            }
        }
        Ok(())
    }

    /// Makes a remote-only entry local (under its lock, unless another run
    /// already did) and returns it as a local one.
    pub(crate) fn materialize(&self, p: &Produced, label: &str) -> Result<Arc<Produced>> {
        let remote = self.remote.ok_or_else(|| anyhow!("no remote"))?;
        let _lock = self.cache.lock(&p.key)?;
        let local = |m: EntryOutputs| self.produced(&p.key, m, None);
        if let Some(here) = self.recheck(&p.key, label, None)? {
            return Ok(here);
        }
        remote.fetch(self.cache, &p.key).map_err(|e| anyhow!(e))?;
        local(self.cache.outputs(&p.key)?.ok_or_else(|| anyhow!("the fetched entry {} is missing", p.key))?)
    }

    /// Whether nothing in the pipeline reads the stage's outputs.
    fn is_final(&self, stage: usize) -> bool {
        let p = self.pipeline;
        let read_by_stage =
            p.stages.iter().any(|s| s.inputs.values().any(|i| matches!(i, InputRef::Stage { stage: s, .. } if *s == stage)));
        let lists_items = p.item_sets.values().any(|set| matches!(set, ItemSource::StageDir { stage: s, .. } if *s == stage));
        !read_by_stage && !lists_items
    }
}
