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
//!
//! Decisions can be kept across runs, as FFTW keeps its "wisdom":
//! [`save_tuning`] writes them to a text file, [`load_tuning`] reads them back,
//! and a later run of the same program takes the same paths with no trial.
//! Loaded decisions match on the function's
//! [`portable_key`](crate::NestedFn::portable_key), which (unlike its
//! `structure_key`, built on parameter ids Burn draws at random) is the same in
//! every run.

use std::collections::{HashMap, HashSet};
use std::io;
use std::path::Path as FilePath;
use std::time::Instant;

use burn::tensor::{Tensor, backend::Backend};

use super::counts::count_tuning;
use super::options::Options;
use crate::context;
use crate::layer::NestedFn;
use crate::transforms::mode::{Mode, Path};

/// Calls per path that run before timing starts (first-call allocations, lazy
/// initialisation).
pub const TUNE_WARMUP: usize = 1;

/// Step intervals timed per path. An even number, so a loop that calls the same
/// transform twice per step times whole steps.
pub const TUNE_SAMPLES: usize = 4;

/// At most this many decisions are kept; a new key beyond them evicts one.
pub const TUNE_CACHE: usize = 1024;

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
/// (`Mode::AutoForward { chunk: None }` or `Mode::AutoReverse`).
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
    /// The function's [`NestedFn::portable_key`], when it has one.
    portable: Option<u64>,
    inside: bool,
}

/// What identifies a decision across runs: a [`Key`] with the function's
/// portable key in place of its structure key. Loaded decisions are kept under
/// it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Portable {
    transform: String,
    backend: String,
    device: String,
    input_dims: Vec<usize>,
    structure: u64,
    inside: bool,
}

/// A decision read from a file, waiting for a call with its [`Portable`] key.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Loaded {
    chosen: TunedPath,
    forward_ms: f64,
    reverse_ms: f64,
}

impl Key {
    fn portable(&self) -> Option<Portable> {
        Some(Portable {
            transform: self.transform.to_string(),
            backend: self.backend.to_string(),
            device: self.device.clone(),
            input_dims: self.input_dims.clone(),
            structure: self.portable?,
            inside: self.inside,
        })
    }

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

/// The key of a call where burn-nested is free to choose its path: `Mode::Auto`
/// with switching on (with tuning off, [`choose`] then keeps to the shape rule).
/// `None` when it is not free, when switching is off, or when `f` has no
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
    key_at::<B, F, DI, DO>(transform, f, &x.dims(), &x.device(), mode, inside)
}

