//! Measurements behind the switching thresholds in `transforms::policy`: one
//! training step (nested loss + backward) with the derivative inside the loss taken
//! forward (`Dual` lanes) or reverse (nested backward passes), as the input grows.
//!
//! `cargo bench --bench switching`

#[path = "../scenarios/mod.rs"]
mod scenarios;

use burn::tensor::{Tensor, TensorData};
use burn_nested::{Mode, StatefulLayer, gradient, jacobian, settings::with_switching};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use scenarios::{Mlp, SumOfSquares};

type Ad = burn_autodiff::Autodiff<burn_ndarray::NdArray<f32>>;

fn input(rows: usize, cols: usize) -> Tensor<Ad, 2> {
    let v: Vec<f32> = (0..rows * cols)
        .map(|i| ((i * 37 % 101) as f32) / 101.0)
        .collect();
    Tensor::from_data(TensorData::new(v, [rows, cols]), &Default::default())
}

/// `Σ(∇ₜ Σu² − cos t)²` and its backward, the gradient taken in `mode`.
fn gradient_step(model: &Mlp<Ad>, t: &Tensor<Ad, 2>, mode: Mode) {
    let t = t.clone().detach().require_grad();
    let layer = StatefulLayer::from_ref(model);
    let g = gradient(&layer.then(SumOfSquares), t.clone(), mode);
    let loss = (g - t.cos()).powf_scalar(2.0).sum();
    let _ = loss.backward();
}

/// `‖J‖²` and its backward, the Jacobian taken in `mode`.
fn jacobian_step(model: &Mlp<Ad>, x: &Tensor<Ad, 2>, mode: Mode) {
    let x = x.clone().detach().require_grad();
    let layer = StatefulLayer::from_ref(model);
    let j = jacobian(&layer, x, mode);
    let _ = (j.clone() * j).sum().backward();
}

fn bench(c: &mut Criterion) {
    let device = Default::default();
    let pinn = Mlp::<Ad>::new(&[1, 12, 12, 12, 1], false, &device);
    let mut group = c.benchmark_group("gradient_inside_loss");
    for n in [16usize, 64, 256] {
        let t = input(n, 1);
        group.bench_with_input(BenchmarkId::new("forward", n), &n, |b, _| {
            b.iter(|| gradient_step(&pinn, &t, Mode::FORWARD))
        });
        group.bench_with_input(BenchmarkId::new("reverse", n), &n, |b, _| {
            b.iter(|| with_switching(false, || gradient_step(&pinn, &t, Mode::AutoReverse)))
        });
    }
    group.finish();

    // Output 8 entries (batch 4 × 2 features); the input grows from 8 to 256.
    let mut group = c.benchmark_group("jacobian_inside_loss");
    for features in [2usize, 4, 8, 16, 32, 64] {
        let model = Mlp::<Ad>::new(&[features, 16, 2], false, &device);
        let x = input(4, features);
        let ratio = features / 2;
        group.bench_with_input(BenchmarkId::new("forward", ratio), &ratio, |b, _| {
            b.iter(|| jacobian_step(&model, &x, Mode::FORWARD))
        });
        group.bench_with_input(BenchmarkId::new("reverse", ratio), &ratio, |b, _| {
            b.iter(|| with_switching(false, || jacobian_step(&model, &x, Mode::AutoReverse)))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
