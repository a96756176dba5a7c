//! `lungflow push PIPELINE [--stage S] [--variant V]`: upload the entries
//! of the pipeline (every sweep variant's) that are here and not on the remote.

use std::collections::HashSet;
use std::path::Path;

use crate::cli::after_run::inspect;
use crate::cli::args::{EXIT_FAILED, Exit, PipelineArgs, print_json};
use crate::cli::remote_args::RemoteArgs;
use crate::cli::transfer_bar::TransferBar;
use crate::cli::transfer_choice::Selection;
use crate::store::cache::Cache;

/// Arguments of `lungflow push`.
#[derive(clap::Args, Debug)]
pub struct PushArgs {
    #[command(flatten)]
    target: PipelineArgs,
    #[command(flatten)]
    remote: RemoteArgs,
    #[command(flatten)]
    only: Selection,
}

/// Pushes what is missing; exit 1 when an entry could not be pushed.
pub fn push(cache_root: &Path, args: PushArgs) -> Result<i32, Exit> {
    let p = args.target.load()?;
    let remote = args.remote.require(Some(&p))?;
    let cache = Cache::open(cache_root)?;
    let run = inspect(&p, &cache)?;
    let chosen = args.only.instances(&p, &run)?;
    let keys: Vec<String> =
        chosen.iter().filter(|prod| !prod.remote_only).map(|prod| prod.key.clone()).collect::<HashSet<_>>().into_iter().collect();
    let listing = remote.listing().map_err(|e| Exit(EXIT_FAILED, e.to_string()))?;
    let mut seen = HashSet::new();
    let there = listing.blobs.lock().unwrap_or_else(|e| e.into_inner());
    let to_send: u64 = chosen
        .iter()
        .filter(|prod| !listing.records.contains(&prod.key))
        .flat_map(|prod| prod.outputs.iter())
        .filter(|f| !there.contains(&f.blake3) && seen.insert(f.blake3.clone()))
        .map(|f| f.size)
        .sum();
    drop(there);
    let bar = TransferBar::new("push", to_send, !args.target.json);
    let report = remote.push_many(&cache, &keys, &listing, &bar);
    bar.finish();
    if args.target.json {
        print_json(&report)?;
    } else {
        println!(
            "pushed {} entries to {} ({} files, {} bytes); {} were there already",
            report.moved,
            remote.url(),
            report.files,
            report.bytes,
            report.already
        );
    }
    for key in &report.differ {
        eprintln!(
            "warning: the remote holds entry {key} with other outputs than this machine; its record stands (a run with the remote adopts it)"
        );
    }
    for (key, why) in &report.failed {
        eprintln!("error: entry {key}: {why}");
    }
    if let Some(why) = &report.lost {
        eprintln!("error: {why}; {} entries were not moved (run it again when the remote answers: what is there stays)", report.cut_off);
    }
    Ok(if report.complete() { 0 } else { EXIT_FAILED })
}
