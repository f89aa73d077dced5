//! Derivatives with respect to a layer's parameters (Lux.jl's
//! `Base.Fix1(layer, x)` forms; see docs/design.md).

use burn::tensor::{Tensor, backend::Backend};

use super::gradient::value_and_gradient_named;
use super::validate::non_empty_input;
use super::{Mode, jacobian};
use crate::layer::{NestedModel, StatefulLayer, TensorFn, Then};

/// The Jacobian of the layer's output at `x` w.r.t. its flattened trainable
/// parameters (see [`flatten_params`](crate::params::flatten_params)):
/// `[numel(output), num_params]`. Inside a loss the result stays on the tape, so
/// the loss can be differentiated w.r.t. the parameters and `x`.
///
/// ```
/// use burn::tensor::Tensor;
/// use burn_nested::{Mode, StatefulLayer, param_jacobian};
///
/// type B = burn_ndarray::NdArray<f64>;
/// let device = Default::default();
/// let model = burn::nn::LinearConfig::new(3, 2).init::<B>(&device);
/// let layer = StatefulLayer::from_ref(&model);
/// // 4 rows × 2 outputs against 3·2 weights and 2 biases.
/// let j = param_jacobian(&layer, Tensor::<B, 2>::ones([4, 3], &device), Mode::Auto);
/// assert_eq!(j.dims(), [8, 8]);
/// ```
///
/// In code generic over the model, bound it by
/// [`NestedModel`](crate::NestedModel) (its docs have an example).
///
/// # Panics
/// If `x` has no entries, the layer has no float parameter, or the mode's chunk
/// is zero; and as [`jacobian`](crate::jacobian).
#[track_caller]
pub fn param_jacobian<B, M, const DI: usize, const DO: usize>(
    layer: &StatefulLayer<M>,
    x: Tensor<B, DI>,
    mode: Mode,
) -> Tensor<B, 2>
where
    B: Backend,
    M: NestedModel<B, DI, DO>,
{
    non_empty_input("param_jacobian", &x.dims());
    mode.check_chunk("param_jacobian");
    jacobian(&layer.params_at(x), layer.flat_params(), mode)
}

/// The gradient of `head(layer(x))` (a scalar) w.r.t. the layer's flattened
/// trainable parameters: `[num_params]`.
///
/// ```
/// use burn::tensor::{Tensor, TensorData};
/// use burn_nested::{Mode, StatefulLayer, param_gradient, tensor_fn};
///
/// tensor_fn!(Total, |y: 2| -> 1 { y.sum() });
/// type B = burn_ndarray::NdArray<f64>;
/// let device = Default::default();
/// let model = burn::nn::LinearConfig::new(2, 1).init::<B>(&device);
/// let layer = StatefulLayer::from_ref(&model);
/// let x = Tensor::<B, 2>::from_data(TensorData::new(vec![1.0, 2.0, 3.0, 4.0], [2, 2]), &device);
/// // d Σ(x W + b)/d(W, b): the column sums of x, then the batch size.
/// let g = param_gradient(&layer, x, Total, Mode::Auto);
/// assert_eq!(g.into_data().to_vec::<f64>().unwrap(), vec![4.0, 6.0, 2.0]);
/// ```
///
/// # Panics
/// If `x` has no entries, the layer has no float parameter, `head`'s output has
/// more than one element, or the mode's chunk is zero.
#[track_caller]
pub fn param_gradient<B, M, H, const DI: usize, const DM: usize, const DO: usize>(
    layer: &StatefulLayer<M>,
    x: Tensor<B, DI>,
    head: H,
    mode: Mode,
) -> Tensor<B, 1>
where
    B: Backend,
    M: NestedModel<B, DI, DM>,
    H: TensorFn<DM, DO>,
{
    non_empty_input("param_gradient", &x.dims());
    mode.check_chunk("param_gradient");
    let view = Then::<_, H, DM> {
        inner: layer.params_at(x),
        outer: head,
    };
    value_and_gradient_named::<B, _, 1, DO>("param_gradient", &view, layer.flat_params(), mode).1
}
