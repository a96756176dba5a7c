//! lungflow's CPU kernels on plain float32 slices: the 3-D convolutions
//! ([`conv`]) built on a deterministic matrix product (`gemm`), the mixture
//! loss's squared distances ([`distances`]) and ReLU ([`relu`]).
//!
//! What it is for: outputs that are bitwise identical on any x86-64, with or
//! without AVX-512, whatever the blocking or the number of threads. Every
//! output element comes from the same float32 operations in a fixed order
//! (for products, one fused multiply-add chain from the start value); SIMD
//! lanes hold different elements, never parts of one sum. Each kernel is
//! tested bit for bit against a plain reference path.
//!
//! What it is not for: it knows no tensors, autodiff, files or models (the
//! `lungflow-stages` crate plugs it into burn in `models/kernels/flex.rs`),
//! and it does not trade those bits for speed, as BLAS libraries do.
//!
//! All of lungflow's `unsafe` code for speed lives here (the SIMD
//! micro-kernels and the writes of disjoint output parts from several
//! threads); every other crate of the workspace denies or forbids it.

// An `unsafe fn` states a contract for its callers; its body still marks
// each unsafe operation with its own block and SAFETY comment.
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

pub mod conv;
pub mod distances;
mod gemm;
pub mod relu;

/// Whether the calling thread is one of rayon's workers (training and
/// encoding run there, in `lungflow-stages`' `models::pool`). Cheap passes
/// over memory are split over threads only then: from an outside thread (the
/// classifier's folds side by side) each split would wait for a busy worker
/// and be woken back, for work that takes well under a millisecond.
fn on_a_worker() -> bool {
    rayon::current_thread_index().is_some()
}
