//! Lowering between a sample's input volume and the matrix of its
//! receptive fields (im2col), and back (col2im, summing overlaps).
//!
//! A lowered tile has one row per (input channel, kernel tap) and one column
//! per output voxel of the tile; element (r, v) is the input voxel that tap
//! r sees from output voxel v, or zero in the padding.

use std::ops::Range;

use super::Geometry;

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

/// One output line (fixed depth and height) within a tile.
struct Line {
    col: usize,
    len: usize,
    od: usize,
    oh: usize,
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
        t.lines.push(Line { col: v - v0, len: n, od: line / ho, oh: line % ho });
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

/// Fills `tile` (rows × `len`, row-major) with lowered rows `rows` of one
/// sample `x` ([c_in, D, H, W]) for output voxels `v0..v0 + len`.
pub(super) fn im2col(x: &[f32], g: &Geometry, rows: Range<usize>, v0: usize, len: usize, tile: &mut [f32]) {
    let lines = lines(g, v0, len);
    for (i, r) in rows.enumerate() {
        let out = &mut tile[i * len..(i + 1) * len];
        runs(g, &lines, r, |run| {
            let line = &mut out[run.col..run.col + run.len];
            line[..run.valid.start].fill(0.0);
            line[run.valid.end..].fill(0.0);
            let dst = &mut line[run.valid.clone()];
            if run.step == 1 {
                dst.copy_from_slice(&x[run.first..run.first + dst.len()]);
            } else {
                for (j, o) in dst.iter_mut().enumerate() {
                    *o = x[run.first + j * run.step];
                }
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
