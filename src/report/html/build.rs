//! Assembles the report: gathers the facts once, draws each section, and
//! returns the page.

use anyhow::Result;

use super::content::{data, models};
use super::facts::Facts;
use super::outcomes::{failures, predictions, sweep};
use super::overview::{graph, resources, summary, timeline};
use super::page::{Section, page};
use crate::pipeline::model::Pipeline;
use crate::run::outcome::RunResult;
use crate::store::cache::Cache;

/// What a report shows beyond the defaults.
#[derive(Clone, Debug, Default)]
pub struct ReportOptions {
    /// Verify each prediction's lineage (rehash its files and entries).
    pub verify: bool,
    /// In a sweep, show only this variant's predictions.
    pub variant: Option<String>,
}

/// The report of `p` as an HTML document, from `eval` (an inspection of
/// every instance) and the pipeline's last recorded run.
pub fn report(p: &Pipeline, cache: &Cache, eval: &RunResult, opts: &ReportOptions) -> Result<String> {
    let only: Option<Vec<usize>> = match &opts.variant {
        None => None,
        Some(name) => match p.variants.iter().find(|v| &v.name == name) {
            Some(v) => Some(v.stages.values().copied().collect()),
            None => {
                let names: Vec<&str> = p.variants.iter().map(|v| v.name.as_str()).collect();
                anyhow::bail!("no variant {name:?} (variants: {})", names.join(" | "))
            }
        },
    };
    let f = Facts::gather(p, cache, eval)?;
    let digest = std::fs::read(&p.file).map(|b| blake3::hash(&b).to_hex().to_string()).unwrap_or_else(|e| format!("unreadable: {e}"));
    let mut sections = vec![
        Section { id: "summary", title: "Summary".into(), body: summary(&f, &digest) },
        Section { id: "graph", title: "Graph".into(), body: graph(&f) },
        Section { id: "timeline", title: "Timeline".into(), body: timeline(&f) },
        Section { id: "resources", title: "Resources".into(), body: resources(&f) },
        Section { id: "models", title: "Models".into(), body: models(&f) },
        Section { id: "data", title: "Data".into(), body: data(&f) },
        Section { id: "predictions", title: "Predictions".into(), body: predictions(&f, opts.verify, only.as_deref()) },
    ];
    if let Some(body) = sweep(&f) {
        sections.push(Section { id: "sweep", title: "Sweep".into(), body });
    }
    sections.push(Section { id: "failures", title: "Failures".into(), body: failures(&f) });
    Ok(page(&format!("lungflow report: {}", p.name()), &sections))
}
