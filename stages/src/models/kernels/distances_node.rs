//! [`KernelBackend::squared_distances`] under autodiff: one graph node whose
//! backward pass calls the inner backend's gradient kernel, instead of the
//! three nodes (difference, square, sum) of burn's composite.

use burn::backend::Autodiff;
use burn::backend::autodiff::NodeId;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::tensor::ops::FloatTensor;

use super::KernelBackend;

/// The graph node of the squared distances.
#[derive(Debug)]
struct SquaredDistances;

impl<B: KernelBackend> Backward<B, 2> for SquaredDistances {
    /// The checkpointed means and target.
    type State = (NodeId, NodeId);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, checkpointer: &mut Checkpointer) {
        let [means_node, target_node] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let means: FloatTensor<B> = checkpointer.retrieve_node_output(ops.state.0);
        let target: FloatTensor<B> = checkpointer.retrieve_node_output(ops.state.1);
        let by_means = B::squared_distances_grad(means, target, grad);
        if let Some(node) = target_node {
            // ∂/∂t = −Σ_k ∂/∂μ_k: the target is data in our models, but a
            // tracked target still gets its gradient.
            grads.register::<B>(node.id, B::float_neg(B::float_sum_dim(by_means.clone(), 1)));
        }
        if let Some(node) = means_node {
            grads.register::<B>(node.id, by_means);
        }
    }
}

/// The squared distances as a node of the autodiff graph.
pub(super) fn tracked<B: KernelBackend, C: CheckpointStrategy>(
    means: FloatTensor<Autodiff<B, C>>,
    target: FloatTensor<Autodiff<B, C>>,
) -> FloatTensor<Autodiff<B, C>> {
    match SquaredDistances.prepare::<C>([means.node.clone(), target.node.clone()]).compute_bound().stateful() {
        OpsKind::Tracked(mut prep) => {
            let saved = (prep.checkpoint(&means), prep.checkpoint(&target));
            prep.finish(saved, B::squared_distances(means.primitive, target.primitive))
        }
        OpsKind::UnTracked(prep) => prep.finish(B::squared_distances(means.primitive, target.primitive)),
    }
}
