//! The bad-input matrix: every public transform given a wrong shape, a wrong rank
//! (where only a runtime check can catch it), zero lanes, a zero-size tensor, a NaN
//! or `chunk = 0`. Each must stop with a message that starts with `burn-nested:`
//! and names the transform — never a panic from inside Burn, never a silently
//! wrong result. NaN is the exception: it is a value, not an error, and propagates
//! (see `docs/reliability.md`). `tests/transforms.rs` holds the first few cases;
//! this file does not repeat them.

mod common;
#[path = "../scenarios/mod.rs"]
mod scenarios;

use std::panic::{AssertUnwindSafe, catch_unwind};

use burn::tensor::{IndexingUpdateOp, Int, Tensor, TensorData};
use burn_nested::{
    Mode, Pure, StatefulLayer, batched_jacobian, gradient, hvp, jacobian, jvp, jvp_lanes,
    lift::{constant, seed, tangent},
    param_gradient, param_jacobian, value_and_batched_jacobian, value_and_gradient,
    value_and_jacobian, value_and_jvp, value_and_vjp, vjp,
};
use common::{Df, F, TanhLinear, random_data, tensor, values};
use rand::{SeedableRng, rngs::StdRng};
use scenarios::{Mlp, SumOfSquares};

type Ad = burn_autodiff::Autodiff<F>;

/// The panic message of `f`, or `None` when it returns.
fn panic_message(f: impl FnOnce()) -> Option<String> {
    let payload = catch_unwind(AssertUnwindSafe(f)).err()?;
    Some(
        payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "<non-string panic>".into()),
    )
}

/// Asserts that `f` panics with a burn-nested message containing every `parts`.
fn rejects(f: impl FnOnce(), parts: &[&str]) {
    let msg = panic_message(f).expect("the call returned instead of rejecting its input");
    assert!(
        msg.starts_with("burn-nested:"),
        "not a burn-nested message: {msg}"
    );
    for p in parts {
        assert!(msg.contains(p), "message lacks {p:?}: {msg}");
    }
}

fn f() -> Pure<TanhLinear> {
    let mut rng = StdRng::seed_from_u64(9);
    Pure(TanhLinear(random_data(&mut rng, &[4, 2], -1.0, 1.0)))
}

fn x() -> Tensor<F, 2> {
    let mut rng = StdRng::seed_from_u64(10);
    tensor(&random_data(&mut rng, &[3, 4], -1.0, 1.0))
}

fn zeros<const D: usize>(shape: [usize; D]) -> Tensor<F, D> {
    Tensor::zeros(shape, &Default::default())
}

/// A call that must be refused.
type Call<'a> = Box<dyn Fn() + 'a>;

const FORWARD_AND_REVERSE: [Mode; 3] = [Mode::FORWARD, Mode::AutoReverse, Mode::Auto];

burn_nested::tensor_fn!(Total, |y: 2| -> 1 { (y.clone() * y).sum() });
burn_nested::tensor_fn!(BatchSum, |y: 2| -> 2 { y.sum_dim(0) });
burn_nested::tensor_fn!(NoColumns, |y: 2| -> 2 {
    Tensor::zeros([y.dims()[0], 0], &y.device())
});

fn total() -> burn_nested::layer::Then<Pure<TanhLinear>, Total, 2> {
    burn_nested::layer::Then {
        inner: f(),
        outer: Total,
    }
}

// ---- wrong shape -----------------------------------------------------------

#[test]
fn jvp_lanes_rejects_directions_of_the_wrong_shape() {
    rejects(
        || {
            let _: Tensor<F, 3> = jvp_lanes(&f(), x(), zeros([2, 3, 5]));
        },
        &[
            "`jvp_lanes`",
            "[lanes, ..input shape]",
            "[3, 4]",
            "[2, 3, 5]",
        ],
    );
}

