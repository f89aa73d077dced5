//! Shared test harness: the dot-product test, transparency and central finite
//! differences for any backend-generic tensor function.
#![allow(dead_code)]

use burn::tensor::{Tensor, TensorData, backend::Backend};
use burn_autodiff::Autodiff;
use burn_ndarray::NdArray;
use burn_nested::{
    Dual, TensorFn,
    lift::{constant, seed, tangent},
};
use rand::{Rng, SeedableRng, rngs::StdRng};

/// The f64 reference backend.
pub type F = NdArray<f64>;
/// Reverse mode on it: the VJP oracle.
pub type Ad = Autodiff<F>;
/// Forward mode on it.
pub type Df = Dual<F>;

/// A backend-generic function of `N` same-rank inputs, rank `D` in and `O` out.
pub trait OpFn<const D: usize, const O: usize> {
    fn call<B: Backend>(&self, xs: Vec<Tensor<B, D>>) -> Tensor<B, O>;
}

/// `y = tanh(x W)` with a fixed `W` `[in, out]`, batch first: the small smooth
/// function the transform tests differentiate.
#[derive(Clone)]
pub struct TanhLinear(pub TensorData);

impl TensorFn<2, 2> for TanhLinear {
    fn apply<B: Backend>(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        x.clone()
            .matmul(Tensor::from_data(self.0.clone(), &x.device()))
            .tanh()
    }
}

/// Random f64 data in `[lo, hi)` of the given shape.
pub fn random_data(rng: &mut StdRng, shape: &[usize], lo: f64, hi: f64) -> TensorData {
    let n: usize = shape.iter().product();
    let values: Vec<f64> = (0..n).map(|_| rng.random_range(lo..hi)).collect();
    TensorData::new(values, shape.to_vec())
}

/// Random directions `[lanes, ..shape]` in `[-1, 1)`, one per input shape.
pub fn random_lanes(rng: &mut StdRng, shapes: &[&[usize]], lanes: usize) -> Vec<TensorData> {
    shapes
        .iter()
        .map(|s| {
            let mut dims = vec![lanes];
            dims.extend_from_slice(s);
            random_data(rng, &dims, -1.0, 1.0)
        })
        .collect()
}

/// `f`'s tangent on `Dual<B>` at `xs` in the directions `us` (`[lanes, ..]`).
pub fn jvp_of<B: Backend, const D: usize, const O: usize, const DL: usize, const OL: usize>(
    f: &impl OpFn<D, O>,
    xs: &[TensorData],
    us: &[TensorData],
    lanes: usize,
) -> Vec<f64> {
    let dual = xs
        .iter()
        .zip(us)
        .map(|(x, u)| seed(tensor::<B, D>(x), tensor::<B, DL>(u)))
        .collect();
    values(tangent::<B, O, OL>(f.call::<Dual<B>>(dual), lanes))
}

/// `vᵀ J` of `f` at `xs` from `Autodiff<B>`, one vector per input (zeros for an
/// input the output does not depend on).
pub fn vjps_of<B: Backend, const D: usize, const O: usize>(
    f: &impl OpFn<D, O>,
    xs: &[TensorData],
    v: &TensorData,
) -> Vec<Vec<f64>> {
    let ad: Vec<Tensor<Autodiff<B>, D>> = xs
        .iter()
        .map(|x| tensor::<Autodiff<B>, D>(x).require_grad())
        .collect();
    let grads = (f.call::<Autodiff<B>>(ad.clone()) * tensor::<Autodiff<B>, O>(v))
        .sum()
        .backward();
    ad.iter()
        .map(|x| match x.grad(&grads) {
            Some(g) => values(g),
            None => vec![0.0; x.shape().num_elements()],
        })
        .collect()
}

/// `‖a − b‖∞` over the common length; NaN where one side is NaN and the other
/// is not, or where the sides are opposite infinities, so that a comparison
/// `≤ tolerance` fails there (`f64::max` alone would skip a NaN). Equal entries,
/// infinities and NaNs on both sides included, differ by zero.
pub fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).fold(0f64, |m, (p, q)| {
        let d = if p == q || (p.is_nan() && q.is_nan()) {
            0.0
        } else {
            (p - q).abs()
        };
        if m.is_nan() || d.is_nan() {
            f64::NAN
        } else {
            m.max(d)
        }
    })
}

