//! Dot-product, transparency and finite-difference tests of every differentiable
//! `FloatTensorOps` method, called through Burn's public `Tensor` API (or, where no
//! `Tensor` method reaches an op, through the backend trait on `Tensor` primitives).
//!
//! Each `op_test!` checks `<V, JVP(x; U)> = <VJP(x; V), U>` for lanes 1 and 3 against
//! `Autodiff<NdArray<f64>>`, that `Dual` without tangents equals `NdArray` exactly, and
//! (unless switched off) the JVP against central differences. Tests of ops whose
//! derivative Autodiff cannot give (zeros in `prod`/`cumprod`, zero exponents) compare
//! with hand-computed values instead.

mod common;

use burn::tensor::{
    Bool, DType, IndexingUpdateOp, Int, Tensor, TensorData, TensorPrimitive,
    backend::Backend,
    ops::{GridSampleOptions, GridSamplePaddingMode, InterpolateMode},
    s,
};
use burn_nested::lift::{constant, seed, split};
use common::{Check, Df, F, random_data, tensor, values};
use rand::{SeedableRng, rngs::StdRng};

/// Inputs in `[0.5, 2)`, for ops defined or smooth only for positive inputs.
fn positive() -> Check {
    Check {
        lo: 0.5,
        hi: 2.0,
        ..Check::default()
    }
}

/// Inside `(-1, 1)` with a margin, for `asin`, `acos`, `atanh`.
fn unit_interval() -> Check {
    Check {
        lo: -0.9,
        hi: 0.9,
        ..Check::default()
    }
}

/// For bodies that `detach` an input: central differences move every input, the
/// detached one too, so they do not see the derivative `detach` leaves; the
/// dot-product test (Autodiff detaches the same input) still checks the JVP.
fn detached() -> Check {
    Check {
        finite_differences: false,
        ..Check::default()
    }
}

/// [`detached`] on `[0.5, 2)`.
fn detached_positive() -> Check {
    Check {
        finite_differences: false,
        ..positive()
    }
}

/// An int tensor on the device of `like`.
fn ints<B: Backend, const D: usize, const L: usize>(
    values: Vec<i64>,
    shape: [usize; D],
    like: &Tensor<B, L>,
) -> Tensor<B, D, Int> {
    Tensor::from_data(TensorData::new(values, shape), &like.device())
}

/// A bool tensor on the device of `like`.
fn bools<B: Backend, const D: usize, const L: usize>(
    values: Vec<bool>,
    shape: [usize; D],
    like: &Tensor<B, L>,
) -> Tensor<B, D, Bool> {
    Tensor::from_data(TensorData::new(values, shape), &like.device())
}

/// An f64 tensor on `NdArray<f64>`.
fn f64s<const D: usize>(values: Vec<f64>, shape: [usize; D]) -> Tensor<F, D> {
    Tensor::from_data(TensorData::new(values, shape), &Default::default())
}

/// The tangent lanes of `y` as f64s; panics if `y` has no tangent.
fn tangent_values<const D: usize, const DL: usize>(y: Tensor<Df, D>) -> Vec<f64> {
    let (_, t) = split::<F, D, DL>(y);
    values(t.expect("expected a tangent"))
}

/// A seeded random dual input of `shape` with `lanes` random tangent lanes.
fn random_dual<const D: usize, const DL: usize>(
    rng: &mut StdRng,
    shape: [usize; D],
    lanes: usize,
) -> Tensor<Df, D> {
    let mut lane_dims = vec![lanes];
    lane_dims.extend_from_slice(&shape);
    let x = random_data(rng, &shape, -1.0, 1.0);
    let u = random_data(rng, &lane_dims, -1.0, 1.0);
    seed(tensor::<F, D>(&x), tensor::<F, DL>(&u))
}

/// Asserts two JVPs agree to rounding.
fn assert_close(a: &[f64], b: &[f64]) {
    assert_eq!(a.len(), b.len(), "JVPs of different lengths");
    for (k, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= 1e-13 * 1f64.max(x.abs()),
            "JVPs differ at {k}: {x} vs {y}"
        );
    }
}

/// Asserts that `y` carries no tangent (a zero derivative costs nothing).
fn assert_no_tangent<const D: usize, const DL: usize>(y: Tensor<Df, D>) {
    let (_, t) = split::<F, D, DL>(y);
    assert!(t.is_none(), "expected no tangent (zero derivative)");
}

/// `x` with a tangent of `lanes` lanes filled with ones.
fn seeded<const D: usize, const DL: usize>(x: Tensor<F, D>, lanes: usize) -> Tensor<Df, D> {
    let mut dims = vec![lanes];
    dims.extend_from_slice(&x.dims());
    let t = Tensor::<F, DL>::ones(dims, &Default::default());
    seed(x, t)
}

// ---------------------------------------------------------------------------------
// Arithmetic, with and without broadcasting, tensor and scalar forms.

