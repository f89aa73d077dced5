//! A Jacobian penalty inside burn-train's `Learner`: the nested loss in
//! `TrainStep`, metrics (accuracy, loss, the per-row Jacobian norm) in
//! `InferenceStep` on the non-autodiff backend, a checkpoint written and reloaded.
//!
//! The data are two moons generated in code. The same classifier is trained
//! twice, with and without the penalty `λ·mean_b ‖∂logits_b/∂x_b‖²_F`, and both
//! are measured on held-out points: accuracy, the mean Jacobian norm, and accuracy
//! under a small worst-case input perturbation (FGSM, `x + ε·sign ∇ₓ loss`, the
//! input gradient taken with `burn_nested::gradient`).
//!
//! With `--devices N` (N > 1) each run trains on N workers through burn-train's
//! multi-device strategy (N copies of the CPU device, one thread each), and the
//! penalised run is repeated on one device with N batches accumulated per step
//! (the same optimizer steps): the two must agree. The classifier carries the
//! burn-nested options its loss runs under ([`Options`], a `#[module(skip)]` field,
//! so they travel with the model to each worker); the example checks that every
//! worker thread saw them, and lists the path decisions the workers' measured
//! switching made, which every thread shares.
//!
//! `cargo run --release --example learner [-- --epochs 40 --penalty 0.05 --devices 2]`

use std::path::PathBuf;
use std::sync::Mutex;
use std::thread::ThreadId;

use burn::data::dataloader::{DataLoaderBuilder, batcher::Batcher};
use burn::data::dataset::InMemDataset;
use burn::module::{AutodiffModule, Module};
use burn::nn::loss::CrossEntropyLossConfig;
use burn::nn::{Linear, LinearConfig};
use burn::optim::AdamConfig;
use burn::record::{CompactRecorder, Recorder};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Int, Tensor, TensorData, Transaction};
use burn::train::metric::state::{FormatOptions, NumericMetricState};
use burn::train::metric::{
    AccuracyInput, AccuracyMetric, Adaptor, ItemLazy, LossInput, LossMetric, Metric,
    MetricAttributes, MetricMetadata, MetricName, Numeric, NumericAttributes, NumericEntry,
    SerializedEntry,
};
use burn::train::renderer::{
    EvaluationName, EvaluationProgress, MetricState, MetricsRenderer, MetricsRendererEvaluation,
    MetricsRendererTraining, ProgressType, TrainingProgress,
};
use burn::train::{
    ClassificationOutput, ExecutionStrategy, InferenceStep, Learner, MultiDeviceOptim,
    SupervisedTraining, TrainOutput, TrainStep,
};
use burn_autodiff::Autodiff;
use burn_flex::Flex;
use burn_nested::settings::{Options, tuning_decisions};
use burn_nested::{Forward, Mode, StatefulLayer, TensorFn, batched_jacobian, gradient, tensor_fn};
use clap::Parser;
use rand::{Rng, SeedableRng, rngs::StdRng};

type Inner = burn_ndarray::NdArray<f32>;
type Train = Autodiff<Inner>;

#[derive(Debug, Parser)]
struct Args {
    /// Epochs per training run.
    #[arg(long, default_value_t = 40)]
    epochs: usize,
    /// Training points (validation and test: half as many each).
    #[arg(long, default_value_t = 512)]
    points: usize,
    /// λ, the weight of the Jacobian penalty in the penalised run.
    #[arg(long, default_value_t = 0.05)]
    penalty: f64,
    /// FGSM steps ε of the robustness measurement.
    #[arg(long, value_delimiter = ',', default_value = "0.1,0.2,0.3")]
    epsilon: Vec<f64>,
    /// Where the learners write their logs and checkpoints.
    #[arg(long, default_value = "target/learner")]
    out: PathBuf,
    /// Train on this many workers (copies of the CPU device) with burn-train's
    /// multi-device strategy; above 1, the penalised run is compared with one
    /// device accumulating as many batches per step.
    #[arg(long, default_value_t = 1)]
    devices: usize,
}

/// A small tanh classifier, logits for two classes. `penalty` is a constant of the
/// module (saved with it, never trained); `options` are the burn-nested options its
/// loss runs under, carried by the module (not saved) to whichever thread runs a
/// step.
#[derive(Module, Debug)]
struct Classifier<B: Backend> {
    hidden: Linear<B>,
    mid: Linear<B>,
    out: Linear<B>,
    penalty: f64,
    #[module(skip)]
    options: Options,
}

