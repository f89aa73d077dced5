//! A physics-informed network for the 2-D Poisson problem
//! `Δu = −2π² sin(πx) sin(πy)` on the unit square with `u = 0` on the boundary
//! (exact solution `u = sin(πx) sin(πy)`).
//!
//! The loss is the mean squared PDE residual at random collocation points; it
//! contains the Laplacian of the network w.r.t. its inputs, computed by
//! burn-nested inside the loss, and Burn's `Autodiff` takes its gradient w.r.t. the
//! weights. The boundary condition is built into the network.
//!
//! `cargo run --release --example pinn [-- --steps 3000 --device wgpu]`
//! (`--device wgpu` needs `--features wgpu`, `--device cuda` `--features cuda`;
//! `wgpu-unfused` and `cuda-unfused` are the same backends without burn-fusion)
//!
//! Writes `pinn_solution.png`, `pinn_loss.png` and `pinn_loss.csv` to the output
//! folder and prints the relative L2 error against the exact solution.

#[path = "pinn/plot.rs"]
mod plot;
#[path = "pinn/problem.rs"]
mod problem;
#[path = "pinn/train.rs"]
mod train;

use std::path::PathBuf;
use std::time::Instant;

use burn::tensor::{ElementConversion, backend::AutodiffBackend};
use burn_autodiff::Autodiff;
use clap::{Parser, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};

use burn_nested::Mode;
use train::{Config, relative_l2, solution_grid};

#[path = "common/alloc.rs"]
mod alloc;
#[path = "common/device.rs"]
mod device;
use device::Device;

/// Train a PINN for 2-D Poisson and plot the result.
#[derive(Debug, Parser)]
struct Args {
    /// Backend to train on (f32).
    #[arg(long, value_enum, default_value_t = Device::Ndarray)]
    device: Device,
    /// Optimizer steps.
    #[arg(long, default_value_t = 8000)]
    steps: usize,
    /// Collocation points per step (drawn afresh each step).
    #[arg(long, default_value_t = 512)]
    batch: usize,
    /// Initial learning rate (decays exponentially to a hundredth of it).
    #[arg(long, default_value_t = 3e-3)]
    lr: f64,
    /// Folder for the plots and the loss CSV.
    #[arg(long, default_value = "target/pinn")]
    out: PathBuf,
    /// Seed of the initial weights and the collocation points.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// How the Laplacian is taken: `auto` (burn-nested's choice: the forward
    /// Laplacian, or the other path if measured faster), `forward` (the forward
    /// Laplacian) or `reverse` (forward over reverse, switching off).
    #[arg(long, value_enum, default_value_t = LaplacianPath::Auto)]
    laplacian: LaplacianPath,
}

/// See [`Args::laplacian`].
#[derive(Debug, Clone, Copy, ValueEnum)]
enum LaplacianPath {
    /// `Mode::Auto`.
    Auto,
    /// `Mode::FORWARD`.
    Forward,
    /// `Mode::AutoReverse`.
    Reverse,
}

/// Side of the evaluation grid.
const GRID: usize = 101;
/// At most this many steps between two reads of the loss (each waits for the
/// device); a short run reads about 20 times.
const READ_EVERY: usize = 50;

fn run<B: AutodiffBackend>(
    args: &Args,
    device: B::Device,
) -> Result<(), Box<dyn std::error::Error>> {
    let config = Config {
        steps: args.steps,
        batch: args.batch,
        lr: args.lr,
        final_lr: args.lr / 100.0,
        width: 32,
        hidden: 3,
        seed: args.seed,
        mode: match args.laplacian {
            LaplacianPath::Auto => Mode::Auto,
            LaplacianPath::Forward => Mode::FORWARD,
            LaplacianPath::Reverse => Mode::AutoReverse,
        },
    };
    let bar = ProgressBar::new(config.steps as u64);
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:40}] {pos}/{len} steps, loss {msg}")?
            .progress_chars("=> "),
    );
    let start = Instant::now();
    // The loss is read (and so the step waited for) after the first step, which
    // carries the start-up (kernel compilation and autotuning on a GPU), and
    // every `every` steps for the progress bar: `(step, seconds)` at each.
    let every = (config.steps / 20).clamp(1, READ_EVERY);
    let mut reads = Vec::new();
    let trained = train::train::<B>(&config, &device, |step, loss| {
        if step == 0 || (step + 1) % every == 0 || step + 1 == config.steps {
            let value = loss.clone().into_scalar().elem::<f64>();
            reads.push((step, start.elapsed().as_secs_f64()));
            bar.set_message(format!("{value:.3e}"));
        }
        bar.inc(1);
    });
    bar.finish();
    let seconds = start.elapsed().as_secs_f64();

    let (learned, exact) = solution_grid(&trained.model, GRID);
    let error = relative_l2(&learned, &exact);
    std::fs::create_dir_all(&args.out)?;
    plot::write_csv(&args.out.join("pinn_loss.csv"), &trained.losses)?;
    plot::plot_loss(&args.out.join("pinn_loss.png"), &trained.losses)?;
    plot::plot_solution(&args.out.join("pinn_solution.png"), &learned, &exact, GRID)?;
    println!(
        "trained {} steps in {seconds:.1} s ({:.2} ms per step); final loss {:.3e}",
        config.steps,
        1e3 * seconds / config.steps.max(1) as f64,
        trained.losses.last().copied().unwrap_or(f64::NAN)
    );
    if let Some((first, steady)) = start_up(&reads) {
        println!(
            "first step {first:.2} s; then {:.2} ms per step (over the second half)",
            1e3 * steady
        );
    }
    println!("relative L2 error on a {GRID}×{GRID} grid: {error:.3e}");
    println!(
        "wrote pinn_solution.png, pinn_loss.png, pinn_loss.csv to {}",
        args.out.display()
    );
    Ok(())
}

/// The first step's time and the mean step time over the second half of the
/// run, from the times at which losses were read (`(step, seconds)`, the first
/// after step 0); `None` when the second half holds no two reads.
fn start_up(reads: &[(usize, f64)]) -> Option<(f64, f64)> {
    let &(_, first) = reads.first()?;
    let &(last_step, last) = reads.last()?;
    let &(mid_step, mid) = reads.iter().find(|(step, _)| *step >= last_step / 2)?;
    (last_step > mid_step).then(|| (first, (last - mid) / (last_step - mid_step) as f64))
}

fn main() {
    alloc::keep_freed_memory();
    let args = Args::parse();
    device::check(args.device);
    let result = match args.device {
        Device::Ndarray => run::<Autodiff<device::Cpu>>(&args, Default::default()),
        Device::BurnNdarray => {
            run::<Autodiff<burn_ndarray::NdArray<f32>>>(&args, Default::default())
        }
        Device::Wgpu => run::<Autodiff<device::Wgpu>>(&args, Default::default()),
        Device::Cuda => run::<Autodiff<device::Cuda>>(&args, Default::default()),
        Device::WgpuUnfused => run::<Autodiff<device::WgpuUnfused>>(&args, Default::default()),
        Device::CudaUnfused => run::<Autodiff<device::CudaUnfused>>(&args, Default::default()),
    };
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1)
    }
}
