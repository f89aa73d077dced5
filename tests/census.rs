//! The op census: `Census<B>` is transparent (bit-identical values and
//! gradients, under `Autodiff` and under this crate's transforms) and counts the
//! ops that reach `B`, each once, by kind.

use std::sync::{Mutex, MutexGuard};

use burn::module::{Module, Param};
use burn::nn::Linear;
use burn::tensor::{Tensor, TensorData, backend::Backend};
use burn_autodiff::Autodiff;
use burn_ndarray::NdArray;
use burn_nested::census::{self, Census, OpKind};
use burn_nested::{Forward, Mode, StatefulLayer, jacobian};

type Plain = Autodiff<NdArray<f64>>;
type Counted = Autodiff<Census<NdArray<f64>>>;

/// The counts are process-wide and the tests run on parallel threads: each test
/// holds this lock so that no other test's ops land in its counts.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Deterministic values in (-1, 1).
fn data(shape: [usize; 2], seed: u64) -> TensorData {
    let n = shape[0] * shape[1];
    let values = (0..n)
        .map(|i| ((i as f64 + 1.0) * 0.7 + seed as f64 * 1.3).sin())
        .collect::<Vec<f64>>();
    TensorData::new(values, shape)
}

#[derive(Module, Debug)]
struct Mlp<B: Backend> {
    hidden: Linear<B>,
    out: Linear<B>,
}

impl<B: Backend> Forward<B, 2, 2> for Mlp<B> {
    fn forward(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        self.out.forward(self.hidden.forward(x).tanh())
    }
}

fn linear<B: Backend>(d_in: usize, d_out: usize, seed: u64, device: &B::Device) -> Linear<B> {
    let bias = data([1, d_out], seed + 1);
    Linear {
        weight: Param::from_tensor(Tensor::from_data(data([d_in, d_out], seed), device)),
        bias: Some(Param::from_tensor(
            Tensor::<B, 2>::from_data(bias, device).reshape([d_out]),
        )),
    }
}

fn mlp<B: Backend>(device: &B::Device) -> Mlp<B> {
    Mlp {
        hidden: linear(3, 8, 1, device),
        out: linear(8, 2, 5, device),
    }
}

fn values<B: Backend, const D: usize>(t: Tensor<B, D>) -> Vec<f64> {
    t.into_data().convert::<f64>().to_vec().unwrap()
}

/// The MLP's output, its loss's gradients w.r.t. every parameter and the input.
fn forward_backward<B: burn::tensor::backend::AutodiffBackend>() -> Vec<Vec<f64>> {
    let device = Default::default();
    let model = mlp::<B>(&device);
    let x = Tensor::<B, 2>::from_data(data([4, 3], 9), &device).require_grad();
    let y = model.forward(x.clone());
    let loss = (y.clone() - 0.25).powf_scalar(2.0).mean();
    let grads = loss.backward();
    let g2 = |p: &Param<Tensor<B, 2>>| values(p.grad(&grads).unwrap());
    let g1 = |p: &Param<Tensor<B, 1>>| values(p.grad(&grads).unwrap());
    vec![
        values(y),
        g2(&model.hidden.weight),
        g1(model.hidden.bias.as_ref().unwrap()),
        g2(&model.out.weight),
        g1(model.out.bias.as_ref().unwrap()),
        values(x.grad(&grads).unwrap()),
    ]
}

#[test]
fn transparent_under_autodiff() {
    let _serial = serial();
    let plain = forward_backward::<Plain>();
    let (counted, ops) = census::counted(forward_backward::<Counted>);
    for (a, b) in plain.iter().zip(&counted) {
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(a), bits(b), "values or gradients differ");
    }
    // Two `linear`s forward, their backward kernels back; the six reads above.
    assert!(ops.of(OpKind::MatmulConv) >= 4, "{ops:?}");
    assert_eq!(ops.of(OpKind::HostRead), 6, "{ops:?}");
}

