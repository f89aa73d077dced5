//! The op census: a backend decorator that counts the ops reaching its inner
//! backend, by op and by kind.
//!
//! [`Census<B>`](Census) is `B` with a counter in front: every method of Burn's
//! backend traits notes its op in one process-wide table and forwards to `B`.
//! Its tensors are `B`'s own, so values are bit for bit `B`'s. Put it where the
//! kernels run, under the decorators whose cost you want to see:
//! `Autodiff<Census<B>>` counts a training step's forward and backward ops, and
//! the transforms of this crate stack their `Dual` and `Autodiff` layers above
//! it (`Dual<Autodiff<Census<B>>>`, ...) without knowing. On a GPU backend a
//! counted op is roughly one kernel launch (a few for a multi-stage reduction,
//! none for a reshape that only changes metadata); on a fusing backend it is one
//! op handed to the fuser. Counting is deterministic and needs no GPU.
//!
//! Only calls that reach `B` *through* `Census` are counted: when `B` builds an
//! op from its own other ops (a default method, `clamp` as two masks), that is
//! one op here. Every method is forwarded, those with a default body included,
//! so `Census` never decomposes an op that `B` runs natively.
//!
//! # Kinds
//!
//! Each op has an [`OpKind`], decided from its name (`float_`, `int_`, `bool_`
//! and `q_` prefixes aside) by the table in `scripts/gen_census.py`:
//!
//! - [`Elementwise`](OpKind::Elementwise): arithmetic, powers and math
//!   functions, comparisons, masks (`mask_where`, `mask_fill`), clamps, logic
//!   and bitwise ops, activations and their backward kernels (`relu_backward`).
//! - [`MatmulConv`](OpKind::MatmulConv): `matmul`, `linear`, the convolution
//!   family (`conv*`, `conv_transpose*`, `deform_conv2d`, `unfold4d`) with its
//!   backward kernels, `attention`, and the other windowed or structured
//!   kernels: pooling, `interpolate`, `grid_sample_2d`, `rfft`/`irfft`.
//! - [`Reduction`](OpKind::Reduction): `sum`, `mean`, `prod`, `max`/`min`
//!   (whole or `_dim`), `argmax`/`argmin`, `max_abs`, `topk`, cumulative scans,
//!   `any`/`all`, sorts, and the ops that reduce inside: `softmax`,
//!   `log_softmax`, `softmin`, `layer_norm`.
//! - [`Layout`](OpKind::Layout): `reshape`, `transpose`, `swap_dims`,
//!   `permute`, `flip`, `expand`, `slice`, `slice_assign`, `cat`,
//!   `repeat_dim`, `unfold`, `gather`/`scatter` (`_nd`, `_add`, `_or`),
//!   `select`/`select_add`, `embedding`. Many are metadata only on a given
//!   backend (no kernel), but they are counted like any op.
//! - [`Copy`](OpKind::Copy): `to_device`, the dtype conversions (`cast`,
//!   `into_int`, `into_float`, `bool_into_*`), `quantize`, `dequantize`.
//! - [`Fill`](OpKind::Fill): `from_data`, `zeros`, `ones`, `full`, `empty`,
//!   `random`, `arange`.
//! - [`HostRead`](OpKind::HostRead): `into_data` of every tensor kind,
//!   `tr_execute` (a batched read) and `bool_argwhere` (its output shape
//!   depends on the data, so a device backend reads a count back).
//! - [`Other`](OpKind::Other): `ctc_loss` and its backward.
//!
//! Calls that touch no tensor data are *queries*: `*_device`, the autodiff
//! flags (`*_detach`, `*_set_require_grad`, `*_is_require_grad`),
//! `has_ctc_loss_backward`, and `Backend`'s own methods (`ad_enabled`, `name`,
//! `seed`, `sync`, `memory_*`, `staging`, dtype and device-count questions).
//! They are noted but have no kind: they are in no total, no [`OpCounts::of`]
//! and no [`OpCounts::ops`], and [`OpCounts::queries`] lists them.
//!
//! # Counts are process-wide
//!
//! There is one table for the process: [`snapshot`] and [`counted`] see the
//! ops of every thread running on any `Census` backend, whatever its `B`.
//! Measure with nothing else running on a `Census` backend at the same time.
//!
//! # Example
//!
//! ```
//! use burn::tensor::Tensor;
//! use burn_nested::census::{self, Census, OpKind};
//!
//! type B = Census<burn_ndarray::NdArray<f32>>;
//! let device = Default::default();
//! let a = Tensor::<B, 1>::from_floats([1.0, 2.0, 3.0], &device);
//! let b = Tensor::<B, 1>::ones([3], &device);
//!
//! let (sum, ops) = census::counted(|| (a + b).sum());
//! assert_eq!(ops.count("float_add"), 1);
//! assert_eq!((ops.of(OpKind::Elementwise), ops.of(OpKind::Reduction)), (1, 1));
//! println!("{ops}"); // total 2: elementwise 1, matmul/conv 0, reduction 1, ...
//!
//! let (data, ops) = census::counted(|| sum.into_data());
//! assert_eq!(data.to_vec::<f32>().unwrap(), vec![9.0]);
//! assert_eq!(ops.of(OpKind::HostRead), 1);
//! ```

