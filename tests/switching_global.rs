//! `set_switching` is global: a setting made on one thread reaches every thread,
//! and a `with_switching` scope on a thread still wins over it. In its own binary,
//! because the global setting would change the path of every other test running
//! beside it.

#[path = "../scenarios/mod.rs"]
mod scenarios;

use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use burn::tensor::Tensor;
use burn_nested::{
    Mode,
    settings::{
        Options, path_counts, reset_path_counts, set_switching, switching_enabled, with_switching,
    },
};
use scenarios::{Mlp, SumOfSquares, pinn_gradient, sizes};

type Ad = burn_autodiff::Autodiff<burn_ndarray::NdArray<f64>>;

/// On a new thread: whether switching is on there, and the (forward, reverse)
/// passes of a 4-entry input gradient inside a loss, optionally in a scope.
fn on_another_thread(scoped: Option<bool>) -> (bool, usize, usize) {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let body = || {
            let model = Mlp::<Ad>::new(sizes::PINN, false, &Default::default());
            let t = Tensor::<Ad, 2>::ones([4, 1], &Default::default());
            reset_path_counts();
            let _ = pinn_gradient(&model, t, Mode::Auto).backward();
            let c = path_counts();
            (switching_enabled(), c.forward, c.reverse)
        };
        let r = match scoped {
            Some(on) => with_switching(on, body),
            None => body(),
        };
        let _ = tx.send(r);
    });
    rx.recv_timeout(Duration::from_secs(60))
        .expect("the thread finished within 60 s")
}

#[test]
fn set_switching_reaches_every_thread_and_a_scope_still_wins() {
    // Four inputs: switched, the gradient goes forward; naive, one nested backward.
    let (on, off) = ((true, 1, 0), (false, 0, 1));
    set_switching(false);
    assert_eq!(
        on_another_thread(None),
        off,
        "global off seen by a new thread"
    );
    assert_eq!(
        on_another_thread(Some(true)),
        on,
        "a scope wins on its thread"
    );
    set_switching(true);
    assert_eq!(
        on_another_thread(None),
        on,
        "global on seen by a new thread"
    );
    assert_eq!(
        on_another_thread(Some(false)),
        off,
        "a scope wins on its thread"
    );
}

/// The options value travels in a Burn `Config`: saved as JSON and read back whole,
/// and a field the file leaves out takes its default.
#[test]
fn options_sit_in_a_burn_config() {
    use burn::config::{Config, config_to_json};

    #[derive(Config, Debug)]
    struct RunConfig {
        options: Options,
        #[config(default = 10)]
        steps: usize,
    }

    let options = Options::default()
        .with_tuning(false)
        .with_row_check(false)
        .with_lane_budget(4096);
    let json = config_to_json(&RunConfig::new(options));
    let back = RunConfig::load_binary(json.as_bytes()).expect("the JSON reads back");
    assert_eq!((back.options, back.steps), (options, 10));
    assert_ne!(
        options,
        Options::default(),
        "the round trip moved non-default values"
    );

    let partial = r#"{ "options": { "tuning": false }, "steps": 3 }"#;
    let read = RunConfig::load_binary(partial.as_bytes()).expect("a partial options value reads");
    assert_eq!(read.options, Options::default().with_tuning(false));
}

/// A scope holds for the calls inside it, nests, and is restored on the way out,
/// also when the closure panics. Only scopes here: the global test beside it
/// changes the process default, which a scope overrides.
#[test]
fn a_scope_nests_and_is_restored_after_a_panic() {
    let outer = Options::default().with_switching(false);
    outer.scope(|| {
        assert_eq!(Options::current(), outer);
        let inner = outer.with_row_check(false);
        inner.scope(|| assert_eq!(Options::current(), inner));
        assert_eq!(Options::current(), outer, "restored after the inner scope");
        let caught = std::panic::catch_unwind(|| {
            Options::default()
                .with_lane_budget(1)
                .scope(|| panic!("inside"))
        });
        assert!(caught.is_err());
        assert_eq!(Options::current(), outer, "restored after a panic");
    });
}

