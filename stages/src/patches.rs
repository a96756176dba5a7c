//! The `patches` kind: cubes of lung sampled around voxels of the lung mask,
//! HU scaled as in kdsb17 (-1000 → -1, 400 → 1), written as Parquet:
//! `patient_id`, `z`, `y`, `x` (centre voxel in the cropped volume) and
//! `voxels` (`FixedSizeList<Float32>` of edge³, z-major), zstd.

use std::sync::Arc;

use arrow_array::builder::{FixedSizeListBuilder, Float32Builder};
use arrow_array::{Array, ArrayRef, FixedSizeListArray, Float32Array, Int32Array, RecordBatch, StringArray};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::json;

use crate::hu_volume::VOLUME_FILE;
use crate::lung_mask::MASK_FILE;
use crate::params::{get_bool, get_f64, get_i64, input_path};
use crate::table::write_parquet;
use crate::volume::{Mask, Volume, read_mask, read_volume};
use crate::{ParamSpec, ParamType, RunContext, StageError, StageKind};

/// The patch table file.
pub const PATCHES_FILE: &str = "patches.parquet";

/// How patches are sampled and scaled.
#[derive(Clone, Debug)]
pub struct PatchOptions {
    /// Cube edge in voxels.
    pub edge: usize,
    /// Patches per patient.
    pub count: usize,
    /// Random seed (mixed with the patient id).
    pub seed: u64,
    /// HU mapped to -1.
    pub hu_low: f64,
    /// HU mapped to +1.
    pub hu_high: f64,
    /// Clip scaled values to [-1, 1].
    pub clip: bool,
}

impl Default for PatchOptions {
    fn default() -> Self {
        PatchOptions { edge: 32, count: 64, seed: 17, hu_low: -1000.0, hu_high: 400.0, clip: true }
    }
}

/// One sampled patch.
#[derive(Clone, Debug, PartialEq)]
pub struct Patch {
    /// Centre voxel [z, y, x] in the cropped volume.
    pub centre: [i32; 3],
    /// edge³ scaled values, z-major.
    pub voxels: Vec<f32>,
}

/// Scales one HU value.
pub fn scale(hu: f64, o: &PatchOptions) -> f32 {
    let v = (hu - o.hu_low) / (o.hu_high - o.hu_low) * 2.0 - 1.0;
    (if o.clip { v.clamp(-1.0, 1.0) } else { v }) as f32
}

/// Samples patches whose centres lie in the mask; voxels outside the volume
/// count as air.
pub fn sample(v: &Volume, m: &Mask, o: &PatchOptions, patient: &str) -> Result<Vec<Patch>, String> {
    let inside: Vec<u32> = m.data.iter().enumerate().filter(|(_, b)| **b == 1).map(|(i, _)| i as u32).collect();
    if inside.is_empty() {
        return Err("the lung mask is empty".into());
    }
    let mut rng = ChaCha8Rng::seed_from_u64(o.seed ^ u64::from_le_bytes(blake3::hash(patient.as_bytes()).as_bytes()[..8].try_into().expect("8 bytes")));
    let picks = rand::seq::index::sample(&mut rng, inside.len(), o.count.min(inside.len()));
    let [nz, ny, nx] = v.meta.shape;
    let air = scale(-1000.0, o);
    let half = (o.edge / 2) as isize;
    let mut out: Vec<Patch> = picks
        .into_iter()
        .map(|k| {
            let i = inside[k] as usize;
            let c = [(i / (ny * nx)) as isize, (i / nx % ny) as isize, (i % nx) as isize];
            let mut voxels = Vec::with_capacity(o.edge.pow(3));
            for dz in -half..o.edge as isize - half {
                for dy in -half..o.edge as isize - half {
                    for dx in -half..o.edge as isize - half {
                        let (z, y, x) = (c[0] + dz, c[1] + dy, c[2] + dx);
                        let in_volume = z >= 0 && y >= 0 && x >= 0 && (z as usize) < nz && (y as usize) < ny && (x as usize) < nx;
                        voxels.push(if in_volume { scale(v.data[v.index(z as usize, y as usize, x as usize)] as f64, o) } else { air });
                    }
                }
            }
            Patch { centre: [c[0] as i32, c[1] as i32, c[2] as i32], voxels }
        })
        .collect();
    out.sort_by_key(|p| p.centre);
    Ok(out)
}

