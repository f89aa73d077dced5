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
//! `cargo run --release --example learner [-- --epochs 40 --penalty 0.05]`

use std::path::PathBuf;

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
    ClassificationOutput, InferenceStep, Learner, SupervisedTraining, TrainOutput, TrainStep,
};
use burn_autodiff::Autodiff;
use burn_flex::Flex;
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
}

/// A small tanh classifier, logits for two classes. `penalty` is a constant of the
/// module (saved with it, never trained).
#[derive(Module, Debug)]
struct Classifier<B: Backend> {
    hidden: Linear<B>,
    mid: Linear<B>,
    out: Linear<B>,
    penalty: f64,
}

impl<B: Backend> Classifier<B> {
    fn new(penalty: f64, device: &B::Device) -> Self {
        Self {
            hidden: LinearConfig::new(2, 32).init(device),
            mid: LinearConfig::new(32, 32).init(device),
            out: LinearConfig::new(32, 2).init(device),
            penalty,
        }
    }
}

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

/// Trains one classifier with `Learner` and returns the trained (inference) model
/// after checking that the last checkpoint reloads to the same predictions.
fn train(args: &Args, penalty: f64, label: &str) -> Classifier<Inner> {
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
    let result = SupervisedTraining::new(&dir, train_loader, valid_loader)
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
            let model = train(&args, penalty, label);
            (label, penalty, measure(&model, &args))
        })
        .collect();

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
