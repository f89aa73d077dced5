//! Input checks shared by the transforms, so bad input stops at the transform's
//! boundary with a message naming it rather than deep inside Burn.
//!
//! Every check is `#[track_caller]`, and so is every transform function between
//! the public one and the check (a closure in between would break the chain): a
//! panic about bad input then reports the line of the user's call.

/// Panics unless a tensor the transform `op` was given has at least one entry.
///
/// A zero-size input or output leaves no direction to seed or pull back: Burn's
/// ops then either panic internally or return empty Jacobians that hide a slicing
/// bug upstream, so burn-nested refuses it up front.
#[track_caller]
pub(crate) fn non_empty(op: &str, what: &str, dims: &[usize]) {
    assert!(
        dims.iter().product::<usize>() > 0,
        "burn-nested: `{op}` got an {what} with no entries (shape {dims:?}), so there is no \
         direction to differentiate; every dimension must be at least 1: check the slicing or \
         batching that produced it"
    );
}

/// [`non_empty`] for the input.
#[track_caller]
pub(crate) fn non_empty_input(op: &str, dims: &[usize]) {
    non_empty(op, "input", dims);
}

/// [`non_empty`] for the function's output.
#[track_caller]
pub(crate) fn non_empty_output(op: &str, dims: &[usize]) {
    non_empty(op, "output", dims);
}

/// Panics unless the output of the scalar-valued transform `op` has one element.
#[track_caller]
pub(crate) fn scalar_output(op: &str, dims: &[usize]) {
    if dims.iter().product::<usize>() == 1 {
        return;
    }
    let instead = match op {
        "hvp" | "hessian" => {
            "`batched_hessian`, `diag_hessian` or `laplacian` for one scalar per row ([batch, 1])"
        }
        "param_gradient" => "`param_jacobian` for a vector output",
        _ => "`vjp` or `jacobian` for a vector output",
    };
    panic!(
        "burn-nested: `{op}` needs a scalar output (one element), got shape {dims:?}; reduce \
         the output to one element (`.sum()`, `.mean()`), or use {instead}"
    );
}

/// Panics unless `f(x)` of the per-row second-order transform `op` is
/// `[batch, 1]` for `x` shaped `[batch, d]`.
#[track_caller]
pub(crate) fn per_row_scalar(op: &str, batch: usize, d: usize, got: &[usize]) {
    assert!(
        got == [batch, 1],
        "burn-nested: `{op}` needs f(x) shaped [batch, 1] for x shaped [{batch}, {d}], got \
         {got:?}; return one scalar per row (e.g. end with `.sum_dim(1)` or a layer with one \
         output)"
    );
}
