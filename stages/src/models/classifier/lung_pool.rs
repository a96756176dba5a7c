//! Pooling over the lungs: which code voxels of a feature map (and of the
//! classifier's convolution outputs) lie in the slightly dilated lung mask.
//!
//! `encode` writes, beside each patient's features, the fraction of every
//! code voxel inside the lung mask. A voxel with any lung belongs to the
//! pooling region, which is then dilated by a few voxels (a nodule on the
//! pleura reaches past the mask's edge). Each strided convolution maps the
//! region onto its output grid: an output voxel belongs when its 3³ window
//! (padding 1) touches the region. The classifier multiplies its last
//! activations (ReLU, so never negative) by the region before max pooling,
//! which is the maximum over the region's voxels alone, and 0 for a bin
//! with none.

/// The pooling region on the feature grid `shape` (`[z][y][x]`): the code
/// voxels with any lung, grown by `grow` voxels (a box, 26-neighbours per
/// step) or, for a negative `grow`, shrunk by as many (a voxel stays when
/// its whole box is in; the grid's edge counts as outside).
pub fn pool_region(lung: &[f32], shape: [usize; 3], grow: i64) -> Vec<f32> {
    let r = grow.unsigned_abs() as usize;
    let inside: Vec<f32> = lung.iter().map(|&f| if f > 0.0 { 1.0 } else { 0.0 }).collect();
    if grow >= 0 {
        return (0..3).fold(inside, |v, axis| dilate_axis(&v, shape, axis, r));
    }
    // Shrinking is growing the outside, with a border of outside around the grid.
    let outside: Vec<f32> = inside.iter().map(|v| 1.0 - v).collect();
    let grown = (0..3).fold(outside, |v, axis| dilate_axis(&v, shape, axis, r));
    let near_edge = |i: usize| {
        let at = [i / (shape[1] * shape[2]), i / shape[2] % shape[1], i % shape[2]];
        (0..3).any(|a| at[a] < r || at[a] + r >= shape[a])
    };
    grown.iter().enumerate().map(|(i, &g)| if g > 0.0 || near_edge(i) { 0.0 } else { 1.0 }).collect()
}

/// The maximum of `v` over a window of `±r` voxels along `axis`.
fn dilate_axis(v: &[f32], shape: [usize; 3], axis: usize, r: usize) -> Vec<f32> {
    if r == 0 {
        return v.to_vec();
    }
    let stride = [shape[1] * shape[2], shape[2], 1][axis];
    let n = shape[axis];
    let mut out = vec![0.0; v.len()];
    for (i, o) in out.iter_mut().enumerate() {
        let at = (i / stride) % n;
        let base = i - at * stride;
        let (lo, hi) = (at.saturating_sub(r), (at + r).min(n - 1));
        *o = (lo..=hi).map(|j| v[base + j * stride]).fold(0.0, f32::max);
    }
    out
}

