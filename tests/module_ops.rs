//! Dot-product, transparency and finite-difference tests of the module ops, their
//! backward methods, and Hessian-vector products through them
//! (`Autodiff<Dual<F>>`, which runs the backward methods with tangents).

mod common;
mod hvp;

use burn::tensor::DType;
use burn::tensor::signal::{irfft, rfft};
use burn::tensor::{
    Int, Tensor, TensorData, TensorPrimitive, activation,
    backend::Backend,
    module::{
        adaptive_avg_pool1d, adaptive_avg_pool2d, attention, avg_pool1d, avg_pool2d,
        conv_transpose1d, conv_transpose2d, conv_transpose3d, conv1d, conv2d, conv3d, ctc_loss,
        deform_conv2d, embedding, interpolate, linear, max_pool1d, max_pool1d_with_indices,
        max_pool2d, max_pool2d_with_indices, unfold4d,
    },
    ops::{
        AttentionModuleOptions, ConvOptions, ConvTransposeOptions, DeformConvOptions, FloatTensor,
        InterpolateMode, InterpolateOptions, ModuleOps, UnfoldOptions,
    },
};
use burn_nested::Dual;
use common::{Check, F, OpFn};
use hvp::Oracle;

/// Kinks near random inputs (max pooling): no finite differences.
fn kinked() -> Check {
    Check {
        finite_differences: false,
        ..Check::default()
    }
}

fn prim<B: Backend, const D: usize>(t: Tensor<B, D>) -> FloatTensor<B> {
    t.into_primitive().tensor()
}

fn wrap<B: Backend, const D: usize>(p: FloatTensor<B>) -> Tensor<B, D> {
    Tensor::from_primitive(TensorPrimitive::Float(p))
}

/// Deterministic non-integer sampling offsets (a constant: no tangent).
fn offsets<B: Backend>(shape: [usize; 4], device: &B::Device) -> Tensor<B, 4> {
    let n: usize = shape.iter().product();
    let v: Vec<f64> = (0..n)
        .map(|i| 0.8 * ((i as f64) * 0.37 + 0.1).sin())
        .collect();
    Tensor::from_data(TensorData::new(v, shape.to_vec()), device)
}

fn ints<B: Backend, const D: usize>(
    v: Vec<i64>,
    shape: [usize; D],
    device: &B::Device,
) -> Tensor<B, D, Int> {
    Tensor::from_data(TensorData::new(v, shape.to_vec()), device)
}

/// For an op linear in all its inputs jointly, with no VJP oracle on `Inner`:
/// transparency (no tangent gives `Inner`'s result exactly) and every tangent lane
/// equal to the op applied to that lane's directions (to 1e-12), for 3 lanes.
fn linear_lanes<
    Inner: Backend,
    const D: usize,
    const O: usize,
    const DL: usize,
    const OL: usize,
>(
    f: &impl common::OpFn<D, O>,
    shapes: &[&[usize]],
    dtype: Option<DType>,
) {
    use rand::SeedableRng;
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    let device: Inner::Device = Default::default();
    let on = |d: &TensorData| -> Tensor<Inner, D> {
        match dtype {
            Some(dtype) => Tensor::from_data(d.clone(), (&device, dtype)),
            None => Tensor::from_data(d.clone(), &device),
        }
    };
    let lanes = 3;
    let xs: Vec<TensorData> = shapes
        .iter()
        .map(|s| common::random_data(&mut rng, s, -1.0, 1.0))
        .collect();
    let us: Vec<Vec<TensorData>> = shapes
        .iter()
        .map(|s| {
            (0..lanes)
                .map(|_| common::random_data(&mut rng, s, -1.0, 1.0))
                .collect()
        })
        .collect();

    let plain = common::values(f.call::<Inner>(xs.iter().map(on).collect()));
    let lifted = f.call::<Dual<Inner>>(
        xs.iter()
            .map(|x| burn_nested::lift::constant(on(x)))
            .collect(),
    );
    assert_eq!(
        plain,
        common::values(burn_nested::lift::primal(lifted)),
        "not transparent"
    );

    let seeded: Vec<Tensor<Dual<Inner>, D>> = xs
        .iter()
        .zip(&us)
        .map(|(x, u)| {
            let u: Vec<Tensor<Inner, D>> = u.iter().map(on).collect();
            burn_nested::lift::seed::<Inner, D, DL>(on(x), Tensor::stack(u, 0))
        })
        .collect();
    let jvp = common::values(burn_nested::lift::tangent::<Inner, O, OL>(
        f.call::<Dual<Inner>>(seeded),
        lanes,
    ));
    let n = jvp.len() / lanes;
    for l in 0..lanes {
        let expected = common::values(f.call::<Inner>(us.iter().map(|u| on(&u[l])).collect()));
        for (k, (a, b)) in jvp[l * n..(l + 1) * n].iter().zip(&expected).enumerate() {
            assert!(
                (a - b).abs() <= 1e-12 * b.abs().max(1.0),
                "lane {l}, entry {k}: {a} vs {b}"
            );
        }
    }
}

// ---- convolutions -------------------------------------------------------------

