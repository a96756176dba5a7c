//! The learned models and what they share: the GMCAE ([`gmcae`]), the cancer
//! classifier ([`classifier`]), the 48 cube symmetries ([`symmetry`]),
//! gradient clipping ([`clip`]), HU scaling ([`hu_scale`]), the choice of
//! backend ([`device`]), the kernels behind the backend ([`kernels`]), a
//! logistic regression on one score for baselines ([`logistic`]) and
//! where the work runs ([`pool`]).
//!
//! Models take data in memory and return data; reading and writing files is
//! the job of [`formats`](crate::formats).

use crate::StageError;

pub mod classifier;
pub mod clip;
pub mod device;
pub mod gmcae;
pub mod heap;
pub mod hu_scale;
pub mod kernels;
pub mod logistic;
pub mod pool;
pub mod symmetry;

/// How a training loop hands over its best model so far (to be saved by
/// the caller): called after every epoch that improves on validation.
pub type SaveBest<'a, M> = &'a mut dyn FnMut(&M) -> Result<(), StageError>;

/// The most values a list like `widths` or `levels` may hold.
pub const MAX_LIST: usize = 16;
/// The largest value in such a list (channels, or bins per axis).
pub const MAX_WIDTH: usize = 4096;

/// Parses layer widths written as "64,128,256" (or the preset name
/// "kdsb17", the GMCAE widths kdsb17 used).
pub fn parse_widths(text: &str) -> Result<Vec<usize>, StageError> {
    if text.trim() == "kdsb17" {
        return Ok(gmcae::model::GmcaeShape::KDSB17_WIDTHS.to_vec());
    }
    let widths: Result<Vec<usize>, _> = text.split(',').map(|w| w.trim().parse::<usize>()).collect();
    match widths {
        Ok(w) if !w.is_empty() && w.len() <= MAX_LIST && w.iter().all(|&x| (1..=MAX_WIDTH).contains(&x)) => Ok(w),
        _ => Err(StageError(format!(
            "widths must be 1 to {MAX_LIST} integers from 1 to {MAX_WIDTH} separated by commas, got {}",
            crate::logs::quote(text)
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_parse_and_the_kdsb17_preset() {
        assert_eq!(parse_widths("8, 16,32").unwrap(), vec![8, 16, 32]);
        assert_eq!(parse_widths("kdsb17").unwrap(), vec![64, 128, 256]);
        assert!(parse_widths("8,,16").is_err());
        assert!(parse_widths("0").is_err());
    }
}
