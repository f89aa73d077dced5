//! The row guard of the per-row transforms: never a silently wrong per-row
//! result for a function whose rows couple, on any call, path, mode, order of
//! derivative or tuning state.
//!
//! Each function comes in two forms that compute the same values: one whose
//! batch mixing the audit sees (`mean_dim(0)`: refused structurally), and one
//! that hides it behind a reshape moving the batch off dim 0 (`flat`: the audit
//! cannot follow it, so the numerical check must find the coupling). The
//! per-row part is `g(x_b) = Σⱼ xⱼ sin xⱼ`, whose derivatives are known in
//! closed form.

mod common;

use burn::module::{AutodiffModule, Module, Param};
use burn::nn::Linear;
use burn::optim::{AdamConfig, GradientsParams, Optimizer};
use burn::tensor::{Tensor, TensorData, backend::Backend};
use burn_nested::{
    Forward, Mode, NestedFn, Probe, Pure, StatefulLayer, Stochastic, batched_hessian,
    batched_jacobian, diag_hessian, jacobian, laplacian, second_order_operator,
    settings::{clear_tuning, path_counts, reset_path_counts, with_row_check, with_tuning},
    stochastic_laplacian, tensor_fn,
};
use common::{Ad, F, assert_close, random_data, tensor, values};
use rand::{SeedableRng, rngs::StdRng};

/// The per-row part, `[batch, d] -> [batch, 1]`.
fn rowwise<B: Backend>(x: Tensor<B, 2>) -> Tensor<B, 2> {
    (x.clone().sin() * x).sum_dim(1)
}

/// The batch mean of `t` (`[batch, k] -> [1, k]`), seen by the audit or (`flat`)
/// hidden behind a reshape that moves the batch off dim 0.
fn batch_mean<B: Backend>(t: Tensor<B, 2>, flat: bool) -> Tensor<B, 2> {
    let [batch, k] = t.dims();
    if flat {
        t.reshape([1, batch, k]).mean_dim(1).reshape([1, k])
    } else {
        t.mean_dim(0)
    }
}

// Way 1: `g(x_b) + ‖mean_b x‖²`. At a batch with zero mean the coupling's first
// derivatives vanish; its second derivatives (2/N² between any two rows) do not.
tensor_fn!(MeanSquare { pub flat: bool }, |this, x: 2| -> 2 {
    let batch = x.dims()[0];
    let mean = batch_mean(x.clone(), this.flat);
    rowwise(x) + (mean.clone() * mean).sum_dim(1).expand([batch, 1])
});

// Way 2: outputs centred over the batch, `u_b = g(x_b) − mean_b g`: their plain
// sum is zero, whatever x.
tensor_fn!(Centred { pub flat: bool }, |this, x: 2| -> 2 {
    let batch = x.dims()[0];
    let g = rowwise(x);
    g.clone() - batch_mean(g, this.flat).expand([batch, 1])
});

// Way 4: a data-carrying function whose coupling appears only when its data says
// so (same type, same structure key, different data).
tensor_fn!(MixLater { pub mix: f64, pub flat: bool }, |this, x: 2| -> 2 {
    let batch = x.dims()[0];
    let g = rowwise(x);
    if this.mix == 0.0 {
        g
    } else {
        g.clone() - batch_mean(g, this.flat).expand([batch, 1]) * this.mix
    }
});

// The per-row function itself, and the same through a flattening reshape (rows
// independent, but the audit cannot follow them: the numerical check runs and
// must pass).
tensor_fn!(Rowwise, |x: 2| -> 2 { rowwise(x) });
tensor_fn!(FlatRowwise, |x: 2| -> 2 {
    let [batch, d] = x.dims();
    let flat = x.reshape([batch * d]);
    (flat.clone().sin() * flat).reshape([batch, d]).sum_dim(1)
});

const ROWS: usize = 4;
const D: usize = 3;

