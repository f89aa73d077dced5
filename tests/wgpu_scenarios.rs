//! Every scenario of docs/scenarios.md on wgpu in f32, switched and naive, against the
//! same step in f64 on ndarray with the same weights and data (which
//! `tests/scenarios.rs` checks against finite differences).
#![cfg(feature = "wgpu")]

mod common;
#[path = "../scenarios/mod.rs"]
mod scenarios;
#[path = "wgpu_scenarios/transforms.rs"]
mod transforms;
#[path = "wgpu_scenarios/views.rs"]
mod views;

use burn::tensor::{Int, Tensor, TensorData, backend::Backend};
use burn_nested::params::{flatten_params, unflatten_params};
use burn_nested::{Mode, Pure, gradient, laplacian, settings::with_switching};
use burn_wgpu::Wgpu;
use common::{F, F32_SCENARIO_TOL, random_data, values};
use rand::{Rng, SeedableRng, rngs::StdRng};
use scenarios::{Hutchinson, Mlp, sizes};

type Ad = burn_autodiff::Autodiff<F>;
type Wad = burn_autodiff::Autodiff<Wgpu>;
/// wgpu without burn-fusion: CubeCL's backend as it is, every op its own kernel
/// (the examples' `--device wgpu-unfused`).
type WgpuUnfused = burn_wgpu::CubeBackend<burn_wgpu::WgpuRuntime, f32, i32, u32>;

/// Loss value, input gradient and flat parameter gradient of one step.
struct Step {
    value: f64,
    input: Vec<f64>,
    params: Vec<f64>,
}

fn step<B: burn::tensor::backend::AutodiffBackend>(
    model: &Mlp<B>,
    x: &TensorData,
    loss: &impl Fn(&Mlp<B>, Tensor<B, 2>) -> Tensor<B, 1>,
) -> Step {
    let xa = Tensor::<B, 2>::from_data(x.clone(), &Default::default()).require_grad();
    let l = loss(model, xa.clone());
    let value = values(l.clone())[0];
    let grads = l.backward();
    let input = values(xa.grad(&grads).expect("an input gradient"));
    Step {
        value,
        input,
        params: common::param_gradients_counted(model, &grads),
    }
}

/// `a` (wgpu, f32) within `F32_SCENARIO_TOL` of `b` (ndarray, f64).
fn assert_close(name: &str, what: &str, a: &[f64], b: &[f64]) {
    common::assert_close(
        &format!("{name}: {what} on wgpu vs f64"),
        a,
        b,
        F32_SCENARIO_TOL,
    );
}

/// Runs `loss` on both backends with the f64 model's weights, switched and naive on
/// wgpu, and compares each wgpu step with the f64 one.
fn check_scenario(
    name: &str,
    sizes: &[usize],
    batch_norm: bool,
    x: &TensorData,
    loss_f64: impl Fn(&Mlp<Ad>, Tensor<Ad, 2>) -> Tensor<Ad, 1>,
    loss_wgpu: impl Fn(&Mlp<Wad>, Tensor<Wad, 2>) -> Tensor<Wad, 1>,
) {
    Ad::seed(&Default::default(), 0);
    let reference_model = Mlp::<Ad>::new(sizes, batch_norm, &Default::default());
    let weights = values(flatten_params(&reference_model));
    let reference = step(&reference_model, x, &loss_f64);

    // `weights` is not on a tape, so each copied parameter is a trainable leaf.
    let device = Default::default();
    let wgpu_model = unflatten_params(
        Mlp::<Wad>::new(sizes, batch_norm, &device),
        Tensor::from_data(TensorData::new(weights.clone(), [weights.len()]), &device),
    );
    for switching in [true, false] {
        let got = with_switching(switching, || step(&wgpu_model, x, &loss_wgpu));
        let name = format!("{name} (switching {switching})");
        assert_close(&name, "value", &[got.value], &[reference.value]);
        assert_close(&name, "input gradient", &got.input, &reference.input);
        assert_close(&name, "parameter gradient", &got.params, &reference.params);
    }
}

fn data(shape: [usize; 2], seed: u64, lo: f64) -> TensorData {
    random_data(&mut StdRng::seed_from_u64(seed), &shape, lo, 1.0)
}

fn on<B: Backend>(data: &TensorData) -> Tensor<B, 2> {
    Tensor::from_data(data.clone(), &Default::default())
}

