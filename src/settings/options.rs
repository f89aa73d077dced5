//! The one options value, where it is kept (a process default and a per-thread
//! scope), and the environment variables that give the default its first value.

use std::sync::RwLock;

use burn::serde::{Deserialize, Serialize};

use super::policy::LANE_BUDGET;
use crate::context;

/// The environment variable that turns switching off (`false`, `0`, `off`) or on
/// (`true`, `1`, `on`). Read once, when the process default is first needed.
pub const SWITCHING_ENV: &str = "BURN_NESTED_AD_SWITCHING";

/// The environment variable that turns the row check of the per-row transforms
/// off (`false`) or on (`true`, the default); see [`Options::row_check`].
pub const ROW_CHECK_ENV: &str = "BURN_NESTED_AD_ROW_CHECK";

/// The environment variable that turns measured switching off (`false`, `0`,
/// `off`) or on (`true`, `1`, `on`, the default). Read once, when the process
/// default is first needed.
pub const TUNE_ENV: &str = "BURN_NESTED_AD_TUNE";

/// Everything that decides how burn-nested computes a derivative (never what it
/// computes): which path a transform may take, whether it may time them, whether
/// per-row transforms guard their rows, and how many lanes one pass may carry.
///
/// A transform reads the options in force on its thread when it is called: the
/// value of an enclosing [`Options::scope`] on that thread, else the process
/// default ([`set_options`]), whose first value is [`Options::from_env`].
///
/// `Options` is serde-serialisable, so it can sit in a Burn `Config` beside the
/// rest of a run's settings and travel with it. A missing field deserialises to
/// its default.
///
/// ```
/// use burn::tensor::Tensor;
/// use burn_nested::settings::{Options, path_counts, reset_path_counts};
/// use burn_nested::{Mode, StatefulLayer, gradient};
///
/// type B = burn_autodiff::Autodiff<burn_ndarray::NdArray<f64>>;
/// let device = Default::default();
/// let model = burn::nn::LinearConfig::new(3, 1).init::<B>(&device);
/// let layer = StatefulLayer::from_ref(&model);
/// let x = Tensor::<B, 2>::ones([1, 3], &device).require_grad();
///
/// // Every path by rule and no timing trial: the same paths in every run.
/// let pinned = Options::default().with_tuning(false);
/// // Switching off: inside a loss, `Auto` is one nested backward pass.
/// let naive = pinned.with_switching(false);
/// reset_path_counts();
/// let g = naive.scope(|| gradient(&layer, x.clone(), Mode::Auto));
/// assert_eq!((path_counts().forward, path_counts().reverse), (0, 1));
/// assert_eq!(g.dims(), [1, 3]);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(crate = "burn::serde", default)]
pub struct Options {
    /// Inside a reverse-mode loss, whether `Mode::Auto` may take the faster path
    /// rather than the naive nested backward (docs/modes-and-switching.md). An
    /// explicit `Mode::AutoForward` or `Mode::AutoReverse` is always honoured. On
    /// by default; [`SWITCHING_ENV`] sets the process default's first value.
    pub switching: bool,
    /// Whether switching may time both paths on the caller's own steps and keep
    /// the faster (measured switching, see [`tuning_decisions`](super::tuning_decisions)).
    /// Off, the shape rules of [`policy`](super::policy) choose alone, so every
    /// run takes the same paths. On by default; [`TUNE_ENV`] sets the process
    /// default's first value.
    pub tuning: bool,
    /// Whether the per-row transforms ([`batched_jacobian`](crate::batched_jacobian),
    /// [`laplacian`](crate::laplacian), [`diag_hessian`](crate::diag_hessian),
    /// [`batched_hessian`](crate::batched_hessian), the operators and estimators)
    /// guard that rows are independent.
    ///
    /// On every call, the guard audits the ops the function runs: when each keeps
    /// rows apart (every layer of an MLP, a CNN on a batch of images) the result
    /// is proved exact at the cost of a few thread-local reads per op; when one
    /// mixes rows (a sum or mean over the batch) the call panics. Only a function
    /// the audit cannot follow (a reshape that moves the batch, an op without a
    /// row rule) pays for a numerical check: one more pass with two lanes and a
    /// read of two numbers from the device. Turning the guard off makes a coupled
    /// function's per-row results silently wrong: do it only for a function whose
    /// rows are known to be independent, or whose coupling is known not to
    /// matter. See docs/modes-and-switching.md, "Per-row transforms: the row
    /// guard". On by default; [`ROW_CHECK_ENV`] sets the process default's first
    /// value.
    pub row_check: bool,
    /// At most this many tangent entries (`lanes × numel` of the seeded tensor)
    /// per pass when burn-nested picks the lanes itself (`Mode::Auto`, switching,
    /// reverse cotangent lanes); a pass always carries at least one lane. An
    /// explicit `Mode::AutoForward { chunk }` is honoured as given. Default
    /// [`LANE_BUDGET`](super::policy::LANE_BUDGET).
    pub lane_budget: usize,
}

impl Default for Options {
    /// The built-in defaults: switching, measured switching and the row check on,
    /// [`LANE_BUDGET`](super::policy::LANE_BUDGET) lane entries per pass. The environment
    /// is not read (see [`Options::from_env`]).
    fn default() -> Self {
        Self {
            switching: true,
            tuning: true,
            row_check: true,
            lane_budget: LANE_BUDGET,
        }
    }
}

