//! The scenarios' models (docs/scenarios.md): dense `tanh` layers, optionally a
//! `BatchNorm` after the first.

use burn::module::Module;
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig};
use burn::tensor::{Tensor, backend::Backend};

use burn_nested::Forward;

/// `Dense(a→b, tanh)` layers (the last one without `tanh`), batch first, with an
/// optional `BatchNorm` after the first layer.
#[derive(Module, Debug)]
pub struct Mlp<B: Backend> {
    /// The dense layers, first to last.
    pub layers: Vec<Linear<B>>,
    /// `BatchNorm` over the first layer's features, when present.
    pub norm: Option<BatchNorm<B>>,
}

impl<B: Backend> Mlp<B> {
    /// Dense layers of widths `sizes[0] → sizes[1] → … → sizes[n]`, with their
    /// parameters initialized now rather than lazily: a lazy parameter is drawn
    /// anew in every clone, so each loss call that wraps `model.clone()` would see
    /// different weights.
    ///
    /// # Panics
    /// If fewer than two sizes are given.
    pub fn new(sizes: &[usize], batch_norm: bool, device: &B::Device) -> Self {
        assert!(
            sizes.len() >= 2,
            "`Mlp::new` needs at least an input and an output size, got {sizes:?}; \
             pass the widths [input, hidden.., output]"
        );
        let layers = sizes
            .windows(2)
            .map(|w| LinearConfig::new(w[0], w[1]).init(device))
            .collect();
        let norm = batch_norm.then(|| BatchNormConfig::new(sizes[1]).init(device));
        let model = Self { layers, norm };
        burn_nested::lift::initialize_params(&model);
        model
    }
}

impl<B: Backend> Forward<B, 2, 2> for Mlp<B> {
    fn forward(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        let last = self.layers.len() - 1;
        let mut h = x;
        for (i, layer) in self.layers.iter().enumerate() {
            h = layer.forward(h);
            // jacobian_regularization's model (docs/scenarios.md): Dense(2→4, tanh),
            // BatchNorm(4), Dense(4→2).
            if i < last {
                h = h.tanh();
            }
            if let (0, Some(norm)) = (i, &self.norm) {
                h = norm.forward(h);
            }
        }
        h
    }
}
