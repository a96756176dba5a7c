//! Fuzzing the pipeline loader: mutated pipeline files (from
//! `fuzz/corpus/pipeline/` and `pipelines/`) go through the whole loader
//! (`load_sweep`: YAML, checks against the stage kinds, sweep folding) for
//! `LUNGFLOW_FUZZ_SECONDS` (default 120). Any panic, or an allocation over
//! 1 GiB, fails the test with the input saved under `TARGET/fuzz/pipeline/`.

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use lungflow::pipeline::load::load_sweep;
use lungflow_testkit::fuzz::{self, CappedAllocator, Options};

#[global_allocator]
static ALLOC: CappedAllocator = CappedAllocator::new(1 << 30);

thread_local! {
    /// Each fuzzing thread's scratch pipeline file.
    static SCRATCH: RefCell<Option<(lungflow_testkit::TempDir, PathBuf)>> = const { RefCell::new(None) };
}

/// Loads `bytes` as a pipeline file; the result is ignored (errors are
/// expected), only panics and allocations are caught.
fn load_bytes(bytes: &[u8]) {
    SCRATCH.with(|cell| {
        let mut scratch = cell.borrow_mut();
        let (_, file) = scratch.get_or_insert_with(|| {
            let dir = lungflow_testkit::tempdir().expect("temp dir");
            let file = dir.path().join("fuzz.yaml");
            (dir, file)
        });
        std::fs::write(&*file, bytes).expect("scratch file");
        let _ = load_sweep(file, &[], &[]);
    });
}

#[test]
fn the_pipeline_loader_survives_mutated_files() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut opts = Options::from_env("pipeline");
    opts.extra_seeds.push(root.join("pipelines"));
    let report = fuzz::run(&root.join("fuzz/corpus/pipeline"), load_bytes, &opts);
    eprintln!(
        "pipeline loader: {} inputs in {:.0} s ({:.0}/s) from {} seeds, peak heap {} MB",
        report.executions,
        report.elapsed.as_secs_f64(),
        report.per_second(),
        report.seeds,
        report.peak_live_bytes >> 20
    );
    assert!(report.seeds >= 10, "the committed corpus and the example pipelines are seeds");
    assert!(report.executions > 100, "the fuzzer ran");
}