op_test!(conv2d_plain, [[2, 3, 5, 5], [4, 3, 3, 3], [1, 1, 1, 4]], 4 => 4, |xs| {
    let b = xs[2].clone().reshape([4]);
    conv2d(xs[0].clone(), xs[1].clone(), Some(b), ConvOptions::new([1, 1], [1, 1], [1, 1], 1))
});

op_test!(conv2d_grouped_strided_dilated, [[2, 4, 6, 7], [6, 2, 3, 2], [1, 1, 1, 6]], 4 => 4, |xs| {
    let b = xs[2].clone().reshape([6]);
    conv2d(xs[0].clone(), xs[1].clone(), Some(b), ConvOptions::new([2, 1], [1, 2], [1, 2], 2))
});

op_test!(conv1d_grouped_strided_dilated, [[2, 4, 9], [6, 2, 3], [1, 1, 6]], 3 => 3, |xs| {
    let b = xs[2].clone().reshape([6]);
    conv1d(xs[0].clone(), xs[1].clone(), Some(b), ConvOptions::new([2], [1], [2], 2))
});

op_test!(conv3d_grouped_strided, [[1, 4, 4, 3, 4], [4, 2, 2, 2, 3], [1, 1, 1, 1, 4]], 5 => 5, |xs| {
    let b = xs[2].clone().reshape([4]);
    conv3d(xs[0].clone(), xs[1].clone(), Some(b), ConvOptions::new([1, 2, 1], [1, 0, 1], [1, 1, 1], 2))
});

op_test!(conv_transpose2d_grouped, [[2, 4, 3, 3], [4, 3, 3, 2], [1, 1, 1, 6]], 4 => 4, |xs| {
    let b = xs[2].clone().reshape([6]);
    let options = ConvTransposeOptions::new([2, 2], [1, 0], [1, 0], [1, 2], 2);
    conv_transpose2d(xs[0].clone(), xs[1].clone(), Some(b), options)
});

op_test!(conv_transpose1d_grouped, [[2, 4, 5], [4, 2, 3], [1, 1, 4]], 3 => 3, |xs| {
    let b = xs[2].clone().reshape([4]);
    let options = ConvTransposeOptions::new([2], [1], [0], [1], 2);
    conv_transpose1d(xs[0].clone(), xs[1].clone(), Some(b), options)
});

op_test!(conv_transpose3d_grouped, [[1, 4, 2, 3, 2], [4, 1, 2, 2, 2], [1, 1, 1, 1, 2]], 5 => 5, |xs| {
    let b = xs[2].clone().reshape([2]);
    let options = ConvTransposeOptions::new([1, 2, 1], [0, 1, 0], [0, 1, 0], [1, 1, 1], 2);
    conv_transpose3d(xs[0].clone(), xs[1].clone(), Some(b), options)
});

/// NdArray's deformable convolution samples in f32 and accumulates its input
/// gradient (the VJP oracle) in f32: the dot-product test can only hold to ~1e-7.
fn f32_oracle() -> Check {
    Check {
        tol: 1e-6,
        ..Check::default()
    }
}

// On wgpu Burn's `Autodiff<Wgpu>` VJP of this call is wrong (off by O(1) from the
// f64 VJP, while the wgpu JVP matches the f64 JVP), so the wgpu test compares
// JVPs with f64 instead of running the dot-product test.
op_test!(wgpu_oracle_wrong deform_conv2d_input_weight_mask_bias, [[1, 4, 5, 5], [4, 2, 3, 3], [1, 9, 5, 5], [1, 1, 1, 4]], 4 => 4, f32_oracle(), |xs| {
    let offset = offsets::<B>([1, 18, 5, 5], &xs[0].device());
    let b = xs[3].clone().reshape([4]);
    let options = DeformConvOptions::new([1, 1], [1, 1], [1, 1], 2, 1);
    deform_conv2d(xs[0].clone(), offset, xs[1].clone(), Some(xs[2].clone()), Some(b), options)
});

op_test!(deform_conv2d_no_mask_strided, [[2, 2, 6, 5], [3, 2, 2, 3], [1, 1, 1, 3]], 4 => 4, f32_oracle(), |xs| {
    let offset = offsets::<B>([2, 12, 3, 3], &xs[0].device());
    let b = xs[2].clone().reshape([3]);
    let options = DeformConvOptions::new([2, 2], [0, 1], [1, 1], 1, 1);
    deform_conv2d(xs[0].clone(), offset, xs[1].clone(), None, Some(b), options)
});

// With two offset groups NdArray's mask gradient (the VJP oracle) is wrong (it
// disagrees with central differences, which the JVP matches), so this case only
// checks transparency and central differences.
op_test!(deform_conv2d_offset_groups_differences_only, [[1, 4, 5, 5], [4, 2, 3, 3], [1, 18, 5, 5], [1, 1, 1, 4]], 4 => 4, Check { tol: f64::INFINITY, ..Check::default() }, |xs| {
    let offset = offsets::<B>([1, 36, 5, 5], &xs[0].device());
    let b = xs[3].clone().reshape([4]);
    let options = DeformConvOptions::new([1, 1], [1, 1], [1, 1], 2, 2);
    deform_conv2d(xs[0].clone(), offset, xs[1].clone(), Some(xs[2].clone()), Some(b), options)
});

