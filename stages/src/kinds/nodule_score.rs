//! The `nodule_score` kind: one patient's nodule score from a detector that
//! learns nothing, the largest ball of solid tissue that lung air surrounds
//! (the steps are in [`segment::nodules`](crate::segment::nodules)).
//!
//! Input `lungs` (a `lung_mask` output: `volume.arrow` and `mask.arrow`);
//! output [`score.json`](crate::formats::nodule_score): the ball's diameter
//! in mm and where it is.

use crate::formats::nodule_score::{PatientScore, SCORE_FILE, write_score};
use crate::formats::volume::{MASK_FILE, VOLUME_FILE, read_mask, read_volume};
use crate::params::input_path;
use crate::segment::nodules::{DetectorOptions, largest_nodule};
use crate::{ParamSpec, RunContext, StageError, StageKind, kind_params};

kind_params! {
    /// The parameters of `nodule_score`.
    pub struct Params {
        /// solid tissue is at or above this HU, lung air below it
        #[range(crate::params::HU)]
        solid_hu: f64 = DetectorOptions::default().solid_hu,
        /// smaller balls of solid tissue are not candidates (mm; the demo's vessels are 4.4 mm at most)
        #[range(0.0..=200.0)]
        min_diameter_mm: f64 = DetectorOptions::default().min_diameter_mm,
        /// the sphere tested for air lies this far beyond a candidate's ball (mm)
        #[range(0.0..=50.0)]
        shell_mm: f64 = DetectorOptions::default().shell_mm,
        /// a candidate is a nodule when at least this fraction of its sphere is lung air
        #[range(0.0..=1.0)]
        min_air_fraction: f64 = DetectorOptions::default().min_air_fraction,
    }
}

/// Scores one patient's lungs for nodules.
pub struct NoduleScore;

impl StageKind for NoduleScore {
    fn name(&self) -> &'static str {
        "nodule_score"
    }

    fn version(&self) -> u32 {
        1
    }

    fn doc(&self) -> &'static str {
        "a detector with no training: the diameter (mm) of the largest ball of solid tissue that lung air surrounds in a lung crop (input `lungs`), and where it is: score.json"
    }

    fn params(&self) -> Vec<ParamSpec> {
        Params::specs()
    }

    fn run(&self, ctx: &RunContext<'_>) -> Result<(), StageError> {
        let p = Params::parse(ctx.params)?;
        let o = DetectorOptions {
            solid_hu: p.solid_hu,
            min_diameter_mm: p.min_diameter_mm,
            shell_mm: p.shell_mm,
            min_air_fraction: p.min_air_fraction,
        };
        let lungs = input_path(ctx, "lungs")?;
        let v = read_volume(&lungs.join(VOLUME_FILE))?;
        let m = read_mask(&lungs.join(MASK_FILE))?;
        let found = largest_nodule(&v, &m, &o).map_err(|e| StageError(format!("{}: {e}", lungs.display())))?;
        let nodule = found.nodule;
        let centre_mm = nodule.map(|n| std::array::from_fn(|a| v.meta.origin_mm[a] + n.centre[a] as f64 * v.meta.spacing_mm[a]));
        let score = PatientScore {
            score: nodule.map_or(0.0, |n| n.diameter_mm),
            centre_voxel: nodule.map(|n| n.centre),
            centre_mm,
            air_fraction: nodule.map(|n| n.air_fraction),
            candidates_tested: found.candidates_tested,
        };
        write_score(&ctx.out_dir.join(SCORE_FILE), &score)
    }
}