/// The nested term of the two regression scenarios on its own, `Σ J²`: in the
/// scenario's loss it is weighted 1e-4 (`‖0.01·J‖²`) beside the data term, so a wrong
/// inner Jacobian on wgpu would move the whole loss's gradient by about 1e-4 of
/// its size and pass [`F32_SCENARIO_TOL`]. (Checked once by scaling the wgpu
/// Jacobian by 1.01: the whole-loss comparison passed, this one failed.) The data
/// term is a plain forward pass, and the whole loss is checked in f64 by
/// `tests/scenarios.rs`.
fn jacobian_penalty<B: Backend>(m: &Mlp<B>, x: Tensor<B, 2>, per_row: bool) -> Tensor<B, 1> {
    let layer = burn_nested::StatefulLayer::from_ref(m);
    match per_row {
        false => {
            let j = burn_nested::jacobian(&layer, x, Mode::Auto);
            (j.clone() * j).sum()
        }
        true => {
            let j = burn_nested::batched_jacobian(&layer, x, Mode::Auto);
            (j.clone() * j).sum()
        }
    }
}

#[test]
fn jacobian_regularization_with_batch_norm() {
    let x = data([10, 2], 0, -1.0);
    check_scenario(
        "jacobian_regularization (Σ J²)",
        sizes::JACOBIAN_REGULARIZATION,
        true,
        &x,
        |m, x| jacobian_penalty(m, x, false),
        |m, x| jacobian_penalty(m, x, false),
    );
}

#[test]
fn batched_jacobian() {
    let x = data([10, 2], 0, -1.0);
    check_scenario(
        "batched_jacobian (Σ J²)",
        sizes::BATCHED_JACOBIAN,
        false,
        &x,
        |m, x| jacobian_penalty(m, x, true),
        |m, x| jacobian_penalty(m, x, true),
    );
}

#[test]
fn pinn_gradient_full_and_rowwise() {
    let t = data([16, 1], 0, 0.0);
    check_scenario(
        "pinn_gradient",
        sizes::PINN,
        false,
        &t,
        |m, t| scenarios::pinn_gradient(m, t, Mode::Auto),
        |m, t| scenarios::pinn_gradient(m, t, Mode::Auto),
    );
    check_scenario(
        "pinn_gradient (rows)",
        sizes::PINN,
        false,
        &t,
        |m, t| scenarios::pinn_gradient_rowwise(m, t, Mode::Auto),
        |m, t| scenarios::pinn_gradient_rowwise(m, t, Mode::Auto),
    );
}

#[test]
fn parameter_jacobian() {
    let x = data([16, 1], 0, 0.0);
    check_scenario(
        "parameter_jacobian",
        sizes::PINN,
        false,
        &x,
        |m, x| scenarios::parameter_jacobian(m, x, Mode::Auto),
        |m, x| scenarios::parameter_jacobian(m, x, Mode::Auto),
    );
}

#[test]
fn hutchinson_trace_three_ways() {
    let x = data([12, 4], 0, 0.0);
    let mut rng = StdRng::seed_from_u64(12);
    let signs: Vec<f64> = (0..48)
        .map(|_| if rng.random_bool(0.5) { 1.0 } else { -1.0 })
        .collect();
    let v = TensorData::new(signs, [12, 4]);
    for how in [Hutchinson::Vjp, Hutchinson::Jvp, Hutchinson::FullJacobian] {
        check_scenario(
            &format!("hutchinson_trace ({how:?})"),
            sizes::HUTCHINSON,
            false,
            &x,
            |m, x| scenarios::hutchinson_trace(m, x, on(&v), how, Mode::Auto),
            |m, x| scenarios::hutchinson_trace(m, x, on(&v), how, Mode::Auto),
        );
    }
}

/// How a column is taken.
#[derive(Clone, Copy)]
enum Take {
    /// A `select` of one index (which burn-fusion merges into the kernels
    /// around it).
    Select,
    /// A `slice` (a kernel of its own).
    Slice,
    /// A `gather` with an `[n, 1]` index tensor.
    Gather,
}

/// Column `k` of `x` (`[n, d]`).
fn column<B: Backend>(x: Tensor<B, 2>, k: usize, take: Take) -> Tensor<B, 2> {
    let n = x.dims()[0];
    let device = x.device();
    match take {
        Take::Select => x.select(1, Tensor::<B, 1, Int>::from_ints([k as i32], &device)),
        Take::Slice => x.slice([0..n, k..k + 1]),
        Take::Gather => x.gather(1, Tensor::<B, 2, Int>::full([n, 1], k as i32, &device)),
    }
}

