//! Real FFTs are linear, so their tangents go through the same transform one dim
//! further right (past the lane axis).

use burn_backend::{Backend, TensorMetadata};

use crate::dual::lanes::{common_lanes, or_zeros};
use crate::dual::{DualTensor, second};

/// `rfft(x)` along `dim`: `(re, im)`, each with the transformed tangent.
pub(crate) fn rfft<B: Backend>(
    x: DualTensor<B>,
    dim: usize,
    n: Option<usize>,
) -> (DualTensor<B>, DualTensor<B>) {
    let (re, im) = B::rfft(x.primal, dim, n);
    let layout = x.layout;
    match x.tangent {
        None => (DualTensor::constant(re), DualTensor::constant(im)),
        Some(t) => {
            let (tre, tim) = B::rfft(t, dim + 1, n);
            (
                DualTensor::from_parts(re, Some(tre), layout),
                DualTensor::from_parts(im, Some(tim), layout),
            )
        }
    }
}

/// `irfft(re, im)` along `dim`, jointly linear in both parts (an absent part's
/// tangent is zeros when the other part has one).
pub(crate) fn irfft<B: Backend>(
    re: DualTensor<B>,
    im: DualTensor<B>,
    dim: usize,
    n: Option<usize>,
) -> DualTensor<B> {
    let lanes = common_lanes::<B>("irfft", [&re.tangent, &im.tangent]);
    let layout = second::joint("irfft", [&re, &im]);
    let (re_shape, im_shape) = (re.primal.shape(), im.primal.shape());
    let tangent = lanes.map(|lanes| {
        let tre = or_zeros::<B>(re.tangent, &re.primal, lanes, &re_shape);
        let tim = or_zeros::<B>(im.tangent, &im.primal, lanes, &im_shape);
        B::irfft(tre, tim, dim + 1, n)
    });
    DualTensor::from_parts(B::irfft(re.primal, im.primal, dim, n), tangent, layout)
}
