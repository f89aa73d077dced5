//! Derivatives with respect to a layer's parameters (the seed's
//! `Base.Fix1(layer, x)` forms).

use burn::module::{HasAutodiffModule, Module};
use burn::tensor::{Tensor, backend::Backend};
use burn_autodiff::Autodiff;

use super::gradient::value_and_gradient_named;
use super::validate::non_empty_input;
use super::{Mode, jacobian};
use crate::layer::{NestedFn, ParamView, StatefulLayer, TensorFn, Then};

/// The Jacobian of the layer's output at `x` w.r.t. its flattened trainable
/// parameters (see [`flatten_params`](crate::params::flatten_params)):
/// `[numel(output), num_params]`. Inside a loss the result stays on the tape, so
/// the loss can be differentiated w.r.t. the parameters and `x`.
pub fn param_jacobian<'a, B, M, const DI: usize, const DO: usize>(
    layer: &'a StatefulLayer<M>,
    x: Tensor<B, DI>,
    mode: Mode,
) -> Tensor<B, 2>
where
    B: Backend,
    M: Module<B> + HasAutodiffModule<Autodiff<B>>,
    ParamView<'a, M, B, DI>: NestedFn<B, 1, DO>,
{
    non_empty_input("param_jacobian", &x.dims());
    jacobian(&layer.params_at(x), layer.flat_params(), mode)
}

/// The gradient of `head(layer(x))` (a scalar) w.r.t. the layer's flattened
/// trainable parameters: `[num_params]`.
pub fn param_gradient<'a, B, M, H, const DI: usize, const DM: usize, const DO: usize>(
    layer: &'a StatefulLayer<M>,
    x: Tensor<B, DI>,
    head: H,
    mode: Mode,
) -> Tensor<B, 1>
where
    B: Backend,
    M: Module<B> + HasAutodiffModule<Autodiff<B>>,
    H: TensorFn<DM, DO>,
    ParamView<'a, M, B, DI>: NestedFn<B, 1, DM>,
{
    non_empty_input("param_gradient", &x.dims());
    let view = Then::<_, H, DM> {
        inner: layer.params_at(x),
        outer: head,
    };
    value_and_gradient_named::<B, _, 1, DO>("param_gradient", &view, layer.flat_params(), mode).1
}
