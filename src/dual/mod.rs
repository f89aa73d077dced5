//! Layer 1: the forward-mode backend decorator [`Dual<B>`].

mod backend;
pub(crate) mod lanes;
mod ops;
pub(crate) mod passes;
pub(crate) mod reshape;
pub(crate) mod rows;
pub(crate) mod rules;
pub(crate) mod second;
mod tensor;

pub use backend::{Dual, NoGradients};
pub use tensor::DualTensor;
