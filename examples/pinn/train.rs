//! Training the network on the Poisson residual, and measuring its error.

use burn::module::AutodiffModule;
use burn::optim::{AdamConfig, GradientsParams, Optimizer};
use burn::tensor::{Distribution, Tensor, Transaction, backend::AutodiffBackend, backend::Backend};
use burn_nested::{Mode, StatefulLayer, laplacian};

use crate::problem::{PinnNet, source};

/// What to train and how.
#[derive(Debug, Clone)]
pub struct Config {
    /// Optimizer steps.
    pub steps: usize,
    /// Collocation points per step (drawn afresh each step).
    pub batch: usize,
    /// Learning rate at the first step.
    pub lr: f64,
    /// Learning rate at the last step (exponential decay in between).
    pub final_lr: f64,
    /// Hidden layer width.
    pub width: usize,
    /// Number of hidden layers.
    pub hidden: usize,
    /// Seed of the initial weights and of the collocation points.
    pub seed: u64,
    /// How the Laplacian is taken: `Mode::Auto` (the forward Laplacian, or the
    /// faster path by measurement), `Mode::FORWARD` or `Mode::AutoReverse`.
    pub mode: Mode,
}

/// The trained model and the loss at every step.
pub struct Trained<B: AutodiffBackend> {
    /// The network after the last step.
    pub model: PinnNet<B>,
    /// Loss before each step's update.
    pub losses: Vec<f64>,
}

/// The physics loss `mean((Δu − f)²)` at `points` (`[batch, 2]`).
pub fn residual_loss<B: Backend>(
    model: &PinnNet<B>,
    points: Tensor<B, 2>,
    mode: Mode,
) -> Tensor<B, 1> {
    let layer = StatefulLayer::from_ref(model);
    // Δu per row, on the loss's tape.
    let lap = laplacian(&layer, points.clone(), mode);
    let r = lap - source(points);
    (r.clone() * r).mean()
}

/// Trains a fresh network with Adam; `on_step(step, loss)` is called after each
/// step with that step's loss, still on the device.
///
/// No step reads anything back to the host: a read waits until the device has
/// finished the step, and on a GPU the host would record nothing meanwhile.
/// The losses are kept on the device and read in one batch at the end;
/// `on_step` reads one only where it needs the value (to print it, say).
pub fn train<B: AutodiffBackend>(
    config: &Config,
    device: &B::Device,
    mut on_step: impl FnMut(usize, &Tensor<B::InnerBackend, 1>),
) -> Trained<B> {
    B::seed(device, config.seed);
    let mut model = PinnNet::<B>::new(config.width, config.hidden, device);
    // Initialize the lazy parameters here: the loss clones the model, and clones of
    // an uninitialized module would each draw their own weights.
    burn_nested::lift::initialize_params(&model);
    let mut optim = AdamConfig::new().init();
    let mut losses = Vec::with_capacity(config.steps);
    let decay = (config.final_lr / config.lr).ln() / config.steps.max(2).saturating_sub(1) as f64;
    for step in 0..config.steps {
        let points =
            Tensor::<B, 2>::random([config.batch, 2], Distribution::Uniform(0.0, 1.0), device);
        let loss = residual_loss(&model, points, config.mode);
        let value = loss.clone().inner();
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        let lr = config.lr * (decay * step as f64).exp();
        model = optim.step(lr, model, grads);
        on_step(step, &value);
        losses.push(value);
    }
    // One transaction reads them all (a `cat` would be a kernel per loss).
    let losses = losses
        .into_iter()
        .fold(Transaction::default(), Transaction::register)
        .execute()
        .iter()
        .map(|data| data.iter::<f64>().next().expect("a loss has one value"))
        .collect();
    Trained { model, losses }
}

/// The solution on an `n × n` grid over the closed unit square (row-major, `y`
/// outer), learned (by the model in inference mode) and exact.
pub fn solution_grid<B: AutodiffBackend>(model: &PinnNet<B>, n: usize) -> (Vec<f64>, Vec<f64>) {
    crate::problem::solution_grid(&model.valid(), n)
}

pub use crate::problem::relative_l2;
