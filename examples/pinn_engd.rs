//! The main job's 2-D Poisson PINN (`examples/pinn.rs`: `Δu = −2π² sin(πx) sin(πy)`
//! on the unit square, the boundary built into the network) trained by energy
//! natural gradient descent instead of Adam, in f64 on a fixed grid of
//! collocation points.
//!
//! Each step needs the Jacobian of every residual `r_i = Δu(x_i) − f(x_i)` w.r.t.
//! every parameter: a parameter Jacobian of a forward Laplacian. It comes from one
//! backward pass: the network is evaluated with its own copy of the parameters in
//! every row (`RowNet`), `burn_nested::laplacian` takes `Δu` inside that
//! evaluation, and the gradient of `Σ_i r_i` w.r.t. the copies is the Jacobian
//! (`engd::row_jacobian`). `engd::Engd` then solves for the step in residual space
//! and line-searches its size.
//!
//! `cargo run --release --example pinn_engd [-- --steps 400 --side 30]`
//!
//! Prints the loss and the relative L2 error against the exact solution over
//! time, with each step split into Jacobian, solve and line search; writes
//! `pinn_solution.png`, `pinn_loss.png` and `pinn_loss.csv` to the output folder.

#[path = "pinn/plot.rs"]
mod plot;
#[path = "pinn/problem.rs"]
mod problem;
#[path = "pinn/row_net.rs"]
mod row_net;

use std::path::PathBuf;
use std::time::Instant;

use burn::tensor::{ElementConversion, Tensor, backend::Backend};
use burn_autodiff::Autodiff;
use clap::Parser;

use burn_nested::StatefulLayer;
use burn_nested::engd::{Engd, EngdConfig, row_jacobian};
use burn_nested::params::flatten_params;
use problem::{PinnNet, relative_l2, solution_grid};
use row_net::{RowNet, interior_grid, residuals};

#[path = "common/alloc.rs"]
mod alloc;

type Inner = burn_ndarray::NdArray<f64>;
type Ad = Autodiff<Inner>;

/// Train the Poisson PINN with ENGD (f64, ndarray).
#[derive(Debug, Parser)]
struct Args {
    /// Most optimizer steps.
    #[arg(long, default_value_t = 400)]
    steps: usize,
    /// Stop once this many seconds have passed.
    #[arg(long, default_value_t = 300.0)]
    max_seconds: f64,
    /// Stop once the relative L2 error is below this.
    #[arg(long, default_value_t = 0.0)]
    target: f64,
    /// Collocation points per side of the interior grid (`side²` residuals).
    #[arg(long, default_value_t = 30)]
    side: usize,
    /// Hidden layer width.
    #[arg(long, default_value_t = 32)]
    width: usize,
    /// Number of hidden layers.
    #[arg(long, default_value_t = 3)]
    hidden: usize,
    /// Damping of the residual-space system, relative to its mean diagonal.
    #[arg(long, default_value_t = 1e-10)]
    damping: f64,
    /// Try every step size in each line search instead of stopping at the first
    /// minimum (`EngdConfig::first_minimum` off).
    #[arg(long)]
    full_search: bool,
    /// Seed of the initial weights.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Print a line every this many steps.
    #[arg(long, default_value_t = 10)]
    every: usize,
    /// Exit with an error if the final relative L2 error is above this.
    #[arg(long)]
    max_error: Option<f64>,
    /// Folder for the plots and the loss CSV.
    #[arg(long, default_value = "target/pinn-engd")]
    out: PathBuf,
}

/// Side of the evaluation grid.
const GRID: usize = 101;