#[test]
#[should_panic(expected = "deform_conv2d offset")]
fn deform_conv2d_offset_tangent_panics_naming_the_op() {
    let device = Default::default();
    let x = burn_nested::lift::constant(Tensor::<F, 4>::ones([1, 1, 3, 3], &device));
    let w = burn_nested::lift::constant(Tensor::<F, 4>::ones([1, 1, 1, 1], &device));
    let offset = burn_nested::lift::seed(
        Tensor::<F, 4>::zeros([1, 2, 3, 3], &device),
        Tensor::<F, 5>::ones([1, 1, 2, 3, 3], &device),
    );
    let options = DeformConvOptions::new([1, 1], [0, 0], [1, 1], 1, 1);
    let _ = deform_conv2d(x, offset, w, None, None, options);
}

#[test]
#[should_panic(expected = "deform_conv2d_backward offset")]
fn deform_conv2d_backward_offset_tangent_panics_naming_the_op() {
    let device = Default::default();
    let c = |t: Tensor<F, 4>| prim(burn_nested::lift::constant(t));
    let offset = burn_nested::lift::seed(
        Tensor::<F, 4>::zeros([1, 2, 3, 3], &device),
        Tensor::<F, 5>::ones([1, 1, 2, 3, 3], &device),
    );
    let options = DeformConvOptions::new([1, 1], [0, 0], [1, 1], 1, 1);
    let _ = Dual::<F>::deform_conv2d_backward(
        c(Tensor::ones([1, 1, 3, 3], &device)),
        prim(offset),
        c(Tensor::ones([1, 1, 1, 1], &device)),
        None,
        None,
        c(Tensor::ones([1, 1, 3, 3], &device)),
        options,
    );
}

// ---- conv backward methods, called directly -----------------------------------
// `Autodiff`'s own conv backward methods are compositions of differentiable ops, so
// the dot-product test applies to them directly.

op_test!(conv2d_x_backward_grouped, [[2, 4, 6, 7], [6, 2, 3, 2], [2, 6, 3, 9]], 4 => 4, |xs| {
    let o = ConvOptions::new([2, 1], [1, 2], [1, 2], 2);
    wrap(B::conv2d_x_backward(prim(xs[0].clone()), prim(xs[1].clone()), prim(xs[2].clone()), o))
});

op_test!(conv2d_weight_backward_grouped, [[2, 4, 6, 7], [6, 2, 3, 2], [2, 6, 3, 9]], 4 => 4, |xs| {
    let o = ConvOptions::new([2, 1], [1, 2], [1, 2], 2);
    wrap(B::conv2d_weight_backward(prim(xs[0].clone()), prim(xs[1].clone()), prim(xs[2].clone()), o))
});

op_test!(conv2d_bias_backward, [[2, 4, 6, 7], [1, 1, 1, 6], [2, 6, 3, 9]], 4 => 1, |xs| {
    let b = prim(xs[1].clone().reshape([6]));
    wrap(B::conv2d_bias_backward(prim(xs[0].clone()), b, prim(xs[2].clone())))
});

op_test!(conv1d_backwards_grouped, [[2, 4, 9], [6, 2, 3], [2, 6, 4]], 3 => 3, |xs| {
    let o = ConvOptions::new([2], [1], [2], 2);
    let (x, w, g) = (prim(xs[0].clone()), prim(xs[1].clone()), prim(xs[2].clone()));
    let dx: Tensor<B, 3> = wrap(B::conv1d_x_backward(x.clone(), w.clone(), g.clone(), o.clone()));
    let dw: Tensor<B, 3> = wrap(B::conv1d_weight_backward(x, w, g, o));
    // Both gradients in one output, so one test covers both.
    Tensor::cat(vec![dx.flatten::<1>(0, 2), dw.flatten::<1>(0, 2)], 0).reshape([1, 1, -1])
});

// The output gradient has the forward's output shape `[1, 4, 5, 1, 4]`; an
// inconsistent one makes backends disagree on dx's shape rather than fail.
op_test!(conv3d_backwards_grouped, [[1, 4, 4, 3, 4], [4, 2, 2, 2, 3], [1, 4, 5, 1, 4]], 5 => 5, |xs| {
    let o = ConvOptions::new([1, 2, 1], [1, 0, 1], [1, 1, 1], 2);
    let (x, w, g) = (prim(xs[0].clone()), prim(xs[1].clone()), prim(xs[2].clone()));
    let dx: Tensor<B, 5> = wrap(B::conv3d_x_backward(x.clone(), w.clone(), g.clone(), o.clone()));
    let dw: Tensor<B, 5> = wrap(B::conv3d_weight_backward(x.clone(), w, g.clone(), o));
    let db: Tensor<B, 1> = wrap(B::conv3d_bias_backward(x, prim(Tensor::<B, 1>::zeros([4], &xs[0].device())), g));
    let parts = vec![dx.flatten::<1>(0, 4), dw.flatten::<1>(0, 4), db];
    Tensor::cat(parts, 0).reshape([1, 1, 1, 1, -1])
});

