//! Fuzzing every stage kind's parameters: each input picks a kind and, for
//! each of its parameters, a value (the default, a bound of its declared
//! range, just past a bound, zero, -1, 1e300, NaN, infinities, a wrong type,
//! a hostile list) and runs the kind in this process on small real inputs
//! made once by a tiny pipeline, for `LUNGFLOW_FUZZ_SECONDS` (default 120).
//!
//! The property is the one a run relies on: no abort, and no allocation over
//! the capped allocator's 1 GiB (the kinds' buffer cap is lowered to 256 MiB
//! here, so a request that skipped the check is caught). An error is a
//! fine answer; a panic is one too (a run turns it into the instance's
//! failure) but is counted and shown. `command` is left out: its
//! parameters are a shell command line, whose cost is the user's.
//!
//! Parameters that only scale the time a kind takes (epochs, patients,
//! resamples) are held to small values when a pick is in range, so that one
//! input takes at most seconds; out-of-range picks are kept as picked.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use lungflow_stages::contract::ParamRange;
use lungflow_stages::{Input, ParamType, RunContext, StageKind, all_kinds};
use lungflow_testkit::fuzz::{self, CappedAllocator, Options};
use serde_json::{Value, json};

mod common;

#[global_allocator]
static ALLOC: CappedAllocator = CappedAllocator::new(1 << 30);

/// The kinds' buffer cap in this test, under the allocator's.
const BUFFER_CAP: u64 = 256 << 20;

/// In-range values of these parameters are held at or under the bound.
const SLOW: &[(&str, f64)] = &[
    ("patients", 3.0),
    ("epochs", 2.0),
    ("patience", 2.0),
    ("bootstrap", 200.0),
    ("folds", 3.0),
    ("repeats", 2.0),
    ("restarts", 1.0),
    ("slices", 48.0),
    ("matrix", 96.0),
];

/// Makes the inputs: an 8-patient cohort through a whole tiny chain.
fn make_inputs(p: &common::Project) -> PathBuf {
    let pipeline = format!(
        "{}{}",
        common::cohort_pipeline("patients: 8, seed: 5, matrix: 64, slices: 24, positive_fraction: 0.5, test_fraction: 0.25"),
        common::chain("patients", "@cohort/dicom/{item}", "@cohort/stage1_labels.csv", "@cohort/stage1_sample_submission.csv")
    );
    p.write(
        "pipe.yaml",
        &format!(
            "{pipeline}  evaluate:\n    kind: evaluate\n    inputs: {{submission: \"@submission\", labels: \"@cohort/labels.csv\"}}\n  detector:\n    kind: nodule_score\n    foreach: patients\n    inputs: {{lungs: \"@lungs\"}}\n"
        ),
    );
    let out = p.run(&["run", "pipe.yaml"]);
    assert!(out.status.success(), "the input pipeline runs: {}", String::from_utf8_lossy(&out.stderr));
    p.path().join("cache/results/pipe")
}

/// The first entry of a per-item result folder.
fn first(dir: &Path) -> PathBuf {
    let mut items: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    items.sort();
    items.remove(0)
}

/// The inputs each kind gets, by input name.
fn inputs_of(results: &Path) -> BTreeMap<&'static str, BTreeMap<String, Input>> {
    let input = |path: PathBuf| Input { path, producers: Vec::new() };
    let mut all = BTreeMap::new();
    let mut add = |kind: &'static str, list: Vec<(&str, PathBuf)>| {
        all.insert(kind, list.into_iter().map(|(n, p)| (n.to_owned(), input(p))).collect());
    };
    let r = |rel: &str| results.join(rel);
    add("synthetic_cohort", vec![]);
    add("hu_volume", vec![("dicom", first(&r("cohort/dicom")))]);
    add("resample", vec![("volume", first(&r("hu")))]);
    add("lung_mask", vec![("volume", first(&r("iso")))]);
    add("patches", vec![("lungs", first(&r("lungs")))]);
    add("gmcae_train", vec![("patches", r("patches"))]);
    add("encode", vec![("model", r("gmcae")), ("lungs", first(&r("lungs")))]);
    add("classifier_train", vec![("features", r("encode")), ("labels", r("cohort/stage1_labels.csv"))]);
    add("predict", vec![("model", r("classifier")), ("features", first(&r("encode")))]);
    add("submission", vec![("predictions", r("predict")), ("ids", r("cohort/stage1_sample_submission.csv"))]);
    add("evaluate", vec![("submission", r("submission")), ("labels", r("cohort/labels.csv"))]);
    add("nodule_score", vec![("lungs", first(&r("lungs")))]);
    add("baseline_cv", vec![("scores", r("detector")), ("labels", r("cohort/stage1_labels.csv"))]);
    all
}

/// Reads bytes in turn, then zeros.
struct Picks<'a>(std::slice::Iter<'a, u8>);