op_test!(add_broadcast, [[3, 1], [1, 4]], 2 => 2, |xs| xs[0].clone() + xs[1].clone());
op_test!(add_same_shape, [[3, 4], [3, 4]], 2 => 2, |xs| xs[0].clone() + xs[1].clone());
op_test!(add_scalar, [[3, 4]], 2 => 2, |xs| xs[0].clone().add_scalar(1.5));
op_test!(sub_broadcast, [[3, 4], [1, 4]], 2 => 2, |xs| xs[0].clone() - xs[1].clone());
op_test!(sub_broadcast_rhs_larger, [[3, 1], [3, 4]], 2 => 2, |xs| xs[0].clone() - xs[1].clone());
op_test!(sub_scalar, [[3, 4]], 2 => 2, |xs| xs[0].clone().sub_scalar(0.25));
op_test!(mul_broadcast, [[3, 1], [1, 4]], 2 => 2, |xs| xs[0].clone() * xs[1].clone());
op_test!(mul_scalar, [[3, 4]], 2 => 2, |xs| xs[0].clone().mul_scalar(-2.5));
op_test!(div, [[3, 4], [3, 4]], 2 => 2, positive(), |xs| xs[0].clone() / xs[1].clone());
op_test!(div_broadcast, [[3, 4], [3, 1]], 2 => 2, positive(), |xs| xs[0].clone() / xs[1].clone());
op_test!(div_numerator_broadcast, [[3, 1], [3, 4]], 2 => 2, positive(), |xs| xs[0].clone() / xs[1].clone());
op_test!(div_numerator_tangent_only, [[3, 4], [3, 1]], 2 => 2, detached_positive(), |xs| {
    xs[0].clone() / xs[1].clone().detach()
});
op_test!(div_denominator_tangent_only, [[3, 1], [3, 4]], 2 => 2, detached_positive(), |xs| {
    xs[0].clone().detach() / xs[1].clone()
});
op_test!(div_scalar_by_a_power_of_two, [[3, 4]], 2 => 2, |xs| xs[0].clone().div_scalar(4.0));
// Autodiff's `div_scalar` backward forms `1 / rhs` in f32, so the oracle is off by
// f32 rounding of 1/3 (~3e-8 relative); the finite differences check the JVP itself.
op_test!(
    div_scalar_by_three,
    [[3, 4]],
    2 => 2,
    Check { tol: 1e-7, ..Check::default() },
    |xs| xs[0].clone().div_scalar(3.0)
);
// `lhs mod rhs` jumps where `lhs / rhs` crosses an integer; random inputs in
// `[0.5, 2)` sit far from the jumps relative to the finite-difference step.
op_test!(remainder, [[3, 4], [3, 4]], 2 => 2, positive(), |xs| {
    xs[0].clone().remainder(xs[1].clone())
});
op_test!(remainder_scalar, [[3, 4]], 2 => 2, |xs| xs[0].clone().remainder_scalar(0.7));
op_test!(neg, [[3, 4]], 2 => 2, |xs| xs[0].clone().neg());
op_test!(to_device, [[3, 4]], 2 => 2, |xs| xs[0].clone().to_device(&xs[0].device()));
op_test!(recip, [[3, 4]], 2 => 2, positive(), |xs| xs[0].clone().recip());

// ---------------------------------------------------------------------------------
// Matrix products.

op_test!(matmul, [[3, 4], [4, 5]], 2 => 2, |xs| xs[0].clone().matmul(xs[1].clone()));
op_test!(matmul_batched, [[2, 3, 4], [2, 4, 5]], 3 => 3, |xs| {
    xs[0].clone().matmul(xs[1].clone())
});
op_test!(matmul_broadcasts_lhs_batch, [[1, 3, 4], [2, 4, 5]], 3 => 3, |xs| {
    xs[0].clone().matmul(xs[1].clone())
});
op_test!(matmul_broadcasts_rhs_batch, [[2, 3, 4], [1, 4, 5]], 3 => 3, |xs| {
    xs[0].clone().matmul(xs[1].clone())
});
op_test!(matmul_broadcasts_batch_dims_both_ways, [[2, 1, 3, 4], [1, 3, 4, 2]], 4 => 4, |xs| {
    xs[0].clone().matmul(xs[1].clone())
});
op_test!(matmul_lhs_tangent_only, [[2, 3, 4], [2, 4, 5]], 3 => 3, detached(), |xs| {
    xs[0].clone().matmul(xs[1].clone().detach())
});
op_test!(matmul_rhs_tangent_only, [[2, 3, 4], [2, 4, 5]], 3 => 3, detached(), |xs| {
    xs[0].clone().detach().matmul(xs[1].clone())
});
op_test!(cross, [[4, 3], [4, 3]], 2 => 2, |xs| xs[0].clone().cross(xs[1].clone(), 1));

/// Autodiff's `cross` does not reduce a broadcast operand's gradient back to its
/// shape, so it cannot be the oracle here: the broadcast JVP must equal the JVP of
/// the cross product with the operand expanded first (checked against Autodiff above).
#[test]
fn cross_broadcast_matches_cross_of_the_expanded_operand() {
    let mut rng = StdRng::seed_from_u64(11);
    let a = random_dual::<2, 3>(&mut rng, [1, 3], 3);
    let b = random_dual::<2, 3>(&mut rng, [4, 3], 3);
    let broadcast = tangent_values::<2, 3>(a.clone().cross(b.clone(), 1));
    let expanded = tangent_values::<2, 3>(a.expand([4, 3]).cross(b, 1));
    assert_close(&broadcast, &expanded);
}
op_test!(cross_along_dim_0, [[3, 2], [3, 2]], 2 => 2, |xs| xs[0].clone().cross(xs[1].clone(), 0));

// ---------------------------------------------------------------------------------
// Layout.

op_test!(transpose, [[3, 4]], 2 => 2, |xs| xs[0].clone().transpose());
op_test!(transpose_batched, [[2, 3, 4]], 3 => 3, |xs| xs[0].clone().transpose());
op_test!(swap_dims, [[2, 3, 4]], 3 => 3, |xs| xs[0].clone().swap_dims(0, 2));
op_test!(permute, [[2, 3, 4]], 3 => 3, |xs| xs[0].clone().permute([1, 2, 0]));
op_test!(flip, [[2, 3, 4]], 3 => 3, |xs| xs[0].clone().flip([0, 2]));
op_test!(reshape, [[2, 3, 4]], 3 => 2, |xs| xs[0].clone().reshape([4, 6]));
op_test!(reshape_permute, [[2, 3, 4]], 3 => 3, |xs| {
    xs[0].clone().permute([2, 0, 1]).reshape([4, 3, 2])
});
op_test!(expand_adds_a_dim_and_broadcasts, [[3, 1]], 2 => 3, |xs| xs[0].clone().expand([2, 3, 4]));
// Autodiff's `repeat_dim` backward sums the gradient as if copies were interleaved
// (`x0 x0 x1 x1`), but `repeat_dim` tiles (`x0 x1 x0 x1`), so it is only a valid
// oracle when the repeated dim has size 1; larger dims are checked against `cat`.
op_test!(repeat_dim_of_size_one, [[2, 1]], 2 => 2, |xs| xs[0].clone().repeat_dim(1, 3));

