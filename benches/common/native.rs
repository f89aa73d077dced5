//! The Burn-native nested path: what a Burn 0.21 user writes without burn-nested.
//!
//! The inner derivative runs on `Autodiff<Autodiff<B>>` with one inner
//! `backward()` per output entry (per output feature for a per-row Jacobian), as
//! docs/performance.md describes the `native` path. Two things a user meets on the way are
//! kept, not worked around:
//! - Burn cannot differentiate `nn::Linear`'s fused backward ("Can't differentiate
//!   linear_x_backward"), so the model is re-written with `matmul`, `tanh` and a
//!   hand-written training-mode `BatchNorm`, reading the same parameters;
//! - a backward pass consumes its graph, so every inner pass re-runs the forward.

use burn::tensor::{Tensor, backend::Backend};
use burn_autodiff::Autodiff;

use crate::scenarios::Mlp;

/// `Mlp`'s parameters as plain tensors on the outer tape (`Autodiff<B>`), so the
/// outer gradient reaches the same parameter leaves as the other paths.
pub struct NativeMlp<B: Backend> {
    weights: Vec<Tensor<Autodiff<B>, 2>>,
    biases: Vec<Tensor<Autodiff<B>, 1>>,
    /// The `BatchNorm` after the first layer.
    norm: Option<Norm<B>>,
}

/// A training-mode `BatchNorm`'s scale, shift and epsilon.
struct Norm<B: Backend> {
    gamma: Tensor<Autodiff<B>, 1>,
    beta: Tensor<Autodiff<B>, 1>,
    epsilon: f64,
}

type Inner<B> = Autodiff<Autodiff<B>>;

impl<B: Backend> NativeMlp<B> {
    /// The parameters of `model`, still tracked on its tape.
    pub fn new(model: &Mlp<Autodiff<B>>) -> Self {
        let weights = model.layers.iter().map(|l| l.weight.val()).collect();
        let biases = model
            .layers
            .iter()
            .map(|l| l.bias.as_ref().expect("Mlp layers have biases").val())
            .collect();
        let norm = model.norm.as_ref().map(|n| Norm {
            gamma: n.gamma.val(),
            beta: n.beta.val(),
            epsilon: n.epsilon,
        });
        Self {
            weights,
            biases,
            norm,
        }
    }

    /// The model on the inner backend: parameters lifted as constants of the inner
    /// tape (their outer tracking stays).
    fn forward_inner(&self, x: Tensor<Inner<B>, 2>) -> Tensor<Inner<B>, 2> {
        let lift1 = |t: &Tensor<Autodiff<B>, 1>| Tensor::<Inner<B>, 1>::from_inner(t.clone());
        let last = self.weights.len() - 1;
        let mut h = x;
        for (i, (w, b)) in self.weights.iter().zip(&self.biases).enumerate() {
            h = h.matmul(Tensor::from_inner(w.clone())) + lift1(b).unsqueeze_dim(0);
            if i < last {
                h = h.tanh();
            }
            if let (0, Some(norm)) = (i, &self.norm) {
                let mean = h.clone().mean_dim(0);
                let centred = h - mean;
                let var = centred.clone().square().mean_dim(0);
                h = centred / var.add_scalar(norm.epsilon).sqrt()
                    * lift1(&norm.gamma).unsqueeze_dim(0)
                    + lift1(&norm.beta).unsqueeze_dim(0);
            }
        }
        h
    }

    /// `f(x)` on the outer backend, through the inner one with no inner gradient.
    pub fn forward(&self, x: Tensor<Autodiff<B>, 2>) -> Tensor<Autodiff<B>, 2> {
        self.forward_inner(Tensor::from_inner(x)).inner()
    }

