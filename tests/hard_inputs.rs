//! Hard inputs: the derivative each op gives where it is defined by convention —
//! exact ties, zeros, kinks, breakpoints, NaN and infinities — pinned on
//! ndarray in f64, forward (`Dual`) and reverse (Burn's `Autodiff`) side by side.
//! `docs/ops.md` ("Hard inputs") tables the same rows with JAX's convention.
//!
//! Each row states what burn-nested's forward rule returns there and whether
//! Burn's reverse rule returns the same; where it does not, the row states
//! Burn's value too, so a change on either side shows.

mod common;

use burn::tensor::{Tensor, TensorData, activation, backend::Backend};
use burn_autodiff::Autodiff;
use burn_nested::{Mode, Pure, TensorFn, jacobian, jvp};
use common::{F, tensor, values};

/// An op under test, applied to a rank-1 input.
#[derive(Debug, Clone, Copy)]
enum Op {
    Abs,
    Sign,
    Sqrt,
    PowfScalar(f64),
    PowiScalar(i32),
    DivScalar(f64),
    MulScalar(f64),
    Log,
    Exp,
    Tanh,
    Sigmoid,
    Sin,
    Relu,
    LeakyRelu(f64),
    Clamp(f64, f64),
    HardSigmoid,
    RemainderScalar(f64),
    /// Binary ops on `x = [l, r]` (one element each).
    Div,
    Powf,
    Remainder,
    Prod,
    /// `prod_dim(1)` of `x` seen as `[2, n/2]`.
    ProdDim,
    Cumprod,
    Max,
    Min,
    /// `max_dim(1)` of `x` seen as `[2, n/2]`.
    MaxDim,
    /// `a.max_pair(b)` with `x = [a, b]` (halves).
    MaxPair,
    MinPair,
    Sort,
    TopK(usize),
    Cummax,
    Cummin,
    /// `max_pool1d(kernel, stride, padding)` of `x` as `[1, 1, n]`.
    MaxPool1d(usize, usize, usize),
    /// `max_pool2d` 2×2, stride 1, of `x` as `[1, 1, 2, n/2]`.
    MaxPool2d,
}

impl Op {
    /// The binary ops on their two operands.
    fn binary<B: Backend>(&self, l: Tensor<B, 1>, r: Tensor<B, 1>) -> Tensor<B, 1> {
        match self {
            Op::Div => l / r,
            Op::Powf => l.powf(r),
            Op::Remainder => l.remainder(r),
            other => unreachable!("{other:?} is not binary"),
        }
    }
}

impl TensorFn<1, 1> for Op {
    fn apply<B: Backend>(&self, x: Tensor<B, 1>) -> Tensor<B, 1> {
        let n = x.dims()[0];
        let half = n / 2;
        let halves = || {
            (
                x.clone().narrow(0, 0, half),
                x.clone().narrow(0, half, n - half),
            )
        };
        match *self {
            Op::Abs => x.abs(),
            Op::Sign => x.sign(),
            Op::Sqrt => x.sqrt(),
            Op::PowfScalar(e) => x.powf_scalar(e),
            Op::PowiScalar(e) => x.powi_scalar(e),
            Op::DivScalar(c) => x / c,
            Op::MulScalar(c) => x * c,
            Op::Log => x.log(),
            Op::Exp => x.exp(),
            Op::Tanh => x.tanh(),
            Op::Sigmoid => activation::sigmoid(x),
            Op::Sin => x.sin(),
            Op::Relu => activation::relu(x),
            Op::LeakyRelu(s) => activation::leaky_relu(x, s),
            Op::Clamp(lo, hi) => x.clamp(lo, hi),
            Op::HardSigmoid => activation::hard_sigmoid(x, 0.2, 0.5),
            Op::RemainderScalar(c) => x.remainder_scalar(c),
            Op::Div | Op::Powf | Op::Remainder => {
                let (l, r) = halves();
                self.binary(l, r)
            }
            Op::Prod => x.prod(),
            Op::ProdDim => x.reshape([2, n / 2]).prod_dim(1).reshape([2]),
            Op::Cumprod => x.cumprod(0),
            Op::Max => x.max(),
            Op::Min => x.min(),
            Op::MaxDim => x.reshape([2, n / 2]).max_dim(1).reshape([2]),
            Op::MaxPair => {
                let (a, b) = halves();
                a.max_pair(b)
            }
            Op::MinPair => {
                let (a, b) = halves();
                a.min_pair(b)
            }
            Op::Sort => x.sort(0),
            Op::TopK(k) => x.topk(k, 0),
            Op::Cummax => x.cummax(0),
            Op::Cummin => x.cummin(0),
            Op::MaxPool1d(k, s, p) => {
                let y = burn::tensor::module::max_pool1d(x.reshape([1, 1, n]), k, s, p, 1, false);
                let m = y.dims()[2];
                y.reshape([m])
            }
            Op::MaxPool2d => {
                let y = burn::tensor::module::max_pool2d(
                    x.reshape([1, 1, 2, n / 2]),
                    [2, 2],
                    [1, 1],
                    [0, 0],
                    [1, 1],
                    false,
                );
                let m = y.shape().num_elements();
                y.reshape([m])
            }
        }
    }
}

