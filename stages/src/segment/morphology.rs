//! Binary morphology on `[z, y, x]` masks held as runs along x: a
//! Euclidean dilation in mm and a face-neighbour erosion.

use rayon::prelude::*;

use super::runs::{Run, Runs};

/// The dilation of the voxels `runs` hold: every voxel within `radius_mm`
/// (Euclidean, between voxel centres) of one of them, with the ball cut at
/// `floor(radius / spacing)` voxels per axis (and at the volume's extent).
///
/// A voxel is set when some held voxel lies at offsets `(dz, dy, dx)` within
/// that reach with `(dz·sz)² + (dy·sy)² + (dx·sx)² <= radius² + 1e-9`, the
/// sum taken in that order in f64. For each `(dz, dy)` the allowed `dx` form
/// one interval (the sum grows with `|dx|`), so each output row is the union
/// of the source rows' runs ([`Runs`]) widened by that interval's half-width:
/// the work follows the mask's runs, not the ball's volume.
///
/// Row by row in parallel: `apply(row, covered)` gets each row of `out` and
/// the same row of the dilation (0/1), so a caller combines them without a
/// second volume.
pub fn dilate_into(
    runs: &Runs,
    shape: [usize; 3],
    spacing: [f64; 3],
    radius_mm: f64,
    out: &mut [u8],
    apply: impl Fn(&mut [u8], &[u8]) + Sync,
) {
    let [nz, ny, nx] = shape;
    let widths = ball_widths(shape, spacing, radius_mm);
    let near = |c: usize, d: usize, n: usize| [c.checked_sub(d), (d > 0 && c + d < n).then_some(c + d)].into_iter().flatten();
    out.par_chunks_mut(nx).with_min_len(16).enumerate().for_each_init(
        || vec![0u8; nx],
        |covered, (r, row)| {
            let (z, y) = (r / ny, r % ny);
            covered.fill(0);
            for (dz, by_dy) in widths.iter().enumerate() {
                for sz in near(z, dz, nz) {
                    for (dy, &w) in by_dy.iter().enumerate().take_while(|(_, w)| **w >= 0) {
                        for sy in near(y, dy, ny) {
                            for run in runs.row(sz * ny + sy) {
                                let x0 = (run.x0 as usize).saturating_sub(w as usize);
                                let x1 = (run.x1 as usize + w as usize).min(nx - 1);
                                covered[x0..=x1].fill(1);
                            }
                        }
                    }
                }
            }
            apply(row, covered);
        },
    );
}

/// For each z offset `i` and y offset `j` within the cut ball, the largest x
/// offset inside it (at most the x reach), or -1 when even 0 is outside;
/// both offsets run from 0 to `floor(radius / spacing)`, at most the extent.
fn ball_widths(shape: [usize; 3], spacing: [f64; 3], radius_mm: f64) -> Vec<Vec<i64>> {
    let reach: [usize; 3] = std::array::from_fn(|a| ((radius_mm / spacing[a]).floor() as usize).min(shape[a]));
    let square = |k: usize, a: usize| {
        let mm = k as f64 * spacing[a];
        mm * mm
    };
    let limit = radius_mm * radius_mm + 1e-9;
    (0..=reach[0])
        .map(|i| {
            (0..=reach[1])
                .map(|j| {
                    let zy = square(i, 0) + square(j, 1);
                    (0..=reach[2]).take_while(|&k| zy + square(k, 2) <= limit).last().map_or(-1, |k| k as i64)
                })
                .collect()
        })
        .collect()
}

/// Inclusive box [z0, y0, x0, z1, y1, x1] of the non-zero voxels of a
/// `[z, y, x]` array, from each row's first and last non-zero byte.
pub fn occupied_box(mask: &[u8], shape: [usize; 3]) -> Option<[usize; 6]> {
    let [_, ny, nx] = shape;
    mask.par_chunks(nx)
        .enumerate()
        .filter_map(|(r, row)| {
            let first = row.iter().position(|&v| v != 0)?;
            let last = row.iter().rposition(|&v| v != 0).expect("a first one exists");
            let (z, y) = (r / ny, r % ny);
            Some([z, y, first, z, y, last])
        })
        .reduce_with(|a, b| [a[0].min(b[0]), a[1].min(b[1]), a[2].min(b[2]), a[3].max(b[3]), a[4].max(b[4]), a[5].max(b[5])])
}

