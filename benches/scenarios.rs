//! One training step (nested loss + `backward()`, gradients w.r.t. the input and
//! every parameter) for each scenario of docs/scenarios.md, at seed size and at bench
//! size, with automatic switching on (`switched`, `Mode::Auto`) and off (`naive`,
//! `with_switching(false, ..)` and `Mode::AutoReverse`), in one run. Where plain
//! Burn can express the loss, a third path, `native`, is the same step without
//! burn-nested: `Autodiff<Autodiff<B>>` with one inner backward per output (see
//! `common/native.rs`).
//!
//! Benchmark ids are `backend/scenario/size/path`, so criterion filters select
//! them: `cargo bench --bench scenarios -- 'ndarray/.*/bench/'`.
//!
//! - `cargo bench --bench scenarios` — ndarray (f32).
//! - `cargo bench --bench scenarios --features wgpu` — ndarray and wgpu (f32),
//!   plus `wgpu/pinn_gradient*/batch65536`; with `--features cuda` the same
//!   ids under `cuda/` on Burn's CUDA backend (f32), skipped with a message
//!   where CUDA cannot run. A filter anchored on one backend (`'^wgpu/'`) builds
//!   only that backend's cases.
//! - `cargo bench --bench scenarios -- --paired 15` — no criterion: the paths'
//!   steps at bench size timed alternately (robust to a drifting load), medians
//!   and ratios on ndarray; `--seed` at seed size, `--wgpu` on wgpu (built with
//!   `--features wgpu`), `--cuda` on CUDA (built with `--features cuda`),
//!   `--wgpu-unfused` or `--cuda-unfused` on either without burn-fusion.
//! - Every mode keeps freed memory in the heap (`examples/common/alloc.rs`);
//!   `--system-malloc` leaves glibc's malloc at its defaults.
//! - `cargo bench --bench scenarios -- --memory` — no timing: the peak heap bytes
//!   of one step per scenario on ndarray, from a counting global allocator.
//! - `cargo bench --bench scenarios -- --step SCENARIO PATH [N] [BATCH]` — no
//!   timing: N steps of one scenario and path (bench size or BATCH rows,
//!   ndarray), for a profiler.
//!   `--paired` and `--step` run on burn-flex (Burn 0.21's other CPU backend)
//!   instead with `--flex`, on wgpu with `--wgpu`, on CUDA with `--cuda` (and
//!   without burn-fusion with `--wgpu-unfused`, `--cuda-unfused`).
//! - `cargo bench --bench scenarios -- --row-check [ITERS]` — no criterion: the
//!   switched step of the per-row scenarios with the row guard off and on (the
//!   default), timed alternately at bench size on ndarray, with how many calls
//!   the audit proved and how many needed a numerical check.
//! - `cargo bench --bench scenarios [--features wgpu] -- --tuning [STEPS]` — no
//!   criterion: measured switching from a fresh start, STEPS switched steps per
//!   scenario (ndarray at seed and bench size; wgpu and CUDA at seed size, when
//!   built with them):
//!   the shape rule's path, the path kept and each path's time per step, and
//!   what the trial cost against steps after it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use burn::tensor::backend::Backend;
use burn_autodiff::Autodiff;
use burn_nested::{
    Mode, Pure, batched_jacobian,
    settings::{
        TunedPath, clear_tuning, path_counts, reset_path_counts, tuning_decisions, with_row_check,
        with_tuning,
    },
    tensor_fn,
};
use criterion::{BenchmarkId, Criterion, SamplingMode};

#[path = "../examples/common/alloc.rs"]
mod alloc;
#[path = "common/case.rs"]
mod case;
#[path = "../examples/common/device.rs"]
mod device;
#[path = "common/native.rs"]
mod native;
#[path = "../scenarios/mod.rs"]
mod scenarios;
use case::{Case, PathKind, SCENARIOS, Size, median, paired_report, runs, uniform};
use device::Device;