/// `x₀²·x₁²·Σⱼ tanh(2xⱼ − 1)` per row, the columns taken before the `tanh`
/// term is recorded.
fn columns_then_tanh<B: Backend>(x: Tensor<B, 2>, take: Take) -> Tensor<B, 2> {
    let squares = x.clone() * x.clone();
    let a = column(squares.clone(), 0, take);
    let b = column(squares, 1, take);
    let h = (x * 2.0 - 1.0).tanh().sum_dim(1);
    a * b * h
}

burn_nested::tensor_fn!(SelectedColumns, |x: 2| -> 2 { columns_then_tanh(x, Take::Select) });
burn_nested::tensor_fn!(SlicedColumns, |x: 2| -> 2 { columns_then_tanh(x, Take::Slice) });
burn_nested::tensor_fn!(GatheredColumns, |x: 2| -> 2 { columns_then_tanh(x, Take::Gather) });
burn_nested::tensor_fn!(SelectedColumnsSum, |x: 2| -> 1 {
    columns_then_tanh(x, Take::Select).sum()
});
burn_nested::tensor_fn!(SlicedColumnsSum, |x: 2| -> 1 {
    columns_then_tanh(x, Take::Slice).sum()
});
burn_nested::tensor_fn!(GatheredColumnsSum, |x: 2| -> 1 {
    columns_then_tanh(x, Take::Gather).sum()
});

/// `n` points `[x, y]` in `[0, 1)²`, spread by a multiplier modulo 1000.
fn unit_points(n: usize, multiplier: usize) -> Vec<f64> {
    (0..2 * n)
        .map(|i| ((i * multiplier) % 1000) as f64 / 1000.0)
        .collect()
}

/// The forward Laplacian of one function with its columns taken by `slice`, by
/// `select` and by `gather` agrees with f64 ndarray on wgpu with burn-fusion
/// (and through `select` without it). Burn 0.21's fused `select` or `gather`
/// of one index is wrong when a later op widens the fused kernel along the
/// selected dim (`burn_fusion_select_of_one_index`); `Dual` takes such a
/// selection as a masked sum on burn-fusion backends, and this test is what
/// fails without that (10.95 off at scale 7.4 through `select`, 0.40 through
/// `gather`).
#[test]
fn forward_laplacian_through_fused_selects() {
    let n = 512;
    let points = unit_points(n, 7919);
    let x = TensorData::new(points.clone(), [n, 2]);
    fn lap<B: Backend, F: burn_nested::TensorFn<2, 2>>(f: F, x: &TensorData) -> Vec<f64> {
        values(laplacian(&Pure(f), on::<B>(x), Mode::FORWARD))
    }
    let reference = lap::<F, _>(SelectedColumns, &x);
    assert_eq!(
        reference,
        lap::<F, _>(SlicedColumns, &x),
        "ndarray: select vs slice"
    );
    assert_eq!(
        reference,
        lap::<F, _>(GatheredColumns, &x),
        "ndarray: select vs gather"
    );
    assert_eq!(reference.len(), n);
    // By hand: with t = tanh(2x − 1), t' = 2(1 − t²), t'' = −4t·t', and
    // h = t₀ + t₁, ∂²/∂x₀² (x₀²x₁²h) = x₁²(2h + 4x₀t₀' + x₀²t₀''), and so for x₁.
    let exact: Vec<f64> = points
        .chunks(2)
        .map(|p| {
            let t = |x: f64| (2.0 * x - 1.0).tanh();
            let (t0, t1) = (t(p[0]), t(p[1]));
            let d = |t: f64| 2.0 * (1.0 - t * t);
            let dd = |t: f64| -4.0 * t * d(t);
            let h = t0 + t1;
            let along = |x: f64, other: f64, t: f64| {
                other * other * (2.0 * h + 4.0 * x * d(t) + x * x * dd(t))
            };
            along(p[0], p[1], t0) + along(p[1], p[0], t1)
        })
        .collect();
    common::assert_close(
        "forward Laplacian, ndarray f64 vs by hand",
        &reference,
        &exact,
        1e-12,
    );
    let sliced = lap::<Wgpu, _>(SlicedColumns, &x);
    assert_close("sliced columns", "forward Laplacian", &sliced, &reference);
    // The same kernels without burn-fusion: the defect is fusion's, not CubeCL's.
    let unfused = lap::<WgpuUnfused, _>(SelectedColumns, &x);
    assert_close(
        "selected columns without burn-fusion",
        "forward Laplacian",
        &unfused,
        &reference,
    );
    let selected = lap::<Wgpu, _>(SelectedColumns, &x);
    assert_close(
        "selected columns with burn-fusion",
        "forward Laplacian",
        &selected,
        &reference,
    );
    let gathered = lap::<Wgpu, _>(GatheredColumns, &x);
    assert_close(
        "gathered columns with burn-fusion",
        "forward Laplacian",
        &gathered,
        &reference,
    );
}