mod delegate;
mod table;

use core::fmt;
use core::marker::PhantomData;
use core::sync::atomic::{AtomicU64, Ordering};

use burn_backend::{
    Backend, DType, DTypeUsageSet, ExecutionError, TensorData, backend::BackendTypes,
};

use table::{KINDS, NAMES, OP_COUNT, Op};

/// The process's counts, one per op, indexed by `Op as usize`.
static COUNTS: [AtomicU64; OP_COUNT] = [const { AtomicU64::new(0) }; OP_COUNT];

/// Counts one call of `op`.
#[inline]
fn note(op: Op) {
    COUNTS[op as usize].fetch_add(1, Ordering::Relaxed);
}

/// What an op does to data, for the census's per-kind totals. The module
/// documentation lists which op falls where.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OpKind {
    /// One output element from the same elements of the inputs: arithmetic,
    /// math functions, comparisons, masks, clamps, activations.
    Elementwise,
    /// Matmul, linear, convolutions, attention, pooling, interpolation and the
    /// other structured kernels, with their backward kernels.
    MatmulConv,
    /// Reductions, scans, sorts and top-k along a dimension or the whole tensor,
    /// and the softmax family and layer norm.
    Reduction,
    /// Moving or indexing data without arithmetic: reshapes, slices, cats,
    /// gathers, scatters.
    Layout,
    /// Copies and conversions: to another device or dtype, (de)quantization.
    Copy,
    /// New tensors: from host data, constants, random, ranges.
    Fill,
    /// Reads to the host: `into_data`, transactions, `argwhere`.
    HostRead,
    /// Data ops with no better kind (`ctc_loss`).
    Other,
}

impl OpKind {
    /// Every kind, in the order [`OpCounts`]'s `Display` prints them.
    pub const ALL: [OpKind; 8] = [
        OpKind::Elementwise,
        OpKind::MatmulConv,
        OpKind::Reduction,
        OpKind::Layout,
        OpKind::Copy,
        OpKind::Fill,
        OpKind::HostRead,
        OpKind::Other,
    ];

    /// A short lower-case name: `elementwise`, `matmul/conv`, `reduction`,
    /// `layout`, `copy`, `fill`, `host-read`, `other`.
    pub fn name(self) -> &'static str {
        match self {
            OpKind::Elementwise => "elementwise",
            OpKind::MatmulConv => "matmul/conv",
            OpKind::Reduction => "reduction",
            OpKind::Layout => "layout",
            OpKind::Copy => "copy",
            OpKind::Fill => "fill",
            OpKind::HostRead => "host-read",
            OpKind::Other => "other",
        }
    }
}