/// One face-neighbour (6-connected) erosion of the voxels that `runs` hold
/// (rows of a grid of `shape`): a voxel stays when it and its six
/// neighbours are all held; voxels on the array's faces go. Row by row, the
/// row's runs less their end voxels meet the runs of the four neighbouring
/// rows.
pub fn erode(runs: &Runs, shape: [usize; 3]) -> Runs {
    let [nz, ny, _] = shape;
    Runs::from_rows(runs.rows(), |r| {
        let (z, y) = (r / ny, r % ny);
        if z == 0 || z + 1 >= nz || y == 0 || y + 1 >= ny {
            return Vec::new();
        }
        let mut kept: Vec<Run> =
            runs.row(r).iter().filter(|run| run.x1 >= run.x0 + 2).map(|run| Run { x0: run.x0 + 1, x1: run.x1 - 1 }).collect();
        for n in [r - 1, r + 1, r - ny, r + ny] {
            if kept.is_empty() {
                break;
            }
            kept = intersect(&kept, runs.row(n));
        }
        kept
    })
}

/// The overlaps of two sorted, disjoint run lists.
fn intersect(a: &[Run], b: &[Run]) -> Vec<Run> {
    let mut out = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        let (x0, x1) = (a[i].x0.max(b[j].x0), a[i].x1.min(b[j].x1));
        if x0 <= x1 {
            out.push(Run { x0, x1 });
        }
        if a[i].x1 < b[j].x1 { i += 1 } else { j += 1 }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A mask and its dilation, through [`dilate_into`].
    fn dilate(mask: &[u8], shape: [usize; 3], spacing: [f64; 3], radius_mm: f64) -> Vec<u8> {
        let mut out = mask.to_vec();
        let runs = Runs::of(mask, shape[2], |v| v == 1);
        dilate_into(&runs, shape, spacing, radius_mm, &mut out, |row, covered| {
            for (o, &c) in row.iter_mut().zip(covered) {
                *o |= c;
            }
        });
        out
    }

    /// The dilation as it was computed up to lung_mask version 3: a ball
    /// stamped from every mask voxel with a background face neighbour. The
    /// reference the distance-based one must equal bit for bit.
    fn dilate_by_stamps(mask: &[u8], shape: [usize; 3], spacing: [f64; 3], radius_mm: f64) -> Vec<u8> {
        let [nz, ny, nx] = shape;
        if radius_mm <= 0.0 {
            return mask.to_vec();
        }
        let reach = |s: f64, n: usize| ((radius_mm / s).floor() as isize).min(n as isize);
        let (rz, ry, rx) = (reach(spacing[0], nz), reach(spacing[1], ny), reach(spacing[2], nx));
        let at = |z: isize, y: isize, x: isize| {
            (0..nz as isize).contains(&z)
                && (0..ny as isize).contains(&y)
                && (0..nx as isize).contains(&x)
                && mask[((z as usize * ny) + y as usize) * nx + x as usize] == 1
        };
        let mut out = mask.to_vec();
        for z in 0..nz as isize {
            for y in 0..ny as isize {
                for x in 0..nx as isize {
                    let inside = |z, y, x| {
                        !(0..nz as isize).contains(&z) || !(0..ny as isize).contains(&y) || !(0..nx as isize).contains(&x) || at(z, y, x)
                    };
                    let edge = at(z, y, x)
                        && [(1, 0, 0), (-1, 0, 0), (0, 1, 0), (0, -1, 0), (0, 0, 1), (0, 0, -1)]
                            .iter()
                            .any(|&(a, b, c)| !inside(z + a, y + b, x + c));
                    if !edge {
                        continue;
                    }
                    for dz in -rz..=rz {
                        for dy in -ry..=ry {
                            for dx in -rx..=rx {
                                let mm = [dz as f64 * spacing[0], dy as f64 * spacing[1], dx as f64 * spacing[2]];
                                let (zz, yy, xx) = (z + dz, y + dy, x + dx);
                                if mm.iter().map(|m| m * m).sum::<f64>() <= radius_mm * radius_mm + 1e-9
                                    && (0..nz as isize).contains(&zz)
                                    && (0..ny as isize).contains(&yy)
                                    && (0..nx as isize).contains(&xx)
                                {
                                    out[((zz as usize * ny) + yy as usize) * nx + xx as usize] = 1;
                                }
                            }
                        }
                    }
                }
            }
        }
        out
    }

    #[test]
    fn dilation_equals_the_stamped_ball_on_random_masks() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(33);
        for case in 0..300 {
            let shape = [rng.random_range(1..9), rng.random_range(1..12), rng.random_range(1..14)];
            let n: usize = shape.iter().product();
            let density = rng.random_range(0.0..0.3);
            let mask: Vec<u8> = (0..n).map(|_| rng.random_bool(density) as u8).collect();
            let spacing =
                [0.5, 0.7, 1.0, 1.2, 2.5, 21.0].map(|s| s * if rng.random_bool(0.3) { 1.0 } else { 1.0 + rng.random_range(-0.1..0.1) });
            let spacing = [spacing[rng.random_range(0..6)], spacing[rng.random_range(0..5)], spacing[rng.random_range(0..5)]];
            let radius = [0.0, 1.0, 2.0, 2.4, 3.0, 6.0, 20.0][rng.random_range(0..7)];
            let want = dilate_by_stamps(&mask, shape, spacing, radius);
            assert_eq!(dilate(&mask, shape, spacing, radius), want, "case {case}: {shape:?} at {spacing:?} mm, radius {radius}");
        }
    }

    #[test]
    fn the_occupied_box_is_inclusive() {
        let mut m = vec![0u8; 3 * 4 * 5];
        assert_eq!(occupied_box(&m, [3, 4, 5]), None);
        m[(4 + 1) * 5 + 3] = 1;
        m[(2 * 4 + 3) * 5 + 1] = 2;
        assert_eq!(occupied_box(&m, [3, 4, 5]), Some([1, 1, 1, 2, 3, 3]));
    }

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

    /// The erosion as a plain loop over voxels (as it was computed up to
    /// lung_mask version 3): the reference for the one on runs.
    fn erode_voxels(mask: &[u8], shape: [usize; 3]) -> Vec<u8> {
        let [nz, ny, nx] = shape;
        let mut out = vec![0u8; mask.len()];
        out.par_chunks_mut(ny * nx).enumerate().for_each(|(z, plane)| {
            if z == 0 || z + 1 >= nz {
                return;
            }
            for y in 1..ny.saturating_sub(1) {
                for x in 1..nx.saturating_sub(1) {
                    let i = (z * ny + y) * nx + x;
                    let keep = mask[i] == 1
                        && mask[i - 1] == 1
                        && mask[i + 1] == 1
                        && mask[i - nx] == 1
                        && mask[i + nx] == 1
                        && mask[i - ny * nx] == 1
                        && mask[i + ny * nx] == 1;
                    plane[y * nx + x] = keep as u8;
                }
            }
        });
        out
    }

    /// The voxels `runs` hold, as 0/1 bytes.
    fn ones(runs: &Runs, len: usize, nx: usize) -> Vec<u8> {
        let mut out = vec![0u8; len];
        for r in 0..runs.rows() {
            for run in runs.row(r) {
                out[r * nx + run.x0 as usize..=r * nx + run.x1 as usize].fill(1);
            }
        }
        out
    }

    fn erode_ones(mask: &[u8], shape: [usize; 3]) -> Vec<u8> {
        ones(&erode(&Runs::of(mask, shape[2], |v| v == 1), shape), mask.len(), shape[2])
    }

    #[test]
    fn erosion_peels_one_face_layer() {
        let shape = [5, 5, 5];
        let cube: Vec<u8> =
            (0..125).map(|i| (i / 25 >= 1 && i / 25 <= 3 && i / 5 % 5 >= 1 && i / 5 % 5 <= 3 && i % 5 >= 1 && i % 5 <= 3) as u8).collect();
        let e = erode_ones(&cube, shape);
        assert_eq!(e.iter().filter(|&&v| v == 1).count(), 1, "a 3x3x3 cube erodes to its centre");
        assert_eq!(e[2 * 25 + 2 * 5 + 2], 1);
        let full = vec![1u8; 125];
        assert_eq!(erode_ones(&full, shape).iter().filter(|&&v| v == 1).count(), 27, "the array's faces count as outside");
    }

    #[test]
    fn erosion_on_runs_equals_the_voxel_loop_on_random_masks() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(6);
        for case in 0..300 {
            let shape = [rng.random_range(1..8), rng.random_range(1..10), rng.random_range(1..12)];
            let density = rng.random_range(0.3..1.0);
            let mask: Vec<u8> = (0..shape.iter().product()).map(|_| rng.random_bool(density) as u8).collect();
            assert_eq!(erode_ones(&mask, shape), erode_voxels(&mask, shape), "case {case}: {shape:?}");
        }
    }
}
