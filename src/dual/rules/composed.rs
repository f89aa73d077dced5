//! Ops whose JVP comes from composing differentiable `Dual` ops: Burn's public
//! default compositions run on `Dual<B>` itself (or on `Dual<Dual<B>>`), so every
//! step carries its tangent by its own rule. Without tangents the inner backend's
//! op runs, so fused kernels stay in use.

use burn_backend::{
    Backend, Shape, TensorMetadata, get_device_settings,
    ops::{
        AttentionModuleOptions, FloatTensorOps, attention::attention_fallback,
        ctc::ctc_loss_default,
    },
};

use crate::dual::lanes::{Prim, common_lanes};
use crate::dual::reshape::reshape;
use crate::dual::{Dual, DualTensor, second};

/// An int primitive of the inner backend.
type IntPrim<B> = <B as burn_backend::backend::BackendTypes>::IntTensorPrimitive;

/// Scaled dot-product attention: with a tangent, Burn's unfused composition
/// (matmul, softcap, masking, softmax) on `Dual<B>`.
pub(crate) fn attention<B: Backend>(
    q: DualTensor<B>,
    k: DualTensor<B>,
    v: DualTensor<B>,
    mask: Option<B::BoolTensorPrimitive>,
    bias: Option<DualTensor<B>>,
    options: AttentionModuleOptions,
) -> DualTensor<B> {
    let tb = bias.as_ref().and_then(|b| b.tangent.clone());
    if common_lanes::<B>("attention", [&q.tangent, &k.tangent, &v.tangent, &tb]).is_none() {
        let b = bias.map(|b| b.primal);
        return DualTensor::constant(B::attention(q.primal, k.primal, v.primal, mask, b, options));
    }
    attention_fallback::<Dual<B>>(q, k, v, mask, bias, options)
}

/// CTC loss: with a tangent, Burn's default alpha recursion on `Dual<B>`.
pub(crate) fn ctc_loss<B: Backend>(
    log_probs: DualTensor<B>,
    targets: IntPrim<B>,
    input_lengths: IntPrim<B>,
    target_lengths: IntPrim<B>,
    blank: usize,
) -> DualTensor<B> {
    match log_probs.tangent {
        None => DualTensor::constant(B::ctc_loss(
            log_probs.primal,
            targets,
            input_lengths,
            target_lengths,
            blank,
        )),
        Some(_) => {
            ctc_loss_default::<Dual<B>>(log_probs, targets, input_lengths, target_lengths, blank)
        }
    }
}

/// `[n, n]` identity in `like`'s float dtype, built on the device.
fn identity<B: Backend>(n: usize, like: &Prim<B>) -> Prim<B> {
    let device = B::float_device(like);
    let settings = get_device_settings::<B>(&device);
    let range = || B::int_arange(0..n as i64, &device, settings.int_dtype);
    let rows = B::int_expand(
        B::int_reshape(range(), Shape::new([n, 1])),
        Shape::new([n, n]),
    );
    let cols = B::int_expand(
        B::int_reshape(range(), Shape::new([1, n])),
        Shape::new([n, n]),
    );
    let eye = B::int_equal(rows, cols, settings.bool_dtype);
    B::bool_into_float(eye, like.dtype().into())
}

/// The CTC gradient `grad_loss[n]·∂loss_n/∂log_probs[t, n, c]`, which Burn calls
/// only on backends reporting `has_ctc_loss_backward()` (`Dual` does not, so
/// `Autodiff<Dual<B>>` differentiates the composition instead). Without tangents
/// it is the inner backend's op when it has one. Otherwise the gradient itself is
/// taken in forward mode over the default composition on `Dual<Dual<B>>`, one inner
/// lane per `(t, c)` (every sample's loss depends on its own column only), and its
/// outer tangent is the JVP: exact, but `T·C` times the cost of the loss.
pub(crate) fn ctc_loss_backward<B: Backend>(
    log_probs: DualTensor<B>,
    targets: IntPrim<B>,
    input_lengths: IntPrim<B>,
    target_lengths: IntPrim<B>,
    grad_loss: DualTensor<B>,
    blank: usize,
) -> DualTensor<B> {
    if log_probs.tangent.is_some() || grad_loss.tangent.is_some() {
        let joint = second::joint("ctc_loss_backward", [&log_probs, &grad_loss]);
        second::unsupported("ctc_loss_backward", joint);
    }
    common_lanes::<B>(
        "ctc_loss_backward",
        [&log_probs.tangent, &grad_loss.tangent],
    );
    if log_probs.tangent.is_none() && grad_loss.tangent.is_none() && B::has_ctc_loss_backward() {
        return DualTensor::constant(B::ctc_loss_backward(
            log_probs.primal,
            targets,
            input_lengths,
            target_lengths,
            grad_loss.primal,
            blank,
        ));
    }
    let [t, n, c] = log_probs.shape().dims();
    let eye = identity::<B>(t * c, &log_probs.primal);
    let seeds = reshape::<B>(eye, Shape::new([t * c, t, 1, c]));
    let seeds = B::float_expand(seeds, Shape::new([t * c, t, n, c]));
    let lifted = DualTensor::<Dual<B>>::new(log_probs, Some(DualTensor::constant(seeds)));
    let loss =
        ctc_loss_default::<Dual<Dual<B>>>(lifted, targets, input_lengths, target_lengths, blank);
    // [t·c, n] partials, each with the outer tangent.
    let partials = match loss.tangent {
        Some(p) => p,
        None => DualTensor::constant(B::float_zeros(
            Shape::new([t * c, n]),
            &B::float_device(&grad_loss.primal),
            grad_loss.primal.dtype().into(),
        )),
    };
    let partials = Dual::<B>::float_reshape(partials, Shape::new([t, c, n]));
    let partials = Dual::<B>::float_permute(partials, &[0, 2, 1]);
    let scale = Dual::<B>::float_reshape(grad_loss, Shape::new([1, n, 1]));
    Dual::<B>::float_mul(partials, scale)
}
