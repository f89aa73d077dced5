//! `param_jacobian` inside a loss: its reverse pass differentiates w.r.t. the
//! parameters themselves, not through the flat parameter vector (issue 23).
//! It must give what `jacobian` of the parameter view gives, value and
//! gradients of the loss, for every kind of parameter, and keep the ops per
//! step it was cut to.

mod common;
#[path = "../scenarios/mod.rs"]
mod scenarios;

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Tensor, backend::Backend};
use burn_autodiff::Autodiff;
use burn_nested::census::{Census, counted};
use burn_nested::check::param_gradients_or_zeros;
use burn_nested::{
    Forward, Mode, NestedModel, StatefulLayer, jacobian, param_jacobian, settings::with_switching,
};
use common::{Ad, assert_close, random_data, tensor, values};
use rand::{SeedableRng, rngs::StdRng};
use scenarios::Mlp;

/// A model with a parameter of each kind the flat vector treats apart: a
/// frozen weight (not in the vector), a trainable bias next to it, and a layer
/// the output never reaches (its columns of the Jacobian are zero).
#[derive(Module, Debug)]
struct Partial<B: Backend> {
    frozen: Linear<B>,
    out: Linear<B>,
    unused: Linear<B>,
}

impl<B: Backend> Forward<B, 2, 2> for Partial<B> {
    fn forward(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        self.out.forward(self.frozen.forward(x).tanh())
    }
}

fn partial() -> Partial<Ad> {
    let device = &Default::default();
    let mut frozen = LinearConfig::new(2, 4).init::<Ad>(device);
    frozen.weight = frozen.weight.set_require_grad(false);
    let model = Partial {
        frozen,
        out: LinearConfig::new(4, 3).init(device),
        unused: LinearConfig::new(3, 2).init(device),
    };
    burn_nested::lift::initialize_params(&model);
    model
}

/// The Jacobian, the gradients of `Σ c ⊙ J²` w.r.t. every trainable parameter
/// and the input, where `jacobian_of` computes `J` inside the loss (`c`: fixed
/// weights, so that a permuted or transposed `J` shows).
fn loss_and_gradients<M>(
    model: &M,
    x: &Tensor<Ad, 2>,
    jacobian_of: impl Fn(&StatefulLayer<M>, Tensor<Ad, 2>) -> Tensor<Ad, 2>,
) -> Vec<Vec<f64>>
where
    M: NestedModel<Ad, 2, 2> + burn::module::AutodiffModule<Ad>,
{
    let x = x.clone().detach().require_grad();
    let layer = StatefulLayer::from_ref(model);
    let j = jacobian_of(&layer, x.clone());
    let [rows, cols] = j.dims();
    let c = Tensor::<Ad, 1, burn::tensor::Int>::arange(0..(rows * cols) as i64, &x.device())
        .float()
        .reshape([rows, cols])
        .sin();
    let grads = (c * j.clone() * j.clone()).sum().backward();
    vec![
        values(j),
        param_gradients_or_zeros(model, &grads),
        values(x.grad(&grads).expect("the loss reaches the input")),
    ]
}

/// `param_jacobian` against `jacobian` of the parameter view, both inside a
/// loss in `mode` (switching as given), on `model`.
fn agrees_with_the_view<M>(what: &str, model: &M, x: &Tensor<Ad, 2>, switching: bool, mode: Mode)
where
    M: NestedModel<Ad, 2, 2> + burn::module::AutodiffModule<Ad>,
{
    let got = with_switching(switching, || {
        loss_and_gradients(model, x, |layer, x| param_jacobian(layer, x, mode))
    });
    let want = with_switching(switching, || {
        loss_and_gradients(model, x, |layer, x| {
            jacobian(&layer.params_at(x), layer.flat_params(), mode)
        })
    });
    for (part, (g, w)) in ["J", "parameter gradients", "input gradient"]
        .iter()
        .zip(got.iter().zip(&want))
    {
        assert!(!w.is_empty(), "{what}: {part} compares something");
        assert_close(&format!("{what}: {part}"), g, w, 1e-12);
    }
}

fn input(rows: usize, cols: usize) -> Tensor<Ad, 2> {
    let mut rng = StdRng::seed_from_u64(23);
    tensor::<Ad, 2>(&random_data(&mut rng, &[rows, cols], -1.0, 1.0))
}

