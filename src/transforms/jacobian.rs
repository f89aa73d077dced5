//! Full Jacobians `[out_numel, in_numel]`.

use burn::tensor::{Tensor, backend::Backend};

use super::engine::{
    basis, forward_lanes, inside_reverse, probe, reverse_is_faithful, reverse_lanes,
};
use super::mode::{Mode, Path};
use super::validate::{non_empty_input, non_empty_output};
use crate::dual::passes::shared_draws;
use crate::layer::NestedFn;
use crate::settings::{policy, tune};

/// The Jacobian of `f` at `x`, `[numel(f(x)), numel(x)]`, both flattened in
/// row-major order.
///
/// ```
/// use burn::tensor::{Tensor, TensorData};
/// use burn_nested::{Mode, Pure, jacobian, tensor_fn};
///
/// tensor_fn!(Square, |x: 2| -> 2 { x.clone() * x });
/// type B = burn_ndarray::NdArray<f64>;
/// let device = Default::default();
/// let tensor = |v: Vec<f64>, shape: [usize; 2]| Tensor::<B, 2>::from_data(TensorData::new(v, shape), &device);
/// let j = jacobian(&Pure(Square), tensor(vec![1.0, 2.0, 3.0], [1, 3]), Mode::Auto);
/// assert_eq!(j.dims(), [3, 3]);
/// assert_eq!(j.into_data().to_vec::<f64>().unwrap(), vec![2.0, 0.0, 0.0, 0.0, 4.0, 0.0, 0.0, 0.0, 6.0]);
/// ```
///
/// Every path returns the same Jacobian (of the function the caller's backend
/// evaluates: inference mode outside a loss, training mode inside one), so the
/// mode only decides speed and memory. Forward lanes are taken whatever the mode
/// when a backward pass would differentiate something else: outside a loss for a
/// function that switches on the train/eval mode (`BatchNorm`, `Dropout`; Burn
/// 0.21 runs every backward pass in training mode), and for one with an op whose
/// reverse rule in Burn 0.21 is inexact (`prod`, `cumprod`, `repeat_dim`,
/// `hard_sigmoid`).
///
/// # Panics
/// If `x` or `f(x)` has no entries, or the mode's chunk is zero.
#[track_caller]
pub fn jacobian<B, F, const DI: usize, const DO: usize>(
    f: &F,
    x: Tensor<B, DI>,
    mode: Mode,
) -> Tensor<B, 2>
where
    B: Backend,
    F: NestedFn<B, DI, DO> + ?Sized,
{
    value_and_jacobian(f, x, mode).1
}

/// `(f(x), J(x))`.
///
/// # Panics
/// As [`jacobian`].
#[track_caller]
pub fn value_and_jacobian<B, F, const DI: usize, const DO: usize>(
    f: &F,
    x: Tensor<B, DI>,
    mode: Mode,
) -> (Tensor<B, DO>, Tensor<B, 2>)
where
    B: Backend,
    F: NestedFn<B, DI, DO> + ?Sized,
{
    non_empty_input(OP, &x.dims());
    mode.check_chunk(OP);
    let _draws = shared_draws();
    if let Mode::AutoForward { .. } = mode {
        return forward(f, &x, mode, None);
    }
    let n = x.shape().num_elements();
    let inside = inside_reverse(&x);
    let key = tune::key::<B, F, DI, DO>(OP, f, &x, mode, inside);
    // The probe learns the output's size to choose a path; once measured
    // switching has settled on forward lanes, it would be a whole evaluation of
    // `f` for a value the forward pass gives anyway.
    if tune::settled(key.as_ref()) == Some(Path::Forward) {
        return forward(f, &x, mode, None);
    }
    let (y, seen) = probe::<B, F, DI, DO>(f, &x);
    non_empty_output(OP, &y.dims());
    let m = y.shape().num_elements();
    let rule = policy::jacobian(mode, inside, n, m);
    if tune::choose(key.as_ref(), rule, || tune::worth_trying(rule, n, m)) == Path::Reverse {
        let reverse = match reverse_is_faithful(inside, seen) {
            true => reverse_lanes(f, &x, basis(0..m, m, &x.device())),
            false => None,
        };
        if let Some(j) = reverse {
            return (y, j);
        }
        tune::reverse_refused(key.as_ref());
    }
    forward(f, &x, mode, Some(y))
}

const OP: &str = "jacobian";

/// The forward path of [`value_and_jacobian`]: one lane per input entry; `y` is
/// `f(x)` when already known.
#[track_caller]
fn forward<B, F, const DI: usize, const DO: usize>(
    f: &F,
    x: &Tensor<B, DI>,
    mode: Mode,
    y: Option<Tensor<B, DO>>,
) -> (Tensor<B, DO>, Tensor<B, 2>)
where
    B: Backend,
    F: NestedFn<B, DI, DO> + ?Sized,
{
    let n = x.shape().num_elements();
    let device = x.device();
    let seeds = |range| basis(range, n, &device);
    let (y, t) = forward_lanes(OP, f, x, n, mode.chunk_for(OP, n, n), y, seeds);
    (y, t.transpose()) // [in, out] -> [out, in]
}
