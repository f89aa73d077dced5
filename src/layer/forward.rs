//! The one trait a user implements for a model, and Burn layers that implement it.

use burn::nn::{
    BatchNorm, Dropout, Gelu, LayerNorm, LeakyRelu, Linear, Relu, Sigmoid, Tanh,
    conv::{Conv1d, Conv2d},
};
use burn::tensor::{Tensor, backend::Backend};

/// A model's forward pass from a rank-`DI` input to a rank-`DO` output, generic over
/// the backend so burn-nested can re-run it on `Dual<B>` and `Autodiff<B>`.
///
/// Implement it once, generically, for your `#[derive(Module)]` model:
///
/// ```
/// use burn::module::Module;
/// use burn::nn::{Linear, LinearConfig};
/// use burn::tensor::{Tensor, backend::Backend};
/// use burn_nested::Forward;
///
/// #[derive(Module, Debug)]
/// struct Mlp<B: Backend> {
///     hidden: Linear<B>,
///     out: Linear<B>,
/// }
///
/// impl<B: Backend> Forward<B, 2, 2> for Mlp<B> {
///     fn forward(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
///         self.out.forward(self.hidden.forward(x).tanh())
///     }
/// }
/// # let _ = LinearConfig::new(1, 1);
/// ```
pub trait Forward<B: Backend, const DI: usize, const DO: usize> {
    /// Runs the model.
    fn forward(&self, input: Tensor<B, DI>) -> Tensor<B, DO>;
}

macro_rules! same_rank_layer {
    ($($layer:ident),+ $(,)?) => {$(
        impl<B: Backend, const D: usize> Forward<B, D, D> for $layer<B> {
            fn forward(&self, input: Tensor<B, D>) -> Tensor<B, D> {
                $layer::forward(self, input)
            }
        }
    )+};
}

same_rank_layer!(Linear, BatchNorm, LayerNorm);

macro_rules! stateless_layer {
    ($($layer:ident),+ $(,)?) => {$(
        impl<B: Backend, const D: usize> Forward<B, D, D> for $layer {
            fn forward(&self, input: Tensor<B, D>) -> Tensor<B, D> {
                $layer::forward(self, input)
            }
        }
    )+};
}

stateless_layer!(Dropout, Gelu, LeakyRelu, Relu, Sigmoid, Tanh);

impl<B: Backend> Forward<B, 3, 3> for Conv1d<B> {
    fn forward(&self, input: Tensor<B, 3>) -> Tensor<B, 3> {
        Conv1d::forward(self, input)
    }
}

impl<B: Backend> Forward<B, 4, 4> for Conv2d<B> {
    fn forward(&self, input: Tensor<B, 4>) -> Tensor<B, 4> {
        Conv2d::forward(self, input)
    }
}
