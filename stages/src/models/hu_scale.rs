//! Hounsfield units to the network's input range, as in kdsb17: `low` maps
//! to -1 and `high` to +1 (-1000 → -1, 400 → 1 by default).

/// A linear map from HU to network input values.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HuScale {
    /// HU mapped to -1.
    pub low: f64,
    /// HU mapped to +1.
    pub high: f64,
    /// Clip scaled values to [-1, 1].
    pub clip: bool,
}

impl Default for HuScale {
    fn default() -> Self {
        HuScale { low: -1000.0, high: 400.0, clip: true }
    }
}

impl HuScale {
    /// The HU value air has.
    pub const AIR_HU: i16 = -1000;

    /// Scales one HU value.
    pub fn apply(&self, hu: f64) -> f32 {
        let v = (hu - self.low) / (self.high - self.low) * 2.0 - 1.0;
        (if self.clip { v.clamp(-1.0, 1.0) } else { v }) as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaling_matches_kdsb17() {
        let o = HuScale::default();
        assert_eq!(o.apply(-1000.0), -1.0);
        assert_eq!(o.apply(400.0), 1.0);
        assert_eq!(o.apply(-300.0), 0.0);
        assert_eq!(o.apply(3000.0), 1.0);
        assert!((HuScale { clip: false, ..o }.apply(3000.0) - 33.0 / 7.0).abs() < 1e-6);
    }
}
