//! The `lung_mask` kind: segments the lungs in a (resampled) HU volume and
//! crops HU and mask to the mask's bounding box (the steps are in
//! [`segment::lungs`](crate::segment::lungs)).
//!
//! Input `volume` (a `volume.arrow` folder); outputs the crop as
//! `volume.arrow` and `mask.arrow` (0 outside, 1 and 2 the lungs),
//! `mask.json`, the [`MaskSummary`](crate::segment::lungs::MaskSummary), and
//! `mask.png`, three orthogonal slices with the lungs outlined.

use crate::contract::{ItemPicture, ReportView};
use crate::formats::volume::{MASK_FILE, VOLUME_FILE, read_volume, write_mask, write_volume};
use crate::kind_params;
use crate::params::input_path;
use crate::segment::lungs::{BONE_HU, MaskOptions, crop, lung_mask};
use crate::segment::picture::write_mask_picture;
use crate::segment::split::SplitOptions;
use crate::{ParamSpec, RunContext, StageError, StageKind};

/// Summary of the segmentation.
pub const SUMMARY_FILE: &str = "mask.json";
/// The picture of the mask.
pub const PICTURE_FILE: &str = "mask.png";

kind_params! {
    /// The parameters of `lung_mask`.
    pub struct Params {
        /// lung candidates are voxels below this HU
        #[range(crate::params::HU)]
        threshold_hu: f64 = MaskOptions::default().threshold_hu,
        /// smaller components are never lungs
        #[range(0.0..=10_000.0)]
        min_component_ml: f64 = MaskOptions::default().min_component_ml,
        /// keep the 2nd largest component when at least this fraction of the largest
        #[range(0.0..=1.0)]
        second_lung_fraction: f64 = MaskOptions::default().second_lung_fraction,
        /// most face-layer erosions tried to split one component into two lungs (0: never)
        #[range(0..=200)]
        split_max_erosions: i64 = MaskOptions::default().split.max_erosions as i64,
        /// the two parts of a split may differ in size at most by this factor
        #[range(1.0..)]
        split_max_ratio: f64 = MaskOptions::default().split.max_ratio,
        /// per lung and axial slice, use the convex hull when at most this times the slice's lung (0: no hull)
        #[range(0.0..=100.0)]
        hull_max_ratio: f64 = MaskOptions::default().hull_max_ratio,
        /// hull additions farther than this (mm, in the slice) from the lung are dropped (0: no limit)
        #[range(0.0..=100.0)]
        hull_depth_mm: f64 = MaskOptions::default().hull_depth_mm,
        /// dilation distance in mm, per lung, after the hull (0: none)
        #[range(0.0..=100.0)]
        dilate_mm: f64 = MaskOptions::default().dilate_mm,
        /// what the hull and the dilation add above this HU is bone, not lung
        #[range(crate::params::HU)]
        bone_hu: f64 = BONE_HU,
        /// remove bone (above bone_hu) from what the hull and the dilation add
        exclude_bone: bool = MaskOptions::default().bone_hu.is_some(),
    }
}

impl Params {
    /// The segmentation options, checked.
    fn options(&self) -> Result<MaskOptions, StageError> {
        let bad = |name: &str, v: f64, want: &str| Err(StageError(format!("lung_mask: {name} must be {want}, got {v}")));
        if self.split_max_ratio.is_nan() || self.split_max_ratio < 1.0 {
            return bad("split_max_ratio", self.split_max_ratio, "at least 1");
        }
        for (name, v) in [("hull_max_ratio", self.hull_max_ratio), ("hull_depth_mm", self.hull_depth_mm), ("dilate_mm", self.dilate_mm)] {
            if !(0.0..=100.0).contains(&v) {
                return bad(name, v, "between 0 and 100");
            }
        }
        if !(0..=200).contains(&self.split_max_erosions) {
            return bad("split_max_erosions", self.split_max_erosions as f64, "between 0 and 200");
        }
        Ok(MaskOptions {
            threshold_hu: self.threshold_hu,
            min_component_ml: self.min_component_ml,
            second_lung_fraction: self.second_lung_fraction,
            split: SplitOptions { max_erosions: self.split_max_erosions as usize, max_ratio: self.split_max_ratio },
            hull_max_ratio: self.hull_max_ratio,
            hull_depth_mm: self.hull_depth_mm,
            dilate_mm: self.dilate_mm,
            bone_hu: self.exclude_bone.then_some(self.bone_hu),
        })
    }
}