/// A batch `[ROWS, D]` whose column means are zero (way 1's blind spot for
/// first-order checks).
fn centred_batch() -> TensorData {
    let x = random_data(&mut StdRng::seed_from_u64(5), &[ROWS, D], -1.0, 1.0);
    let v = x.to_vec::<f64>().unwrap();
    let mut out = v.clone();
    for j in 0..D {
        let mean = (0..ROWS).map(|b| v[b * D + j]).sum::<f64>() / ROWS as f64;
        for b in 0..ROWS {
            out[b * D + j] -= mean;
        }
    }
    TensorData::new(out, [ROWS, D])
}

/// `∂²/∂x² (x sin x) = 2 cos x − x sin x`, entry by entry.
fn curvature(x: &TensorData) -> Vec<f64> {
    let v = x.to_vec::<f64>().unwrap();
    v.iter().map(|x| 2.0 * x.cos() - x * x.sin()).collect()
}

/// Every per-row transform whose result is second order.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Second {
    LaplacianForward,
    LaplacianReverse,
    LaplacianAuto,
    DiagHessian,
    Operator,
    Estimator,
    BatchedHessian,
}

const SECOND: [Second; 7] = [
    Second::LaplacianForward,
    Second::LaplacianReverse,
    Second::LaplacianAuto,
    Second::DiagHessian,
    Second::Operator,
    Second::Estimator,
    Second::BatchedHessian,
];

/// `kind` of `f` at `x`, flattened.
fn second<B: Backend, G: NestedFn<B, 2, 2>>(kind: Second, f: &G, x: Tensor<B, 2>) -> Tensor<B, 1> {
    let device = x.device();
    match kind {
        Second::LaplacianForward => laplacian(f, x, Mode::FORWARD),
        Second::LaplacianReverse => laplacian(f, x, Mode::AutoReverse),
        Second::LaplacianAuto => laplacian(f, x, Mode::Auto),
        Second::DiagHessian => diag_hessian(f, x).reshape([ROWS * D]),
        Second::Operator => {
            let a = TensorData::new(vec![2.0, 0.5, 0.0, 0.5, 1.0, 0.0, 0.0, 0.0, 1.0], [D, D]);
            second_order_operator(
                f,
                x,
                Tensor::from_data(a.convert::<B::FloatElem>(), &device),
            )
        }
        Second::Estimator => {
            let estimator = Stochastic {
                probes: 4,
                probe: Probe::Rademacher,
                seed: 3,
            };
            stochastic_laplacian(f, x, estimator)
        }
        Second::BatchedHessian => batched_hessian(f, x).reshape([ROWS * D * D]),
    }
}

/// The panic message of `call`, which must panic.
fn panic_of<R>(what: &str, call: impl FnOnce() -> R) -> String {
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(call));
    let Err(message) = result else {
        panic!("{what}: a coupled function was not refused");
    };
    message
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| message.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

/// Asserts `call` is refused as a row coupling.
fn refused<R>(what: &str, call: impl FnOnce() -> R) {
    let text = panic_of(what, call);
    assert!(
        text.contains("rows of its input are not independent"),
        "{what}: refused for another reason: {text}"
    );
}

/// `kind` of `f` at `x` outside a loss and inside one (with its backward pass).
fn refused_everywhere<G>(what: &str, kind: Second, f: &G, x: &TensorData)
where
    G: NestedFn<F, 2, 2> + NestedFn<Ad, 2, 2>,
{
    for tuning in [false, true] {
        clear_tuning();
        with_tuning(tuning, || {
            refused(&format!("{what} {kind:?} outside, tuning {tuning}"), || {
                second::<F, G>(kind, f, tensor(x))
            });
            refused(
                &format!("{what} {kind:?} in a loss, tuning {tuning}"),
                || {
                    let xa = tensor::<Ad, 2>(x).require_grad();
                    second::<Ad, G>(kind, f, xa).sum().backward()
                },
            );
        });
    }
}

/// Way 1: coupling that only second derivatives see is refused by every
/// second-order transform, on the forward and the reverse paths, whether the
/// audit sees it or only the numerical check can.
#[test]
fn second_order_coupling_is_refused_on_every_path() {
    let x = centred_batch();
    for flat in [false, true] {
        for kind in SECOND {
            refused_everywhere(
                &format!("flat {flat}"),
                kind,
                &Pure(MeanSquare { flat }),
                &x,
            );
        }
    }
}

