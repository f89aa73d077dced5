//! Matrix products for [`FastNdArray`](super::FastNdArray): `matmul` and the
//! weight gradient of `linear`, through the `gemm` crate.
//!
//! Each GEMM runs on one thread. A product big enough to pay for the hand-off
//! is cut into independent pieces for rayon's threads: the rows of the output
//! (a stack of lanes times one matrix), the matrices of a batch, or the
//! contracted dimension (a weight gradient, contracted over every row of the
//! batch, whose pieces are then summed). burn-ndarray instead hands every
//! product to the pool and blocks, and copies batched operands into new
//! layouts first.

use ndarray::{Array2, ArrayView2, ArrayViewD, ArrayViewMut2, Axis, Ix2, IxDyn, LinalgScalar, s};
use rayon::prelude::*;

use burn_ndarray::SharedArray;

/// Multiply-adds below which a product stays on the calling thread: the
/// hand-off to rayon's pool costs more than it saves.
const PARALLEL_WORK: usize = 1 << 22;

/// `lhs · rhs` over the last two dimensions, batch dimensions broadcast.
/// `None` for what it leaves to burn-ndarray: ranks below 2 or unequal,
/// mismatched inner dimensions (burn-ndarray's error), or a broadcast other
/// than "one side has a single matrix".
pub(super) fn matmul<T: LinalgScalar + Send + Sync>(
    lhs: &SharedArray<T>,
    rhs: &SharedArray<T>,
) -> Option<SharedArray<T>> {
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
    // Every GEMM below overwrites its output (`read_dst` false), so the output
    // starts uninitialised rather than zeroed (a memset was 4 % of a step).
    let mut out = ndarray::ArrayD::<T>::uninit(IxDyn(&out_dims));
    // SAFETY: a view of `out`'s own buffer with its shape and standard strides;
    // it is only written through (by the GEMMs or the fill) before `out` is read.
    let mut view = unsafe {
        ndarray::ArrayViewMut::from_shape_ptr(IxDyn(&out_dims), out.as_mut_ptr().cast::<T>())
    };
    if k == 0 {
        // An empty sum: the GEMMs write nothing.
        view.fill(T::zero());
    }

    if r_count == 1 && lhs.is_standard_layout() {
        // One right matrix: the left matrices stacked are one GEMM, since their
        // rows are contiguous (the lanes of a `Dual` tensor through a layer).
        let r = matrix(rhs.view(), 0);
        let l = lhs
            .view()
            .into_shape_with_order((count * m, k))
            .expect("a standard-layout array takes any shape of its size");
        let o = view
            .into_shape_with_order((count * m, n))
            .expect("a new array takes any shape of its size");
        gemm_rows(&l, &r, o);
        // SAFETY: the GEMM wrote every element.
        return Some(unsafe { out.assume_init() }.into_shared());
    }
    let mut o = view
        .into_shape_with_order((count, m, n))
        .expect("a new array takes any shape of its size");
    let product = |b: usize, mut o: ArrayViewMut2<'_, T>| {
        let l = matrix(lhs.view(), if l_count == 1 { 0 } else { b });
        let r = matrix(rhs.view(), if r_count == 1 { 0 } else { b });
        gemm_into(&l, &r, &mut o);
    };
    if count > 1 && count * m * k * n > PARALLEL_WORK {
        o.axis_iter_mut(Axis(0))
            .into_par_iter()
            .enumerate()
            .for_each(|(b, o)| product(b, o));
    } else {
        o.axis_iter_mut(Axis(0))
            .enumerate()
            .for_each(|(b, o)| product(b, o));
    }
    // SAFETY: the GEMMs wrote every element of every matrix.
    Some(unsafe { out.assume_init() }.into_shared())
}

/// The weight gradient of `linear`, `xᵀ · g` summed over every leading
/// dimension, as one product contracted over all the rows (every lane and
/// every batch row) instead of a product per lane summed afterwards. `None`
/// unless both operands are row-major with the same leading dimensions.
pub(super) fn weight_gradient<T: LinalgScalar + Send + Sync>(
    x: &SharedArray<T>,
    g: &SharedArray<T>,
) -> Option<SharedArray<T>> {
    let (xs, gs) = (x.shape(), g.shape());
    let rank = xs.len();
    if rank < 2 || gs.len() != rank || xs[..rank - 1] != gs[..rank - 1] {
        return None;
    }
    if !x.is_standard_layout() || !g.is_standard_layout() {
        return None;
    }
    let (k, m, n) = (xs[..rank - 1].iter().product(), xs[rank - 1], gs[rank - 1]);
    let x = x.view().into_shape_with_order((k, m)).ok()?;
    let g = g.view().into_shape_with_order((k, n)).ok()?;
    let pieces = rayon::current_num_threads();
    let mut out = Array2::<T>::zeros((m, n));
    if pieces < 2 || k * m * n <= PARALLEL_WORK {
        gemm_into(&x.t(), &g, &mut out.view_mut());
    } else {
        // Cut the contracted dimension into one piece per thread and sum the
        // partial products (the rows are many, the output small: cutting the
        // output would leave threads idle).
        let step = k.div_ceil(pieces);
        let partials: Vec<Array2<T>> = (0..pieces)
            .into_par_iter()
            .filter(|p| p * step < k)
            .map(|p| {
                let rows = s![p * step..((p + 1) * step).min(k), ..];
                let mut part = Array2::<T>::zeros((m, n));
                gemm_into(&x.slice(rows).t(), &g.slice(rows), &mut part.view_mut());
                part
            })
            .collect();
        for part in &partials {
            out.zip_mut_with(part, |o, &p| *o = *o + p);
        }
    }
    Some(out.into_dyn().into_shared())
}

/// `o = l · r`, its rows cut among rayon's threads when the product is large.
fn gemm_rows<T: LinalgScalar + Send + Sync>(
    l: &ArrayView2<'_, T>,
    r: &ArrayView2<'_, T>,
    mut o: ArrayViewMut2<'_, T>,
) {
    let (m, k, n) = (l.nrows(), l.ncols(), r.ncols());
    let pieces = rayon::current_num_threads();
    if pieces < 2 || m * k * n <= PARALLEL_WORK {
        gemm_into(l, r, &mut o);
        return;
    }
    let step = m.div_ceil(pieces);
    o.axis_chunks_iter_mut(Axis(0), step)
        .into_par_iter()
        .enumerate()
        .for_each(|(p, mut o)| {
            let rows = l.slice(s![p * step..p * step + o.nrows(), ..]);
            gemm_into(&rows, r, &mut o);
        });
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
        // Nothing to write, or an empty sum, which the callers have zeroed.
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