/// Segments and crops the lungs.
pub struct LungMask;

impl StageKind for LungMask {
    fn name(&self) -> &'static str {
        "lung_mask"
    }

    /// 2: volume files version 2 (`origin_mm` as `[z, y, x]`); 3: the lungs
    /// split and labelled 1 and 2, per-slice convex hulls (20 mm deep at most), 6 mm dilation and
    /// bone removal (juxtapleural and hilar masses stay in), `mask.png`; 4:
    /// zstd-compressed files (issue 31; the same values).
    fn version(&self) -> u32 {
        4
    }

    fn doc(&self) -> &'static str {
        "segments the lungs of volume.arrow (input `volume`), keeping masses on their wall; writes the crop as volume.arrow + mask.arrow (1 right lung, 2 left), mask.json and mask.png"
    }

    fn params(&self) -> Vec<ParamSpec> {
        Params::specs()
    }

    /// Each patient's `mask.png`, the picture a person checks a mask by.
    fn report_view(&self) -> ReportView {
        let picture = ItemPicture {
            file: PICTURE_FILE,
            title: "Lung masks",
            shows: "Three orthogonal slices with the mask outlined",
            missing: "no lung mask",
        };
        ReportView { item_picture: Some(picture), ..ReportView::default() }
    }

    fn run(&self, ctx: &RunContext<'_>) -> Result<(), StageError> {
        let p = Params::parse(ctx.params)?;
        let opts = p.options()?;
        let path = input_path(ctx, "volume")?.join(VOLUME_FILE);
        let v = read_volume(&path)?;
        let (mask_crop, summary) = lung_mask(&v, &opts).map_err(|e| StageError(format!("{}: {e}", path.display())))?;
        let hu_crop = crop(&v, summary.bbox);
        drop(v);
        write_volume(&ctx.out_dir.join(VOLUME_FILE), &hu_crop)?;
        write_mask(&ctx.out_dir.join(MASK_FILE), &mask_crop)?;
        write_mask_picture(&ctx.out_dir.join(PICTURE_FILE), &hu_crop, &mask_crop)?;
        let text = serde_json::to_string_pretty(&summary).map_err(StageError::msg)?;
        std::fs::write(ctx.out_dir.join(SUMMARY_FILE), text).map_err(StageError::msg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(set: &[(&str, serde_json::Value)]) -> Result<MaskOptions, StageError> {
        let mut values: std::collections::BTreeMap<String, serde_json::Value> =
            Params::specs().into_iter().filter_map(|p| Some((p.name.to_string(), p.default?))).collect();
        values.extend(set.iter().map(|(k, v)| (k.to_string(), v.clone())));
        Params::parse(&values)?.options()
    }

    #[test]
    fn every_step_can_be_switched_off_and_bad_values_name_the_parameter() {
        let old = options(&[("hull_max_ratio", 0.0.into()), ("dilate_mm", 3.0.into()), ("exclude_bone", false.into())]).unwrap();
        assert_eq!((old.hull_max_ratio, old.dilate_mm, old.bone_hu), (0.0, 3.0, None));
        assert_eq!(options(&[]).unwrap().bone_hu, Some(BONE_HU));
        let err = options(&[("dilate_mm", (-1.0).into())]).unwrap_err().0;
        assert!(err.contains("dilate_mm must be between 0 and 100, got -1"), "{err}");
        let err = options(&[("split_max_ratio", 0.5.into())]).unwrap_err().0;
        assert!(err.contains("split_max_ratio must be at least 1"), "{err}");
        let err = options(&[("split_max_erosions", (-3).into())]).unwrap_err().0;
        assert!(err.contains("split_max_erosions"), "{err}");
    }
}
