//! Goto-style blocking: C is cut into kc-deep, nc-wide and mc-tall blocks,
//! A and B are packed into panels, and a microkernel computes each tile.
//!
//! Loops, outer to inner: columns of C by `NC`, k by at most `KC` (each
//! k-block loads C into the accumulators and stores it back, which keeps
//! every element's chain exact), B packed once per (column, k) block, rows
//! by `MC` with A packed per block, then tiles of `NR` columns x `MR` rows.
//!
//! Packing is skipped where it costs more than it saves: A is read in place
//! when C has few columns (each A element then serves only a few tiles), a
//! row-major B when C has few rows, and a one-row product goes to a
//! one-pass kernel where the ISA has one. A B whose k-steps are adjacent (given
//! transposed) is packed panel by panel just before its first use, while
//! the next panel's source is prefetched; a row-major B is packed row by
//! row, as its rows may be pages apart.

use std::cell::RefCell;

use super::pack::Block;
use super::{MatRef, PanelSource};

/// Deepest k-block; k is cut into equal blocks no deeper than this.
const KC: usize = 256;
/// Rows of A packed at a time (rounded down to a multiple of `MR`).
const MC: usize = 144;
/// Columns of B packed at a time (a multiple of every `NR`).
const NC: usize = 1024;
/// Up to this many rows, a row-major B is read in place, not packed.
const DIRECT_B_MAX_ROWS: usize = 16;
/// Up to this many columns of C, a row-major A is read in place, not packed.
const DIRECT_A_MAX_COLS: usize = 256;
/// The same for an A in another layout (k-steps far apart: pages apart).
const DIRECT_A_STRIDED_MAX_COLS: usize = 64;

/// One tile for a microkernel: C[rows x cols] (+)= A-panel · B-panel.
pub(super) struct Tile {
    /// Rows of C to compute, 1..=MR.
    pub rows: usize,
    /// Columns of C to compute, 1..=NR.
    pub cols: usize,
    /// Depth of the k-block, at least 1.
    pub kc: usize,
    /// A: element (r, p) at `a[r * a_row + p * a_step]`, for r < rows.
    pub a: *const f32,
    /// Distance between A's rows (1 when packed).
    pub a_row: usize,
    /// Distance between A's k-steps (`MR` when packed).
    pub a_step: usize,
    /// B: element (p, j) at `b[p * b_step + j]`, readable for all j < NR.
    pub b: *const f32,
    /// Distance between B's k-steps.
    pub b_step: usize,
    /// C's element (0, 0); rows `ldc` apart.
    pub c: *mut f32,
    /// Distance between C's rows.
    pub ldc: usize,
    /// Start the chains from C (true) or from +0.0 (false).
    pub load: bool,
}

/// A one-row product C[1 x n] (+)= A[1 x k]·B, B's columns adjacent.
pub(super) struct Row {
    /// C's row.
    pub c: *mut f32,
    /// Columns.
    pub n: usize,
    /// Depth, at least 1.
    pub k: usize,
    /// A's element 0; k-steps `a_step` apart.
    pub a: *const f32,
    /// Distance between A's k-steps.
    pub a_step: usize,
    /// B's element (0, 0); rows `b_step` apart, columns adjacent.
    pub b: *const f32,
    /// Distance between B's rows.
    pub b_step: usize,
    /// Start the chains from C (true) or from +0.0 (false).
    pub load: bool,
}

/// A microkernel and the packers it uses.
pub(super) trait Micro {
    /// Rows of a tile.
    const MR: usize;
    /// Columns of a tile.
    const NR: usize;
    /// Computes one tile.
    ///
    /// # Safety
    /// The CPU has the kernel's instructions; the pointers in `t` are valid
    /// as [`Tile`] documents.
    unsafe fn tile(t: &Tile);
    /// Packs a block of A into `MR`-lane panels.
    ///
    /// # Safety
    /// As [`Micro::tile`], with `p` valid as [`Block`] documents.
    unsafe fn pack_a(p: &Block);
    /// Packs a block of B into `NR`-lane panels.
    ///
    /// # Safety
    /// As [`Micro::pack_a`].
    unsafe fn pack_b(p: &Block);
    /// Asks the caches for the source of `p` (a hint: reads nothing).
    fn prefetch(_p: &Block) {}
    /// Computes a one-row product in one pass, unblocked; false if this
    /// kernel has no such path.
    ///
    /// # Safety
    /// As [`Micro::tile`], with the pointers in `r` valid as [`Row`] documents.
    unsafe fn row(_r: &Row) -> bool {
        false
    }
}

