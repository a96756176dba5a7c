//! The `synthetic_cohort` kind: N patients of phantom chests written as real
//! DICOM series, with planted nodules in the positive ones.
//!
//! Output: `dicom/<patient id>/<random name>.dcm` (file names carry no order;
//! even patients unsigned 12-bit, odd patients signed 16-bit, both with
//! PixelPaddingValue outside a circular field of view), `labels.csv`
//! (`id,cancer` for every patient: the truth), the DSB 2017 pair
//! `stage1_labels.csv` (the training patients' labels) and
//! `stage1_sample_submission.csv` (the test patients, `cancer` 0.5), and
//! `nodules.csv` (every planted nodule, in [`crate::formats::nodules`]'s
//! format). Patient i is a test patient when ⌊(i+1)·f⌋ > ⌊i·f⌋ for the test
//! fraction f, so the split of earlier patients never changes as the cohort
//! grows.
//! The same parameters always give byte-identical files.

use std::fmt::Write as _;
use std::path::Path;

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::dicom::writer::{PixelEncoding, SliceInfo, write_slice};
use crate::formats::labels::{LABELS_FILE, SAMPLE_SUBMISSION_FILE, TRAIN_LABELS_FILE};
use crate::formats::nodules::{NODULES_FILE, NODULES_HEADER};
use crate::limits::checked_len;
use crate::phantom::{NoduleSizes, Phantom, ScanGrid};
use crate::{ParamSpec, RunContext, StageError, StageKind, kind_params};

/// Folder of patient folders in the output.
pub const DICOM_DIR: &str = "dicom";

/// What a cohort looks like.
#[derive(Clone, Debug)]
pub struct CohortOptions {
    /// Number of patients.
    pub patients: usize,
    /// Random seed.
    pub seed: u64,
    /// Fraction of patients with cancer (and nodules).
    pub positive_fraction: f64,
    /// Scan grid.
    pub grid: ScanGrid,
    /// Image noise, HU (standard deviation).
    pub noise_hu: f64,
    /// Largest diameter of nodules on the pleura, mm.
    pub max_pleural_mm: f64,
    /// Smallest nodule diameter, mm.
    pub min_nodule_mm: f64,
    /// Largest nodule diameter inside the lung, mm.
    pub max_nodule_mm: f64,
    /// Chance that a nodule sits on the pleura.
    pub pleural_fraction: f64,
    /// Fraction of patients whose labels are withheld (the test patients).
    pub test_fraction: f64,
}

impl Default for CohortOptions {
    fn default() -> Self {
        CohortOptions {
            patients: 12,
            seed: 2017,
            positive_fraction: 0.5,
            grid: ScanGrid { matrix: 160, pixel_mm: 2.0, slices: 60, slice_mm: 2.5 },
            noise_hu: 20.0,
            max_pleural_mm: 8.0,
            min_nodule_mm: 3.0,
            max_nodule_mm: 30.0,
            pleural_fraction: 0.35,
            test_fraction: 0.25,
        }
    }
}

/// A generated patient.
pub struct Patient {
    /// DSB-style 32-hex-digit id.
    pub id: String,
    /// Whether the patient has cancer.
    pub cancer: bool,
    /// The phantom.
    pub phantom: Phantom,
    /// Whether the patient's label is withheld (listed in the sample submission).
    pub test: bool,
}

/// A deterministic DICOM UID under the 2.25 (UUID-derived) root.
fn uid(seed: u64, what: &str) -> String {
    let h = blake3::hash(format!("lungflow synthetic uid {seed} {what}").as_bytes());
    let n = u128::from_le_bytes(h.as_bytes()[..16].try_into().expect("16 bytes")) >> 2;
    format!("2.25.{n}")
}

