//! ReLU and its gradient on both cores, with burn flex's float32 operations
//! (`max(x, 0)`; the gradient where the input was positive, else 0), so the
//! bits are burn's.

use rayon::prelude::*;

/// Elements per task: below this a tensor is not worth splitting.
const MIN_TASK: usize = 1 << 15;

/// max(x, 0) of every element.
pub fn relu(x: &[f32]) -> Vec<f32> {
    x.par_iter().with_min_len(MIN_TASK).map(|&v| v.max(0.0)).collect()
}

/// ∂L/∂x of [`relu`]: `grad` where `input` > 0, else 0.
pub fn relu_grad(input: &[f32], grad: &[f32]) -> Vec<f32> {
    assert_eq!(input.len(), grad.len(), "ReLU's input and gradient differ in size");
    input.par_iter().zip(grad).with_min_len(MIN_TASK).map(|(&x, &g)| if x > 0.0 { g } else { 0.0 }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negatives_and_their_gradients_are_cut_to_zero() {
        let x = [-2.0, -0.0, 0.0, 1e-30, 3.5, f32::NEG_INFINITY];
        assert_eq!(relu(&x), [0.0, 0.0, 0.0, 1e-30, 3.5, 0.0]);
        assert_eq!(relu_grad(&x, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]), [0.0, 0.0, 0.0, 4.0, 5.0, 0.0]);
    }

    #[test]
    fn large_inputs_split_across_tasks_keep_their_order() {
        let x: Vec<f32> = (0..200_001).map(|i| (i % 7) as f32 - 3.0).collect();
        let g: Vec<f32> = (0..200_001).map(|i| i as f32).collect();
        let (y, d) = (relu(&x), relu_grad(&x, &g));
        for i in 0..x.len() {
            assert_eq!(y[i], x[i].max(0.0));
            assert_eq!(d[i], if x[i] > 0.0 { g[i] } else { 0.0 });
        }
    }
}