/// The lane budget decides how many forward passes a forward Jacobian takes when
/// burn-nested picks the lanes: 12 input entries in one pass by default, one lane
/// per pass when the budget holds a single lane's entries. Same Jacobian.
#[test]
fn the_lane_budget_splits_forward_passes() {
    use burn_nested::{StatefulLayer, jacobian};
    let device = Default::default();
    let model = burn::nn::LinearConfig::new(3, 2).init::<Ad>(&device);
    let layer = StatefulLayer::from_ref(&model);
    let x = Tensor::<Ad, 2>::ones([4, 3], &device).require_grad();
    let run = |budget: usize| {
        let options = Options::default()
            .with_tuning(false)
            .with_lane_budget(budget);
        reset_path_counts();
        let j = options.scope(|| jacobian(&layer, x.clone(), Mode::Auto));
        (j, path_counts().forward)
    };
    let (whole, one_pass) = run(Options::default().lane_budget);
    let (split, passes) = run(12);
    assert_eq!((one_pass, passes), (1, 12), "forward passes per budget");
    assert_eq!(whole.dims(), [8, 12]);
    let gap = (whole - split).abs().max().into_scalar();
    assert!(gap < 1e-12, "gap {gap}");
}

/// Inside a loss an explicit `Mode::AutoReverse` is honoured: one nested
/// backward pass for `jacobian`, `batched_jacobian`, `gradient` and `laplacian`,
/// where `Mode::Auto` takes forward lanes, for the same derivative. Switching is
/// scoped on here, since the global test beside it turns the process default off
/// for a while.
#[test]
fn an_explicit_reverse_mode_is_honoured_inside_a_loss() {
    use burn_nested::{StatefulLayer, batched_jacobian, gradient, jacobian, laplacian};
    let device = Default::default();
    let model = Mlp::<Ad>::new(&[2, 6, 2], false, &device);
    let layer = StatefulLayer::from_ref(&model);
    let head = Mlp::<Ad>::new(&[2, 6, 1], false, &device);
    let scalar = StatefulLayer::from_ref(&head);
    let x = Tensor::<Ad, 2>::from_data(
        burn::tensor::TensorData::new(vec![0.3, -0.2, 0.7, 0.1, -0.5, 0.4], [3, 2]),
        &device,
    )
    .require_grad();
    let chosen = Options::default().with_tuning(false).with_switching(true);
    type Call<'a> = Box<dyn Fn(Mode) -> Tensor<Ad, 1> + 'a>;
    let calls: Vec<(&str, Call)> = vec![
        (
            "jacobian",
            Box::new(|m| jacobian(&layer, x.clone(), m).flatten(0, 1)),
        ),
        (
            "batched_jacobian",
            Box::new(|m| batched_jacobian(&layer, x.clone(), m).flatten(0, 2)),
        ),
        (
            "gradient",
            Box::new(|m| gradient(&scalar.then(SumOfSquares), x.clone(), m).flatten(0, 1)),
        ),
        ("laplacian", Box::new(|m| laplacian(&scalar, x.clone(), m))),
    ];
    for (name, call) in &calls {
        let run = |mode| {
            reset_path_counts();
            let v = chosen.scope(|| call(mode));
            let c = path_counts();
            (v, c.forward, c.reverse)
        };
        let (auto, auto_forward, auto_reverse) = run(Mode::Auto);
        let (asked, asked_forward, asked_reverse) = run(Mode::AutoReverse);
        assert!(
            auto_forward > 0 && auto_reverse == 0,
            "{name}: Auto takes forward lanes"
        );
        assert!(
            asked_forward == 0 && asked_reverse > 0,
            "{name}: AutoReverse is honoured"
        );
        assert!(
            auto.dims()[0] >= 3,
            "{name}: compared {} entries",
            auto.dims()[0]
        );
        let gap = (auto - asked).abs().max().into_scalar();
        assert!(gap < 1e-12, "{name}: the two paths differ by {gap}");
    }
}
