//! The lungs of an HU volume: a mask labelled by lung, and HU and mask
//! cropped to its bounding box.
//!
//! 1. candidates: voxels below `threshold_hu`;
//! 2. 3-D connected components (faces only);
//! 3. components touching the in-plane border of any slice (the air around
//!    the body) are dropped; touching the first or last slice is fine, since
//!    lungs do in partial scans and through the trachea;
//! 4. components under `min_component_ml` are dropped; the largest is kept,
//!    and the second largest too when it holds at least
//!    `second_lung_fraction` of the largest (two separate lungs);
//! 5. holes are filled slice by slice, so vessels and nodules inside are
//!    kept: these are the *threshold lungs*;
//! 6. the two lungs are told apart ([`split`](super::split)), also when one
//!    component holds both;
//! 7. per lung, each axial slice is replaced by its convex hull when the hull
//!    holds at most `hull_max_ratio` times the slice's lung pixels
//!    ([`hull`](super::hull)): this closes the lung over masses stuck to the
//!    wall, the mediastinum or the hilum, which the threshold leaves out;
//!    what the hull adds farther than `hull_depth_mm` from the lung in the
//!    slice is dropped again (so that where a slice's hull spans the heart or
//!    the liver dome, only a band along the lung stays);
//! 8. per lung, the result is dilated by `dilate_mm` (Euclidean, in mm), for
//!    nodules on the outer pleura and for partial-volume edges;
//! 9. in what steps 7 and 8 added, bone (above `bone_hu`) is not lung.
//!
//! Where two lungs' additions overlap, the voxel goes to the lung whose hull
//! holds it, then to the lung whose dilation does, lung 1 first. Work is done
//! in the bounding box of the kept components grown by the dilation's reach.
//! HU and mask are then cropped to the mask's bounding box, inclusive.

use std::collections::VecDeque;

use rayon::prelude::*;
use serde::Serialize;

use super::components::Components;
use super::hull::{HullCount, hull_per_slice};
use super::morphology::{dilate_into, occupied_box};
use super::runs::Runs;
use super::split::{SplitOptions, label_lungs};
use crate::formats::volume::{Grid, Mask, Volume, VolumeMeta};

/// Above this HU, what the hull and the dilation add is bone (the DSB 2017
/// winners' threshold: 210 on their 0-255 scale of -1200 to +600 HU).
pub const BONE_HU: f64 = 280.0;

/// The segmentation parameters.
#[derive(Clone, Debug)]
pub struct MaskOptions {
    /// Candidates are voxels below this HU.
    pub threshold_hu: f64,
    /// Components smaller than this (mL) are never lungs.
    pub min_component_ml: f64,
    /// The second largest component is kept when at least this fraction of the largest.
    pub second_lung_fraction: f64,
    /// How one component holding both lungs is split.
    pub split: SplitOptions,
    /// A slice's hull is used when it has at most this many times the slice's lung pixels (0: no hull).
    pub hull_max_ratio: f64,
    /// Hull additions farther than this (mm, in the slice) from the lung are dropped (0: no limit).
    pub hull_depth_mm: f64,
    /// Dilation distance in mm (0: none).
    pub dilate_mm: f64,
    /// Voxels above this HU that the hull or the dilation added are removed (None: keep them).
    pub bone_hu: Option<f64>,
}

impl Default for MaskOptions {
    fn default() -> Self {
        MaskOptions {
            threshold_hu: -320.0,
            min_component_ml: 5.0,
            second_lung_fraction: 0.2,
            split: SplitOptions { max_erosions: 20, max_ratio: 4.8 },
            hull_max_ratio: 2.0,
            hull_depth_mm: 20.0,
            dilate_mm: 6.0,
            bone_hu: Some(BONE_HU),
        }
    }
}

/// What the segmentation found for one lung.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct LungSummary {
    /// Its value in `mask.arrow`: 1 or 2.
    pub label: u8,
    /// "right" for label 1 (lower x), "left" for label 2, in the patient's terms.
    pub side: &'static str,
    /// Volume of the threshold lung (holes filled), mL.
    pub threshold_ml: f64,
    /// Volume the hull and the dilation added (after bone removal), mL.
    pub added_ml: f64,
    /// Final volume, mL.
    pub volume_ml: f64,
    /// Axial slices holding this lung.
    pub slices: usize,
    /// Of those, the slices replaced by their convex hull.
    pub hulled_slices: usize,
}

