//! Convolutions and transposed convolutions (any spatial rank `N`): bilinear in
//! input and weight, linear in the bias. Lanes of an input tangent are folded into
//! the batch; lanes of a weight tangent into its output-channel dim, laid out
//! `[groups, L, per group]` so grouped convolutions stay correct. Each rule takes
//! the inner backend's op as a function, so conv1d/2d/3d share one rule.

use burn_backend::{
    Backend, Shape, TensorMetadata,
    ops::{ConvOptions, ConvTransposeOptions, conv::calculate_padding_out},
};

use crate::dual::lanes::{Prim, add_tangents, common_lanes};
use crate::dual::rules::fold::{
    channel_bias, into_dim, out_of_dim, per_batch, stand_in, sum_all_but,
};
use crate::dual::{DualTensor, second};

/// An inner-backend convolution `(x, weight, bias, options) -> y`.
pub(crate) type ConvFn<B, O> = fn(Prim<B>, Prim<B>, Option<Prim<B>>, O) -> Prim<B>;

/// Splits an optional dual bias into its primal and tangent.
pub(crate) fn split_bias<B: Backend>(
    bias: Option<DualTensor<B>>,
) -> (Option<Prim<B>>, Option<Prim<B>>) {
    match bias {
        Some(b) => (Some(b.primal), b.tangent),
        None => (None, None),
    }
}

/// Tangent of `conv(x, w) + b` given the tangents `tx`, `tw`, `tb`; `w_lane_dim` is
/// the weight dim whose lanes map to output channels (0 for a convolution, 1 for a
/// transposed one, whose weight is `[C_in, C_out/groups, k..]`).
#[allow(clippy::too_many_arguments)]
fn tangent<B: Backend, O: Clone>(
    conv: ConvFn<B, O>,
    x: &Prim<B>,
    tx: Option<Prim<B>>,
    w: &Prim<B>,
    tw: Option<Prim<B>>,
    tb: Option<Prim<B>>,
    options: &O,
    groups: usize,
    w_lane_dim: usize,
    out: &Shape,
) -> Option<Prim<B>> {
    let tx = tx.map(|t| per_batch::<B>(t, |t| conv(t, w.clone(), None, options.clone())));
    let tw = tw.map(|t| {
        let lanes = t.shape()[0];
        // For a transposed conv the weight's dim 1 is already per group.
        let split = if w_lane_dim == 0 { groups } else { 1 };
        let folded = into_dim::<B>(t, w_lane_dim, split);
        out_of_dim::<B>(
            conv(x.clone(), folded, None, options.clone()),
            1,
            groups,
            lanes,
        )
    });
    let tb = tb.map(|t| channel_bias::<B>(t, out.num_dims()));
    let t = add_tangents::<B>("conv", tx, tw, out);
    add_tangents::<B>("conv", t, tb, out)
}

/// A conv-like op with bias: the primal by `conv`, the tangent by [`tangent`];
/// `weight_out_dim` is the weight dim holding output channels (0 for conv, 1 for
/// transposed conv).
#[allow(clippy::too_many_arguments)]
fn conv_with_bias<B: Backend, O: Clone>(
    op: &str,
    conv: ConvFn<B, O>,
    x: DualTensor<B>,
    w: DualTensor<B>,
    bias: Option<DualTensor<B>>,
    options: O,
    groups: usize,
    weight_out_dim: usize,
) -> DualTensor<B> {
    let joint = second::joint(op, [&x, &w].into_iter().chain(bias.as_ref()));
    let (b, tb) = split_bias(bias);
    second::bilinear_unsupported::<B>(op, &x, &w);
    if common_lanes::<B>(op, [&x.tangent, &w.tangent, &tb]).is_none() {
        return DualTensor::constant(conv(x.primal, w.primal, b, options));
    }
    let out = conv(x.primal.clone(), w.primal.clone(), b, options.clone());
    let t = tangent::<B, _>(
        conv,
        &x.primal,
        x.tangent,
        &w.primal,
        w.tangent,
        tb,
        &options,
        groups,
        weight_out_dim,
        &out.shape(),
    );
    DualTensor::from_parts(out, t, joint)
}