impl Picks<'_> {
    fn next(&mut self) -> u8 {
        self.0.next().copied().unwrap_or(0)
    }
}

/// A value for one parameter, picked by the next bytes.
fn pick(spec: &lungflow_stages::ParamSpec, picks: &mut Picks<'_>) -> Option<Value> {
    let (low, high) = match spec.range {
        Some(ParamRange::Int { min, max }) => (Some(min as f64), max.map(|m| m as f64)),
        Some(ParamRange::Float { min, max }) => (Some(min), max),
        None => (None, None),
    };
    let numeric = |v: f64| if spec.ty == ParamType::Int && v.is_finite() && v.abs() < 9e15 { json!(v.round() as i64) } else { json!(v) };
    let value = match picks.next() % 16 {
        0 => return spec.default.clone(),
        1 => numeric(low.unwrap_or(0.0)),
        2 => numeric(high.unwrap_or(1e6)),
        3 => numeric(low.map_or(-1.0, |l| if spec.ty == ParamType::Int { l - 1.0 } else { l - l.abs() * 0.5 - 1e-9 })),
        4 => numeric(high.map_or(1e12, |h| if spec.ty == ParamType::Int { h + 1.0 } else { h * 2.0 + 1.0 })),
        5 => numeric(0.0),
        6 => numeric(-1.0),
        7 => numeric(1e300),
        8 => json!(f64::NAN),
        9 => json!(f64::INFINITY),
        10 => json!("x"),
        11 => json!(true),
        12 => json!(["a", "b"]),
        13 => json!(
            ["1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17", "4096,4096", "0", "", "99999999999", "kdsb17", "2,2", "cuda"]
                [picks.next() as usize % 8]
        ),
        14 => return None,
        _ => {
            let l = low.unwrap_or(0.0);
            let h = high.unwrap_or(l + 100.0);
            numeric(l + (h - l) * picks.next() as f64 / 255.0)
        }
    };
    Some(value)
}

/// An in-range value of a slow parameter, held to its bound.
fn held(name: &str, value: Value) -> Value {
    match (SLOW.iter().find(|(n, _)| *n == name), value.as_f64()) {
        (Some(&(_, bound)), Some(v)) if v > bound && v.is_finite() && v < 1e9 => {
            if value.is_i64() || value.is_u64() {
                json!(bound as i64)
            } else {
                json!(bound)
            }
        }
        _ => value,
    }
}

/// Runs one fuzz input: a kind and its parameters.
fn run_one(
    bytes: &[u8],
    kinds: &[&'static dyn StageKind],
    inputs: &BTreeMap<&'static str, BTreeMap<String, Input>>,
    scratch: &Path,
    panics: &AtomicU64,
) {
    let mut picks = Picks(bytes.iter());
    let kind = kinds[picks.next() as usize % kinds.len()];
    let mut params = BTreeMap::new();
    for spec in kind.params() {
        if let Some(v) = pick(&spec, &mut picks) {
            params.insert(spec.name.to_owned(), held(spec.name, v));
        }
    }
    let out = scratch.join(format!("out-{:?}", std::thread::current().id()));
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).unwrap();
    let (log, timings) = (out.with_extension("log"), out.with_extension("timings"));
    let ctx = RunContext {
        params: &params,
        inputs: &inputs[kind.name()],
        item: Some("fuzz"),
        out_dir: &out,
        log_path: &log,
        timings_path: &timings,
        work_dir: scratch,
        threads: 1,
    };
    if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| kind.run(&ctx))).is_err() {
        panics.fetch_add(1, Ordering::Relaxed);
        eprintln!("panic (a run's failure, not an abort): {} with {}", kind.name(), serde_json::to_string(&params).unwrap_or_default());
    }
}

#[test]
fn every_kind_survives_hostile_parameters() {
    lungflow_stages::limits::set_max_buffer_bytes(BUFFER_CAP);
    let project = common::Project::new();
    let results = make_inputs(&project);
    let inputs = inputs_of(&results);
    let kinds: Vec<&'static dyn StageKind> = all_kinds().into_iter().filter(|k| k.name() != "command").collect();
    assert_eq!(kinds.len(), inputs.len(), "every kind but command has inputs here");
    let scratch = project.path().join("scratch");
    std::fs::create_dir_all(&scratch).unwrap();
    let panics = AtomicU64::new(0);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let opts = Options::from_env("kind_params");
    let report = fuzz::run(&root.join("fuzz/corpus/kind_params"), |bytes| run_one(bytes, &kinds, &inputs, &scratch, &panics), &opts);
    eprintln!(
        "kind parameters: {} inputs in {:.0} s from {} seeds, peak heap {} MB, {} panics",
        report.executions,
        report.elapsed.as_secs_f64(),
        report.seeds,
        report.peak_live_bytes >> 20,
        panics.load(Ordering::Relaxed)
    );
    assert!(report.executions >= kinds.len() as u64, "the fuzzer ran");
}