/// `‖got − want‖∞ ≤ rel_tol · max(1, ‖want‖∞)`.
pub fn assert_close(what: &str, got: &[f64], want: &[f64], rel_tol: f64) {
    if let Some(message) = closeness_failure(what, got, want, rel_tol) {
        panic!("{message}");
    }
}

/// What [`assert_close`] would panic with, or `None` where it passes (NaN
/// against a number fails): for a check that collects its failures.
pub fn closeness_failure(what: &str, got: &[f64], want: &[f64], rel_tol: f64) -> Option<String> {
    assert_eq!(got.len(), want.len(), "{what}: lengths differ");
    let scale = want.iter().fold(1f64, |m, v| m.max(v.abs()));
    let err = max_abs_diff(got, want);
    (err.is_nan() || err > rel_tol * scale)
        .then(|| format!("{what} off by {err:e} (scale {scale:e}, tolerance {rel_tol:e})"))
}

pub fn tensor<B: Backend, const D: usize>(data: &TensorData) -> Tensor<B, D> {
    Tensor::from_data(data.clone(), &Default::default())
}

pub fn values<B: Backend, const D: usize>(t: Tensor<B, D>) -> Vec<f64> {
    t.into_data().convert::<f64>().to_vec::<f64>().unwrap()
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len(), "dot of mismatched lengths");
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// `Σ|aᵢ bᵢ|`: the scale of the rounding error of `dot(a, b)`.
fn abs_dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x * y).abs()).sum()
}

/// How an op is checked.
#[derive(Clone, Copy, Debug)]
pub struct Check {
    /// Input values are drawn from `[lo, hi)`.
    pub lo: f64,
    pub hi: f64,
    /// Also compare the JVP against central finite differences (skip for ops with
    /// kinks or jumps near random inputs).
    pub finite_differences: bool,
    /// Relative tolerance of the dot-product test.
    pub tol: f64,
}

impl Default for Check {
    fn default() -> Self {
        Self {
            lo: -1.0,
            hi: 1.0,
            finite_differences: true,
            tol: 1e-10,
        }
    }
}

/// Tolerances of the f32 runs on wgpu, in one place.
///
/// f32 has a unit roundoff of 6e-8. The op tests take a dot product of a few
/// hundred terms whose factors come out of up to a few hundred f32 operations
/// (convolutions, matmuls, reductions), so each side of the dot-product test carries
/// a relative error up to about 1e-5 of the sum of the terms' magnitudes; 1e-4 of
/// that sum leaves a margin of ten, while a wrong rule misses by O(1).
pub const F32_DOT_TOL: f64 = 1e-4;

/// A scenario step in f32 (wgpu) against the same step in f64, relative to the
/// largest entry: the loss chains a few thousand f32 operations through a
/// derivative inside a derivative, which leaves relative errors around 1e-5 of the
/// largest gradient entry (seen: see `tests/wgpu_scenarios.rs`); a wrong
/// gradient misses by O(1).
pub const F32_SCENARIO_TOL: f64 = 1e-3;

/// Runs the dot-product test `⟨V, JVP(x; U)⟩ = ⟨VJP(x; V), U⟩` per lane for lanes 1
/// and 3 (VJP from `Autodiff<NdArray<f64>>`), the transparency test (no tangent:
/// `Dual` equals `NdArray` exactly) and, if asked, central differences.
pub fn check_op<const D: usize, const O: usize, const DL: usize, const OL: usize>(
    f: &impl OpFn<D, O>,
    shapes: &[&[usize]],
    check: Check,
) {
    check_op_with::<D, O, DL, OL>(f, shapes, check, &[1, 3], 7);
}

/// [`check_op`] with the lane counts to test and the seed of the random data
/// chosen by the caller (the property tests draw both).
pub fn check_op_with<const D: usize, const O: usize, const DL: usize, const OL: usize>(
    f: &impl OpFn<D, O>,
    shapes: &[&[usize]],
    check: Check,
    lane_counts: &[usize],
    data_seed: u64,
) {
    check_op_on::<F, D, O, DL, OL>(f, shapes, check, lane_counts, data_seed);
}