#[test]
fn repeat_dim_matches_cat_of_copies() {
    let mut rng = StdRng::seed_from_u64(12);
    let x = random_dual::<3, 4>(&mut rng, [2, 3, 2], 3);
    for dim in 0..3 {
        let repeated = tangent_values::<3, 4>(x.clone().repeat_dim(dim, 3));
        let copies = tangent_values::<3, 4>(Tensor::cat(vec![x.clone(); 3], dim));
        assert_close(&repeated, &copies);
    }
}
op_test!(unfold, [[3, 5]], 2 => 3, |xs| xs[0].clone().unfold::<3, _>(1, 2, 1));
op_test!(unfold_with_step, [[6, 2]], 2 => 3, |xs| xs[0].clone().unfold::<3, _>(0, 3, 2));
op_test!(cat, [[2, 3], [2, 2]], 2 => 2, |xs| Tensor::cat(xs.clone(), 1));
op_test!(cat_with_a_constant_part, [[2, 3], [4, 3]], 2 => 2, detached(), |xs| {
    Tensor::cat(vec![xs[0].clone(), xs[1].clone().detach()], 0)
});
op_test!(f64_only cast_to_f64_is_the_identity, [[3, 4]], 2 => 2, |xs| xs[0].clone().cast(DType::F64));
// A round trip through f32 rounds both the value and the tangent to 24 bits, so the
// two sides of the dot-product test agree only to f32 precision (U and V are rounded
// at different places), and central differences in f32 are noise.
op_test!(
    f64_only cast_round_trip_through_f32,
    [[3, 4]],
    2 => 2,
    Check { tol: 1e-6, finite_differences: false, ..Check::default() },
    |xs| xs[0].clone().cast(DType::F32).cast(DType::F64)
);

// ---------------------------------------------------------------------------------
// Indexing.

op_test!(gather, [[3, 4]], 2 => 2, |xs| {
    let idx = ints(vec![3, 0, 1, 1, 2, 2], [3, 2], &xs[0]);
    xs[0].clone().gather(1, idx)
});
op_test!(gather_dim_0, [[3, 4]], 2 => 2, |xs| {
    let idx = ints(vec![2, 0, 1, 2, 0, 0, 2, 1], [2, 4], &xs[0]);
    xs[0].clone().gather(0, idx)
});
op_test!(scatter_add, [[3, 4], [3, 2]], 2 => 2, |xs| {
    // Index 1 appears twice in the first row: both values are added.
    let idx = ints(vec![1, 1, 0, 3, 2, 0], [3, 2], &xs[0]);
    xs[0].clone().scatter(1, idx, xs[1].clone(), IndexingUpdateOp::Add)
});
op_test!(select, [[4, 3]], 2 => 2, |xs| {
    xs[0].clone().select(0, ints(vec![3, 0, 3], [3], &xs[0]))
});
op_test!(select_dim_1, [[2, 4]], 2 => 2, |xs| {
    xs[0].clone().select(1, ints(vec![1, 2], [2], &xs[0]))
});
op_test!(select_add, [[4, 3], [3, 3]], 2 => 2, |xs| {
    // Row 2 receives two rows of `values`.
    let idx = ints(vec![2, 0, 2], [3], &xs[0]);
    xs[0].clone().select_assign(0, idx, xs[1].clone(), IndexingUpdateOp::Add)
});
op_test!(slice, [[4, 5]], 2 => 2, |xs| xs[0].clone().slice(s![1..3, 2..]));
op_test!(slice_with_steps, [[5, 6]], 2 => 2, |xs| xs[0].clone().slice(s![0..5;2, 1..6;2]));
op_test!(slice_with_negative_step, [[4, 5]], 2 => 2, |xs| xs[0].clone().slice(s![..;-1, 0..4;3]));
op_test!(slice_assign, [[4, 5], [2, 3]], 2 => 2, |xs| {
    xs[0].clone().slice_assign(s![1..3, 1..4], xs[1].clone())
});
op_test!(slice_assign_with_steps, [[4, 5], [2, 3]], 2 => 2, |xs| {
    xs[0].clone().slice_assign(s![0..4;2, 0..5;2], xs[1].clone())
});
op_test!(slice_assign_into_a_constant, [[4, 5], [2, 3]], 2 => 2, detached(), |xs| {
    xs[0].clone().detach().slice_assign(s![1..3, 1..4], xs[1].clone())
});
op_test!(mask_where, [[2, 3], [2, 3]], 2 => 2, |xs| {
    let mask = bools(vec![true, false, false, true, true, false], [2, 3], &xs[0]);
    xs[0].clone().mask_where(mask, xs[1].clone())
});
op_test!(mask_where_broadcasts_the_value, [[2, 3], [1, 3]], 2 => 2, |xs| {
    let mask = bools(vec![true, false, false, true, true, false], [2, 3], &xs[0]);
    xs[0].clone().mask_where(mask, xs[1].clone())
});
op_test!(mask_fill, [[2, 3]], 2 => 2, |xs| {
    let mask = bools(vec![true, false, false, true, true, false], [2, 3], &xs[0]);
    xs[0].clone().mask_fill(mask, 4.0)
});
// On wgpu the oracle is wrong here, not the JVP: Burn 0.21's `Autodiff<Wgpu>`
// backward of `gather_nd` is a `scatter_nd` add, whose cubecl kernel gives each
// update its own thread with no atomics, so two updates of one row race and one
// can be lost. The wgpu test compares JVPs with f64 instead; distinct rows (next
// test) run the dot-product test.
op_test!(wgpu_oracle_wrong gather_nd, [[4, 3, 2]], 3 => 3, |xs| {
    // Picks x[3, 1, :] and x[0, 2, :] and x[3, 1, :] again.
    let idx = ints(vec![3, 1, 0, 2, 3, 1], [3, 2], &xs[0]);
    xs[0].clone().gather_nd::<2, 2>(idx).reshape([3, 2, 1])
});
op_test!(gather_nd_distinct, [[4, 3, 2]], 3 => 3, |xs| {
    let idx = ints(vec![3, 1, 0, 2, 2, 0], [3, 2], &xs[0]);
    xs[0].clone().gather_nd::<2, 2>(idx).reshape([3, 2, 1])
});
op_test!(gather_nd_whole_rows, [[4, 3, 2]], 3 => 3, |xs| {
    let idx = ints(vec![2, 0], [2, 1], &xs[0]);
    xs[0].clone().gather_nd::<2, 3>(idx)
});
// f64 only: with a repeated row Burn 0.21's wgpu `scatter_nd` add races (see
// `gather_nd`), so even the inner backend's own result varies run to run there.
op_test!(f64_only scatter_nd_add, [[4, 3, 2], [3, 3, 2]], 3 => 3, |xs| {
    // Row 1 receives two updates.
    let idx = ints(vec![1, 3, 1], [3, 1], &xs[0]);
    xs[0].clone().scatter_nd::<2, 3>(idx, xs[1].clone(), IndexingUpdateOp::Add)
});
op_test!(scatter_nd_add_distinct, [[4, 3, 2], [2, 3, 2]], 3 => 3, |xs| {
    let idx = ints(vec![3, 1], [2, 1], &xs[0]);
    xs[0].clone().scatter_nd::<2, 3>(idx, xs[1].clone(), IndexingUpdateOp::Add)
});
op_test!(scatter_nd_assign, [[4, 3, 2], [2, 3, 2]], 3 => 3, |xs| {
    let idx = ints(vec![2, 0], [2, 1], &xs[0]);
    xs[0].clone().scatter_nd::<2, 3>(idx, xs[1].clone(), IndexingUpdateOp::Assign)
});

