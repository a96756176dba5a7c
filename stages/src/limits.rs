//! What a parameter or a file may make a kind allocate. A buffer whose
//! size comes from a parameter or a header is sized with [`checked_len`]
//! first and allocated with [`try_filled`] (or reserved with
//! [`try_reserve`]): a request over the cap, or one the machine cannot
//! give, is the instance's error, naming what asked and how much, never an
//! abort of the run.
//!
//! One cap per buffer, [`MAX_BUFFER_BYTES`] (4 GiB) unless lowered with
//! [`set_max_buffer_bytes`]: eleven times the largest buffer a 1 mm chest CT
//! needs (a 512 x 512 x 400 float32 grid is 0.4 GB; a 0.5 mm whole-body
//! series as int16, 1.3 GB).

use std::fmt::Display;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::StageError;

/// The largest single buffer a kind allocates by default: 4 GiB.
pub const MAX_BUFFER_BYTES: u64 = 4 << 30;

/// The cap in force.
static CAP: AtomicU64 = AtomicU64::new(MAX_BUFFER_BYTES);

/// Lowers (or restores) the cap for this process: a program embedding the
/// kinds on a small machine, or a fuzz test under a capped allocator.
pub fn set_max_buffer_bytes(bytes: u64) {
    CAP.store(bytes, Ordering::Relaxed);
}

/// The number of elements of a buffer with dimensions `dims` and
/// `bytes_each` bytes per element, or an error naming `what` when it would
/// be over the cap ([`MAX_BUFFER_BYTES`] unless lowered).
pub fn checked_len(dims: &[usize], bytes_each: usize, what: impl Display) -> Result<usize, StageError> {
    let len = dims.iter().fold(1u128, |n, &d| n.saturating_mul(d as u128));
    let bytes = len.saturating_mul(bytes_each.max(1) as u128);
    let cap = CAP.load(Ordering::Relaxed);
    if bytes > cap as u128 {
        let shape = dims.iter().map(ToString::to_string).collect::<Vec<_>>().join(" x ");
        return Err(StageError(format!(
            "{what}: {shape} values of {bytes_each} bytes is {} bytes, over the cap of {cap} bytes for one buffer",
            shown_bytes(bytes)
        )));
    }
    Ok(len as usize)
}

/// Grows `buffer` to hold `more` elements, or an error naming `what`.
pub fn try_reserve<T>(buffer: &mut Vec<T>, more: usize, what: impl Display) -> Result<(), StageError> {
    buffer
        .try_reserve_exact(more)
        .map_err(|e| StageError(format!("{what}: cannot allocate {} values of {} bytes: {e}", more, std::mem::size_of::<T>())))
}

/// `len` copies of `value`, or an error naming `what` when the memory
/// cannot be had (the size should have passed [`checked_len`]).
pub fn try_filled<T: Clone>(len: usize, value: T, what: impl Display) -> Result<Vec<T>, StageError> {
    let mut buffer = Vec::new();
    try_reserve(&mut buffer, len, what)?;
    buffer.resize(len, value);
    Ok(buffer)
}

/// A byte count as digits, or `more than 2^127` when it saturated.
fn shown_bytes(bytes: u128) -> String {
    if bytes == u128::MAX { "more than 2^127".to_owned() } else { bytes.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_size_over_the_cap_is_refused_naming_what_asked() {
        assert_eq!(checked_len(&[2, 3, 4], 2, "x").unwrap(), 24);
        assert_eq!(checked_len(&[1 << 15, 1 << 15, 1 << 1], 2, "x").unwrap(), 1 << 31, "exactly at the cap");
        let e = checked_len(&[13755, 16000, 16000], 2, "resample: the output volume").unwrap_err().0;
        assert_eq!(
            e,
            "resample: the output volume: 13755 x 16000 x 16000 values of 2 bytes is 7042560000000 bytes, over the cap of 4294967296 bytes for one buffer"
        );
        let e = checked_len(&[usize::MAX, usize::MAX, usize::MAX], 4, "y").unwrap_err().0;
        assert!(e.contains("is more than 2^127 bytes"), "{e}");
    }

    #[test]
    fn an_allocation_the_machine_cannot_give_is_an_error() {
        assert_eq!(try_filled(3, 7u8, "z").unwrap(), [7, 7, 7]);
        let e = try_filled(usize::MAX / 2, 0u64, "a huge table").unwrap_err().0;
        assert!(e.starts_with("a huge table: cannot allocate"), "{e}");
    }
}