impl Options {
    /// The built-in defaults with [`SWITCHING_ENV`], [`TUNE_ENV`] and
    /// [`ROW_CHECK_ENV`] applied where they are set: the process default's first
    /// value.
    ///
    /// # Panics
    /// If one of them is set to something other than `true`, `1`, `on`, `yes`,
    /// `false`, `0`, `off` or `no` (any case).
    pub fn from_env() -> Self {
        let defaults = Self::default();
        Self {
            switching: env_flag(SWITCHING_ENV).unwrap_or(defaults.switching),
            tuning: env_flag(TUNE_ENV).unwrap_or(defaults.tuning),
            row_check: env_flag(ROW_CHECK_ENV).unwrap_or(defaults.row_check),
            ..defaults
        }
    }

    /// The options in force on this thread: the innermost [`Options::scope`]'s
    /// value, else the process default.
    pub fn current() -> Self {
        context::with(|cx| cx.scoped).unwrap_or_else(process_default)
    }

    /// These options with [`Options::switching`] set.
    pub fn with_switching(self, switching: bool) -> Self {
        Self { switching, ..self }
    }

    /// These options with [`Options::tuning`] set.
    pub fn with_tuning(self, tuning: bool) -> Self {
        Self { tuning, ..self }
    }

    /// These options with [`Options::row_check`] set.
    pub fn with_row_check(self, row_check: bool) -> Self {
        Self { row_check, ..self }
    }

    /// These options with [`Options::lane_budget`] set.
    pub fn with_lane_budget(self, lane_budget: usize) -> Self {
        Self {
            lane_budget,
            ..self
        }
    }

    /// Runs `f` with these options in force for every transform it calls on this
    /// thread, then restores the previous ones (also when `f` panics).
    ///
    /// A scope is per thread: threads that `f` or a trainer spawns see the process
    /// default ([`set_options`]), not the scope. burn-train's multi-device
    /// strategies run each device's step on a thread of their own, so there,
    /// either set the process default before training, or keep the `Options` in
    /// the model or its `Config` and open the scope inside the loss, where it
    /// travels with the value to whichever thread runs the step.
    pub fn scope<R>(self, f: impl FnOnce() -> R) -> R {
        struct Restore(Option<Options>);
        impl Drop for Restore {
            fn drop(&mut self) {
                context::with(|cx| cx.scoped = self.0);
            }
        }
        let _restore = Restore(context::with(|cx| cx.scoped.replace(self)));
        f()
    }
}

/// Sets the process default, which every thread uses outside an
/// [`Options::scope`] (overrides the environment).
pub fn set_options(options: Options) {
    // Set before any use, the environment is never read (nor can it panic).
    if let Err(unused) = super::PROCESS.default.set(RwLock::new(options)) {
        let options = unused.into_inner().unwrap_or_else(|e| e.into_inner());
        *default_cell().write().unwrap_or_else(|e| e.into_inner()) = options;
    }
}

/// The process default: [`Options::from_env`] until [`set_options`] replaces it.
pub(crate) fn process_default() -> Options {
    *default_cell().read().unwrap_or_else(|e| e.into_inner())
}

/// The process default, read from the environment at first use. A `OnceLock`
/// rather than a `LazyLock`: a bad variable panics in `from_env`, and every
/// later call must say why again rather than report a poisoned lock.
fn default_cell() -> &'static RwLock<Options> {
    super::PROCESS
        .default
        .get_or_init(|| RwLock::new(Options::from_env()))
}

/// An on/off environment variable: `None` when unset.
fn env_flag(name: &str) -> Option<bool> {
    Some(parse_flag(name, &std::env::var(name).ok()?))
}

/// The value of the on/off variable `name`.
fn parse_flag(name: &str, value: &str) -> bool {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "on" | "yes" => true,
        "false" | "0" | "off" | "no" => false,
        other => panic!(
            "burn-nested: {name}={other:?} is not understood; set it to `true`, `1`, `on` or \
             `yes`, or to `false`, `0`, `off` or `no`, or unset it (on by default)"
        ),
    }
}

/// The shorthands for one on/off field of the options: read it, set it in the
/// process default, or scope it to a closure on this thread.
macro_rules! shorthands {
    ($field:ident, $with:ident, $enabled:ident, $set:ident, $what:literal) => {
        #[doc = concat!("Whether ", $what, " is on for the current thread: the `", stringify!($field), "` field of [`Options::current`].")]
        pub fn $enabled() -> bool {
            Options::current().$field
        }

        #[doc = concat!("Turns ", $what, " on or off in the process default, for every thread outside a scope (overrides the environment; see [`set_options`]).")]
        pub fn $set(enabled: bool) {
            set_options(process_default().$with(enabled));
        }

        #[doc = concat!("Runs `f` with ", $what, " on or off on this thread only: an [`Options::scope`] of the current options with that one field changed.")]
        pub fn $with<R>(enabled: bool, f: impl FnOnce() -> R) -> R {
            Options::current().$with(enabled).scope(f)
        }
    };
}

shorthands!(
    switching,
    with_switching,
    switching_enabled,
    set_switching,
    "switching"
);
shorthands!(
    tuning,
    with_tuning,
    tuning_enabled,
    set_tuning,
    "measured switching"
);
shorthands!(
    row_check,
    with_row_check,
    row_check_enabled,
    set_row_check,
    "the row check"
);

#[cfg(test)]
mod tests {
    use super::parse_flag;

    #[test]
    fn every_spelling_of_on_and_off_reads() {
        for on in ["true", "1", "on", "yes", " ON ", "Yes"] {
            assert!(parse_flag("X", on), "{on:?}");
        }
        for off in ["false", "0", "off", "no", "OFF\n", "No"] {
            assert!(!parse_flag("X", off), "{off:?}");
        }
    }

    #[test]
    #[should_panic(expected = "BURN_NESTED_AD_TUNE=\"maybe\" is not understood")]
    fn another_value_is_refused_naming_the_variable() {
        parse_flag("BURN_NESTED_AD_TUNE", "maybe");
    }
}