/// Way 1, first order: where the coupling's first derivatives vanish the
/// per-row Jacobians are right, and the numerical check lets them through: they
/// equal the diagonal blocks of the full Jacobian.
#[test]
fn a_coupling_invisible_at_first_order_gives_the_right_jacobian() {
    let x = centred_batch();
    reset_path_counts();
    let per_row = values(batched_jacobian(
        &Pure(MeanSquare { flat: true }),
        tensor::<F, 2>(&x),
        Mode::FORWARD,
    ));
    assert_eq!(path_counts().row_checks, 1, "the numerical check ran");
    // The full Jacobian [ROWS, ROWS·D]: row b's block is columns b·D..(b+1)·D.
    let full = values(jacobian(
        &Pure(MeanSquare { flat: true }),
        tensor::<F, 2>(&x),
        Mode::FORWARD,
    ));
    let blocks: Vec<f64> = (0..ROWS)
        .flat_map(|b| (0..D).map(move |j| (b, j)))
        .map(|(b, j)| full[b * ROWS * D + b * D + j])
        .collect();
    assert_eq!(blocks.len(), ROWS * D);
    assert_close("per-row Jacobian", &per_row, &blocks, 1e-12);
}

/// Way 2: outputs centred over the batch are refused by the reverse paths
/// (whose old check only saw the Hessian of their zero sum), the forward paths
/// and `batched_jacobian` on both its paths.
#[test]
fn centred_outputs_are_refused() {
    let x = tensor_data();
    for flat in [false, true] {
        let f = Pure(Centred { flat });
        for kind in [
            Second::LaplacianReverse,
            Second::BatchedHessian,
            Second::LaplacianForward,
        ] {
            refused_everywhere(&format!("flat {flat}"), kind, &f, &x);
        }
        for mode in [Mode::FORWARD, Mode::AutoReverse] {
            refused(&format!("flat {flat} batched_jacobian {mode:?}"), || {
                batched_jacobian::<F, _, 2, 2>(&f, tensor(&x), mode)
            });
            refused(
                &format!("flat {flat} batched_jacobian {mode:?} in a loss"),
                || {
                    let xa = tensor::<Ad, 2>(&x).require_grad();
                    batched_jacobian::<Ad, _, 2, 2>(&f, xa, mode)
                        .sum()
                        .backward()
                },
            );
        }
    }
}

fn tensor_data() -> TensorData {
    random_data(&mut StdRng::seed_from_u64(8), &[ROWS, D], -1.0, 1.0)
}

/// Way 3: with measured switching on, the trials of a coupled function never
/// bless it: every call of a run, trial or decision, forward or reverse, is
/// refused.
#[test]
fn tuning_never_blesses_a_coupled_function() {
    let x = tensor_data();
    for flat in [false, true] {
        clear_tuning();
        reset_path_counts();
        let f = Pure(Centred { flat });
        with_tuning(true, || {
            for call in 0..12 {
                refused(&format!("flat {flat} laplacian call {call}"), || {
                    let xa = tensor::<Ad, 2>(&x).require_grad();
                    laplacian(&f, xa, Mode::Auto).sum().backward()
                });
                refused(&format!("flat {flat} batched_jacobian call {call}"), || {
                    let xa = tensor::<Ad, 2>(&x).require_grad();
                    batched_jacobian::<Ad, _, 2, 2>(&f, xa, Mode::Auto)
                        .sum()
                        .backward()
                });
            }
        });
        assert!(
            path_counts().tuning > 0,
            "tuning trials ran: {:?}",
            path_counts()
        );
    }
    clear_tuning();
}

