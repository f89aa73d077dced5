//! Batched Jacobians `[batch, out, in]` for functions whose rows are independent.

use burn::tensor::{Tensor, backend::Backend};

use super::engine::{basis, forward_lanes, inside_reverse, probe, reverse_lanes};
use super::mode::{Mode, Path};
use super::policy;
use super::validate::{non_empty_input, non_empty_output};
use crate::layer::NestedFn;

fn check_batch(op: &str, batch_in: usize, y: &[usize]) {
    non_empty_output(op, y);
    assert!(
        y.first() == Some(&batch_in),
        "burn-nested: `{op}` needs the output batch size (dim 0) to equal the input's: input \
         batch {batch_in}, output shape {y:?}"
    );
}

/// Per-row Jacobians of `f` at `x` (batch first): `[batch, out, in]` where `in` and
/// `out` are the numbers of entries per row of `x` and `f(x)`.
///
/// It assumes rows are independent (row `b` of the output depends only on row `b`
/// of the input — no `BatchNorm` in training, no attention across the batch); the
/// cross-row blocks of the full Jacobian are not computed.
///
/// # Panics
/// If `x` or `f(x)` has no entries, the output batch size differs from the
/// input's, or the mode's chunk is zero.
pub fn batched_jacobian<B, F, const DI: usize, const DO: usize>(
    f: &F,
    x: Tensor<B, DI>,
    mode: Mode,
) -> Tensor<B, 3>
where
    B: Backend,
    F: NestedFn<B, DI, DO> + ?Sized,
{
    value_and_batched_jacobian(f, x, mode).1
}

/// `(f(x), batched Jacobian)`.
///
/// # Panics
/// As [`batched_jacobian`].
pub fn value_and_batched_jacobian<B, F, const DI: usize, const DO: usize>(
    f: &F,
    x: Tensor<B, DI>,
    mode: Mode,
) -> (Tensor<B, DO>, Tensor<B, 3>)
where
    B: Backend,
    F: NestedFn<B, DI, DO> + ?Sized,
{
    let dims = x.dims();
    non_empty_input("batched_jacobian", &dims);
    let batch = dims[0];
    let k = x.shape().num_elements() / batch;
    let device = x.device();
    // Row-wise basis: lane j seeds feature j of every row at once.
    let seeds = |range: core::ops::Range<usize>| {
        let lanes = range.len();
        basis::<B>(range, k, &device)
            .reshape([lanes, 1, k])
            .expand([lanes, batch, k])
            .reshape([lanes, batch * k])
    };
    let forward = |y: Option<Tensor<B, DO>>| {
        let (y, t) = forward_lanes(f, &x, k, mode.chunk_for(k), y, seeds);
        check_batch("batched_jacobian", batch, &y.dims());
        let m = y.shape().num_elements() / batch;
        // [in, batch·out] -> [batch, out, in]
        let j = t.reshape([k, batch, m]).permute([1, 2, 0]);
        (y, j)
    };
    // Forward lanes give `f(x)` too: when the mode alone picks them, skip the
    // probe pass.
    if policy::batched_jacobian_by_mode(mode, inside_reverse(&x)) == Some(Path::Forward) {
        return forward(None);
    }
    let y = probe::<B, F, DI, DO>(f, &x);
    check_batch("batched_jacobian", batch, &y.dims());
    let m = y.shape().num_elements() / batch;
    match policy::batched_jacobian(mode, inside_reverse(&x), k, m) {
        Path::Forward => forward(Some(y)),
        Path::Reverse => {
            // Lane o seeds output feature o of every row.
            let cotangents = basis::<B>(0..m, m, &device)
                .reshape([m, 1, m])
                .expand([m, batch, m])
                .reshape([m, batch * m]);
            // [out, batch·in] -> [batch, out, in]
            let j = reverse_lanes(f, &x, cotangents)
                .reshape([m, batch, k])
                .swap_dims(0, 1);
            (y, j)
        }
    }
}
