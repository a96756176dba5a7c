//! Small PNG figures without a plotting stack: line charts of training
//! curves and grids of grey-scale slices, drawn on an RGB canvas with an
//! 8×8 bitmap font.

use std::path::Path;

use font8x8::UnicodeFonts;

use crate::StageError;

/// An RGB image being drawn.
pub struct Canvas {
    width: usize,
    height: usize,
    rgb: Vec<u8>,
}

/// Colours used by the charts.
pub const BLUE: [u8; 3] = [31, 119, 180];
/// Orange.
pub const ORANGE: [u8; 3] = [255, 127, 14];
/// Distinct colours for many series (matplotlib's tab10).
pub const PALETTE: [[u8; 3]; 10] = [
    [31, 119, 180],
    [255, 127, 14],
    [44, 160, 44],
    [214, 39, 40],
    [148, 103, 189],
    [140, 86, 75],
    [227, 119, 194],
    [127, 127, 127],
    [188, 189, 34],
    [23, 190, 207],
];
/// Grey, for baselines.
pub const DARK_GREY: [u8; 3] = [110, 110, 110];
const BLACK: [u8; 3] = [0, 0, 0];
const GREY: [u8; 3] = [215, 215, 215];

impl Canvas {
    /// A white canvas.
    pub fn new(width: usize, height: usize) -> Canvas {
        Canvas { width, height, rgb: vec![255; width * height * 3] }
    }

    /// Sets one pixel (ignored outside the canvas).
    pub fn put(&mut self, x: i64, y: i64, c: [u8; 3]) {
        if x >= 0 && y >= 0 && (x as usize) < self.width && (y as usize) < self.height {
            let i = (y as usize * self.width + x as usize) * 3;
            self.rgb[i..i + 3].copy_from_slice(&c);
        }
    }

    /// A straight line, `thick` pixels wide.
    pub fn line(&mut self, (x0, y0): (f64, f64), (x1, y1): (f64, f64), c: [u8; 3], thick: i64) {
        let steps = (x1 - x0).abs().max((y1 - y0).abs()).ceil().max(1.0) as usize;
        for s in 0..=steps {
            let t = s as f64 / steps as f64;
            let (x, y) = ((x0 + t * (x1 - x0)).round() as i64, (y0 + t * (y1 - y0)).round() as i64);
            for dx in 0..thick {
                for dy in 0..thick {
                    self.put(x + dx - thick / 2, y + dy - thick / 2, c);
                }
            }
        }
    }

    /// Text in the 8×8 font, top-left at (x, y).
    pub fn text(&mut self, x: i64, y: i64, text: &str, c: [u8; 3]) {
        for (k, ch) in text.chars().enumerate() {
            let Some(glyph) = font8x8::BASIC_FONTS.get(ch) else { continue };
            for (row, bits) in glyph.iter().enumerate() {
                for col in 0..8 {
                    if bits >> col & 1 == 1 {
                        self.put(x + k as i64 * 8 + col, y + row as i64, c);
                    }
                }
            }
        }
    }

    /// A grey-scale tile with values in [lo, hi], each pixel `scale`×`scale`.
    pub fn tile(&mut self, x: usize, y: usize, values: &[f32], side: usize, (lo, hi): (f32, f32), scale: usize) {
        for (i, &v) in values.iter().enumerate() {
            let g = (((v - lo) / (hi - lo)).clamp(0.0, 1.0) * 255.0) as u8;
            for dy in 0..scale {
                for dx in 0..scale {
                    self.put((x + (i % side) * scale + dx) as i64, (y + (i / side) * scale + dy) as i64, [g, g, g]);
                }
            }
        }
    }

    /// Writes the canvas as an 8-bit RGB PNG.
    pub fn save(&self, path: &Path) -> Result<(), StageError> {
        let fail = |e: &dyn std::fmt::Display| StageError(format!("cannot write {}: {e}", path.display()));
        let file = std::fs::File::create(path).map_err(|e| fail(&e))?;
        let mut enc = png::Encoder::new(std::io::BufWriter::new(file), self.width as u32, self.height as u32);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut w = enc.write_header().map_err(|e| fail(&e))?;
        w.write_image_data(&self.rgb).map_err(|e| fail(&e))
    }
}

/// One named curve.
pub struct Series<'a> {
    /// Legend text.
    pub name: &'a str,
    /// Colour.
    pub color: [u8; 3],
    /// (x, y) points in order.
    pub points: Vec<(f64, f64)>,
}

