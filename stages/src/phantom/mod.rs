//! Phantom chests: a body with fat, spine, heart and two lungs with vessels,
//! plus solid nodules, rendered in Hounsfield units on a CT grid.
//!
//! Patient coordinates are in mm: x to the patient's left, y posterior,
//! z head-ward, origin at the centre of the scanned block.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use rayon::prelude::*;

/// The sampling grid of one phantom scan.
#[derive(Clone, Debug)]
pub struct ScanGrid {
    /// Pixels per row and per column.
    pub matrix: usize,
    /// Pixel spacing in mm.
    pub pixel_mm: f64,
    /// Number of slices.
    pub slices: usize,
    /// Slice spacing in mm.
    pub slice_mm: f64,
}

impl ScanGrid {
    /// Patient position (mm) of pixel (row, col) on slice k.
    pub fn position(&self, k: usize, row: usize, col: usize) -> [f64; 3] {
        let half = (self.matrix - 1) as f64 / 2.0;
        let zhalf = (self.slices - 1) as f64 / 2.0;
        [(col as f64 - half) * self.pixel_mm, (row as f64 - half) * self.pixel_mm, (k as f64 - zhalf) * self.slice_mm]
    }

    /// Half the scanned z extent, mm.
    pub fn z_half(&self) -> f64 {
        (self.slices - 1) as f64 * self.slice_mm / 2.0
    }
}

/// An axis-aligned ellipsoid.
#[derive(Clone, Copy, Debug)]
pub struct Ellipsoid {
    /// Centre, mm.
    pub centre: [f64; 3],
    /// Semi-axes, mm.
    pub axes: [f64; 3],
}

impl Ellipsoid {
    /// Whether p is inside.
    pub fn contains(&self, p: [f64; 3]) -> bool {
        (0..3).map(|i| ((p[i] - self.centre[i]) / self.axes[i]).powi(2)).sum::<f64>() <= 1.0
    }
}

/// A vessel: a cylinder around a segment.
#[derive(Clone, Copy, Debug)]
struct Vessel {
    a: [f64; 3],
    b: [f64; 3],
    radius: f64,
}

impl Vessel {
    fn contains(&self, p: [f64; 3]) -> bool {
        let ab = sub(self.b, self.a);
        let t = (dot(sub(p, self.a), ab) / dot(ab, ab)).clamp(0.0, 1.0);
        let q = [self.a[0] + t * ab[0], self.a[1] + t * ab[1], self.a[2] + t * ab[2]];
        let d = sub(p, q);
        dot(d, d) <= self.radius * self.radius
    }
}

/// A planted nodule.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Nodule {
    /// Centre, mm.
    pub centre: [f64; 3],
    /// Diameter, mm.
    pub diameter_mm: f64,
    /// Whether it sits on the pleura (crossing the lung wall).
    pub pleural: bool,
}

/// One phantom chest.
#[derive(Clone, Debug)]
pub struct Phantom {
    body: [f64; 2],
    fat_mm: f64,
    spine: ([f64; 2], f64),
    heart: Ellipsoid,
    /// The two lungs.
    pub lungs: [Ellipsoid; 2],
    vessels: Vec<Vessel>,
    /// Planted nodules.
    pub nodules: Vec<Nodule>,
}

fn sub(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

/// HU of each tissue.
const AIR: f64 = -1000.0;
const LUNG: f64 = -850.0;
const FAT: f64 = -100.0;
const SOFT: f64 = 40.0;
const BONE: f64 = 450.0;
const NODULE: f64 = 30.0;

/// Nodule diameters (uniform between `min_mm` and `max_mm`, or
/// `max_pleural_mm` on the pleura) and how many sit on the pleura.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NoduleSizes {
    /// Smallest diameter, mm.
    pub min_mm: f64,
    /// Largest diameter inside the lung, mm.
    pub max_mm: f64,
    /// Largest diameter on the pleura, mm.
    pub max_pleural_mm: f64,
    /// Chance that a nodule sits on the pleura.
    pub pleural_fraction: f64,
}

