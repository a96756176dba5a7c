//! The `resample` kind: a HU volume to (near-)isotropic spacing by trilinear
//! interpolation, keeping the first and last slice centres on every axis.
//!
//! Along each axis with n voxels at spacing s, the output has
//! n' = round((n-1)·s / target) + 1 voxels at spacing (n-1)·s / (n'-1), so the
//! grid spans exactly the same extent (the spacing differs from the target by
//! at most half a voxel over the whole extent).

use rayon::prelude::*;

use crate::formats::volume::{VOLUME_FILE, Volume, VolumeMeta, read_volume, write_volume};
use crate::kind_params;
use crate::limits::{checked_len, try_filled};
use crate::params::input_path;
use crate::{ParamSpec, RunContext, StageError, StageKind};

kind_params! {
    /// The parameters of `resample`.
    pub struct Params {
        /// target spacing in mm on every axis
        #[range(0.1..=20.0)]
        spacing_mm: f64 = 1.0,
    }
}

/// Trilinear resampling to a target spacing.
pub struct Resample;

impl StageKind for Resample {
    fn name(&self) -> &'static str {
        "resample"
    }

    /// 2: volume files version 2 (`origin_mm` as `[z, y, x]`); 3:
    /// zstd-compressed files (issue 31; the same values).
    fn version(&self) -> u32 {
        3
    }

    fn doc(&self) -> &'static str {
        "resamples volume.arrow (input `volume`) to isotropic spacing, trilinear, end slices aligned"
    }

    fn params(&self) -> Vec<ParamSpec> {
        Params::specs()
    }

    fn run(&self, ctx: &RunContext<'_>) -> Result<(), StageError> {
        let target = Params::parse(ctx.params)?.spacing_mm;
        if !(target > 0.0 && target.is_finite()) {
            return Err(StageError(format!("spacing_mm must be positive, got {target}")));
        }
        let v = read_volume(&input_path(ctx, "volume")?.join(VOLUME_FILE))?;
        write_volume(&ctx.out_dir.join(VOLUME_FILE), &resample(&v, target)?)
    }
}

/// Sample count and spacing of one axis after resampling.
pub fn axis_plan(n: usize, spacing: f64, target: f64) -> (usize, f64) {
    if n <= 1 {
        return (n, spacing);
    }
    let extent = (n - 1) as f64 * spacing;
    let steps = (extent / target + 0.5).floor();
    // Past any buffer's cap (or not a number): resample refuses the plan.
    let n_new = if steps < (1u64 << 52) as f64 { (steps as usize + 1).max(2) } else { usize::MAX };
    (n_new, extent / (n_new - 1) as f64)
}

/// For each output sample, the lower input index and the weight of the upper one.
fn taps(n_old: usize, n_new: usize) -> Vec<(usize, f32)> {
    (0..n_new)
        .map(|i| {
            if n_old <= 1 || n_new <= 1 {
                return (0, 0.0);
            }
            let t = i as f64 * (n_old - 1) as f64 / (n_new - 1) as f64;
            let i0 = (t.floor() as usize).min(n_old - 2);
            (i0, (t - i0 as f64) as f32)
        })
        .collect()
}

/// Resamples a volume to `target` mm on every axis; refuses a plan whose
/// buffers would be over [`crate::limits::MAX_BUFFER_BYTES`].
pub fn resample(v: &Volume, target: f64) -> Result<Volume, StageError> {
    let [nz, ny, nx] = v.meta.shape;
    let (mz, sz) = axis_plan(nz, v.meta.spacing_mm[0], target);
    let (my, sy) = axis_plan(ny, v.meta.spacing_mm[1], target);
    let (mx, sx) = axis_plan(nx, v.meta.spacing_mm[2], target);
    let asked = |what: &str| format!("spacing_mm {target} on a {nz} x {ny} x {nx} volume at {:?} mm: {what}", v.meta.spacing_mm);
    let len = checked_len(&[mz, my, mx], std::mem::size_of::<i16>(), asked("the resampled volume"))?;
    checked_len(&[ny, mx, rayon::current_num_threads()], std::mem::size_of::<f32>(), asked("the rows being blended"))?;
    let (tz, ty, tx) = (taps(nz, mz), taps(ny, my), taps(nx, mx));
    let mut data = try_filled(len, 0i16, asked("the resampled volume"))?;
    data.par_chunks_mut(my * mx).enumerate().for_each(|(k, out)| {
        // z first: blend the two neighbouring input slices at full resolution.
        let (z0, fz) = tz[k];
        let a = v.slice(z0);
        let plane: Vec<f32> = if fz > 0.0 {
            let b = v.slice(z0 + 1);
            a.iter().zip(b).map(|(&a, &b)| a as f32 + (b as f32 - a as f32) * fz).collect()
        } else {
            a.iter().map(|&a| a as f32).collect()
        };
        // then x along each row, then y.
        let mut rows = vec![0f32; ny * mx];
        for y in 0..ny {
            let src = &plane[y * nx..(y + 1) * nx];
            for (j, &(x0, fx)) in tx.iter().enumerate() {
                rows[y * mx + j] = lerp(src, x0, fx);
            }
        }
        for (i, &(y0, fy)) in ty.iter().enumerate() {
            for j in 0..mx {
                let a = rows[y0 * mx + j];
                let value = if fy > 0.0 { a + (rows[(y0 + 1) * mx + j] - a) * fy } else { a };
                out[i * mx + j] = value.round().clamp(i16::MIN as f32, i16::MAX as f32) as i16;
            }
        }
    });
    Ok(Volume { meta: VolumeMeta { spacing_mm: [sz, sy, sx], shape: [mz, my, mx], ..v.meta.clone() }, data })
}

