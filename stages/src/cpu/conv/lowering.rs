//! Lowering between a sample's input volume and the matrix of its
//! receptive fields (im2col), and back (col2im, summing overlaps).
//!
//! A lowered tile has one row per (input channel, kernel tap) and one column
//! per output voxel of the tile; element (r, v) is the input voxel that tap
//! r sees from output voxel v, or zero in the padding.

use std::ops::Range;

use super::Geometry;
use super::phases::{phase_count, phase_of, split_phases, splits_into_phases};

/// A run of a lowered row along one output line (fixed depth and height):
/// tile columns `col..col + len`, of which `valid` (relative to `col`) see
/// input voxels `first, first + step, ...`; the rest see padding.
struct Run {
    col: usize,
    len: usize,
    valid: Range<usize>,
    first: usize,
    step: usize,
}

/// The indices j in 0..len with 0 <= (o0 + j)·s + k − p < n.
fn inside(o0: usize, len: usize, s: usize, k: usize, p: usize, n: usize) -> Range<usize> {
    // (o0 + j)·s + k >= p  <=>  j >= ceil((p − k)/s) − o0
    let lo = if k >= p { 0 } else { (p - k).div_ceil(s).saturating_sub(o0) };
    // (o0 + j)·s + k − p <= n − 1  <=>  j <= (n − 1 + p − k)/s − o0
    let hi = if n + p < k + 1 { 0 } else { ((n - 1 + p - k) / s + 1).saturating_sub(o0) };
    lo.min(len)..hi.clamp(lo.min(len), len)
}

/// One output line (fixed depth and height) within a tile, from output
/// column `ow`.
struct Line {
    col: usize,
    len: usize,
    od: usize,
    oh: usize,
    ow: usize,
}

/// A tile's output lines, and per line and kernel column offset the valid
/// columns (relative to the line's `col`) and the input column of the first
/// of them, at `w[line * kernel width + offset]`.
struct Lines {
    lines: Vec<Line>,
    w: Vec<(Range<usize>, usize)>,
}

/// The output lines of output voxels `v0..v0 + len`, worked out once per
/// tile so that each lowered row costs no divisions.
fn lines(g: &Geometry, v0: usize, len: usize) -> Lines {
    let [_, ho, wo] = g.output;
    let (sw, pw, w) = (g.stride[2], g.padding[2], g.input[2]);
    let mut t = Lines { lines: Vec::new(), w: Vec::new() };
    let mut v = v0;
    while v < v0 + len {
        let (line, ow0) = (v / wo, v % wo);
        let n = (wo - ow0).min(v0 + len - v);
        t.w.extend((0..g.kernel[2]).map(|kw| {
            let valid = inside(ow0, n, sw, kw, pw, w);
            let first = if valid.is_empty() { 0 } else { (ow0 + valid.start) * sw + kw - pw };
            (valid, first)
        }));
        t.lines.push(Line { col: v - v0, len: n, od: line / ho, oh: line % ho, ow: ow0 });
        v += n;
    }
    t
}

/// Calls `f` with every run of lowered row `r` over the tile's `lines`, in
/// column order.
fn runs(g: &Geometry, lines: &Lines, r: usize, mut f: impl FnMut(Run)) {
    let (ci, [kd, kh, kw]) = g.split_row(r);
    let [d, h, w] = g.input;
    let [sd, sh, _] = g.stride;
    let [pd, ph, _] = g.padding;
    for (i, line) in lines.lines.iter().enumerate() {
        let (id, ih) = (line.od * sd + kd, line.oh * sh + kh);
        let inside = id >= pd && id - pd < d && ih >= ph && ih - ph < h;
        let (valid, first) = if inside {
            let (valid, col) = &lines.w[i * g.kernel[2] + kw];
            (valid.clone(), ((ci * d + id - pd) * h + ih - ph) * w + col)
        } else {
            (0..0, 0)
        };
        f(Run { col: line.col, len: line.len, valid, first, step: g.stride[2] });
    }
}

/// Where one convolution call's lowered rows come from: the input itself,
/// or (strided geometries, see [`splits_into_phases`]) its phase volumes,
/// split once per call.
pub(super) struct Lowering<'a> {
    g: &'a Geometry,
    x: &'a [f32],
    phases: Option<Vec<f32>>,
}

