//! [`KernelBackend`] under autodiff: the convolutions become graph nodes whose
//! backward pass calls the inner backend's gradient kernels (the nodes of
//! ReLU and the squared distances are in `relu_node` and `distances_node`).

use std::fmt::Debug;
use std::marker::PhantomData;

use burn::backend::Autodiff;
use burn::backend::autodiff::NodeId;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions, FloatTensor};

use super::KernelBackend;

/// One convolution's gradients on the inner backend.
trait Pass<B: KernelBackend>: Debug + Send + 'static {
    /// Stride, padding and the rest.
    type Options: Clone + Debug + Send + 'static;
    /// The forward pass.
    fn forward(x: FloatTensor<B>, w: FloatTensor<B>, b: Option<FloatTensor<B>>, o: Self::Options) -> FloatTensor<B>;
    /// ∂L/∂x.
    fn input_grad(x: FloatTensor<B>, w: FloatTensor<B>, g: FloatTensor<B>, o: Self::Options) -> FloatTensor<B>;
    /// ∂L/∂W.
    fn weight_grad(x: FloatTensor<B>, w: FloatTensor<B>, g: FloatTensor<B>, o: Self::Options) -> FloatTensor<B>;
}

#[derive(Debug)]
struct Conv;

impl<B: KernelBackend> Pass<B> for Conv {
    type Options = ConvOptions<3>;
    fn forward(x: FloatTensor<B>, w: FloatTensor<B>, b: Option<FloatTensor<B>>, o: Self::Options) -> FloatTensor<B> {
        B::conv3d_forward(x, w, b, o)
    }
    fn input_grad(x: FloatTensor<B>, w: FloatTensor<B>, g: FloatTensor<B>, o: Self::Options) -> FloatTensor<B> {
        B::conv3d_input_grad(x, w, g, o)
    }
    fn weight_grad(x: FloatTensor<B>, w: FloatTensor<B>, g: FloatTensor<B>, o: Self::Options) -> FloatTensor<B> {
        B::conv3d_weight_grad(x, w, g, o)
    }
}

#[derive(Debug)]
struct Transposed;

impl<B: KernelBackend> Pass<B> for Transposed {
    type Options = ConvTransposeOptions<3>;
    fn forward(x: FloatTensor<B>, w: FloatTensor<B>, b: Option<FloatTensor<B>>, o: Self::Options) -> FloatTensor<B> {
        B::conv_transpose3d_forward(x, w, b, o)
    }
    fn input_grad(x: FloatTensor<B>, w: FloatTensor<B>, g: FloatTensor<B>, o: Self::Options) -> FloatTensor<B> {
        B::conv_transpose3d_input_grad(x, w, g, o)
    }
    fn weight_grad(x: FloatTensor<B>, w: FloatTensor<B>, g: FloatTensor<B>, o: Self::Options) -> FloatTensor<B> {
        B::conv_transpose3d_weight_grad(x, w, g, o)
    }
}

/// The graph node of a convolution of kind `P`.
#[derive(Debug)]
struct Node<P>(PhantomData<P>);

/// What the node keeps for its backward pass: the checkpointed input,
/// weight and bias, and the options.
type Saved<O> = (NodeId, NodeId, Option<NodeId>, O);

impl<B: KernelBackend, P: Pass<B>> Backward<B, 3> for Node<P> {
    type State = Saved<P::Options>;

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, checkpointer: &mut Checkpointer) {
        let [x, w, b] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        register::<B, P>([x, w, b].map(|n| n.map(|n| n.id)), ops.state, grad, grads, checkpointer);
    }
}

impl<B: KernelBackend, P: Pass<B>> Backward<B, 2> for Node<P> {
    type State = Saved<P::Options>;

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, checkpointer: &mut Checkpointer) {
        let [x, w] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        register::<B, P>([x, w, None].map(|n| n.map(|n| n.id)), ops.state, grad, grads, checkpointer);
    }
}

/// Computes and registers the gradients of the tracked parents.
fn register<B: KernelBackend, P: Pass<B>>(
    parents: [Option<NodeId>; 3],
    saved: Saved<P::Options>,
    grad: FloatTensor<B>,
    grads: &mut Gradients,
    checkpointer: &mut Checkpointer,
) {
    let (x, w, b, options) = saved;
    let x: FloatTensor<B> = checkpointer.retrieve_node_output(x);
    let w: FloatTensor<B> = checkpointer.retrieve_node_output(w);
    if let Some(node) = parents[0] {
        grads.register::<B>(node, P::input_grad(x.clone(), w.clone(), grad.clone(), options.clone()));
    }
    if let Some(node) = parents[2] {
        let bias = checkpointer.retrieve_node_output(b.expect("a bias node has a saved bias"));
        grads.register::<B>(node, B::conv_bias_grad(x.clone(), bias, grad.clone()));
    }
    if let Some(node) = parents[1] {
        grads.register::<B>(node, P::weight_grad(x, w, grad, options));
    }
}

/// The forward pass of `P` as a node of the autodiff graph.
fn tracked<B: KernelBackend, C: CheckpointStrategy, P: Pass<B>>(
    x: FloatTensor<Autodiff<B, C>>,
    w: FloatTensor<Autodiff<B, C>>,
    b: Option<FloatTensor<Autodiff<B, C>>>,
    options: P::Options,
) -> FloatTensor<Autodiff<B, C>> {
    let node = Node::<P>(PhantomData);
    match b {
        Some(b) => match node.prepare::<C>([x.node.clone(), w.node.clone(), b.node.clone()]).compute_bound().stateful() {
            OpsKind::Tracked(mut prep) => {
                let saved = (prep.checkpoint(&x), prep.checkpoint(&w), Some(prep.checkpoint(&b)), options.clone());
                prep.finish(saved, P::forward(x.primitive, w.primitive, Some(b.primitive), options))
            }
            OpsKind::UnTracked(prep) => prep.finish(P::forward(x.primitive, w.primitive, Some(b.primitive), options)),
        },
        None => match node.prepare::<C>([x.node.clone(), w.node.clone()]).compute_bound().stateful() {
            OpsKind::Tracked(mut prep) => {
                let saved = (prep.checkpoint(&x), prep.checkpoint(&w), None, options.clone());
                prep.finish(saved, P::forward(x.primitive, w.primitive, None, options))
            }
            OpsKind::UnTracked(prep) => prep.finish(P::forward(x.primitive, w.primitive, None, options)),
        },
    }
}

impl<B: KernelBackend, C: CheckpointStrategy> KernelBackend for Autodiff<B, C> {
    fn conv3d_forward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: Option<FloatTensor<Self>>,
        options: ConvOptions<3>,
    ) -> FloatTensor<Self> {
        tracked::<B, C, Conv>(x, weight, bias, options)
    }

    fn conv_transpose3d_forward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: Option<FloatTensor<Self>>,
        options: ConvTransposeOptions<3>,
    ) -> FloatTensor<Self> {
        tracked::<B, C, Transposed>(x, weight, bias, options)
    }

    fn kernel_relu(x: FloatTensor<Self>) -> FloatTensor<Self> {
        super::relu_node::tracked::<B, C>(x)
    }

    fn squared_distances(means: FloatTensor<Self>, target: FloatTensor<Self>) -> FloatTensor<Self> {
        super::distances_node::tracked::<B, C>(means, target)
    }
}