fn run(args: &Args) -> Result<f64, Box<dyn std::error::Error>> {
    let device = Default::default();
    Inner::seed(&device, args.seed);
    let mut model = PinnNet::<Inner>::new(args.width, args.hidden, &device);
    let mut sizes = vec![2];
    sizes.extend(std::iter::repeat_n(args.width, args.hidden));
    sizes.push(1);
    let points = Tensor::<Inner, 2>::from_data(interior_grid(args.side), &device);
    let rows = args.side * args.side;
    let points_ad = Tensor::<Ad, 2>::from_inner(points.clone());
    let loss = |m: &PinnNet<Inner>| {
        let r = residuals(&StatefulLayer::from_ref(m), points.clone());
        (r.clone() * r).mean().into_scalar().elem::<f64>()
    };
    let engd = Engd::new(
        EngdConfig::new()
            .with_damping(args.damping)
            .with_first_minimum(!args.full_search),
    );
    println!(
        "ENGD on {rows} collocation points, network {sizes:?} ({} parameters), f64",
        burn_nested::params::num_params(&model)
    );
    println!(
        "{:>5} {:>8} {:>11} {:>11} {:>10} {:>9} {:>9} {:>9}",
        "step", "time s", "loss", "rel L2", "step size", "jac ms", "solve ms", "search ms"
    );
    let mut losses = Vec::with_capacity(args.steps);
    let start = Instant::now();
    let mut error = {
        let (learned, exact) = solution_grid(&model, GRID);
        relative_l2(&learned, &exact)
    };
    for step in 1..=args.steps {
        let jac_start = Instant::now();
        let theta = flatten_params(&model);
        let per_row = RowNet::from_flat(&theta, &sizes, rows);
        let r = residuals(&StatefulLayer::from_ref(&per_row), points_ad.clone());
        let jacobian = row_jacobian(&per_row, &mut r.clone().sum().backward(), rows);
        let jac_ms = jac_start.elapsed().as_secs_f64() * 1e3;
        let (next, report) = engd.step(&model, r.inner(), jacobian, loss)?;
        model = next;
        losses.push(report.loss);
        let elapsed = start.elapsed().as_secs_f64();
        // No step size lowered the loss: it is at its rounding floor.
        let stuck = report.step_size == 0.0;
        let last = step == args.steps || elapsed >= args.max_seconds || stuck;
        if step % args.every.max(1) == 0 || last || args.target > 0.0 {
            error = {
                let (learned, exact) = solution_grid(&model, GRID);
                relative_l2(&learned, &exact)
            };
        }
        if step % args.every.max(1) == 0 || last || error < args.target {
            println!(
                "{step:>5} {elapsed:>8.2} {:>11.3e} {error:>11.3e} {:>10.2e} {jac_ms:>9.1} {:>9.1} {:>9.1}",
                report.loss,
                report.step_size,
                report.solve_seconds * 1e3,
                report.line_search_seconds * 1e3,
            );
        }
        if stuck {
            println!("no step size lowered the loss: stopping at its rounding floor");
        }
        if last || error < args.target {
            break;
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    let solution = solution_grid(&model, GRID);
    let error = relative_l2(&solution.0, &solution.1);
    std::fs::create_dir_all(&args.out)?;
    plot::write_csv(&args.out.join("pinn_loss.csv"), &losses)?;
    plot::plot_loss(&args.out.join("pinn_loss.png"), &losses)?;
    plot::plot_solution(
        &args.out.join("pinn_solution.png"),
        &solution.0,
        &solution.1,
        GRID,
    )?;
    println!(
        "trained {} steps in {seconds:.1} s ({:.1} ms per step); final loss {:.3e}",
        losses.len(),
        1e3 * seconds / losses.len().max(1) as f64,
        losses.last().copied().unwrap_or(f64::NAN)
    );
    println!("relative L2 error on a {GRID}×{GRID} grid: {error:.3e}");
    println!(
        "wrote pinn_solution.png, pinn_loss.png, pinn_loss.csv to {}",
        args.out.display()
    );
    Ok(error)
}

fn main() {
    alloc::keep_freed_memory();
    let args = Args::parse();
    match run(&args) {
        Ok(error) => {
            if let Some(max) = args.max_error
                && (error.is_nan() || error > max)
            {
                eprintln!("error: relative L2 error {error:.3e} is above --max-error {max:e}");
                std::process::exit(1)
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1)
        }
    }
}
