//! Elementwise binary ops with broadcasting, for
//! [`FastNdArray`](super::FastNdArray)'s `add`, `sub`, `mul` and `div`.
//!
//! burn-ndarray 0.21 runs a same-shape product through SIMD but a broadcast one
//! (the `Dual` lanes `[L, B, W]` times a primal factor `[1, B, W]`, the most
//! common product of a forward rule and of its backward) through ndarray's
//! strided iterator, one element at a time, after copying a shared left operand
//! it then overwrites. Here both operands are read in runs along the merged
//! innermost dimensions, written once into the output, and large ops are
//! spread over rayon's threads.

use core::mem::MaybeUninit;

use ndarray::IxDyn;
use rayon::prelude::*;

use burn_ndarray::SharedArray;

/// Elements below which an op stays on the calling thread: handing work to the
/// pool costs microseconds, a few times what 2^16 products take.
pub(super) const PARALLEL_ELEMENTS: usize = 1 << 18;

/// Elements per piece of work handed to one thread.
const CHUNK: usize = 1 << 14;

/// How one operand is read: its element stride along each merged output
/// dimension (0 where it is broadcast).
struct Reads {
    /// Output extent of each merged dimension, outermost first.
    dims: Vec<usize>,
    lhs: Vec<usize>,
    rhs: Vec<usize>,
}

impl Reads {
    /// The merged layout of `lhs ⊙ rhs`, or `None` when the shapes do not
    /// broadcast (burn-ndarray reports that error) or a layout is not plain
    /// row-major.
    fn new(l: &[usize], r: &[usize]) -> Option<(Self, Vec<usize>)> {
        if l.len() != r.len() {
            return None;
        }
        let mut out = Vec::with_capacity(l.len());
        for (&a, &b) in l.iter().zip(r) {
            out.push(match (a, b) {
                _ if a == b => a,
                (1, _) => b,
                (_, 1) => a,
                _ => return None,
            });
        }
        let strides = |shape: &[usize]| {
            let mut s = vec![0; shape.len()];
            let mut step = 1;
            for i in (0..shape.len()).rev() {
                // A broadcast (or length-1) dimension is read with stride 0.
                s[i] = if shape[i] == 1 { 0 } else { step };
                step *= shape[i];
            }
            s
        };
        let (ls, rs) = (strides(l), strides(r));
        let mut reads = Reads {
            dims: Vec::new(),
            lhs: Vec::new(),
            rhs: Vec::new(),
        };
        // Merge a dimension into the one inside it when both operands step over
        // the pair as one: `[L, B, W] ⊙ [1, B, W]` becomes `[L, B·W]`.
        for i in 0..out.len() {
            if out[i] == 1 {
                continue;
            }
            if let Some(last) = reads.dims.len().checked_sub(1) {
                let (n, lo, ro) = (reads.dims[last], reads.lhs[last], reads.rhs[last]);
                if lo == ls[i] * out[i] && ro == rs[i] * out[i] {
                    reads.dims[last] = n * out[i];
                    reads.lhs[last] = ls[i];
                    reads.rhs[last] = rs[i];
                    continue;
                }
            }
            reads.dims.push(out[i]);
            reads.lhs.push(ls[i]);
            reads.rhs.push(rs[i]);
        }
        if reads.dims.is_empty() {
            // A single element: one dimension of extent 1.
            reads.dims.push(1);
            reads.lhs.push(0);
            reads.rhs.push(0);
        }
        Some((reads, out))
    }

    /// The offsets of the operands' first elements for outer index `o`
    /// (row-major over every merged dimension but the innermost).
    fn offsets(&self, mut o: usize) -> (usize, usize) {
        let (mut lo, mut ro) = (0, 0);
        for d in (0..self.dims.len() - 1).rev() {
            let i = o % self.dims[d];
            o /= self.dims[d];
            lo += i * self.lhs[d];
            ro += i * self.rhs[d];
        }
        (lo, ro)
    }
}

