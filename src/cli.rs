//! Command-line verbs. Exit codes: 0 success, 1 a stage failed (or `verify`
//! found damage), 2 a bad pipeline file or bad usage.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use lungflow_stages::{Input, RunContext, find_kind};
use serde_json::{Value, json};

use crate::cache::{Cache, DEFAULT_ROOT};
use crate::evaluate::{Evaluation, Mode, Options, Outcome, evaluate, instance_label, pipeline_name};
use crate::explain::short;
use crate::spec::{self, Override, Pipeline};
use crate::status::{StatusRow, rows};

/// Exit code: a stage failed or the cache is damaged.
pub const EXIT_FAILED: i32 = 1;
/// Exit code: bad pipeline file or bad usage.
pub const EXIT_USAGE: i32 = 2;

#[derive(Parser)]
#[command(name = "lungflow", version, about = "Declarative, content-keyed pipelines for lung-CT machine learning")]
struct Cli {
    /// Cache root.
    #[arg(long, global = true, env = "LUNGFLOW_CACHE", default_value = DEFAULT_ROOT)]
    cache: PathBuf,
    #[command(subcommand)]
    verb: Verb,
}

#[derive(Subcommand)]
enum Verb {
    /// Run a pipeline: compute every instance that is not in the cache.
    Run {
        /// Pipeline file.
        pipeline: PathBuf,
        /// Override a parameter: STAGE.PARAM=VALUE (repeatable).
        #[arg(long = "set", value_name = "STAGE.PARAM=VALUE")]
        set: Vec<String>,
        /// Sweep a parameter: STAGE.PARAM=V1,V2 (repeatable; see `lungflow sweep`).
        #[arg(long = "sweep", value_name = "STAGE.PARAM=V1,V2")]
        sweep: Vec<String>,
        /// Instances computed at once (default: number of cores).
        #[arg(long, short)]
        jobs: Option<usize>,
        /// Show what would run, run nothing.
        #[arg(long)]
        dry_run: bool,
        /// After a failure, go on with branches that do not depend on it.
        #[arg(long, short)]
        keep_going: bool,
        /// Print one JSON object on stdout at the end.
        #[arg(long)]
        json: bool,
    },
    /// Every instance's state: fresh, stale or missing, with reasons.
    Status {
        /// Pipeline file.
        pipeline: PathBuf,
        /// Override a parameter: STAGE.PARAM=VALUE (repeatable).
        #[arg(long = "set", value_name = "STAGE.PARAM=VALUE")]
        set: Vec<String>,
        /// Sweep a parameter: STAGE.PARAM=V1,V2 (repeatable; see `lungflow sweep`).
        #[arg(long = "sweep", value_name = "STAGE.PARAM=V1,V2")]
        sweep: Vec<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Why a stage (or one item of it) would rerun, field by field.
    Explain {
        /// Pipeline file.
        pipeline: PathBuf,
        /// Stage name.
        stage: String,
        /// Only this item.
        #[arg(long)]
        item: Option<String>,
        /// Override a parameter: STAGE.PARAM=VALUE (repeatable).
        #[arg(long = "set", value_name = "STAGE.PARAM=VALUE")]
        set: Vec<String>,
        /// Sweep a parameter: STAGE.PARAM=V1,V2 (repeatable; see `lungflow sweep`).
        #[arg(long = "sweep", value_name = "STAGE.PARAM=V1,V2")]
        sweep: Vec<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Final metrics of every stage that reports some: stage, variant, name, value.
    Metrics {
        /// Pipeline file.
        pipeline: PathBuf,
        /// Override a parameter: STAGE.PARAM=VALUE (repeatable).
        #[arg(long = "set", value_name = "STAGE.PARAM=VALUE")]
        set: Vec<String>,
        /// Sweep a parameter: STAGE.PARAM=V1,V2 (repeatable; see `lungflow sweep`).
        #[arg(long = "sweep", value_name = "STAGE.PARAM=V1,V2")]
        sweep: Vec<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Draw the stage graph.
    Dag {
        /// Pipeline file.
        pipeline: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value_t = DagFormat::Mermaid)]
        format: DagFormat,
        /// Print JSON (stages and edges) instead.
        #[arg(long)]
        json: bool,
    },
    /// Run one stage kind by hand, outside any pipeline and cache.
    Exec {
        /// Stage kind.
        kind: String,
        /// An input: NAME=PATH (repeatable).
        #[arg(long = "input", value_name = "NAME=PATH")]
        inputs: Vec<String>,
        /// A parameter: PARAM=VALUE (repeatable).
        #[arg(long = "set", value_name = "PARAM=VALUE")]
        set: Vec<String>,
        /// Item id, for per-item kinds.
        #[arg(long)]
        item: Option<String>,
        /// Output folder (created; must be empty if it exists).
        #[arg(long)]
        out: PathBuf,
    },
    /// Drop cache entries that no pipeline file in pipelines/ reaches.
    Gc {
        /// Folder of pipeline files.
        #[arg(long, default_value = "pipelines")]
        pipelines: PathBuf,
        /// Only report what would be removed.
        #[arg(long)]
        dry_run: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Rehash every cache entry and report any that differ from their manifest.
    Verify {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Write a synthetic cohort of phantom chest CTs (DICOM + labels.csv).
    Synth {
        /// Number of patients.
        #[arg(long, default_value_t = 12)]
        patients: u32,
        /// Random seed (same seed, same bytes).
        #[arg(long, default_value_t = 2017)]
        seed: u64,
        /// Output folder.
        #[arg(long)]
        out: PathBuf,
    },
    /// The lineage of one patient's prediction: its submission row, the models
    /// and their training patients, down to each DICOM file; --verify rehashes it.
    Lineage(LineageArgs),
    /// Sweeps: run every variant, show their states, or tabulate their metrics.
    Sweep {
        #[command(subcommand)]
        action: SweepVerb,
    },
    /// List stage kinds and their parameters.
    Kinds {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// What `lungflow sweep` does.
#[derive(Subcommand)]
pub(crate) enum SweepVerb {
    /// Run every variant; instances the variants share run once.
    Run {
        #[command(flatten)]
        target: SweepTarget,
        /// Instances computed at once (default: number of cores).
        #[arg(long, short)]
        jobs: Option<usize>,
        /// Print one JSON object on stdout at the end.
        #[arg(long)]
        json: bool,
    },
    /// Each variant's state (done, failed, missing) and its instances in the cache.
    Status {
        #[command(flatten)]
        target: SweepTarget,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// The sweep table (variant x swept parameters x final metrics) and the
    /// validation curves of all variants as PNG.
    Show {
        #[command(flatten)]
        target: SweepTarget,
        /// Sort by this column (ascending; see --desc).
        #[arg(long)]
        sort: Option<String>,
        /// Sort in descending order.
        #[arg(long)]
        desc: bool,
        /// Keep only metric columns starting with these prefixes, e.g.
        /// `classifier.val_,seconds` (variant, swept parameters and state stay).
        #[arg(long, value_delimiter = ',', value_name = "PREFIX,...")]
        columns: Vec<String>,
        /// Also write the table as CSV.
        #[arg(long, value_name = "FILE")]
        csv: Option<PathBuf>,
        /// Also write the table as Parquet.
        #[arg(long, value_name = "FILE")]
        parquet: Option<PathBuf>,
        /// Print the table as JSON (one object per variant).
        #[arg(long)]
        json: bool,
    },
}

/// Arguments of `lungflow lineage`.
#[derive(clap::Args)]
pub(crate) struct LineageArgs {
    /// Pipeline file.
    pub(crate) pipeline: PathBuf,
    /// Patient id (a row of the submission).
    pub(crate) patient: String,
    /// The sweep variant whose submission to start from.
    #[arg(long)]
    pub(crate) variant: Option<String>,
    /// The submission stage, when the pipeline has several.
    #[arg(long)]
    pub(crate) stage: Option<String>,
    /// Rehash the lineage's files and cache entries and report any drift (exit 1 if some).
    #[arg(long)]
    pub(crate) verify: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = LineageFormat::Text)]
    pub(crate) format: LineageFormat,
    /// Print JSON (the whole lineage, every file and key).
    #[arg(long)]
    pub(crate) json: bool,
    /// Override a parameter: STAGE.PARAM=VALUE (repeatable).
    #[arg(long = "set", value_name = "STAGE.PARAM=VALUE")]
    pub(crate) set: Vec<String>,
    /// Sweep a parameter: STAGE.PARAM=V1,V2 (repeatable).
    #[arg(long = "sweep", value_name = "STAGE.PARAM=V1,V2")]
    pub(crate) sweep: Vec<String>,
}

/// How `lineage` draws the tree.
#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum LineageFormat {
    /// An indented tree.
    Text,
    /// A Mermaid flowchart.
    Mermaid,
}

/// The pipeline and variants a sweep verb works on.
#[derive(clap::Args)]
pub(crate) struct SweepTarget {
    /// Pipeline file.
    pub(crate) pipeline: PathBuf,
    /// Sweep a parameter: STAGE.PARAM=V1,V2 or STAGE.PARAM=[V1, "V,2"] (repeatable;
    /// adds to or replaces an axis of the file's `sweep: grid:`).
    #[arg(long = "sweep", value_name = "STAGE.PARAM=V1,V2")]
    pub(crate) sweep: Vec<String>,
    /// Override a parameter in every variant: STAGE.PARAM=VALUE (repeatable).
    #[arg(long = "set", value_name = "STAGE.PARAM=VALUE")]
    pub(crate) set: Vec<String>,
}

#[derive(Clone, Copy, ValueEnum)]
enum DagFormat {
    Mermaid,
    Dot,
}

/// An error with the exit code it should produce.
pub(crate) struct Exit(pub(crate) i32, pub(crate) String);

impl<E: Into<anyhow::Error>> From<E> for Exit {
    fn from(e: E) -> Self {
        Exit(EXIT_FAILED, format!("{:#}", e.into()))
    }
}

/// Parses arguments, runs the verb and returns the exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { EXIT_USAGE } else { 0 };
        }
    };
    match dispatch(cli) {
        Ok(code) => code,
        Err(Exit(code, message)) => {
            eprintln!("error: {message}");
            code
        }
    }
}