/// `conv{1,2,3}d(x, w, b)`.
pub(crate) fn conv<B: Backend, const N: usize>(
    op: &str,
    conv: ConvFn<B, ConvOptions<N>>,
    x: DualTensor<B>,
    w: DualTensor<B>,
    bias: Option<DualTensor<B>>,
    options: ConvOptions<N>,
) -> DualTensor<B> {
    let groups = options.groups;
    conv_with_bias(op, conv, x, w, bias, options, groups, 0)
}

/// `conv_transpose{1,2,3}d(x, w, b)`.
pub(crate) fn conv_transpose<B: Backend, const N: usize>(
    op: &str,
    conv: ConvFn<B, ConvTransposeOptions<N>>,
    x: DualTensor<B>,
    w: DualTensor<B>,
    bias: Option<DualTensor<B>>,
    options: ConvTransposeOptions<N>,
) -> DualTensor<B> {
    let groups = options.groups;
    conv_with_bias(op, conv, x, w, bias, options, groups, 1)
}

/// The transposed-conv options that map a conv's output gradient back onto its
/// input's exact size (the padding_out recovers rows a strided conv dropped).
pub(crate) fn transpose_options<const N: usize>(
    options: &ConvOptions<N>,
    x: &Shape,
    w: &Shape,
    grad: &Shape,
) -> ConvTransposeOptions<N> {
    let padding_out = core::array::from_fn(|i| {
        calculate_padding_out(
            w[i + 2],
            options.stride[i],
            options.padding[i],
            options.dilation[i],
            x[i + 2],
            grad[i + 2],
        )
    });
    ConvTransposeOptions {
        stride: options.stride,
        padding: options.padding,
        padding_out,
        dilation: options.dilation,
        groups: options.groups,
    }
}

/// A conv's input gradient `(x, w, grad) -> x grad`, bilinear in the weight and the
/// output gradient (`x` is read only for its shape). Its tangent is a transposed
/// conv of the gradient with the weight, which folds lanes like any transposed conv.
pub(crate) fn x_backward<B: Backend, const N: usize>(
    x_backward: BackwardFn<B, ConvOptions<N>>,
    conv_transpose: ConvFn<B, ConvTransposeOptions<N>>,
    x: DualTensor<B>,
    w: DualTensor<B>,
    grad: DualTensor<B>,
    options: ConvOptions<N>,
) -> DualTensor<B> {
    let lanes = common_lanes::<B>("conv x_backward", [&w.tangent, &grad.tangent]);
    second::bilinear_unsupported::<B>("conv x_backward", &w, &grad);
    let joint = second::joint("conv x_backward", [&w, &grad]);
    let x_shape = x.primal.shape();
    let out = x_backward(
        x.primal,
        w.primal.clone(),
        grad.primal.clone(),
        options.clone(),
    );
    if lanes.is_none() {
        return DualTensor::constant(out);
    }
    let t_options = transpose_options(&options, &x_shape, &w.primal.shape(), &grad.primal.shape());
    let (g, tg, wp, tw) = (grad.primal, grad.tangent, w.primal, w.tangent);
    let t = tangent::<B, _>(
        conv_transpose,
        &g,
        tg,
        &wp,
        tw,
        None,
        &t_options,
        options.groups,
        1,
        &out.shape(),
    );
    DualTensor::from_parts(out, t, joint)
}

/// A transposed conv's input gradient `(w, grad) -> x grad`, which is a conv of the
/// gradient with the same weight: lanes of the gradient fold into the batch, lanes
/// of the weight into its dim 0 (`C_in`, grouped).
pub(crate) fn transpose_x_backward<B: Backend, const N: usize>(
    x_backward: fn(Prim<B>, Prim<B>, ConvTransposeOptions<N>) -> Prim<B>,
    w: DualTensor<B>,
    grad: DualTensor<B>,
    options: ConvTransposeOptions<N>,
) -> DualTensor<B> {
    let lanes = common_lanes::<B>("conv_transpose x_backward", [&w.tangent, &grad.tangent]);
    second::bilinear_unsupported::<B>("conv_transpose x_backward", &w, &grad);
    let joint = second::joint("conv_transpose x_backward", [&w, &grad]);
    let out = x_backward(w.primal.clone(), grad.primal.clone(), options.clone());
    let Some(lanes) = lanes else {
        return DualTensor::constant(out);
    };
    let shape = out.shape();
    let groups = options.groups;
    let tg = grad
        .tangent
        .map(|t| per_batch::<B>(t, |t| x_backward(w.primal.clone(), t, options.clone())));
    let tw = w.tangent.map(|t| {
        let y = x_backward(into_dim::<B>(t, 0, groups), grad.primal, options.clone());
        out_of_dim::<B>(y, 1, groups, lanes)
    });
    let tangent = add_tangents::<B>("conv_transpose x_backward", tg, tw, &shape);
    DualTensor::from_parts(out, tangent, joint)
}