#[test]
fn value_and_jvp_rejects_a_tangent_of_the_wrong_shape() {
    rejects(
        || {
            let _ = value_and_jvp(&f(), x(), zeros([4, 3]));
        },
        &["`jvp`", "tangent shaped like the input"],
    );
}

#[test]
fn vjp_rejects_a_wrong_cotangent_on_the_forward_path_too() {
    for mode in [Mode::FORWARD, Mode::forward_chunked(2)] {
        rejects(
            || {
                let _ = value_and_vjp(&f(), x(), zeros([3, 3]), mode);
            },
            &[
                "`vjp`",
                "cotangent shaped like the output",
                "[3, 2]",
                "[3, 3]",
            ],
        );
    }
}

#[test]
fn vjp_rejects_a_wrong_cotangent_inside_a_loss() {
    // Inside a loss: both the switched (forward) and naive (reverse) paths.
    for switching in [true, false] {
        rejects(
            || {
                let xa =
                    Tensor::<Ad, 2>::from_data(x().into_data(), &Default::default()).require_grad();
                let v = Tensor::<Ad, 2>::zeros([2, 2], &Default::default());
                let _ = burn_nested::settings::with_switching(switching, || {
                    vjp(&f(), xa.slice([0..1, 0..4]), v, Mode::Auto)
                });
            },
            &["`vjp`", "cotangent shaped like the output"],
        );
    }
}

#[test]
fn gradient_rejects_a_vector_output_in_every_mode() {
    for mode in [Mode::FORWARD, Mode::forward_chunked(3), Mode::AutoReverse] {
        rejects(
            || {
                let _ = value_and_gradient(&f(), x(), mode);
            },
            &["`gradient`", "scalar output", "[3, 2]"],
        );
    }
}

#[test]
fn hvp_rejects_a_direction_of_the_wrong_shape() {
    rejects(
        || {
            let _ = hvp(&total(), x(), zeros([3, 5]));
        },
        &["`hvp`", "direction shaped like the input", "[3, 5]"],
    );
}

#[test]
fn hvp_rejects_a_vector_output() {
    rejects(
        || {
            let _ = hvp(&f(), x(), zeros([3, 4]));
        },
        &["`hvp`", "scalar output", "[3, 2]"],
    );
}

#[test]
fn batched_jacobian_rejects_a_changed_batch_size_in_every_mode() {
    for mode in [Mode::FORWARD, Mode::AutoReverse] {
        rejects(
            || {
                let _ = value_and_batched_jacobian(&Pure(BatchSum), x(), mode);
            },
            &[
                "`batched_jacobian`",
                "output batch size",
                "input batch 3",
                "[1, 4]",
            ],
        );
    }
}

#[test]
fn param_gradient_rejects_a_head_with_a_vector_output() {
    let model = Mlp::<F>::new(&[4, 3, 2], false, &Default::default());
    let layer = StatefulLayer::new(model);
    rejects(
        || {
            let _ = param_gradient::<F, _, _, 2, 2, 2>(&layer, x(), scenarios::Square, Mode::Auto);
        },
        &["`param_gradient`", "scalar output"],
    );
}

/// An input the model cannot take fails inside the model, with the panic the model
/// gives on the plain backend: burn-nested cannot know what the user's function
/// expects. It must fail, not return something.
#[test]
fn param_jacobian_with_an_input_the_model_cannot_take_fails_as_the_model_does() {
    let model = Mlp::<F>::new(&[4, 3, 2], false, &Default::default());
    let plain = panic_message(|| {
        let _: Tensor<F, 2> = burn_nested::Forward::forward(&model, zeros([3, 5]));
    })
    .expect("the plain model rejects 5 features");
    let layer = StatefulLayer::new(model);
    for mode in FORWARD_AND_REVERSE {
        let msg = panic_message(|| {
            let _ = param_jacobian(&layer, zeros([3, 5]), mode);
        })
        .expect("a model given 5 features instead of 4 must not return");
        assert_eq!(msg, plain, "{mode:?}");
    }
}