/// Way 4: a coupling that appears after the first calls, in a data-carrying
/// function whose type (and structure key) stays the same, is refused on the
/// call it appears, and the calls before and after are right.
#[test]
fn coupling_that_appears_later_is_refused_on_that_call() {
    let x = tensor_data();
    let expected = curvature(&x);
    let laplacian_expected: Vec<f64> = expected.chunks(D).map(|row| row.iter().sum()).collect();
    for flat in [false, true] {
        for tuning in [false, true] {
            clear_tuning();
            with_tuning(tuning, || {
                for (call, mix) in [0.0, 0.0, 0.5, 0.0, 1.0].into_iter().enumerate() {
                    let f = Pure(MixLater { mix, flat });
                    for mode in [Mode::FORWARD, Mode::AutoReverse, Mode::Auto] {
                        let what = format!("flat {flat} tuning {tuning} call {call} {mode:?}");
                        let run = || {
                            let xa = tensor::<Ad, 2>(&x).require_grad();
                            values(laplacian(&f, xa, mode))
                        };
                        if mix == 0.0 {
                            assert_close(&what, &run(), &laplacian_expected, 1e-12);
                        } else {
                            refused(&what, run);
                            refused(&format!("{what} batched_jacobian"), || {
                                batched_jacobian::<F, _, 2, 2>(&f, tensor(&x), mode)
                            });
                        }
                    }
                }
            });
        }
    }
    clear_tuning();
}

/// A PINN-like model whose output has a batch-mixing term behind a gate that
/// starts at zero (ReZero-style).
#[derive(Module, Debug)]
struct Gated<B: Backend> {
    first: Linear<B>,
    last: Linear<B>,
    gate: Param<Tensor<B, 1>>,
    #[module(skip)]
    flat: bool,
}

impl<B: Backend> Gated<B> {
    /// Weights from fixed data: Burn's lazy initializers would draw them afresh
    /// in every clone.
    fn new(flat: bool, device: &B::Device) -> Self {
        let mut rng = StdRng::seed_from_u64(13);
        let mut param = |shape: &[usize]| {
            let data = random_data(&mut rng, shape, -0.8, 0.8).convert::<B::FloatElem>();
            Tensor::<B, 2>::from_data(data, device)
        };
        let linear = |weight: Tensor<B, 2>, bias: Tensor<B, 2>| Linear {
            weight: Param::from_tensor(weight),
            bias: Some(Param::from_tensor(bias.flatten(0, 1))),
        };
        let first = linear(param(&[D, 8]), param(&[1, 8]));
        let last = linear(param(&[8, 1]), param(&[1, 1]));
        Self {
            first,
            last,
            gate: Param::from_tensor(Tensor::zeros([1], device)),
            flat,
        }
    }
}

impl<B: Backend> Forward<B, 2, 2> for Gated<B> {
    fn forward(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        let h = self.first.forward(x).tanh();
        let [batch, _] = h.dims();
        let u = self.last.forward(h.clone());
        let mean = batch_mean(h, self.flat);
        let mixing = (mean.clone() * mean).sum_dim(1) * self.gate.val().reshape([1, 1]);
        u + mixing.expand([batch, 1])
    }
}

/// Way 5: the gated model trained with Adam on a Laplacian loss. The audit
/// refuses it on the first step, while the coupling is still zero; where only
/// the numerical check can see the coupling, the step after the gate first
/// moves is refused, and every Laplacian returned before it is the per-row one.
#[test]
fn a_gated_coupling_trained_with_adam_is_refused_once_it_moves() {
    let x = tensor_data();
    for flat in [false, true] {
        let device = Default::default();
        Ad::seed(&device, 11);
        let mut model = Gated::<Ad>::new(flat, &device);
        let mut optim = AdamConfig::new().init();
        let mut steps = 0;
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            for _ in 0..5 {
                // The per-row Laplacian of the same model without its mixing term
                // (which the gate multiplies).
                let reference = with_row_check(false, || {
                    let mut plain = model.clone().valid();
                    plain.gate = Param::from_tensor(Tensor::zeros([1], &Default::default()));
                    let layer = StatefulLayer::from_ref(&plain);
                    values(laplacian(&layer, tensor(&x), Mode::FORWARD))
                });
                let gate = values(model.gate.val())[0];
                let layer = StatefulLayer::from_ref(&model);
                let xa = tensor::<Ad, 2>(&x).require_grad();
                let lap = laplacian(&layer, xa, Mode::Auto);
                if gate == 0.0 {
                    assert_close(
                        "Laplacian while the gate is zero",
                        &values(lap.clone()),
                        &reference,
                        1e-12,
                    );
                }
                let loss = ((lap + 1.0).powi_scalar(2)).mean();
                let grads = GradientsParams::from_grads(loss.backward(), &model);
                // Five parameters; the last bias shifts u by a constant, which no
                // Laplacian sees.
                assert_eq!(grads.len(), 4, "the parameters the loss reaches");
                model = optim.step(1e-2, model.clone(), grads);
                steps += 1;
            }
        }));
        let message = outcome.expect_err("the coupling must be refused");
        let text = message
            .downcast_ref::<String>()
            .cloned()
            .unwrap_or_default();
        assert!(text.contains("not independent"), "flat {flat}: {text}");
        // The audit refuses at once; the numerical check once the gate has moved.
        let allowed = if flat { 1 } else { 0 };
        assert_eq!(
            steps, allowed,
            "flat {flat}: steps taken before the refusal"
        );
    }
}

