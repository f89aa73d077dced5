//! Views reshaped: a transposed, permuted, sliced or expanded tensor reshaped
//! to a random shape of the same size, inside a transform on wgpu (with and
//! without burn-fusion) against f64 ndarray. Burn 0.21 gets some of these
//! wrong in plain form (`reshape_of_a_column_view`); `Dual` must get them all
//! right, value and tangent.

use burn::tensor::{Tensor, TensorData, backend::Backend};
use burn_nested::TensorFn;
use rand::{Rng, SeedableRng, rngs::StdRng};

use super::WgpuUnfused;
use crate::common::{F, values};

/// A view of `x` (`[a, b, c]`) chosen by the seed, reshaped to a shape of the
/// same size chosen by the seed (rank 1 to 5, size-one dims inserted at
/// random), then flattened to `[1, n]`.
struct ViewThenReshape(u64);

/// Sizes of `x`'s three dims, chosen by the seed.
fn input_dims(seed: u64) -> [usize; 3] {
    let mut rng = StdRng::seed_from_u64(seed);
    [0; 3].map(|_| [1, 2, 3, 4, 8][rng.random_range(0..5)])
}

impl TensorFn<3, 2> for ViewThenReshape {
    fn apply<B: Backend>(&self, x: Tensor<B, 3>) -> Tensor<B, 2> {
        // A stream of its own, apart from `input_dims`' draws.
        let mut rng = StdRng::seed_from_u64(self.0 ^ 0x5eed);
        let dims = x.dims();
        let view = match rng.random_range(0..4) {
            0 => x.swap_dims(rng.random_range(0..3), rng.random_range(0..3)),
            1 => x.permute([2, 0, 1]),
            2 => {
                let d = rng.random_range(0..3);
                let start = rng.random_range(0..dims[d]);
                let mut ranges = dims.map(|n| 0..n);
                ranges[d] = start..start + 1;
                x.slice(ranges)
            }
            _ => x
                .slice([0..1, 0..dims[1], 0..dims[2]])
                .expand([2, dims[1], dims[2]]),
        };
        let n = view.shape().num_elements();
        let mut target = Vec::new();
        let mut rest = n;
        for factor in [2, 3, 2, 2] {
            if rest % factor == 0 && rng.random_bool(0.5) {
                target.push(factor);
                rest /= factor;
            }
        }
        target.push(rest);
        while target.len() < 5 && rng.random_bool(0.5) {
            target.insert(rng.random_range(0..=target.len()), 1);
        }
        let flat = |t: Tensor<B, 5>| t.reshape([1, n]);
        // Padded with leading ones to rank 5 after the reshape under test.
        match target[..] {
            [a] => flat(view.reshape([a]).reshape([1, 1, 1, 1, a])),
            [a, b] => flat(view.reshape([a, b]).unsqueeze()),
            [a, b, c] => flat(view.reshape([a, b, c]).unsqueeze()),
            [a, b, c, d] => flat(view.reshape([a, b, c, d]).unsqueeze()),
            [a, b, c, d, e] => flat(view.reshape([a, b, c, d, e])),
            _ => unreachable!("at most five dims"),
        }
    }
}

/// Value and tangent of `jvp` at a ramp in the direction of another ramp.
fn value_and_tangent<B: Backend>(seed: u64) -> Vec<f64> {
    let dims = input_dims(seed);
    let n: usize = dims.iter().product();
    let ramp = |scale: f64| {
        let data = TensorData::new((0..n).map(|i| i as f64 * scale).collect(), dims);
        Tensor::<B, 3>::from_data(data.convert::<B::FloatElem>(), &Default::default())
    };
    let f = burn_nested::Pure(ViewThenReshape(seed));
    let (y, t) = burn_nested::value_and_jvp(&f, ramp(1.0), ramp(-0.5));
    let mut out = values(y);
    out.extend(values(t));
    out
}

/// A backend's name and its [`value_and_tangent`].
type Run<'a> = (&'a str, fn(u64) -> Vec<f64>);

/// Checks 200 seeds on each backend against f64, exactly.
fn check_views(backends: &[Run]) {
    let mut compared = 0;
    for seed in 0..200 {
        let want = value_and_tangent::<F>(seed);
        for (what, run) in backends {
            // Pure data movement of small integers and halves: exact in f32.
            let got = run(seed);
            assert_eq!(got, want, "seed {seed}, {what}");
            compared += got.len();
        }
    }
    assert!(
        compared > 1000 * backends.len(),
        "{compared} entries compared"
    );
}

#[test]
fn views_reshaped_inside_a_transform_match_f64() {
    check_views(&[
        (
            "wgpu with burn-fusion",
            value_and_tangent::<burn_wgpu::Wgpu>,
        ),
        ("wgpu without burn-fusion", value_and_tangent::<WgpuUnfused>),
    ]);
}

/// The same on burn-cuda, which reshapes through the same burn-cubecl code:
/// ignored, as it needs an NVIDIA GPU; `scripts/gpu-bench.sh`'s `run.sh` runs
/// it there (`wgpu_scenarios --ignored cuda`).
#[cfg(feature = "cuda")]
#[test]
#[ignore = "needs an NVIDIA GPU with CUDA"]
fn views_reshaped_inside_a_transform_match_f64_on_cuda() {
    check_views(&[("cuda", value_and_tangent::<burn_cuda::Cuda>)]);
}
