#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

pub mod dual;

pub use dual::{Dual, DualTensor};
pub mod lift;

pub use lift::{constant, lift_module, primal, seed, split, tangent};