#[test]
fn counts_each_op_once_by_kind() {
    let _serial = serial();
    // f64, as the other tests: Burn 0.21 keys a device's default dtypes by the
    // device type, which `NdArray<f32>` and `NdArray<f64>` share, so the first
    // of them to touch the device in a process would set both.
    type B = Census<NdArray<f64>>;
    let device = Default::default();
    let a = Tensor::<B, 2>::from_data(
        TensorData::new(vec![1.0f64, 2.0, 3.0, 4.0], [2, 2]),
        &device,
    );
    let b = Tensor::<B, 2>::ones([2, 2], &device);

    let (sum, ops) = census::counted(|| a.clone().add(b).sum());
    assert_eq!(ops.count("float_add"), 1, "{ops:?}");
    assert_eq!(ops.count("float_sum"), 1, "{ops:?}");
    assert_eq!(ops.of(OpKind::Elementwise), 1, "{ops:?}");
    assert_eq!(ops.of(OpKind::Reduction), 1, "{ops:?}");
    assert_eq!(ops.total(), 2, "{ops:?}");
    assert_eq!(
        ops.ops().collect::<Vec<_>>(),
        [
            ("float_add", OpKind::Elementwise, 1),
            ("float_sum", OpKind::Reduction, 1)
        ]
    );
    assert_eq!(
        ops.to_string(),
        "total 2: elementwise 1, matmul/conv 0, reduction 1, layout 0, copy 0, fill 0, \
         host-read 0, other 0"
    );

    let (data, ops) = census::counted(|| sum.into_data());
    assert_eq!(data.to_vec::<f64>().unwrap(), vec![14.0]);
    assert_eq!(ops.count("float_into_data"), 1, "{ops:?}");
    assert_eq!((ops.of(OpKind::HostRead), ops.total()), (1, 1), "{ops:?}");

    // A transaction reads all its tensors in one op.
    let (datas, ops) = census::counted(|| {
        burn::tensor::Transaction::default()
            .register(a.clone())
            .register(a.clone().greater_elem(2.0))
            .execute()
    });
    assert_eq!(datas[0].to_vec::<f64>().unwrap(), vec![1.0, 2.0, 3.0, 4.0]);
    assert_eq!(
        datas[1].to_vec::<bool>().unwrap(),
        vec![false, false, true, true]
    );
    assert_eq!(ops.count("tr_execute"), 1, "{ops:?}");
    assert_eq!(ops.of(OpKind::HostRead), 1, "{ops:?}");

    // A device query is noted but in no total.
    let (_, ops) = census::counted(|| a.device());
    assert_eq!(ops.total(), 0, "{ops:?}");
    assert_eq!(ops.queries().collect::<Vec<_>>(), [("float_device", 1)]);

    // `since` is the difference of two snapshots.
    let before = census::snapshot();
    let _ = a.clone().exp();
    let after = census::snapshot();
    assert_eq!(after.since(&before).count("float_exp"), 1);
    assert_eq!(before.since(&after).total(), 0);
}

/// One `jacobian` of the MLP, and the gradient of its squared norm w.r.t. the
/// first layer's weight (a nested loss).
fn nested_jacobian<B: burn::tensor::backend::AutodiffBackend>() -> Vec<Vec<f64>> {
    let device = Default::default();
    let model = mlp::<B>(&device);
    let x = Tensor::<B, 2>::from_data(data([2, 3], 4), &device);
    let layer = StatefulLayer::from_ref(&model);
    let j = jacobian(&layer, x, Mode::Auto);
    let loss = j.clone().powf_scalar(2.0).sum();
    let grads = loss.backward();
    vec![values(j), values(model.hidden.weight.grad(&grads).unwrap())]
}

#[test]
fn transparent_under_a_nested_transform() {
    let _serial = serial();
    let plain = nested_jacobian::<Plain>();
    let (counted, ops) = census::counted(nested_jacobian::<Counted>);
    assert_eq!(plain, counted);
    assert!(ops.total() > 0 && ops.of(OpKind::MatmulConv) > 0, "{ops:?}");
}

/// `Census` over wgpu is an inner backend like any: under `Autodiff`, under
/// `Dual` and under both (a compile-time check; it runs no GPU code).
#[cfg(feature = "wgpu")]
#[test]
fn wgpu_census_is_a_backend() {
    use burn::tensor::backend::AutodiffBackend;
    use burn_nested::Dual;
    type W = Census<burn_wgpu::Wgpu<f32>>;
    fn autodiff<B: AutodiffBackend>() {}
    autodiff::<Autodiff<W>>();
    autodiff::<Dual<W>>();
    autodiff::<Autodiff<Dual<Autodiff<W>>>>();
    autodiff::<Dual<Autodiff<W>>>();
}

