//! The convex hull of one lung, axial slice by axial slice, kept only where
//! it does not grow the slice too much: what closes the lung over nodules
//! and masses stuck to its wall, the mediastinum or the hilum.
//!
//! A pixel belongs to a slice's hull when its centre lies inside or on the
//! convex polygon spanned by the centres of the slice's lung pixels. The
//! hull replaces the slice when its pixel count is at most `max_ratio` times
//! the slice's lung pixels (the guard that keeps a crescent-shaped slice,
//! whose hull would swallow the heart, as it is).

use rayon::prelude::*;

/// What the hull step did to one lung.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HullCount {
    /// Axial slices holding some of the lung.
    pub slices: usize,
    /// Of those, the slices replaced by their hull.
    pub hulled: usize,
}

/// Replaces each axial slice of a 0/1 `[z, y, x]` mask by its convex hull
/// where the hull has at most `max_ratio` times the slice's pixels.
pub fn hull_per_slice(mask: &mut [u8], shape: [usize; 3], max_ratio: f64) -> HullCount {
    let [_, ny, nx] = shape;
    mask.par_chunks_mut(ny * nx)
        .map(|plane| {
            let area = plane.iter().filter(|&&v| v == 1).count();
            if area == 0 {
                return HullCount::default();
            }
            if max_ratio < 1.0 {
                // A hull holds at least the slice's own pixels: none can qualify.
                return HullCount { slices: 1, hulled: 0 };
            }
            let hull = fill_convex(&convex_hull(&extreme_points(plane, nx)), ny, nx);
            let grown = hull.iter().filter(|&&v| v == 1).count();
            let hulled = grown as f64 <= max_ratio * area as f64;
            if hulled {
                for (v, h) in plane.iter_mut().zip(&hull) {
                    *v |= h;
                }
            }
            HullCount { slices: 1, hulled: hulled as usize }
        })
        .reduce(HullCount::default, |a, b| HullCount { slices: a.slices + b.slices, hulled: a.hulled + b.hulled })
}

/// The first and last lung pixel of every row, as (x, y): enough points to
/// span the same hull as every lung pixel.
fn extreme_points(plane: &[u8], nx: usize) -> Vec<(i64, i64)> {
    let mut points = Vec::new();
    for (y, row) in plane.chunks_exact(nx).enumerate() {
        if let (Some(first), Some(last)) = (row.iter().position(|&v| v == 1), row.iter().rposition(|&v| v == 1)) {
            points.push((first as i64, y as i64));
            if last != first {
                points.push((last as i64, y as i64));
            }
        }
    }
    points
}

/// Andrew's monotone chain: the hull's vertices counter-clockwise, without
/// collinear points (one or two points when the input is that degenerate).
pub fn convex_hull(points: &[(i64, i64)]) -> Vec<(i64, i64)> {
    let mut p = points.to_vec();
    p.sort_unstable();
    p.dedup();
    if p.len() < 3 {
        return p;
    }
    let cross = |o: (i64, i64), a: (i64, i64), b: (i64, i64)| (a.0 - o.0) * (b.1 - o.1) - (a.1 - o.1) * (b.0 - o.0);
    let mut hull: Vec<(i64, i64)> = Vec::with_capacity(2 * p.len());
    for pass in [p.clone(), p.iter().rev().copied().collect()] {
        let floor = hull.len();
        for q in pass {
            while hull.len() >= floor + 2 && cross(hull[hull.len() - 2], hull[hull.len() - 1], q) <= 0 {
                hull.pop();
            }
            hull.push(q);
        }
        hull.pop();
    }
    hull
}

/// The pixels (0/1, `ny` rows of `nx`) whose centres lie inside or on a
/// convex polygon given by its vertices in order.
pub fn fill_convex(vertices: &[(i64, i64)], ny: usize, nx: usize) -> Vec<u8> {
    let mut out = vec![0u8; ny * nx];
    let Some(top) = vertices.iter().map(|v| v.1).min() else { return out };
    let bottom = vertices.iter().map(|v| v.1).max().expect("not empty");
    for y in top..=bottom {
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for (k, &a) in vertices.iter().enumerate() {
            let b = vertices[(k + 1) % vertices.len()];
            if y < a.1.min(b.1) || y > a.1.max(b.1) {
                continue;
            }
            let xs = if a.1 == b.1 {
                [a.0 as f64, b.0 as f64]
            } else {
                [a.0 as f64 + (y - a.1) as f64 * (b.0 - a.0) as f64 / (b.1 - a.1) as f64; 2]
            };
            lo = lo.min(xs[0]).min(xs[1]);
            hi = hi.max(xs[0]).max(xs[1]);
        }
        let (x0, x1) = ((lo - 1e-9).ceil().max(0.0) as usize, (hi + 1e-9).floor().min(nx as f64 - 1.0) as usize);
        if lo <= hi {
            out[y as usize * nx + x0..=y as usize * nx + x1].fill(1);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(art: &[&str]) -> Vec<u8> {
        art.iter().flat_map(|r| r.bytes().map(|b| (b == b'#') as u8)).collect()
    }

    fn show(m: &[u8], nx: usize) -> Vec<String> {
        m.chunks(nx).map(|r| r.iter().map(|&v| if v == 1 { '#' } else { '.' }).collect()).collect()
    }

    #[test]
    fn a_bite_out_of_the_wall_is_closed() {
        let art = ["........", ".######.", ".####...", ".###....", ".####...", ".######.", "........"];
        let mut m = parse(&art);
        let count = hull_per_slice(&mut m, [1, 7, 8], 2.0);
        assert_eq!(count, HullCount { slices: 1, hulled: 1 });
        assert_eq!(show(&m, 8), ["........", ".######.", ".######.", ".######.", ".######.", ".######.", "........"]);
    }

    #[test]
    fn the_guard_keeps_a_crescent() {
        // A thin L: its hull is a triangle of 3x its pixels.
        let art = ["#.......", "#.......", "#.......", "#.......", "#.......", "#.......", "########"];
        let mut m = parse(&art);
        let before = m.clone();
        assert_eq!(hull_per_slice(&mut m, [1, 7, 8], 2.0), HullCount { slices: 1, hulled: 0 });
        assert_eq!(m, before, "a hull of more than twice the pixels is refused");
        assert_eq!(hull_per_slice(&mut m, [1, 7, 8], 10.0).hulled, 1);
        assert_eq!(m.iter().filter(|&&v| v == 1).count(), 29, "the triangle below (0, 0)-(7, 6), centres on its edge included");
    }

    #[test]
    fn hulls_are_per_slice_and_degenerate_ones_work() {
        let mut m = vec![0u8; 2 * 3 * 4];
        m[4 + 1] = 1; // slice 0: one pixel
        m[12 + 4 + 1] = 1; // slice 1: two pixels on a diagonal
        m[12 + 8 + 2] = 1;
        let count = hull_per_slice(&mut m, [2, 3, 4], 2.0);
        assert_eq!(count, HullCount { slices: 2, hulled: 2 });
        assert_eq!(m.iter().filter(|&&v| v == 1).count(), 3, "points and segments are their own hulls");
        assert_eq!(convex_hull(&[(0, 0), (2, 0), (1, 0), (2, 2), (0, 2), (1, 1)]), vec![(0, 0), (2, 0), (2, 2), (0, 2)]);
    }
}
