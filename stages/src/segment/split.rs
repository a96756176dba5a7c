//! Telling the two lungs apart, so that each gets its own hull and the hull
//! never spans the mediastinum.
//!
//! Two kept components are the two lungs. One component (the lungs touch at
//! the anterior junction, or the trachea and main bronchi join them) is
//! eroded one face layer at a time, up to `max_erosions` times, until its
//! two largest parts are within `max_ratio` of each other in size: those
//! parts are the seeds. Every voxel of the mask then takes the label of the
//! seed it reaches first, walking through the mask over voxel faces
//! (a breadth-first search from both seeds at once). When no erosion
//! separates two such parts, the scan holds one lung.
//!
//! Labels are ordered by side: 1 is the lung with the lower mean x index
//! (the patient's right in an axial series whose rows run to the patient's
//! left, as DICOM's standard orientation has them), 2 the other. A single
//! lung takes 1 or 2 by which half of the scan holds its mean x.

use rayon::prelude::*;

use super::components::Components;
use super::morphology::erode;
use super::runs::Runs;

/// How hard to look for two lungs in one component.
#[derive(Clone, Copy, Debug)]
pub struct SplitOptions {
    /// Most face-layer erosions tried (0: never split a component).
    pub max_erosions: usize,
    /// The larger seed may hold at most this many times the smaller's voxels.
    pub max_ratio: f64,
}

/// The lungs of a mask: a label per voxel and how they were found.
#[derive(Clone, Debug)]
pub struct Lungs {
    /// 0 outside, 1 or 2 inside (see the module doc for which is which).
    pub labels: Vec<u8>,
    /// How many lungs were found (1 or 2).
    pub count: usize,
    /// Erosions that separated one component into two lungs (0 when two
    /// components were kept; None when no split was found or tried).
    pub erosions: Option<usize>,
}

/// Labels the lungs of `mask` (0/1). `kept` holds the components kept as
/// lungs painted 1 and 2 (only 1 when one component was kept); `scan_nx` is
/// the full scan's width, for the side of a single lung; `x_offset` is the
/// x index of this array's first column in the scan.
pub fn label_lungs(mask: &[u8], kept: &[u8], shape: [usize; 3], opts: SplitOptions, scan_nx: usize, x_offset: usize) -> Lungs {
    let (seeds, erosions) = if kept.contains(&2) { (kept.to_vec(), Some(0)) } else { erosion_seeds(mask, shape, opts) };
    let mut labels = grow(&seeds, mask, shape);
    let count = if labels.contains(&2) { 2 } else { 1 };
    let means = mean_x(&labels, shape[2]).map(|m| m.unwrap_or(0.0));
    let swap = match count {
        2 => means[0] > means[1],
        _ => (means[0] + x_offset as f64) >= scan_nx as f64 / 2.0,
    };
    if swap {
        for l in labels.iter_mut().filter(|l| **l != 0) {
            *l = 3 - *l;
        }
    }
    Lungs { labels, count, erosions }
}

/// Seeds 1 and 2 from the first erosion that leaves two parts close enough
/// in size; otherwise the whole mask as seed 1.
fn erosion_seeds(mask: &[u8], shape: [usize; 3], opts: SplitOptions) -> (Vec<u8>, Option<usize>) {
    let mut current = Runs::of(mask, shape[2], |v| v == 1);
    for k in 1..=opts.max_erosions {
        let parts = Components::of_runs(erode(&current, shape), shape);
        let mut order: Vec<usize> = (0..parts.list.len()).collect();
        order.sort_by(|&a, &b| parts.list[b].voxels.cmp(&parts.list[a].voxels).then(a.cmp(&b)));
        match order[..] {
            [] => break,
            [first, second, ..] if (parts.list[first].voxels as f64) <= opts.max_ratio * parts.list[second].voxels as f64 => {
                let mut seeds = vec![0u8; mask.len()];
                parts.paint(&mut seeds, |l| {
                    if l == first {
                        1
                    } else if l == second {
                        2
                    } else {
                        0
                    }
                });
                return (seeds, Some(k));
            }
            _ => {}
        }
        current = parts.into_runs();
    }
    (mask.to_vec(), None)
}

