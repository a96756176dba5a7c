//! CPU kernels for the models' 3-D convolutions: a deterministic matrix
//! product ([`gemm`]) and the convolutions built on it ([`conv`]).
//!
//! Every output element is one fused multiply-add chain in a fixed order,
//! whatever the CPU's vector width, the blocking or the number of threads:
//! results are bitwise identical on any x86-64 with or without AVX-512.

pub mod conv;
pub mod distances;
pub mod gemm;