/// The options of the training runs: the defaults with the row guard's audit on
/// (as by default) and a lane budget of its own, so a step that saw the process
/// default instead would be told apart.
fn run_options() -> Options {
    Options::default().with_lane_budget(1 << 20)
}

impl<B: Backend> Classifier<B> {
    fn new(penalty: f64, device: &B::Device) -> Self {
        Self {
            hidden: LinearConfig::new(2, 32).init(device),
            mid: LinearConfig::new(32, 32).init(device),
            out: LinearConfig::new(32, 2).init(device),
            penalty,
            options: run_options(),
        }
    }
}

/// Each thread that evaluated the loss (training workers, validation), and whether the options in force there
/// were the model's.
static STEP_THREADS: Mutex<Vec<(ThreadId, bool)>> = Mutex::new(Vec::new());

impl<B: Backend> Forward<B, 2, 2> for Classifier<B> {
    fn forward(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        let h = self.hidden.forward(x).tanh();
        self.out.forward(self.mid.forward(h).tanh())
    }
}

/// One labelled point.
#[derive(Debug, Clone, Copy)]
struct Point {
    x: [f32; 2],
    label: i64,
}

#[derive(Debug, Clone)]
struct MoonsBatch<B: Backend> {
    x: Tensor<B, 2>,
    y: Tensor<B, 1, Int>,
}

#[derive(Debug, Clone, Default)]
struct MoonsBatcher;

impl<B: Backend> Batcher<B, Point, MoonsBatch<B>> for MoonsBatcher {
    fn batch(&self, items: Vec<Point>, device: &B::Device) -> MoonsBatch<B> {
        let n = items.len();
        let x: Vec<f32> = items.iter().flat_map(|p| p.x).collect();
        let y: Vec<i64> = items.iter().map(|p| p.label).collect();
        MoonsBatch {
            x: Tensor::from_data(TensorData::new(x, [n, 2]), device),
            y: Tensor::from_data(TensorData::new(y, [n]), device),
        }
    }
}

/// Two interleaved half circles with Gaussian-ish noise, reproducible from `seed`.
fn two_moons(n: usize, noise: f32, seed: u64) -> Vec<Point> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n)
        .map(|i| {
            let label = (i % 2) as i64;
            let t = rng.random_range(0.0..std::f32::consts::PI);
            let (cx, cy) = if label == 0 {
                (t.cos(), t.sin())
            } else {
                (1.0 - t.cos(), 0.5 - t.sin())
            };
            // The sum of three uniforms: close enough to a Gaussian for noise.
            let mut jitter = || (0..3).map(|_| rng.random_range(-1.0..1.0)).sum::<f32>() / 3.0;
            Point {
                x: [cx + noise * jitter(), cy + noise * jitter()],
                label,
            }
        })
        .collect()
}

/// A step's output: what Burn's classification metrics read, plus the per-row
/// Frobenius norm of the input Jacobian.
struct NestedOutput<B: Backend> {
    classification: ClassificationOutput<B>,
    jacobian_norm: Tensor<B, 1>,
}

impl<B: Backend> Classifier<B> {
    /// Cross-entropy plus `penalty · mean_b ‖J_b‖²`, `J_b = ∂logits_b/∂x_b`. Runs on
    /// the training backend (the Jacobian stays on the tape, so `backward` reaches
    /// the weights through it) and on the plain inner backend for validation
    /// (`burn_nested` takes forward lanes there).
    fn objective(&self, batch: MoonsBatch<B>) -> NestedOutput<B> {
        self.options.scope(|| self.objective_in_scope(batch))
    }

