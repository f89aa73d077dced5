//! When `Dual`'s inner backend is an `Autodiff` (reverse over reverse, which is how
//! burn-nested runs reverse-mode transforms inside a loss), `Autodiff<Dual<Autodiff<I>>>`
//! calls `Dual`'s backward kernels, and `Dual` would call `Autodiff<I>`'s — which
//! Burn 0.21 cannot differentiate and panics on when called. Such kernels are
//! composed here from differentiable ops instead; the ones with no composition yet
//! refuse with a message that names the op and the way around it.

use burn_backend::{Backend, Shape, TensorMetadata, tensor::FloatTensor, tensor::IntTensor};

use crate::dual::lanes::Prim;

/// Whether the inner backend of the tensor is an autodiff backend.
pub(crate) fn inner_is_autodiff<B: Backend>(t: &Prim<B>) -> bool {
    B::ad_enabled(&B::float_device(t))
}

/// Panics: `op` has no differentiable composition over an `Autodiff` inner backend.
pub(crate) fn refuse(op: &str) -> ! {
    panic!(
        "burn-nested: `{op}` was reached by reverse mode over an `Autodiff` backend (a \
         reverse-mode transform inside a loss), and Burn 0.21's Autodiff cannot differentiate \
         `{op}`; use forward mode for this derivative: give `jacobian`, `batched_jacobian`, \
         `gradient`, `vjp`, `laplacian` or the `param_*` transforms `Mode::AutoForward` \
         (always honoured). `hvp`, `hessian` and `batched_hessian` always take a backward \
         pass: for them, keep the layer that runs `{op}` out of the function"
    )
}

/// `g @ wᵀ` on any backend.
pub(crate) fn linear_x_backward<C: Backend>(
    w: FloatTensor<C>,
    g: FloatTensor<C>,
) -> FloatTensor<C> {
    let rank = g.shape().num_dims();
    let wt = C::float_swap_dims(w, 0, 1);
    let ws = wt.shape();
    let mut dims = vec![1; rank - 2];
    dims.extend([ws[0], ws[1]]);
    C::float_matmul(g, C::float_reshape(wt, Shape::from(dims)))
}

/// `xᵀ g` summed over every leading dim, on any backend.
pub(crate) fn linear_weight_backward<C: Backend>(
    x: FloatTensor<C>,
    g: FloatTensor<C>,
) -> FloatTensor<C> {
    let (xs, gs) = (x.shape(), g.shape());
    let (d_in, d_out) = (xs[xs.num_dims() - 1], gs[gs.num_dims() - 1]);
    let rows = xs.num_elements() / d_in;
    let x = C::float_reshape(x, Shape::new([rows, d_in]));
    let g = C::float_reshape(g, Shape::new([rows, d_out]));
    C::float_matmul(C::float_swap_dims(x, 0, 1), g)
}

/// `g` summed over every leading dim, on any backend.
pub(crate) fn linear_bias_backward<C: Backend>(g: FloatTensor<C>) -> FloatTensor<C> {
    let gs = g.shape();
    let d_out = gs[gs.num_dims() - 1];
    let g = C::float_reshape(g, Shape::new([gs.num_elements() / d_out, d_out]));
    C::float_reshape(C::float_sum_dim(g, 0), Shape::new([d_out]))
}

/// The embedding gradient as a `select_add` of the output gradient, on any backend.
pub(crate) fn embedding_backward<C: Backend>(
    w: FloatTensor<C>,
    g: FloatTensor<C>,
    indices: IntTensor<C>,
) -> FloatTensor<C> {
    let ws = w.shape();
    let n = indices.shape().num_elements();
    let idx = C::int_reshape(indices, Shape::new([n]));
    let g = C::float_reshape(g, Shape::new([n, ws[1]]));
    let zeros = C::float_zeros(ws, &C::float_device(&w), w.dtype().into());
    C::float_select_add(zeros, 0, idx, g)
}
