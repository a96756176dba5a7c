//! The lungs of an HU volume: a mask, and HU and mask cropped to its
//! bounding box.
//!
//! 1. candidates: voxels below `threshold_hu`;
//! 2. 3-D connected components (faces only);
//! 3. components touching the in-plane border of any slice (the air around
//!    the body) are dropped; touching the first or last slice is fine, since
//!    lungs do in partial scans and through the trachea;
//! 4. components under `min_component_ml` are dropped; the largest is kept,
//!    and the second largest too when it holds at least
//!    `second_lung_fraction` of the largest (two separate lungs);
//! 5. holes are filled slice by slice, so vessels and nodules inside are kept;
//! 6. the mask is dilated by `dilate_mm` (Euclidean, in mm), so nodules on the
//!    pleura stay in;
//! 7. HU and mask are cropped to the mask's bounding box, inclusive.

use std::collections::VecDeque;

use rayon::prelude::*;
use serde::Serialize;

use super::components::Components;
use crate::formats::volume::{Grid, Mask, Volume, VolumeMeta};

/// The segmentation parameters.
#[derive(Clone, Debug)]
pub struct MaskOptions {
    /// Candidates are voxels below this HU.
    pub threshold_hu: f64,
    /// Components smaller than this (mL) are never lungs.
    pub min_component_ml: f64,
    /// The second largest component is kept when at least this fraction of the largest.
    pub second_lung_fraction: f64,
    /// Dilation distance in mm.
    pub dilate_mm: f64,
}

impl Default for MaskOptions {
    fn default() -> Self {
        MaskOptions { threshold_hu: -320.0, min_component_ml: 5.0, second_lung_fraction: 0.2, dilate_mm: 3.0 }
    }
}

/// What the segmentation found.
#[derive(Clone, Debug, Serialize)]
pub struct MaskSummary {
    /// Inclusive bounding box in the input volume: [z0, y0, x0, z1, y1, x1].
    pub bbox: [usize; 6],
    /// Final mask volume in mL.
    pub volume_ml: f64,
    /// Volumes (mL) of the components kept, before filling and dilation.
    pub kept_ml: Vec<f64>,
    /// Candidate components in total, and how many touched the border.
    pub components: usize,
    /// Of those, how many touched the in-plane border.
    pub border_components: usize,
}

/// The lung mask of a volume (same shape) and a summary.
pub fn lung_mask(v: &Volume, opts: &MaskOptions) -> Result<(Mask, MaskSummary), String> {
    let shape = v.meta.shape;
    let threshold = opts.threshold_hu;
    let comps = Components::label(&v.data, shape, |hu| (hu as f64) < threshold);
    let ml = |voxels: u64| voxels as f64 * v.meta.voxel_mm3() / 1000.0;
    let mut inner: Vec<(usize, u64)> = comps
        .list
        .iter()
        .enumerate()
        .filter(|(_, c)| !c.touches_in_plane_border && ml(c.voxels) >= opts.min_component_ml)
        .map(|(i, c)| (i, c.voxels))
        .collect();
    inner.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let border = comps.list.iter().filter(|c| c.touches_in_plane_border).count();
    let Some(&(_, largest)) = inner.first() else {
        return Err(format!(
            "no lung found: {} components below {threshold} HU, {border} touch the in-plane border, none of the rest reaches {} mL",
            comps.list.len(),
            opts.min_component_ml
        ));
    };
    let mut kept = vec![inner[0].0];
    if let Some(&(second, n)) = inner.get(1)
        && n as f64 >= opts.second_lung_fraction * largest as f64
    {
        kept.push(second);
    }
    let mut data = vec![0u8; v.data.len()];
    comps.paint(&mut data, |l| kept.contains(&l));
    drop(comps);
    fill_holes_per_slice(&mut data, shape);
    let data = dilate(&data, shape, v.meta.spacing_mm, opts.dilate_mm);
    let bbox = bounding_box(&data, shape).expect("a kept component is not empty");
    let count = data.iter().filter(|&&m| m == 1).count() as u64;
    let summary = MaskSummary {
        bbox,
        volume_ml: ml(count),
        kept_ml: kept.iter().map(|&l| ml(inner.iter().find(|c| c.0 == l).expect("kept").1)).collect(),
        components: inner.len() + border,
        border_components: border,
    };
    Ok((Grid { meta: v.meta.clone(), data }, summary))
}

