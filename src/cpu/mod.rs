//! A faster CPU backend: burn-ndarray with the kernels that dominate a nested
//! training step replaced.
//!
//! [`FastNdArray<E>`](FastNdArray) is burn-ndarray's `NdArray<E>` (same
//! tensors, same device, same elements) except for the ops whose burn-ndarray
//! 0.21 kernels cost a PINN step most of its time (measured in
//! `docs/backends.md`, "`FastNdArray`"):
//!
//! - **`matmul`** runs through the `gemm` crate, on the calling thread when it
//!   is small. burn-ndarray hands every product to rayon's pool and blocks
//!   until it is done, so on a small product the step pays two thread
//!   hand-offs and the idle workers' spinning (`sched_yield`), and it copies
//!   batched operands into new layouts first. Here a batch of matrices times
//!   one matrix (the `Dual` lanes through a layer) is one GEMM over the stacked
//!   rows; a large product is cut among rayon's threads by rows or by matrix.
//! - **`linear`'s weight and bias gradients** are one product (one sum)
//!   contracted over every row, lanes included, instead of a product per lane
//!   summed afterwards; a large contraction is cut among the threads and the
//!   pieces added.
//! - **`add`, `sub`, `mul`, `div`** with broadcasting read both operands in
//!   runs along the merged inner dimensions (burn-ndarray steps through a
//!   broadcast one element at a time, after copying a shared left operand);
//!   large ones are spread over rayon's threads. Small same-shape ones stay
//!   with burn-ndarray's SIMD kernel.
//! - **`tanh`** in f32 is a rational approximation that the compiler
//!   vectorises, accurate to a few units in the last place (burn-ndarray
//!   computes every f32 `tanh` through libm's f64 `tanh`); f64 keeps libm's.
//! - **`reshape`** of a contiguous tensor changes the view without copying
//!   (burn-ndarray copies on every reshape).
//! - **`zeros`** asks the allocator for zeroed memory instead of filling it,
//!   and **`ones`/`full`** fill a new array once (burn-ndarray fills a
//!   `TensorData` and converts it).
//!
//! `linear` itself and its input gradient keep Burn's default bodies, built on
//! this `matmul`. In f64 every op gives burn-ndarray's values up to the order
//! of a product's sums (elementwise ops bit for bit); in f32 `tanh` also
//! differs, within one unit in the last place. The tests in
//! `tests/fast_cpu.rs` compare each kernel with burn-ndarray's.
//!
//! ```
//! use burn::tensor::Tensor;
//! use burn_nested::cpu::FastNdArray;
//!
//! let device = Default::default();
//! let x = Tensor::<FastNdArray, 2>::from_floats([[0.5, -1.0], [2.0, 0.0]], &device);
//! let y = x.clone().matmul(x).tanh();
//! assert_eq!(y.dims(), [2, 2]);
//! ```
//!
//! Use it wherever `NdArray<E>` goes: `Autodiff<FastNdArray>` for training,
//! `FastNdArray<f64>` for checks. The examples and benches of this crate run on
//! it when given `--device ndarray`.

mod binary;
mod delegate;
mod kernels;
mod matmul;

use core::marker::PhantomData;

use burn_backend::{
    Backend, DType, DTypeUsageSet, ExecutionError, TensorData, backend::BackendTypes,
};
use burn_ndarray::{FloatNdArrayElement, NdArray, NdArrayTensor, SharedArray};

/// The backend every op not replaced here forwards to.
type Inner<E> = NdArray<E>;

/// burn-ndarray's `NdArray<E>` with faster kernels for `matmul`, `linear`'s
/// backward, broadcast arithmetic, f32 `tanh`, `reshape` and fills (see the
/// [module documentation](self)).
///
/// Its tensors, device and elements are `NdArray<E>`'s.
#[derive(Clone, Copy, Debug, Default)]
pub struct FastNdArray<E = f32> {
    _element: PhantomData<E>,
}

impl<E: FloatNdArrayElement> BackendTypes for FastNdArray<E>
where
    NdArrayTensor: From<SharedArray<E>>,
{
    type Device = <Inner<E> as BackendTypes>::Device;

    type FloatTensorPrimitive = <Inner<E> as BackendTypes>::FloatTensorPrimitive;
    type FloatElem = E;

    type IntTensorPrimitive = <Inner<E> as BackendTypes>::IntTensorPrimitive;
    type IntElem = <Inner<E> as BackendTypes>::IntElem;

    type BoolTensorPrimitive = <Inner<E> as BackendTypes>::BoolTensorPrimitive;
    type BoolElem = <Inner<E> as BackendTypes>::BoolElem;

    type QuantizedTensorPrimitive = <Inner<E> as BackendTypes>::QuantizedTensorPrimitive;
}

impl<E: FloatNdArrayElement> Backend for FastNdArray<E>
where
    NdArrayTensor: From<SharedArray<E>>,
{
    fn ad_enabled(device: &Self::Device) -> bool {
        Inner::<E>::ad_enabled(device)
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
        Inner::<E>::memory_persistent_allocations(device, input, func)
    }

    fn memory_cleanup(device: &Self::Device) {
        Inner::<E>::memory_cleanup(device)
    }

    /// `fast-ndarray`.
    fn name(_device: &Self::Device) -> String {
        String::from("fast-ndarray")
    }

    fn seed(device: &Self::Device, seed: u64) {
        Inner::<E>::seed(device, seed)
    }

    fn sync(device: &Self::Device) -> Result<(), ExecutionError> {
        Inner::<E>::sync(device)
    }

    fn staging<'a, Iter>(data: Iter, device: &Self::Device)
    where
        Iter: Iterator<Item = &'a mut TensorData>,
    {
        Inner::<E>::staging(data, device)
    }

    fn supports_dtype(device: &Self::Device, dtype: DType) -> bool {
        Inner::<E>::supports_dtype(device, dtype)
    }

    fn dtype_usage(device: &Self::Device, dtype: DType) -> DTypeUsageSet {
        Inner::<E>::dtype_usage(device, dtype)
    }

    fn device_count(type_id: u16) -> usize {
        Inner::<E>::device_count(type_id)
    }
}