pub(crate) fn default_jobs() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

/// Loads a pipeline with `--set` overrides and `--sweep` axes.
pub(crate) fn load_swept(pipeline: &Path, set: &[String], sweep: &[String]) -> Result<Pipeline, Exit> {
    let overrides = set.iter().map(|s| Override::parse(s)).collect::<Result<Vec<_>, _>>().map_err(|e| Exit(EXIT_USAGE, e))?;
    let axes = sweep.iter().map(|s| crate::sweep::Axis::parse(s)).collect::<Result<Vec<_>, _>>().map_err(|e| Exit(EXIT_USAGE, e))?;
    spec::load_sweep(pipeline, &overrides, &axes).map_err(|e| Exit(EXIT_USAGE, e.to_string()))
}

pub(crate) fn work_dir() -> Result<PathBuf, Exit> {
    Ok(std::env::current_dir().context("cannot read the working directory")?)
}

fn dispatch(cli: Cli) -> Result<i32, Exit> {
    match cli.verb {
        Verb::Run { pipeline, set, sweep, jobs, dry_run, keep_going, json } => {
            let p = load_swept(&pipeline, &set, &sweep)?;
            let cache = Cache::open(&cli.cache)?;
            let mode = if dry_run { Mode::Inspect } else { Mode::Execute };
            // A failing variant of a sweep does not stop the other variants.
            let keep_going = keep_going || !p.variants.is_empty();
            let opts = Options { jobs: jobs.unwrap_or_else(default_jobs), keep_going, mode, progress: !json };
            let eval = evaluate(&p, &cache, &work_dir()?, &opts)?;
            Ok(report_run(&p, &cache, &eval, json, dry_run))
        }
        Verb::Status { pipeline, set, sweep, json } => {
            let p = load_swept(&pipeline, &set, &sweep)?;
            let cache = Cache::open(&cli.cache)?;
            let eval = inspect(&p, &cache)?;
            let rows = rows(&p, &cache, &eval)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&rows).context("cannot encode JSON")?);
            } else {
                print_status(&rows);
            }
            Ok(0)
        }
        Verb::Explain { pipeline, stage, item, set, sweep, json } => {
            let p = load_swept(&pipeline, &set, &sweep)?;
            // A swept stage's name matches all its configurations.
            let matches = |name: &str| name == stage || name.split_once('@').is_some_and(|(b, _)| b == stage);
            let Some(first) = p.stages.iter().position(|s| matches(&s.name)) else {
                return Err(Exit(EXIT_USAGE, format!("{}: no stage named {stage:?}", pipeline.display())));
            };
            let cache = Cache::open(&cli.cache)?;
            let eval = inspect(&p, &cache)?;
            let selected: Vec<StatusRow> = rows(&p, &cache, &eval)?
                .into_iter()
                .filter(|r| matches(&r.stage) && (item.is_none() || r.item == item || r.item.is_none()))
                .collect();
            if let Some(it) = &item
                && !selected.iter().any(|r| r.item.as_deref() == Some(it))
                && p.stages[first].foreach.is_some()
                && selected.iter().all(|r| r.item.is_some())
            {
                return Err(Exit(EXIT_USAGE, format!("stage {stage:?} has no item {it:?}")));
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&selected).context("cannot encode JSON")?);
            } else {
                print_explain(&cache, &selected)?;
            }
            Ok(0)
        }
        Verb::Metrics { pipeline, set, sweep, json } => {
            let p = load_swept(&pipeline, &set, &sweep)?;
            let cache = Cache::open(&cli.cache)?;
            let rows = crate::metrics::rows(&p, &inspect(&p, &cache)?)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&rows).context("cannot encode JSON")?);
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
        Verb::Dag { pipeline, format, json } => {
            let p = load_swept(&pipeline, &[], &[])?;
            if json {
                println!("{}", serde_json::to_string_pretty(&crate::graph::json(&p)).context("cannot encode JSON")?);
            } else {
                match format {
                    DagFormat::Mermaid => print!("{}", crate::graph::mermaid(&p)),
                    DagFormat::Dot => print!("{}", crate::graph::dot(&p)),
                }
            }
            Ok(0)
        }
        Verb::Exec { kind, inputs, set, item, out } => exec(&kind, &inputs, &set, item.as_deref(), &out),
        Verb::Gc { pipelines, dry_run, json } => {
            let cache = Cache::open(&cli.cache)?;
            let report = crate::maintenance::gc(&cache, &work_dir()?, &pipelines, default_jobs(), dry_run)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report).context("cannot encode JSON")?);
            } else {
                let verb = if dry_run { "would remove" } else { "removed" };
                for k in &report.removed {
                    println!("{verb} {k}");
                }
                println!(
                    "{verb} {} entries ({:.1} MB), kept {}, {} busy",
                    report.removed.len(),
                    report.removed_bytes as f64 / 1e6,
                    report.kept,
                    report.busy.len()
                );
            }
            Ok(0)
        }
        Verb::Verify { json } => {
            let cache = Cache::open(&cli.cache)?;
            let (checked, problems) = crate::maintenance::verify(&cache)?;
            if json {
                println!("{}", json!({"checked": checked, "problems": problems}));
            } else {
                for p in &problems {
                    println!("DAMAGED {}: {}", p.key, p.problem);
                }
                println!("checked {checked} entries, {} damaged", problems.len());
            }
            Ok(if problems.is_empty() { 0 } else { EXIT_FAILED })
        }
        Verb::Synth { patients, seed, out } => {
            let set = [format!("patients={patients}"), format!("seed={seed}")];
            exec("synthetic_cohort", &[], &set, None, &out)
        }
        Verb::Sweep { action } => crate::sweep_cli::sweep(&cli.cache, action),
        Verb::Lineage(args) => crate::lineage_cli::lineage(&cli.cache, args),
        Verb::Kinds { json } => {
            let kinds: Vec<Value> = lungflow_stages::all_kinds()
                .iter()
                .map(|k| {
                    let params: Vec<Value> = k
                        .params()
                        .iter()
                        .map(|p| json!({"name": p.name, "type": p.ty.describe(), "default": p.default, "doc": p.doc}))
                        .collect();
                    json!({"kind": k.name(), "version": k.version(), "doc": k.doc(), "params": params,
                           "open_params": k.open_params(), "wants_all_cores": k.wants_all_cores()})
                })
                .collect();
            if json {
                println!("{}", serde_json::to_string_pretty(&kinds).context("cannot encode JSON")?);
            } else {
                for k in lungflow_stages::all_kinds() {
                    println!("{} (v{}): {}", k.name(), k.version(), k.doc());
                    for p in k.params() {
                        let default = p.default.map(|d| format!(" = {d}")).unwrap_or_else(|| " (required)".into());
                        println!("    {}: {}{default}. {}", p.name, p.ty.describe(), p.doc);
                    }
                }
            }
            Ok(0)
        }
    }
}