/// `op(lhs, rhs)` elementwise with broadcasting; `None` for what it leaves to
/// burn-ndarray (shapes that do not broadcast, layouts other than plain
/// row-major, operands of different rank).
pub(super) fn broadcast<T, F>(
    lhs: &SharedArray<T>,
    rhs: &SharedArray<T>,
    op: F,
) -> Option<SharedArray<T>>
where
    T: Copy + Send + Sync,
    F: Fn(T, T) -> T + Sync,
{
    let (l, r) = (lhs.as_slice()?, rhs.as_slice()?);
    let (reads, shape) = Reads::new(lhs.shape(), rhs.shape())?;
    let total: usize = shape.iter().product();
    let mut out: Vec<MaybeUninit<T>> = Vec::with_capacity(total);
    // SAFETY: `MaybeUninit` needs no initialisation; every element is written
    // below before the vector is read as `T`.
    unsafe { out.set_len(total) };
    if total > 0 {
        let inner = *reads.dims.last().unwrap_or(&1);
        let (li, ri) = (
            *reads.lhs.last().unwrap_or(&0),
            *reads.rhs.last().unwrap_or(&0),
        );
        // One run: `CHUNK` (or fewer) consecutive outputs of outer index `o`,
        // from position `start` of the innermost dimension.
        let run = |o: usize, start: usize, dst: &mut [MaybeUninit<T>]| {
            let (lo, ro) = reads.offsets(o);
            let (lo, ro) = (lo + start * li, ro + start * ri);
            let n = dst.len();
            match (li, ri) {
                (1, 1) => write(dst, &l[lo..lo + n], &r[ro..ro + n], &op),
                (1, _) => write_scalar_right(dst, &l[lo..lo + n], r[ro], &op),
                (_, 1) => write_scalar_left(dst, l[lo], &r[ro..ro + n], &op),
                _ => dst.fill(MaybeUninit::new(op(l[lo], r[ro]))),
            }
        };
        let rows = out.chunks_mut(inner).enumerate();
        if total < PARALLEL_ELEMENTS {
            rows.for_each(|(o, row)| run(o, 0, row));
        } else {
            out.par_chunks_mut(inner).enumerate().for_each(|(o, row)| {
                row.par_chunks_mut(CHUNK)
                    .enumerate()
                    .for_each(|(c, dst)| run(o, c * CHUNK, dst));
            });
        }
    }
    // SAFETY: every element was written; `MaybeUninit<T>` has `T`'s layout.
    let out = unsafe {
        let mut out = core::mem::ManuallyDrop::new(out);
        Vec::from_raw_parts(out.as_mut_ptr().cast::<T>(), out.len(), out.capacity())
    };
    let array = ndarray::Array::from_shape_vec(IxDyn(&shape), out)
        .expect("the output holds the product of its dimensions");
    Some(array.into_shared())
}

// The three loops below are separate so that each compiles to a plain
// vectorised loop over slices.

fn write<T: Copy, F: Fn(T, T) -> T>(dst: &mut [MaybeUninit<T>], l: &[T], r: &[T], op: &F) {
    for ((d, &a), &b) in dst.iter_mut().zip(l).zip(r) {
        *d = MaybeUninit::new(op(a, b));
    }
}

fn write_scalar_right<T: Copy, F: Fn(T, T) -> T>(
    dst: &mut [MaybeUninit<T>],
    l: &[T],
    b: T,
    op: &F,
) {
    for (d, &a) in dst.iter_mut().zip(l) {
        *d = MaybeUninit::new(op(a, b));
    }
}

fn write_scalar_left<T: Copy, F: Fn(T, T) -> T>(dst: &mut [MaybeUninit<T>], a: T, r: &[T], op: &F) {
    for (d, &b) in dst.iter_mut().zip(r) {
        *d = MaybeUninit::new(op(a, b));
    }
}
