//! A nodule detector that learns nothing: the largest ball of solid tissue
//! that lung air surrounds, in a lung crop and its mask.
//!
//! 1. *air* is what the mask holds below `solid_hu`, *solid* what it holds
//!    at or above it; voxels outside the mask are neither;
//! 2. every voxel's distance to the nearest air voxel
//!    ([`distance`](super::distance)): around a solid voxel, the radius of
//!    the largest ball that holds no air;
//! 3. *candidates* are solid voxels of the mask, off the crop's faces, whose
//!    distance is at least each of their 26 neighbours' and whose ball is at
//!    least `min_diameter_mm` across. The chest wall, the heart and the
//!    bands of them the mask keeps grow thicker away from the lung, into
//!    what lies outside the mask, so the distance peaks inside them only
//!    where two air surfaces face each other (the mediastinum between the
//!    lungs); it peaks at the centre of a nodule, also of one on the pleura
//!    (whose ball narrows towards the wall);
//! 4. a candidate is a *nodule* when at least `min_air_fraction` of a sphere
//!    `shell_mm` beyond its ball ([`SPHERE_POINTS`] points spread evenly)
//!    lies in air: a nodule inside the lung is wrapped in air, one whose
//!    centre lies 0.6 radius inside the lung still on about three quarters
//!    of the sphere, a fold of wall between two air surfaces on little;
//! 5. the largest nodule is the detection (the first found, in voxel order,
//!    among equals), and its diameter the patient's score.
//!
//! Nothing is random: the sphere's points are a Fibonacci lattice.

use super::distance::squared_distance;
use crate::formats::volume::{Mask, Volume};

/// Points on the sphere around a candidate's ball.
pub const SPHERE_POINTS: usize = 256;

/// What the detector looks for.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DetectorOptions {
    /// Solid tissue is at or above this HU, air below it.
    pub solid_hu: f64,
    /// Smaller balls are not candidates (the demo's vessels are 4.4 mm at most).
    pub min_diameter_mm: f64,
    /// The sphere tested for air lies this far beyond a candidate's ball.
    pub shell_mm: f64,
    /// A candidate is a nodule when at least this fraction of its sphere is air.
    pub min_air_fraction: f64,
}

impl Default for DetectorOptions {
    fn default() -> Self {
        DetectorOptions { solid_hu: -400.0, min_diameter_mm: 6.0, shell_mm: 2.0, min_air_fraction: 0.5 }
    }
}

/// The largest nodule found.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Nodule {
    /// Diameter of its ball (twice the distance from its centre to air), mm.
    pub diameter_mm: f64,
    /// Its centre voxel `[z, y, x]` in the crop.
    pub centre: [usize; 3],
    /// The fraction of its sphere in air.
    pub air_fraction: f64,
}

/// What the detector found in one crop.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Detection {
    /// The largest nodule, if any candidate is one.
    pub nodule: Option<Nodule>,
    /// Candidates tested before it was found (all of them when none is).
    pub candidates_tested: usize,
}

/// Finds the largest ball of solid tissue that air surrounds in a crop and
/// its mask (which must have the same shape).
pub fn largest_nodule(v: &Volume, m: &Mask, o: &DetectorOptions) -> Result<Detection, String> {
    if v.meta.shape != m.meta.shape {
        return Err(format!("the mask's shape {:?} differs from the volume's {:?}", m.meta.shape, v.meta.shape));
    }
    let air = |i: usize| m.data[i] != 0 && (v.data[i] as f64) < o.solid_hu;
    let solid = |i: usize| m.data[i] != 0 && !air(i);
    let d2 = squared_distance(v.meta.shape, v.meta.spacing_mm, air);
    let mut candidates = peaks(&d2, v.meta.shape, |i| solid(i) && d2[i] as f64 >= (o.min_diameter_mm / 2.0).powi(2));
    // Largest first; equals in voxel order.
    candidates.sort_by(|&a, &b| d2[b].total_cmp(&d2[a]).then(a.cmp(&b)));
    let sphere = fibonacci_sphere(SPHERE_POINTS);
    for (tested, &i) in candidates.iter().enumerate() {
        let centre = voxel_of(i, v.meta.shape);
        let radius = (d2[i] as f64).sqrt();
        let air_fraction = fraction_on_sphere(&sphere, centre, radius + o.shell_mm, v.meta.spacing_mm, v.meta.shape, air);
        if air_fraction >= o.min_air_fraction {
            let nodule = Nodule { diameter_mm: 2.0 * radius, centre, air_fraction };
            return Ok(Detection { nodule: Some(nodule), candidates_tested: tested + 1 });
        }
    }
    Ok(Detection { nodule: None, candidates_tested: candidates.len() })
}

/// Voxels off the grid's faces where `keep` holds and `d` is at least each
/// of the 26 neighbours' values, in voxel order.
fn peaks(d: &[f32], shape: [usize; 3], keep: impl Fn(usize) -> bool) -> Vec<usize> {
    let [nz, ny, nx] = shape;
    let mut out = Vec::new();
    for z in 1..nz.saturating_sub(1) {
        for y in 1..ny.saturating_sub(1) {
            for x in 1..nx.saturating_sub(1) {
                let i = (z * ny + y) * nx + x;
                if d[i] == 0.0 || !keep(i) {
                    continue;
                }
                let highest = (0..27).all(|n| {
                    let (dz, dy, dx) = (n / 9, (n / 3) % 3, n % 3);
                    d[((z + dz - 1) * ny + y + dy - 1) * nx + x + dx - 1] <= d[i]
                });
                if highest {
                    out.push(i);
                }
            }
        }
    }
    out
}

/// Voxel `[z, y, x]` of a flat index.
fn voxel_of(i: usize, shape: [usize; 3]) -> [usize; 3] {
    [i / (shape[1] * shape[2]), (i / shape[2]) % shape[1], i % shape[2]]
}

/// `n` unit vectors `[z, y, x]` spread evenly over the sphere.
fn fibonacci_sphere(n: usize) -> Vec<[f64; 3]> {
    let golden = std::f64::consts::PI * (3.0 - 5f64.sqrt());
    (0..n)
        .map(|i| {
            let z = 1.0 - (2 * i + 1) as f64 / n as f64;
            let r = (1.0 - z * z).sqrt();
            let phi = golden * i as f64;
            [z, r * phi.sin(), r * phi.cos()]
        })
        .collect()
}

/// The fraction of the sphere's points, at `radius_mm` from the centre
/// voxel, whose nearest voxel is in the grid and `inside`.
fn fraction_on_sphere(
    sphere: &[[f64; 3]],
    centre: [usize; 3],
    radius_mm: f64,
    spacing_mm: [f64; 3],
    shape: [usize; 3],
    inside: impl Fn(usize) -> bool,
) -> f64 {
    let hits = sphere
        .iter()
        .filter(|u| {
            let mut i = 0;
            for a in 0..3 {
                let k = (centre[a] as f64 + radius_mm * u[a] / spacing_mm[a]).round();
                if k < 0.0 || k >= shape[a] as f64 {
                    return false;
                }
                i = i * shape[a] + k as usize;
            }
            inside(i)
        })
        .count();
    hits as f64 / sphere.len() as f64
}

#[cfg(test)]
#[path = "nodules_tests.rs"]
mod tests;
