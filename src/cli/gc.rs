//! `lungflow gc`: drop cache entries that no pipeline file reaches, and
//! what killed runs left behind.

use std::path::{Path, PathBuf};

use crate::cli::args::{EXIT_FAILED, Exit, default_jobs, print_json, work_dir};
use crate::maintenance::gc as collect;
use crate::store::cache::Cache;

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
}

/// Removes (or lists) unreachable entries and leftovers; exit code 1 when
/// the entries could not be judged (see `GcArgs`' help).
pub fn gc(cache_root: &Path, args: GcArgs) -> Result<i32, Exit> {
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