/// Every mask voxel takes the label of the seed that reaches it first over
/// voxel faces inside the mask (ties go to the seed queued first, in raster
/// order); voxels no seed reaches take label 1.
fn grow(seeds: &[u8], mask: &[u8], shape: [usize; 3]) -> Vec<u8> {
    let [nz, ny, nx] = shape.map(|n| n as u32);
    let plane = ny * nx;
    let mut labels = seeds.to_vec();
    // Breadth first, one distance at a time: the order a FIFO queue would
    // take, so ties go the same way.
    let mut frontier: Vec<u32> = (0..labels.len() as u32).filter(|&i| labels[i as usize] != 0).collect();
    let mut next = Vec::new();
    while !frontier.is_empty() {
        for &i in &frontier {
            let (z, rest) = (i / plane, i % plane);
            let (y, x) = (rest / nx, rest % nx);
            let neighbours = [
                (x > 0).then(|| i - 1),
                (x + 1 < nx).then(|| i + 1),
                (y > 0).then(|| i - nx),
                (y + 1 < ny).then(|| i + nx),
                (z > 0).then(|| i - plane),
                (z + 1 < nz).then(|| i + plane),
            ];
            let label = labels[i as usize];
            for n in neighbours.into_iter().flatten() {
                let n = n as usize;
                if mask[n] == 1 && labels[n] == 0 {
                    labels[n] = label;
                    next.push(n as u32);
                }
            }
        }
        std::mem::swap(&mut frontier, &mut next);
        next.clear();
    }
    for (l, &m) in labels.iter_mut().zip(mask) {
        if m == 1 && *l == 0 {
            *l = 1;
        }
    }
    labels
}

/// Mean x index of the voxels labelled 1 and of those labelled 2 in
/// `[z, y, x]` labels with rows of `nx` (None for a label with no voxel).
pub fn mean_x(labels: &[u8], nx: usize) -> [Option<f64>; 2] {
    // Integer sums: exact, so the order of the rows does not matter.
    let (sum, n) = labels
        .par_chunks(nx)
        .with_min_len(64)
        .map(|row| {
            let (mut sum, mut n) = ([0u64; 2], [0u64; 2]);
            for (x, &l) in row.iter().enumerate().filter(|(_, l)| **l != 0) {
                let k = (l as usize - 1).min(1);
                sum[k] += x as u64;
                n[k] += 1;
            }
            (sum, n)
        })
        .reduce(|| ([0; 2], [0; 2]), |a, b| ([a.0[0] + b.0[0], a.0[1] + b.0[1]], [a.1[0] + b.1[0], a.1[1] + b.1[1]]));
    [0, 1].map(|k| (n[k] > 0).then(|| sum[k] as f64 / n[k] as f64))
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPTS: SplitOptions = SplitOptions { max_erosions: 5, max_ratio: 4.8 };

    /// Two 5x5 blocks of `depth` slices joined by a one-voxel bridge, in a 7 x 13 slice.
    fn joined_pair(depth: usize) -> (Vec<u8>, [usize; 3]) {
        let shape = [depth + 2, 7, 13];
        let mut m = vec![0u8; shape.iter().product()];
        for z in 1..=depth {
            for y in 1..6 {
                for x in (1..6).chain(7..12) {
                    m[(z * 7 + y) * 13 + x] = 1;
                }
            }
            m[(z * 7 + 3) * 13 + 6] = 1;
        }
        (m, shape)
    }

    #[test]
    fn a_bridged_pair_is_split_and_labelled_by_side() {
        let (m, shape) = joined_pair(5);
        let lungs = label_lungs(&m, &m, shape, OPTS, 13, 0);
        assert_eq!((lungs.count, lungs.erosions), (2, Some(1)));
        let at = |z: usize, y: usize, x: usize| lungs.labels[(z * 7 + y) * 13 + x];
        assert_eq!((at(3, 3, 1), at(3, 3, 11)), (1, 2), "1 is the lower x");
        assert_eq!(
            lungs.labels.iter().filter(|&&l| l == 1).count(),
            lungs.labels.iter().filter(|&&l| l == 2).count() + 5,
            "the bridge goes to the seed reached first"
        );
        assert_eq!(lungs.labels.iter().filter(|&&l| l != 0).count(), m.iter().filter(|&&v| v == 1).count(), "every voxel is labelled");
    }

    #[test]
    fn no_split_means_one_lung_labelled_by_its_half() {
        let (m, shape) = joined_pair(5);
        let lungs = label_lungs(&m, &m, shape, SplitOptions { max_erosions: 0, ..OPTS }, 13, 0);
        assert_eq!((lungs.count, lungs.erosions), (1, None));
        assert!(lungs.labels.iter().all(|&l| l == 0 || l == 1), "its mean x is left of the middle of a 13-wide scan");
        let moved = label_lungs(&m, &m, shape, SplitOptions { max_erosions: 0, ..OPTS }, 13, 7);
        assert!(moved.labels.iter().all(|&l| l == 0 || l == 2), "the same block seen 7 columns right is the left lung");
    }

    #[test]
    fn two_kept_components_are_the_lungs_without_erosion() {
        let (mut m, shape) = joined_pair(3);
        let mut kept = m.clone();
        for z in 1..=3 {
            m[(z * 7 + 3) * 13 + 6] = 0;
            kept[(z * 7 + 3) * 13 + 6] = 0;
            for y in 1..6 {
                for x in 1..6 {
                    kept[(z * 7 + y) * 13 + x] = 2;
                }
            }
        }
        let lungs = label_lungs(&m, &kept, shape, OPTS, 13, 0);
        assert_eq!((lungs.count, lungs.erosions), (2, Some(0)));
        assert_eq!(lungs.labels[(2 * 7 + 3) * 13 + 2], 1, "relabelled by side");
    }
}