/// What the segmentation found.
#[derive(Clone, Debug, Serialize)]
pub struct MaskSummary {
    /// Inclusive bounding box in the input volume: [z0, y0, x0, z1, y1, x1].
    pub bbox: [usize; 6],
    /// Final mask volume in mL.
    pub volume_ml: f64,
    /// Volume of the threshold lungs (holes filled), mL.
    pub threshold_ml: f64,
    /// Volume the hull and the dilation added, mL.
    pub added_ml: f64,
    /// Volume of bone removed from what they added, mL.
    pub bone_removed_ml: f64,
    /// Per lung, by label.
    pub lungs: Vec<LungSummary>,
    /// Erosions that split one component into two lungs (0: two components
    /// were kept; null: one lung).
    pub split_erosions: Option<usize>,
    /// Volumes (mL) of the components kept, before filling.
    pub kept_ml: Vec<f64>,
    /// Candidate components in total, and how many touched the border.
    pub components: usize,
    /// Of those, how many touched the in-plane border.
    pub border_components: usize,
}

/// The components, which of them are kept (`first`, the largest, becomes 1;
/// `second` 2), with their count summary.
struct Kept {
    comps: Components,
    first: usize,
    second: Option<usize>,
    kept_ml: Vec<f64>,
    components: usize,
    border_components: usize,
}

/// Steps 1 to 4: the components kept as lungs.
fn keep_components(v: &Volume, opts: &MaskOptions) -> Result<Kept, String> {
    let threshold = opts.threshold_hu;
    let comps = Components::label(&v.data, v.meta.shape, |hu| (hu as f64) < threshold);
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
    let Some(&(first, largest)) = inner.first() else {
        return Err(format!(
            "no lung found: {} components below {threshold} HU, {border} touch the in-plane border, none of the rest reaches {} mL",
            comps.list.len(),
            opts.min_component_ml
        ));
    };
    let second = inner.get(1).filter(|c| c.1 as f64 >= opts.second_lung_fraction * largest as f64).map(|c| c.0);
    let kept_ml = inner.iter().filter(|c| c.0 == first || Some(c.0) == second).map(|c| ml(c.1)).collect();
    Ok(Kept { components: comps.list.len(), comps, first, second, kept_ml, border_components: border })
}

impl Kept {
    /// The value a component's voxels are painted with: 1, 2 or 0 (not kept).
    fn value(&self, label: usize) -> u8 {
        if label == self.first {
            1
        } else if Some(label) == self.second {
            2
        } else {
            0
        }
    }
}

/// The lung mask of a volume cropped to its bounding box (0 outside, 1 and
/// 2 the lungs; the box is the summary's `bbox`) and a summary.
pub fn lung_mask(v: &Volume, opts: &MaskOptions) -> Result<(Mask, MaskSummary), String> {
    let shape = v.meta.shape;
    let kept = keep_components(v, opts)?;
    let reach = v.meta.spacing_mm.map(|s| (opts.dilate_mm.max(0.0) / s).floor() as usize + 1);
    let kept_box = kept.comps.extent(|l| kept.value(l) != 0).expect("a kept component is not empty");
    let region = Region::around(kept_box, shape, reach);
    let mut seeds = vec![0u8; region.shape.iter().product()];
    kept.comps.paint_box(&mut seeds, region.origin, region.shape, |l| kept.value(l));
    let mut filled: Vec<u8> = seeds.iter().map(|&l| (l != 0) as u8).collect();
    fill_holes_per_slice(&mut filled, region.shape);
    let lungs = label_lungs(&filled, &seeds, region.shape, opts.split, shape[2], region.origin[2]);
    drop((seeds, filled));
    let grown = grow_lungs(&lungs.labels, v, &region, opts);
    let ml = |voxels: usize| voxels as f64 * v.meta.voxel_mm3() / 1000.0;
    let (cores, finals) = (label_counts(&lungs.labels), label_counts(&grown.labels));
    let per_lung: Vec<LungSummary> = (1..=2u8)
        .filter(|&l| cores[l as usize] > 0)
        .map(|l| {
            let (core, fin) = (cores[l as usize], finals[l as usize]);
            let hull = grown.hulls[l as usize - 1];
            LungSummary {
                label: l,
                side: if l == 1 { "right" } else { "left" },
                threshold_ml: ml(core),
                added_ml: ml(fin) - ml(core),
                volume_ml: ml(fin),
                slices: hull.slices,
                hulled_slices: hull.hulled,
            }
        })
        .collect();
    let local = occupied_box(&grown.labels, region.shape).expect("a kept component is not empty");
    let bbox: [usize; 6] = std::array::from_fn(|a| local[a] + region.origin[a % 3]);
    let sum = |f: fn(&LungSummary) -> f64| per_lung.iter().map(f).sum::<f64>();
    let summary = MaskSummary {
        bbox,
        volume_ml: sum(|l| l.volume_ml),
        threshold_ml: sum(|l| l.threshold_ml),
        added_ml: sum(|l| l.added_ml),
        bone_removed_ml: ml(grown.bone_removed),
        split_erosions: if lungs.count == 2 { lungs.erosions } else { None },
        lungs: per_lung,
        kept_ml: kept.kept_ml,
        components: kept.components,
        border_components: kept.border_components,
    };
    let inner = Region { origin: [local[0], local[1], local[2]], shape: box_shape(local), full: region.shape };
    Ok((Grid { meta: cropped_meta(&v.meta, bbox), data: inner.cut(&grown.labels) }, summary))
}