impl<'a> Lowering<'a> {
    /// The lowering of `x` ([batch, c_in, D, H, W]) for `g`.
    pub(super) fn new(x: &'a [f32], g: &'a Geometry) -> Self {
        Lowering { g, x, phases: splits_into_phases(g).then(|| split_phases(x, g)) }
    }

    /// Fills `tile` (rows × `len`, row-major) with lowered rows `rows` of
    /// sample `n` for output voxels `v0..v0 + len`.
    pub(super) fn im2col(&self, n: usize, rows: Range<usize>, v0: usize, len: usize, tile: &mut [f32]) {
        let g = self.g;
        let lines = lines(g, v0, len);
        let mut shifted = |i: usize, src: &[f32], shift: [isize; 3]| {
            shifted_row(src, g.output, shift, &lines, v0, &mut tile[i * len..(i + 1) * len]);
        };
        match &self.phases {
            Some(phases) => {
                let per = phase_count(g) * g.output_voxels();
                let [_, sh, sw] = g.stride;
                for (i, r) in rows.enumerate() {
                    let (ci, k) = g.split_row(r);
                    let [(pd, dd), (ph, dh), (pw, dw)] = std::array::from_fn(|a| phase_of(k[a], g.stride[a], g.padding[a]));
                    let phase = (pd * sh + ph) * sw + pw;
                    let vol = &phases[(n * g.c_in + ci) * per + phase * g.output_voxels()..][..g.output_voxels()];
                    shifted(i, vol, [dd, dh, dw]);
                }
            }
            None if keeps_shape(g) => {
                let vox = g.input_voxels();
                for (i, r) in rows.enumerate() {
                    let (ci, k) = g.split_row(r);
                    let shift = std::array::from_fn(|a| k[a] as isize - g.padding[a] as isize);
                    shifted(i, &self.x[(n * g.c_in + ci) * vox..][..vox], shift);
                }
            }
            None => {
                let sample = &self.x[n * g.c_in * g.input_voxels()..][..g.c_in * g.input_voxels()];
                im2col_by_lines(sample, g, &lines, rows, len, tile);
            }
        }
    }
}

/// Stride 1 and an output the size of the input ("same" padding): tap r
/// sees, from output voxel v, input voxel v + offset(r) of its channel.
fn keeps_shape(g: &Geometry) -> bool {
    g.stride == [1, 1, 1] && g.output == g.input
}

/// One lowered row over a tile's `lines` read from `src`, a volume of the
/// output's size `dims`, at `shift` per axis: element (o + shift) for
/// output voxel o, zero where that leaves the volume. One copy of the
/// shifted run, then zeros where it wrapped to another line or plane.
fn shifted_row(src: &[f32], dims: [usize; 3], shift: [isize; 3], lines: &Lines, v0: usize, out: &mut [f32]) {
    let [d, h, w] = dims.map(|n| n as isize);
    let [dd, dh, dw] = shift;
    let (len, voxels) = (out.len(), src.len() as isize);
    let start = v0 as isize + (dd * h + dh) * w + dw;
    let lo = (-start).clamp(0, len as isize) as usize;
    let hi = (voxels - start).clamp(lo as isize, len as isize) as usize;
    out[..lo].fill(0.0);
    out[hi..].fill(0.0);
    if lo < hi {
        out[lo..hi].copy_from_slice(&src[(start + lo as isize) as usize..(start + hi as isize) as usize]);
    }
    for line in &lines.lines {
        let cells = &mut out[line.col..line.col + line.len];
        let (id, ih) = (line.od as isize + dd, line.oh as isize + dh);
        if id < 0 || id >= d || ih < 0 || ih >= h {
            cells.fill(0.0);
            continue;
        }
        // Output columns ow with ow + dw outside 0..w, relative to the line.
        let ow = line.ow as isize;
        let left = (-dw - ow).clamp(0, line.len as isize) as usize;
        let right = (w - dw - ow).clamp(left as isize, line.len as isize) as usize;
        cells[..left].fill(0.0);
        cells[right..].fill(0.0);
    }
}

