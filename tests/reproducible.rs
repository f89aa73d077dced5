//! Reproducible runs: tuning decisions saved to a file and loaded back give a
//! rerun the same paths with no trial, so two trainings from the same weights
//! give bit-identical losses in f32; a bad file is refused and changes nothing;
//! the key loaded decisions match on survives Burn's random parameter ids.
//!
//! Tuning decisions are process-global, so the tests that read or change them
//! hold [`TUNING_STATE`] (tests of one binary run on parallel threads).

use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};

use burn::module::{Module, Param};
use burn::nn::Linear;
use burn::optim::{AdamConfig, GradientsParams, Optimizer};
use burn::tensor::{Tensor, TensorData, backend::Backend};
use burn_nested::{
    Forward, Mode, NestedFn, StatefulLayer, laplacian,
    settings::{
        TunedPath, TuningDecision, clear_tuning, load_tuning, path_counts, reset_path_counts,
        save_tuning, tuning_decisions, with_tuning,
    },
};

type Ad = burn_autodiff::Autodiff<burn_ndarray::NdArray<f32>>;

/// Steps per training: enough for the laplacian's trial (warm-up and timed
/// calls on both paths, 11 calls) to end in a decision.
const STEPS: usize = 12;
/// Collocation points (rows) and hidden width.
const BATCH: usize = 16;
const HIDDEN: usize = 8;

static TUNING_STATE: Mutex<()> = Mutex::new(());

fn tuning_state() -> MutexGuard<'static, ()> {
    TUNING_STATE.lock().unwrap_or_else(|e| e.into_inner())
}

/// `u(x, y)`: a tanh MLP 2 → HIDDEN → HIDDEN → 1.
#[derive(Module, Debug)]
struct Pinn<B: Backend> {
    layers: Vec<Linear<B>>,
}

impl<B: Backend> Forward<B, 2, 2> for Pinn<B> {
    fn forward(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        let last = self.layers.len() - 1;
        self.layers
            .iter()
            .enumerate()
            .fold(x, |h, (i, layer)| match i == last {
                true => layer.forward(h),
                false => layer.forward(h).tanh(),
            })
    }
}

/// Deterministic numbers in `[-scale, scale]` (no random draws: Burn's
/// initializers draw anew in every run).
fn fixed(n: usize, salt: usize, scale: f32) -> Vec<f32> {
    (0..n)
        .map(|i| scale * (((i * 7919 + salt * 104_729) % 1000) as f32 / 500.0 - 1.0))
        .collect()
}

fn linear(
    inputs: usize,
    outputs: usize,
    salt: usize,
    device: &burn::tensor::Device<Ad>,
) -> Linear<Ad> {
    let scale = 1.0 / (inputs as f32).sqrt();
    let weight = TensorData::new(fixed(inputs * outputs, salt, scale), [inputs, outputs]);
    let bias = TensorData::new(fixed(outputs, salt + 1, 0.1), [outputs]);
    Linear {
        weight: Param::from_tensor(Tensor::from_data(weight, device)),
        bias: Some(Param::from_tensor(Tensor::from_data(bias, device))),
    }
}

/// The same weights every time, with fresh parameter ids (as in a new process).
fn model(device: &burn::tensor::Device<Ad>) -> Pinn<Ad> {
    Pinn {
        layers: vec![
            linear(2, HIDDEN, 1, device),
            linear(HIDDEN, HIDDEN, 2, device),
            linear(HIDDEN, 1, 3, device),
        ],
    }
}

/// A Poisson residual `Δu + 1` at fixed collocation points, `Mode::Auto`
/// (measured switching may choose the laplacian's path), trained with Adam:
/// the losses of every step, as bits.
fn train(steps: usize) -> Vec<u32> {
    let device = Default::default();
    let mut model = model(&device);
    let points = TensorData::new(fixed(BATCH * 2, 9, 1.0), [BATCH, 2]);
    let mut optim = AdamConfig::new().init();
    let mut losses = Vec::new();
    for _ in 0..steps {
        let x = Tensor::<Ad, 2>::from_data(points.clone(), &device);
        let layer = StatefulLayer::from_ref(&model);
        let residual = laplacian(&layer, x, Mode::Auto) + 1.0;
        let loss = (residual.clone() * residual).mean();
        let value: f32 = loss.clone().into_scalar();
        losses.push(value.to_bits());
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(1e-2, model, grads);
    }
    losses
}