/// The region on the output grid of a 3³ convolution with padding 1 and
/// `stride`: 1 where the output voxel's window touches the region. Returns
/// the values and the output shape.
pub fn strided_region(region: &[f32], shape: [usize; 3], stride: usize) -> (Vec<f32>, [usize; 3]) {
    let out_shape = shape.map(|n| (n - 1) / stride + 1);
    let window = |o: usize, n: usize| (o * stride).saturating_sub(1)..(o * stride + 2).min(n);
    let mut out = Vec::with_capacity(out_shape.iter().product());
    for z in 0..out_shape[0] {
        for y in 0..out_shape[1] {
            for x in 0..out_shape[2] {
                let hit = window(z, shape[0]).any(|iz| {
                    window(y, shape[1]).any(|iy| window(x, shape[2]).any(|ix| region[(iz * shape[1] + iy) * shape[2] + ix] > 0.0))
                });
                out.push(if hit { 1.0 } else { 0.0 });
            }
        }
    }
    (out, out_shape)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A plain loop over every voxel and its box neighbourhood.
    fn dilated_by_hand(lung: &[f32], [nz, ny, nx]: [usize; 3], r: i64) -> Vec<f32> {
        let mut out = vec![0.0; lung.len()];
        for z in 0..nz as i64 {
            for y in 0..ny as i64 {
                for x in 0..nx as i64 {
                    let mut any = false;
                    for dz in -r..=r {
                        for dy in -r..=r {
                            for dx in -r..=r {
                                let (a, b, c) = (z + dz, y + dy, x + dx);
                                if (0..nz as i64).contains(&a) && (0..ny as i64).contains(&b) && (0..nx as i64).contains(&c) {
                                    any |= lung[((a as usize) * ny + b as usize) * nx + c as usize] > 0.0;
                                }
                            }
                        }
                    }
                    out[((z as usize) * ny + y as usize) * nx + x as usize] = if any { 1.0 } else { 0.0 };
                }
            }
        }
        out
    }

    fn sparse_lung(shape: [usize; 3]) -> Vec<f32> {
        (0..shape.iter().product::<usize>()).map(|i| if i * 13 % 29 == 0 { 0.25 } else { 0.0 }).collect()
    }

    #[test]
    fn the_region_is_the_dilated_mask_of_a_plain_loop() {
        let shape = [6, 5, 7];
        let lung = sparse_lung(shape);
        for r in 0..3 {
            assert_eq!(pool_region(&lung, shape, r), dilated_by_hand(&lung, shape, r), "dilation {r}");
        }
    }

    #[test]
    fn shrinking_keeps_the_voxels_whose_whole_box_is_lung() {
        let shape = [6, 7, 8];
        // A block of lung one voxel in from the grid's edge, with one hole.
        let lung: Vec<f32> = (0..336)
            .map(|i| {
                let (z, y, x) = (i / 56, i / 8 % 7, i % 8);
                let block = (1..6).contains(&z) && (0..7).contains(&y) && (1..8).contains(&x);
                if block && i != 3 * 56 + 3 * 8 + 5 { 1.0 } else { 0.0 }
            })
            .collect();
        let got = pool_region(&lung, shape, -1);
        for (i, &v) in got.iter().enumerate() {
            let (z, y, x) = ((i / 56) as i64, (i / 8 % 7) as i64, (i % 8) as i64);
            let mut whole = true;
            for (dz, dy, dx) in (-1..=1).flat_map(|a| (-1..=1).flat_map(move |b| (-1..=1).map(move |c| (a, b, c)))) {
                let (a, b, c) = (z + dz, y + dy, x + dx);
                let inside = (0..6).contains(&a) && (0..7).contains(&b) && (0..8).contains(&c);
                whole &= inside && lung[((a * 7 + b) * 8 + c) as usize] > 0.0;
            }
            assert_eq!(v, if whole { 1.0 } else { 0.0 }, "voxel {z},{y},{x}");
        }
        assert!(got.iter().any(|&v| v > 0.0));
    }

    #[test]
    fn a_strided_window_touching_the_region_keeps_the_output_voxel() {
        let shape = [7, 4, 5];
        let region = pool_region(&sparse_lung(shape), shape, 0);
        let (out, out_shape) = strided_region(&region, shape, 2);
        assert_eq!(out_shape, [4, 2, 3]);
        for (i, &v) in out.iter().enumerate() {
            let (z, y, x) = (i / 6, i / 3 % 2, i % 3);
            let mut hit = false;
            for iz in (2 * z).saturating_sub(1)..(2 * z + 2).min(7) {
                for iy in (2 * y).saturating_sub(1)..(2 * y + 2).min(4) {
                    for ix in (2 * x).saturating_sub(1)..(2 * x + 2).min(5) {
                        hit |= region[(iz * 4 + iy) * 5 + ix] > 0.0;
                    }
                }
            }
            assert_eq!(v, if hit { 1.0 } else { 0.0 }, "output voxel {z},{y},{x}");
        }
        // Stride 1 keeps the grid and dilates by one voxel.
        let (same, same_shape) = strided_region(&region, shape, 1);
        assert_eq!((same, same_shape), (dilated_by_hand(&region, shape, 1), shape));
    }
}
