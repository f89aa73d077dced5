//! Gradients of scalar functions.

use burn::tensor::{Tensor, backend::Backend};

use super::engine::Cotangent;
use super::mode::Mode;
use super::pullback::pullback;
use super::validate::{non_empty_input, scalar_output};
use crate::layer::NestedFn;

/// The cotangent of a gradient: one, for a scalar output of the transform `op`.
struct Ones<'a, B: Backend> {
    op: &'static str,
    device: &'a B::Device,
}

impl<B: Backend, const DO: usize> Cotangent<B, DO> for Ones<'_, B> {
    #[track_caller]
    fn at(&self, dims: &[usize; DO]) -> Tensor<B, DO> {
        scalar_output(self.op, dims);
        Tensor::ones(*dims, self.device)
    }

    #[track_caller]
    fn unless_ones(&self, dims: &[usize; DO]) -> Option<Tensor<B, DO>> {
        scalar_output(self.op, dims);
        None
    }
}

/// `∇f(x)` for a scalar-valued `f` (output of one element), shaped like `x`.
///
/// ```
/// use burn::tensor::{Tensor, TensorData};
/// use burn_nested::{Mode, Pure, gradient, tensor_fn};
///
/// tensor_fn!(SumOfSquares, |x: 2| -> 1 { (x.clone() * x).sum() });
/// type B = burn_ndarray::NdArray<f64>;
/// let device = Default::default();
/// let tensor = |v: Vec<f64>, shape: [usize; 2]| Tensor::<B, 2>::from_data(TensorData::new(v, shape), &device);
/// let g = gradient(&Pure(SumOfSquares), tensor(vec![1.0, -2.0, 3.0], [1, 3]), Mode::Auto);
/// assert_eq!(g.into_data().to_vec::<f64>().unwrap(), vec![2.0, -4.0, 6.0]);
/// ```
///
/// # Panics
/// If `x` has no entries, `f(x)` has more than one element, or the mode's chunk
/// is zero.
#[track_caller]
pub fn gradient<B, F, const DI: usize, const DO: usize>(
    f: &F,
    x: Tensor<B, DI>,
    mode: Mode,
) -> Tensor<B, DI>
where
    B: Backend,
    F: NestedFn<B, DI, DO> + ?Sized,
{
    value_and_gradient(f, x, mode).1
}

/// `(f(x), ∇f(x))`.
///
/// # Panics
/// As [`gradient`].
#[track_caller]
pub fn value_and_gradient<B, F, const DI: usize, const DO: usize>(
    f: &F,
    x: Tensor<B, DI>,
    mode: Mode,
) -> (Tensor<B, DO>, Tensor<B, DI>)
where
    B: Backend,
    F: NestedFn<B, DI, DO> + ?Sized,
{
    value_and_gradient_named("gradient", f, x, mode)
}

/// [`value_and_gradient`] with errors naming the transform `op` the user called.
#[track_caller]
pub(crate) fn value_and_gradient_named<B, F, const DI: usize, const DO: usize>(
    op: &'static str,
    f: &F,
    x: Tensor<B, DI>,
    mode: Mode,
) -> (Tensor<B, DO>, Tensor<B, DI>)
where
    B: Backend,
    F: NestedFn<B, DI, DO> + ?Sized,
{
    non_empty_input(op, &x.dims());
    let device = x.device();
    pullback(
        op,
        f,
        x,
        mode,
        &Ones::<B> {
            op,
            device: &device,
        },
    )
}