fn temp_file(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "burn-nested-reproducible-{}-{name}",
        std::process::id()
    ))
}

fn laplacian_decisions() -> Vec<TuningDecision> {
    let mut d: Vec<_> = tuning_decisions()
        .into_iter()
        .filter(|d| d.transform == "laplacian" && d.input_dims == [BATCH, 2])
        .collect();
    d.sort_by_key(|d| d.chosen == TunedPath::Reverse);
    d
}

#[test]
fn loaded_decisions_give_reruns_the_same_paths_and_bit_identical_losses() {
    let _state = tuning_state();
    clear_tuning();

    // The first run tunes: trial steps, then a decision.
    reset_path_counts();
    train(STEPS);
    assert!(
        path_counts().tuning > 0,
        "the first run made no trial step: {:?}",
        path_counts()
    );
    let made = laplacian_decisions();
    assert_eq!(made.len(), 1, "one decision for the laplacian: {made:?}");
    assert!(made[0].inside_loss);
    assert!(
        made[0].forward_ms.is_finite() && made[0].reverse_ms.is_finite(),
        "the decision was timed: {made:?}"
    );

    let file = temp_file("decisions.tsv");
    let saved = save_tuning(&file).expect("the decisions saved");
    assert!(saved >= 1, "saved {saved} decisions");

    // A new process, as far as tuning knows: nothing decided, then the file.
    clear_tuning();
    assert!(tuning_decisions().is_empty());
    assert_eq!(load_tuning(&file).expect("the file read back"), saved);

    // Two reruns from the same weights (fresh parameter ids each): no trial,
    // the loaded path, and the same losses to the bit.
    let mut reruns = Vec::new();
    for run in 0..2 {
        reset_path_counts();
        reruns.push(train(STEPS));
        assert_eq!(
            path_counts().tuning,
            0,
            "rerun {run} made trial steps despite the loaded decisions: {:?}",
            path_counts()
        );
        let now = laplacian_decisions();
        assert!(!now.is_empty(), "rerun {run} met no loaded decision");
        for d in &now {
            assert_eq!(d.chosen, made[0].chosen, "rerun {run} took another path");
            // The times are the file's: nothing was measured again.
            assert_eq!(d.forward_ms.to_bits(), made[0].forward_ms.to_bits());
            assert_eq!(d.reverse_ms.to_bits(), made[0].reverse_ms.to_bits());
        }
    }
    assert_eq!(
        reruns[0], reruns[1],
        "two reruns with loaded decisions gave different f32 losses"
    );

    // Saving again writes the same file: loaded decisions round-trip.
    let again = temp_file("again.tsv");
    assert_eq!(save_tuning(&again).expect("saved again"), saved);
    let read = |p: &PathBuf| std::fs::read_to_string(p).expect("a saved file");
    assert_eq!(read(&file), read(&again));

    // The loaded path is the one taken, even against the shape rule (forward
    // lanes for the laplacian): flip it in the file and look at the passes.
    let flipped = match made[0].chosen {
        TunedPath::Forward => TunedPath::Reverse,
        TunedPath::Reverse => TunedPath::Forward,
    };
    let edited = read(&file).replace(
        &format!("\t{:?}\t", made[0].chosen),
        &format!("\t{flipped:?}\t"),
    );
    std::fs::write(&again, edited).expect("the edited file written");
    clear_tuning();
    assert_eq!(load_tuning(&again).expect("the edited file read"), saved);
    reset_path_counts();
    train(2);
    let counts = path_counts();
    assert_eq!(counts.tuning, 0, "{counts:?}");
    match flipped {
        TunedPath::Reverse => assert!(counts.reverse >= 2, "no reverse pass: {counts:?}"),
        TunedPath::Forward => assert_eq!(counts.reverse, 0, "a reverse pass: {counts:?}"),
    }

    // Pinning by rule (tuning off) is deterministic too.
    let rule = || {
        reset_path_counts();
        let losses = with_tuning(false, || train(4));
        assert_eq!(path_counts().tuning, 0);
        losses
    };
    assert_eq!(rule(), rule(), "rule-only runs gave different losses");

    clear_tuning();
    let _ = std::fs::remove_file(file);
    let _ = std::fs::remove_file(again);
}