/// An inner-backend backward pass `(x, weight, grad, options) -> gradient`.
pub(crate) type BackwardFn<B, O> = fn(Prim<B>, Prim<B>, Prim<B>, O) -> Prim<B>;

/// Which weight layout a weight gradient has.
#[derive(Clone, Copy)]
pub(crate) enum Layout {
    /// `[C_out, C_in/groups, k..]`.
    Conv,
    /// `[C_in, C_out/groups, k..]`.
    Transposed,
}

/// A weight gradient `(x, w, grad) -> w grad`, bilinear in the input and the output
/// gradient (the weight is read only for its shape). Lanes go into a channel dim of
/// `x` or of the gradient, `[groups, L, per group]`, and come out of the matching
/// weight dim; the weight argument is a zero stand-in of the widened shape.
pub(crate) fn weight_backward<B: Backend, O: Clone>(
    weight_backward: BackwardFn<B, O>,
    layout: Layout,
    groups: usize,
    x: DualTensor<B>,
    w: DualTensor<B>,
    grad: DualTensor<B>,
    options: O,
) -> DualTensor<B> {
    let lanes = common_lanes::<B>("conv weight_backward", [&x.tangent, &grad.tangent]);
    second::bilinear_unsupported::<B>("conv weight_backward", &x, &grad);
    let joint = second::joint("conv weight_backward", [&x, &grad]);
    let w = w.primal;
    let out = weight_backward(
        x.primal.clone(),
        w.clone(),
        grad.primal.clone(),
        options.clone(),
    );
    let Some(lanes) = lanes else {
        return DualTensor::constant(out);
    };
    // Weight dims that hold the input's and the gradient's channels.
    let (x_dim, g_dim) = match layout {
        Layout::Conv => (1, 0),
        Layout::Transposed => (0, 1),
    };
    // A weight dim holding all channels is split by groups; one per group is not.
    let split = |dim: usize| if dim == 0 { groups } else { 1 };
    let widened = |dim: usize| {
        let mut dims = w.shape().to_vec();
        dims[dim] *= lanes;
        stand_in::<B>(&w, Shape::from(dims))
    };
    let tx = x.tangent.map(|t| {
        let folded = into_dim::<B>(t, 1, groups);
        let g = weight_backward(folded, widened(x_dim), grad.primal.clone(), options.clone());
        out_of_dim::<B>(g, x_dim, split(x_dim), lanes)
    });
    let tg = grad.tangent.map(|t| {
        let folded = into_dim::<B>(t, 1, groups);
        let g = weight_backward(x.primal, widened(g_dim), folded, options.clone());
        out_of_dim::<B>(g, g_dim, split(g_dim), lanes)
    });
    let shape = out.shape();
    let tangent = add_tangents::<B>("conv weight_backward", tx, tg, &shape);
    DualTensor::from_parts(out, tangent, joint)
}

/// A bias gradient `(x, b, grad) -> b grad`: a sum of the output gradient over all
/// but the channel dim, so linear in it (`x` and `b` are read only for shapes).
pub(crate) fn bias_backward<B: Backend>(
    bias_backward: fn(Prim<B>, Prim<B>, Prim<B>) -> Prim<B>,
    x: DualTensor<B>,
    bias: DualTensor<B>,
    grad: DualTensor<B>,
) -> DualTensor<B> {
    let tangent = grad.tangent.map(|t| sum_all_but::<B>(t, 1));
    let out = bias_backward(x.primal, bias.primal, grad.primal);
    DualTensor::from_parts(out, tangent, grad.layout)
}
