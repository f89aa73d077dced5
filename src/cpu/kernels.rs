//! The kernels [`FastNdArray`](super::FastNdArray) replaces, on burn-ndarray's
//! own tensors. Every kernel handles f32 and f64 and hands anything else
//! (another dtype, a layout it does not cover) to burn-ndarray unchanged.

use core::marker::PhantomData;

use burn_backend::ops::{FloatTensorOps, ModuleOps};
use burn_backend::{FloatDType, Scalar, Shape};
use burn_ndarray::{FloatNdArrayElement, NdArrayDevice, NdArrayTensor, SharedArray};
use ndarray::{Axis, IxDyn};
use rayon::prelude::*;

use super::{Inner, binary, matmul};

/// Elementwise ops on fewer elements stay on the calling thread (a same-shape
/// binary op then with burn-ndarray's SIMD kernel, which writes in place into
/// an operand it owns); larger ones are spread over rayon's threads.
const PARALLEL_ELEMENTS: usize = binary::PARALLEL_ELEMENTS;

/// `tanh` costs a few nanoseconds an element (arithmetic, not memory), so it
/// pays to split at an eighth of the elementwise threshold.
const PARALLEL_TANH: usize = PARALLEL_ELEMENTS / 8;

/// `$body` with `$l`, `$r` bound to the two operands' arrays when both are f32
/// or both f64; `$fallback(lhs, rhs)` for any other pair of dtypes.
macro_rules! same_float {
    (($lhs:expr, $rhs:expr), |$l:ident, $r:ident| $body:expr, $fallback:expr) => {
        match ($lhs, $rhs) {
            (NdArrayTensor::F32(l), NdArrayTensor::F32(r)) => {
                let ($l, $r) = (l.into_shared(), r.into_shared());
                $body
            }
            (NdArrayTensor::F64(l), NdArrayTensor::F64(r)) => {
                let ($l, $r) = (l.into_shared(), r.into_shared());
                $body
            }
            (l, r) => $fallback(l, r),
        }
    };
}

/// An elementwise binary op: [`binary::broadcast`] for broadcast or large
/// operands, `$fallback` (burn-ndarray) for the rest and for what the kernel
/// does not cover.
macro_rules! elementwise {
    ($lhs:expr, $rhs:expr, $op:tt, $fallback:expr) => {
        same_float!(
            ($lhs, $rhs),
            |l, r| {
                let fast = l.shape() != r.shape() || l.len() >= PARALLEL_ELEMENTS;
                match fast.then(|| binary::broadcast(&l, &r, |a, b| a $op b)).flatten() {
                    Some(out) => out.into(),
                    None => $fallback(l.into(), r.into()),
                }
            },
            $fallback
        )
    };
}

/// The replaced kernels, named as the backend methods they implement.
pub(crate) struct Kernels<E>(PhantomData<E>);