/// Generates the patients (without writing anything). Patient i depends only
/// on the seed and i, so growing a cohort leaves earlier patients unchanged.
pub fn patients(o: &CohortOptions) -> Vec<Patient> {
    (0..o.patients)
        .map(|i| {
            let mut rng = ChaCha8Rng::seed_from_u64(o.seed.wrapping_mul(1_000_003).wrapping_add(i as u64));
            let id = blake3::hash(format!("lungflow synthetic patient {} {i}", o.seed).as_bytes()).to_hex()[..32].to_owned();
            let cancer = rng.random_bool(o.positive_fraction);
            let nodules = if cancer { rng.random_range(1..=3) } else { 0 };
            let phantom = Phantom::random(
                &mut rng,
                &o.grid,
                nodules,
                NoduleSizes {
                    min_mm: o.min_nodule_mm,
                    max_mm: o.max_nodule_mm,
                    max_pleural_mm: o.max_pleural_mm,
                    pleural_fraction: o.pleural_fraction,
                },
            );
            let test = ((i + 1) as f64 * o.test_fraction).floor() > (i as f64 * o.test_fraction).floor();
            Patient { id, cancer, phantom, test }
        })
        .collect()
}

/// Writes patient `i`'s series into `dir`, under shuffled file names.
fn write_series(o: &CohortOptions, i: usize, p: &Patient, dir: &Path) -> Result<(), StageError> {
    std::fs::create_dir_all(dir).map_err(|e| StageError(format!("cannot write {}: {e}", dir.display())))?;
    let encoding = if i.is_multiple_of(2) { PixelEncoding::Unsigned } else { PixelEncoding::Signed };
    let study = uid(o.seed, &format!("{} study", p.id));
    let series = uid(o.seed, &format!("{} series", p.id));
    let frame = uid(o.seed, &format!("{} frame", p.id));
    let slices = p.phantom.render(&o.grid, o.noise_hu, o.seed.wrapping_add(i as u64 * 7919));
    let mut names: Vec<String> =
        (0..o.grid.slices).map(|k| blake3::hash(format!("{} {k} {}", p.id, o.seed).as_bytes()).to_hex()[..16].to_owned()).collect();
    names.shuffle(&mut ChaCha8Rng::seed_from_u64(o.seed ^ i as u64));
    for (k, pixels) in slices.iter().enumerate() {
        let sop = uid(o.seed, &format!("{} slice {k}", p.id));
        let info = SliceInfo {
            patient_id: &p.id,
            study_uid: &study,
            series_uid: &series,
            sop_uid: &sop,
            frame_uid: &frame,
            instance: k as u32 + 1,
            position: o.grid.position(k, 0, 0),
            pixel_mm: o.grid.pixel_mm,
            slice_mm: o.grid.slice_mm,
            matrix: o.grid.matrix,
            encoding,
        };
        write_slice(&dir.join(format!("{}.dcm", names[k])), &info, pixels)?;
    }
    Ok(())
}

/// Writes the whole cohort under `out`.
pub fn write_cohort(o: &CohortOptions, out: &Path) -> Result<Vec<Patient>, StageError> {
    let io = |p: &Path, e: std::io::Error| StageError(format!("cannot write {}: {e}", p.display()));
    let patients = patients(o);
    let mut labels = String::from("id,cancer\n");
    let mut train_labels = labels.clone();
    let mut sample_submission = labels.clone();
    let mut nodules = format!("{NODULES_HEADER}\n");
    for (i, p) in patients.iter().enumerate() {
        write_series(o, i, p, &out.join(DICOM_DIR).join(&p.id))?;
        let _ = writeln!(labels, "{},{}", p.id, p.cancer as u8);
        if p.test {
            let _ = writeln!(sample_submission, "{},0.5", p.id);
        } else {
            let _ = writeln!(train_labels, "{},{}", p.id, p.cancer as u8);
        }
        for n in &p.phantom.nodules {
            let c = n.centre;
            let _ = writeln!(nodules, "{},{:.3},{:.3},{:.3},{:.3},{}", p.id, c[0], c[1], c[2], n.diameter_mm, n.pleural as u8);
        }
    }
    for (name, text) in
        [(LABELS_FILE, labels), (NODULES_FILE, nodules), (TRAIN_LABELS_FILE, train_labels), (SAMPLE_SUBMISSION_FILE, sample_submission)]
    {
        let path = out.join(name);
        std::fs::write(&path, text).map_err(|e| io(&path, e))?;
    }
    Ok(patients)
}

/// Generates a synthetic DICOM cohort.
pub struct SyntheticCohort;

