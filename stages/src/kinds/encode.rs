//! The `encode` kind: the trained GMCAE encoder applied to one patient's
//! whole cropped lung volume (fully convolutional, in z-slabs with a halo).
//!
//! Inputs: `model` (a `gmcae_train` output) and `lungs` (a `lung_mask`
//! output). Outputs [`features.arrow`](crate::formats::features) and
//! `lung.arrow`, the lung mask on the feature grid (the fraction of each
//! code voxel's input voxels inside the mask), so that a classifier can pool
//! over the lungs alone while the encoder saw the whole crop (no cut edges).

use std::path::Path;

use crate::formats::features::{FEATURES_FILE, FeatureMeta, LUNG_FILE, write_features, write_lung};
use crate::formats::training::{load_model, read_model_json};
use crate::formats::volume::{MASK_FILE, Mask, VOLUME_FILE, Volume, read_mask, read_volume};
use crate::limits::{checked_len, try_filled};
use crate::models::gmcae::features::{FeatureMap, encode_volume};
use crate::models::gmcae::model::GmcaeShape;
use crate::models::hu_scale::HuScale;
use crate::models::kernels::KernelBackend;
use crate::models::pool::inside_the_pool;
use crate::params::{input_path, positive};
use crate::{ParamSpec, RunContext, StageError, StageKind, kind_params, on_device};

kind_params! {
    /// The parameters of `encode`.
    pub struct Params {
        /// HU mapped to -1 (as in the patches stage)
        #[range(crate::params::HU)]
        hu_low: f64 = HuScale::default().low,
        /// HU mapped to +1 (as in the patches stage)
        #[range(crate::params::HU)]
        hu_high: f64 = HuScale::default().high,
        /// clip scaled values to [-1, 1]
        clip: bool = HuScale::default().clip,
        /// encoder blocks to apply; 0 = all (a classifier fine-tuning k blocks wants all but k)
        #[range(0..=64)]
        blocks: i64 = 0,
        /// set voxels outside the (dilated) lung mask to air before encoding
        mask_outside: bool = true,
        /// code slices encoded at a time (bounds memory)
        #[range(1..=4096)]
        slab: i64 = 8,
        /// cpu (burn flex) or cuda (needs --features cuda)
        device: String = "cpu",
    }
}

/// Encodes a lung volume into a feature map.
pub struct Encode;

impl StageKind for Encode {
    fn name(&self) -> &'static str {
        "encode"
    }

    /// 4: zstd-compressed files (issue 31; the same values). 5: `lung.arrow`.
    fn version(&self) -> u32 {
        5
    }

    fn doc(&self) -> &'static str {
        "applies the trained GMCAE encoder (input `model`) to a whole lung crop (input `lungs`): features.arrow, and lung.arrow (the lung mask on the feature grid)"
    }

    fn params(&self) -> Vec<ParamSpec> {
        Params::specs()
    }

    fn run(&self, ctx: &RunContext<'_>) -> Result<(), StageError> {
        let p = Params::parse(ctx.params)?;
        let slab = positive("slab", p.slab)?;
        let scale = HuScale { low: p.hu_low, high: p.hu_high, clip: p.clip };
        let model_dir = input_path(ctx, "model")?;
        let shape: GmcaeShape = read_model_json(model_dir)?;
        let blocks = encoder_blocks(p.blocks, shape.widths.len())?;
        let lungs = input_path(ctx, "lungs")?;
        let (v, mask) = read_lungs(lungs, p.mask_outside)?;
        let step = 1usize << blocks;
        let (input, padded) = padded_input(&v, step, &scale)?;
        let features = inside_the_pool(|| on_device!(p.device.as_str(), encode_with(model_dir, blocks, &input, padded, slab)))?;
        let meta = FeatureMeta {
            channels: features.channels,
            shape: features.shape,
            step,
            blocks,
            spacing_mm: v.meta.spacing_mm,
            patient_id: ctx.item.unwrap_or(&v.meta.patient_id).to_owned(),
        };
        write_features(&ctx.out_dir.join(FEATURES_FILE), &meta, &features.data)?;
        write_lung(&ctx.out_dir.join(LUNG_FILE), &meta, &lung_fractions(&mask.data, v.meta.shape, step, features.shape))
    }
}

/// The blocks to apply: `requested`, or all `total` for 0.
fn encoder_blocks(requested: i64, total: usize) -> Result<usize, StageError> {
    match usize::try_from(requested) {
        Ok(0) => Ok(total),
        Ok(b) if b <= total => Ok(b),
        _ => Err(StageError(format!("blocks must be between 0 (all) and {total}, the model's encoder blocks"))),
    }
}

