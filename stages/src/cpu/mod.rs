//! CPU kernels for the models: a deterministic matrix product ([`gemm`]),
//! the 3-D convolutions built on it ([`conv`]), the mixture loss's squared
//! distances ([`distances`]) and ReLU ([`relu`]).
//!
//! Every output element comes from the same float32 operations in a fixed
//! order (for products, one fused multiply-add chain), whatever the CPU's
//! vector width, the blocking or the number of threads: results are bitwise
//! identical on any x86-64 with or without AVX-512.

pub mod conv;
pub mod distances;
pub mod gemm;
pub mod relu;

/// Whether the calling thread is one of rayon's workers (training and
/// encoding run there, `models::pool`). Cheap passes over memory are split
/// over threads only then: from an outside thread (the classifier's folds
/// side by side) each split would wait for a busy worker and be woken back,
/// for work that takes well under a millisecond.
fn on_a_worker() -> bool {
    rayon::current_thread_index().is_some()
}
