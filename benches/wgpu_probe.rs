//! Where a wgpu step at batch 65536 spends its time: the matmul shapes of a
//! dense layer's forward and backward (one long-K weight-gradient product against
//! the same product split into chunks and summed), a plain `Autodiff<Wgpu>` step,
//! and the PINN scenario's step switched and naive. Prints medians.
//!
//! `cargo bench --features wgpu --bench wgpu_probe` (or carry the binary that
//! `cargo bench --no-run` builds to a GPU machine and run it there).
#[path = "../scenarios/mod.rs"]
mod scenarios;

use std::time::Instant;

use burn::tensor::{Distribution, Tensor, backend::Backend};
use burn_nested::{Forward, Mode, settings::with_switching};
use burn_wgpu::Wgpu;
use scenarios::{Mlp, pinn_gradient, pinn_gradient_rowwise, sizes};

type W = Wgpu;
type Ad = burn_autodiff::Autodiff<Wgpu>;

/// Prints the median wall time of `reps` calls of `f`, each followed by a device
/// sync, after three warm-up calls (kernel compilation, autotuning).
fn median_ms<F: FnMut()>(label: &str, reps: usize, mut f: F) {
    let device = Default::default();
    for _ in 0..3 {
        f();
    }
    W::sync(&device).unwrap();
    let mut t = Vec::new();
    for _ in 0..reps {
        let s = Instant::now();
        f();
        W::sync(&device).unwrap();
        t.push(s.elapsed().as_secs_f64() * 1e3);
    }
    t.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!("{label:<58} {:>10.3} ms", t[reps / 2]);
}

/// Standard normal data of the given shape.
fn rand<B: Backend, const D: usize>(shape: [usize; D]) -> Tensor<B, D> {
    Tensor::random(shape, Distribution::Normal(0.0, 1.0), &Default::default())
}

fn main() {
    let n = 65536;
    for w in [12usize, 32] {
        let a: Tensor<W, 2> = rand([w, n]);
        let b: Tensor<W, 2> = rand([n, w]);
        median_ms(
            &format!("matmul [{w},{n}]x[{n},{w}] (weight grad)"),
            20,
            || {
                let _ = a.clone().matmul(b.clone());
            },
        );
        let at: Tensor<W, 2> = rand([n, w]);
        median_ms(
            &format!("matmul transposed view [{n},{w}]^T x [{n},{w}]"),
            20,
            || {
                let _ = at.clone().transpose().matmul(b.clone());
            },
        );
        for chunks in [64usize, 256] {
            let a3 = a.clone().reshape([w, chunks, n / chunks]).swap_dims(0, 1);
            let b3 = b.clone().reshape([chunks, n / chunks, w]);
            median_ms(&format!("split-K x{chunks} + sum"), 20, || {
                let _ = a3.clone().matmul(b3.clone()).sum_dim(0);
            });
        }
        let x: Tensor<W, 2> = rand([n, w]);
        let m: Tensor<W, 2> = rand([w, w]);
        median_ms(&format!("matmul [{n},{w}]x[{w},{w}] (forward)"), 20, || {
            let _ = x.clone().matmul(m.clone());
        });
        median_ms(&format!("sum_dim(0) [{n},{w}]"), 20, || {
            let _ = x.clone().sum_dim(0);
        });
        median_ms(&format!("tanh [{n},{w}]"), 20, || {
            let _ = x.clone().tanh();
        });
    }

    let device = Default::default();
    let model = Mlp::<Ad>::new(sizes::PINN, false, &device);
    let t: Tensor<Ad, 2> = Tensor::random([n, 1], Distribution::Uniform(0.0, 1.0), &device);
    median_ms("plain Autodiff<Wgpu> step: sum(u^2) fwd+bwd", 10, || {
        let x = t.clone().require_grad();
        let u = model.forward(x.clone());
        let _ = (u.clone() * u).sum().backward();
    });
    for switching in [true, false] {
        median_ms(
            &format!("pinn_gradient fwd only, switching {switching}"),
            10,
            || {
                let _ = with_switching(switching, || {
                    pinn_gradient(&model, t.clone().require_grad(), Mode::Auto)
                });
            },
        );
        median_ms(
            &format!("pinn_gradient fwd+bwd, switching {switching}"),
            10,
            || {
                let l = with_switching(switching, || {
                    pinn_gradient(&model, t.clone().require_grad(), Mode::Auto)
                });
                let _ = l.backward();
            },
        );
        median_ms(
            &format!("pinn_gradient_rowwise fwd+bwd, switching {switching}"),
            10,
            || {
                let l = with_switching(switching, || {
                    pinn_gradient_rowwise(&model, t.clone().require_grad(), Mode::Auto)
                });
                let _ = l.backward();
            },
        );
    }
}