#[inline]
fn lerp(src: &[f32], i0: usize, f: f32) -> f32 {
    if f > 0.0 { src[i0] + (src[i0 + 1] - src[i0]) * f } else { src[i0] }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn volume(shape: [usize; 3], spacing: [f64; 3], f: impl Fn(usize, usize, usize) -> i16) -> Volume {
        let mut data = Vec::new();
        for z in 0..shape[0] {
            for y in 0..shape[1] {
                for x in 0..shape[2] {
                    data.push(f(z, y, x));
                }
            }
        }
        let meta = VolumeMeta { spacing_mm: spacing, origin_mm: [0.0; 3], shape, patient_id: "t".into(), series_uid: "u".into() };
        Volume { meta, data }
    }

    #[test]
    fn plan_keeps_the_extent() {
        assert_eq!(axis_plan(64, 5.0, 1.0), (316, 315.0 / 315.0));
        let (n, s) = axis_plan(512, 0.842, 1.0);
        assert_eq!(n, 431);
        assert!(((n - 1) as f64 * s - 511.0 * 0.842).abs() < 1e-9);
        assert_eq!(axis_plan(1, 2.5, 1.0), (1, 2.5));
        assert_eq!(axis_plan(512, 0.7, 1e-300).0, usize::MAX, "a plan past any cap never wraps around");
    }

    #[test]
    fn a_spacing_that_asks_for_too_much_memory_is_refused_naming_it() {
        let v = volume([130, 512, 512], [2.5, 0.7, 0.7], |_, _, _| 0);
        let e = resample(&v, 0.01).unwrap_err().0;
        assert!(
            e.starts_with("spacing_mm 0.01 on a 130 x 512 x 512 volume at [2.5, 0.7, 0.7] mm: the resampled volume: 32251 x 35771 x 35771 values of 2 bytes"),
            "{e}"
        );
        assert!(e.ends_with("over the cap of 4294967296 bytes for one buffer"), "{e}");
        assert!(resample(&v, 0.05).is_err(), "still 4.5e12 voxels");
    }

    #[test]
    fn a_linear_ramp_is_reproduced_exactly_and_ends_are_kept() {
        // HU = 10 z_mm + 2 y_mm + x_mm is linear, so trilinear resampling is exact.
        let v = volume([5, 4, 6], [3.0, 2.0, 1.5], |z, y, x| (30 * z + 4 * y + 3 * x) as i16);
        let r = resample(&v, 1.0).unwrap();
        assert_eq!(r.meta.shape, [13, 7, 9]);
        for z in 0..13 {
            for y in 0..7 {
                for x in 0..9 {
                    let mm = [z as f64 * r.meta.spacing_mm[0], y as f64 * r.meta.spacing_mm[1], x as f64 * r.meta.spacing_mm[2]];
                    let want = (10.0 * mm[0] + 2.0 * mm[1] + 2.0 * mm[2]).round() as i16;
                    assert_eq!(r.data[r.index(z, y, x)], want, "at {z},{y},{x}");
                }
            }
        }
        assert_eq!(r.data[0], v.data[0]);
        assert_eq!(*r.data.last().unwrap(), *v.data.last().unwrap());
    }
}