/// Voxels per label 0, 1 and 2.
fn label_counts(labels: &[u8]) -> [usize; 3] {
    let count = |part: &[u8]| {
        let mut n = [0usize; 3];
        for &l in part {
            n[(l as usize).min(2)] += 1;
        }
        n
    };
    labels.par_chunks(1 << 16).map(count).reduce(|| [0; 3], |a, b| [a[0] + b[0], a[1] + b[1], a[2] + b[2]])
}

/// The lungs after steps 7 to 9.
struct Grown {
    labels: Vec<u8>,
    hulls: [HullCount; 2],
    bone_removed: usize,
}

/// Steps 7 to 9 on the labelled threshold lungs of a region of `v` (a
/// single lung may be labelled 1 or 2).
fn grow_lungs(core: &[u8], v: &Volume, region: &Region, opts: &MaskOptions) -> Grown {
    let (shape, spacing) = (region.shape, v.meta.spacing_mm);
    let nx = shape[2];
    let mut hulls = [HullCount::default(); 2];
    let mut hulled: Vec<(u8, Runs)> = Vec::with_capacity(2);
    for l in [1u8, 2].into_iter().filter(|l| core.contains(l)) {
        let mut own: Vec<u8> = core.par_iter().map(|&x| (x == l) as u8).collect();
        // With a ratio of 0 no hull qualifies, and the slices are still counted.
        hulls[l as usize - 1] = hull_per_slice(&mut own, shape, opts.hull_max_ratio);
        if opts.hull_depth_mm > 0.0 && opts.hull_max_ratio > 0.0 {
            // An in-plane dilation: a z spacing beyond the radius reaches no other slice.
            let lung = Runs::of(core, nx, |x| x == l);
            let in_plane = [opts.hull_depth_mm + 1.0, spacing[1], spacing[2]];
            dilate_into(&lung, shape, in_plane, opts.hull_depth_mm, &mut own, |row, band| {
                for (h, &b) in row.iter_mut().zip(band) {
                    *h &= b;
                }
            });
        }
        hulled.push((l, Runs::of(&own, nx, |x| x == 1)));
    }
    let mut labels = core.to_vec();
    for (l, runs) in &hulled {
        for (r, row) in labels.chunks_exact_mut(nx).enumerate() {
            for run in runs.row(r) {
                row[run.x0 as usize..=run.x1 as usize].iter_mut().filter(|x| **x == 0).for_each(|x| *x = *l);
            }
        }
    }
    for (l, runs) in &hulled {
        dilate_into(runs, shape, spacing, opts.dilate_mm, &mut labels, |row, covered| claim(row, covered, *l));
    }
    let mut bone_removed = 0;
    if let Some(bone) = opts.bone_hu {
        bone_removed = labels
            .par_chunks_exact_mut(nx)
            .zip(core.par_chunks_exact(nx))
            .enumerate()
            .map(|(r, (row, core_row))| {
                let mut removed = 0;
                for ((out, &c), &h) in row.iter_mut().zip(core_row).zip(region.row(&v.data, r)) {
                    if *out != 0 && c == 0 && h as f64 > bone {
                        *out = 0;
                        removed += 1;
                    }
                }
                removed
            })
            .sum();
    }
    Grown { labels, hulls, bone_removed }
}

