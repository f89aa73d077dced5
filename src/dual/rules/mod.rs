//! JVP rules that take more than a line, grouped by kind (see `DESIGN.md`).

pub(crate) mod binary;
pub(crate) mod index;
pub(crate) mod order;
pub(crate) mod reduce;
