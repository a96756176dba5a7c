//! The exact Euclidean distance transform of a `[z, y, x]` grid with its own
//! spacing per axis: for every voxel, the squared distance in mm² to the
//! nearest voxel of a set (0 inside the set).
//!
//! Separable (Felzenszwalb and Huttenlocher, "Distance transforms of sampled
//! functions", 2012): one pass along x, then y, then z, each taking for every
//! line the lower envelope of the parabolas `(s·(q − p))² + f(p)`. Work is
//! linear in the voxels. Values are `f32`; squared distances on a 1 mm grid
//! are whole numbers below 2²⁴, so they are exact there.

/// No voxel of the set on any line through the voxel (the set is empty).
pub const FAR: f32 = f32::INFINITY;

/// Squared distance (mm²) from every voxel to the nearest voxel where
/// `inside` holds; [`FAR`] everywhere when it holds nowhere.
pub fn squared_distance(shape: [usize; 3], spacing_mm: [f64; 3], inside: impl Fn(usize) -> bool) -> Vec<f32> {
    let [nz, ny, nx] = shape;
    let mut d: Vec<f32> = (0..nz * ny * nx).map(|i| if inside(i) { 0.0 } else { FAR }).collect();
    let mut line = Lines::new(nz.max(ny).max(nx));
    // x: rows are contiguous, and hold 0 or FAR only.
    for row in d.chunks_mut(nx.max(1)) {
        nearest_along_row(row, spacing_mm[2]);
    }
    // y, then z: per slice (y) or per row (z), a block of `n` rows of `nx`
    // values each `stride` apart, turned so that its columns are contiguous.
    let mut block = vec![0f32; nx * nz.max(ny)];
    for z in 0..nz {
        columns(&mut d, z * ny * nx, [ny, nx], nx, spacing_mm[1], &mut line, &mut block);
    }
    for y in 0..ny {
        columns(&mut d, y * nx, [nz, nx], ny * nx, spacing_mm[0], &mut line, &mut block);
    }
    d
}

/// Transforms the `shape[1]` columns of the `shape[0]` rows of `shape[1]`
/// values at `base + k·stride` (row k), through `block`.
fn columns(d: &mut [f32], base: usize, shape: [usize; 2], stride: usize, s: f64, line: &mut Lines, block: &mut [f32]) {
    let [n, nx] = shape;
    for k in 0..n {
        let row = &d[base + k * stride..base + k * stride + nx];
        for (x, &v) in row.iter().enumerate() {
            block[x * n + k] = v;
        }
    }
    for column in block[..n * nx].chunks_mut(n.max(1)) {
        line.transform(column, s);
    }
    for k in 0..n {
        let row = &mut d[base + k * stride..base + k * stride + nx];
        for (x, v) in row.iter_mut().enumerate() {
            *v = block[x * n + k];
        }
    }
}

/// Replaces each value of a row of 0 (in the set) and [`FAR`] by the
/// squared distance along the row to the nearest 0, `s` the spacing.
fn nearest_along_row(row: &mut [f32], s: f64) {
    let mut last: Option<usize> = None;
    for (q, v) in row.iter_mut().enumerate() {
        if *v == 0.0 {
            last = Some(q);
        } else if let Some(p) = last {
            *v = ((q - p) as f64 * s).powi(2) as f32;
        }
    }
    last = None;
    for (q, v) in row.iter_mut().enumerate().rev() {
        if *v == 0.0 {
            last = Some(q);
        } else if let Some(p) = last {
            *v = v.min(((p - q) as f64 * s).powi(2) as f32);
        }
    }
}

/// The work buffers of the one-dimensional transform, reused line by line.
struct Lines {
    /// Positions of the parabolas of the lower envelope.
    vertex: Vec<usize>,
    /// Where each parabola of the envelope starts to be the lowest, as a
    /// fraction `start[k] / width[k]` (`width` > 0), so that no step divides.
    start: Vec<f64>,
    /// The denominators of `start`.
    width: Vec<f64>,
    /// `line[p] + (s·p)²`, the parabolas' heights at the line's origin.
    g: Vec<f64>,
}

