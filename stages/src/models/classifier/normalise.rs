//! Centring and scaling the classifier's input channels on the training
//! patients of each fit: per channel the mean and standard deviation over
//! every voxel of their maps. (Over the lung region alone the spread is
//! that of air, and the chest wall beside it would come out at hundreds of
//! standard deviations, which the first convolution carries into the
//! region's edge.)

use super::data::Sample;

/// Each patient's per-channel sums over its pooled voxels: (Σx, Σx², n).
#[derive(Clone, Debug)]
pub struct ChannelStats {
    per_patient: Vec<Vec<(f64, f64, f64)>>,
}

/// A channel whose standard deviation is below this is constant: its
/// scale is 0 (it carries nothing).
const CONSTANT: f64 = 1e-6;

/// The scale that makes a spread of `sd` one: 1/sd, or 0 for a constant
/// (`sd` under 1e-6).
pub fn inverse_sd(sd: f64) -> f32 {
    if sd < CONSTANT { 0.0 } else { (1.0 / sd) as f32 }
}

impl ChannelStats {
    /// The sums of every sample's voxels.
    pub fn of(samples: &[Sample]) -> Self {
        let per_patient = samples
            .iter()
            .map(|s| {
                let f = &s.features;
                let plane = f.shape[1] * f.shape[2];
                let mut sums = vec![(0.0, 0.0, 0.0); f.channels];
                for (i, row) in f.data.chunks_exact(plane).enumerate() {
                    let acc = &mut sums[i % f.channels];
                    for &v in row {
                        let v = f64::from(v);
                        *acc = (acc.0 + v, acc.1 + v * v, acc.2 + 1.0);
                    }
                }
                sums
            })
            .collect();
        Self { per_patient }
    }

    /// The per-channel mean and 1/sd over the patients at `idx` (scale 0
    /// for a constant channel).
    pub fn mean_scale(&self, idx: &[usize]) -> (Vec<f32>, Vec<f32>) {
        let channels = self.per_patient.first().map_or(0, Vec::len);
        (0..channels)
            .map(|c| {
                let (s, s2, n) =
                    idx.iter().map(|&i| self.per_patient[i][c]).fold((0.0, 0.0, 0.0), |a, b| (a.0 + b.0, a.1 + b.1, a.2 + b.2));
                let mean = s / n.max(1.0);
                let sd = (s2 / n.max(1.0) - mean * mean).max(0.0).sqrt();
                (mean as f32, inverse_sd(sd))
            })
            .unzip()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::gmcae::features::FeatureMap;

    #[test]
    fn the_mean_and_scale_are_those_of_the_chosen_patients_voxels() {
        // Two channels on a 2 x 1 x 2 grid, stored [z][c][y][x].
        let sample = |data: Vec<f32>, region: Option<Vec<f32>>| Sample {
            id: "p".into(),
            label: false,
            features: FeatureMap { channels: 2, shape: [2, 1, 2], data },
            blocks: 1,
            region,
            extra: vec![],
        };
        let a = sample(vec![1.0, 3.0, 5.0, 5.0, 2.0, 4.0, 5.0, 5.0], Some(vec![1.0, 1.0, 0.0, 1.0]));
        let b = sample(vec![10.0, 0.0, 5.0, 5.0, 0.0, 0.0, 5.0, 5.0], None);
        let stats = ChannelStats::of(&[a, b]);
        let (mean, scale) = stats.mean_scale(&[0]);
        // Channel 0 of patient a: 1, 3, 2, 4 (the region does not matter).
        let sd0 = ((1.0f64 + 9.0 + 4.0 + 16.0) / 4.0 - 2.5f64.powi(2)).sqrt();
        assert!((mean[0] - 2.5).abs() < 1e-6 && (scale[0] - (1.0 / sd0) as f32).abs() < 1e-6, "{mean:?} {scale:?}");
        assert_eq!((mean[1], scale[1]), (5.0, 0.0), "a constant channel is switched off");
        let (mean, _) = stats.mean_scale(&[0, 1]);
        assert!((mean[0] - (10.0 + 10.0) / 8.0).abs() < 1e-6, "{mean:?}");
    }
}