/// Fills, in every axial slice, the background regions not connected
/// (4-connectivity) to the slice border.
pub fn fill_holes_per_slice(data: &mut [u8], shape: [usize; 3]) {
    let [_, ny, nx] = shape;
    data.par_chunks_mut(ny * nx).for_each(|plane| {
        // 0 = background not reached yet, 1 = mask, 2 = background reached from the border.
        let mut queue = VecDeque::new();
        let seed = |plane: &mut [u8], i: usize, q: &mut VecDeque<usize>| {
            if plane[i] == 0 {
                plane[i] = 2;
                q.push_back(i);
            }
        };
        for x in 0..nx {
            seed(plane, x, &mut queue);
            seed(plane, (ny - 1) * nx + x, &mut queue);
        }
        for y in 0..ny {
            seed(plane, y * nx, &mut queue);
            seed(plane, y * nx + nx - 1, &mut queue);
        }
        while let Some(i) = queue.pop_front() {
            let (y, x) = (i / nx, i % nx);
            if x > 0 {
                seed(plane, i - 1, &mut queue);
            }
            if x + 1 < nx {
                seed(plane, i + 1, &mut queue);
            }
            if y > 0 {
                seed(plane, i - nx, &mut queue);
            }
            if y + 1 < ny {
                seed(plane, i + nx, &mut queue);
            }
        }
        for v in plane.iter_mut() {
            *v = (*v != 2) as u8;
        }
    });
}

/// Every voxel within `radius_mm` (Euclidean, between voxel centres) of a
/// mask voxel. Only mask voxels with a background face neighbour can be the
/// nearest one to a background voxel, so only they stamp a ball.
pub fn dilate(mask: &[u8], shape: [usize; 3], spacing: [f64; 3], radius_mm: f64) -> Vec<u8> {
    let [nz, ny, nx] = shape;
    if radius_mm <= 0.0 {
        return mask.to_vec();
    }
    let reach = |s: f64| (radius_mm / s).floor() as isize;
    let (rz, ry, rx) = (reach(spacing[0]), reach(spacing[1]), reach(spacing[2]));
    // For each dz, the in-plane offsets within the ball.
    let discs: Vec<Vec<(isize, isize)>> = (-rz..=rz)
        .map(|dz| {
            let mut d = Vec::new();
            for dy in -ry..=ry {
                for dx in -rx..=rx {
                    let mm = [dz as f64 * spacing[0], dy as f64 * spacing[1], dx as f64 * spacing[2]];
                    if mm.iter().map(|m| m * m).sum::<f64>() <= radius_mm * radius_mm + 1e-9 {
                        d.push((dy, dx));
                    }
                }
            }
            d
        })
        .collect();
    let at = |z: usize, y: usize, x: usize| mask[(z * ny + y) * nx + x];
    let is_edge = |z: usize, y: usize, x: usize| {
        at(z, y, x) == 1
            && ((x > 0 && at(z, y, x - 1) == 0)
                || (x + 1 < nx && at(z, y, x + 1) == 0)
                || (y > 0 && at(z, y - 1, x) == 0)
                || (y + 1 < ny && at(z, y + 1, x) == 0)
                || (z > 0 && at(z - 1, y, x) == 0)
                || (z + 1 < nz && at(z + 1, y, x) == 0))
    };
    let edges: Vec<Vec<(usize, usize)>> = (0..nz)
        .into_par_iter()
        .map(|z| {
            let mut e = Vec::new();
            for y in 0..ny {
                for x in 0..nx {
                    if is_edge(z, y, x) {
                        e.push((y, x));
                    }
                }
            }
            e
        })
        .collect();
    let mut out = mask.to_vec();
    out.par_chunks_mut(ny * nx).enumerate().for_each(|(z, plane)| {
        for (k, dz) in (-rz..=rz).enumerate() {
            let src = z as isize + dz;
            if src < 0 || src >= nz as isize {
                continue;
            }
            for &(y, x) in &edges[src as usize] {
                for &(dy, dx) in &discs[k] {
                    let (yy, xx) = (y as isize + dy, x as isize + dx);
                    if yy >= 0 && yy < ny as isize && xx >= 0 && xx < nx as isize {
                        plane[yy as usize * nx + xx as usize] = 1;
                    }
                }
            }
        }
    });
    out
}

