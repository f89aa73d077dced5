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
    Mode, path_counts, reset_path_counts, set_switching, switching_enabled, with_switching,
};
use scenarios::{Mlp, pinn_gradient, sizes};

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
