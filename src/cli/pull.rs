//! `lungflow pull PIPELINE [--stage S] [--item I]`: download the entries of
//! the pipeline that only the remote holds (every blob rehashed), and link
//! them into the results folder.

use std::collections::HashSet;
use std::path::Path;

use crate::cli::args::{EXIT_FAILED, Exit, PipelineArgs, default_jobs, print_json, work_dir};
use crate::cli::remote_args::RemoteArgs;
use crate::cli::transfer_bar::TransferBar;
use crate::cli::transfer_choice::Selection;
use crate::run::driver::run_pipeline_with;
use crate::run::local::Local;
use crate::run::options::{Mode, Options};
use crate::store::cache::Cache;
use crate::store::remote::session::RemoteSession;

/// Arguments of `lungflow pull`.
#[derive(clap::Args, Debug)]
pub struct PullArgs {
    #[command(flatten)]
    target: PipelineArgs,
    #[command(flatten)]
    remote: RemoteArgs,
    #[command(flatten)]
    only: Selection,
}

/// Pulls what is missing here; exit 1 when an entry could not be pulled.
pub fn pull(cache_root: &Path, args: PullArgs) -> Result<i32, Exit> {
    let p = args.target.load()?;
    let session = RemoteSession::new(args.remote.require(Some(&p))?, false, false);
    let cache = Cache::open(cache_root)?;
    let opts = Options { jobs: default_jobs(), keep_going: true, mode: Mode::Inspect, progress: false };
    let run = run_pipeline_with(&p, &cache, &work_dir()?, &opts, &Local::IN_PROCESS, Some(&session))?;
    let chosen = args.only.instances(&p, &run)?;
    // Each key once (sweep variants share entries); the records the
    // inspection looked up, not copies.
    let mut seen = HashSet::new();
    let records: Vec<_> = chosen
        .iter()
        .filter(|prod| prod.remote_only && seen.insert(prod.key.clone()))
        .filter_map(|prod| session.lookup(&prod.key).ok().flatten())
        .collect();
    let to_get: u64 = records.iter().flat_map(|r| r.files()).map(|(_, f)| f.size).sum();
    let bar = TransferBar::new("pull", to_get, !args.target.json);
    let report = session.remote().pull_many(&cache, &records, &bar);
    bar.finish();
    for inst in &run.instances {
        if let crate::run::outcome::Outcome::Available(prod) = &inst.outcome
            && cache.manifest(&prod.key).ok().flatten().is_some()
        {
            let stage = &p.stages[inst.stage];
            cache.link_result(&p.name(), &stage.name, inst.item.as_deref(), &prod.key).ok();
        }
    }
    if args.target.json {
        print_json(&report)?;
    } else {
        println!(
            "pulled {} entries from {} ({} files, {} bytes, every one rehashed); {} were here already",
            report.moved,
            session.remote().url(),
            report.files,
            report.bytes,
            report.already
        );
    }
    for key in &report.busy {
        eprintln!("note: entry {key} was left alone: another lungflow process holds its lock");
    }
    for (key, why) in &report.failed {
        eprintln!("error: entry {key}: {why}");
    }
    if let Some(why) = &report.lost {
        eprintln!("error: {why}; {} entries were not moved (run it again when the remote answers: what is there stays)", report.cut_off);
    }
    Ok(if report.complete() { 0 } else { EXIT_FAILED })
}