// ---- wrong rank (only where the type system cannot see it) -------------------

#[test]
fn jvp_lanes_rejects_directions_of_the_wrong_rank() {
    rejects(
        || {
            let _: Tensor<F, 3> = jvp_lanes(&f(), x(), zeros([3, 4]));
        },
        &["`jvp_lanes`", "directions of rank 3", "got ranks 2 and 3"],
    );
    rejects(
        || {
            let _: Tensor<F, 2> = jvp_lanes(&f(), x(), zeros([1, 3, 4]));
        },
        &["`jvp_lanes`", "returns rank 3", "got ranks 3 and 2"],
    );
}

#[test]
fn tangent_rejects_a_rank_that_is_not_one_more() {
    rejects(
        || {
            let y = seed(zeros([2, 2]), zeros([1, 2, 2]));
            let _: Tensor<F, 2> = tangent(y, 1);
        },
        &["tangent of a rank-2 tensor has rank 3, not 2"],
    );
}

// ---- lanes -----------------------------------------------------------------

#[test]
fn jvp_lanes_rejects_zero_lanes() {
    rejects(
        || {
            let _: Tensor<F, 3> = jvp_lanes(&f(), x(), zeros([0, 3, 4]));
        },
        &["`jvp_lanes`", "at least one lane"],
    );
}

/// Mismatched lanes can only arise where tensors seeded separately meet inside the
/// function: the op that joins them names itself (more cases in `float_ops.rs`).
#[test]
fn tensors_seeded_with_different_lanes_meet_in_a_named_op() {
    rejects(
        || {
            let a = seed(zeros([2, 2]), zeros([2, 2, 2]));
            let b = seed(zeros([2, 2]), zeros([3, 2, 2]));
            let _ = (a.exp() / b).sum();
        },
        &["`float_div` got tangents with 2 and 3 lanes"],
    );
}

// ---- zero-size tensors -----------------------------------------------------

#[test]
fn every_transform_rejects_an_input_with_no_entries() {
    let empty = || zeros::<2>([0, 4]);
    let no_features = || zeros::<2>([3, 0]);
    let model = Mlp::<F>::new(&[4, 3, 2], false, &Default::default());
    let layer = StatefulLayer::new(model);
    let cases: Vec<(&str, Call)> = vec![
        ("jvp", Box::new(|| drop(jvp(&f(), empty(), empty())))),
        (
            "jvp_lanes",
            Box::new(|| {
                let _: Tensor<F, 3> = jvp_lanes(&f(), empty(), zeros([1, 0, 4]));
            }),
        ),
        (
            "vjp",
            Box::new(|| drop(vjp(&f(), empty(), zeros([0, 2]), Mode::AutoReverse))),
        ),
        (
            "gradient",
            Box::new(|| drop(gradient(&total(), empty(), Mode::FORWARD))),
        ),
        ("hvp", Box::new(|| drop(hvp(&total(), empty(), empty())))),
        (
            "batched_jacobian",
            Box::new(|| drop(batched_jacobian(&f(), no_features(), Mode::FORWARD))),
        ),
        (
            "param_jacobian",
            Box::new(|| drop(param_jacobian(&layer, zeros([0, 4]), Mode::FORWARD))),
        ),
    ];
    for (name, call) in &cases {
        rejects(call, &[&format!("`{name}`"), "no entries"]);
    }
    for mode in FORWARD_AND_REVERSE {
        rejects(
            || drop(value_and_jacobian(&f(), empty(), mode)),
            &["`jacobian`", "input with no entries", "[0, 4]"],
        );
        rejects(
            || drop(value_and_batched_jacobian(&f(), no_features(), mode)),
            &["`batched_jacobian`", "input with no entries", "[3, 0]"],
        );
    }
}

