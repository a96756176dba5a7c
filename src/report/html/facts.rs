//! What the report is drawn from, read once: the pipeline, an inspection of
//! every instance (what is in the cache now), the pipeline's last run
//! (`report::last_run`) and the manifest of every available entry.

use std::collections::HashMap;

use anyhow::Result;

use crate::pipeline::model::Pipeline;
use crate::report::last_run::LastRun;
use crate::run::outcome::{Outcome, RunResult};
use crate::store::cache::Cache;
use crate::store::manifest::Manifest;

/// How one instance stands in the report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standing {
    /// The last run computed it.
    Executed,
    /// In the cache, not computed by the last run.
    Cached,
    /// The last run failed it (or the inspection did).
    Failed,
    /// Not computed: something upstream failed or is missing.
    Skipped,
    /// Not in the cache.
    Missing,
}

/// One instance with what is known of it.
pub struct Instance {
    /// Index of its stage in the pipeline.
    pub stage: usize,
    /// Its item.
    pub item: Option<String>,
    /// Its key, when known.
    pub key: Option<String>,
    /// How it stands.
    pub standing: Standing,
    /// The error or reason, for failed and skipped ones.
    pub why: Option<String>,
    /// Its outputs folder, when available.
    pub out_dir: Option<std::path::PathBuf>,
}

/// Everything the sections read.
pub struct Facts<'a> {
    /// The pipeline.
    pub p: &'a Pipeline,
    /// The cache.
    pub cache: &'a Cache,
    /// The inspection the report was made from.
    pub eval: &'a RunResult,
    /// The last recorded run, if any.
    pub last: Option<LastRun>,
    /// Every instance, in pipeline order.
    pub instances: Vec<Instance>,
    /// Manifests of available entries, by key.
    pub manifests: HashMap<String, Manifest>,
}

impl<'a> Facts<'a> {
    /// Reads the last run and the manifests of every available entry.
    pub fn gather(p: &'a Pipeline, cache: &'a Cache, eval: &'a RunResult) -> Result<Facts<'a>> {
        // An unreadable run record costs the timeline, not the report.
        let last = LastRun::load(cache, &p.name()).unwrap_or_else(|e| {
            eprintln!("warning: {e:#}; the report shows the cache without its last run");
            None
        });
        let label = |stage: &str, item: &Option<String>| (stage.to_owned(), item.clone());
        let (mut executed, mut failed) = (HashMap::new(), HashMap::new());
        if let Some(l) = &last {
            for r in &l.report.executed {
                executed.insert(label(&r.stage, &r.item), r.key.clone());
            }
            for r in &l.report.failed {
                failed.insert(label(&r.stage, &r.item), r.error.clone());
            }
        }
        let mut instances = Vec::with_capacity(eval.instances.len());
        let mut manifests = HashMap::new();
        for inst in &eval.instances {
            let name = &p.stages[inst.stage].name;
            let was_failed = failed.get(&label(name, &inst.item)).cloned();
            let (standing, key, why, out_dir) = match &inst.outcome {
                Outcome::Available(prod) => {
                    if let Ok(Some(m)) = cache.manifest(&prod.key) {
                        manifests.insert(prod.key.clone(), m);
                    }
                    let ran = executed.get(&label(name, &inst.item)).is_some_and(|k| k.as_deref() == Some(prod.key.as_str()));
                    (if ran { Standing::Executed } else { Standing::Cached }, Some(prod.key.clone()), None, Some(prod.out_dir.clone()))
                }
                Outcome::Pending(pending) => match was_failed {
                    Some(e) => (Standing::Failed, pending.key.clone(), e, None),
                    None => (Standing::Missing, pending.key.clone(), None, None),
                },
                Outcome::Failed(e) => (Standing::Failed, None, Some(e.clone()), None),
                Outcome::Skipped(why) => (Standing::Skipped, None, Some(why.to_string()), None),
            };
            instances.push(Instance { stage: inst.stage, item: inst.item.clone(), key, standing, why, out_dir });
        }
        Ok(Facts { p, cache, eval, last, instances, manifests })
    }

    /// The instances of stage `s`.
    pub fn of_stage(&self, s: usize) -> impl Iterator<Item = &Instance> {
        self.instances.iter().filter(move |i| i.stage == s)
    }

    /// The manifest of an instance, when it is available.
    pub fn manifest(&self, i: &Instance) -> Option<&Manifest> {
        i.key.as_ref().and_then(|k| self.manifests.get(k))
    }

    /// The path of output `file` of an available instance, if it has one.
    pub fn output(&self, i: &Instance, file: &str) -> Option<std::path::PathBuf> {
        let m = self.manifest(i)?;
        m.outputs.iter().any(|f| f.path == file).then(|| i.out_dir.as_ref().map(|d| d.join(file))).flatten()
    }
}
