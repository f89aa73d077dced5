//! Plumbing shared by the scenario examples: the command line, the seed-size f64
//! check against central differences, and the optional wgpu or CUDA comparison.
//!
//! Each example defines its model and its loss with burn-nested's public API,
//! describes them with [`Scenario`] and calls [`main`]. Nothing here is needed to
//! use burn-nested: it only checks what the example computes.
// Each example uses a different part of this module.
#![allow(dead_code)]

use burn::module::{AutodiffModule, HasAutodiffModule, Module, ModuleMapper, ModuleVisitor, Param};
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{Tensor, TensorData, backend::Backend};
use burn_autodiff::Autodiff;
use burn_nested::check::{
    DEFAULT_STEP, GradientCheck, check_gradients, param_gradients_or_zeros, scalar,
};
use clap::Parser;
use rand::{Rng, SeedableRng, rngs::StdRng};

#[path = "device.rs"]
mod device;
pub use device::{Device, check as check_device};

/// The f64 reference backend with reverse mode.
pub type Ad = Autodiff<burn_ndarray::NdArray<f64>>;

/// wgpu in f32 with reverse mode, the backend of `--device wgpu`.
pub type WgpuAd = Autodiff<device::Wgpu>;
/// CUDA in f32 with reverse mode, the backend of `--device cuda`.
pub type CudaAd = Autodiff<device::Cuda>;
/// wgpu without burn-fusion, with reverse mode: `--device wgpu-unfused`.
pub type WgpuUnfusedAd = Autodiff<device::WgpuUnfused>;
/// CUDA without burn-fusion, with reverse mode: `--device cuda-unfused`.
pub type CudaUnfusedAd = Autodiff<device::CudaUnfused>;

/// ∞-norm(AD − FD) allowed in f64 at seed size (docs/scenarios.md).
pub const FD_TOL: f64 = 1e-6;
/// Agreement required between forms of one scenario that compute the same loss.
pub const AGREE_TOL: f64 = 1e-10;
/// wgpu and CUDA run in f32: their AD gradients are compared with the f64 ones, relative to
/// their ∞-norm; f32 keeps about 7 digits and these nested losses chain a few dozen
/// ops, so 1e-4 leaves room for rounding but catches any wrong rule.
pub const F32_TOL: f64 = 1e-4;

/// Command line of every scenario example.
#[derive(Debug, Parser)]
pub struct Args {
    /// Backend to run on: the checks run in f64 on ndarray, and wgpu and CUDA
    /// run in f32 with the same weights, compared with the f64 results.
    #[arg(long, value_enum, default_value_t = Device::Ndarray)]
    pub device: Device,
}

/// A scenario of docs/scenarios.md at seed size: its model, its input and its loss in
/// one or more forms (which must agree).
pub trait Scenario {
    /// The model on any backend: a `#[derive(Module)]` struct of the example.
    type Model<B: Backend>: Module<B>;
    /// Name printed in the report.
    const NAME: &'static str;
    /// Names of the loss's forms (one entry for a single form).
    const FORMS: &'static [&'static str];
    /// A model on `device` with its parameters initialized (not lazy), drawn from
    /// the backend's random generator.
    fn model<B: Backend>(device: &B::Device) -> Self::Model<B>;
    /// The input `x`, f64.
    fn input(&self) -> TensorData;
    /// Form `form` of the loss on any backend.
    fn loss<B: Backend>(
        &self,
        form: usize,
        model: &Self::Model<B>,
        x: Tensor<B, 2>,
    ) -> Tensor<B, 1>;
}

/// What the gradient checks need of a model on the autodiff backend `A`; every
/// `#[derive(Module)]` struct has it.
pub trait AdModel<A: AutodiffBackend>:
    AutodiffModule<A, InnerModule: HasAutodiffModule<A, TrainModule = Self>>
{
}

impl<A, M> AdModel<A> for M
where
    A: AutodiffBackend,
    M: AutodiffModule<A, InnerModule: HasAutodiffModule<A, TrainModule = M>>,
{
}

