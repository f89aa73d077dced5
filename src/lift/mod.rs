//! Layer 2: moving tensors between `B` and [`Dual<B>`], seeding tangents and reading
//! them back.
//!
//! Models lift through Burn's derive: `model.train::<Dual<B>>()` turns a
//! `M<B>` into a `M<Dual<B>>` whose parameters keep their primal (and so their place
//! on an outer `Autodiff` tape) and carry no tangent.

use burn::module::{HasAutodiffModule, Module, ModuleVisitor, Param};
use burn::tensor::{Bool, Int, Tensor, TensorPrimitive, backend::Backend};

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
#[track_caller]
pub fn seed<B: Backend, const D: usize, const DL: usize>(
    primal: Tensor<B, D>,
    tangent: Tensor<B, DL>,
) -> Tensor<Dual<B>, D> {
    assert!(
        DL == D + 1,
        "burn-nested: `seed` needs a tangent of rank {} ([lanes, ..primal shape]) for a primal of \
         rank {D}, got rank {DL}; stack the directions on a new leading dim (one direction: \
         `tangent.unsqueeze_dim(0)`)",
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
///
/// # Panics
/// If `DL != D + 1`.
#[track_caller]
pub fn split<B: Backend, const D: usize, const DL: usize>(
    tensor: Tensor<Dual<B>, D>,
) -> (Tensor<B, D>, Option<Tensor<B, DL>>) {
    assert!(
        DL == D + 1,
        "burn-nested: `split`/`tangent`: the tangent of a rank-{D} tensor has rank {}, not \
         {DL}; ask for a `Tensor<B, {}>` (the primal's rank plus the leading lane dim)",
        D + 1,
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
///
/// # Panics
/// If `DL != D + 1`.
#[track_caller]
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

/// Initializes every lazily-initialized parameter of `module` in place.
///
/// Burn creates parameters lazily, and a clone of a not-yet-initialized parameter
/// initializes *independently* (new random values, a new tape leaf). Lifting clones
/// the model, so parameters must be initialized first or gradients would reach the
/// clone instead of the model.
pub fn initialize_params<B: Backend, M: Module<B>>(module: &M) {
    struct Touch;
    impl<B: Backend> ModuleVisitor<B> for Touch {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            let _ = param.val();
        }
        fn visit_int<const D: usize>(&mut self, param: &Param<Tensor<B, D, Int>>) {
            let _ = param.val();
        }
        fn visit_bool<const D: usize>(&mut self, param: &Param<Tensor<B, D, Bool>>) {
            let _ = param.val();
        }
    }
    module.visit(&mut Touch);
}

/// The model re-created on `Dual<B>`: the same parameter tensors (still on any
/// outer `Autodiff` tape) with zero tangents, and fresh copies of running
/// statistics, so a nested pass never updates the original's `BatchNorm` state.
pub fn lift_module<B, M>(module: &M) -> <M as HasAutodiffModule<Dual<B>>>::TrainModule
where
    B: Backend,
    M: Module<B> + HasAutodiffModule<Dual<B>>,
{
    initialize_params(module);
    module.clone().train::<Dual<B>>()
}