impl StageKind for SyntheticCohort {
    fn name(&self) -> &'static str {
        "synthetic_cohort"
    }

    fn version(&self) -> u32 {
        2
    }

    fn doc(&self) -> &'static str {
        "writes phantom chest CT series as DICOM (dicom/<id>/), labels.csv, stage1_labels.csv, stage1_sample_submission.csv and nodules.csv"
    }

    fn params(&self) -> Vec<ParamSpec> {
        Params::specs()
    }

    fn run(&self, ctx: &RunContext<'_>) -> Result<(), StageError> {
        let o = Params::parse(ctx.params)?.options()?;
        write_cohort(&o, ctx.out_dir).map(|_| ())
    }
}

kind_params! {
    /// The parameters of `synthetic_cohort`.
    pub struct Params {
        /// number of patients
        #[range(1..=10_000)]
        patients: i64 = CohortOptions::default().patients,
        /// random seed (same seed, same bytes)
        seed: i64 = CohortOptions::default().seed,
        /// fraction of patients with cancer
        #[range(0.0..=1.0)]
        positive_fraction: f64 = CohortOptions::default().positive_fraction,
        /// rows = columns per slice
        #[range(16..=1024)]
        matrix: i64 = CohortOptions::default().grid.matrix,
        /// pixel spacing, mm
        #[range(0.1..=20.0)]
        pixel_mm: f64 = CohortOptions::default().grid.pixel_mm,
        /// slices per series
        #[range(2..=2000)]
        slices: i64 = CohortOptions::default().grid.slices,
        /// slice spacing, mm
        #[range(0.1..=20.0)]
        slice_mm: f64 = CohortOptions::default().grid.slice_mm,
        /// image noise, HU standard deviation
        #[range(0.0..=1000.0)]
        noise_hu: f64 = CohortOptions::default().noise_hu,
        /// largest diameter of nodules on the pleura
        #[range(0.5..=100.0)]
        max_pleural_mm: f64 = CohortOptions::default().max_pleural_mm,
        /// smallest nodule diameter
        #[range(0.5..=100.0)]
        min_nodule_mm: f64 = CohortOptions::default().min_nodule_mm,
        /// chance that a nodule sits on the pleura
        #[range(0.0..=1.0)]
        pleural_fraction: f64 = CohortOptions::default().pleural_fraction,
        /// largest nodule diameter inside the lung
        #[range(0.5..=100.0)]
        max_nodule_mm: f64 = CohortOptions::default().max_nodule_mm,
        /// fraction of patients whose labels are withheld (the sample submission)
        #[range(0.0..=1.0)]
        test_fraction: f64 = CohortOptions::default().test_fraction,
    }
}

impl Params {
    /// The cohort these parameters describe, with counts checked and
    /// fractions clamped.
    fn options(&self) -> Result<CohortOptions, StageError> {
        let count = |name: &str, v: i64, min: i64, max: i64| -> Result<usize, StageError> {
            if !(min..=max).contains(&v) {
                return Err(StageError(format!("parameter {name} must be between {min} and {max}, got {v}")));
            }
            Ok(v as usize)
        };
        let (matrix, slices) = (count("matrix", self.matrix, 16, 1024)?, count("slices", self.slices, 2, 2000)?);
        checked_len(
            &[slices, matrix, matrix],
            std::mem::size_of::<Option<i16>>(),
            format!("slices {slices} of matrix {matrix}: one series"),
        )?;
        Ok(CohortOptions {
            patients: count("patients", self.patients, 1, 10_000)?,
            seed: self.seed as u64,
            positive_fraction: self.positive_fraction.clamp(0.0, 1.0),
            grid: ScanGrid { matrix, pixel_mm: self.pixel_mm, slices, slice_mm: self.slice_mm },
            noise_hu: self.noise_hu.max(0.0),
            max_pleural_mm: self.max_pleural_mm,
            min_nodule_mm: self.min_nodule_mm.max(0.5),
            max_nodule_mm: self.max_nodule_mm,
            pleural_fraction: self.pleural_fraction,
            test_fraction: self.test_fraction.clamp(0.0, 1.0),
        })
    }
}