/// What Burn's `Autodiff` gives at the same point.
#[derive(Debug, Clone)]
enum Reverse {
    /// The same as the forward rule.
    Same,
    /// Something else (Burn's convention or defect), pinned.
    Differs(Vec<f64>),
    /// Burn 0.21 has no reverse rule (it panics).
    Missing,
}

/// How a row is read.
#[derive(Debug, Clone, Copy)]
enum Read {
    /// Elementwise: the forward tangent for direction 1 everywhere, and Burn's
    /// gradient of the sum (both `f'(x)`, no `0·∞` from other lanes).
    Slopes,
    /// The whole Jacobian `[out, in]`, row-major: forward lanes one per input,
    /// Burn's one backward per output.
    Jacobian,
    /// A binary op on `x = [l, r]`: `[∂l, ∂r]`, each partial taken with the other
    /// operand constant (one lane over both would mix them: `0·∞` is NaN).
    Partials,
}

struct Row {
    what: &'static str,
    op: Op,
    read: Read,
    x: Vec<f64>,
    forward: Vec<f64>,
    reverse: Reverse,
    /// Relative tolerance for finite values (Burn computes some ops in f32).
    tol: f64,
}

const INF: f64 = f64::INFINITY;
const NAN: f64 = f64::NAN;

fn row(
    what: &'static str,
    op: Op,
    read: Read,
    x: &[f64],
    forward: &[f64],
    reverse: Reverse,
) -> Row {
    Row {
        what,
        op,
        read,
        x: x.to_vec(),
        forward: forward.to_vec(),
        reverse,
        tol: 1e-12,
    }
}

use Read::{Jacobian as J, Partials as P, Slopes as S};
use Reverse::{Differs, Missing, Same};

