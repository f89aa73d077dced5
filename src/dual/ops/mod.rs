//! The op traits of Burn's `Backend`, implemented for `Dual<B>`.

mod activation;
mod bool_tensor;
mod float_tensor;
mod int_tensor;
mod module;
mod qtensor;
mod transaction;
