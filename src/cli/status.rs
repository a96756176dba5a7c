//! `lungflow status PIPELINE`: every instance's state (fresh, stale or
//! missing) with the reasons it would rerun.

use std::path::Path;

use crate::cli::after_run::inspect;
use crate::cli::args::{Exit, PipelineArgs, print_json};
use crate::pipeline::model::instance_label;
use crate::report::status::{InstanceState, StatusRow, rows};
use crate::store::cache::Cache;
use crate::store::keys::short;

/// Prints the status table (or JSON rows).
pub fn status(cache_root: &Path, args: PipelineArgs) -> Result<i32, Exit> {
    let p = args.load()?;
    let cache = Cache::open(cache_root)?;
    let rows = rows(&p, &cache, &inspect(&p, &cache)?)?;
    if args.json {
        print_json(&rows)?;
    } else {
        print_status(&rows);
    }
    Ok(0)
}

fn print_status(rows: &[StatusRow]) {
    let (mut fresh, mut stale, mut missing) = (0, 0, 0);
    for r in rows {
        match r.state {
            InstanceState::Fresh => fresh += 1,
            InstanceState::Stale => stale += 1,
            InstanceState::Missing => missing += 1,
        }
        let who = instance_label(&r.stage, r.item.as_deref());
        let key = r.key.as_deref().map(short).unwrap_or("-");
        println!("{:<8} {who:<32} {key:<12} {}", r.state.as_str(), r.outputs.as_deref().unwrap_or(""));
        for reason in &r.reasons {
            println!("         - {reason}");
        }
    }
    println!("{fresh} fresh, {stale} stale, {missing} missing");
}
