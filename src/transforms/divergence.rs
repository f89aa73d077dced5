//! The divergence `∇·f = Σᵢ ∂fᵢ/∂xᵢ` of a vector field, row by row: the trace of
//! each row's Jacobian, built on the per-row Jacobian's passes.

use burn::tensor::{Tensor, backend::Backend};

use super::batched::per_row_jacobian;
use super::mode::Mode;
use crate::layer::NestedFn;

/// The divergence of the vector field `f` at every row of `x`: `Σᵢ ∂fᵢ/∂xᵢ`, the
/// trace of the row's Jacobian, `[batch]` for `x` and `f(x)` both `[batch, d]`.
///
/// The incompressibility residual `∇·u` of a Navier–Stokes PINN, or the log-density
/// change of a continuous normalising flow. Inside a loss the result stays on the
/// loss's tape, so the loss can be differentiated w.r.t. the parameters.
///
/// It takes the passes of [`batched_jacobian`](crate::batched_jacobian) (`d`
/// forward lanes, or one nested backward with a cotangent lane per output
/// feature, as `mode` and switching decide) and keeps each row's diagonal; the
/// row guard checks, as there, that the rows are independent. The cost grows
/// with `d`; where `d` is large, `vᵀ J v` for random `v` with `E[vvᵀ] = I` is an
/// unbiased estimate at one [`jvp`](crate::jvp) per direction.
///
/// ```
/// use burn::tensor::{Tensor, TensorData};
/// use burn_nested::{Mode, Pure, divergence, tensor_fn};
///
/// // f(x) = (x₀², x₀·x₁) per row, so ∇·f = 2x₀ + x₀ = 3x₀.
/// tensor_fn!(Field, |x: 2| -> 2 {
///     let x0 = x.clone().slice([0..2, 0..1]);
///     let x1 = x.slice([0..2, 1..2]);
///     Tensor::cat(vec![x0.clone() * x0.clone(), x0 * x1], 1)
/// });
/// type B = burn_ndarray::NdArray<f64>;
/// let device = Default::default();
/// let x = Tensor::<B, 2>::from_data(TensorData::new(vec![1.0, 5.0, -2.0, 7.0], [2, 2]), &device);
/// for mode in [Mode::Auto, Mode::FORWARD, Mode::AutoReverse] {
///     let div = divergence(&Pure(Field), x.clone(), mode);
///     assert_eq!(div.into_data().to_vec::<f64>().unwrap(), vec![3.0, -6.0]);
/// }
/// ```
///
/// # Panics
/// If `f(x)` is not shaped like `x`, and as [`batched_jacobian`](crate::batched_jacobian)
/// (no entries, a zero chunk, rows found to couple).
#[track_caller]
pub fn divergence<B, F>(f: &F, x: Tensor<B, 2>, mode: Mode) -> Tensor<B, 1>
where
    B: Backend,
    F: NestedFn<B, 2, 2> + ?Sized,
{
    value_and_divergence(f, x, mode).1
}

/// `(f(x), divergence)`, from the same passes.
///
/// # Panics
/// As [`divergence`].
#[track_caller]
pub fn value_and_divergence<B, F>(
    f: &F,
    x: Tensor<B, 2>,
    mode: Mode,
) -> (Tensor<B, 2>, Tensor<B, 1>)
where
    B: Backend,
    F: NestedFn<B, 2, 2> + ?Sized,
{
    const OP: &str = "divergence";
    let x_dims = x.dims();
    let device = x.device();
    let (y, j) = per_row_jacobian(OP, f, x, mode);
    assert!(
        y.dims() == x_dims,
        "burn-nested: `divergence` needs a vector field, `f(x)` shaped like `x` ([batch, d]): \
         input {x_dims:?}, output {:?}; for other shapes take `batched_jacobian` and \
         contract it yourself",
        y.dims()
    );
    let [batch, d] = x_dims;
    // Each row's diagonal: the Jacobian times the identity, summed.
    let eye = Tensor::<B, 2>::eye(d, &device).unsqueeze::<3>();
    let trace = (j * eye).sum_dim(2).sum_dim(1).reshape([batch]);
    (y, trace)
}