/// The same function summed over the rows, differentiated in reverse mode (the
/// transform runs `Autodiff` over `Dual`, so its `select` and `gather` reach
/// `Dual`'s rules too): it agrees with f64 ndarray on wgpu with burn-fusion.
/// Unlike the forward Laplacian above, this one also passed with `Dual`'s
/// masked sums turned off (lavapipe, 2026-12-07): burn-fusion did not widen
/// these selections here. It checks the reverse path, not the workaround.
#[test]
fn reverse_gradient_through_fused_selects() {
    let n = 512;
    let x = TensorData::new(unit_points(n, 4099), [n, 2]);
    fn grad<B: Backend, F: burn_nested::TensorFn<2, 1>>(f: F, x: &TensorData) -> Vec<f64> {
        values(gradient(&Pure(f), on::<B>(x), Mode::AutoReverse))
    }
    let reference = grad::<F, _>(SlicedColumnsSum, &x);
    assert_eq!(reference.len(), 2 * n);
    assert_eq!(
        reference,
        grad::<F, _>(SelectedColumnsSum, &x),
        "ndarray: select vs slice"
    );
    for (name, got) in [
        ("selected columns", grad::<Wgpu, _>(SelectedColumnsSum, &x)),
        ("gathered columns", grad::<Wgpu, _>(GatheredColumnsSum, &x)),
    ] {
        assert_close(name, "reverse gradient with burn-fusion", &got, &reference);
    }
}

/// The products of two `select`ed columns of `a` (`[3, 512, 2]`) on `B`, with an
/// unrelated `b * 2` of `a`'s shape recorded beside them when `beside`.
fn selected_products<B: Backend>(a: &TensorData, beside: bool) -> Vec<f64> {
    let device = Default::default();
    let b = Tensor::<B, 3>::ones([3, 512, 2], &device);
    let a = Tensor::<B, 3>::from_data(a.clone(), &device);
    let column = |k: i32| {
        a.clone()
            .select(2, Tensor::<B, 1, Int>::from_ints([k], &device))
    };
    let (first, second) = (column(0), column(1));
    let scaled = beside.then(|| b * 2.0);
    let got = values(first * second);
    if let Some(scaled) = scaled {
        assert_eq!(values(scaled), vec![2.0; 3 * 512 * 2]);
    }
    got
}

/// Column 1 of `a` (`[3, 512, 2]`) multiplied by `c` of `a`'s shape (broadcast
/// along the selected dim), on `B`: the column taken by a `select` of one
/// index, or by a `gather` whose index tensor is that index expanded to
/// `[3, 512, 1]`.
fn column_times<B: Backend>(a: &TensorData, c: &TensorData, by_gather: bool) -> Vec<f64> {
    let device = Default::default();
    let a = Tensor::<B, 3>::from_data(a.clone(), &device);
    let c = Tensor::<B, 3>::from_data(c.clone(), &device);
    let index = Tensor::<B, 1, Int>::from_ints([1], &device);
    let column = if by_gather {
        a.gather(2, index.reshape([1, 1, 1]).expand([3, 512, 1]))
    } else {
        a.select(2, index)
    };
    values(column * c)
}

/// The largest difference of `got` from `exact`, whose lengths must agree.
fn worst_difference(got: &[f64], exact: &[f64]) -> f64 {
    assert_eq!(got.len(), exact.len());
    common::max_abs_diff(got, exact)
}

