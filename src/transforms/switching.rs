//! Automatic switching: turning it off, and observing which path ran.

use std::cell::Cell;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU8, Ordering};

/// The environment variable that turns switching off (`false`, `0`, `off`) or on
/// (`true`, `1`, `on`). Read once, at the first transform call.
pub const SWITCHING_ENV: &str = "BURN_NESTED_AD_SWITCHING";

const UNSET: u8 = 0;
const ON: u8 = 1;
const OFF: u8 = 2;

static GLOBAL: AtomicU8 = AtomicU8::new(UNSET);

thread_local! {
    static SCOPED: Cell<u8> = const { Cell::new(UNSET) };
    static COUNTS: Cell<PathCounts> = const { Cell::new(PathCounts { forward: 0, reverse: 0 }) };
}

fn from_env() -> bool {
    static ENV: OnceLock<bool> = OnceLock::new();
    *ENV.get_or_init(|| match std::env::var(SWITCHING_ENV) {
        Err(_) => true,
        Ok(v) => match v.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "on" | "yes" => true,
            "false" | "0" | "off" | "no" => false,
            other => panic!(
                "burn-nested: {SWITCHING_ENV}={other:?} is not understood; use `true` or `false`"
            ),
        },
    })
}

/// Whether automatic switching is on for the current thread: a
/// [`with_switching`] scope wins, then [`set_switching`], then the
/// [`SWITCHING_ENV`] variable; on by default.
pub fn switching_enabled() -> bool {
    match (SCOPED.with(Cell::get), GLOBAL.load(Ordering::Relaxed)) {
        (ON, _) => true,
        (OFF, _) => false,
        (_, ON) => true,
        (_, OFF) => false,
        _ => from_env(),
    }
}

/// Turns switching on or off for every thread (overrides the environment).
pub fn set_switching(enabled: bool) {
    GLOBAL.store(if enabled { ON } else { OFF }, Ordering::Relaxed);
}

/// Runs `f` with switching on or off on this thread only.
pub fn with_switching<R>(enabled: bool, f: impl FnOnce() -> R) -> R {
    let previous = SCOPED.with(|s| s.replace(if enabled { ON } else { OFF }));
    struct Restore(u8);
    impl Drop for Restore {
        fn drop(&mut self) {
            SCOPED.with(|s| s.set(self.0));
        }
    }
    let _restore = Restore(previous);
    f()
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