/// Uniform f64 data in `[lo, hi)`, reproducible from `seed`.
pub fn uniform(shape: [usize; 2], lo: f64, hi: f64, seed: u64) -> TensorData {
    let mut rng = StdRng::seed_from_u64(seed);
    let v: Vec<f64> = (0..shape[0] * shape[1])
        .map(|_| rng.random_range(lo..hi))
        .collect();
    TensorData::new(v, shape)
}

/// Rademacher (±1) f64 data, reproducible from `seed`.
pub fn rademacher(shape: [usize; 2], seed: u64) -> TensorData {
    let mut rng = StdRng::seed_from_u64(seed);
    let v: Vec<f64> = (0..shape[0] * shape[1])
        .map(|_| if rng.random_bool(0.5) { 1.0 } else { -1.0 })
        .collect();
    TensorData::new(v, shape)
}

/// `data` as a tensor of `B` on `device`, in `B`'s float type.
pub fn tensor<B: Backend>(data: &TensorData, device: &B::Device) -> Tensor<B, 2> {
    Tensor::from_data(data.clone().convert::<B::FloatElem>(), device)
}

/// The seed-size model of `S` in f64, initialized from a fixed seed.
fn reference_model<S: Scenario>() -> S::Model<Ad> {
    let device = Default::default();
    Ad::seed(&device, 0);
    S::model::<Ad>(&device)
}

/// Loss value, input gradient and flat parameter gradient by reverse mode.
fn ad_gradients<A, S>(s: &S, form: usize, model: &S::Model<A>) -> (f64, Vec<f64>, Vec<f64>)
where
    A: AutodiffBackend,
    S: Scenario,
    S::Model<A>: AdModel<A>,
{
    let device = model.devices().into_iter().next().expect("a device");
    let x = tensor::<A>(&s.input(), &device).require_grad();
    let loss = s.loss(form, model, x.clone());
    let value = scalar(loss.clone());
    let grads = loss.backward();
    let gx = x
        .grad(&grads)
        .map(to_f64)
        .unwrap_or_else(|| vec![0.0; s.input().num_elements()]);
    // `parameter_jacobian`'s loss never reaches the last bias (its Jacobian column
    // is constant); the finite differences confirm the zeros.
    (value, gx, param_gradients_or_zeros(model, &grads))
}

fn to_f64<B: Backend, const D: usize>(t: Tensor<B, D>) -> Vec<f64> {
    t.into_data()
        .convert::<f64>()
        .to_vec::<f64>()
        .expect("f64 data")
}

fn inf_norm(a: &[f64]) -> f64 {
    a.iter().fold(0.0, |m, v| m.max(v.abs()))
}

fn inf_norm_diff(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).fold(0.0, |m, (p, q)| m.max((p - q).abs()))
}

fn fail(message: String) -> ! {
    eprintln!("error: {message}");
    std::process::exit(1)
}

/// Parses the command line, runs every form of the scenario and exits non-zero if
/// a gradient is off.
pub fn main<S: Scenario>(s: S)
where
    S::Model<Ad>: AdModel<Ad>,
    S::Model<WgpuAd>: AdModel<WgpuAd>,
    S::Model<CudaAd>: AdModel<CudaAd>,
    S::Model<WgpuUnfusedAd>: AdModel<WgpuUnfusedAd>,
    S::Model<CudaUnfusedAd>: AdModel<CudaUnfusedAd>,
{
    let args = Args::parse();
    check_device(args.device);
    let model = reference_model::<S>();
    let x = tensor::<Ad>(&s.input(), &Default::default());
    let mut reference: Vec<(f64, Vec<f64>, Vec<f64>)> = Vec::new();
    for (form, name) in S::FORMS.iter().enumerate() {
        let label = if S::FORMS.len() == 1 {
            S::NAME.to_string()
        } else {
            format!("{} ({name})", S::NAME)
        };
        let value = scalar(s.loss(form, &model.clone(), x.clone()));
        let check: GradientCheck =
            check_gradients(&model, &x, |m, x| s.loss(form, m, x), DEFAULT_STEP);
        println!("{label}\nloss: {value:.12e}\n{check}");
        if !check.within(FD_TOL) {
            fail(format!(
                "{label}: AD differs from central differences by more than {FD_TOL:e}"
            ));
        }
        reference.push((value, check.input_ad, check.params_ad));
    }
    agree(&reference);
    match args.device {
        Device::Ndarray | Device::BurnNdarray => {}
        Device::Wgpu => compare::<WgpuAd, S>(args.device, &s, &model, &reference),
        Device::Cuda => compare::<CudaAd, S>(args.device, &s, &model, &reference),
        Device::WgpuUnfused => compare::<WgpuUnfusedAd, S>(args.device, &s, &model, &reference),
        Device::CudaUnfused => compare::<CudaUnfusedAd, S>(args.device, &s, &model, &reference),
    }
    println!("ok");
}

