//! Values that cross between a backend decorator and the inner backend whose
//! tensor primitives it shares ([`Census<B>`](crate::census::Census) and `B`,
//! [`FastNdArray<E>`](crate::cpu::FastNdArray) and `NdArray<E>`).
//!
//! A few types of Burn's backend traits are generic over the backend without
//! being its primitives (a quantized tensor's parameters, a pooling result, a
//! transaction). Their fields are primitives, the same on both sides, so each
//! crosses rebuilt field by field.

use burn_backend::Backend;
use burn_backend::TensorPrimitive;
use burn_backend::ops::{
    DeformConv2dBackward, MaxPool1dBackward, MaxPool1dWithIndices, MaxPool2dBackward,
    MaxPool2dWithIndices, TransactionPrimitive,
};
use burn_backend::quantization::QuantizationParametersPrimitive;

/// A backend whose every tensor primitive is `A`'s.
pub(crate) trait SamePrimitives<A: Backend>:
    Backend<
        FloatTensorPrimitive = A::FloatTensorPrimitive,
        IntTensorPrimitive = A::IntTensorPrimitive,
        BoolTensorPrimitive = A::BoolTensorPrimitive,
        QuantizedTensorPrimitive = A::QuantizedTensorPrimitive,
    >
{
}

impl<A, B> SamePrimitives<A> for B
where
    A: Backend,
    B: Backend<
            FloatTensorPrimitive = A::FloatTensorPrimitive,
            IntTensorPrimitive = A::IntTensorPrimitive,
            BoolTensorPrimitive = A::BoolTensorPrimitive,
            QuantizedTensorPrimitive = A::QuantizedTensorPrimitive,
        >,
{
}

pub(crate) fn qparams_in<A: Backend, B: SamePrimitives<A>>(
    qparams: QuantizationParametersPrimitive<A>,
) -> QuantizationParametersPrimitive<B> {
    QuantizationParametersPrimitive {
        scales: qparams.scales,
    }
}

pub(crate) fn primitive_in<A: Backend, B: SamePrimitives<A>>(
    tensor: TensorPrimitive<A>,
) -> TensorPrimitive<B> {
    match tensor {
        TensorPrimitive::Float(t) => TensorPrimitive::Float(t),
        TensorPrimitive::QFloat(t) => TensorPrimitive::QFloat(t),
    }
}

pub(crate) fn primitive_out<A: Backend, B: SamePrimitives<A>>(
    tensor: TensorPrimitive<A>,
) -> TensorPrimitive<B> {
    primitive_in(tensor)
}

/// A transaction reaches `tr_execute` with its read order already taken out
/// (`TransactionPrimitive::execute_async`), so the four lists are all it holds.
pub(crate) fn transaction_in<A: Backend, B: SamePrimitives<A>>(
    transaction: TransactionPrimitive<A>,
) -> TransactionPrimitive<B> {
    TransactionPrimitive::new(
        transaction.read_floats,
        transaction.read_qfloats,
        transaction.read_ints,
        transaction.read_bools,
    )
}

pub(crate) fn max_pool1d_indices_out<A: Backend, B: SamePrimitives<A>>(
    out: MaxPool1dWithIndices<A>,
) -> MaxPool1dWithIndices<B> {
    MaxPool1dWithIndices::new(out.output, out.indices)
}

pub(crate) fn max_pool2d_indices_out<A: Backend, B: SamePrimitives<A>>(
    out: MaxPool2dWithIndices<A>,
) -> MaxPool2dWithIndices<B> {
    MaxPool2dWithIndices::new(out.output, out.indices)
}

pub(crate) fn max_pool1d_backward_out<A: Backend, B: SamePrimitives<A>>(
    out: MaxPool1dBackward<A>,
) -> MaxPool1dBackward<B> {
    MaxPool1dBackward::new(out.x_grad)
}

pub(crate) fn max_pool2d_backward_out<A: Backend, B: SamePrimitives<A>>(
    out: MaxPool2dBackward<A>,
) -> MaxPool2dBackward<B> {
    MaxPool2dBackward::new(out.x_grad)
}

pub(crate) fn deform_conv2d_backward_out<A: Backend, B: SamePrimitives<A>>(
    out: DeformConv2dBackward<A>,
) -> DeformConv2dBackward<B> {
    DeformConv2dBackward::new(
        out.x_grad,
        out.offset_grad,
        out.weight_grad,
        out.mask_grad,
        out.bias_grad,
    )
}