    fn objective_in_scope(&self, batch: MoonsBatch<B>) -> NestedOutput<B> {
        // The module's `options` field survived Burn's fork to the worker's device
        // and every optimizer step, and is in force on this thread.
        let seen = Options::current() == run_options();
        let entry = (std::thread::current().id(), seen);
        let mut threads = STEP_THREADS.lock().expect("no step panicked");
        if !threads.contains(&entry) {
            threads.push(entry);
        }
        let layer = StatefulLayer::from_ref(self);
        let logits: Tensor<B, 2> = layer.forward(batch.x.clone());
        let cross_entropy = CrossEntropyLossConfig::new()
            .init(&logits.device())
            .forward(logits.clone(), batch.y.clone());
        let j = batched_jacobian(&layer, batch.x, Mode::Auto);
        let [rows, outputs, inputs] = j.dims();
        let squared_norm = (j.clone() * j)
            .reshape([rows, outputs * inputs])
            .sum_dim(1)
            .reshape([rows]);
        let loss = cross_entropy + squared_norm.clone().mean() * self.penalty;
        NestedOutput {
            classification: ClassificationOutput::new(loss, logits, batch.y),
            jacobian_norm: squared_norm.sqrt(),
        }
    }
}

impl<B: AutodiffBackend> TrainStep for Classifier<B> {
    type Input = MoonsBatch<B>;
    type Output = NestedOutput<B>;

    fn step(&self, batch: MoonsBatch<B>) -> TrainOutput<NestedOutput<B>> {
        let output = self.objective(batch);
        let grads = output.classification.loss.backward();
        TrainOutput::new(self, grads, output)
    }
}

impl<B: Backend> InferenceStep for Classifier<B> {
    type Input = MoonsBatch<B>;
    type Output = NestedOutput<B>;

    fn step(&self, batch: MoonsBatch<B>) -> NestedOutput<B> {
        self.objective(batch)
    }
}

impl<B: Backend> ItemLazy for NestedOutput<B> {
    type ItemSync = NestedOutput<Flex>;

    fn sync(self) -> NestedOutput<Flex> {
        let [norm] = Transaction::default()
            .register(self.jacobian_norm)
            .execute()
            .try_into()
            .expect("one tensor registered");
        NestedOutput {
            classification: self.classification.sync(),
            jacobian_norm: Tensor::from_data(norm, &Default::default()),
        }
    }
}

impl<B: Backend> Adaptor<AccuracyInput<B>> for NestedOutput<B> {
    fn adapt(&self) -> AccuracyInput<B> {
        self.classification.adapt()
    }
}

impl<B: Backend> Adaptor<LossInput<B>> for NestedOutput<B> {
    fn adapt(&self) -> LossInput<B> {
        self.classification.adapt()
    }
}

/// The input of [`JacobianNormMetric`]: per-row norms.
struct JacobianNormInput(Tensor<Flex, 1>);

impl Adaptor<JacobianNormInput> for NestedOutput<Flex> {
    fn adapt(&self) -> JacobianNormInput {
        JacobianNormInput(self.jacobian_norm.clone())
    }
}

/// The mean over rows of `‖∂logits_b/∂x_b‖_F`, as a numeric metric.
#[derive(Clone)]
struct JacobianNormMetric {
    name: MetricName,
    state: NumericMetricState,
}

impl JacobianNormMetric {
    fn new() -> Self {
        Self {
            name: MetricName::new("Jacobian norm".to_string()),
            state: NumericMetricState::default(),
        }
    }
}

impl Metric for JacobianNormMetric {
    type Input = JacobianNormInput;

    fn name(&self) -> MetricName {
        self.name.clone()
    }

    fn update(&mut self, item: &JacobianNormInput, _: &MetricMetadata) -> SerializedEntry {
        let [rows] = item.0.dims();
        let mean = item.0.clone().mean().into_scalar() as f64;
        self.state
            .update(mean, rows, FormatOptions::new(self.name()).precision(3))
    }

    fn clear(&mut self) {
        self.state.reset()
    }

    fn attributes(&self) -> MetricAttributes {
        NumericAttributes {
            unit: None,
            higher_is_better: false,
        }
        .into()
    }
}

impl Numeric for JacobianNormMetric {
    fn value(&self) -> NumericEntry {
        self.state.current_value()
    }

    fn running_value(&self) -> NumericEntry {
        self.state.running_value()
    }
}

/// Prints one line per finished epoch instead of one per iteration, so the log
/// reads the same in a terminal and in CI; the learner's summary follows at the end.
struct EpochLines {
    label: String,
    last_epoch: usize,
}

impl MetricsRendererTraining for EpochLines {
    fn update_train(&mut self, _: MetricState) {}