/// Inclusive bounding box [z0, y0, x0, z1, y1, x1] of the ones in a mask.
pub fn bounding_box(mask: &[u8], shape: [usize; 3]) -> Option<[usize; 6]> {
    let [_, ny, nx] = shape;
    let mut b: Option<[usize; 6]> = None;
    for (i, _) in mask.iter().enumerate().filter(|(_, m)| **m == 1) {
        let (z, y, x) = (i / (ny * nx), i / nx % ny, i % nx);
        b = Some(match b {
            None => [z, y, x, z, y, x],
            Some(c) => [c[0].min(z), c[1].min(y), c[2].min(x), c[3].max(z), c[4].max(y), c[5].max(x)],
        });
    }
    b
}

/// HU and mask cut to an inclusive bounding box; the origin moves with it
/// (patient axes assumed aligned with the grid, as for axial series).
pub fn crop(v: &Volume, m: &Mask, bbox: [usize; 6]) -> (Volume, Mask) {
    let [z0, y0, x0, z1, y1, x1] = bbox;
    let shape = [z1 - z0 + 1, y1 - y0 + 1, x1 - x0 + 1];
    let s = v.meta.spacing_mm;
    let o = v.meta.origin_mm;
    let meta =
        VolumeMeta { shape, origin_mm: [o[0] + z0 as f64 * s[0], o[1] + y0 as f64 * s[1], o[2] + x0 as f64 * s[2]], ..v.meta.clone() };
    (Grid { meta: meta.clone(), data: cut(v, &v.data, bbox) }, Grid { meta, data: cut(v, &m.data, bbox) })
}

fn cut<T: Copy>(v: &Volume, data: &[T], [z0, y0, x0, z1, y1, x1]: [usize; 6]) -> Vec<T> {
    let mut out = Vec::with_capacity((z1 - z0 + 1) * (y1 - y0 + 1) * (x1 - x0 + 1));
    for z in z0..=z1 {
        for y in y0..=y1 {
            let start = v.index(z, y, x0);
            out.extend_from_slice(&data[start..=start + (x1 - x0)]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dilation_is_a_euclidean_ball() {
        let shape = [9, 9, 9];
        let mut m = vec![0u8; 729];
        m[4 * 81 + 4 * 9 + 4] = 1;
        let d = dilate(&m, shape, [1.0, 1.0, 1.0], 2.0);
        let want = (0..729)
            .filter(|i| {
                let (z, y, x) = (i / 81 - 4, i / 9 % 9 - 4, i % 9 - 4);
                z * z + y * y + x * x <= 4
            })
            .count();
        assert_eq!(d.iter().filter(|&&v| v == 1).count(), want);
        assert_eq!(want, 33);
    }

    #[test]
    fn holes_are_filled_but_open_bays_are_not() {
        let art = ["#####.", "#..#..", "#####.", "......"];
        let mut m: Vec<u8> = art.iter().flat_map(|r| r.bytes().map(|b| (b == b'#') as u8)).collect();
        fill_holes_per_slice(&mut m, [1, 4, 6]);
        let got: Vec<String> = m.chunks(6).map(|r| r.iter().map(|&v| if v == 1 { '#' } else { '.' }).collect()).collect();
        assert_eq!(got, ["#####.", "####..", "#####.", "......"]);
    }

    #[test]
    fn crop_is_inclusive() {
        let meta = VolumeMeta {
            spacing_mm: [1.0, 2.0, 3.0],
            origin_mm: [0.0; 3],
            shape: [3, 3, 3],
            patient_id: "p".into(),
            series_uid: "s".into(),
        };
        let v = Volume { meta: meta.clone(), data: (0..27).collect() };
        let mut mask = vec![0u8; 27];
        mask[v.index(1, 1, 1)] = 1;
        mask[v.index(2, 2, 2)] = 1;
        let b = bounding_box(&mask, [3, 3, 3]).unwrap();
        assert_eq!(b, [1, 1, 1, 2, 2, 2]);
        let (hu, m) = crop(&v, &Mask { meta, data: mask }, b);
        assert_eq!(hu.meta.shape, [2, 2, 2]);
        assert_eq!(hu.data, vec![13, 14, 16, 17, 22, 23, 25, 26]);
        assert_eq!(m.data.iter().filter(|&&x| x == 1).count(), 2);
        assert_eq!(hu.meta.origin_mm, [1.0, 2.0, 3.0], "[z, y, x], moved by one voxel on each axis");
    }
}
