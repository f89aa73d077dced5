//! The call context: the one per-thread value behind every transform call.
//!
//! Burn's backend ops are free functions (`B::float_add(lhs, rhs)`). An op that
//! the user's function runs inside a transform has no argument through which the
//! transform could hand it anything, nor one through which it could answer. What
//! a transform's passes share with the `Dual` ops they run, and what those ops
//! report back, therefore has to be reachable from the op alone: that is this
//! value, one per thread, and the only mutable per-thread state of the crate.
//!
//! It holds, for the transform calls in progress on the thread (innermost last):
//! - the random draws their passes replay (`dual::passes`), so every pass of one
//!   call differentiates one function (one `Dropout` mask);
//! - what their passes observed (`dual::passes`): a train/eval question, an op
//!   whose reverse rule in Burn 0.21 is inexact;
//! - the row audit of a per-row transform (`dual::rows`), per inner backend;
//!
//! and, for the thread itself:
//! - the options of an open [`Options::scope`](crate::settings::Options::scope);
//! - the thread's measured-switching trial in progress (`settings::tune`);
//! - the path counters ([`path_counts`](crate::settings::path_counts)).
//!
//! Each part is defined, and only read or changed, by its own module, through
//! [`with`]. Everything else a transform needs is passed as an argument. The
//! process-wide state is elsewhere and is not per call: the path choice's
//! static (`settings`: the options' default and the tuning decisions) and the
//! op census's counters (`census`).

use std::cell::RefCell;

use crate::dual::passes::Observations;
use crate::dual::rows::Audits;
use crate::settings::{Options, PathCounts, tune::Trials};

/// See the [module docs](self).
pub(crate) struct Context {
    /// Random draws and observations of the passes in progress.
    pub observations: Observations,
    /// Row audits of the per-row transforms in progress.
    pub audits: Audits,
    /// The innermost [`Options::scope`]'s value.
    pub scoped: Option<Options>,
    /// The measured-switching trial in progress.
    pub trials: Trials,
    /// The path counters.
    pub counts: PathCounts,
}

thread_local! {
    static CONTEXT: RefCell<Context> = const {
        RefCell::new(Context {
            observations: Observations::new(),
            audits: Audits::new(),
            scoped: None,
            trials: Trials::new(),
            counts: PathCounts::ZERO,
        })
    };
}

/// Runs `f` on this thread's context.
///
/// `f` must not run backend ops, user code, or anything else that could call
/// `with` again (the context is borrowed while `f` runs): it reads or updates a
/// field and returns. A value whose drop might run code (a recorded tensor) is
/// returned out of `f` and dropped after it.
pub(crate) fn with<R>(f: impl FnOnce(&mut Context) -> R) -> R {
    CONTEXT.with(|c| f(&mut c.borrow_mut()))
}
