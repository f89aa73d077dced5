//! Errors that point at the fix.
//!
//! - `docs/errors.md` lists every `burn-nested:` message in `src/`, with its
//!   cause and its fix: the first test scans the sources and fails naming each
//!   message the page lacks.
//! - A panic about bad input reports the line of the user's call, not a line
//!   inside burn-nested: the public transforms and the checks on the way to the
//!   panic are `#[track_caller]`. The second test records each panic's location
//!   with a panic hook and checks that it is in this file.

#[path = "../scenarios/mod.rs"]
mod scenarios;

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::Once;

use burn::tensor::{Tensor, TensorData};
use burn_nested::engd::{Engd, EngdConfig};
use burn_nested::{
    Mode, Pure, Stochastic, batched_jacobian, gradient, hessian, hvp, jacobian, jvp, jvp_lanes,
    lift::seed, second_order_operator, stochastic_laplacian, vjp,
};
use scenarios::Mlp;

type F = burn_ndarray::NdArray<f64>;
type Ad = burn_autodiff::Autodiff<F>;

// ---- the page lists every message -------------------------------------------

/// The prefix every message of the crate starts with.
const PREFIX: &str = "burn-nested: ";

/// How much of a message (after the prefix) must appear on the page. Long
/// enough to tell apart the messages that share a beginning (the two row-guard
/// messages agree on their first 60 characters).
const KEY_CHARS: usize = 72;

/// Every `.rs` file under `dir`, recursively.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("a readable source directory") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Whitespace runs as single spaces, so line breaks in the sources and on the
/// page do not matter.
fn normalized(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The text of the string literal that starts at `text[start..]` (just after
/// its opening quote): escapes resolved, `\`-newline continuations joined the
/// way Rust joins them, and `{{`/`}}` as the braces a format string prints.
/// Placeholders (`{op}`, `{:?}`) stay as written.
fn literal_at(text: &str, start: usize) -> String {
    let mut out = String::new();
    let mut chars = text[start..].chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => break,
            '\\' => match chars.next() {
                Some('\n') => while chars.next_if(|c| c.is_whitespace()).is_some() {},
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some(other) => out.push(other),
                None => break,
            },
            c => out.push(c),
        }
    }
    out.replace("{{", "{").replace("}}", "}")
}

/// Every `burn-nested:` message literal in `src/`: its key (the first
/// [`KEY_CHARS`] characters after the prefix, whitespace normalised) and where
/// it is (`file:line`, the first place).
fn messages_in_src() -> (usize, BTreeMap<String, String>) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    files.sort();
    let mut literals = 0;
    let mut keys = BTreeMap::new();
    let quoted = format!("\"{PREFIX}");
    for file in files {
        let text = std::fs::read_to_string(&file).expect("a readable source file");
        for (at, _) in text.match_indices(&quoted) {
            let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
            if text[line_start..at].trim_start().starts_with("//") {
                continue; // a comment quoting a message
            }
            let message = normalized(&literal_at(&text, at + 1));
            let body = message.strip_prefix(PREFIX.trim_end()).unwrap_or(&message);
            let key: String = body.trim().chars().take(KEY_CHARS).collect();
            let line = text[..at].matches('\n').count() + 1;
            let place = format!(
                "{}:{line}",
                file.strip_prefix(root).unwrap_or(&file).display()
            );
            literals += 1;
            keys.entry(key).or_insert(place);
        }
    }
    (literals, keys)
}

#[test]
fn every_message_in_src_is_on_the_errors_page() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let page = std::fs::read_to_string(root.join("docs/errors.md")).expect("docs/errors.md");
    let page = normalized(&page);
    let (literals, keys) = messages_in_src();
    assert!(
        keys.len() >= 40,
        "found only {} distinct burn-nested messages ({literals} literals) in src/: the scan \
         is broken",
        keys.len()
    );
    let missing: Vec<String> = keys
        .iter()
        .filter(|(key, _)| !page.contains(key.as_str()))
        .map(|(key, place)| format!("  {place}: {PREFIX}{key}"))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/errors.md lacks {} of the {} burn-nested messages in src/ (each must appear with \
         at least its first {KEY_CHARS} characters, placeholders as written):\n{}",
        missing.len(),
        keys.len(),
        missing.join("\n")
    );
    eprintln!(
        "{} distinct burn-nested messages ({literals} literals), all on docs/errors.md",
        keys.len()
    );
}

