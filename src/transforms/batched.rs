//! Batched Jacobians `[batch, out, in]` for functions whose rows are independent
//! (checked: see `rows`).

use burn::tensor::{Tensor, backend::Backend};

use super::engine::{
    forward_lanes, forward_pass_uncounted, inside_reverse, probe, reverse_is_faithful,
    reverse_lanes,
};
use super::mode::{Mode, Path};
use super::rows::{
    Guard, audited, check_rows, contract, count_row_check, row_basis_lanes, row_direction,
};
use super::validate::{non_empty_input, non_empty_output};
use crate::dual::passes::shared_draws;
use crate::layer::NestedFn;
use crate::settings::{policy, tune};

#[track_caller]
fn check_batch(op: &str, batch_in: usize, y: &[usize]) {
    non_empty_output(op, y);
    assert!(
        y.first() == Some(&batch_in),
        "burn-nested: `{op}` needs the output batch size (dim 0) to equal the input's: input \
         batch {batch_in}, output shape {y:?}; the function must return one output row per \
         input row (a sum or mean over dim 0 drops them: use `jacobian` for a function of the \
         whole batch)"
    );
}

/// Per-row Jacobians of `f` at `x` (batch first): `[batch, out, in]` where `in` and
/// `out` are the numbers of entries per row of `x` and `f(x)`.
///
/// ```
/// use burn::tensor::{Tensor, TensorData};
/// use burn_nested::{Mode, Pure, batched_jacobian, tensor_fn};
///
/// tensor_fn!(Square, |x: 2| -> 2 { x.clone() * x });
/// type B = burn_ndarray::NdArray<f64>;
/// let device = Default::default();
/// let tensor = |v: Vec<f64>, shape: [usize; 2]| Tensor::<B, 2>::from_data(TensorData::new(v, shape), &device);
/// // Two rows of two features: one 2×2 Jacobian per row, diag(2·row).
/// let j = batched_jacobian(&Pure(Square), tensor(vec![1.0, 2.0, 3.0, 4.0], [2, 2]), Mode::Auto);
/// assert_eq!(j.dims(), [2, 2, 2]);
/// assert_eq!(j.into_data().to_vec::<f64>().unwrap(), vec![2.0, 0.0, 0.0, 4.0, 6.0, 0.0, 0.0, 8.0]);
/// ```
///
/// Every row is seeded at once, which is right only when rows are independent
/// (row `b` of the output depends only on row `b` of the input — no `BatchNorm` in
/// training, no attention across the batch). That is guarded on every call, not
/// assumed: an audit of the function's ops proves the rows apart or panics naming
/// the op that mixes them, and where it cannot follow the rows one more pass, with
/// a direction that differs from row to row, must give what the per-row Jacobians
/// predict (see [`set_row_check`](crate::settings::set_row_check); turn the guard off with
/// [`with_row_check`](crate::settings::with_row_check) only when the rows are known to be
/// independent).
///
/// Inside a loss with switching on, `Mode::Auto` takes
/// forward lanes (one per input feature, chunked within
/// [`LANE_BUDGET`](crate::settings::policy::LANE_BUDGET)): they return the same
/// Jacobian faster (see docs/modes-and-switching.md, "Automatic switching").
/// Forward lanes are also taken whenever a backward pass would differentiate
/// another function (see [`jacobian`](crate::jacobian)).
///
/// # Panics
/// If `x` or `f(x)` has no entries, the output batch size differs from the
/// input's, the mode's chunk is zero, or the rows are found to couple.
#[track_caller]
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
#[track_caller]
pub fn value_and_batched_jacobian<B, F, const DI: usize, const DO: usize>(
    f: &F,
    x: Tensor<B, DI>,
    mode: Mode,
) -> (Tensor<B, DO>, Tensor<B, 3>)
where
    B: Backend,
    F: NestedFn<B, DI, DO> + ?Sized,
{
    per_row_jacobian("batched_jacobian", f, x, mode)
}

