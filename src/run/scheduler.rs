//! The scheduler: expands stages into instances (one per item, once the
//! item set is known), tracks what each instance waits for, and hands out
//! ready instances as jobs with their inputs resolved to producers.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::pipeline::model::{InputRef, ItemSource, Pipeline, instance_label, is_item_id};
use crate::run::outcome::{InstanceResult, Outcome, Produced, Skip};
use crate::store::digest::leads_nowhere;

/// An instance in the scheduler.
pub(crate) struct Node {
    pub(crate) stage: usize,
    pub(crate) item: Option<String>,
    pub(crate) deps: Vec<usize>,
    pub(crate) dependents: Vec<usize>,
    pub(crate) waiting: usize,
    pub(crate) outcome: Option<Outcome>,
}

/// Where one input of a job comes from, resolved to instances.
pub(crate) enum JobInput {
    External(PathBuf),
    Stage { stage: String, item: Option<String>, subpath: Option<String>, produced: Option<Arc<Produced>> },
    Gather { stage: String, subpath: Option<String>, parts: Vec<(String, Option<Arc<Produced>>)> },
}

/// Work for one instance, handed to a worker.
pub(crate) struct Job {
    pub(crate) node: usize,
    pub(crate) stage: usize,
    pub(crate) item: Option<String>,
    pub(crate) inputs: BTreeMap<String, JobInput>,
    pub(crate) threads: usize,
}

/// The instances of one run and what each waits for.
pub(crate) struct Scheduler<'p> {
    pub(crate) p: &'p Pipeline,
    pub(crate) nodes: Vec<Node>,
    pub(crate) by_stage: Vec<Option<Vec<usize>>>,
    pub(crate) unexpanded_reason: Vec<Option<String>>,
    pub(crate) item_cache: HashMap<String, Result<Vec<String>, String>>,
    pub(crate) ready: VecDeque<usize>,
}

impl<'p> Scheduler<'p> {
    pub(crate) fn new(p: &'p Pipeline) -> Self {
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
    pub(crate) fn expand(&mut self, work_dir: &Path) -> Vec<(usize, usize)> {
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
                    Some(Outcome::Available(prod)) if prod.remote_only => Ok(item_dirs_named(&prod.outputs, subpath.as_deref())),
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
            let instance = self.label(d);
            self.complete(id, Outcome::Skipped(Skip::Upstream { instance }));
        } else if waiting == 0 {
            self.ready.push_back(id);
        }
        id
    }

    fn label(&self, n: usize) -> String {
        let node = &self.nodes[n];
        instance_label(&self.p.stages[node.stage].name, node.item.as_deref())
    }

    pub(crate) fn complete(&mut self, n: usize, outcome: Outcome) {
        let failed = outcome.blocks_dependents();
        self.nodes[n].outcome = Some(outcome);
        let dependents = std::mem::take(&mut self.nodes[n].dependents);
        for d in dependents {
            if self.nodes[d].outcome.is_some() {
                continue;
            }
            if failed {
                let instance = self.label(n);
                self.complete(d, Outcome::Skipped(Skip::Upstream { instance }));
            } else {
                self.nodes[d].waiting -= 1;
                if self.nodes[d].waiting == 0 {
                    self.ready.push_back(d);
                }
            }
        }
    }

    pub(crate) fn job(&self, n: usize, threads: usize) -> Job {
        let node = &self.nodes[n];
        let stage = &self.p.stages[node.stage];
        let produced = |d: usize| match &self.nodes[d].outcome {
            Some(Outcome::Available(p)) => Some(Arc::clone(p)),
            _ => None,
        };
        let mut inputs = BTreeMap::new();
        for (name, r) in &stage.inputs {
            let input = match r {
                InputRef::External(t) => JobInput::External(PathBuf::from(t.replace("{item}", node.item.as_deref().unwrap_or("")))),
                InputRef::Stage { stage: q, subpath } => {
                    let qname = self.p.stages[*q].name.clone();
                    let subpath = subpath.as_ref().map(|s| s.replace("{item}", node.item.as_deref().unwrap_or("")));
                    let producers: Vec<usize> = node.deps.iter().copied().filter(|&d| self.nodes[d].stage == *q).collect();
                    if self.p.stages[*q].foreach.is_some() && node.item.is_none() {
                        let parts = producers.iter().map(|&d| (self.nodes[d].item.clone().unwrap_or_default(), produced(d))).collect();
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

    pub(crate) fn skip_unfinished(&mut self, why: Skip) {
        for node in &mut self.nodes {
            if node.outcome.is_none() {
                node.outcome = Some(Outcome::Skipped(why.clone()));
            }
        }
    }

    pub(crate) fn unexpanded(&self) -> Vec<(usize, String)> {
        (0..self.p.stages.len())
            .filter(|&s| self.by_stage[s].is_none())
            .map(|s| {
                let why = self.unexpanded_reason[s].clone().unwrap_or_else(|| "upstream did not complete".into());
                (s, why)
            })
            .collect()
    }

    pub(crate) fn results(self) -> Vec<InstanceResult> {
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
/// The item folders an entry's file list shows under `subpath` (for an
/// entry only the remote holds): those [`list_item_dirs`] would list, as
/// far as a list of files shows folders (one holding no file has no blob).
fn item_dirs_named(outputs: &[crate::store::manifest::FileRecord], subpath: Option<&str>) -> Vec<String> {
    let prefix = subpath.map(|s| format!("{}/", s.trim_end_matches('/'))).unwrap_or_default();
    let mut ids: Vec<String> = outputs
        .iter()
        .filter_map(|f| f.path.strip_prefix(&prefix)?.split_once('/').map(|(dir, _)| dir.to_owned()))
        .filter(|name| !name.starts_with('.') && is_item_id(name))
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

fn list_item_dirs(dir: &Path) -> Result<Vec<String>, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
    let mut ids = Vec::new();
    for e in entries {
        let e = e.map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
        let name = e.file_name().to_string_lossy().into_owned();
        let path = e.path();
        // A link whose folder is gone would drop an item without a word.
        if let Some(what) = leads_nowhere(&path) {
            return Err(format!("{}: item folder {name:?} is {what}; remove the link or restore its target", dir.display()));
        }
        if name.starts_with('.') || !path.is_dir() {
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