fn rows() -> Vec<Row> {
    let mut rows = vec![
        // Kinks and zeros of elementwise ops.
        row(
            "abs at ±0 (sign(0) = 0), 2, −3",
            Op::Abs,
            S,
            &[0.0, -0.0, 2.0, -3.0],
            &[0.0, 0.0, 1.0, -1.0],
            Same,
        ),
        row(
            "sign: no tangent",
            Op::Sign,
            S,
            &[0.0, 1.0, -2.0, NAN],
            &[0.0, 0.0, 0.0, 0.0],
            Same,
        ),
        row(
            "sqrt at +0, −0, 4, −1, ∞",
            Op::Sqrt,
            S,
            &[0.0, -0.0, 4.0, -1.0, INF],
            &[INF, -INF, 0.25, NAN, 0.0],
            Differs(vec![INF, INF, 0.25, NAN, 0.0]),
        ),
        row(
            "x² at 0, −2, 3",
            Op::PowfScalar(2.0),
            S,
            &[0.0, -2.0, 3.0],
            &[0.0, -4.0, 6.0],
            Same,
        ),
        row(
            "x^0.5 at 0, 4, −1",
            Op::PowfScalar(0.5),
            S,
            &[0.0, 4.0, -1.0],
            &[INF, 0.25, NAN],
            Same,
        ),
        row(
            "x^0 at 0, 2, NaN",
            Op::PowfScalar(0.0),
            S,
            &[0.0, 2.0, NAN],
            &[0.0, 0.0, 0.0],
            Same,
        ),
        row("x^−1 at 0", Op::PowfScalar(-1.0), S, &[0.0], &[-INF], Same),
        row(
            "x^3 (powi) at −2, 0",
            Op::PowiScalar(3),
            S,
            &[-2.0, 0.0],
            &[12.0, 0.0],
            Same,
        ),
        row(
            "x / 0",
            Op::DivScalar(0.0),
            S,
            &[1.0, -1.0, 0.0],
            &[INF, INF, INF],
            Same,
        ),
        row(
            "x · 0 at ∞ (primal NaN)",
            Op::MulScalar(0.0),
            S,
            &[INF, 1.0],
            &[0.0, 0.0],
            Same,
        ),
        row(
            "log at +0, −0, −1, ∞, NaN",
            Op::Log,
            S,
            &[0.0, -0.0, -1.0, INF, NAN],
            &[INF, -INF, -1.0, 0.0, NAN],
            Same,
        ),
        row(
            "exp overflow, −∞, NaN",
            Op::Exp,
            S,
            &[1000.0, -INF, NAN],
            &[INF, 0.0, NAN],
            Same,
        ),
        row(
            "tanh at ±∞, NaN",
            Op::Tanh,
            S,
            &[INF, -INF, NAN],
            &[0.0, 0.0, NAN],
            Same,
        ),
        row(
            "sigmoid at ±∞, NaN",
            Op::Sigmoid,
            S,
            &[INF, -INF, NAN],
            &[0.0, 0.0, NAN],
            Same,
        ),
        row("sin at ∞, NaN", Op::Sin, S, &[INF, NAN], &[NAN, NAN], Same),
        row(
            "relu at ±0 (0), NaN (passes), 1",
            Op::Relu,
            S,
            &[0.0, -0.0, NAN, 1.0],
            &[0.0, 0.0, 1.0, 1.0],
            Same,
        ),
        row(
            "leaky_relu at 0 (slope 1), NaN, −1",
            Op::LeakyRelu(0.1),
            S,
            &[0.0, NAN, -1.0],
            &[1.0, 1.0, 0.1],
            Same,
        ),
        row(
            "clamp(0, 1) at its bounds (passes), inside, outside, NaN",
            Op::Clamp(0.0, 1.0),
            S,
            &[0.0, 1.0, 0.5, -1.0, 2.0, NAN],
            &[1.0, 1.0, 1.0, 0.0, 0.0, 1.0],
            Same,
        ),
        row(
            "remainder by 2 of negatives and at multiples",
            Op::RemainderScalar(2.0),
            S,
            &[-3.5, -4.0, 4.0, 3.5],
            &[1.0, 1.0, 1.0, 1.0],
            Same,
        ),
        // Binary ops: x = [l, r], the Jacobian [∂l, ∂r].
        row("1 / 0", Op::Div, P, &[1.0, 0.0], &[INF, -INF], Same),
        row("0 / 0", Op::Div, P, &[0.0, 0.0], &[INF, NAN], Same),
        row(
            "0 ^ 0",
            Op::Powf,
            P,
            &[0.0, 0.0],
            &[0.0, 0.0],
            Differs(vec![NAN, -INF]),
        ),
        row(
            "0 ^ 2",
            Op::Powf,
            P,
            &[0.0, 2.0],
            &[0.0, 0.0],
            Differs(vec![0.0, NAN]),
        ),
        row("(−2) ^ 2", Op::Powf, P, &[-2.0, 2.0], &[-4.0, NAN], Same),
        row(
            "3.5 mod −2",
            Op::Remainder,
            P,
            &[3.5, -2.0],
            &[1.0, 2.0],
            Same,
        ),
        row(
            "−3.5 mod 2",
            Op::Remainder,
            P,
            &[-3.5, 2.0],
            &[1.0, 2.0],
            Same,
        ),
        // Products at zeros and negative entries.
        row(
            "prod with one zero",
            Op::Prod,
            J,
            &[2.0, 0.0, 3.0],
            &[0.0, 6.0, 0.0],
            Differs(vec![0.0, NAN, 0.0]),
        ),
        row(
            "prod with two zeros",
            Op::Prod,
            J,
            &[0.0, 0.0, 3.0],
            &[0.0, 0.0, 0.0],
            Differs(vec![NAN, NAN, 0.0]),
        ),
        row(
            "prod with negatives",
            Op::Prod,
            J,
            &[-1.0, 2.0, -3.0],
            &[-6.0, 3.0, -2.0],
            Differs(vec![NAN, NAN, NAN]),
        ),
        row(
            "prod_dim with a zero and negatives",
            Op::ProdDim,
            J,
            &[2.0, 0.0, 3.0, -1.0, 2.0, -3.0],
            &[0.0, 6.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -6.0, 3.0, -2.0],
            // Burn's NaN product of the second row reaches the first row's
            // gradient too (0·NaN).
            Differs(vec![
                0.0, NAN, 0.0, NAN, NAN, NAN, 0.0, NAN, 0.0, NAN, NAN, NAN,
            ]),
        ),
        row(
            "cumprod with a zero",
            Op::Cumprod,
            J,
            &[2.0, 0.0, 3.0],
            &[1.0, 0.0, 0.0, 0.0, 2.0, 0.0, 0.0, 6.0, 0.0],
            Differs(vec![1.0, NAN, 0.0, 0.0, NAN, 0.0, 0.0, NAN, 0.0]),
        ),
        // Ties: one index takes the whole tangent (the backend's first).
        row(
            "max with a tie",
            Op::Max,
            J,
            &[1.0, 3.0, 3.0, 2.0],
            &[0.0, 1.0, 0.0, 0.0],
            Same,
        ),
        row(
            "min with a tie",
            Op::Min,
            J,
            &[2.0, 1.0, 1.0],
            &[0.0, 1.0, 0.0],
            Same,
        ),
        row(
            "max_dim with ties",
            Op::MaxDim,
            J,
            &[1.0, 3.0, 3.0, 5.0, 5.0, 0.0],
            &[0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0],
            Same,
        ),
        row(
            "max_pair: a tie goes to self",
            Op::MaxPair,
            J,
            &[1.0, 2.0, 1.0, 3.0],
            &[1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0],
            Same,
        ),
        row(
            "min_pair: a tie goes to self",
            Op::MinPair,
            J,
            &[1.0, 2.0, 1.0, 3.0],
            &[1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0],
            Same,
        ),
        row(
            "cummax: the latest tied position",
            Op::Cummax,
            J,
            &[3.0, 1.0, 3.0, 2.0],
            &[
                1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0,
            ],
            Same,
        ),
        row(
            "cummin: the latest tied position",
            Op::Cummin,
            J,
            &[1.0, 2.0, 1.0, 0.0],
            &[
                1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0,
            ],
            Same,
        ),
        row(
            "cummax at a NaN: the NaN's own tangent",
            Op::Cummax,
            J,
            &[5.0, NAN, 1.0],
            &[1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
            Differs(vec![1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0]),
        ),
        row(
            "max_pool1d: the first maximum of a window",
            Op::MaxPool1d(2, 1, 0),
            J,
            &[1.0, 3.0, 3.0, 2.0],
            &[0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0],
            Same,
        ),
        row(
            "max_pool1d with padding: a pad never wins",
            Op::MaxPool1d(2, 2, 1),
            J,
            &[-1.0, -2.0, -3.0],
            &[1.0, 0.0, 0.0, 0.0, 1.0, 0.0],
            Same,
        ),
        row(
            "max_pool2d over four equal values: the first in raster order",
            Op::MaxPool2d,
            J,
            &[1.0, 1.0, 1.0, 1.0],
            &[1.0, 0.0, 0.0, 0.0],
            Same,
        ),
        row(
            "sort: each output follows the input the backend's sort put there",
            Op::Sort,
            J,
            &[3.0, 1.0, 2.0],
            &[0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0],
            Same,
        ),
        row(
            "topk(2): no reverse rule in Burn 0.21",
            Op::TopK(2),
            J,
            &[1.0, 3.0, 2.0],
            &[0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
            Missing,
        ),
    ];
    // Burn computes hard_sigmoid in f32 (both sides carry its rounding).
    let mut hard = row(
        "hard_sigmoid at its breakpoints (slope passes), beyond, NaN",
        Op::HardSigmoid,
        S,
        &[-2.5, 2.5, -3.0, 3.0, NAN],
        &[0.2, 0.2, 0.0, 0.0, 0.2],
        Same,
    );
    hard.tol = 1e-7;
    rows.push(hard);
    rows
}

/// The forward side: slopes or the whole Jacobian, from `Dual<B>`.
fn forward<B: Backend>(r: &Row) -> Vec<f64> {
    let n = r.x.len();
    let x = tensor::<B, 1>(&TensorData::new(r.x.clone(), [n]));
    match r.read {
        Read::Slopes => {
            let ones = Tensor::<B, 1>::ones([n], &Default::default());
            values(jvp(&Pure(r.op), x, ones))
        }
        Read::Jacobian => values(jacobian(&Pure(r.op), x, Mode::FORWARD)),
        Read::Partials => [true, false]
            .into_iter()
            .map(|left| {
                let (l, r_) = (r.x[0], r.x[1]);
                let seeded = if left { l } else { r_ };
                let x = tensor::<B, 1>(&TensorData::new(vec![seeded], [1]));
                let one = Tensor::<B, 1>::ones([1], &Default::default());
                let f = OneOperand {
                    op: r.op,
                    other: if left { r_ } else { l },
                    left,
                };
                values(jvp(&Pure(f), x, one))[0]
            })
            .collect(),
    }
}

/// A binary op as a function of one operand, the other a constant (no tangent).
#[derive(Clone, Copy)]
struct OneOperand {
    op: Op,
    other: f64,
    /// Whether the variable is the left operand.
    left: bool,
}

impl TensorFn<1, 1> for OneOperand {
    fn apply<B: Backend>(&self, x: Tensor<B, 1>) -> Tensor<B, 1> {
        let other = Tensor::<B, 1>::full([1], self.other, &x.device());
        // The operands stay separate: packed and sliced, the constant would
        // carry a zero tangent, and `0·∞` would make every partial NaN.
        match self.left {
            true => self.op.binary(x, other),
            false => self.op.binary(other, x),
        }
    }
}

/// The reverse side from Burn's `Autodiff<B>`: the gradient of the sum, or one
/// backward per output.
fn reverse<B: Backend>(r: &Row) -> Vec<f64> {
    let n = r.x.len();
    let leaf = || tensor::<Autodiff<B>, 1>(&TensorData::new(r.x.clone(), [n])).require_grad();
    let grad_of = |select: &dyn Fn(Tensor<Autodiff<B>, 1>) -> Tensor<Autodiff<B>, 1>| {
        let x = leaf();
        let grads = select(r.op.apply(x.clone())).sum().backward();
        x.grad(&grads).map_or(vec![0.0; n], values)
    };
    match r.read {
        Read::Slopes | Read::Partials => grad_of(&|y| y),
        Read::Jacobian => {
            let m = r.op.apply(leaf()).dims()[0];
            (0..m)
                .flat_map(|o| {
                    grad_of(&move |y: Tensor<Autodiff<B>, 1>| {
                        y.select(0, Tensor::from_ints([o as i32], &Default::default()))
                    })
                })
                .collect()
        }
    }
}

/// Equal as documented: both NaN, equal infinities, or finite within `tol`.
fn same(a: f64, b: f64, tol: f64) -> bool {
    (a.is_nan() && b.is_nan())
        || a == b
        || (a.is_finite() && b.is_finite() && (a - b).abs() <= tol * b.abs().max(1.0))
}

fn check(what: &str, side: &str, got: &[f64], want: &[f64], tol: f64) -> Option<String> {
    let ok = got.len() == want.len() && got.iter().zip(want).all(|(a, b)| same(*a, *b, tol));
    (!ok).then(|| format!("{what}: {side} gave {got:?}, documented {want:?}"))
}

#[test]
fn every_hard_input_row_gives_its_documented_derivative() {
    let mut failures = Vec::new();
    for r in rows() {
        let fwd = forward::<F>(&r);
        failures.extend(check(r.what, "forward", &fwd, &r.forward, r.tol));
        match &r.reverse {
            Reverse::Same => failures.extend(check(
                r.what,
                "Burn's reverse",
                &reverse::<F>(&r),
                &r.forward,
                r.tol,
            )),
            Reverse::Differs(burn) => {
                let rev = reverse::<F>(&r);
                failures.extend(check(r.what, "Burn's reverse", &rev, burn, r.tol));
                // A documented disagreement must really be one.
                if check(r.what, "", &rev, &r.forward, r.tol).is_none() {
                    failures.push(format!("{}: Burn now agrees with the forward rule", r.what));
                }
            }
            Reverse::Missing => {
                let missing = std::panic::catch_unwind(|| reverse::<F>(&r)).is_err();
                if !missing {
                    failures.push(format!("{}: Burn has a reverse rule now", r.what));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} rows differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The elementwise rows on wgpu in f32, where every input and documented slope
/// is finite: WGSL leaves the results of operations on or to infinities and NaN
/// to the implementation, so rows with non-finite values are pinned on ndarray
/// only. The forward rule and Burn's wgpu reverse rule give the documented slope
/// to f32 rounding.
#[cfg(feature = "wgpu")]
#[test]
fn finite_elementwise_rows_hold_on_wgpu() {
    let mut failures = Vec::new();
    let mut checked = 0;
    for r in rows() {
        if !matches!(r.read, Read::Slopes) || !matches!(r.reverse, Reverse::Same) {
            continue;
        }
        // Elementwise rows: keep the entries whose input and slope are finite.
        let (x, slopes): (Vec<f64>, Vec<f64>) =
            r.x.iter()
                .zip(&r.forward)
                .filter(|(x, s)| x.is_finite() && s.is_finite())
                .unzip();
        if x.is_empty() {
            continue;
        }
        checked += x.len();
        let finite = Row {
            x,
            forward: slopes,
            ..r
        };
        let tol = finite.tol.max(common::F32_DOT_TOL);
        let what = finite.what;
        let fwd = forward::<burn_wgpu::Wgpu>(&finite);
        failures.extend(check(what, "wgpu forward", &fwd, &finite.forward, tol));
        let rev = reverse::<burn_wgpu::Wgpu>(&finite);
        failures.extend(check(what, "wgpu reverse", &rev, &finite.forward, tol));
    }
    assert!(checked >= 20, "only {checked} finite entries");
    assert!(
        failures.is_empty(),
        "{} rows differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The elementwise ops of the NaN/±∞ sweep.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Unary {
    Exp,
    Log,
    Log1p,
    Sqrt,
    Recip,
    Square,
    Sin,
    Cos,
    Tan,
    Tanh,
    Sinh,
    Cosh,
    Asin,
    Acos,
    Atan,
    Asinh,
    Acosh,
    Atanh,
    Erf,
    Abs,
    PowfScalar,
    Sigmoid,
    LogSigmoid,
    Softplus,
    Gelu,
    Silu,
    Mish,
    Elu,
    Softsign,
}

const UNARY: &[Unary] = &[
    Unary::Exp,
    Unary::Log,
    Unary::Log1p,
    Unary::Sqrt,
    Unary::Recip,
    Unary::Square,
    Unary::Sin,
    Unary::Cos,
    Unary::Tan,
    Unary::Tanh,
    Unary::Sinh,
    Unary::Cosh,
    Unary::Asin,
    Unary::Acos,
    Unary::Atan,
    Unary::Asinh,
    Unary::Acosh,
    Unary::Atanh,
    Unary::Erf,
    Unary::Abs,
    Unary::PowfScalar,
    Unary::Sigmoid,
    Unary::LogSigmoid,
    Unary::Softplus,
    Unary::Gelu,
    Unary::Silu,
    Unary::Mish,
    Unary::Elu,
    Unary::Softsign,
];

impl TensorFn<1, 1> for Unary {
    fn apply<B: Backend>(&self, x: Tensor<B, 1>) -> Tensor<B, 1> {
        match self {
            Unary::Exp => x.exp(),
            Unary::Log => x.log(),
            Unary::Log1p => x.log1p(),
            Unary::Sqrt => x.sqrt(),
            Unary::Recip => x.recip(),
            Unary::Square => x.square(),
            Unary::Sin => x.sin(),
            Unary::Cos => x.cos(),
            Unary::Tan => x.tan(),
            Unary::Tanh => x.tanh(),
            Unary::Sinh => x.sinh(),
            Unary::Cosh => x.cosh(),
            Unary::Asin => x.asin(),
            Unary::Acos => x.acos(),
            Unary::Atan => x.atan(),
            Unary::Asinh => x.asinh(),
            Unary::Acosh => x.acosh(),
            Unary::Atanh => x.atanh(),
            Unary::Erf => x.erf(),
            Unary::Abs => x.abs(),
            Unary::PowfScalar => x.powf_scalar(2.5),
            Unary::Sigmoid => activation::sigmoid(x),
            Unary::LogSigmoid => activation::log_sigmoid(x),
            Unary::Softplus => activation::softplus(x, 1.0),
            Unary::Gelu => activation::gelu(x),
            Unary::Silu => activation::silu(x),
            Unary::Mish => activation::mish(x),
            Unary::Elu => activation::elu(x, 1.0),
            Unary::Softsign => activation::softsign(x),
        }
    }
}

/// NaN, +∞ and −∞ through every elementwise op: the forward slope and Burn's
/// reverse slope agree (NaN with NaN), except where listed below; a NaN input
/// never gives a finite slope except where a rule writes one on purpose.
#[test]
fn nan_and_infinities_through_every_elementwise_op() {
    let points = [NAN, INF, -INF];
    // (op, point index): where Burn's reverse rule gives another value, pinned
    // as (forward, Burn).
    let differ: &[(Unary, usize, f64, f64)] = &[
        // sqrt(−∞) is NaN: the forward slope propagates it; Burn's
        // `x^(−1/2)/2` gives 0.
        (Unary::Sqrt, 2, NAN, 0.0),
        // log σ(x) → x as x → −∞: slope 1 (`1/(1 + eˣ)`); Burn's rule gives NaN.
        (Unary::LogSigmoid, 2, 1.0, NAN),
        // elu is a masked select: the slope passes at NaN (as relu's does) and is
        // 1 at +∞; Burn's composition meets `0·∞` there.
        (Unary::Elu, 0, 1.0, NAN),
        (Unary::Elu, 1, 1.0, NAN),
    ];
    // A finite slope at NaN on purpose: `abs` (the sign of the NaN's sign bit)
    // and the masked selects (the tangent passes where no mask holds).
    let finite_at_nan = [Unary::Abs, Unary::Elu];
    let mut failures = Vec::new();
    for &op in UNARY {
        let n = points.len();
        let x = tensor::<F, 1>(&TensorData::new(points.to_vec(), [n]));
        let ones = Tensor::<F, 1>::ones([n], &Default::default());
        let fwd = values(jvp(&Pure(op), x, ones));
        let leaf = tensor::<Autodiff<F>, 1>(&TensorData::new(points.to_vec(), [n])).require_grad();
        let grads = op.apply(leaf.clone()).sum().backward();
        let rev = leaf.grad(&grads).map_or(vec![0.0; n], values);
        for (i, (f, b)) in fwd.iter().zip(&rev).enumerate() {
            // Pinned disagreements, else forward and Burn must agree.
            let (want_f, want_b) = differ
                .iter()
                .find(|d| d.0 == op && d.1 == i)
                .map_or((*b, *f), |&(_, _, pf, pb)| (pf, pb));
            if !(same(*f, want_f, 1e-12) && same(*b, want_b, 1e-12)) {
                failures.push(format!(
                    "{op:?} at {}: forward {f}, Burn {b}; documented {want_f}, {want_b}",
                    points[i]
                ));
            }
        }
        if fwd[0].is_finite() && !finite_at_nan.contains(&op) {
            failures.push(format!("{op:?} at NaN: finite forward slope {}", fwd[0]));
        }
    }
    assert!(
        failures.is_empty(),
        "{} differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