/// A reverse-path `jacobian` inside a loss: Burn's backward recomputes `tanh`
/// from its input, and inside the nested backward `Dual` hands it the forward's
/// own output instead. `tanh` reaches the inner backend for the probe, the
/// nested forward and the loss's backward (which recomputes it on the outer
/// tape), and not for the nested backward (it did: 4).
#[test]
fn nested_backward_reuses_the_forward_tanh() {
    let _serial = serial();
    let device = Default::default();
    let model = mlp::<Counted>(&device);
    let x = Tensor::<Counted, 2>::from_data(data([2, 3], 4), &device);
    let ((), ops) = census::counted(|| {
        burn_nested::settings::with_switching(false, || {
            let layer = StatefulLayer::from_ref(&model);
            let j = jacobian(&layer, x, Mode::AutoReverse);
            drop(j.powf_scalar(2.0).sum().backward());
        })
    });
    assert!(ops.of(OpKind::MatmulConv) > 0, "{ops:?}");
    assert_eq!(ops.count("float_tanh"), 3, "{ops:?}");
}

/// With tuning off the shape rule decides alone; once it has chosen forward
/// lanes for a function and input shape, the next `jacobian` call skips the
/// plain pass that only learned the output's size for the rule: one `tanh` fewer
/// (the skipped pass's), the same Jacobian.
#[test]
fn a_forward_rule_skips_the_probe_on_the_next_call() {
    let _serial = serial();
    let device = Default::default();
    let model = mlp::<Counted>(&device);
    let x = Tensor::<Counted, 2>::from_data(data([2, 3], 5), &device).require_grad();
    let layer = StatefulLayer::from_ref(&model);
    let by_rule = burn_nested::settings::Options::default().with_tuning(false);
    let call = || census::counted(|| by_rule.scope(|| jacobian(&layer, x.clone(), Mode::Auto)));
    let (first, first_ops) = call();
    let (second, second_ops) = call();
    assert_eq!(
        first_ops.count("float_tanh") - 1,
        second_ops.count("float_tanh"),
        "{first_ops:?}\n{second_ops:?}"
    );
    assert!(second_ops.total() < first_ops.total());
    assert_eq!(first.dims(), [4, 6]);
    let gap = (first - second).abs().max().into_scalar();
    assert!(gap < 1e-12, "{gap}");
}

burn_nested::tensor_fn!(ThreeTanh, |x: 2| -> 2 {
    let u = x.clone().tanh().sum_dim(1);
    (u.clone().tanh() * u.tanh()).tanh()
});

/// The curvature terms of a second-order pass weigh its lanes by masks of ones
/// and zeros: each is made (uploaded from host data) once per transform call,
/// not once per nonlinear op, and a new call makes its own.
#[test]
fn a_second_order_pass_makes_each_lane_mask_once() {
    let _serial = serial();
    type B = Census<NdArray<f64>>;
    let device = Default::default();
    let x = Tensor::<B, 2>::from_data(data([4, 3], 2), &device);
    let run = || burn_nested::laplacian(&burn_nested::Pure(ThreeTanh), x.clone(), Mode::FORWARD);
    let (first, ops) = census::counted(run);
    // Four `tanh`s and a product, each with a curvature term.
    assert_eq!(ops.count("float_tanh"), 4, "{ops:?}");
    // The seed (unit directions and a zero accumulator, one block of host
    // data), then a row summing the accumulated lanes and a column adding to
    // them.
    assert_eq!(ops.count("float_from_data"), 3, "{ops:?}");
    assert_eq!(ops.count("int_arange"), 0, "{ops:?}");
    let (second, ops) = census::counted(run);
    assert_eq!(ops.count("float_from_data"), 3, "{ops:?}");
    assert_eq!(values(first.clone()).len(), 4);
    assert_eq!(values(first), values(second));
}

/// `to_device` onto the device a value is already on is the identity on `Dual`:
/// no op reaches the inner backend (Burn's `BatchNorm` asks for it on every
/// training forward, a transform's passes included), and the lanes are kept.
#[test]
fn to_device_onto_the_same_device_is_no_op() {
    let _serial = serial();
    type B = Census<NdArray<f64>>;
    let device = Default::default();
    let x = Tensor::<B, 2>::from_data(data([4, 3], 3), &device);
    let lanes = Tensor::<B, 3>::from_data(
        TensorData::new((0..24).map(f64::from).collect::<Vec<_>>(), [2, 4, 3]),
        &device,
    );
    let xd = burn_nested::lift::seed(x, lanes.clone());
    let (moved, ops) = census::counted(|| xd.to_device(&device));
    assert_eq!(ops.total(), 0, "{ops:?}");
    let (_, tangent) = burn_nested::lift::split::<B, 2, 3>(moved);
    assert_eq!(values(tangent.expect("the lanes")), values(lanes));
}