pub(crate) fn inspect(p: &Pipeline, cache: &Cache) -> Result<Evaluation, Exit> {
    let opts = Options { jobs: default_jobs(), keep_going: true, mode: Mode::Inspect, progress: false };
    Ok(evaluate(p, cache, &work_dir()?, &opts)?)
}

fn instance_json(p: &Pipeline, stage: usize, item: &Option<String>) -> serde_json::Map<String, Value> {
    let mut m = serde_json::Map::new();
    m.insert("stage".into(), json!(p.stages[stage].name));
    m.insert("item".into(), json!(item));
    m
}

fn label(p: &Pipeline, stage: usize, item: &Option<String>) -> String {
    instance_label(&p.stages[stage].name, item.as_deref())
}

/// Instances of an evaluation sorted by how they ended, as JSON rows of
/// stage, item and key (or error, or reason).
#[derive(Default)]
pub(crate) struct RunLists {
    pub(crate) executed: Vec<serde_json::Map<String, Value>>,
    pub(crate) cached: Vec<serde_json::Map<String, Value>>,
    pub(crate) would_run: Vec<serde_json::Map<String, Value>>,
    pub(crate) failed: Vec<serde_json::Map<String, Value>>,
    pub(crate) skipped: Vec<serde_json::Map<String, Value>>,
    /// `FAILED stage[item]: error` lines.
    pub(crate) failures: Vec<String>,
}

