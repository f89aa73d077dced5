//! Jacobian-vector products: always forward mode.

use burn::tensor::{Shape, Tensor, backend::Backend};

use super::engine::forward_pass;
use super::validate::non_empty_input;
use crate::layer::NestedFn;

/// `J(x)·u`, the derivative of `f` at `x` in the direction `u` (shaped like `x`).
///
/// ```
/// use burn::tensor::{Tensor, TensorData};
/// use burn_nested::{Pure, jvp, tensor_fn};
///
/// tensor_fn!(Square, |x: 2| -> 2 { x.clone() * x });
/// type B = burn_ndarray::NdArray<f64>;
/// let device = Default::default();
/// let tensor = |v: Vec<f64>, shape: [usize; 2]| Tensor::<B, 2>::from_data(TensorData::new(v, shape), &device);
/// // d(x²)·u = 2·x·u
/// let t: Tensor<B, 2> = jvp(&Pure(Square), tensor(vec![1.0, 2.0, 3.0], [1, 3]), tensor(vec![1.0, 0.0, -1.0], [1, 3]));
/// assert_eq!(t.into_data().to_vec::<f64>().unwrap(), vec![2.0, 0.0, -6.0]);
/// ```
///
/// # Panics
/// If `x` has no entries or `u`'s shape differs from `x`'s.
#[track_caller]
pub fn jvp<B, F, const DI: usize, const DO: usize>(
    f: &F,
    x: Tensor<B, DI>,
    u: Tensor<B, DI>,
) -> Tensor<B, DO>
where
    B: Backend,
    F: NestedFn<B, DI, DO> + ?Sized,
{
    value_and_jvp(f, x, u).1
}

/// `(f(x), J(x)·u)` from one forward pass.
///
/// # Panics
/// If `x` has no entries or `u`'s shape differs from `x`'s.
#[track_caller]
pub fn value_and_jvp<B, F, const DI: usize, const DO: usize>(
    f: &F,
    x: Tensor<B, DI>,
    u: Tensor<B, DI>,
) -> (Tensor<B, DO>, Tensor<B, DO>)
where
    B: Backend,
    F: NestedFn<B, DI, DO> + ?Sized,
{
    non_empty_input("jvp", &x.dims());
    assert!(
        u.dims() == x.dims(),
        "burn-nested: `jvp` needs a tangent shaped like the input: input {:?}, tangent {:?}; \
         pass a tangent with the input's shape, or use `jvp_lanes` for several directions \
         stacked as [lanes, ..input shape]",
        x.dims(),
        u.dims()
    );
    let n = x.shape().num_elements();
    let (y, t) = forward_pass("jvp", f, &x, u.reshape([1, n]));
    let t = t.reshape(y.dims());
    (y, t)
}

/// `J(x)·U` for several directions at once: `u` is `[lanes, ..x's shape]` and the
/// result `[lanes, ..y's shape]`, from one forward pass with `lanes` lanes.
///
/// ```
/// use burn::tensor::{Tensor, TensorData};
/// use burn_nested::{Pure, jvp_lanes, tensor_fn};
///
/// tensor_fn!(Square, |x: 2| -> 2 { x.clone() * x });
/// type B = burn_ndarray::NdArray<f64>;
/// let device = Default::default();
/// let tensor = |v: Vec<f64>, shape: [usize; 2]| Tensor::<B, 2>::from_data(TensorData::new(v, shape), &device);
/// // Two directions, e₀ and e₂, in one pass: the Jacobian's columns 0 and 2.
/// let u = Tensor::<B, 3>::from_data(TensorData::new(vec![1.0, 0.0, 0.0, 0.0, 0.0, 1.0], [2, 1, 3]), &device);
/// let t: Tensor<B, 3> = jvp_lanes(&Pure(Square), tensor(vec![1.0, 2.0, 3.0], [1, 3]), u);
/// assert_eq!(t.into_data().to_vec::<f64>().unwrap(), vec![2.0, 0.0, 0.0, 0.0, 0.0, 6.0]);
/// ```
///
/// # Panics
/// If `x` has no entries, `DIL != DI + 1`, `DOL != DO + 1`, or `u` is not
/// `[lanes, ..x's shape]` with at least one lane.
#[track_caller]
pub fn jvp_lanes<B, F, const DI: usize, const DO: usize, const DIL: usize, const DOL: usize>(
    f: &F,
    x: Tensor<B, DI>,
    u: Tensor<B, DIL>,
) -> Tensor<B, DOL>
where
    B: Backend,
    F: NestedFn<B, DI, DO> + ?Sized,
{
    assert!(
        DIL == DI + 1 && DOL == DO + 1,
        "burn-nested: `jvp_lanes` takes directions of rank {} and returns rank {}, got ranks \
         {DIL} and {DOL}; the lanes add one leading dim to the input and to the output: \
         annotate the result as `Tensor<B, {}>` and pass directions of rank {}",
        DI + 1,
        DO + 1,
        DO + 1,
        DI + 1
    );
    non_empty_input("jvp_lanes", &x.dims());
    let ud = u.dims();
    assert!(
        ud[0] > 0,
        "burn-nested: `jvp_lanes` needs at least one lane, got directions of shape {ud:?}; \
         dim 0 counts the directions: give at least one"
    );
    assert!(
        ud[1..] == x.dims()[..],
        "burn-nested: `jvp_lanes` needs directions shaped [lanes, ..input shape]: input {:?}, \
         directions {:?}; stack directions shaped like the input on a new leading dim \
         (`Tensor::stack(directions, 0)`)",
        x.dims(),
        ud
    );
    let n = x.shape().num_elements();
    let (y, t) = forward_pass("jvp_lanes", f, &x, u.reshape([ud[0], n]));
    let mut dims = vec![ud[0]];
    dims.extend(y.dims());
    t.reshape(Shape::from(dims))
}