/// Writes patches of one patient as Parquet.
pub fn write_patches(path: &std::path::Path, patient: &str, edge: usize, patches: &[Patch]) -> Result<(), StageError> {
    let n = edge.pow(3) as i32;
    let mut list = FixedSizeListBuilder::with_capacity(Float32Builder::with_capacity(patches.len() * n as usize), n, patches.len())
        .with_field(Arc::new(arrow_schema::Field::new("item", arrow_schema::DataType::Float32, false)));
    for p in patches {
        list.values().append_slice(&p.voxels);
        list.append(true);
    }
    let col = |k: usize| Arc::new(Int32Array::from_iter_values(patches.iter().map(|p| p.centre[k]))) as ArrayRef;
    let batch = RecordBatch::try_from_iter([
        ("patient_id", Arc::new(StringArray::from_iter_values(patches.iter().map(|_| patient))) as ArrayRef),
        ("z", col(0)),
        ("y", col(1)),
        ("x", col(2)),
        ("voxels", Arc::new(list.finish())),
    ])
    .map_err(|e| StageError(format!("cannot build patch table: {e}")))?;
    write_parquet(path, &batch)
}

/// Reads a patch table: (patient id, patch) rows.
pub fn read_patches(path: &std::path::Path) -> Result<Vec<(String, Patch)>, StageError> {
    let fail = |e: &dyn std::fmt::Display| StageError(format!("cannot read {}: {e}", path.display()));
    let file = std::fs::File::open(path).map_err(|e| fail(&e))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| fail(&e))?.build().map_err(|e| fail(&e))?;
    let mut out = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| fail(&e))?;
        let get = |name: &str| batch.column_by_name(name).ok_or_else(|| fail(&format!("no column {name:?}")));
        let ids = get("patient_id")?.as_any().downcast_ref::<StringArray>().ok_or_else(|| fail(&"patient_id is not a string"))?.clone();
        let coord = |name: &str| -> Result<Int32Array, StageError> {
            get(name)?.as_any().downcast_ref::<Int32Array>().cloned().ok_or_else(|| fail(&format!("{name} is not int32")))
        };
        let (z, y, x) = (coord("z")?, coord("y")?, coord("x")?);
        let list = get("voxels")?.as_any().downcast_ref::<FixedSizeListArray>().ok_or_else(|| fail(&"voxels is not a fixed-size list"))?.clone();
        let values = list.values().as_any().downcast_ref::<Float32Array>().ok_or_else(|| fail(&"voxels are not float32"))?;
        let n = list.value_length() as usize;
        let base = list.offset() * n;
        for r in 0..batch.num_rows() {
            let voxels = values.values()[base + r * n..base + (r + 1) * n].to_vec();
            out.push((ids.value(r).to_owned(), Patch { centre: [z.value(r), y.value(r), x.value(r)], voxels }));
        }
    }
    Ok(out)
}

/// Samples training patches from a lung crop.
pub struct Patches;