/// A growable float buffer whose start is 64-byte aligned.
#[derive(Default)]
struct AlignedBuf(Vec<f32>);

impl AlignedBuf {
    /// A pointer to at least `len` floats, 64-byte aligned.
    fn get(&mut self, len: usize) -> *mut f32 {
        let need = len + 16;
        if self.0.len() < need {
            self.0.resize(need, 0.0);
        }
        let p = self.0.as_mut_ptr();
        let off = p.align_offset(64);
        p.wrapping_add(if off < 16 { off } else { 0 })
    }
}

/// The packing buffers, reused across calls.
#[derive(Default)]
struct Buffers {
    /// Packed A block.
    a: AlignedBuf,
    /// Packed B block.
    b: AlignedBuf,
}

thread_local! {
    static BUFFERS: RefCell<Buffers> = RefCell::new(Buffers::default());
}

/// One call's operands, checked.
struct Job<'a> {
    /// C's element (0, 0).
    c: *mut f32,
    /// Distance between C's rows.
    ldc: usize,
    /// The left operand.
    a: MatRef<'a>,
    /// The right operand (its shape only, when `source` writes it).
    b: MatRef<'a>,
    /// Writes B's panels, instead of packing them from `b`.
    source: Option<&'a dyn PanelSource>,
    /// Whether C's first values start the chains.
    accumulate: bool,
}

/// Where one block's panels of A or B are.
#[derive(Clone, Copy)]
struct Panels {
    /// The first panel.
    base: *const f32,
    /// Distance between consecutive panels.
    panel_stride: usize,
    /// Distance between lanes inside a panel.
    lane: usize,
    /// Distance between k-steps inside a panel.
    step: usize,
    /// A packed copy (lanes 1 and k-steps `width` apart) of the last panel,
    /// when it is partial and the source is read in place.
    edge: Option<*const f32>,
    /// Number of panels.
    count: usize,
}

impl Panels {
    /// Panels packed `width` lanes wide, one after another, at `buf`.
    fn packed(buf: *const f32, width: usize, kc: usize, lanes: usize) -> Panels {
        Panels { base: buf, panel_stride: kc * width, lane: 1, step: width, edge: None, count: lanes.div_ceil(width) }
    }

    /// Panel `i` of `width` lanes: its first element, lane and k-step distances.
    fn get(&self, i: usize, width: usize) -> (*const f32, usize, usize) {
        match self.edge {
            Some(edge) if i + 1 == self.count => (edge, 1, width),
            _ => (self.base.wrapping_add(i * self.panel_stride), self.lane, self.step),
        }
    }
}

/// C[m x n] (rows `ldc` apart) = (C if `accumulate` else 0) + A·B with kernel `K`.
pub(super) fn run<K: Micro>(c: &mut [f32], ldc: usize, a: MatRef, b: MatRef, accumulate: bool) {
    assert_eq!(a.cols, b.rows, "gemm: inner dimensions differ");
    let (m, n, k) = (a.rows, b.cols, a.cols);
    if m == 0 || n == 0 {
        return;
    }
    assert!(m == 1 || ldc >= n, "gemm: ldc {ldc} < n {n}");
    let c_len = (m - 1).checked_mul(ldc).and_then(|x| x.checked_add(n));
    assert!(c_len.is_some_and(|len| len <= c.len()), "gemm: C holds {} floats, too few for {m} x {n} rows {ldc} apart", c.len());
    check_view(&a, "A");
    check_view(&b, "B");
    if k == 0 {
        if !accumulate {
            (0..m).for_each(|i| c[i * ldc..i * ldc + n].fill(0.0));
        }
        return;
    }
    if m == 1 && b.col_stride == 1 {
        let (a_step, b_step) = (a.col_stride, b.row_stride);
        let row = Row { c: c.as_mut_ptr(), n, k, a: a.data.as_ptr(), a_step, b: b.data.as_ptr(), b_step, load: accumulate };
        // SAFETY: the views and C's row were checked above.
        if unsafe { K::row(&row) } {
            return;
        }
    }
    let job = Job { c: c.as_mut_ptr(), ldc, a, b, source: None, accumulate };
    BUFFERS.with_borrow_mut(|bufs| blocked::<K>(&job, bufs));
}