/// Burn 0.21's burn-fusion in plain Burn, without burn-nested (docs/burn-issues.md,
/// where these are the upstream reproductions): a `select` of one index along a
/// dim (or a `gather` of one expanded index) is wrong when the fused kernel it
/// lands in is wider along that dim, because a consumer broadcasts the
/// selection (`select(2, [1]) * c`) or because an unrelated op of the wider
/// shape was merged beside it. Without burn-fusion all are exact. Pinned: when
/// an assertion that the values are wrong fails, burn-fusion has stopped
/// getting them wrong; then `Dual`'s masked sums (`select_exact` and `gather`
/// in src/dual/rules/index.rs) can go, and the docs need updating.
#[test]
fn burn_fusion_select_of_one_index() {
    let mut rng = StdRng::seed_from_u64(7);
    let a = random_data(&mut rng, &[3, 512, 2], -1.0, 1.0).convert::<f32>();
    let c = random_data(&mut rng, &[3, 512, 2], -1.0, 1.0).convert::<f32>();
    let (values_a, values_c) = (a.to_vec::<f32>().unwrap(), c.to_vec::<f32>().unwrap());

    // Broadcast by the consumer.
    let exact: Vec<f64> = (0..values_c.len())
        .map(|i| f64::from(values_a[i / 2 * 2 + 1] * values_c[i]))
        .collect();
    let worst = |got: &[f64]| worst_difference(got, &exact);
    let fused = worst(&column_times::<Wgpu>(&a, &c, false));
    assert!(
        fused > 0.1,
        "burn-fusion now broadcasts a `select` of one index right (worst difference \
         {fused:e}): the pinned defect is gone; update docs/burn-issues.md"
    );
    assert_eq!(
        worst(&column_times::<WgpuUnfused>(&a, &c, false)),
        0.0,
        "the broadcast selection without burn-fusion"
    );
    let gathered = worst(&column_times::<Wgpu>(&a, &c, true));
    assert!(
        gathered > 0.1,
        "burn-fusion now broadcasts a `gather` of one expanded index right (worst difference \
         {gathered:e}): the pinned defect is gone; update docs/burn-issues.md"
    );
    assert_eq!(
        worst(&column_times::<WgpuUnfused>(&a, &c, true)),
        0.0,
        "the broadcast gather without burn-fusion"
    );

    // Beside an unrelated op.
    let exact: Vec<f64> = values_a.chunks(2).map(|c| f64::from(c[0] * c[1])).collect();
    let worst = |got: &[f64]| worst_difference(got, &exact);
    let beside = worst(&selected_products::<Wgpu>(&a, true));
    assert!(
        beside > 0.1,
        "burn-fusion now multiplies `select`ed columns right beside an unrelated op (worst \
         difference {beside:e}): the pinned defect is gone; update docs/burn-issues.md"
    );
    assert_eq!(
        worst(&selected_products::<Wgpu>(&a, false)),
        0.0,
        "the products alone"
    );
    assert_eq!(
        worst(&selected_products::<WgpuUnfused>(&a, true)),
        0.0,
        "the products beside the unrelated op, without burn-fusion"
    );
}

/// `(x.swap_dims(1, 2) * w).sum_dim(2) * 0.5` on `B`, for `x` `[20, 10, 4]` and
/// `w` `[1, 4, 10]` (broadcast over the first dim); with `swap` false, the same
/// product from `x` already laid out as `[20, 4, 10]`.
fn swapped_products_summed<B: Backend>(x: &TensorData, w: &TensorData, swap: bool) -> Vec<f64> {
    let device = Default::default();
    let w = Tensor::<B, 3>::from_data(w.clone(), &device);
    let x = Tensor::<B, 3>::from_data(x.clone(), &device);
    let x = if swap {
        x.swap_dims(1, 2)
    } else {
        // Laid out as [20, 4, 10] before the product: a kernel of its own.
        Tensor::<B, 3>::from_data(x.swap_dims(1, 2).into_data(), &device)
    };
    values((x * w).sum_dim(2) * 0.5)
}

