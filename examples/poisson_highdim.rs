//! A Poisson problem in `d` dimensions (16 by default), trained with the forward
//! Laplacian and with the stochastic Laplacian estimator.
//!
//! `−Δu = f` on the cube `[0, 1]^d` with `u = g` on its boundary, where the exact
//! solution is `u*(x) = (1/d) Σᵢ sin(π xᵢ)`, so `f = π² u*` and `g = u*`. A tanh
//! network `d → 64 → 64 → 1` is trained with Adam on
//! `mean((Δu + f)²)` at interior points plus `mean((u − g)²)` at boundary points
//! (one coordinate of each set to 0 or 1), fresh points every step. The Laplacian
//! inside the loss is taken two ways, each a forward pass with no nested backward:
//! - `forward`: `laplacian` with `Mode::FORWARD`, exact, `d + 1` lanes;
//! - `stochastic`: `stochastic_laplacian` with `k` Rademacher directions per point
//!   (a fresh seed every step), unbiased, `k` lanes whatever `d` is.
//!
//! It prints the time per step and the relative L2 error against `u*` on random
//! test points for each, and exits non-zero if an error is above `--max-error`.
//!
//! `cargo run --release --example poisson_highdim [-- --dim 32 --steps 2000]`
//! (`-- --device wgpu` with `--features wgpu`, `--device cuda` with
//! `--features cuda`: f32 on the GPU)

use std::time::Instant;

use burn::module::{AutodiffModule, Module};
use burn::nn::{Linear, LinearConfig};
use burn::optim::{AdamConfig, GradientsParams, Optimizer};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Distribution, ElementConversion, Tensor};
use burn_autodiff::Autodiff;
use burn_nested::{Forward, Mode, StatefulLayer, Stochastic, laplacian, stochastic_laplacian};
use clap::{Parser, ValueEnum};

#[path = "common/alloc.rs"]
mod alloc;
#[path = "common/device.rs"]
mod device;
use device::Device;

