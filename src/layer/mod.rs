//! Layer 4: `StatefulLayer`, the wrapper that re-runs a Burn model on lifted
//! backends, and the compositions the transforms accept.

mod forward;
mod nested_fn;
mod nested_model;
mod param_view;
mod stateful;

pub use forward::Forward;
pub use nested_fn::{After, NestedFn, Pure, TensorFn, Then};
pub(crate) use nested_fn::{PortableHash, key_of};
pub use nested_model::NestedModel;
pub use param_view::ParamView;
pub use stateful::{ReverseDual, StatefulLayer};
