//! `lungflow lineage PIPELINE PATIENT`: the lineage of the patient's row in
//! the submission the pipeline's last run produced.

use std::path::Path;

use anyhow::Context;
use clap::ValueEnum;
use lungflow_stages::RowProvenance;
use serde_json::json;

use crate::cli::args::{EXIT_FAILED, Exit, PipelineArgs};
use crate::cli::remote_args::RemoteArgs;
use crate::lineage::render::{mermaid, text};
use crate::lineage::trace::{named_keys, start_row, trace};
use crate::lineage::verify::verify;
use crate::pipeline::model::{Pipeline, Stage};
use crate::store::cache::Cache;
use crate::store::cache::check_key;
use crate::store::remote::session::RemoteSession;
use crate::store::state::StateDb;

/// Arguments of `lungflow lineage`.
#[derive(clap::Args, Debug)]
pub struct LineageArgs {
    #[command(flatten)]
    target: PipelineArgs,
    /// Item id (a patient: a row of the submission).
    patient: String,
    /// The sweep variant whose table to start from.
    #[arg(long)]
    variant: Option<String>,
    /// The stage whose table to start from, when the pipeline has several.
    #[arg(long)]
    stage: Option<String>,
    /// Rehash the lineage's files and cache entries and report any drift (exit 1 if some).
    #[arg(long)]
    verify: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = LineageFormat::Text)]
    format: LineageFormat,
    #[command(flatten)]
    remote: RemoteArgs,
}

/// How `lineage` draws the tree.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum LineageFormat {
    /// An indented tree.
    Text,
    /// A Mermaid flowchart.
    Mermaid,
}

/// Runs the `lineage` verb; returns the exit code.
pub fn lineage(cache_root: &Path, args: LineageArgs) -> Result<i32, Exit> {
    let p = args.target.load()?;
    let (stage, provenance) = start_stage(&p, args.stage.as_deref(), args.variant.as_deref())?;
    let cache = Cache::open(cache_root)?;
    let db = StateDb::open(&cache.state_path())?;
    let key = db.last_key(&p.id, &stage, None)?.ok_or_else(|| {
        Exit(EXIT_FAILED, format!("no run of {} has produced stage {stage:?} yet: run the pipeline first", args.target.pipeline.display()))
    })?;
    check_key(&key)?;
    let row = start_row(&cache, &stage, &key, &provenance, &args.patient).map_err(|e| Exit::usage(format!("{e:#}")))?;
    let session = args.remote.open(Some(&p))?.map(|r| RemoteSession::new(r, false, false));
    let lineage = trace(&cache, row, session.as_ref())?;
    if let Some(session) = session.as_ref().filter(|_| args.verify) {
        // What the check rehashes is downloaded first (and rehashed then too).
        for (key, label) in named_keys(&lineage) {
            if cache.manifest(&key)?.is_none() && session.lookup(&key).map_err(|e| Exit(EXIT_FAILED, e))?.is_some() {
                let _lock = cache.lock(&key)?;
                if cache.manifest(&key)?.is_none() {
                    session.fetch(&cache, &key).map_err(|e| Exit(EXIT_FAILED, format!("{label}: {e}")))?;
                }
            }
        }
    }
    let checked = args.verify.then(|| verify(&cache, &lineage));
    if args.target.json {
        let mut doc = serde_json::to_value(&lineage).context("cannot encode JSON")?;
        if let Some(c) = &checked {
            doc["drift"] = json!(c.drift);
        }
        println!("{}", serde_json::to_string_pretty(&doc).context("cannot encode JSON")?);
    } else {
        match args.format {
            LineageFormat::Text => print!("{}", text(&lineage)),
            LineageFormat::Mermaid => print!("{}", mermaid(&lineage)),
        }
        if let Some(c) = &checked {
            for x in &c.drift {
                println!("DRIFT {} {}: {}", x.problem, x.target, x.detail);
            }
            println!("verified {} files and {} cache entries: {} drifted", c.files, c.entries, c.drift.len());
        }
    }
    Ok(if checked.is_some_and(|c| !c.drift.is_empty()) { EXIT_FAILED } else { 0 })
}

