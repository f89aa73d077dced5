//! The switching settings: environment variable, scoped and global overrides.
//! One test in its own binary, because the environment is read once per process.

#[path = "../scenarios/mod.rs"]
mod scenarios;

use burn::tensor::Tensor;
use burn_nested::{
    Mode,
    settings::{path_counts, reset_path_counts, set_switching, switching_enabled, with_switching},
};
use scenarios::{Mlp, batched_jacobian_loss, sizes};

type Ad = burn_autodiff::Autodiff<burn_ndarray::NdArray<f64>>;

fn paths(model: &Mlp<Ad>) -> (usize, usize) {
    let x = Tensor::<Ad, 2>::ones([4, 2], &Default::default());
    reset_path_counts();
    let _ = batched_jacobian_loss(model, x.clone(), x, Mode::Auto);
    let c = path_counts();
    (c.forward, c.reverse)
}

#[test]
fn environment_then_scoped_then_global_settings_choose_the_path() {
    // SAFETY: the only test in this binary, run before any other thread reads the
    // environment.
    unsafe { std::env::set_var(burn_nested::settings::SWITCHING_ENV, "false") };
    // SAFETY: as above.
    unsafe { std::env::set_var(burn_nested::settings::TUNE_ENV, "off") };
    assert!(
        !burn_nested::settings::tuning_enabled(),
        "measured switching off from the environment"
    );
    burn_nested::settings::with_tuning(true, || assert!(burn_nested::settings::tuning_enabled()));
    assert!(
        !burn_nested::settings::tuning_enabled(),
        "the scope restores it"
    );
    let model = Mlp::<Ad>::new(sizes::BATCHED_JACOBIAN, false, &Default::default());

    assert!(!switching_enabled());
    assert_eq!(paths(&model), (0, 1), "off: one nested backward");

    with_switching(true, || {
        assert!(switching_enabled());
        assert_eq!(paths(&model), (1, 0), "scoped on: one forward pass");
    });
    assert!(!switching_enabled(), "the scope restores the setting");

    burn_nested::settings::set_tuning(true);
    assert!(
        burn_nested::settings::tuning_enabled(),
        "set_tuning overrides the environment"
    );
    burn_nested::settings::with_tuning(false, || assert!(!burn_nested::settings::tuning_enabled()));
    set_switching(true);
    assert_eq!(paths(&model), (1, 0), "globally on");
    with_switching(false, || {
        assert_eq!(paths(&model), (0, 1), "scoped off wins")
    });
}