#[test]
fn a_malformed_file_is_refused_and_changes_no_decision() {
    let _state = tuning_state();
    clear_tuning();
    let good = temp_file("good.tsv");
    std::fs::write(
        &good,
        "burn-nested tuning decisions v1\n\
         laplacian\tSomeBackend\tCpu\t16,2\t0123456789abcdef\ttrue\tReverse\t1.5\t2.5\n",
    )
    .unwrap();
    assert_eq!(load_tuning(&good).unwrap(), 1);
    let before = std::fs::read_to_string(&good).unwrap();

    let cases = [
        ("wrong header", "burn-nested tuning decisions v0\n", 1),
        (
            "too few fields",
            "burn-nested tuning decisions v1\n# comment\nlaplacian\tB\tCpu\t16,2\n",
            3,
        ),
        (
            "bad path",
            "burn-nested tuning decisions v1\n\
             gradient\tB\tCpu\t4\t0000000000000001\tfalse\tForward\t1\t2\n\
             gradient\tB\tCpu\t4\t0000000000000002\tfalse\tSideways\t1\t2\n",
            3,
        ),
        (
            "bad time",
            "burn-nested tuning decisions v1\n\
             gradient\tB\tCpu\t4\t0000000000000001\tfalse\tForward\tfast\t2\n",
            2,
        ),
    ];
    for (what, text, line) in cases {
        let bad = temp_file("bad.tsv");
        std::fs::write(&bad, text).unwrap();
        let err = load_tuning(&bad).expect_err(what);
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidData, "{what}: {err}");
        let message = err.to_string();
        assert!(
            message.starts_with("burn-nested: `load_tuning`")
                && message.contains(&format!("line {line}:")),
            "{what}: the message should name `load_tuning` and line {line}: {message}"
        );
        // Nothing of the bad file was loaded; the earlier load stays.
        let out = temp_file("after-bad.tsv");
        assert_eq!(save_tuning(&out).unwrap(), 1, "{what}");
        assert_eq!(
            std::fs::read_to_string(&out).unwrap().lines().last(),
            before.lines().last()
        );
        let _ = std::fs::remove_file(bad);
        let _ = std::fs::remove_file(out);
    }
    clear_tuning();
    let _ = std::fs::remove_file(good);
}

/// The property a new process relies on: two models built separately (other
/// parameter ids, as Burn draws them anew in every run) have different
/// structure keys but one portable key; other shapes give another.
#[test]
fn the_portable_key_survives_new_parameter_ids() {
    let device = Default::default();
    let (a, b) = (model(&device), model(&device));
    let key = |m: &Pinn<Ad>| {
        let layer = StatefulLayer::from_ref(m);
        (
            NestedFn::<Ad, 2, 2>::structure_key(&layer).unwrap(),
            NestedFn::<Ad, 2, 2>::portable_key(&layer).unwrap(),
        )
    };
    let (ka, kb) = (key(&a), key(&b));
    assert_ne!(ka.0, kb.0, "different models share a structure key");
    assert_eq!(ka.1, kb.1, "the portable key depends on parameter ids");

    let mut wider = model(&device);
    wider.layers[0] = linear(2, HIDDEN + 1, 1, &device);
    wider.layers[1] = linear(HIDDEN + 1, HIDDEN, 2, &device);
    assert_ne!(key(&wider).1, ka.1, "other shapes share the portable key");
}
