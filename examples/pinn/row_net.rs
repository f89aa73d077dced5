//! The Poisson PINN of `problem.rs` with one copy of its parameters per
//! collocation point, which turns the residual Jacobian that ENGD needs into the
//! gradient of one backward pass (shared by `examples/pinn_engd.rs` and
//! `tests/engd.rs`).

use burn::module::{Module, Param};
use burn::tensor::{Tensor, TensorData, backend::Backend};
use burn_autodiff::Autodiff;
use burn_nested::{Forward, Mode, NestedFn, StatefulLayer, laplacian};

use crate::problem::{source, with_boundary};

type Inner = burn_ndarray::NdArray<f64>;
type Ad = Autodiff<Inner>;

/// The network of `problem::PinnNet` with one copy of every parameter per
/// collocation point: weights `[N, in, out]`, biases `[N, out]`, in the order of
/// `flatten_params(&PinnNet)` (each layer's weight, then its bias), so that the
/// gradient w.r.t. row `i` of the copies is row `i` of the residual Jacobian.
#[derive(Module, Debug)]
pub struct RowNet<B: Backend> {
    layers: Vec<RowDense<B>>,
}

/// One dense layer with a weight and a bias per row.
#[derive(Module, Debug)]
struct RowDense<B: Backend> {
    weight: Param<Tensor<B, 3>>,
    bias: Param<Tensor<B, 2>>,
}

impl RowNet<Ad> {
    /// `rows` copies of the flat parameters `theta` of a `PinnNet` with layer
    /// sizes `sizes`, each a leaf that requires a gradient.
    pub fn from_flat(theta: &Tensor<Inner, 1>, sizes: &[usize], rows: usize) -> Self {
        let mut offset = 0;
        let mut take = |len: usize| {
            let part = theta.clone().slice(offset..offset + len);
            offset += len;
            part
        };
        let layers = sizes
            .windows(2)
            .map(|w| {
                let (i, o) = (w[0], w[1]);
                let weight = take(i * o).reshape([1, i, o]).expand([rows, i, o]);
                let bias = take(o).reshape([1, o]).expand([rows, o]);
                RowDense {
                    weight: Param::from_tensor(Tensor::from_inner(weight).require_grad()),
                    bias: Param::from_tensor(Tensor::from_inner(bias).require_grad()),
                }
            })
            .collect();
        Self { layers }
    }
}

impl<B: Backend> Forward<B, 2, 2> for RowNet<B> {
    /// `problem::PinnNet::forward`, each row with its own weights.
    fn forward(&self, points: Tensor<B, 2>) -> Tensor<B, 2> {
        let [n, _] = points.dims();
        with_boundary(points, |mut h| {
            let last = self.layers.len() - 1;
            for (i, layer) in self.layers.iter().enumerate() {
                let out = layer.bias.dims()[1];
                // [n, 1, in] × [n, in, out]: a product per row.
                h = h
                    .unsqueeze_dim::<3>(1)
                    .matmul(layer.weight.val())
                    .reshape([n, out])
                    + layer.bias.val();
                if i < last {
                    h = h.tanh();
                }
            }
            h
        })
    }
}

/// The PDE residuals `Δu − f` at `points`, `[N]`.
pub fn residuals<B: Backend, M: Forward<B, 2, 2>>(
    layer: &StatefulLayer<M>,
    points: Tensor<B, 2>,
) -> Tensor<B, 1>
where
    StatefulLayer<M>: NestedFn<B, 2, 2>,
{
    laplacian(layer, points.clone(), Mode::FORWARD) - source(points)
}

/// `side²` interior points of the unit square, cell-centred.
pub fn interior_grid(side: usize) -> TensorData {
    let coord = |k: usize| (k as f64 + 0.5) / side as f64;
    let values = (0..side)
        .flat_map(|j| (0..side).flat_map(move |i| [coord(i), coord(j)]))
        .collect::<Vec<_>>();
    TensorData::new(values, [side * side, 2])
}
