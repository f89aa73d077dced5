//! Deformable convolution: for a fixed offset it is linear in each of the input,
//! the weight and the mask (and the bias). The offset enters through bilinear
//! sampling positions; there is no forward rule for it yet.

use burn_backend::{
    Backend, Slice, TensorMetadata,
    ops::{DeformConv2dBackward, DeformConvOptions},
};

use crate::dual::lanes::{Prim, add_tangents, common_lanes};
use crate::dual::reshape::reshape;
use crate::dual::rules::conv::split_bias;
use crate::dual::rules::fold::{channel_bias, into_dim, out_of_dim, per_batch, repeat_batch};
use crate::dual::{DualTensor, second};

/// `deform_conv2d(x, offset, w, mask, b)`. Input and mask tangents fold into the
/// batch (offset, mask and input repeated per lane); a weight tangent folds into
/// the output channels, grouped by the weight groups.
pub(crate) fn deform_conv2d<B: Backend>(
    x: DualTensor<B>,
    offset: DualTensor<B>,
    w: DualTensor<B>,
    mask: Option<DualTensor<B>>,
    bias: Option<DualTensor<B>>,
    options: DeformConvOptions<2>,
) -> DualTensor<B> {
    let operands = [Some(&x), Some(&w), mask.as_ref(), bias.as_ref()];
    let joint = second::joint("deform_conv2d", operands.into_iter().flatten());
    let (b, tb) = split_bias(bias);
    let (m, tm) = split_bias(mask);
    let off = offset.primal_without_jvp("deform_conv2d offset");
    // Linear in each of x, w and the mask: two of them with tangents need a
    // cross term a second-order pass does not have.
    if [&x.tangent, &w.tangent, &tm]
        .iter()
        .filter(|t| t.is_some())
        .count()
        > 1
    {
        second::unsupported("deform_conv2d", joint);
    }
    let Some(lanes) = common_lanes::<B>("deform_conv2d", [&x.tangent, &w.tangent, &tm, &tb]) else {
        return DualTensor::constant(B::deform_conv2d(x.primal, off, w.primal, m, b, options));
    };
    let conv = |x, off, w, m| B::deform_conv2d(x, off, w, m, None, options.clone());
    let out = B::deform_conv2d(
        x.primal.clone(),
        off.clone(),
        w.primal.clone(),
        m.clone(),
        b,
        options.clone(),
    );
    let shape = out.shape();
    let off_l = || repeat_batch::<B>(off.clone(), lanes);
    let tx = x.tangent.map(|t| {
        let m_l = m.clone().map(|m| repeat_batch::<B>(m, lanes));
        per_batch::<B>(t, |t| conv(t, off_l(), w.primal.clone(), m_l))
    });
    let tm = tm.map(|t| {
        let x_l = repeat_batch::<B>(x.primal.clone(), lanes);
        per_batch::<B>(t, |t| conv(x_l, off_l(), w.primal.clone(), Some(t)))
    });
    let tw = w.tangent.map(|t| {
        let groups = options.weight_groups;
        let y = conv(
            x.primal.clone(),
            off.clone(),
            into_dim::<B>(t, 0, groups),
            m.clone(),
        );
        out_of_dim::<B>(y, 1, groups, lanes)
    });
    let tb = tb.map(|t| channel_bias::<B>(t, shape.num_dims()));
    let t = add_tangents::<B>("deform_conv2d", tx, tm, &shape);
    let t = add_tangents::<B>("deform_conv2d", t, tw, &shape);
    let tangent = add_tangents::<B>("deform_conv2d", t, tb, &shape);
    DualTensor::from_parts(out, tangent, joint)
}

/// Lane `l` of a tangent, without the lane axis.
fn lane<B: Backend>(t: &Prim<B>, l: usize) -> Prim<B> {
    let s = t.shape();
    let mut slices = vec![Slice::from(l..l + 1)];
    slices.extend((1..s.num_dims()).map(|_| Slice::full()));
    reshape::<B>(B::float_slice(t.clone(), &slices), s[1..].into())
}

/// Stacks per-lane tangents `[..]` into `[L, ..]`.
fn stack<B: Backend>(lanes: Vec<Prim<B>>) -> Prim<B> {
    let lanes: Vec<Prim<B>> = lanes
        .into_iter()
        .map(|t| {
            let mut dims = vec![1];
            dims.extend_from_slice(&t.shape());
            reshape::<B>(t, dims.into())
        })
        .collect();
    B::float_cat(lanes, 0)
}

/// Sum of optional terms (`None` is zero).
fn plus<B: Backend>(acc: Option<Prim<B>>, term: Option<Prim<B>>) -> Option<Prim<B>> {
    match (acc, term) {
        (Some(a), Some(t)) => Some(B::float_add(a, t)),
        (a, t) => a.or(t),
    }
}

