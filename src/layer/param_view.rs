//! The parameter view: a layer as a function of its flat parameters at a fixed
//! input (Lux.jl's `Base.Fix1(layer, x)`; see docs/design.md).

use burn::module::{HasAutodiffModule, Module};
use burn::tensor::{Tensor, backend::Backend};
use burn_autodiff::Autodiff;

use super::{Forward, NestedFn, NestedModel, StatefulLayer};
use crate::dual::Dual;
use crate::lift::{constant, lift_module};
use crate::params::{map_masked, visit_masked};

/// A layer seen as a function of its flat trainable parameter vector (see
/// [`flatten_params`](crate::params::flatten_params)) at a fixed input. Every
/// transform applies to it, so `jacobian(&layer.params_at(x), layer.flat_params(),
/// mode)` is the parameter Jacobian `[out_numel, num_params]`.
#[derive(Debug, Clone)]
pub struct ParamView<'a, M, B: Backend, const DI: usize> {
    layer: &'a StatefulLayer<M>,
    input: Tensor<B, DI>,
    mask: Vec<bool>,
}

impl<M> StatefulLayer<M> {
    /// The layer as a function of its parameters at the fixed `input`.
    pub fn params_at<B, const DI: usize>(&self, input: Tensor<B, DI>) -> ParamView<'_, M, B, DI>
    where
        B: Backend,
        M: Module<B> + HasAutodiffModule<Autodiff<B>>,
    {
        ParamView {
            layer: self,
            mask: self.trainable().to_vec(),
            input,
        }
    }

    /// The layer's trainable parameters as one vector, in
    /// [`flatten_params`](crate::params::flatten_params) order (on an `Autodiff`
    /// backend, still on the tape, so derivatives reach the parameters).
    ///
    /// # Panics
    /// If the layer's model has no float parameter.
    #[track_caller]
    pub fn flat_params<B>(&self) -> Tensor<B, 1>
    where
        B: Backend,
        M: Module<B> + HasAutodiffModule<Autodiff<B>>,
    {
        let mut parts = Vec::new();
        visit_masked(self.model(), self.trainable(), |t| parts.push(t));
        assert!(
            !parts.is_empty(),
            "burn-nested: `StatefulLayer::flat_params` found no float parameter in the layer's \
             model, so there is nothing for `param_jacobian`/`param_gradient` to differentiate; \
             differentiate w.r.t. the input instead (`jacobian`, `gradient`)"
        );
        Tensor::cat(parts, 0)
    }
}

impl<B, M, const DI: usize, const DO: usize> NestedFn<B, 1, DO> for ParamView<'_, M, B, DI>
where
    B: Backend,
    M: NestedModel<B, DI, DO>,
{
    fn eval(&self, params: Tensor<B, 1>) -> Tensor<B, DO> {
        let model = with_params(self.layer.model().clone(), &self.mask, params);
        model.forward(self.input.clone())
    }

    fn eval_dual(&self, params: Tensor<Dual<B>, 1>) -> Tensor<Dual<B>, DO> {
        let model = with_params(lift_module::<B, M>(self.layer.model()), &self.mask, params);
        model.forward(constant(self.input.clone()))
    }

    fn eval_reverse_dual(
        &self,
        params: Tensor<Autodiff<Dual<B>>, 1>,
    ) -> Tensor<Autodiff<Dual<B>>, DO> {
        let lifted = lift_module::<B, M>(self.layer.model())
            .train::<Autodiff<Dual<B>>>()
            .no_grad();
        let model = with_params(lifted, &self.mask, params);
        model.forward(Tensor::from_inner(constant(self.input.clone())))
    }

    /// The layer's identity and the fixed input's shape: views of one model at
    /// inputs of one shape compute the same kind of function.
    fn structure_key(&self) -> Option<u64> {
        let layer = NestedFn::<B, DI, DO>::structure_key(self.layer)?;
        Some(super::key_of(("params_at", layer, self.input.dims())))
    }

    /// The layer's portable key and the fixed input's shape.
    fn portable_key(&self) -> Option<u64> {
        let layer = NestedFn::<B, DI, DO>::portable_key(self.layer)?;
        let h = super::PortableHash::new("params_at").u64(layer);
        Some(h.dims(&self.input.dims()).finish())
    }
}

/// `module` with its trainable parameters taken from `params`, checking the length.
fn with_params<C: Backend, N: Module<C>>(module: N, mask: &[bool], params: Tensor<C, 1>) -> N {
    let [given] = params.dims();
    let mut expected = 0;
    visit_masked(&module, mask, |t| expected += t.dims()[0]);
    assert!(
        given == expected,
        "burn-nested: the parameter view (`StatefulLayer::params_at`) needs a vector of \
         {expected} parameters, got {given}; evaluate it at `layer.flat_params()`, or at a \
         vector of that length in the same order"
    );
    map_masked(module, mask, false, |offset, t| {
        let [n] = t.dims();
        params.clone().slice(offset..offset + n)
    })
}