impl<E: FloatNdArrayElement> Kernels<E>
where
    NdArrayTensor: From<SharedArray<E>>,
{
    /// Zeroed memory from the allocator, not a fill.
    pub(crate) fn float_zeros(
        shape: Shape,
        device: &NdArrayDevice,
        dtype: FloatDType,
    ) -> NdArrayTensor {
        let dims = IxDyn(&shape);
        match dtype {
            FloatDType::F32 => SharedArray::<f32>::zeros(dims).into(),
            FloatDType::F64 => SharedArray::<f64>::zeros(dims).into(),
            _ => Inner::<E>::float_zeros(shape, device, dtype),
        }
    }

    /// Ones, by [`Self::float_full`].
    pub(crate) fn float_ones(
        shape: Shape,
        device: &NdArrayDevice,
        dtype: FloatDType,
    ) -> NdArrayTensor {
        Self::float_full(shape, 1.0.into(), device, dtype)
    }

    /// One fill of a new array (burn-ndarray builds a `TensorData` and
    /// converts it: a fill and a copy). Autodiff's backward of `sum` and `mean`
    /// multiplies by such a tensor of ones.
    pub(crate) fn float_full(
        shape: Shape,
        fill_value: Scalar,
        device: &NdArrayDevice,
        dtype: FloatDType,
    ) -> NdArrayTensor {
        let dims = IxDyn(&shape);
        match dtype {
            FloatDType::F32 => SharedArray::<f32>::from_elem(dims, fill_value.elem()).into(),
            FloatDType::F64 => SharedArray::<f64>::from_elem(dims, fill_value.elem()).into(),
            _ => Inner::<E>::float_full(shape, fill_value, device, dtype),
        }
    }

    /// A view with the new shape when the tensor is contiguous in row-major
    /// order; otherwise burn-ndarray's copy.
    pub(crate) fn float_reshape(tensor: NdArrayTensor, shape: Shape) -> NdArrayTensor {
        match tensor {
            NdArrayTensor::F32(s) => reshape::<f32>(s.into_shared(), shape),
            NdArrayTensor::F64(s) => reshape::<f64>(s.into_shared(), shape),
            other => Inner::<E>::float_reshape(other, shape),
        }
    }

    /// f32: the rational approximation [`tanh_f32`]; f64: burn-ndarray's (libm).
    pub(crate) fn float_tanh(tensor: NdArrayTensor) -> NdArrayTensor {
        match tensor {
            NdArrayTensor::F32(s) => {
                let mut array = s.into_shared();
                // In place when the buffer is this tensor's alone (the usual case
                // for an intermediate), else on a copy (`ArcArray` copies on write).
                match array.as_slice_mut() {
                    // Plain loops over slices, which the compiler vectorises.
                    Some(values) if values.len() >= PARALLEL_TANH => values
                        .par_chunks_mut(PARALLEL_TANH / 2)
                        .for_each(|chunk| chunk.iter_mut().for_each(|x| *x = tanh_f32(*x))),
                    Some(values) => values.iter_mut().for_each(|x| *x = tanh_f32(*x)),
                    None => array.mapv_inplace(tanh_f32),
                }
                array.into()
            }
            other => Inner::<E>::float_tanh(other),
        }
    }

    /// [`matmul::matmul`] for same-dtype operands of rank 2 or more.
    pub(crate) fn float_matmul(lhs: NdArrayTensor, rhs: NdArrayTensor) -> NdArrayTensor {
        same_float!(
            (lhs, rhs),
            |l, r| match matmul::matmul(&l, &r) {
                Some(out) => out.into(),
                None => Inner::<E>::float_matmul(l.into(), r.into()),
            },
            Inner::<E>::float_matmul
        )
    }

    /// `lhs + rhs`, see [`binary`].
    pub(crate) fn float_add(lhs: NdArrayTensor, rhs: NdArrayTensor) -> NdArrayTensor {
        elementwise!(lhs, rhs, +, Inner::<E>::float_add)
    }

    /// `lhs − rhs`, see [`binary`].
    pub(crate) fn float_sub(lhs: NdArrayTensor, rhs: NdArrayTensor) -> NdArrayTensor {
        elementwise!(lhs, rhs, -, Inner::<E>::float_sub)
    }

    /// `lhs · rhs`, see [`binary`].
    pub(crate) fn float_mul(lhs: NdArrayTensor, rhs: NdArrayTensor) -> NdArrayTensor {
        elementwise!(lhs, rhs, *, Inner::<E>::float_mul)
    }

    /// `lhs / rhs`, see [`binary`].
    pub(crate) fn float_div(lhs: NdArrayTensor, rhs: NdArrayTensor) -> NdArrayTensor {
        elementwise!(lhs, rhs, /, Inner::<E>::float_div)
    }

    /// [`matmul::weight_gradient`]: one product over every row.
    pub(crate) fn linear_weight_backward(
        x: NdArrayTensor,
        output_grad: NdArrayTensor,
    ) -> NdArrayTensor {
        same_float!(
            (x, output_grad),
            |x, g| match matmul::weight_gradient(&x, &g) {
                Some(out) => out.into(),
                None => Inner::<E>::linear_weight_backward(x.into(), g.into()),
            },
            Inner::<E>::linear_weight_backward
        )
    }

    /// The output gradient summed over all its rows in one reduction
    /// (Burn's default sums one leading dimension at a time).
    pub(crate) fn linear_bias_backward(output_grad: NdArrayTensor) -> NdArrayTensor {
        match output_grad {
            NdArrayTensor::F32(g) => column_sum::<f32>(g.into_shared()),
            NdArrayTensor::F64(g) => column_sum::<f64>(g.into_shared()),
            other => Inner::<E>::linear_bias_backward(other),
        }
    }
}

