//! The `patches` kind: cubes of lung sampled around voxels of the lung mask
//! (input `lungs`, a `lung_mask` output), HU scaled as in kdsb17
//! ([`HuScale`]), written as [`patches.parquet`](crate::formats::patches).

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::formats::patches::{PATCHES_FILE, Patch, write_patches};
use crate::formats::volume::{MASK_FILE, Mask, VOLUME_FILE, Volume, read_mask, read_volume};
use crate::kind_params;
use crate::limits::checked_len;
use crate::models::hu_scale::HuScale;
use crate::params::{input_path, positive};
use crate::{ParamSpec, RunContext, StageError, StageKind};

/// How patches are sampled and scaled.
#[derive(Clone, Debug)]
pub struct PatchOptions {
    /// Cube edge in voxels.
    pub edge: usize,
    /// Patches per patient.
    pub count: usize,
    /// Random seed (mixed with the patient id).
    pub seed: u64,
    /// HU to network values.
    pub scale: HuScale,
}

impl Default for PatchOptions {
    fn default() -> Self {
        PatchOptions { edge: 32, count: 64, seed: 17, scale: HuScale::default() }
    }
}

kind_params! {
    /// The parameters of `patches`.
    pub struct Params {
        /// cube edge in voxels
        #[range(1..=256)]
        edge: i64 = PatchOptions::default().edge,
        /// patches per patient
        #[range(1..=10_000)]
        count: i64 = PatchOptions::default().count,
        /// random seed (mixed with the patient id)
        seed: i64 = PatchOptions::default().seed,
        /// HU mapped to -1
        #[range(crate::params::HU)]
        hu_low: f64 = HuScale::default().low,
        /// HU mapped to +1
        #[range(crate::params::HU)]
        hu_high: f64 = HuScale::default().high,
        /// clip scaled values to [-1, 1]
        clip: bool = HuScale::default().clip,
    }
}

impl Params {
    /// The sampling options, checked.
    fn options(&self) -> Result<PatchOptions, StageError> {
        if self.hu_high <= self.hu_low {
            return Err(StageError(format!("hu_high ({}) must exceed hu_low ({})", self.hu_high, self.hu_low)));
        }
        let (edge, count) = (positive("edge", self.edge)?, positive("count", self.count)?);
        checked_len(&[count, edge, edge, edge], std::mem::size_of::<f32>(), format!("count {count} patches of edge {edge}"))?;
        Ok(PatchOptions { edge, count, seed: self.seed as u64, scale: HuScale { low: self.hu_low, high: self.hu_high, clip: self.clip } })
    }
}

/// Samples patches whose centres lie in the mask; voxels outside the volume
/// count as air.
pub fn sample(v: &Volume, m: &Mask, o: &PatchOptions, patient: &str) -> Result<Vec<Patch>, String> {
    let inside: Vec<u32> = m.data.iter().enumerate().filter(|(_, b)| **b != 0).map(|(i, _)| i as u32).collect();
    if inside.is_empty() {
        return Err("the lung mask is empty".into());
    }
    let mut rng = ChaCha8Rng::seed_from_u64(
        o.seed ^ u64::from_le_bytes(blake3::hash(patient.as_bytes()).as_bytes()[..8].try_into().expect("8 bytes")),
    );
    let picks = rand::seq::index::sample(&mut rng, inside.len(), o.count.min(inside.len()));
    let [nz, ny, nx] = v.meta.shape;
    let air = o.scale.apply(HuScale::AIR_HU as f64);
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
                        voxels.push(if in_volume {
                            o.scale.apply(v.data[v.index(z as usize, y as usize, x as usize)] as f64)
                        } else {
                            air
                        });
                    }
                }
            }
            Patch { centre: [c[0] as i32, c[1] as i32, c[2] as i32], voxels }
        })
        .collect();
    out.sort_by_key(|p| p.centre);
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
        Params::specs()
    }

    fn run(&self, ctx: &RunContext<'_>) -> Result<(), StageError> {
        let o = Params::parse(ctx.params)?.options()?;
        let dir = input_path(ctx, "lungs")?;
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
    use crate::formats::patches::read_patches;
    use crate::formats::volume::{Grid, VolumeMeta};

    #[test]
    fn patches_are_centred_in_the_mask_scaled_and_round_trip() {
        let meta = VolumeMeta::for_test([6, 6, 6], [1.0; 3]);
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
}
