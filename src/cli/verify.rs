//! `lungflow verify`: rehash every cache entry against its manifest, check
//! the state store and the lineage table; `--repair` mends what it finds.

use std::path::Path;

use crate::cli::args::{EXIT_FAILED, Exit, print_json};
use crate::cli::remote_args::RemoteArgs;
use crate::maintenance::verify as verify_cache;
use crate::store::cache::Cache;

/// Arguments of `lungflow verify`.
#[derive(clap::Args, Debug)]
#[command(after_help = "Exit codes: 0 nothing damaged (a warning may say that the lineage table is behind: entries a \
stopped or still running run has not recorded yet, which the next run records); 1 something damaged, repaired or not.")]
pub struct VerifyArgs {
    /// Move damaged entries to CACHE/quarantine/ (the next run computes
    /// them again), set a damaged state store aside and rebuild an
    /// incomplete lineage table.
    #[arg(long)]
    repair: bool,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    /// Rehash the blobs of this shared cache (s3://BUCKET/PREFIX) instead
    /// of the local entries.
    #[arg(long, value_name = "s3://BUCKET/PREFIX")]
    remote: Option<String>,
    /// With --remote: rehash only N blobs, spread evenly over their digests.
    #[arg(long, value_name = "N")]
    sample: Option<usize>,
}

/// Exit code 1 when anything was found damaged (repaired or not); 0 when
/// nothing is, warnings included (entries whose lineage a stopped or running
/// run has not recorded yet: the next run records them).
pub fn verify(cache_root: &Path, args: VerifyArgs) -> Result<i32, Exit> {
    if let Some(url) = &args.remote {
        return verify_remote(url, &args);
    }
    let cache = Cache::open(cache_root)?;
    let report = verify_cache(&cache, args.repair)?;
    if args.json {
        print_json(&report)?;
    } else {
        let done = |r: &Option<String>| r.as_ref().map(|r| format!("\n  repaired: {r}")).unwrap_or_default();
        for p in &report.problems {
            println!("DAMAGED {}: {}{}", p.key, p.problem, done(&p.repaired));
        }
        for p in &report.store_problems {
            println!("DAMAGED {}: {}{}", p.part, p.problem, done(&p.repaired));
        }
        for w in &report.warnings {
            println!("warning: {w}");
        }
        println!("checked {} entries, {} damaged", report.checked, report.problems.len());
    }
    Ok(if report.is_clean() { 0 } else { EXIT_FAILED })
}

/// `verify --remote`: rehash the remote's blobs; exit 1 when one is damaged or missing.
fn verify_remote(url: &str, args: &VerifyArgs) -> Result<i32, Exit> {
    let remote = RemoteArgs { remote: Some(url.to_owned()) }.require(None)?;
    let (checked, problems) = remote.verify_blobs(args.sample).map_err(|e| Exit(EXIT_FAILED, e.to_string()))?;
    if args.json {
        print_json(&serde_json::json!({"remote": url, "checked": checked, "problems": problems}))?;
    } else {
        for p in &problems {
            println!("DAMAGED {} {}: {}", p.key, p.file, p.problem);
        }
        println!("checked {checked} blobs on {url}, {} damaged or missing", problems.len());
    }
    Ok(if problems.is_empty() { 0 } else { EXIT_FAILED })
}