op_test!(conv_transpose2d_backwards_grouped, [[2, 4, 3, 3], [4, 3, 3, 2], [2, 6, 6, 7]], 4 => 4, |xs| {
    let o = ConvTransposeOptions::new([2, 2], [1, 0], [1, 0], [1, 2], 2);
    let (x, w, g) = (prim(xs[0].clone()), prim(xs[1].clone()), prim(xs[2].clone()));
    let dx: Tensor<B, 4> = wrap(B::conv_transpose2d_x_backward(w.clone(), g.clone(), o.clone()));
    let dw: Tensor<B, 4> = wrap(B::conv_transpose2d_weight_backward(x.clone(), w, g.clone(), o));
    let db: Tensor<B, 1> = wrap(B::conv_transpose2d_bias_backward(x, prim(Tensor::<B, 1>::zeros([6], &xs[0].device())), g));
    let parts = vec![dx.flatten::<1>(0, 3), dw.flatten::<1>(0, 3), db];
    Tensor::cat(parts, 0).reshape([1, 1, 1, -1])
});

op_test!(conv_transpose1d_backwards_grouped, [[2, 4, 5], [4, 2, 3], [2, 4, 9]], 3 => 3, |xs| {
    let o = ConvTransposeOptions::new([2], [1], [0], [1], 2);
    let (x, w, g) = (prim(xs[0].clone()), prim(xs[1].clone()), prim(xs[2].clone()));
    let dx: Tensor<B, 3> = wrap(B::conv_transpose1d_x_backward(w.clone(), g.clone(), o.clone()));
    let dw: Tensor<B, 3> = wrap(B::conv_transpose1d_weight_backward(x.clone(), w, g.clone(), o));
    let db: Tensor<B, 1> = wrap(B::conv_transpose1d_bias_backward(x, prim(Tensor::<B, 1>::zeros([4], &xs[0].device())), g));
    let parts = vec![dx.flatten::<1>(0, 2), dw.flatten::<1>(0, 2), db];
    Tensor::cat(parts, 0).reshape([1, 1, -1])
});

op_test!(conv_transpose3d_backwards_grouped, [[1, 4, 2, 3, 2], [4, 1, 2, 2, 2], [1, 2, 3, 6, 3]], 5 => 5, |xs| {
    let o = ConvTransposeOptions::new([1, 2, 1], [0, 1, 0], [0, 1, 0], [1, 1, 1], 2);
    let (x, w, g) = (prim(xs[0].clone()), prim(xs[1].clone()), prim(xs[2].clone()));
    let dx: Tensor<B, 5> = wrap(B::conv_transpose3d_x_backward(w.clone(), g.clone(), o.clone()));
    let dw: Tensor<B, 5> = wrap(B::conv_transpose3d_weight_backward(x, w, g, o));
    Tensor::cat(vec![dx.flatten::<1>(0, 4), dw.flatten::<1>(0, 4)], 0).reshape([1, 1, 1, 1, -1])
});

// ---- linear, embedding, unfold -------------------------------------------------

op_test!(linear_rank3, [[2, 3, 4], [1, 4, 5], [1, 1, 5]], 3 => 3, |xs| {
    linear(xs[0].clone(), xs[1].clone().reshape([4, 5]), Some(xs[2].clone().reshape([5])))
});

op_test!(linear_rank2_no_bias, [[3, 4], [4, 2]], 2 => 2, |xs| {
    linear(xs[0].clone(), xs[1].clone(), None)
});

op_test!(embedding_repeated_indices, [[6, 3]], 2 => 3, |xs| {
    let idx = ints::<B, 2>(vec![0, 2, 5, 2, 2, 1], [2, 3], &xs[0].device());
    embedding(xs[0].clone(), idx)
});

op_test!(unfold4d_strided, [[2, 3, 5, 6]], 4 => 3, |xs| {
    unfold4d(xs[0].clone(), [2, 3], UnfoldOptions::new([2, 1], [0, 0], [1, 1]))
});

op_test!(unfold4d_padded_dilated, [[2, 2, 5, 5]], 4 => 3, |xs| {
    unfold4d(xs[0].clone(), [2, 2], UnfoldOptions::new([1, 2], [1, 1], [2, 1]))
});

// ---- pooling and interpolation --------------------------------------------------

op_test!(avg_pool2d_padded_ceil, [[2, 3, 5, 6]], 4 => 4, |xs| {
    avg_pool2d(xs[0].clone(), [3, 2], [2, 2], [1, 1], false, true)
});

op_test!(avg_pool2d_count_pad, [[1, 2, 4, 5]], 4 => 4, |xs| {
    avg_pool2d(xs[0].clone(), [2, 3], [1, 2], [1, 1], true, false)
});

op_test!(avg_pool1d_padded, [[2, 3, 7]], 3 => 3, |xs| {
    avg_pool1d(xs[0].clone(), 3, 2, 1, false, false)
});

op_test!(adaptive_avg_pool2d_uneven, [[2, 3, 5, 7]], 4 => 4, |xs| {
    adaptive_avg_pool2d(xs[0].clone(), [2, 3])
});