/// C (rows `ldc` apart) = (C if `accumulate` else 0) + A·B with B written
/// by `source`, `n` columns, with kernel `K`.
///
/// # Safety
/// As [`super::gemm_source`].
pub(super) unsafe fn run_source<K: Micro>(c: *mut f32, ldc: usize, a: MatRef, source: &dyn PanelSource, n: usize, accumulate: bool) {
    let (m, k) = (a.rows, a.cols);
    if m == 0 || n == 0 {
        return;
    }
    assert!(m == 1 || ldc >= n, "gemm: ldc {ldc} < n {n}");
    check_view(&a, "A");
    if k == 0 {
        if !accumulate {
            // SAFETY: C's rows are valid for writes (the caller's promise).
            (0..m).for_each(|i| unsafe { std::ptr::write_bytes(c.add(i * ldc), 0, n) });
        }
        return;
    }
    let b = MatRef { data: &[], rows: k, cols: n, row_stride: 0, col_stride: 1 };
    let job = Job { c, ldc, a, b, source: Some(source), accumulate };
    BUFFERS.with_borrow_mut(|bufs| blocked::<K>(&job, bufs));
}

/// Panics unless every element of the non-empty view `v` is inside its data.
fn check_view(v: &MatRef, name: &str) {
    if v.rows == 0 || v.cols == 0 {
        return;
    }
    let last = (v.rows - 1).checked_mul(v.row_stride).and_then(|r| (v.cols - 1).checked_mul(v.col_stride).and_then(|c| r.checked_add(c)));
    assert!(last.is_some_and(|i| i < v.data.len()), "gemm: {name} reaches past its {} floats", v.data.len());
}

/// The blocked loops over one call.
fn blocked<K: Micro>(job: &Job, bufs: &mut Buffers) {
    let (m, n, k) = (job.a.rows, job.b.cols, job.a.cols);
    let kc_max = k.div_ceil(k.div_ceil(KC));
    let mc_max = (MC / K::MR) * K::MR;
    let direct_b = job.source.is_none() && job.b.col_stride == 1 && m <= DIRECT_B_MAX_ROWS;
    let direct_a = n <= if job.a.col_stride == 1 { DIRECT_A_MAX_COLS } else { DIRECT_A_STRIDED_MAX_COLS };
    let b_buf = bufs.b.get(kc_max * n.min(NC).next_multiple_of(K::NR));
    let a_buf = bufs.a.get(kc_max * m.min(mc_max).next_multiple_of(K::MR));
    for jc in (0..n).step_by(NC) {
        let nc = (n - jc).min(NC);
        for pc in (0..k).step_by(kc_max) {
            let kc = (k - pc).min(kc_max);
            let load = job.accumulate || pc > 0;
            let (b_panels, b_block) = if direct_b {
                (direct_b_panels::<K>(job, b_buf, jc, nc, pc, kc), None)
            } else {
                pack_b_panels::<K>(job, b_buf, (jc, nc), (pc, kc))
            };
            let next_b = b_block.as_ref().filter(|_| pc + kc < k).map(|block| {
                let src = at_ptr(&job.b, pc + kc, jc);
                Block { src, kc: (k - pc - kc).min(kc_max), ..block.panel(K::NR, 0) }
            });
            for ic in (0..m).step_by(mc_max) {
                let mc = (m - ic).min(mc_max);
                let a_panels = if direct_a {
                    let a = &job.a;
                    let (lane, step) = (a.row_stride, a.col_stride);
                    let base = at_ptr(a, ic, pc);
                    Panels { base, panel_stride: K::MR * lane, lane, step, edge: None, count: mc.div_ceil(K::MR) }
                } else {
                    pack_a_block::<K>(job, a_buf, ic, mc, pc, kc)
                };
                let to_pack = b_block.as_ref().filter(|_| ic == 0);
                let next = next_b.as_ref().filter(|_| ic == 0);
                // SAFETY: the panels hold (kc x nc) of B and (mc x kc) of A
                // as Tile asks; the tiles stay inside C (checked in `run`).
                unsafe { tiles::<K>(job, &a_panels, (&b_panels, to_pack, next), (ic, mc), (jc, nc), kc, load) };
            }
        }
    }
}

/// The address of A's or B's element (r, c); inside the view, checked in `run`.
fn at_ptr(v: &MatRef, r: usize, c: usize) -> *const f32 {
    v.data.as_ptr().wrapping_add(r * v.row_stride + c * v.col_stride)
}