/// Gives the unlabelled voxels of `row` label `l` where `inside` is 1.
fn claim(row: &mut [u8], inside: &[u8], l: u8) {
    for (out, &i) in row.iter_mut().zip(inside) {
        if *out == 0 && i == 1 {
            *out = l;
        }
    }
}

/// A box of a volume: where it starts and its shape.
struct Region {
    origin: [usize; 3],
    shape: [usize; 3],
    full: [usize; 3],
}

impl Region {
    /// An inclusive box grown by `reach` voxels per axis (clipped).
    fn around(b: [usize; 6], full: [usize; 3], reach: [usize; 3]) -> Region {
        let origin: [usize; 3] = std::array::from_fn(|a| b[a].saturating_sub(reach[a]));
        let shape = std::array::from_fn(|a| (b[a + 3] + reach[a]).min(full[a] - 1) - origin[a] + 1);
        Region { origin, shape, full }
    }

    /// Row `r` of the region (in z, y order) in a full-size array.
    fn row<'a, T>(&self, data: &'a [T], r: usize) -> &'a [T] {
        let start = self.row_start(r);
        &data[start..start + self.shape[2]]
    }

    /// Where row `r` of the region starts in a full-size array.
    fn row_start(&self, r: usize) -> usize {
        let ([z0, y0, x0], [_, ny, _], [_, fy, fx]) = (self.origin, self.shape, self.full);
        ((z0 + r / ny) * fy + y0 + r % ny) * fx + x0
    }

    /// The region's values of a full-size array.
    fn cut<T: Copy>(&self, data: &[T]) -> Vec<T> {
        let mut part = Vec::with_capacity(self.shape.iter().product());
        for r in 0..self.shape[0] * self.shape[1] {
            part.extend_from_slice(self.row(data, r));
        }
        part
    }
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

/// The shape of an inclusive box [z0, y0, x0, z1, y1, x1].
fn box_shape(b: [usize; 6]) -> [usize; 3] {
    [b[3] - b[0] + 1, b[4] - b[1] + 1, b[5] - b[2] + 1]
}

/// The geometry of an inclusive box of a volume: its shape, and the origin
/// moved to its first voxel (patient axes assumed aligned with the grid, as
/// for axial series).
fn cropped_meta(meta: &VolumeMeta, bbox: [usize; 6]) -> VolumeMeta {
    let (s, o) = (meta.spacing_mm, meta.origin_mm);
    let origin_mm = [o[0] + bbox[0] as f64 * s[0], o[1] + bbox[1] as f64 * s[1], o[2] + bbox[2] as f64 * s[2]];
    VolumeMeta { shape: box_shape(bbox), origin_mm, ..meta.clone() }
}