/// Train a PINN for Poisson's equation in many dimensions.
#[derive(Debug, Parser)]
struct Args {
    /// Backend to train on (f32).
    #[arg(long, value_enum, default_value_t = Device::Ndarray)]
    device: Device,
    /// Input dimension d.
    #[arg(long, default_value_t = 16)]
    dim: usize,
    /// Optimizer steps per method.
    #[arg(long, default_value_t = 1000)]
    steps: usize,
    /// Interior points per step (as many boundary points).
    #[arg(long, default_value_t = 256)]
    batch: usize,
    /// Random directions per point of the stochastic estimator.
    #[arg(long, default_value_t = 4)]
    probes: usize,
    /// Which Laplacians to train with.
    #[arg(long, value_enum, default_value_t = Method::Both)]
    method: Method,
    /// Fail if a final relative L2 error is above this.
    #[arg(long, default_value_t = 0.1)]
    max_error: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Method {
    Forward,
    Stochastic,
    Both,
}

/// The network `u`: `Dense(d→64, tanh)`, `Dense(64→64, tanh)`, `Dense(64→1)`,
/// batch first.
#[derive(Module, Debug)]
struct Net<B: Backend> {
    hidden: Vec<Linear<B>>,
    output: Linear<B>,
}

impl<B: Backend> Net<B> {
    fn new(d: usize, width: usize, device: &B::Device) -> Self {
        let net = Self {
            hidden: vec![
                LinearConfig::new(d, width).init(device),
                LinearConfig::new(width, width).init(device),
            ],
            output: LinearConfig::new(width, 1).init(device),
        };
        // Burn draws a parameter lazily, on first use, and each clone of a module
        // whose parameters are not drawn yet draws its own: draw them now, so the
        // loss's `StatefulLayer` and the optimizer see the same weights.
        burn_nested::lift::initialize_params(&net);
        net
    }
}

impl<B: Backend> Forward<B, 2, 2> for Net<B> {
    fn forward(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        let h = self
            .hidden
            .iter()
            .fold(x, |h, layer| layer.forward(h).tanh());
        self.output.forward(h)
    }
}

/// `u*(x) = (1/d) Σᵢ sin(π xᵢ)` per row, `[batch, 1]`.
fn exact<B: Backend>(x: Tensor<B, 2>) -> Tensor<B, 2> {
    let d = x.dims()[1];
    (x * core::f64::consts::PI).sin().sum_dim(1) / d as f64
}

/// `n` points with one coordinate each set to 0 or 1.
fn boundary_points<B: Backend>(n: usize, d: usize, device: &B::Device) -> Tensor<B, 2> {
    let x = Tensor::<B, 2>::random([n, d], Distribution::Uniform(0.0, 1.0), device);
    // Coordinate k of row b is pinned when k = b mod d, to 0 or 1 by a coin.
    let rows = Tensor::<B, 1, burn::tensor::Int>::arange(0..n as i64, device).reshape([n, 1]);
    let cols = Tensor::<B, 1, burn::tensor::Int>::arange(0..d as i64, device).reshape([1, d]);
    let pinned = rows.remainder_scalar(d as i64).equal(cols);
    let side = Tensor::<B, 2>::random([n, 1], Distribution::Uniform(0.0, 1.0), device)
        .greater_elem(0.5)
        .float()
        .expand([n, d]);
    x.mask_where(pinned, side)
}

/// The loss of one step.
fn loss<B: Backend>(
    net: &Net<B>,
    method: Method,
    step: usize,
    probes: usize,
    interior: Tensor<B, 2>,
    boundary: Tensor<B, 2>,
) -> Tensor<B, 1> {
    let n = interior.dims()[0];
    let layer = StatefulLayer::from_ref(net);
    let lap = match method {
        Method::Stochastic => stochastic_laplacian(
            &layer,
            interior.clone(),
            Stochastic::rademacher(probes, step as u64),
        ),
        _ => laplacian(&layer, interior.clone(), Mode::FORWARD),
    };
    let d = interior.dims()[1];
    // f = π² u*
    let source = exact(interior) * core::f64::consts::PI.powi(2);
    let r = lap + source.reshape([n]);
    let b = net.forward(boundary.clone()) - exact(boundary);
    (r.clone() * r).mean() + (b.clone() * b).mean() * (d as f64)
}

/// Trains a fresh network; returns the time per step (ms) and the relative L2
/// error on test points.
fn train<B: AutodiffBackend>(args: &Args, method: Method, device: &B::Device) -> (f64, f64) {
    B::seed(device, 1);
    let d = args.dim;
    let mut net = Net::<B>::new(d, 64, device);
    let mut optim = AdamConfig::new().init();
    let (lr, final_lr): (f64, f64) = (3e-3, 3e-4);
    let decay = (final_lr / lr).ln() / args.steps.max(2).saturating_sub(1) as f64;
    let start = Instant::now();
    let mut last = f64::NAN;
    for step in 0..args.steps {
        let interior =
            Tensor::<B, 2>::random([args.batch, d], Distribution::Uniform(0.0, 1.0), device);
        let boundary = boundary_points::<B>(args.batch, d, device);
        let l = loss(&net, method, step, args.probes, interior, boundary);
        last = l.clone().into_scalar().elem::<f64>();
        let grads = GradientsParams::from_grads(l.backward(), &net);
        net = optim.step(lr * (decay * step as f64).exp(), net, grads);
    }
    let ms = 1e3 * start.elapsed().as_secs_f64() / args.steps.max(1) as f64;
    println!("  final loss {last:.3e}");
    let valid = net.valid();
    let test =
        Tensor::<B::InnerBackend, 2>::random([4096, d], Distribution::Uniform(0.0, 1.0), device);
    let u = valid.forward(test.clone());
    let u_star = exact(test);
    let err = (u - u_star.clone()).powi_scalar(2).sum().sqrt() / u_star.powi_scalar(2).sum().sqrt();
    (ms, err.into_scalar().elem::<f64>())
}

fn main() {
    alloc::keep_freed_memory();
    let args = Args::parse();
    device::check(args.device);
    let methods: &[Method] = match args.method {
        Method::Both => &[Method::Forward, Method::Stochastic],
        Method::Forward => &[Method::Forward],
        Method::Stochastic => &[Method::Stochastic],
    };
    println!(
        "Poisson in d = {}: {} steps, {} interior + {} boundary points a step, on {}",
        args.dim,
        args.steps,
        args.batch,
        args.batch,
        args.device.name()
    );
    let mut failed = false;
    for &method in methods {
        let label = match method {
            Method::Stochastic => format!("stochastic Laplacian, k = {}", args.probes),
            _ => format!("forward Laplacian, {} lanes", args.dim + 1),
        };
        println!("{label}:");
        let (ms, err) = match args.device {
            Device::Ndarray => train::<Autodiff<device::Cpu>>(&args, method, &Default::default()),
            Device::BurnNdarray => {
                train::<Autodiff<burn_ndarray::NdArray<f32>>>(&args, method, &Default::default())
            }
            Device::Wgpu => train::<Autodiff<device::Wgpu>>(&args, method, &Default::default()),
            Device::Cuda => train::<Autodiff<device::Cuda>>(&args, method, &Default::default()),
            Device::WgpuUnfused => {
                train::<Autodiff<device::WgpuUnfused>>(&args, method, &Default::default())
            }
            Device::CudaUnfused => {
                train::<Autodiff<device::CudaUnfused>>(&args, method, &Default::default())
            }
        };
        println!("  {ms:.2} ms per step, relative L2 error {err:.3e}");
        // A NaN error fails too.
        failed |= err.is_nan() || err > args.max_error;
    }
    if failed {
        eprintln!("a relative error is above --max-error {}", args.max_error);
        std::process::exit(1);
    }
}
