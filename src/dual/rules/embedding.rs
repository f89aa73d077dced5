//! `embedding` selects rows of the weights, so it is linear in them: the weight
//! tangent `[L, V, D]` goes through the same row selection on its dim 1.

use burn_backend::{Backend, Shape, TensorMetadata};

use crate::dual::DualTensor;
use crate::dual::lanes::lanes_of;
use crate::dual::reshape::reshape;

/// An int primitive of the inner backend.
type IntPrim<B> = <B as burn_backend::backend::BackendTypes>::IntTensorPrimitive;

/// `[N, S]` indices as one row list `[N·S]`.
fn flat<B: Backend>(indices: IntPrim<B>) -> IntPrim<B> {
    let n = indices.shape().num_elements();
    B::int_reshape(indices, Shape::new([n]))
}

/// `embedding(w, idx)`: `[N, S, D]`, tangent `[L, N, S, D]`.
pub(crate) fn embedding<B: Backend>(w: DualTensor<B>, indices: IntPrim<B>) -> DualTensor<B> {
    let [n, s] = indices.shape().dims();
    let tangent = w.tangent.map(|t| {
        let (lanes, d) = (lanes_of::<B>(&t), t.shape()[2]);
        let rows = crate::dual::rules::index::select_exact::<B>(t, 1, flat::<B>(indices.clone()));
        reshape::<B>(rows, Shape::new([lanes, n, s, d]))
    });
    DualTensor::from_parts(B::embedding(w.primal, indices), tangent, w.layout)
}

/// `embedding_backward(w, g, idx)` adds gradient rows into the selected weight
/// rows: linear in `g` (the weights are read only for their shape).
pub(crate) fn embedding_backward<B: Backend>(
    w: DualTensor<B>,
    grad: DualTensor<B>,
    indices: IntPrim<B>,
) -> DualTensor<B> {
    let tangent = grad.tangent.map(|t| {
        let s = t.shape();
        let (lanes, d) = (s[0], s[s.num_dims() - 1]);
        let rows = s.num_elements() / (lanes * d);
        let t = reshape::<B>(t, Shape::new([lanes, rows, d]));
        let ws = w.primal.shape();
        let zeros = B::float_zeros(
            Shape::new([lanes, ws[0], ws[1]]),
            &B::float_device(&t),
            t.dtype().into(),
        );
        B::float_select_add(zeros, 1, flat::<B>(indices.clone()), t)
    });
    let out = B::embedding_backward(w.primal, grad.primal, indices);
    DualTensor::from_parts(out, tangent, grad.layout)
}