#[test]
fn jacobians_reject_an_output_with_no_entries() {
    // Every path names the transform, the forward passes included.
    for mode in FORWARD_AND_REVERSE {
        rejects(
            || drop(jacobian(&Pure(NoColumns), x(), mode)),
            &["`jacobian`", "output with no entries", "[3, 0]"],
        );
        rejects(
            || drop(batched_jacobian(&Pure(NoColumns), x(), mode)),
            &["`batched_jacobian`", "output with no entries", "[3, 0]"],
        );
    }
    rejects(
        || drop(jvp(&Pure(NoColumns), x(), x())),
        &["`jvp`", "output with no entries", "[3, 0]"],
    );
}

// ---- chunk = 0 -------------------------------------------------------------

#[test]
fn every_transform_with_a_mode_rejects_a_zero_chunk() {
    let zero = Mode::forward_chunked(0);
    let model = Mlp::<F>::new(&[4, 3, 2], false, &Default::default());
    let layer = StatefulLayer::new(model);
    let cases: Vec<Call> = vec![
        Box::new(|| drop(value_and_jacobian(&f(), x(), zero))),
        Box::new(|| drop(batched_jacobian(&f(), x(), zero))),
        Box::new(|| drop(vjp(&f(), x(), zeros([3, 2]), zero))),
        Box::new(|| drop(gradient(&total(), x(), zero))),
        Box::new(|| drop(param_jacobian(&layer, x(), zero))),
        Box::new(|| {
            drop(param_gradient::<F, _, _, 2, 2, 1>(
                &layer,
                x(),
                SumOfSquares,
                zero,
            ))
        }),
    ];
    for call in &cases {
        rejects(
            call,
            &["`Mode::AutoForward { chunk: Some(0) }`", "zero lanes"],
        );
    }
}

// ---- NaN -------------------------------------------------------------------

/// `x` with a NaN at row 0, column 1.
fn x_with_nan() -> Tensor<F, 2> {
    let mut v = values(x());
    v[1] = f64::NAN;
    Tensor::from_data(TensorData::new(v, [3, 4]), &Default::default())
}

/// A NaN input is a value, not an error: every derivative that depends on it is
/// NaN, every finite entry is exact, and the block that does not touch the NaN's
/// row is finite. Entries that are exactly zero next to the NaN may turn NaN too,
/// through `0 · NaN = NaN`, and which depends on the path: forward lanes make the
/// affected outputs' rows NaN, a reverse pass the affected input row's columns.
#[test]
fn a_nan_input_propagates_and_never_hides() {
    let clean = values(jacobian(&f(), x(), Mode::FORWARD));
    for mode in FORWARD_AND_REVERSE {
        let j = values(jacobian(&f(), x_with_nan(), mode));
        // Outputs 0 and 1 and inputs 0..4 belong to row 0, which holds the NaN.
        for out in 0..6 {
            for i in 0..12 {
                let (got, expected) = (j[out * 12 + i], clean[out * 12 + i]);
                if out < 2 && i == 1 {
                    assert!(got.is_nan(), "{mode:?}: J[{out}, {i}] = {got}");
                } else if out >= 2 && i >= 4 {
                    assert!(
                        (got - expected).abs() < 1e-12,
                        "{mode:?}: J[{out}, {i}] = {got}"
                    );
                } else {
                    assert!(
                        got.is_nan() || got == expected,
                        "{mode:?}: J[{out}, {i}] = {got}"
                    );
                }
            }
        }
    }
    let g = values(gradient(&total(), x_with_nan(), Mode::AutoReverse));
    assert!(g[..4].iter().all(|v| v.is_nan()), "gradient row 0: {g:?}");
    assert!(
        g[4..].iter().all(|v| v.is_finite()),
        "gradient rows 1..3: {g:?}"
    );
    let u = x() * 0.0 + 1.0;
    let ju = values(jvp(&f(), x_with_nan(), u.clone()));
    assert!(ju[..2].iter().all(|v| v.is_nan()) && ju[2..].iter().all(|v| v.is_finite()));
    let hv = values(hvp(&total(), x_with_nan(), u));
    assert!(hv[..4].iter().all(|v| v.is_nan()) && hv[4..].iter().all(|v| v.is_finite()));
}

