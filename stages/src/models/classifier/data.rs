//! Feature maps of labelled patients: the stratified patient split and
//! tensors with a cube symmetry applied.

use burn::prelude::*;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use std::path::Path;

use super::lung_pool::pool_region;
use crate::StageError;
use crate::formats::features::{FEATURES_FILE, FeatureMeta, LUNG_FILE, read_features, read_lung};
use crate::models::gmcae::features::FeatureMap;
use crate::models::symmetry::Symmetry;

/// One patient's feature map and label.
#[derive(Clone, Debug)]
pub struct Sample {
    /// Patient id.
    pub id: String,
    /// Cancer within a year.
    pub label: bool,
    /// The encoder's output.
    pub features: FeatureMap,
    /// Encoder blocks that produced it.
    pub blocks: usize,
    /// The pooling region on the feature grid (see
    /// [`lung_pool`](super::lung_pool)), when the classifier pools over the lungs.
    pub region: Option<Vec<f32>>,
    /// Numbers beside the features that reach the logit directly (such as
    /// a detector's score); empty for none.
    pub extra: Vec<f32>,
}

/// Indices of training and validation samples, split by patient and
/// stratified by label: each class gives `round(val_fraction · count)` (at
/// least one) of its patients to validation.
pub fn stratified_split(samples: &[Sample], val_fraction: f64, seed: u64) -> Result<(Vec<usize>, Vec<usize>), StageError> {
    stratified_split_of(samples, &(0..samples.len()).collect::<Vec<_>>(), val_fraction, seed)
}

/// [`stratified_split`] of the samples at `among` (indices into `samples`).
pub fn stratified_split_of(
    samples: &[Sample],
    among: &[usize],
    val_fraction: f64,
    seed: u64,
) -> Result<(Vec<usize>, Vec<usize>), StageError> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (mut train, mut val) = (Vec::new(), Vec::new());
    for class in [false, true] {
        let mut idx: Vec<usize> = among.iter().copied().filter(|&i| samples[i].label == class).collect();
        if idx.len() < 2 {
            return Err(StageError(format!(
                "need at least two labelled patients with cancer = {} to train and validate (have {})",
                class as u8,
                idx.len()
            )));
        }
        idx.shuffle(&mut rng);
        let n_val = ((idx.len() as f64 * val_fraction).round() as usize).clamp(1, idx.len() - 1);
        val.extend_from_slice(&idx[..n_val]);
        train.extend_from_slice(&idx[n_val..]);
    }
    train.sort_unstable();
    val.sort_unstable();
    Ok((train, val))
}

/// One patient's features from its `encode` output folder: their
/// description, the map, and, when `pooling` gives a dilation, the pooling
/// region from `lung.arrow` beside it.
pub fn read_patient_features(dir: &Path, pooling: Option<i64>) -> Result<(FeatureMeta, FeatureMap, Option<Vec<f32>>), StageError> {
    let (meta, data) = read_features(&dir.join(FEATURES_FILE))?;
    let region = match pooling {
        None => None,
        Some(dilate) => {
            let path = dir.join(LUNG_FILE);
            if !path.exists() {
                return Err(StageError(format!(
                    "{}: missing; the classifier pools over the lungs (pool_lung) and needs the lung grid that encode (version 5 and later) writes beside the features",
                    path.display()
                )));
            }
            let lung = read_lung(&path, &meta)?;
            let region = pool_region(&lung, meta.shape, dilate);
            if !region.iter().any(|&v| v > 0.0) {
                let with_lung = lung.iter().filter(|&&f| f > 0.0).count();
                return Err(StageError(format!(
                    "{}: no code voxel is left to pool over: {with_lung} of the {:?} grid's voxels hold lung, and pool_grow {dilate} \
                     leaves none (a negative pool_grow shrinks the region by as many voxels); raise pool_grow",
                    path.display(),
                    meta.shape
                )));
            }
            Some(region)
        }
    };
    Ok((meta.clone(), FeatureMap { channels: meta.channels, shape: meta.shape, data }, region))
}

/// The feature map as `[1, c, z, y, x]` with `symmetry` applied to its three
/// spatial axes.
pub fn tensor<B: Backend>(f: &FeatureMap, symmetry: Symmetry, device: &B::Device) -> Tensor<B, 5> {
    tensor_scaled(f, |_| ChannelMap::IDENTITY, symmetry, device)
}

/// How [`tensor_scaled`] maps one channel's values: `((v − mean)·scale)`
/// clamped to ±`clip`.
#[derive(Clone, Copy, Debug)]
pub struct ChannelMap {
    /// Subtracted first.
    pub mean: f32,
    /// Then multiplied.
    pub scale: f32,
    /// Then clamped to ±this (∞: no clamp).
    pub clip: f32,
}

impl ChannelMap {
    /// Leaves every value as it is (`(v − 0)·1` is `v`, and no finite value is clamped).
    pub const IDENTITY: ChannelMap = ChannelMap { mean: 0.0, scale: 1.0, clip: f32::INFINITY };
}