/// [`check_op`] on wgpu in f32: the dot-product test with [`F32_DOT_TOL`] and the
/// transparency test; no finite differences (f32 central differences are too coarse
/// to tell a wrong rule from rounding, and the f64 run already compares them).
#[cfg(feature = "wgpu")]
pub fn check_op_wgpu<const D: usize, const O: usize, const DL: usize, const OL: usize>(
    f: &impl OpFn<D, O>,
    shapes: &[&[usize]],
    check: Check,
) {
    let check = Check {
        finite_differences: false,
        tol: check.tol.max(F32_DOT_TOL),
        ..check
    };
    check_op_on::<burn_wgpu::Wgpu, D, O, DL, OL>(f, shapes, check, &[1, 3], 7);
}

/// For ops whose wgpu VJP (Burn's `Autodiff<Wgpu>`, the dot-product test's oracle)
/// is itself wrong: the primal and the JVP of `Dual<Wgpu>` (f32) against those of
/// `Dual<NdArray<f64>>` on the same data, each within [`F32_SCENARIO_TOL`] of the
/// largest entry. The f64 JVP is the one `check_op` verifies against its VJP and
/// finite differences. Prints how far Burn's wgpu VJP is from the f64 one, so the
/// record of what is wrong stays next to the test.
#[cfg(feature = "wgpu")]
pub fn check_op_wgpu_against_f64<
    const D: usize,
    const O: usize,
    const DL: usize,
    const OL: usize,
>(
    f: &impl OpFn<D, O>,
    shapes: &[&[usize]],
    check: Check,
) {
    type W = burn_wgpu::Wgpu;
    let mut rng = StdRng::seed_from_u64(7);
    let xs: Vec<TensorData> = shapes
        .iter()
        .map(|s| random_data(&mut rng, s, check.lo, check.hi))
        .collect();
    let close = |what: &str, got: Vec<f64>, want: Vec<f64>| {
        assert_close(
            &format!("{what} on wgpu vs f64"),
            &got,
            &want,
            F32_SCENARIO_TOL,
        )
    };
    let reference = f.call::<F>(xs.iter().map(tensor::<F, D>).collect());
    let out_shape = reference.dims();
    close(
        "primal",
        values(f.call::<W>(xs.iter().map(tensor::<W, D>).collect())),
        values(reference),
    );
    for lanes in [1, 3] {
        let us = random_lanes(&mut rng, shapes, lanes);
        close(
            &format!("JVP ({lanes} lanes)"),
            jvp_of::<W, D, O, DL, OL>(f, &xs, &us, lanes),
            jvp_of::<F, D, O, DL, OL>(f, &xs, &us, lanes),
        );
    }

    // Burn's own VJPs on both backends, for the record.
    let v = random_data(&mut rng, &out_shape, -1.0, 1.0);
    let (w, r) = (
        vjps_of::<W, D, O>(f, &xs, &v),
        vjps_of::<F, D, O>(f, &xs, &v),
    );
    let err = max_abs_diff(&w.concat(), &r.concat());
    eprintln!("Burn's Autodiff<Wgpu> VJP differs from the f64 one by {err:e} here");
}

