//! One training step of a Poisson PINN in `d` dimensions: a tanh MLP
//! `d → W → W → W → 1`, a batch of points in `[−1, 1]^d`, the loss
//! `mean((Δu + f)²)` with `f = Σᵢ sin xᵢ`, and its gradient w.r.t. every
//! parameter, on `Autodiff<NdArray<f32>>`. The Laplacian is taken by
//! - `forward-laplacian`: `laplacian` with `Mode::FORWARD` (one second-order
//!   forward pass, `d + 1` lanes),
//! - `forward-over-reverse`: `laplacian` with `Mode::AutoReverse` (one nested
//!   backward with `d` tangent lanes),
//! - `stochastic-k8`: `stochastic_laplacian` with 8 Rademacher directions.
//!
//! `benches/compare/poisson.py` times the same step in PyTorch and JAX.
//!
//! - `cargo bench --bench laplacian` — criterion, ids `poisson/METHOD/dD`.
//! - `cargo bench --bench laplacian -- --table [DIMS] [--json OUT] [--width W]
//!   [--batch B]` — no criterion: every method at each `d` of DIMS (default
//!   `2,8,32,128`), alternated step by step for about two seconds a case, medians
//!   in ms, as a table and (with `--json`) as records `poisson.py --burn-json`
//!   reads.
//! - `--device wgpu` or `--device cuda` with `--table` or `--step`: the step on
//!   Burn's wgpu or CUDA backend in f32 (built with `--features wgpu` or
//!   `--features cuda`), labelled `burn-nested (wgpu)` or `burn-nested (cuda)`
//!   in the `--json` records; ndarray (`--device ndarray`) by default.
//!   `--device wgpu-unfused` or `cuda-unfused`: the same backend without
//!   burn-fusion, labelled `burn-nested (wgpu-unfused)` or `(cuda-unfused)`.
//! - `--system-malloc` with any of these leaves glibc's malloc at its defaults
//!   (see `examples/common/alloc.rs`).
//! - `cargo bench --bench laplacian -- --step METHOD D N` — no timing: N steps of
//!   one method at dimension D, for a profiler; METHOD may also be
//!   `gradient-lanes` (the first-order lanes alone: what the accumulator adds is
//!   the difference).

use std::time::Duration;

use burn_ndarray::NdArray;
use criterion::{BenchmarkId, Criterion};

#[path = "../examples/common/alloc.rs"]
mod alloc;
#[path = "../examples/common/device.rs"]
mod device;
#[path = "common/poisson.rs"]
mod poisson;
#[path = "../scenarios/mod.rs"]
mod scenarios;
use burn::tensor::backend::Backend;
use device::Device;
use poisson::{Case, METHODS, flag, table};

type Inner = device::Cpu;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if !args.iter().any(|a| a == "--system-malloc") {
        alloc::keep_freed_memory();
    }
    let device = flag(&args, "--device").map_or(Device::Ndarray, Device::parse);
    device::check(device);
    if let Some(i) = args.iter().position(|a| a == "--step") {
        // `--step METHOD D N`: N steps of one method, untimed, for a profiler.
        let method = args.get(i + 1).expect("--step METHOD D N");
        let d = args.get(i + 2).and_then(|d| d.parse().ok()).unwrap_or(32);
        let n = args.get(i + 3).and_then(|n| n.parse().ok()).unwrap_or(10);
        match device {
            Device::Ndarray => steps::<Inner>(method, d, n),
            Device::BurnNdarray => steps::<NdArray<f32>>(method, d, n),
            Device::Wgpu => steps::<device::Wgpu>(method, d, n),
            Device::Cuda => steps::<device::Cuda>(method, d, n),
            Device::WgpuUnfused => steps::<device::WgpuUnfused>(method, d, n),
            Device::CudaUnfused => steps::<device::CudaUnfused>(method, d, n),
        }
        return;
    }
    if args.iter().any(|a| a == "--table") {
        match device {
            Device::Ndarray => table::<Inner>(&args, "burn-nested"),
            Device::BurnNdarray => table::<NdArray<f32>>(&args, "burn-nested (burn-ndarray)"),
            Device::Wgpu => table::<device::Wgpu>(&args, "burn-nested (wgpu)"),
            Device::Cuda => table::<device::Cuda>(&args, "burn-nested (cuda)"),
            Device::WgpuUnfused => {
                table::<device::WgpuUnfused>(&args, "burn-nested (wgpu-unfused)")
            }
            Device::CudaUnfused => {
                table::<device::CudaUnfused>(&args, "burn-nested (cuda-unfused)")
            }
        }
        return;
    }
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(10)
        .configure_from_args();
    let mut group = c.benchmark_group("poisson");
    for d in [2, 8, 32, 128] {
        let case = Case::<Inner>::new(d, 64, 1024);
        for m in METHODS {
            let mut seed = 0;
            group.bench_with_input(BenchmarkId::new(m, format!("d{d}")), &m, |b, m| {
                b.iter(|| {
                    seed += 1;
                    case.step(m, seed)
                })
            });
        }
    }
    group.finish();
    c.final_summary();
}

/// `--step METHOD D N` on `B`.
fn steps<B: Backend>(method: &str, d: usize, n: u64) {
    let case = Case::<B>::new(d, 64, 1024);
    for k in 0..n {
        case.step(method, k);
    }
    // Asynchronous backends queue kernels: wait for them.
    B::sync(&Default::default()).expect("the device's queue");
}
