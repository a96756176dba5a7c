//! ReLU and its gradient on both cores, with burn flex's float32 operations
//! (`max(x, 0)`; the gradient where the input was positive, else 0), so the
//! bits are burn's.

use rayon::prelude::*;

/// Elements per task: below this a tensor is not worth splitting.
const MIN_TASK: usize = 1 << 15;

/// Whether `len` elements are split over rayon's threads: at least two
/// tasks' worth, on a worker ([`super::on_a_worker`]).
fn split(len: usize) -> bool {
    len >= 2 * MIN_TASK && super::on_a_worker()
}

fn cut(x: f32) -> f32 {
    x.max(0.0)
}

fn pass(x: f32, g: f32) -> f32 {
    if x > 0.0 { g } else { 0.0 }
}

/// max(x, 0) of every element.
pub fn relu(x: &[f32]) -> Vec<f32> {
    if !split(x.len()) {
        return x.iter().map(|&v| cut(v)).collect();
    }
    x.par_iter().with_min_len(MIN_TASK).map(|&v| cut(v)).collect()
}

/// [`relu`] in place.
pub fn relu_in_place(x: &mut [f32]) {
    if !split(x.len()) {
        return x.iter_mut().for_each(|v| *v = cut(*v));
    }
    x.par_iter_mut().with_min_len(MIN_TASK).for_each(|v| *v = cut(*v));
}

/// ∂L/∂x of [`relu`]: `grad` where `input` > 0, else 0.
pub fn relu_grad(input: &[f32], grad: &[f32]) -> Vec<f32> {
    assert_eq!(input.len(), grad.len(), "ReLU's input and gradient differ in size");
    if !split(input.len()) {
        return input.iter().zip(grad).map(|(&x, &g)| pass(x, g)).collect();
    }
    input.par_iter().zip(grad).with_min_len(MIN_TASK).map(|(&x, &g)| pass(x, g)).collect()
}

/// [`relu_grad`] written over `grad`.
pub fn relu_grad_in_place(input: &[f32], grad: &mut [f32]) {
    assert_eq!(input.len(), grad.len(), "ReLU's input and gradient differ in size");
    if !split(input.len()) {
        return grad.iter_mut().zip(input).for_each(|(g, &x)| *g = pass(x, *g));
    }
    grad.par_iter_mut().zip(input).with_min_len(MIN_TASK).for_each(|(g, &x)| *g = pass(x, *g));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negatives_and_their_gradients_are_cut_to_zero() {
        let x = [-2.0, -0.0, 0.0, 1e-30, 3.5, f32::NEG_INFINITY];
        assert_eq!(relu(&x), [0.0, 0.0, 0.0, 1e-30, 3.5, 0.0]);
        assert_eq!(relu_grad(&x, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]), [0.0, 0.0, 0.0, 4.0, 5.0, 0.0]);
        let (mut y, mut d) = (x, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        relu_grad_in_place(&x, &mut d);
        relu_in_place(&mut y);
        assert_eq!((y, d), ([0.0, 0.0, 0.0, 1e-30, 3.5, 0.0], [0.0, 0.0, 0.0, 4.0, 5.0, 0.0]));
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
        let (mut y_in_place, mut d_in_place) = (x.clone(), g.clone());
        relu_in_place(&mut y_in_place);
        relu_grad_in_place(&x, &mut d_in_place);
        assert_eq!((y_in_place, d_in_place), (y, d));
    }
}