/// The five gradients of a deformable convolution, each with its tangent.
pub(crate) type DeformGrads<B> = (
    DualTensor<B>,
    DualTensor<B>,
    DualTensor<B>,
    Option<DualTensor<B>>,
    Option<DualTensor<B>>,
);

/// `deform_conv2d_backward`. Each gradient is multilinear in the input, weight,
/// mask and output gradient it depends on (the x-gradient does not depend on x,
/// the weight-gradient not on the weight, the mask-gradient not on the mask), so
/// its JVP is the sum over those arguments of the backward with that argument
/// replaced by its tangent. The weight gradient sums over the batch, so lanes
/// cannot fold into it: lanes are taken one at a time (this op runs only inside
/// an outer reverse pass over a deformable convolution).
#[allow(clippy::too_many_arguments)]
pub(crate) fn deform_conv2d_backward<B: Backend>(
    x: DualTensor<B>,
    offset: DualTensor<B>,
    w: DualTensor<B>,
    mask: Option<DualTensor<B>>,
    bias: Option<DualTensor<B>>,
    grad: DualTensor<B>,
    options: DeformConvOptions<2>,
) -> DeformGrads<B> {
    let off = offset.primal_without_jvp("deform_conv2d_backward offset");
    let operands = [Some(&x), Some(&w), mask.as_ref(), Some(&grad)];
    let joint = second::joint("deform_conv2d_backward", operands.into_iter().flatten());
    second::unsupported("deform_conv2d_backward", joint);
    let (m, tm) = split_bias(mask);
    let b = bias.map(|b| b.primal);
    let lanes = common_lanes::<B>(
        "deform_conv2d_backward",
        [&x.tangent, &w.tangent, &tm, &grad.tangent],
    );
    let backward =
        |x, w, m, g| B::deform_conv2d_backward(x, off.clone(), w, m, b.clone(), g, options.clone());
    let primal = backward(
        x.primal.clone(),
        w.primal.clone(),
        m.clone(),
        grad.primal.clone(),
    );
    let Some(lanes) = lanes else {
        return (
            DualTensor::constant(primal.x_grad),
            DualTensor::constant(primal.offset_grad),
            DualTensor::constant(primal.weight_grad),
            primal.mask_grad.map(DualTensor::constant),
            primal.bias_grad.map(DualTensor::constant),
        );
    };
    // Gradient slots: x, offset, weight, mask, bias.
    const X: usize = 0;
    const WEIGHT: usize = 2;
    const MASK: usize = 3;
    const BIAS: usize = 4;
    let mut per_lane: [Vec<Prim<B>>; 5] = Default::default();
    for l in 0..lanes {
        let mut acc: [Option<Prim<B>>; 5] = Default::default();
        // Adds a backward pass run with one argument replaced by its tangent lane;
        // `unaffected` is the slot that does not depend on that argument (`None`
        // for the output gradient, which every slot depends on).
        let mut add = |r: DeformConv2dBackward<B>, unaffected: Option<usize>| {
            let slots = [
                Some(r.x_grad),
                Some(r.offset_grad),
                Some(r.weight_grad),
                r.mask_grad,
                r.bias_grad,
            ];
            for (i, term) in slots.into_iter().enumerate() {
                let bias_from_grad = i != BIAS || unaffected.is_none();
                if Some(i) != unaffected && bias_from_grad {
                    acc[i] = plus::<B>(acc[i].take(), term);
                }
            }
        };
        let (xp, wp, gp) = (&x.primal, &w.primal, &grad.primal);
        if let Some(t) = &x.tangent {
            let r = backward(lane::<B>(t, l), wp.clone(), m.clone(), gp.clone());
            add(r, Some(X));
        }
        if let Some(t) = &w.tangent {
            let r = backward(xp.clone(), lane::<B>(t, l), m.clone(), gp.clone());
            add(r, Some(WEIGHT));
        }
        if let Some(t) = &tm {
            let r = backward(xp.clone(), wp.clone(), Some(lane::<B>(t, l)), gp.clone());
            add(r, Some(MASK));
        }
        if let Some(t) = &grad.tangent {
            let r = backward(xp.clone(), wp.clone(), m.clone(), lane::<B>(t, l));
            add(r, None);
        }
        for (slot, term) in per_lane.iter_mut().zip(acc) {
            slot.extend(term);
        }
    }
    let [tx, toff, tw, tm, tb] = per_lane.map(|ts| (!ts.is_empty()).then(|| stack::<B>(ts)));
    (
        // First-order only: a second-order tangent panicked above.
        DualTensor::from_parts(primal.x_grad, tx, None),
        DualTensor::from_parts(primal.offset_grad, toff, None),
        DualTensor::from_parts(primal.weight_grad, tw, None),
        primal
            .mask_grad
            .map(|p| DualTensor::from_parts(p, tm, None)),
        primal
            .bias_grad
            .map(|p| DualTensor::from_parts(p, tb, None)),
    )
}
