//! `lungflow sweep run|status|show`: the sweep verbs of the command line.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde_json::{Value, json};

use crate::cache::Cache;
use crate::cli::{EXIT_FAILED, EXIT_USAGE, Exit, SweepTarget, SweepVerb, default_jobs, inspect, load_swept, run_lists, work_dir, RunLists};
use crate::evaluate::{Evaluation, Mode, Options, evaluate, pipeline_name};
use crate::spec::Pipeline;
use crate::sweep_results::{VariantResult, variant_results};
use crate::sweep_table::{select, sorted, table, to_json, write_csv, write_parquet};

/// Runs one sweep verb; returns the exit code.
pub(crate) fn sweep(cache_root: &Path, action: SweepVerb) -> Result<i32, Exit> {
    match action {
        SweepVerb::Run { target, jobs, json } => {
            let p = load_target(&target)?;
            let cache = Cache::open(cache_root)?;
            let opts = Options { jobs: jobs.unwrap_or_else(default_jobs), keep_going: true, mode: Mode::Execute, progress: !json };
            let eval = evaluate(&p, &cache, &work_dir()?, &opts)?;
            let results = variant_results(&p, &cache, &eval)?;
            let df = table(&results)?;
            let written = write_outputs(&p, &cache, &results, &df)?;
            let lists = run_lists(&p, &eval);
            if json {
                let doc = json!({"executed": lists.executed, "cached": lists.cached, "failed": lists.failed,
                                  "skipped": lists.skipped, "seconds": eval.seconds, "variants": to_json(&df)?});
                println!("{doc}");
            } else {
                for f in &lists.failures {
                    println!("{f}");
                }
                println!("{}", RunLists::summary(&lists.executed, &lists.cached, &lists.failed, &lists.skipped, eval.seconds));
                print_sharing(&p, &eval);
                println!("{df}");
                print_written(&written);
            }
            Ok(if results.iter().all(|r| r.state == "done") { 0 } else { EXIT_FAILED })
        }
        SweepVerb::Status { target, json } => {
            let p = load_target(&target)?;
            let cache = Cache::open(cache_root)?;
            let results = variant_results(&p, &cache, &inspect(&p, &cache)?)?;
            if json {
                let rows: Vec<Value> = results
                    .iter()
                    .map(|r| json!({"variant": r.name, "params": r.params, "state": r.state, "error": r.error,
                                    "instances": r.instances, "available": r.available}))
                    .collect();
                println!("{}", serde_json::to_string_pretty(&rows).context("cannot encode JSON")?);
            } else {
                let width = results.iter().map(|r| r.name.len()).max().unwrap_or(7).max(7);
                println!("{:<width$}  {:<10}  {:>11}  error", "variant", "state", "in cache");
                for r in &results {
                    let cached = format!("{}/{}", r.available, r.instances);
                    println!("{:<width$}  {:<10}  {cached:>11}  {}", r.name, r.state, r.error.as_deref().unwrap_or(""));
                }
            }
            Ok(0)
        }
        SweepVerb::Show { target, sort, desc, columns, csv, parquet, json } => {
            let p = load_target(&target)?;
            let cache = Cache::open(cache_root)?;
            let results = variant_results(&p, &cache, &inspect(&p, &cache)?)?;
            let mut df = table(&results)?;
            if let Some(column) = &sort {
                df = sorted(&df, column, desc).map_err(|e| Exit(EXIT_USAGE, format!("{e:#}")))?;
            }
            let mut written = write_outputs(&p, &cache, &results, &df)?;
            if !columns.is_empty() {
                let swept: Vec<String> = results.iter().flat_map(|r| r.params.keys().cloned()).collect();
                df = select(&df, &swept, &columns)?;
            }
            if let Some(path) = &csv {
                write_csv(&df, path)?;
                written.push(path.clone());
            }
            if let Some(path) = &parquet {
                write_parquet(&df, path)?;
                written.push(path.clone());
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&to_json(&df)?).context("cannot encode JSON")?);
            } else {
                println!("{df}");
                print_written(&written);
            }
            Ok(0)
        }
    }
}

/// Loads the target pipeline; a pipeline with no variants is a usage error.
fn load_target(target: &SweepTarget) -> Result<Pipeline, Exit> {
    let p = load_swept(&target.pipeline, &target.set, &target.sweep)?;
    if p.variants.is_empty() {
        return Err(Exit(EXIT_USAGE, format!(
            "{} sweeps nothing: add a `sweep:` block or --sweep STAGE.PARAM=V1,V2",
            target.pipeline.display()
        )));
    }
    Ok(p)
}

/// Writes `results/PIPELINE/sweep/table.parquet` and the curve PNGs beside it.
fn write_outputs(p: &Pipeline, cache: &Cache, results: &[VariantResult], df: &polars::prelude::DataFrame) -> Result<Vec<PathBuf>, Exit> {
    let dir = cache.root().join("results").join(pipeline_name(p)).join("sweep");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let table_path = dir.join("table.parquet");
    write_parquet(df, &table_path)?;
    let mut written = vec![table_path];
    written.extend(crate::sweep_curves::write_curves(results, &dir)?);
    Ok(written)
}

fn print_written(paths: &[PathBuf]) {
    for path in paths {
        println!("wrote {}", path.display());
    }
}

/// One line per stage of the pipeline file: shared by every variant (and
/// so computed once) or copied per configuration, with what ran.
fn print_sharing(p: &Pipeline, eval: &Evaluation) {
    let variants = p.variants.len();
    let mut bases: Vec<&str> = Vec::new();
    for &s in &p.order {
        let base = p.stages[s].base_name();
        if !bases.contains(&base) {
            bases.push(base);
        }
    }
    for base in bases {
        let copies = p.stages.iter().filter(|s| s.base_name() == base).count();
        let (mut executed, mut cached, mut other) = (0, 0, 0);
        for inst in eval.instances.iter().filter(|i| p.stages[i.stage].base_name() == base) {
            match &inst.outcome {
                crate::evaluate::Outcome::Available(prod) if prod.executed.is_some() => executed += 1,
                crate::evaluate::Outcome::Available(_) => cached += 1,
                _ => other += 1,
            }
        }
        let sharing = if copies == 1 { format!("shared by all {variants} variants") } else { format!("{copies} configurations") };
        let rest = if other > 0 { format!(", not done {other}") } else { String::new() };
        println!("  {base:<14} {sharing:<26} executed {executed}, cached {cached}{rest}");
    }
}