    fn update_valid(&mut self, _: MetricState) {}

    fn render_train(&mut self, _: TrainingProgress, _: Vec<ProgressType>) {}

    fn render_valid(&mut self, item: TrainingProgress, _: Vec<ProgressType>) {
        let epoch = item.global_progress.items_processed;
        if epoch != self.last_epoch {
            self.last_epoch = epoch;
            let total = item.global_progress.items_total;
            println!("  [{}] epoch {epoch}/{total} validated", self.label);
        }
    }
}

impl MetricsRendererEvaluation for EpochLines {
    fn update_test(&mut self, _: EvaluationName, _: MetricState) {}

    fn render_test(&mut self, _: EvaluationProgress, _: Vec<ProgressType>) {}
}

impl MetricsRenderer for EpochLines {
    fn manual_close(&mut self) {}

    fn register_metric(&mut self, _: burn::train::metric::MetricDefinition) {}
}

/// Where a run trains: on `devices` workers, or on one device accumulating
/// `accumulate` batches per optimizer step.
#[derive(Debug, Clone, Copy)]
struct Placement {
    devices: usize,
    accumulate: usize,
}

/// Trains one classifier with `Learner` and returns the trained (inference) model
/// after checking that the last checkpoint reloads to the same predictions.
fn train(args: &Args, penalty: f64, label: &str, placement: Placement) -> Classifier<Inner> {
    let device = Default::default();
    let dir = args.out.join(label);
    // A previous run's checkpoints would be resumed from, not overwritten.
    let _ = std::fs::remove_dir_all(&dir);
    let train_data = InMemDataset::new(two_moons(args.points, 0.15, 1));
    let valid_data = InMemDataset::new(two_moons(args.points / 2, 0.15, 2));
    let train_loader = DataLoaderBuilder::<Train, _, _>::new(MoonsBatcher)
        .batch_size(64)
        .shuffle(7)
        .build(train_data);
    let valid_loader = DataLoaderBuilder::<Inner, _, _>::new(MoonsBatcher)
        .batch_size(128)
        .build(valid_data);

    // Both runs start from the same weights and see the same batches.
    Train::seed(&device, 17);
    let model = Classifier::<Train>::new(penalty, &device);
    let learner = Learner::new(model, AdamConfig::new().init(), 5e-3);
    let mut training = SupervisedTraining::new(&dir, train_loader, valid_loader);
    if placement.devices > 1 {
        // N copies of the CPU device: one worker thread each, every step one batch
        // per worker, their gradients summed on the first before one Adam step.
        let devices = vec![device; placement.devices];
        training = training.with_training_strategy(
            ExecutionStrategy::multi(devices, MultiDeviceOptim::OptimMainDevice).into(),
        );
    }
    if placement.accumulate > 1 {
        training = training.grads_accumulation(placement.accumulate);
    }
    let result = training
        .metrics((AccuracyMetric::new(), LossMetric::new()))
        .metric_train_numeric(JacobianNormMetric::new())
        .metric_valid_numeric(JacobianNormMetric::new())
        .with_file_checkpointer(CompactRecorder::new())
        .renderer(EpochLines {
            label: label.to_string(),
            last_epoch: 0,
        })
        .with_application_logger(None)
        .num_epochs(args.epochs)
        .summary()
        .launch(learner);
    let trained = result.model;

    // The checkpoint of the last epoch, reloaded into a fresh model, predicts
    // exactly what the returned model predicts.
    let path = dir
        .join("checkpoint")
        .join(format!("model-{}", args.epochs));
    let record = CompactRecorder::new()
        .load(path.clone(), &device)
        .unwrap_or_else(|e| panic!("reloading {}: {e}", path.display()));
    let reloaded = Classifier::<Inner>::new(penalty, &device).load_record(record);
    let probe = test_batch(args).x;
    let gap = (trained.forward(probe.clone()) - reloaded.forward(probe))
        .abs()
        .max()
        .into_scalar();
    // CompactRecorder stores half precision: agreement to f16 rounding.
    assert!(
        gap < 5e-2,
        "the reloaded checkpoint predicts differently (max |Δlogit| = {gap})"
    );
    println!(
        "  [{label}] checkpoint {} reloaded: max |Δlogit| = {gap:.1e}",
        path.display()
    );
    trained
}

