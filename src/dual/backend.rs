//! `Dual<B>` as a Burn backend, and as an `AutodiffBackend` so models lift onto it.

use core::marker::PhantomData;

use burn_backend::DType;
use burn_backend::{
    Backend, DTypeUsageSet, ExecutionError, TensorData,
    backend::{AutodiffBackend, BackendTypes},
    tensor::{BoolTensor, FloatTensor, IntTensor, QuantizedTensor},
};

use super::DualTensor;

/// Forward-mode automatic differentiation as a backend decorator.
///
/// Every float tensor of `Dual<B>` is a [`DualTensor`]: a primal on `B` and optional
/// tangent lanes. Each float, module and activation op propagates the tangents by
/// its JVP rule, written with `B`'s own ops, so the decorator composes:
/// `Dual<Autodiff<B>>` records tangent computations on the outer tape
/// (reverse-over-forward), `Dual<Dual<B>>` gives second derivatives and
/// `Autodiff<Dual<B>>` Hessian-vector products.
///
/// Int, bool and quantized tensors are `B`'s own. Without tangents every op gives
/// exactly `B`'s result.
#[derive(Clone, Copy, Debug, Default)]
pub struct Dual<B> {
    _inner: PhantomData<B>,
}

impl<B: Backend> BackendTypes for Dual<B> {
    type Device = B::Device;

    type FloatTensorPrimitive = DualTensor<B>;
    type FloatElem = B::FloatElem;

    type IntTensorPrimitive = B::IntTensorPrimitive;
    type IntElem = B::IntElem;

    type BoolTensorPrimitive = B::BoolTensorPrimitive;
    type BoolElem = B::BoolElem;

    type QuantizedTensorPrimitive = B::QuantizedTensorPrimitive;
}

impl<B: Backend> Backend for Dual<B> {
    /// Follows `B`, so `BatchNorm` and `Dropout` inside a nested pass behave as in
    /// the outer one. Each question is counted: a transform learns from it whether
    /// its function depends on the train/eval mode (see `dual::passes`).
    fn ad_enabled(device: &Self::Device) -> bool {
        super::passes::note_mode_query();
        B::ad_enabled(device)
    }

    fn memory_persistent_allocations<
        Output: Send,
        Input: Send,
        Func: Fn(Input) -> Output + Send,
    >(
        device: &Self::Device,
        input: Input,
        func: Func,
    ) -> Output {
        B::memory_persistent_allocations(device, input, func)
    }

    fn memory_cleanup(device: &Self::Device) {
        B::memory_cleanup(device)
    }

    fn name(device: &Self::Device) -> String {
        format!("dual<{}>", B::name(device))
    }

    fn seed(device: &Self::Device, seed: u64) {
        B::seed(device, seed)
    }

    fn sync(device: &Self::Device) -> Result<(), ExecutionError> {
        B::sync(device)
    }

    fn staging<'a, Iter>(data: Iter, device: &Self::Device)
    where
        Iter: Iterator<Item = &'a mut TensorData>,
    {
        B::staging(data, device)
    }

    fn supports_dtype(device: &Self::Device, dtype: DType) -> bool {
        B::supports_dtype(device, dtype)
    }

    fn dtype_usage(device: &Self::Device, dtype: DType) -> DTypeUsageSet {
        B::dtype_usage(device, dtype)
    }

    fn device_count(type_id: u16) -> usize {
        B::device_count(type_id)
    }
}

/// The gradients type of [`Dual`] seen as an `AutodiffBackend`: it has no values,
/// because `Dual` is forward mode and never runs a backward pass.
#[derive(Debug)]
pub enum NoGradients {}

/// `Dual<B>` is an `AutodiffBackend` only so that any `#[derive(Module)]` model lifts
/// onto it with `model.train::<Dual<B>>()`: parameters keep their primal (and with it
/// their place on an outer `Autodiff` tape) and get a zero tangent.
impl<B: Backend> AutodiffBackend for Dual<B> {
    type InnerBackend = B;
    type Gradients = NoGradients;

    fn backward(_tensor: FloatTensor<Self>) -> NoGradients {
        panic!(
            "burn-nested: `backward` called on a `Dual` tensor. `Dual` is forward mode: read \
             derivatives with `burn_nested::lift::tangent`, or wrap it as `Autodiff<Dual<B>>` for a \
             reverse pass"
        )
    }

    fn grad(_tensor: &FloatTensor<Self>, grads: &NoGradients) -> Option<FloatTensor<B>> {
        match *grads {}
    }

    fn grad_remove(_tensor: &FloatTensor<Self>, grads: &mut NoGradients) -> Option<FloatTensor<B>> {
        match *grads {}
    }

    fn grad_replace(_tensor: &FloatTensor<Self>, grads: &mut NoGradients, _grad: FloatTensor<B>) {
        match *grads {}
    }

    /// The primal; the tangent is dropped.
    fn inner(tensor: FloatTensor<Self>) -> FloatTensor<B> {
        tensor.primal
    }

    fn int_inner(tensor: IntTensor<Self>) -> IntTensor<B> {
        tensor
    }

    fn bool_inner(tensor: BoolTensor<Self>) -> BoolTensor<B> {
        tensor
    }

    fn q_inner(tensor: QuantizedTensor<Self>) -> QuantizedTensor<B> {
        tensor
    }

    /// A tangent-free dual around `tensor`, which is used as it is (no copy, and an
    /// `Autodiff` primal stays on its tape).
    fn from_inner(tensor: FloatTensor<B>) -> FloatTensor<Self> {
        DualTensor::constant(tensor)
    }

    fn int_from_inner(tensor: IntTensor<B>) -> IntTensor<Self> {
        tensor
    }

    fn bool_from_inner(tensor: BoolTensor<B>) -> BoolTensor<Self> {
        tensor
    }

    fn q_from_inner(tensor: QuantizedTensor<B>) -> QuantizedTensor<Self> {
        tensor
    }
}