/// The checks of [`check_op`] with `B` as the reference backend: VJPs from
/// `Autodiff<B>`, JVPs from `Dual<B>`, transparency against `B`; `lane_counts`
/// lanes and random data from `data_seed`.
pub fn check_op_on<B: Backend, const D: usize, const O: usize, const DL: usize, const OL: usize>(
    f: &impl OpFn<D, O>,
    shapes: &[&[usize]],
    check: Check,
    lane_counts: &[usize],
    data_seed: u64,
) {
    assert_eq!(DL, D + 1);
    assert_eq!(OL, O + 1);
    let mut rng = StdRng::seed_from_u64(data_seed);
    let device = Default::default();
    let xs: Vec<TensorData> = shapes
        .iter()
        .map(|s| random_data(&mut rng, s, check.lo, check.hi))
        .collect();

    // Transparency.
    let plain = values(f.call::<B>(xs.iter().map(tensor::<B, D>).collect()));
    let lifted = values(burn_nested::lift::primal(
        f.call::<Dual<B>>(xs.iter().map(|x| constant(tensor::<B, D>(x))).collect()),
    ));
    assert_eq!(
        plain, lifted,
        "Dual without tangents differs from the inner backend"
    );

    // VJP with a random cotangent.
    let out_shape = f.call::<B>(xs.iter().map(tensor::<B, D>).collect()).dims();
    let v = random_data(&mut rng, &out_shape, -1.0, 1.0);
    let vjps = vjps_of::<B, D, O>(f, &xs, &v);
    let v_flat = v.clone().convert::<f64>().to_vec::<f64>().unwrap();

    for &lanes in lane_counts {
        let us = random_lanes(&mut rng, shapes, lanes);
        let jvp = jvp_of::<B, D, O, DL, OL>(f, &xs, &us, lanes);
        let per_lane_out: usize = out_shape.iter().product();
        for l in 0..lanes {
            let jvp_l = &jvp[l * per_lane_out..(l + 1) * per_lane_out];
            let lhs = dot(&v_flat, jvp_l);
            let mut magnitude = abs_dot(&v_flat, jvp_l);
            let mut rhs = 0.0;
            for ((u, g), s) in us.iter().zip(&vjps).zip(shapes) {
                let n: usize = s.iter().product();
                let u = u.clone().to_vec::<f64>().unwrap();
                rhs += dot(g, &u[l * n..(l + 1) * n]);
                magnitude = magnitude.max(abs_dot(g, &u[l * n..(l + 1) * n]));
            }
            // Rounding in a dot product scales with the sum of its terms' magnitudes.
            let scale = 1f64.max(magnitude);
            assert!(
                (lhs - rhs).abs() <= check.tol * scale,
                "dot-product test failed (lanes {lanes}, lane {l}): <V, JVP U> = {lhs}, \
                 <VJP V, U> = {rhs}"
            );

            if check.finite_differences {
                let h = 1e-6;
                let shifted = |sign: f64| {
                    let inputs: Vec<Tensor<B, D>> = xs
                        .iter()
                        .zip(&us)
                        .zip(shapes)
                        .map(|((x, u), s)| {
                            let n: usize = s.iter().product();
                            let x = x.clone().to_vec::<f64>().unwrap();
                            let u = u.clone().to_vec::<f64>().unwrap();
                            let moved: Vec<f64> = x
                                .iter()
                                .zip(&u[l * n..(l + 1) * n])
                                .map(|(a, b)| a + sign * h * b)
                                .collect();
                            Tensor::from_data(TensorData::new(moved, s.to_vec()), &device)
                        })
                        .collect();
                    values(f.call::<B>(inputs))
                };
                let (plus, minus) = (shifted(1.0), shifted(-1.0));
                for (k, (p, m)) in plus.iter().zip(&minus).enumerate() {
                    let fd = (p - m) / (2.0 * h);
                    let err = (fd - jvp_l[k]).abs();
                    assert!(
                        err <= 1e-6 * 1f64.max(fd.abs()),
                        "JVP differs from central differences at output {k} (lane {l}): \
                         jvp {} vs fd {fd}",
                        jvp_l[k]
                    );
                }
            }
        }
    }
}

