//! Choosing the burn backend from a stage's `device` parameter.

use crate::StageError;

/// The error for a device this build cannot use.
pub fn unavailable(device: &str) -> StageError {
    StageError(format!(
        "device {device:?} is not available in this build (cpu{}; build with --features cuda for cuda)",
        if cfg!(feature = "cuda") { ", cuda" } else { "" }
    ))
}

/// Calls `$work::<Backend>(&device, args...)` for the backend named by
/// `$device` ("cpu": burn flex; "cuda": burn-cuda, with the `cuda` feature).
/// `$work` is a function generic over `B: Backend` returning
/// `Result<_, StageError>`.
#[macro_export]
macro_rules! on_device {
    ($device:expr, $work:ident ( $($arg:expr),* $(,)? )) => {
        match $device {
            "cpu" => $work::<burn::backend::Flex>(&burn::backend::flex::FlexDevice, $($arg),*),
            #[cfg(feature = "cuda")]
            "cuda" => $work::<burn::backend::Cuda>(&burn::backend::cuda::CudaDevice::default(), $($arg),*),
            other => Err($crate::models::device::unavailable(other)),
        }
    };
}