impl Phantom {
    /// A random phantom fitting `grid`, with `nodules` nodules of `sizes`.
    pub fn random(rng: &mut ChaCha8Rng, grid: &ScanGrid, nodules: usize, sizes: NoduleSizes) -> Phantom {
        let fov = grid.matrix as f64 * grid.pixel_mm / 2.0;
        let j = |rng: &mut ChaCha8Rng, v: f64| v * rng.random_range(0.93..1.07);
        let body = [j(rng, 0.82 * fov), j(rng, 0.60 * fov)];
        let zl = grid.z_half() * 1.15; // lungs run past both ends of the scan: a partial scan
        let lung = |rng: &mut ChaCha8Rng, side: f64| Ellipsoid {
            centre: [side * j(rng, 0.40 * body[0]), j(rng, 0.05 * body[1]), 0.0],
            axes: [j(rng, 0.30 * body[0]), j(rng, 0.62 * body[1]), zl],
        };
        let lungs = [lung(rng, -1.0), lung(rng, 1.0)];
        let heart = Ellipsoid {
            centre: [0.12 * body[0], -0.30 * body[1], -0.3 * grid.z_half()],
            axes: [0.30 * body[0], 0.38 * body[1], 0.55 * grid.z_half()],
        };
        let mut p = Phantom {
            body,
            fat_mm: j(rng, 12.0),
            spine: ([0.0, 0.72 * body[1]], j(rng, 14.0)),
            heart,
            lungs,
            vessels: Vec::new(),
            nodules: Vec::new(),
        };
        for (l, lung) in lungs.iter().enumerate() {
            let hilum = [lung.centre[0] * 0.55, lung.centre[1], lung.centre[2]];
            for _ in 0..14 {
                let tip = p.random_point_in_lung(rng, l, 4.0).unwrap_or(lung.centre);
                p.vessels.push(Vessel { a: hilum, b: tip, radius: rng.random_range(0.8..2.2) });
            }
        }
        for _ in 0..nodules {
            let pleural = rng.random_bool(sizes.pleural_fraction.clamp(0.0, 1.0));
            let nodule = if pleural { p.pleural_nodule(rng, grid, sizes) } else { p.inner_nodule(rng, grid, sizes) };
            if let Some(n) = nodule.or_else(|| p.inner_nodule(rng, grid, sizes)) {
                p.nodules.push(n);
            }
        }
        p
    }

    /// Whether p is lung parenchyma (inside a lung, outside the heart).
    fn in_lung(&self, p: [f64; 3]) -> bool {
        (self.lungs[0].contains(p) || self.lungs[1].contains(p)) && !self.heart.contains(p)
    }

    /// A point of lung `l` whose every neighbour within `margin` mm (26 directions) is lung.
    fn random_point_in_lung(&self, rng: &mut ChaCha8Rng, l: usize, margin: f64) -> Option<[f64; 3]> {
        let lung = self.lungs[l];
        for _ in 0..500 {
            let q: [f64; 3] = std::array::from_fn(|i| lung.centre[i] + rng.random_range(-1.0..1.0) * lung.axes[i]);
            if self.deep_inside(q, margin) {
                return Some(q);
            }
        }
        None
    }

    fn deep_inside(&self, q: [f64; 3], margin: f64) -> bool {
        let mut ok = self.in_lung(q);
        for dz in -1..=1 {
            for dy in -1..=1 {
                for dx in -1..=1 {
                    let d = [dx as f64, dy as f64, dz as f64];
                    let n = dot(d, d).sqrt().max(1.0);
                    ok &= self.in_lung([q[0] + margin * d[0] / n, q[1] + margin * d[1] / n, q[2] + margin * d[2] / n]);
                }
            }
        }
        ok
    }

    /// A nodule well inside a lung, away from the first and last slices.
    fn inner_nodule(&self, rng: &mut ChaCha8Rng, grid: &ScanGrid, sizes: NoduleSizes) -> Option<Nodule> {
        for _ in 0..50 {
            let diameter_mm = rng.random_range(sizes.min_mm..sizes.max_mm.max(sizes.min_mm + 0.1));
            let r = diameter_mm / 2.0;
            let l = rng.random_range(0..2);
            if let Some(c) = self.random_point_in_lung(rng, l, r + 3.0)
                && c[2].abs() + r + 2.0 * grid.slice_mm < grid.z_half()
            {
                return Some(Nodule { centre: c, diameter_mm, pleural: false });
            }
        }
        None
    }

