//! Binary ops with broadcasting: the product rule, skipping absent tangents.

use burn_backend::{Backend, Scalar, Shape, TensorMetadata};

use burn_backend::ops::FloatTensorOps;

use crate::dual::lanes::{
    Prim, add_tangents, bool_dtype, common_lanes, expand_to, lane_shape, over_lanes, scale,
};
use crate::dual::reshape::reshape;
use crate::dual::{Dual, DualTensor, second};

/// `out = f(l, r)` with `∂out = ∂l·dl(l, r, out) + ∂r·dr(l, r, out)`; each partial
/// is computed only when its tangent is present. `None` as a partial means 1.
pub(crate) fn product_rule<B: Backend>(
    op: &str,
    lhs: DualTensor<B>,
    rhs: DualTensor<B>,
    primal_op: impl FnOnce(Prim<B>, Prim<B>) -> Prim<B>,
    dl: impl FnOnce(&Prim<B>, &Prim<B>, &Prim<B>) -> Option<Prim<B>>,
    dr: impl FnOnce(&Prim<B>, &Prim<B>, &Prim<B>) -> Option<Prim<B>>,
) -> DualTensor<B> {
    common_lanes::<B>(op, [&lhs.tangent, &rhs.tangent]);
    if lhs.tangent.is_none() && rhs.tangent.is_none() {
        return DualTensor::constant(primal_op(lhs.primal, rhs.primal));
    }
    let layout = second::joint(op, [&lhs, &rhs]);
    let out = primal_op(lhs.primal.clone(), rhs.primal.clone());
    let shape = out.shape();
    let apply = |t: Prim<B>, d: Option<Prim<B>>| match d {
        Some(d) => scale::<B>(t, d),
        None => t,
    };
    let tl = lhs
        .tangent
        .map(|t| apply(t, dl(&lhs.primal, &rhs.primal, &out)));
    let tr = rhs
        .tangent
        .map(|t| apply(t, dr(&lhs.primal, &rhs.primal, &out)));
    let tangent = add_tangents::<B>(op, tl, tr, &shape);
    DualTensor::from_parts(out, tangent, layout)
}

/// `l·r`; in a second-order pass plus the cross term `2·Σₗ ∂l ∂r`.
pub(crate) fn mul<B: Backend>(lhs: DualTensor<B>, rhs: DualTensor<B>) -> DualTensor<B> {
    let cross = second_order_factors("float_mul", &lhs, &rhs);
    let out = product_rule(
        "float_mul",
        lhs,
        rhs,
        B::float_mul,
        |_, r, _| Some(r.clone()),
        |l, _, _| Some(l.clone()),
    );
    with_cross_term("float_mul", out, cross, B::float_mul)
}

/// Both tangents and the layout, when a second-order pass meets a bilinear op
/// whose factors both carry tangents.
fn second_order_factors<B: Backend>(
    op: &str,
    lhs: &DualTensor<B>,
    rhs: &DualTensor<B>,
) -> Option<(Prim<B>, Prim<B>, second::Layout)> {
    let layout = second::joint(op, [lhs, rhs])?;
    Some((lhs.tangent.clone()?, rhs.tangent.clone()?, layout))
}

/// `out` with the bilinear cross term `2·Σₗ op(a₁ₗ, b₁ₗ)` added to its
/// accumulators when `factors` are present.
fn with_cross_term<B: Backend>(
    op_name: &str,
    out: DualTensor<B>,
    factors: Option<(Prim<B>, Prim<B>, second::Layout)>,
    op: impl FnOnce(Prim<B>, Prim<B>) -> Prim<B>,
) -> DualTensor<B> {
    let Some((a, b, layout)) = factors else {
        return out;
    };
    let tangent = out.tangent.expect("a product of two tangents has one");
    let tangent = second::bilinear_curvature::<B>(op_name, &a, &b, tangent, &layout, op);
    DualTensor::from_parts(out.primal, Some(tangent), Some(layout))
}