// ---------------------------------------------------------------------------------
// Reductions and scans.

op_test!(sum, [[3, 4]], 2 => 1, |xs| xs[0].clone().sum());
op_test!(sum_dim, [[3, 4]], 2 => 2, |xs| xs[0].clone().sum_dim(1));
op_test!(sum_dim_0, [[3, 4, 2]], 3 => 3, |xs| xs[0].clone().sum_dim(0));
op_test!(mean, [[3, 4]], 2 => 1, |xs| xs[0].clone().mean());
op_test!(mean_dim, [[3, 4, 2]], 3 => 3, |xs| xs[0].clone().mean_dim(1));
// Autodiff's `prod`/`prod_dim` are Burn's default `exp(sum(log x))`, whose gradient
// is NaN for x <= 0, so the dot-product tests use positive inputs; signed inputs and
// zeros are checked against products of slices and hand-computed values below.
op_test!(prod, [[3, 4]], 2 => 1, positive(), |xs| xs[0].clone().prod());
op_test!(prod_dim, [[3, 4]], 2 => 2, positive(), |xs| xs[0].clone().prod_dim(1));
op_test!(prod_dim_0, [[3, 4, 2]], 3 => 3, positive(), |xs| xs[0].clone().prod_dim(0));
op_test!(prod_dim_of_size_one, [[3, 1]], 2 => 2, positive(), |xs| xs[0].clone().prod_dim(1));

#[test]
fn prod_of_signed_inputs_matches_a_chain_of_products() {
    let mut rng = StdRng::seed_from_u64(15);
    let x = random_dual::<2, 3>(&mut rng, [3, 4], 3);
    let chain = (1..4).fold(x.clone().slice(s![.., 0..1]), |acc, j| {
        acc * x.clone().slice(s![.., j..j + 1])
    });
    assert_close(
        &tangent_values::<2, 3>(x.clone().prod_dim(1)),
        &tangent_values::<2, 3>(chain.clone()),
    );
    let all = (1..3).fold(chain.clone().slice(s![0..1, ..]), |acc, i| {
        acc * chain.clone().slice(s![i..i + 1, ..])
    });
    assert_close(
        &tangent_values::<1, 2>(x.prod()),
        &tangent_values::<1, 2>(all.reshape([1])),
    );
}
op_test!(cumsum, [[3, 4]], 2 => 2, |xs| xs[0].clone().cumsum(1));
op_test!(cumsum_dim_0, [[3, 4]], 2 => 2, |xs| xs[0].clone().cumsum(0));
op_test!(cumprod, [[3, 4]], 2 => 2, positive(), |xs| xs[0].clone().cumprod(1));
op_test!(cumprod_signed_inputs, [[4, 3]], 2 => 2, |xs| xs[0].clone().cumprod(0));
op_test!(cummin, [[3, 5]], 2 => 2, |xs| xs[0].clone().cummin(1));
op_test!(cummax, [[3, 5]], 2 => 2, |xs| xs[0].clone().cummax(1));
op_test!(cummax_dim_0, [[5, 3]], 2 => 2, |xs| xs[0].clone().cummax(0));

#[test]
fn prod_dim_with_a_zero_matches_hand_computed_jvp() {
    // Row 0 has one zero, row 1 two, row 2 none.
    let x = f64s(vec![2.0, 0.0, 3.0, 0.0, 5.0, 0.0, 1.0, 4.0, 5.0], [3, 3]);
    let u = Tensor::<F, 3>::from_data(
        TensorData::new(
            vec![1.0, 2.0, 3.0, 1.0, 1.0, 1.0, 1.0, 0.5, 0.25],
            [1, 3, 3],
        ),
        &Default::default(),
    );
    let t = tangent_values::<2, 3>(seed(x, u).prod_dim(1));
    // d(x0 x1 x2) = u0 x1 x2 + x0 u1 x2 + x0 x1 u2.
    let expected = [
        1.0 * 0.0 * 3.0 + 2.0 * 2.0 * 3.0 + 2.0 * 0.0 * 3.0,
        0.0,
        1.0 * 4.0 * 5.0 + 1.0 * 0.5 * 5.0 + 1.0 * 4.0 * 0.25,
    ];
    assert_eq!(t, expected);
}