/// The reverse path (switching off: `AutoReverse` goes reverse whatever the
/// shapes) on an MLP, one with a `BatchNorm` (running statistics are not
/// parameters) and one with frozen and unreached parameters.
#[test]
fn reverse_path_matches_the_parameter_view() {
    let device = Default::default();
    let x = input(5, 2);
    let mlp = Mlp::<Ad>::new(&[2, 6, 6, 3], false, &device);
    agrees_with_the_view("mlp", &mlp, &x, false, Mode::AutoReverse);
    let normed = Mlp::<Ad>::new(&[2, 6, 3], true, &device);
    agrees_with_the_view("batch norm", &normed, &x, false, Mode::AutoReverse);
    agrees_with_the_view("partial", &partial(), &x, false, Mode::AutoReverse);
}

/// With switching on, a model with few parameters per output goes forward
/// (through the flat vector, after the reverse pass's forward half stood in for
/// the probe), one with many goes reverse: both as `jacobian` of the view.
#[test]
fn switched_paths_match_the_parameter_view() {
    let device = Default::default();
    let small = Mlp::<Ad>::new(&[2, 3, 2], false, &device);
    agrees_with_the_view("forward", &small, &input(8, 2), true, Mode::Auto);
    let wide = Mlp::<Ad>::new(&[2, 16, 16, 1], false, &device);
    agrees_with_the_view("reverse", &wide, &input(2, 2), true, Mode::Auto);
    agrees_with_the_view("partial", &partial(), &input(3, 2), true, Mode::Auto);
}

/// The census's `parameter_jacobian` step (`benches/census.rs`, bench size)
/// keeps the ops it was cut to: no `slice_assign` or zero fill per parameter
/// (the flat vector's gradient plumbing), and the totals of issue 23 (242
/// kernel ops and 488 in all before). Views (reshape, expand, transposes,
/// slices) are what `benches/census.rs` counts out of the kernel ops.
#[test]
fn parameter_jacobian_step_ops() {
    type C = Autodiff<Census<burn_ndarray::NdArray<f32>>>;
    let device = Default::default();
    C::seed(&device, 0);
    let model = Mlp::<C>::new(&[1, 32, 32, 32, 1], false, &device);
    let x = Tensor::<C, 2>::ones([64, 1], &device) * 0.5;
    let ((), ops) = counted(|| {
        with_switching(false, || {
            let x = x.clone().detach().require_grad();
            let loss = scenarios::parameter_jacobian(&model, x, Mode::AutoReverse);
            drop(loss.backward());
        })
    });
    let kernels = ops.kernels();
    assert_eq!(ops.count("float_slice_assign"), 0, "{ops:?}");
    assert!(ops.count("float_zeros") <= 1, "{ops:?}");
    assert!(kernels <= 142, "{kernels} kernel ops: {ops:?}");
    assert!(ops.total() <= 269, "{} ops: {ops:?}", ops.total());
}

/// The panic message of `f`, if it panics.
fn panic_message(f: impl FnOnce()) -> Option<String> {
    let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).err()?;
    err.downcast_ref::<String>()
        .cloned()
        .or_else(|| err.downcast_ref::<&str>().map(|s| s.to_string()))
}

/// Inside a loss the model's first pass runs on `Autodiff<Dual<B>>` rather than
/// `Dual<B>`: an input the model cannot take must still fail there with the
/// plain model's own panic (docs/reliability.md), on both paths.
#[test]
fn an_input_the_model_cannot_take_fails_as_the_model_does_inside_a_loss() {
    let model = Mlp::<Ad>::new(&[4, 3, 2], false, &Default::default());
    let wrong = || Tensor::<Ad, 2>::zeros([3, 5], &Default::default()).require_grad();
    let plain = panic_message(|| drop(Forward::forward(&model, wrong())))
        .expect("the plain model rejects 5 features");
    for switching in [false, true] {
        let msg = panic_message(|| {
            with_switching(switching, || {
                let layer = StatefulLayer::from_ref(&model);
                drop(param_jacobian(&layer, wrong(), Mode::AutoReverse));
            })
        })
        .expect("5 features instead of 4 must not return");
        assert_eq!(msg, plain, "switching {switching}");
    }
}
