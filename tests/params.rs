//! `flatten_params` / `unflatten_params` on an `Autodiff` backend: copied weights
//! train like the original's, and a taped vector receives the gradients.

mod common;
#[path = "../scenarios/mod.rs"]
mod scenarios;

use burn::tensor::{Tensor, TensorData};
use burn_nested::Forward;
use burn_nested::check::param_gradients;
use burn_nested::params::{flatten_params, num_params, unflatten_params};
use common::{Ad, assert_close, random_data, tensor, values};
use rand::{SeedableRng, rngs::StdRng};
use scenarios::Mlp;

const SIZES: &[usize] = &[2, 4, 3];

fn loss(model: &Mlp<Ad>, x: &TensorData) -> Tensor<Ad, 1> {
    let y = model.forward(tensor(x));
    (y.clone() * y).sum()
}

fn x() -> TensorData {
    random_data(&mut StdRng::seed_from_u64(3), &[5, 2], -1.0, 1.0)
}

/// Weights copied from a vector off the tape: same trainable set, same gradients
/// as the model they came from, running statistics left alone.
#[test]
fn unflatten_from_an_untaped_vector_gives_trainable_leaves() {
    for batch_norm in [false, true] {
        let source = Mlp::<Ad>::new(SIZES, batch_norm, &Default::default());
        let weights = values(flatten_params(&source));
        let copy = unflatten_params(
            Mlp::<Ad>::new(SIZES, batch_norm, &Default::default()),
            tensor::<Ad, 1>(&TensorData::new(weights.clone(), [weights.len()])),
        );
        assert_eq!(values(flatten_params(&copy)), weights);

        let expected = param_gradients(&source, &loss(&source, &x()).backward());
        let got = param_gradients(&copy, &loss(&copy, &x()).backward());
        assert_eq!(got.len(), num_params(&copy), "batch_norm {batch_norm}");
        assert!(got.iter().any(|g| *g != 0.0), "batch_norm {batch_norm}");
        assert_eq!(got, expected, "batch_norm {batch_norm}");
    }
}

/// Weights taken from a vector on the tape: the gradient reaches the vector and
/// equals the parameter gradients of the model with those weights.
#[test]
fn unflatten_from_a_taped_vector_sends_gradients_to_it() {
    let source = Mlp::<Ad>::new(SIZES, false, &Default::default());
    let flat = flatten_params(&source).detach().require_grad();
    let copy = unflatten_params(
        Mlp::<Ad>::new(SIZES, false, &Default::default()),
        flat.clone(),
    );
    let grads = loss(&copy, &x()).backward();
    let through_flat = values(flat.grad(&grads).expect("a gradient on the flat vector"));

    let expected = param_gradients(&source, &loss(&source, &x()).backward());
    assert_close(
        "gradient through the flat vector",
        &through_flat,
        &expected,
        1e-12,
    );
}

/// `param_shapes` gives each trainable tensor's own shape (Burn's `[in, out]`
/// weight, then the bias), not its flattened length, and skips running statistics.
#[test]
fn param_shapes_are_the_tensor_shapes() {
    use burn_nested::params::param_shapes;
    let plain = Mlp::<Ad>::new(&[3, 7], false, &Default::default());
    assert_eq!(param_shapes(&plain), vec![vec![3, 7], vec![7]]);
    let with_norm = Mlp::<Ad>::new(SIZES, true, &Default::default());
    let shapes = param_shapes(&with_norm);
    let total: usize = shapes.iter().map(|s| s.iter().product::<usize>()).sum();
    assert_eq!(total, num_params(&with_norm));
    assert!(shapes.iter().any(|s| s.len() == 2), "{shapes:?}");
}

/// A loss that skips the model's last layer leaves that layer without a
/// gradient: `param_gradients` says so, naming the parameter, instead of filling
/// zeros that would hide a lost gradient; `param_gradients_or_zeros` fills them.
#[test]
fn a_parameter_without_gradient_is_reported_not_zero_filled() {
    use burn_nested::check::param_gradients_or_zeros;
    let model = Mlp::<Ad>::new(SIZES, false, &Default::default());
    // Only the first layer: its output, squared and summed.
    let first = model.layers[0].forward(tensor::<Ad, 2>(&x()));
    let grads = (first.clone() * first).sum().backward();

    let filled = param_gradients_or_zeros(&model, &grads);
    assert_eq!(filled.len(), num_params(&model));
    let first_layer = 2 * 4 + 4;
    assert!(filled[..first_layer].iter().any(|g| *g != 0.0));
    assert!(filled[first_layer..].iter().all(|g| *g == 0.0));

    let message = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        param_gradients(&model, &grads)
    }))
    .expect_err("a parameter without gradient must be reported")
    .downcast::<String>()
    .map(|m| *m)
    .unwrap_or_default();
    assert!(
        message.contains("trainable parameter `layers.1.weight` (shape [4, 3], entries 12..24")
            && message.contains("no gradient"),
        "{message}"
    );
}
