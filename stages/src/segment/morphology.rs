//! Binary morphology on `[z, y, x]` masks of 0/1 bytes: a Euclidean
//! dilation in mm and a face-neighbour erosion.

use rayon::prelude::*;

/// Every voxel within `radius_mm` (Euclidean, between voxel centres) of a
/// mask voxel. Only mask voxels with a background face neighbour can be the
/// nearest one to a background voxel, so only they stamp a ball.
pub fn dilate(mask: &[u8], shape: [usize; 3], spacing: [f64; 3], radius_mm: f64) -> Vec<u8> {
    let [nz, ny, nx] = shape;
    if radius_mm <= 0.0 {
        return mask.to_vec();
    }
    // Offsets past the volume's extent land nowhere: the ball is cut there,
    // which bounds its size whatever the radius and spacing.
    let reach = |s: f64, n: usize| ((radius_mm / s).floor() as isize).min(n as isize);
    let (rz, ry, rx) = (reach(spacing[0], nz), reach(spacing[1], ny), reach(spacing[2], nx));
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

/// One face-neighbour (6-connected) erosion: a voxel stays when it and its
/// six neighbours are all in the mask; voxels on the array's faces go.
pub fn erode(mask: &[u8], shape: [usize; 3]) -> Vec<u8> {
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
    fn erosion_peels_one_face_layer() {
        let shape = [5, 5, 5];
        let cube: Vec<u8> =
            (0..125).map(|i| (i / 25 >= 1 && i / 25 <= 3 && i / 5 % 5 >= 1 && i / 5 % 5 <= 3 && i % 5 >= 1 && i % 5 <= 3) as u8).collect();
        let e = erode(&cube, shape);
        assert_eq!(e.iter().filter(|&&v| v == 1).count(), 1, "a 3x3x3 cube erodes to its centre");
        assert_eq!(e[2 * 25 + 2 * 5 + 2], 1);
        let full = vec![1u8; 125];
        assert_eq!(erode(&full, shape).iter().filter(|&&v| v == 1).count(), 27, "the array's faces count as outside");
    }
}