/// `l / r`: `(∂l − ∂r · out) · (1/r)`. In a second-order pass with a tangent on
/// `r`, `l · (1/r)` by the rules of `mul` and `recip` (which add the curvature).
///
/// With a tangent on `r` the two terms share one reciprocal and one product
/// with it. `∂l/r − ∂r·(out/r)` would take a second `div` and a `neg`, and
/// under an outer `Autodiff` a `div` costs six ops of backward (Burn's rule is
/// a reciprocal, a power, a negation, a division and two products): ten fewer
/// kernel ops in `jacobian_regularization`'s step, whose `BatchNorm` divides by
/// the lanes' standard deviation (docs/performance.md, "The census of every
/// workload").
pub(crate) fn div<B: Backend>(lhs: DualTensor<B>, rhs: DualTensor<B>) -> DualTensor<B> {
    if rhs.layout.is_some() {
        return mul(lhs, Dual::<B>::float_recip(rhs));
    }
    common_lanes::<B>("float_div", [&lhs.tangent, &rhs.tangent]);
    if lhs.tangent.is_none() && rhs.tangent.is_none() {
        return DualTensor::constant(B::float_div(lhs.primal, rhs.primal));
    }
    let layout = second::joint("float_div", [&lhs, &rhs]);
    let out = B::float_div(lhs.primal, rhs.primal.clone());
    let shape = out.shape();
    let numerator = match (lhs.tangent, rhs.tangent) {
        (Some(tl), None) => tl,
        (tl, Some(tr)) => {
            let carried = scale::<B>(tr, out.clone());
            match tl {
                Some(tl) => B::float_sub(tl, carried),
                None => B::float_neg(carried),
            }
        }
        (None, None) => unreachable!("a tangent-free division returned above"),
    };
    let tangent = scale::<B>(numerator, B::float_recip(rhs.primal));
    DualTensor::from_parts(out, Some(expand_to::<B>(tangent, &shape)), layout)
}

/// `l − r`.
pub(crate) fn sub<B: Backend>(lhs: DualTensor<B>, rhs: DualTensor<B>) -> DualTensor<B> {
    let lanes = common_lanes::<B>("float_sub", [&lhs.tangent, &rhs.tangent]);
    let layout = second::joint("float_sub", [&lhs, &rhs]);
    let primal = B::float_sub(lhs.primal, rhs.primal);
    if lanes.is_none() {
        return DualTensor::constant(primal);
    }
    let shape = primal.shape();
    let tangent = match (lhs.tangent, rhs.tangent) {
        (Some(a), Some(b)) => Some(expand_to::<B>(B::float_sub(a, b), &shape)),
        (Some(a), None) => Some(expand_to::<B>(a, &shape)),
        (None, b) => b.map(|b| expand_to::<B>(B::float_neg(b), &shape)),
    };
    DualTensor::from_parts(primal, tangent, layout)
}

/// `l + r`.
pub(crate) fn add<B: Backend>(lhs: DualTensor<B>, rhs: DualTensor<B>) -> DualTensor<B> {
    let layout = second::joint("float_add", [&lhs, &rhs]);
    let primal = B::float_add(lhs.primal, rhs.primal);
    let shape = primal.shape();
    let tangent = add_tangents::<B>("float_add", lhs.tangent, rhs.tangent, &shape);
    DualTensor::from_parts(primal, tangent, layout)
}

/// `l mod r` (floored): `∂l − ∂r · floor(l / r)`.
pub(crate) fn remainder<B: Backend>(lhs: DualTensor<B>, rhs: DualTensor<B>) -> DualTensor<B> {
    product_rule(
        "float_remainder",
        lhs,
        rhs,
        B::float_remainder,
        |_, _, _| None,
        |l, r, _| {
            Some(B::float_neg(B::float_floor(B::float_div(
                l.clone(),
                r.clone(),
            ))))
        },
    )
}

/// `l ^ r`: `∂l · r·l^(r−1) + ∂r · out·ln l`.
///
/// Both partials avoid forming `0·∞`: where `r = 0` the lhs partial uses `l^0`
/// (it is `0·l^0 = 0`, also at `l = 0`), and where `l = 0` the rhs partial uses
/// `ln 1` (it is `out·0 = 0`, right for `r > 0` where `0^r` is flat in `r`).
///
/// In a second-order pass: with a tangent on `r`, `exp(r·ln l)` by the rules of
/// `log`, `mul` and `exp` (so `l > 0`, as for `r`'s first derivative); with one on
/// `l` only, the curvature `r·(r−1)·l^(r−2)`.
pub(crate) fn powf<B: Backend>(lhs: DualTensor<B>, rhs: DualTensor<B>) -> DualTensor<B> {
    if let Some(layout) = second::joint("float_powf", [&lhs, &rhs]) {
        if rhs.tangent.is_some() {
            let log = Dual::<B>::float_log(lhs);
            return Dual::<B>::float_exp(mul(rhs, log));
        }
        if let Some(t) = lhs.tangent.clone() {
            let r = rhs.primal.clone();
            let l = lhs.primal.clone();
            let out = powf_first_order(lhs, rhs);
            let one = Scalar::new(1.0, &r.dtype());
            let two = Scalar::new(2.0, &r.dtype());
            let factor = B::float_mul(r.clone(), B::float_sub_scalar(r.clone(), one));
            // Where r ∈ {0, 1} the factor is 0: lower the exponent to 0 there so
            // 0·0^(−1) is never formed.
            let flat = B::float_equal_elem(
                factor.clone(),
                Scalar::new(0.0, &r.dtype()),
                bool_dtype::<B>(&r),
            );
            let lowered = B::float_mask_fill(
                B::float_sub_scalar(r, two),
                flat,
                Scalar::new(0.0, &l.dtype()),
            );
            let curvature = B::float_mul(factor, B::float_powf(l, lowered));
            let curvature = expand_like::<B>(curvature, &out.primal);
            let tangent = out.tangent.expect("a power of a tangent has one");
            let tangent = second::elementwise_curvature::<B>(
                "float_powf",
                &expand_to::<B>(t, &out.primal.shape()),
                tangent,
                curvature,
                &layout,
            );
            return DualTensor::from_parts(out.primal, Some(tangent), Some(layout));
        }
    }
    powf_first_order(lhs, rhs)
}

