//! Derivatives with respect to a layer's parameters (Lux.jl's
//! `Base.Fix1(layer, x)` forms; see docs/design.md).

use burn::tensor::{Tensor, backend::Backend};
use burn_autodiff::Autodiff;

use super::engine::{
    basis, forward_lanes, inside_reverse, reverse_is_faithful, reverse_lanes, seeded,
};
use super::gradient::value_and_gradient_named;
use super::mode::Path;
use super::pass;
use super::validate::{non_empty_input, non_empty_output};
use super::{Mode, jacobian};
use crate::dual::Dual;
use crate::dual::passes::shared_draws;
use crate::layer::{Forward, NestedModel, ReverseDual, StatefulLayer, TensorFn, Then};
use crate::lift::{constant, primal, seed};
use crate::params::masked_numel;
use crate::settings::count_reverse;
use crate::settings::{policy, tune};

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
    if let Some(j) = param_jacobian_in_loss(layer, &x, mode) {
        return j;
    }
    jacobian(&layer.params_at(x), layer.flat_params(), mode)
}

/// The transform name [`param_jacobian_in_loss`] gives measured switching and
/// messages: [`jacobian`]'s, which `param_jacobian` calls otherwise, so both
/// routes share a tuning decision and read alike.
const OP: &str = "jacobian";

/// [`param_jacobian`] inside a loss, where the reverse path is the usual one
/// (a network has far more parameters than outputs): the same paths, rule and
/// measured switching as [`jacobian`] of the parameter view, but the reverse
/// pass differentiates w.r.t. the parameters themselves
/// ([`StatefulLayer::reverse_leaves`]) rather than through the flat vector, and
/// its forward half is also the probe that learns the output's shape. That
/// drops per step the flat vector and the probe's forward pass, and per
/// parameter the slices, zero fills, `slice_assign`s and adds that carry
/// gradients between the vector and the parameters, each twice (primal and
/// tangent lanes) and again on the loss's tape: the parameter Jacobian of the
/// reference scenario went from 242 to 169 kernel ops per training step (488 to
/// 300 ops in all)
/// (`cargo bench --bench census -- --ops parameter_jacobian`).
///
/// `None` where [`jacobian`] of the view must run as before: outside a loss
/// (the probe must run on `Dual` to see whether the model asks for the
/// train/eval mode, see [`reverse_is_faithful`]), in forward mode (no probe,
/// no reverse pass), under a row audit (whose probe carries a lane), and for a
/// model without trainable parameters (so `flat_params` reports it).
#[track_caller]
fn param_jacobian_in_loss<B, M, const DI: usize, const DO: usize>(
    layer: &StatefulLayer<M>,
    x: &Tensor<B, DI>,
    mode: Mode,
) -> Option<Tensor<B, 2>>
where
    B: Backend,
    M: NestedModel<B, DI, DO>,
{
    let applies = inside_reverse(x)
        && !matches!(mode, Mode::AutoForward { .. })
        && !crate::dual::rows::open::<B>()
        && layer.trainable().iter().any(|&t| t);
    if !applies {
        return None;
    }
    let _draws = shared_draws();
    let device = x.device();
    let n = masked_numel(layer.model(), layer.trainable());
    let leaves = layer.reverse_leaves::<B, DI, DO>();
    let input = Tensor::<Autodiff<Dual<B>>, DI>::from_inner(constant(x.clone()));
    // The parameters are the leaves; the input carries no lanes.
    let (y, seen) = pass::run::<B, _>(false, || leaves.forward(input));
    non_empty_output(OP, &y.dims());
    let m = y.shape().num_elements();
    let view = layer.params_at(x.clone());
    // The key of `jacobian` of the view, from the flat parameters' length and
    // device alone: neither the flat vector nor a stand-in is built.
    let key = tune::key_at::<B, _, 1, DO>(OP, &view, &[n], &device, mode, true);
    let rule = policy::jacobian(mode, true, n, m);
    if tune::choose(key.as_ref(), rule, || tune::worth_trying(rule, n, m)) == Path::Reverse {
        if reverse_is_faithful(true, seen) {
            if policy::lanes_within_budget(m, n.max(m)) >= m {
                return Some(reverse_rows(layer, leaves, y, m));
            }
            // More cotangent lanes than one pass may carry (a Jacobian of over
            // `LANE_BUDGET` entries, where a pass's ops are no longer what
            // counts): the view's passes through the flat vector, each running
            // its forward half anew, since a backward pass consumes its graph.
            let rows = reverse_lanes(&view, &layer.flat_params(), basis(0..m, m, &device));
            if let Some(j) = rows {
                return Some(j);
            }
        }
        tune::reverse_refused(key.as_ref());
    }
    // Forward lanes through the flat vector, as `jacobian` takes them; the
    // reverse pass's forward half already gave the value.
    let flat = layer.flat_params();
    let value = primal(y.inner());
    let seeds = |range| basis(range, n, &device);
    let chunk = mode.chunk_for(OP, n, n);
    let (_, t) = forward_lanes(OP, &view, &flat, n, chunk, Some(value), seeds);
    Some(t.transpose()) // [in, out] -> [out, in]
}

/// The parameter Jacobian, `[m, n]`, by one nested backward pass through
/// `leaves` with lane-stacked cotangents (see `reverse_lanes` in the engine):
/// `y` is the pass's forward half, already run, with `m` entries.
fn reverse_rows<B, M, const DI: usize, const DO: usize>(
    layer: &StatefulLayer<M>,
    leaves: ReverseDual<B, M>,
    y: Tensor<Autodiff<Dual<B>>, DO>,
    m: usize,
) -> Tensor<B, 2>
where
    B: Backend,
    M: NestedModel<B, DI, DO>,
{
    count_reverse();
    let device = y.device();
    // A zero primal and the identity as tangent lanes: the backward pass gives
    // every row of the Jacobian in the gradients' tangents.
    let w = seed(Tensor::<B, 1>::zeros([m], &device), basis(0..m, m, &device));
    let grads = seeded(y.reshape([m]), w.into_primitive().tensor()).backward();
    layer.lane_gradients::<B, DI, DO>(&leaves, &grads, m)
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
