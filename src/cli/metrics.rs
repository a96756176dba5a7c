//! `lungflow metrics PIPELINE`: the final metrics of every stage that reports
//! some, as rows of stage, item, variant, name and value.

use std::path::Path;

use crate::cli::after_run::inspect;
use crate::cli::args::{Exit, PipelineArgs, print_json};
use crate::report::metrics::rows;
use crate::store::cache::Cache;

/// Prints the metric rows (or JSON).
pub fn metrics(cache_root: &Path, args: PipelineArgs) -> Result<i32, Exit> {
    let p = args.load()?;
    let cache = Cache::open(cache_root)?;
    let rows = rows(&p, &inspect(&p, &cache)?)?;
    if args.json {
        print_json(&rows)?;
    } else {
        println!("{:<20} {:<34} {:<28} {:<28} value", "stage", "item", "variant", "name");
        for r in &rows {
            let item = r.item.as_deref().unwrap_or("-");
            let variant = r.variant.as_deref().unwrap_or("-");
            println!("{:<20} {item:<34} {variant:<28} {:<28} {}", r.stage, r.name, r.value);
        }
    }
    Ok(0)
}