/// [`value_and_batched_jacobian`] for a transform built on it: `op` names it in
/// panics, tuning decisions and the row audit.
#[track_caller]
pub(crate) fn per_row_jacobian<B, F, const DI: usize, const DO: usize>(
    op: &'static str,
    f: &F,
    x: Tensor<B, DI>,
    mode: Mode,
) -> (Tensor<B, DO>, Tensor<B, 3>)
where
    B: Backend,
    F: NestedFn<B, DI, DO> + ?Sized,
{
    non_empty_input(op, &x.dims());
    mode.check_chunk(op);
    let _draws = shared_draws();
    let dims = x.dims();
    let batch = dims[0];
    let k = x.shape().num_elements() / batch;
    let device = x.device();
    let inside = inside_reverse(&x);
    // `probed`: `f(x)` and the row guard from the probe, when it ran (the same
    // function at the same input: its audit stands for these passes).
    let forward = |probed: Option<(Tensor<B, DO>, Guard)>| {
        // Lane j seeds feature j of every row at once.
        let seeds =
            |range: core::ops::Range<usize>| row_basis_lanes(range, k, batch, None, &device);
        let chunk = mode.chunk_for(op, k, batch * k);
        let ((y, t), guard) = match probed {
            Some((y, guard)) => (forward_lanes(op, f, &x, k, chunk, Some(y), seeds), guard),
            // The output's shape is checked first: a function that drops the
            // batch gets that message rather than the row guard's.
            None => audited::<B, _>(op, &dims, || {
                let (y, t) = forward_lanes(op, f, &x, k, chunk, None, seeds);
                check_batch(op, batch, &y.dims());
                (y, t)
            }),
        };
        let m = y.shape().num_elements() / batch;
        // [in, batch·out] -> [batch, out, in]
        let j = t.reshape([k, batch, m]).permute([1, 2, 0]);
        if guard.check() {
            // One more pass in a direction that differs from row to row: with
            // independent rows, each row's Jacobian applied to its own row.
            let dir = row_direction::<B>(batch, k, &device);
            let (_, got) = forward_pass_uncounted::<B, F, DI, DO>(
                op,
                f,
                &x,
                dir.clone().reshape([1, batch * k]),
            );
            let got = got.reshape([batch, m, 1]);
            let (predicted, scale) = contract(j.clone().detach(), dir.reshape([batch, 1, k]), 2);
            count_row_check();
            check_rows(op, got, predicted, scale);
        }
        (y, j)
    };
    let key = tune::key::<B, F, DI, DO>(op, f, &x, mode, inside);
    // The probe pass learns `f(x)`'s shape; run at most once, and only when
    // needed: forward lanes give `f(x)` too. It carries one tangent lane, so
    // that the row audit can watch it: on the reverse path it is the only
    // pass the audit sees.
    let probed = std::cell::OnceCell::new();
    let probe_once = || {
        probed.get_or_init(|| {
            let ((y, seen), guard) = audited::<B, _>(op, &dims, || {
                let (y, seen) = probe::<B, F, DI, DO>(f, &x);
                check_batch(op, batch, &y.dims());
                (y, seen)
            });
            (y, seen, guard)
        })
    };
    let out_per_row = |y: &Tensor<B, DO>| y.shape().num_elements() / batch;
    let worth = |rule| tune::worth_trying(rule, k, out_per_row(&probe_once().0));
    let by_mode = policy::batched_jacobian_by_mode(mode, inside)
        .map(|rule| tune::choose(key.as_ref(), rule, || worth(rule)));
    if by_mode == Some(Path::Forward) {
        return forward(probed.get().map(|(y, _, guard)| (y.clone(), *guard)));
    }
    let (y, seen, guard) = probe_once().clone();
    let m = out_per_row(&y);
    let path = by_mode.unwrap_or_else(|| {
        let rule = policy::batched_jacobian(mode, inside, k, m);
        tune::choose(key.as_ref(), rule, || worth(rule))
    });
    if path == Path::Forward {
        return forward(Some((y, guard)));
    }
    if !reverse_is_faithful(inside, seen) {
        tune::reverse_refused(key.as_ref());
        return forward(Some((y, guard)));
    }
    // Lane o < m seeds output feature o of every row; lane m (when the audit
    // could not follow the rows) a cotangent that differs from row to row.
    let row_dir = guard.check().then(|| row_direction::<B>(batch, m, &device));
    let cotangents = row_basis_lanes(
        0..m + usize::from(row_dir.is_some()),
        m,
        batch,
        row_dir.as_ref(),
        &device,
    );
    let Some(lanes) = reverse_lanes(f, &x, cotangents) else {
        tune::reverse_refused(key.as_ref());
        return forward(Some((y, guard)));
    };
    // [out, batch·in] -> [batch, out, in]
    let j = lanes
        .clone()
        .slice(0..m)
        .reshape([m, batch, k])
        .swap_dims(0, 1);
    if let Some(dir) = row_dir {
        let got = lanes.slice(m..m + 1).reshape([batch, 1, k]);
        let (predicted, scale) = contract(j.clone().detach(), dir.reshape([batch, m, 1]), 1);
        count_row_check();
        check_rows(op, got, predicted, scale);
    }
    (y, j)
}
