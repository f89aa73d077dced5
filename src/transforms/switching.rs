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
        Cell::new(PathCounts { forward: 0, reverse: 0, row_checks: 0, tuning: 0 })
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
/// [`laplacian`](crate::laplacian)) check that rows are independent on the current
/// thread: a [`with_row_check`] scope wins, then [`set_row_check`], then the
/// [`ROW_CHECK_ENV`] variable; on by default.
pub fn row_check_enabled() -> bool {
    ROW_CHECK.enabled()
}

/// Turns the row check on or off for every thread (overrides the environment).
///
/// The check costs one extra lane per call (and a read of one number from the
/// device): a direction that differs from row to row, whose result must equal the
/// per-row derivatives applied to it. Turn it off only for a model whose rows are
/// known to be independent.
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
    /// Row-independence checks made by the per-row transforms (see
    /// [`set_row_check`]).
    pub row_checks: usize,
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

pub(crate) fn count_tuning() {
    COUNTS.with(|c| {
        let mut v = c.get();
        v.tuning += 1;
        c.set(v);
    });
}