/// Checks that all forms give the same value and gradients to [`AGREE_TOL`].
fn agree(results: &[(f64, Vec<f64>, Vec<f64>)]) {
    let Some((first, rest)) = results.split_first() else {
        return;
    };
    for r in rest {
        let err = [
            (first.0 - r.0).abs(),
            inf_norm_diff(&first.1, &r.1),
            inf_norm_diff(&first.2, &r.2),
        ]
        .into_iter()
        .fold(0.0, f64::max);
        println!("forms agree: ∞-norm of the largest difference {err:e}");
        if err > AGREE_TOL {
            fail(format!("the forms differ by {err:e} (> {AGREE_TOL:e})"));
        }
    }
}

/// Copies every float tensor of `from` (in visiting order) into `to`, keeping `to`'s
/// parameter ids and trainable flags: the same model on another backend.
pub fn copy_weights<A: Backend, B: Backend, M: Module<B>>(from: &impl Module<A>, to: M) -> M {
    struct Collect(Vec<TensorData>);
    impl<A: Backend> ModuleVisitor<A> for Collect {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<A, D>>) {
            self.0.push(param.val().into_data().convert::<f64>());
        }
    }
    struct Replace(std::vec::IntoIter<TensorData>);
    impl<B: Backend> ModuleMapper<B> for Replace {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
            let (id, tensor, mapper) = param.consume();
            let data = self.0.next().expect("same model structure");
            let mut value = Tensor::from_data(data.convert::<B::FloatElem>(), &tensor.device());
            if tensor.is_require_grad() {
                value = value.require_grad();
            }
            Param::from_mapped_value(id, value, mapper)
        }
    }
    let mut collect = Collect(Vec::new());
    from.visit(&mut collect);
    to.map(&mut Replace(collect.0.into_iter()))
}

/// Runs every form on `A` (wgpu or CUDA, in f32) with the reference model's
/// weights and compares loss and gradients with the f64 results.
fn compare<A, S>(
    device: Device,
    s: &S,
    model: &S::Model<Ad>,
    reference: &[(f64, Vec<f64>, Vec<f64>)],
) where
    A: AutodiffBackend,
    S: Scenario,
    S::Model<A>: AdModel<A>,
{
    let name = device.name();
    let model = copy_weights(model, S::model::<A>(&Default::default()));
    for (form, (value, gx, gp)) in reference.iter().enumerate() {
        let (v, x, p) = ad_gradients::<A, S>(s, form, &model);
        let rel = |a: &[f64], b: &[f64]| inf_norm_diff(a, b) / inf_norm(b).max(1.0);
        let (ev, ex, ep) = (rel(&[v], &[*value]), rel(&x, gx), rel(&p, gp));
        println!(
            "{name} f32 vs ndarray f64 ({}), relative ∞-norm: loss {ev:e}, ∂x {ex:e}, ∂ps {ep:e}",
            S::FORMS[form]
        );
        if ev.max(ex).max(ep) > F32_TOL {
            fail(format!(
                "{name} differs from the f64 reference by more than {F32_TOL:e}"
            ));
        }
    }
}
