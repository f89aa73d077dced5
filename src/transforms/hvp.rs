//! Hessian-vector products, forward over reverse.

use burn::tensor::{Tensor, backend::Backend};

use super::engine::{refuse_reverse_defect, require_faithful_reverse};
use super::pass;
use super::validate::{non_empty_input, scalar_output};
use crate::dual::passes::shared_draws;
use crate::layer::NestedFn;
use crate::lift::{seed, split};
use crate::settings::count_reverse;

/// `∇²f(x)·v` for a scalar-valued `f`, shaped like `x`: the gradient is taken on
/// `Autodiff<Dual<B>>` with `x` seeded in the direction `v`, so its tangent is the
/// Hessian-vector product (one pass, no Hessian formed). Inside a loss on
/// `Autodiff<I>` the result stays on the loss's tape.
///
/// Outside a loss, a function that switches on the train/eval mode (`BatchNorm`,
/// `Dropout`) is refused: the backward pass would run it in training mode while
/// the caller's backend runs inference mode.
///
/// ```
/// use burn::tensor::{Tensor, TensorData};
/// use burn_nested::{Pure, hvp, tensor_fn};
///
/// tensor_fn!(SumOfCubes, |x: 2| -> 1 { (x.clone() * x.clone() * x).sum() });
/// type B = burn_ndarray::NdArray<f64>;
/// let device = Default::default();
/// let tensor = |v: Vec<f64>, shape: [usize; 2]| Tensor::<B, 2>::from_data(TensorData::new(v, shape), &device);
/// // ∇²(Σ x³) = diag(6x)
/// let hv = hvp(&Pure(SumOfCubes), tensor(vec![1.0, 2.0, 3.0], [1, 3]), tensor(vec![1.0, 1.0, -1.0], [1, 3]));
/// assert_eq!(hv.into_data().to_vec::<f64>().unwrap(), vec![6.0, 12.0, -18.0]);
/// ```
///
/// # Panics
/// If `x` has no entries, `v`'s shape differs from `x`'s, `f(x)` has more than
/// one element, or (outside a loss) `f` switches on the train/eval mode.
#[track_caller]
pub fn hvp<B, F, const DI: usize, const DO: usize>(
    f: &F,
    x: Tensor<B, DI>,
    v: Tensor<B, DI>,
) -> Tensor<B, DI>
where
    B: Backend,
    F: NestedFn<B, DI, DO> + ?Sized,
{
    non_empty_input("hvp", &x.dims());
    assert!(
        v.dims() == x.dims(),
        "burn-nested: `hvp` needs a direction shaped like the input: input {:?}, direction \
         {:?}; pass a direction with the input's shape (for several directions, call `hvp` \
         once per direction, or form the whole `hessian`)",
        x.dims(),
        v.dims()
    );
    let _draws = shared_draws();
    require_faithful_reverse::<B, F, DI, DO>("hvp", f, &x);
    count_reverse();
    let n = x.shape().num_elements();
    let xd = seed(x.clone().reshape([n]), v.reshape([1, n])).reshape(x.dims());
    let pass::Taped { leaf, output, seen } = pass::reverse(f, xd);
    refuse_reverse_defect("hvp", seen);
    scalar_output("hvp", &output.dims());
    let grads = output.sum().backward();
    let Some(g) = leaf.grad(&grads) else {
        return Tensor::zeros(x.dims(), &x.device());
    };
    let (_, t) = split::<B, 1, 2>(g.reshape([n]));
    match t {
        Some(t) => t.reshape(x.dims()),
        None => Tensor::zeros(x.dims(), &x.device()),
    }
}
