//! Observing which path ran: the per-thread path counters, kept in the call
//! [`context`](crate::context).

use crate::context;

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
    /// per call whose rows the audit could not follow (see [`Options::row_check`](super::Options::row_check)).
    pub row_checks: usize,
    /// Per-row transform calls whose rows the audit proved apart, with no
    /// numerical check (see [`Options::row_check`](super::Options::row_check)).
    pub rows_proved: usize,
    /// Transform calls whose path was a trial step of measured switching (see
    /// [`Options::tuning`](super::Options::tuning)) rather than a decision.
    pub tuning: usize,
}

impl PathCounts {
    /// No pass counted.
    pub(crate) const ZERO: Self = Self {
        forward: 0,
        reverse: 0,
        row_checks: 0,
        rows_proved: 0,
        tuning: 0,
    };
}

/// This thread's [`PathCounts`].
pub fn path_counts() -> PathCounts {
    context::with(|cx| cx.counts)
}

/// Zeroes this thread's [`PathCounts`].
pub fn reset_path_counts() {
    context::with(|cx| cx.counts = PathCounts::ZERO);
}

/// Adds one to a field of this thread's [`PathCounts`].
fn bump(field: impl FnOnce(&mut PathCounts) -> &mut usize) {
    context::with(|cx| *field(&mut cx.counts) += 1);
}

pub(crate) fn count_forward() {
    bump(|c| &mut c.forward);
}

pub(crate) fn count_reverse() {
    bump(|c| &mut c.reverse);
}

pub(crate) fn count_row_check() {
    bump(|c| &mut c.row_checks);
}

pub(crate) fn count_rows_proved() {
    bump(|c| &mut c.rows_proved);
}

pub(crate) fn count_tuning() {
    bump(|c| &mut c.tuning);
}
