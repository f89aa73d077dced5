//! Measured switching: where burn-nested is free to pick a transform's path, it
//! tries both on the caller's own steps and keeps the faster.
//!
//! What is timed is the interval between one call of a transform and the next
//! call with the same key (transform, function structure, input shape, backend,
//! device, inside a loss or not). In a training loop that interval is one whole
//! step: the nested derivative, the rest of the loss, the outer backward pass
//! and the optimizer. Timing the transform alone would miss the outer backward,
//! whose cost differs most between the paths. Every path returns the same
//! derivative, so trying both changes no result.
//!
//! The schedule per key: [`TUNE_WARMUP`] + [`TUNE_SAMPLES`] calls on the shape
//! rule's path, as many on the other (fewer when its first timed step is three
//! times slower), then the decision. The decision is kept
//! for the process and shared by all threads. Trials run per thread (steps
//! interleaved from several threads would not time a step) and one key at a
//! time (two keys switching paths on the same steps would time each other's
//! choices); the other keys keep the shape rule's path meanwhile.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};
use std::time::Instant;

use burn::tensor::{Tensor, backend::Backend};

use super::mode::{Mode, Path};
use super::setting::{Setting, scoped_slot};
use super::switching::{count_tuning, switching_enabled};
use crate::layer::NestedFn;

/// The environment variable that turns measured switching off (`false`, `0`,
/// `off`) or on (`true`, `1`, `on`, the default). Read once, at the first
/// transform call.
pub const TUNE_ENV: &str = "BURN_NESTED_AD_TUNE";

/// Calls per path that run before timing starts (first-call allocations, lazy
/// initialisation).
pub const TUNE_WARMUP: usize = 1;

/// Step intervals timed per path. An even number, so a loop that calls the same
/// transform twice per step times whole steps.
pub const TUNE_SAMPLES: usize = 4;

/// At most this many decisions are kept; a new key beyond them evicts one.
pub const TUNE_CACHE: usize = 1024;

scoped_slot!(TUNE_SCOPED);
static TUNING: Setting = Setting::new(TUNE_ENV, &TUNE_SCOPED);

/// Whether measured switching is on for the current thread: a [`with_tuning`]
/// scope wins, then [`set_tuning`], then the [`TUNE_ENV`] variable; on by
/// default. It applies where switching may choose the path (`Mode::Auto`, and
/// `Mode::AutoReverse` inside a loss) and only while
/// [`switching_enabled`](crate::switching_enabled). With it off, the shape rules
/// of [`policy`](crate::transforms::policy) decide alone.
pub fn tuning_enabled() -> bool {
    TUNING.enabled()
}

/// Turns measured switching on or off for every thread (overrides the
/// environment).
pub fn set_tuning(enabled: bool) {
    TUNING.set(enabled)
}

/// Runs `f` with measured switching on or off on this thread only.
pub fn with_tuning<R>(enabled: bool, f: impl FnOnce() -> R) -> R {
    TUNING.scoped(enabled, f)
}

/// A path between which measured switching chooses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TunedPath {
    /// `Dual` lanes (forward mode).
    Forward,
    /// A nested backward pass (reverse mode).
    Reverse,
}

impl From<Path> for TunedPath {
    fn from(path: Path) -> Self {
        match path {
            Path::Forward => TunedPath::Forward,
            Path::Reverse => TunedPath::Reverse,
        }
    }
}

impl From<TunedPath> for Path {
    fn from(path: TunedPath) -> Self {
        match path {
            TunedPath::Forward => Path::Forward,
            TunedPath::Reverse => Path::Reverse,
        }
    }
}

/// One decision of measured switching, as [`tuning_decisions`] reports it. To pin
/// it, call the transform with the matching explicit mode
/// (`Mode::AutoForward { chunk: None }` or, with switching off,
/// `Mode::AutoReverse`).
#[derive(Debug, Clone, PartialEq)]
pub struct TuningDecision {
    /// The transform (`"jacobian"`, `"batched_jacobian"`, `"gradient"`, ...).
    pub transform: &'static str,
    /// The backend's type name.
    pub backend: &'static str,
    /// The device, as its `Debug` form.
    pub device: String,
    /// The input's shape.
    pub input_dims: Vec<usize>,
    /// Whether the calls ran inside a loss (the input on an `Autodiff` backend).
    pub inside_loss: bool,
    /// The path kept.
    pub chosen: TunedPath,
    /// Mean time per step on forward lanes, in milliseconds; `NaN` when the
    /// decision was made without timing (see `reverse_ms`).
    pub forward_ms: f64,
    /// Mean time per step on the reverse path, in milliseconds. Both times are
    /// `NaN` when the shape rule's path was kept without a trial: the other
    /// path's lanes were too many to be worth one, or the reverse path cannot
    /// evaluate this function (see [`jacobian`](crate::jacobian)).
    pub reverse_ms: f64,
}

