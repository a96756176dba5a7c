//! [`KernelBackend::kernel_relu`] under autodiff: a graph node whose backward
//! pass calls the inner backend's [`KernelBackend::kernel_relu_grad`].

use burn::backend::Autodiff;
use burn::backend::autodiff::NodeId;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::tensor::ops::FloatTensor;

use super::KernelBackend;

/// The graph node of a ReLU.
#[derive(Debug)]
struct Relu;

impl<B: KernelBackend> Backward<B, 1> for Relu {
    /// The checkpointed input.
    type State = NodeId;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, checkpointer: &mut Checkpointer) {
        let [parent] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        if let Some(node) = parent {
            let x: FloatTensor<B> = checkpointer.retrieve_node_output(ops.state);
            grads.register::<B>(node.id, B::kernel_relu_grad(x, grad));
        }
    }
}

/// A ReLU as a node of the autodiff graph.
pub(super) fn tracked<B: KernelBackend, C: CheckpointStrategy>(x: FloatTensor<Autodiff<B, C>>) -> FloatTensor<Autodiff<B, C>> {
    match Relu.prepare::<C>([x.node.clone()]).compute_bound().stateful() {
        OpsKind::Tracked(mut prep) => {
            let saved = prep.checkpoint(&x);
            prep.finish(saved, B::kernel_relu(x.primitive))
        }
        OpsKind::UnTracked(prep) => prep.finish(B::kernel_relu(x.primitive)),
    }
}