/// The stage whose table a lineage starts from, with the table's
/// provenance columns: `--stage`, else the one stage whose kind declares a
/// [`RowProvenance`] (a submission); in a sweep, `--variant` picks its copy.
fn start_stage(p: &Pipeline, stage: Option<&str>, variant: Option<&str>) -> Result<(String, RowProvenance), Exit> {
    let usage = |m: String| Exit::usage(format!("{}: {m}", p.file.display()));
    let mut bases: Vec<&str> = p.stages.iter().filter(|s| s.kind.row_provenance().is_some()).map(|s| s.base_name()).collect();
    bases.dedup();
    let base = match (stage, bases.as_slice()) {
        (Some(s), _) => s,
        (None, [one]) => one,
        (None, []) => return Err(usage("no stage writes a table a lineage can start from (a submission); name one with --stage".into())),
        (None, many) => {
            return Err(usage(format!(
                "several stages write tables a lineage can start from ({}); pick one with --stage",
                many.join(", ")
            )));
        }
    };
    let copies: Vec<&Stage> = p.stages.iter().filter(|s| s.base_name() == base).collect();
    let Some(first) = copies.first() else {
        return Err(usage(format!("no stage named {base:?}")));
    };
    let Some(provenance) = first.kind.row_provenance() else {
        return Err(usage(format!("stage {base:?} (kind {}) writes no table a lineage can start from", first.kind.name())));
    };
    if copies.len() == 1 {
        return Ok((first.name.clone(), provenance));
    }
    let names: Vec<&str> = p.variants.iter().map(|v| v.name.as_str()).collect();
    let Some(variant) = variant else {
        return Err(usage(format!("stage {base:?} differs between variants; pick one with --variant (variants: {})", names.join(" | "))));
    };
    match p.variants.iter().find(|v| v.name == variant) {
        Some(v) => Ok((p.stages[v.stages[base]].name.clone(), provenance)),
        None => Err(usage(format!("no variant {variant:?} (variants: {})", names.join(" | ")))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(yaml: &str) -> Pipeline {
        let dir = lungflow_testkit::tempdir().unwrap();
        let file = dir.path().join("p.yaml");
        std::fs::write(&file, yaml).unwrap();
        crate::pipeline::load::load(&file, &[]).map_err(|e| e.to_string()).unwrap()
    }

    const SWEPT: &str = "items:\n  p:\n    list: [a]\nstages:\n  pred:\n    kind: command\n    foreach: p\n    params: {cmd: x, k: 1}\n  sub:\n    kind: submission\n    inputs: {predictions: \"@pred\", ids: ids.csv}\nsweep:\n  grid:\n    pred.k: [1, 2]\n";

    fn message(r: Result<(String, RowProvenance), Exit>) -> String {
        r.err().map(|Exit(code, m)| format!("{code} {m}")).unwrap_or_default()
    }

    fn name(r: Result<(String, RowProvenance), Exit>) -> Option<String> {
        r.ok().map(|(name, _)| name)
    }

    #[test]
    fn the_start_stage_is_found_per_variant() {
        let p = load(SWEPT);
        assert_eq!(name(start_stage(&p, None, Some("pred.k=2"))).as_deref(), Some("sub@pred.k=2"));
        assert!(
            message(start_stage(&p, None, None)).contains("2 ")
                && message(start_stage(&p, None, None)).contains("pick one with --variant (variants: pred.k=1 | pred.k=2)")
        );
        assert!(message(start_stage(&p, None, Some("pred.k=3"))).contains("no variant \"pred.k=3\""));
        assert!(message(start_stage(&p, Some("nope"), None)).contains("no stage named \"nope\""));
        let plain = load(SWEPT.split("sweep:").next().unwrap());
        assert_eq!(name(start_stage(&plain, None, None)).as_deref(), Some("sub"));
        let none = load("stages:\n  a:\n    kind: command\n    params: {cmd: x}\n");
        assert!(message(start_stage(&none, None, None)).contains("no stage writes a table a lineage can start from"));
    }
}