/// [`key`] for an input of shape `dims` on `device`, without the input itself
/// (the key reads nothing else of it).
pub(crate) fn key_at<B, F, const DI: usize, const DO: usize>(
    transform: &'static str,
    f: &F,
    dims: &[usize; DI],
    device: &B::Device,
    mode: Mode,
    inside: bool,
) -> Option<Key>
where
    B: Backend,
    F: NestedFn<B, DI, DO> + ?Sized,
{
    // Only `Auto` leaves the path to burn-nested; explicit modes are honoured.
    let free = mode == Mode::Auto;
    // With tuning off the key still serves: the shape rule's forward choices are
    // remembered, so a transform can skip the pass that only fed the rule.
    if !free || !Options::current().switching {
        return None;
    }
    Some(Key {
        transform,
        backend: core::any::type_name::<B>(),
        device: format!("{device:?}"),
        input_dims: dims.to_vec(),
        structure: f.structure_key()?,
        portable: f.portable_key(),
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
#[derive(Debug)]
pub(crate) struct Trials {
    /// Calls of free transforms on this thread.
    tick: u64,
    active: Option<Trial>,
}

impl Trials {
    /// No call yet, no trial.
    pub(crate) const fn new() -> Self {
        Self {
            tick: 0,
            active: None,
        }
    }
}

/// Runs `f` on this thread's trials, kept in the call [`context`].
fn with_trials<R>(f: impl FnOnce(&mut Trials) -> R) -> R {
    context::with(|cx| f(&mut cx.trials))
}

/// Ends this thread's trial of `key`, if one is running (a decision for `key`
/// has been made another way).
fn end_trial(key: &Key) {
    with_trials(|trials| {
        if trials.active.as_ref().is_some_and(|a| a.key == *key) {
            trials.active = None;
        }
    });
}

impl Drop for Trials {
    /// A thread that ends in the middle of a trial leaves it to the next thread
    /// that calls the key: burn-train's multi-device strategy runs every epoch's
    /// steps on fresh worker threads, and a trial longer than an epoch would
    /// otherwise start over each epoch and never end. The steps timed so far stay
    /// valid; only the interval of the last call is lost.
    fn drop(&mut self) {
        if let Some(trial) = self.active.take() {
            decisions().orphan(trial);
        }
    }
}

/// After one timed step, a second path this many times slower than the first
/// ends the trial.
const CLEARLY_SLOWER: f64 = 3.0;

/// A trial whose key has not been called for this many calls of other keys is
/// abandoned (a one-off call, not a loop), so it cannot block the keys after it.
const ABANDON_AFTER_TICKS: u64 = 256;

/// The decisions of the process: those in use, and those loaded from a file.
#[derive(Debug, Default)]
pub(crate) struct Store {
    /// Decisions made in this run, or loaded and met by a call (at most
    /// [`TUNE_CACHE`]).
    made: HashMap<Key, TuningDecision>,
    /// Decisions loaded by [`load_tuning`], by portable key.
    loaded: HashMap<Portable, Loaded>,
    /// Trials left unfinished by threads that ended (see `Trials`'s `Drop`).
    orphans: Vec<Trial>,
    /// Keys for which the shape rule chose forward lanes while tuning was off (at
    /// most [`TUNE_CACHE`]): the same function at the same input shape gets the
    /// same rule, so its next call skips the pass that learned the output size.
    forward_by_rule: HashSet<Key>,
}

impl Store {
    fn remember(&mut self, key: &Key, decision: TuningDecision) {
        let map = &mut self.made;
        if map.len() >= TUNE_CACHE && !map.contains_key(key) {
            let evicted = map.keys().next().cloned();
            if let Some(k) = evicted {
                map.remove(&k);
            }
        }
        map.insert(key.clone(), decision);
        self.orphans.retain(|t| t.key != *key);
    }

    /// Keeps a trial whose thread ended, for the next thread to call its key (at
    /// most [`TUNE_CACHE`], the oldest dropped first).
    fn orphan(&mut self, mut trial: Trial) {
        if self.made.contains_key(&trial.key) {
            return;
        }
        trial.last = None;
        if self.orphans.len() >= TUNE_CACHE {
            self.orphans.remove(0);
        }
        self.orphans.push(trial);
    }

    /// Takes over the unfinished trial of `key` that an ended thread left.
    fn adopt(&mut self, key: &Key) -> Option<Trial> {
        let i = self.orphans.iter().position(|t| t.key == *key)?;
        Some(self.orphans.swap_remove(i))
    }
}

fn decisions() -> std::sync::MutexGuard<'static, Store> {
    // A panic while the lock was held (in a user's function, elsewhere) leaves the
    // maps intact: every change is a single call.
    super::PROCESS
        .decisions
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

/// The path measured switching has settled on for `key`, if any. A transform
/// that evaluates `f` once only to choose its path skips that evaluation once
/// the choice is made.
pub(crate) fn settled(key: Option<&Key>) -> Option<Path> {
    let key = key?;
    if !Options::current().tuning {
        return decisions()
            .forward_by_rule
            .contains(key)
            .then_some(Path::Forward);
    }
    decided(key).map(Into::into)
}

/// With tuning off, the shape rule decides; a forward choice is remembered for
/// [`settled`]. Decisions made or loaded are not used: off means by rule.
fn by_rule(key: &Key, rule: Path) -> Path {
    if rule == Path::Forward {
        let mut store = decisions();
        if store.forward_by_rule.len() >= TUNE_CACHE && !store.forward_by_rule.contains(key) {
            store.forward_by_rule.clear();
        }
        store.forward_by_rule.insert(key.clone());
    }
    rule
}

/// The decision for `key`: one in use, else a loaded one for its portable key
/// (then put in use).
fn decided(key: &Key) -> Option<TunedPath> {
    let mut store = decisions();
    if let Some(d) = store.made.get(key) {
        return Some(d.chosen);
    }
    if store.loaded.is_empty() {
        return None;
    }
    let l = *store.loaded.get(&key.portable()?)?;
    store.remember(key, key.decision(l.chosen, l.forward_ms, l.reverse_ms));
    drop(store);
    // A trial of this key begun before the load is over.
    end_trial(key);
    Some(l.chosen)
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
    if !Options::current().tuning {
        return by_rule(key, rule);
    }
    if let Some(chosen) = decided(key) {
        return chosen.into();
    }
    let starting = with_trials(|t| t.active.as_ref().is_none_or(|a| a.key != *key));
    if starting && !worth() {
        remember(key, key.decision(rule.into(), f64::NAN, f64::NAN));
        return rule;
    }
    let now = Instant::now();
    let step = with_trials(|trials| {
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
        let trial = trials.active.get_or_insert_with(|| {
            decisions().adopt(key).unwrap_or_else(|| Trial {
                key: key.clone(),
                first: rule,
                sides: Default::default(),
                last: None,
                last_tick: tick,
            })
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
        // Only the first timed step is judged so: the trial's length then
        // depends on one comparison, not on when a noisy step comes.
        let clearly_slower = trial.sides[0].done()
            && trial.sides[1].intervals.len() == 1
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
/// [`reverse_is_faithful`](crate::transforms::engine::reverse_is_faithful)): forward lanes
/// are kept for the key without timing.
pub(crate) fn reverse_refused(key: Option<&Key>) {
    let Some(key) = key else {
        return;
    };
    if !Options::current().tuning {
        by_rule(key, Path::Forward);
        return;
    }
    end_trial(key);
    remember(key, key.decision(TunedPath::Forward, f64::NAN, f64::NAN));
}

fn remember(key: &Key, decision: TuningDecision) {
    decisions().remember(key, decision);
}

/// Every decision in use in this process, for every thread: those measured
/// switching made, and those loaded by [`load_tuning`] that a call has met
/// (with the times the file holds). Loaded decisions no call has met yet are
/// not listed; [`save_tuning`] writes them.
pub fn tuning_decisions() -> Vec<TuningDecision> {
    decisions().made.values().cloned().collect()
}

/// Forgets every decision, loaded ones included, and this thread's trials in
/// progress; the next calls measure again.
pub fn clear_tuning() {
    let mut store = decisions();
    store.made.clear();
    store.loaded.clear();
    store.orphans.clear();
    store.forward_by_rule.clear();
    drop(store);
    with_trials(|t| t.active = None);
}

/// The first line of a file of tuning decisions, with the format's version.
const FILE_HEADER: &str = "burn-nested tuning decisions v1";

/// The line after the header that names the columns (a comment).
const FILE_COLUMNS: &str = "# transform\tbackend\tdevice\tinput_dims\tportable_key\t\
                            inside_loss\tchosen\tforward_ms\treverse_ms";

/// Writes every decision of this process to the text file at `path`
/// (replacing it), so a later run of the same program can [`load_tuning`] it
/// and take the same paths with no trial, as FFTW keeps its "wisdom". Returns
/// how many decisions were written: those in use (see [`tuning_decisions`])
/// and those loaded that no call has met.
///
/// A decision is written only when its function has a
/// [`portable_key`](crate::NestedFn::portable_key) ([`StatefulLayer`](crate::StatefulLayer),
/// [`Pure`](crate::Pure), their compositions and parameter views do; a
/// hand-written [`NestedFn`] has none unless it implements one).
///
/// The file is plain text: the line `burn-nested tuning decisions v1`, a
/// comment line naming the columns, then one decision per line, sorted, its
/// fields separated by tabs: transform, backend type name, device (`Debug`
/// form), input dims (`16,2`), portable key (16 hex digits), inside a loss
/// (`true`/`false`), the path kept (`Forward`/`Reverse`), and both paths'
/// milliseconds per step (`NaN` when not timed). A tab, newline, carriage
/// return or backslash within a field is written `\t`, `\n`, `\r`, `\\`.
/// It is valid for reruns of the same program built the same way (type names
/// and the keys' hash are those of one build), with the same shapes, backend
/// and device; a decision that no call matches is simply unused. See docs/modes-and-switching.md,
/// "Reproducible runs".
///
/// # Errors
/// Any error writing the file.
pub fn save_tuning(path: impl AsRef<FilePath>) -> io::Result<usize> {
    let mut lines = Vec::new();
    {
        let store = decisions();
        // Decisions in use win over loaded ones; where two functions share a
        // portable key (two models of one type and shapes), the smallest line,
        // so the file does not depend on the map's order.
        let mut made: Vec<(Portable, String)> = store
            .made
            .iter()
            .filter_map(|(key, d)| {
                let p = key.portable()?;
                let l = Loaded {
                    chosen: d.chosen,
                    forward_ms: d.forward_ms,
                    reverse_ms: d.reverse_ms,
                };
                let text = line(&p, &l);
                Some((p, text))
            })
            .collect();
        made.sort();
        made.dedup_by(|b, a| a.0 == b.0);
        let seen: HashSet<&Portable> = made.iter().map(|(p, _)| p).collect();
        for (p, l) in &store.loaded {
            if !seen.contains(p) {
                lines.push(line(p, l));
            }
        }
        lines.extend(made.iter().map(|(_, text)| text.clone()));
    }
    lines.sort();
    let mut text = format!("{FILE_HEADER}\n{FILE_COLUMNS}\n");
    for l in &lines {
        text.push_str(l);
        text.push('\n');
    }
    std::fs::write(path, text)?;
    Ok(lines.len())
}

/// Reads decisions that [`save_tuning`] wrote, for this and later calls: a
/// call whose key matches one (transform, backend type name, device, input
/// dims, inside a loss or not, and the function's
/// [`portable_key`](crate::NestedFn::portable_key)) takes its path with no
/// trial. A loaded decision replaces one this run made for the same key, and
/// one loaded before. Returns how many decisions the file holds.
///
/// Decisions that no call matches (another program, other shapes, another
/// backend or device) are kept unused. Load before training: a trial already
/// running for a matching key ends at the next call.
///
/// # Errors
/// Any error reading the file; an error of kind
/// [`InvalidData`](io::ErrorKind::InvalidData), naming the line, for a file
/// whose first line is not the header `save_tuning` writes or with a line it
/// cannot read. Nothing is loaded then: the decisions stay as they were.
pub fn load_tuning(path: impl AsRef<FilePath>) -> io::Result<usize> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path)?;
    let parsed = parse_file(&text).map_err(|(line, why)| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "burn-nested: `load_tuning` cannot read {}, line {line}: {why}; load only a file \
                 that `save_tuning` wrote (this version), or delete it to tune afresh",
                path.display()
            ),
        )
    })?;
    let count = parsed.len();
    let mut store = decisions();
    let keys: HashSet<&Portable> = parsed.iter().map(|(p, _)| p).collect();
    store
        .made
        .retain(|k, _| k.portable().is_none_or(|p| !keys.contains(&p)));
    drop(keys);
    store.loaded.extend(parsed);
    Ok(count)
}

/// One decision as a line of the file (no newline).
fn line(p: &Portable, l: &Loaded) -> String {
    let dims: Vec<String> = p.input_dims.iter().map(usize::to_string).collect();
    let fields = [
        escape(&p.transform),
        escape(&p.backend),
        escape(&p.device),
        dims.join(","),
        format!("{:016x}", p.structure),
        p.inside.to_string(),
        format!("{:?}", l.chosen),
        l.forward_ms.to_string(),
        l.reverse_ms.to_string(),
    ];
    fields.join("\t")
}

/// The decisions of a file's text, or the number of the first bad line (from
/// 1) and what is wrong with it.
fn parse_file(text: &str) -> Result<Vec<(Portable, Loaded)>, (usize, String)> {
    let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l));
    match lines.next() {
        Some((_, header)) if header.trim_end() == FILE_HEADER => {}
        Some((n, other)) => {
            return Err((
                n,
                format!("expected the header {FILE_HEADER:?}, found {other:?}"),
            ));
        }
        None => return Err((1, format!("the file is empty, expected {FILE_HEADER:?}"))),
    }
    let mut out = Vec::new();
    for (n, text) in lines {
        if text.trim().is_empty() || text.starts_with('#') {
            continue;
        }
        out.push(parse_line(text).map_err(|why| (n, why))?);
    }
    Ok(out)
}

/// One decision line of the file.
fn parse_line(text: &str) -> Result<(Portable, Loaded), String> {
    let fields: Vec<&str> = text.split('\t').collect();
    let [
        transform,
        backend,
        device,
        dims,
        key,
        inside,
        chosen,
        fwd,
        rev,
    ] = fields[..]
    else {
        return Err(format!(
            "{} tab-separated fields, expected 9 (transform, backend, device, input_dims, \
             portable_key, inside_loss, chosen, forward_ms, reverse_ms)",
            fields.len()
        ));
    };
    let input_dims = dims
        .split(',')
        .map(|d| d.trim().parse::<usize>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| format!("input dims {dims:?} are not numbers separated by commas"))?;
    let structure = match key.len() {
        16 => u64::from_str_radix(key, 16).ok(),
        _ => None,
    }
    .ok_or_else(|| format!("portable key {key:?} is not 16 hex digits"))?;
    let inside = match inside {
        "true" => true,
        "false" => false,
        _ => return Err(format!("inside_loss {inside:?} is not `true` or `false`")),
    };
    let chosen = match chosen {
        "Forward" => TunedPath::Forward,
        "Reverse" => TunedPath::Reverse,
        _ => return Err(format!("path {chosen:?} is not `Forward` or `Reverse`")),
    };
    let ms = |s: &str| {
        s.parse::<f64>()
            .map_err(|_| format!("time {s:?} is not a number (or `NaN`)"))
    };
    let portable = Portable {
        transform: unescape(transform)?,
        backend: unescape(backend)?,
        device: unescape(device)?,
        input_dims,
        structure,
        inside,
    };
    let loaded = Loaded {
        chosen,
        forward_ms: ms(fwd)?,
        reverse_ms: ms(rev)?,
    };
    Ok((portable, loaded))
}

/// A field with its tabs, newlines and backslashes escaped.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out
}

/// The inverse of [`escape`].
fn unescape(s: &str) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('\\') => out.push('\\'),
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            other => return Err(format!("field {s:?} has a bad escape {other:?}")),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_reads_back_as_written() {
        let p = Portable {
            transform: "laplacian".into(),
            backend: "Autodiff<NdArray<f32, i64, i8>>".into(),
            device: "we\tird\\dev\nice".into(),
            input_dims: vec![16, 2],
            structure: 0x0123_4567_89ab_cdef,
            inside: true,
        };
        let l = Loaded {
            chosen: TunedPath::Reverse,
            forward_ms: 1.0 / 3.0,
            reverse_ms: f64::NAN,
        };
        let (q, m) = parse_line(&line(&p, &l)).expect("a line save writes");
        assert_eq!(q, p);
        assert_eq!(m.chosen, l.chosen);
        assert_eq!(m.forward_ms.to_bits(), l.forward_ms.to_bits());
        assert!(m.reverse_ms.is_nan());
    }
}
