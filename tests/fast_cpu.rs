//! `FastNdArray`: each replaced kernel against burn-ndarray's, and nested
//! derivatives through it against the same derivatives on burn-ndarray.

mod common;

use burn::tensor::{DType, Tensor, TensorData, backend::Backend};
use burn_autodiff::Autodiff;
use burn_ndarray::NdArray;
use burn_nested::cpu::FastNdArray;
use burn_nested::{Mode, Pure, TensorFn, jacobian, laplacian};
use common::{random_data, tensor, values};
use rand::{SeedableRng, rngs::StdRng};

type Fast64 = FastNdArray<f64>;
type Fast32 = FastNdArray<f32>;

/// Largest |a − b| over two equally long lists (NaN where one side is NaN:
/// `common::max_abs_diff`), after checking the lengths and that there is
/// something to compare.
fn max_gap(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len(), "compared lists differ in length");
    assert!(!a.is_empty(), "nothing compared");
    common::max_abs_diff(a, b)
}

fn data(seed: u64, shape: &[usize]) -> TensorData {
    random_data(&mut StdRng::seed_from_u64(seed), shape, -1.0, 1.0)
}

/// Builds a product's two operands from two tensors (as they are, transposed).
type Operands<B, const D: usize> = fn(Tensor<B, D>, Tensor<B, D>) -> [Tensor<B, D>; 2];

/// `a · b` on both backends in f64, for operands built by `make` (which may
/// transpose them).
fn matmul_gap<const D: usize>(
    a: &[usize],
    b: &[usize],
    make: Operands<NdArray<f64>, D>,
    make_fast: Operands<Fast64, D>,
) -> f64 {
    let (da, db) = (data(1, a), data(2, b));
    let [x, y] = make(tensor(&da), tensor(&db));
    let [fx, fy] = make_fast(tensor(&da), tensor(&db));
    let want = x.matmul(y);
    let got = fx.matmul(fy);
    assert_eq!(got.dims(), want.dims());
    max_gap(&values(got), &values(want))
}

fn as_is<B: Backend, const D: usize>(a: Tensor<B, D>, b: Tensor<B, D>) -> [Tensor<B, D>; 2] {
    [a, b]
}

fn transposed<B: Backend, const D: usize>(a: Tensor<B, D>, b: Tensor<B, D>) -> [Tensor<B, D>; 2] {
    [a.transpose(), b.transpose()]
}

/// Every shape case of the kernel: plain, one right matrix under a batch (one
/// GEMM over stacked rows), one left matrix, equal batches, strided operands,
/// and a broadcast it hands to burn-ndarray.
#[test]
fn matmul_matches_burn_ndarray() {
    let gaps = [
        matmul_gap::<2>(&[5, 4], &[4, 6], as_is, as_is),
        matmul_gap::<3>(&[3, 5, 4], &[1, 4, 6], as_is, as_is),
        matmul_gap::<3>(&[1, 5, 4], &[3, 4, 6], as_is, as_is),
        matmul_gap::<4>(&[2, 3, 5, 4], &[2, 3, 4, 6], as_is, as_is),
        matmul_gap::<4>(&[2, 1, 5, 4], &[1, 3, 4, 6], as_is, as_is),
        // Transposed: `[4, 5]ᵀ · [6, 4]ᵀ`, strided views on both sides.
        matmul_gap::<2>(&[4, 5], &[6, 4], transposed, transposed),
        matmul_gap::<3>(&[3, 4, 5], &[1, 6, 4], transposed, transposed),
        // Large enough to be cut among threads: stacked rows, then a batch.
        matmul_gap::<3>(&[4, 1024, 64], &[1, 64, 32], as_is, as_is),
        matmul_gap::<3>(&[8, 256, 64], &[8, 64, 64], as_is, as_is),
    ];
    for (case, gap) in gaps.iter().enumerate() {
        assert!(
            *gap < 1e-13,
            "case {case}: differs from burn-ndarray by {gap}"
        );
    }
    // An empty inner dimension is an empty sum: zeros (burn-ndarray 0.21
    // divides by zero on it, so there is nothing to compare with).
    let device = Default::default();
    let a = Tensor::<Fast64, 3>::zeros([2, 3, 0], &device);
    let b = Tensor::<Fast64, 3>::zeros([2, 0, 4], &device);
    assert_eq!(values(a.matmul(b)), vec![0.0; 24]);
    let a = Tensor::<Fast64, 2>::zeros([3, 0], &device);
    let b = Tensor::<Fast64, 2>::zeros([0, 4], &device);
    assert_eq!(values(a.matmul(b)), vec![0.0; 12]);
}