    /// A small nodule straddling the lateral or posterior lung wall: its centre
    /// lies inside the lung at 0.6 radius from the wall.
    fn pleural_nodule(&self, rng: &mut ChaCha8Rng, grid: &ScanGrid, sizes: NoduleSizes) -> Option<Nodule> {
        for _ in 0..50 {
            let diameter_mm = rng.random_range(sizes.min_mm..sizes.max_pleural_mm.max(sizes.min_mm + 0.1));
            let r = diameter_mm / 2.0;
            let l = rng.random_range(0..2);
            let lung = self.lungs[l];
            let side = if lung.centre[0] < 0.0 { -1.0 } else { 1.0 };
            let angle: f64 = rng.random_range(-0.9..0.9);
            let z = rng.random_range(-0.6..0.6) * grid.z_half();
            let dir = [side * angle.cos(), angle.sin().abs(), 0.0];
            // Walk out from the lung centre to the wall.
            let start = [lung.centre[0], lung.centre[1], z];
            let mut t = 0.0;
            while self.in_lung([start[0] + t * dir[0], start[1] + t * dir[1], z]) && t < 400.0 {
                t += 0.25;
            }
            let c = [start[0] + (t - 0.6 * r) * dir[0], start[1] + (t - 0.6 * r) * dir[1], z];
            if t > 2.0 * r && self.in_lung(c) && z.abs() + r + 2.0 * grid.slice_mm < grid.z_half() {
                return Some(Nodule { centre: c, diameter_mm, pleural: true });
            }
        }
        None
    }

    /// Noise-free HU at p (None outside the body's air is just air).
    pub fn hu(&self, p: [f64; 3]) -> f64 {
        for n in &self.nodules {
            let d = sub(p, n.centre);
            if dot(d, d) <= (n.diameter_mm / 2.0).powi(2) {
                return NODULE;
            }
        }
        let [a, b] = self.body;
        let e = (p[0] / a).powi(2) + (p[1] / b).powi(2);
        if e > 1.0 {
            return AIR;
        }
        let (sc, sr) = self.spine;
        if (p[0] - sc[0]).powi(2) + (p[1] - sc[1]).powi(2) <= sr * sr {
            return BONE;
        }
        if self.in_lung(p) {
            return if self.vessels.iter().any(|v| v.contains(p)) { SOFT } else { LUNG };
        }
        let inner = (p[0] / (a - self.fat_mm)).powi(2) + (p[1] / (b - self.fat_mm)).powi(2);
        if inner > 1.0 { FAT } else { SOFT }
    }

    /// Renders slice k with Gaussian noise (sd `noise_hu`); pixels outside the
    /// circular field of view are None.
    pub fn render(&self, grid: &ScanGrid, noise_hu: f64, seed: u64) -> Vec<Vec<Option<i16>>> {
        let half = grid.matrix as f64 / 2.0;
        (0..grid.slices)
            .into_par_iter()
            .map(|k| {
                let mut rng = <ChaCha8Rng as rand::SeedableRng>::seed_from_u64(seed ^ (k as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
                let noise = Normal::new(0.0, noise_hu).expect("valid sd");
                let mut out = Vec::with_capacity(grid.matrix * grid.matrix);
                for row in 0..grid.matrix {
                    for col in 0..grid.matrix {
                        let (dr, dc) = (row as f64 + 0.5 - half, col as f64 + 0.5 - half);
                        if dr * dr + dc * dc > half * half {
                            out.push(None);
                            continue;
                        }
                        let hu = self.hu(grid.position(k, row, col)) + noise.sample(&mut rng);
                        out.push(Some(hu.round().clamp(-1024.0, 3071.0) as i16));
                    }
                }
                out
            })
            .collect()
    }
}
