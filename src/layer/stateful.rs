//! `StatefulLayer`: a model plus the knowledge of how to lift it.

use burn::module::{HasAutodiffModule, Module};
use burn::tensor::{Tensor, backend::Backend};
use burn_autodiff::Autodiff;

use super::{After, Forward, NestedFn, NestedModel, Then};
use crate::dual::Dual;
use crate::lift::{initialize_params, lift_module};
use crate::params::trainable_mask;

/// A Burn model wrapped so burn-nested can re-run it on `Dual<B>` and
/// `Autodiff<B>` (and, inside a loss on `Autodiff<I>`, on their nestings).
///
/// Make one inside your loss with [`StatefulLayer::from_ref`] (a cheap clone:
/// parameters are shared, not copied); it initializes lazy parameters so every
/// lifted copy shares them.
/// Lifted copies get fresh running statistics, so transforms never change the
/// model's `BatchNorm` state; the model's own `forward` (through
/// [`StatefulLayer::forward`]) does, as usual.
#[derive(Debug, Clone)]
pub struct StatefulLayer<M> {
    model: M,
    trainable: Vec<bool>,
}

impl<M> StatefulLayer<M> {
    /// Wraps `model`, initializing its lazy parameters (after noting which tensors
    /// are trainable parameters, which Burn can forget once they are initialized
    /// on a plain backend; see [`trainable_mask`]).
    ///
    /// Inside a loss prefer [`StatefulLayer::from_ref`]: Burn draws a lazy
    /// parameter anew in every clone, so `StatefulLayer::new(model.clone())` of an
    /// uninitialized model gives each loss call different weights.
    pub fn new<B: Backend>(model: M) -> Self
    where
        M: Module<B> + HasAutodiffModule<Autodiff<B>>,
    {
        let trainable = trainable_mask(&model);
        initialize_params(&model);
        Self { model, trainable }
    }

    /// Wraps a clone of `model` after initializing `model`'s own lazy parameters
    /// in place, so the layer, the model and the optimizer all see the same
    /// weights however the model was built. The clone is cheap: parameters are
    /// shared, not copied.
    pub fn from_ref<B: Backend>(model: &M) -> Self
    where
        M: Module<B> + HasAutodiffModule<Autodiff<B>>,
    {
        let trainable = trainable_mask(model);
        initialize_params(model);
        Self {
            model: model.clone(),
            trainable,
        }
    }

    /// Which float tensors of the model (in Burn's visiting order) are trainable.
    pub(crate) fn trainable(&self) -> &[bool] {
        &self.trainable
    }

    /// The wrapped model.
    pub fn model(&self) -> &M {
        &self.model
    }

    /// Unwraps the model.
    pub fn into_model(self) -> M {
        self.model
    }

    /// Runs the model on its own backend (updating running statistics in training).
    pub fn forward<B: Backend, const DI: usize, const DO: usize>(
        &self,
        input: Tensor<B, DI>,
    ) -> Tensor<B, DO>
    where
        M: Forward<B, DI, DO>,
    {
        self.model.forward(input)
    }

    /// `f ∘ self`: apply the tensor function `f` to the layer's output.
    pub fn then<F, const DM: usize>(&self, f: F) -> Then<&Self, F, DM> {
        Then {
            inner: self,
            outer: f,
        }
    }

    /// `self ∘ f`: apply the tensor function `f` to the input first.
    pub fn after<F, const DM: usize>(&self, f: F) -> After<F, &Self, DM> {
        After {
            inner: f,
            outer: self,
        }
    }
}

impl<B, M, const DI: usize, const DO: usize> NestedFn<B, DI, DO> for StatefulLayer<M>
where
    B: Backend,
    M: NestedModel<B, DI, DO>,
{
    fn eval(&self, input: Tensor<B, DI>) -> Tensor<B, DO> {
        self.model.forward(input)
    }

    fn eval_dual(&self, input: Tensor<Dual<B>, DI>) -> Tensor<Dual<B>, DO> {
        lift_module::<B, M>(&self.model).forward(input)
    }

    fn eval_reverse_dual(
        &self,
        input: Tensor<Autodiff<Dual<B>>, DI>,
    ) -> Tensor<Autodiff<Dual<B>>, DO> {
        lift_module::<B, M>(&self.model)
            .train::<Autodiff<Dual<B>>>()
            .no_grad()
            .forward(input)
    }

    /// The model's type and the ids of its parameters: the same for every layer
    /// made from one model (`from_ref` in each loss call), different for
    /// another model.
    fn structure_key(&self) -> Option<u64> {
        struct Ids(Vec<burn::module::ParamId>);
        impl<B: Backend> burn::module::ModuleVisitor<B> for Ids {
            fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<B, D>>) {
                self.0.push(param.id);
            }
        }
        let mut ids = Ids(Vec::new());
        self.model.visit(&mut ids);
        let ids: Vec<u64> = ids.0.iter().map(|id| id.val()).collect();
        Some(super::nested_fn::key_of((core::any::type_name::<M>(), ids)))
    }

    /// The model's type and the shapes of its parameters in visiting order (float,
    /// int and bool tensors, each tagged): the same in every run of one program,
    /// where parameter ids are drawn anew. Two models of one type and shapes
    /// share it.
    fn portable_key(&self) -> Option<u64> {
        use super::PortableHash;
        use burn::module::Param;
        use burn::tensor::{Bool, Int};
        struct Shapes(PortableHash);
        impl<B: Backend> burn::module::ModuleVisitor<B> for Shapes {
            fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
                self.0 = self.0.str("float").dims(param.lazy_shape().as_slice());
            }
            fn visit_int<const D: usize>(&mut self, param: &Param<Tensor<B, D, Int>>) {
                self.0 = self.0.str("int").dims(param.lazy_shape().as_slice());
            }
            fn visit_bool<const D: usize>(&mut self, param: &Param<Tensor<B, D, Bool>>) {
                self.0 = self.0.str("bool").dims(param.lazy_shape().as_slice());
            }
        }
        let mut shapes = Shapes(PortableHash::new("layer").str(core::any::type_name::<M>()));
        self.model.visit(&mut shapes);
        Some(shapes.0.finish())
    }
}

/// The model `M` (on `B`) lifted to `Autodiff<Dual<B>>`.
pub type ReverseDual<B, M> = <<M as HasAutodiffModule<Dual<B>>>::TrainModule as HasAutodiffModule<
    Autodiff<Dual<B>>,
>>::TrainModule;
