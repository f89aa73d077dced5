//! The 2-D Poisson problem `Δu = −2π² sin(πx) sin(πy)` on the unit square with
//! `u = 0` on the boundary (exact solution `u = sin(πx) sin(πy)`), and the network
//! that solves it.

use std::f64::consts::PI;

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::TensorData;
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
        with_boundary(points, |mut h| {
            let last = self.layers.len() - 1;
            for (i, layer) in self.layers.iter().enumerate() {
                h = layer.forward(h);
                if i < last {
                    h = h.tanh();
                }
            }
            h
        })
    }
}

/// `16·x(1−x)·y(1−y)·N(2x−1, 2y−1)` at each row `(x, y)` of `points`, for the
/// network `N` (`[n, 2] → [n, 1]`): the ansatz every form of the network shares.
pub fn with_boundary<B: Backend>(
    points: Tensor<B, 2>,
    network: impl FnOnce(Tensor<B, 2>) -> Tensor<B, 2>,
) -> Tensor<B, 2> {
    let [n, _] = points.dims();
    // Inputs scaled from [0, 1] to [−1, 1].
    let h = network(points.clone() * 2.0 - 1.0);
    let bump = points.clone() * (points.neg() + 1.0) * 4.0;
    let bump = bump.clone().slice([0..n, 0..1]) * bump.slice([0..n, 1..2]);
    bump * h
}

/// The solution on an `n × n` grid over the closed unit square (row-major, `y`
/// outer), learned and exact.
pub fn solution_grid<B: Backend>(model: &PinnNet<B>, n: usize) -> (Vec<f64>, Vec<f64>) {
    let coord = |k: usize| k as f64 / (n - 1) as f64;
    let mut points = Vec::with_capacity(2 * n * n);
    let mut exact_u = Vec::with_capacity(n * n);
    for j in 0..n {
        for i in 0..n {
            points.extend([coord(i), coord(j)]);
            exact_u.push(exact(coord(i), coord(j)));
        }
    }
    let device = model.devices().into_iter().next().expect("a device");
    let data = TensorData::new(points, [n * n, 2]).convert::<B::FloatElem>();
    let learned = model
        .forward(Tensor::from_data(data, &device))
        .into_data()
        .convert::<f64>()
        .to_vec::<f64>()
        .expect("f64 data");
    (learned, exact_u)
}

/// `‖u − u*‖₂ / ‖u*‖₂` over the grid values.
pub fn relative_l2(learned: &[f64], exact: &[f64]) -> f64 {
    let num: f64 = learned
        .iter()
        .zip(exact)
        .map(|(a, b)| (a - b).powi(2))
        .sum();
    let den: f64 = exact.iter().map(|b| b * b).sum();
    (num / den).sqrt()
}