/// [`tensor`] of the map whose channel `c`'s values go through `map(c)`,
/// applied while they are reordered (one pass, no copy in between).
pub fn tensor_scaled<B: Backend>(
    f: &FeatureMap,
    map: impl Fn(usize) -> ChannelMap,
    symmetry: Symmetry,
    device: &B::Device,
) -> Tensor<B, 5> {
    let [z, y, x] = f.shape;
    let t = Tensor::<B, 5>::from_data(TensorData::new(channels_first(f, map), [1, f.channels, z, y, x]), device);
    if symmetry == Symmetry::IDENTITY {
        return t;
    }
    let p = symmetry.perm;
    let mut t = t.permute([0, 1, 2 + p[0], 2 + p[1], 2 + p[2]]);
    for axis in 0..3 {
        if symmetry.flip[axis] {
            t = t.flip([2 + axis as isize]);
        }
    }
    t
}

/// `v` clamped to ±`clip` as `f32::clamp` would (NaN stays NaN), written as
/// two selects the compiler can vectorise.
fn clamp(v: f32, clip: f32) -> f32 {
    let v = if v < -clip { -clip } else { v };
    if v > clip { clip } else { v }
}

/// The values of `f` (stored `[z][c][y][x]`) reordered `[c][z][y][x]` and
/// mapped by `map(c)`, one `y·x` plane at a time (a strided tensor
/// permutation would visit them value by value), written in order.
fn channels_first(f: &FeatureMap, map: impl Fn(usize) -> ChannelMap) -> Vec<f32> {
    let [z, y, x] = f.shape;
    let plane = y * x;
    let mut out = Vec::with_capacity(f.data.len());
    for c in 0..f.channels {
        let ChannelMap { mean, scale, clip } = map(c);
        for zi in 0..z {
            let at = (zi * f.channels + c) * plane;
            out.extend(f.data[at..at + plane].iter().map(|&v| clamp((v - mean) * scale, clip)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::features::{write_features, write_lung};
    use burn::backend::Flex;

    #[test]
    fn a_pooling_region_shrunk_to_nothing_is_an_error_naming_the_lung_grid() {
        let dir = lungflow_testkit::tempdir().unwrap();
        let shape = [5, 5, 5];
        let meta = FeatureMeta { channels: 1, shape, step: 4, blocks: 2, spacing_mm: [1.0; 3], patient_id: "p".into() };
        write_features(&dir.path().join(FEATURES_FILE), &meta, &[0.5; 125]).unwrap();
        // Lung in the central 3 x 3 x 3 block: shrinking by one keeps its centre.
        let lung: Vec<f32> =
            (0..125).map(|i| if [i / 25, i / 5 % 5, i % 5].iter().all(|&a| (1..4).contains(&a)) { 1.0 } else { 0.0 }).collect();
        write_lung(&dir.path().join(LUNG_FILE), &meta, &lung).unwrap();
        let (_, _, region) = read_patient_features(dir.path(), Some(-1)).unwrap();
        assert_eq!(region.unwrap().iter().filter(|&&v| v > 0.0).count(), 1);
        let e = read_patient_features(dir.path(), Some(-2)).unwrap_err().0;
        assert!(e.contains(LUNG_FILE) && e.contains("27 of the [5, 5, 5]") && e.contains("pool_grow -2"), "{e}");
    }

    #[test]
    fn tensors_put_channels_first_and_symmetries_match_the_cube_code() {
        let e = 3;
        let cube: Vec<f32> = (0..27).map(|v| v as f32).collect();
        // Two channels: the cube and its negation, stored [z][c][y][x].
        let mut data = Vec::new();
        for z in 0..e {
            data.extend_from_slice(&cube[z * 9..z * 9 + 9]);
            data.extend(cube[z * 9..z * 9 + 9].iter().map(|v| -v));
        }
        let f = FeatureMap { channels: 2, shape: [e, e, e], data };
        for s in Symmetry::all() {
            let got: Vec<f32> = tensor::<Flex>(&f, s, &Default::default()).into_data().to_vec().unwrap();
            let expected = s.apply(&cube, e);
            assert_eq!(&got[..27], &expected[..], "{s:?}");
            assert_eq!(got[27..].iter().map(|v| -v).collect::<Vec<_>>(), expected, "{s:?}");
        }
    }

    #[test]
    fn the_split_is_stratified_and_by_patient() {
        let f = FeatureMap { channels: 1, shape: [1, 1, 1], data: vec![0.0] };
        let samples: Vec<Sample> = (0..20)
            .map(|i| Sample { id: format!("p{i}"), label: i % 4 == 0, features: f.clone(), blocks: 3, region: None, extra: vec![] })
            .collect();
        let (train, val) = stratified_split(&samples, 0.25, 1).unwrap();
        assert_eq!(train.len() + val.len(), 20);
        assert!(train.iter().all(|i| !val.contains(i)));
        assert_eq!(val.iter().filter(|&&i| samples[i].label).count(), 1); // round(5 * 0.25)
        assert_eq!(val.iter().filter(|&&i| !samples[i].label).count(), 4); // round(15 * 0.25)
        let err = stratified_split(&samples[1..4], 0.25, 1).unwrap_err();
        assert!(err.0.contains("cancer = 0") || err.0.contains("cancer = 1"), "{err}");
    }
}