op_test!(adaptive_avg_pool1d_uneven, [[2, 3, 7]], 3 => 3, |xs| adaptive_avg_pool1d(xs[0].clone(), 3));

op_test!(max_pool2d_padded_dilated, [[2, 3, 6, 5]], 4 => 4, kinked(), |xs| {
    max_pool2d(xs[0].clone(), [2, 2], [2, 1], [1, 0], [1, 2], false)
});

op_test!(max_pool2d_with_indices_ceil, [[1, 2, 5, 5]], 4 => 4, kinked(), |xs| {
    max_pool2d_with_indices(xs[0].clone(), [2, 2], [2, 2], [0, 0], [1, 1], true).0
});

op_test!(max_pool1d_padded, [[2, 3, 8]], 3 => 3, kinked(), |xs| {
    max_pool1d(xs[0].clone(), 3, 2, 1, 1, false)
});

op_test!(max_pool1d_with_indices_dilated, [[2, 2, 9]], 3 => 3, kinked(), |xs| {
    max_pool1d_with_indices(xs[0].clone(), 2, 2, 0, 2, false).0
});

// NdArray has no backward for bilinear, bicubic or Lanczos interpolation, so there
// is no VJP oracle: the op is linear, so each tangent lane must be the op applied
// to that lane's direction.

struct Interpolate(InterpolateMode, bool);
impl common::OpFn<4, 4> for Interpolate {
    fn call<B: Backend>(&self, xs: Vec<Tensor<B, 4>>) -> Tensor<B, 4> {
        let options = InterpolateOptions::new(self.0.clone()).with_align_corners(self.1);
        interpolate(xs[0].clone(), [5, 7], options)
    }
}

#[test]
fn interpolate_smooth_modes_map_each_lane() {
    for (mode, corners) in [
        (InterpolateMode::Bilinear, true),
        (InterpolateMode::Bicubic, false),
        (InterpolateMode::Lanczos3, false),
    ] {
        linear_lanes::<F, 4, 4, 5, 5>(&Interpolate(mode, corners), &[&[2, 2, 3, 4]], None);
    }
}

op_test!(interpolate_nearest, [[1, 2, 3, 3]], 4 => 4, |xs| {
    interpolate(xs[0].clone(), [5, 4], InterpolateOptions::new(InterpolateMode::Nearest))
});

// ---- layer norm, attention, ctc -------------------------------------------------

op_test!(layer_norm_all_tangents, [[2, 3, 5], [1, 1, 5], [1, 1, 5]], 3 => 3, |xs| {
    let gamma = prim(xs[1].clone().reshape([5]));
    let beta = prim(xs[2].clone().reshape([5]));
    wrap(B::layer_norm(prim(xs[0].clone()), gamma, Some(beta), 1e-5))
});

op_test!(layer_norm_no_beta, [[4, 6], [1, 6]], 2 => 2, |xs| {
    wrap(B::layer_norm(prim(xs[0].clone()), prim(xs[1].clone().reshape([6])), None, 1e-3))
});

op_test!(attention_with_bias, [[1, 2, 3, 4], [1, 2, 5, 4], [1, 2, 5, 3], [1, 2, 3, 5]], 4 => 4, |xs| {
    let options = AttentionModuleOptions::default();
    attention(xs[0].clone(), xs[1].clone(), xs[2].clone(), None, Some(xs[3].clone()), options)
});

op_test!(attention_masked_causal_softcap_scaled, [[2, 1, 4, 3], [2, 1, 4, 3], [2, 1, 4, 2]], 4 => 4, |xs| {
    let device = xs[0].device();
    let mask = Tensor::<B, 4, burn::tensor::Bool>::from_data(
        TensorData::new(
            (0..32).map(|i| i % 5 == 3).collect::<Vec<bool>>(),
            [2, 1, 4, 4],
        ),
        &device,
    );
    let options = AttentionModuleOptions { scale: Some(0.7), softcap: Some(2.0), is_causal: true };
    attention(xs[0].clone(), xs[1].clone(), xs[2].clone(), Some(mask), None, options)
});

op_test!(ctc_loss_log_softmax, [[6, 2, 4]], 3 => 1, |xs| {
    let device = xs[0].device();
    let log_probs = activation::log_softmax(xs[0].clone(), 2);
    let targets = ints::<B, 2>(vec![1, 2, 2, 3, 1, 0], [2, 3], &device);
    let input_lengths = ints::<B, 1>(vec![6, 5], [2], &device);
    let target_lengths = ints::<B, 1>(vec![3, 2], [2], &device);
    ctc_loss(log_probs, targets, input_lengths, target_lengths, 0)
});

/// CTC targets, input and target lengths for `[6, 2, C]` log-probabilities.
fn ctc_labels<B: Backend>(
    device: &B::Device,
) -> (Tensor<B, 2, Int>, Tensor<B, 1, Int>, Tensor<B, 1, Int>) {
    (
        ints::<B, 2>(vec![1, 2, 2, 3, 1, 0], [2, 3], device),
        ints::<B, 1>(vec![6, 5], [2], device),
        ints::<B, 1>(vec![3, 2], [2], device),
    )
}