#[test]
fn prod_with_a_zero_matches_hand_computed_jvp() {
    let x = f64s(vec![2.0, 0.0, 3.0, 4.0], [2, 2]);
    let u = Tensor::<F, 3>::from_data(
        TensorData::new(vec![1.0, 2.0, 3.0, 4.0, 0.0, 1.0, 0.0, 0.0], [2, 2, 2]),
        &Default::default(),
    );
    let t = tangent_values::<1, 2>(seed(x, u).prod());
    // Only the term differentiating the zero survives: u1 · 2 · 3 · 4.
    assert_eq!(t, vec![2.0 * 24.0, 1.0 * 24.0]);
}

#[test]
fn cumprod_with_zeros_matches_hand_computed_jvp() {
    // A zero in the middle, and a second zero later.
    let x = f64s(vec![2.0, 0.0, 3.0, 4.0, 0.0, 5.0], [1, 6]);
    let u = Tensor::<F, 3>::from_data(
        TensorData::new(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], [1, 1, 6]),
        &Default::default(),
    );
    let t = tangent_values::<2, 3>(seed(x, u).cumprod(1));
    // y = (2, 0, 0, 0, 0, 0); dy_i = dy_{i-1} x_i + y_{i-1} u_i.
    let expected = vec![1.0, 4.0, 12.0, 48.0, 0.0, 0.0];
    assert_eq!(t, expected);
}

#[test]
fn cumprod_with_a_leading_zero_matches_hand_computed_jvp() {
    let x = f64s(vec![0.0, 2.0, 3.0, 1.0, 0.5, 2.0], [2, 3]);
    let u = Tensor::<F, 3>::from_data(
        TensorData::new(vec![1.0, 1.0, 1.0, 1.0, 1.0, 1.0], [1, 2, 3]),
        &Default::default(),
    );
    let t = tangent_values::<2, 3>(seed(x, u).cumprod(1));
    // dy_i = dy_{i-1} x_i + y_{i-1} u_i. Row 0: y = (0, 0, 0), dy = (1, 2, 6).
    // Row 1 (no zero): y = (1, 0.5, 1), dy = (1, 1.5, 3.5).
    assert_eq!(t, vec![1.0, 2.0, 6.0, 1.0, 1.5, 3.5]);
}

// ---------------------------------------------------------------------------------
// Elementwise functions.

op_test!(exp, [[3, 4]], 2 => 2, |xs| xs[0].clone().exp());
op_test!(log, [[3, 4]], 2 => 2, positive(), |xs| xs[0].clone().log());
op_test!(log1p, [[3, 4]], 2 => 2, Check { lo: -0.5, hi: 2.0, ..Check::default() }, |xs| {
    xs[0].clone().log1p()
});
op_test!(sqrt, [[3, 4]], 2 => 2, positive(), |xs| xs[0].clone().sqrt());
// `abs` has a kink at 0 only; random inputs are away from it.
op_test!(abs, [[3, 4]], 2 => 2, |xs| xs[0].clone().abs());
op_test!(cos, [[3, 4]], 2 => 2, |xs| xs[0].clone().cos());
op_test!(sin, [[3, 4]], 2 => 2, |xs| xs[0].clone().sin());
op_test!(tan, [[3, 4]], 2 => 2, |xs| xs[0].clone().tan());
op_test!(cosh, [[3, 4]], 2 => 2, |xs| xs[0].clone().cosh());
op_test!(sinh, [[3, 4]], 2 => 2, |xs| xs[0].clone().sinh());
op_test!(tanh, [[3, 4]], 2 => 2, |xs| xs[0].clone().tanh());
op_test!(acos, [[3, 4]], 2 => 2, unit_interval(), |xs| xs[0].clone().acos());
op_test!(acosh, [[3, 4]], 2 => 2, Check { lo: 1.2, hi: 3.0, ..Check::default() }, |xs| {
    xs[0].clone().acosh()
});
op_test!(asin, [[3, 4]], 2 => 2, unit_interval(), |xs| xs[0].clone().asin());
op_test!(asinh, [[3, 4]], 2 => 2, |xs| xs[0].clone().asinh());
op_test!(atan, [[3, 4]], 2 => 2, |xs| xs[0].clone().atan());
op_test!(atanh, [[3, 4]], 2 => 2, unit_interval(), |xs| xs[0].clone().atanh());
op_test!(atan2, [[3, 4], [3, 4]], 2 => 2, |xs| xs[0].clone().atan2(xs[1].clone()));
op_test!(atan2_broadcast, [[3, 4], [1, 4]], 2 => 2, |xs| xs[0].clone().atan2(xs[1].clone()));
op_test!(erf, [[3, 4]], 2 => 2, |xs| xs[0].clone().erf());
op_test!(powf, [[3, 4], [3, 4]], 2 => 2, positive(), |xs| xs[0].clone().powf(xs[1].clone()));
op_test!(powf_broadcast, [[3, 4], [1, 4]], 2 => 2, positive(), |xs| {
    xs[0].clone().powf(xs[1].clone())
});
op_test!(powf_base_tangent_only, [[3, 4], [3, 4]], 2 => 2, detached_positive(), |xs| {
    xs[0].clone().powf(xs[1].clone().detach())
});
op_test!(powf_exponent_tangent_only, [[3, 4], [3, 4]], 2 => 2, detached_positive(), |xs| {
    xs[0].clone().detach().powf(xs[1].clone())
});
// `powi` on float tensors is `powf` in the `Tensor` API; `float_powi` (int exponent
// tensor) is reached through the backend trait.
op_test!(powi_int_exponent_tensor, [[2, 3]], 2 => 2, |xs| {
    let exponent = ints(vec![0, 1, 2, 3, -1, -2], [2, 3], &xs[0]);
    let x = xs[0].clone().add_scalar(2.5);
    Tensor::from_primitive(TensorPrimitive::Float(B::float_powi(
        x.into_primitive().tensor(),
        exponent.into_primitive(),
    )))
});
op_test!(powi_float_exponent_tensor, [[3, 4], [3, 4]], 2 => 2, positive(), |xs| {
    xs[0].clone().powi(xs[1].clone().round())
});
op_test!(powi_scalar_3, [[3, 4]], 2 => 2, |xs| xs[0].clone().powi_scalar(3));
op_test!(powi_scalar_2, [[3, 4]], 2 => 2, |xs| xs[0].clone().powi_scalar(2));
op_test!(powi_scalar_1, [[3, 4]], 2 => 2, |xs| xs[0].clone().powi_scalar(1));
op_test!(powi_scalar_0, [[3, 4]], 2 => 2, |xs| xs[0].clone().powi_scalar(0));
op_test!(powi_scalar_minus_1, [[3, 4]], 2 => 2, positive(), |xs| xs[0].clone().powi_scalar(-1));
op_test!(powi_scalar_minus_2, [[3, 4]], 2 => 2, positive(), |xs| xs[0].clone().powi_scalar(-2));
op_test!(powi_scalar_minus_3, [[3, 4]], 2 => 2, positive(), |xs| xs[0].clone().powi_scalar(-3));
op_test!(powf_scalar_integer_valued, [[3, 4]], 2 => 2, |xs| xs[0].clone().powf_scalar(3.0));
op_test!(powf_scalar_two, [[3, 4]], 2 => 2, |xs| xs[0].clone().powf_scalar(2.0));
op_test!(powf_scalar_fractional, [[3, 4]], 2 => 2, positive(), |xs| {
    xs[0].clone().powf_scalar(2.5)
});
op_test!(powf_scalar_negative_fractional, [[3, 4]], 2 => 2, positive(), |xs| {
    xs[0].clone().powf_scalar(-1.5)
});
// `float_powi_scalar_impl` / `float_powf_scalar_impl` are what Burn's default
// `float_powf_scalar` dispatches to; `Dual` overrides the dispatching ops, so the
// `_impl` ops are reached through the backend trait.
op_test!(powi_scalar_impl, [[3, 4]], 2 => 2, |xs| {
    Tensor::from_primitive(TensorPrimitive::Float(B::float_powi_scalar_impl(
        xs[0].clone().into_primitive().tensor(),
        4.into(),
    )))
});
op_test!(powf_scalar_impl, [[3, 4]], 2 => 2, positive(), |xs| {
    Tensor::from_primitive(TensorPrimitive::Float(B::float_powf_scalar_impl(
        xs[0].clone().into_primitive().tensor(),
        1.75.into(),
    )))
});
op_test!(powf_scalar_half, [[3, 4]], 2 => 2, positive(), |xs| xs[0].clone().powf_scalar(0.5));

