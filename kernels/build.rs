//! Tells the tests which SIMD kernels the build host's CPU runs, so that a
//! test of a kernel this CPU lacks shows as ignored, with the reason, instead
//! of passing without running.
//!
//! Emits `host_avx2` (AVX2 and FMA) and `host_avx512` (AVX-512F as well) when
//! the build host has them and the build targets the host itself, where the
//! host's CPU is the one that runs the tests. A cross build emits neither.
//! Nothing but tests reads these cfgs: the library picks its kernel at run
//! time.

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rustc-check-cfg=cfg(host_avx2, host_avx512)");
    let native = std::env::var("HOST").ok() == std::env::var("TARGET").ok();
    for cfg in host_features(native) {
        println!("cargo::rustc-cfg={cfg}");
    }
}

/// The cfgs for this CPU's SIMD features, when the build runs where the
/// tests will.
#[cfg(target_arch = "x86_64")]
fn host_features(native: bool) -> Vec<&'static str> {
    let avx2 = native && is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma");
    let avx512 = avx2 && is_x86_feature_detected!("avx512f");
    [(avx2, "host_avx2"), (avx512, "host_avx512")].into_iter().filter(|&(on, _)| on).map(|(_, cfg)| cfg).collect()
}

/// No x86-64 host: no x86-64 kernels.
#[cfg(not(target_arch = "x86_64"))]
fn host_features(_native: bool) -> Vec<&'static str> {
    Vec::new()
}
