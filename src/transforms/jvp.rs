//! Jacobian-vector products: always forward mode.

use burn::tensor::{Shape, Tensor, backend::Backend};

use super::engine::forward_pass;
use super::validate::non_empty_input;
use crate::layer::NestedFn;

/// `J(x)·u`, the derivative of `f` at `x` in the direction `u` (shaped like `x`).
///
/// # Panics
/// If `x` has no entries or `u`'s shape differs from `x`'s.
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
        "burn-nested: `jvp` needs a tangent shaped like the input: input {:?}, tangent {:?}",
        x.dims(),
        u.dims()
    );
    let n = x.shape().num_elements();
    let (y, t) = forward_pass(f, &x, u.reshape([1, n]));
    let t = t.reshape(y.dims());
    (y, t)
}

/// `J(x)·U` for several directions at once: `u` is `[lanes, ..x's shape]` and the
/// result `[lanes, ..y's shape]`, from one forward pass with `lanes` lanes.
///
/// # Panics
/// If `x` has no entries, `DIL != DI + 1`, `DOL != DO + 1`, or `u` is not
/// `[lanes, ..x's shape]` with at least one lane.
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
         {DIL} and {DOL}",
        DI + 1,
        DO + 1
    );
    non_empty_input("jvp_lanes", &x.dims());
    let ud = u.dims();
    assert!(
        ud[0] > 0,
        "burn-nested: `jvp_lanes` needs at least one lane, got directions of shape {ud:?}"
    );
    assert!(
        ud[1..] == x.dims()[..],
        "burn-nested: `jvp_lanes` needs directions shaped [lanes, ..input shape]: input {:?}, \
         directions {:?}",
        x.dims(),
        ud
    );
    let n = x.shape().num_elements();
    let (y, t) = forward_pass(f, &x, u.reshape([ud[0], n]));
    let mut dims = vec![ud[0]];
    dims.extend(y.dims());
    t.reshape(Shape::from(dims))
}
