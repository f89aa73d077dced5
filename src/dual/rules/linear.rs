//! `linear` (`x @ w + b`, bilinear in `x` and `w`) and its backward passes. Lanes of
//! a row-indexed tangent fold into the rows; lanes of a weight tangent fold into the
//! weight's output (or input) features, so each term is one inner-backend call.

use burn_backend::{Backend, Shape, TensorMetadata};

use crate::dual::lanes::{Prim, add_tangents, common_lanes, lanes_of};
use crate::dual::reshape::reshape;
use crate::dual::rules::fold::{into_dim, out_of_dim};
use crate::dual::{DualTensor, second};

/// Applies `op` to a tangent `[L, .., k]` as rows `[L·rows, k]`, giving `[L, .., n]`.
fn per_row<B: Backend>(t: Prim<B>, op: impl FnOnce(Prim<B>) -> Prim<B>) -> Prim<B> {
    let s = t.shape();
    let k = s[s.num_dims() - 1];
    let rows = s.num_elements() / k;
    let y = op(reshape::<B>(t, Shape::new([rows, k])));
    let n = y.shape()[1];
    let mut dims = s.to_vec();
    *dims.last_mut().expect("rank >= 1") = n;
    reshape::<B>(y, Shape::from(dims))
}

/// Applies `op` with lanes merged into the last dim of the tangent `t` (`[.., L·k]`);
/// the result's dim `out_dim` holds the lanes as `L·n` and they are split back out.
fn lanes_in_last<B: Backend>(
    t: Prim<B>,
    out_dim: usize,
    op: impl FnOnce(Prim<B>) -> Prim<B>,
) -> Prim<B> {
    let (lanes, last) = (lanes_of::<B>(&t), t.shape().num_dims() - 2);
    out_of_dim::<B>(op(into_dim::<B>(t, last, 1)), out_dim, 1, lanes)
}

/// Rows per chunk when a long batch is split (see [`in_row_chunks`]).
const ROW_CHUNK: usize = 256;
/// Batches of at least this many rows are split.
pub(crate) const MIN_SPLIT_ROWS: usize = 16384;

/// Applies `op`, a `linear` over the rows of `x: [rows, k]`, with the rows split
/// into `c` chunks (`[c, rows/c, k]`) when the batch is long. The result is the
/// same; what changes is an outer `Autodiff`'s weight gradient `Σ xᵀ g`, which
/// becomes `c` short matmuls and a sum instead of one matmul whose inner dimension
/// is the whole batch. Burn 0.21's cubecl matmul does not split that dimension
/// itself: at 65536 rows on an H100 a `[12, 65536] × [65536, 12]` product takes
/// 12 ms, 256 chunks and a sum 1 ms.
fn in_row_chunks<B: Backend>(x: Prim<B>, op: impl FnOnce(Prim<B>) -> Prim<B>) -> Prim<B> {
    let s = x.shape();
    if s.num_dims() != 2 || s[0] < MIN_SPLIT_ROWS {
        return op(x);
    }
    let (rows, k) = (s[0], s[1]);
    // The largest power of two that divides `rows` and leaves chunks of at least
    // ROW_CHUNK rows.
    let mut chunks = 1;
    while rows % (chunks * 2) == 0 && rows / (chunks * 2) >= ROW_CHUNK {
        chunks *= 2;
    }
    if chunks == 1 {
        return op(x);
    }
    let y = op(reshape::<B>(x, Shape::new([chunks, rows / chunks, k])));
    let n = y.shape()[2];
    reshape::<B>(y, Shape::new([rows, n]))
}

/// `t @ w` for a lane-stacked tangent `t: [L, .., d_in]`.
///
/// Where every lane has fewer than [`MIN_SPLIT_ROWS`] rows, `t` goes in as it is:
/// the inner backend broadcasts `w` over the lanes, and the outer tape's weight
/// gradient is one short product per lane. Merging the lanes into the rows first
/// costs two reshapes of the whole tangent each way, and burn-ndarray 0.21 copies
/// on every reshape (a tenth of a forward-Laplacian step at `d = 64`). Longer
/// batches merge the rows and split them into chunks (see [`in_row_chunks`]).
fn lanes_times_weight<B: Backend>(t: Prim<B>, w: Prim<B>) -> Prim<B> {
    let s = t.shape();
    let rows_per_lane = s.num_elements() / (s[0] * s[s.num_dims() - 1]);
    if rows_per_lane < MIN_SPLIT_ROWS {
        return B::linear(t, w, None);
    }
    per_row::<B>(t, |t| in_row_chunks::<B>(t, |t| B::linear(t, w, None)))
}