/// The lung crop's HU volume and its mask (checked to match), with voxels
/// outside the mask set to air when `mask_outside` is given.
fn read_lungs(lungs: &Path, mask_outside: bool) -> Result<(Volume, Mask), StageError> {
    let mut v = read_volume(&lungs.join(VOLUME_FILE))?;
    let mask = read_mask(&lungs.join(MASK_FILE))?;
    if mask.meta.shape != v.meta.shape {
        return Err(StageError(format!(
            "{}: mask shape {:?} differs from the volume's {:?}",
            lungs.display(),
            mask.meta.shape,
            v.meta.shape
        )));
    }
    if mask_outside {
        for (hu, &inside) in v.data.iter_mut().zip(&mask.data) {
            if inside == 0 {
                *hu = HuScale::AIR_HU;
            }
        }
    }
    Ok((v, mask))
}

/// The fraction of each code voxel's `step`³ input voxels inside `mask`
/// (of `shape`; the padding beyond it counts as outside), `[z][y][x]` over
/// the code grid `code`.
fn lung_fractions(mask: &[u8], shape: [usize; 3], step: usize, code: [usize; 3]) -> Vec<f32> {
    let [nz, ny, nx] = shape;
    let mut counts = vec![0u32; code.iter().product()];
    for z in 0..nz {
        for y in 0..ny {
            let row = &mask[(z * ny + y) * nx..][..nx];
            let out = ((z / step) * code[1] + y / step) * code[2];
            for (x, &inside) in row.iter().enumerate() {
                counts[out + x / step] += u32::from(inside != 0);
            }
        }
    }
    let whole = (step * step * step) as f32;
    counts.into_iter().map(|c| c as f32 / whole).collect()
}

/// The scaled volume, padded with air on every axis up to a multiple of the
/// encoder's stride `step`, and its padded shape.
fn padded_input(v: &Volume, step: usize, scale: &HuScale) -> Result<(Vec<f32>, [usize; 3]), StageError> {
    let [nz, ny, nx] = v.meta.shape;
    let pad = |n: usize| n.div_ceil(step).saturating_mul(step);
    let padded = [pad(nz), pad(ny), pad(nx)];
    let what = format!("the {nz} x {ny} x {nx} lung crop padded to a multiple of {step}");
    let len = checked_len(&padded, std::mem::size_of::<f32>(), &what)?;
    let mut input = try_filled(len, scale.apply(HuScale::AIR_HU as f64), &what)?;
    for z in 0..nz {
        for y in 0..ny {
            let src = v.index(z, y, 0);
            let dst = (z * padded[1] + y) * padded[2];
            for x in 0..nx {
                input[dst + x] = scale.apply(v.data[src + x] as f64);
            }
        }
    }
    Ok((input, padded))
}

/// Loads the GMCAE and encodes `input` on backend `B`.
fn encode_with<B: KernelBackend>(
    device: &B::Device,
    model_dir: &Path,
    blocks: usize,
    input: &[f32],
    shape: [usize; 3],
    slab: usize,
) -> Result<FeatureMap, StageError> {
    let (_, model) = load_model::<B, GmcaeShape, _>(model_dir, device, |s, d| s.init::<B>(d))?;
    Ok(encode_volume(&model, blocks, input, shape, slab, device))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_default_to_all_and_are_bounded_by_the_model() {
        assert_eq!(encoder_blocks(0, 3).unwrap(), 3);
        assert_eq!(encoder_blocks(2, 3).unwrap(), 2);
        assert!(encoder_blocks(4, 3).unwrap_err().0.contains("between 0 (all) and 3"));
        assert!(encoder_blocks(-1, 3).is_err());
    }

    #[test]
    fn lung_fractions_match_a_plain_count_per_code_voxel() {
        let (shape, step) = ([5, 4, 7], 2);
        let code = [3, 2, 4];
        let mask: Vec<u8> = (0..140).map(|i| u8::from(i * 7 % 5 < 2)).collect();
        let got = lung_fractions(&mask, shape, step, code);
        for (cz, cy, cx) in (0..3).flat_map(|z| (0..2).flat_map(move |y| (0..4).map(move |x| (z, y, x)))) {
            let mut n = 0;
            for z in cz * 2..(cz * 2 + 2).min(5) {
                for y in cy * 2..cy * 2 + 2 {
                    for x in cx * 2..(cx * 2 + 2).min(7) {
                        n += usize::from(mask[(z * 4 + y) * 7 + x] != 0);
                    }
                }
            }
            assert_eq!(got[(cz * 2 + cy) * 4 + cx], n as f32 / 8.0, "code voxel {cz},{cy},{cx}");
        }
    }
}