/// `Σ_n g[n]·∂loss_n/∂log_probs` by `Autodiff<F>`.
fn ctc_gradient(log_probs: &[f64], grad_loss: &[f64]) -> Vec<f64> {
    let device = Default::default();
    let lp =
        Tensor::<common::Ad, 3>::from_data(TensorData::new(log_probs.to_vec(), [6, 2, 4]), &device)
            .require_grad();
    let g = Tensor::<common::Ad, 1>::from_data(TensorData::new(grad_loss.to_vec(), [2]), &device);
    let (t, il, tl) = ctc_labels::<common::Ad>(&device);
    let grads = (ctc_loss(lp.clone(), t, il, tl, 0) * g).sum().backward();
    common::values(lp.grad(&grads).expect("gradient"))
}

/// `ctc_loss_backward`, which Burn never calls on `Dual` (it reports no native
/// backward): its value is `Autodiff`'s gradient and its tangent, in the log-probs
/// and the loss gradient at once, the central difference of that gradient.
#[test]
fn ctc_loss_backward_value_and_tangent() {
    use rand::SeedableRng;
    let mut rng = rand::rngs::StdRng::seed_from_u64(5);
    let device = Default::default();
    let logits = common::random_data(&mut rng, &[6, 2, 4], -1.0, 1.0);
    let lp = activation::log_softmax(Tensor::<F, 3>::from_data(logits, &device), 2);
    let lp = common::values(lp);
    let gl = vec![0.7, -1.3];
    let lanes = 2;
    let u = common::values(Tensor::<F, 4>::from_data(
        common::random_data(&mut rng, &[lanes, 6, 2, 4], -1.0, 1.0),
        &device,
    ));
    let w = vec![0.4, -0.2, -0.9, 0.5];

    let seed_lp = burn_nested::lift::seed(
        Tensor::<F, 3>::from_data(TensorData::new(lp.clone(), [6, 2, 4]), &device),
        Tensor::<F, 4>::from_data(TensorData::new(u.clone(), [lanes, 6, 2, 4]), &device),
    );
    let seed_gl = burn_nested::lift::seed(
        Tensor::<F, 1>::from_data(TensorData::new(gl.clone(), [2]), &device),
        Tensor::<F, 2>::from_data(TensorData::new(w.clone(), [lanes, 2]), &device),
    );
    let (t, il, tl) = ctc_labels::<common::Df>(&device);
    let out: Tensor<common::Df, 3> = wrap(common::Df::ctc_loss_backward(
        prim(seed_lp),
        t.into_primitive(),
        il.into_primitive(),
        tl.into_primitive(),
        prim(seed_gl),
        0,
    ));
    let (value, tangent) = burn_nested::lift::split::<F, 3, 4>(out);
    let value = common::values(value);
    let tangent = common::values(tangent.expect("a tangent"));

    for (a, b) in value.iter().zip(ctc_gradient(&lp, &gl)) {
        assert!(
            (a - b).abs() <= 1e-10 * b.abs().max(1.0),
            "gradient {a} vs {b}"
        );
    }
    let h = 1e-6;
    let n = lp.len();
    for l in 0..lanes {
        let at = |s: f64| {
            let lp: Vec<f64> = lp
                .iter()
                .zip(&u[l * n..])
                .map(|(a, b)| a + s * h * b)
                .collect();
            let gl: Vec<f64> = gl
                .iter()
                .zip(&w[l * 2..])
                .map(|(a, b)| a + s * h * b)
                .collect();
            ctc_gradient(&lp, &gl)
        };
        let (plus, minus) = (at(1.0), at(-1.0));
        for k in 0..n {
            let fd = (plus[k] - minus[k]) / (2.0 * h);
            let got = tangent[l * n + k];
            assert!(
                (got - fd).abs() <= 1e-6 * fd.abs().max(1.0),
                "lane {l} entry {k}: {got} vs fd {fd}"
            );
        }
    }
}

// ---- second order: Autodiff<Dual<F>> runs the backward methods with tangents ----

hvp_test!(
    hvp_conv2d_tanh_sum_matches_reverse_over_reverse,
    [[2, 3, 5, 5], [4, 3, 3, 3], [1, 1, 1, 4]],
    4,
    1,
    Oracle::ReverseOverReverse,
    |xs| {
        let b = xs[2].clone().reshape([4]);
        conv2d(
            xs[0].clone(),
            xs[1].clone(),
            Some(b),
            ConvOptions::new([2, 1], [1, 1], [1, 1], 1),
        )
        .tanh()
        .sum()
    }
);

hvp_test!(
    hvp_conv2d_grouped_two_lanes,
    [[2, 4, 6, 5], [6, 2, 3, 2], [1, 1, 1, 6]],
    4,
    2,
    Oracle::ReverseOverReverse,
    |xs| {
        let b = xs[2].clone().reshape([6]);
        conv2d(
            xs[0].clone(),
            xs[1].clone(),
            Some(b),
            ConvOptions::new([2, 1], [1, 2], [1, 2], 2),
        )
        .tanh()
        .sum()
    }
);