/// Functions whose rows are independent: the audit proves them on every call
/// with no numerical check, one it cannot follow is checked numerically on
/// every call and passes, and both give the closed-form derivatives on every
/// transform, inside a loss too.
#[test]
fn independent_rows_are_proved_or_checked_and_right() {
    let x = tensor_data();
    let curv = curvature(&x);
    let expected = |kind: Second| -> Vec<f64> {
        match kind {
            Second::DiagHessian => curv.clone(),
            Second::BatchedHessian => (0..ROWS * D * D)
                .map(|i| {
                    let (b, r) = (i / (D * D), i % (D * D));
                    if r / D == r % D {
                        curv[b * D + r / D]
                    } else {
                        0.0
                    }
                })
                .collect(),
            Second::Operator => curv.chunks(D).map(|c| 2.0 * c[0] + c[1] + c[2]).collect(),
            Second::Estimator => {
                // Rademacher probes: vᵀ diag(c) v = Σ c exactly.
                curv.chunks(D).map(|c| c.iter().sum()).collect()
            }
            _ => curv.chunks(D).map(|c| c.iter().sum()).collect(),
        }
    };
    for kind in SECOND {
        for (name, flat) in [("audited", false), ("checked", true)] {
            let run = |inside: bool| {
                reset_path_counts();
                let out = if flat {
                    run_second(kind, &Pure(FlatRowwise), &x, inside)
                } else {
                    run_second(kind, &Pure(Rowwise), &x, inside)
                };
                (out, path_counts())
            };
            for inside in [false, true] {
                let (out, counts) = run(inside);
                let what = format!("{name} {kind:?} inside {inside}");
                assert_close(&what, &out, &expected(kind), 1e-12);
                if flat {
                    assert_eq!(
                        (counts.rows_proved, counts.row_checks),
                        (0, 1),
                        "{what}: {counts:?}"
                    );
                } else {
                    assert_eq!(
                        (counts.rows_proved, counts.row_checks),
                        (1, 0),
                        "{what}: {counts:?}"
                    );
                }
            }
        }
    }
}

/// `kind` of `f` at `x`, outside a loss or inside one.
fn run_second<G>(kind: Second, f: &G, x: &TensorData, inside: bool) -> Vec<f64>
where
    G: NestedFn<F, 2, 2> + NestedFn<Ad, 2, 2>,
{
    if inside {
        values(second::<Ad, G>(kind, f, tensor::<Ad, 2>(x).require_grad()))
    } else {
        values(second::<F, G>(kind, f, tensor(x)))
    }
}

/// The forward paths on wgpu (f32): both ways refused.
#[cfg(feature = "wgpu")]
#[test]
fn the_forward_guard_holds_on_wgpu() {
    type W = burn_wgpu::Wgpu;
    let x = centred_batch();
    let device = Default::default();
    let on_wgpu = |x: &TensorData| Tensor::<W, 2>::from_data(x.clone().convert::<f32>(), &device);
    for flat in [false, true] {
        for kind in [Second::LaplacianForward, Second::DiagHessian] {
            refused(&format!("wgpu flat {flat} {kind:?}"), || {
                second::<W, _>(kind, &Pure(MeanSquare { flat }), on_wgpu(&x))
            });
        }
        refused(
            &format!("wgpu flat {flat} centred batched_jacobian"),
            || batched_jacobian::<W, _, 2, 2>(&Pure(Centred { flat }), on_wgpu(&x), Mode::FORWARD),
        );
    }
}
