//! How burn-nested chooses a path, and the knobs and observers of that choice.
//!
//! Every transform computes the same derivative on whichever path it takes;
//! what is chosen here is the speed. The choice is made in this module alone:
//!
//! - [`Options`], the one options value: switching, measured switching
//!   ("tuning"), the per-row guard and the lane budget. A process default
//!   (first read from the environment, replaced by [`set_options`]) and a
//!   per-thread [`Options::scope`]; `Options` is serde-serialisable, so it can sit
//!   in a Burn `Config`.
//! - [`policy`], the shape rules and their measured thresholds.
//! - Measured switching's decisions: [`tuning_decisions`], kept across runs with
//!   [`save_tuning`] and [`load_tuning`].
//! - [`path_counts`], which path ran on this thread.
//!
//! A run is reproducible bit for bit when its paths are: turn tuning off (the
//! shape rules decide), or load a decision file saved by an earlier run. See
//! docs/modes-and-switching.md, "Reproducible runs".

use std::sync::{LazyLock, Mutex, OnceLock, RwLock};

mod counts;
mod options;
pub mod policy;
pub(crate) mod tune;

pub use counts::{PathCounts, path_counts, reset_path_counts};
pub(crate) use counts::{count_forward, count_reverse, count_row_check, count_rows_proved};
pub use options::{
    Options, ROW_CHECK_ENV, SWITCHING_ENV, TUNE_ENV, row_check_enabled, set_options, set_row_check,
    set_switching, set_tuning, switching_enabled, tuning_enabled, with_row_check, with_switching,
    with_tuning,
};
pub use tune::{
    TUNE_CACHE, TUNE_SAMPLES, TUNE_WARMUP, TunedPath, TuningDecision, clear_tuning, load_tuning,
    save_tuning, tuning_decisions,
};

/// The path choice's process-wide state: the default options every thread
/// starts from and the decisions measured switching made or loaded, which
/// every thread shares. Each part has its own lock and is read and changed by
/// its module alone (`options`, `tune`). What is per thread (an open scope, a
/// trial in progress, the path counters) is in the call context.
struct Process {
    /// The process default options, read from the environment at first use
    /// (`options::process_default`, [`set_options`]).
    default: OnceLock<RwLock<Options>>,
    /// Measured switching's decisions (`tune`).
    decisions: LazyLock<Mutex<tune::Store>>,
}

static PROCESS: Process = Process {
    default: OnceLock::new(),
    decisions: LazyLock::new(|| Mutex::new(tune::Store::default())),
};