/// What identifies one tuning decision.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Key {
    transform: &'static str,
    backend: &'static str,
    device: String,
    input_dims: Vec<usize>,
    structure: u64,
    inside: bool,
}

impl Key {
    fn decision(&self, chosen: TunedPath, forward_ms: f64, reverse_ms: f64) -> TuningDecision {
        TuningDecision {
            transform: self.transform,
            backend: self.backend,
            device: self.device.clone(),
            input_dims: self.input_dims.clone(),
            inside_loss: self.inside,
            chosen,
            forward_ms,
            reverse_ms,
        }
    }
}

/// The key of a call where burn-nested is free to choose its path: `Mode::Auto`,
/// or `Mode::AutoReverse` inside a loss, with switching on. `None` when it is not
/// free, when switching or tuning is off, or when `f` has no
/// [`structure_key`](crate::NestedFn::structure_key) (calls could not be told
/// apart).
pub(crate) fn key<B, F, const DI: usize, const DO: usize>(
    transform: &'static str,
    f: &F,
    x: &Tensor<B, DI>,
    mode: Mode,
    inside: bool,
) -> Option<Key>
where
    B: Backend,
    F: NestedFn<B, DI, DO> + ?Sized,
{
    let free = match mode {
        Mode::Auto => true,
        Mode::AutoReverse => inside,
        Mode::AutoForward { .. } => false,
    };
    if !free || !switching_enabled() || !tuning_enabled() {
        return None;
    }
    Some(Key {
        transform,
        backend: core::any::type_name::<B>(),
        device: format!("{:?}", x.device()),
        input_dims: x.dims().to_vec(),
        structure: f.structure_key()?,
        inside,
    })
}

/// One path's trial: calls made, and the step intervals timed.
#[derive(Debug, Default)]
struct Side {
    calls: usize,
    intervals: Vec<f64>,
}

impl Side {
    fn done(&self) -> bool {
        self.intervals.len() >= TUNE_SAMPLES
    }

    fn mean_ms(&self) -> f64 {
        1e3 * self.intervals.iter().sum::<f64>() / self.intervals.len() as f64
    }
}

/// A key's trial on this thread: the shape rule's path first, then the other.
#[derive(Debug)]
struct Trial {
    key: Key,
    first: Path,
    sides: [Side; 2],
    /// When the latest call started and which side it took.
    last: Option<(Instant, usize)>,
    /// The thread's call tick of the latest call.
    last_tick: u64,
}

/// This thread's trial in progress. One key at a time: two keys tried at once
/// would switch paths on the same steps and time each other's choices.
#[derive(Debug, Default)]
struct Trials {
    /// Calls of free transforms on this thread.
    tick: u64,
    active: Option<Trial>,
}

/// After one timed step, a second path this many times slower than the first
/// ends the trial.
const CLEARLY_SLOWER: f64 = 3.0;

/// A trial whose key has not been called for this many calls of other keys is
/// abandoned (a one-off call, not a loop), so it cannot block the keys after it.
const ABANDON_AFTER_TICKS: u64 = 256;

static DECISIONS: LazyLock<Mutex<HashMap<Key, TuningDecision>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

thread_local! {
    static TRIALS: RefCell<Trials> = RefCell::new(Trials::default());
}

fn decisions() -> std::sync::MutexGuard<'static, HashMap<Key, TuningDecision>> {
    // A panic while the lock was held (in a user's function, elsewhere) leaves the
    // map intact: every insert is a single call.
    DECISIONS.lock().unwrap_or_else(|e| e.into_inner())
}

fn other(path: Path) -> Path {
    match path {
        Path::Forward => Path::Reverse,
        Path::Reverse => Path::Forward,
    }
}

/// Whether the path the shape rule did not pick is worth a trial: its lanes
/// (forward lanes, or reverse cotangent lanes, each counted as
/// [`REVERSE_LANE_COST`] forward ones) are at most [`TRY_LANE_RATIO`] times the
/// rule's. Beyond that the rule's choice is clear, and the other path can be
/// slower and larger by orders of magnitude (a PINN gradient over 1024 inputs
/// on forward lanes carries 1024 copies of every activation).
pub(crate) fn worth_trying(rule: Path, forward_lanes: usize, reverse_lanes: usize) -> bool {
    let reverse = REVERSE_LANE_COST * reverse_lanes.max(1);
    let forward = forward_lanes.max(1);
    match rule {
        Path::Forward => reverse <= TRY_LANE_RATIO * forward,
        Path::Reverse => forward <= TRY_LANE_RATIO * reverse,
    }
}