/// Burn 0.21's burn-fusion in plain Burn (docs/burn-issues.md): a sum over the
/// last dim of `x.swap_dims(1, 2) * w`, with `w` broadcast, is wrong when an op
/// on the sum is fused after it (burn-fusion's fused reduction reads the
/// swapped input and the broadcast operand in one prologue). Without the swap,
/// without the op after the sum, or without burn-fusion, it is right. This is
/// the cause of the `jacobian_regularization` case with `max_blocks = 1`
/// (docs/backends.md). Pinned: when the assertion that the values are wrong
/// fails, burn-fusion has stopped getting them wrong.
#[test]
fn burn_fusion_reduce_of_a_swapped_broadcast_product() {
    let mut rng = StdRng::seed_from_u64(9);
    let x = random_data(&mut rng, &[20, 10, 4], -1.0, 1.0).convert::<f32>();
    let w = random_data(&mut rng, &[1, 4, 10], -1.0, 1.0).convert::<f32>();
    let (xv, wv) = (x.to_vec::<f32>().unwrap(), w.to_vec::<f32>().unwrap());
    let exact: Vec<f64> = (0..20 * 4)
        .map(|i| {
            let (b, j) = (i / 4, i % 4);
            let sum: f64 = (0..10)
                .map(|k| f64::from(xv[b * 40 + k * 4 + j]) * f64::from(wv[j * 10 + k]))
                .sum();
            sum * 0.5
        })
        .collect();
    let worst = |got: &[f64]| worst_difference(got, &exact);
    let fused = worst(&swapped_products_summed::<Wgpu>(&x, &w, true));
    assert!(
        fused > 0.1,
        "burn-fusion now sums a swapped broadcast product right (worst difference {fused:e}): \
         the pinned defect is gone; update docs/burn-issues.md"
    );
    for (what, got) in [
        (
            "without the swap",
            swapped_products_summed::<Wgpu>(&x, &w, false),
        ),
        (
            "without burn-fusion",
            swapped_products_summed::<WgpuUnfused>(&x, &w, true),
        ),
    ] {
        let off = worst(&got);
        assert!(
            off < 1e-5,
            "the swapped broadcast product summed {what}: off by {off:e}"
        );
    }
}

/// A row `[1, n]` transposed to a column `[n, 1]` (a view) and reshaped to
/// `[n, 1, 1]`: the values, flattened.
fn column_reshaped<B: Backend>(row: &TensorData) -> Vec<f64> {
    let n = row.shape[1];
    values(on::<B>(row).transpose().reshape([n, 1, 1]))
}

burn_nested::tensor_fn!(ColumnTimesSelf, |x: 2| -> 2 {
    // `x` is `[1, n]`: its transpose is a column view, reshaped to a higher rank
    // and back, then squared.
    let n = x.dims()[1];
    let c = x.transpose().reshape([n, 1, 1]).reshape([n, 1]);
    c.clone() * c
});

/// Burn 0.21 on CubeCL backends (burn-wgpu here, fused or not) reshapes a
/// column that is a view (`[n, 1]` with a row stride other than 1: a transposed
/// row, an aligned column `slice`, an `expand`ed column) to a higher rank with
/// the wrong strides, without an error: burn-std's `split_strides` does not
/// step past the size-one dim (docs/burn-issues.md). The plain form is pinned as
/// wrong; inside a transform `Dual` reshapes such shapes through one dimension
/// and gets the value and tangent right. (It is how the sweep's forward
/// `param_jacobian` got its last bias column wrong before.)
#[test]
fn reshape_of_a_column_view() {
    let n = 9;
    let row = TensorData::new((0..n).map(|i| i as f64 * 0.25 - 1.0).collect(), [1, n]);
    let exact = column_reshaped::<F>(&row);
    for (what, got) in [
        ("burn-fusion", column_reshaped::<Wgpu>(&row)),
        ("without burn-fusion", column_reshaped::<WgpuUnfused>(&row)),
    ] {
        let off = worst_difference(&got, &exact);
        assert!(
            off > 0.1,
            "wgpu ({what}) now reshapes a transposed row right (worst difference {off:e}): \
             the pinned defect is gone; update docs/burn-issues.md and src/dual/reshape.rs"
        );
    }
    // Through `Dual`: y = x², dy = 2x·u, on wgpu against f64.
    let u = TensorData::new(vec![1.0; n], [1, n]);
    let want = burn_nested::jvp(&Pure(ColumnTimesSelf), on::<F>(&row), on::<F>(&u));
    let row32 = row.clone().convert::<f32>();
    let got = burn_nested::jvp(
        &Pure(ColumnTimesSelf),
        on::<Wgpu>(&row32),
        on::<Wgpu>(&u.clone().convert::<f32>()),
    );
    let (want, got) = (values(want), values(got));
    assert_eq!(want.len(), n, "compared entries");
    assert_close("a column view reshaped", "tangent", &got, &want);
}