fn test_batch(args: &Args) -> MoonsBatch<Inner> {
    MoonsBatcher.batch(two_moons(args.points / 2, 0.15, 3), &Default::default())
}

tensor_fn!(
    /// Cross-entropy of logits against fixed labels, as a backend-generic function
    /// that carries its targets (one-hot), for the FGSM input gradient.
    CrossEntropy { one_hot: TensorData }, |this, logits: 2| -> 1 {
    let one_hot = Tensor::from_data(this.one_hot.clone(), &logits.device());
    let log_p = burn::tensor::activation::log_softmax(logits, 1);
    (log_p * one_hot).sum().neg()
});

/// What a trained classifier measures on held-out points.
struct Report {
    accuracy: f64,
    jacobian_norm: f64,
    /// Accuracy under FGSM, one entry per ε.
    robust_accuracy: Vec<f64>,
}

fn accuracy(logits: Tensor<Inner, 2>, y: &Tensor<Inner, 1, Int>) -> f64 {
    let [rows, _] = logits.dims();
    let hits = logits
        .argmax(1)
        .reshape([rows])
        .equal(y.clone())
        .int()
        .sum();
    hits.into_scalar() as f64 / rows as f64
}

fn measure(model: &Classifier<Inner>, args: &Args) -> Report {
    let batch = test_batch(args);
    let out = model.objective(batch.clone());
    let accuracy_clean = accuracy(out.classification.output, &batch.y);
    let jacobian_norm = out.jacobian_norm.mean().into_scalar() as f64;

    let labels: Vec<i64> = batch.y.to_data().to_vec().expect("i64 labels");
    let one_hot: Vec<f32> = labels
        .iter()
        .flat_map(|&l| [(l == 0) as u8 as f32, (l == 1) as u8 as f32])
        .collect();
    let head = CrossEntropy {
        one_hot: TensorData::new(one_hot, [labels.len(), 2]),
    };
    let layer = StatefulLayer::from_ref(model);
    let direction = gradient(&layer.then(head), batch.x.clone(), Mode::Auto).sign();
    let robust_accuracy = args
        .epsilon
        .iter()
        .map(|&eps| {
            let attacked = batch.x.clone() + direction.clone() * eps;
            accuracy(model.forward(attacked), &batch.y)
        })
        .collect();
    Report {
        accuracy: accuracy_clean,
        jacobian_norm,
        robust_accuracy,
    }
}

fn main() {
    let args = Args::parse();
    assert!(
        args.epochs > 0 && args.points >= 8,
        "need epochs > 0 and points >= 8"
    );
    // The FGSM head is checked once against plain Burn before it is trusted.
    check_fgsm_gradient();

    let runs = [("plain", 0.0), ("penalised", args.penalty)];
    let reports: Vec<(&str, f64, Report)> = runs
        .iter()
        .map(|&(label, penalty)| {
            println!("training {label} (λ = {penalty}, {} epochs)", args.epochs);
            let placement = Placement {
                devices: args.devices,
                accumulate: 1,
            };
            let model = train(&args, penalty, label, placement);
            (label, penalty, measure(&model, &args))
        })
        .collect();
    if args.devices > 1 {
        check_devices(&args, &reports[1].2);
    }

    println!();
    println!("held-out two moons ({} points):", args.points / 2);
    let attacks: String = args
        .epsilon
        .iter()
        .map(|e| format!(" FGSM ε={e} |"))
        .collect();
    println!("| run | λ | accuracy | mean ‖J‖_F |{attacks}");
    println!("|---|---|---|---|{}", "---|".repeat(args.epsilon.len()));
    for (label, penalty, r) in &reports {
        let robust: String = r
            .robust_accuracy
            .iter()
            .map(|a| format!(" {a:.3} |"))
            .collect();
        println!(
            "| {label} | {penalty} | {:.3} | {:.3} |{robust}",
            r.accuracy, r.jacobian_norm
        );
    }
    let (plain, penalised) = (&reports[0].2, &reports[1].2);
    if args.penalty > 0.0 && penalised.jacobian_norm >= plain.jacobian_norm {
        eprintln!("the penalty did not lower the Jacobian norm");
        std::process::exit(1);
    }
}