/// A line chart with axes, ticks and a legend.
pub fn line_chart(path: &Path, title: &str, x_label: &str, y_label: &str, series: &[Series<'_>]) -> Result<(), StageError> {
    // Long legend names get a column of their own right of the plot.
    let longest = series.iter().map(|s| s.name.chars().count()).max().unwrap_or(0);
    let legend_width = 8 * longest + 40;
    let beside = legend_width > 150;
    let w = if beside { 480 + legend_width } else { 640usize };
    let h = 400usize;
    let (left, right, top, bottom) = (80.0, if beside { legend_width as f64 + 10.0 } else { 20.0 }, 40.0, 50.0);
    let mut c = Canvas::new(w, h);
    let pts: Vec<(f64, f64)> = series.iter().flat_map(|s| s.points.iter().copied()).filter(|p| p.1.is_finite()).collect();
    let (mut x0, mut x1) = pts.iter().fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.0), b.max(p.0)));
    let (mut y0, mut y1) = pts.iter().fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.1), b.max(p.1)));
    if pts.is_empty() {
        (x0, x1, y0, y1) = (0.0, 1.0, 0.0, 1.0);
    }
    if x1 - x0 < 1e-12 {
        x1 = x0 + 1.0;
    }
    let pad = ((y1 - y0) * 0.08).max(1e-6);
    (y0, y1) = (y0 - pad, y1 + pad);
    let px = |x: f64| left + (x - x0) / (x1 - x0) * (w as f64 - left - right);
    let py = |y: f64| h as f64 - bottom - (y - y0) / (y1 - y0) * (h as f64 - top - bottom);
    for k in 0..=4 {
        let y = y0 + (y1 - y0) * k as f64 / 4.0;
        c.line((left, py(y)), (w as f64 - right, py(y)), GREY, 1);
        c.text(4, py(y) as i64 - 4, &format!("{y:>8.3}"), BLACK);
    }
    // Whole-number ticks (epochs) every `step`, at most about ten of them.
    let step = ((x1 - x0) / 10.0).ceil().max(1.0);
    let ticks = ((x1 - x0) / step).floor() as usize;
    for k in 0..=ticks {
        let x = x0 + step * k as f64;
        c.line((px(x), h as f64 - bottom), (px(x), h as f64 - bottom + 5.0), BLACK, 1);
        let label = if (x - x.round()).abs() < 1e-9 { format!("{}", x.round() as i64) } else { format!("{x:.1}") };
        c.text(px(x) as i64 - 4 * label.len() as i64, h as i64 - bottom as i64 + 10, &label, BLACK);
    }
    c.line((left, top), (left, h as f64 - bottom), BLACK, 1);
    c.line((left, h as f64 - bottom), (w as f64 - right, h as f64 - bottom), BLACK, 1);
    c.text((w / 2) as i64 - 4 * title.len() as i64, 12, title, BLACK);
    c.text((w / 2) as i64 - 4 * x_label.len() as i64, h as i64 - 18, x_label, BLACK);
    c.text(4, 24, y_label, BLACK);
    for (k, s) in series.iter().enumerate() {
        for pair in s.points.windows(2) {
            c.line((px(pair[0].0), py(pair[0].1)), (px(pair[1].0), py(pair[1].1)), s.color, 2);
        }
        for &(x, y) in &s.points {
            c.line((px(x) - 2.0, py(y)), (px(x) + 2.0, py(y)), s.color, 3);
        }
        let ly = top as i64 + 8 + 14 * k as i64;
        let lx = if beside { w as f64 - legend_width as f64 } else { w as f64 - 150.0 };
        c.line((lx, ly as f64 + 4.0), (lx + 20.0, ly as f64 + 4.0), s.color, 3);
        c.text(lx as i64 + 26, ly, s.name, BLACK);
    }
    c.save(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_are_real_pngs_with_the_curves_drawn() {
        let path = std::env::temp_dir().join(format!("lf-chart-{}.png", std::process::id()));
        let s = Series { name: "train", color: BLUE, points: vec![(1.0, 3.0), (2.0, 2.0), (3.0, 1.5)] };
        line_chart(&path, "loss", "epoch", "nats", &[s]).unwrap();
        let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&path).unwrap()));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert_eq!((info.width, info.height), (640, 400));
        let blue = buf.chunks(3).filter(|p| *p == BLUE).count();
        assert!(blue > 500, "the curve is drawn ({blue} blue pixels)");
        std::fs::remove_file(path).ok();
    }
}
