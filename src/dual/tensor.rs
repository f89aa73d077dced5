//! The float primitive of [`Dual`](crate::Dual): a primal plus optional tangent lanes.

use std::sync::{Arc, OnceLock};

use burn_backend::{Backend, DType, Shape, TensorMetadata};

use super::lanes::Prim;
use super::second::Layout;

/// A float tensor of the forward-mode backend [`Dual<B>`](crate::Dual).
///
/// The [primal](Self::primal) is the ordinary value on `B`. The
/// [tangent](Self::tangent), when present, holds one directional derivative per
/// *lane* stacked on a leading axis, so its shape is `[lanes, ..primal shape]`.
/// `None` stands for a zero tangent and costs nothing: rules skip every term
/// that would multiply it.
///
/// The parts are read through methods and a value is built whole
/// ([`new`](Self::new), [`constant`](Self::constant)): a tangent-free value
/// shares a record of what it produced with its clones, which would go stale if
/// a part of one clone could be replaced.
#[derive(Debug, Clone)]
pub struct DualTensor<B: Backend> {
    /// The value, a primitive of the inner backend.
    pub(crate) primal: B::FloatTensorPrimitive,
    /// The tangent lanes `[lanes, ..primal shape]`, or `None` for zero.
    pub(crate) tangent: Option<B::FloatTensorPrimitive>,
    /// A tangent-free value's output under one unary op, shared by its clones
    /// (see [`Recalled`]).
    pub(crate) recalled: Recalled<B>,
    /// How the tangent's lanes are laid out when they belong to a second-order
    /// pass (see `dual::second`); `None` for first-order lanes and for a value
    /// without a tangent. A rule's output takes it from its tangent-carrying
    /// inputs, so the layout travels with the lanes it describes.
    pub(crate) layout: Option<Layout>,
}

/// The output of one unary op (named) applied to a tangent-free value, kept
/// with the value and its clones.
///
/// Why: Burn 0.21's `Autodiff` recomputes `tanh`, `exp`, `sigmoid` and `tan` from
/// their input in the backward pass (the input is what it checkpoints). In a
/// nested backward on `Autodiff<Dual<B>>` that recomputation is an op on the
/// outer tape, with its own backward (five more ops for `tanh`) when the outer
/// loss is differentiated. The checkpointed input is a clone of the value the
/// forward op consumed, so a cell shared by the clones hands the backward the
/// forward's output instead: the same values, no op.
pub(crate) type Recalled<B> = Option<Arc<OnceLock<(&'static str, Prim<B>)>>>;

impl<B: Backend> DualTensor<B> {
    /// The value, a primitive of the inner backend.
    pub fn primal(&self) -> &B::FloatTensorPrimitive {
        &self.primal
    }

    /// The tangent lanes `[lanes, ..primal shape]`, or `None` for a zero tangent.
    pub fn tangent(&self) -> Option<&B::FloatTensorPrimitive> {
        self.tangent.as_ref()
    }

    /// The primal and the tangent, taken apart.
    pub fn into_parts(self) -> (B::FloatTensorPrimitive, Option<B::FloatTensorPrimitive>) {
        (self.primal, self.tangent)
    }

    /// A dual with a zero (absent) tangent.
    pub fn constant(primal: B::FloatTensorPrimitive) -> Self {
        Self {
            primal,
            tangent: None,
            recalled: Some(Arc::default()),
            layout: None,
        }
    }

    /// A dual with the given tangent lanes.
    ///
    /// # Panics
    /// If the tangent's shape is not `[lanes, ..primal shape]` with `lanes >= 1`.
    #[track_caller]
    pub fn new(primal: B::FloatTensorPrimitive, tangent: Option<B::FloatTensorPrimitive>) -> Self {
        if let Some(t) = &tangent {
            let (p, ts) = (primal.shape(), t.shape());
            assert!(
                ts.num_dims() == p.num_dims() + 1 && ts[0] >= 1 && ts[1..] == p[..],
                "burn-nested: `seed`/`DualTensor::new`: a tangent must have shape [lanes, ..primal \
                 shape] with lanes >= 1; primal shape is {:?} but tangent shape is {:?}; stack \
                 directions shaped like the primal on a new leading dim, at least one",
                p.as_slice(),
                ts.as_slice()
            );
        }
        Self::from_parts(primal, tangent, None)
    }

    /// A dual from its parts, without the shape check of [`new`](Self::new): what
    /// every rule builds its output with, so a per-row audit sees each tangent
    /// (see `dual::rows`). `layout` is the second-order layout of the inputs'
    /// tangents (see [`second::joint`](super::second::joint)); it is dropped
    /// with the tangent.
    pub(crate) fn from_parts(
        primal: B::FloatTensorPrimitive,
        tangent: Option<B::FloatTensorPrimitive>,
        layout: Option<Layout>,
    ) -> Self {
        if tangent.is_some() {
            super::rows::produced::<B>(&primal);
            return Self {
                primal,
                tangent,
                recalled: None,
                layout,
            };
        }
        Self::constant(primal)
    }

    /// `op(primal)` for a tangent-free value, named `name`: the output recalled
    /// when this value (or a clone) went through `name` before, else computed
    /// and kept for the clones (see [`Recalled`]).
    pub(crate) fn recall(
        self,
        name: &'static str,
        op: impl FnOnce(B::FloatTensorPrimitive) -> B::FloatTensorPrimitive,
    ) -> Self {
        debug_assert!(self.tangent.is_none());
        let Some(cell) = self.recalled else {
            return Self::constant(op(self.primal));
        };
        if let Some((kept, out)) = cell.get()
            && *kept == name
        {
            return Self::constant(out.clone());
        }
        let out = op(self.primal);
        // Only the first op applied is kept: a value rarely meets two.
        let _ = cell.set((name, out.clone()));
        Self::constant(out)
    }

    /// Number of tangent lanes, `None` when the tangent is zero.
    pub fn lanes(&self) -> Option<usize> {
        self.tangent.as_ref().map(|t| t.shape()[0])
    }
}

impl<B: Backend> TensorMetadata for DualTensor<B> {
    fn dtype(&self) -> DType {
        self.primal.dtype()
    }

    fn shape(&self) -> Shape {
        self.primal.shape()
    }

    fn rank(&self) -> usize {
        self.primal.rank()
    }
}
