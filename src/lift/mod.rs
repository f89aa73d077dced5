//! Layer 2: moving tensors between `B` and [`Dual<B>`], seeding tangents and reading
//! them back.
//!
//! Models lift through Burn's derive: `model.train::<Dual<B>>()` turns a
//! `M<B>` into a `M<Dual<B>>` whose parameters keep their primal (and so their place
//! on an outer `Autodiff` tape) and carry no tangent.

use burn::tensor::{Tensor, TensorPrimitive, backend::Backend};

use crate::dual::{Dual, DualTensor};

/// A tensor on `Dual<B>` with a zero tangent.
pub fn constant<B: Backend, const D: usize>(primal: Tensor<B, D>) -> Tensor<Dual<B>, D> {
    Tensor::from_primitive(TensorPrimitive::Float(DualTensor::constant(
        primal.into_primitive().tensor(),
    )))
}

/// A tensor on `Dual<B>` whose tangent lanes are `tangent`, of shape
/// `[lanes, ..primal shape]` (so `DL = D + 1`).
///
/// # Panics
/// If `DL != D + 1` or the shapes do not match, with a message giving both shapes.
pub fn seed<B: Backend, const D: usize, const DL: usize>(
    primal: Tensor<B, D>,
    tangent: Tensor<B, DL>,
) -> Tensor<Dual<B>, D> {
    assert!(
        DL == D + 1,
        "burn-nested: `seed` needs a tangent of rank {} ([lanes, ..primal shape]) for a primal of \
         rank {D}, got rank {DL}",
        D + 1
    );
    Tensor::from_primitive(TensorPrimitive::Float(DualTensor::new(
        primal.into_primitive().tensor(),
        Some(tangent.into_primitive().tensor()),
    )))
}

/// The primal of a dual tensor, on `B`.
pub fn primal<B: Backend, const D: usize>(tensor: Tensor<Dual<B>, D>) -> Tensor<B, D> {
    Tensor::from_primitive(TensorPrimitive::Float(
        tensor.into_primitive().tensor().primal,
    ))
}

/// The primal and the tangent lanes `[lanes, ..shape]` of a dual tensor; the tangent
/// is `None` when it is zero (the output does not depend on any seeded input).
pub fn split<B: Backend, const D: usize, const DL: usize>(
    tensor: Tensor<Dual<B>, D>,
) -> (Tensor<B, D>, Option<Tensor<B, DL>>) {
    assert!(
        DL == D + 1,
        "burn-nested: the tangent of a rank-{D} tensor has rank {}, not {DL}",
        D + 1
    );
    let dual = tensor.into_primitive().tensor();
    let primal = Tensor::from_primitive(TensorPrimitive::Float(dual.primal));
    let tangent = dual
        .tangent
        .map(|t| Tensor::from_primitive(TensorPrimitive::Float(t)));
    (primal, tangent)
}

/// The tangent lanes `[lanes, ..shape]` of a dual tensor, zeros with `lanes` lanes
/// when the tangent is absent.
pub fn tangent<B: Backend, const D: usize, const DL: usize>(
    tensor: Tensor<Dual<B>, D>,
    lanes: usize,
) -> Tensor<B, DL> {
    let shape = tensor.shape();
    let device = tensor.device();
    let (_, t) = split::<B, D, DL>(tensor);
    t.unwrap_or_else(|| {
        let mut dims = vec![lanes];
        dims.extend_from_slice(shape.as_slice());
        Tensor::zeros(dims, &device)
    })
}
