//! The op census: how many inner-backend ops one training step sends to the
//! kernels, by kind, for the main job (`examples/pinn.rs` at its defaults), the
//! Poisson step of `benches/laplacian.rs` and every reference scenario at bench
//! size, on each path. The inner backend is wrapped in
//! [`burn_nested::census::Census`], which counts every call that reaches it. Paths
//! are chosen by the shape rules (tuning off): measured switching picks by timing,
//! and a run that kept the other path would count other ops. So the count is
//! deterministic, and measures launch-bound cost on any machine.
//!
//! - `cargo bench --bench census` — ndarray; a markdown table.
//! - `cargo bench --features wgpu --bench census -- --wgpu` — wgpu: the ops
//!   recorded before burn-fusion merges them (the kernels launched after fusion
//!   come from CubeCL's log, see docs/performance.md).
//! - `--json FILE` writes the rows as JSON keyed like `benches/compare/census.py`
//!   (`pinn`, `poisson_d2`, …, the scenario names), so the two tables join.
//! - `--ops WORKLOAD` lists one workload's ops by name, most frequent first.

use burn::tensor::backend::Backend;
use burn::tensor::{Distribution, Tensor};
use burn_autodiff::Autodiff;
use burn_ndarray::NdArray;
use burn_nested::Mode;
use burn_nested::census::{Census, OpCounts, OpKind, counted, snapshot};
use burn_nested::settings::{Options, with_switching};

#[path = "../examples/common/alloc.rs"]
mod alloc;
#[path = "common/case.rs"]
#[allow(dead_code)]
mod case;
#[path = "common/native.rs"]
#[allow(dead_code)]
mod native;
#[path = "common/poisson.rs"]
#[allow(dead_code)]
mod poisson;
#[path = "../examples/pinn/problem.rs"]
#[allow(dead_code)]
mod problem;
#[path = "../scenarios/mod.rs"]
mod scenarios;
#[path = "../examples/pinn/train.rs"]
#[allow(dead_code, unused_imports)]
mod train;

use case::{PathKind, Size};
use poisson::flag;

/// The kinds in table order.
const KINDS: [(OpKind, &str); 7] = [
    (OpKind::Elementwise, "elementwise"),
    (OpKind::MatmulConv, "matmul/conv"),
    (OpKind::Reduction, "reduction"),
    (OpKind::Layout, "layout"),
    (OpKind::Copy, "copy"),
    (OpKind::Fill, "fill"),
    (OpKind::HostRead, "host read"),
];

/// Steps of the main job before counting: the first ones carry measured
/// switching's trial.
const PINN_WARMUP: usize = 20;
/// Steps of the main job counted (the figure is their mean, which is exact:
/// every steady step runs the same ops).
const PINN_COUNTED: usize = 10;

/// One row of the table: a workload on one path and its ops per step.
struct Row {
    key: String,
    path: &'static str,
    ops: OpCounts,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    alloc::keep_freed_memory();
    let wgpu = args.iter().any(|a| a == "--wgpu");
    let rows = if wgpu {
        #[cfg(feature = "wgpu")]
        {
            census::<burn_wgpu::Wgpu<f32>>()
        }
        #[cfg(not(feature = "wgpu"))]
        {
            eprintln!("error: --wgpu needs the crate's `wgpu` feature");
            std::process::exit(2);
        }
    } else {
        census::<NdArray<f32>>()
    };
    print_table(&rows, if wgpu { "wgpu" } else { "ndarray" });
    if let Some(name) = flag(&args, "--ops") {
        for row in rows.iter().filter(|r| r.key == name) {
            println!("\n{} ({}), ops per step by name:", row.key, row.path);
            for (op, kind, n) in row.ops.ops() {
                println!("  {n:>6}  {op} ({kind:?})");
            }
        }
    }
    if let Some(path) = flag(&args, "--json") {
        std::fs::write(path, json(&rows)).expect("write the --json file");
    }
}

/// Every workload on inner backend `B`, each wrapped in `Census<B>`, with paths
/// by rule (see the module docs).
fn census<B: Backend>() -> Vec<Row> {
    Options::from_env().with_tuning(false).scope(|| {
        let mut rows = pinn::<Census<B>>();
        rows.extend(poisson_steps::<Census<B>>());
        rows.extend(scenario_steps::<Census<B>>());
        rows
    })
}

