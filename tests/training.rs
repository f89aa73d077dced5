//! A short training run with a nested loss and Burn's Adam.

mod common;
#[path = "../scenarios/mod.rs"]
mod scenarios;

use burn::module::AutodiffModule;
use burn::optim::{AdamConfig, GradientsParams, Optimizer};
use burn::tensor::{Tensor, backend::Backend};
use burn_nested::Mode;
use common::{F, assert_close, random_data, tensor, values};
use rand::{SeedableRng, rngs::StdRng};
use scenarios::{Mlp, jacobian_regularization, sizes};

type Ad = burn_autodiff::Autodiff<F>;

/// The batch mean of the features `BatchNorm` sees (after the first dense layer
/// and `tanh`), computed from the model's current parameters.
fn normalized_features_mean(model: &Mlp<F>, x: Tensor<F, 2>) -> Vec<f64> {
    values(model.layers[0].forward(x).tanh().mean_dim(0))
}

#[test]
fn adam_on_a_jacobian_regularized_loss_decreases_it_and_updates_batch_norm_once_per_step() {
    let device = Default::default();
    Ad::seed(&device, 3);
    let mut model = Mlp::<Ad>::new(sizes::JACOBIAN_REGULARIZATION, true, &device);
    let mut rng = StdRng::seed_from_u64(21);
    let x = random_data(&mut rng, &[10, 2], -1.0, 1.0);
    let y = random_data(&mut rng, &[10, 2], -1.0, 1.0);
    let mut optim = AdamConfig::new().init();
    let momentum = 0.1; // BatchNormConfig's default

    let mut losses = Vec::new();
    for step in 0..20 {
        let norm = model.norm.as_ref().expect("the model has BatchNorm");
        let before = values(norm.running_mean.value_sync());
        let batch_mean = normalized_features_mean(&model.valid(), tensor(&x));

        let loss = jacobian_regularization(&model, tensor(&x), tensor(&y), Mode::Auto);
        losses.push(values(loss.clone())[0]);
        let grads = GradientsParams::from_grads(loss.backward(), &model);

        // Exactly one running-statistics update: r' = (1 − m)·r + m·mean.
        let after = values(model.norm.as_ref().unwrap().running_mean.value_sync());
        for f in 0..after.len() {
            let expected = (1.0 - momentum) * before[f] + momentum * batch_mean[f];
            assert!(
                (after[f] - expected).abs() < 1e-12,
                "step {step}, feature {f}: running mean {} but one update gives {expected}",
                after[f]
            );
        }
        model = optim.step(1e-2, model, grads);
    }
    assert!(
        losses[19] < 0.8 * losses[0],
        "the loss did not go down enough: {losses:?}"
    );
}

/// A model built with Burn's lazy initializers, wrapped afresh in every loss call
/// with `from_ref`: each call sees the model's own weights, and the gradients
/// land on the model's parameters.
#[test]
fn from_ref_shares_the_weights_of_a_lazily_initialized_model() {
    use burn::nn::LinearConfig;
    use burn_nested::{StatefulLayer, jacobian};

    let device = Default::default();
    let model = LinearConfig::new(3, 2).init::<Ad>(&device);
    let x = tensor::<Ad, 2>(&random_data(
        &mut StdRng::seed_from_u64(5),
        &[4, 3],
        -1.0,
        1.0,
    ));
    let first: Tensor<Ad, 2> = StatefulLayer::from_ref(&model).forward(x.clone());
    let second: Tensor<Ad, 2> = StatefulLayer::from_ref(&model).forward(x.clone());
    let own = model.forward(x.clone());
    assert_eq!(values(first), values(own.clone()));
    assert_eq!(values(second), values(own));

    // d‖J‖²/dW of y = xW + b is 2·4·W (J has W's entries once per row, 4 rows).
    let layer = StatefulLayer::from_ref(&model);
    let j = jacobian(&layer, x, Mode::Auto);
    let grads = GradientsParams::from_grads((j.clone() * j).sum().backward(), &model);
    let dw = grads
        .get::<F, 2>(model.weight.id)
        .expect("a gradient for the model's own weight");
    let expected: Vec<f64> = values(model.weight.val()).iter().map(|v| 8.0 * v).collect();
    assert_close("weight gradient", &values(dw), &expected, 1e-12);
}