/// An f32 tensor whatever the device's default dtype: Burn 0.21 keys the
/// default by device type, which `NdArray<f32>` and `NdArray<f64>` share, and
/// the other tests of this binary set it to f64 (docs/burn-issues.md). The
/// nested f32 comparison is in tests/pinn_example.rs, a binary all f32.
fn f32_tensor(data: TensorData) -> Tensor<Fast32, 1> {
    let device = Default::default();
    let t = Tensor::<Fast32, 1>::from_data(data, (&device, DType::F32));
    assert_eq!(t.dtype(), DType::F32);
    t
}

/// f32 `tanh` within a few units in the last place of the correctly rounded
/// value on a dense sweep, exact at the ends, odd, and NaN-preserving.
#[test]
fn f32_tanh_is_accurate() {
    let xs: Vec<f32> = (-200_000..=200_000)
        .map(|i| i as f32 * 5e-5)
        .chain([1e-8, -1e-8, 3.9e-4, 4.1e-4, 8.0, -8.0, 30.0, 1e30, -1e30])
        .collect();
    let n = xs.len();
    let t = f32_tensor(TensorData::new(xs.clone(), [n]));
    let got = t.tanh().into_data().to_vec::<f32>().unwrap();
    let (mut worst, mut at) = (0u32, 0f32);
    for (x, y) in xs.iter().zip(&got) {
        let want = (*x as f64).tanh() as f32;
        let ulps = if y.signum() == want.signum() || want == 0.0 {
            (y.to_bits() as i64 - want.to_bits() as i64).unsigned_abs() as u32
        } else {
            u32::MAX
        };
        if ulps > worst {
            (worst, at) = (ulps, *x);
        }
    }
    assert!(worst <= 1, "worst error {worst} ulp, at x = {at}");
    assert_eq!(got[0], -1.0);
    assert_eq!(*got.last().unwrap(), -1.0);
    let special = f32_tensor(TensorData::new(vec![f32::NAN, f32::INFINITY, 0.0], [3]))
        .tanh()
        .into_data()
        .to_vec::<f32>()
        .unwrap();
    assert!(special[0].is_nan());
    assert_eq!(&special[1..], &[1.0, 0.0]);
}

/// f64 `tanh`, `reshape` (contiguous and strided) and `zeros` give burn-ndarray's
/// values bit for bit.
#[test]
fn other_kernels_match_burn_ndarray() {
    let d = data(3, &[4, 6]);
    let plain = tensor::<NdArray<f64>, 2>(&d);
    let fast = tensor::<Fast64, 2>(&d);
    assert_eq!(values(fast.clone().tanh()), values(plain.clone().tanh()));
    assert_eq!(
        values(fast.clone().reshape([3, 8])),
        values(plain.clone().reshape([3, 8]))
    );
    let (fr, pr) = (
        fast.clone().transpose().reshape([2, 12]),
        plain.clone().transpose().reshape([2, 12]),
    );
    assert_eq!(fr.dims(), [2, 12]);
    assert_eq!(values(fr), values(pr));
    let z = Tensor::<Fast32, 3>::zeros([2, 3, 4], &Default::default());
    assert_eq!(values(z), vec![0.0; 24]);
}

/// Divisors away from zero, so the quotients are plain numbers.
fn divisor<B: Backend, const D: usize>(t: Tensor<B, D>) -> Tensor<B, D> {
    t.abs() + 0.5
}

/// The four elementwise binary ops on operands of the given shapes, on both
/// backends in f64, bit for bit (each output element is one IEEE operation in
/// both kernels).
fn elementwise_agrees<const D: usize>(a: &[usize], b: &[usize], transpose_b: bool) {
    let (da, db) = (data(4, a), data(5, b));
    let (pa, mut pb) = (
        tensor::<NdArray<f64>, D>(&da),
        tensor::<NdArray<f64>, D>(&db),
    );
    let (fa, mut fb) = (tensor::<Fast64, D>(&da), tensor::<Fast64, D>(&db));
    if transpose_b {
        (pb, fb) = (pb.transpose(), fb.transpose());
    }
    let want = [
        pa.clone() + pb.clone(),
        pa.clone() - pb.clone(),
        pa.clone() * pb.clone(),
        pa / divisor(pb),
    ];
    let got = [
        fa.clone() + fb.clone(),
        fa.clone() - fb.clone(),
        fa.clone() * fb.clone(),
        fa / divisor(fb),
    ];
    for (op, (g, w)) in got.into_iter().zip(want).enumerate() {
        assert_eq!(g.dims(), w.dims(), "{a:?} op {op} vs {b:?}: shape");
        let (g, w) = (values(g), values(w));
        assert_eq!(g.len(), w.len());
        assert!(!w.is_empty(), "nothing compared");
        let first = g
            .iter()
            .zip(&w)
            .position(|(x, y)| x.to_bits() != y.to_bits());
        assert_eq!(first, None, "{a:?} op {op} vs {b:?}: first difference");
    }
}

