//! Patches for training: in memory, split by patient, and batching with
//! the 48 cube symmetries as augmentation.

use burn::prelude::*;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::models::symmetry::Symmetry;

/// Patches in memory.
pub struct PatchSet {
    /// Cube edge.
    pub edge: usize,
    /// Patient id of each patch.
    pub patients: Vec<String>,
    /// Voxels of each patch (edge³, z-major).
    pub voxels: Vec<Vec<f32>>,
}

impl PatchSet {
    /// Patches of `edge`³ voxels, each with its patient id.
    pub fn new(edge: usize, patches: impl IntoIterator<Item = (String, Vec<f32>)>) -> PatchSet {
        let (patients, voxels) = patches.into_iter().unzip();
        PatchSet { edge, patients, voxels }
    }
}

/// Patch indices for training and validation, split by patient (a patient's
/// patches are all on one side), and the two patient lists.
pub struct Split {
    /// Training patch indices.
    pub train: Vec<usize>,
    /// Validation patch indices.
    pub val: Vec<usize>,
    /// Training patients.
    pub train_patients: Vec<String>,
    /// Validation patients.
    pub val_patients: Vec<String>,
}

/// Splits patients with a seeded shuffle; at least one patient on each side
/// when there are two or more.
pub fn split(set: &PatchSet, val_fraction: f64, seed: u64) -> Split {
    let mut patients: Vec<String> = set.patients.clone();
    patients.sort();
    patients.dedup();
    patients.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    let mut n_val = (patients.len() as f64 * val_fraction).round() as usize;
    if patients.len() >= 2 {
        n_val = n_val.clamp(1, patients.len() - 1);
    }
    let mut val_patients: Vec<String> = patients[..n_val].to_vec();
    let mut train_patients: Vec<String> = patients[n_val..].to_vec();
    val_patients.sort();
    train_patients.sort();
    let (mut train, mut val) = (Vec::new(), Vec::new());
    for (i, p) in set.patients.iter().enumerate() {
        if val_patients.binary_search(p).is_ok() { val.push(i) } else { train.push(i) }
    }
    Split { train, val, train_patients, val_patients }
}

/// A batch [n, 1, e, e, e] of the given patches, each transformed by a random
/// symmetry when `augment` is given.
pub fn batch<B: Backend>(set: &PatchSet, idx: &[usize], augment: Option<&mut ChaCha8Rng>, device: &B::Device) -> Tensor<B, 5> {
    let e = set.edge;
    let mut data = Vec::with_capacity(idx.len() * e * e * e);
    match augment {
        Some(rng) => {
            // The symmetries are drawn in order, then applied side by side.
            let all = Symmetry::all();
            let drawn: Vec<(usize, Symmetry)> = idx.iter().map(|&i| (i, all[rng.random_range(0..all.len())])).collect();
            let moved: Vec<Vec<f32>> = drawn.par_iter().map(|&(i, s)| s.apply(&set.voxels[i], e)).collect();
            moved.iter().for_each(|m| data.extend_from_slice(m));
        }
        None => {
            for &i in idx {
                data.extend_from_slice(&set.voxels[i]);
            }
        }
    }
    Tensor::from_data(TensorData::new(data, [idx.len(), 1, e, e, e]), device)
}
