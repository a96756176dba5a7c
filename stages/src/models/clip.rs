//! Gradient clipping by the global norm over all parameters (what PyTorch's
//! clip_grad_norm_ does), unlike burn's built-in clipping, which scales each
//! parameter tensor by its own norm.

use burn::module::{AutodiffModule, ModuleVisitor, Param, ParamId};
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;

struct SquaredNorm<'a> {
    grads: &'a GradientsParams,
    total: f64,
}

impl<B: Backend> ModuleVisitor<B> for SquaredNorm<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        if let Some(g) = self.grads.get::<B, D>(param.id) {
            self.total += g.powf_scalar(2.0).sum().into_scalar().elem::<f64>();
        }
    }
}

struct Scale<'a> {
    grads: &'a mut GradientsParams,
    factor: f64,
    ids: Vec<ParamId>,
}

impl<B: Backend> ModuleVisitor<B> for Scale<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        if let Some(g) = self.grads.remove::<B, D>(param.id) {
            self.grads.register::<B, D>(param.id, g.mul_scalar(self.factor));
            self.ids.push(param.id);
        }
    }
}

/// The global L2 norm of all gradients of `module`.
pub fn global_norm<B: AutodiffBackend, M: AutodiffModule<B>>(module: &M, grads: &GradientsParams) -> f64 {
    let mut v = SquaredNorm { grads, total: 0.0 };
    module.valid().visit(&mut v);
    v.total.sqrt()
}

/// Scales all gradients together so their global norm is at most `max_norm`;
/// returns the norm before clipping.
pub fn clip_global_norm<B: AutodiffBackend, M: AutodiffModule<B>>(module: &M, grads: &mut GradientsParams, max_norm: f64) -> f64 {
    let norm = global_norm::<B, M>(module, grads);
    if norm > max_norm && norm.is_finite() {
        let mut v = Scale { grads, factor: max_norm / (norm + 1e-6), ids: Vec::new() };
        module.valid().visit(&mut v);
    }
    norm
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::{Autodiff, NdArray};
    use burn::module::Module;
    use burn::nn::{Linear, LinearConfig};

    type AD = Autodiff<NdArray<f64>>;

    #[derive(Module, Debug)]
    struct Two<B: Backend> {
        a: Linear<B>,
        b: Linear<B>,
    }

    #[test]
    fn clipping_scales_every_gradient_by_one_global_factor() {
        let device = Default::default();
        let model = Two::<AD> { a: LinearConfig::new(3, 4).init(&device), b: LinearConfig::new(4, 2).init(&device) };
        let x = Tensor::<AD, 2>::from_data(TensorData::new(vec![1.0, -2.0, 3.0, 0.5, 0.25, -1.0], [2, 3]), &device);
        let y = model.b.forward(model.a.forward(x));
        let mut grads = GradientsParams::from_grads(y.powf_scalar(2.0).sum().backward(), &model);
        let before: Vec<Vec<f64>> =
            [model.a.weight.id, model.a.bias.as_ref().unwrap().id, model.b.weight.id, model.b.bias.as_ref().unwrap().id]
                .iter()
                .enumerate()
                .map(|(k, id)| {
                    if k % 2 == 0 {
                        grads.get::<NdArray<f64>, 2>(*id).unwrap().into_data().to_vec().unwrap()
                    } else {
                        grads.get::<NdArray<f64>, 1>(*id).unwrap().into_data().to_vec().unwrap()
                    }
                })
                .collect();
        let manual = before.iter().flatten().map(|g| g * g).sum::<f64>().sqrt();
        let norm = global_norm::<AD, _>(&model, &grads);
        assert!((norm - manual).abs() < 1e-9 * manual, "{norm} vs {manual}");

        let limit = manual / 4.0;
        assert_eq!(clip_global_norm::<AD, _>(&model, &mut grads, limit), norm);
        let after = global_norm::<AD, _>(&model, &grads);
        assert!((after - limit).abs() < 1e-6 * limit, "clipped norm {after}, limit {limit}");
        // One factor for all tensors: the direction of the whole gradient is kept.
        let wa: Vec<f64> = grads.get::<NdArray<f64>, 2>(model.a.weight.id).unwrap().into_data().to_vec().unwrap();
        let wb: Vec<f64> = grads.get::<NdArray<f64>, 2>(model.b.weight.id).unwrap().into_data().to_vec().unwrap();
        let ratio_a = wa[0] / before[0][0];
        let ratio_b = wb[0] / before[2][0];
        assert!((ratio_a - ratio_b).abs() < 1e-9 && (ratio_a - 0.25).abs() < 1e-6, "{ratio_a} {ratio_b}");
        // Per-tensor clipping (burn's built-in) would have rescaled each tensor to the limit instead.
        let norm_a = before[0].iter().map(|g| g * g).sum::<f64>().sqrt();
        assert!((norm_a * ratio_a - limit).abs() > 1e-3 * limit, "global clipping differs from per-tensor clipping");
    }
}