/// Same shapes, small and large (cut among threads); the `Dual` broadcasts
/// (lanes times a primal factor, per-row scalars); broadcasts on both sides;
/// a single element; and a transposed operand, which goes to burn-ndarray.
#[test]
fn elementwise_ops_match_burn_ndarray() {
    elementwise_agrees::<2>(&[5, 7], &[5, 7], false);
    elementwise_agrees::<3>(&[3, 128, 200], &[3, 128, 200], false);
    elementwise_agrees::<3>(&[9, 32, 16], &[1, 32, 16], false);
    elementwise_agrees::<3>(&[1, 512, 64], &[9, 512, 64], false);
    elementwise_agrees::<3>(&[9, 512, 64], &[9, 512, 1], false);
    elementwise_agrees::<3>(&[1, 300, 1], &[7, 1, 40], false);
    elementwise_agrees::<3>(&[4, 1, 5], &[1, 1, 1], false);
    elementwise_agrees::<2>(&[1, 1], &[1, 1], false);
    elementwise_agrees::<2>(&[6, 4], &[4, 6], true);
}

/// `linear`'s backward on a stack of lanes (`[L, B, in]`, as a `Dual` tensor
/// runs it under `Autodiff`): the gradients of the input, weight and bias, on
/// both backends in f64.
fn linear_backward<B: Backend>(x: &TensorData, w: &TensorData, b: &TensorData) -> Vec<f64> {
    let x = tensor::<Autodiff<B>, 3>(x).require_grad();
    let w = tensor::<Autodiff<B>, 2>(w).require_grad();
    let b = tensor::<Autodiff<B>, 1>(b).require_grad();
    let y = burn::tensor::module::linear(x.clone(), w.clone(), Some(b.clone()));
    let grads = (y.clone() * y).sum().backward();
    let mut out = values(x.grad(&grads).expect("x gradient"));
    out.extend(values(w.grad(&grads).expect("weight gradient")));
    out.extend(values(b.grad(&grads).expect("bias gradient")));
    out
}

/// Small (one product on this thread) and large (the contraction cut among
/// threads and summed).
#[test]
fn linear_backward_matches_burn_ndarray() {
    for (lanes, rows, inputs, outputs) in [(3, 5, 4, 2), (4, 1024, 64, 32)] {
        let (x, w, b) = (
            data(6, &[lanes, rows, inputs]),
            data(7, &[inputs, outputs]),
            data(8, &[outputs]),
        );
        let want = linear_backward::<NdArray<f64>>(&x, &w, &b);
        let got = linear_backward::<Fast64>(&x, &w, &b);
        assert_eq!(
            got.len(),
            lanes * rows * inputs + inputs * outputs + outputs
        );
        let scale = want.iter().fold(1f64, |m, v| m.max(v.abs()));
        let gap = max_gap(&got, &want) / scale;
        assert!(gap < 1e-13, "[{lanes}, {rows}, {inputs}]: {gap}");
    }
}

/// A small network with fixed weights: `tanh(tanh(x W₁) W₂) W₃`.
#[derive(Clone)]
struct Net([TensorData; 3]);

impl TensorFn<2, 2> for Net {
    fn apply<B: Backend>(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        let device = x.device();
        let w = |i: usize| Tensor::<B, 2>::from_data(self.0[i].clone(), &device);
        x.matmul(w(0)).tanh().matmul(w(1)).tanh().matmul(w(2))
    }
}

/// A nested loss on `Autodiff<B>`: the forward Laplacian and a Jacobian
/// penalty, its value and input gradient.
fn nested_loss<B: Backend>(net: &Net, x: &TensorData) -> Vec<f64> {
    let x = tensor::<Autodiff<B>, 2>(x).require_grad();
    let f = Pure(net.clone());
    let lap = laplacian(&f, x.clone(), Mode::Auto);
    let jac = jacobian(&f, x.clone(), Mode::Auto);
    let loss = lap.powf_scalar(2.0).sum() + (jac.clone() * jac).sum();
    let grads = loss.backward();
    let mut out = values(loss);
    out.extend(values(x.grad(&grads).expect("input gradient")));
    out
}

fn net(seed: u64) -> Net {
    Net([
        data(seed, &[3, 16]),
        data(seed + 1, &[16, 16]),
        data(seed + 2, &[16, 1]),
    ])
}

/// Nested derivatives through the fast kernels equal burn-ndarray's in f64.
#[test]
fn nested_derivatives_match_burn_ndarray() {
    let (net, x) = (net(10), data(20, &[8, 3]));
    let want = nested_loss::<NdArray<f64>>(&net, &x);
    let got = nested_loss::<Fast64>(&net, &x);
    assert_eq!(got.len(), 1 + 8 * 3);
    let gap = max_gap(&got, &want);
    assert!(gap < 1e-12, "f64: {gap}");
}
