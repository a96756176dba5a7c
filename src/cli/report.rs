//! `lungflow report PIPELINE`: one self-contained HTML page of the
//! pipeline's last run and of what is in the cache.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;

use crate::cli::after_run::inspect;
use crate::cli::args::{Exit, PipelineArgs};
use crate::pipeline::model::Pipeline;
use crate::report::html::build::{ReportOptions, report};
use crate::store::cache::{Cache, write_atomic};

/// Arguments of `lungflow report`.
#[derive(clap::Args, Debug)]
pub struct ReportArgs {
    #[command(flatten)]
    target: PipelineArgs,
    /// Where to write the page (default: `report.html` in the pipeline's
    /// results folder).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Verify every prediction's lineage (rehash its files and entries).
    #[arg(long)]
    verify: bool,
    /// In a sweep, show only this variant's predictions.
    #[arg(long)]
    variant: Option<String>,
}

/// Writes the report; prints its path (or, with --json, `{"report": PATH, "bytes": N, "seconds": S}`).
pub fn report_verb(cache_root: &Path, args: ReportArgs) -> Result<i32, Exit> {
    let p = args.target.load()?;
    let cache = Cache::open(cache_root)?;
    let started = Instant::now();
    let opts = ReportOptions { verify: args.verify, variant: args.variant };
    if let Some(v) = opts.variant.as_deref().filter(|v| !p.variants.iter().any(|x| x.name == *v)) {
        let names: Vec<&str> = p.variants.iter().map(|x| x.name.as_str()).collect();
        return Err(Exit::usage(format!("no variant {v:?} (variants: {})", names.join(" | "))));
    }
    let (path, bytes) = write_report(&p, &cache, args.out.as_deref(), &opts)?;
    let seconds = started.elapsed().as_secs_f64();
    if args.target.json {
        println!("{}", serde_json::json!({"report": path.display().to_string(), "bytes": bytes, "seconds": seconds}));
    } else {
        println!("report: {} ({:.1} KiB, {seconds:.2}s)", path.display(), bytes as f64 / 1024.0);
    }
    Ok(0)
}

/// Writes the report of `p` to `out` (default: `report.html` in its results
/// folder); returns the path and its size.
pub fn write_report(p: &Pipeline, cache: &Cache, out: Option<&Path>, opts: &ReportOptions) -> Result<(PathBuf, usize), Exit> {
    let eval = inspect(p, cache)?;
    let html = report(p, cache, &eval, opts)?;
    let path = match out {
        Some(o) => o.to_path_buf(),
        None => cache.results_dir(&p.name()).join("report.html"),
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    write_atomic(&path, html.as_bytes())?;
    Ok((path, html.len()))
}
