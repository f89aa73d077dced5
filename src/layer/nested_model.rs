//! `NestedModel`: the one bound generic code writes for a model it hands to a
//! transform.

use burn::module::{HasAutodiffModule, Module};
use burn::tensor::backend::Backend;
use burn_autodiff::Autodiff;

use super::Forward;
use crate::dual::Dual;

/// Declares the trait and its blanket impl from one list of bounds, so the two
/// cannot drift apart (a trait alias, which Rust does not have yet).
macro_rules! trait_alias {
    ($(#[$meta:meta])* $name:ident = $($bounds:tt)+) => {
        $(#[$meta])*
        pub trait $name<B: Backend, const DI: usize, const DO: usize>: $($bounds)+ {}

        impl<B: Backend, M, const DI: usize, const DO: usize> $name<B, DI, DO> for M where
            M: $($bounds)+
        {
        }
    };
}

trait_alias! {
    /// A Burn model on `B` that burn-nested can re-run on `Dual<B>` and
    /// `Autodiff<Dual<B>>`, from a rank-`DI` input to a rank-`DO` output.
    ///
    /// Every `#[derive(Module)]` model that implements [`Forward`] generically is
    /// one; nobody implements this trait by hand. It exists so that code generic over
    /// the model needs a single bound: with `M: NestedModel<B, DI, DO>`, a
    /// [`StatefulLayer<M>`](crate::StatefulLayer) and its parameter view are
    /// [`NestedFn`](crate::NestedFn)s, so every transform, [`param_jacobian`](crate::param_jacobian)
    /// and [`param_gradient`](crate::param_gradient) included, accepts them.
    ///
    /// ```
    /// use burn::tensor::{Tensor, backend::Backend};
    /// use burn_nested::{Mode, NestedModel, StatefulLayer, param_jacobian};
    ///
    /// /// `Σ J²` for the Jacobian of any model's output w.r.t. its parameters.
    /// fn param_jacobian_penalty<B, M>(model: &M, x: Tensor<B, 2>) -> Tensor<B, 1>
    /// where
    ///     B: Backend,
    ///     M: NestedModel<B, 2, 2>,
    /// {
    ///     let layer = StatefulLayer::from_ref(model);
    ///     let j = param_jacobian(&layer, x, Mode::Auto);
    ///     (j.clone() * j).sum()
    /// }
    ///
    /// type B = burn_ndarray::NdArray<f64>;
    /// let device = Default::default();
    /// let model = burn::nn::LinearConfig::new(3, 2).init::<B>(&device);
    /// let x = Tensor::<B, 2>::ones([4, 3], &device);
    /// // d(W x + b)/d(W, b): x's entries and ones, 4 rows × 2 outputs.
    /// let penalty = param_jacobian_penalty(&model, x).into_scalar();
    /// assert!((penalty - 4.0 * 2.0 * (3.0 + 1.0)).abs() < 1e-12);
    /// ```
    NestedModel = Forward<B, DI, DO>
        + Module<B>
        + HasAutodiffModule<Autodiff<B>>
        + HasAutodiffModule<
            Dual<B>,
            TrainModule: Forward<Dual<B>, DI, DO>
                             + HasAutodiffModule<
                Autodiff<Dual<B>>,
                TrainModule: Forward<Autodiff<Dual<B>>, DI, DO>,
            >,
        >
}
