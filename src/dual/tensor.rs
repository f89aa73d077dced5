//! The float primitive of [`Dual`](crate::Dual): a primal plus optional tangent lanes.

use burn_backend::{Backend, DType, Shape, TensorMetadata};

/// A float tensor of the forward-mode backend [`Dual<B>`](crate::Dual).
///
/// `primal` is the ordinary value on `B`. `tangent`, when present, holds one
/// directional derivative per *lane* stacked on a leading axis, so its shape is
/// `[lanes, ..primal shape]`. `None` stands for a zero tangent and costs nothing:
/// rules skip every term that would multiply it.
#[derive(Debug, Clone)]
pub struct DualTensor<B: Backend> {
    /// The value, a primitive of the inner backend.
    pub primal: B::FloatTensorPrimitive,
    /// The tangent lanes `[lanes, ..primal shape]`, or `None` for zero.
    pub tangent: Option<B::FloatTensorPrimitive>,
}

impl<B: Backend> DualTensor<B> {
    /// A dual with a zero (absent) tangent.
    pub fn constant(primal: B::FloatTensorPrimitive) -> Self {
        Self {
            primal,
            tangent: None,
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
        Self::from_parts(primal, tangent)
    }

    /// A dual from its parts, without the shape check of [`new`](Self::new): what
    /// every rule builds its output with, so a per-row audit sees each tangent
    /// (see `dual::rows`).
    pub(crate) fn from_parts(
        primal: B::FloatTensorPrimitive,
        tangent: Option<B::FloatTensorPrimitive>,
    ) -> Self {
        if tangent.is_some() {
            super::rows::produced::<B>(&primal);
        }
        Self { primal, tangent }
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
