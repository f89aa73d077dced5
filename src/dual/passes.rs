//! What the passes of one transform call must share so they differentiate one
//! function: the random numbers the function draws, and whether it asked for
//! the train/eval mode.
//!
//! A transform may run the function several times (a probe for the output shape,
//! forward chunks, a nested backward). A `Dropout` drawing a new mask in each run
//! would make each Jacobian column the derivative of a different function. So,
//! inside a transform call, every random tensor a `Dual` pass draws is recorded
//! the first time and replayed, in order, by every later pass: one mask per call,
//! and the backend's random stream advances once per draw, as in an ordinary
//! forward pass.
//!
//! The same passes notice ops whose reverse rule in Burn 0.21 is inexact, so a
//! transform never lets a backward pass through them stand in for forward lanes.
//!
//! Burn's layers choose training or inference behaviour by asking their backend's
//! `ad_enabled`. `Dual<B>` answers for `B`, but `Autodiff<Dual<B>>` (the reverse
//! paths) always answers "training". Counting the questions a `Dual` pass asks
//! tells a transform whether its function depends on the mode at all, and so
//! whether a reverse pass would evaluate the same function as the caller's
//! backend.

use core::any::Any;
use std::cell::{Cell, RefCell};

use burn_backend::{Backend, Shape, TensorMetadata};

use super::lanes::Prim;

/// The random draws of one transform call, in the order the first pass made them.
#[derive(Default)]
struct Draws {
    recorded: Vec<(Shape, Box<dyn Any>)>,
    /// The next draw of the current pass.
    cursor: usize,
}

thread_local! {
    /// One entry per transform call in progress on this thread (innermost last):
    /// a transform called inside a differentiated function gets its own draws.
    static CALLS: RefCell<Vec<Draws>> = const { RefCell::new(Vec::new()) };
    /// Set while a draw is being made, so a `Dual<Dual<B>>` records it once, at the
    /// outer level, rather than once per nesting level.
    static DRAWING: Cell<bool> = const { Cell::new(false) };
    /// How many times a `Dual` backend was asked whether autodiff is enabled.
    static MODE_QUERIES: Cell<usize> = const { Cell::new(0) };
    /// The first op with an inexact Burn reverse rule met by the pass in progress.
    static REVERSE_DEFECT: Cell<Option<&'static str>> = const { Cell::new(None) };
}

/// One transform call in progress: random draws made by its passes are shared
/// between them (see [`begin_pass`]) until the guard is dropped. A guard rather
/// than a closure, so that the transform's body, and the `#[track_caller]`
/// checks in it, are not inside a closure.
#[must_use = "the call's draws are shared only while the guard lives"]
pub(crate) struct SharedDraws(());

/// Starts one transform call (see [`SharedDraws`]).
pub(crate) fn shared_draws() -> SharedDraws {
    CALLS.with(|c| c.borrow_mut().push(Draws::default()));
    SharedDraws(())
}

impl Drop for SharedDraws {
    fn drop(&mut self) {
        CALLS.with(|c| c.borrow_mut().pop());
    }
}

/// Starts a pass of the current transform call: its random draws replay the
/// first pass's from the beginning.
pub(crate) fn begin_pass() {
    CALLS.with(|c| {
        if let Some(call) = c.borrow_mut().last_mut() {
            call.cursor = 0;
        }
    });
}

/// A random tensor for a `Dual` pass: `draw()` outside a transform call or on the
/// call's first pass (recorded), the recorded tensor on every later pass.
///
/// # Panics
/// If a later pass draws a different shape at the same position: the function's
/// random draws then depend on its input, and no single function is differentiated.
pub(crate) fn shared_random<B: Backend>(shape: &Shape, draw: impl FnOnce() -> Prim<B>) -> Prim<B> {
    if DRAWING.with(Cell::get) {
        return draw();
    }
    let replayed = CALLS.with(|c| {
        let mut calls = c.borrow_mut();
        let call = calls.last_mut()?;
        let (recorded_shape, tensor) = call.recorded.get(call.cursor)?;
        assert!(
            recorded_shape == shape,
            "burn-nested: `float_random` in the differentiated function drew shape {:?} where \
             the transform's first pass drew {:?}; a transform replays one set of draws (one \
             Dropout mask) in all its passes, so the shape of every draw must depend on the \
             input's shape only, not on its values: draw a fixed shape, then slice or mask it",
            shape.as_slice(),
            recorded_shape.as_slice()
        );
        let tensor = tensor
            .downcast_ref::<Prim<B>>()
            .expect("a draw is replayed on the backend that made it")
            .clone();
        call.cursor += 1;
        Some(tensor)
    });
    if let Some(tensor) = replayed {
        return tensor;
    }
    DRAWING.with(|d| d.set(true));
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            DRAWING.with(|d| d.set(false));
        }
    }
    let reset = Reset;
    let tensor = draw();
    drop(reset);
    CALLS.with(|c| {
        if let Some(call) = c.borrow_mut().last_mut() {
            call.recorded
                .push((tensor.shape(), Box::new(tensor.clone())));
            call.cursor += 1;
        }
    });
    tensor
}

/// Notes that a `Dual` backend was asked for the train/eval mode.
pub(crate) fn note_mode_query() {
    MODE_QUERIES.with(|q| q.set(q.get() + 1));
}

/// Notes that a pass ran `op`, whose reverse rule in Burn 0.21's `Autodiff` is
/// inexact (see [`Observed::reverse_defect`]).
pub(crate) fn note_reverse_defect(op: &'static str) {
    REVERSE_DEFECT.with(|d| {
        if d.get().is_none() {
            d.set(Some(op));
        }
    });
}

/// What a pass revealed about the function it ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Observed {
    /// It asked a `Dual` backend for the train/eval mode (`BatchNorm`, `Dropout`
    /// and `GaussianNoise` do).
    pub asks_mode: bool,
    /// The first op it ran whose reverse rule in Burn 0.21's `Autodiff` is
    /// inexact, so a backward pass through the function would disagree with
    /// forward lanes: `prod` (`exp Σ log x`: NaN at zeros and negative entries),
    /// `cumprod` (NaN at zeros), `repeat_dim` (its backward assumes interleaved
    /// copies), `hard_sigmoid` (computed in f32).
    pub reverse_defect: Option<&'static str>,
}

/// Runs `pass` and reports what it revealed (see [`Observed`]).
pub(crate) fn observe<R>(pass: impl FnOnce() -> R) -> (R, Observed) {
    let before = MODE_QUERIES.with(Cell::get);
    let outer_defect = REVERSE_DEFECT.with(|d| d.replace(None));
    let out = pass();
    let observed = Observed {
        asks_mode: MODE_QUERIES.with(Cell::get) != before,
        reverse_defect: REVERSE_DEFECT.with(|d| d.replace(outer_defect)),
    };
    (out, observed)
}