impl Lines {
    fn new(n: usize) -> Lines {
        Lines { vertex: vec![0; n], start: vec![0.0; n], width: vec![1.0; n], g: vec![0.0; n] }
    }

    /// Replaces `line[q]` by `min_p (s·(q − p))² + line[p]`, `s` the spacing.
    fn transform(&mut self, line: &mut [f32], s: f64) {
        let s2 = s * s;
        // The envelope's last parabola; none yet.
        let mut k: Option<usize> = None;
        let n = line.len();
        for (q, &f) in line.iter().enumerate() {
            // A 0 between two 0s is the nearest only to itself, and is written as is below.
            let inner_zero = f == 0.0 && q > 0 && q + 1 < n && line[q - 1] == 0.0 && line[q + 1] == 0.0;
            if f == FAR || inner_zero {
                continue;
            }
            let gq = f as f64 + s2 * (q * q) as f64;
            self.g[q] = gq;
            let Some(mut top) = k else {
                self.vertex[0] = q;
                k = Some(0);
                continue;
            };
            // The parabolas from p and q meet at (g[q] − g[p]) / (2·s²·(q − p)).
            let (mut start, mut width);
            loop {
                let p = self.vertex[top];
                (start, width) = (gq - self.g[p], 2.0 * s2 * (q - p) as f64);
                if top > 0 && start * self.width[top] <= self.start[top] * width {
                    top -= 1;
                } else {
                    break;
                }
            }
            top += 1;
            self.vertex[top] = q;
            self.start[top] = start;
            self.width[top] = width;
            k = Some(top);
        }
        let Some(last) = k else { return };
        let mut k = 0;
        for (q, out) in line.iter_mut().enumerate() {
            if *out == 0.0 {
                continue;
            }
            while k < last && self.start[k + 1] < q as f64 * self.width[k + 1] {
                k += 1;
            }
            let p = self.vertex[k];
            let dq = s * (q as f64 - p as f64);
            *out = (dq * dq + self.g[p] - s2 * (p * p) as f64) as f32;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The brute-force minimum over every voxel of the set.
    fn brute(shape: [usize; 3], spacing: [f64; 3], set: &[bool]) -> Vec<f32> {
        let [_, ny, nx] = shape;
        let at = |i: usize| [(i / (ny * nx)) as f64, ((i / nx) % ny) as f64, (i % nx) as f64];
        (0..set.len())
            .map(|i| {
                let a = at(i);
                (0..set.len())
                    .filter(|&j| set[j])
                    .map(|j| {
                        let b = at(j);
                        (0..3).map(|k| ((a[k] - b[k]) * spacing[k]).powi(2)).sum::<f64>() as f32
                    })
                    .fold(FAR, f32::min)
            })
            .collect()
    }

    #[test]
    fn it_equals_the_brute_force_minimum_on_anisotropic_grids() {
        let shape = [5, 7, 9];
        let n = 5 * 7 * 9;
        for (seed, spacing) in [(1u64, [1.0, 1.0, 1.0]), (2, [2.5, 0.7, 0.7]), (3, [1.0, 3.0, 0.5])] {
            // A few scattered voxels, from a fixed pseudo-random sequence.
            let set: Vec<bool> = (0..n).map(|i| (i as u64 * 2654435761 + seed * 97).is_multiple_of(23)).collect();
            let got = squared_distance(shape, spacing, |i| set[i]);
            let want = brute(shape, spacing, &set);
            for i in 0..n {
                assert!((got[i] - want[i]).abs() <= 1e-3 * want[i].max(1.0), "voxel {i}: {} vs {}", got[i], want[i]);
            }
        }
    }

    #[test]
    fn an_empty_set_is_far_everywhere_and_a_full_one_is_zero() {
        assert!(squared_distance([2, 3, 4], [1.0; 3], |_| false).iter().all(|d| *d == FAR));
        assert!(squared_distance([2, 3, 4], [1.0; 3], |_| true).iter().all(|d| *d == 0.0));
        let one = squared_distance([1, 1, 5], [1.0, 1.0, 2.0], |i| i == 0);
        assert_eq!(one, [0.0, 4.0, 16.0, 36.0, 64.0]);
    }
}
