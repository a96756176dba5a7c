//! `lungflow explain PIPELINE STAGE [--item ID]`: why a stage (or one of its
//! items) would rerun, field by field.

use std::path::Path;

use crate::cli::after_run::inspect;
use crate::cli::args::{Exit, PipelineArgs, print_json};
use crate::pipeline::model::instance_label;
use crate::report::status::{InstanceState, StatusRow, rows};
use crate::store::cache::Cache;
use crate::store::keys::short;

/// Arguments of `lungflow explain`.
#[derive(clap::Args, Debug)]
pub struct ExplainArgs {
    #[command(flatten)]
    target: PipelineArgs,
    /// Stage name.
    stage: String,
    /// Only this item.
    #[arg(long)]
    item: Option<String>,
}

/// Prints why each selected instance is fresh or must rerun.
pub fn explain(cache_root: &Path, args: ExplainArgs) -> Result<i32, Exit> {
    let p = args.target.load()?;
    let stage = &args.stage;
    // A swept stage's name matches all its configurations.
    let matches = |name: &str| name == stage || name.split_once('@').is_some_and(|(b, _)| b == stage);
    let Some(first) = p.stages.iter().position(|s| matches(&s.name)) else {
        return Err(Exit::usage(format!("{}: no stage named {stage:?}", args.target.pipeline.display())));
    };
    let cache = Cache::open(cache_root)?;
    let selected: Vec<StatusRow> = rows(&p, &cache, &inspect(&p, &cache)?)?
        .into_iter()
        .filter(|r| matches(&r.stage) && (args.item.is_none() || r.item == args.item || r.item.is_none()))
        .collect();
    if let Some(it) = &args.item
        && !selected.iter().any(|r| r.item.as_deref() == Some(it))
        && p.stages[first].foreach.is_some()
        && selected.iter().all(|r| r.item.is_some())
    {
        return Err(Exit::usage(format!("stage {stage:?} has no item {it:?}")));
    }
    if args.target.json {
        print_json(&selected)?;
    } else {
        print_explain(&cache, &selected)?;
    }
    Ok(0)
}

fn print_explain(cache: &Cache, rows: &[StatusRow]) -> Result<(), Exit> {
    for r in rows {
        let who = instance_label(&r.stage, r.item.as_deref());
        match (r.state, &r.key) {
            (InstanceState::Fresh, Some(key)) => {
                let m = cache.manifest(key)?;
                let when = m.map(|m| format!(", computed {} on {} in {:.2}s", m.finished, m.host, m.seconds)).unwrap_or_default();
                println!("{who}: fresh (key {}{when})", short(key));
            }
            _ => {
                println!("{who}: {} (key {})", r.state.as_str(), r.key.as_deref().map(short).unwrap_or("not known yet"));
                for reason in &r.reasons {
                    println!("  - {reason}");
                }
            }
        }
    }
    Ok(())
}