impl StageKind for Patches {
    fn name(&self) -> &'static str {
        "patches"
    }

    fn version(&self) -> u32 {
        1
    }

    fn doc(&self) -> &'static str {
        "samples cubes centred in the lung mask (input `lungs`: a lung_mask output) into patches.parquet"
    }

    fn params(&self) -> Vec<ParamSpec> {
        let d = PatchOptions::default();
        vec![
            ParamSpec { name: "edge", ty: ParamType::Int, default: Some(json!(d.edge)), doc: "cube edge in voxels" },
            ParamSpec { name: "count", ty: ParamType::Int, default: Some(json!(d.count)), doc: "patches per patient" },
            ParamSpec { name: "seed", ty: ParamType::Int, default: Some(json!(d.seed)), doc: "random seed (mixed with the patient id)" },
            ParamSpec { name: "hu_low", ty: ParamType::Float, default: Some(json!(d.hu_low)), doc: "HU mapped to -1" },
            ParamSpec { name: "hu_high", ty: ParamType::Float, default: Some(json!(d.hu_high)), doc: "HU mapped to +1" },
            ParamSpec { name: "clip", ty: ParamType::Bool, default: Some(json!(d.clip)), doc: "clip scaled values to [-1, 1]" },
        ]
    }

    fn run(&self, ctx: &RunContext<'_>) -> Result<(), StageError> {
        let dir = input_path(ctx, "lungs")?;
        let positive = |name: &str| -> Result<usize, StageError> {
            let v = get_i64(ctx.params, name)?;
            usize::try_from(v).ok().filter(|&v| v > 0).ok_or_else(|| StageError(format!("{name} must be positive, got {v}")))
        };
        let o = PatchOptions {
            edge: positive("edge")?,
            count: positive("count")?,
            seed: get_i64(ctx.params, "seed")? as u64,
            hu_low: get_f64(ctx.params, "hu_low")?,
            hu_high: get_f64(ctx.params, "hu_high")?,
            clip: get_bool(ctx.params, "clip")?,
        };
        if o.hu_high <= o.hu_low {
            return Err(StageError(format!("hu_high ({}) must exceed hu_low ({})", o.hu_high, o.hu_low)));
        }
        let v = read_volume(&dir.join(VOLUME_FILE))?;
        let m = read_mask(&dir.join(MASK_FILE))?;
        if v.meta.shape != m.meta.shape {
            return Err(StageError(format!("{}: volume and mask shapes differ", dir.display())));
        }
        let patient = ctx.item.map(str::to_owned).unwrap_or_else(|| v.meta.patient_id.clone());
        let patches = sample(&v, &m, &o, &patient).map_err(|e| StageError(format!("{}: {e}", dir.display())))?;
        write_patches(&ctx.out_dir.join(PATCHES_FILE), &patient, o.edge, &patches)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::volume::{Grid, VolumeMeta};

    #[test]
    fn patches_are_centred_in_the_mask_scaled_and_round_trip() {
        let meta = VolumeMeta { spacing_mm: [1.0; 3], origin_mm: [0.0; 3], shape: [6, 6, 6], patient_id: "p".into(), series_uid: "s".into() };
        let v = Grid { meta: meta.clone(), data: (0..216).map(|i| if i % 2 == 0 { -1000 } else { 400 }).collect() };
        let mut mask = vec![0u8; 216];
        mask[v.index(1, 2, 3)] = 1;
        mask[v.index(5, 5, 5)] = 1;
        let o = PatchOptions { edge: 4, count: 5, ..Default::default() };
        let patches = sample(&v, &Grid { meta, data: mask }, &o, "p").unwrap();
        assert_eq!(patches.iter().map(|p| p.centre).collect::<Vec<_>>(), vec![[1, 2, 3], [5, 5, 5]]);
        // Patch at (5,5,5) reaches past the volume: those voxels are air (-1).
        let corner = &patches[1];
        assert_eq!(corner.voxels.len(), 64);
        assert_eq!(corner.voxels[63], -1.0);
        assert!(corner.voxels.iter().all(|&x| x == -1.0 || x == 1.0));
        let dir = std::env::temp_dir().join(format!("lf-patches-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        write_patches(&dir.join("p.parquet"), "p", 4, &patches).unwrap();
        let back = read_patches(&dir.join("p.parquet")).unwrap();
        assert_eq!(back.iter().map(|(_, p)| p.clone()).collect::<Vec<_>>(), patches);
        assert!(back.iter().all(|(id, _)| id == "p"));
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn scaling_matches_kdsb17() {
        let o = PatchOptions::default();
        assert_eq!(scale(-1000.0, &o), -1.0);
        assert_eq!(scale(400.0, &o), 1.0);
        assert_eq!(scale(-300.0, &o), 0.0);
        assert_eq!(scale(3000.0, &o), 1.0);
        assert!((scale(3000.0, &PatchOptions { clip: false, ..o }) - 33.0 / 7.0).abs() < 1e-6);
    }
}