impl fmt::Display for OpKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Counts of the ops that reached a [`Census`] backend's inner backend, per op:
/// the process's counts so far ([`snapshot`]) or a difference of two
/// ([`OpCounts::since`], [`counted`]).
#[derive(Clone, PartialEq, Eq)]
pub struct OpCounts {
    counts: Vec<u64>,
}

impl Default for OpCounts {
    /// No op counted.
    fn default() -> Self {
        OpCounts {
            counts: vec![0; OP_COUNT],
        }
    }
}

/// Ops that only relabel a buffer on burn-cubecl (wgpu, CUDA): a contiguous
/// reshape, an expand, a transpose or a slice is a new view, not a kernel, as
/// the corresponding aten ops are views in PyTorch (`benches/compare/census.py`
/// counts them apart the same way). burn-ndarray copies on some of them.
pub const VIEWS: [&str; 10] = [
    "float_reshape",
    "float_expand",
    "float_swap_dims",
    "float_permute",
    "float_transpose",
    "float_slice",
    "int_reshape",
    "int_expand",
    "bool_reshape",
    "bool_expand",
];

impl OpCounts {
    /// The ops in [`VIEWS`]: views, not kernels, on a GPU backend.
    pub fn views(&self) -> u64 {
        VIEWS.iter().map(|name| self.count(name)).sum()
    }

    /// Kernel ops: [`total`](Self::total) less the [`views`](Self::views).
    pub fn kernels(&self) -> u64 {
        self.total() - self.views()
    }

    /// Every counted data op, of all kinds; queries (module docs) are not in it.
    pub fn total(&self) -> u64 {
        self.data_ops().map(|(_, _, n)| n).sum()
    }

    /// The ops of one kind.
    pub fn of(&self, kind: OpKind) -> u64 {
        self.data_ops()
            .filter(|&(_, k, _)| k == kind)
            .map(|(_, _, n)| n)
            .sum()
    }

    /// The count of one op, by its backend-trait method name (`"float_add"`,
    /// `"conv2d"`, `"float_device"`, ...); 0 for a name that is no op.
    pub fn count(&self, op: &str) -> u64 {
        NAMES
            .iter()
            .position(|&name| name == op)
            .map_or(0, |i| self.counts[i])
    }

    /// The data ops that were called, with their kind and count, most called
    /// first (ties by name). Queries are left out: see [`OpCounts::queries`].
    pub fn ops(&self) -> impl Iterator<Item = (&'static str, OpKind, u64)> + '_ {
        let mut ops: Vec<_> = self.data_ops().filter(|&(_, _, n)| n > 0).collect();
        ops.sort_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(b.0)));
        ops.into_iter()
    }

    /// The queries that were called (calls that touch no tensor data, such as
    /// `float_device` or `sync`), with their count, most called first.
    pub fn queries(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        let mut queries: Vec<_> = (0..OP_COUNT)
            .filter(|&i| KINDS[i].is_none() && self.counts[i] > 0)
            .map(|i| (NAMES[i], self.counts[i]))
            .collect();
        queries.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        queries.into_iter()
    }

    /// The ops counted since `earlier`, a snapshot taken before this one (an op
    /// counted less now than then gives 0).
    pub fn since(&self, earlier: &OpCounts) -> OpCounts {
        OpCounts {
            counts: self
                .counts
                .iter()
                .zip(&earlier.counts)
                .map(|(now, then)| now.saturating_sub(*then))
                .collect(),
        }
    }

    /// The counts of `steps` equal steps divided by `steps`, rounded to the
    /// nearest whole op: what one of them costs. Panics if `steps` is zero.
    pub fn per(&self, steps: u64) -> OpCounts {
        assert!(
            steps > 0,
            "burn-nested: `OpCounts::per` needs at least one step"
        );
        OpCounts {
            counts: self
                .counts
                .iter()
                .map(|n| (n + steps / 2) / steps)
                .collect(),
        }
    }

    fn data_ops(&self) -> impl Iterator<Item = (&'static str, OpKind, u64)> + '_ {
        (0..OP_COUNT).filter_map(|i| KINDS[i].map(|kind| (NAMES[i], kind, self.counts[i])))
    }
}

