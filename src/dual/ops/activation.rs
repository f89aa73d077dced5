//! `ActivationOps` for `Dual<B>`.
use burn_backend::{Backend, ops::ActivationOps};

use crate::dual::Dual;

impl<B: Backend> ActivationOps<Self> for Dual<B> {}