/// The main job's step as `examples/pinn.rs` runs it: the Laplacian loss, its
/// backward and Adam's update (the loss stays on the device, as the example keeps it).
fn pinn<B: Backend>() -> Vec<Row> {
    let config = train::Config {
        steps: PINN_WARMUP + PINN_COUNTED,
        batch: 512,
        lr: 3e-3,
        final_lr: 3e-5,
        width: 32,
        hidden: 3,
        seed: 0,
        mode: Mode::Auto,
    };
    let device = Default::default();
    let mut marks = Vec::new();
    let trained = with_switching(true, || {
        train::train::<Autodiff<B>>(&config, &device, |_, _| marks.push(snapshot()))
    });
    // The same step without Adam's update: the nested loss and its backward.
    let points =
        Tensor::<Autodiff<B>, 2>::random([config.batch, 2], Distribution::Default, &device);
    let (_, without_adam) = counted(|| {
        with_switching(true, || {
            train::residual_loss(&trained.model, points, config.mode).backward()
        })
    });
    let steps: Vec<OpCounts> = (PINN_WARMUP..PINN_WARMUP + PINN_COUNTED)
        .map(|i| marks[i].since(&marks[i - 1]))
        .collect();
    let totals: Vec<u64> = steps.iter().map(OpCounts::total).collect();
    if totals.iter().any(|&t| t != totals[0]) {
        println!("note: the main job's counted steps differ in ops: {totals:?}");
    }
    let ops = marks[PINN_WARMUP + PINN_COUNTED - 1].since(&marks[PINN_WARMUP - 1]);
    vec![
        Row {
            key: "pinn".into(),
            path: "switched",
            ops: ops.per(PINN_COUNTED as u64),
        },
        Row {
            key: "pinn".into(),
            path: "switched, no Adam",
            ops: without_adam,
        },
    ]
}

/// The Poisson step of `benches/laplacian.rs --table 2,8,32` (width 64, batch
/// 1024), forward Laplacian and forward over reverse.
fn poisson_steps<B: Backend>() -> Vec<Row> {
    let mut rows = Vec::new();
    for d in [2, 8, 32] {
        let case = poisson::Case::<B>::new(d, 64, 1024);
        for (method, path) in [
            ("forward-laplacian", "forward-laplacian"),
            ("forward-over-reverse", "forward-over-reverse"),
        ] {
            case.step(method, 0);
            let (_, ops) = counted(|| {
                case.step(method, 1);
            });
            rows.push(Row {
                key: format!("poisson_d{d}"),
                path,
                ops,
            });
        }
    }
    rows
}

/// Every scenario at bench size, one step on each path (after measured
/// switching has decided).
fn scenario_steps<B: Backend>() -> Vec<Row> {
    let device = Default::default();
    let mut rows = Vec::new();
    for &scenario in case::SCENARIOS {
        if !case::runs(scenario, Size::Bench) {
            continue;
        }
        let case = case::Case::<B>::new(scenario, Size::Bench, None, &device);
        case.settle_tuning(&device);
        for path in PathKind::ALL {
            if !path.covers(scenario) {
                continue;
            }
            let (_, ops) = counted(|| case.step(path, &device));
            rows.push(Row {
                key: scenario.to_string(),
                path: path.name(),
                ops,
            });
        }
    }
    rows
}

fn print_table(rows: &[Row], backend: &str) {
    println!("Inner-backend ops per step ({backend}, `cargo bench --bench census`):\n");
    let kinds: Vec<&str> = KINDS.iter().map(|(_, name)| *name).collect();
    println!(
        "| workload | path | total | kernel ops (total − views) | {} |",
        kinds.join(" | ")
    );
    println!("|---|---|---|---|{}", "---|".repeat(KINDS.len()));
    for row in rows {
        let by_kind: Vec<String> = KINDS
            .iter()
            .map(|(kind, _)| row.ops.of(*kind).to_string())
            .collect();
        println!(
            "| {} | {} | {} | {} | {} |",
            row.key,
            row.path,
            row.ops.total(),
            row.ops.kernels(),
            by_kind.join(" | ")
        );
    }
}

fn json(rows: &[Row]) -> String {
    let records: Vec<String> = rows
        .iter()
        .map(|row| {
            let kinds: Vec<String> = KINDS
                .iter()
                .map(|(kind, name)| format!("\"{name}\": {}", row.ops.of(*kind)))
                .collect();
            format!(
                "  {{\"workload\": \"{}\", \"path\": \"{}\", \"total\": {}, \"views\": {}, {}}}",
                row.key,
                row.path,
                row.ops.total(),
                row.ops.views(),
                kinds.join(", ")
            )
        })
        .collect();
    format!("[\n{}\n]\n", records.join(",\n"))
}
