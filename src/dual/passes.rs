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

use burn_backend::{Backend, Shape, TensorMetadata};

use super::lanes::Prim;
use crate::context;

/// What the passes of one transform call share: its random draws, in the order
/// the first pass made them, and the constants its rules made (see
/// [`call_constant`]).
#[derive(Default)]
struct Call {
    recorded: Vec<(Shape, Box<dyn Any>)>,
    /// The next draw of the current pass.
    cursor: usize,
    /// Constants by name, each a `(device, tensor)` of the backend that made it.
    constants: Vec<(String, Box<dyn Any>)>,
}

/// This module's part of the call [`context`].
pub(crate) struct Observations {
    /// One entry per transform call in progress on this thread (innermost last):
    /// a transform called inside a differentiated function gets its own draws.
    calls: Vec<Call>,
    /// Set while a draw is being made, so a `Dual<Dual<B>>` records it once, at the
    /// outer level, rather than once per nesting level.
    drawing: bool,
    /// How many times a `Dual` backend was asked whether autodiff is enabled.
    mode_queries: usize,
    /// The first op with an inexact Burn reverse rule met by the pass in progress.
    reverse_defect: Option<&'static str>,
}

impl Observations {
    /// Nothing in progress.
    pub(crate) const fn new() -> Self {
        Self {
            calls: Vec::new(),
            drawing: false,
            mode_queries: 0,
            reverse_defect: None,
        }
    }
}

/// Runs `f` on this module's part of the call context.
fn with<R>(f: impl FnOnce(&mut Observations) -> R) -> R {
    context::with(|cx| f(&mut cx.observations))
}

/// One transform call in progress: random draws made by its passes are shared
/// between them (see [`begin_pass`]) until the guard is dropped. A guard rather
/// than a closure, so that the transform's body, and the `#[track_caller]`
/// checks in it, are not inside a closure.
#[must_use = "the call's draws are shared only while the guard lives"]
pub(crate) struct SharedDraws(());

/// Starts one transform call (see [`SharedDraws`]).
pub(crate) fn shared_draws() -> SharedDraws {
    with(|o| o.calls.push(Call::default()));
    SharedDraws(())
}

impl Drop for SharedDraws {
    fn drop(&mut self) {
        // The recorded tensors are dropped after the context is released.
        let ended = with(|o| o.calls.pop());
        drop(ended);
    }
}

/// Starts a pass of the current transform call: its random draws replay the
/// first pass's from the beginning.
pub(crate) fn begin_pass() {
    with(|o| {
        if let Some(call) = o.calls.last_mut() {
            call.cursor = 0;
        }
    });
}

/// A constant tensor named `name` on `device`, made by `make` the first time the
/// current transform call asks for it on this backend and device, the same
/// tensor every later time (outside a transform call, made every time).
///
/// Why: the second-order rules weight lanes by masks of ones and zeros built
/// from host data; one per nonlinear op would be an upload per op on a GPU (12
/// a main-job step), where one per call is enough.
pub(crate) fn call_constant<B: Backend>(
    name: String,
    device: &B::Device,
    make: impl FnOnce() -> Prim<B>,
) -> Prim<B> {
    let kept = with(|o| {
        let call = o.calls.last()?;
        call.constants.iter().find_map(|(kept, value)| {
            let (on, tensor) = value.downcast_ref::<(B::Device, Prim<B>)>()?;
            (*kept == name && on == device).then(|| tensor.clone())
        })
    });
    if let Some(tensor) = kept {
        return tensor;
    }
    let tensor = make();
    let record = (
        name,
        Box::new((device.clone(), tensor.clone())) as Box<dyn Any>,
    );
    let unrecorded = with(|o| match o.calls.last_mut() {
        Some(call) => {
            call.constants.push(record);
            None
        }
        None => Some(record),
    });
    drop(unrecorded);
    tensor
}

/// A random tensor for a `Dual` pass: `draw()` outside a transform call or on the
/// call's first pass (recorded), the recorded tensor on every later pass.
///
/// # Panics
/// If a later pass draws a different shape at the same position: the function's
/// random draws then depend on its input, and no single function is differentiated.
pub(crate) fn shared_random<B: Backend>(shape: &Shape, draw: impl FnOnce() -> Prim<B>) -> Prim<B> {
    if with(|o| o.drawing) {
        return draw();
    }
    let replayed = with(|o| {
        let call = o.calls.last_mut()?;
        let (recorded_shape, tensor) = call.recorded.get(call.cursor)?;
        if recorded_shape != shape {
            return Some(Err(recorded_shape.clone()));
        }
        let tensor = tensor
            .downcast_ref::<Prim<B>>()
            .expect("a draw is replayed on the backend that made it")
            .clone();
        call.cursor += 1;
        Some(Ok(tensor))
    });
    match replayed {
        Some(Ok(tensor)) => return tensor,
        Some(Err(recorded_shape)) => panic!(
            "burn-nested: `float_random` in the differentiated function drew shape {:?} where \
             the transform's first pass drew {:?}; a transform replays one set of draws (one \
             Dropout mask) in all its passes, so the shape of every draw must depend on the \
             input's shape only, not on its values: draw a fixed shape, then slice or mask it",
            shape.as_slice(),
            recorded_shape.as_slice()
        ),
        None => {}
    }
    with(|o| o.drawing = true);
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            with(|o| o.drawing = false);
        }
    }
    let reset = Reset;
    let tensor = draw();
    drop(reset);
    let record = (tensor.shape(), Box::new(tensor.clone()) as Box<dyn Any>);
    let unrecorded = with(|o| match o.calls.last_mut() {
        Some(call) => {
            call.recorded.push(record);
            call.cursor += 1;
            None
        }
        None => Some(record),
    });
    drop(unrecorded);
    tensor
}

/// Notes that a `Dual` backend was asked for the train/eval mode.
pub(crate) fn note_mode_query() {
    with(|o| o.mode_queries += 1);
}

/// Notes that a pass ran `op`, whose reverse rule in Burn 0.21's `Autodiff` is
/// inexact (see [`Observed::reverse_defect`]).
pub(crate) fn note_reverse_defect(op: &'static str) {
    with(|o| {
        o.reverse_defect.get_or_insert(op);
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
///
/// A pass run inside another (a transform called by the function an enclosing
/// transform evaluates) reports to both: what the inner pass met, the outer
/// pass met too, since it ran it. (The mode questions are a running count, so
/// they reach the outer pass by themselves.)
pub(crate) fn observe<R>(pass: impl FnOnce() -> R) -> (R, Observed) {
    let (before, outer_defect) = with(|o| (o.mode_queries, o.reverse_defect.take()));
    let out = pass();
    let observed = with(|o| {
        let defect = o.reverse_defect.take();
        o.reverse_defect = outer_defect.or(defect);
        Observed {
            asks_mode: o.mode_queries != before,
            reverse_defect: defect,
        }
    });
    (out, observed)
}
