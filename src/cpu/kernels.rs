//! The kernels [`FastNdArray`](super::FastNdArray) replaces, on burn-ndarray's
//! own tensors. Every kernel handles f32 and f64 and hands anything else
//! (another dtype, a layout it does not cover) to burn-ndarray unchanged.

use core::marker::PhantomData;

use burn_backend::ops::FloatTensorOps;
use burn_backend::{FloatDType, Shape};
use burn_ndarray::{FloatNdArrayElement, NdArrayDevice, NdArrayTensor, SharedArray};
use ndarray::{ArrayView2, ArrayViewD, ArrayViewMut2, Axis, Ix2, IxDyn, LinalgScalar};

use super::Inner;

/// Batched products above this many multiply-adds go to burn-ndarray's kernel,
/// which spreads the matrices over rayon's threads; below it the hand-off to
/// the pool costs more than it saves.
const PARALLEL_BATCH_WORK: usize = 1 << 22;

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
                array.mapv_inplace(tanh_f32);
                array.into()
            }
            other => Inner::<E>::float_tanh(other),
        }
    }

    /// On the calling thread (see the module documentation), for same-dtype
    /// operands of rank 2 or more.
    pub(crate) fn float_matmul(lhs: NdArrayTensor, rhs: NdArrayTensor) -> NdArrayTensor {
        match (lhs, rhs) {
            (NdArrayTensor::F32(l), NdArrayTensor::F32(r)) => {
                matmul_or::<f32>(l.into_shared(), r.into_shared())
            }
            (NdArrayTensor::F64(l), NdArrayTensor::F64(r)) => {
                matmul_or::<f64>(l.into_shared(), r.into_shared())
            }
            (l, r) => Inner::<E>::float_matmul(l, r),
        }
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

/// [`matmul`], or burn-ndarray's kernel for the cases it does not cover.
fn matmul_or<T>(lhs: SharedArray<T>, rhs: SharedArray<T>) -> NdArrayTensor
where
    T: LinalgScalar + FloatNdArrayElement,
    NdArrayTensor: From<SharedArray<T>>,
{
    match matmul(&lhs, &rhs) {
        Some(out) => out.into(),
        None => Inner::<T>::float_matmul(lhs.into(), rhs.into()),
    }
}

/// `lhs · rhs` over the last two dimensions, batch dimensions broadcast, on the
/// calling thread. `None` for what it leaves to burn-ndarray: ranks below 2 or
/// unequal, mismatched inner dimensions (burn-ndarray's error), a broadcast
/// other than "one side has a single matrix", or a batched product large
/// enough for burn-ndarray's parallel kernel.
fn matmul<T: LinalgScalar>(lhs: &SharedArray<T>, rhs: &SharedArray<T>) -> Option<SharedArray<T>> {
    let (ls, rs) = (lhs.shape(), rhs.shape());
    let rank = ls.len();
    if rank < 2 || rs.len() != rank {
        return None;
    }
    let (m, k, n) = (ls[rank - 2], ls[rank - 1], rs[rank - 1]);
    if rs[rank - 2] != k {
        return None;
    }
    let (lb, rb) = (&ls[..rank - 2], &rs[..rank - 2]);
    let (l_count, r_count): (usize, usize) = (lb.iter().product(), rb.iter().product());
    let batch: Vec<usize> = if r_count == 1 {
        lb.to_vec()
    } else if l_count == 1 || lb == rb {
        rb.to_vec()
    } else {
        return None;
    };
    let count: usize = batch.iter().product();
    let mut out_dims = batch;
    out_dims.extend([m, n]);
    let mut out = ndarray::Array::<T, _>::zeros(IxDyn(&out_dims));

    if r_count == 1 {
        // One right matrix: the left matrices stacked are one GEMM when their rows
        // are contiguous (the lanes of a `Dual` tensor through a layer).
        let r = matrix(rhs.view(), 0);
        if lhs.is_standard_layout() {
            let l = lhs
                .view()
                .into_shape_with_order((count * m, k))
                .expect("a standard-layout array takes any shape of its size");
            let mut o = out
                .view_mut()
                .into_shape_with_order((count * m, n))
                .expect("a new array takes any shape of its size");
            gemm_into(&l, &r, &mut o);
            return Some(out.into_shared());
        }
    }
    if count > 1 && count * m * k * n > PARALLEL_BATCH_WORK {
        return None;
    }
    for b in 0..count {
        let l = matrix(lhs.view(), if l_count == 1 { 0 } else { b });
        let r = matrix(rhs.view(), if r_count == 1 { 0 } else { b });
        let mut o = out
            .view_mut()
            .into_shape_with_order((count, m, n))
            .expect("a new array takes any shape of its size");
        let mut o = o.index_axis_mut(Axis(0), b);
        gemm_into(&l, &r, &mut o);
    }
    Some(out.into_shared())
}

/// `o = l · r` on this thread, by the `gemm` crate (any strides).
fn gemm_into<T: LinalgScalar>(
    l: &ArrayView2<'_, T>,
    r: &ArrayView2<'_, T>,
    o: &mut ArrayViewMut2<'_, T>,
) {
    let ([m, k], n) = ([l.nrows(), l.ncols()], r.ncols());
    debug_assert_eq!((r.nrows(), o.nrows(), o.ncols()), (k, m, n));
    if m * n * k == 0 {
        // `o` is a new zeroed array: an empty sum is already there.
        return;
    }
    let (ls, rs) = (l.strides(), r.strides());
    let os = [o.strides()[0], o.strides()[1]];
    // SAFETY: the three views are valid for the strides ndarray reports, with
    // the shapes checked above; `o` is borrowed mutably, so it aliases neither
    // operand. With `read_dst` false, `o`'s old values are not read.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            o.as_mut_ptr(),
            os[1],
            os[0],
            false,
            l.as_ptr(),
            ls[1],
            ls[0],
            r.as_ptr(),
            rs[1],
            rs[0],
            T::zero(),
            T::one(),
            false,
            false,
            false,
            gemm::Parallelism::None,
        )
    }
}

/// The `index`-th matrix (row-major over the batch dimensions) of `a`, as a
/// strided 2-D view.
fn matrix<T>(mut a: ArrayViewD<'_, T>, mut index: usize) -> ArrayView2<'_, T> {
    let rank = a.ndim();
    for axis in (0..rank - 2).rev() {
        let len = a.shape()[axis];
        a.collapse_axis(Axis(axis), index % len);
        index /= len;
    }
    // Collapsed axes have length 1; dropping them leaves the matrix.
    for _ in 0..rank - 2 {
        a = a.index_axis_move(Axis(0), 0);
    }
    a.into_dimensionality::<Ix2>()
        .expect("two dimensions are left")
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
