//! Packing a block of A or B into panels: `W` lanes (rows of A, columns of
//! B) side by side for each k-step, the last panel zero-padded to `W` lanes.

use std::ops::Range;

/// A block to pack: lane `l` at k-step `p` goes to panel `l / W` (kc x W
/// floats each, one after another) at `p * W + l % W`, from
/// `src[l * lane_stride + p * k_stride]`; the last panel's missing lanes
/// are set to zero.
pub(super) struct Block {
    /// The packed panels: lanes rounded up to W, times kc floats.
    pub dst: *mut f32,
    /// Element (lane 0, k-step 0) of the source.
    pub src: *const f32,
    /// Distance between the source's lanes.
    pub lane_stride: usize,
    /// Distance between the source's k-steps.
    pub k_stride: usize,
    /// Lanes to copy, at least 1.
    pub lanes: usize,
    /// k-steps to copy.
    pub kc: usize,
}

impl Block {
    /// Panel `i` of `width` lanes, as a block of its own.
    pub fn panel(&self, width: usize, i: usize) -> Block {
        Block {
            dst: self.dst.wrapping_add(i * self.kc * width),
            src: self.src.wrapping_add(i * width * self.lane_stride),
            lanes: (self.lanes - i * width).min(width),
            ..*self
        }
    }

    /// Where lane `l` at k-step `p` goes.
    pub fn dst_at<const W: usize>(&self, l: usize, p: usize) -> *mut f32 {
        self.dst.wrapping_add(l / W * self.kc * W + p * W + l % W)
    }
}

/// Packs a block into panels of `W` lanes with portable code.
///
/// # Safety
/// `src` is readable at every (lane < lanes, p < kc) and `dst` writable for
/// the panels.
pub(super) unsafe fn block<const W: usize>(b: &Block) {
    // SAFETY: the caller's promise, passed on.
    unsafe {
        if b.lane_stride == 1 {
            rows::<W>(b, 0..b.kc);
        } else {
            gather::<W>(b, 0..b.lanes, 0..b.kc);
            zero_pad::<W>(b);
        }
    }
}

/// The k-steps `ks` of a block whose lanes are adjacent in the source: each
/// k-step is read in one sweep (prefetch-friendly) and cut into the panels.
///
/// # Safety
/// As [`block`], with `lane_stride == 1` and `ks` inside 0..kc.
pub(super) unsafe fn rows<const W: usize>(b: &Block, ks: Range<usize>) {
    let (full, rest) = (b.lanes / W, b.lanes % W);
    for k in ks {
        let src = b.src.wrapping_add(k * b.k_stride);
        let dst = b.dst.wrapping_add(k * W);
        // SAFETY: `lanes` floats of this k-step are readable and each
        // panel's k-step holds W writable floats (the caller's promise);
        // the source and the buffer do not overlap.
        unsafe {
            for i in 0..full {
                std::ptr::copy_nonoverlapping(src.add(i * W), dst.add(i * b.kc * W), W);
            }
            if rest > 0 {
                let d = dst.add(full * b.kc * W);
                std::ptr::write_bytes(d, 0, W);
                for l in 0..rest {
                    *d.add(l) = *src.add(full * W + l);
                }
            }
        }
    }
}

/// Copies `lanes` x `ks` element by element, lane by lane.
///
/// # Safety
/// As [`block`], with the ranges inside 0..lanes and 0..kc.
pub(super) unsafe fn gather<const W: usize>(b: &Block, lanes: Range<usize>, ks: Range<usize>) {
    for l in lanes {
        let src = b.src.wrapping_add(l * b.lane_stride);
        for k in ks.clone() {
            // SAFETY: lane l < lanes at k-step k < kc is readable, and its
            // place in the panels writable.
            unsafe { *b.dst_at::<W>(l, k) = *src.add(k * b.k_stride) };
        }
    }
}

/// Zeroes the last panel's lanes past `lanes`.
///
/// # Safety
/// As [`block`].
pub(super) unsafe fn zero_pad<const W: usize>(b: &Block) {
    let rest = b.lanes % W;
    if rest > 0 {
        for k in 0..b.kc {
            let dst = b.dst_at::<W>(b.lanes, k);
            for l in 0..W - rest {
                // SAFETY: the last panel's k-step k holds W writable floats.
                unsafe { *dst.add(l) = 0.0 };
            }
        }
    }
}