    /// The gradient of `head(f(x))` w.r.t. `x`, by one inner backward pass, as a
    /// tensor on the outer tape.
    fn inner_gradient(
        &self,
        x: &Tensor<Autodiff<B>, 2>,
        head: impl FnOnce(Tensor<Inner<B>, 2>) -> Tensor<Inner<B>, 1>,
    ) -> Tensor<Autodiff<B>, 2> {
        let xi = Tensor::<Inner<B>, 2>::from_inner(x.clone()).require_grad();
        let grads = head(self.forward_inner(xi.clone())).backward();
        xi.grad(&grads).expect("the output depends on the input")
    }

    /// The full Jacobian `[numel(y), numel(x)]`: one inner backward per output entry.
    pub fn jacobian(
        &self,
        x: &Tensor<Autodiff<B>, 2>,
        outputs: [usize; 2],
    ) -> Tensor<Autodiff<B>, 2> {
        let n = x.shape().num_elements();
        let rows = (0..outputs[0])
            .flat_map(|r| (0..outputs[1]).map(move |c| (r, c)))
            .map(|(r, c)| {
                self.inner_gradient(x, |y| y.slice([r..r + 1, c..c + 1]).sum())
                    .reshape([1, n])
            })
            .collect();
        Tensor::cat(rows, 0)
    }

    /// The per-row Jacobian `[batch, out, in]`: one inner backward per output
    /// feature, summed over the (independent) rows.
    pub fn batched_jacobian(
        &self,
        x: &Tensor<Autodiff<B>, 2>,
        out: usize,
    ) -> Tensor<Autodiff<B>, 3> {
        let [batch, _] = x.dims();
        let rows = (0..out)
            .map(|o| self.inner_gradient(x, |y| y.slice([0..batch, o..o + 1]).sum()))
            .collect();
        Tensor::stack(rows, 1)
    }

    /// Per-row `d u(t)² / dt`: one inner backward of `Σ u²` (rows are independent).
    pub fn rowwise_square_gradient(&self, t: &Tensor<Autodiff<B>, 2>) -> Tensor<Autodiff<B>, 2> {
        self.inner_gradient(t, |u| (u.clone() * u).sum())
    }
}

fn sum_sq<B: Backend, const D: usize>(t: Tensor<B, D>) -> Tensor<B, 1> {
    (t.clone() * t).sum()
}

/// The scenarios this path covers: the three with a speed target against it, plus
/// the two whose inner derivative is a single reverse pass anyway.
pub const SCENARIOS: &[&str] = &[
    "jacobian_regularization",
    "batched_jacobian",
    "pinn_gradient",
    "pinn_gradient_rowwise",
    "hutchinson_vjp",
];

impl<B: Backend> NativeMlp<B> {
    /// The scenario's loss at `x`; `aux` holds the targets or the probe. `None`
    /// for scenarios not in [`SCENARIOS`].
    pub fn loss(
        &self,
        scenario: &str,
        x: Tensor<Autodiff<B>, 2>,
        aux: Option<Tensor<Autodiff<B>, 2>>,
    ) -> Option<Tensor<Autodiff<B>, 1>> {
        let aux = || aux.clone().expect("targets or probe");
        Some(match scenario {
            "jacobian_regularization" => {
                let y_hat = self.forward(x.clone());
                let j = self.jacobian(&x, y_hat.dims());
                sum_sq(y_hat - aux()) + sum_sq(j * 0.01)
            }
            "batched_jacobian" => {
                let y_hat = self.forward(x.clone());
                let j = self.batched_jacobian(&x, y_hat.dims()[1]);
                sum_sq(y_hat - aux()) + sum_sq(j * 0.01)
            }
            // Both forms are one inner backward of `Σ u²` here.
            "pinn_gradient" | "pinn_gradient_rowwise" => {
                sum_sq(self.rowwise_square_gradient(&x) - x.cos())
            }
            "hutchinson_vjp" => {
                let v = aux();
                let vjp = self.inner_gradient(&x, |y| (y * Tensor::from_inner(v.clone())).sum());
                (vjp * v).sum()
            }
            _ => return None,
        })
    }
}
