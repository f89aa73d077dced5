//! Which path a transform takes: the switching table of `DESIGN.md`, with the
//! thresholds chosen from the benchmarks (see the crate docs, "Switching").

use super::mode::{Mode, Path};
use super::switching::switching_enabled;

/// A gradient or VJP inside a reverse loss goes forward when the input has at
/// most this many entries: below it, lanes cost less than a nested backward pass.
pub const FORWARD_GRADIENT_MAX_INPUTS: usize = 64;

/// A reverse-mode Jacobian inside a reverse loss goes forward unless the input has
/// more than this many times as many entries as the output.
pub const FORWARD_JACOBIAN_MAX_RATIO: usize = 4;

/// Path for a full Jacobian `[out, in]`.
pub(crate) fn jacobian(mode: Mode, inside: bool, n_in: usize, n_out: usize) -> Path {
    let forward_is_cheaper = n_in <= n_out;
    match mode {
        Mode::AutoForward { .. } => Path::Forward,
        Mode::AutoReverse if inside && switching_enabled() => {
            if n_in <= FORWARD_JACOBIAN_MAX_RATIO * n_out {
                Path::Forward
            } else {
                Path::Reverse
            }
        }
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
    match mode {
        Mode::AutoForward { .. } => Path::Forward,
        _ if inside && switching_enabled() => Path::Forward,
        Mode::AutoReverse => Path::Reverse,
        Mode::Auto if inside => Path::Reverse,
        Mode::Auto if k_in <= k_out => Path::Forward,
        Mode::Auto => Path::Reverse,
    }
}

/// Path for a gradient or a VJP (one reverse pass against `n_in` lanes).
pub(crate) fn gradient(mode: Mode, inside: bool, n_in: usize) -> Path {
    match mode {
        Mode::AutoForward { .. } => Path::Forward,
        _ if inside && switching_enabled() && n_in <= FORWARD_GRADIENT_MAX_INPUTS => Path::Forward,
        _ => Path::Reverse,
    }
}
