//! Input checks shared by the transforms, so bad input stops at the transform's
//! boundary with a message naming it rather than deep inside Burn.

/// Panics unless a tensor the transform `op` was given has at least one entry.
///
/// A zero-size input or output leaves no direction to seed or pull back: Burn's
/// ops then either panic internally or return empty Jacobians that hide a slicing
/// bug upstream, so burn-nested refuses it up front.
pub(crate) fn non_empty(op: &str, what: &str, dims: &[usize]) {
    assert!(
        dims.iter().product::<usize>() > 0,
        "burn-nested: `{op}` got an {what} with no entries (shape {dims:?}); every dimension \
         must be at least 1"
    );
}

/// [`non_empty`] for the input.
pub(crate) fn non_empty_input(op: &str, dims: &[usize]) {
    non_empty(op, "input", dims);
}

/// [`non_empty`] for the output of a forward pass, where the transform's name is
/// not known (a forward pass reshapes the output to `[numel]`, and Burn reads a
/// `0` in a reshape as "keep this dim").
pub(crate) fn non_empty_forward_output(dims: &[usize]) {
    assert!(
        dims.iter().product::<usize>() > 0,
        "burn-nested: the differentiated function returned an output with no entries (shape \
         {dims:?}); a forward-mode transform needs at least one output entry"
    );
}

/// [`non_empty`] for the function's output.
pub(crate) fn non_empty_output(op: &str, dims: &[usize]) {
    non_empty(op, "output", dims);
}
