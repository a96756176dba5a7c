//! 3-D convolution (one group, no dilation) on float32 slices in NCDHW
//! layout, lowered to products (the crate's `gemm` module) over tiles of
//! output voxels, with the three passes training needs:
//!
//! - [`forward`]: y = W ⋆ x + b;
//! - [`input_grad`]: ∂L/∂x from ∂L/∂y (also a transposed convolution's forward);
//! - [`weight_grad`]: ∂L/∂W from x and ∂L/∂y, one product over every voxel
//!   of the batch (also a transposed convolution's weight gradient).
//!
//! Each pass spreads tiles over rayon's threads and gives every output
//! element to exactly one task, which sums in a fixed order: the result does
//! not depend on the number of threads.

#[cfg(target_arch = "x86_64")]
mod direct;
mod forward;
mod geometry;
mod input_grad;
mod lowering;
mod padding;
mod planes;
mod weight_grad;

#[cfg(test)]
mod tests;

pub use forward::forward;
pub use geometry::Geometry;
pub use input_grad::input_grad;
pub use weight_grad::weight_grad;

/// Output voxels per tile: one lowered (im2col) tile is `c_in·k³` rows of
/// this many columns. A constant, so that sums do not depend on the machine.
const TILE: usize = 256;

thread_local! {
    /// A lowered tile's buffer (or the padded planes of one output plane),
    /// reused by every task a thread runs.
    static SCRATCH: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Calls `f` with this thread's scratch buffer of `len` elements (stale
/// values: `f` must write before it reads).
fn with_scratch<R>(len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    SCRATCH.with(|cell| {
        let mut buffer = cell.borrow_mut();
        if buffer.len() < len {
            buffer.resize(len, 0.0);
        }
        f(&mut buffer[..len])
    })
}

/// `len` zeros, written by all threads when called on a worker
/// ([`super::on_a_worker`]): an output that tasks then add to. (A large
/// `vec![0.0; len]` is one serial memset in training, since the heap keeps
/// freed memory for reuse.)
fn zeros(len: usize) -> Vec<f32> {
    use rayon::prelude::*;
    if len < 1 << 17 || !super::on_a_worker() {
        return vec![0.0; len];
    }
    let mut v = Vec::with_capacity(len);
    v.par_extend(rayon::iter::repeat_n(0.0f32, len).with_min_len(1 << 16));
    v
}