/// After a multi-device run: the worker threads evaluated the loss under the
/// model's options, and the penalised classifier trained on one device with as
/// many batches per step measures like the multi-device one. They are not equal
/// bit for bit: the workers take contiguous halves of the data, so the batches
/// summed in one step differ (burn-train's `split_dataloader`).
fn check_devices(args: &Args, multi: &Report) {
    let threads = STEP_THREADS.lock().expect("no step panicked").clone();
    let workers = threads
        .iter()
        .filter(|(id, _)| *id != std::thread::current().id())
        .count();
    println!(
        "the loss ran on {} threads ({workers} besides this one), each under the model's \
         options: {}",
        threads.len(),
        threads.iter().all(|(_, seen)| *seen)
    );
    assert!(
        workers >= args.devices,
        "the multi-device run used {workers} worker threads for {} devices",
        args.devices
    );
    assert!(
        threads.iter().all(|(_, seen)| *seen),
        "a thread ran the loss without the model's burn-nested options"
    );
    // Measured switching times its trial on the workers; burn-train starts fresh
    // worker threads every epoch, and a trial cut short by one is taken over by
    // the next epoch's. Its decision is then the process's, shared by every thread.
    let decisions = tuning_decisions();
    for d in &decisions {
        println!(
            "  path decision shared by every thread: {} {:?} inside a loss = {} -> {:?}",
            d.transform, d.input_dims, d.inside_loss, d.chosen
        );
    }
    // A worker's first step of an epoch only starts a timing (its thread is new),
    // so an epoch of c steps times c − 1; a trial needs 8 timed steps and 2 warm-up
    // calls: 9 epochs of 2 steps, fewer of more. With 1 step per worker per epoch
    // nothing can be timed.
    let steps_per_epoch = (args.points / args.devices).div_ceil(64);
    let enough = steps_per_epoch >= 2 && args.epochs * (steps_per_epoch - 1) >= 9;
    let decided_on_workers = decisions
        .iter()
        .any(|d| d.transform == "batched_jacobian" && d.inside_loss);
    assert!(
        decided_on_workers || !enough || !run_options().tuning,
        "{} epochs of {steps_per_epoch} steps per worker made no path decision inside the loss",
        args.epochs
    );

    println!(
        "training penalised on one device, {} batches per step",
        args.devices
    );
    let placement = Placement {
        devices: 1,
        accumulate: args.devices,
    };
    let one = measure(
        &train(args, args.penalty, "penalised-one-device", placement),
        args,
    );
    println!(
        "penalised, {} devices vs one accumulating: accuracy {:.3} vs {:.3}, mean ‖J‖_F {:.3} vs \
         {:.3}",
        args.devices, multi.accuracy, one.accuracy, multi.jacobian_norm, one.jacobian_norm
    );
    let norm_gap = (multi.jacobian_norm - one.jacobian_norm).abs() / one.jacobian_norm;
    if (multi.accuracy - one.accuracy).abs() > 0.05 || norm_gap > 0.2 {
        eprintln!(
            "the multi-device run does not match the one-device run within tolerance \
             (accuracy within 0.05, mean ‖J‖_F within 20 %)"
        );
        std::process::exit(1);
    }
}

/// `burn_nested::gradient` of the carried-target cross-entropy equals plain
/// Burn's autodiff gradient at a few points.
fn check_fgsm_gradient() {
    let device = Default::default();
    let model = Classifier::<Train>::new(0.0, &device);
    let x = Tensor::<Train, 2>::from_data(
        TensorData::new(vec![0.1f32, 0.2, -0.5, 0.7, 1.2, -0.3], [3, 2]),
        &device,
    );
    let head = CrossEntropy {
        one_hot: TensorData::new(vec![1.0f32, 0.0, 0.0, 1.0, 1.0, 0.0], [3, 2]),
    };
    let inner = model.valid();
    let nested = gradient(
        &StatefulLayer::from_ref(&inner).then(head.clone()),
        x.clone().inner(),
        Mode::Auto,
    );
    let x = x.require_grad();
    let grads = TensorFn::apply(&head, model.forward(x.clone())).backward();
    let plain = x.grad(&grads).expect("x reaches the loss");
    let gap = (nested - plain).abs().max().into_scalar();
    assert!(gap < 1e-5, "FGSM gradient differs from Burn's by {gap}");
}
