//! Automatic switching: turning it off, and observing which path ran.

use std::cell::Cell;

use super::setting::{Setting, scoped_slot};

/// The environment variable that turns switching off (`false`, `0`, `off`) or on
/// (`true`, `1`, `on`). Read once, at the first transform call.
pub const SWITCHING_ENV: &str = "BURN_NESTED_AD_SWITCHING";

/// The environment variable that turns the row check of the per-row transforms
/// off (`false`) or on (`true`, the default); see [`set_row_check`].
pub const ROW_CHECK_ENV: &str = "BURN_NESTED_AD_ROW_CHECK";

scoped_slot!(SWITCHING_SCOPED);
scoped_slot!(ROW_CHECK_SCOPED);
static SWITCHING: Setting = Setting::new(SWITCHING_ENV, &SWITCHING_SCOPED);
static ROW_CHECK: Setting = Setting::new(ROW_CHECK_ENV, &ROW_CHECK_SCOPED);

thread_local! {
    static COUNTS: Cell<PathCounts> = const {
        Cell::new(PathCounts { forward: 0, reverse: 0, row_checks: 0, rows_proved: 0, tuning: 0 })
    };
}

/// Whether automatic switching is on for the current thread: a
/// [`with_switching`] scope wins, then [`set_switching`], then the
/// [`SWITCHING_ENV`] variable; on by default.
pub fn switching_enabled() -> bool {
    SWITCHING.enabled()
}

/// Turns switching on or off for every thread (overrides the environment).
pub fn set_switching(enabled: bool) {
    SWITCHING.set(enabled)
}

/// Runs `f` with switching on or off on this thread only.
pub fn with_switching<R>(enabled: bool, f: impl FnOnce() -> R) -> R {
    SWITCHING.scoped(enabled, f)
}

/// Whether the per-row transforms ([`batched_jacobian`](crate::batched_jacobian),
/// [`laplacian`](crate::laplacian), [`diag_hessian`](crate::diag_hessian),
/// [`batched_hessian`](crate::batched_hessian), the operators and estimators)
/// guard that rows are independent on the current thread: a [`with_row_check`]
/// scope wins, then [`set_row_check`], then the [`ROW_CHECK_ENV`] variable; on by
/// default.
pub fn row_check_enabled() -> bool {
    ROW_CHECK.enabled()
}

/// Turns the row check on or off for every thread (overrides the environment).
///
/// On every call of a per-row transform, the guard audits the ops the function
/// runs: when each keeps rows apart (every layer of an MLP, a CNN on a batch of
/// images) the result is proved exact at the cost of a few thread-local reads
/// per op; when one mixes rows (a sum or mean over the batch) the call panics.
/// Only a function the audit cannot follow (a reshape that moves the batch, an
/// op without a row rule) pays for a numerical check: one more pass with two
/// lanes and a read of two numbers from the device. Turning the guard off makes
/// a coupled function's per-row results silently wrong: do it only for a
/// function whose rows are known to be independent, or whose coupling is known
/// not to matter. See docs/modes-and-switching.md, "Per-row transforms: the row
/// guard".
pub fn set_row_check(enabled: bool) {
    ROW_CHECK.set(enabled)
}

/// Runs `f` with the row check on or off on this thread only.
pub fn with_row_check<R>(enabled: bool, f: impl FnOnce() -> R) -> R {
    ROW_CHECK.scoped(enabled, f)
}

/// How many forward (`Dual`) and reverse (`Autodiff`) passes transforms ran on
/// this thread since the last [`reset_path_counts`]. A debugging aid that makes the
/// chosen path observable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PathCounts {
    /// Forward-mode passes (one per lane chunk).
    pub forward: usize,
    /// Reverse-mode passes (one per backward).
    pub reverse: usize,
    /// Numerical row-independence checks made by the per-row transforms: one
    /// per call whose rows the audit could not follow (see [`set_row_check`]).
    pub row_checks: usize,
    /// Per-row transform calls whose rows the audit proved apart, with no
    /// numerical check (see [`set_row_check`]).
    pub rows_proved: usize,
    /// Transform calls whose path was a trial step of measured switching (see
    /// [`set_tuning`](crate::set_tuning)) rather than a decision.
    pub tuning: usize,
}

/// This thread's [`PathCounts`].
pub fn path_counts() -> PathCounts {
    COUNTS.with(Cell::get)
}

/// Zeroes this thread's [`PathCounts`].
pub fn reset_path_counts() {
    COUNTS.with(|c| c.set(PathCounts::default()));
}

pub(crate) fn count_forward() {
    COUNTS.with(|c| {
        let mut v = c.get();
        v.forward += 1;
        c.set(v);
    });
}

pub(crate) fn count_reverse() {
    COUNTS.with(|c| {
        let mut v = c.get();
        v.reverse += 1;
        c.set(v);
    });
}

pub(crate) fn count_row_check() {
    COUNTS.with(|c| {
        let mut v = c.get();
        v.row_checks += 1;
        c.set(v);
    });
}

pub(crate) fn count_rows_proved() {
    COUNTS.with(|c| {
        let mut v = c.get();
        v.rows_proved += 1;
        c.set(v);
    });
}

pub(crate) fn count_tuning() {
    COUNTS.with(|c| {
        let mut v = c.get();
        v.tuning += 1;
        c.set(v);
    });
}