/// A primal-derived factor broadcast to `like`'s shape.
fn expand_like<B: Backend>(factor: Prim<B>, like: &Prim<B>) -> Prim<B> {
    let shape = like.shape();
    if factor.shape() == shape {
        return factor;
    }
    B::float_expand(factor, shape)
}

/// The first-order rule of [`powf`].
fn powf_first_order<B: Backend>(lhs: DualTensor<B>, rhs: DualTensor<B>) -> DualTensor<B> {
    product_rule(
        "float_powf",
        lhs,
        rhs,
        B::float_powf,
        |l, r, _| {
            let one = Scalar::new(1.0, &r.dtype());
            let safe_r = replace_zeros::<B>(r.clone(), one);
            let lowered = B::float_sub_scalar(safe_r, one);
            Some(B::float_mul(r.clone(), B::float_powf(l.clone(), lowered)))
        },
        |l, _, out| {
            let safe_l = replace_zeros::<B>(l.clone(), Scalar::new(1.0, &l.dtype()));
            Some(B::float_mul(out.clone(), B::float_log(safe_l)))
        },
    )
}

/// `x` with its exact zeros replaced by `value`.
fn replace_zeros<B: Backend>(x: Prim<B>, value: Scalar) -> Prim<B> {
    let is_zero = B::float_equal_elem(x.clone(), Scalar::new(0.0, &x.dtype()), bool_dtype::<B>(&x));
    B::float_mask_fill(x, is_zero, value)
}

/// `atan2(y, x)`: `(∂y·x − ∂x·y) / (x² + y²)`.
///
/// In a second-order pass, plus the curvature
/// `(2xy/r⁴)·(Σ∂x² − Σ∂y²) + (2(y² − x²)/r⁴)·Σ∂x∂y` with `r² = x² + y²`.
pub(crate) fn atan2<B: Backend>(lhs: DualTensor<B>, rhs: DualTensor<B>) -> DualTensor<B> {
    let second_order = second::joint("float_atan2", [&lhs, &rhs]).map(|layout| {
        (
            layout,
            lhs.tangent.clone(),
            rhs.tangent.clone(),
            lhs.primal.clone(),
            rhs.primal.clone(),
        )
    });
    let out = atan2_first_order(lhs, rhs);
    let Some((layout, ty, tx, y, x)) = second_order else {
        return out;
    };
    let Some(tangent) = out.tangent else {
        return out;
    };
    let r2 = B::float_add(
        B::float_mul(y.clone(), y.clone()),
        B::float_mul(x.clone(), x.clone()),
    );
    let r4 = B::float_mul(r2.clone(), r2);
    let two = Scalar::new(2.0, &x.dtype());
    // ∂²/∂x² = −∂²/∂y² = 2xy/r⁴; 2·∂²/∂x∂y = 2(y² − x²)/r⁴.
    let xx = B::float_div(
        B::float_mul_scalar(B::float_mul(x.clone(), y.clone()), two),
        r4.clone(),
    );
    let xy = B::float_div(
        B::float_mul_scalar(
            B::float_sub(B::float_mul(y.clone(), y), B::float_mul(x.clone(), x)),
            two,
        ),
        r4,
    );
    let squares = |t: &Prim<B>| second::lane_products::<B>(t, t, &layout, B::float_mul);
    let weighted = |p: Prim<B>, f: &Prim<B>| B::float_mul(p, over_lanes::<B>(f.clone()));
    let mut terms = Vec::new();
    if let Some(tx) = &tx {
        terms.push(weighted(squares(tx), &xx));
    }
    if let Some(ty) = &ty {
        terms.push(B::float_neg(weighted(squares(ty), &xx)));
    }
    if let (Some(tx), Some(ty)) = (&tx, &ty) {
        let cross = second::lane_products::<B>(tx, ty, &layout, B::float_mul);
        terms.push(weighted(cross, &xy));
    }
    let term = terms
        .into_iter()
        .reduce(B::float_add)
        .expect("a tangent is present");
    let tangent = second::add_to_accumulators::<B>("float_atan2", tangent, term, &layout);
    DualTensor::from_parts(out.primal, Some(tangent), Some(layout))
}

