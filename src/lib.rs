#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

pub mod check;
pub mod dual;
pub mod engd;
pub mod layer;
pub mod lift;
pub mod params;
// The seed's models and losses serve the tests, examples and benches; they are
// not part of the library's documented API.
#[doc(hidden)]
pub mod scenarios;
pub mod transforms;

pub use dual::{Dual, DualTensor};
pub use layer::{
    After, Forward, NestedFn, NestedModel, ParamView, Pure, StatefulLayer, TensorFn, Then,
};
pub use lift::{constant, lift_module, primal, seed, split, tangent};
pub use transforms::*;
