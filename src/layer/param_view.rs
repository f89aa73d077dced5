//! The parameter view: a layer as a function of its flat parameters at a fixed
//! input (Lux.jl's `Base.Fix1(layer, x)`; see docs/design.md).

use burn::module::{HasAutodiffModule, Module, ModuleVisitor, Param};
use burn::tensor::{Shape, Tensor, TensorPrimitive, backend::Backend};
use burn_autodiff::Autodiff;
use burn_autodiff::grads::Gradients;

use super::{Forward, NestedFn, NestedModel, ReverseDual, StatefulLayer};
use crate::dual::Dual;
use crate::lift::{constant, lift_module};
use crate::params::{map_masked_slices, masked_numel, require_grad_masked, visit_masked};

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
/// Each parameter costs one slice of `params` and, for more than one dim, one
/// reshape; the module's own tensors are only read for their shapes.
fn with_params<C: Backend, N: Module<C>>(module: N, mask: &[bool], params: Tensor<C, 1>) -> N {
    let [given] = params.dims();
    let expected = masked_numel(&module, mask);
    assert!(
        given == expected,
        "burn-nested: the parameter view (`StatefulLayer::params_at`) needs a vector of \
         {expected} parameters, got {given}; evaluate it at `layer.flat_params()`, or at a \
         vector of that length in the same order"
    );
    map_masked_slices(module, mask, false, &params)
}

impl<M> StatefulLayer<M> {
    /// The model lifted to `Autodiff<Dual<B>>` with each trainable parameter a
    /// leaf that requires a gradient (running statistics and frozen parameters
    /// are not). A backward pass through it gives every parameter's gradient
    /// directly; going through a flat vector instead
    /// ([`params_at`](StatefulLayer::params_at)) costs a slice and a reshape per
    /// parameter in the forward pass, and in the backward pass a zero-filled
    /// vector, a `slice_assign` and an add per parameter, on the primal and the
    /// tangent lanes, each recorded again on an outer tape.
    pub(crate) fn reverse_leaves<B, const DI: usize, const DO: usize>(&self) -> ReverseDual<B, M>
    where
        B: Backend,
        M: NestedModel<B, DI, DO>,
    {
        let lifted = lift_module::<B, M>(self.model())
            .train::<Autodiff<Dual<B>>>()
            .no_grad();
        require_grad_masked(lifted, self.trainable())
    }

    /// The tangent lanes of the trainable parameters' gradients in `grads` (of a
    /// backward pass through `leaves`, made by
    /// [`reverse_leaves`](StatefulLayer::reverse_leaves), with `lanes` cotangent
    /// lanes), side by side in [`flatten_params`](crate::params::flatten_params)
    /// order: `[lanes, num_params]`, what `flat_params`' gradient would hold. A
    /// parameter the output does not reach gets zeros.
    pub(crate) fn lane_gradients<B, const DI: usize, const DO: usize>(
        &self,
        leaves: &ReverseDual<B, M>,
        grads: &Gradients,
        lanes: usize,
    ) -> Tensor<B, 2>
    where
        B: Backend,
        M: NestedModel<B, DI, DO>,
    {
        struct Lanes<'a, B: Backend> {
            mask: &'a [bool],
            index: usize,
            grads: &'a Gradients,
            lanes: usize,
            parts: Vec<Tensor<B, 2>>,
        }
        impl<B: Backend> ModuleVisitor<Autodiff<Dual<B>>> for Lanes<'_, B> {
            fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<Autodiff<Dual<B>>, D>>) {
                let keep = self.mask[self.index];
                self.index += 1;
                if !keep {
                    return;
                }
                let value = param.val();
                let n = value.shape().num_elements();
                let tangent = value
                    .grad(self.grads)
                    .and_then(|g| g.into_primitive().tensor().tangent);
                let part = match tangent {
                    // `[lanes, ..shape]` to `[lanes, numel]` on the tangent alone: a
                    // reshape of the whole dual would reshape its primal too, which
                    // is the zero gradient of the cotangents' zero primal.
                    Some(t) if D == 1 => Tensor::from_primitive(TensorPrimitive::Float(t)),
                    Some(t) => Tensor::from_primitive(TensorPrimitive::Float(B::float_reshape(
                        t,
                        Shape::new([self.lanes, n]),
                    ))),
                    None => Tensor::zeros([self.lanes, n], &value.device()),
                };
                self.parts.push(part);
            }
        }
        let mut visitor = Lanes {
            mask: self.trainable(),
            index: 0,
            grads,
            lanes,
            parts: Vec::new(),
        };
        leaves.visit(&mut visitor);
        let mut parts = visitor.parts;
        // One parameter needs no concatenation (and `cat` of one tensor is still an op).
        match parts.len() {
            1 => parts.pop().expect("one part"),
            _ => Tensor::cat(parts, 1),
        }
    }
}