/// The sum over every dimension but the last, as a vector.
fn column_sum<T>(g: SharedArray<T>) -> NdArrayTensor
where
    T: ndarray::LinalgScalar + FloatNdArrayElement,
    NdArrayTensor: From<SharedArray<T>>,
{
    let n = g.shape().last().copied().unwrap_or(1);
    let rows = g.len() / n.max(1);
    match g.view().into_shape_with_order((rows, n)) {
        Ok(view) => view.sum_axis(Axis(0)).into_dyn().into_shared().into(),
        Err(_) => Inner::<T>::linear_bias_backward(g.into()),
    }
}

fn reshape<T>(array: SharedArray<T>, shape: Shape) -> NdArrayTensor
where
    T: FloatNdArrayElement,
    NdArrayTensor: From<SharedArray<T>>,
{
    if array.is_standard_layout()
        && let Ok(view) = array.clone().into_shape_with_order(IxDyn(&shape))
    {
        return view.into();
    }
    // A strided tensor is copied, as burn-ndarray does.
    Inner::<T>::float_reshape(array.into(), shape)
}

/// Beyond this, `tanh` rounds to ±1 in f32 (`1 − tanh(10) ≈ 4·10⁻⁹`, below half
/// a unit in the last place of 1).
const TANH_SATURATED: f64 = 10.0;

/// Below this, `tanh(x)` rounds to `x` in f32 (`x³/3` is under half an ulp).
const TANH_LINEAR: f32 = 2.4e-4;

/// `tanh` of an f32 as `1 − 2/(e^{2|x|} + 1)` in f64, with the sign put back,
/// within one unit in the last place of the correctly rounded value
/// (`tests/fast_cpu.rs` checks it on a dense sweep). The cancellation near zero
/// costs f64 digits that f32 does not need, and the exponential is
/// [`exp_f64`], branch-free, so the compiler vectorises the loop over a tensor.
#[inline]
pub(crate) fn tanh_f32(x: f32) -> f32 {
    let a = f64::from(x.abs()).min(TANH_SATURATED);
    let t = 1.0 - 2.0 / (exp_f64(2.0 * a) + 1.0);
    let y = (t as f32).copysign(x);
    // NaN fails the comparison and passes through as `x`.
    if x.abs() < TANH_LINEAR || x.is_nan() {
        x
    } else {
        y
    }
}

/// `eˣ` for `0 ≤ x ≤ 20` to about 10⁻¹⁰ relative, without branches: `x = k ln 2
/// + r` with `|r| ≤ ln 2 / 2`, `eʳ` by its Taylor polynomial to degree 9, and
/// `2ᵏ` built in the exponent bits.
#[inline]
fn exp_f64(x: f64) -> f64 {
    // Adding 1.5·2⁵² rounds to an integer (to nearest) in the low bits.
    const ROUND: f64 = 6_755_399_441_055_744.0;
    const LN2_HI: f64 = 0.693_147_180_369_123_8;
    const LN2_LO: f64 = 1.908_214_929_270_587_7e-10;
    let shifted = x * core::f64::consts::LOG2_E + ROUND;
    let k = shifted - ROUND;
    let r = (x - k * LN2_HI) - k * LN2_LO;
    let mut p = 1.0 / 362_880.0;
    for d in [40_320.0, 5_040.0, 720.0, 120.0, 24.0, 6.0, 2.0, 1.0, 1.0] {
        p = p * r + 1.0 / d;
    }
    // `shifted`'s low mantissa bits hold k: adding the bias and shifting them
    // into the exponent field makes 2ᵏ with integer ops only (no float-to-int
    // conversion, which would keep the loop from vectorising).
    let two_k = f64::from_bits(shifted.to_bits().wrapping_add(1023) << 52);
    p * two_k
}