/// Inside a loss, the NaN reaches the loss and its gradients; Burn's backward does
/// not panic on it.
#[test]
fn a_nan_input_inside_a_loss_propagates_to_the_gradient() {
    // Switching off sends `AutoReverse` down the nested backward.
    for (mode, switching) in [
        (Mode::FORWARD, true),
        (Mode::Auto, true),
        (Mode::AutoReverse, false),
    ] {
        let xa = Tensor::<Ad, 2>::from_data(x_with_nan().into_data(), &Default::default())
            .require_grad();
        let j =
            burn_nested::settings::with_switching(switching, || jacobian(&f(), xa.clone(), mode));
        let loss = (j.clone() * j).sum();
        assert!(values(loss.clone())[0].is_nan(), "{mode:?}");
        let g = values(xa.grad(&loss.backward()).expect("a gradient"));
        assert!(g[1].is_nan(), "{mode:?}: {g:?}");
    }
}

// ---- ops without a JVP rule ----------------------------------------------------

fn seeded<const D: usize, const DL: usize>(x: Tensor<F, D>) -> Tensor<Df, D> {
    let mut dims = vec![1];
    dims.extend(x.dims());
    seed(x, Tensor::<F, DL>::ones(dims, &Default::default()))
}

#[test]
fn scatter_nd_min_and_max_with_a_tangent_panic_naming_the_op() {
    for op in [IndexingUpdateOp::Min, IndexingUpdateOp::Max] {
        for tangent_on_values in [false, true] {
            rejects(
                || {
                    let device = Default::default();
                    let data = Tensor::<F, 2>::ones([2, 2], &device);
                    let v = Tensor::<F, 2>::ones([1, 2], &device) * 3.0;
                    let (data, v) = if tangent_on_values {
                        (constant(data), seeded::<2, 3>(v))
                    } else {
                        (seeded::<2, 3>(data), constant(v))
                    };
                    let idx = Tensor::<Df, 2, Int>::from_data(
                        TensorData::new(vec![1i64], [1, 1]),
                        &device,
                    );
                    let _ = data.scatter_nd::<2, 2>(idx, v, op);
                },
                &["`float_scatter_nd with a Mul, Min or Max reduction` has no forward-mode"],
            );
        }
    }
}

burn_nested::tensor_fn!(BicubicSample, |x: 4| -> 4 {
    use burn::tensor::ops::{GridSampleOptions, InterpolateMode};
    let grid = Tensor::zeros([1, 1, 1, 2], &x.device());
    x.grid_sample_2d(grid, GridSampleOptions::new(InterpolateMode::Bicubic))
});

burn_nested::tensor_fn!(NearestSample, |x: 4| -> 4 {
    use burn::tensor::ops::{GridSampleOptions, InterpolateMode};
    let grid = Tensor::zeros([1, 1, 1, 2], &x.device());
    x.grid_sample_2d(grid, GridSampleOptions::new(InterpolateMode::Nearest))
});

/// Through a transform, as a user meets them: forward mode refuses naming the op.
#[test]
fn grid_sample_nearest_and_bicubic_in_forward_mode_panic_naming_the_op() {
    let x = || Tensor::<F, 4>::ones([1, 1, 2, 2], &Default::default());
    let expected = ["`float_grid_sample_2d with nearest or bicubic interpolation`"];
    rejects(
        || drop(jacobian(&Pure(BicubicSample), x(), Mode::FORWARD)),
        &expected,
    );
    rejects(|| drop(jvp(&Pure(NearestSample), x(), x())), &expected);
}