impl RunLists {
    /// `executed N, cached N, failed N, skipped N (S s)`: the last line of a run.
    pub(crate) fn summary<T>(executed: &[T], cached: &[T], failed: &[T], skipped: &[T], seconds: f64) -> String {
        format!(
            "executed {}, cached {}, failed {}, skipped {} ({seconds:.2}s)",
            executed.len(),
            cached.len(),
            failed.len(),
            skipped.len()
        )
    }
}

/// Sorts an evaluation's instances into [`RunLists`].
pub(crate) fn run_lists(p: &Pipeline, eval: &Evaluation) -> RunLists {
    let mut l = RunLists::default();
    for inst in &eval.instances {
        let mut row = instance_json(p, inst.stage, &inst.item);
        match &inst.outcome {
            Outcome::Available(prod) => {
                row.insert("key".into(), json!(prod.key));
                if prod.executed.is_some() { l.executed.push(row) } else { l.cached.push(row) }
            }
            Outcome::Pending(pending) => {
                row.insert("key".into(), json!(pending.key));
                l.would_run.push(row);
            }
            Outcome::Failed(e) => {
                l.failures.push(format!("FAILED {}: {e}", label(p, inst.stage, &inst.item)));
                row.insert("error".into(), json!(e));
                l.failed.push(row);
            }
            Outcome::Skipped(why) => {
                row.insert("reason".into(), json!(why));
                l.skipped.push(row);
            }
        }
    }
    for (s, why) in &eval.unexpanded {
        let mut row = instance_json(p, *s, &None);
        row.insert("reason".into(), json!(why));
        l.skipped.push(row);
    }
    l
}

