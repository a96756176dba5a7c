//! Dropout masks drawn ahead give burn's own `Dropout` bits. A test binary
//! of its own: it seeds the backend's global generator, which unit tests in
//! other threads would draw from.

use burn::backend::{Autodiff, Flex};
use burn::nn::DropoutConfig;
use burn::prelude::*;
use lungflow_stages::models::classifier::dropout::{MaskStream, dropout};

type AD = Autodiff<Flex>;

/// Three inputs of different shapes through `apply`, as flat values.
fn three(mut apply: impl FnMut(Tensor<AD, 2>) -> Tensor<AD, 2>) -> Vec<Vec<f32>> {
    let device = Default::default();
    [[1, 70], [3, 5], [1, 200]]
        .into_iter()
        .enumerate()
        .map(|(i, dims)| apply(Tensor::<AD, 2>::ones(dims, &device).mul_scalar(1.0 + i as f64)).into_data().to_vec().unwrap())
        .collect()
}

#[test]
fn masks_drawn_as_asked_or_ahead_give_burns_dropout_bits() {
    let device = Default::default();
    let prob = 0.3;
    AD::seed(&device, 11);
    let burn = DropoutConfig::new(prob).init();
    let expected = three(|x| burn.forward(x));

    AD::seed(&device, 11);
    let mut on_demand = MaskStream::new(prob);
    assert_eq!(three(|x| dropout(x, prob, &mut on_demand)), expected, "drawn as asked for");
    assert_eq!(on_demand.drawn(), 70 + 15 + 200);

    AD::seed(&device, 11);
    let mut ahead = MaskStream::new(prob);
    ahead.draw::<AD>(33, &device); // drawn in pieces of any size, the values are the same
    ahead.draw_ahead::<AD>(70 + 15 + 200 + 5000, &device);
    AD::seed(&device, 99); // once drawn ahead, the stream no longer reads the generator
    assert_eq!(three(|x| dropout(x, prob, &mut ahead)), expected, "drawn ahead");

    let values = expected.concat();
    let kept = values.iter().filter(|&&v| v != 0.0).count() as f64 / values.len() as f64;
    // 285 draws at keep 0.7: the binomial standard deviation is 0.027.
    assert!((kept - 0.7).abs() < 0.15, "kept {kept}");
    let mut none = MaskStream::new(0.0);
    assert_eq!(three(|x| dropout(x, 0.0, &mut none))[1], vec![2.0; 15], "prob 0 changes nothing");
    assert_eq!(none.drawn(), 0, "and draws nothing");
}