/// HU cut to an inclusive bounding box (the mask's), the origin moved with it.
pub fn crop(v: &Volume, bbox: [usize; 6]) -> Volume {
    let region = Region { origin: [bbox[0], bbox[1], bbox[2]], shape: box_shape(bbox), full: v.meta.shape };
    Grid { meta: cropped_meta(&v.meta, bbox), data: region.cut(&v.data) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 40 x 60 x 80 scan at 2 mm: air around a soft-tissue body, with a
    /// block of lung (-850 HU) at each listed x range [start, end).
    fn chest(lungs: &[(usize, usize)], body_hu: i16) -> Volume {
        let shape = [40, 60, 80];
        let meta = VolumeMeta::for_test(shape, [2.0; 3]);
        let mut data = vec![-1000i16; 40 * 60 * 80];
        for z in 0..40 {
            for y in 5..55 {
                for x in 5..75 {
                    let lung = lungs.iter().any(|&(a, b)| (a..b).contains(&x)) && (12..48).contains(&y) && (5..35).contains(&z);
                    data[(z * 60 + y) * 80 + x] = if lung { -850 } else { body_hu };
                }
            }
        }
        Volume { meta, data }
    }

    #[test]
    fn two_lungs_are_labelled_by_side() {
        let (mask, summary) = lung_mask(&chest(&[(10, 35), (45, 70)], 40), &MaskOptions::default()).unwrap();
        assert_eq!(summary.lungs.iter().map(|l| (l.label, l.side)).collect::<Vec<_>>(), [(1, "right"), (2, "left")]);
        assert_eq!(summary.split_erosions, Some(0), "two components kept: no erosion needed");
        let b = summary.bbox;
        assert_eq!(mask.meta.shape, [b[3] - b[0] + 1, b[4] - b[1] + 1, b[5] - b[2] + 1], "the mask comes cropped to its box");
        assert_eq!(mask.data[mask.index(20 - b[0], 30 - b[1], 20 - b[2])], 1);
        assert_eq!(mask.data[mask.index(20 - b[0], 30 - b[1], 60 - b[2])], 2);
        assert_eq!(mask.meta.origin_mm, [2.0 * b[0] as f64, 2.0 * b[1] as f64, 2.0 * b[2] as f64]);
        let box_ml = 30.0 * 36.0 * 25.0 * 8.0 / 1000.0;
        assert!(summary.lungs.iter().all(|l| (l.threshold_ml - box_ml).abs() < 1e-9), "{summary:?}");
        assert!(summary.added_ml > 0.0, "the dilation adds a shell: {summary:?}");
    }

    #[test]
    fn one_lung_is_a_documented_result() {
        let (mask, summary) = lung_mask(&chest(&[(45, 70)], 40), &MaskOptions::default()).unwrap();
        assert_eq!(summary.lungs.len(), 1);
        assert_eq!((summary.lungs[0].label, summary.split_erosions), (2, None), "the left half of the scan: lung 2, never split");
        assert!(mask.data.iter().all(|&l| l == 0 || l == 2));
        let lung = &summary.lungs[0];
        assert!(lung.added_ml > 0.0 && lung.slices == 30, "lung 2 alone is hulled and dilated too: {lung:?}");
    }

    #[test]
    fn no_lung_is_a_clear_error() {
        let above_the_lungs = lung_mask(&chest(&[], 40), &MaskOptions::default()).unwrap_err();
        assert!(above_the_lungs.starts_with("no lung found: 1 components below -320 HU, 1 touch the in-plane border"), "{above_the_lungs}");
        let solid = Volume { data: vec![40; 40 * 60 * 80], ..chest(&[], 40) };
        let err = lung_mask(&solid, &MaskOptions::default()).unwrap_err();
        assert!(err.starts_with("no lung found: 0 components below -320 HU"), "{err}");
    }

    #[test]
    fn bone_next_to_the_lung_is_not_added() {
        let with_bone = chest(&[(10, 35), (45, 70)], 700);
        let (mask, summary) = lung_mask(&with_bone, &MaskOptions::default()).unwrap();
        assert_eq!(summary.added_ml, 0.0, "everything around the blocks is bone: {summary:?}");
        assert!(summary.bone_removed_ml > 0.0);
        assert_eq!(mask.data.iter().filter(|&&l| l != 0).count(), 2 * 30 * 36 * 25);
        let kept = MaskOptions { bone_hu: None, ..MaskOptions::default() };
        assert!(lung_mask(&with_bone, &kept).unwrap().1.added_ml > 0.0, "with bone_hu off, the dilation keeps it");
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
        let v = Volume { meta: VolumeMeta::for_test([3, 3, 3], [1.0, 2.0, 3.0]), data: (0..27).collect() };
        let mut mask = vec![0u8; 27];
        mask[v.index(1, 1, 1)] = 1;
        mask[v.index(2, 2, 2)] = 1;
        let b = occupied_box(&mask, [3, 3, 3]).unwrap();
        assert_eq!(b, [1, 1, 1, 2, 2, 2]);
        let hu = crop(&v, b);
        assert_eq!(hu.meta.shape, [2, 2, 2]);
        assert_eq!(hu.data, vec![13, 14, 16, 17, 22, 23, 25, 26]);
        assert_eq!(hu.meta.origin_mm, [1.0, 2.0, 3.0], "[z, y, x], moved by one voxel on each axis");
    }
}
