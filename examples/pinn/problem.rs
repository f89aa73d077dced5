//! The 2-D Poisson problem `Δu = −2π² sin(πx) sin(πy)` on the unit square with
//! `u = 0` on the boundary (exact solution `u = sin(πx) sin(πy)`), and the network
//! that solves it.

use std::f64::consts::PI;

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Tensor, backend::Backend};
use burn_nested::Forward;

/// The exact solution `sin(πx) sin(πy)`.
pub fn exact(x: f64, y: f64) -> f64 {
    (PI * x).sin() * (PI * y).sin()
}

/// The right-hand side `−2π² sin(πx) sin(πy)` at each row `(x, y)` of `points`.
pub fn source<B: Backend>(points: Tensor<B, 2>) -> Tensor<B, 1> {
    let [n, _] = points.dims();
    let s = (points * PI).sin();
    let prod = s.clone().slice([0..n, 0..1]) * s.slice([0..n, 1..2]);
    (prod * (-2.0 * PI * PI)).reshape([n])
}

/// `u(x, y) = 16·x(1−x)·y(1−y)·N(x, y)` with `N` a `tanh` MLP: the boundary
/// condition holds exactly (the factor vanishes on the boundary and is 1 at the
/// centre), so the loss only has to fit the PDE inside.
#[derive(Module, Debug)]
pub struct PinnNet<B: Backend> {
    layers: Vec<Linear<B>>,
}

impl<B: Backend> PinnNet<B> {
    /// `2 → width → … → width → 1` with `hidden` hidden layers.
    pub fn new(width: usize, hidden: usize, device: &B::Device) -> Self {
        let mut sizes = vec![2];
        sizes.extend(std::iter::repeat_n(width, hidden));
        sizes.push(1);
        let layers = sizes
            .windows(2)
            .map(|w| LinearConfig::new(w[0], w[1]).init(device))
            .collect();
        Self { layers }
    }
}

impl<B: Backend> Forward<B, 2, 2> for PinnNet<B> {
    fn forward(&self, points: Tensor<B, 2>) -> Tensor<B, 2> {
        let [n, _] = points.dims();
        // Inputs scaled from [0, 1] to [−1, 1].
        let mut h = points.clone() * 2.0 - 1.0;
        let last = self.layers.len() - 1;
        for (i, layer) in self.layers.iter().enumerate() {
            h = layer.forward(h);
            if i < last {
                h = h.tanh();
            }
        }
        let bump = points.clone() * (points.neg() + 1.0) * 4.0;
        let bump = bump.clone().slice([0..n, 0..1]) * bump.slice([0..n, 1..2]);
        bump * h
    }
}