/// B[pc.., jc..][kc x nc] packed into `NR`-column panels in `buf`: now
/// when its columns are adjacent (read row by row), else the block to pack
/// panel by panel as the tiles need them (see [`tiles`]).
fn pack_b_panels<K: Micro>(job: &Job, buf: *mut f32, (jc, nc): (usize, usize), (pc, kc): (usize, usize)) -> (Panels, Option<Block>) {
    let panels = Panels::packed(buf, K::NR, kc, nc);
    if let Some(source) = job.source {
        // SAFETY: `buf` holds kc x nc rounded up to NR (sized in `blocked`),
        // and nothing else refers to it during this call.
        let dst = unsafe { std::slice::from_raw_parts_mut(buf, kc * nc.next_multiple_of(K::NR)) };
        source.fill(dst, K::NR, pc..pc + kc, jc..jc + nc);
        return (panels, None);
    }
    let (lane_stride, k_stride) = (job.b.col_stride, job.b.row_stride);
    let block = Block { dst: buf, src: at_ptr(&job.b, pc, jc), lane_stride, k_stride, lanes: nc, kc };
    if lane_stride != 1 {
        return (panels, Some(block));
    }
    // SAFETY: the source lies in B (checked in `run`); `buf` holds kc x nc
    // rounded up to NR (sized in `blocked`).
    unsafe { K::pack_b(&block) };
    (panels, None)
}

/// Row-major B read in place; only a partial last panel is packed, into `buf`.
fn direct_b_panels<K: Micro>(job: &Job, buf: *mut f32, jc: usize, nc: usize, pc: usize, kc: usize) -> Panels {
    let count = nc.div_ceil(K::NR);
    let lanes = nc - (count - 1) * K::NR;
    let edge = (lanes < K::NR).then(|| {
        let src = at_ptr(&job.b, pc, jc + (count - 1) * K::NR);
        let block = Block { dst: buf, src, lane_stride: 1, k_stride: job.b.row_stride, lanes, kc };
        // SAFETY: as in `pack_b_panels`; one panel fits the buffer.
        unsafe { K::pack_b(&block) };
        buf.cast_const()
    });
    Panels { base: at_ptr(&job.b, pc, jc), panel_stride: K::NR, lane: 1, step: job.b.row_stride, edge, count }
}

/// Packs A[ic.., pc..][mc x kc] into `MR`-row panels in `buf`.
fn pack_a_block<K: Micro>(job: &Job, buf: *mut f32, ic: usize, mc: usize, pc: usize, kc: usize) -> Panels {
    let (lane_stride, k_stride) = (job.a.row_stride, job.a.col_stride);
    let block = Block { dst: buf, src: at_ptr(&job.a, ic, pc), lane_stride, k_stride, lanes: mc, kc };
    // SAFETY: the source lies in A (checked in `run`); `buf` holds mc
    // rounded up to MR x kc (sized in `blocked`).
    unsafe { K::pack_a(&block) };
    Panels::packed(buf, K::MR, kc, mc)
}

/// All tiles of one (mc x nc) block of C for one k-block; with `to_pack`,
/// packs each B panel first, while the next panel's source (or `next`,
/// the next k-block's first panel) is fetched.
///
/// # Safety
/// The A panels hold the block's (mc x kc) of A; the B panels hold its
/// (kc x nc) of B or will once `to_pack` is packed into them.
unsafe fn tiles<K: Micro>(
    job: &Job,
    a: &Panels,
    (b, to_pack, next): (&Panels, Option<&Block>, Option<&Block>),
    (ic, mc): (usize, usize),
    (jc, nc): (usize, usize),
    kc: usize,
    load: bool,
) {
    for j in 0..b.count {
        if let Some(block) = to_pack {
            if j + 1 < b.count {
                K::prefetch(&block.panel(K::NR, j + 1));
            } else if let Some(next) = next {
                K::prefetch(next);
            }
            // SAFETY: the source lies in B (checked in `run`); the buffer
            // holds every panel (sized in `blocked`).
            unsafe { K::pack_b(&block.panel(K::NR, j)) };
        }
        let (b, _, b_step) = b.get(j, K::NR);
        let cols = (nc - j * K::NR).min(K::NR);
        for i in 0..a.count {
            if a.lane != 1 && i + 1 < a.count {
                let next = a.base.wrapping_add((i + 1) * a.panel_stride);
                let lanes = (mc - (i + 1) * K::MR).min(K::MR);
                K::prefetch(&Block { dst: std::ptr::null_mut(), src: next, lane_stride: a.lane, k_stride: a.step, lanes, kc });
            }
            let (a, a_row, a_step) = a.get(i, K::MR);
            let rows = (mc - i * K::MR).min(K::MR);
            let c = job.c.wrapping_add((ic + i * K::MR) * job.ldc + jc + j * K::NR);
            let tile = Tile { rows, cols, kc, a, a_row, a_step, b, b_step, c, ldc: job.ldc, load };
            // SAFETY: the caller's panels; C's tile is inside C.
            unsafe { K::tile(&tile) };
        }
    }
}