#[test]
fn zero_exponent_gives_a_zero_tangent_even_at_zero() {
    // x^0 = 1 everywhere, so its derivative is 0, also at x = 0 (not 0 · 0^-1).
    let x = || f64s(vec![0.0, 2.0, -1.0], [3]);
    let check = |y: Tensor<Df, 1>| {
        let (_, t) = split::<F, 1, 2>(y);
        if let Some(t) = t {
            assert_eq!(values(t), vec![0.0; 6]);
        }
    };
    check(seeded::<1, 2>(x(), 2).powi_scalar(0));
    check(seeded::<1, 2>(x(), 2).powf_scalar(0.0));
    let exponent = Tensor::<Df, 1, Int>::from_data(
        TensorData::new(vec![0i64, 0, 0], [3]),
        &Default::default(),
    );
    check(Tensor::from_primitive(TensorPrimitive::Float(
        <Df as burn::tensor::ops::FloatTensorOps<Df>>::float_powi(
            seeded::<1, 2>(x(), 2).into_primitive().tensor(),
            exponent.into_primitive(),
        ),
    )));
}

#[test]
fn powf_at_a_zero_base_or_zero_exponent_has_a_finite_tangent() {
    // (l, r) = (0, 2): 0^r is flat in both; (0, 0): the lhs partial is 0·0^0 = 0;
    // (2, 0): only the rhs partial 2^0 · ln 2 remains.
    let l = seeded::<1, 2>(f64s(vec![0.0, 0.0, 2.0], [3]), 1);
    let r = seeded::<1, 2>(f64s(vec![2.0, 0.0, 0.0], [3]), 1);
    let t = tangent_values::<1, 2>(l.powf(r));
    assert_eq!(t, vec![0.0, 0.0, 2f64.ln()]);
}

#[test]
fn powers_at_zero_have_the_exact_tangent() {
    // d(x^n)/dx at 0 is 0 for n >= 2 and 1 for n = 1.
    let x = || f64s(vec![0.0], [1]);
    assert_eq!(
        tangent_values::<1, 2>(seeded::<1, 2>(x(), 1).powi_scalar(3)),
        vec![0.0]
    );
    assert_eq!(
        tangent_values::<1, 2>(seeded::<1, 2>(x(), 1).powi_scalar(2)),
        vec![0.0]
    );
    assert_eq!(
        tangent_values::<1, 2>(seeded::<1, 2>(x(), 1).powi_scalar(1)),
        vec![1.0]
    );
    assert_eq!(
        tangent_values::<1, 2>(seeded::<1, 2>(x(), 1).powf_scalar(2.0)),
        vec![0.0]
    );
}

// ---------------------------------------------------------------------------------
// Order-based ops: the tangent follows the selected element.

