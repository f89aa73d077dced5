//! One training step of a Poisson PINN in `d` dimensions: a tanh MLP
//! `d → W → W → W → 1`, a batch of points in `[−1, 1]^d`, the loss
//! `mean((Δu + f)²)` with `f = Σᵢ sin xᵢ`, and its gradient w.r.t. every
//! parameter, on `Autodiff<NdArray<f32>>`. The Laplacian is taken by
//! - `forward-laplacian`: `laplacian` with `Mode::FORWARD` (one second-order
//!   forward pass, `d + 1` lanes),
//! - `forward-over-reverse`: `laplacian` with `Mode::AutoReverse` and switching
//!   off (one nested backward with `d` tangent lanes),
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
//! - `--system-malloc` with any of these leaves glibc's malloc at its defaults
//!   (see `examples/common/alloc.rs`).
//! - `cargo bench --bench laplacian -- --step METHOD D N` — no timing: N steps of
//!   one method at dimension D, for a profiler; METHOD may also be
//!   `gradient-lanes` (the first-order lanes alone: what the accumulator adds is
//!   the difference).

use std::time::{Duration, Instant};

use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Tensor, TensorData};
use burn_autodiff::Autodiff;
use burn_ndarray::NdArray;
use burn_nested::scenarios::Mlp;
use burn_nested::{
    Mode, StatefulLayer, Stochastic, laplacian, stochastic_laplacian, with_switching,
};
use criterion::{BenchmarkId, Criterion};
use rand::{Rng, SeedableRng, rngs::StdRng};

type Ad = Autodiff<NdArray<f32>>;

#[path = "../examples/common/alloc.rs"]
mod alloc;

const METHODS: [&str; 3] = ["forward-laplacian", "forward-over-reverse", "stochastic-k8"];

/// One case: the network and the points.
struct Case {
    net: Mlp<Ad>,
    x: TensorData,
    batch: usize,
}

impl Case {
    fn new(d: usize, width: usize, batch: usize) -> Self {
        let device = Default::default();
        Ad::seed(&device, 5);
        let mut rng = StdRng::seed_from_u64(d as u64);
        let x: Vec<f32> = (0..batch * d)
            .map(|_| rng.random_range(-1.0..1.0))
            .collect();
        Self {
            // The seed's tanh MLP: tanh after every layer but the last.
            net: Mlp::new(&[d, width, width, width, 1], false, &device),
            x: TensorData::new(x, [batch, d]),
            batch,
        }
    }

    /// One step: the loss and its parameter gradients.
    fn step(&self, method: &str, seed: u64) -> <Ad as AutodiffBackend>::Gradients {
        let x = Tensor::<Ad, 2>::from_data(self.x.clone(), &Default::default());
        let source = x.clone().sin().sum_dim(1).reshape([self.batch]);
        let layer = StatefulLayer::from_ref(&self.net);
        let lap = match method {
            "forward-laplacian" => laplacian(&layer, x, Mode::FORWARD),
            "forward-over-reverse" => {
                with_switching(false, || laplacian(&layer, x, Mode::AutoReverse))
            }
            "stochastic-k8" => stochastic_laplacian(&layer, x, Stochastic::rademacher(8, seed)),
            // Not a Laplacian: the first-order lanes alone (a per-row gradient
            // by forward lanes), for a profile of what the accumulator adds.
            "gradient-lanes" => burn_nested::batched_jacobian(&layer, x, Mode::FORWARD)
                .powi_scalar(2)
                .sum_dim(2)
                .sum_dim(1)
                .reshape([self.batch]),
            other => panic!("no method {other}"),
        };
        let r = lap + source;
        (r.clone() * r).mean().backward()
    }
}

fn parse_list(s: &str) -> Vec<usize> {
    s.split(',').filter_map(|v| v.trim().parse().ok()).collect()
}

fn flag<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    let i = args.iter().position(|a| a == name)?;
    args.get(i + 1).map(String::as_str)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

/// The `--table` report (see the module docs).
fn table(args: &[String]) {
    let dims = flag(args, "--table")
        .filter(|s| !s.starts_with("--"))
        .map(parse_list)
        .unwrap_or_else(|| vec![2, 8, 32, 128]);
    let width = flag(args, "--width")
        .and_then(|w| w.parse().ok())
        .unwrap_or(64);
    let batch = flag(args, "--batch")
        .and_then(|b| b.parse().ok())
        .unwrap_or(1024);
    let mut records = Vec::new();
    println!(
        "| d | {} | forward-over-reverse / forward-laplacian |",
        METHODS.join(" | ")
    );
    println!("|---|{}---|", "---|".repeat(METHODS.len()));
    for &d in &dims {
        let case = Case::new(d, width, batch);
        // Warm-up, then steps of every method in turn until ~2 s have passed.
        for m in METHODS {
            case.step(m, 0);
        }
        let mut times = vec![Vec::new(); METHODS.len()];
        let start = Instant::now();
        let mut round = 0u64;
        while round < 5 || (start.elapsed() < Duration::from_secs(2) && round < 200) {
            for (k, m) in METHODS.iter().enumerate() {
                let t = Instant::now();
                case.step(m, round);
                times[k].push(t.elapsed().as_secs_f64() * 1e3);
            }
            round += 1;
        }
        let ms: Vec<f64> = times.into_iter().map(median).collect();
        println!(
            "| {d} | {} | {:.2} |",
            ms.iter()
                .map(|t| format!("{t:.2} ms"))
                .collect::<Vec<_>>()
                .join(" | "),
            ms[1] / ms[0]
        );
        for (m, t) in METHODS.iter().zip(&ms) {
            records.push(format!(
                "{{\"framework\": \"burn-nested\", \"method\": \"{m}\", \"d\": {d}, \"width\": {width}, \"batch\": {batch}, \"ms\": {t:.4}}}"
            ));
        }
    }
    if let Some(out) = flag(args, "--json") {
        std::fs::write(out, format!("[\n{}\n]\n", records.join(",\n"))).expect("write --json");
        println!("wrote {out}");
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if !args.iter().any(|a| a == "--system-malloc") {
        alloc::keep_freed_memory();
    }
    if let Some(i) = args.iter().position(|a| a == "--step") {
        // `--step METHOD D N`: N steps of one method, untimed, for a profiler.
        let method = args.get(i + 1).expect("--step METHOD D N");
        let d = args.get(i + 2).and_then(|d| d.parse().ok()).unwrap_or(32);
        let n = args.get(i + 3).and_then(|n| n.parse().ok()).unwrap_or(10);
        let case = Case::new(d, 64, 1024);
        for k in 0..n {
            case.step(method, k);
        }
        return;
    }
    if args.iter().any(|a| a == "--table") {
        table(&args);
        return;
    }
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(10)
        .configure_from_args();
    let mut group = c.benchmark_group("poisson");
    for d in [2, 8, 32, 128] {
        let case = Case::new(d, 64, 1024);
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
