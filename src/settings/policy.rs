//! Which path a transform takes: the switching table of docs/modes-and-switching.md, with the
//! thresholds chosen from measurements.
//!
//! `cargo bench --bench switching -- --warm-up-time 1 --measurement-time 4` on the
//! two-core development machine (ndarray, f32; 2026-11-27) timed one training step
//! (nested loss + backward) with the inner derivative taken each way. Criterion
//! medians:
//!
//! | inner derivative | input entries | forward lanes | nested backward |
//! |---|---|---|---|
//! | gradient of `Σu²`, PINN MLP 1→12→12→12→1 | 16 | 1.09 ms | 0.83 ms |
//! | | 64 | 4.81 ms | 1.28 ms |
//! | | 256 | 87.4 ms | 2.35 ms |
//! | Jacobian, 8 outputs, MLP a→16→2 | 8 | 0.41 ms | 0.55 ms |
//! | | 16 | 0.75 ms | 0.70 ms |
//! | | 32 | 0.59 ms | 0.75 ms |
//! | | 64 | 0.49 ms | 1.10 ms |
//! | | 128 | 1.13 ms | 1.18 ms |
//! | | 256 | 1.65 ms | 1.08 ms |
//!
//! The Jacobian rows were re-measured (2026-11-27, `--warm-up-time 0.3
//! --measurement-time 1`, a loaded machine) after the reverse path became one
//! nested backward with a cotangent lane per output row: forward lanes still win
//! or tie up to 16 times as many inputs as outputs and lose at 32, so the
//! threshold stays at 16.
//!
//! A gradient or VJP needs one lane per input entry but a single nested backward,
//! so forward lanes lose beyond a handful of inputs (and grow quadratically when
//! every lane carries the whole batch). A full Jacobian takes `numel(x)` forward
//! lanes or `numel(y)` cotangent lanes in one nested backward; a backward lane
//! costs more than a forward lane, so forward stays ahead up to a ratio of about
//! 16.

use super::options::{Options, switching_enabled};
use crate::transforms::mode::{Mode, Path};

/// A gradient or VJP inside a reverse loss goes forward when the input has at
/// most this many entries (measured: reverse already wins at 16).
pub const FORWARD_GRADIENT_MAX_INPUTS: usize = 8;

/// A reverse-mode Jacobian inside a reverse loss goes forward unless the input has
/// more than this many times as many entries as the output (measured against the
/// one-pass reverse Jacobian: forward ties at 16, loses at 32).
pub const FORWARD_JACOBIAN_MAX_RATIO: usize = 16;

/// The default of [`Options::lane_budget`](super::Options::lane_budget): at most
/// this many tangent entries are seeded per pass when burn-nested picks the lanes
/// itself (`Mode::Auto`, switching, reverse cotangent lanes): `lanes ×
/// numel` of the seeded tensor. Every intermediate of the pass carries the same
/// lanes, so this bounds the pass's memory to a multiple of it (64 MiB per
/// seeded tensor in f32). A per-row Jacobian of 3072 features over 64 rows is
/// then three forward passes instead of one of 600 M entries. An explicit
/// `Mode::AutoForward { chunk }` is honoured as given.
pub const LANE_BUDGET: usize = 1 << 24;

/// Lanes per pass for `total` lanes of `lane_numel` entries each, within the
/// current [`Options::lane_budget`] (at least one).
pub(crate) fn lanes_within_budget(total: usize, lane_numel: usize) -> usize {
    (Options::current().lane_budget / lane_numel.max(1)).clamp(1, total.max(1))
}

/// Path for a full Jacobian `[out, in]`.
pub(crate) fn jacobian(mode: Mode, inside: bool, n_in: usize, n_out: usize) -> Path {
    let forward_is_cheaper = n_in <= n_out;
    match mode {
        Mode::AutoForward { .. } => Path::Forward,
        Mode::AutoReverse => Path::Reverse,
        Mode::Auto if inside && !switching_enabled() => Path::Reverse,
        Mode::Auto if inside => {
            if n_in <= FORWARD_JACOBIAN_MAX_RATIO * n_out {
                Path::Forward
            } else {
                Path::Reverse
            }
        }
        Mode::Auto if forward_is_cheaper => Path::Forward,
        Mode::Auto => Path::Reverse,
    }
}

/// Path for a batched Jacobian: per-row lanes are cheap, so forward whenever
/// switching allows it.
pub(crate) fn batched_jacobian(mode: Mode, inside: bool, k_in: usize, k_out: usize) -> Path {
    batched_jacobian_by_mode(mode, inside).unwrap_or(if k_in <= k_out {
        Path::Forward
    } else {
        Path::Reverse
    })
}

/// The batched-Jacobian path when the mode alone decides it (`None`: it depends on
/// the output size). Lets the forward path skip the extra pass that learns `f(x)`'s
/// shape.
pub(crate) fn batched_jacobian_by_mode(mode: Mode, inside: bool) -> Option<Path> {
    match mode {
        Mode::AutoForward { .. } => Some(Path::Forward),
        Mode::AutoReverse => Some(Path::Reverse),
        Mode::Auto if inside && switching_enabled() => Some(Path::Forward),
        Mode::Auto if inside => Some(Path::Reverse),
        Mode::Auto => None,
    }
}

/// Path for a gradient or a VJP (one reverse pass against `n_in` lanes).
pub(crate) fn gradient(mode: Mode, inside: bool, n_in: usize) -> Path {
    match mode {
        Mode::AutoForward { .. } => Path::Forward,
        Mode::Auto if inside && switching_enabled() && n_in <= FORWARD_GRADIENT_MAX_INPUTS => {
            Path::Forward
        }
        _ => Path::Reverse,
    }
}

/// Path for a per-row Laplacian: the forward Laplacian (`d + 1` forward lanes, no
/// backward pass) unless the caller asked for `AutoReverse`.
pub(crate) fn laplacian(mode: Mode) -> Path {
    match mode {
        Mode::AutoReverse => Path::Reverse,
        _ => Path::Forward,
    }
}
