use super::*;
use crate::formats::volume::VolumeMeta;

const LUNG: i16 = -850;
const SOLID: i16 = 40;

/// A 1 mm crop of `n`³ voxels: HU and mask at each voxel centre `[z, y, x]` (mm).
fn crop(n: usize, at: impl Fn([f64; 3]) -> (i16, bool)) -> (Volume, Mask) {
    let meta = VolumeMeta::for_test([n; 3], [1.0; 3]);
    let (mut hu, mut mask) = (Vec::new(), Vec::new());
    for i in 0..n * n * n {
        let (h, m) = at([(i / (n * n)) as f64, ((i / n) % n) as f64, (i % n) as f64]);
        hu.push(h);
        mask.push(m as u8);
    }
    (Volume { meta: meta.clone(), data: hu }, Mask { meta, data: mask })
}

fn within(p: [f64; 3], c: [f64; 3], r: f64) -> bool {
    (0..3).map(|a| (p[a] - c[a]).powi(2)).sum::<f64>() <= r * r
}

fn detect(v: &Volume, m: &Mask, o: &DetectorOptions) -> Option<Nodule> {
    largest_nodule(v, m, o).unwrap().nodule
}

#[test]
fn a_ball_in_lung_scores_its_diameter_at_its_centre() {
    for r in [6.0, 10.0] {
        let (v, m) = crop(40, |p| (if within(p, [20.0; 3], r) { SOLID } else { LUNG }, true));
        let n = detect(&v, &m, &DetectorOptions::default()).expect("the ball is found");
        // The nearest air voxel's centre lies between r and r + 1 mm from the ball's centre.
        assert!(n.diameter_mm >= 2.0 * r && n.diameter_mm <= 2.0 * r + 2.0, "r {r}: {n:?}");
        assert_eq!(n.centre, [20; 3]);
        assert_eq!(n.air_fraction, 1.0);
    }
}

#[test]
fn a_thin_tube_is_no_nodule_however_long() {
    // As thick as the phantom's thickest vessel, 4.4 mm.
    let (v, m) = crop(40, |p| (if (p[0] - 20.0).hypot(p[1] - 20.0) <= 2.2 { SOLID } else { LUNG }, true));
    assert_eq!(detect(&v, &m, &DetectorOptions::default()), None);
    // Without the size floor it is a candidate, and scores its own thickness only.
    let n = detect(&v, &m, &DetectorOptions { min_diameter_mm: 0.0, ..DetectorOptions::default() }).unwrap();
    assert!(n.diameter_mm < 5.0, "{n:?}");
}

/// A lung over a wall at z < 10: the mask holds 6 mm of the wall, below it
/// solid tissue outside the mask.
fn on_wall(p: [f64; 3], ball: Option<([f64; 3], f64)>) -> (i16, bool) {
    let in_ball = ball.is_some_and(|(c, r)| within(p, c, r));
    (if in_ball || p[0] < 10.0 { SOLID } else { LUNG }, p[0] >= 4.0)
}

#[test]
fn a_ball_on_the_wall_is_found_and_the_wall_alone_is_not() {
    let (v, m) = crop(40, |p| on_wall(p, None));
    let d = largest_nodule(&v, &m, &DetectorOptions::default()).unwrap();
    assert_eq!(d.nodule, None, "the wall grows thicker away from the lung: no peak");
    // A 12 mm ball whose centre lies 0.6 radius inside the lung, as the phantom's pleural nodules.
    let (v, m) = crop(40, |p| on_wall(p, Some(([13.6, 20.0, 20.0], 6.0))));
    let n = detect(&v, &m, &DetectorOptions::default()).expect("the pleural ball is found");
    assert!((11.0..=14.0).contains(&n.diameter_mm), "{n:?}");
    assert!(n.air_fraction > 0.6 && n.air_fraction < 0.9, "{n:?}");
    assert!(n.centre[0].abs_diff(14) <= 1 && n.centre[1] == 20 && n.centre[2] == 20, "{n:?}");
}

#[test]
fn a_fold_of_wall_between_two_air_spaces_is_no_nodule() {
    // A 16 mm slab across the crop, air on both sides (the mediastinum between the lungs).
    let (v, m) = crop(40, |p| (if (p[2] - 20.0).abs() <= 8.0 { SOLID } else { LUNG }, true));
    let d = largest_nodule(&v, &m, &DetectorOptions::default()).unwrap();
    assert_eq!(d.nodule, None);
    assert!(d.candidates_tested > 0, "its middle is a candidate, rejected by the sphere test");
}

#[test]
fn a_ball_cut_by_the_crop_s_face_is_no_candidate_and_shapes_must_agree() {
    let (v, m) = crop(30, |p| (if within(p, [0.0, 15.0, 15.0], 8.0) { SOLID } else { LUNG }, true));
    assert_eq!(detect(&v, &m, &DetectorOptions::default()), None);
    let (other, _) = crop(3, |_| (LUNG, true));
    let err = largest_nodule(&other, &m, &DetectorOptions::default()).unwrap_err();
    assert!(err.contains("differs from the volume's"), "{err}");
}

#[test]
fn the_sphere_s_points_are_unit_vectors_spread_over_every_octant() {
    let s = fibonacci_sphere(SPHERE_POINTS);
    assert!(s.iter().all(|u| (u.iter().map(|c| c * c).sum::<f64>() - 1.0).abs() < 1e-12));
    let mean: Vec<f64> = (0..3).map(|a| s.iter().map(|u| u[a]).sum::<f64>() / s.len() as f64).collect();
    assert!(mean.iter().all(|m| m.abs() < 0.01), "{mean:?}");
}
