//! JVP rules that take more than a line, grouped by kind (see docs/design.md).

pub(crate) mod autodiff_inner;
pub(crate) mod binary;
pub(crate) mod index;
pub(crate) mod order;
pub(crate) mod reduce;

// Module ops (`ops/module.rs`).
pub(crate) mod composed;
pub(crate) mod conv;
pub(crate) mod deform;
pub(crate) mod embedding;
pub(crate) mod fft;
pub(crate) mod fold;
pub(crate) mod linear;
pub(crate) mod norm;
pub(crate) mod pool;
