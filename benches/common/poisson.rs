//! The Poisson step of `benches/laplacian.rs` on any inner backend: a tanh MLP
//! `d → width → width → width → 1`, a batch of points, the loss
//! `mean((Δu + Σ sin xᵢ)²)` and its parameter gradients, with the Laplacian taken
//! by each method; and the `--table` report that alternates the methods. Shared
//! with `benches/backends` through `#[path]`; each including crate also declares
//! `mod scenarios`, the shared `scenarios/mod.rs`.

use std::time::{Duration, Instant};

use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Tensor, TensorData};
use burn_autodiff::Autodiff;
use burn_nested::{Mode, StatefulLayer, Stochastic, laplacian, stochastic_laplacian};
use rand::{Rng, SeedableRng, rngs::StdRng};

use crate::scenarios::Mlp;

pub const METHODS: [&str; 3] = ["forward-laplacian", "forward-over-reverse", "stochastic-k8"];

/// One case: the network and the points, on `Autodiff<B>`.
pub struct Case<B: Backend> {
    net: Mlp<Autodiff<B>>,
    x: TensorData,
    batch: usize,
}

impl<B: Backend> Case<B> {
    pub fn new(d: usize, width: usize, batch: usize) -> Self {
        let device = Default::default();
        Autodiff::<B>::seed(&device, 5);
        let mut rng = StdRng::seed_from_u64(d as u64);
        let x: Vec<f32> = (0..batch * d)
            .map(|_| rng.random_range(-1.0..1.0))
            .collect();
        Self {
            // The scenarios' tanh MLP (docs/scenarios.md): tanh after every layer
            // but the last.
            net: Mlp::new(&[d, width, width, width, 1], false, &device),
            x: TensorData::new(x, [batch, d]),
            batch,
        }
    }

    /// One step: the loss and its parameter gradients.
    pub fn step(&self, method: &str, seed: u64) -> <Autodiff<B> as AutodiffBackend>::Gradients {
        let x = Tensor::<Autodiff<B>, 2>::from_data(self.x.clone(), &Default::default());
        let source = x.clone().sin().sum_dim(1).reshape([self.batch]);
        let layer = StatefulLayer::from_ref(&self.net);
        let lap = match method {
            "forward-laplacian" => laplacian(&layer, x, Mode::FORWARD),
            "forward-over-reverse" => laplacian(&layer, x, Mode::AutoReverse),
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

pub fn parse_list(s: &str) -> Vec<usize> {
    s.split(',').filter_map(|v| v.trim().parse().ok()).collect()
}

pub fn flag<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    let i = args.iter().position(|a| a == name)?;
    args.get(i + 1).map(String::as_str)
}

pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

/// The `--table` report (see `benches/laplacian.rs`), labelled `framework` in
/// the `--json` records.
pub fn table<B: Backend>(args: &[String], framework: &str) {
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
        let case = Case::<B>::new(d, width, batch);
        // Warm-up, then steps of every method in turn until ~2 s have passed.
        // Each timed step waits for the device (wgpu and CUDA queue kernels).
        let device = Default::default();
        for m in METHODS {
            case.step(m, 0);
        }
        B::sync(&device).expect("device sync");
        let mut times = vec![Vec::new(); METHODS.len()];
        let start = Instant::now();
        let mut round = 0u64;
        while round < 5 || (start.elapsed() < Duration::from_secs(2) && round < 200) {
            for (k, m) in METHODS.iter().enumerate() {
                let t = Instant::now();
                case.step(m, round);
                B::sync(&device).expect("device sync");
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
                "{{\"framework\": \"{framework}\", \"method\": \"{m}\", \"d\": {d}, \"width\": {width}, \"batch\": {batch}, \"ms\": {t:.4}}}"
            ));
        }
    }
    if let Some(out) = flag(args, "--json") {
        std::fs::write(out, format!("[\n{}\n]\n", records.join(",\n"))).expect("write --json");
        println!("wrote {out}");
    }
}
