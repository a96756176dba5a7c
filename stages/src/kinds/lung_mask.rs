//! The `lung_mask` kind: segments the lungs in a (resampled) HU volume and
//! crops HU and mask to the mask's bounding box (the steps are in
//! [`segment::lungs`](crate::segment::lungs)).
//!
//! Input `volume` (a `volume.arrow` folder); outputs the crop as
//! `volume.arrow` and `mask.arrow`, and `mask.json`, the
//! [`MaskSummary`](crate::segment::lungs::MaskSummary).

use crate::formats::volume::{MASK_FILE, VOLUME_FILE, read_volume, write_mask, write_volume};
use crate::kind_params;
use crate::params::input_path;
use crate::segment::lungs::{MaskOptions, crop, lung_mask};
use crate::{ParamSpec, RunContext, StageError, StageKind};

/// Summary of the segmentation.
pub const SUMMARY_FILE: &str = "mask.json";

kind_params! {
    /// The parameters of `lung_mask`.
    pub struct Params {
        /// lung candidates are voxels below this HU
        threshold_hu: f64 = MaskOptions::default().threshold_hu,
        /// smaller components are never lungs
        min_component_ml: f64 = MaskOptions::default().min_component_ml,
        /// keep the 2nd largest component when at least this fraction of the largest
        second_lung_fraction: f64 = MaskOptions::default().second_lung_fraction,
        /// dilation distance in mm (keeps pleural nodules)
        dilate_mm: f64 = MaskOptions::default().dilate_mm,
    }
}

/// Segments and crops the lungs.
pub struct LungMask;

impl StageKind for LungMask {
    fn name(&self) -> &'static str {
        "lung_mask"
    }

    /// 2: volume files version 2 (`origin_mm` as `[z, y, x]`).
    fn version(&self) -> u32 {
        2
    }

    fn doc(&self) -> &'static str {
        "segments the lungs of volume.arrow (input `volume`); writes the crop as volume.arrow + mask.arrow, and mask.json"
    }

    fn params(&self) -> Vec<ParamSpec> {
        Params::specs()
    }

    fn run(&self, ctx: &RunContext<'_>) -> Result<(), StageError> {
        let p = Params::parse(ctx.params)?;
        let opts = MaskOptions {
            threshold_hu: p.threshold_hu,
            min_component_ml: p.min_component_ml,
            second_lung_fraction: p.second_lung_fraction,
            dilate_mm: p.dilate_mm,
        };
        let path = input_path(ctx, "volume")?.join(VOLUME_FILE);
        let v = read_volume(&path)?;
        let (mask, summary) = lung_mask(&v, &opts).map_err(|e| StageError(format!("{}: {e}", path.display())))?;
        let (hu_crop, mask_crop) = crop(&v, &mask, summary.bbox);
        write_volume(&ctx.out_dir.join(VOLUME_FILE), &hu_crop)?;
        write_mask(&ctx.out_dir.join(MASK_FILE), &mask_crop)?;
        let text = serde_json::to_string_pretty(&summary).map_err(StageError::msg)?;
        std::fs::write(ctx.out_dir.join(SUMMARY_FILE), text).map_err(StageError::msg)
    }
}
