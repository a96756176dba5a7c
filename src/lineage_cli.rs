//! `lungflow lineage PIPELINE PATIENT`: the lineage of the patient's row in
//! the submission the pipeline's last run produced.

use std::path::Path;

use anyhow::Context;
use serde_json::json;

use crate::cache::Cache;
use crate::cli::{EXIT_FAILED, EXIT_USAGE, Exit, LineageFormat, LineageArgs, load_swept};
use crate::lineage::{submission_row, trace};
use crate::lineage_render::{mermaid, text};
use crate::lineage_verify::verify;
use crate::spec::Pipeline;
use crate::state::StateDb;

/// The stage kind whose rows a lineage starts from.
const SUBMISSION_KIND: &str = "submission";

/// Runs the `lineage` verb; returns the exit code.
pub(crate) fn lineage(cache_root: &Path, args: LineageArgs) -> Result<i32, Exit> {
    let p = load_swept(&args.pipeline, &args.set, &args.sweep)?;
    let stage = submission_stage(&p, args.stage.as_deref(), args.variant.as_deref())?;
    let cache = Cache::open(cache_root)?;
    let db = StateDb::open(&cache.state_path())?;
    let key = db.last_key(&p.id, &stage, None)?.ok_or_else(|| {
        Exit(EXIT_FAILED, format!("no run of {} has produced stage {stage:?} yet: run the pipeline first", args.pipeline.display()))
    })?;
    let row = submission_row(&cache, &key, &args.patient).map_err(|e| Exit(EXIT_USAGE, format!("{e:#}")))?;
    let lineage = trace(&cache, row)?;
    let checked = args.verify.then(|| verify(&cache, &lineage));
    if args.json {
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

/// The name of the submission stage to start from: `--stage`, else the one
/// stage of kind `submission`; in a sweep, `--variant` picks its copy.
fn submission_stage(p: &Pipeline, stage: Option<&str>, variant: Option<&str>) -> Result<String, Exit> {
    let usage = |m: String| Exit(EXIT_USAGE, format!("{}: {m}", p.file.display()));
    let mut bases: Vec<&str> = p.stages.iter().filter(|s| s.kind.name() == SUBMISSION_KIND).map(|s| s.base_name()).collect();
    bases.dedup();
    let base = match (stage, bases.as_slice()) {
        (Some(s), _) => s,
        (None, [one]) => one,
        (None, []) => return Err(usage("no stage of kind `submission`; name the stage with --stage".into())),
        (None, many) => return Err(usage(format!("several submission stages ({}); pick one with --stage", many.join(", ")))),
    };
    let copies: Vec<&crate::spec::Stage> = p.stages.iter().filter(|s| s.base_name() == base).collect();
    if copies.is_empty() {
        return Err(usage(format!("no stage named {base:?}")));
    }
    if copies.len() == 1 {
        return Ok(copies[0].name.clone());
    }
    let names: Vec<&str> = p.variants.iter().map(|v| v.name.as_str()).collect();
    let Some(variant) = variant else {
        return Err(usage(format!("stage {base:?} differs between variants; pick one with --variant (variants: {})", names.join(" | "))));
    };
    match p.variants.iter().find(|v| v.name == variant) {
        Some(v) => Ok(p.stages[v.stages[base]].name.clone()),
        None => Err(usage(format!("no variant {variant:?} (variants: {})", names.join(" | ")))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(yaml: &str) -> Pipeline {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("p.yaml");
        std::fs::write(&file, yaml).unwrap();
        crate::spec::load(&file, &[]).map_err(|e| e.to_string()).unwrap()
    }

    const SWEPT: &str = "items:\n  p:\n    list: [a]\nstages:\n  pred:\n    kind: command\n    foreach: p\n    params: {cmd: x, k: 1}\n  sub:\n    kind: submission\n    inputs: {predictions: \"@pred\", ids: ids.csv}\nsweep:\n  grid:\n    pred.k: [1, 2]\n";

    fn message(r: Result<String, Exit>) -> String {
        r.err().map(|Exit(code, m)| format!("{code} {m}")).unwrap_or_default()
    }

    #[test]
    fn the_submission_stage_is_found_per_variant() {
        let p = load(SWEPT);
        assert_eq!(submission_stage(&p, None, Some("pred.k=2")).ok().as_deref(), Some("sub@pred.k=2"));
        assert!(message(submission_stage(&p, None, None)).contains("2 ") && message(submission_stage(&p, None, None)).contains("pick one with --variant (variants: pred.k=1 | pred.k=2)"));
        assert!(message(submission_stage(&p, None, Some("pred.k=3"))).contains("no variant \"pred.k=3\""));
        assert!(message(submission_stage(&p, Some("nope"), None)).contains("no stage named \"nope\""));
        let plain = load(SWEPT.split("sweep:").next().unwrap());
        assert_eq!(submission_stage(&plain, None, None).ok().as_deref(), Some("sub"));
        let none = load("stages:\n  a:\n    kind: command\n    params: {cmd: x}\n");
        assert!(message(submission_stage(&none, None, None)).contains("no stage of kind `submission`"));
    }
}