/// The first-order rule of [`atan2`].
fn atan2_first_order<B: Backend>(lhs: DualTensor<B>, rhs: DualTensor<B>) -> DualTensor<B> {
    let norm2 = |y: &Prim<B>, x: &Prim<B>| {
        B::float_add(
            B::float_mul(y.clone(), y.clone()),
            B::float_mul(x.clone(), x.clone()),
        )
    };
    product_rule(
        "float_atan2",
        lhs,
        rhs,
        B::float_atan2,
        |y, x, _| Some(B::float_div(x.clone(), norm2(y, x))),
        |y, x, _| Some(B::float_neg(B::float_div(y.clone(), norm2(y, x)))),
    )
}

/// Matrix product: `∂l·r + l·∂r`. A lhs tangent meets a rhs without batch dims as
/// one `[lanes·rows, k] × [k, n]` product, so lanes cost one GEMM, not one each.
pub(crate) fn matmul<B: Backend>(lhs: DualTensor<B>, rhs: DualTensor<B>) -> DualTensor<B> {
    common_lanes::<B>("float_matmul", [&lhs.tangent, &rhs.tangent]);
    let layout = second::joint("float_matmul", [&lhs, &rhs]);
    let cross = second_order_factors("float_matmul", &lhs, &rhs);
    let primal = B::float_matmul(lhs.primal.clone(), rhs.primal.clone());
    if lhs.tangent.is_none() && rhs.tangent.is_none() {
        return DualTensor::constant(primal);
    }
    let shape = primal.shape();
    let tl = lhs.tangent.map(|t| lanes_times_matrix::<B>(t, rhs.primal));
    let tr = rhs
        .tangent
        .map(|t| B::float_matmul(over_lanes::<B>(lhs.primal), t));
    let tangent = add_tangents::<B>("float_matmul", tl, tr, &shape);
    with_cross_term(
        "float_matmul",
        DualTensor::from_parts(primal, tangent, layout),
        cross,
        B::float_matmul,
    )
}

/// `t · r` for a lane-stacked `t`.
fn lanes_times_matrix<B: Backend>(t: Prim<B>, r: Prim<B>) -> Prim<B> {
    let rs = r.shape();
    let rank = rs.num_dims();
    if rs[..rank - 2].iter().all(|&d| d == 1) {
        let (k, n) = (rs[rank - 2], rs[rank - 1]);
        let ts = t.shape();
        let rows = ts.num_elements() / k;
        let flat = reshape::<B>(t, Shape::new([rows, k]));
        let r2 = reshape::<B>(r, Shape::new([k, n]));
        let mut out_dims = ts.to_vec();
        *out_dims.last_mut().expect("matmul operands have rank >= 2") = n;
        reshape::<B>(B::float_matmul(flat, r2), Shape::from(out_dims))
    } else {
        B::float_matmul(t, over_lanes::<B>(r))
    }
}

/// Cross product along `dim`: `∂l × r + l × ∂r`.
pub(crate) fn cross<B: Backend>(
    lhs: DualTensor<B>,
    rhs: DualTensor<B>,
    dim: usize,
) -> DualTensor<B> {
    let lanes = common_lanes::<B>("float_cross", [&lhs.tangent, &rhs.tangent]);
    let layout = second::joint("float_cross", [&lhs, &rhs]);
    let cross_term = second_order_factors("float_cross", &lhs, &rhs);
    let primal = B::float_cross(lhs.primal.clone(), rhs.primal.clone(), dim);
    let Some(lanes) = lanes else {
        return DualTensor::constant(primal);
    };
    let shape = primal.shape();
    // Cross products need equal shapes, so primal factors are expanded over lanes.
    let full = |p: Prim<B>| B::float_expand(over_lanes::<B>(p), lane_shape(lanes, &shape));
    let tl = lhs.tangent.map(|t| {
        let t = expand_to::<B>(t, &shape);
        B::float_cross(t, full(rhs.primal.clone()), dim + 1)
    });
    let tr = rhs.tangent.map(|t| {
        let t = expand_to::<B>(t, &shape);
        B::float_cross(full(lhs.primal.clone()), t, dim + 1)
    });
    let tangent = add_tangents::<B>("float_cross", tl, tr, &shape);
    with_cross_term(
        "float_cross",
        DualTensor::from_parts(primal, tangent, layout),
        cross_term,
        |a, b| {
            // Lane-stacked factors of equal shape: the primal dim is one further out.
            let shape = a
                .shape()
                .broadcast(&b.shape())
                .expect("cross factors broadcast");
            B::float_cross(
                B::float_expand(a, shape.clone()),
                B::float_expand(b, shape),
                dim + 1,
            )
        },
    )
}