/// `linear(x, w, b)`, `x: [.., d_in]`, `w: [d_in, d_out]`, `b: [d_out]`.
pub(crate) fn linear<B: Backend>(
    x: DualTensor<B>,
    w: DualTensor<B>,
    bias: Option<DualTensor<B>>,
) -> DualTensor<B> {
    let layout = second::joint("linear", [&x, &w].into_iter().chain(bias.as_ref()));
    let (b, tb) = super::conv::split_bias(bias);
    // x @ w with tangents on both: a second-order pass adds 2·Σₗ ∂x ∂w.
    let cross = layout.and_then(|layout| Some((layout, x.tangent.clone()?, w.tangent.clone()?)));
    if common_lanes::<B>("linear", [&x.tangent, &w.tangent, &tb]).is_none() {
        return DualTensor::constant(B::linear(x.primal, w.primal, b));
    }
    let out = in_row_chunks::<B>(x.primal.clone(), |x| B::linear(x, w.primal.clone(), b));
    let shape = out.shape();
    let tx = x
        .tangent
        .map(|t| lanes_times_weight::<B>(t, w.primal.clone()));
    // x @ [d_in, L·d_out] holds every lane's x @ dw side by side.
    let tw = w.tangent.map(|t| {
        let lanes = lanes_of::<B>(&t);
        let wl = into_dim::<B>(t, 1, 1);
        let y = in_row_chunks::<B>(x.primal, |x| B::linear(x, wl, None));
        out_of_dim::<B>(y, shape.num_dims() - 1, 1, lanes)
    });
    let tb = tb.map(|t| {
        let s = t.shape();
        let mut dims = vec![s[0]];
        dims.resize(shape.num_dims(), 1);
        dims.push(s[1]);
        reshape::<B>(t, Shape::from(dims))
    });
    let t = add_tangents::<B>("linear", tx, tw, &shape);
    let t = add_tangents::<B>("linear", t, tb, &shape);
    let t = match (cross, t) {
        (Some((layout, tx, tw)), Some(t)) => {
            let rank = tx.shape().num_dims();
            // [L, d_in, d_out] as [L, 1, .., 1, d_in, d_out], batched like tx.
            let times_weight = |a: Prim<B>, b: Prim<B>| {
                let s = b.shape();
                let mut dims = vec![s[0]];
                dims.resize(rank - 2, 1);
                dims.extend([s[1], s[2]]);
                B::float_matmul(a, reshape::<B>(b, Shape::from(dims)))
            };
            Some(second::bilinear_curvature::<B>(
                "linear",
                &tx,
                &tw,
                t,
                &layout,
                times_weight,
            ))
        }
        (_, t) => t,
    };
    DualTensor::from_parts(out, t, layout)
}

/// `linear_x_backward(w, g) = g @ wᵀ`, bilinear in `w` and `g`.
pub(crate) fn x_backward<B: Backend>(w: DualTensor<B>, grad: DualTensor<B>) -> DualTensor<B> {
    common_lanes::<B>("linear_x_backward", [&w.tangent, &grad.tangent]);
    second::bilinear_unsupported::<B>("linear_x_backward", &w, &grad);
    let layout = second::joint("linear_x_backward", [&w, &grad]);
    let out = B::linear_x_backward(w.primal.clone(), grad.primal.clone());
    let shape = out.shape();
    let tg = grad
        .tangent
        .map(|t| per_row::<B>(t, |t| B::linear_x_backward(w.primal.clone(), t)));
    // [L·d_in, d_out] as the weight gives every lane's g @ dwᵀ side by side.
    let tw = w.tangent.map(|t| {
        let lanes = lanes_of::<B>(&t);
        let y = B::linear_x_backward(into_dim::<B>(t, 0, 1), grad.primal);
        out_of_dim::<B>(y, shape.num_dims() - 1, 1, lanes)
    });
    let tangent = add_tangents::<B>("linear_x_backward", tg, tw, &shape);
    DualTensor::from_parts(out, tangent, layout)
}

/// `linear_weight_backward(x, g) = Σ xᵀ g`, bilinear in `x` and `g`; lanes go into
/// the features of `x` (rows of the result) or of `g` (its columns).
pub(crate) fn weight_backward<B: Backend>(x: DualTensor<B>, grad: DualTensor<B>) -> DualTensor<B> {
    common_lanes::<B>("linear_weight_backward", [&x.tangent, &grad.tangent]);
    second::bilinear_unsupported::<B>("linear_weight_backward", &x, &grad);
    let layout = second::joint("linear_weight_backward", [&x, &grad]);
    let out = B::linear_weight_backward(x.primal.clone(), grad.primal.clone());
    let shape = out.shape();
    let tx = x
        .tangent
        .map(|t| lanes_in_last::<B>(t, 0, |t| B::linear_weight_backward(t, grad.primal.clone())));
    let tg = grad
        .tangent
        .map(|t| lanes_in_last::<B>(t, 1, |t| B::linear_weight_backward(x.primal, t)));
    let tangent = add_tangents::<B>("linear_weight_backward", tx, tg, &shape);
    DualTensor::from_parts(out, tangent, layout)
}

/// `linear_bias_backward(g)`: a sum over rows, linear in `g`.
pub(crate) fn bias_backward<B: Backend>(grad: DualTensor<B>) -> DualTensor<B> {
    grad.linear(B::linear_bias_backward, |t| {
        lanes_in_last::<B>(t, 0, B::linear_bias_backward)
    })
}