// ---- panics about bad input name the caller's line --------------------------

thread_local! {
    /// Set while a panic is expected on this thread: the hook then records its
    /// location instead of printing it.
    static EXPECTING: Cell<bool> = const { Cell::new(false) };
    /// The location of the last expected panic on this thread.
    static LOCATION: RefCell<Option<(String, u32)>> = const { RefCell::new(None) };
}

/// Installs (once) a panic hook that records the location of expected panics and
/// leaves every other panic to the default hook, so a failing assertion of
/// this file still prints its message.
fn install_hook() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if EXPECTING.with(Cell::get) {
                let location = info.location().map(|l| (l.file().to_string(), l.line()));
                LOCATION.with(|l| *l.borrow_mut() = location);
            } else {
                default(info);
            }
        }));
    });
}

/// Runs `call`, which must panic with a burn-nested message, and returns the
/// message and the panic's location.
fn panic_of(name: &str, call: impl FnOnce()) -> (String, (String, u32)) {
    install_hook();
    LOCATION.with(|l| *l.borrow_mut() = None);
    EXPECTING.with(|e| e.set(true));
    let result = catch_unwind(AssertUnwindSafe(call));
    EXPECTING.with(|e| e.set(false));
    let payload = result
        .err()
        .unwrap_or_else(|| panic!("{name}: the call returned"));
    let message = payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default();
    let location = LOCATION
        .with(|l| l.borrow_mut().take())
        .unwrap_or_else(|| panic!("{name}: the panic had no location"));
    assert!(
        message.starts_with(PREFIX),
        "{name}: not a burn-nested message: {message}"
    );
    (message, location)
}

burn_nested::tensor_fn!(Square, |x: 2| -> 2 { x.clone() * x });
burn_nested::tensor_fn!(Total, |x: 2| -> 1 { (x.clone() * x).sum() });

fn t<const D: usize>(shape: [usize; D]) -> Tensor<F, D> {
    let n = shape.iter().product::<usize>();
    let values = (0..n).map(|i| 0.1 * (i as f64 + 1.0)).collect::<Vec<_>>();
    Tensor::from_data(TensorData::new(values, shape), &Default::default())
}

/// A call refused for bad input, and the part of the message that shows which
/// check refused it.
type Case = (&'static str, &'static str, Box<dyn Fn()>);