impl fmt::Display for OpCounts {
    /// One line: `total 12: elementwise 5, matmul/conv 2, reduction 1, layout 3,
    /// copy 0, fill 1, host-read 0, other 0`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "total {}:", self.total())?;
        for (i, kind) in OpKind::ALL.into_iter().enumerate() {
            let sep = if i == 0 { "" } else { "," };
            write!(f, "{sep} {kind} {}", self.of(kind))?;
        }
        Ok(())
    }
}

impl fmt::Debug for OpCounts {
    /// The one-line summary, then every op and query called, most called first.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OpCounts({self}; ")?;
        let mut list = f.debug_map();
        for (name, _, n) in self.ops() {
            list.entry(&name, &n);
        }
        for (name, n) in self.queries() {
            list.entry(&name, &n);
        }
        list.finish()?;
        f.write_str(")")
    }
}

/// The ops counted so far in this process, on every thread and every
/// [`Census`] backend.
pub fn snapshot() -> OpCounts {
    OpCounts {
        counts: COUNTS.iter().map(|c| c.load(Ordering::Relaxed)).collect(),
    }
}

/// Runs `f` and returns its result with the ops counted while it ran. The
/// counts are process-wide: another thread's ops on a [`Census`] backend in the
/// meantime are in them too.
pub fn counted<R>(f: impl FnOnce() -> R) -> (R, OpCounts) {
    let before = snapshot();
    let result = f();
    (result, snapshot().since(&before))
}

/// A backend decorator that counts, per op, the calls reaching the inner
/// backend `B` (see the [module documentation](self)).
///
/// Its tensors, device and elements are `B`'s, and every method forwards to
/// `B` after counting, so results are exactly `B`'s. Use it as an inner
/// backend: `Autodiff<Census<B>>`, or `Census<B>` alone.
#[derive(Clone, Copy, Debug, Default)]
pub struct Census<B> {
    _inner: PhantomData<B>,
}

impl<B: Backend> BackendTypes for Census<B> {
    type Device = B::Device;

    type FloatTensorPrimitive = B::FloatTensorPrimitive;
    type FloatElem = B::FloatElem;

    type IntTensorPrimitive = B::IntTensorPrimitive;
    type IntElem = B::IntElem;

    type BoolTensorPrimitive = B::BoolTensorPrimitive;
    type BoolElem = B::BoolElem;

    type QuantizedTensorPrimitive = B::QuantizedTensorPrimitive;
}

impl<B: Backend> Backend for Census<B> {
    fn ad_enabled(device: &Self::Device) -> bool {
        note(Op::ad_enabled);
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
        note(Op::memory_persistent_allocations);
        B::memory_persistent_allocations(device, input, func)
    }

    fn memory_cleanup(device: &Self::Device) {
        note(Op::memory_cleanup);
        B::memory_cleanup(device)
    }

    /// `census<` `B`'s name `>`.
    fn name(device: &Self::Device) -> String {
        note(Op::name);
        format!("census<{}>", B::name(device))
    }

    fn seed(device: &Self::Device, seed: u64) {
        note(Op::seed);
        B::seed(device, seed)
    }

    fn sync(device: &Self::Device) -> Result<(), ExecutionError> {
        note(Op::sync);
        B::sync(device)
    }

    fn staging<'a, Iter>(data: Iter, device: &Self::Device)
    where
        Iter: Iterator<Item = &'a mut TensorData>,
    {
        note(Op::staging);
        B::staging(data, device)
    }

    fn supports_dtype(device: &Self::Device, dtype: DType) -> bool {
        note(Op::supports_dtype);
        B::supports_dtype(device, dtype)
    }

    fn dtype_usage(device: &Self::Device, dtype: DType) -> DTypeUsageSet {
        note(Op::dtype_usage);
        B::dtype_usage(device, dtype)
    }

    fn device_count(type_id: u16) -> usize {
        note(Op::device_count);
        B::device_count(type_id)
    }
}