/// Declares a test module running [`check_op`] on a generic function body: its
/// `ndarray` test (f64) always, its `wgpu` test (f32, [`check_op_wgpu`]) with the
/// `wgpu` feature unless the op is marked `f64_only` (casts to f64, which wgpu's
/// f32 backend cannot hold).
///
/// `wgpu_oracle_wrong` ops, whose wgpu VJP is Burn's bug, get a `wgpu_jvp` test
/// instead ([`check_op_wgpu_against_f64`]).
///
/// `op_test!([f64_only | wgpu_oracle_wrong] name, [shape, ..], D => O, [check,] |xs| body)`
/// where `xs: Vec<Tensor<B, D>>`.
#[macro_export]
macro_rules! op_test {
    (@module $name:ident, [$($backend:ident),+], [$($shape:expr),+], $d:literal => $o:literal, $check:expr, |$xs:ident| $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            struct Op;
            impl common::OpFn<$d, $o> for Op {
                #[allow(unused_mut)]
                fn call<B: burn::tensor::backend::Backend>(
                    &self,
                    mut $xs: Vec<burn::tensor::Tensor<B, $d>>,
                ) -> burn::tensor::Tensor<B, $o> {
                    $body
                }
            }

            const SHAPES: &[&[usize]] = &[$(&$shape),+];

            $(op_test!(@test $backend, $d => $o, $check);)+
        }
    };
    (@test ndarray, $d:literal => $o:literal, $check:expr) => {
        #[test]
        fn ndarray() {
            common::check_op::<$d, $o, { $d + 1 }, { $o + 1 }>(&Op, SHAPES, $check);
        }
    };
    (@test wgpu, $d:literal => $o:literal, $check:expr) => {
        #[cfg(feature = "wgpu")]
        #[test]
        fn wgpu() {
            common::check_op_wgpu::<$d, $o, { $d + 1 }, { $o + 1 }>(&Op, SHAPES, $check);
        }
    };
    (@test wgpu_jvp, $d:literal => $o:literal, $check:expr) => {
        #[cfg(feature = "wgpu")]
        #[test]
        fn wgpu_jvp() {
            common::check_op_wgpu_against_f64::<$d, $o, { $d + 1 }, { $o + 1 }>(&Op, SHAPES, $check);
        }
    };
    (wgpu_oracle_wrong $name:ident, [$($shape:expr),+ $(,)?], $d:literal => $o:literal, $check:expr, |$xs:ident| $body:expr) => {
        op_test!(@module $name, [ndarray, wgpu_jvp], [$($shape),+], $d => $o, $check, |$xs| $body);
    };
    (wgpu_oracle_wrong $name:ident, [$($shape:expr),+ $(,)?], $d:literal => $o:literal, |$xs:ident| $body:expr) => {
        op_test!(@module $name, [ndarray, wgpu_jvp], [$($shape),+], $d => $o, common::Check::default(), |$xs| $body);
    };
    (f64_only $name:ident, [$($shape:expr),+ $(,)?], $d:literal => $o:literal, $check:expr, |$xs:ident| $body:expr) => {
        op_test!(@module $name, [ndarray], [$($shape),+], $d => $o, $check, |$xs| $body);
    };
    (f64_only $name:ident, [$($shape:expr),+ $(,)?], $d:literal => $o:literal, |$xs:ident| $body:expr) => {
        op_test!(@module $name, [ndarray], [$($shape),+], $d => $o, common::Check::default(), |$xs| $body);
    };
    ($name:ident, [$($shape:expr),+ $(,)?], $d:literal => $o:literal, $check:expr, |$xs:ident| $body:expr) => {
        op_test!(@module $name, [ndarray, wgpu], [$($shape),+], $d => $o, $check, |$xs| $body);
    };
    ($name:ident, [$($shape:expr),+ $(,)?], $d:literal => $o:literal, |$xs:ident| $body:expr) => {
        op_test!(@module $name, [ndarray, wgpu], [$($shape),+], $d => $o, common::Check::default(), |$xs| $body);
    };
}

/// `model` with every float parameter marked trainable (a leaf that requires a
/// gradient). A module rebuilt on `Autodiff` from an inner one (`from_inner`)
/// has untracked parameters in Burn 0.21: its parameter gradients would all be
/// missing, and a comparison of them would compare nothing.
pub fn trainable<B: burn::tensor::backend::AutodiffBackend, M: burn::module::Module<B>>(
    model: M,
) -> M {
    struct Track;
    impl<B: Backend> burn::module::ModuleMapper<B> for Track {
        fn map_float<const D: usize>(
            &mut self,
            param: burn::module::Param<Tensor<B, D>>,
        ) -> burn::module::Param<Tensor<B, D>> {
            let (id, tensor, mapper) = param.consume();
            burn::module::Param::from_mapped_value(id, tensor.require_grad(), mapper)
        }
    }
    model.map(&mut Track)
}

/// Number of trainable parameter entries of `model` (floats that require a
/// gradient): the length a full parameter-gradient comparison must reach.
/// Running statistics such as a batch norm's mean are counted out.
pub fn trainable_entries<B: Backend, M: burn::module::Module<B>>(model: &M) -> usize {
    struct Count(usize);
    impl<B: Backend> burn::module::ModuleVisitor<B> for Count {
        fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<B, D>>) {
            let p = param.val();
            if p.is_require_grad() {
                self.0 += p.shape().num_elements();
            }
        }
    }
    let mut count = Count(0);
    model.visit(&mut count);
    count.0
}

/// The parameter gradients of `model` in `grads` (zeros for a parameter the loss
/// never reached), asserting that every trainable entry is there: a comparison
/// of them then compares `trainable_entries(model)` numbers, never an empty list.
pub fn param_gradients_counted<B: burn::tensor::backend::AutodiffBackend, M>(
    model: &M,
    grads: &B::Gradients,
) -> Vec<f64>
where
    M: burn::module::AutodiffModule<B>,
{
    let got = burn_nested::check::param_gradients_or_zeros(model, grads);
    let expected = trainable_entries::<B, M>(model);
    assert!(expected > 0, "the model has no trainable parameter");
    assert_eq!(got.len(), expected, "every trainable parameter entry");
    got
}