fn bad_input_cases() -> Vec<Case> {
    vec![
        (
            "jvp, a tangent of the wrong shape",
            "`jvp` needs a tangent shaped like the input",
            Box::new(|| drop(jvp(&Pure(Square), t([2, 3]), t([3, 2])))),
        ),
        (
            "jvp of an empty input",
            "`jvp` got an input with no entries",
            Box::new(|| drop(jvp(&Pure(Square), t([0, 3]), t([0, 3])))),
        ),
        (
            "jvp_lanes, zero tangent lanes",
            "`jvp_lanes` needs at least one lane",
            Box::new(|| {
                let _: Tensor<F, 3> = jvp_lanes(&Pure(Square), t([2, 3]), t([0, 2, 3]));
            }),
        ),
        (
            "jvp_lanes, a result of the wrong rank",
            "`jvp_lanes` takes directions of rank 3",
            Box::new(|| {
                let _: Tensor<F, 2> = jvp_lanes(&Pure(Square), t([2, 3]), t([1, 2, 3]));
            }),
        ),
        (
            "seed, a tangent whose lanes do not wrap the primal",
            "a tangent must have shape [lanes, ..primal shape]",
            Box::new(|| drop(seed(t([2, 3]), t([1, 3, 2])))),
        ),
        (
            "jacobian, a zero chunk",
            "`jacobian` was given `Mode::AutoForward { chunk: Some(0) }`",
            Box::new(|| drop(jacobian(&Pure(Square), t([2, 3]), Mode::forward_chunked(0)))),
        ),
        (
            "vjp, a wrong cotangent, reverse path",
            "`vjp` needs a cotangent shaped like the output",
            Box::new(|| drop(vjp(&Pure(Square), t([2, 3]), t([3, 2]), Mode::AutoReverse))),
        ),
        (
            "vjp, a wrong cotangent, forward path",
            "`vjp` needs a cotangent shaped like the output",
            Box::new(|| drop(vjp(&Pure(Square), t([2, 3]), t([3, 2]), Mode::FORWARD))),
        ),
        (
            "gradient of a vector output, reverse path",
            "`gradient` needs a scalar output",
            Box::new(|| drop(gradient(&Pure(Square), t([2, 3]), Mode::AutoReverse))),
        ),
        (
            "gradient of a vector output, forward path",
            "`gradient` needs a scalar output",
            Box::new(|| drop(gradient(&Pure(Square), t([2, 3]), Mode::FORWARD))),
        ),
        (
            "hvp, a direction of the wrong shape",
            "`hvp` needs a direction shaped like the input",
            Box::new(|| drop(hvp(&Pure(Total), t([2, 3]), t([3, 2])))),
        ),
        (
            "hvp of a vector output",
            "`hvp` needs a scalar output",
            Box::new(|| drop(hvp(&Pure(Square), t([2, 3]), t([2, 3])))),
        ),
        (
            "hessian of a vector output",
            "`hessian` needs a scalar output",
            Box::new(|| drop(hessian(&Pure(Square), t([2, 3])))),
        ),
        (
            "batched_jacobian of an input without features",
            "`batched_jacobian` got an input with no entries",
            Box::new(|| drop(batched_jacobian(&Pure(Square), t([2, 0]), Mode::Auto))),
        ),
        (
            "second_order_operator, an asymmetric A",
            "needs a symmetric coefficient matrix",
            Box::new(|| {
                let a = Tensor::<F, 2>::from_data(
                    TensorData::new(vec![1.0, 2.0, 0.0, 1.0], [2, 2]),
                    &Default::default(),
                );
                drop(second_order_operator(&Pure(Square), t([3, 2]), a));
            }),
        ),
        (
            "stochastic_laplacian, zero probes",
            "`stochastic_laplacian` needs at least one probe",
            Box::new(|| {
                let zero = Stochastic::rademacher(0, 1);
                drop(stochastic_laplacian(&Pure(Square), t([3, 2]), zero));
            }),
        ),
        (
            "unflatten_params, a vector of the wrong length",
            "`unflatten_params` needs a vector of 9 elements",
            Box::new(|| {
                let model = Mlp::<F>::new(&[2, 3], false, &Default::default());
                drop(burn_nested::params::unflatten_params(model, t([4])));
            }),
        ),
        (
            "check::param_gradients, a parameter the loss does not reach",
            "trainable parameter `layers.1.weight`",
            Box::new(|| {
                let model = Mlp::<Ad>::new(&[2, 4, 3], false, &Default::default());
                let x = Tensor::<Ad, 2>::ones([5, 2], &Default::default());
                let first = model.layers[0].forward(x);
                let grads = (first.clone() * first).sum().backward();
                drop(burn_nested::check::param_gradients(&model, &grads));
            }),
        ),
        (
            "check::scalar of a vector",
            "`check::scalar` expected a one-element loss",
            Box::new(|| {
                let _ = burn_nested::check::scalar(t([2]));
            }),
        ),
        (
            "Engd::new, a negative damping",
            "ENGD's damping must be finite and non-negative",
            Box::new(|| {
                let _ = Engd::new(EngdConfig::new().with_damping(-1.0));
            }),
        ),
    ]
}

/// Each refusal reports this file, where the call is: `#[track_caller]` carries
/// the location from the check through the transform to the caller.
#[test]
fn a_panic_about_bad_input_names_the_callers_line() {
    let mut wrong = Vec::new();
    for (name, expected, call) in bad_input_cases() {
        let (message, (file, line)) = panic_of(name, call);
        assert!(
            message.contains(expected),
            "{name}: the message lacks {expected:?}: {message}"
        );
        if Path::new(&file) != Path::new(file!()) {
            wrong.push(format!("  {name}: {file}:{line}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "these panics point inside burn-nested instead of at the call in {}:\n{}",
        file!(),
        wrong.join("\n")
    );
}

/// The recorded location is the call's own line, not just this file.
#[test]
fn the_location_is_the_line_of_the_call() {
    let call_line = line!() + 1;
    let (_, (file, line)) = panic_of("jvp", || drop(jvp(&Pure(Square), t([2, 3]), t([3, 2]))));
    assert_eq!((Path::new(&file), line), (Path::new(file!()), call_line));
}