hvp_test!(
    hvp_conv1d_grouped,
    [[2, 4, 9], [6, 2, 3], [1, 1, 6]],
    3,
    2,
    Oracle::ReverseOverReverse,
    |xs| {
        let b = xs[2].clone().reshape([6]);
        conv1d(
            xs[0].clone(),
            xs[1].clone(),
            Some(b),
            ConvOptions::new([2], [1], [2], 2),
        )
        .tanh()
        .sum()
    }
);

hvp_test!(
    hvp_conv3d_grouped,
    [[1, 4, 4, 3, 4], [4, 2, 2, 2, 3], [1, 1, 1, 1, 4]],
    5,
    2,
    Oracle::ReverseOverReverse,
    |xs| {
        let b = xs[2].clone().reshape([4]);
        conv3d(
            xs[0].clone(),
            xs[1].clone(),
            Some(b),
            ConvOptions::new([1, 2, 1], [1, 0, 1], [1, 1, 1], 2),
        )
        .tanh()
        .sum()
    }
);

hvp_test!(
    hvp_conv_transpose2d_grouped,
    [[2, 4, 3, 3], [4, 3, 3, 2], [1, 1, 1, 6]],
    4,
    2,
    Oracle::ReverseOverReverse,
    |xs| {
        let b = xs[2].clone().reshape([6]);
        let options = ConvTransposeOptions::new([2, 2], [1, 0], [1, 0], [1, 2], 2);
        conv_transpose2d(xs[0].clone(), xs[1].clone(), Some(b), options)
            .tanh()
            .sum()
    }
);

hvp_test!(
    hvp_conv_transpose1d_grouped,
    [[2, 4, 5], [4, 2, 3], [1, 1, 4]],
    3,
    2,
    Oracle::ReverseOverReverse,
    |xs| {
        let b = xs[2].clone().reshape([4]);
        let options = ConvTransposeOptions::new([2], [1], [0], [1], 2);
        conv_transpose1d(xs[0].clone(), xs[1].clone(), Some(b), options)
            .tanh()
            .sum()
    }
);

hvp_test!(
    hvp_conv_transpose3d_grouped,
    [[1, 4, 2, 3, 2], [4, 1, 2, 2, 2], [1, 1, 1, 1, 2]],
    5,
    2,
    Oracle::ReverseOverReverse,
    |xs| {
        let b = xs[2].clone().reshape([2]);
        let options = ConvTransposeOptions::new([1, 2, 1], [0, 1, 0], [0, 1, 0], [1, 1, 1], 2);
        conv_transpose3d(xs[0].clone(), xs[1].clone(), Some(b), options)
            .tanh()
            .sum()
    }
);

hvp_test!(
    hvp_linear,
    [[2, 3, 4], [1, 4, 5], [1, 1, 5]],
    3,
    2,
    Oracle::Differences,
    |xs| {
        let y = linear(
            xs[0].clone(),
            xs[1].clone().reshape([4, 5]),
            Some(xs[2].clone().reshape([5])),
        );
        y.tanh().sum()
    }
);

hvp_test!(hvp_embedding, [[6, 3]], 2, 2, Oracle::Differences, |xs| {
    let idx = ints::<B, 2>(vec![0, 2, 5, 2, 2, 1], [2, 3], &xs[0].device());
    embedding(xs[0].clone(), idx).tanh().sum()
});

hvp_test!(
    hvp_deform_conv2d,
    [[1, 4, 5, 5], [4, 2, 3, 3], [1, 9, 5, 5], [1, 1, 1, 4]],
    4,
    2,
    Oracle::CoarseDifferences,
    |xs| {
        let offset = offsets::<B>([1, 18, 5, 5], &xs[0].device());
        let b = xs[3].clone().reshape([4]);
        let options = DeformConvOptions::new([1, 1], [1, 1], [1, 1], 2, 1);
        deform_conv2d(
            xs[0].clone(),
            offset,
            xs[1].clone(),
            Some(xs[2].clone()),
            Some(b),
            options,
        )
        .tanh()
        .sum()
    }
);

hvp_test!(
    hvp_pools_and_interpolate,
    [[2, 3, 6, 6]],
    4,
    2,
    Oracle::Differences,
    |xs| {
        let x = xs[0].clone().tanh();
        let a = avg_pool2d(x.clone(), [3, 2], [2, 2], [1, 1], false, true);
        let b = adaptive_avg_pool2d(x.clone(), [4, 3]);
        let c = max_pool2d(x.clone(), [2, 2], [2, 2], [0, 0], [1, 1], false);
        // NdArray has no backward for the other interpolation modes.
        let d = interpolate(x, [4, 9], InterpolateOptions::new(InterpolateMode::Nearest));
        (a.powf_scalar(2.0).sum() + b.sin().sum() + c.powf_scalar(3.0).sum()) + d.tanh().sum()
    }
);

hvp_test!(hvp_pools_1d, [[2, 3, 8]], 3, 2, Oracle::Differences, |xs| {
    let x = xs[0].clone().tanh();
    let a = avg_pool1d(x.clone(), 3, 2, 1, true, false);
    let b = adaptive_avg_pool1d(x.clone(), 3);
    let c = max_pool1d(x, 2, 2, 0, 1, false);
    a.powf_scalar(2.0).sum() + b.sin().sum() + c.powf_scalar(3.0).sum()
});

