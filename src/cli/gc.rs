//! `lungflow gc`: drop cache entries that no pipeline file reaches, and
//! what killed runs left behind.

use std::path::{Path, PathBuf};

use crate::cli::args::{EXIT_FAILED, Exit, default_jobs, print_json, work_dir};
use crate::cli::remote_args::RemoteArgs;
use crate::maintenance::{gc as collect, gc_remote};
use crate::store::cache::Cache;
use crate::store::remote::session::RemoteSession;

/// Arguments of `lungflow gc`.
#[derive(clap::Args, Debug)]
#[command(after_help = "Exit codes: 0 every entry was judged; 1 the entries could not be judged (the pipelines \
folder cannot be listed, or a pipeline does not load): all were kept, and the leftovers of killed runs (staging \
folders, lock files, lineage parts and notes) were still cleaned.")]
pub struct GcArgs {
    /// Folder of pipeline files.
    #[arg(long, default_value = "pipelines")]
    pipelines: PathBuf,
    /// Only report what would be removed.
    #[arg(long)]
    dry_run: bool,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    /// Collect the garbage of this shared cache (s3://BUCKET/PREFIX)
    /// instead of the local one: records no pipeline reaches, then blobs no
    /// record names.
    #[arg(long, value_name = "s3://BUCKET/PREFIX")]
    remote: Option<String>,
    /// With --remote: keep what is younger than this many seconds (a push
    /// may be writing it).
    #[arg(long, value_name = "SECONDS", default_value_t = 3600)]
    grace: u64,
}

/// Removes (or lists) unreachable entries and leftovers; exit code 1 when
/// the entries could not be judged (see `GcArgs`' help).
pub fn gc(cache_root: &Path, args: GcArgs) -> Result<i32, Exit> {
    if let Some(url) = &args.remote {
        return gc_of_remote(cache_root, url, &args);
    }
    let cache = Cache::open(cache_root)?;
    let report = collect(&cache, &work_dir()?, &args.pipelines, default_jobs(), args.dry_run)?;
    if args.json {
        print_json(&report)?;
    } else {
        let verb = if args.dry_run { "would remove" } else { "removed" };
        for k in &report.removed {
            println!("{verb} {k}");
        }
        let mb = report.removed_bytes as f64 / 1e6;
        println!("{verb} {} entries ({mb:.1} MB), kept {}, {} busy", report.removed.len(), report.kept, report.busy.len());
        if report.kept_unresolved > 0 {
            println!(
                "kept {} entries of stages whose keys are not known until something upstream is computed again (run the pipeline, then gc)",
                report.kept_unresolved
            );
        }
        if report.leftovers > 0 {
            println!("{verb} {} leftovers of killed runs (staging folders, lock files, lineage parts)", report.leftovers);
        }
    }
    if let Some(why) = &report.undecided {
        eprintln!("error: kept all {} entries, as none could be judged: {why} (give the folder with --pipelines DIR)", report.kept);
        return Ok(EXIT_FAILED);
    }
    Ok(0)
}

/// `gc --remote`: the shared cache's garbage; exit 1 when the pipelines
/// cannot say what they reach (nothing is deleted then).
fn gc_of_remote(cache_root: &Path, url: &str, args: &GcArgs) -> Result<i32, Exit> {
    let remote = RemoteArgs { remote: Some(url.to_owned()) }.require(None)?;
    let session = RemoteSession::new(remote, false, true);
    let cache = Cache::open(cache_root)?;
    let report = gc_remote(&cache, &work_dir()?, &args.pipelines, default_jobs(), &session, args.grace as f64, args.dry_run)
        .map_err(|e| Exit(EXIT_FAILED, format!("kept everything on {url}: {e:#} (give the folder of pipelines with --pipelines DIR)")))?;
    if args.json {
        print_json(&report)?;
    } else {
        let verb = if args.dry_run { "would delete" } else { "deleted" };
        for k in &report.records_deleted {
            println!("{verb} record {k}");
        }
        println!(
            "{verb} {} records and {} blobs ({:.1} MB) on {url}; kept {} records and {} blobs ({} younger than {} s)",
            report.records_deleted.len(),
            report.blobs_deleted,
            report.bytes_deleted as f64 / 1e6,
            report.records_kept,
            report.blobs_kept,
            report.young_kept,
            args.grace
        );
    }
    Ok(0)
}