// ---------------------------------------------------------------------------
// Counting allocator: current and peak live heap bytes.

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(size: usize) {
    let now = LIVE.fetch_add(size, Ordering::Relaxed) + size;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

// SAFETY: every call forwards to the system allocator unchanged; the counters
// only observe sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's layout.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's layout.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` with this layout.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` came from `System` with this layout.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
            grew(new_size);
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Peak heap bytes above the level at the start, while `f` runs.
fn peak_bytes(f: impl FnOnce()) -> usize {
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    f();
    PEAK.load(Ordering::Relaxed).saturating_sub(base)
}

/// Every scenario × size × path on backend `B`, ids `backend/scenario/size/path`.
fn scenario_benches<B: Backend>(c: &mut Criterion, backend: &str, device: &B::Device) {
    for &scenario in SCENARIOS {
        for size in [Size::Seed, Size::Bench] {
            if !runs(scenario, size) || !selected(&format!("{backend}/{scenario}/{}", size.name()))
            {
                continue;
            }
            let case = Case::<B>::new(scenario, size, None, device);
            case.check_native();
            case.settle_tuning(device);
            let mut group = c.benchmark_group(format!("{backend}/{scenario}/{}", size.name()));
            if matches!(size, Size::Bench) {
                // Steps of tens to hundreds of milliseconds: ten flat samples.
                group.sampling_mode(SamplingMode::Flat);
            }
            for path in PathKind::ALL.into_iter().filter(|p| p.covers(scenario)) {
                group.bench_function(path.name(), |b| b.iter(|| case.step(path, device)));
            }
            group.finish();
        }
    }
}

/// Step time against batch size (switched `pinn_gradient_rowwise`): it should
/// grow linearly.
fn batch_scaling<B: Backend>(
    c: &mut Criterion,
    backend: &str,
    device: &B::Device,
    batches: &[usize],
) {
    let id = format!("{backend}/pinn_gradient_rowwise/batch");
    if !selected(&id) {
        return;
    }
    let mut group = c.benchmark_group(id);
    group.sampling_mode(SamplingMode::Flat);
    for &batch in batches {
        let case = Case::<B>::new("pinn_gradient_rowwise", Size::Bench, Some(batch), device);
        group.bench_with_input(BenchmarkId::from_parameter(batch), &batch, |b, _| {
            b.iter(|| case.step(PathKind::Switched, device))
        });
    }
    group.finish();
}

/// The CPU backend of the ndarray rows: burn-ndarray with this crate's faster
/// kernels (`--device ndarray` of the examples).
type NdArray = device::Cpu;

fn ndarray_benches(c: &mut Criterion) {
    let device = Default::default();
    scenario_benches::<NdArray>(c, "ndarray", &device);
    batch_scaling::<NdArray>(c, "ndarray", &device, &[1024, 4096, 16384]);
}

/// The GPU benches on `B` (wgpu or CUDA): every scenario, the batch scaling
/// and the GPU target of issue 6, the PINN gradient at batch 65536 in both forms.
fn gpu_benches<B: Backend>(c: &mut Criterion, backend: &str) {
    let device = Default::default();
    scenario_benches::<B>(c, backend, &device);
    batch_scaling::<B>(c, backend, &device, &[4096, 16384, 65536]);
    for scenario in ["pinn_gradient", "pinn_gradient_rowwise"] {
        let id = format!("{backend}/{scenario}/batch65536");
        if !selected(&id) {
            continue;
        }
        let case = Case::<B>::new(scenario, Size::Bench, Some(65536), &device);
        let mut group = c.benchmark_group(id);
        group.sampling_mode(SamplingMode::Flat);
        for path in [PathKind::Switched, PathKind::Naive] {
            group.bench_function(path.name(), |b| b.iter(|| case.step(path, &device)));
        }
        group.finish();
    }
}

/// Whether this build can run on `device` here: built with its feature and, for
/// CUDA, with a driver, NVRTC and the CUDA headers (otherwise says why on stderr).
fn available(device: Device) -> bool {
    if !device.built() {
        return false;
    }
    match (device, device::cuda_problem()) {
        (Device::Cuda | Device::CudaUnfused, Some(problem)) => {
            eprintln!("skipping the {} benches: {problem}", device.name());
            false
        }
        _ => true,
    }
}

/// Whether criterion's filter can select ids that start with `id`: an anchored
/// filter whose literal start rules `id` out (`'^wgpu/'` rules out `cuda/…` and
/// `ndarray/…`, `'^wgpu/pinn_gradient/seed'` every other wgpu case) skips
/// building those cases, which on a GPU compiles kernels and starts the device.
fn selected(id: &str) -> bool {
    std::env::args()
        .skip(1)
        .filter_map(|a| {
            let rest = a.strip_prefix('^')?;
            let end = rest.find(|c: char| "\\.+*?()|[]{}^$".contains(c));
            Some(rest[..end.unwrap_or(rest.len())].to_string())
        })
        .all(|literal| literal.starts_with(id) || id.starts_with(&literal))
}

/// `--memory`: peak heap bytes of one step per scenario, size and path on ndarray.
fn memory_report() {
    let device = Default::default();
    println!("| scenario | size | switched peak | naive peak | native peak |");
    println!("|---|---|---|---|---|");
    for &scenario in SCENARIOS {
        for size in [Size::Seed, Size::Bench] {
            if !runs(scenario, size) {
                continue;
            }
            let case = Case::<NdArray>::new(scenario, size, None, &device);
            // One step first, so lazily built state is not counted.
            case.step(PathKind::Switched, &device);
            let peaks: Vec<String> = PathKind::ALL
                .into_iter()
                .map(|path| match path.covers(scenario) {
                    true => mib(peak_bytes(|| case.step(path, &device))),
                    false => "—".into(),
                })
                .collect();
            println!("| {scenario} | {} | {} |", size.name(), peaks.join(" | "));
        }
    }
    for (name, mode) in [("Mode::Auto", Mode::Auto), ("Mode::FORWARD", Mode::FORWARD)] {
        println!(
            "| batched_jacobian, 64 rows × 3072 features, {name} | wide | {} | — | — |",
            mib(wide_batched_jacobian_peak(mode))
        );
    }
}

/// `--row-check [ITERS]`: the switched step of each per-row scenario at bench size
/// on ndarray, alternately with the row guard off and on (the default, every
/// call): what the audit costs, and how the calls were guarded.
fn row_check_report(iters: usize) {
    let device = Default::default();
    println!(
        "| scenario (bench size, ndarray) | guard off | guard on | on/off | calls proved | numerical checks |"
    );
    println!("|---|---|---|---|---|---|");
    for scenario in ["batched_jacobian", "pinn_gradient_rowwise"] {
        let case = Case::<NdArray>::new(scenario, Size::Bench, None, &device);
        let mut times = [Vec::new(), Vec::new()];
        reset_path_counts();
        for _ in 0..=iters {
            for (variant, out) in times.iter_mut().enumerate() {
                let start = std::time::Instant::now();
                with_row_check(variant == 1, || case.step(PathKind::Switched, &device));
                out.push(start.elapsed().as_secs_f64());
            }
        }
        let counts = path_counts();
        // The first round warms up.
        let [off, on] = times.map(|mut t| median(&mut t[1..]));
        println!(
            "| {scenario} | {:.2} ms | {:.2} ms | {:.3}× | {} | {} |",
            off * 1e3,
            on * 1e3,
            on / off,
            counts.rows_proved,
            counts.row_checks
        );
    }
}

tensor_fn!(WideHead, |x: 2| -> 2 { (x.clone() * x).sum_dim(1).tanh() });

/// Peak heap of a per-row Jacobian of 3072 features over 64 rows inside a loss
/// and its backward, in `mode`: with every lane in one pass (`Mode::FORWARD`) the
/// input tangent alone is 3073 × 64 × 3072 f32 entries (2.3 GiB); `Mode::Auto`
/// keeps each pass within the lane budget (the outer tape still holds every
/// pass's saved tensors until the backward).
fn wide_batched_jacobian_peak(mode: Mode) -> usize {
    let device = Default::default();
    let x = uniform::<Autodiff<NdArray>>([64, 3072], -1.0, 1.0, 1, &device).require_grad();
    peak_bytes(|| {
        let j = batched_jacobian(&Pure(WideHead), x.clone(), mode);
        let _ = j.sum().backward();
    })
}

/// `--tuning [STEPS]`: measured switching from a fresh start on `B`, `STEPS`
/// switched steps of every scenario at `size`, each step timed.
fn tuning_report<B: Backend>(steps: usize, backend: &str, size: Size) {
    let device = Default::default();
    println!(
        "| {backend}, {} size | rule's path | kept | forward / step | reverse / step | \
         trial steps | first step | extra time of the other trial steps | later step |",
        size.name()
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let name = |p: TunedPath| match p {
        TunedPath::Forward => "forward",
        TunedPath::Reverse => "reverse",
    };
    for &scenario in SCENARIOS {
        if !runs(scenario, size) {
            continue;
        }
        let case = Case::<B>::new(scenario, size, None, &device);
        // The shape rule's path: one step with tuning off.
        reset_path_counts();
        with_tuning(false, || case.step(PathKind::Switched, &device));
        let c = path_counts();
        let rule = match (c.forward > 0, c.reverse > 0) {
            (true, false) => "forward",
            (false, true) => "reverse",
            _ => "both",
        };
        clear_tuning();
        reset_path_counts();
        let times: Vec<f64> = (0..steps)
            .map(|_| {
                let start = std::time::Instant::now();
                case.step(PathKind::Switched, &device);
                start.elapsed().as_secs_f64()
            })
            .collect();
        let trial = path_counts().tuning.min(steps);
        let mut later = times[trial..].to_vec();
        let later = if later.is_empty() {
            f64::NAN
        } else {
            median(&mut later)
        };
        // The first step pays one-off costs (allocations, and on wgpu the shader
        // compilation of the rule's path) with or without tuning.
        let extra: f64 = times[1..trial.max(1)].iter().map(|t| t - later).sum();
        let decisions = tuning_decisions();
        let (kept, fwd, rev) = match decisions.as_slice() {
            [] => ("—".to_string(), f64::NAN, f64::NAN),
            [d] => (name(d.chosen).to_string(), d.forward_ms, d.reverse_ms),
            many => (
                many.iter()
                    .map(|d| name(d.chosen))
                    .collect::<Vec<_>>()
                    .join("+"),
                f64::NAN,
                f64::NAN,
            ),
        };
        let ms = |v: f64| {
            if v.is_nan() {
                "—".to_string()
            } else {
                format!("{v:.2} ms")
            }
        };
        println!(
            "| {scenario} | {rule} | {kept} | {} | {} | {trial} | {} | {} ({:.1} later steps) | {} |",
            ms(fwd),
            ms(rev),
            ms(times[0] * 1e3),
            ms(extra * 1e3),
            extra / later,
            ms(later * 1e3),
        );
    }
}

fn mib(bytes: usize) -> String {
    format!("{:.2} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// `--step SCENARIO PATH [N] [BATCH]`: N steps (default 1) of one scenario and path
/// at bench size (or batch size BATCH), nothing else, for a profiler
/// (`valgrind --tool=callgrind <bench binary> --step batched_jacobian switched`).
fn step_only<B: Backend>(args: &[String]) {
    let scenario = SCENARIOS
        .iter()
        .find(|s| args.first() == Some(&s.to_string()))
        .unwrap_or_else(|| panic!("--step needs a scenario, one of {SCENARIOS:?}"));
    let path = PathKind::ALL
        .into_iter()
        .find(|p| args.get(1).map(String::as_str) == Some(p.name()))
        .expect("--step needs a path: switched, naive or native");
    assert!(
        path.covers(scenario),
        "no {} path for {scenario}",
        path.name()
    );
    let n = args.get(2).and_then(|n| n.parse().ok()).unwrap_or(1);
    let batch = args.get(3).and_then(|b| b.parse().ok());
    let device = Default::default();
    let case = Case::<B>::new(scenario, Size::Bench, batch, &device);
    for _ in 0..n {
        case.step(path, &device);
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // Large lane tensors stay in the heap between steps instead of being
    // page-faulted in again every step (`--system-malloc` keeps glibc's defaults).
    if !args.iter().any(|a| a == "--system-malloc") {
        alloc::keep_freed_memory();
    }
    // `--paired` and `--step` run on ndarray unless `--flex` or a GPU device
    // (`--wgpu`, `--cuda`, `--wgpu-unfused`, `--cuda-unfused`) is given.
    let flex = args.iter().any(|a| a == "--flex");
    let gpu = [
        Device::Wgpu,
        Device::Cuda,
        Device::WgpuUnfused,
        Device::CudaUnfused,
    ]
    .into_iter()
    .find(|d| args.iter().any(|a| a.strip_prefix("--") == Some(d.name())));
    if let Some(i) = args.iter().position(|a| a == "--step") {
        let rest = &args[i + 1..];
        if let Some(d) = gpu {
            device::check(d);
        }
        match (gpu, flex) {
            (Some(Device::Wgpu), _) => step_only::<device::Wgpu>(rest),
            (Some(Device::Cuda), _) => step_only::<device::Cuda>(rest),
            (Some(Device::WgpuUnfused), _) => step_only::<device::WgpuUnfused>(rest),
            (Some(Device::CudaUnfused), _) => step_only::<device::CudaUnfused>(rest),
            (_, true) => step_only::<burn_flex::Flex>(rest),
            _ => step_only::<NdArray>(rest),
        }
        return;
    }
    if args.iter().any(|a| a == "--memory") {
        memory_report();
        return;
    }
    if let Some(i) = args.iter().position(|a| a == "--row-check") {
        let iters = args.get(i + 1).and_then(|n| n.parse().ok()).unwrap_or(15);
        row_check_report(iters);
        return;
    }
    if let Some(i) = args.iter().position(|a| a == "--tuning") {
        let steps = args.get(i + 1).and_then(|n| n.parse().ok()).unwrap_or(30);
        tuning_report::<NdArray>(steps, "ndarray", Size::Seed);
        tuning_report::<NdArray>(steps, "ndarray", Size::Bench);
        if available(Device::Wgpu) {
            tuning_report::<device::Wgpu>(steps, "wgpu", Size::Seed);
        }
        if available(Device::Cuda) {
            tuning_report::<device::Cuda>(steps, "cuda", Size::Seed);
        }
        return;
    }
    if let Some(i) = args.iter().position(|a| a == "--paired") {
        let iters = args.get(i + 1).and_then(|n| n.parse().ok()).unwrap_or(15);
        let size = match args.iter().any(|a| a == "--seed") {
            true => Size::Seed,
            false => Size::Bench,
        };
        if let Some(d) = gpu {
            device::check(d);
        }
        match (gpu, flex) {
            (Some(Device::Wgpu), _) => paired_report::<device::Wgpu>(iters, "wgpu", size),
            (Some(Device::Cuda), _) => paired_report::<device::Cuda>(iters, "cuda", size),
            (Some(d @ Device::WgpuUnfused), _) => {
                paired_report::<device::WgpuUnfused>(iters, d.name(), size)
            }
            (Some(d @ Device::CudaUnfused), _) => {
                paired_report::<device::CudaUnfused>(iters, d.name(), size)
            }
            (_, true) => paired_report::<burn_flex::Flex>(iters, "flex", size),
            _ => paired_report::<NdArray>(iters, "ndarray", size),
        }
        return;
    }
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(10)
        .configure_from_args();
    if selected("ndarray/") {
        ndarray_benches(&mut c);
    }
    if selected("wgpu/") && available(Device::Wgpu) {
        gpu_benches::<device::Wgpu>(&mut c, "wgpu");
    }
    if selected("cuda/") && available(Device::Cuda) {
        gpu_benches::<device::Cuda>(&mut c, "cuda");
    }
    c.final_summary();
}