op_test!(max, [[3, 4]], 2 => 1, |xs| xs[0].clone().max());
op_test!(max_dim, [[3, 4]], 2 => 2, |xs| xs[0].clone().max_dim(1));
op_test!(max_dim_0, [[3, 4]], 2 => 2, |xs| xs[0].clone().max_dim(0));
op_test!(max_dim_with_indices, [[3, 4]], 2 => 2, |xs| xs[0].clone().max_dim_with_indices(1).0);
op_test!(min, [[3, 4]], 2 => 1, |xs| xs[0].clone().min());
op_test!(min_dim, [[3, 4]], 2 => 2, |xs| xs[0].clone().min_dim(1));
op_test!(min_dim_with_indices, [[3, 4]], 2 => 2, |xs| xs[0].clone().min_dim_with_indices(0).0);
op_test!(max_abs, [[3, 4]], 2 => 1, |xs| xs[0].clone().max_abs());
op_test!(max_abs_dim, [[3, 4]], 2 => 2, |xs| xs[0].clone().max_abs_dim(1));
op_test!(max_pair, [[3, 4], [3, 4]], 2 => 2, |xs| xs[0].clone().max_pair(xs[1].clone()));
op_test!(min_pair, [[3, 4], [3, 4]], 2 => 2, |xs| xs[0].clone().min_pair(xs[1].clone()));

/// Autodiff has no `topk`; its JVP must equal that of the first `k` sorted values
/// (the sort rule is checked against Autodiff above).
#[test]
fn topk_matches_the_first_k_of_a_descending_sort() {
    let mut rng = StdRng::seed_from_u64(13);
    let x = random_dual::<2, 3>(&mut rng, [4, 5], 3);
    let top = tangent_values::<2, 3>(x.clone().topk(2, 1));
    let sorted = tangent_values::<2, 3>(x.clone().sort_descending(1).slice(s![.., 0..2]));
    assert_close(&top, &sorted);
    let top = tangent_values::<2, 3>(x.clone().topk(3, 0));
    let sorted = tangent_values::<2, 3>(x.sort_descending(0).slice(s![0..3, ..]));
    assert_close(&top, &sorted);
}

#[test]
fn topk_without_tangent_is_the_inner_backends() {
    let mut rng = StdRng::seed_from_u64(14);
    let x = random_data(&mut rng, &[4, 5], -1.0, 1.0);
    let plain = values(tensor::<F, 2>(&x).topk(2, 1));
    let (lifted, t) = split::<F, 2, 3>(constant(tensor::<F, 2>(&x)).topk(2, 1));
    assert!(t.is_none());
    assert_eq!(values(lifted), plain);
}
op_test!(topk_with_indices, [[3, 5]], 2 => 2, |xs| xs[0].clone().topk_with_indices(2, 1).0);
op_test!(sort, [[3, 5]], 2 => 2, |xs| xs[0].clone().sort(1));
op_test!(sort_descending, [[5, 3]], 2 => 2, |xs| xs[0].clone().sort_descending(0));
op_test!(sort_with_indices, [[3, 5]], 2 => 2, |xs| xs[0].clone().sort_with_indices(1).0);
op_test!(sort_descending_with_indices, [[3, 5]], 2 => 2, |xs| {
    xs[0].clone().sort_descending_with_indices(1).0
});
// Clamping has kinks at the bounds; random inputs sit away from them.
op_test!(clamp, [[4, 5]], 2 => 2, |xs| xs[0].clone().clamp(-0.5, 0.4));
op_test!(clamp_min, [[4, 5]], 2 => 2, |xs| xs[0].clone().clamp_min(-0.2));
op_test!(clamp_max, [[4, 5]], 2 => 2, |xs| xs[0].clone().clamp_max(0.3));

// ---------------------------------------------------------------------------------
// Grid sampling, in the input and in the grid.

fn grid_options(
    mode: InterpolateMode,
    padding: GridSamplePaddingMode,
    align: bool,
) -> GridSampleOptions {
    GridSampleOptions::new(mode)
        .with_padding_mode(padding)
        .with_align_corners(align)
}

// Bilinear sampling is piecewise bilinear in the grid: random grid points are away
// from the pixel boundaries where it has kinks.
op_test!(grid_sample_2d_bilinear, [[1, 2, 4, 5], [1, 3, 2, 2]], 4 => 4, Check { lo: -0.9, hi: 0.9, ..Check::default() }, |xs| {
    xs[0].clone().grid_sample_2d(
        xs[1].clone(),
        grid_options(InterpolateMode::Bilinear, GridSamplePaddingMode::Zeros, false),
    )
});
op_test!(grid_sample_2d_bilinear_align_corners_border, [[2, 1, 3, 4], [2, 2, 3, 2]], 4 => 4, Check { lo: -1.2, hi: 1.2, ..Check::default() }, |xs| {
    xs[0].clone().grid_sample_2d(
        xs[1].clone(),
        grid_options(InterpolateMode::Bilinear, GridSamplePaddingMode::Border, true),
    )
});
op_test!(grid_sample_2d_input_tangent_only, [[1, 2, 4, 5], [1, 3, 2, 2]], 4 => 4, Check { lo: -0.9, hi: 0.9, ..detached() }, |xs| {
    xs[0].clone().grid_sample_2d(
        xs[1].clone().detach(),
        grid_options(InterpolateMode::Bilinear, GridSamplePaddingMode::Zeros, false),
    )
});
op_test!(grid_sample_2d_grid_tangent_only, [[1, 2, 4, 5], [1, 3, 2, 2]], 4 => 4, Check { lo: -0.9, hi: 0.9, ..detached() }, |xs| {
    xs[0].clone().detach().grid_sample_2d(
        xs[1].clone(),
        grid_options(InterpolateMode::Bilinear, GridSamplePaddingMode::Zeros, false),
    )
});

// NdArray implements only bilinear sampling (nearest and bicubic are `todo!`).
op_test!(grid_sample_2d_bilinear_reflection, [[1, 1, 5, 5], [1, 2, 3, 2]], 4 => 4, Check { lo: -1.3, hi: 1.3, ..Check::default() }, |xs| {
    xs[0].clone().grid_sample_2d(
        xs[1].clone(),
        grid_options(InterpolateMode::Bilinear, GridSamplePaddingMode::Reflection, false),
    )
});

