//! Fuzzes the DICOM reader: mutations of the seeds in `fuzz/corpus/dicom/`
//! (plus, when `LUNGFLOW_CT_DATA` is set, real slices) go through the public
//! header and pixel entry points under a 1 GiB allocation cap, for
//! `LUNGFLOW_FUZZ_SECONDS` (default 120) on 2 threads. Errors are the
//! expected outcome; a panic, an abort or an allocation over the cap fails
//! the test with the input saved under `TARGET/fuzz/dicom/`.
//!
//! `cargo test --release -p lungflow-stages --test fuzz_dicom -- --ignored write_corpus`
//! rewrites the corpus.

use std::path::{Path, PathBuf};

use lungflow_stages::dicom::header::header_from_bytes;
use lungflow_stages::dicom::series::{IngestOptions, decode_checked};
use lungflow_stages::dicom::writer::{PixelEncoding, SliceInfo, write_slice};
use lungflow_testkit::dicom::{deflated, hostile};
use lungflow_testkit::fuzz::{self, CappedAllocator, Options};

#[global_allocator]
static ALLOC: CappedAllocator = CappedAllocator::new(1 << 30);

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/dicom")
}

/// What the pipeline does with one file: read its header, then its pixels.
fn target(bytes: &[u8]) {
    if let Ok((header, checked)) = header_from_bytes(Path::new("fuzz.dcm"), bytes.to_vec()) {
        let _ = decode_checked(&header, &checked, &IngestOptions::default());
    }
}

#[test]
fn the_dicom_reader_survives_mutated_slices() {
    let mut opts = Options::from_env("dicom");
    if let Some(data) = std::env::var_os("LUNGFLOW_CT_DATA").map(PathBuf::from) {
        opts.extra_seeds.extend([data.join("chest/LIDC-IDRI-0002"), data.join("syntaxes")]);
    }
    let report = fuzz::run(&corpus(), target, &opts);
    eprintln!(
        "fuzz_dicom: {} executions in {:.1} s ({:.0}/s) over {} seeds; peak live heap {} MiB",
        report.executions,
        report.elapsed.as_secs_f64(),
        report.per_second(),
        report.seeds,
        report.peak_live_bytes >> 20
    );
    assert!(report.executions > 0);
}

#[test]
#[ignore = "replays the inputs named by LUNGFLOW_FUZZ_REPLAY (paths separated by ':')"]
fn replay() {
    for path in std::env::split_paths(&std::env::var_os("LUNGFLOW_FUZZ_REPLAY").expect("LUNGFLOW_FUZZ_REPLAY")) {
        eprintln!("replaying {}", path.display());
        target(&std::fs::read(&path).unwrap());
    }
}

/// A 32 x 32 synthetic slice, as `synthetic_cohort` writes them.
fn valid_slice(dir: &Path) -> Vec<u8> {
    let path = dir.join("valid.dcm");
    let info = SliceInfo {
        patient_id: "fuzz",
        study_uid: "1.2.3",
        series_uid: "1.2.3.1",
        sop_uid: "1.2.3.1.1",
        frame_uid: "1.2.3.9",
        instance: 1,
        position: [-16.0, -16.0, 0.0],
        pixel_mm: 1.0,
        slice_mm: 2.5,
        matrix: 32,
        encoding: PixelEncoding::Signed,
    };
    let pixels: Vec<Option<i16>> = (0..1024).map(|i| if i < 32 { None } else { Some((i % 97) as i16 * 20 - 1000) }).collect();
    write_slice(&path, &info, &pixels).unwrap();
    std::fs::read(&path).unwrap()
}

#[test]
#[ignore = "rewrites the committed corpus"]
fn write_corpus() {
    let dir = corpus();
    std::fs::create_dir_all(&dir).unwrap();
    let valid = valid_slice(&dir);
    std::fs::write(dir.join("valid-deflated.dcm"), deflated(&valid)).unwrap();
    // Small versions of the hostile cases: still deeper than the limit, a bomb of 2 MiB from about 2 KiB.
    for (name, bytes, _) in hostile(&valid, 200, 2 << 20) {
        std::fs::write(dir.join(format!("{name}.dcm")), bytes).unwrap();
    }
}