/// See [`worth_trying`].
const TRY_LANE_RATIO: usize = 8;

/// A reverse cotangent lane (or a gradient's one backward pass) costs about this
/// many forward lanes (see [`policy`](super::policy)'s measurements).
const REVERSE_LANE_COST: usize = 2;

/// The path for this call: the decision if the key has one, else the next step
/// of the key's trial (which may end it), else (another key's trial is running
/// on this thread) `rule`, the shape rule's path. `worth` (see [`worth_trying`])
/// is asked before a trial starts; a key not worth one keeps `rule` untimed.
pub(crate) fn choose(key: Option<&Key>, rule: Path, worth: impl FnOnce() -> bool) -> Path {
    let Some(key) = key else {
        return rule;
    };
    if let Some(d) = decisions().get(key) {
        return d.chosen.into();
    }
    let starting = TRIALS.with(|t| t.borrow().active.as_ref().is_none_or(|a| a.key != *key));
    if starting && !worth() {
        remember(key, key.decision(rule.into(), f64::NAN, f64::NAN));
        return rule;
    }
    let now = Instant::now();
    let step = TRIALS.with(|trials| {
        let trials = &mut *trials.borrow_mut();
        trials.tick += 1;
        let tick = trials.tick;
        if let Some(t) = &trials.active
            && t.key != *key
        {
            if tick - t.last_tick <= ABANDON_AFTER_TICKS {
                return None;
            }
            trials.active = None;
        }
        let trial = trials.active.get_or_insert_with(|| Trial {
            key: key.clone(),
            first: rule,
            sides: Default::default(),
            last: None,
            last_tick: tick,
        });
        trial.last_tick = tick;
        // The interval since the previous call is the step that call took.
        if let Some((start, side)) = trial.last {
            let s = &mut trial.sides[side];
            if s.calls > TUNE_WARMUP && !s.done() {
                s.intervals.push(now.duration_since(start).as_secs_f64());
            }
        }
        // The other path is clearly slower after one timed step: stop there, so
        // a trial costs at most two slow steps beyond the shape rule's.
        let clearly_slower = trial.sides[0].done()
            && !trial.sides[1].intervals.is_empty()
            && trial.sides[1].mean_ms() > CLEARLY_SLOWER * trial.sides[0].mean_ms();
        if clearly_slower || trial.sides.iter().all(Side::done) {
            let trial = trials.active.take().expect("the trial just read");
            let [a, b] = [trial.sides[0].mean_ms(), trial.sides[1].mean_ms()];
            let (first, second) = (trial.first, other(trial.first));
            // Ties keep the shape rule's path.
            let chosen = if b < a { second } else { first };
            let (forward_ms, reverse_ms) = match first {
                Path::Forward => (a, b),
                Path::Reverse => (b, a),
            };
            let decision = key.decision(chosen.into(), forward_ms, reverse_ms);
            return Some((chosen, Some(decision)));
        }
        let side = usize::from(trial.sides[0].done());
        trial.sides[side].calls += 1;
        trial.last = Some((now, side));
        let path = if side == 0 {
            trial.first
        } else {
            other(trial.first)
        };
        Some((path, None))
    });
    match step {
        None => rule,
        Some((chosen, Some(decision))) => {
            remember(key, decision);
            chosen
        }
        Some((path, None)) => {
            count_tuning();
            path
        }
    }
}

/// The reverse path turned out unable to evaluate the function (see
/// [`reverse_is_faithful`](super::engine::reverse_is_faithful)): forward lanes
/// are kept for the key without timing.
pub(crate) fn reverse_refused(key: Option<&Key>) {
    let Some(key) = key else {
        return;
    };
    TRIALS.with(|t| {
        let trials = &mut *t.borrow_mut();
        if trials.active.as_ref().is_some_and(|a| a.key == *key) {
            trials.active = None;
        }
    });
    remember(key, key.decision(TunedPath::Forward, f64::NAN, f64::NAN));
}

fn remember(key: &Key, decision: TuningDecision) {
    let mut map = decisions();
    if map.len() >= TUNE_CACHE && !map.contains_key(key) {
        let evicted = map.keys().next().cloned();
        if let Some(k) = evicted {
            map.remove(&k);
        }
    }
    map.insert(key.clone(), decision);
}

/// Every decision measured switching has made in this process, for every
/// thread.
pub fn tuning_decisions() -> Vec<TuningDecision> {
    decisions().values().cloned().collect()
}

/// Forgets every decision and this thread's trials in progress; the next calls
/// measure again.
pub fn clear_tuning() {
    decisions().clear();
    TRIALS.with(|t| t.borrow_mut().active = None);
}
