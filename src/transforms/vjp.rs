//! Vector-Jacobian products.

use burn::tensor::{Tensor, backend::Backend};

use super::engine::Cotangent;
use super::mode::Mode;
use super::pullback::pullback;
use super::validate::non_empty_input;
use crate::layer::NestedFn;

/// The cotangent the caller of `vjp` gave, checked against the output's shape.
struct Given<B: Backend, const DO: usize>(Tensor<B, DO>);

impl<B: Backend, const DO: usize> Cotangent<B, DO> for Given<B, DO> {
    #[track_caller]
    fn at(&self, y: &[usize; DO]) -> Tensor<B, DO> {
        let v = self.0.dims();
        assert!(
            *y == v,
            "burn-nested: `vjp` needs a cotangent shaped like the output: output {y:?}, \
             cotangent {v:?}; pass a cotangent with the output's shape (`f(x).dims()`), or, \
             for a scalar output, use `gradient`, which needs none"
        );
        self.0.clone()
    }
}

/// `vᵀJ(x)`: the cotangent `v` (shaped like `f(x)`) pulled back to `x`'s shape.
///
/// ```
/// use burn::tensor::{Tensor, TensorData};
/// use burn_nested::{Mode, Pure, tensor_fn, vjp};
///
/// tensor_fn!(Square, |x: 2| -> 2 { x.clone() * x });
/// type B = burn_ndarray::NdArray<f64>;
/// let device = Default::default();
/// let tensor = |v: Vec<f64>, shape: [usize; 2]| Tensor::<B, 2>::from_data(TensorData::new(v, shape), &device);
/// // vᵀ·diag(2x) = 2·x·v
/// let g = vjp(&Pure(Square), tensor(vec![1.0, 2.0, 3.0], [1, 3]), tensor(vec![1.0, 1.0, 0.5], [1, 3]), Mode::Auto);
/// assert_eq!(g.into_data().to_vec::<f64>().unwrap(), vec![2.0, 4.0, 3.0]);
/// ```
///
/// # Panics
/// If `x` has no entries, `v`'s shape differs from `f(x)`'s, or the mode's chunk
/// is zero.
#[track_caller]
pub fn vjp<B, F, const DI: usize, const DO: usize>(
    f: &F,
    x: Tensor<B, DI>,
    v: Tensor<B, DO>,
    mode: Mode,
) -> Tensor<B, DI>
where
    B: Backend,
    F: NestedFn<B, DI, DO> + ?Sized,
{
    value_and_vjp(f, x, v, mode).1
}

/// `(f(x), vᵀJ(x))`.
///
/// # Panics
/// As [`vjp`].
#[track_caller]
pub fn value_and_vjp<B, F, const DI: usize, const DO: usize>(
    f: &F,
    x: Tensor<B, DI>,
    v: Tensor<B, DO>,
    mode: Mode,
) -> (Tensor<B, DO>, Tensor<B, DI>)
where
    B: Backend,
    F: NestedFn<B, DI, DO> + ?Sized,
{
    non_empty_input("vjp", &x.dims());
    pullback("vjp", f, x, mode, &Given(v))
}