/// [`im2col`] for any geometry: a copy per lowered row and output line.
fn im2col_by_lines(x: &[f32], g: &Geometry, lines: &Lines, rows: Range<usize>, len: usize, tile: &mut [f32]) {
    for (i, r) in rows.enumerate() {
        let out = &mut tile[i * len..(i + 1) * len];
        runs(g, lines, r, |run| {
            let line = &mut out[run.col..run.col + run.len];
            line[..run.valid.start].fill(0.0);
            line[run.valid.end..].fill(0.0);
            let dst = &mut line[run.valid.clone()];
            let Some(last) = dst.len().checked_sub(1) else {
                return;
            };
            let src = &x[run.first..=run.first + last * run.step];
            match run.step {
                1 => dst.copy_from_slice(src),
                // Every other voxel: a loop the compiler turns into shuffles.
                2 => dst.iter_mut().zip(src.chunks(2)).for_each(|(o, pair)| *o = pair[0]),
                step => dst.iter_mut().zip(src.iter().step_by(step)).for_each(|(o, v)| *o = *v),
            }
        });
    }
}

/// Adds lowered rows `rows` of `tile` (rows × `len`) for output voxels
/// `v0..v0 + len` back into the input positions they came from. `x` holds
/// the input channels of those rows only, starting at channel
/// `rows.start / taps`.
pub(super) fn col2im_add(tile: &[f32], g: &Geometry, rows: Range<usize>, v0: usize, len: usize, x: &mut [f32]) {
    let skip = rows.start / g.taps() * g.input_voxels();
    let lines = lines(g, v0, len);
    for (i, r) in rows.enumerate() {
        let src = &tile[i * len..(i + 1) * len];
        runs(g, &lines, r, |run| {
            if run.valid.is_empty() {
                return;
            }
            let from = &src[run.col + run.valid.start..run.col + run.valid.end];
            let base = run.first - skip;
            if run.step == 1 {
                for (o, v) in x[base..base + from.len()].iter_mut().zip(from) {
                    *o += v;
                }
            } else {
                for (j, v) in from.iter().enumerate() {
                    x[base + j * run.step] += v;
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shifted_and_phased_rows_equal_the_rows_built_line_by_line() {
        let geometries = [
            Geometry::conv(2, 2, 4, [5, 6, 7], [3, 3, 3], [1, 1, 1], [1, 1, 1]),
            Geometry::conv(1, 1, 1, [3, 1, 9], [3, 1, 5], [1, 1, 1], [1, 0, 2]),
            Geometry::conv(1, 3, 2, [2, 3, 2], [1, 1, 1], [1, 1, 1], [0, 0, 0]),
            Geometry::conv(2, 2, 3, [8, 7, 9], [3, 3, 3], [2, 2, 2], [1, 1, 1]),
            Geometry::conv(1, 2, 1, [5, 6, 11], [1, 3, 3], [2, 3, 2], [0, 1, 1]),
            Geometry::conv(1, 1, 2, [4, 9, 5], [2, 2, 2], [2, 2, 2], [0, 0, 0]),
        ];
        for g in geometries {
            assert!(keeps_shape(&g) || splits_into_phases(&g), "{g:?}");
            let x: Vec<f32> = (0..g.batch * g.c_in * g.input_voxels()).map(|i| i as f32 + 1.0).collect();
            let lowering = Lowering::new(&x, &g);
            let voxels = g.output_voxels();
            // Tiles starting mid-line and mid-plane, up to the last voxel.
            for (v0, len) in [(0, voxels), (0, 1), (3, 11.min(voxels - 3)), (voxels / 2, voxels - voxels / 2), (voxels - 4, 4)] {
                for n in 0..g.batch {
                    let rows = 0..g.rows();
                    let mut fast = vec![f32::NAN; g.rows() * len];
                    let mut slow = vec![f32::NAN; g.rows() * len];
                    lowering.im2col(n, rows.clone(), v0, len, &mut fast);
                    let sample = &x[n * g.c_in * g.input_voxels()..][..g.c_in * g.input_voxels()];
                    im2col_by_lines(sample, &g, &lines(&g, v0, len), rows, len, &mut slow);
                    assert_eq!(fast, slow, "{g:?} sample {n} tile {v0}+{len}");
                }
            }
        }
    }
}
