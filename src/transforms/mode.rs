//! How a transform computes its derivative.

/// The differentiation mode a transform is asked to use.
///
/// An explicit mode is honoured: `AutoForward` takes forward lanes and
/// `AutoReverse` a nested backward pass, inside a loss or not. `Auto` (the
/// default) leaves the path to burn-nested: from the shapes outside a loss, and
/// inside a reverse-mode loss (the input on an `Autodiff` backend) the faster
/// correct composition when switching is on (see
/// [`Options::switching`](crate::settings::Options::switching)), timed on the
/// caller's own steps when tuning is on.
///
/// Every path returns the same derivative; the mode changes the speed only.
/// [`path_counts`](crate::settings::path_counts) says which path ran. The one
/// exception to "honoured": a backward pass that would differentiate another
/// function than the forward one (a model that switches on the train/eval
/// mode, an op whose Burn reverse rule is inexact) falls back to forward lanes,
/// which are exact (see [`jacobian`](crate::jacobian)).
///
/// `Mode` is serde-serialisable, so a run's choice can sit in a Burn `Config`.
///
/// ```
/// use burn::tensor::Tensor;
/// use burn_nested::settings::{path_counts, reset_path_counts};
/// use burn_nested::{Mode, StatefulLayer, jacobian};
///
/// type B = burn_autodiff::Autodiff<burn_ndarray::NdArray<f64>>;
/// let device = Default::default();
/// let model = burn::nn::LinearConfig::new(3, 2).init::<B>(&device);
/// let layer = StatefulLayer::from_ref(&model);
/// let x = Tensor::<B, 2>::ones([4, 3], &device).require_grad();
///
/// // Inside a loss, `Auto` runs this 8 x 12 Jacobian as forward lanes.
/// reset_path_counts();
/// let chosen = jacobian(&layer, x.clone(), Mode::Auto);
/// assert!(path_counts().forward > 0 && path_counts().reverse == 0);
/// // Asked for reverse mode: one nested backward pass, as asked.
/// reset_path_counts();
/// let asked = jacobian(&layer, x.clone(), Mode::AutoReverse);
/// assert_eq!((path_counts().forward, path_counts().reverse), (0, 1));
/// let gap = (chosen - asked).abs().max().into_scalar();
/// assert!(gap < 1e-12);
/// ```
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, burn::serde::Serialize, burn::serde::Deserialize,
)]
#[serde(crate = "burn::serde")]
pub enum Mode {
    /// Forward mode on `Dual<B>`, `chunk` directions (lanes) per pass; `None` puts
    /// every direction in one pass. Smaller chunks bound memory, larger ones cut
    /// passes. When `Auto` picks forward mode, lanes are chunked to stay within
    /// the [lane budget](crate::settings::Options::lane_budget).
    AutoForward {
        /// Lanes per pass; `Some(0)` is rejected.
        chunk: Option<usize>,
    },
    /// Reverse mode: one backward pass in all. A Jacobian seeds one cotangent lane
    /// per output entry (per output feature for a batched Jacobian) and carries the
    /// lanes through that single pass; gradients and VJPs need one lane.
    AutoReverse,
    /// Let burn-nested choose: from the shapes, like choosing `jacfwd` or `jacrev`,
    /// and inside a loss the faster composition (see the type's docs).
    #[default]
    Auto,
}

impl Mode {
    /// Forward mode with every direction in one pass.
    pub const FORWARD: Mode = Mode::AutoForward { chunk: None };

    /// Forward mode with at most `chunk` lanes per pass.
    pub fn forward_chunked(chunk: usize) -> Mode {
        Mode::AutoForward { chunk: Some(chunk) }
    }

    /// Panics, naming the transform `op`, if the mode asks for zero lanes per
    /// pass. The transforms that take a mode call it first, so the panic reports
    /// the caller's line.
    #[track_caller]
    pub(crate) fn check_chunk(&self, op: &str) {
        if let Mode::AutoForward { chunk: Some(0) } = self {
            panic!(
                "burn-nested: `{op}` was given `Mode::AutoForward {{ chunk: Some(0) }}`, which \
                 asks for zero lanes per pass; use a positive chunk (`Mode::forward_chunked(n)` \
                 with n >= 1), or `Mode::FORWARD` (`chunk: None`) for all lanes in one pass"
            );
        }
    }

    /// The lanes per pass for `total` directions, each seeding `lane_numel`
    /// entries: the mode's chunk when it gives one, every lane for
    /// `AutoForward { chunk: None }` (the caller asked for one pass), and as many
    /// as the [`LANE_BUDGET`](crate::settings::policy::LANE_BUDGET) allows when burn-nested
    /// chose forward mode itself.
    ///
    /// # Panics
    /// If the chunk is zero (see [`check_chunk`](Self::check_chunk)).
    #[track_caller]
    pub(crate) fn chunk_for(&self, op: &str, total: usize, lane_numel: usize) -> usize {
        self.check_chunk(op);
        match self {
            Mode::AutoForward { chunk: Some(c) } => (*c).min(total.max(1)),
            Mode::AutoForward { chunk: None } => total.max(1),
            _ => crate::settings::policy::lanes_within_budget(total, lane_numel),
        }
    }
}

/// The path a transform takes after switching.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Path {
    /// `Dual<B>` lanes.
    Forward,
    /// `Autodiff<B>` backward passes.
    Reverse,
}