hvp_test!(
    hvp_max_pool2d_with_indices,
    [[1, 2, 4, 6]],
    4,
    2,
    Oracle::Differences,
    |xs| {
        max_pool2d_with_indices(xs[0].clone().sin(), [2, 3], [2, 3], [0, 0], [1, 1], false)
            .0
            .powf_scalar(3.0)
            .sum()
    }
);

hvp_test!(
    hvp_layer_norm,
    [[2, 3, 5], [1, 1, 5], [1, 1, 5]],
    3,
    2,
    Oracle::ReverseOverReverse,
    |xs| {
        let gamma = prim(xs[1].clone().reshape([5]));
        let beta = prim(xs[2].clone().reshape([5]));
        let y: Tensor<B, 3> = wrap(B::layer_norm(prim(xs[0].clone()), gamma, Some(beta), 1e-5));
        y.tanh().sum()
    }
);

hvp_test!(
    hvp_attention,
    [[1, 2, 3, 4], [1, 2, 5, 4], [1, 2, 5, 3]],
    4,
    2,
    Oracle::ReverseOverReverse,
    |xs| {
        attention(
            xs[0].clone(),
            xs[1].clone(),
            xs[2].clone(),
            None,
            None,
            AttentionModuleOptions::default(),
        )
        .tanh()
        .sum()
    }
);

hvp_test!(
    hvp_ctc_loss,
    [[5, 2, 3]],
    3,
    2,
    Oracle::ReverseOverReverse,
    |xs| {
        let device = xs[0].device();
        let log_probs = activation::log_softmax(xs[0].clone(), 2);
        let targets = ints::<B, 2>(vec![1, 2, 2, 0], [2, 2], &device);
        let il = ints::<B, 1>(vec![5, 4], [2], &device);
        let tl = ints::<B, 1>(vec![2, 1], [2], &device);
        ctc_loss(log_probs, targets, il, tl, 0).sum()
    }
);

// ---- real FFTs (NdArray has none: run on burn-flex in f64) ----------------------

type Flex = burn_flex::Flex;

struct Rfft(usize, Option<usize>);
impl common::OpFn<2, 2> for Rfft {
    fn call<B: Backend>(&self, xs: Vec<Tensor<B, 2>>) -> Tensor<B, 2> {
        let (re, im) = rfft(xs[0].clone(), self.0, self.1);
        Tensor::cat(vec![re, im], self.0)
    }
}

struct Irfft(usize, Option<usize>);
impl common::OpFn<2, 2> for Irfft {
    fn call<B: Backend>(&self, xs: Vec<Tensor<B, 2>>) -> Tensor<B, 2> {
        // A second input is the imaginary part; without one it is a constant zero.
        let im = xs.get(1).cloned().unwrap_or_else(|| xs[0].zeros_like());
        irfft(xs[0].clone(), im, self.0, self.1)
    }
}

struct RoundTrip;
impl common::OpFn<2, 2> for RoundTrip {
    fn call<B: Backend>(&self, xs: Vec<Tensor<B, 2>>) -> Tensor<B, 2> {
        let (re, im) = rfft(xs[0].clone(), 1, None);
        irfft(re, im, 1, Some(8))
    }
}

#[test]
fn rfft_maps_each_lane() {
    linear_lanes::<Flex, 2, 2, 3, 3>(&Rfft(1, None), &[&[3, 8]], Some(DType::F64));
    linear_lanes::<Flex, 2, 2, 3, 3>(&Rfft(0, Some(8)), &[&[6, 2]], Some(DType::F64));
}

#[test]
fn irfft_maps_each_lane() {
    linear_lanes::<Flex, 2, 2, 3, 3>(&Irfft(1, None), &[&[2, 5], &[2, 5]], Some(DType::F64));
    linear_lanes::<Flex, 2, 2, 3, 3>(&Irfft(0, Some(8)), &[&[5, 3]], Some(DType::F64));
}

#[test]
fn rfft_then_irfft_carries_the_tangent_through() {
    linear_lanes::<Flex, 2, 2, 3, 3>(&RoundTrip, &[&[2, 8]], Some(DType::F64));
    // The round trip is the identity, so its tangent is the seed itself (to the
    // ~1e-8 accuracy of burn-flex's f64 FFT).
    let device = Default::default();
    let x = Tensor::<Flex, 2>::from_data(
        TensorData::new(vec![0.5f64; 16], [2, 8]),
        (&device, DType::F64),
    );
    let u: Vec<f64> = (0..32).map(|i| (i as f64 * 0.3).cos()).collect();
    let u_t =
        Tensor::<Flex, 3>::from_data(TensorData::new(u.clone(), [2, 2, 8]), (&device, DType::F64));
    let y = RoundTrip.call::<Dual<Flex>>(vec![burn_nested::lift::seed(x, u_t)]);
    let t = common::values(burn_nested::lift::tangent::<Flex, 2, 3>(y, 2));
    for (a, b) in t.iter().zip(&u) {
        assert!((a - b).abs() < 1e-6, "{a} vs {b}");
    }
}