// ---------------------------------------------------------------------------------
// Zero-derivative ops and detach: no tangent comes out.

op_test!(round, [[3, 4]], 2 => 2, |xs| xs[0].clone().mul_scalar(3.0).round());
op_test!(floor, [[3, 4]], 2 => 2, |xs| xs[0].clone().mul_scalar(3.0).floor());
op_test!(ceil, [[3, 4]], 2 => 2, |xs| xs[0].clone().mul_scalar(3.0).ceil());
op_test!(trunc, [[3, 4]], 2 => 2, |xs| xs[0].clone().mul_scalar(3.0).trunc());
op_test!(sign, [[3, 4]], 2 => 2, |xs| xs[0].clone().sign());
op_test!(detach_stops_the_tangent, [[3, 4], [3, 4]], 2 => 2, detached(), |xs| {
    xs[0].clone().detach() * xs[1].clone()
});

#[test]
fn piecewise_constant_ops_return_no_tangent() {
    let x = || seeded::<2, 3>(f64s(vec![0.3, -1.7, 2.5, -0.5], [2, 2]), 3);
    assert_no_tangent::<2, 3>(x().round());
    assert_no_tangent::<2, 3>(x().floor());
    assert_no_tangent::<2, 3>(x().ceil());
    assert_no_tangent::<2, 3>(x().trunc());
    assert_no_tangent::<2, 3>(x().sign());
    assert_no_tangent::<2, 3>(x().detach());
    assert_no_tangent::<2, 3>(x().detach() * constant(f64s(vec![1.0; 4], [2, 2])));
}

#[test]
fn detach_keeps_the_primal() {
    let y = seeded::<2, 3>(f64s(vec![0.3, -1.7, 2.5, -0.5], [2, 2]), 3).detach();
    let (p, t) = split::<F, 2, 3>(y);
    assert!(t.is_none());
    assert_eq!(values(p), vec![0.3, -1.7, 2.5, -0.5]);
}

#[test]
#[should_panic(
    expected = "`float_scatter_nd with a Mul, Min or Max reduction` has no forward-mode (JVP) rule yet"
)]
fn scatter_nd_with_a_mul_reduction_panics_naming_the_op() {
    let x = seeded::<2, 3>(f64s(vec![1.0, 2.0, 3.0, 4.0], [2, 2]), 1);
    let idx =
        Tensor::<Df, 2, Int>::from_data(TensorData::new(vec![1i64], [1, 1]), &Default::default());
    let v = constant(f64s(vec![2.0, 3.0], [1, 2]));
    let _ = x.scatter_nd::<2, 2>(idx, v, IndexingUpdateOp::Mul);
}

// ---------------------------------------------------------------------------------
// Lane bookkeeping errors.

fn with_lanes(lanes: usize) -> Tensor<Df, 2> {
    seeded::<2, 3>(f64s(vec![1.0, 2.0, 3.0, 4.0], [2, 2]), lanes)
}

#[test]
#[should_panic(expected = "`float_add` got tangents with 1 and 3 lanes")]
fn mismatched_lanes_panic_in_add() {
    let _ = with_lanes(1) + with_lanes(3);
}

#[test]
#[should_panic(expected = "`float_mul` got tangents with 3 and 2 lanes")]
fn mismatched_lanes_panic_in_mul() {
    let _ = with_lanes(3) * with_lanes(2);
}

#[test]
#[should_panic(expected = "`float_matmul` got tangents with 2 and 1 lanes")]
fn mismatched_lanes_panic_in_matmul() {
    let _ = with_lanes(2).matmul(with_lanes(1));
}

#[test]
#[should_panic(expected = "`float_cat` got tangents with 1 and 2 lanes")]
fn mismatched_lanes_panic_in_cat() {
    let _ = Tensor::cat(vec![with_lanes(1), with_lanes(1), with_lanes(2)], 0);
}

#[test]
#[should_panic(
    expected = "all tangents meeting in one computation must have the same number of lanes"
)]
fn mismatched_lanes_panic_in_sub() {
    let _ = with_lanes(4) - with_lanes(1);
}

#[test]
#[should_panic(expected = "a tangent must have shape [lanes, ..primal shape]")]
fn seed_rejects_a_tangent_of_the_wrong_shape() {
    let x = f64s(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], [2, 3]);
    let t = Tensor::<F, 3>::zeros([2, 3, 2], &Default::default());
    let _ = seed(x, t);
}

#[test]
#[should_panic(expected = "a tangent must have shape [lanes, ..primal shape] with lanes >= 1")]
fn seed_rejects_zero_lanes() {
    let x = f64s(vec![1.0, 2.0], [2]);
    let t = Tensor::<F, 2>::zeros([0, 2], &Default::default());
    let _ = seed(x, t);
}

#[test]
#[should_panic(expected = "`seed` needs a tangent of rank 3")]
fn seed_rejects_a_tangent_of_the_wrong_rank() {
    let x = f64s(vec![1.0, 2.0, 3.0, 4.0], [2, 2]);
    let t = Tensor::<F, 2>::zeros([2, 2], &Default::default());
    let _ = seed(x, t);
}

#[test]
#[should_panic(expected = "float_grid_sample_2d with nearest or bicubic interpolation")]
fn grid_sample_nearest_with_a_tangent_panics_naming_the_op() {
    use burn::tensor::ops::{GridSampleOptions, InterpolateMode};
    let device = Default::default();
    let x = burn_nested::lift::seed(
        burn::tensor::Tensor::<common::F, 4>::ones([1, 1, 2, 2], &device),
        burn::tensor::Tensor::<common::F, 5>::ones([1, 1, 1, 2, 2], &device),
    );
    let grid = burn_nested::lift::constant(burn::tensor::Tensor::<common::F, 4>::zeros(
        [1, 1, 1, 2],
        &device,
    ));
    let _ = x.grid_sample_2d(grid, GridSampleOptions::new(InterpolateMode::Nearest));
}