fn report_run(p: &Pipeline, cache: &Cache, eval: &Evaluation, json_out: bool, dry_run: bool) -> i32 {
    let RunLists { executed, cached, would_run, failed, skipped, failures } = run_lists(p, eval);
    let summary = if dry_run {
        format!("would run {}, fresh {}, failed {} ({:.2}s)", would_run.len(), cached.len(), failed.len(), eval.seconds)
    } else {
        RunLists::summary(&executed, &cached, &failed, &skipped, eval.seconds)
    };
    let results = cache.root().join("results").join(pipeline_name(p));
    if json_out {
        for f in &failures {
            eprintln!("{f}");
        }
        eprintln!("{summary}");
        let mut doc = json!({"executed": executed, "cached": cached, "failed": failed, "skipped": skipped,
                              "seconds": eval.seconds, "results": results.display().to_string()});
        if dry_run {
            doc["would_run"] = json!(would_run);
        }
        println!("{doc}");
    } else {
        if dry_run {
            for r in &would_run {
                println!("would run {}", instance_label(r["stage"].as_str().unwrap_or(""), r["item"].as_str()));
            }
        }
        for f in &failures {
            println!("{f}");
        }
        for r in &skipped {
            println!("skipped {}: {}", r["stage"].as_str().unwrap_or(""), r["reason"].as_str().unwrap_or(""));
        }
        println!("{summary}");
        if !dry_run {
            println!("results: {}", results.display());
            print_once_stages(p, eval, &results);
        }
    }
    if failed.is_empty() && skipped.is_empty() { 0 } else { EXIT_FAILED }
}

