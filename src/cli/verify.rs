//! `lungflow verify`: rehash every cache entry against its manifest.

use std::path::Path;

use serde_json::json;

use crate::cli::args::{EXIT_FAILED, Exit};
use crate::maintenance::verify as verify_cache;
use crate::store::cache::Cache;

/// Arguments of `lungflow verify`.
#[derive(clap::Args, Debug)]
pub struct VerifyArgs {
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// Exit code 1 when an entry differs from its manifest.
pub fn verify(cache_root: &Path, args: VerifyArgs) -> Result<i32, Exit> {
    let cache = Cache::open(cache_root)?;
    let (checked, problems) = verify_cache(&cache)?;
    if args.json {
        println!("{}", json!({"checked": checked, "problems": problems}));
    } else {
        for p in &problems {
            println!("DAMAGED {}: {}", p.key, p.problem);
        }
        println!("checked {checked} entries, {} damaged", problems.len());
    }
    Ok(if problems.is_empty() { 0 } else { EXIT_FAILED })
}
