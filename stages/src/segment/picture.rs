//! `mask.png`: the picture a person checks a lung mask by. An axial and a
//! coronal slice through the centre of the crop and a sagittal slice through
//! the middle of each lung (its mean x), in a
//! window from -1000 to +400 HU, with each lung's outline drawn in its own
//! colour (lung 1, the patient's right, red; lung 2 green). Radiological
//! orientation: the patient's right on the picture's left (low x), head up,
//! anterior up; pixels are square in mm.

use std::path::Path;

use super::split::mean_x;
use crate::StageError;
use crate::formats::volume::{Mask, Volume};
use crate::plot::Canvas;

/// The HU shown black and white.
const WINDOW: (f64, f64) = (-1000.0, 400.0);
/// Outline colours of lungs 1 and 2.
const OUTLINE: [[u8; 3]; 2] = [[230, 40, 40], [40, 200, 60]];
/// The longest side of a panel, pixels.
const PANEL: f64 = 300.0;
const GAP: usize = 10;
const TITLE: usize = 14;

/// One view: for panel pixel (row, col) in mm, the voxel index (z, y, x).
struct View {
    name: &'static str,
    /// Extent in mm of (rows, cols).
    mm: (f64, f64),
    voxel: Box<dyn Fn(f64, f64) -> [usize; 3]>,
}

/// Writes the picture of a cropped volume and its (same-shape) mask.
pub fn write_mask_picture(path: &Path, v: &Volume, m: &Mask) -> Result<(), StageError> {
    let [nz, ny, nx] = v.meta.shape;
    let [sz, sy, sx] = v.meta.spacing_mm;
    let (cz, cy) = (nz / 2, ny / 2);
    let idx = |mm: f64, s: f64, n: usize| ((mm / s) as usize).min(n - 1);
    let mut views = vec![
        View { name: "axial", mm: (ny as f64 * sy, nx as f64 * sx), voxel: Box::new(move |r, c| [cz, idx(r, sy, ny), idx(c, sx, nx)]) },
        View {
            name: "coronal",
            mm: (nz as f64 * sz, nx as f64 * sx),
            voxel: Box::new(move |r, c| [nz - 1 - idx(r, sz, nz), cy, idx(c, sx, nx)]),
        },
    ];
    for (side, x) in lung_middles(m) {
        let voxel = move |r, c| [nz - 1 - idx(r, sz, nz), idx(c, sy, ny), x];
        views.push(View { name: side, mm: (nz as f64 * sz, ny as f64 * sy), voxel: Box::new(voxel) });
    }
    let longest = views.iter().map(|w| w.mm.0.max(w.mm.1)).fold(0.0, f64::max);
    let px_mm = longest / PANEL;
    let sizes: Vec<(usize, usize)> =
        views.iter().map(|w| (((w.mm.0 / px_mm) as usize).max(1), ((w.mm.1 / px_mm) as usize).max(1))).collect();
    let width = sizes.iter().map(|s| s.1 + GAP).sum::<usize>() + GAP;
    let height = sizes.iter().map(|s| s.0).max().unwrap_or(1) + TITLE + 2 * GAP;
    let mut canvas = Canvas::new(width, height);
    let mut left = GAP;
    for (w, &(rows, cols)) in views.iter().zip(&sizes) {
        let at = |r: usize, c: usize| {
            let [z, y, x] = (w.voxel)((r as f64 + 0.5) * px_mm, (c as f64 + 0.5) * px_mm);
            v.index(z, y, x)
        };
        let label = |r: usize, c: usize| m.data[at(r, c)];
        for r in 0..rows {
            for c in 0..cols {
                let hu = v.data[at(r, c)] as f64;
                let g = (((hu - WINDOW.0) / (WINDOW.1 - WINDOW.0)).clamp(0.0, 1.0) * 255.0) as u8;
                let l = label(r, c);
                let edge = l != 0
                    && ((r > 0 && label(r - 1, c) != l)
                        || (r + 1 < rows && label(r + 1, c) != l)
                        || (c > 0 && label(r, c - 1) != l)
                        || (c + 1 < cols && label(r, c + 1) != l));
                let colour = if edge { OUTLINE[(l as usize - 1).min(1)] } else { [g, g, g] };
                canvas.put((left + c) as i64, (GAP + TITLE + r) as i64, colour);
            }
        }
        canvas.text(left as i64, GAP as i64 - 4, w.name, [0, 0, 0]);
        left += cols + GAP;
    }
    canvas.save(path)
}

/// For each lung in the mask, its sagittal panel's title and x (its mean x).
fn lung_middles(m: &Mask) -> Vec<(&'static str, usize)> {
    let names = ["sagittal, right", "sagittal, left"];
    mean_x(&m.data, m.meta.shape[2]).into_iter().zip(names).filter_map(|(x, name)| Some((name, x? as usize))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::volume::{Grid, VolumeMeta};

    #[test]
    fn the_picture_shows_three_views_with_outlines() {
        let meta = VolumeMeta::for_test([20, 40, 60], [2.0, 1.0, 1.0]);
        let n = 20 * 40 * 60;
        let v = Volume { meta: meta.clone(), data: vec![-800; n] };
        let mut data = vec![0u8; n];
        for z in 5..15 {
            for y in 10..30 {
                for x in 5..25 {
                    data[(z * 40 + y) * 60 + x] = 1;
                    data[(z * 40 + y) * 60 + x + 30] = 2;
                }
            }
        }
        let path = std::env::temp_dir().join(format!("lf-mask-picture-{}.png", std::process::id()));
        write_mask_picture(&path, &v, &Grid { meta, data }).unwrap();
        let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&path).unwrap()));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        let pixels: Vec<&[u8]> = buf[..info.buffer_size()].chunks(3).collect();
        assert_eq!(info.width as usize, 4 * 10 + 10 + 300 + 300 + 2 * 200, "panels 60x40, 60x40 and twice 40x40 mm at 0.2 mm per pixel");
        for colour in OUTLINE {
            assert!(pixels.iter().filter(|p| **p == colour).count() > 500, "both lungs are outlined");
        }
        let grey = (200.0 / 1400.0 * 255.0) as u8;
        assert!(pixels.iter().filter(|p| **p == [grey, grey, grey]).count() > 10_000, "-800 HU is drawn dark grey");
        std::fs::remove_file(&path).unwrap();
    }
}