/// One line per stage that runs once and is available: its results folder,
/// its `.csv` outputs and its final metrics.
fn print_once_stages(p: &Pipeline, eval: &Evaluation, results: &Path) {
    let metrics = crate::metrics::rows(p, eval).unwrap_or_default();
    for &s in &p.order {
        let stage = &p.stages[s];
        let available = eval.instances.iter().find(|i| i.stage == s && i.item.is_none()).and_then(|i| match &i.outcome {
            Outcome::Available(prod) => Some(prod),
            _ => None,
        });
        let (None, Some(prod)) = (&stage.foreach, available) else { continue };
        let mut line = format!("  {:<12} {}", stage.name, results.join(&stage.name).display());
        for f in prod.outputs.iter().filter(|f| f.path.ends_with(".csv") && !f.path.contains('/')) {
            line.push_str(&format!(" {}", f.path));
        }
        let values: Vec<String> = metrics.iter().filter(|m| m.stage == stage.base_name() && m.variant == stage.variant && m.item.is_none()).map(|m| format!("{} {}", m.name, short_number(m.value))).collect();
        if !values.is_empty() {
            line.push_str(&format!("\n  {:<12} {}", "", values.join(", ")));
        }
        println!("{line}");
    }
}

/// A number with four significant digits, integers as integers.
fn short_number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e9 { format!("{v:.0}") } else { format!("{v:.4}") }
}

fn print_status(rows: &[StatusRow]) {
    let (mut fresh, mut stale, mut missing) = (0, 0, 0);
    for r in rows {
        match r.state {
            "fresh" => fresh += 1,
            "stale" => stale += 1,
            _ => missing += 1,
        }
        let who = instance_label(&r.stage, r.item.as_deref());
        let key = r.key.as_deref().map(short).unwrap_or("-");
        println!("{:<8} {who:<32} {key:<12} {}", r.state, r.outputs.as_deref().unwrap_or(""));
        for reason in &r.reasons {
            println!("         - {reason}");
        }
    }
    println!("{fresh} fresh, {stale} stale, {missing} missing");
}

fn print_explain(cache: &Cache, rows: &[StatusRow]) -> Result<(), Exit> {
    for r in rows {
        let who = instance_label(&r.stage, r.item.as_deref());
        match (r.state, &r.key) {
            ("fresh", Some(key)) => {
                let m = cache.manifest(key)?;
                let when = m.map(|m| format!(", computed {} on {} in {:.2}s", m.finished, m.host, m.seconds)).unwrap_or_default();
                println!("{who}: fresh (key {}{when})", short(key));
            }
            _ => {
                println!("{who}: {} (key {})", r.state, r.key.as_deref().map(short).unwrap_or("not known yet"));
                for reason in &r.reasons {
                    println!("  - {reason}");
                }
            }
        }
    }
    Ok(())
}

fn exec(kind_name: &str, inputs: &[String], set: &[String], item: Option<&str>, out: &Path) -> Result<i32, Exit> {
    let kind = find_kind(kind_name).ok_or_else(|| Exit(EXIT_USAGE, format!("unknown kind {kind_name:?}")))?;
    let mut given = BTreeMap::new();
    for s in set {
        let (k, v) = s.split_once('=').ok_or_else(|| Exit(EXIT_USAGE, format!("--set {s:?}: expected PARAM=VALUE")))?;
        given.insert(k.to_owned(), spec::parse_scalar(v));
    }
    let params = spec::resolve_params_for_exec(kind, given).map_err(|e| Exit(EXIT_USAGE, e))?;
    let mut input_map = BTreeMap::new();
    for i in inputs {
        let (k, v) = i.split_once('=').ok_or_else(|| Exit(EXIT_USAGE, format!("--input {i:?}: expected NAME=PATH")))?;
        let path = std::fs::canonicalize(v).map_err(|e| Exit(EXIT_USAGE, format!("--input {k}: {v}: {e}")))?;
        input_map.insert(k.to_owned(), Input { path, producers: Vec::new() });
    }
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let out = std::fs::canonicalize(out).with_context(|| format!("cannot resolve {}", out.display()))?;
    let log_path = std::env::temp_dir().join(format!("lungflow-exec-{}.log", std::process::id()));
    let wd = work_dir()?;
    let ctx = RunContext {
        params: &params,
        inputs: &input_map,
        item,
        out_dir: &out,
        log_path: &log_path,
        work_dir: &wd,
        threads: default_jobs(),
    };
    match kind.run(&ctx) {
        Ok(()) => {
            println!("{} wrote {}", kind.name(), out.display());
            Ok(0)
        }
        Err(e) => {
            let log = if log_path.exists() { format!(" (log: {})", log_path.display()) } else { String::new() };
            Err(Exit(EXIT_FAILED, format!("{} failed: {e}{log}", kind.name())))
        }
    }
}
